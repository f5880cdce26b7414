/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-db-batch.h"
#include "ep-db-params.h"
#include "ep-db-result.h"
#include "ep-db-transaction.h"
#include "ep-error.h"

G_BEGIN_DECLS

/*
 * The PostgreSQL database: a bounded pool of non-blocking libpq
 * connections driven by the main context that was the thread default when
 * the database was created.  Connections open on demand, up to
 * max_connections; queries wait for a free one.  Every query has a
 * timeout (the database's, or the batch's or transaction's own): past it
 * the server is asked to cancel the statement and the query fails with
 * %EP_ERROR_TIMEOUT.
 *
 * Errors:
 *  %EP_ERROR_TEMP      the database cannot answer now: it is down,
 *                      restarting, failing over, out of connections or
 *                      resources, or a serialization failure or deadlock
 *                      asks for a retry.  Callers answer with a temporary
 *                      failure (SMTP 4xx); nothing was acknowledged.
 *  %EP_ERROR_EXISTS    a constraint was violated (unique, foreign key,
 *                      not null, check, exclusion: SQLSTATE class 23).
 *  %EP_ERROR_TIMEOUT   the query did not finish in time.
 *  %EP_ERROR_NOT_FOUND an unknown prepared statement name.
 *  %EP_ERROR_INTERNAL  any other SQL error; the message starts with
 *                      "SQLSTATE xxxxx:".  Log it, never show it to a client.
 *  G_IO_ERROR_CANCELLED when the GCancellable was cancelled.
 *
 * While no connection can be made, queries fail at once with
 * %EP_ERROR_TEMP and the pool tries again after a delay that doubles from
 * 100 ms up to 30 s.  A query that was running when its connection was
 * lost fails with %EP_ERROR_TEMP and is never sent again on its own: only
 * the caller knows whether repeating it is safe.
 *
 * Statements are sent with the extended protocol, one statement per
 * query; several go in one pipeline (a batch, a transaction's BEGIN with
 * its first statement, a statement's PREPARE with its first execution).
 * Names of prepared statements are shared by every user of the database:
 * modules prefix them with their own name.
 */

#define EP_TYPE_DB (ep_db_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpDb, ep_db, EP, DB, GObject)

/**
 * EpDbNotifyFunc:
 * @channel: the channel listened to
 * @payload: (nullable): the payload of the notification, or %NULL when the
 *   subscription became active: after ep_db_listen() and again after each
 *   reconnection, when notifications sent while the connection was down
 *   were lost.  On %NULL, re-read whatever the channel announces changes
 *   of.
 *
 * Called on the database's main context.
 */
typedef void (*EpDbNotifyFunc) (EpDb *db, const char *channel, const char *payload, gpointer user_data);

EP_API G_GNUC_WARN_UNUSED_RESULT EpDb *
ep_db_new (const char *conninfo, guint max_connections, GError **error);

EP_API void        ep_db_set_query_timeout (EpDb *self, guint timeout_ms);
EP_API guint       ep_db_get_query_timeout (EpDb *self);
EP_API void        ep_db_set_connect_timeout (EpDb *self, guint timeout_ms);
EP_API void        ep_db_set_reconnect_delay (EpDb *self, guint min_ms, guint max_ms);
EP_API guint       ep_db_get_max_connections (EpDb *self);
EP_API guint       ep_db_get_n_connections (EpDb *self);
EP_API const char *ep_db_get_display_name (EpDb *self);
EP_API void        ep_db_close (EpDb *self);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_prepare (EpDb *self, const char *name, const char *sql, GError **error);

/* one statement */
EP_API void ep_db_query_async (EpDb *self, const char *sql, EpDbParams *params, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbResult *
ep_db_query_finish (EpDb *self, GAsyncResult *result, GError **error);

/* one prepared statement */
EP_API void ep_db_execute_async (EpDb *self, const char *name, EpDbParams *params, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbResult *
ep_db_execute_finish (EpDb *self, GAsyncResult *result, GError **error);

/* several statements in one round trip, as one unit */
EP_API void ep_db_run_batch_async (EpDb *self, EpDbBatch *batch, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *
ep_db_run_batch_finish (EpDb *self, GAsyncResult *result, GError **error);

/* a transaction on a connection of its own */
EP_API void ep_db_begin_async (EpDb *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbTransaction *
ep_db_begin_finish (EpDb *self, GAsyncResult *result, GError **error);

/* LISTEN/NOTIFY */
EP_API guint ep_db_listen (EpDb *self, const char *channel, EpDbNotifyFunc func, gpointer user_data,
			   GDestroyNotify destroy);
EP_API void  ep_db_unlisten (EpDb *self, guint id);
EP_API void  ep_db_notify_async (EpDb *self, const char *channel, const char *payload, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data);
EP_API gboolean ep_db_notify_finish (EpDb *self, GAsyncResult *result, GError **error);

/*
 * Blocking use, for command-line tools and start-up, never from a callback
 * on a running main loop: create the database with a private GMainContext
 * pushed as the thread default (or on the default context before the main
 * loop runs), start any _async call with ep_db_sync_callback and &result,
 * then ep_db_run_sync() iterates the database's context until the result
 * is in; finish with the matching _finish.
 */
EP_API void ep_db_sync_callback (GObject *source, GAsyncResult *result, gpointer user_data);
EP_API void ep_db_run_sync (EpDb *self, GAsyncResult **result);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbResult *
ep_db_query_sync (EpDb *self, const char *sql, EpDbParams *params, GError **error);

/* helpers */
EP_API EpError ep_db_error_code_from_sqlstate (const char *sqlstate);
EP_API char   *ep_db_quote_identifier (const char *name);
EP_API char   *ep_db_quote_literal (const char *value);

G_END_DECLS
