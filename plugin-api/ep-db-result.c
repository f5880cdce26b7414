/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdlib.h>

#include "ep-db-private.h"

/* type oids of pg_type.dat that binary values are decoded for */
#define EP_DB_OID_BOOL	16
#define EP_DB_OID_BYTEA 17
#define EP_DB_OID_INT8	20
#define EP_DB_OID_INT2	21
#define EP_DB_OID_INT4	23
#define EP_DB_OID_OID	26

struct _EpDbResult {
	gint ref_count;
	PGresult *res;
};

G_DEFINE_BOXED_TYPE (EpDbResult, ep_db_result, ep_db_result_ref, ep_db_result_unref)

/* Takes @res: the result frees it. */
EpDbResult *
ep_db_result_new (PGresult *res)
{
	EpDbResult *self = g_new0 (EpDbResult, 1);
	self->ref_count = 1;
	self->res = res;
	return self;
}

EpDbResult *
ep_db_result_ref (EpDbResult *self)
{
	g_return_val_if_fail (self != NULL, NULL);
	g_atomic_int_inc (&self->ref_count);
	return self;
}

void
ep_db_result_unref (EpDbResult *self)
{
	g_return_if_fail (self != NULL);
	if (!g_atomic_int_dec_and_test (&self->ref_count))
		return;
	PQclear (self->res);
	g_free (self);
}

guint
ep_db_result_get_n_rows (EpDbResult *self)
{
	g_return_val_if_fail (self != NULL, 0);
	return (guint) PQntuples (self->res);
}

guint
ep_db_result_get_n_columns (EpDbResult *self)
{
	g_return_val_if_fail (self != NULL, 0);
	return (guint) PQnfields (self->res);
}

/**
 * ep_db_result_get_affected_rows:
 *
 * Rows an INSERT, UPDATE, DELETE, MERGE, SELECT, MOVE, FETCH or COPY
 * touched; 0 for other commands.
 */
guint64
ep_db_result_get_affected_rows (EpDbResult *self)
{
	const char *n;

	g_return_val_if_fail (self != NULL, 0);
	n = PQcmdTuples (self->res);
	if (n == NULL || *n == '\0')
		return 0;
	return g_ascii_strtoull (n, NULL, 10);
}

/**
 * ep_db_result_get_command:
 *
 * The command tag the server answered, such as "INSERT 0 1" or "COMMIT".
 */
const char *
ep_db_result_get_command (EpDbResult *self)
{
	g_return_val_if_fail (self != NULL, NULL);
	return PQcmdStatus (self->res);
}

const char *
ep_db_result_get_column_name (EpDbResult *self, guint column)
{
	g_return_val_if_fail (self != NULL, NULL);
	g_return_val_if_fail (column < (guint) PQnfields (self->res), NULL);
	return PQfname (self->res, (int) column);
}

/**
 * ep_db_result_find_column:
 *
 * Returns: the index of the column called @name, or -1
 */
gint
ep_db_result_find_column (EpDbResult *self, const char *name)
{
	g_return_val_if_fail (self != NULL, -1);
	g_return_val_if_fail (name != NULL, -1);
	for (int i = 0; i < PQnfields (self->res); i++) {
		if (g_strcmp0 (PQfname (self->res, i), name) == 0)
			return i;
	}
	return -1;
}

static gboolean
ep_db_result_check (EpDbResult *self, guint row, guint column)
{
	if (self == NULL) {
		g_critical ("ep_db_result: no result");
		return FALSE;
	}
	if (row >= (guint) PQntuples (self->res) || column >= (guint) PQnfields (self->res)) {
		g_critical ("ep_db_result: row %u column %u is outside the %d×%d result", row, column,
			    PQntuples (self->res), PQnfields (self->res));
		return FALSE;
	}
	return TRUE;
}

gboolean
ep_db_result_is_null (EpDbResult *self, guint row, guint column)
{
	if (!ep_db_result_check (self, row, column))
		return TRUE;
	return PQgetisnull (self->res, (int) row, (int) column);
}

/**
 * ep_db_result_get_text:
 *
 * Returns: (nullable): the value as the server sent it, or %NULL for SQL
 *   NULL.  In a binary result only text-like columns read well this way.
 */
const char *
ep_db_result_get_text (EpDbResult *self, guint row, guint column)
{
	if (!ep_db_result_check (self, row, column))
		return NULL;
	if (PQgetisnull (self->res, (int) row, (int) column))
		return NULL;
	return PQgetvalue (self->res, (int) row, (int) column);
}

static guint64
ep_db_result_read_be (const guint8 *p, int len)
{
	guint64 v = 0;
	for (int i = 0; i < len; i++)
		v = (v << 8) | p[i];
	return v;
}

/**
 * ep_db_result_get_int64:
 *
 * Returns: the integer value, or 0 for SQL NULL or a value that is not an
 *   integer
 */
gint64
ep_db_result_get_int64 (EpDbResult *self, guint row, guint column)
{
	const char *v;
	char *end = NULL;
	gint64 n;

	if (!ep_db_result_check (self, row, column))
		return 0;
	if (PQgetisnull (self->res, (int) row, (int) column))
		return 0;
	v = PQgetvalue (self->res, (int) row, (int) column);
	if (PQfformat (self->res, (int) column) == 1) {
		int len = PQgetlength (self->res, (int) row, (int) column);
		switch (PQftype (self->res, (int) column)) {
		case EP_DB_OID_INT2:
			return len == 2 ? (gint16) ep_db_result_read_be ((const guint8 *) v, 2) : 0;
		case EP_DB_OID_INT4:
			return len == 4 ? (gint32) ep_db_result_read_be ((const guint8 *) v, 4) : 0;
		case EP_DB_OID_OID:
			return len == 4 ? (guint32) ep_db_result_read_be ((const guint8 *) v, 4) : 0;
		case EP_DB_OID_INT8:
			return len == 8 ? (gint64) ep_db_result_read_be ((const guint8 *) v, 8) : 0;
		case EP_DB_OID_BOOL:
			return len == 1 ? v[0] != 0 : 0;
		default:
			return 0;
		}
	}
	n = g_ascii_strtoll (v, &end, 10);
	if (end == v || *end != '\0')
		return 0;
	return n;
}

/**
 * ep_db_result_get_boolean:
 *
 * Returns: %TRUE for a true boolean or a non-zero integer
 */
gboolean
ep_db_result_get_boolean (EpDbResult *self, guint row, guint column)
{
	const char *v;

	if (!ep_db_result_check (self, row, column))
		return FALSE;
	if (PQgetisnull (self->res, (int) row, (int) column))
		return FALSE;
	v = PQgetvalue (self->res, (int) row, (int) column);
	if (PQfformat (self->res, (int) column) == 1 && PQftype (self->res, (int) column) == EP_DB_OID_BOOL)
		return PQgetlength (self->res, (int) row, (int) column) == 1 && v[0] != 0;
	if (g_strcmp0 (v, "t") == 0 || g_strcmp0 (v, "true") == 0)
		return TRUE;
	if (g_strcmp0 (v, "f") == 0 || g_strcmp0 (v, "false") == 0)
		return FALSE;
	return ep_db_result_get_int64 (self, row, column) != 0;
}

/**
 * ep_db_result_get_bytes:
 *
 * A bytea column is decoded (from hex in a text result); any other column
 * gives its bytes as sent.
 *
 * Returns: (transfer full) (nullable): the value, or %NULL for SQL NULL
 */
GBytes *
ep_db_result_get_bytes (EpDbResult *self, guint row, guint column)
{
	const char *v;
	int len;

	if (!ep_db_result_check (self, row, column))
		return NULL;
	if (PQgetisnull (self->res, (int) row, (int) column))
		return NULL;
	v = PQgetvalue (self->res, (int) row, (int) column);
	len = PQgetlength (self->res, (int) row, (int) column);
	if (PQfformat (self->res, (int) column) == 0 && PQftype (self->res, (int) column) == EP_DB_OID_BYTEA) {
		size_t out_len = 0;
		unsigned char *out = PQunescapeBytea ((const unsigned char *) v, &out_len);
		if (out == NULL)
			return NULL;
		return g_bytes_new_with_free_func (out, out_len, (GDestroyNotify) PQfreemem, out);
	}
	/* no copy: the bytes keep the result alive */
	return g_bytes_new_with_free_func (v, (gsize) len, (GDestroyNotify) ep_db_result_unref,
					   ep_db_result_ref (self));
}

static gint
ep_db_result_column_or_warn (EpDbResult *self, const char *name)
{
	gint column = ep_db_result_find_column (self, name);
	if (column < 0)
		g_critical ("ep_db_result: no column named '%s'", name);
	return column;
}

gboolean
ep_db_result_is_null_by_name (EpDbResult *self, guint row, const char *name)
{
	gint column = ep_db_result_column_or_warn (self, name);
	return column < 0 ? TRUE : ep_db_result_is_null (self, row, (guint) column);
}

const char *
ep_db_result_get_text_by_name (EpDbResult *self, guint row, const char *name)
{
	gint column = ep_db_result_column_or_warn (self, name);
	return column < 0 ? NULL : ep_db_result_get_text (self, row, (guint) column);
}

gint64
ep_db_result_get_int64_by_name (EpDbResult *self, guint row, const char *name)
{
	gint column = ep_db_result_column_or_warn (self, name);
	return column < 0 ? 0 : ep_db_result_get_int64 (self, row, (guint) column);
}

gboolean
ep_db_result_get_boolean_by_name (EpDbResult *self, guint row, const char *name)
{
	gint column = ep_db_result_column_or_warn (self, name);
	return column < 0 ? FALSE : ep_db_result_get_boolean (self, row, (guint) column);
}

GBytes *
ep_db_result_get_bytes_by_name (EpDbResult *self, guint row, const char *name)
{
	gint column = ep_db_result_column_or_warn (self, name);
	return column < 0 ? NULL : ep_db_result_get_bytes (self, row, (guint) column);
}
