/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-db.h"

G_BEGIN_DECLS

/*
 * What the `mail` commands for second factors, app passwords and SCRAM
 * credentials do to auth-sql's tables (modules/auth-sql/migrations): plain
 * blocking SQL on the database the command opened.
 */

/* whether auth-sql's tables exist (the module was loaded at least once) */
gboolean ep_auth_cli_available (EpDb *db, GError **error);

gboolean ep_auth_cli_totp_enroll (EpDb *db, const char *account, GBytes *secret, GError **error);
/* %FALSE with %EP_ERROR_NOT_FOUND when the account has no TOTP */
gboolean ep_auth_cli_totp_disable (EpDb *db, const char *account, GError **error);

/* four groups of four lower-case letters and digits: "k3vq-8rme-t2xw-9hzp" */
char *ep_auth_cli_app_password_new (void);
gboolean ep_auth_cli_app_password_add (EpDb *db, const char *account, const char *label, const char *hash, gint64 *id,
				       GError **error);
/* columns id, label, created (UTC, ISO 8601), oldest first */
EpDbResult *ep_auth_cli_app_password_list (EpDb *db, const char *account, GError **error);
/* %FALSE with %EP_ERROR_NOT_FOUND when @account has no app password @id */
gboolean ep_auth_cli_app_password_revoke (EpDb *db, const char *account, gint64 id, GError **error);

/* credentials from ep_scram_sha256_credentials_new() */
gboolean ep_auth_cli_set_scram (EpDb *db, const char *account, const char *credentials, GError **error);

/* deletes every row of @account (a new account must not inherit them) */
gboolean ep_auth_cli_forget (EpDb *db, const char *account, GError **error);

G_END_DECLS
