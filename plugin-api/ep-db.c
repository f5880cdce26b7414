/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-db-private.h"
#include "ep-log.h"

#define EP_DB_DEFAULT_QUERY_TIMEOUT_MS	 30000
#define EP_DB_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define EP_DB_DEFAULT_DELAY_MIN_MS	 100
#define EP_DB_DEFAULT_DELAY_MAX_MS	 30000
#define EP_DB_MAX_NAME_LEN		 63 /* NAMEDATALEN - 1 */

typedef struct {
	guint id;
	char *channel;
	EpDbNotifyFunc func;
	gpointer user_data;
	GDestroyNotify destroy;
	gboolean active; /* the LISTEN is in force on the current connection */
} EpDbListen;

/* what a reservation hands back; a reservation nobody takes is released */
typedef struct {
	EpDb *db;
	EpDbConn *conn;
} EpDbReservation;

struct _EpDb {
	GObject parent_instance;

	GMainContext *context;
	char **keywords;
	char **values;
	char *display;
	guint max_connections;
	guint query_timeout_ms;
	guint connect_timeout_ms;
	guint delay_min_ms;
	guint delay_max_ms;
	GHashTable *statements; /* name → SQL */

	GPtrArray *conns; /* EpDbConn: the pool */
	GQueue waiting;	  /* EpDbOp waiting for a connection of the pool */
	gboolean closed;
	gboolean dispatching;
	gboolean dispatch_again;

	/* when connecting fails */
	gboolean down;
	char *down_message;
	guint delay_ms;
	GSource *retry_source;

	/* LISTEN */
	EpDbConn *listener;
	GHashTable *channels; /* channel → GPtrArray of EpDbListen (not owned) */
	GHashTable *listens;  /* id → EpDbListen */
	guint next_listen_id;
	guint listener_delay_ms;
	GSource *listener_retry;
};

G_DEFINE_TYPE (EpDb, ep_db, G_TYPE_OBJECT)

static void ep_db_dispatch (EpDb *self);
static void ep_db_settle (EpDb *self, EpDbConn *conn);
static void ep_db_listener_connect (EpDb *self);

/* ---- errors ------------------------------------------------------------- */

/**
 * ep_db_error_code_from_sqlstate:
 * @sqlstate: (nullable): a SQLSTATE, such as "23505"
 *
 * Which %EP_ERROR code a PostgreSQL error becomes.  A missing SQLSTATE
 * comes from libpq itself, which reports that way a connection that
 * broke: temporary.
 */
EpError
ep_db_error_code_from_sqlstate (const char *sqlstate)
{
	static const char *const temporary[] = {
		"25006", /* read_only_sql_transaction: a standby after a failover */
		"55P03", /* lock_not_available */
		"55006", /* object_in_use */
		"57P01", /* admin_shutdown */
		"57P02", /* crash_shutdown */
		"57P03", /* cannot_connect_now: starting up, in recovery */
		NULL,
	};

	if (sqlstate == NULL || strlen (sqlstate) != 5)
		return EP_ERROR_TEMP;
	if (g_strv_contains (temporary, sqlstate))
		return EP_ERROR_TEMP;
	if (g_strcmp0 (sqlstate, "57014") == 0) /* query_canceled */
		return EP_ERROR_TIMEOUT;
	if (g_str_has_prefix (sqlstate, "23") || g_strcmp0 (sqlstate, "40002") == 0)
		return EP_ERROR_EXISTS;
	/* connection exceptions, except a protocol violation (our bug) */
	if (g_str_has_prefix (sqlstate, "08"))
		return g_strcmp0 (sqlstate, "08P01") == 0 ? EP_ERROR_INTERNAL : EP_ERROR_TEMP;
	/* transaction rollback (serialization failure, deadlock),
	 * insufficient resources (disk full, too many connections),
	 * system errors (I/O) */
	if (g_str_has_prefix (sqlstate, "40") || g_str_has_prefix (sqlstate, "53") ||
	    g_str_has_prefix (sqlstate, "58"))
		return EP_ERROR_TEMP;
	return EP_ERROR_INTERNAL;
}

GError *
ep_db_error_new_from_result (const PGresult *res)
{
	const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField (res, PG_DIAG_MESSAGE_DETAIL);
	g_autofree char *fallback = NULL;
	EpError code = ep_db_error_code_from_sqlstate (state);

	if (primary == NULL) {
		fallback = g_strstrip (g_strdup (PQresultErrorMessage (res)));
		primary = *fallback != '\0' ? fallback : "unknown error";
	}
	if (state == NULL)
		return g_error_new (EP_ERROR, code, "database: %s", primary);
	if (detail != NULL)
		return g_error_new (EP_ERROR, code, "SQLSTATE %s: %s (%s)", state, primary, detail);
	return g_error_new (EP_ERROR, code, "SQLSTATE %s: %s", state, primary);
}

char *
ep_db_quote_identifier (const char *name)
{
	GString *s = g_string_new ("\"");

	g_return_val_if_fail (name != NULL, NULL);
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"')
			g_string_append_c (s, '"');
		g_string_append_c (s, *p);
	}
	g_string_append_c (s, '"');
	return g_string_free (s, FALSE);
}

/* An escape string literal: right whatever standard_conforming_strings is. */
char *
ep_db_quote_literal (const char *value)
{
	GString *s = g_string_new ("E'");

	g_return_val_if_fail (value != NULL, NULL);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\'' || *p == '\\')
			g_string_append_c (s, *p);
		g_string_append_c (s, *p);
	}
	g_string_append_c (s, '\'');
	return g_string_free (s, FALSE);
}

static gboolean
ep_db_is_valid_name (const char *name)
{
	gsize len = strlen (name);

	if (len == 0 || len > EP_DB_MAX_NAME_LEN)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
			return FALSE;
	}
	return TRUE;
}

/* ---- operations --------------------------------------------------------- */

static void
ep_db_reservation_free (EpDbReservation *r)
{
	if (r->conn != NULL) {
		ep_db_release (r->db, r->conn, FALSE);
		ep_db_conn_unref (r->conn);
	}
	g_object_unref (r->db);
	g_free (r);
}

static EpDbOp *
ep_db_op_new (EpDb *self, EpDbOpKind kind, gpointer source_object, GCancellable *cancellable,
	      GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
	EpDbOp *op = g_new0 (EpDbOp, 1);

	op->kind = kind;
	op->db = self;
	if (source_object != NULL || callback != NULL) {
		op->task = g_task_new (source_object, cancellable, callback, user_data);
		g_task_set_source_tag (op->task, source_tag);
	}
	op->stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	op->results = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_result_unref);
	return op;
}

static void
ep_db_op_stop_timers (EpDbOp *op)
{
	if (op->timeout_source != NULL) {
		g_source_destroy (op->timeout_source);
		g_clear_pointer (&op->timeout_source, g_source_unref);
	}
	if (op->cancel_source != NULL) {
		g_source_destroy (op->cancel_source);
		g_clear_pointer (&op->cancel_source, g_source_unref);
	}
}

/* Answers the caller, whose callback may run at once: touch nothing but
 * @op afterwards without looking again. */
static void
ep_db_op_answer (EpDbOp *op)
{
	g_autoptr(GTask) task = g_steal_pointer (&op->task);
	EpDbReservation *r;

	ep_db_op_stop_timers (op);
	if (task == NULL)
		return;
	if (op->error != NULL) {
		/* op->error stays: later results of an abandoned op are dropped */
		g_task_return_error (task, g_error_copy (op->error));
		return;
	}
	if (op->kind == EP_DB_OP_RESERVE) {
		r = g_new0 (EpDbReservation, 1);
		r->db = g_object_ref (op->db);
		r->conn = ep_db_conn_ref (op->conn);
		g_task_return_pointer (task, r, (GDestroyNotify) ep_db_reservation_free);
		return;
	}
	g_task_return_pointer (task, g_steal_pointer (&op->results), (GDestroyNotify) g_ptr_array_unref);
	op->results = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_result_unref);
}

static void
ep_db_op_free (EpDbOp *op)
{
	if (op->task != NULL) {
		/* never happens: every operation is answered */
		if (op->error == NULL)
			op->error = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "the query was dropped");
		ep_db_op_answer (op);
	}
	ep_db_op_stop_timers (op);
	g_ptr_array_unref (op->stmts);
	g_ptr_array_unref (op->results);
	g_free (op->script);
	g_clear_error (&op->error);
	g_free (op);
}

static void
ep_db_op_fail_now (EpDbOp *op, GError *error)
{
	g_clear_error (&op->error);
	op->error = error;
	ep_db_op_answer (op);
	ep_db_op_free (op);
}

static void
ep_db_op_enqueue (EpDbOp *op, GQueue *queue)
{
	g_queue_push_tail (queue, op);
	op->queue = queue;
	op->link = queue->tail;
}

static EpDbOp *
ep_db_op_dequeue (GQueue *queue)
{
	EpDbOp *op = g_queue_pop_head (queue);

	if (op != NULL) {
		op->queue = NULL;
		op->link = NULL;
	}
	return op;
}

/* A timeout or a cancellation: answers now.  A waiting operation leaves
 * its queue; a running one is cancelled on the server while its
 * connection drains. */
static void
ep_db_op_interrupt (EpDbOp *op, GError *error)
{
	g_clear_error (&op->error);
	op->error = error;
	if (op->queue != NULL) {
		g_queue_delete_link (op->queue, op->link);
		op->queue = NULL;
		op->link = NULL;
		ep_db_op_answer (op);
		ep_db_op_free (op);
		return;
	}
	if (op->conn != NULL && op->conn->op == op)
		ep_db_conn_abandon (op->conn);
	ep_db_op_answer (op);
}

static gboolean
ep_db_op_on_timeout (gpointer user_data)
{
	EpDbOp *op = user_data;

	if (op->queue != NULL) {
		ep_db_op_interrupt (op, g_error_new (EP_ERROR, EP_ERROR_TIMEOUT,
						     "no database connection was free within %u ms", op->timeout_ms));
		return G_SOURCE_REMOVE;
	}
	ep_db_op_interrupt (op, g_error_new (EP_ERROR, EP_ERROR_TIMEOUT,
					     "the database did not answer within %u ms", op->timeout_ms));
	return G_SOURCE_REMOVE;
}

static gboolean
ep_db_op_on_cancelled (GCancellable *cancellable, gpointer user_data)
{
	EpDbOp *op = user_data;

	ep_db_op_interrupt (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
						     "the database query was cancelled"));
	return G_SOURCE_REMOVE;
}

static gboolean
ep_db_op_check (EpDb *self, EpDbOp *op, GError **error)
{
	for (guint i = 0; i < op->stmts->len; i++) {
		EpDbStmt *stmt = g_ptr_array_index (op->stmts, i);
		if (stmt->params != NULL && !ep_db_params_fits (stmt->params, error))
			return FALSE;
		if (stmt->kind == EP_DB_STMT_EXECUTE && ep_db_lookup_statement (self, stmt->name) == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND,
				     "no statement was prepared under the name '%s'", stmt->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* Takes @op: runs it, queues it or answers it. */
static void
ep_db_submit (EpDb *self, EpDbOp *op, GCancellable *cancellable)
{
	GError *error = NULL;

	if (cancellable != NULL && g_cancellable_is_cancelled (cancellable)) {
		ep_db_op_fail_now (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
							    "the database query was cancelled"));
		return;
	}
	if (self->closed) {
		ep_db_op_fail_now (op, g_error_new_literal (EP_ERROR, EP_ERROR_TEMP,
							    "the database connections are closed"));
		return;
	}
	if (!ep_db_op_check (self, op, &error)) {
		ep_db_op_fail_now (op, error);
		return;
	}
	if (op->kind == EP_DB_OP_PIPELINE && op->stmts->len == 0) {
		ep_db_op_answer (op);
		ep_db_op_free (op);
		return;
	}
	if (op->timeout_ms > 0) {
		op->timeout_source = g_timeout_source_new (op->timeout_ms);
		g_source_set_callback (op->timeout_source, ep_db_op_on_timeout, op, NULL);
		g_source_attach (op->timeout_source, self->context);
	}
	if (cancellable != NULL) {
		op->cancel_source = g_cancellable_source_new (cancellable);
		g_source_set_callback (op->cancel_source, G_SOURCE_FUNC (ep_db_op_on_cancelled), op, NULL);
		g_source_attach (op->cancel_source, self->context);
	}

	/* a connection of its own: a transaction, the migrator, the listener */
	if (op->conn != NULL) {
		EpDbConn *conn = op->conn;
		if (conn->state == EP_DB_CONN_CLOSED) {
			ep_db_op_fail_now (op, g_error_new_literal (EP_ERROR, EP_ERROR_TEMP,
								    "the connection to the database was lost"));
			return;
		}
		if (conn->state == EP_DB_CONN_IDLE && conn->op == NULL && g_queue_is_empty (&conn->pinned)) {
			ep_db_conn_start (conn, op);
			return;
		}
		ep_db_op_enqueue (op, &conn->pinned);
		return;
	}

	/* fail fast while the database is down: callers answer 4xx now */
	if (self->down) {
		ep_db_op_fail_now (op, g_error_new (EP_ERROR, EP_ERROR_TEMP, "the database is unavailable: %s",
						    self->down_message));
		return;
	}
	ep_db_op_enqueue (op, &self->waiting);
	ep_db_dispatch (self);
}

/* ---- the pool ----------------------------------------------------------- */

static gboolean
ep_db_on_retry (gpointer user_data)
{
	/* what fails now may answer callers, who may drop the database */
	g_autoptr(EpDb) self = g_object_ref (EP_DB (user_data));

	g_clear_pointer (&self->retry_source, g_source_unref);
	if (self->closed)
		return G_SOURCE_REMOVE;
	if (self->down && self->conns->len < self->max_connections) {
		g_autoptr(GError) error = NULL;
		EpDbConn *conn = ep_db_conn_new (self, FALSE, &error);
		if (conn != NULL)
			g_ptr_array_add (self->conns, conn);
		else
			ep_db_handle_lost (self, NULL, NULL, error, TRUE);
	}
	ep_db_dispatch (self);
	return G_SOURCE_REMOVE;
}

static guint
ep_db_next_delay (guint current, guint min_ms, guint max_ms)
{
	guint next = current == 0 ? min_ms : MIN (current * 2, max_ms);
	/* a little jitter, so that many daemons do not come back at once */
	return next + (guint) g_random_int_range (0, (gint32) MAX (next / 10, 1));
}

static void
ep_db_connect_failed (EpDb *self, const GError *error)
{
	gboolean any_up = FALSE;
	EpDbOp *op;

	for (guint i = 0; i < self->conns->len; i++) {
		EpDbConn *conn = g_ptr_array_index (self->conns, i);
		if (conn->state == EP_DB_CONN_IDLE || conn->state == EP_DB_CONN_BUSY)
			any_up = TRUE;
	}
	self->delay_ms = ep_db_next_delay (self->delay_ms, self->delay_min_ms, self->delay_max_ms);
	if (self->retry_source == NULL) {
		self->retry_source = g_timeout_source_new (self->delay_ms);
		g_source_set_callback (self->retry_source, ep_db_on_retry, self, NULL);
		g_source_attach (self->retry_source, self->context);
	}
	if (any_up)
		return;
	if (!self->down) {
		ep_log_warning (NULL, NULL, "database %s is unavailable: %s; trying again in %u ms", self->display,
				error->message, self->delay_ms);
	}
	self->down = TRUE;
	g_free (self->down_message);
	self->down_message = g_strdup (error->message);
	/* nothing can serve the waiting queries: they fail now rather than
	 * wait for their timeout */
	while ((op = ep_db_op_dequeue (&self->waiting)) != NULL) {
		ep_db_op_fail_now (op, g_error_new (EP_ERROR, EP_ERROR_TEMP, "the database is unavailable: %s",
						    error->message));
	}
}

static EpDbConn *
ep_db_find_idle (EpDb *self)
{
	for (guint i = 0; i < self->conns->len; i++) {
		EpDbConn *conn = g_ptr_array_index (self->conns, i);
		if (conn->state == EP_DB_CONN_IDLE && conn->op == NULL && !conn->reserved &&
		    g_queue_is_empty (&conn->pinned))
			return conn;
	}
	return NULL;
}

static void
ep_db_grow (EpDb *self)
{
	guint connecting = 0;

	if (self->closed || self->retry_source != NULL)
		return;
	for (guint i = 0; i < self->conns->len; i++) {
		EpDbConn *conn = g_ptr_array_index (self->conns, i);
		if (conn->state == EP_DB_CONN_CONNECTING)
			connecting++;
	}
	while (self->waiting.length > connecting && self->conns->len < self->max_connections) {
		g_autoptr(GError) error = NULL;
		EpDbConn *conn = ep_db_conn_new (self, FALSE, &error);
		if (conn == NULL) {
			ep_db_connect_failed (self, error);
			return;
		}
		g_ptr_array_add (self->conns, conn);
		connecting++;
	}
}

/* Gives waiting operations to idle connections and opens connections for
 * the rest, up to the bound.  Callbacks it causes may call back in. */
static void
ep_db_dispatch (EpDb *self)
{
	if (self->dispatching) {
		self->dispatch_again = TRUE;
		return;
	}
	self->dispatching = TRUE;
	do {
		self->dispatch_again = FALSE;
		while (!self->closed && !g_queue_is_empty (&self->waiting)) {
			EpDbConn *conn = ep_db_find_idle (self);
			EpDbOp *op;

			if (conn == NULL)
				break;
			op = ep_db_op_dequeue (&self->waiting);
			if (op->kind == EP_DB_OP_RESERVE) {
				conn->reserved = TRUE;
				op->conn = conn;
				ep_db_op_answer (op);
				ep_db_op_free (op);
				continue;
			}
			ep_db_conn_start (conn, op);
		}
		ep_db_grow (self);
	} while (self->dispatch_again);
	self->dispatching = FALSE;
}

/* A connection has nothing to do: give it its next pinned operation, or
 * make sure it is outside any transaction and give it to the pool. */
static void
ep_db_settle (EpDb *self, EpDbConn *conn)
{
	EpDbOp *op;

	if (conn->state != EP_DB_CONN_IDLE || conn->op != NULL)
		return;
	op = ep_db_op_dequeue (&conn->pinned);
	if (op != NULL) {
		ep_db_conn_start (conn, op);
		return;
	}
	if (conn->listener || conn->reserved)
		return;
	if (!ep_db_conn_is_clean (conn)) {
		if (ep_db_conn_in_transaction (conn)) {
			/* a caller's own BEGIN left open: never hand that on */
			op = ep_db_op_new (self, EP_DB_OP_PIPELINE, NULL, NULL, NULL, NULL, NULL);
			g_ptr_array_add (op->stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "ROLLBACK", NULL));
			op->conn = conn;
			op->timeout_ms = self->query_timeout_ms;
			ep_db_submit (self, op, NULL);
			return;
		}
		ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_TEMP,
							    "the connection is in an unknown state"));
		return;
	}
	ep_db_dispatch (self);
}

void
ep_db_handle_connected (EpDb *self, EpDbConn *conn)
{
	if (conn->listener) {
		self->listener_delay_ms = 0;
		/* LISTEN again to every channel: this may be a reconnection */
		ep_db_listener_connect (self);
		return;
	}
	self->delay_ms = 0;
	if (self->retry_source != NULL) {
		g_source_destroy (self->retry_source);
		g_clear_pointer (&self->retry_source, g_source_unref);
	}
	if (self->down) {
		ep_log_message (NULL, NULL, "database %s is available again", self->display);
		self->down = FALSE;
		g_clear_pointer (&self->down_message, g_free);
	}
	ep_db_settle (self, conn);
}

void
ep_db_handle_done (EpDb *self, EpDbConn *conn, EpDbOp *op)
{
	g_autoptr(EpDbConn) hold G_GNUC_UNUSED = ep_db_conn_ref (conn);

	ep_db_op_answer (op);
	ep_db_op_free (op);
	ep_db_settle (self, conn);
}

static gboolean
ep_db_on_listener_retry (gpointer user_data)
{
	g_autoptr(EpDb) self = g_object_ref (EP_DB (user_data));

	g_clear_pointer (&self->listener_retry, g_source_unref);
	ep_db_listener_connect (self);
	return G_SOURCE_REMOVE;
}

static void
ep_db_listener_lost (EpDb *self, const GError *error, gboolean connecting)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init (&iter, self->listens);
	while (g_hash_table_iter_next (&iter, NULL, &value))
		((EpDbListen *) value)->active = FALSE;
	self->listener_delay_ms = ep_db_next_delay (self->listener_delay_ms, self->delay_min_ms, self->delay_max_ms);
	if (!connecting) {
		ep_log_warning (NULL, NULL,
				"database %s: the LISTEN connection was lost (%s); notifications are missed "
				"until it is back",
				self->display, error->message);
	}
	if (self->listener_retry == NULL) {
		self->listener_retry = g_timeout_source_new (self->listener_delay_ms);
		g_source_set_callback (self->listener_retry, ep_db_on_listener_retry, self, NULL);
		g_source_attach (self->listener_retry, self->context);
	}
}

/**
 * ep_db_handle_lost:
 * @conn: (nullable): the connection, or %NULL when none could be started
 * @op: (nullable): what ran on it
 * @connecting: it failed before it was connected
 */
void
ep_db_handle_lost (EpDb *self, EpDbConn *conn, EpDbOp *op, const GError *error, gboolean connecting)
{
	g_autoptr(EpDbConn) hold G_GNUC_UNUSED = conn != NULL ? ep_db_conn_ref (conn) : NULL;
	gboolean listener = conn != NULL && conn->listener;
	EpDbOp *pinned;

	if (listener) {
		if (self->listener == conn)
			g_clear_pointer (&self->listener, ep_db_conn_unref);
	} else if (conn != NULL) {
		g_ptr_array_remove (self->conns, conn);
	}
	if (op != NULL) {
		if (op->error == NULL)
			op->error = g_error_copy (error);
		ep_db_op_answer (op);
		ep_db_op_free (op);
	}
	while (conn != NULL && (pinned = ep_db_op_dequeue (&conn->pinned)) != NULL)
		ep_db_op_fail_now (pinned, g_error_copy (error));
	if (self->closed)
		return;
	if (listener) {
		ep_db_listener_lost (self, error, connecting);
		return;
	}
	if (connecting)
		ep_db_connect_failed (self, error);
	else if (conn != NULL && !conn->closing && !g_error_matches (error, EP_ERROR, EP_ERROR_TIMEOUT))
		ep_log_warning (NULL, NULL, "database %s: %s", self->display, error->message);
	ep_db_dispatch (self);
}

/* ---- LISTEN/NOTIFY ------------------------------------------------------ */

static void
ep_db_listen_free (EpDbListen *l)
{
	if (l->destroy != NULL)
		l->destroy (l->user_data);
	g_free (l->channel);
	g_free (l);
}

/* The ids of the subscribers of @channel, so that callbacks may come and
 * go while they are called. */
static GArray *
ep_db_listen_ids (EpDb *self, const char *channel)
{
	GPtrArray *subs = g_hash_table_lookup (self->channels, channel);
	GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint));

	for (guint i = 0; subs != NULL && i < subs->len; i++)
		g_array_append_val (ids, ((EpDbListen *) g_ptr_array_index (subs, i))->id);
	return ids;
}

void
ep_db_handle_notify (EpDb *self, const char *channel, const char *payload)
{
	g_autofree char *chan = g_strdup (channel);
	g_autofree char *data = g_strdup (payload != NULL ? payload : "");
	g_autoptr(GArray) ids = ep_db_listen_ids (self, channel);

	for (guint i = 0; i < ids->len; i++) {
		EpDbListen *l = g_hash_table_lookup (self->listens, GUINT_TO_POINTER (g_array_index (ids, guint, i)));
		if (l != NULL)
			l->func (self, chan, data, l->user_data);
	}
}

static void
ep_db_on_subscribed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDb *self = EP_DB (source);
	g_auto(GStrv) channels = user_data;
	g_autoptr(GPtrArray) results = NULL;
	g_autoptr(GError) error = NULL;

	results = g_task_propagate_pointer (G_TASK (result), &error);
	if (results == NULL) {
		/* a lost connection comes back and LISTENs again */
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_TEMP))
			ep_log_warning (NULL, NULL, "database %s: LISTEN failed: %s", self->display, error->message);
		return;
	}
	for (guint c = 0; channels[c] != NULL; c++) {
		g_autoptr(GArray) ids = ep_db_listen_ids (self, channels[c]);
		for (guint i = 0; i < ids->len; i++) {
			EpDbListen *l =
				g_hash_table_lookup (self->listens, GUINT_TO_POINTER (g_array_index (ids, guint, i)));
			if (l == NULL || l->active)
				continue;
			l->active = TRUE;
			l->func (self, channels[c], NULL, l->user_data);
		}
	}
}

/* Sends LISTEN for @channel, or for every channel when %NULL. */
static void
ep_db_listener_subscribe (EpDb *self, const char *channel)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	g_auto(GStrv) channels = NULL;
	g_autoptr(GPtrArray) stmts = NULL;
	EpDbOp *op;

	if (channel != NULL) {
		g_strv_builder_add (builder, channel);
	} else {
		GHashTableIter iter;
		gpointer key;
		g_hash_table_iter_init (&iter, self->channels);
		while (g_hash_table_iter_next (&iter, &key, NULL))
			g_strv_builder_add (builder, key);
	}
	channels = g_strv_builder_end (builder);
	if (channels[0] == NULL)
		return;
	stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	for (guint i = 0; channels[i] != NULL; i++) {
		g_autofree char *quoted = ep_db_quote_identifier (channels[i]);
		g_autofree char *sql = g_strconcat ("LISTEN ", quoted, NULL);
		g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, NULL));
	}
	/* the callback frees the names */
	op = ep_db_op_new (self, EP_DB_OP_PIPELINE, self, NULL, ep_db_on_subscribed, g_steal_pointer (&channels),
			   ep_db_listener_subscribe);
	g_ptr_array_extend_and_steal (op->stmts, g_steal_pointer (&stmts));
	op->conn = self->listener;
	op->timeout_ms = self->query_timeout_ms;
	ep_db_submit (self, op, NULL);
}

/* Makes sure the listening connection exists and LISTENs to every channel. */
static void
ep_db_listener_connect (EpDb *self)
{
	g_autoptr(GError) error = NULL;

	if (self->closed || g_hash_table_size (self->channels) == 0)
		return;
	if (self->listener == NULL) {
		if (self->listener_retry != NULL)
			return;
		self->listener = ep_db_conn_new (self, TRUE, &error);
		if (self->listener == NULL)
			ep_db_listener_lost (self, error, TRUE);
		return;
	}
	if (self->listener->state != EP_DB_CONN_CONNECTING)
		ep_db_listener_subscribe (self, NULL);
}

/**
 * ep_db_listen:
 * @channel: the channel, 1 to 63 bytes
 * @func: called for each notification, and with a %NULL payload each time
 *   the subscription becomes active
 *
 * Subscribes to a channel on one connection kept for listening, which is
 * not counted in max_connections.  When that connection is lost it comes
 * back on its own and LISTENs again.
 *
 * Returns: an id for ep_db_unlisten()
 */
guint
ep_db_listen (EpDb *self, const char *channel, EpDbNotifyFunc func, gpointer user_data, GDestroyNotify destroy)
{
	EpDbListen *l;
	GPtrArray *subs;

	g_return_val_if_fail (EP_IS_DB (self), 0);
	g_return_val_if_fail (channel != NULL && *channel != '\0', 0);
	g_return_val_if_fail (strlen (channel) <= EP_DB_MAX_NAME_LEN, 0);
	g_return_val_if_fail (func != NULL, 0);

	l = g_new0 (EpDbListen, 1);
	l->id = ++self->next_listen_id;
	l->channel = g_strdup (channel);
	l->func = func;
	l->user_data = user_data;
	l->destroy = destroy;
	g_hash_table_insert (self->listens, GUINT_TO_POINTER (l->id), l);
	subs = g_hash_table_lookup (self->channels, channel);
	if (subs == NULL) {
		subs = g_ptr_array_new ();
		g_hash_table_insert (self->channels, g_strdup (channel), subs);
	}
	g_ptr_array_add (subs, l);

	if (self->listener == NULL || self->listener->state == EP_DB_CONN_CONNECTING)
		ep_db_listener_connect (self);
	else
		ep_db_listener_subscribe (self, channel);
	return l->id;
}

void
ep_db_unlisten (EpDb *self, guint id)
{
	EpDbListen *l;
	GPtrArray *subs;
	g_autofree char *channel = NULL;

	g_return_if_fail (EP_IS_DB (self));
	l = g_hash_table_lookup (self->listens, GUINT_TO_POINTER (id));
	g_return_if_fail (l != NULL);

	channel = g_strdup (l->channel);
	subs = g_hash_table_lookup (self->channels, channel);
	g_ptr_array_remove (subs, l);
	if (subs->len == 0) {
		g_hash_table_remove (self->channels, channel);
		if (!self->closed && self->listener != NULL && self->listener->state != EP_DB_CONN_CONNECTING) {
			g_autofree char *quoted = ep_db_quote_identifier (channel);
			g_autofree char *sql = g_strconcat ("UNLISTEN ", quoted, NULL);
			EpDbOp *op = ep_db_op_new (self, EP_DB_OP_PIPELINE, NULL, NULL, NULL, NULL, NULL);
			g_ptr_array_add (op->stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, NULL));
			op->conn = self->listener;
			op->timeout_ms = self->query_timeout_ms;
			ep_db_submit (self, op, NULL);
		}
	}
	g_hash_table_remove (self->listens, GUINT_TO_POINTER (id));
}

/**
 * ep_db_notify_async:
 * @payload: (nullable): the payload, at most 8000 bytes
 *
 * Sends a notification with pg_notify().  Inside a transaction, use the
 * same SQL there: it is delivered when the transaction commits.
 */
void
ep_db_notify_async (EpDb *self, const char *channel, const char *payload, GCancellable *cancellable,
		    GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(EpDbParams) params = ep_db_params_new ();
	EpDbOp *op;

	g_return_if_fail (EP_IS_DB (self));
	g_return_if_fail (channel != NULL);

	ep_db_params_add_text (params, channel);
	ep_db_params_add_text (params, payload != NULL ? payload : "");
	op = ep_db_op_new (self, EP_DB_OP_PIPELINE, self, cancellable, callback, user_data, ep_db_notify_async);
	g_ptr_array_add (op->stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "SELECT pg_notify($1, $2)", params));
	op->timeout_ms = self->query_timeout_ms;
	ep_db_submit (self, op, cancellable);
}

gboolean
ep_db_notify_finish (EpDb *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;

	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	results = g_task_propagate_pointer (G_TASK (result), error);
	return results != NULL;
}

/* ---- connections of their own ------------------------------------------ */

void
ep_db_reserve_async (EpDb *self, gpointer source_object, GCancellable *cancellable, GAsyncReadyCallback callback,
		     gpointer user_data)
{
	EpDbOp *op = ep_db_op_new (self, EP_DB_OP_RESERVE, source_object, cancellable, callback, user_data,
				   ep_db_reserve_async);

	op->timeout_ms = self->query_timeout_ms;
	ep_db_submit (self, op, cancellable);
}

/* Returns: (transfer full): a connection reserved for the caller, who
 * gives it back with ep_db_release() */
EpDbConn *
ep_db_reserve_finish (GAsyncResult *result, GError **error)
{
	EpDbReservation *r = g_task_propagate_pointer (G_TASK (result), error);
	EpDbConn *conn;

	if (r == NULL)
		return NULL;
	conn = g_steal_pointer (&r->conn);
	ep_db_reservation_free (r);
	return conn;
}

/**
 * ep_db_release:
 * @discard: close the connection instead of reusing it
 *
 * Gives a reserved connection back.  One left inside a transaction is
 * rolled back first.
 */
void
ep_db_release (EpDb *self, EpDbConn *conn, gboolean discard)
{
	g_autoptr(EpDbConn) hold G_GNUC_UNUSED = ep_db_conn_ref (conn);

	conn->reserved = FALSE;
	if (conn->state == EP_DB_CONN_CLOSED)
		return;
	if (discard) {
		conn->closing = TRUE;
		ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_TEMP,
							    "the connection was closed by its user"));
		return;
	}
	ep_db_settle (self, conn);
}

void
ep_db_run_on_async (EpDb *self, EpDbConn *conn, GPtrArray *stmts, const char *script, guint timeout_ms,
		    gpointer source_object, GCancellable *cancellable, GAsyncReadyCallback callback,
		    gpointer user_data)
{
	EpDbOp *op = ep_db_op_new (self, script != NULL ? EP_DB_OP_SCRIPT : EP_DB_OP_PIPELINE, source_object,
				   cancellable, callback, user_data, ep_db_run_on_async);

	op->script = g_strdup (script);
	for (guint i = 0; stmts != NULL && i < stmts->len; i++)
		g_ptr_array_add (op->stmts, ep_db_stmt_copy (g_ptr_array_index (stmts, i)));
	op->conn = conn;
	op->timeout_ms = timeout_ms;
	ep_db_submit (self, op, cancellable);
}

/* Returns: (transfer full): the results of the statements not internal */
GPtrArray *
ep_db_run_on_finish (GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- queries ------------------------------------------------------------ */

EpDbResult *
ep_db_results_take_single (GPtrArray *results, GError **error)
{
	if (results == NULL)
		return NULL;
	if (results->len != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "the database sent %u results for one statement",
			     results->len);
		return NULL;
	}
	return ep_db_result_ref (g_ptr_array_index (results, 0));
}

/**
 * ep_db_query_async:
 * @sql: one SQL statement, with $1, $2, … for its parameters
 * @params: (nullable): its parameters
 */
void
ep_db_query_async (EpDb *self, const char *sql, EpDbParams *params, GCancellable *cancellable,
		   GAsyncReadyCallback callback, gpointer user_data)
{
	EpDbOp *op;

	g_return_if_fail (EP_IS_DB (self));
	g_return_if_fail (sql != NULL);

	op = ep_db_op_new (self, EP_DB_OP_PIPELINE, self, cancellable, callback, user_data, ep_db_query_async);
	g_ptr_array_add (op->stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, params));
	op->timeout_ms = self->query_timeout_ms;
	ep_db_submit (self, op, cancellable);
}

/**
 * ep_db_query_finish:
 *
 * Returns: (transfer full): the result
 */
EpDbResult *
ep_db_query_finish (EpDb *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;

	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	results = g_task_propagate_pointer (G_TASK (result), error);
	return ep_db_results_take_single (results, error);
}

/**
 * ep_db_prepare:
 * @name: 1 to 63 characters of a-z, A-Z, 0-9, '_', '-' and '.', starting
 *   with the module's name
 * @sql: one SQL statement
 *
 * Registers a statement that each connection prepares once, on its first
 * use, in the same round trip as that use.  Registering the same name
 * with the same SQL again does nothing.
 */
gboolean
ep_db_prepare (EpDb *self, const char *name, const char *sql, GError **error)
{
	const char *known;

	g_return_val_if_fail (EP_IS_DB (self), FALSE);
	g_return_val_if_fail (name != NULL, FALSE);
	g_return_val_if_fail (sql != NULL, FALSE);

	if (!ep_db_is_valid_name (name)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "'%s' cannot name a prepared statement: use 1 to 63 letters, digits, '_', '-' or '.'",
			     name);
		return FALSE;
	}
	known = g_hash_table_lookup (self->statements, name);
	if (known != NULL) {
		if (g_strcmp0 (known, sql) == 0)
			return TRUE;
		g_set_error (error, EP_ERROR, EP_ERROR_EXISTS, "another statement is already prepared as '%s'", name);
		return FALSE;
	}
	g_hash_table_insert (self->statements, g_strdup (name), g_strdup (sql));
	return TRUE;
}

void
ep_db_execute_async (EpDb *self, const char *name, EpDbParams *params, GCancellable *cancellable,
		     GAsyncReadyCallback callback, gpointer user_data)
{
	EpDbOp *op;

	g_return_if_fail (EP_IS_DB (self));
	g_return_if_fail (name != NULL);

	op = ep_db_op_new (self, EP_DB_OP_PIPELINE, self, cancellable, callback, user_data, ep_db_execute_async);
	g_ptr_array_add (op->stmts, ep_db_stmt_new (EP_DB_STMT_EXECUTE, name, NULL, params));
	op->timeout_ms = self->query_timeout_ms;
	ep_db_submit (self, op, cancellable);
}

EpDbResult *
ep_db_execute_finish (EpDb *self, GAsyncResult *result, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;

	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	results = g_task_propagate_pointer (G_TASK (result), error);
	return ep_db_results_take_single (results, error);
}

/**
 * ep_db_run_batch_async:
 *
 * Sends the statements of @batch in one pipeline on one connection.  They
 * form one implicit transaction: all take effect or none.  A batch must
 * not contain BEGIN, COMMIT or ROLLBACK.
 */
void
ep_db_run_batch_async (EpDb *self, EpDbBatch *batch, GCancellable *cancellable, GAsyncReadyCallback callback,
		       gpointer user_data)
{
	GPtrArray *stmts;
	EpDbOp *op;

	g_return_if_fail (EP_IS_DB (self));
	g_return_if_fail (batch != NULL);

	op = ep_db_op_new (self, EP_DB_OP_PIPELINE, self, cancellable, callback, user_data, ep_db_run_batch_async);
	stmts = ep_db_batch_get_stmts (batch);
	for (guint i = 0; i < stmts->len; i++)
		g_ptr_array_add (op->stmts, ep_db_stmt_copy (g_ptr_array_index (stmts, i)));
	op->timeout_ms = ep_db_batch_get_timeout (batch) > 0 ? ep_db_batch_get_timeout (batch) : self->query_timeout_ms;
	ep_db_submit (self, op, cancellable);
}

/**
 * ep_db_run_batch_finish:
 *
 * Returns: (transfer full) (element-type EpDbResult): one result per
 *   statement, in order
 */
GPtrArray *
ep_db_run_batch_finish (EpDb *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

static void
ep_db_on_reserved_for_transaction (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	EpDbConn *conn = ep_db_reserve_finish (result, &error);

	if (conn == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_pointer (task, ep_db_transaction_new (EP_DB (source), conn), g_object_unref);
	ep_db_conn_unref (conn);
}

/**
 * ep_db_begin_async:
 *
 * Waits for a connection of the pool and reserves it for a transaction.
 * BEGIN itself travels with the first statement.
 */
void
ep_db_begin_async (EpDb *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;

	g_return_if_fail (EP_IS_DB (self));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_begin_async);
	ep_db_reserve_async (self, self, cancellable, ep_db_on_reserved_for_transaction, task);
}

/**
 * ep_db_begin_finish:
 *
 * Returns: (transfer full): the transaction
 */
EpDbTransaction *
ep_db_begin_finish (EpDb *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- blocking use ------------------------------------------------------- */

/**
 * ep_db_sync_callback:
 * @user_data: a `GAsyncResult **` that is %NULL; it receives a reference
 *
 * The callback to give an _async call that ep_db_run_sync() waits for.
 */
void
ep_db_sync_callback (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **slot = user_data;
	*slot = g_object_ref (result);
}

/**
 * ep_db_run_sync:
 * @result: where ep_db_sync_callback() puts the result
 *
 * Iterates the main context of @self until *@result is set.
 */
void
ep_db_run_sync (EpDb *self, GAsyncResult **result)
{
	g_return_if_fail (EP_IS_DB (self));
	g_return_if_fail (result != NULL);

	while (*result == NULL)
		g_main_context_iteration (self->context, TRUE);
}

/**
 * ep_db_query_sync:
 *
 * ep_db_query_async() and waiting for it; see ep_db_run_sync().
 *
 * Returns: (transfer full): the result
 */
EpDbResult *
ep_db_query_sync (EpDb *self, const char *sql, EpDbParams *params, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GMainContext) current = g_main_context_ref_thread_default ();

	g_return_val_if_fail (EP_IS_DB (self), NULL);
	if (current != self->context) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INTERNAL,
				     "ep_db_query_sync: called from a main context other than the database's");
		return NULL;
	}
	ep_db_query_async (self, sql, params, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (self, &result);
	return ep_db_query_finish (self, result, error);
}

/* ---- the object --------------------------------------------------------- */

GMainContext *
ep_db_get_context (EpDb *self)
{
	return self->context;
}

const char *const *
ep_db_get_keywords (EpDb *self)
{
	return (const char *const *) self->keywords;
}

const char *const *
ep_db_get_values (EpDb *self)
{
	return (const char *const *) self->values;
}

guint
ep_db_get_connect_timeout (EpDb *self)
{
	return self->connect_timeout_ms;
}

const char *
ep_db_lookup_statement (EpDb *self, const char *name)
{
	return g_hash_table_lookup (self->statements, name);
}

/**
 * ep_db_close:
 *
 * Fails what waits, closes every connection (what runs fails with
 * %EP_ERROR_TEMP) and refuses new queries.  The daemon calls it after the
 * modules shut down, before it stops an embedded server.
 */
void
ep_db_close (EpDb *self)
{
	g_autoptr(GPtrArray) conns = NULL;
	EpDbOp *op;

	g_return_if_fail (EP_IS_DB (self));
	if (self->closed)
		return;
	self->closed = TRUE;
	if (self->retry_source != NULL) {
		g_source_destroy (self->retry_source);
		g_clear_pointer (&self->retry_source, g_source_unref);
	}
	if (self->listener_retry != NULL) {
		g_source_destroy (self->listener_retry);
		g_clear_pointer (&self->listener_retry, g_source_unref);
	}
	while ((op = ep_db_op_dequeue (&self->waiting)) != NULL) {
		ep_db_op_fail_now (op, g_error_new_literal (EP_ERROR, EP_ERROR_TEMP,
							    "the database connections are closing"));
	}
	conns = g_ptr_array_copy (self->conns, (GCopyFunc) (void (*) (void)) ep_db_conn_ref, NULL);
	g_ptr_array_set_free_func (conns, (GDestroyNotify) ep_db_conn_unref);
	for (guint i = 0; i < conns->len; i++) {
		ep_db_conn_fail (g_ptr_array_index (conns, i),
				 g_error_new_literal (EP_ERROR, EP_ERROR_TEMP, "the database connections are closing"));
	}
	if (self->listener != NULL) {
		ep_db_conn_fail (self->listener,
				 g_error_new_literal (EP_ERROR, EP_ERROR_TEMP, "the database connections are closing"));
	}
}

static void
ep_db_dispose (GObject *object)
{
	ep_db_close (EP_DB (object));
	G_OBJECT_CLASS (ep_db_parent_class)->dispose (object);
}

static void
ep_db_finalize (GObject *object)
{
	EpDb *self = EP_DB (object);

	for (guint i = 0; i < self->conns->len; i++)
		((EpDbConn *) g_ptr_array_index (self->conns, i))->db = NULL;
	g_ptr_array_unref (self->conns);
	g_hash_table_unref (self->channels);
	g_hash_table_unref (self->listens);
	g_hash_table_unref (self->statements);
	g_strfreev (self->keywords);
	g_strfreev (self->values);
	g_free (self->display);
	g_free (self->down_message);
	g_main_context_unref (self->context);
	G_OBJECT_CLASS (ep_db_parent_class)->finalize (object);
}

static void
ep_db_class_init (EpDbClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = ep_db_dispose;
	object_class->finalize = ep_db_finalize;
}

static void
ep_db_init (EpDb *self)
{
	self->context = g_main_context_ref_thread_default ();
	self->query_timeout_ms = EP_DB_DEFAULT_QUERY_TIMEOUT_MS;
	self->connect_timeout_ms = EP_DB_DEFAULT_CONNECT_TIMEOUT_MS;
	self->delay_min_ms = EP_DB_DEFAULT_DELAY_MIN_MS;
	self->delay_max_ms = EP_DB_DEFAULT_DELAY_MAX_MS;
	self->conns = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_conn_unref);
	g_queue_init (&self->waiting);
	self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	self->channels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
	self->listens = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) ep_db_listen_free);
}

/**
 * ep_db_new:
 * @conninfo: a libpq connection string: a URL (postgresql://…) or
 *   key=value pairs
 * @max_connections: connections at most in the pool, at least 1
 *
 * Checks @conninfo but connects nothing yet: the first query does.  The
 * database belongs to the thread-default main context of the caller.
 */
EpDb *
ep_db_new (const char *conninfo, guint max_connections, GError **error)
{
	g_autoptr(EpDb) self = NULL;
	g_autoptr(GPtrArray) keywords = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GString) display = g_string_new (NULL);
	gboolean has_name = FALSE;
	char *message = NULL;
	PQconninfoOption *options;

	g_return_val_if_fail (conninfo != NULL, NULL);

	options = PQconninfoParse (conninfo, &message);
	if (options == NULL) {
		g_autofree char *text = g_strdup (message != NULL ? message : "out of memory");
		PQfreemem (message);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "database url: %s", g_strstrip (text));
		return NULL;
	}
	self = g_object_new (EP_TYPE_DB, NULL);
	for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		/* text is UTF-8 whatever the URL says */
		if (g_strcmp0 (o->keyword, "client_encoding") == 0)
			continue;
		if (g_strcmp0 (o->keyword, "application_name") == 0)
			has_name = TRUE;
		g_ptr_array_add (keywords, g_strdup (o->keyword));
		g_ptr_array_add (values, g_strdup (o->val));
		if (g_strv_contains ((const char *const[]) { "host", "hostaddr", "port", "dbname", "user", NULL },
				     o->keyword))
			g_string_append_printf (display, "%s%s=%s", display->len > 0 ? " " : "", o->keyword, o->val);
	}
	PQconninfoFree (options);
	g_ptr_array_add (keywords, g_strdup ("client_encoding"));
	g_ptr_array_add (values, g_strdup ("UTF8"));
	if (!has_name) {
		g_ptr_array_add (keywords, g_strdup ("application_name"));
		g_ptr_array_add (values, g_strdup ("epistle"));
	}
	g_ptr_array_add (keywords, NULL);
	g_ptr_array_add (values, NULL);
	self->keywords = (char **) g_ptr_array_free (g_steal_pointer (&keywords), FALSE);
	self->values = (char **) g_ptr_array_free (g_steal_pointer (&values), FALSE);
	self->display = g_strdup_printf ("(%s)", display->len > 0 ? display->str : "libpq defaults");
	self->max_connections = MAX (max_connections, 1);
	return g_steal_pointer (&self);
}

/* 0: no timeout */
void
ep_db_set_query_timeout (EpDb *self, guint timeout_ms)
{
	g_return_if_fail (EP_IS_DB (self));
	self->query_timeout_ms = timeout_ms;
}

guint
ep_db_get_query_timeout (EpDb *self)
{
	g_return_val_if_fail (EP_IS_DB (self), 0);
	return self->query_timeout_ms;
}

/* 0: no timeout */
void
ep_db_set_connect_timeout (EpDb *self, guint timeout_ms)
{
	g_return_if_fail (EP_IS_DB (self));
	self->connect_timeout_ms = timeout_ms;
}

/**
 * ep_db_set_reconnect_delay:
 *
 * After a failed connection attempt the next waits @min_ms, then twice as
 * long each time, up to @max_ms; a success starts over.
 */
void
ep_db_set_reconnect_delay (EpDb *self, guint min_ms, guint max_ms)
{
	g_return_if_fail (EP_IS_DB (self));
	self->delay_min_ms = MAX (min_ms, 1);
	self->delay_max_ms = MAX (max_ms, self->delay_min_ms);
}

guint
ep_db_get_max_connections (EpDb *self)
{
	g_return_val_if_fail (EP_IS_DB (self), 0);
	return self->max_connections;
}

/* connections of the pool, open or opening: at most max_connections */
guint
ep_db_get_n_connections (EpDb *self)
{
	g_return_val_if_fail (EP_IS_DB (self), 0);
	return self->conns->len;
}

/* host, port, database and user, never the password: for logs */
const char *
ep_db_get_display_name (EpDb *self)
{
	g_return_val_if_fail (EP_IS_DB (self), NULL);
	return self->display;
}
