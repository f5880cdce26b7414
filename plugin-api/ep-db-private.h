/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Inside the database layer: statements, operations, connections and the
 * calls between the pool (ep-db.c) and its connections (ep-db-conn.c).
 * Not installed; libpq stays out of the public headers.
 */

#include <libpq-fe.h>

#include "ep-db.h"
#include "ep-error.h"

G_BEGIN_DECLS

typedef struct _EpDbConn EpDbConn;

/* ---- statements ---------------------------------------------------------- */

typedef enum {
	EP_DB_STMT_QUERY,   /* SQL with parameters, unnamed */
	EP_DB_STMT_PREPARE, /* Parse of a named statement, added per connection */
	EP_DB_STMT_EXECUTE, /* a named statement with parameters */
} EpDbStmtKind;

typedef struct {
	EpDbStmtKind kind;
	char *name;
	char *sql;
	EpDbParams *params; /* nullable */
	gboolean internal;  /* its result is not handed back (BEGIN, PREPARE) */
} EpDbStmt;

EpDbStmt *ep_db_stmt_new (EpDbStmtKind kind, const char *name, const char *sql, EpDbParams *params);
EpDbStmt *ep_db_stmt_copy (const EpDbStmt *stmt);
void      ep_db_stmt_free (EpDbStmt *stmt);

void     ep_db_params_seal (EpDbParams *self);
gboolean ep_db_params_fits (EpDbParams *self, GError **error);
void     ep_db_params_get_arrays (EpDbParams *self, int *n_params, const char *const **values,
				  const int **lengths, const int **formats, const Oid **types);
gboolean ep_db_params_get_binary_results (EpDbParams *self);

EpDbResult *ep_db_result_new (PGresult *res);

GPtrArray *ep_db_batch_get_stmts (EpDbBatch *self);
guint      ep_db_batch_get_timeout (EpDbBatch *self);

GError     *ep_db_error_new_from_result (const PGresult *res);
EpDbResult *ep_db_results_take_single (GPtrArray *results, GError **error);

EpDbTransaction *ep_db_transaction_new (EpDb *db, EpDbConn *conn);

/* ---- operations ---------------------------------------------------------- */

typedef enum {
	EP_DB_OP_PIPELINE, /* statements in one pipeline up to one sync */
	EP_DB_OP_SCRIPT,   /* a string of SQL commands, simple query protocol */
	EP_DB_OP_RESERVE,  /* wants a connection of its own */
} EpDbOpKind;

/*
 * One request: waits in a queue (the pool's, or a reserved connection's),
 * then runs on a connection, then is answered.  A timeout or a
 * cancellation answers it early; it then stays with its connection until
 * the server is done with it.
 */
typedef struct {
	EpDbOpKind kind;
	EpDb *db;           /* not owned: the task holds a reference */
	GTask *task;        /* NULL once answered, and for internal operations */
	GPtrArray *stmts;   /* EpDbStmt, for a pipeline */
	char *script;       /* for a script */
	GPtrArray *results; /* EpDbResult, one per statement not internal */
	GError *error;      /* the first error */
	EpDbConn *conn;     /* the connection it is pinned to or runs on */
	GQueue *queue;      /* where it waits, or NULL */
	GList *link;
	guint timeout_ms;
	GSource *timeout_source;
	GSource *cancel_source;
} EpDbOp;

/* ---- connections --------------------------------------------------------- */

typedef enum {
	EP_DB_CONN_CONNECTING,
	EP_DB_CONN_IDLE,
	EP_DB_CONN_BUSY,
	EP_DB_CONN_CLOSED,
} EpDbConnState;

struct _EpDbConn {
	gint ref_count;
	EpDb *db; /* not owned: the database closes its connections */
	PGconn *pg;
	EpDbConnState state;
	gboolean listener; /* the connection that LISTENs */
	gboolean reserved; /* held by a transaction or the migrator */
	gboolean closing;  /* closed on purpose: nothing to log */
	GQueue pinned;	   /* EpDbOp waiting for this connection */
	EpDbOp *op;	   /* running */
	guint stmt_index;  /* the statement the next result belongs to */
	GHashTable *prepared;
	/* I/O */
	GSource *source;
	gpointer tag;
	int fd;
	GIOCondition cond;
	PostgresPollingStatusType poll;
	gboolean want_write;
	GSource *connect_timeout;
	GSource *drain_timeout; /* an answered operation the server must stop */
};

EpDbConn *ep_db_conn_new (EpDb *db, gboolean listener, GError **error);
EpDbConn *ep_db_conn_ref (EpDbConn *conn);
void      ep_db_conn_unref (EpDbConn *conn);
void      ep_db_conn_start (EpDbConn *conn, EpDbOp *op);
void      ep_db_conn_abandon (EpDbConn *conn);
void      ep_db_conn_fail (EpDbConn *conn, GError *error);
gboolean  ep_db_conn_is_clean (EpDbConn *conn);
gboolean  ep_db_conn_in_transaction (EpDbConn *conn);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDbConn, ep_db_conn_unref)

/* ---- what connections tell the pool (ep-db.c) ------------------------- */

GMainContext       *ep_db_get_context (EpDb *self);
const char *const  *ep_db_get_keywords (EpDb *self);
const char *const  *ep_db_get_values (EpDb *self);
guint               ep_db_get_connect_timeout (EpDb *self);
const char         *ep_db_lookup_statement (EpDb *self, const char *name);

void ep_db_handle_connected (EpDb *self, EpDbConn *conn);
void ep_db_handle_done (EpDb *self, EpDbConn *conn, EpDbOp *op);
void ep_db_handle_lost (EpDb *self, EpDbConn *conn, EpDbOp *op, const GError *error, gboolean connecting);
void ep_db_handle_notify (EpDb *self, const char *channel, const char *payload);

/* ---- connections of their own, for transactions and migrations -------- */

void      ep_db_reserve_async (EpDb *self, gpointer source_object, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data);
EpDbConn *ep_db_reserve_finish (GAsyncResult *result, GError **error);
void      ep_db_release (EpDb *self, EpDbConn *conn, gboolean discard);

/* @stmts: (transfer none): copied; or @script, a string of commands */
void       ep_db_run_on_async (EpDb *self, EpDbConn *conn, GPtrArray *stmts, const char *script, guint timeout_ms,
			       gpointer source_object, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data);
GPtrArray *ep_db_run_on_finish (GAsyncResult *result, GError **error);

G_END_DECLS
