/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * `mail trace FILE --ip ADDR --helo NAME --mail-from ADDR [--rcpt ADDR]`:
 * runs the inbound chain of the configured modules on a message file,
 * offline, the way the smtp module runs it for a client — the same hook
 * points in the same order (smtp.connect, smtp.helo, smtp.mail_from,
 * directory.resolve and smtp.rcpt_to per recipient, smtp.data,
 * delivery.local), with the configured resolver — and prints every step:
 * each DNS question and answer, each handler's verdict, the
 * Authentication-Results field the message would get, the final verdict
 * and the mailbox the message would be filed in.  Nothing is stored and
 * nothing is sent; modules see ep_context_is_serving() == FALSE.
 */
typedef struct {
	const char *file;      /* the message, LF or CRLF line ends */
	const char *ip;        /* the client's address */
	const char *helo;      /* the name it gave in EHLO */
	const char *mail_from; /* the reverse path, "" for <> */
	const char *const *rcpt; /* (nullable): forward paths; default: postmaster@ the first domain */
} EpTraceOptions;

/* Returns a sysexits.h code: 0 whatever the verdict, once the chain ran. */
int ep_trace_cli_run (const char *config_path, gboolean verbose, const EpTraceOptions *options);

G_END_DECLS
