/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spf: the SPF check of inbound mail (RFC 7208).  At smtp.mail_from the
 * client's address is checked against the SPF policy of the HELO name and
 * of the MAIL FROM domain (postmaster@<HELO> for the null sender); the
 * result goes into the transaction's authentication results, where DMARC
 * finds it and the smtp module writes it as Authentication-Results.  A
 * "fail" is refused (550 5.7.23) unless `reject_fail = false`; a
 * "temperror" asks the client to try later (451 4.4.3).  Authenticated
 * sessions are not checked.  See docs/spf.md.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "spf-dns.h"
#include "spf-eval.h"

#define SPF_MODULE	      "spf"
#define SPF_DEFAULT_TIMEOUT   20
#define SPF_REPLY_EXPLAIN_MAX 300

static const EpConfigKey spf_keys[] = {
    {"reject_fail", EP_CONFIG_TYPE_BOOLEAN, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "refuse MAIL FROM (550 5.7.23) when SPF says fail (default true); false: only record the result"},
    {"check_helo", EP_CONFIG_TYPE_BOOLEAN, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "also check the HELO name when MAIL FROM is not empty (default true)"},
    {"timeout", EP_CONFIG_TYPE_INTEGER, EP_CONFIG_KEY_NONE, 1, 300, NULL, NULL,
     "seconds one SPF evaluation may take before it is a temperror (default 20)"},
    {NULL}};

typedef struct {
	gatomicrefcount ref;
	EpContext *ctx; /* NULL once shut down */
	SpfDns *dns;	/* from start() on */
	char *receiver;
	gboolean reject_fail;
	gboolean check_helo;
	guint timeout_ms;
	guint hook_id;
} Spf;

static Spf *
spf_ref (Spf *self)
{
	g_atomic_ref_count_inc (&self->ref);
	return self;
}

static void
spf_unref (Spf *self)
{
	if (!g_atomic_ref_count_dec (&self->ref))
		return;
	g_clear_pointer (&self->dns, spf_dns_free);
	g_free (self->receiver);
	g_free (self);
}

static void
spf_apply_config (Spf *self, EpContext *ctx)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	const char *hostname = ep_config_get_hostname (ep_context_get_config (ctx));

	self->reject_fail = section != NULL ? ep_config_section_get_boolean (section, "reject_fail", TRUE) : TRUE;
	self->check_helo = section != NULL ? ep_config_section_get_boolean (section, "check_helo", TRUE) : TRUE;
	self->timeout_ms =
	    1000 * (guint)(section != NULL ? ep_config_section_get_integer (section, "timeout", SPF_DEFAULT_TIMEOUT)
					   : SPF_DEFAULT_TIMEOUT);
	g_free (self->receiver);
	self->receiver = g_strdup (hostname);
}

/* ---- smtp.mail_from ------------------------------------------------------- */

typedef struct {
	Spf *self;
	EpHookCall *call;
	EpSmtpMailFromCtx *ctx; /* valid until the call is answered or cancelled */
	SpfQuery query;
	GInetAddress *ip;
	char *mail_from;
	char *helo;
	char *session_id;
	SpfOutcome *helo_outcome;
	SpfOutcome *mail_outcome;
} SpfJob;

static void
spf_job_free (SpfJob *job)
{
	spf_unref (job->self);
	ep_hook_call_unref (job->call);
	g_clear_object (&job->ip);
	g_free (job->mail_from);
	g_free (job->helo);
	g_free (job->session_id);
	g_clear_pointer (&job->helo_outcome, spf_outcome_free);
	g_clear_pointer (&job->mail_outcome, spf_outcome_free);
	g_free (job);
}

static void
spf_log_outcome (SpfJob *job, const char *identity, const SpfOutcome *outcome)
{
	for (guint i = 0; i < outcome->trace->len; i++)
		ep_log_debug (SPF_MODULE, job->session_id, "%s %s: %s", identity, outcome->sender,
			      (const char *)g_ptr_array_index (outcome->trace, i));
	ep_log_info (SPF_MODULE, job->session_id, "%s %s: %s (%s)", identity, outcome->sender,
		     spf_result_to_string (outcome->result), outcome->reason);
}

/* What a client may see of a third party's explanation: printable ASCII,
 * shortened. */
static char *
spf_sanitize (const char *text)
{
	GString *s = g_string_new (NULL);

	for (const char *p = text; *p != '\0' && s->len < SPF_REPLY_EXPLAIN_MAX; p++) {
		guchar c = (guchar)*p;
		g_string_append_c (s, c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	return g_string_free (s, FALSE);
}

static void
spf_job_answer (SpfJob *job)
{
	/* the result that counts: MAIL FROM's, or HELO's for the null sender */
	const SpfOutcome *main = job->mail_outcome != NULL ? job->mail_outcome : job->helo_outcome;
	EpAuthResult *ar = NULL;
	g_autofree char *reason = NULL;

	if (job->helo_outcome != NULL && job->mail_outcome != NULL)
		reason = g_strdup_printf ("%s; helo %s: %s", main->reason, job->helo,
					  spf_result_to_string (job->helo_outcome->result));
	else
		reason = g_strdup (main->reason);
	if (job->ctx->auth_results != NULL)
		ar = ep_auth_results_add (job->ctx->auth_results, "spf", spf_result_to_string (main->result), reason);
	if (ar != NULL) {
		if (job->mail_outcome != NULL)
			ep_auth_result_add_property (ar, "smtp", "mailfrom", job->mail_from);
		if (job->helo_outcome != NULL)
			ep_auth_result_add_property (ar, "smtp", "helo", job->helo);
	} else if (job->ctx->auth_results != NULL) {
		ep_log_info (SPF_MODULE, job->session_id, "result not recorded: too many results");
	}

	if (main->result == SPF_RESULT_FAIL && job->self->reject_fail) {
		g_autofree char *text = NULL;
		if (main->explanation != NULL && main->explanation[0] != '\0') {
			g_autofree char *clean = spf_sanitize (main->explanation);
			text = g_strdup_printf ("SPF check failed for %s: %s", main->domain, clean);
		} else {
			g_autofree char *ip = g_inet_address_to_string (job->ip);
			text = g_strdup_printf ("SPF check failed: %s may not send mail for %s", ip, main->domain);
		}
		ep_hook_call_return (job->call, ep_verdict_new_reject (550, "5.7.23", "%s", text));
		return;
	}
	if (main->result == SPF_RESULT_TEMPERROR) {
		ep_hook_call_return (
		    job->call, ep_verdict_new_tempfail (451, "4.4.3", "Temporary SPF failure for %s, try again later",
							main->domain != NULL ? main->domain : "the sender"));
		return;
	}
	ep_hook_call_continue (job->call);
}

static void spf_job_next (SpfJob *job);

static void
spf_job_on_outcome (GObject *source, GAsyncResult *result, gpointer user_data)
{
	SpfJob *job = user_data;
	g_autoptr (GError) error = NULL;
	SpfOutcome *outcome = spf_check_finish (result, &error);

	(void)source;
	if (outcome == NULL || g_cancellable_is_cancelled (ep_hook_call_get_cancellable (job->call))) {
		/* the chain is over (its deadline passed): the answer is ignored */
		spf_outcome_free (outcome);
		ep_hook_call_return (job->call, ep_verdict_new_tempfail (451, "4.4.3", "Temporary SPF failure"));
		spf_job_free (job);
		return;
	}
	if (job->helo_outcome == NULL && job->query.mail_from == NULL) {
		job->helo_outcome = outcome;
		spf_log_outcome (job, "helo", outcome);
	} else {
		job->mail_outcome = outcome;
		spf_log_outcome (job, "mailfrom", outcome);
	}
	spf_job_next (job);
}

/* Runs the checks in turn: HELO (when asked, and always for the null
 * sender), then MAIL FROM. */
static void
spf_job_next (SpfJob *job)
{
	gboolean null_sender = job->mail_from[0] == '\0';
	gboolean want_helo =
	    null_sender || (job->self->check_helo && job->helo != NULL && spf_domain_is_valid (job->helo));

	if (want_helo && job->helo_outcome == NULL) {
		job->query.mail_from = NULL;
		spf_check_async (job->self->dns, &job->query, job->self->timeout_ms,
				 ep_hook_call_get_cancellable (job->call), spf_job_on_outcome, job);
		return;
	}
	if (!null_sender && job->mail_outcome == NULL) {
		job->query.mail_from = job->mail_from;
		spf_check_async (job->self->dns, &job->query, job->self->timeout_ms,
				 ep_hook_call_get_cancellable (job->call), spf_job_on_outcome, job);
		return;
	}
	spf_job_answer (job);
	spf_job_free (job);
}

static void
spf_on_mail_from (EpHookCall *call, EpSmtpMailFromCtx *ctx, gpointer user_data)
{
	Spf *self = user_data;
	const EpSmtpSessionInfo *session = ctx->session;
	const char *session_id = session != NULL ? session->session_id : NULL;
	SpfJob *job;

	if (self->ctx == NULL || session == NULL || session->peer == NULL) {
		ep_hook_call_continue (call);
		return;
	}
	if (session->authenticated_user != NULL) {
		ep_log_debug (SPF_MODULE, session_id, "not checked: authenticated session");
		ep_hook_call_continue (call);
		return;
	}
	if (self->dns == NULL) {
		ep_log_info (SPF_MODULE, session_id, "not checked: no DNS resolver");
		ep_hook_call_continue (call);
		return;
	}
	job = g_new0 (SpfJob, 1);
	job->self = spf_ref (self);
	job->call = ep_hook_call_ref (call);
	job->ctx = ctx;
	job->ip = g_object_ref (g_inet_socket_address_get_address (session->peer));
	job->mail_from = g_strdup (ctx->reverse_path != NULL ? ctx->reverse_path : "");
	job->helo = g_strdup (session->helo);
	job->session_id = g_strdup (session_id);
	job->query.ip = job->ip;
	job->query.helo = job->helo;
	job->query.receiver = self->receiver;
	job->query.session_id = job->session_id;
	spf_job_next (job);
}

/* ---- lifecycle ------------------------------------------------------------ */

static gboolean
spf_init (EpContext *ctx, GError **error)
{
	Spf *self = g_new0 (Spf, 1);

	(void)error;
	g_atomic_ref_count_init (&self->ref);
	self->ctx = ctx;
	ep_context_set_data (ctx, self, (GDestroyNotify)spf_unref);
	spf_apply_config (self, ctx);
	self->hook_id =
	    ep_hook_smtp_mail_from_connect (ep_context_get_hook_bus (ctx), SPF_MODULE, EP_HOOK_PRIORITY_DEFAULT,
					    spf_on_mail_from, spf_ref (self), (GDestroyNotify)spf_unref);
	return TRUE;
}

static gboolean
spf_start (EpContext *ctx, GError **error)
{
	Spf *self = ep_context_get_data (ctx);
	EpResolver *resolver = ep_context_get_resolver (ctx);

	(void)error;
	if (resolver == NULL) {
		ep_log_warning (SPF_MODULE, NULL, "no DNS resolver: SPF is not checked");
		return TRUE;
	}
	g_clear_pointer (&self->dns, spf_dns_free);
	self->dns = spf_dns_new_resolver (resolver);
	return TRUE;
}

static gboolean
spf_reload (EpContext *ctx, GError **error)
{
	(void)error;
	spf_apply_config (ep_context_get_data (ctx), ctx);
	return TRUE;
}

static void
spf_shutdown (EpContext *ctx)
{
	Spf *self = ep_context_get_data (ctx);

	if (self == NULL)
		return;
	if (self->hook_id != 0)
		ep_hook_bus_disconnect (ep_context_get_hook_bus (ctx), self->hook_id);
	self->hook_id = 0;
	self->ctx = NULL;
}

EP_MODULE_DEFINE (.name = SPF_MODULE, .version = PACKAGE_VERSION,
		  .description = "SPF checks of the HELO name and MAIL FROM domain of inbound mail (RFC 7208)",
		  .config_schema = spf_keys, .provides = EP_STRV ("hook:smtp.mail_from"), .init = spf_init,
		  .start = spf_start, .reload = spf_reload, .shutdown = spf_shutdown, );
