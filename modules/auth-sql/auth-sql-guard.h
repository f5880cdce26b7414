/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

/* The brute-force guard's settings ([auth-sql] section). */
typedef struct {
	guint delay_base_ms;  /* the delay after one recent failure */
	guint delay_max_ms;   /* the delay doubles per failure up to this */
	guint failure_window; /* seconds: failures older than this are forgotten */
	guint ban_after_ip;   /* failures of one address that ban it */
	guint ban_after_user; /* failures on one username that ban it */
	guint ban_seconds;    /* how long a ban lasts */
} EpAuthSqlGuardConfig;

/*
 * EpAuthGuard on PostgreSQL: counters of recent failures per client
 * address (an IPv6 address counts by its /64) and per username (lower
 * case), in the table auth_failures that every process and host shares.
 * Each call is one prepared statement, one round trip.
 */
#define EP_TYPE_AUTH_SQL_GUARD (ep_auth_sql_guard_get_type ())
G_DECLARE_FINAL_TYPE (EpAuthSqlGuard, ep_auth_sql_guard, EP, AUTH_SQL_GUARD, GObject)

EpAuthSqlGuard *ep_auth_sql_guard_new (EpDb *db, const EpAuthSqlGuardConfig *config, GError **error);
void ep_auth_sql_guard_set_config (EpAuthSqlGuard *self, const EpAuthSqlGuardConfig *config);

/* the delay for @failures recent failures: min (base * 2^(failures-1), max) */
guint ep_auth_sql_guard_delay_for (const EpAuthSqlGuardConfig *config, gint64 failures);
/* the counter key of a client address: IPv4 as is, IPv6 as "<prefix>::/64" */
char *ep_auth_sql_guard_ip_key (const char *peer_ip);

/* forgets counters past the window whose ban (if any) has ended */
void ep_auth_sql_guard_purge_async (EpAuthSqlGuard *self, GCancellable *cancellable, GAsyncReadyCallback callback,
				    gpointer user_data);
gboolean ep_auth_sql_guard_purge_finish (EpAuthSqlGuard *self, GAsyncResult *result, GError **error);

G_END_DECLS
