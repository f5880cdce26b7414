/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-db-private.h"

struct _EpDbTransaction {
	GObject parent_instance;
	EpDb *db;
	EpDbConn *conn; /* NULL once the transaction ended */
	guint timeout_ms;
	gboolean begun;	 /* BEGIN was sent */
	GError *failure; /* the first error; the server side is rolled back */
};

G_DEFINE_TYPE (EpDbTransaction, ep_db_transaction, G_TYPE_OBJECT)

/* Gives the connection back; the pool rolls back what is still open. */
static void
ep_db_transaction_end (EpDbTransaction *self)
{
	if (self->conn == NULL)
		return;
	ep_db_release (self->db, self->conn, FALSE);
	g_clear_pointer (&self->conn, ep_db_conn_unref);
}

static void
ep_db_transaction_dispose (GObject *object)
{
	ep_db_transaction_end (EP_DB_TRANSACTION (object));
	G_OBJECT_CLASS (ep_db_transaction_parent_class)->dispose (object);
}

static void
ep_db_transaction_finalize (GObject *object)
{
	EpDbTransaction *self = EP_DB_TRANSACTION (object);

	g_clear_error (&self->failure);
	g_clear_object (&self->db);
	G_OBJECT_CLASS (ep_db_transaction_parent_class)->finalize (object);
}

static void
ep_db_transaction_class_init (EpDbTransactionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = ep_db_transaction_dispose;
	object_class->finalize = ep_db_transaction_finalize;
}

static void
ep_db_transaction_init (EpDbTransaction *self)
{
}

/* @conn: reserved for the transaction; it takes a reference */
EpDbTransaction *
ep_db_transaction_new (EpDb *db, EpDbConn *conn)
{
	EpDbTransaction *self = g_object_new (EP_TYPE_DB_TRANSACTION, NULL);

	self->db = g_object_ref (db);
	self->conn = ep_db_conn_ref (conn);
	return self;
}

void
ep_db_transaction_set_timeout (EpDbTransaction *self, guint timeout_ms)
{
	g_return_if_fail (EP_IS_DB_TRANSACTION (self));
	self->timeout_ms = timeout_ms;
}

gboolean
ep_db_transaction_has_failed (EpDbTransaction *self)
{
	g_return_val_if_fail (EP_IS_DB_TRANSACTION (self), TRUE);
	return self->failure != NULL;
}

static guint
ep_db_transaction_get_timeout (EpDbTransaction *self)
{
	return self->timeout_ms > 0 ? self->timeout_ms : ep_db_get_query_timeout (self->db);
}

static GError *
ep_db_transaction_failed_error (EpDbTransaction *self)
{
	return g_error_new (self->failure->domain, self->failure->code,
			    "the transaction was rolled back after an earlier error: %s", self->failure->message);
}

/* Records the first failure and rolls the server side back at once, so
 * that its locks go now rather than when the caller ends the transaction. */
static void
ep_db_transaction_fail (EpDbTransaction *self, const GError *error)
{
	g_autoptr(GPtrArray) stmts = NULL;

	if (self->failure != NULL)
		return;
	self->failure = g_error_copy (error);
	if (self->conn == NULL || self->conn->state == EP_DB_CONN_CLOSED)
		return;
	stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "ROLLBACK", NULL));
	ep_db_run_on_async (self->db, self->conn, stmts, NULL, ep_db_transaction_get_timeout (self), NULL, NULL,
			    NULL, NULL);
}

static void
ep_db_transaction_on_statements (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbTransaction *self = EP_DB_TRANSACTION (source);
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	GPtrArray *results = ep_db_run_on_finish (result, &error);

	if (results == NULL) {
		ep_db_transaction_fail (self, error);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_pointer (task, results, (GDestroyNotify) g_ptr_array_unref);
}

/* Runs @stmts (copied) in the transaction, BEGIN first if not yet sent. */
static void
ep_db_transaction_run (EpDbTransaction *self, GPtrArray *stmts, GTask *task)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);

	if (self->conn == NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INTERNAL, "the transaction has ended");
		g_object_unref (task);
		return;
	}
	if (self->failure != NULL) {
		g_task_return_error (task, ep_db_transaction_failed_error (self));
		g_object_unref (task);
		return;
	}
	if (!self->begun) {
		EpDbStmt *begin = ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "BEGIN", NULL);
		begin->internal = TRUE;
		g_ptr_array_add (all, begin);
		self->begun = TRUE;
	}
	for (guint i = 0; i < stmts->len; i++)
		g_ptr_array_add (all, ep_db_stmt_copy (g_ptr_array_index (stmts, i)));
	ep_db_run_on_async (self->db, self->conn, all, NULL, ep_db_transaction_get_timeout (self), self,
			    g_task_get_cancellable (task), ep_db_transaction_on_statements, task);
}

static void
ep_db_transaction_run_one (EpDbTransaction *self, EpDbStmt *stmt, GTask *task)
{
	g_autoptr(GPtrArray) stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);

	g_ptr_array_add (stmts, stmt);
	ep_db_transaction_run (self, stmts, task);
}

/**
 * ep_db_transaction_query_async:
 * @sql: one SQL statement
 * @params: (nullable): its parameters
 */
void
ep_db_transaction_query_async (EpDbTransaction *self, const char *sql, EpDbParams *params,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;

	g_return_if_fail (EP_IS_DB_TRANSACTION (self));
	g_return_if_fail (sql != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_transaction_query_async);
	ep_db_transaction_run_one (self, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, params), task);
}

EpDbResult *
ep_db_transaction_query_finish (EpDbTransaction *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;

	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	results = g_task_propagate_pointer (G_TASK (result), error);
	return ep_db_results_take_single (results, error);
}

void
ep_db_transaction_execute_async (EpDbTransaction *self, const char *name, EpDbParams *params,
				 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;

	g_return_if_fail (EP_IS_DB_TRANSACTION (self));
	g_return_if_fail (name != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_transaction_execute_async);
	ep_db_transaction_run_one (self, ep_db_stmt_new (EP_DB_STMT_EXECUTE, name, NULL, params), task);
}

EpDbResult *
ep_db_transaction_execute_finish (EpDbTransaction *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;

	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	results = g_task_propagate_pointer (G_TASK (result), error);
	return ep_db_results_take_single (results, error);
}

/**
 * ep_db_transaction_run_batch_async:
 *
 * Runs the statements of @batch in the transaction in one round trip.  The
 * batch's own timeout does not apply: the transaction's does.
 */
void
ep_db_transaction_run_batch_async (EpDbTransaction *self, EpDbBatch *batch, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;

	g_return_if_fail (EP_IS_DB_TRANSACTION (self));
	g_return_if_fail (batch != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_transaction_run_batch_async);
	ep_db_transaction_run (self, ep_db_batch_get_stmts (batch), task);
}

/**
 * ep_db_transaction_run_batch_finish:
 *
 * Returns: (transfer full) (element-type EpDbResult): one result per
 *   statement
 */
GPtrArray *
ep_db_transaction_run_batch_finish (EpDbTransaction *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

static void
ep_db_transaction_on_commit (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbTransaction *self = EP_DB_TRANSACTION (source);
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	ep_db_transaction_end (self);
	if (results == NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_TEMP)) {
			g_prefix_error (&error, "the outcome of COMMIT is unknown: ");
		}
		self->failure = g_error_copy (error);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	/* the server answers ROLLBACK to the COMMIT of a failed transaction */
	if (results->len != 1 || g_strcmp0 (ep_db_result_get_command (g_ptr_array_index (results, 0)), "COMMIT") != 0) {
		self->failure = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL,
						     "the server rolled the transaction back instead of committing it");
		g_task_return_error (task, g_error_copy (self->failure));
		return;
	}
	g_task_return_boolean (task, TRUE);
}

/**
 * ep_db_transaction_commit_async:
 *
 * Commits, or fails with the error that rolled the transaction back.
 * Either way the transaction ends.
 */
void
ep_db_transaction_commit_async (EpDbTransaction *self, GCancellable *cancellable, GAsyncReadyCallback callback,
				gpointer user_data)
{
	g_autoptr(GPtrArray) stmts = NULL;
	GTask *task;

	g_return_if_fail (EP_IS_DB_TRANSACTION (self));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_transaction_commit_async);
	if (self->failure != NULL) {
		ep_db_transaction_end (self);
		g_task_return_error (task, ep_db_transaction_failed_error (self));
		g_object_unref (task);
		return;
	}
	if (self->conn == NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INTERNAL, "the transaction has ended");
		g_object_unref (task);
		return;
	}
	if (!self->begun) {
		ep_db_transaction_end (self);
		g_task_return_boolean (task, TRUE);
		g_object_unref (task);
		return;
	}
	stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "COMMIT", NULL));
	/* not cancellable: a half-sent COMMIT must not leave the outcome open */
	ep_db_run_on_async (self->db, self->conn, stmts, NULL, ep_db_transaction_get_timeout (self), self, NULL,
			    ep_db_transaction_on_commit, task);
}

gboolean
ep_db_transaction_commit_finish (EpDbTransaction *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

static void
ep_db_transaction_on_rollback (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbTransaction *self = EP_DB_TRANSACTION (source);
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	ep_db_transaction_end (self);
	/* a lost connection rolls back on the server all the same */
	if (results == NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_TEMP)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_boolean (task, TRUE);
}

/**
 * ep_db_transaction_rollback_async:
 *
 * Rolls back and ends the transaction.
 */
void
ep_db_transaction_rollback_async (EpDbTransaction *self, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GPtrArray) stmts = NULL;
	GTask *task;

	g_return_if_fail (EP_IS_DB_TRANSACTION (self));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_transaction_rollback_async);
	/* never begun, or already rolled back after a failure */
	if (self->conn == NULL || !self->begun || self->failure != NULL) {
		ep_db_transaction_end (self);
		g_task_return_boolean (task, TRUE);
		g_object_unref (task);
		return;
	}
	self->failure = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "the transaction was rolled back");
	stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "ROLLBACK", NULL));
	ep_db_run_on_async (self->db, self->conn, stmts, NULL, ep_db_transaction_get_timeout (self), self, NULL,
			    ep_db_transaction_on_rollback, task);
}

gboolean
ep_db_transaction_rollback_finish (EpDbTransaction *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}
