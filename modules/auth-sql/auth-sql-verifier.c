/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include <gcrypt.h>

#include "ep-totp.h"

#include "auth-sql-verifier.h"

#define AUTH_SQL_MODULE "auth-sql"

struct _EpAuthSqlVerifier {
	GObject parent_instance;
	EpDb *db;
	EpServiceRegistry *services;
	EpWorkerPool *pool;
	EpPasswordParams params;
	gint64 (*now) (void);

	GMutex dummy_lock;
	char *dummy_hash; /* made on first use, under dummy_lock */

	/* account name -> SCRAM credentials, of the configuration's accounts */
	GHashTable *config_scram;
};

G_DEFINE_FINAL_TYPE (EpAuthSqlVerifier, ep_auth_sql_verifier, G_TYPE_OBJECT)

/* libgcrypt wants initialising once, before two threads use it */
static void
ep_auth_sql_verifier_gcrypt_init (void)
{
	static gsize done = 0;

	if (g_once_init_enter (&done)) {
		if (!gcry_control (GCRYCTL_INITIALIZATION_FINISHED_P)) {
			gcry_check_version (NULL);
			gcry_control (GCRYCTL_DISABLE_SECMEM, 0);
			gcry_control (GCRYCTL_INITIALIZATION_FINISHED, 0);
		}
		g_once_init_leave (&done, 1);
	}
}

/* one row per app password (or one row of NULLs), with the account's TOTP
 * secret (base64) when enrolled and enabled, and its SCRAM credentials */
#define VERIFIER_SQL_LOOKUP                                                                                            \
	"SELECT encode(t.secret, 'base64'), s.credentials, a.id, a.hash, t.last_step"                                  \
	" FROM (SELECT $1::text AS account) AS k"                                                                      \
	" LEFT JOIN auth_totp t ON t.account = k.account AND t.enabled"                                                \
	" LEFT JOIN auth_scram s ON s.account = k.account"                                                             \
	" LEFT JOIN auth_app_passwords a ON a.account = k.account"                                                     \
	" ORDER BY a.id"

/* a TOTP code is good once: the step moves forward atomically */
#define VERIFIER_SQL_TOTP_USE                                                                                          \
	"UPDATE auth_totp SET last_step = $2::bigint"                                                                  \
	" WHERE account = $1::text AND enabled AND last_step < $2::bigint"

#define VERIFIER_SQL_FORGET                                                                                            \
	"WITH a AS (DELETE FROM auth_app_passwords WHERE account = $1::text),"                                         \
	" t AS (DELETE FROM auth_totp WHERE account = $1::text)"                                                       \
	" DELETE FROM auth_scram WHERE account = $1::text"

static const struct {
	const char *name;
	const char *sql;
} verifier_statements[] = {
    {"auth-sql.lookup", VERIFIER_SQL_LOOKUP},
    {"auth-sql.totp_use", VERIFIER_SQL_TOTP_USE},
    {"auth-sql.forget", VERIFIER_SQL_FORGET},
};

/* ---- the request --------------------------------------------------------- */

typedef struct {
	char *username;
	char *secret; /* wiped when freed */
	gboolean want_scram;

	char *account;	     /* the account name the username names */
	gboolean known;	     /* the store has the account */
	char *password_hash; /* (nullable): NULL when logins are disabled */
	GBytes *totp_secret; /* (nullable): enrolled and enabled */
	gint64 totp_last_step;
	char *scram;	       /* (nullable) */
	GPtrArray *app_hashes; /* of char* */
	guint pending;	       /* lookups still running */
	GError *error;	       /* the first lookup that failed */

	/* out of the worker */
	gboolean ok;
	gint64 totp_step; /* the step whose code was given, -1 when none was needed */

	/* the answer */
	EpAuthSqlOutcome outcome;
} VerifyRequest;

static void
verify_request_free (VerifyRequest *r)
{
	g_free (r->username);
	if (r->secret != NULL) {
		memset (r->secret, 0, strlen (r->secret));
		g_free (r->secret);
	}
	g_free (r->account);
	g_free (r->password_hash);
	g_clear_pointer (&r->totp_secret, g_bytes_unref);
	g_free (r->scram);
	g_clear_pointer (&r->app_hashes, g_ptr_array_unref);
	g_clear_error (&r->error);
	g_free (r);
}

static gint64
ep_auth_sql_verifier_real_now (void)
{
	return g_get_real_time () / G_USEC_PER_SEC;
}

/* ---- the dummy hash ------------------------------------------------------ */

/* On a worker thread: the hash an unknown user is checked against, made
 * with the parameters of real hashes so that it costs the same. */
static const char *
ep_auth_sql_verifier_get_dummy (EpAuthSqlVerifier *self)
{
	g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->dummy_lock);

	if (self->dummy_hash == NULL) {
		g_autoptr (GError) error = NULL;
		g_autofree char *password = NULL;

		/* its password opens nothing: an unknown user is refused whatever
		 * the verification says */
		password = g_strdup_printf ("dummy-%08x%08x", g_random_int (), g_random_int ());
		self->dummy_hash = ep_password_hash (password, &self->params, &error);
		if (self->dummy_hash == NULL) {
			ep_log_warning (AUTH_SQL_MODULE, NULL, "cannot make the dummy hash: %s", error->message);
			return NULL;
		}
	}
	return self->dummy_hash;
}

static void
ep_auth_sql_verifier_warm_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	ep_auth_sql_verifier_get_dummy (EP_AUTH_SQL_VERIFIER (source));
	g_task_return_boolean (task, TRUE);
}

void
ep_auth_sql_verifier_warm_up (EpAuthSqlVerifier *self)
{
	g_autoptr (GTask) task = g_task_new (self, NULL, NULL, NULL);

	/* libgcrypt is initialised here, not by two threads at once */
	ep_auth_sql_verifier_gcrypt_init ();
	ep_worker_pool_run (self->pool, task, ep_auth_sql_verifier_warm_thread);
}

/* ---- the check, on a worker thread --------------------------------------- */

static gboolean
verify_one (const char *phc, const char *password)
{
	g_autoptr (GError) error = NULL;

	/* an empty password opens nothing, whoever asks (argon2 refuses it) */
	if (phc == NULL || *password == '\0')
		return FALSE;
	if (ep_password_verify (phc, password, &error))
		return TRUE;
	if (error != NULL)
		ep_log_warning (AUTH_SQL_MODULE, NULL, "a stored password hash is unusable: %s", error->message);
	return FALSE;
}

static void
ep_auth_sql_verifier_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	EpAuthSqlVerifier *self = source;
	VerifyRequest *r = task_data;
	const char *phc = r->known ? r->password_hash : NULL;
	g_autofree char *password = NULL;
	g_autofree char *code = NULL;
	gboolean ok;

	if (phc == NULL)
		phc = ep_auth_sql_verifier_get_dummy (self);
	if (r->known && r->totp_secret != NULL && !ep_totp_split (r->secret, &password, &code))
		g_clear_pointer (&password, g_free);
	/* one argon2id verification whoever asks: the dummy for an unknown user
	 * or a disabled account, whose outcome does not count */
	ok = verify_one (phc, password != NULL ? password : r->secret) && r->known && r->password_hash != NULL;
	if (password != NULL)
		memset (password, 0, strlen (password));

	r->totp_step = -1;
	if (ok && r->totp_secret != NULL) {
		/* one step either side, later than the last accepted one; the
		 * database has the last word (two processes, one code) */
		ok = code != NULL &&
		     ep_totp_verify (r->totp_secret, code, self->now (), r->totp_last_step, &r->totp_step);
		if (!ok)
			r->totp_step = -1;
	}
	/* app passwords bypass the second factor; only an account that has any
	 * costs more than one verification */
	for (guint i = 0; !ok && r->known && r->password_hash != NULL && i < r->app_hashes->len; i++)
		ok = verify_one (g_ptr_array_index (r->app_hashes, i), r->secret);
	r->ok = ok;
	g_task_return_boolean (task, TRUE);
}

/* ---- back on the main loop ----------------------------------------------- */

static void
ep_auth_sql_verifier_on_totp_used (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	VerifyRequest *r = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);

	if (res == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	if (ep_db_result_get_affected_rows (res) == 1) {
		r->outcome = EP_AUTH_SQL_ACCEPT;
	} else {
		ep_log_info (AUTH_SQL_MODULE, NULL, "a TOTP code for %s was used again or is older than the last one",
			     r->account);
		r->outcome = EP_AUTH_SQL_REJECT;
	}
	g_task_return_boolean (task, TRUE);
}

static void
ep_auth_sql_verifier_on_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpAuthSqlVerifier *self = EP_AUTH_SQL_VERIFIER (source);
	GTask *inner = G_TASK (result);
	g_autoptr (GTask) task = user_data;
	VerifyRequest *r = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;

	if (!g_task_propagate_boolean (inner, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	if (r->ok && r->totp_step >= 0) {
		g_autoptr (EpDbParams) params = ep_db_params_new ();
		GCancellable *cancellable = g_task_get_cancellable (task);
		ep_db_params_add_text (params, r->account);
		ep_db_params_add_int64 (params, r->totp_step);
		ep_db_execute_async (self->db, "auth-sql.totp_use", params, cancellable,
				     ep_auth_sql_verifier_on_totp_used, g_steal_pointer (&task));
		return;
	}
	r->outcome = r->ok ? EP_AUTH_SQL_ACCEPT : EP_AUTH_SQL_REJECT;
	g_task_return_boolean (task, TRUE);
}

/* both lookups are in */
static void
ep_auth_sql_verifier_decide (GTask *task)
{
	EpAuthSqlVerifier *self = g_task_get_source_object (task);
	VerifyRequest *r = g_task_get_task_data (task);

	if (r->error != NULL) {
		g_task_return_error (task, g_steal_pointer (&r->error));
		g_object_unref (task);
		return;
	}
	if (r->want_scram) {
		/* the configuration is the only source for its own accounts */
		const char *configured = g_hash_table_lookup (self->config_scram, r->account);
		if (configured != NULL) {
			g_free (r->scram);
			r->scram = g_strdup (configured);
		}
		if (!r->known || r->password_hash == NULL || r->scram == NULL) {
			/* the SASL layer fakes an exchange for unknown users */
			r->outcome = EP_AUTH_SQL_CONTINUE;
		} else if (r->totp_secret != NULL) {
			/* the second factor cannot travel in SCRAM */
			r->outcome = EP_AUTH_SQL_REJECT;
		} else {
			r->outcome = EP_AUTH_SQL_ACCEPT;
		}
		g_task_return_boolean (task, TRUE);
		g_object_unref (task);
		return;
	}
	{
		GTask *inner = g_task_new (self, g_task_get_cancellable (task), ep_auth_sql_verifier_on_checked, task);
		/* the worker reads and writes the request; the outer task keeps it */
		g_task_set_task_data (inner, r, NULL);
		ep_worker_pool_run (self->pool, inner, ep_auth_sql_verifier_thread);
		g_object_unref (inner);
	}
}

static void
verify_request_fail (VerifyRequest *r, GError *error)
{
	if (r->error == NULL)
		r->error = error;
	else
		g_error_free (error);
}

static void
ep_auth_sql_verifier_on_account (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	VerifyRequest *r = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) accounts = ep_store_list_accounts_finish (EP_STORE (source), result, &error);

	if (accounts == NULL && error != NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND) &&
	    !g_error_matches (error, EP_ERROR, EP_ERROR_INVALID))
		verify_request_fail (r, g_steal_pointer (&error));
	for (guint i = 0; accounts != NULL && i < accounts->len; i++) {
		EpStoreAccount *a = g_ptr_array_index (accounts, i);
		if (g_strcmp0 (a->name, r->account) != 0)
			continue;
		r->known = TRUE;
		r->password_hash = g_strdup (a->password_hash);
		/* a login by address must be one of the account's own addresses,
		 * not one that subaddressing or a catch-all maps to it */
		if (strchr (r->username, '@') != NULL) {
			g_autofree char *lower = g_utf8_strdown (r->username, -1);
			if (a->addresses == NULL || !g_strv_contains ((const char *const *)a->addresses, lower))
				r->known = FALSE;
		}
	}
	if (--r->pending == 0)
		ep_auth_sql_verifier_decide (task);
}

static void
ep_auth_sql_verifier_on_lookup (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	VerifyRequest *r = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);

	if (res == NULL) {
		verify_request_fail (r, g_steal_pointer (&error));
	} else {
		for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
			if (i == 0 && !ep_db_result_is_null (res, 0, 0)) {
				gsize len = 0;
				guchar *raw = g_base64_decode (ep_db_result_get_text (res, 0, 0), &len);
				r->totp_secret = g_bytes_new_take (raw, len);
				r->totp_last_step = ep_db_result_get_int64 (res, 0, 4);
			}
			if (i == 0 && !ep_db_result_is_null (res, 0, 1))
				r->scram = g_strdup (ep_db_result_get_text (res, 0, 1));
			if (!ep_db_result_is_null (res, i, 3))
				g_ptr_array_add (r->app_hashes, g_strdup (ep_db_result_get_text (res, i, 3)));
		}
	}
	if (--r->pending == 0)
		ep_auth_sql_verifier_decide (task);
}

static void
ep_auth_sql_verifier_lookup (GTask *task)
{
	EpAuthSqlVerifier *self = g_task_get_source_object (task);
	VerifyRequest *r = g_task_get_task_data (task);
	EpStore *store = EP_STORE (ep_service_registry_lookup (self->services, EP_TYPE_STORE));
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	if (store == NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_UNAVAILABLE, "no mailbox store");
		g_object_unref (task);
		return;
	}
	r->pending = 2;
	ep_store_list_accounts_async (store, r->account, g_task_get_cancellable (task), ep_auth_sql_verifier_on_account,
				      task);
	ep_db_params_add_text (params, r->account);
	ep_db_execute_async (self->db, "auth-sql.lookup", params, g_task_get_cancellable (task),
			     ep_auth_sql_verifier_on_lookup, task);
}

static void
ep_auth_sql_verifier_on_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	VerifyRequest *r = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autofree char *account = ep_store_resolve_address_finish (EP_STORE (source), result, &error);

	if (account == NULL && error != NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND) &&
	    !g_error_matches (error, EP_ERROR, EP_ERROR_INVALID)) {
		g_task_return_error (task, g_steal_pointer (&error));
		g_object_unref (task);
		return;
	}
	/* an unknown address goes on like an unknown name: same work */
	g_free (r->account);
	r->account = account != NULL ? g_steal_pointer (&account) : g_strdup (r->username);
	ep_auth_sql_verifier_lookup (task);
}

void
ep_auth_sql_verifier_verify_async (EpAuthSqlVerifier *self, const char *username, const char *secret,
				   gboolean want_scram, GCancellable *cancellable, GAsyncReadyCallback callback,
				   gpointer user_data)
{
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	VerifyRequest *r = g_new0 (VerifyRequest, 1);
	EpStore *store;

	g_task_set_source_tag (task, ep_auth_sql_verifier_verify_async);
	r->username = g_strdup (username != NULL ? username : "");
	r->secret = g_strdup (secret != NULL ? secret : "");
	r->want_scram = want_scram;
	r->account = g_strdup (r->username);
	r->app_hashes = g_ptr_array_new_with_free_func (g_free);
	g_task_set_task_data (task, r, (GDestroyNotify)verify_request_free);

	store = EP_STORE (ep_service_registry_lookup (self->services, EP_TYPE_STORE));
	if (store != NULL && strchr (r->username, '@') != NULL) {
		/* a login by address: the account that owns it */
		ep_store_resolve_address_async (store, r->username, cancellable, ep_auth_sql_verifier_on_resolved,
						task);
		return;
	}
	ep_auth_sql_verifier_lookup (task);
}

EpAuthSqlOutcome
ep_auth_sql_verifier_verify_finish (EpAuthSqlVerifier *self, GAsyncResult *result, char **account,
				    char **scram_credentials, GError **error)
{
	VerifyRequest *r;

	g_return_val_if_fail (g_task_is_valid (result, self), EP_AUTH_SQL_CONTINUE);
	if (!g_task_propagate_boolean (G_TASK (result), error))
		return EP_AUTH_SQL_CONTINUE;
	r = g_task_get_task_data (G_TASK (result));
	if (r->outcome == EP_AUTH_SQL_ACCEPT) {
		if (account != NULL)
			*account = g_strdup (r->account);
		if (scram_credentials != NULL)
			*scram_credentials = g_strdup (r->want_scram ? r->scram : NULL);
	}
	return r->outcome;
}

/* ---- forget -------------------------------------------------------------- */

static void
ep_auth_sql_verifier_on_forgotten (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);

	if (res == NULL)
		g_task_return_error (task, g_steal_pointer (&error));
	else
		g_task_return_boolean (task, TRUE);
}

void
ep_auth_sql_verifier_forget_async (EpAuthSqlVerifier *self, const char *account, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);

	ep_db_execute_async (self->db, "auth-sql.forget", params, cancellable, ep_auth_sql_verifier_on_forgotten, task);
}

gboolean
ep_auth_sql_verifier_forget_finish (EpAuthSqlVerifier *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- object -------------------------------------------------------------- */

void
ep_auth_sql_verifier_set_clock (EpAuthSqlVerifier *self, gint64 (*now) (void))
{
	self->now = now != NULL ? now : ep_auth_sql_verifier_real_now;
}

static void
ep_auth_sql_verifier_finalize (GObject *object)
{
	EpAuthSqlVerifier *self = EP_AUTH_SQL_VERIFIER (object);

	g_clear_object (&self->db);
	g_clear_object (&self->services);
	g_clear_object (&self->pool);
	g_free (self->dummy_hash);
	g_hash_table_unref (self->config_scram);
	g_mutex_clear (&self->dummy_lock);
	G_OBJECT_CLASS (ep_auth_sql_verifier_parent_class)->finalize (object);
}

static void
ep_auth_sql_verifier_class_init (EpAuthSqlVerifierClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_auth_sql_verifier_finalize;
}

static void
ep_auth_sql_verifier_init (EpAuthSqlVerifier *self)
{
	g_mutex_init (&self->dummy_lock);
	self->now = ep_auth_sql_verifier_real_now;
	self->config_scram = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

void
ep_auth_sql_verifier_set_config_accounts (EpAuthSqlVerifier *self, GPtrArray *accounts)
{
	g_hash_table_remove_all (self->config_scram);
	for (guint i = 0; accounts != NULL && i < accounts->len; i++) {
		EpConfigAccount *a = g_ptr_array_index (accounts, i);
		if (a->scram_sha256 != NULL)
			g_hash_table_insert (self->config_scram, g_strdup (a->name), g_strdup (a->scram_sha256));
	}
}

EpAuthSqlVerifier *
ep_auth_sql_verifier_new (EpDb *db, EpServiceRegistry *services, EpWorkerPool *pool, const EpPasswordParams *params,
			  GError **error)
{
	g_autoptr (EpAuthSqlVerifier) self = NULL;

	for (guint i = 0; i < G_N_ELEMENTS (verifier_statements); i++) {
		if (!ep_db_prepare (db, verifier_statements[i].name, verifier_statements[i].sql, error))
			return NULL;
	}
	self = g_object_new (EP_TYPE_AUTH_SQL_VERIFIER, NULL);
	self->db = g_object_ref (db);
	self->services = g_object_ref (services);
	self->pool = g_object_ref (pool);
	self->params = *(params != NULL ? params : ep_password_default_params ());
	return g_steal_pointer (&self);
}
