/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dkim: DKIM signing of submitted mail and verification of inbound mail
 * (RFC 6376, RFC 8463, RFC 8301).
 *
 * Signing.  At
 * submission.message the domain of the From: address picks the keys: every
 * key of that domain signs, Ed25519 first, then RSA, each adding one
 * DKIM-Signature field on top of the message.  A domain without a key is
 * not signed.
 *
 * Keys come from files named in [[dkim.keys]] (read at start and on reload)
 * and from the dkim_keys table (the active keys that `mail dkim-keygen`
 * stored, read at start and whenever a NOTIFY on epistle_dkim_keys says
 * they changed, which a trigger sends on every change of the table).
 * Canonicalization, hashing and signing run on the worker pool.
 *
 * Verification.  At smtp.data, for mail that is not from an authenticated
 * user, every DKIM-Signature field (up to DKIM_VERIFY_MAX_SIGNATURES) is
 * read on the main loop, the keys are looked up through the daemon's
 * resolver, and the hashes and signature checks run on the worker pool.
 * Each signature adds one "dkim" result to the transaction's
 * authentication results (none when there is no signature); the module
 * never refuses a message itself: DMARC, later in the chain, decides.
 */
#include "config.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <epistle.h>

#include "dkim-key.h"
#include "dkim-sign.h"
#include "dkim-verify.h"

#define DKIM_MODULE	    "dkim"
#define DKIM_NOTIFY_CHANNEL "epistle_dkim_keys"

static gboolean
dkim_config_check_domain (const EpTomlValue *value, GError **error)
{
	const char *domain = ep_toml_value_get_string (value);

	if (!dkim_domain_is_valid (domain)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not a domain name (letters, digits and hyphens in dot-separated labels)", domain);
		return FALSE;
	}
	return TRUE;
}

static gboolean
dkim_config_check_selector (const EpTomlValue *value, GError **error)
{
	const char *selector = ep_toml_value_get_string (value);

	if (!dkim_selector_is_valid (selector)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not a selector (letters, digits and hyphens, labels separated by dots)",
			     selector);
		return FALSE;
	}
	return TRUE;
}

static const EpConfigKey dkim_key_entry_keys[] = {
    {"domain", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 253, dkim_config_check_domain, NULL,
     "the signing domain (d=): mail whose From: address is in it is signed"},
    {"selector", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 253, dkim_config_check_selector, NULL,
     "the selector (s=): the key is published at <selector>._domainkey.<domain>"},
    {"key_file", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 0, ep_config_check_absolute_path, NULL,
     "PEM private key (RSA or Ed25519), mode 0600 or 0400, owned by root or the service user"},
    {NULL}};

static const EpConfigKey dkim_keys[] = {
    {"keys", EP_CONFIG_TYPE_TABLE_ARRAY, EP_CONFIG_KEY_NONE, 0, 0, NULL, dkim_key_entry_keys,
     "signing keys kept in files, [[dkim.keys]] with domain, selector and key_file"},
    {"expire_seconds", EP_CONFIG_TYPE_INTEGER, EP_CONFIG_KEY_NONE, 0, 315360000, NULL, NULL,
     "signatures expire (x=) this many seconds after they are made; 0 (default): never"},
    {NULL}};

typedef struct {
	EpContext *ctx; /* NULL once shut down */
	GPtrArray *file_keys; /* of DkimKey, from [[dkim.keys]] */
	GPtrArray *db_keys;   /* of DkimKey, from dkim_keys */
	GHashTable *by_domain; /* domain -> GPtrArray of DkimKey, Ed25519 first */
	gint64 expire_seconds;
	EpDb *db;
	guint listen_id;
	guint hook_id;
	guint verify_hook_id;
	GCancellable *cancellable;
	gboolean reading;
	gboolean read_again;
} Dkim;

static void
dkim_clear (Dkim *self)
{
	g_clear_pointer (&self->file_keys, g_ptr_array_unref);
	g_clear_pointer (&self->db_keys, g_ptr_array_unref);
	g_clear_pointer (&self->by_domain, g_hash_table_unref);
	g_clear_object (&self->db);
	g_clear_object (&self->cancellable);
}

static Dkim *
dkim_ref (Dkim *self)
{
	return g_atomic_rc_box_acquire (self);
}

static void
dkim_unref (Dkim *self)
{
	g_atomic_rc_box_release_full (self, (GDestroyNotify) dkim_clear);
}

static GPtrArray *
dkim_key_array_new (void)
{
	return g_ptr_array_new_with_free_func ((GDestroyNotify) dkim_key_unref);
}

static int
dkim_key_order (gconstpointer a, gconstpointer b)
{
	const DkimKey *ka = *(DkimKey *const *) a;
	const DkimKey *kb = *(DkimKey *const *) b;
	int ra = dkim_key_get_algorithm (ka) == DKIM_ALG_ED25519_SHA256 ? 0 : 1;
	int rb = dkim_key_get_algorithm (kb) == DKIM_ALG_ED25519_SHA256 ? 0 : 1;

	return ra - rb;
}

static gboolean
dkim_key_same_name (const DkimKey *a, const DkimKey *b)
{
	return strcmp (dkim_key_get_domain (a), dkim_key_get_domain (b)) == 0 &&
	       g_ascii_strcasecmp (dkim_key_get_selector (a), dkim_key_get_selector (b)) == 0;
}

/* by_domain from the keys of the files, then those of the database */
static void
dkim_rebuild (Dkim *self)
{
	GHashTable *map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
	GPtrArray *sources[] = { self->file_keys, self->db_keys };
	GHashTableIter iter;
	gpointer value;

	for (guint s = 0; s < G_N_ELEMENTS (sources); s++) {
		for (guint i = 0; sources[s] != NULL && i < sources[s]->len; i++) {
			DkimKey *key = g_ptr_array_index (sources[s], i);
			GPtrArray *list = g_hash_table_lookup (map, dkim_key_get_domain (key));
			gboolean dup = FALSE;

			for (guint j = 0; list != NULL && j < list->len && !dup; j++)
				dup = dkim_key_same_name (g_ptr_array_index (list, j), key);
			if (dup) {
				ep_log_warning (DKIM_MODULE, NULL,
						"selector %s of %s is both in [dkim] keys and in the database; the "
						"database's key is not used",
						dkim_key_get_selector (key), dkim_key_get_domain (key));
				continue;
			}
			if (list == NULL) {
				list = dkim_key_array_new ();
				g_hash_table_insert (map, g_strdup (dkim_key_get_domain (key)), list);
			}
			g_ptr_array_add (list, dkim_key_ref (key));
		}
	}
	g_hash_table_iter_init (&iter, map);
	while (g_hash_table_iter_next (&iter, NULL, &value))
		g_ptr_array_sort (value, dkim_key_order); /* stable: files first */
	g_clear_pointer (&self->by_domain, g_hash_table_unref);
	self->by_domain = map;
}

/* ---- keys from files ------------------------------------------------------- */

/* The owners a key file may have: root, whoever runs this, and the user
 * the daemon switches to. */
static guint
dkim_allowed_owners (EpConfig *config, uid_t *uids)
{
	const char *user = ep_config_get_privileges_user (config);
	struct passwd *pw;
	guint n = 0;

	uids[n++] = 0;
	uids[n++] = geteuid ();
	if (user == NULL && geteuid () == 0)
		user = "epistle"; /* the daemon's default service user */
	pw = user != NULL ? getpwnam (user) : NULL;
	if (pw != NULL)
		uids[n++] = pw->pw_uid;
	return n;
}

/* @previous: the keys loaded before (on reload), reused when the file can
 * no longer be read (the daemon dropped root since) */
static GPtrArray *
dkim_load_file_keys (EpContext *ctx, GPtrArray *previous, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	EpTomlValue *entries = section != NULL ? ep_toml_value_table_lookup (section, "keys") : NULL;
	g_autoptr (GPtrArray) keys = dkim_key_array_new ();
	uid_t owners[3];
	guint n_owners = dkim_allowed_owners (ep_context_get_config (ctx), owners);

	for (guint i = 0; entries != NULL && i < ep_toml_value_array_length (entries); i++) {
		EpTomlValue *entry = ep_toml_value_array_index (entries, i);
		const char *domain = ep_config_section_get_string (entry, "domain", NULL);
		const char *selector = ep_config_section_get_string (entry, "selector", NULL);
		const char *path = ep_config_section_get_string (entry, "key_file", NULL);
		g_autoptr (GError) local = NULL;
		g_autoptr (DkimKey) key = NULL;

		if (domain == NULL || selector == NULL || path == NULL)
			continue; /* the schema said so already */
		key = dkim_key_load_file (domain, selector, path, owners, n_owners, &local);
		if (key == NULL && g_error_matches (local, EP_ERROR, EP_ERROR_PERM)) {
			for (guint j = 0; previous != NULL && j < previous->len && key == NULL; j++) {
				DkimKey *old = g_ptr_array_index (previous, j);
				if (g_ascii_strcasecmp (dkim_key_get_domain (old), domain) == 0 &&
				    g_ascii_strcasecmp (dkim_key_get_selector (old), selector) == 0 &&
				    strcmp (dkim_key_get_origin (old), path) == 0)
					key = dkim_key_ref (old);
			}
			if (key != NULL)
				ep_log_warning (DKIM_MODULE, NULL,
						"%s; keeping the key read at start (restart to read it again, or "
						"let the service user read it)",
						local->message);
		}
		if (key == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s:%u: [[dkim.keys]] %s of %s: %s",
				     ep_toml_value_get_filename (entry), ep_toml_value_get_line (entry), selector, domain,
				     local->message);
			return NULL;
		}
		for (guint j = 0; j < keys->len; j++) {
			if (dkim_key_same_name (g_ptr_array_index (keys, j), key)) {
				g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
					     "%s:%u: [[dkim.keys]] selector %s of %s is configured twice",
					     ep_toml_value_get_filename (entry), ep_toml_value_get_line (entry), selector,
					     domain);
				return NULL;
			}
		}
		if (dkim_key_get_algorithm (key) == DKIM_ALG_RSA_SHA256 && dkim_key_get_bits (key) < 2048)
			ep_log_warning (DKIM_MODULE, NULL, "%s: a %u-bit RSA key is weak; use 2048 bits or more", path,
					dkim_key_get_bits (key));
		g_ptr_array_add (keys, g_steal_pointer (&key));
	}
	return g_steal_pointer (&keys);
}

static gboolean
dkim_apply_config (Dkim *self, EpContext *ctx, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	GPtrArray *keys = dkim_load_file_keys (ctx, self->file_keys, error);

	if (keys == NULL)
		return FALSE;
	g_clear_pointer (&self->file_keys, g_ptr_array_unref);
	self->file_keys = keys;
	self->expire_seconds = section != NULL ? ep_config_section_get_integer (section, "expire_seconds", 0) : 0;
	dkim_rebuild (self);
	return TRUE;
}

/* ---- keys from the database ------------------------------------------------ */

#define DKIM_DB_KEYS_SQL                                                                                           \
	"SELECT domain, selector, algorithm, private_key FROM dkim_keys"                                           \
	" WHERE active AND retired_at IS NULL ORDER BY domain, created, id"

static GPtrArray *
dkim_keys_from_result (EpDbResult *res)
{
	GPtrArray *keys = dkim_key_array_new ();

	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		const char *domain = ep_db_result_get_text (res, i, 0);
		const char *selector = ep_db_result_get_text (res, i, 1);
		const char *algorithm = ep_db_result_get_text (res, i, 2);
		const char *pem = ep_db_result_get_text (res, i, 3);
		g_autofree char *origin = g_strdup_printf ("the database's key %s of %s", selector, domain);
		g_autoptr (GError) error = NULL;
		DkimKey *key = dkim_key_new_from_pem (domain, selector, pem, strlen (pem), origin, &error);

		if (key == NULL) {
			ep_log_warning (DKIM_MODULE, NULL, "%s; it does not sign", error->message);
			continue;
		}
		if (g_strcmp0 (algorithm, dkim_algorithm_to_string (dkim_key_get_algorithm (key))) != 0)
			ep_log_warning (DKIM_MODULE, NULL, "%s is stored as %s but is a %s key", origin, algorithm,
					dkim_algorithm_to_string (dkim_key_get_algorithm (key)));
		g_ptr_array_add (keys, key);
	}
	return keys;
}

static void
dkim_set_db_keys (Dkim *self, GPtrArray *keys)
{
	guint before = self->db_keys != NULL ? self->db_keys->len : 0;

	g_clear_pointer (&self->db_keys, g_ptr_array_unref);
	self->db_keys = keys;
	dkim_rebuild (self);
	if (before != keys->len)
		ep_log_info (DKIM_MODULE, NULL, "%u signing key%s in the database", keys->len,
			     keys->len == 1 ? "" : "s");
}

static void dkim_db_read (Dkim *self);

static void
dkim_db_on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Dkim *self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);

	self->reading = FALSE;
	if (self->ctx == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		dkim_unref (self);
		return;
	}
	if (res == NULL)
		ep_log_warning (DKIM_MODULE, NULL, "cannot read the signing keys, keeping those read before: %s",
				error->message);
	else
		dkim_set_db_keys (self, dkim_keys_from_result (res));
	if (self->read_again) {
		self->read_again = FALSE;
		dkim_db_read (self);
	}
	dkim_unref (self);
}

/* One read at a time; a change announced during a read reads again after. */
static void
dkim_db_read (Dkim *self)
{
	if (self->reading) {
		self->read_again = TRUE;
		return;
	}
	self->reading = TRUE;
	ep_db_query_async (self->db, DKIM_DB_KEYS_SQL, NULL, self->cancellable, dkim_db_on_read, dkim_ref (self));
}

/* a change of dkim_keys, or the subscription (re)starting: notifications
 * may have been missed */
static void
dkim_db_on_notify (EpDb *db, const char *channel, const char *payload, gpointer user_data)
{
	Dkim *self = user_data;

	if (self->ctx != NULL)
		dkim_db_read (self);
}

/* ---- submission.message ------------------------------------------------------ */

typedef struct {
	Dkim *self;
	EpHookCall *call;
	char *session_id;
	char *domain;
	GBytes *message;
	GArray *fields;
	gsize body_offset;
	GPtrArray *keys;
	DkimSignOptions options;
} DkimJob;

static void
dkim_job_free (DkimJob *job)
{
	dkim_unref (job->self);
	ep_hook_call_unref (job->call);
	g_free (job->session_id);
	g_free (job->domain);
	g_bytes_unref (job->message);
	g_array_unref (job->fields);
	g_ptr_array_unref (job->keys);
	g_free (job);
}

static void
dkim_job_run (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	DkimJob *job = task_data;
	GError *error = NULL;
	gsize len;
	const char *data = g_bytes_get_data (job->message, &len);
	GPtrArray *values =
	    dkim_sign_fields (data, len, job->fields, job->body_offset, job->keys, &job->options, &error);

	if (values == NULL)
		g_task_return_error (task, error);
	else
		g_task_return_pointer (task, values, (GDestroyNotify) g_ptr_array_unref);
}

static void
dkim_job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DkimJob *job = g_task_get_task_data (G_TASK (result));
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) values = g_task_propagate_pointer (G_TASK (result), &error);

	if (values == NULL) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			/* the chain is over: the answer is ignored */
			ep_hook_call_continue (job->call);
			return;
		}
		ep_log_warning (DKIM_MODULE, job->session_id, "cannot sign for %s: %s", job->domain, error->message);
		ep_hook_call_return (job->call, ep_verdict_new_tempfail (451, "4.3.0", "Temporary failure, try again"));
		return;
	}
	for (guint i = 0; i < values->len; i++) {
		DkimKey *key = g_ptr_array_index (job->keys, i);
		ep_hook_call_add_header (job->call, DKIM_SIGN_FIELD_NAME, g_ptr_array_index (values, i));
		ep_log_info (DKIM_MODULE, job->session_id, "signed: d=%s s=%s a=%s", dkim_key_get_domain (key),
			     dkim_key_get_selector (key), dkim_algorithm_to_string (dkim_key_get_algorithm (key)));
	}
	ep_hook_call_continue (job->call);
}

static void
dkim_on_submission (EpHookCall *call, EpSubmissionMessageCtx *sub, gpointer user_data)
{
	Dkim *self = user_data;
	const char *session_id = sub->session != NULL ? sub->session->session_id : NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = NULL;
	g_autofree char *domain = NULL;
	g_autoptr (GTask) task = NULL;
	GPtrArray *keys;
	DkimJob *job;
	gsize len = 0;
	gsize body_offset = 0;
	const char *data;

	if (self->ctx == NULL || self->by_domain == NULL || g_hash_table_size (self->by_domain) == 0 ||
	    sub->message == NULL) {
		ep_hook_call_continue (call);
		return;
	}
	data = g_bytes_get_data (sub->message, &len);
	fields = dkim_canon_split_header (data, len, &body_offset, &error);
	if (fields != NULL)
		domain = dkim_sign_from_domain (data, fields, &error);
	if (domain == NULL) {
		ep_log_info (DKIM_MODULE, session_id, "not signed: %s", error->message);
		ep_hook_call_continue (call);
		return;
	}
	keys = g_hash_table_lookup (self->by_domain, domain);
	if (keys == NULL || keys->len == 0) {
		ep_log_debug (DKIM_MODULE, session_id, "not signed: no key for %s", domain);
		ep_hook_call_continue (call);
		return;
	}
	job = g_new0 (DkimJob, 1);
	job->self = dkim_ref (self);
	job->call = ep_hook_call_ref (call);
	job->session_id = g_strdup (session_id);
	job->domain = g_steal_pointer (&domain);
	job->message = g_bytes_ref (sub->message);
	job->fields = g_steal_pointer (&fields);
	job->body_offset = body_offset;
	job->keys = dkim_key_array_new ();
	for (guint i = 0; i < keys->len; i++)
		g_ptr_array_add (job->keys, dkim_key_ref (g_ptr_array_index (keys, i)));
	job->options.timestamp = g_get_real_time () / G_USEC_PER_SEC;
	job->options.expiration = self->expire_seconds > 0 ? job->options.timestamp + self->expire_seconds : 0;
	task = g_task_new (NULL, ep_hook_call_get_cancellable (call), dkim_job_done, NULL);
	g_task_set_source_tag (task, dkim_on_submission);
	g_task_set_task_data (task, job, (GDestroyNotify) dkim_job_free);
	ep_worker_pool_run (ep_context_get_worker_pool (self->ctx), task, dkim_job_run);
}

/* ---- smtp.data: verification ------------------------------------------------ */

typedef struct {
	Dkim *self;
	EpHookCall *call;
	EpSmtpDataCtx *ctx; /* the chain's: not touched once the call is cancelled */
	char *session_id;
	GBytes *message;
	GArray *fields;
	gsize body_offset;
	GPtrArray *sigs; /* of DkimVerifySig */
	guint pending;	 /* key lookups under way */
} DkimVerifyJob;

static void
dkim_verify_job_free (DkimVerifyJob *job)
{
	dkim_unref (job->self);
	ep_hook_call_unref (job->call);
	g_free (job->session_id);
	g_bytes_unref (job->message);
	g_clear_pointer (&job->fields, g_array_unref);
	g_clear_pointer (&job->sigs, g_ptr_array_unref);
	g_free (job);
}

static void
dkim_verify_add_result (EpAuthResults *results, DkimVerifySig *vs)
{
	const char *result = dkim_result_to_string (vs->result);
	EpAuthResult *r = ep_auth_results_add (results, "dkim", result, vs->reason);

	if (r == NULL)
		return;
	if (vs->domain != NULL)
		ep_auth_result_add_property (r, "header", "d", vs->domain);
	if (vs->identity != NULL)
		ep_auth_result_add_property (r, "header", "i", vs->identity);
	if (vs->selector != NULL)
		ep_auth_result_add_property (r, "header", "s", vs->selector);
	if (vs->algorithm != NULL)
		ep_auth_result_add_property (r, "header", "a", vs->algorithm);
	if (vs->b_prefix != NULL)
		ep_auth_result_add_property (r, "header", "b", vs->b_prefix);
}

/* the results go into the transaction's, the chain goes on */
static void
dkim_verify_finish (DkimVerifyJob *job)
{
	if (g_cancellable_is_cancelled (ep_hook_call_get_cancellable (job->call))) {
		/* the chain is over: the context is gone, the answer is ignored */
		ep_hook_call_continue (job->call);
		return;
	}
	for (guint i = 0; i < job->sigs->len; i++) {
		DkimVerifySig *vs = g_ptr_array_index (job->sigs, i);

		ep_log_debug (DKIM_MODULE, job->session_id, "signature %u: d=%s s=%s a=%s: %s%s%s", i + 1,
			      vs->domain != NULL ? vs->domain : "?", vs->selector != NULL ? vs->selector : "?",
			      vs->algorithm != NULL ? vs->algorithm : "?", dkim_result_to_string (vs->result),
			      vs->reason != NULL ? ": " : "", vs->reason != NULL ? vs->reason : "");
		if (job->ctx->auth_results != NULL)
			dkim_verify_add_result (job->ctx->auth_results, vs);
	}
	ep_hook_call_continue (job->call);
}

static void
dkim_verify_job_run (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	DkimVerifyJob *job = task_data;
	gsize len;
	const char *data = g_bytes_get_data (job->message, &len);

	dkim_verify_run (data, len, job->fields, job->body_offset, job->sigs);
	g_task_return_boolean (task, TRUE);
}

static void
dkim_verify_job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DkimVerifyJob *job = g_task_get_task_data (G_TASK (result));
	g_autoptr (GError) error = NULL;

	if (!g_task_propagate_boolean (G_TASK (result), &error)) {
		/* the pool was cancelled: what is not decided could not be */
		for (guint i = 0; i < job->sigs->len; i++) {
			DkimVerifySig *vs = g_ptr_array_index (job->sigs, i);
			if (!vs->done)
				dkim_verify_sig_set_result (vs, DKIM_RESULT_TEMPERROR, "not checked in time");
		}
	}
	dkim_verify_finish (job);
}

/* every key is there (or its lookup failed): hashes and signatures on the pool */
static void
dkim_verify_start_checks (DkimVerifyJob *job)
{
	g_autoptr (GTask) task = NULL;
	gboolean any = FALSE;

	for (guint i = 0; i < job->sigs->len; i++)
		any |= !((DkimVerifySig *) g_ptr_array_index (job->sigs, i))->done;
	if (!any || job->self->ctx == NULL ||
	    g_cancellable_is_cancelled (ep_hook_call_get_cancellable (job->call))) {
		dkim_verify_finish (job);
		dkim_verify_job_free (job);
		return;
	}
	ep_log_debug (DKIM_MODULE, job->session_id, "keys found; checking on the worker pool");
	task = g_task_new (NULL, ep_hook_call_get_cancellable (job->call), dkim_verify_job_done, NULL);
	g_task_set_source_tag (task, dkim_verify_start_checks);
	g_task_set_task_data (task, job, (GDestroyNotify) dkim_verify_job_free);
	ep_worker_pool_run (ep_context_get_worker_pool (job->self->ctx), task, dkim_verify_job_run);
}

typedef struct {
	DkimVerifyJob *job;
	DkimVerifySig *vs;
} DkimLookup;

static void
dkim_verify_on_key (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DkimLookup *lookup = user_data;
	DkimVerifyJob *job = lookup->job;
	DkimVerifySig *vs = lookup->vs;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &error);

	g_free (lookup);
	if (answer == NULL) {
		g_autofree char *reason = g_strdup_printf ("key lookup failed: %s", error->message);
		ep_log_debug (DKIM_MODULE, job->session_id, "%s: %s", vs->key_name, error->message);
		dkim_verify_sig_set_result (vs, DKIM_RESULT_TEMPERROR, reason);
	} else if (answer->nxdomain || answer->records->len == 0) {
		ep_log_debug (DKIM_MODULE, job->session_id, "%s: %s", vs->key_name,
			      answer->nxdomain ? "no such name" : "no TXT record");
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, "no key");
	} else {
		ep_log_debug (DKIM_MODULE, job->session_id, "%s: %u TXT record%s", vs->key_name,
			      answer->records->len, answer->records->len == 1 ? "" : "s");
		vs->records = g_ptr_array_new_with_free_func (g_free);
		for (guint i = 0; i < answer->records->len; i++)
			g_ptr_array_add (vs->records, g_strdup (g_ptr_array_index (answer->records, i)));
	}
	if (--job->pending == 0)
		dkim_verify_start_checks (job);
}

static void
dkim_on_data (EpHookCall *call, EpSmtpDataCtx *ctx, gpointer user_data)
{
	Dkim *self = user_data;
	const char *session_id = ctx->session != NULL ? ctx->session->session_id : NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = NULL;
	EpResolver *resolver;
	DkimVerifyJob *job;
	gsize len = 0;
	gsize body_offset = 0;
	guint n_ignored = 0;
	const char *data;

	/* mail of authenticated users is signed here, not checked */
	if (self->ctx == NULL || ctx->message == NULL || ctx->auth_results == NULL ||
	    (ctx->session != NULL && ctx->session->authenticated_user != NULL)) {
		ep_hook_call_continue (call);
		return;
	}
	data = g_bytes_get_data (ctx->message, &len);
	fields = dkim_canon_split_header (data, len, &body_offset, &error);
	if (fields == NULL) {
		g_autofree char *reason = g_strdup_printf ("header cannot be read: %s", error->message);
		ep_log_debug (DKIM_MODULE, session_id, "%s", reason);
		ep_auth_results_add (ctx->auth_results, "dkim", "permerror", reason);
		ep_hook_call_continue (call);
		return;
	}
	job = g_new0 (DkimVerifyJob, 1);
	job->sigs = dkim_verify_prepare (data, fields, g_get_real_time () / G_USEC_PER_SEC, &n_ignored);
	if (n_ignored > 0)
		ep_log_info (DKIM_MODULE, session_id, "%u signatures past the first %u are not checked", n_ignored,
			     DKIM_VERIFY_MAX_SIGNATURES);
	if (job->sigs->len == 0) {
		g_ptr_array_unref (job->sigs);
		g_free (job);
		ep_log_debug (DKIM_MODULE, session_id, "no signature");
		ep_auth_results_add (ctx->auth_results, "dkim", "none", NULL);
		ep_hook_call_continue (call);
		return;
	}
	ep_log_debug (DKIM_MODULE, session_id, "%u signature%s", job->sigs->len, job->sigs->len == 1 ? "" : "s");
	job->self = dkim_ref (self);
	job->call = ep_hook_call_ref (call);
	job->ctx = ctx;
	job->session_id = g_strdup (session_id);
	job->message = g_bytes_ref (ctx->message);
	job->fields = g_steal_pointer (&fields);
	job->body_offset = body_offset;

	resolver = ep_context_get_resolver (self->ctx);
	/* one reference for the loop below, one per lookup */
	job->pending = 1;
	for (guint i = 0; i < job->sigs->len; i++) {
		DkimVerifySig *vs = g_ptr_array_index (job->sigs, i);
		DkimLookup *lookup;

		if (vs->done)
			continue;
		if (resolver == NULL) {
			dkim_verify_sig_set_result (vs, DKIM_RESULT_TEMPERROR, "no DNS resolver");
			continue;
		}
		ep_log_debug (DKIM_MODULE, session_id, "looking up %s", vs->key_name);
		lookup = g_new0 (DkimLookup, 1);
		lookup->job = job;
		lookup->vs = vs;
		job->pending++;
		ep_resolver_lookup_async (resolver, vs->key_name, EP_DNS_TYPE_TXT, ep_hook_call_get_cancellable (call),
					  dkim_verify_on_key, lookup);
	}
	if (--job->pending == 0)
		dkim_verify_start_checks (job);
}

/* ---- lifecycle ------------------------------------------------------------ */

static gboolean
dkim_init (EpContext *ctx, GError **error)
{
	Dkim *self = g_atomic_rc_box_new0 (Dkim);

	self->ctx = ctx;
	self->cancellable = g_cancellable_new ();
	ep_context_set_data (ctx, self, (GDestroyNotify) dkim_unref);
	if (!dkim_apply_config (self, ctx, error))
		return FALSE;
	self->hook_id = ep_hook_submission_message_connect (ep_context_get_hook_bus (ctx), DKIM_MODULE,
							    EP_HOOK_PRIORITY_LATE, dkim_on_submission,
							    dkim_ref (self), (GDestroyNotify) dkim_unref);
	/* DMARC runs later (EP_HOOK_PRIORITY_LATE) and reads these results */
	self->verify_hook_id = ep_hook_smtp_data_connect (ep_context_get_hook_bus (ctx), DKIM_MODULE,
							  EP_HOOK_PRIORITY_DEFAULT, dkim_on_data, dkim_ref (self),
							  (GDestroyNotify) dkim_unref);
	return TRUE;
}

static gboolean
dkim_start (EpContext *ctx, GError **error)
{
	Dkim *self = ep_context_get_data (ctx);
	EpDb *db = ep_context_get_db (ctx);
	g_autoptr (EpDbResult) res = NULL;

	if (db == NULL) {
		ep_log_info (DKIM_MODULE, NULL, "no database: only the keys of [dkim] keys sign");
		return TRUE;
	}
	g_set_object (&self->db, db);
	/* before the first message: at start, a blocking read is allowed */
	res = ep_db_query_sync (db, DKIM_DB_KEYS_SQL, NULL, error);
	if (res == NULL)
		return FALSE;
	dkim_set_db_keys (self, dkim_keys_from_result (res));
	self->listen_id =
	    ep_db_listen (db, DKIM_NOTIFY_CHANNEL, dkim_db_on_notify, dkim_ref (self), (GDestroyNotify) dkim_unref);
	return TRUE;
}

static gboolean
dkim_reload (EpContext *ctx, GError **error)
{
	return dkim_apply_config (ep_context_get_data (ctx), ctx, error);
}

static void
dkim_shutdown (EpContext *ctx)
{
	Dkim *self = ep_context_get_data (ctx);

	if (self == NULL)
		return;
	g_cancellable_cancel (self->cancellable);
	if (self->listen_id != 0 && self->db != NULL)
		ep_db_unlisten (self->db, self->listen_id);
	self->listen_id = 0;
	if (self->hook_id != 0)
		ep_hook_bus_disconnect (ep_context_get_hook_bus (ctx), self->hook_id);
	self->hook_id = 0;
	if (self->verify_hook_id != 0)
		ep_hook_bus_disconnect (ep_context_get_hook_bus (ctx), self->verify_hook_id);
	self->verify_hook_id = 0;
	self->ctx = NULL;
}

EP_MODULE_DEFINE (.name = DKIM_MODULE, .version = PACKAGE_VERSION,
		  .description = "DKIM signing of submitted mail and verification of inbound mail (ed25519-sha256 "
				 "and rsa-sha256)",
		  .config_schema = dkim_keys, .provides = EP_STRV ("hook:submission.message", "hook:smtp.data"), .init = dkim_init,
		  .start = dkim_start, .reload = dkim_reload, .shutdown = dkim_shutdown, );
