/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

typedef enum {
	EP_AUTH_SQL_CONTINUE, /* not ours to answer */
	EP_AUTH_SQL_ACCEPT,   /* the account is set (and the SCRAM credentials when asked) */
	EP_AUTH_SQL_REJECT,   /* credentials invalid, whatever the reason */
} EpAuthSqlOutcome;

/*
 * The credential check of auth-sql: the store's accounts (password_hash)
 * with the second factor (TOTP appended to the password), app passwords and
 * SCRAM credentials of this module's tables.  The argon2id work runs on the
 * worker pool; an unknown user, a disabled account and a wrong password
 * cost the same work (a verification against a dummy hash made with the
 * same parameters) and give the same outcome.
 */
#define EP_TYPE_AUTH_SQL_VERIFIER (ep_auth_sql_verifier_get_type ())
G_DECLARE_FINAL_TYPE (EpAuthSqlVerifier, ep_auth_sql_verifier, EP, AUTH_SQL_VERIFIER, GObject)

/* @params: (nullable): the parameters of the dummy hash; default: ep_password_default_params() */
EpAuthSqlVerifier *ep_auth_sql_verifier_new (EpDb *db, EpServiceRegistry *services, EpWorkerPool *pool,
					     const EpPasswordParams *params, GError **error);

/* computes the dummy hash on the worker pool now rather than on first use */
void ep_auth_sql_verifier_warm_up (EpAuthSqlVerifier *self);

/* for tests: the clock TOTP codes are checked against (seconds since the epoch) */
void ep_auth_sql_verifier_set_clock (EpAuthSqlVerifier *self, gint64 (*now) (void));

/* @secret: (nullable): the password, with the TOTP code appended when enrolled;
 * %NULL with @want_scram for the SCRAM credentials */
void ep_auth_sql_verifier_verify_async (EpAuthSqlVerifier *self, const char *username, const char *secret,
					gboolean want_scram, GCancellable *cancellable, GAsyncReadyCallback callback,
					gpointer user_data);
/* Returns the outcome, or CONTINUE with @error set when the database or the
 * store cannot answer (a temporary failure).  @account, @scram_credentials:
 * (out) (optional) (transfer full): set with ACCEPT */
EpAuthSqlOutcome ep_auth_sql_verifier_verify_finish (EpAuthSqlVerifier *self, GAsyncResult *result, char **account,
						     char **scram_credentials, GError **error);

/* deletes the TOTP enrolment, app passwords and SCRAM credentials of @account */
void ep_auth_sql_verifier_forget_async (EpAuthSqlVerifier *self, const char *account, GCancellable *cancellable,
					GAsyncReadyCallback callback, gpointer user_data);
gboolean ep_auth_sql_verifier_forget_finish (EpAuthSqlVerifier *self, GAsyncResult *result, GError **error);

/* The SCRAM credentials of the configuration's accounts (scram_sha256),
 * which have no row of their own: @accounts of EpConfigAccount. */
void ep_auth_sql_verifier_set_config_accounts (EpAuthSqlVerifier *self, GPtrArray *accounts);

G_END_DECLS
