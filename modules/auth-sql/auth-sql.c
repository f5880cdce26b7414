/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * auth-sql: the credential backend of the store's accounts and the
 * brute-force guard.  It answers auth.verify for the accounts of the
 * mailbox store (their argon2id password_hash), adds a TOTP second factor,
 * app passwords and SCRAM credentials kept in its own tables, and
 * registers the EpAuthGuard service whose failure counters live in
 * PostgreSQL, shared by every process and host.  See docs/auth.md.
 */

#include "config.h"

#include <string.h>

#include <epistle.h>

#include "auth-sql-guard.h"
#include "auth-sql-verifier.h"

#define AUTH_SQL_MODULE "auth-sql"

static const EpConfigKey auth_sql_keys[] = {
    {"delay_base_ms", EP_CONFIG_TYPE_INTEGER, 0, 0, 60000, NULL, NULL,
     "delay before answering after one recent failure; doubles with each further one"},
    {"delay_max_ms", EP_CONFIG_TYPE_INTEGER, 0, 0, 60000, NULL, NULL, "the longest delay"},
    {"failure_window", EP_CONFIG_TYPE_INTEGER, 0, 1, 86400, NULL, NULL,
     "seconds after the last failure when the counters start again"},
    {"ban_after_ip", EP_CONFIG_TYPE_INTEGER, 0, 1, 100000, NULL, NULL,
     "failures from one client address (IPv6: one /64) that ban it"},
    {"ban_after_user", EP_CONFIG_TYPE_INTEGER, 0, 1, 100000, NULL, NULL,
     "failures on one username, from anywhere, that ban it"},
    {"ban_seconds", EP_CONFIG_TYPE_INTEGER, 0, 1, 604800, NULL, NULL, "how long a ban lasts"},
    {NULL}};

typedef struct {
	EpContext *ctx;
	EpAuthSqlVerifier *verifier;
	EpAuthSqlGuard *guard;
	guint purge_source;
	guint subscription;
} AuthSql;

static void
auth_sql_free (AuthSql *self)
{
	if (self->purge_source != 0)
		g_source_remove (self->purge_source);
	if (self->subscription != 0)
		ep_event_bus_unsubscribe (ep_context_get_event_bus (self->ctx), self->subscription);
	g_clear_object (&self->verifier);
	g_clear_object (&self->guard);
	g_free (self);
}

static gboolean
auth_sql_read_config (EpContext *ctx, EpAuthSqlGuardConfig *config, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);

	config->delay_base_ms = (guint)ep_config_section_get_integer (section, "delay_base_ms", 250);
	config->delay_max_ms = (guint)ep_config_section_get_integer (section, "delay_max_ms", 8000);
	config->failure_window = (guint)ep_config_section_get_integer (section, "failure_window", 900);
	config->ban_after_ip = (guint)ep_config_section_get_integer (section, "ban_after_ip", 10);
	config->ban_after_user = (guint)ep_config_section_get_integer (section, "ban_after_user", 20);
	config->ban_seconds = (guint)ep_config_section_get_integer (section, "ban_seconds", 900);
	if (config->delay_max_ms < config->delay_base_ms) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "[auth-sql] delay_max_ms (%u) is smaller than delay_base_ms (%u)", config->delay_max_ms,
			     config->delay_base_ms);
		return FALSE;
	}
	return TRUE;
}

/* ---- auth.verify --------------------------------------------------------- */

typedef struct {
	EpHookCall *call;
	EpAuthVerifyCtx *verify;
} AuthSqlCall;

static void
auth_sql_on_verified (GObject *source, GAsyncResult *result, gpointer user_data)
{
	AuthSqlCall *c = user_data;
	g_autoptr (GError) error = NULL;
	g_autofree char *account = NULL;
	g_autofree char *scram = NULL;
	EpAuthSqlOutcome outcome;

	outcome = ep_auth_sql_verifier_verify_finish (EP_AUTH_SQL_VERIFIER (source), result, &account, &scram, &error);
	if (g_cancellable_is_cancelled (ep_hook_call_get_cancellable (c->call))) {
		/* the chain is over: the context is gone */
	} else if (error != NULL) {
		ep_log_warning (AUTH_SQL_MODULE, c->verify->session_id, "cannot check credentials: %s", error->message);
		ep_hook_call_return (c->call,
				     ep_verdict_new_tempfail (454, "4.7.0", "Temporary authentication failure"));
	} else if (outcome == EP_AUTH_SQL_ACCEPT) {
		ep_hook_ctx_set_string (&c->verify->account, account);
		if (c->verify->want_scram)
			ep_hook_ctx_set_string (&c->verify->scram_credentials, scram);
		ep_hook_call_return (c->call, ep_verdict_new (EP_VERDICT_ACCEPT));
	} else if (outcome == EP_AUTH_SQL_REJECT) {
		ep_hook_call_return (c->call,
				     ep_verdict_new_reject (535, "5.7.8", "Authentication credentials invalid"));
	} else {
		ep_hook_call_continue (c->call);
	}
	ep_hook_call_unref (c->call);
	g_free (c);
}

static void
auth_sql_auth_verify (EpHookCall *call, EpAuthVerifyCtx *verify, gpointer user_data)
{
	EpContext *ctx = user_data;
	AuthSql *self = ep_context_get_data (ctx);
	AuthSqlCall *c;

	/* bearer tokens belong to an OAuth backend */
	if (verify->is_bearer || verify->username == NULL || (verify->secret == NULL && !verify->want_scram)) {
		ep_hook_call_continue (call);
		return;
	}
	if (self == NULL || self->verifier == NULL) {
		ep_hook_call_return (call, ep_verdict_new_tempfail (454, "4.7.0", "Temporary authentication failure"));
		return;
	}
	c = g_new0 (AuthSqlCall, 1);
	c->call = ep_hook_call_ref (call);
	c->verify = verify;
	ep_auth_sql_verifier_verify_async (self->verifier, verify->username, verify->want_scram ? NULL : verify->secret,
					   verify->want_scram, ep_hook_call_get_cancellable (call),
					   auth_sql_on_verified, c);
}

/* ---- account.changed ----------------------------------------------------- */

static void
auth_sql_on_forgotten (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree char *account = user_data;
	g_autoptr (GError) error = NULL;

	if (!ep_auth_sql_verifier_forget_finish (EP_AUTH_SQL_VERIFIER (source), result, &error))
		ep_log_warning (AUTH_SQL_MODULE, NULL, "cannot delete the second factor and app passwords of %s: %s",
				account, error->message);
}

/* a deleted account's TOTP, app passwords and SCRAM credentials go with it,
 * so that a new account of the same name does not inherit them */
static void
auth_sql_on_account_changed (const EpAccountChangedEvent *event, gpointer user_data)
{
	AuthSql *self = ep_context_get_data (user_data);

	if (self == NULL || self->verifier == NULL || event->change != EP_ACCOUNT_CHANGE_DELETED)
		return;
	ep_auth_sql_verifier_forget_async (self->verifier, event->account, NULL, auth_sql_on_forgotten,
					   g_strdup (event->account));
}

/* ---- upkeep -------------------------------------------------------------- */

static void
auth_sql_on_purged (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GError) error = NULL;

	if (!ep_auth_sql_guard_purge_finish (EP_AUTH_SQL_GUARD (source), result, &error))
		ep_log_debug (AUTH_SQL_MODULE, NULL, "cannot forget old failures: %s", error->message);
}

static gboolean
auth_sql_purge (gpointer user_data)
{
	AuthSql *self = user_data;

	ep_auth_sql_guard_purge_async (self->guard, NULL, auth_sql_on_purged, NULL);
	return G_SOURCE_CONTINUE;
}

/* ---- lifecycle ----------------------------------------------------------- */

static gboolean
auth_sql_init (EpContext *ctx, GError **error)
{
	EpAuthSqlGuardConfig config;
	AuthSql *self;

	if (!auth_sql_read_config (ctx, &config, error))
		return FALSE;
	self = g_new0 (AuthSql, 1);
	self->ctx = ctx;
	ep_context_set_data (ctx, self, (GDestroyNotify)auth_sql_free);
	/* until start() the database is not there: answer "try again later" */
	ep_hook_auth_verify_connect (ep_context_get_hook_bus (ctx), AUTH_SQL_MODULE, 0, auth_sql_auth_verify, ctx,
				     NULL);
	self->subscription = ep_event_account_changed_subscribe (ep_context_get_event_bus (ctx), AUTH_SQL_MODULE,
								 auth_sql_on_account_changed, ctx, NULL);
	return TRUE;
}

static gboolean
auth_sql_start (EpContext *ctx, GError **error)
{
	AuthSql *self = ep_context_get_data (ctx);
	EpDb *db = ep_context_get_db (ctx);
	EpAuthSqlGuardConfig config;

	if (db == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "no database for the credentials");
		return FALSE;
	}
	if (!auth_sql_read_config (ctx, &config, error))
		return FALSE;
	self->guard = ep_auth_sql_guard_new (db, &config, error);
	if (self->guard == NULL)
		return FALSE;
	self->verifier =
	    ep_auth_sql_verifier_new (db, ep_context_get_services (ctx), ep_context_get_worker_pool (ctx), NULL, error);
	if (self->verifier == NULL)
		return FALSE;
	ep_auth_sql_verifier_set_config_accounts (self->verifier, ep_config_get_accounts (ep_context_get_config (ctx)));
	if (!ep_service_registry_register (ep_context_get_services (ctx), EP_TYPE_AUTH_GUARD, G_OBJECT (self->guard),
					   AUTH_SQL_MODULE, error))
		return FALSE;
	/* the dummy hash for unknown users, made before the first login */
	ep_auth_sql_verifier_warm_up (self->verifier);
	self->purge_source = g_timeout_add_seconds (600, auth_sql_purge, self);
	return TRUE;
}

static gboolean
auth_sql_reload (EpContext *ctx, GError **error)
{
	AuthSql *self = ep_context_get_data (ctx);
	EpAuthSqlGuardConfig config;

	if (!auth_sql_read_config (ctx, &config, error))
		return FALSE;
	if (self->guard != NULL)
		ep_auth_sql_guard_set_config (self->guard, &config);
	if (self->verifier != NULL)
		ep_auth_sql_verifier_set_config_accounts (self->verifier,
							  ep_config_get_accounts (ep_context_get_config (ctx)));
	return TRUE;
}

EP_MODULE_DEFINE (.name = AUTH_SQL_MODULE, .version = PACKAGE_VERSION,
		  .description = "Passwords, TOTP, app passwords and SCRAM for the store's accounts; brute-force guard",
		  .config_schema = auth_sql_keys, .provides = EP_STRV ("hook:auth.verify", "service:auth-guard"),
		  .requires = EP_STRV ("service:store"), .run_after = EP_STRV ("store-pg"), .init = auth_sql_init,
		  .start = auth_sql_start, .reload = auth_sql_reload, );
