/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdarg.h>

#include "ep-db-private.h"

/* the type the server gives a value it receives in binary */
#define EP_DB_OID_BYTEA 17

typedef struct {
	char *text;   /* NULL with @bytes NULL: SQL NULL */
	GBytes *bytes;
} EpDbParam;

struct _EpDbParams {
	gint ref_count;
	GArray *items; /* EpDbParam */
	gboolean binary_results;
	gboolean sealed;
	/* built when sealed, pointing into @items */
	const char **values;
	int *lengths;
	int *formats;
	Oid *types;
};

G_DEFINE_BOXED_TYPE (EpDbParams, ep_db_params, ep_db_params_ref, ep_db_params_unref)

static void
ep_db_param_clear (gpointer data)
{
	EpDbParam *p = data;
	g_free (p->text);
	g_clear_pointer (&p->bytes, g_bytes_unref);
}

EpDbParams *
ep_db_params_new (void)
{
	EpDbParams *self = g_new0 (EpDbParams, 1);
	self->ref_count = 1;
	self->items = g_array_new (FALSE, TRUE, sizeof (EpDbParam));
	g_array_set_clear_func (self->items, ep_db_param_clear);
	return self;
}

/**
 * ep_db_params_new_text:
 * @first_value: the first value, then more, then %NULL
 *
 * Parameters that are all text, none SQL NULL.
 */
EpDbParams *
ep_db_params_new_text (const char *first_value, ...)
{
	EpDbParams *self = ep_db_params_new ();
	va_list args;

	va_start (args, first_value);
	for (const char *v = first_value; v != NULL; v = va_arg (args, const char *))
		ep_db_params_add_text (self, v);
	va_end (args);
	return self;
}

EpDbParams *
ep_db_params_ref (EpDbParams *self)
{
	g_return_val_if_fail (self != NULL, NULL);
	g_atomic_int_inc (&self->ref_count);
	return self;
}

void
ep_db_params_unref (EpDbParams *self)
{
	g_return_if_fail (self != NULL);
	if (!g_atomic_int_dec_and_test (&self->ref_count))
		return;
	g_array_unref (self->items);
	g_free (self->values);
	g_free (self->lengths);
	g_free (self->formats);
	g_free (self->types);
	g_free (self);
}

static EpDbParam *
ep_db_params_append (EpDbParams *self)
{
	EpDbParam blank = { 0 };

	g_array_append_val (self->items, blank);
	return &g_array_index (self->items, EpDbParam, self->items->len - 1);
}

/**
 * ep_db_params_add_text:
 * @value: (nullable): the value, or %NULL for SQL NULL
 */
void
ep_db_params_add_text (EpDbParams *self, const char *value)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	ep_db_params_append (self)->text = g_strdup (value);
}

void
ep_db_params_add_int64 (EpDbParams *self, gint64 value)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	ep_db_params_append (self)->text = g_strdup_printf ("%" G_GINT64_FORMAT, value);
}

void
ep_db_params_add_boolean (EpDbParams *self, gboolean value)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	ep_db_params_append (self)->text = g_strdup (value ? "t" : "f");
}

/**
 * ep_db_params_add_bytes:
 * @value: (nullable): the bytes, sent in binary as bytea, or %NULL for SQL
 *   NULL
 */
void
ep_db_params_add_bytes (EpDbParams *self, GBytes *value)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	if (value == NULL) {
		ep_db_params_append (self);
		return;
	}
	ep_db_params_append (self)->bytes = g_bytes_ref (value);
}

void
ep_db_params_add_null (EpDbParams *self)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	ep_db_params_append (self);
}

guint
ep_db_params_get_length (EpDbParams *self)
{
	g_return_val_if_fail (self != NULL, 0);
	return self->items->len;
}

void
ep_db_params_set_binary_results (EpDbParams *self, gboolean binary)
{
	g_return_if_fail (self != NULL);
	g_return_if_fail (!self->sealed);
	self->binary_results = binary;
}

/* Freezes the values and builds the arrays libpq takes. */
void
ep_db_params_seal (EpDbParams *self)
{
	guint n = self->items->len;

	if (self->sealed)
		return;
	self->sealed = TRUE;
	self->values = g_new0 (const char *, n + 1);
	self->lengths = g_new0 (int, n + 1);
	self->formats = g_new0 (int, n + 1);
	self->types = g_new0 (Oid, n + 1);
	for (guint i = 0; i < n; i++) {
		EpDbParam *p = &g_array_index (self->items, EpDbParam, i);
		if (p->bytes != NULL) {
			gsize len = 0;
			const char *data = g_bytes_get_data (p->bytes, &len);
			/* libpq wants a non-NULL pointer for a non-NULL value */
			self->values[i] = data != NULL ? data : "";
			self->lengths[i] = (int) len;
			self->formats[i] = 1;
			self->types[i] = EP_DB_OID_BYTEA;
		} else {
			self->values[i] = p->text;
		}
	}
}

gboolean
ep_db_params_fits (EpDbParams *self, GError **error)
{
	for (guint i = 0; i < self->items->len; i++) {
		EpDbParam *p = &g_array_index (self->items, EpDbParam, i);
		if (p->bytes != NULL && g_bytes_get_size (p->bytes) > G_MAXINT32 / 2) {
			g_set_error (error, EP_ERROR, EP_ERROR_LIMIT,
				     "parameter $%u is %" G_GSIZE_FORMAT " bytes, more than the database takes in one value",
				     i + 1, g_bytes_get_size (p->bytes));
			return FALSE;
		}
	}
	if (self->items->len > 65535) {
		g_set_error (error, EP_ERROR, EP_ERROR_LIMIT, "%u parameters, more than the 65535 a statement takes",
			     self->items->len);
		return FALSE;
	}
	return TRUE;
}

void
ep_db_params_get_arrays (EpDbParams *self, int *n_params, const char *const **values, const int **lengths,
			 const int **formats, const Oid **types)
{
	ep_db_params_seal (self);
	*n_params = (int) self->items->len;
	*values = self->values;
	*lengths = self->lengths;
	*formats = self->formats;
	*types = self->types;
}

gboolean
ep_db_params_get_binary_results (EpDbParams *self)
{
	return self->binary_results;
}
