/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Delivery status notifications (RFC 3464, RFC 3461 §6, RFC 6533): the
 * message the queue sends back to a sender when delivery failed, is
 * delayed or (on request) succeeded.  A pure function: no I/O, no clock
 * (the caller gives the time), nothing kept.
 */

/* beyond this, a header block without an end is cut (at a line end) */
#define QUEUE_DSN_MAX_HEADER_BYTES (64 * 1024)
/* a diagnostic (a server's reply) longer than this is cut, with "..." */
#define QUEUE_DSN_MAX_DIAGNOSTIC 2048

typedef struct {
	const char *recipient;       /* the final recipient, local-part@domain */
	const char *orcpt;           /* (nullable): ORCPT, "type;address" (xtext already decoded) */
	const char *action;          /* "failed", "delayed", "delivered", "relayed" or "expanded" */
	const char *status;          /* (nullable): "5.1.1"...; when missing or malformed, derived from
				      * the reply code of @diagnostic, else from @action */
	const char *remote_mta;      /* (nullable): the host name of the server that answered */
	const char *diagnostic;      /* (nullable): the server's reply ("550 5.1.1 No such user"), or why
				      * no server answered ("connection refused") */
	GDateTime *last_attempt;     /* (nullable) */
	GDateTime *will_retry_until; /* (nullable): for "delayed" */
} QueueDsnRecipient;

/**
 * queue_dsn_build:
 * @reporting_mta: our host name
 * @dsn_to: the original envelope sender, the report's To: (never the null sender)
 * @queue_id: the queue id of the original message
 * @envid: (nullable): the original ENVID (xtext already decoded)
 * @arrival: (nullable): when the original was queued
 * @recipients: the recipients the report is about (at least one)
 * @original: (nullable): the original message, CRLF lines
 * @headers_only: RET=HDRS: return only the header of the original
 * @max_original: return the whole original only when it is at most this long
 * @now: (nullable): the report's Date (default: now)
 * @body_8bit: (out) (optional): whether the report holds 8-bit octets, so
 *   that it must be sent with BODY=8BITMIME
 *
 * Builds a multipart/report; report-type=delivery-status message with CRLF
 * lines: a text/plain explanation, the message/delivery-status fields, and
 * the original (message/rfc822) or its header (text/rfc822-headers).
 *
 * The whole original is returned only in a report about a failure (RET
 * concerns failures, RFC 3461 §4.3), only without RET=HDRS, only when it
 * is at most @max_original octets long and only when it can travel as it
 * is (no NUL, no line longer than 998 octets); otherwise its header block,
 * NULs removed, over-long lines cut and at most %QUEUE_DSN_MAX_HEADER_BYTES
 * long.  Bare CR and bare LF line ends of the original become CRLF.
 *
 * Values from the network (@diagnostic, @remote_mta) lose CR, LF, NUL and
 * other controls, and their 8-bit octets (each becomes "?"), so that no
 * field of the report can be forged; long fields are folded.
 *
 * UTF-8 (RFC 6533): when a recipient address (or ORCPT) is not ASCII, the
 * report is report-type=global-delivery-status with a
 * message/global-delivery-status part, and such addresses are given as
 * "utf-8; " with the utf-8-addr-unitext encoding.  An original whose
 * header holds 8-bit octets returns as message/global (or
 * message/global-headers).  A report to a non-ASCII @dsn_to has a UTF-8
 * To: field, to be sent with SMTPUTF8 as the original was.
 *
 * Returns: (transfer full): the report, or %NULL (with a critical) for a
 * programming error: a missing argument or an unknown action.
 */
GBytes *queue_dsn_build (const char *reporting_mta, const char *dsn_to, const char *queue_id, const char *envid,
			 GDateTime *arrival, const QueueDsnRecipient *recipients, guint n_recipients,
			 GBytes *original, gboolean headers_only, gsize max_original, GDateTime *now,
			 gboolean *body_8bit);

G_END_DECLS
