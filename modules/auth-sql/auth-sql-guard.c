/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "auth-sql-guard.h"

struct _EpAuthSqlGuard {
	GObject parent_instance;
	EpDb *db;
	EpAuthSqlGuardConfig config;
};

static void ep_auth_sql_guard_iface_init (EpAuthGuardInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EpAuthSqlGuard, ep_auth_sql_guard, G_TYPE_OBJECT,
			       G_IMPLEMENT_INTERFACE (EP_TYPE_AUTH_GUARD, ep_auth_sql_guard_iface_init))

/* ---- statements ---------------------------------------------------------- */

/* $1 address key, $2 username key (either may be NULL), $3 window (s):
 * the recent failures of each and whether it is banned */
#define GUARD_SQL_CHECK                                                                                                \
	"SELECT kind, CASE WHEN last_at > now() - make_interval(secs => $3::int) THEN failures ELSE 0 END,"            \
	" COALESCE(banned_until > now(), false)"                                                                       \
	" FROM auth_failures WHERE (kind = 'ip' AND key = $1::text) OR (kind = 'user' AND key = $2::text)"

/* a failure against both keys: a counter past the window, or whose ban has
 * ended, starts again at 1; reaching the threshold bans for $5 seconds.
 * $3/$4 ban thresholds of 'ip'/'user', $6 window (s) */
#define GUARD_RESET "(f.last_at <= now() - make_interval(secs => $6::int) OR f.banned_until <= now())"
#define GUARD_SQL_FAILURE                                                                                              \
	"INSERT INTO auth_failures AS f (kind, key, failures, first_at, last_at, banned_until)"                        \
	" SELECT v.kind, v.key, 1, now(), now(),"                                                                      \
	"  CASE WHEN 1 >= v.ban_after THEN now() + make_interval(secs => $5::int) END"                                 \
	" FROM (VALUES ('ip', $1::text, $3::int), ('user', $2::text, $4::int)) AS v (kind, key, ban_after)"            \
	" WHERE v.key IS NOT NULL"                                                                                     \
	" ON CONFLICT (kind, key) DO UPDATE SET"                                                                       \
	"  failures = CASE WHEN " GUARD_RESET " THEN 1 ELSE f.failures + 1 END,"                                       \
	"  first_at = CASE WHEN " GUARD_RESET " THEN now() ELSE f.first_at END,"                                       \
	"  last_at = now(),"                                                                                           \
	"  banned_until = CASE WHEN f.banned_until > now() THEN f.banned_until"                                        \
	"   WHEN (CASE WHEN " GUARD_RESET " THEN 1 ELSE f.failures + 1 END)"                                           \
	"        >= (CASE f.kind WHEN 'ip' THEN $3::int ELSE $4::int END)"                                             \
	"   THEN now() + make_interval(secs => $5::int) END"                                                           \
	" RETURNING kind, failures, banned_until IS NOT NULL"

/* a success forgets both counters, but not a ban in force */
#define GUARD_SQL_SUCCESS                                                                                              \
	"DELETE FROM auth_failures WHERE ((kind = 'ip' AND key = $1::text) OR (kind = 'user' AND key = $2::text))"     \
	" AND (banned_until IS NULL OR banned_until <= now())"

#define GUARD_SQL_PURGE                                                                                                \
	"DELETE FROM auth_failures WHERE last_at < now() - make_interval(secs => $1::int)"                             \
	" AND (banned_until IS NULL OR banned_until < now())"

static const struct {
	const char *name;
	const char *sql;
} guard_statements[] = {
    {"auth-sql.guard_check", GUARD_SQL_CHECK},
    {"auth-sql.guard_failure", GUARD_SQL_FAILURE},
    {"auth-sql.guard_success", GUARD_SQL_SUCCESS},
    {"auth-sql.guard_purge", GUARD_SQL_PURGE},
};

/* ---- keys and delays ----------------------------------------------------- */

guint
ep_auth_sql_guard_delay_for (const EpAuthSqlGuardConfig *config, gint64 failures)
{
	guint64 delay;

	if (failures <= 0)
		return 0;
	if (failures > 32)
		return config->delay_max_ms;
	delay = (guint64)config->delay_base_ms << (failures - 1);
	return (guint)MIN (delay, (guint64)config->delay_max_ms);
}

char *
ep_auth_sql_guard_ip_key (const char *peer_ip)
{
	g_autoptr (GInetAddress) address = NULL;
	guint8 bytes[16];

	if (peer_ip == NULL || *peer_ip == '\0')
		return NULL;
	address = g_inet_address_new_from_string (peer_ip);
	if (address == NULL)
		return g_strdup (peer_ip);
	if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
		return g_inet_address_to_string (address);
	memcpy (bytes, g_inet_address_to_bytes (address), 16);
	if (memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		/* an IPv4 client on a dual-stack socket */
		g_autoptr (GInetAddress) v4 = g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);
		return g_inet_address_to_string (v4);
	}
	/* one host usually holds a whole /64 */
	memset (bytes + 8, 0, 8);
	{
		g_autoptr (GInetAddress) prefix = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
		g_autofree char *text = g_inet_address_to_string (prefix);
		return g_strdup_printf ("%s/64", text);
	}
}

static char *
ep_auth_sql_guard_user_key (const char *username)
{
	if (username == NULL || *username == '\0' || !g_utf8_validate (username, -1, NULL))
		return NULL;
	return g_utf8_strdown (username, -1);
}

/* ---- check --------------------------------------------------------------- */

static void
ep_auth_sql_guard_on_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	EpAuthSqlGuard *self = g_task_get_source_object (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);
	gint64 failures = 0;

	if (res == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		if (ep_db_result_get_boolean (res, i, 2)) {
			g_task_return_new_error (
			    task, EP_ERROR, EP_ERROR_LIMIT, "%s banned after too many failures",
			    g_strcmp0 (ep_db_result_get_text (res, i, 0), "ip") == 0 ? "client address" : "username");
			return;
		}
		failures = MAX (failures, ep_db_result_get_int64 (res, i, 1));
	}
	g_task_return_int (task, ep_auth_sql_guard_delay_for (&self->config, failures));
}

static void
ep_auth_sql_guard_check_async (EpAuthGuard *guard, const char *peer_ip, const char *username, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	EpAuthSqlGuard *self = EP_AUTH_SQL_GUARD (guard);
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	g_autofree char *ip_key = ep_auth_sql_guard_ip_key (peer_ip);
	g_autofree char *user_key = ep_auth_sql_guard_user_key (username);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	g_task_set_source_tag (task, ep_auth_sql_guard_check_async);
	ep_db_params_add_text (params, ip_key);
	ep_db_params_add_text (params, user_key);
	ep_db_params_add_int64 (params, self->config.failure_window);
	ep_db_execute_async (self->db, "auth-sql.guard_check", params, cancellable, ep_auth_sql_guard_on_checked, task);
}

static gboolean
ep_auth_sql_guard_check_finish (EpAuthGuard *guard, GAsyncResult *result, guint *delay_ms, GError **error)
{
	gssize delay;

	g_return_val_if_fail (g_task_is_valid (result, guard), FALSE);
	delay = g_task_propagate_int (G_TASK (result), error);
	if (delay < 0)
		return FALSE;
	if (delay_ms != NULL)
		*delay_ms = (guint)delay;
	return TRUE;
}

/* ---- record -------------------------------------------------------------- */

static void
ep_auth_sql_guard_on_recorded (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);

	if (res == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res) && ep_db_result_get_n_columns (res) == 3; i++) {
		if (ep_db_result_get_boolean (res, i, 2))
			ep_log_info ("auth-sql", NULL, "%s banned after %s failures",
				     g_strcmp0 (ep_db_result_get_text (res, i, 0), "ip") == 0 ? "a client address"
											      : "a username",
				     ep_db_result_get_text (res, i, 1));
	}
	g_task_return_boolean (task, TRUE);
}

static void
ep_auth_sql_guard_record_async (EpAuthGuard *guard, const char *peer_ip, const char *username, gboolean success,
				GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpAuthSqlGuard *self = EP_AUTH_SQL_GUARD (guard);
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	g_autofree char *ip_key = ep_auth_sql_guard_ip_key (peer_ip);
	g_autofree char *user_key = ep_auth_sql_guard_user_key (username);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	g_task_set_source_tag (task, ep_auth_sql_guard_record_async);
	ep_db_params_add_text (params, ip_key);
	ep_db_params_add_text (params, user_key);
	if (success) {
		ep_db_execute_async (self->db, "auth-sql.guard_success", params, cancellable,
				     ep_auth_sql_guard_on_recorded, task);
		return;
	}
	ep_db_params_add_int64 (params, self->config.ban_after_ip);
	ep_db_params_add_int64 (params, self->config.ban_after_user);
	ep_db_params_add_int64 (params, self->config.ban_seconds);
	ep_db_params_add_int64 (params, self->config.failure_window);
	ep_db_execute_async (self->db, "auth-sql.guard_failure", params, cancellable, ep_auth_sql_guard_on_recorded,
			     task);
}

static gboolean
ep_auth_sql_guard_record_finish (EpAuthGuard *guard, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, guard), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- purge --------------------------------------------------------------- */

static void
ep_auth_sql_guard_on_purged (GObject *source, GAsyncResult *result, gpointer user_data)
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
ep_auth_sql_guard_purge_async (EpAuthSqlGuard *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	ep_db_params_add_int64 (params, self->config.failure_window);
	ep_db_execute_async (self->db, "auth-sql.guard_purge", params, cancellable, ep_auth_sql_guard_on_purged, task);
}

gboolean
ep_auth_sql_guard_purge_finish (EpAuthSqlGuard *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- object -------------------------------------------------------------- */

static void
ep_auth_sql_guard_iface_init (EpAuthGuardInterface *iface)
{
	iface->check_async = ep_auth_sql_guard_check_async;
	iface->check_finish = ep_auth_sql_guard_check_finish;
	iface->record_async = ep_auth_sql_guard_record_async;
	iface->record_finish = ep_auth_sql_guard_record_finish;
}

static void
ep_auth_sql_guard_finalize (GObject *object)
{
	EpAuthSqlGuard *self = EP_AUTH_SQL_GUARD (object);

	g_clear_object (&self->db);
	G_OBJECT_CLASS (ep_auth_sql_guard_parent_class)->finalize (object);
}

static void
ep_auth_sql_guard_class_init (EpAuthSqlGuardClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_auth_sql_guard_finalize;
}

static void
ep_auth_sql_guard_init (EpAuthSqlGuard *self)
{
}

EpAuthSqlGuard *
ep_auth_sql_guard_new (EpDb *db, const EpAuthSqlGuardConfig *config, GError **error)
{
	g_autoptr (EpAuthSqlGuard) self = NULL;

	g_return_val_if_fail (EP_IS_DB (db), NULL);
	for (guint i = 0; i < G_N_ELEMENTS (guard_statements); i++) {
		if (!ep_db_prepare (db, guard_statements[i].name, guard_statements[i].sql, error))
			return NULL;
	}
	self = g_object_new (EP_TYPE_AUTH_SQL_GUARD, NULL);
	self->db = g_object_ref (db);
	self->config = *config;
	return g_steal_pointer (&self);
}

void
ep_auth_sql_guard_set_config (EpAuthSqlGuard *self, const EpAuthSqlGuardConfig *config)
{
	self->config = *config;
}
