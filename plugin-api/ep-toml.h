/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * A strict TOML 1.0 parser.  The document becomes a tree of reference
 * counted, immutable-once-parsed values; each value remembers the file and
 * line it was defined on so that configuration errors can point at it.
 */

typedef enum {
	EP_TOML_STRING,
	EP_TOML_INTEGER,
	EP_TOML_FLOAT,
	EP_TOML_BOOLEAN,
	EP_TOML_DATETIME,       /* offset date-time, RFC 3339 */
	EP_TOML_DATETIME_LOCAL, /* local date-time */
	EP_TOML_DATE_LOCAL,     /* local date */
	EP_TOML_TIME_LOCAL,     /* local time */
	EP_TOML_ARRAY,
	EP_TOML_TABLE,
} EpTomlType;

/* Limits that keep a hostile document from using unbounded memory/stack. */
#define EP_TOML_MAX_DEPTH 128

typedef struct _EpTomlValue EpTomlValue;

EP_API G_GNUC_WARN_UNUSED_RESULT EpTomlValue *
ep_toml_parse (const char *data, gssize len, const char *filename, GError **error);

EP_API EpTomlValue *ep_toml_value_ref (EpTomlValue *value);
EP_API void         ep_toml_value_unref (EpTomlValue *value);

EP_API EpTomlType   ep_toml_value_get_kind (const EpTomlValue *value);
EP_API const char  *ep_toml_type_to_string (EpTomlType type);
EP_API const char  *ep_toml_value_get_filename (const EpTomlValue *value);
EP_API guint        ep_toml_value_get_line (const EpTomlValue *value);

EP_API const char  *ep_toml_value_get_string (const EpTomlValue *value);
/* TOML strings and keys may contain U+0000 ("\u0000"): these give the length */
EP_API const char  *ep_toml_value_get_string_len (const EpTomlValue *value, gsize *len);
EP_API gint64       ep_toml_value_get_integer (const EpTomlValue *value);
EP_API gdouble      ep_toml_value_get_float (const EpTomlValue *value);
EP_API gboolean     ep_toml_value_get_boolean (const EpTomlValue *value);

EP_API guint        ep_toml_value_array_length (const EpTomlValue *value);
EP_API EpTomlValue *ep_toml_value_array_index (const EpTomlValue *value, guint index);

EP_API guint        ep_toml_value_table_size (const EpTomlValue *value);
EP_API const char  *ep_toml_value_table_key_at (const EpTomlValue *value, guint index);
EP_API const char  *ep_toml_value_table_key_at_len (const EpTomlValue *value, guint index, gsize *len);
EP_API EpTomlValue *ep_toml_value_table_value_at (const EpTomlValue *value, guint index);
EP_API EpTomlValue *ep_toml_value_table_lookup (const EpTomlValue *value, const char *key);

EP_API EpTomlValue *ep_toml_value_new_table (const char *filename, guint line);
EP_API EpTomlValue *ep_toml_value_new_array (const char *filename, guint line);
EP_API EpTomlValue *ep_toml_value_new_string (const char *str, const char *filename, guint line);
EP_API void         ep_toml_value_table_set (EpTomlValue *table, const char *key, EpTomlValue *value);
EP_API gboolean     ep_toml_value_table_remove (EpTomlValue *table, const char *key);
EP_API void         ep_toml_value_array_append (EpTomlValue *array, EpTomlValue *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpTomlValue, ep_toml_value_unref)

G_END_DECLS
