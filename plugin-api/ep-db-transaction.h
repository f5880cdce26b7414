/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-db-batch.h"
#include "ep-db-params.h"
#include "ep-db-result.h"

G_BEGIN_DECLS

/*
 * One transaction on one connection of the pool, from ep_db_begin_async()
 * to commit or rollback: the statements run in order and take effect
 * together or not at all.
 *
 * When a statement fails (an SQL error, a timeout, a cancellation or a
 * lost connection), the transaction is rolled back at once: every later
 * statement and the commit fail with that first error.  Dropping the last
 * reference without committing rolls back.  The connection goes back to
 * the pool when the transaction ends.
 *
 * Statements run one at a time: start the next from the callback of the
 * previous one (a batch sends several in one round trip).  A commit
 * that fails with %EP_ERROR_TEMP because the connection was lost may or
 * may not have taken effect; nothing was acknowledged, so the caller
 * answers as for any temporary failure.
 */

#define EP_TYPE_DB_TRANSACTION (ep_db_transaction_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpDbTransaction, ep_db_transaction, EP, DB_TRANSACTION, GObject)

/* 0 keeps the query timeout of the database; it applies to each statement */
EP_API void ep_db_transaction_set_timeout (EpDbTransaction *self, guint timeout_ms);

/* %TRUE once a statement failed and the transaction was rolled back */
EP_API gboolean ep_db_transaction_has_failed (EpDbTransaction *self);

EP_API void ep_db_transaction_query_async (EpDbTransaction *self, const char *sql, EpDbParams *params,
					   GCancellable *cancellable, GAsyncReadyCallback callback,
					   gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbResult *
ep_db_transaction_query_finish (EpDbTransaction *self, GAsyncResult *result, GError **error);

EP_API void ep_db_transaction_execute_async (EpDbTransaction *self, const char *name, EpDbParams *params,
					     GCancellable *cancellable, GAsyncReadyCallback callback,
					     gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpDbResult *
ep_db_transaction_execute_finish (EpDbTransaction *self, GAsyncResult *result, GError **error);

EP_API void ep_db_transaction_run_batch_async (EpDbTransaction *self, EpDbBatch *batch, GCancellable *cancellable,
					       GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *
ep_db_transaction_run_batch_finish (EpDbTransaction *self, GAsyncResult *result, GError **error);

EP_API void ep_db_transaction_commit_async (EpDbTransaction *self, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_transaction_commit_finish (EpDbTransaction *self, GAsyncResult *result, GError **error);

EP_API void ep_db_transaction_rollback_async (EpDbTransaction *self, GCancellable *cancellable,
					      GAsyncReadyCallback callback, gpointer user_data);
EP_API gboolean ep_db_transaction_rollback_finish (EpDbTransaction *self, GAsyncResult *result, GError **error);

G_END_DECLS
