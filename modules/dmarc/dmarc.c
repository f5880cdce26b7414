/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dmarc: DMARC checks of inbound mail (RFC 7489).  At smtp.data, after the
 * DKIM verifier (EP_HOOK_PRIORITY_LATE), for mail that did not come from
 * an authenticated user:
 *
 *  1. the author domain from the one From: field (dmarc-policy.c);
 *  2. the policy record at _dmarc.<author domain>, or else at
 *     _dmarc.<organizational domain> (Public Suffix List, libpsl);
 *  3. alignment of SPF's and DKIM's results (the transaction's
 *     EpAuthResults) with the author domain;
 *  4. the disposition: p= or sp=, sampled with pct=; reject refuses the
 *     message (550 5.7.1), quarantine files it in Junk, unless [dmarc]
 *     enforce = false;
 *  5. a "dmarc" result in the Authentication-Results, and a row in
 *     dmarc_evaluations for the aggregate reports, written in the
 *     background: a database that fails only costs the row.
 *
 * See docs/dmarc.md.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "dmarc-policy.h"
#include "dmarc-record.h"

#define DMARC_MODULE	   "dmarc"
#define DMARC_INSERT_NAME  "dmarc-insert-evaluation"
#define DMARC_MAX_PENDING  1000 /* rows on their way to the database; past it, rows are dropped */
#define DMARC_DNS_NAME_MAX 253

#define DMARC_INSERT_SQL                                                                                           \
	"INSERT INTO dmarc_evaluations (session_id, source_ip, header_from, envelope_from, spf_domain,"            \
	" spf_result, dkim_domains, dkim_results, spf_aligned, dkim_aligned, dmarc_result, policy_domain,"        \
	" policy_p, policy_sp, policy_pct, policy_adkim, policy_aspf, disposition, override_reason, rua)"          \
	" VALUES ($1, $2::inet, $3, $4, $5, $6, $7::text[], $8::text[], $9, $10, $11, $12, $13, $14,"             \
	" $15::smallint, $16, $17, $18, $19, $20::text[])"

static gboolean
dmarc_config_check_temperror (const EpTomlValue *value, GError **error)
{
	const char *text = ep_toml_value_get_string (value);

	if (g_strcmp0 (text, "tempfail") != 0 && g_strcmp0 (text, "accept") != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "'%s' is neither \"tempfail\" nor \"accept\"", text);
		return FALSE;
	}
	return TRUE;
}

static const EpConfigKey dmarc_keys[] = {
    {"enforce", EP_CONFIG_TYPE_BOOLEAN, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "apply the published policies (reject, quarantine); false: only check, record and report (default true)"},
    {"psl_file", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NONE, 0, 0, ep_config_check_absolute_path, NULL,
     "the Public Suffix List (public_suffix_list.dat or a DAFSA file); default: the newer of libpsl's "
     "built-in list and the distribution's"},
    {"temperror", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NONE, 0, 0, dmarc_config_check_temperror, NULL,
     "when the policy cannot be looked up (DNS trouble): \"tempfail\" (451, the sender retries; default) or "
     "\"accept\""},
    {"record", EP_CONFIG_TYPE_BOOLEAN, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "store every evaluation in the database for the aggregate reports (default true)"},
    {NULL}};

typedef struct {
	EpContext *ctx; /* NULL once shut down */
	DmarcPsl *psl;
	gboolean enforce;
	gboolean tempfail;
	gboolean record;
	EpDb *db;
	guint pending;
	guint hook_id;
	GCancellable *cancellable;
} Dmarc;

static void
dmarc_clear (Dmarc *self)
{
	g_clear_pointer (&self->psl, dmarc_psl_free);
	g_clear_object (&self->db);
	g_clear_object (&self->cancellable);
}

static Dmarc *
dmarc_ref (Dmarc *self)
{
	return g_atomic_rc_box_acquire (self);
}

static void
dmarc_unref (Dmarc *self)
{
	g_atomic_rc_box_release_full (self, (GDestroyNotify) dmarc_clear);
}

static gboolean
dmarc_apply_config (Dmarc *self, EpContext *ctx, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	const char *psl_file = section != NULL ? ep_config_section_get_string (section, "psl_file", NULL) : NULL;
	const char *temperror = section != NULL ? ep_config_section_get_string (section, "temperror", NULL) : NULL;
	DmarcPsl *psl = dmarc_psl_new (psl_file, error);

	if (psl == NULL)
		return FALSE;
	g_clear_pointer (&self->psl, dmarc_psl_free);
	self->psl = psl;
	self->enforce = section != NULL ? ep_config_section_get_boolean (section, "enforce", TRUE) : TRUE;
	self->record = section != NULL ? ep_config_section_get_boolean (section, "record", TRUE) : TRUE;
	self->tempfail = g_strcmp0 (temperror, "accept") != 0;
	return TRUE;
}

/* ---- one evaluation ---------------------------------------------------------- */

typedef struct {
	Dmarc *self;
	EpHookCall *call;
	EpAuthResults *auth_results;
	char *session_id;
	char *source_ip;
	char *envelope_domain;
	char *from_domain;
	char *org_domain;
	char *record_domain; /* where the record was found */
	DmarcAuthInputs *inputs;
	gboolean asked_org;
} DmarcJob;

static void
dmarc_job_free (DmarcJob *job)
{
	dmarc_unref (job->self);
	ep_hook_call_unref (job->call);
	ep_auth_results_unref (job->auth_results);
	g_free (job->session_id);
	g_free (job->source_ip);
	g_free (job->envelope_domain);
	g_free (job->from_domain);
	g_free (job->org_domain);
	g_free (job->record_domain);
	dmarc_auth_inputs_free (job->inputs);
	g_free (job);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DmarcJob, dmarc_job_free)

/* What an evaluation found, for Authentication-Results, the log and the row. */
typedef struct {
	DmarcResult result;
	const char *reason;          /* (nullable) */
	const DmarcRecord *record;   /* (nullable) */
	DmarcOutcome outcome;        /* with @record */
	DmarcPolicy applied;         /* what this server does */
	const char *override_reason; /* (nullable): why @applied differs from what the record asks */
} DmarcVerdict;

/* ---- the database row ------------------------------------------------------ */

/* a PostgreSQL array literal of text */
static char *
dmarc_pg_array (GPtrArray *items)
{
	GString *out = g_string_new ("{");

	for (guint i = 0; i < items->len; i++) {
		const char *item = g_ptr_array_index (items, i);
		if (i > 0)
			g_string_append_c (out, ',');
		g_string_append_c (out, '"');
		for (const char *p = item != NULL ? item : ""; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				g_string_append_c (out, '\\');
			g_string_append_c (out, *p);
		}
		g_string_append_c (out, '"');
	}
	g_string_append_c (out, '}');
	return g_string_free (out, FALSE);
}

static void
dmarc_params_add_text_or_null (EpDbParams *params, const char *value)
{
	if (value != NULL)
		ep_db_params_add_text (params, value);
	else
		ep_db_params_add_null (params);
}

static void
dmarc_on_inserted (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Dmarc *self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);

	self->pending--;
	if (res == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		ep_log_warning (DMARC_MODULE, NULL, "cannot record a DMARC evaluation: %s", error->message);
	dmarc_unref (self);
}

static void
dmarc_record_evaluation (DmarcJob *job, const DmarcVerdict *v)
{
	Dmarc *self = job->self;
	const DmarcRecord *record = v->record;
	g_autoptr (EpDbParams) params = NULL;
	g_autoptr (GPtrArray) dkim_domains = g_ptr_array_new ();
	g_autoptr (GPtrArray) dkim_results = g_ptr_array_new ();
	g_autoptr (GPtrArray) rua = g_ptr_array_new_with_free_func (g_free);
	g_autofree char *dkim_domains_text = NULL;
	g_autofree char *dkim_results_text = NULL;
	g_autofree char *rua_text = NULL;
	g_autofree char *pct = NULL;

	/* `mail trace` runs the chain too: what it evaluates is not mail received */
	if (!self->record || self->db == NULL || self->ctx == NULL || !ep_context_is_serving (self->ctx))
		return;
	if (self->pending >= DMARC_MAX_PENDING) {
		ep_log_warning (DMARC_MODULE, job->session_id,
				"%u DMARC evaluations are still on their way to the database: this one is not recorded",
				self->pending);
		return;
	}
	for (guint i = 0; job->inputs != NULL && i < job->inputs->dkim->len; i++) {
		const DmarcAuthEntry *d = g_ptr_array_index (job->inputs->dkim, i);
		g_ptr_array_add (dkim_domains, d->domain != NULL ? d->domain : (gpointer) "");
		g_ptr_array_add (dkim_results, d->result);
	}
	for (guint i = 0; record != NULL && i < record->rua->len; i++) {
		const DmarcUri *u = g_ptr_array_index (record->rua, i);
		g_ptr_array_add (rua, u->max_size > 0 ? g_strdup_printf ("%s!%" G_GUINT64_FORMAT, u->uri, u->max_size)
						      : g_strdup (u->uri));
	}
	dkim_domains_text = dmarc_pg_array (dkim_domains);
	dkim_results_text = dmarc_pg_array (dkim_results);
	rua_text = dmarc_pg_array (rua);

	params = ep_db_params_new ();
	dmarc_params_add_text_or_null (params, job->session_id);
	dmarc_params_add_text_or_null (params, job->source_ip);
	dmarc_params_add_text_or_null (params, job->from_domain);
	dmarc_params_add_text_or_null (params, job->envelope_domain);
	dmarc_params_add_text_or_null (params, job->inputs != NULL && job->inputs->spf != NULL ? job->inputs->spf->domain
											     : NULL);
	dmarc_params_add_text_or_null (params, job->inputs != NULL && job->inputs->spf != NULL ? job->inputs->spf->result
											     : NULL);
	ep_db_params_add_text (params, dkim_domains_text);
	ep_db_params_add_text (params, dkim_results_text);
	ep_db_params_add_boolean (params, record != NULL && v->outcome.spf_aligned);
	ep_db_params_add_boolean (params, record != NULL && v->outcome.dkim_aligned);
	ep_db_params_add_text (params, dmarc_result_to_string (v->result));
	dmarc_params_add_text_or_null (params, record != NULL ? job->record_domain : NULL);
	dmarc_params_add_text_or_null (params, record != NULL ? dmarc_policy_to_string (record->p) : NULL);
	dmarc_params_add_text_or_null (params, record != NULL ? dmarc_policy_to_string (record->sp) : NULL);
	pct = record != NULL ? g_strdup_printf ("%u", record->pct) : NULL;
	dmarc_params_add_text_or_null (params, pct);
	dmarc_params_add_text_or_null (params, record != NULL ? dmarc_align_to_string (record->adkim) : NULL);
	dmarc_params_add_text_or_null (params, record != NULL ? dmarc_align_to_string (record->aspf) : NULL);
	ep_db_params_add_text (params, dmarc_policy_to_string (v->applied));
	dmarc_params_add_text_or_null (params, v->override_reason);
	ep_db_params_add_text (params, rua_text);

	self->pending++;
	ep_db_execute_async (self->db, DMARC_INSERT_NAME, params, self->cancellable, dmarc_on_inserted,
			     dmarc_ref (self));
}

/* ---- the answer ---------------------------------------------------------------- */

static void
dmarc_finish (DmarcJob *job, DmarcVerdict *v)
{
	Dmarc *self = job->self;
	const char *domain = job->from_domain != NULL ? job->from_domain : "-";
	EpAuthResult *ar;
	g_autofree char *reason = NULL;

	if (v->record != NULL && v->outcome.sampled_out)
		reason = g_strdup_printf ("pct=%u: %s applied instead of %s", v->record->pct,
					  dmarc_policy_to_string (v->outcome.disposition),
					  dmarc_policy_to_string (v->outcome.policy));
	else if (v->override_reason != NULL && v->record != NULL && v->outcome.disposition != DMARC_POLICY_NONE)
		reason = g_strdup_printf ("monitoring only: %s not applied", dmarc_policy_to_string (v->outcome.disposition));
	else if (v->reason != NULL)
		reason = g_strdup (v->reason);

	ar = ep_auth_results_add (job->auth_results, "dmarc", dmarc_result_to_string (v->result), reason);
	if (ar != NULL) {
		if (job->from_domain != NULL)
			ep_auth_result_add_property (ar, "header", "from", job->from_domain);
		if (v->record != NULL)
			ep_auth_result_add_property (ar, "policy", "dmarc", dmarc_policy_to_string (v->applied));
	}
	ep_log_info (DMARC_MODULE, job->session_id, "dmarc=%s header.from=%s%s%s%s%s applied=%s%s%s",
		     dmarc_result_to_string (v->result), domain, v->record != NULL ? " policy=" : "",
		     v->record != NULL ? dmarc_policy_to_string (v->outcome.policy) : "",
		     v->record != NULL ? " at " : "", v->record != NULL ? job->record_domain : "",
		     dmarc_policy_to_string (v->applied), reason != NULL ? ": " : "", reason != NULL ? reason : "");
	dmarc_record_evaluation (job, v);

	if (g_cancellable_is_cancelled (ep_hook_call_get_cancellable (job->call))) {
		ep_hook_call_continue (job->call); /* the chain is over: ignored */
		return;
	}
	switch (v->applied) {
	case DMARC_POLICY_REJECT:
		ep_hook_call_return (job->call,
				     ep_verdict_new_reject (550, "5.7.1",
							    "Message rejected: it fails the DMARC policy of %s "
							    "(neither SPF nor DKIM pass aligned with the From: domain)",
							    domain));
		return;
	case DMARC_POLICY_QUARANTINE: {
		g_autofree char *text = g_strdup_printf ("DMARC policy of %s: quarantine", domain);
		EpVerdict *verdict = ep_verdict_new_full (EP_VERDICT_QUARANTINE, 0, NULL, text, NULL);
		ep_hook_call_return (job->call, verdict != NULL ? verdict : ep_verdict_new (EP_VERDICT_QUARANTINE));
		return;
	}
	default:
		break;
	}
	if (v->result == DMARC_RESULT_TEMPERROR && self->enforce && self->tempfail) {
		ep_hook_call_return (job->call, ep_verdict_new_tempfail (451, "4.4.3",
									 "Cannot look up the DMARC policy of %s now, "
									 "try again later",
									 domain));
		return;
	}
	ep_hook_call_continue (job->call);
}

/* the disposition this server applies */
static void
dmarc_decide (DmarcJob *job, DmarcVerdict *v)
{
	v->applied = v->record != NULL ? v->outcome.disposition : DMARC_POLICY_NONE;
	if (v->record != NULL && v->outcome.sampled_out)
		v->override_reason = "sampled_out";
	if (!job->self->enforce && v->applied != DMARC_POLICY_NONE) {
		v->applied = DMARC_POLICY_NONE;
		v->override_reason = "local_policy";
	}
}

static void dmarc_lookup (DmarcJob *job, const char *domain);

static void
dmarc_on_txt (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (DmarcJob) job = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &error);
	g_autoptr (DmarcRecord) record = NULL;
	const char *queried = job->asked_org ? job->org_domain : job->from_domain;
	const char *text = NULL;
	guint n_dmarc = 0;
	DmarcVerdict v = {0};

	if (answer == NULL) {
		g_autofree char *why = NULL;
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || job->self->ctx == NULL) {
			ep_hook_call_continue (job->call);
			return;
		}
		why = g_strdup_printf ("DNS lookup of _dmarc.%s failed: %s", queried, error->message);
		v.result = DMARC_RESULT_TEMPERROR;
		v.reason = why;
		dmarc_decide (job, &v);
		dmarc_finish (job, &v);
		return;
	}
	for (guint i = 0; i < answer->records->len; i++) {
		const char *txt = g_ptr_array_index (answer->records, i);
		if (dmarc_record_is_dmarc (txt, strlen (txt))) {
			n_dmarc++;
			text = txt;
		}
	}
	if (n_dmarc == 0 && !job->asked_org && strcmp (job->org_domain, job->from_domain) != 0) {
		job->asked_org = TRUE;
		dmarc_lookup (g_steal_pointer (&job), job->org_domain);
		return;
	}
	if (n_dmarc == 0) {
		v.result = DMARC_RESULT_NONE;
		v.reason = "no DMARC record";
	} else if (n_dmarc > 1) {
		v.result = DMARC_RESULT_PERMERROR;
		v.reason = "more than one DMARC record";
	} else {
		record = dmarc_record_parse (text, strlen (text), &error);
		if (record == NULL) {
			ep_log_info (DMARC_MODULE, job->session_id, "the DMARC record of %s is not valid: %s", queried,
				     error->message);
			v.result = DMARC_RESULT_PERMERROR;
			v.reason = "invalid DMARC record";
		} else {
			job->record_domain = g_strdup (queried);
			dmarc_evaluate (job->self->psl, record, job->from_domain, job->record_domain, job->inputs,
					(guint) g_random_int_range (0, 100), &v.outcome);
			v.record = record;
			v.result = v.outcome.result;
		}
	}
	dmarc_decide (job, &v);
	dmarc_finish (job, &v);
}

static void
dmarc_lookup (DmarcJob *job, const char *domain)
{
	g_autofree char *name = g_strconcat ("_dmarc.", domain, NULL);
	EpResolver *resolver = ep_context_get_resolver (job->self->ctx);

	ep_resolver_lookup_async (resolver, name, EP_DNS_TYPE_TXT, ep_hook_call_get_cancellable (job->call),
				  dmarc_on_txt, job);
}

/* ---- smtp.data ------------------------------------------------------------------- */

static void
dmarc_on_data (EpHookCall *call, EpSmtpDataCtx *data, gpointer user_data)
{
	Dmarc *self = user_data;
	const EpSmtpSessionInfo *session = data->session;
	g_autoptr (DmarcJob) job = NULL;
	DmarcFromStatus status;
	gsize len = 0;
	const char *message;

	if (self->ctx == NULL || data->message == NULL || data->auth_results == NULL ||
	    (session != NULL && session->authenticated_user != NULL) || ep_context_get_resolver (self->ctx) == NULL) {
		ep_hook_call_continue (call);
		return;
	}
	job = g_new0 (DmarcJob, 1);
	job->self = dmarc_ref (self);
	job->call = ep_hook_call_ref (call);
	job->auth_results = ep_auth_results_ref (data->auth_results);
	if (session != NULL) {
		job->session_id = g_strdup (session->session_id);
		if (session->peer != NULL)
			job->source_ip =
			    g_inet_address_to_string (g_inet_socket_address_get_address (session->peer));
	}
	job->envelope_domain = dmarc_identity_domain (data->sender);
	job->inputs = dmarc_auth_inputs_from_results (data->auth_results);

	message = g_bytes_get_data (data->message, &len);
	status = dmarc_from_domain (message, len, &job->from_domain);
	if (status == DMARC_FROM_OK && strlen (job->from_domain) + strlen ("_dmarc.") > DMARC_DNS_NAME_MAX)
		status = DMARC_FROM_BAD_DOMAIN;
	if (status != DMARC_FROM_OK) {
		DmarcVerdict v = {.result = DMARC_RESULT_PERMERROR, .reason = dmarc_from_status_to_string (status)};
		/* Several From: fields, or authors in several domains: no one
		 * author domain to check, and letting such a message through
		 * unchecked would let anyone pass as any domain by adding a
		 * second author.  Refused (RFC 7489 §6.6.1 allows it), unless
		 * only monitoring.  A message without an author address claims
		 * no domain: it goes on. */
		if (status == DMARC_FROM_MULTIPLE_FIELDS || status == DMARC_FROM_MULTIPLE_DOMAINS) {
			if (self->enforce) {
				ep_auth_results_add (job->auth_results, "dmarc", "permerror", v.reason);
				ep_log_info (DMARC_MODULE, job->session_id, "dmarc=permerror: %s: refused", v.reason);
				dmarc_record_evaluation (job, &v);
				ep_hook_call_return (call, ep_verdict_new_reject (550, "5.7.1",
										  "Message rejected: %s, so its "
										  "author cannot be checked (DMARC)",
										  v.reason));
				return;
			}
			v.override_reason = "local_policy";
		}
		v.applied = DMARC_POLICY_NONE;
		dmarc_finish (job, &v);
		return;
	}
	job->org_domain = dmarc_org_domain (self->psl, job->from_domain);
	dmarc_lookup (g_steal_pointer (&job), job->from_domain);
}

/* ---- lifecycle ------------------------------------------------------------ */

static gboolean
dmarc_init (EpContext *ctx, GError **error)
{
	Dmarc *self = g_atomic_rc_box_new0 (Dmarc);

	self->ctx = ctx;
	self->cancellable = g_cancellable_new ();
	ep_context_set_data (ctx, self, (GDestroyNotify) dmarc_unref);
	if (!dmarc_apply_config (self, ctx, error))
		return FALSE;
	self->hook_id = ep_hook_smtp_data_connect (ep_context_get_hook_bus (ctx), DMARC_MODULE, EP_HOOK_PRIORITY_LATE,
						   dmarc_on_data, dmarc_ref (self), (GDestroyNotify) dmarc_unref);
	return TRUE;
}

static gboolean
dmarc_start (EpContext *ctx, GError **error)
{
	Dmarc *self = ep_context_get_data (ctx);
	EpDb *db = ep_context_get_db (ctx);

	if (db == NULL) {
		ep_log_info (DMARC_MODULE, NULL, "no database: DMARC evaluations are not recorded");
		return TRUE;
	}
	if (!ep_db_prepare (db, DMARC_INSERT_NAME, DMARC_INSERT_SQL, error))
		return FALSE;
	g_set_object (&self->db, db);
	return TRUE;
}

static gboolean
dmarc_reload (EpContext *ctx, GError **error)
{
	return dmarc_apply_config (ep_context_get_data (ctx), ctx, error);
}

static void
dmarc_shutdown (EpContext *ctx)
{
	Dmarc *self = ep_context_get_data (ctx);

	if (self == NULL)
		return;
	g_cancellable_cancel (self->cancellable);
	if (self->hook_id != 0)
		ep_hook_bus_disconnect (ep_context_get_hook_bus (ctx), self->hook_id);
	self->hook_id = 0;
	self->ctx = NULL;
}

EP_MODULE_DEFINE (.name = DMARC_MODULE, .version = PACKAGE_VERSION,
		  .description = "DMARC checks of inbound mail (RFC 7489): policy, alignment, evaluation records",
		  .config_schema = dmarc_keys, .run_after = EP_STRV ("spf", "dkim"), .init = dmarc_init,
		  .start = dmarc_start, .reload = dmarc_reload, .shutdown = dmarc_shutdown, );
