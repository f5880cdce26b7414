/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * What a hook handler decides.  CONTINUE passes the decision on to the next
 * handler of the chain; every other kind ends the chain.  REJECT and
 * TEMPFAIL carry the SMTP reply the client sees: a reply code, an enhanced
 * status code (RFC 3463) of the same class, and a text.  The text goes on
 * the wire: it never contains an internal error message.
 */

typedef enum {
	EP_VERDICT_CONTINUE,   /* no opinion: ask the next handler */
	EP_VERDICT_ACCEPT,     /* stop, allow */
	EP_VERDICT_REJECT,     /* stop, refuse permanently (5xx) */
	EP_VERDICT_TEMPFAIL,   /* stop, refuse for now (4xx) */
	EP_VERDICT_DISCARD,    /* stop, accept and drop silently */
	EP_VERDICT_QUARANTINE, /* stop, accept and hold for review */
} EpVerdictKind;

/* Longest text a verdict may carry: an SMTP reply line is at most 512
 * octets, code and enhanced code included. */
#define EP_VERDICT_TEXT_MAX 400

typedef struct {
	EpVerdictKind kind;
	guint code;     /* SMTP reply code for REJECT (5xx) and TEMPFAIL (4xx), else 0 */
	char *enhanced; /* "5.7.1" for REJECT and TEMPFAIL, else NULL */
	char *text;     /* (nullable): reply text, or a reason for the log for DISCARD and QUARANTINE */
} EpVerdict;

EP_API const char *ep_verdict_kind_to_string (EpVerdictKind kind);

EP_API EpVerdict *ep_verdict_new (EpVerdictKind kind);
EP_API EpVerdict *ep_verdict_new_reject (guint code, const char *enhanced, const char *format, ...)
	G_GNUC_PRINTF (3, 4);
EP_API EpVerdict *ep_verdict_new_tempfail (guint code, const char *enhanced, const char *format, ...)
	G_GNUC_PRINTF (3, 4);
EP_API EpVerdict *ep_verdict_new_internal_error (void);
EP_API G_GNUC_WARN_UNUSED_RESULT EpVerdict *
ep_verdict_new_full (EpVerdictKind kind, guint code, const char *enhanced, const char *text, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_verdict_validate (const EpVerdict *verdict, GError **error);
EP_API gboolean   ep_verdict_is_final (const EpVerdict *verdict);
EP_API EpVerdict *ep_verdict_copy (const EpVerdict *verdict);
EP_API void       ep_verdict_free (EpVerdict *verdict);
EP_API char      *ep_verdict_to_string (const EpVerdict *verdict);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpVerdict, ep_verdict_free)

G_END_DECLS
