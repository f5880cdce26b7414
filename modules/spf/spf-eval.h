/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "spf-dns.h"

G_BEGIN_DECLS

/*
 * check_host() of RFC 7208, asynchronous over an SpfDns.
 */

typedef enum {
	SPF_RESULT_NONE,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
} SpfResult;

/* "none", "neutral", "pass"... (the RFC 8601 keywords) */
const char *spf_result_to_string (SpfResult result);

#define SPF_MAX_DNS_TERMS 10  /* include a mx ptr exists redirect, RFC 7208 §4.6.4 */
#define SPF_MAX_VOID	  2   /* lookups that found nothing */
#define SPF_MAX_MX_NAMES  10  /* MX records per "mx" (more: permerror) */
#define SPF_MAX_PTR_NAMES 10  /* PTR names per "ptr" or %{p} (more: ignored) */
#define SPF_MAX_LOOKUPS	  400 /* DNS queries per evaluation, a safety net */

typedef struct {
	GInetAddress *ip;	/* the client */
	const char *mail_from;	/* (nullable): the MAIL FROM address; NULL or "": check postmaster@<helo> */
	const char *helo;	/* (nullable): the HELO/EHLO name */
	const char *receiver;	/* (nullable): %{r}, this host's name */
	gint64 timestamp;	/* %{t}; 0: now */
	const char *session_id; /* (nullable): for the log */
} SpfQuery;

typedef struct {
	SpfResult result;
	char *domain;	   /* (nullable): the domain of the identity checked, NULL when it has none */
	char *sender;	   /* the identity: local-part@domain ("postmaster" when there was none) */
	char *explanation; /* (nullable): for fail, the expanded exp= text */
	char *reason;	   /* what decided, in words, for logs and Authentication-Results */
	GPtrArray *trace;  /* of char*: the steps of the evaluation */
	guint n_queries;   /* DNS queries made */
} SpfOutcome;

void spf_outcome_free (SpfOutcome *outcome);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpfOutcome, spf_outcome_free)

/**
 * spf_check_async:
 * @timeout_ms: the evaluation ends with temperror after this long; 0: no limit
 *
 * Evaluates the SPF policy of the identity of @query for its client.  The
 * query is copied.  Runs on the thread-default main context.
 */
void spf_check_async (SpfDns *dns, const SpfQuery *query, guint timeout_ms, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data);

/* Returns: (transfer full): the outcome, or %NULL with @error only when
 * cancelled */
SpfOutcome *spf_check_finish (GAsyncResult *result, GError **error);

/* Whether @domain (no final dot needed) can be checked: at most 253
 * characters, labels of 1 to 63, at least two labels, not a domain literal,
 * not numeric at the top. */
gboolean spf_domain_is_valid (const char *domain);

G_END_DECLS
