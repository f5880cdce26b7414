/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gcrypt.h>
#include <string.h>

#include "ep-auth-cli.h"
#include "ep-error.h"

/* libgcrypt wants initialising once before use; ep-password does the same */
static void
ep_auth_cli_gcrypt_init (void)
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

gboolean
ep_auth_cli_available (EpDb *db, GError **error)
{
	g_autoptr (EpDbResult) res = ep_db_query_sync (
	    db, "SELECT to_regclass('auth_totp') IS NOT NULL AND to_regclass('auth_scram') IS NOT NULL", NULL, error);

	if (res == NULL)
		return FALSE;
	if (!ep_db_result_get_boolean (res, 0, 0)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "the module auth-sql is not loaded: add \"auth-sql\" to modules");
		return FALSE;
	}
	return TRUE;
}

/* ---- TOTP ---------------------------------------------------------------- */

gboolean
ep_auth_cli_totp_enroll (EpDb *db, const char *account, GBytes *secret, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autoptr (EpDbResult) res = NULL;

	ep_db_params_add_text (params, account);
	ep_db_params_add_bytes (params, secret);
	res = ep_db_query_sync (db,
				"INSERT INTO auth_totp (account, secret) VALUES ($1, $2)"
				" ON CONFLICT (account) DO UPDATE SET secret = EXCLUDED.secret, enabled = true,"
				" last_step = 0, created_at = now()",
				params, error);
	return res != NULL;
}

gboolean
ep_auth_cli_totp_disable (EpDb *db, const char *account, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);
	g_autoptr (EpDbResult) res = ep_db_query_sync (db, "DELETE FROM auth_totp WHERE account = $1", params, error);

	if (res == NULL)
		return FALSE;
	if (ep_db_result_get_affected_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "%s has no TOTP enrolled", account);
		return FALSE;
	}
	return TRUE;
}

/* ---- app passwords ------------------------------------------------------- */

char *
ep_auth_cli_app_password_new (void)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	GString *out = g_string_new (NULL);

	ep_auth_cli_gcrypt_init ();
	while (out->len < 19) {
		guint8 byte;

		if (out->len % 5 == 4) {
			g_string_append_c (out, '-');
			continue;
		}
		gcry_randomize (&byte, 1, GCRY_STRONG_RANDOM);
		/* 252 = 7 * 36: no bias */
		if (byte >= 252)
			continue;
		g_string_append_c (out, alphabet[byte % 36]);
	}
	return g_string_free (out, FALSE);
}

gboolean
ep_auth_cli_app_password_add (EpDb *db, const char *account, const char *label, const char *hash, gint64 *id,
			      GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, label, hash, NULL);
	g_autoptr (EpDbResult) res = ep_db_query_sync (
	    db, "INSERT INTO auth_app_passwords (account, label, hash) VALUES ($1, $2, $3) RETURNING id", params,
	    error);

	if (res == NULL)
		return FALSE;
	if (id != NULL)
		*id = ep_db_result_get_int64 (res, 0, 0);
	return TRUE;
}

EpDbResult *
ep_auth_cli_app_password_list (EpDb *db, const char *account, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);

	return ep_db_query_sync (db,
				 "SELECT id, label,"
				 " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
				 " FROM auth_app_passwords WHERE account = $1 ORDER BY id",
				 params, error);
}

gboolean
ep_auth_cli_app_password_revoke (EpDb *db, const char *account, gint64 id, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);
	g_autoptr (EpDbResult) res = NULL;

	ep_db_params_add_int64 (params, id);
	res = ep_db_query_sync (db, "DELETE FROM auth_app_passwords WHERE account = $1 AND id = $2", params, error);
	if (res == NULL)
		return FALSE;
	if (ep_db_result_get_affected_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "%s has no app password %" G_GINT64_FORMAT, account,
			     id);
		return FALSE;
	}
	return TRUE;
}

/* ---- SCRAM --------------------------------------------------------------- */

gboolean
ep_auth_cli_set_scram (EpDb *db, const char *account, const char *credentials, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, credentials, NULL);
	g_autoptr (EpDbResult) res = ep_db_query_sync (
	    db,
	    "INSERT INTO auth_scram (account, credentials) VALUES ($1, $2)"
	    " ON CONFLICT (account) DO UPDATE SET credentials = EXCLUDED.credentials, updated_at = now()",
	    params, error);

	return res != NULL;
}

gboolean
ep_auth_cli_forget (EpDb *db, const char *account, GError **error)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);
	g_autoptr (EpDbResult) res =
	    ep_db_query_sync (db,
			      "WITH a AS (DELETE FROM auth_app_passwords WHERE account = $1::text),"
			      " t AS (DELETE FROM auth_totp WHERE account = $1::text)"
			      " DELETE FROM auth_scram WHERE account = $1::text",
			      params, error);

	return res != NULL;
}
