/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The results of the message authentication methods (SPF, DKIM, DMARC,
 * ARC…) for one SMTP transaction, in the terms of RFC 8601
 * (Authentication-Results).  The smtp module makes one per transaction and
 * hands it to the smtp.mail_from and smtp.data hooks (and `mail trace` does
 * the same offline); a module that checks something adds its result, a
 * later module reads the earlier ones (DMARC reads SPF's and DKIM's), and
 * once the smtp.data chain is over the smtp module writes them as one
 * Authentication-Results field on top of the message.  Modules never call
 * each other: this is what they share.
 *
 * Not thread-safe: use it on the main loop (copy what a worker needs).
 *
 * A result has a method ("spf", "dkim", "dmarc"…), a result keyword
 * ("pass", "fail", "softfail", "neutral", "none", "temperror",
 * "permerror", "policy"…), an optional reason (free text, for people) and
 * properties "ptype.property=value" in the order added, e.g.
 * "smtp.mailfrom=example.org", "smtp.helo=mx.example.org",
 * "header.d=example.org", "header.s=sel1", "header.a=rsa-sha256",
 * "header.b=abcdefgh", "header.from=example.org", "policy.dmarc=reject".
 */

typedef struct _EpAuthResults EpAuthResults;
typedef struct _EpAuthResult EpAuthResult;

#define EP_AUTH_RESULTS_MAX 64 /* results kept per transaction; more are dropped (logged by the caller) */

EP_API G_GNUC_WARN_UNUSED_RESULT EpAuthResults *ep_auth_results_new (const char *authserv_id);
EP_API EpAuthResults *ep_auth_results_ref (EpAuthResults *self);
EP_API void           ep_auth_results_unref (EpAuthResults *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpAuthResults, ep_auth_results_unref)

EP_API const char *ep_auth_results_get_authserv_id (const EpAuthResults *self);

/**
 * ep_auth_results_add:
 * @method: lower-case method name, e.g. "spf"
 * @result: lower-case result keyword, e.g. "pass"
 * @reason: (nullable): why, in words (goes into reason="…")
 *
 * Returns: (transfer none) (nullable): the new result, to add properties
 *   to; NULL when %EP_AUTH_RESULTS_MAX results are already there.
 */
EP_API EpAuthResult *ep_auth_results_add (EpAuthResults *self, const char *method, const char *result,
					  const char *reason);

/* @ptype: "smtp", "header", "body" or "policy"; @value: any text (quoted on output as needed) */
EP_API void ep_auth_result_add_property (EpAuthResult *result, const char *ptype, const char *property,
					 const char *value);

EP_API guint               ep_auth_results_get_length (const EpAuthResults *self);
EP_API const EpAuthResult *ep_auth_results_get (const EpAuthResults *self, guint index);
/* the first result of @method, or NULL */
EP_API const EpAuthResult *ep_auth_results_find (const EpAuthResults *self, const char *method);

EP_API const char *ep_auth_result_get_method (const EpAuthResult *result);
EP_API const char *ep_auth_result_get_result (const EpAuthResult *result);
EP_API const char *ep_auth_result_get_reason (const EpAuthResult *result);
/* @name: "ptype.property", e.g. "header.d"; NULL when absent */
EP_API const char *ep_auth_result_get_property (const EpAuthResult *result, const char *name);

/**
 * ep_auth_results_to_header_value:
 *
 * Returns: (transfer full): the value of an Authentication-Results field
 *   (RFC 8601 §2.2), folded so that no line (with "Authentication-Results: "
 *   before the first) exceeds 78 characters where a break is possible:
 *   "mx.example.org;\r\n\tspf=pass smtp.mailfrom=example.org;\r\n\tdkim=..." or
 *   "mx.example.org; none" when there is no result.
 */
EP_API char *ep_auth_results_to_header_value (const EpAuthResults *self);

/**
 * ep_auth_results_value_has_authserv_id:
 * @value: the value of an Authentication-Results field (folding allowed)
 *
 * Whether the field claims to come from @authserv_id (compared without
 * case, comments and white space skipped), so that a receiver removes
 * such fields from incoming mail before adding its own (RFC 8601 §5).
 */
EP_API gboolean ep_auth_results_value_has_authserv_id (const char *value, gsize len, const char *authserv_id);

G_END_DECLS
