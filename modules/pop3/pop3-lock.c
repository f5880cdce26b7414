/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include "pop3-lock.h"
#include "pop3-session.h"

/* an expired lease is taken over in the same statement */
#define POP3_LOCK_ACQUIRE_SQL                                                                                          \
	"INSERT INTO pop3_maildrop_locks (account, owner, holder, expires_at) "                                        \
	"VALUES ($1, $2, $3, now() + $4::integer * interval '1 second') "                                              \
	"ON CONFLICT (account) DO UPDATE SET owner = EXCLUDED.owner, holder = EXCLUDED.holder, "                       \
	"acquired_at = now(), expires_at = EXCLUDED.expires_at "                                                       \
	"WHERE pop3_maildrop_locks.expires_at < now() RETURNING owner"
#define POP3_LOCK_RENEW_SQL                                                                                            \
	"UPDATE pop3_maildrop_locks SET expires_at = now() + $3::integer * interval '1 second' "                       \
	"WHERE account = $1 AND owner = $2"
#define POP3_LOCK_RELEASE_SQL "DELETE FROM pop3_maildrop_locks WHERE account = $1 AND owner = $2"

static void
pop3_lock_on_query (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) result = ep_db_query_finish (EP_DB (source), res, &error);

	if (result == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	/* acquire: a row came back; renew: a row was changed */
	g_task_return_boolean (task,
			       ep_db_result_get_n_rows (result) > 0 || ep_db_result_get_affected_rows (result) > 0);
}

static gboolean
pop3_lock_finish (EpDb *db, GAsyncResult *result, gboolean *out, GError **error)
{
	g_autoptr (GError) local = NULL;
	gboolean value;

	g_return_val_if_fail (g_task_is_valid (result, db), FALSE);
	value = g_task_propagate_boolean (G_TASK (result), &local);
	if (local != NULL) {
		g_propagate_error (error, g_steal_pointer (&local));
		return FALSE;
	}
	*out = value;
	return TRUE;
}

void
pop3_lock_acquire_async (EpDb *db, const char *account, const char *owner, const char *holder, guint lease,
			 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (db, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, owner, holder, NULL);

	ep_db_params_add_int64 (params, lease);
	ep_db_query_async (db, POP3_LOCK_ACQUIRE_SQL, params, cancellable, pop3_lock_on_query, task);
}

gboolean
pop3_lock_acquire_finish (EpDb *db, GAsyncResult *result, gboolean *acquired, GError **error)
{
	return pop3_lock_finish (db, result, acquired, error);
}

void
pop3_lock_renew_async (EpDb *db, const char *account, const char *owner, guint lease, GCancellable *cancellable,
		       GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (db, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, owner, NULL);

	ep_db_params_add_int64 (params, lease);
	ep_db_query_async (db, POP3_LOCK_RENEW_SQL, params, cancellable, pop3_lock_on_query, task);
}

gboolean
pop3_lock_renew_finish (EpDb *db, GAsyncResult *result, gboolean *held, GError **error)
{
	return pop3_lock_finish (db, result, held, error);
}

static void
pop3_lock_on_released (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autofree char *account = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) result = ep_db_query_finish (EP_DB (source), res, &error);

	if (result == NULL)
		ep_log_warning (POP3_MODULE, NULL,
				"could not release the maildrop lock of %s (it expires with its lease): %s", account,
				error->message);
}

void
pop3_lock_release (EpDb *db, const char *account, const char *owner)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, owner, NULL);

	ep_db_query_async (db, POP3_LOCK_RELEASE_SQL, params, NULL, pop3_lock_on_released, g_strdup (account));
}
