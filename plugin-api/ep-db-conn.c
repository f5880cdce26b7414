/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-db-private.h"
#include "ep-log.h"

/*
 * One libpq connection, non-blocking, driven by a source on its socket in
 * the database's main context.  It connects (PQconnectStartParams and
 * PQconnectPoll), runs one operation at a time (a pipeline closed by one
 * sync, or a script), reads the results as they arrive and tells the
 * pool.  A connection that fails is closed for good; the pool makes
 * another.
 */

/* how long the server gets to stop a statement whose caller gave up */
#define EP_DB_CONN_DRAIN_MS 5000

typedef struct {
	GSource source;
	EpDbConn *conn; /* not owned: the connection destroys its source */
} EpDbConnSource;

static void ep_db_conn_on_io (EpDbConn *conn, GIOCondition revents);

static gboolean
ep_db_conn_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
	EpDbConnSource *s = (EpDbConnSource *) source;
	ep_db_conn_on_io (s->conn, g_source_query_unix_fd (source, s->conn->tag));
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs ep_db_conn_source_funcs = {
	.dispatch = ep_db_conn_source_dispatch,
};

/* libpq's last error, on one line */
static char *
ep_db_conn_error_text (PGconn *pg)
{
	g_autofree char *text = g_strdup (pg != NULL ? PQerrorMessage (pg) : "out of memory");
	g_auto(GStrv) lines = NULL;

	g_strstrip (text);
	lines = g_strsplit (text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++)
		g_strstrip (lines[i]);
	return g_strjoinv ("; ", lines);
}

static GError *
ep_db_conn_error_new (EpDbConn *conn, const char *what)
{
	g_autofree char *text = ep_db_conn_error_text (conn->pg);
	gboolean bad = conn->pg == NULL || PQstatus (conn->pg) == CONNECTION_BAD;

	return g_error_new (EP_ERROR, bad ? EP_ERROR_TEMP : EP_ERROR_INTERNAL, "%s: %s", what,
			    *text != '\0' ? text : "unknown libpq error");
}

static void
ep_db_conn_teardown (EpDbConn *conn)
{
	if (conn->source != NULL) {
		g_source_destroy (conn->source);
		g_clear_pointer (&conn->source, g_source_unref);
		conn->tag = NULL;
	}
	if (conn->connect_timeout != NULL) {
		g_source_destroy (conn->connect_timeout);
		g_clear_pointer (&conn->connect_timeout, g_source_unref);
	}
	if (conn->drain_timeout != NULL) {
		g_source_destroy (conn->drain_timeout);
		g_clear_pointer (&conn->drain_timeout, g_source_unref);
	}
	g_clear_pointer (&conn->pg, PQfinish);
	conn->fd = -1;
}

EpDbConn *
ep_db_conn_ref (EpDbConn *conn)
{
	conn->ref_count++;
	return conn;
}

void
ep_db_conn_unref (EpDbConn *conn)
{
	if (--conn->ref_count > 0)
		return;
	ep_db_conn_teardown (conn);
	g_queue_clear (&conn->pinned);
	g_hash_table_unref (conn->prepared);
	g_free (conn);
}

static void
ep_db_conn_watch (EpDbConn *conn, GIOCondition cond)
{
	int fd = conn->pg != NULL ? PQsocket (conn->pg) : -1;

	if (conn->source != NULL && fd != conn->fd) {
		g_source_destroy (conn->source);
		g_clear_pointer (&conn->source, g_source_unref);
		conn->tag = NULL;
	}
	if (fd < 0)
		return;
	if (conn->source == NULL) {
		conn->source = g_source_new (&ep_db_conn_source_funcs, sizeof (EpDbConnSource));
		((EpDbConnSource *) conn->source)->conn = conn;
		g_source_set_static_name (conn->source, "ep-db-conn");
		conn->fd = fd;
		conn->cond = cond;
		conn->tag = g_source_add_unix_fd (conn->source, fd, cond);
		g_source_attach (conn->source, ep_db_get_context (conn->db));
		return;
	}
	if (cond != conn->cond) {
		conn->cond = cond;
		g_source_modify_unix_fd (conn->source, conn->tag, cond);
	}
}

static void
ep_db_conn_update_watch (EpDbConn *conn)
{
	switch (conn->state) {
	case EP_DB_CONN_CONNECTING:
		ep_db_conn_watch (conn, conn->poll == PGRES_POLLING_READING ? G_IO_IN : G_IO_OUT);
		break;
	case EP_DB_CONN_IDLE:
	case EP_DB_CONN_BUSY:
		ep_db_conn_watch (conn, G_IO_IN | (conn->want_write ? G_IO_OUT : 0));
		break;
	case EP_DB_CONN_CLOSED:
		break;
	}
}

/**
 * ep_db_conn_fail:
 * @error: (transfer full): why
 *
 * Closes the connection for good and hands what ran on it to the pool.
 */
void
ep_db_conn_fail (EpDbConn *conn, GError *error)
{
	g_autoptr(GError) owned = error;
	g_autoptr(EpDbConn) hold G_GNUC_UNUSED = ep_db_conn_ref (conn);
	gboolean connecting = conn->state == EP_DB_CONN_CONNECTING;
	EpDbOp *op;

	if (conn->state == EP_DB_CONN_CLOSED)
		return;
	conn->state = EP_DB_CONN_CLOSED;
	ep_db_conn_teardown (conn);
	op = g_steal_pointer (&conn->op);
	if (conn->db != NULL)
		ep_db_handle_lost (conn->db, conn, op, owned, connecting);
}

static gboolean
ep_db_conn_on_connect_timeout (gpointer user_data)
{
	EpDbConn *conn = user_data;
	guint ms = ep_db_get_connect_timeout (conn->db);

	ep_db_conn_fail (conn, g_error_new (EP_ERROR, EP_ERROR_TEMP,
					    "cannot connect to the database: no answer within %u ms", ms));
	return G_SOURCE_REMOVE;
}

/* NOTICE and WARNING messages of the server: libpq prints them to stderr */
static void
ep_db_conn_on_notice (void *arg, const char *message)
{
	g_autofree char *text = g_strstrip (g_strdup (message));
	ep_log_debug (NULL, NULL, "database: %s", text);
}

/**
 * ep_db_conn_new:
 * @listener: the connection is the one that LISTENs
 *
 * Starts connecting; the pool hears of the outcome.
 */
EpDbConn *
ep_db_conn_new (EpDb *db, gboolean listener, GError **error)
{
	g_autoptr(EpDbConn) conn = g_new0 (EpDbConn, 1);
	guint timeout_ms = ep_db_get_connect_timeout (db);

	conn->ref_count = 1;
	conn->db = db;
	conn->listener = listener;
	conn->fd = -1;
	g_queue_init (&conn->pinned);
	conn->prepared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	conn->pg = PQconnectStartParams (ep_db_get_keywords (db), ep_db_get_values (db), 0);
	if (conn->pg == NULL || PQstatus (conn->pg) == CONNECTION_BAD) {
		g_autofree char *text = ep_db_conn_error_text (conn->pg);
		g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "cannot connect to the database: %s", text);
		return NULL;
	}
	PQsetNoticeProcessor (conn->pg, ep_db_conn_on_notice, NULL);
	conn->state = EP_DB_CONN_CONNECTING;
	conn->poll = PGRES_POLLING_WRITING;
	ep_db_conn_update_watch (conn);
	if (timeout_ms > 0) {
		conn->connect_timeout = g_timeout_source_new (timeout_ms);
		g_source_set_callback (conn->connect_timeout, ep_db_conn_on_connect_timeout, conn, NULL);
		g_source_attach (conn->connect_timeout, ep_db_get_context (db));
	}
	return g_steal_pointer (&conn);
}

static void
ep_db_conn_poll_connect (EpDbConn *conn)
{
	conn->poll = PQconnectPoll (conn->pg);
	switch (conn->poll) {
	case PGRES_POLLING_FAILED:
		ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot connect to the database"));
		return;
	case PGRES_POLLING_OK:
		if (conn->connect_timeout != NULL) {
			g_source_destroy (conn->connect_timeout);
			g_clear_pointer (&conn->connect_timeout, g_source_unref);
		}
		if (PQsetnonblocking (conn->pg, 1) != 0) {
			ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot make the connection non-blocking"));
			return;
		}
		conn->state = EP_DB_CONN_IDLE;
		ep_db_conn_update_watch (conn);
		ep_db_handle_connected (conn->db, conn);
		return;
	default:
		ep_db_conn_update_watch (conn);
		return;
	}
}

static gboolean
ep_db_conn_flush (EpDbConn *conn)
{
	int r = PQflush (conn->pg);

	if (r < 0) {
		ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "lost the connection to the database"));
		return FALSE;
	}
	conn->want_write = r == 1;
	return TRUE;
}

/* Puts a PREPARE before the first execution of each named statement this
 * connection has not prepared yet, in the same pipeline. */
static void
ep_db_conn_add_prepares (EpDbConn *conn, EpDbOp *op)
{
	GPtrArray *stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);

	for (guint i = 0; i < op->stmts->len; i++) {
		EpDbStmt *stmt = g_ptr_array_index (op->stmts, i);
		if (stmt->kind == EP_DB_STMT_EXECUTE && !g_hash_table_contains (conn->prepared, stmt->name)) {
			const char *sql = ep_db_lookup_statement (conn->db, stmt->name);
			if (sql != NULL) {
				EpDbStmt *prepare = ep_db_stmt_new (EP_DB_STMT_PREPARE, stmt->name, sql, NULL);
				prepare->internal = TRUE;
				g_ptr_array_add (stmts, prepare);
				g_hash_table_add (conn->prepared, g_strdup (stmt->name));
			}
		}
		g_ptr_array_add (stmts, stmt);
		op->stmts->pdata[i] = NULL;
	}
	g_ptr_array_unref (op->stmts);
	op->stmts = stmts;
}

static gboolean
ep_db_conn_send_stmt (EpDbConn *conn, EpDbStmt *stmt)
{
	int n = 0;
	const char *const *values = NULL;
	const int *lengths = NULL;
	const int *formats = NULL;
	const Oid *types = NULL;
	int result_format = 0;

	if (stmt->params != NULL) {
		ep_db_params_get_arrays (stmt->params, &n, &values, &lengths, &formats, &types);
		result_format = ep_db_params_get_binary_results (stmt->params) ? 1 : 0;
	}
	switch (stmt->kind) {
	case EP_DB_STMT_QUERY:
		return PQsendQueryParams (conn->pg, stmt->sql, n, types, values, lengths, formats, result_format);
	case EP_DB_STMT_PREPARE:
		return PQsendPrepare (conn->pg, stmt->name, stmt->sql, 0, NULL);
	case EP_DB_STMT_EXECUTE:
		return PQsendQueryPrepared (conn->pg, stmt->name, n, values, lengths, formats, result_format);
	}
	return FALSE;
}

/**
 * ep_db_conn_start:
 *
 * Sends @op on the idle connection @conn; the pool hears when it is done.
 */
void
ep_db_conn_start (EpDbConn *conn, EpDbOp *op)
{
	g_return_if_fail (conn->state == EP_DB_CONN_IDLE && conn->op == NULL);

	conn->op = op;
	op->conn = conn;
	conn->state = EP_DB_CONN_BUSY;
	conn->stmt_index = 0;
	if (op->kind == EP_DB_OP_SCRIPT) {
		if (!PQsendQuery (conn->pg, op->script)) {
			ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot send the query"));
			return;
		}
	} else {
		ep_db_conn_add_prepares (conn, op);
		if (!PQenterPipelineMode (conn->pg)) {
			ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot enter pipeline mode"));
			return;
		}
		for (guint i = 0; i < op->stmts->len; i++) {
			if (!ep_db_conn_send_stmt (conn, g_ptr_array_index (op->stmts, i))) {
				ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot send the query"));
				return;
			}
		}
		if (!PQpipelineSync (conn->pg)) {
			ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot send the query"));
			return;
		}
	}
	if (!ep_db_conn_flush (conn))
		return;
	ep_db_conn_update_watch (conn);
}

static gboolean
ep_db_conn_on_drain_timeout (gpointer user_data)
{
	EpDbConn *conn = user_data;

	g_clear_pointer (&conn->drain_timeout, g_source_unref);
	ep_db_conn_fail (conn, g_error_new (EP_ERROR, EP_ERROR_TIMEOUT,
					    "the server did not stop a cancelled statement within %u ms",
					    EP_DB_CONN_DRAIN_MS));
	return G_SOURCE_REMOVE;
}

static gpointer
ep_db_conn_cancel_thread (gpointer data)
{
	PGcancel *cancel = data;
	char message[256] = "";

	/* PQcancel() blocks on its own connection to the server: not on the
	 * main loop */
	if (!PQcancel (cancel, message, sizeof (message)))
		g_debug ("database: the cancel request failed: %s", message);
	PQfreeCancel (cancel);
	return NULL;
}

/**
 * ep_db_conn_abandon:
 *
 * The running operation was answered early (timeout, cancellation): asks
 * the server to cancel it.  The connection is closed once the server is
 * done (a late cancel request must not hit the next statement), or when
 * the server does not stop in time.
 */
void
ep_db_conn_abandon (EpDbConn *conn)
{
	PGcancel *cancel;

	if (conn->state != EP_DB_CONN_BUSY || conn->drain_timeout != NULL)
		return;
	cancel = PQgetCancel (conn->pg);
	if (cancel != NULL) {
		GThread *thread = g_thread_try_new ("ep-db-cancel", ep_db_conn_cancel_thread, cancel, NULL);
		if (thread != NULL)
			g_thread_unref (thread);
		else
			PQfreeCancel (cancel);
	}
	conn->drain_timeout = g_timeout_source_new (EP_DB_CONN_DRAIN_MS);
	g_source_set_callback (conn->drain_timeout, ep_db_conn_on_drain_timeout, conn, NULL);
	g_source_attach (conn->drain_timeout, ep_db_get_context (conn->db));
}

static void
ep_db_conn_finish (EpDbConn *conn)
{
	EpDbOp *op = conn->op;

	if (op->kind == EP_DB_OP_PIPELINE && !PQexitPipelineMode (conn->pg)) {
		ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "cannot leave pipeline mode"));
		return;
	}
	if (conn->drain_timeout != NULL) {
		ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_TIMEOUT,
							    "closed after a cancelled statement"));
		return;
	}
	conn->op = NULL;
	conn->state = EP_DB_CONN_IDLE;
	ep_db_handle_done (conn->db, conn, op);
}

/* Returns FALSE when the connection had to be closed. */
static gboolean
ep_db_conn_take_result (EpDbConn *conn, EpDbOp *op, PGresult *res)
{
	EpDbStmt *stmt = NULL;
	const char *state;

	if (op->kind == EP_DB_OP_PIPELINE) {
		if (conn->stmt_index >= op->stmts->len) {
			PQclear (res);
			ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL,
								    "the server sent more results than statements"));
			return FALSE;
		}
		stmt = g_ptr_array_index (op->stmts, conn->stmt_index);
	}
	switch (PQresultStatus (res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		if ((stmt != NULL && stmt->internal) || op->error != NULL)
			PQclear (res);
		else
			g_ptr_array_add (op->results, ep_db_result_new (res));
		return TRUE;
	case PGRES_PIPELINE_ABORTED:
		if (stmt != NULL && stmt->kind == EP_DB_STMT_PREPARE)
			g_hash_table_remove (conn->prepared, stmt->name);
		if (op->error == NULL)
			op->error = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "the pipeline was aborted");
		PQclear (res);
		return TRUE;
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
		if (stmt != NULL && stmt->kind == EP_DB_STMT_PREPARE)
			g_hash_table_remove (conn->prepared, stmt->name);
		/* someone deallocated it: prepare it again next time */
		if (stmt != NULL && stmt->kind == EP_DB_STMT_EXECUTE && g_strcmp0 (state, "26000") == 0)
			g_hash_table_remove (conn->prepared, stmt->name);
		if (op->error == NULL)
			op->error = ep_db_error_new_from_result (res);
		PQclear (res);
		return TRUE;
	default:
		PQclear (res);
		ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL,
							    "COPY and single-row results are not supported"));
		return FALSE;
	}
}

static void
ep_db_conn_read_results (EpDbConn *conn)
{
	EpDbOp *op = conn->op;

	while (conn->op == op && conn->state == EP_DB_CONN_BUSY) {
		PGresult *res;

		if (PQstatus (conn->pg) != CONNECTION_OK) {
			ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "lost the connection to the database"));
			return;
		}
		if (PQisBusy (conn->pg))
			return;
		res = PQgetResult (conn->pg);
		if (res == NULL) {
			if (op->kind == EP_DB_OP_SCRIPT) {
				ep_db_conn_finish (conn);
				return;
			}
			/* the end of one statement's results */
			if (++conn->stmt_index > op->stmts->len) {
				ep_db_conn_fail (conn, g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL,
									    "the pipeline lost its sync"));
				return;
			}
			continue;
		}
		if (PQresultStatus (res) == PGRES_PIPELINE_SYNC) {
			PQclear (res);
			ep_db_conn_finish (conn);
			return;
		}
		if (!ep_db_conn_take_result (conn, op, res))
			return;
	}
}

static void
ep_db_conn_on_io (EpDbConn *conn, GIOCondition revents)
{
	g_autoptr(EpDbConn) hold G_GNUC_UNUSED = ep_db_conn_ref (conn);
	g_autoptr(EpDb) db = g_object_ref (conn->db);
	g_autoptr(GPtrArray) notes = NULL;
	PGnotify *note;

	if (conn->state == EP_DB_CONN_CONNECTING) {
		ep_db_conn_poll_connect (conn);
		return;
	}
	if (conn->state == EP_DB_CONN_CLOSED)
		return;
	if (conn->want_write && !ep_db_conn_flush (conn))
		return;
	if ((revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0 && !PQconsumeInput (conn->pg)) {
		ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "lost the connection to the database"));
		return;
	}
	while ((note = PQnotifies (conn->pg)) != NULL) {
		if (!conn->listener) {
			PQfreemem (note);
			continue;
		}
		if (notes == NULL)
			notes = g_ptr_array_new_with_free_func (PQfreemem);
		g_ptr_array_add (notes, note);
	}
	if (conn->op != NULL)
		ep_db_conn_read_results (conn);
	else if (PQstatus (conn->pg) != CONNECTION_OK)
		ep_db_conn_fail (conn, ep_db_conn_error_new (conn, "lost the connection to the database"));

	/* what arrived is delivered even if the connection went down since */
	for (guint i = 0; notes != NULL && i < notes->len; i++) {
		PGnotify *n = g_ptr_array_index (notes, i);
		ep_db_handle_notify (db, n->relname, n->extra);
	}
	if (conn->state != EP_DB_CONN_CLOSED)
		ep_db_conn_update_watch (conn);
}

/* Connected, and outside any transaction: fit for the next user. */
gboolean
ep_db_conn_is_clean (EpDbConn *conn)
{
	return conn->pg != NULL && PQstatus (conn->pg) == CONNECTION_OK &&
	       PQtransactionStatus (conn->pg) == PQTRANS_IDLE;
}

gboolean
ep_db_conn_in_transaction (EpDbConn *conn)
{
	PGTransactionStatusType s;

	if (conn->pg == NULL || PQstatus (conn->pg) != CONNECTION_OK)
		return FALSE;
	s = PQtransactionStatus (conn->pg);
	return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}
