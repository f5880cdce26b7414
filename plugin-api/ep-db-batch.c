/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-db-private.h"

struct _EpDbBatch {
	gint ref_count;
	GPtrArray *stmts; /* EpDbStmt */
	guint timeout_ms;
};

G_DEFINE_BOXED_TYPE (EpDbBatch, ep_db_batch, ep_db_batch_ref, ep_db_batch_unref)

/* ---- statements: what a batch, a query and a transaction are made of ---- */

EpDbStmt *
ep_db_stmt_new (EpDbStmtKind kind, const char *name, const char *sql, EpDbParams *params)
{
	EpDbStmt *stmt = g_new0 (EpDbStmt, 1);

	stmt->kind = kind;
	stmt->name = g_strdup (name);
	stmt->sql = g_strdup (sql);
	if (params != NULL) {
		ep_db_params_seal (params);
		stmt->params = ep_db_params_ref (params);
	}
	return stmt;
}

EpDbStmt *
ep_db_stmt_copy (const EpDbStmt *stmt)
{
	EpDbStmt *copy = ep_db_stmt_new (stmt->kind, stmt->name, stmt->sql, stmt->params);
	copy->internal = stmt->internal;
	return copy;
}

void
ep_db_stmt_free (EpDbStmt *stmt)
{
	if (stmt == NULL)
		return;
	g_free (stmt->name);
	g_free (stmt->sql);
	g_clear_pointer (&stmt->params, ep_db_params_unref);
	g_free (stmt);
}

/* ---- batches ------------------------------------------------------------ */

EpDbBatch *
ep_db_batch_new (void)
{
	EpDbBatch *self = g_new0 (EpDbBatch, 1);
	self->ref_count = 1;
	self->stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	return self;
}

EpDbBatch *
ep_db_batch_ref (EpDbBatch *self)
{
	g_return_val_if_fail (self != NULL, NULL);
	g_atomic_int_inc (&self->ref_count);
	return self;
}

void
ep_db_batch_unref (EpDbBatch *self)
{
	g_return_if_fail (self != NULL);
	if (!g_atomic_int_dec_and_test (&self->ref_count))
		return;
	g_ptr_array_unref (self->stmts);
	g_free (self);
}

/**
 * ep_db_batch_add:
 * @sql: one SQL statement, with $1, $2, … for its parameters
 * @params: (nullable): its parameters
 */
void
ep_db_batch_add (EpDbBatch *self, const char *sql, EpDbParams *params)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (sql != NULL);
	g_ptr_array_add (self->stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, params));
}

/**
 * ep_db_batch_add_prepared:
 * @name: a statement registered with ep_db_prepare()
 * @params: (nullable): its parameters
 */
void
ep_db_batch_add_prepared (EpDbBatch *self, const char *name, EpDbParams *params)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (name != NULL);
	g_ptr_array_add (self->stmts, ep_db_stmt_new (EP_DB_STMT_EXECUTE, name, NULL, params));
}

guint
ep_db_batch_get_length (EpDbBatch *self)
{
	g_return_val_if_fail (self != NULL, 0);
	return self->stmts->len;
}

void
ep_db_batch_set_timeout (EpDbBatch *self, guint timeout_ms)
{
	g_return_if_fail (self != NULL);
	self->timeout_ms = timeout_ms;
}

GPtrArray *
ep_db_batch_get_stmts (EpDbBatch *self)
{
	return self->stmts;
}

guint
ep_db_batch_get_timeout (EpDbBatch *self)
{
	return self->timeout_ms;
}
