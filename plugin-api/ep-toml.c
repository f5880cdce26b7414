/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A strict TOML 1.0 parser: a pure function from a buffer to a tree of
 * reference counted values.  The parser is a hand-written recursive descent
 * over the raw bytes; recursion only happens for arrays and inline tables
 * and is bounded by EP_TOML_MAX_DEPTH, like the depth of the whole tree.
 *
 * Besides the value, every node carries a few flags that only matter while
 * parsing: they record *how* a table came to exist, because TOML allows a
 * table to be extended or defined later depending on that:
 *
 *   IMPLICIT     created as the parent of a [header]; one later [header]
 *                may still define it
 *   HEADER       defined by a [header] or [[header]]
 *   DOTTED       created by a dotted key; only further dotted keys of the
 *                same table body may add to it, but [sub.headers] may
 *                be defined below it
 *   INLINE       an inline table: complete, nothing may be added to it
 *   TABLE_ARRAY  an array created by [[header]]: the only kind of array
 *                that [[header]] may append to
 */
#include "config.h"

#include "ep-toml.h"
#include "ep-error.h"

#include <math.h>
#include <string.h>

typedef enum {
	EP_TOML_FLAG_IMPLICIT = 1 << 0,
	EP_TOML_FLAG_HEADER = 1 << 1,
	EP_TOML_FLAG_DOTTED = 1 << 2,
	EP_TOML_FLAG_INLINE = 1 << 3,
	EP_TOML_FLAG_TABLE_ARRAY = 1 << 4,
} EpTomlFlags;

typedef struct {
	char *key; /* may contain NUL bytes (from \u0000); NUL-terminated too */
	gsize key_len;
	EpTomlValue *value;
} EpTomlEntry;

struct _EpTomlValue {
	gatomicrefcount ref_count;
	EpTomlType kind;
	guint flags;
	guint line;
	GRefString *filename; /* nullable */
	union {
		struct {
			char *str;
			gsize len;
		} text;
		gint64 integer;
		gdouble number;
		gboolean boolean;
		GPtrArray *array;
		struct {
			GPtrArray *entries;  /* of EpTomlEntry, in insertion order */
			GHashTable *index;   /* EpTomlEntry -> itself, by key */
		} table;
	} u;
};

/* ------------------------------------------------------------------------ */
/* values                                                                   */
/* ------------------------------------------------------------------------ */

static guint
ep_toml_entry_hash (gconstpointer data)
{
	const EpTomlEntry *entry = data;
	guint32 hash = 5381;

	for (gsize i = 0; i < entry->key_len; i++)
		hash = hash * 33 + (guchar) entry->key[i];
	return hash;
}

static gboolean
ep_toml_entry_equal (gconstpointer a, gconstpointer b)
{
	const EpTomlEntry *ea = a;
	const EpTomlEntry *eb = b;

	return ea->key_len == eb->key_len && memcmp (ea->key, eb->key, ea->key_len) == 0;
}

static void
ep_toml_entry_free (gpointer data)
{
	EpTomlEntry *entry = data;

	g_free (entry->key);
	ep_toml_value_unref (entry->value);
	g_free (entry);
}

static void
ep_toml_value_unref_cb (gpointer data)
{
	ep_toml_value_unref (data);
}

static gboolean
ep_toml_type_is_text (EpTomlType kind)
{
	return kind == EP_TOML_STRING || kind == EP_TOML_DATETIME || kind == EP_TOML_DATETIME_LOCAL ||
	       kind == EP_TOML_DATE_LOCAL || kind == EP_TOML_TIME_LOCAL;
}

static EpTomlValue *
ep_toml_value_new (EpTomlType kind, GRefString *filename, guint line)
{
	EpTomlValue *self = g_new0 (EpTomlValue, 1);

	g_atomic_ref_count_init (&self->ref_count);
	self->kind = kind;
	self->line = line;
	if (filename != NULL)
		self->filename = g_ref_string_acquire (filename);
	if (kind == EP_TOML_ARRAY) {
		self->u.array = g_ptr_array_new_with_free_func (ep_toml_value_unref_cb);
	} else if (kind == EP_TOML_TABLE) {
		self->u.table.entries = g_ptr_array_new_with_free_func (ep_toml_entry_free);
		self->u.table.index = g_hash_table_new (ep_toml_entry_hash, ep_toml_entry_equal);
	}
	return self;
}

static GRefString *
ep_toml_filename_new (const char *filename)
{
	return filename != NULL ? g_ref_string_new_intern (filename) : NULL;
}

/* takes ownership of @str */
static EpTomlValue *
ep_toml_value_new_text (EpTomlType kind, char *str, gsize len, GRefString *filename, guint line)
{
	EpTomlValue *self = ep_toml_value_new (kind, filename, line);

	self->u.text.str = str;
	self->u.text.len = len;
	return self;
}

static EpTomlEntry *
ep_toml_table_find (const EpTomlValue *table, const char *key, gsize key_len)
{
	EpTomlEntry probe = { (char *) key, key_len, NULL };

	return g_hash_table_lookup (table->u.table.index, &probe);
}

static EpTomlValue *
ep_toml_table_lookup_len (const EpTomlValue *table, const char *key, gsize key_len)
{
	EpTomlEntry *entry = ep_toml_table_find (table, key, key_len);

	return entry != NULL ? entry->value : NULL;
}

/* @key must not be in @table yet; takes ownership of @value */
static void
ep_toml_table_add (EpTomlValue *table, const char *key, gsize key_len, EpTomlValue *value)
{
	EpTomlEntry *entry = g_new0 (EpTomlEntry, 1);

	entry->key = g_malloc (key_len + 1);
	memcpy (entry->key, key, key_len);
	entry->key[key_len] = '\0';
	entry->key_len = key_len;
	entry->value = value;
	g_ptr_array_add (table->u.table.entries, entry);
	g_hash_table_add (table->u.table.index, entry);
}

/**
 * ep_toml_value_ref:
 * @value: a value
 *
 * Returns: (transfer full): @value
 */
EpTomlValue *
ep_toml_value_ref (EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, NULL);
	g_atomic_ref_count_inc (&value->ref_count);
	return value;
}

/**
 * ep_toml_value_unref:
 * @value: (transfer full): a value
 *
 * Drops a reference; the last one frees the value and its children.
 */
void
ep_toml_value_unref (EpTomlValue *value)
{
	g_return_if_fail (value != NULL);
	if (!g_atomic_ref_count_dec (&value->ref_count))
		return;
	if (ep_toml_type_is_text (value->kind)) {
		g_free (value->u.text.str);
	} else if (value->kind == EP_TOML_ARRAY) {
		g_ptr_array_unref (value->u.array);
	} else if (value->kind == EP_TOML_TABLE) {
		g_hash_table_unref (value->u.table.index);
		g_ptr_array_unref (value->u.table.entries);
	}
	if (value->filename != NULL)
		g_ref_string_release (value->filename);
	g_free (value);
}

EpTomlType
ep_toml_value_get_kind (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, EP_TOML_STRING);
	return value->kind;
}

/**
 * ep_toml_type_to_string:
 * @type: a type
 *
 * Returns: the name of @type for messages, e.g. "integer"
 */
const char *
ep_toml_type_to_string (EpTomlType type)
{
	switch (type) {
	case EP_TOML_STRING:
		return "string";
	case EP_TOML_INTEGER:
		return "integer";
	case EP_TOML_FLOAT:
		return "float";
	case EP_TOML_BOOLEAN:
		return "boolean";
	case EP_TOML_DATETIME:
		return "offset date-time";
	case EP_TOML_DATETIME_LOCAL:
		return "local date-time";
	case EP_TOML_DATE_LOCAL:
		return "local date";
	case EP_TOML_TIME_LOCAL:
		return "local time";
	case EP_TOML_ARRAY:
		return "array";
	case EP_TOML_TABLE:
		return "table";
	}
	return "unknown";
}

/* "an integer", "a table": for messages */
static const char *
ep_toml_type_with_article (EpTomlType type)
{
	switch (type) {
	case EP_TOML_STRING:
		return "a string";
	case EP_TOML_INTEGER:
		return "an integer";
	case EP_TOML_FLOAT:
		return "a float";
	case EP_TOML_BOOLEAN:
		return "a boolean";
	case EP_TOML_DATETIME:
		return "an offset date-time";
	case EP_TOML_DATETIME_LOCAL:
		return "a local date-time";
	case EP_TOML_DATE_LOCAL:
		return "a local date";
	case EP_TOML_TIME_LOCAL:
		return "a local time";
	case EP_TOML_ARRAY:
		return "an array";
	case EP_TOML_TABLE:
		return "a table";
	}
	return "a value";
}

/**
 * ep_toml_value_get_filename:
 * @value: a value
 *
 * Returns: (nullable): the name of the file @value was defined in
 */
const char *
ep_toml_value_get_filename (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, NULL);
	return value->filename;
}

/**
 * ep_toml_value_get_line:
 * @value: a value
 *
 * Returns: the line @value was defined on (its header's line for a table
 * defined by a header), counting from 1; 0 for the root table of a
 * document and for values built without a line.
 */
guint
ep_toml_value_get_line (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, 0);
	return value->line;
}

/**
 * ep_toml_value_get_string:
 * @value: a string or a date/time value
 *
 * For date and time values this is their normalised RFC 3339 text: 'T'
 * between date and time, upper case 'Z', the fractional seconds as written.
 * A TOML string may contain U+0000 (written "\u0000"), where the C string
 * ends early: see ep_toml_value_get_string_len().
 *
 * Returns: the text, NUL-terminated
 */
const char *
ep_toml_value_get_string (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (ep_toml_type_is_text (value->kind), NULL);
	return value->u.text.str;
}

/**
 * ep_toml_value_get_string_len:
 * @value: a string or a date/time value
 * @len: (out) (optional): the length in bytes
 *
 * Like ep_toml_value_get_string(), for text that may contain NUL bytes.
 *
 * Returns: the text, NUL-terminated
 */
const char *
ep_toml_value_get_string_len (const EpTomlValue *value, gsize *len)
{
	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (ep_toml_type_is_text (value->kind), NULL);
	if (len != NULL)
		*len = value->u.text.len;
	return value->u.text.str;
}

gint64
ep_toml_value_get_integer (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, 0);
	g_return_val_if_fail (value->kind == EP_TOML_INTEGER, 0);
	return value->u.integer;
}

gdouble
ep_toml_value_get_float (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, 0);
	g_return_val_if_fail (value->kind == EP_TOML_FLOAT, 0);
	return value->u.number;
}

gboolean
ep_toml_value_get_boolean (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, FALSE);
	g_return_val_if_fail (value->kind == EP_TOML_BOOLEAN, FALSE);
	return value->u.boolean;
}

guint
ep_toml_value_array_length (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, 0);
	g_return_val_if_fail (value->kind == EP_TOML_ARRAY, 0);
	return value->u.array->len;
}

/**
 * ep_toml_value_array_index:
 * @value: an array
 * @index: the position, less than its length
 *
 * Returns: (transfer none): the element
 */
EpTomlValue *
ep_toml_value_array_index (const EpTomlValue *value, guint index)
{
	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (value->kind == EP_TOML_ARRAY, NULL);
	g_return_val_if_fail (index < value->u.array->len, NULL);
	return g_ptr_array_index (value->u.array, index);
}

guint
ep_toml_value_table_size (const EpTomlValue *value)
{
	g_return_val_if_fail (value != NULL, 0);
	g_return_val_if_fail (value->kind == EP_TOML_TABLE, 0);
	return value->u.table.entries->len;
}

/**
 * ep_toml_value_table_key_at:
 * @value: a table
 * @index: the position, less than its size; keys keep the order in which
 *   they were defined
 *
 * Returns: the key at @index
 */
const char *
ep_toml_value_table_key_at (const EpTomlValue *value, guint index)
{
	return ep_toml_value_table_key_at_len (value, index, NULL);
}

/**
 * ep_toml_value_table_key_at_len:
 * @value: a table
 * @index: the position, less than its size
 * @len: (out) (optional): the length of the key in bytes
 *
 * Like ep_toml_value_table_key_at(), for keys that may contain NUL bytes.
 *
 * Returns: the key at @index, NUL-terminated
 */
const char *
ep_toml_value_table_key_at_len (const EpTomlValue *value, guint index, gsize *len)
{
	EpTomlEntry *entry;

	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (value->kind == EP_TOML_TABLE, NULL);
	g_return_val_if_fail (index < value->u.table.entries->len, NULL);
	entry = g_ptr_array_index (value->u.table.entries, index);
	if (len != NULL)
		*len = entry->key_len;
	return entry->key;
}

/**
 * ep_toml_value_table_value_at:
 * @value: a table
 * @index: the position, less than its size
 *
 * Returns: (transfer none): the value at @index
 */
EpTomlValue *
ep_toml_value_table_value_at (const EpTomlValue *value, guint index)
{
	EpTomlEntry *entry;

	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (value->kind == EP_TOML_TABLE, NULL);
	g_return_val_if_fail (index < value->u.table.entries->len, NULL);
	entry = g_ptr_array_index (value->u.table.entries, index);
	return entry->value;
}

/**
 * ep_toml_value_table_lookup:
 * @value: a table
 * @key: a key (one key, not a dotted path)
 *
 * Returns: (transfer none) (nullable): the value of @key
 */
EpTomlValue *
ep_toml_value_table_lookup (const EpTomlValue *value, const char *key)
{
	g_return_val_if_fail (value != NULL, NULL);
	g_return_val_if_fail (value->kind == EP_TOML_TABLE, NULL);
	g_return_val_if_fail (key != NULL, NULL);
	return ep_toml_table_lookup_len (value, key, strlen (key));
}

/**
 * ep_toml_value_new_table:
 * @filename: (nullable): where the table comes from
 * @line: its line, or 0
 *
 * Returns: (transfer full): a new empty table
 */
EpTomlValue *
ep_toml_value_new_table (const char *filename, guint line)
{
	g_autoptr(GRefString) name = ep_toml_filename_new (filename);

	return ep_toml_value_new (EP_TOML_TABLE, name, line);
}

/**
 * ep_toml_value_new_array:
 * @filename: (nullable): where the array comes from
 * @line: its line, or 0
 *
 * Returns: (transfer full): a new empty array
 */
EpTomlValue *
ep_toml_value_new_array (const char *filename, guint line)
{
	g_autoptr(GRefString) name = ep_toml_filename_new (filename);

	return ep_toml_value_new (EP_TOML_ARRAY, name, line);
}

/**
 * ep_toml_value_new_string:
 * @str: the text
 * @filename: (nullable): where the string comes from
 * @line: its line, or 0
 *
 * Returns: (transfer full): a new string value
 */
EpTomlValue *
ep_toml_value_new_string (const char *str, const char *filename, guint line)
{
	g_autoptr(GRefString) name = ep_toml_filename_new (filename);

	g_return_val_if_fail (str != NULL, NULL);
	return ep_toml_value_new_text (EP_TOML_STRING, g_strdup (str), strlen (str), name, line);
}

/**
 * ep_toml_value_table_set:
 * @table: a table
 * @key: the key
 * @value: (transfer full): its new value
 *
 * Sets @key; a key that already exists keeps its position.
 */
void
ep_toml_value_table_set (EpTomlValue *table, const char *key, EpTomlValue *value)
{
	EpTomlEntry *entry;

	g_return_if_fail (table != NULL);
	g_return_if_fail (table->kind == EP_TOML_TABLE);
	g_return_if_fail (key != NULL);
	g_return_if_fail (value != NULL);
	entry = ep_toml_table_find (table, key, strlen (key));
	if (entry != NULL) {
		ep_toml_value_unref (entry->value);
		entry->value = value;
		return;
	}
	ep_toml_table_add (table, key, strlen (key), value);
}

/**
 * ep_toml_value_table_remove:
 * @table: a table
 * @key: the key
 *
 * Returns: %TRUE if @key was there
 */
gboolean
ep_toml_value_table_remove (EpTomlValue *table, const char *key)
{
	EpTomlEntry *entry;

	g_return_val_if_fail (table != NULL, FALSE);
	g_return_val_if_fail (table->kind == EP_TOML_TABLE, FALSE);
	g_return_val_if_fail (key != NULL, FALSE);
	entry = ep_toml_table_find (table, key, strlen (key));
	if (entry == NULL)
		return FALSE;
	g_hash_table_remove (table->u.table.index, entry);
	g_ptr_array_remove (table->u.table.entries, entry);
	return TRUE;
}

/**
 * ep_toml_value_array_append:
 * @array: an array
 * @value: (transfer full): the new last element
 */
void
ep_toml_value_array_append (EpTomlValue *array, EpTomlValue *value)
{
	g_return_if_fail (array != NULL);
	g_return_if_fail (array->kind == EP_TOML_ARRAY);
	g_return_if_fail (value != NULL);
	g_ptr_array_add (array->u.array, value);
}

/* ------------------------------------------------------------------------ */
/* parser state and error reporting                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *data;
	gsize len;
	gsize pos;
	guint line;
	GRefString *filename;
	EpTomlValue *root;
	EpTomlValue *table; /* where key/values go: the last header's table */
	guint table_depth;
	char *table_path; /* the last header's key, for messages */
} EpTomlParser;

static void
ep_toml_parser_clear (EpTomlParser *self)
{
	g_clear_pointer (&self->filename, g_ref_string_release);
	g_clear_pointer (&self->root, ep_toml_value_unref);
	g_clear_pointer (&self->table_path, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EpTomlParser, ep_toml_parser_clear)

static void
ep_toml_gstring_free (gpointer data)
{
	g_string_free (data, TRUE);
}

static gboolean ep_toml_fail (EpTomlParser *self, guint line, GError **error, const char *format, ...)
	G_GNUC_PRINTF (4, 5);

/* sets @error to "FILENAME:LINE: message" and returns FALSE */
static gboolean
ep_toml_fail (EpTomlParser *self, guint line, GError **error, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s:%u: %s", self->filename, line, message);
	return FALSE;
}

static gboolean
ep_toml_fail_depth (EpTomlParser *self, guint line, GError **error)
{
	return ep_toml_fail (self, line, error, "nesting too deep (more than %d levels)", EP_TOML_MAX_DEPTH);
}

/* the byte at pos + @offset; 0 at the end (the input has no NUL bytes) */
static inline char
ep_toml_peek (const EpTomlParser *self, gsize offset)
{
	if (self->pos + offset >= self->len)
		return '\0';
	return self->data[self->pos + offset];
}

static inline gboolean
ep_toml_at_end (const EpTomlParser *self)
{
	return self->pos >= self->len;
}

static gboolean
ep_toml_is_control (guchar c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static gboolean
ep_toml_is_bare_key_char (char c)
{
	return g_ascii_isalnum (c) || c == '_' || c == '-';
}

/* what is at the current position, for "expected X, found Y" */
static char *
ep_toml_describe_here (const EpTomlParser *self)
{
	const char *p = self->data + self->pos;
	gunichar c;

	if (ep_toml_at_end (self))
		return g_strdup ("end of file");
	if (*p == '\n' || (*p == '\r' && ep_toml_peek (self, 1) == '\n'))
		return g_strdup ("end of line");
	if (*p == '\r')
		return g_strdup ("a carriage return without a line feed");
	c = g_utf8_get_char (p);
	if (c == '\'')
		return g_strdup ("\"'\"");
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
		return g_strdup_printf ("control character U+%04X", c);
	if (c == 0xfeff)
		return g_strdup ("a byte order mark (U+FEFF)");
	if (c < 0x80 || g_unichar_isgraph (c))
		return g_strdup_printf ("'%.*s'", (int) (g_utf8_next_char (p) - p), p);
	return g_strdup_printf ("U+%04X", c);
}

/* appends @key to a dotted path for messages, quoted if it is not bare */
static void
ep_toml_path_append (GString *path, const char *key, gsize len)
{
	gboolean bare = len > 0;

	for (gsize i = 0; i < len && bare; i++)
		bare = ep_toml_is_bare_key_char (key[i]);
	if (path->len > 0)
		g_string_append_c (path, '.');
	if (bare) {
		g_string_append_len (path, key, len);
		return;
	}
	g_string_append_c (path, '"');
	for (gsize i = 0; i < len; i++) {
		guchar c = key[i];
		if (c == '"' || c == '\\')
			g_string_append_printf (path, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			g_string_append_printf (path, "\\u%04X", c);
		else
			g_string_append_c (path, c);
	}
	g_string_append_c (path, '"');
}

static GString *
ep_toml_path_new (const char *prefix, GPtrArray *parts, guint count)
{
	GString *path = g_string_new (prefix);

	for (guint i = 0; i < count; i++) {
		GString *part = g_ptr_array_index (parts, i);
		ep_toml_path_append (path, part->str, part->len);
	}
	return path;
}

/* ------------------------------------------------------------------------ */
/* whitespace, comments, newlines                                           */
/* ------------------------------------------------------------------------ */

static void
ep_toml_skip_ws (EpTomlParser *self)
{
	while (!ep_toml_at_end (self) && (self->data[self->pos] == ' ' || self->data[self->pos] == '\t'))
		self->pos++;
}

static gboolean
ep_toml_accept_newline (EpTomlParser *self)
{
	char c = ep_toml_peek (self, 0);

	if (c == '\n') {
		self->pos++;
		self->line++;
		return TRUE;
	}
	if (c == '\r' && ep_toml_peek (self, 1) == '\n') {
		self->pos += 2;
		self->line++;
		return TRUE;
	}
	return FALSE;
}

/* skips a comment, if there is one, up to (not including) the newline */
static gboolean
ep_toml_skip_comment (EpTomlParser *self, GError **error)
{
	if (ep_toml_peek (self, 0) != '#')
		return TRUE;
	self->pos++;
	while (!ep_toml_at_end (self)) {
		guchar c = self->data[self->pos];
		if (c == '\n' || (c == '\r' && ep_toml_peek (self, 1) == '\n'))
			break;
		if (c == '\r')
			return ep_toml_fail (self, self->line, error,
					     "carriage return without a line feed in a comment");
		if (ep_toml_is_control (c))
			return ep_toml_fail (self, self->line, error,
					     "control character U+%04X is not allowed in a comment", c);
		self->pos++;
	}
	return TRUE;
}

/* inside arrays: any mix of whitespace, comments and newlines */
static gboolean
ep_toml_skip_ws_comments_newlines (EpTomlParser *self, GError **error)
{
	while (TRUE) {
		ep_toml_skip_ws (self);
		if (!ep_toml_skip_comment (self, error))
			return FALSE;
		if (!ep_toml_accept_newline (self))
			return TRUE;
	}
}

/* after a key/value or a header: whitespace, a comment, then a newline */
static gboolean
ep_toml_expect_line_end (EpTomlParser *self, const char *after, GError **error)
{
	g_autofree char *found = NULL;

	ep_toml_skip_ws (self);
	if (!ep_toml_skip_comment (self, error))
		return FALSE;
	if (ep_toml_at_end (self) || ep_toml_accept_newline (self))
		return TRUE;
	found = ep_toml_describe_here (self);
	return ep_toml_fail (self, self->line, error, "expected end of line after %s, found %s", after, found);
}

/* ------------------------------------------------------------------------ */
/* strings                                                                  */
/* ------------------------------------------------------------------------ */

static gboolean
ep_toml_parse_unicode_escape (EpTomlParser *self, GString *out, GError **error)
{
	char letter = ep_toml_peek (self, 1);
	guint ndigits = letter == 'u' ? 4 : 8;
	guint32 cp = 0;

	for (guint i = 0; i < ndigits; i++) {
		int digit = g_ascii_xdigit_value (ep_toml_peek (self, 2 + i));
		if (digit < 0)
			return ep_toml_fail (self, self->line, error,
					     "invalid escape sequence: \\%c must be followed by %u hexadecimal digits",
					     letter, ndigits);
		cp = cp * 16 + (guint32) digit;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return ep_toml_fail (self, self->line, error,
				     "invalid escape sequence \\%c%.*s: U+%04X is not a Unicode scalar value",
				     letter, (int) ndigits, self->data + self->pos + 2, cp);
	g_string_append_unichar (out, cp);
	self->pos += 2 + ndigits;
	return TRUE;
}

/* at a backslash inside a basic string */
static gboolean
ep_toml_parse_escape (EpTomlParser *self, GString *out, gboolean multiline, GError **error)
{
	char c = ep_toml_peek (self, 1);
	const char *simple = NULL;
	g_autofree char *found = NULL;

	switch (c) {
	case 'b':
		simple = "\b";
		break;
	case 't':
		simple = "\t";
		break;
	case 'n':
		simple = "\n";
		break;
	case 'f':
		simple = "\f";
		break;
	case 'r':
		simple = "\r";
		break;
	case '"':
		simple = "\"";
		break;
	case '\\':
		simple = "\\";
		break;
	case 'u':
	case 'U':
		return ep_toml_parse_unicode_escape (self, out, error);
	default:
		break;
	}
	if (simple != NULL) {
		g_string_append_c (out, simple[0]);
		self->pos += 2;
		return TRUE;
	}

	/* a line-ending backslash trims all whitespace up to the next text */
	if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
		self->pos++;
		ep_toml_skip_ws (self);
		if (!ep_toml_accept_newline (self)) {
			found = ep_toml_describe_here (self);
			return ep_toml_fail (self, self->line, error,
					     "a backslash followed by whitespace must end the line, found %s",
					     found);
		}
		do
			ep_toml_skip_ws (self);
		while (ep_toml_accept_newline (self));
		return TRUE;
	}

	self->pos++;
	found = ep_toml_describe_here (self);
	return ep_toml_fail (self, self->line, error, "invalid escape sequence: backslash followed by %s", found);
}

static gboolean
ep_toml_fail_string_char (EpTomlParser *self, guchar c, gboolean literal, GError **error)
{
	if (c == '\r')
		return ep_toml_fail (self, self->line, error, "carriage return without a line feed in a string");
	if (literal)
		return ep_toml_fail (self, self->line, error,
				     "control character U+%04X is not allowed in a literal string", c);
	return ep_toml_fail (self, self->line, error, "control character U+%04X must be escaped in a string",
			     c);
}

/* "..." or '...': @quote is the delimiter, escapes only in basic strings */
static gboolean
ep_toml_parse_string (EpTomlParser *self, GString *out, GError **error)
{
	char quote = self->data[self->pos];
	gboolean literal = quote == '\'';

	self->pos++;
	while (TRUE) {
		guchar c;
		if (ep_toml_at_end (self))
			return ep_toml_fail (self, self->line, error, "unterminated string");
		c = self->data[self->pos];
		if (c == (guchar) quote) {
			self->pos++;
			return TRUE;
		}
		if (c == '\n' || (c == '\r' && ep_toml_peek (self, 1) == '\n'))
			return ep_toml_fail (self, self->line, error,
					     "unterminated string (use %c%c%c for strings of several lines)",
					     quote, quote, quote);
		if (c == '\\' && !literal) {
			if (!ep_toml_parse_escape (self, out, FALSE, error))
				return FALSE;
			continue;
		}
		if (ep_toml_is_control (c))
			return ep_toml_fail_string_char (self, c, literal, error);
		g_string_append_c (out, c);
		self->pos++;
	}
}

/* """...""" or '''...''' */
static gboolean
ep_toml_parse_multiline_string (EpTomlParser *self, GString *out, GError **error)
{
	char quote = self->data[self->pos];
	gboolean literal = quote == '\'';
	guint start_line = self->line;

	self->pos += 3;
	/* a newline right after the opening delimiter is trimmed */
	ep_toml_accept_newline (self);
	while (TRUE) {
		guchar c;
		if (ep_toml_at_end (self))
			return ep_toml_fail (self, self->line, error,
					     "unterminated multi-line string (opened on line %u)", start_line);
		c = self->data[self->pos];
		if (c == (guchar) quote) {
			gsize n = 0;
			while (ep_toml_peek (self, n) == quote)
				n++;
			if (n < 3) {
				g_string_append_len (out, self->data + self->pos, n);
				self->pos += n;
				continue;
			}
			/* up to two quotes may directly precede the closing ones */
			if (n > 5)
				return ep_toml_fail (self, self->line, error,
						     "too many %s in a row: at most two may precede the closing %c%c%c",
						     literal ? "apostrophes" : "quotation marks", quote, quote, quote);
			g_string_append_len (out, self->data + self->pos, n - 3);
			self->pos += n;
			return TRUE;
		}
		if (c == '\\' && !literal) {
			if (!ep_toml_parse_escape (self, out, TRUE, error))
				return FALSE;
			continue;
		}
		if (ep_toml_accept_newline (self)) {
			g_string_append_c (out, '\n');
			continue;
		}
		if (ep_toml_is_control (c))
			return ep_toml_fail_string_char (self, c, literal, error);
		g_string_append_c (out, c);
		self->pos++;
	}
}

/* ------------------------------------------------------------------------ */
/* keys                                                                     */
/* ------------------------------------------------------------------------ */

static gboolean
ep_toml_parse_simple_key (EpTomlParser *self, GPtrArray *parts, GError **error)
{
	char c = ep_toml_peek (self, 0);
	gsize start = self->pos;
	g_autoptr(GString) key = NULL;

	if (c == '"' || c == '\'') {
		if (ep_toml_peek (self, 1) == c && ep_toml_peek (self, 2) == c)
			return ep_toml_fail (self, self->line, error, "a multi-line string cannot be a key");
		key = g_string_new (NULL);
		if (!ep_toml_parse_string (self, key, error))
			return FALSE;
		g_ptr_array_add (parts, g_steal_pointer (&key));
		return TRUE;
	}
	while (ep_toml_is_bare_key_char (ep_toml_peek (self, 0)))
		self->pos++;
	if (self->pos == start) {
		g_autofree char *found = ep_toml_describe_here (self);
		return ep_toml_fail (self, self->line, error, "expected a key, found %s", found);
	}
	g_ptr_array_add (parts, g_string_new_len (self->data + start, self->pos - start));
	return TRUE;
}

/* key = simple-key *( ws "." ws simple-key ), into @parts (of GString) */
static gboolean
ep_toml_parse_key (EpTomlParser *self, GPtrArray *parts, GError **error)
{
	if (!ep_toml_parse_simple_key (self, parts, error))
		return FALSE;
	while (TRUE) {
		ep_toml_skip_ws (self);
		if (ep_toml_peek (self, 0) != '.')
			return TRUE;
		if (parts->len >= EP_TOML_MAX_DEPTH)
			return ep_toml_fail_depth (self, self->line, error);
		self->pos++;
		ep_toml_skip_ws (self);
		if (!ep_toml_parse_simple_key (self, parts, error))
			return FALSE;
	}
}

/* ------------------------------------------------------------------------ */
/* numbers, booleans, dates and times                                       */
/* ------------------------------------------------------------------------ */

static gboolean
ep_toml_is_token_char (char c)
{
	return g_ascii_isalnum (c) || c == '_' || c == '+' || c == '-' || c == '.' || c == ':';
}

static char
ep_toml_char_at (const char *tok, gsize n, gsize i)
{
	return i < n ? tok[i] : '\0';
}

/* exactly @count decimal digits at @i */
static gboolean
ep_toml_read_digits (const char *tok, gsize n, gsize i, guint count, guint *out)
{
	guint value = 0;

	if (i + count > n)
		return FALSE;
	for (guint k = 0; k < count; k++) {
		if (!g_ascii_isdigit (tok[i + k]))
			return FALSE;
		value = value * 10 + (guint) (tok[i + k] - '0');
	}
	*out = value;
	return TRUE;
}

/* DIGIT *( DIGIT / "_" DIGIT ), digits only appended to @clean */
static const char *
ep_toml_scan_digits (const char *tok, gsize n, gsize *i, GString *clean)
{
	if (*i >= n || !g_ascii_isdigit (tok[*i]))
		return "expected a digit";
	while (*i < n) {
		char c = tok[*i];
		if (g_ascii_isdigit (c)) {
			g_string_append_c (clean, c);
		} else if (c == '_') {
			if (*i + 1 >= n || !g_ascii_isdigit (tok[*i + 1]))
				return "an underscore must be between two digits";
		} else {
			break;
		}
		(*i)++;
	}
	return NULL;
}

/* after an optional sign, a decimal integer part: "0" or no leading zero */
static const char *
ep_toml_scan_integer_part (const char *tok, gsize n, gsize *i, GString *clean)
{
	if (*i < n && tok[*i] == '0' && *i + 1 < n && (g_ascii_isdigit (tok[*i + 1]) || tok[*i + 1] == '_'))
		return "leading zeros are not allowed";
	return ep_toml_scan_digits (tok, n, i, clean);
}

static const char *
ep_toml_parse_decimal (const char *tok, gsize n, gint64 *out)
{
	g_autoptr(GString) clean = g_string_new (NULL);
	gboolean negative = FALSE;
	guint64 magnitude = 0;
	guint64 limit;
	const char *reason;
	gsize i = 0;

	if (tok[0] == '+' || tok[0] == '-') {
		negative = tok[0] == '-';
		i++;
	}
	reason = ep_toml_scan_integer_part (tok, n, &i, clean);
	if (reason != NULL)
		return reason;
	if (i < n)
		return "unexpected character";
	limit = negative ? (guint64) G_MAXINT64 + 1 : (guint64) G_MAXINT64;
	for (gsize k = 0; k < clean->len; k++) {
		guint digit = (guint) (clean->str[k] - '0');
		if (magnitude > (limit - digit) / 10)
			return "out of range for a 64-bit integer";
		magnitude = magnitude * 10 + digit;
	}
	if (negative)
		*out = magnitude == 0 ? 0 : -(gint64) (magnitude - 1) - 1;
	else
		*out = (gint64) magnitude;
	return NULL;
}

/* 0x, 0o, 0b */
static const char *
ep_toml_parse_radix (const char *tok, gsize n, gint64 *out)
{
	guint base = tok[1] == 'x' ? 16 : tok[1] == 'o' ? 8 : 2;
	guint64 magnitude = 0;

	if (n == 2)
		return "expected digits after the prefix";
	for (gsize i = 2; i < n; i++) {
		int digit;
		if (tok[i] == '_') {
			if (i == 2 || tok[i - 1] == '_' || i + 1 == n)
				return "an underscore must be between two digits";
			continue;
		}
		digit = g_ascii_xdigit_value (tok[i]);
		if (digit < 0 || (guint) digit >= base)
			return "invalid digit";
		if (magnitude > ((guint64) G_MAXINT64 - (guint) digit) / base)
			return "out of range for a 64-bit integer";
		magnitude = magnitude * base + (guint) digit;
	}
	*out = (gint64) magnitude;
	return NULL;
}

static const char *
ep_toml_parse_float_text (const char *tok, gsize n, gdouble *out)
{
	g_autoptr(GString) clean = g_string_new (NULL);
	const char *reason;
	gsize i = 0;
	char *end = NULL;

	if (tok[0] == '+' || tok[0] == '-') {
		g_string_append_c (clean, tok[0]);
		i++;
	}
	if (n - i == 3 && memcmp (tok + i, "inf", 3) == 0) {
		*out = tok[0] == '-' ? -INFINITY : INFINITY;
		return NULL;
	}
	if (n - i == 3 && memcmp (tok + i, "nan", 3) == 0) {
		*out = tok[0] == '-' ? -NAN : NAN;
		return NULL;
	}
	reason = ep_toml_scan_integer_part (tok, n, &i, clean);
	if (reason != NULL)
		return reason;
	if (i < n && tok[i] == '.') {
		g_string_append_c (clean, '.');
		i++;
		if (ep_toml_scan_digits (tok, n, &i, clean) != NULL)
			return "the decimal point must be followed by digits";
	}
	if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
		g_string_append_c (clean, 'e');
		i++;
		if (i < n && (tok[i] == '+' || tok[i] == '-'))
			g_string_append_c (clean, tok[i++]);
		if (ep_toml_scan_digits (tok, n, &i, clean) != NULL)
			return "the exponent must be digits";
	}
	if (i < n)
		return "unexpected character";
	*out = g_ascii_strtod (clean->str, &end);
	if (end == NULL || *end != '\0')
		return "not a number";
	if (isinf (*out))
		return "out of range for a 64-bit float";
	return NULL;
}

static guint
ep_toml_days_in_month (guint year, guint month)
{
	static const guint days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return 29;
	return days[month - 1];
}

static const char *const ep_toml_month_names[] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

/* dates, date-times and times; @text receives the normalised form */
static gboolean
ep_toml_parse_datetime (EpTomlParser *self, const char *tok, gsize n, gboolean has_date, GString *text,
			EpTomlType *kind, GError **error)
{
	const char *what = has_date ? "date-time" : "time";
	guint year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
	gsize i = 0;
	int shown = (int) MIN (n, 64);

	if (has_date) {
		if (!ep_toml_read_digits (tok, n, 0, 4, &year) || ep_toml_char_at (tok, n, 4) != '-' ||
		    !ep_toml_read_digits (tok, n, 5, 2, &month) || ep_toml_char_at (tok, n, 7) != '-' ||
		    !ep_toml_read_digits (tok, n, 8, 2, &day))
			return ep_toml_fail (self, self->line, error, "invalid date '%.*s': expected YYYY-MM-DD",
					     shown, tok);
		if (month < 1 || month > 12)
			return ep_toml_fail (self, self->line, error, "invalid date '%.*s': no month %u", shown,
					     tok, month);
		if (day < 1 || day > ep_toml_days_in_month (year, month))
			return ep_toml_fail (self, self->line, error,
					     "invalid date '%.*s': %s %04u has no day %u", shown, tok,
					     ep_toml_month_names[month - 1], year, day);
		g_string_append_len (text, tok, 10);
		i = 10;
		if (i == n) {
			*kind = EP_TOML_DATE_LOCAL;
			return TRUE;
		}
		if (tok[i] != 'T' && tok[i] != 't' && tok[i] != ' ')
			return ep_toml_fail (self, self->line, error,
					     "invalid date-time '%.*s': expected 'T' between date and time", shown,
					     tok);
		g_string_append_c (text, 'T');
		i++;
	}

	if (!ep_toml_read_digits (tok, n, i, 2, &hour) || ep_toml_char_at (tok, n, i + 2) != ':' ||
	    !ep_toml_read_digits (tok, n, i + 3, 2, &minute) || ep_toml_char_at (tok, n, i + 5) != ':' ||
	    !ep_toml_read_digits (tok, n, i + 6, 2, &second))
		return ep_toml_fail (self, self->line, error,
				     "invalid %s '%.*s': expected HH:MM:SS (seconds are required)", what, shown, tok);
	if (hour > 23 || minute > 59 || second > 60)
		return ep_toml_fail (self, self->line, error, "invalid %s '%.*s': %02u:%02u:%02u is out of range",
				     what, shown, tok, hour, minute, second);
	g_string_append_len (text, tok + i, 8);
	i += 8;
	if (ep_toml_char_at (tok, n, i) == '.') {
		gsize start = i;
		i++;
		while (i < n && g_ascii_isdigit (tok[i]))
			i++;
		if (i == start + 1)
			return ep_toml_fail (self, self->line, error,
					     "invalid %s '%.*s': expected digits after the decimal point", what,
					     shown, tok);
		g_string_append_len (text, tok + start, i - start);
	}

	if (has_date && i < n) {
		guint offset_hour = 0, offset_minute = 0;
		if (tok[i] == 'Z' || tok[i] == 'z') {
			g_string_append_c (text, 'Z');
			i++;
		} else if (tok[i] == '+' || tok[i] == '-') {
			if (!ep_toml_read_digits (tok, n, i + 1, 2, &offset_hour) ||
			    ep_toml_char_at (tok, n, i + 3) != ':' ||
			    !ep_toml_read_digits (tok, n, i + 4, 2, &offset_minute))
				return ep_toml_fail (self, self->line, error,
						     "invalid date-time '%.*s': expected a time offset like +01:00",
						     shown, tok);
			if (offset_hour > 23 || offset_minute > 59)
				return ep_toml_fail (self, self->line, error,
						     "invalid date-time '%.*s': time offset out of range", shown, tok);
			g_string_append_len (text, tok + i, 6);
			i += 6;
		}
		*kind = EP_TOML_DATETIME;
	} else {
		*kind = has_date ? EP_TOML_DATETIME_LOCAL : EP_TOML_TIME_LOCAL;
	}
	if (i < n)
		return ep_toml_fail (self, self->line, error, "invalid %s '%.*s': unexpected '%c'",
				     what, shown, tok, tok[i]);
	return TRUE;
}

/* booleans, numbers, dates and times: everything not quoted or bracketed */
static gboolean
ep_toml_parse_bare_value (EpTomlParser *self, EpTomlValue **out, GError **error)
{
	gsize start = self->pos;
	const char *tok = self->data + start;
	const char *reason = NULL;
	gboolean is_date = FALSE;
	gboolean is_radix;
	gsize n;
	int shown;

	while (ep_toml_is_token_char (ep_toml_peek (self, 0)))
		self->pos++;
	/* "1979-05-27 07:32:00": a space may separate date and time */
	if (self->pos - start == 10 && tok[4] == '-' && tok[7] == '-' && ep_toml_peek (self, 0) == ' ' &&
	    g_ascii_isdigit (ep_toml_peek (self, 1)) && g_ascii_isdigit (ep_toml_peek (self, 2)) &&
	    ep_toml_peek (self, 3) == ':') {
		self->pos++;
		while (ep_toml_is_token_char (ep_toml_peek (self, 0)))
			self->pos++;
	}
	n = self->pos - start;
	shown = (int) MIN (n, 64);
	if (n == 0) {
		g_autofree char *found = ep_toml_describe_here (self);
		return ep_toml_fail (self, self->line, error, "expected a value, found %s", found);
	}

	if ((n == 4 && memcmp (tok, "true", 4) == 0) || (n == 5 && memcmp (tok, "false", 5) == 0)) {
		*out = ep_toml_value_new (EP_TOML_BOOLEAN, self->filename, self->line);
		(*out)->u.boolean = n == 4;
		return TRUE;
	}

	/* a digit then a '-' after a digit is a date (numbers only have
	 * signs at the start or after an 'e'), a digit and a ':' a time */
	for (gsize i = 1; i < n && g_ascii_isdigit (tok[0]) && !is_date; i++)
		is_date = tok[i] == '-' && g_ascii_isdigit (tok[i - 1]);
	if (is_date || (g_ascii_isdigit (tok[0]) && memchr (tok, ':', n) != NULL)) {
		g_autoptr(GString) text = g_string_new (NULL);
		EpTomlType kind = EP_TOML_DATETIME;
		gsize len;
		if (!ep_toml_parse_datetime (self, tok, n, is_date, text, &kind, error))
			return FALSE;
		len = text->len;
		*out = ep_toml_value_new_text (kind, g_string_free (g_steal_pointer (&text), FALSE), len,
					       self->filename, self->line);
		return TRUE;
	}

	if (!g_ascii_isdigit (tok[0]) && tok[0] != '+' && tok[0] != '-' &&
	    !(n == 3 && (memcmp (tok, "inf", 3) == 0 || memcmp (tok, "nan", 3) == 0))) {
		return ep_toml_fail (self, self->line, error, "invalid value '%.*s'%s", shown, tok,
				     g_ascii_isalpha (tok[0]) ? " (strings must be quoted)" : "");
	}

	is_radix = n >= 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b');
	if (is_radix || ((tok[0] == '+' || tok[0] == '-') && n >= 3 && tok[1] == '0' &&
			 (tok[2] == 'x' || tok[2] == 'o' || tok[2] == 'b'))) {
		gint64 value = 0;
		if (!is_radix)
			reason = "hexadecimal, octal and binary integers cannot have a sign";
		else
			reason = ep_toml_parse_radix (tok, n, &value);
		if (reason != NULL)
			return ep_toml_fail (self, self->line, error, "invalid integer '%.*s': %s", shown, tok,
					     reason);
		*out = ep_toml_value_new (EP_TOML_INTEGER, self->filename, self->line);
		(*out)->u.integer = value;
		return TRUE;
	}

	if (memchr (tok, '.', n) != NULL || memchr (tok, 'e', n) != NULL || memchr (tok, 'E', n) != NULL ||
	    memchr (tok, 'i', n) != NULL || memchr (tok, 'n', n) != NULL) {
		gdouble value = 0;
		reason = ep_toml_parse_float_text (tok, n, &value);
		if (reason != NULL)
			return ep_toml_fail (self, self->line, error, "invalid float '%.*s': %s", shown, tok,
					     reason);
		*out = ep_toml_value_new (EP_TOML_FLOAT, self->filename, self->line);
		(*out)->u.number = value;
		return TRUE;
	}

	{
		gint64 value = 0;
		reason = ep_toml_parse_decimal (tok, n, &value);
		if (reason != NULL)
			return ep_toml_fail (self, self->line, error, "invalid integer '%.*s': %s", shown, tok,
					     reason);
		*out = ep_toml_value_new (EP_TOML_INTEGER, self->filename, self->line);
		(*out)->u.integer = value;
	}
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* values, arrays, inline tables, key/value pairs                           */
/* ------------------------------------------------------------------------ */

static gboolean ep_toml_parse_value (EpTomlParser *self, guint depth, const char *path, EpTomlValue **out,
				     GError **error);

/* can dotted keys walk into @child? */
static gboolean
ep_toml_check_dotted_parent (EpTomlParser *self, EpTomlValue *child, const char *path, guint line,
			     GError **error)
{
	if (child->kind != EP_TOML_TABLE)
		return ep_toml_fail (self, line, error, "cannot use '%s' as a table: it is %s (defined on line %u)",
				     path, ep_toml_type_with_article (child->kind), child->line);
	if (child->flags & EP_TOML_FLAG_INLINE)
		return ep_toml_fail (self, line, error,
				     "cannot add keys to inline table '%s' (defined on line %u)", path,
				     child->line);
	if ((child->flags & EP_TOML_FLAG_DOTTED) == 0)
		return ep_toml_fail (self, line, error,
				     "cannot add keys to table '%s' (defined by a header on line %u) "
				     "with dotted keys",
				     path, child->line);
	return TRUE;
}

/* puts @value (borrowed) at the dotted key @parts under @table */
static gboolean
ep_toml_set_dotted (EpTomlParser *self, EpTomlValue *table, guint depth, const char *table_path,
		    GPtrArray *parts, EpTomlValue *value, guint line, GError **error)
{
	g_autoptr(GString) path = g_string_new (table_path);
	GString *last = g_ptr_array_index (parts, parts->len - 1);
	EpTomlValue *existing;

	for (guint i = 0; i + 1 < parts->len; i++) {
		GString *part = g_ptr_array_index (parts, i);
		EpTomlValue *child = ep_toml_table_lookup_len (table, part->str, part->len);

		ep_toml_path_append (path, part->str, part->len);
		if (++depth > EP_TOML_MAX_DEPTH)
			return ep_toml_fail_depth (self, line, error);
		if (child == NULL) {
			child = ep_toml_value_new (EP_TOML_TABLE, self->filename, line);
			child->flags = EP_TOML_FLAG_DOTTED;
			ep_toml_table_add (table, part->str, part->len, child);
		} else if (!ep_toml_check_dotted_parent (self, child, path->str, line, error)) {
			return FALSE;
		}
		table = child;
	}
	ep_toml_path_append (path, last->str, last->len);
	existing = ep_toml_table_lookup_len (table, last->str, last->len);
	if (existing != NULL)
		return ep_toml_fail (self, line, error, "duplicate key '%s' (first defined on line %u)", path->str,
				     existing->line);
	ep_toml_table_add (table, last->str, last->len, ep_toml_value_ref (value));
	return TRUE;
}

/* key = value, into @table at @depth whose path is @table_path */
static gboolean
ep_toml_parse_keyval (EpTomlParser *self, EpTomlValue *table, guint depth, const char *table_path,
		      GError **error)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (ep_toml_gstring_free);
	g_autoptr(EpTomlValue) value = NULL;
	g_autoptr(GString) path = NULL;
	guint line = self->line;

	if (!ep_toml_parse_key (self, parts, error))
		return FALSE;
	path = ep_toml_path_new (table_path, parts, parts->len);
	ep_toml_skip_ws (self);
	if (ep_toml_peek (self, 0) != '=') {
		g_autofree char *found = ep_toml_describe_here (self);
		return ep_toml_fail (self, self->line, error, "expected '=' after key '%s', found %s", path->str,
				     found);
	}
	self->pos++;
	ep_toml_skip_ws (self);
	if (!ep_toml_parse_value (self, depth + parts->len, path->str, &value, error))
		return FALSE;
	return ep_toml_set_dotted (self, table, depth, table_path, parts, value, line, error);
}

static gboolean
ep_toml_parse_array (EpTomlParser *self, guint depth, const char *path, EpTomlValue **out, GError **error)
{
	g_autoptr(EpTomlValue) array = ep_toml_value_new (EP_TOML_ARRAY, self->filename, self->line);
	guint start_line = self->line;

	self->pos++;
	while (TRUE) {
		g_autoptr(EpTomlValue) item = NULL;
		g_autofree char *item_path = NULL;
		g_autofree char *found = NULL;

		if (!ep_toml_skip_ws_comments_newlines (self, error))
			return FALSE;
		if (ep_toml_peek (self, 0) == ']')
			break;
		item_path = g_strdup_printf ("%s[%u]", path, array->u.array->len + 1);
		if (!ep_toml_parse_value (self, depth + 1, item_path, &item, error))
			return FALSE;
		g_ptr_array_add (array->u.array, g_steal_pointer (&item));
		if (!ep_toml_skip_ws_comments_newlines (self, error))
			return FALSE;
		if (ep_toml_peek (self, 0) == ',') {
			self->pos++;
			continue;
		}
		if (ep_toml_peek (self, 0) == ']')
			break;
		if (ep_toml_at_end (self))
			return ep_toml_fail (self, self->line, error, "unterminated array (opened on line %u)",
					     start_line);
		found = ep_toml_describe_here (self);
		return ep_toml_fail (self, self->line, error, "expected ',' or ']' after an array element, found %s",
				     found);
	}
	self->pos++;
	*out = g_steal_pointer (&array);
	return TRUE;
}

static gboolean
ep_toml_parse_inline_table (EpTomlParser *self, guint depth, const char *path, EpTomlValue **out,
			    GError **error)
{
	g_autoptr(EpTomlValue) table = ep_toml_value_new (EP_TOML_TABLE, self->filename, self->line);

	self->pos++;
	ep_toml_skip_ws (self);
	if (ep_toml_peek (self, 0) != '}') {
		while (TRUE) {
			g_autofree char *found = NULL;
			char c;

			if (!ep_toml_parse_keyval (self, table, depth, path, error))
				return FALSE;
			ep_toml_skip_ws (self);
			c = ep_toml_peek (self, 0);
			if (c == ',') {
				self->pos++;
				ep_toml_skip_ws (self);
				if (ep_toml_peek (self, 0) == '}')
					return ep_toml_fail (self, self->line, error,
							     "trailing comma in inline table '%s'", path);
				continue;
			}
			if (c == '}')
				break;
			found = ep_toml_describe_here (self);
			if (ep_toml_at_end (self) || c == '\n' || c == '\r')
				return ep_toml_fail (self, self->line, error,
						     "inline table '%s' must be closed with '}' on the same line, "
						     "found %s",
						     path, found);
			return ep_toml_fail (self, self->line, error,
					     "expected ',' or '}' in inline table '%s', found %s", path, found);
		}
	}
	self->pos++;
	table->flags = EP_TOML_FLAG_INLINE;
	*out = g_steal_pointer (&table);
	return TRUE;
}

/* @depth: the depth the value would have in the tree */
static gboolean
ep_toml_parse_value (EpTomlParser *self, guint depth, const char *path, EpTomlValue **out, GError **error)
{
	char c = ep_toml_peek (self, 0);

	if (c == '"' || c == '\'') {
		g_autoptr(GString) text = g_string_new (NULL);
		guint line = self->line;
		gsize len;
		gboolean ok;

		if (ep_toml_peek (self, 1) == c && ep_toml_peek (self, 2) == c)
			ok = ep_toml_parse_multiline_string (self, text, error);
		else
			ok = ep_toml_parse_string (self, text, error);
		if (!ok)
			return FALSE;
		len = text->len;
		*out = ep_toml_value_new_text (EP_TOML_STRING, g_string_free (g_steal_pointer (&text), FALSE), len,
					       self->filename, line);
		return TRUE;
	}
	if (c == '[' || c == '{') {
		if (depth > EP_TOML_MAX_DEPTH)
			return ep_toml_fail_depth (self, self->line, error);
		if (c == '[')
			return ep_toml_parse_array (self, depth, path, out, error);
		return ep_toml_parse_inline_table (self, depth, path, out, error);
	}
	return ep_toml_parse_bare_value (self, out, error);
}

/* ------------------------------------------------------------------------ */
/* [table] and [[array.of.tables]] headers                                  */
/* ------------------------------------------------------------------------ */

static gboolean
ep_toml_parse_header (EpTomlParser *self, GError **error)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (ep_toml_gstring_free);
	g_autoptr(GString) path = g_string_new (NULL);
	gboolean is_array = ep_toml_peek (self, 1) == '[';
	EpTomlValue *table = self->root;
	EpTomlValue *child;
	GString *last;
	guint line = self->line;
	guint depth = 0;

	self->pos += is_array ? 2 : 1;
	ep_toml_skip_ws (self);
	if (!ep_toml_parse_key (self, parts, error))
		return FALSE;
	ep_toml_skip_ws (self);
	if (ep_toml_peek (self, 0) != ']' || (is_array && ep_toml_peek (self, 1) != ']')) {
		g_autofree char *found = NULL;
		if (ep_toml_peek (self, 0) == ']')
			self->pos++;
		found = ep_toml_describe_here (self);
		return ep_toml_fail (self, line, error, "expected '%s' to close the header, found %s",
				     is_array ? "]]" : "]", found);
	}
	self->pos += is_array ? 2 : 1;

	/* walk down to the parent of the last key, creating tables on the way */
	for (guint i = 0; i + 1 < parts->len; i++) {
		GString *part = g_ptr_array_index (parts, i);

		child = ep_toml_table_lookup_len (table, part->str, part->len);
		ep_toml_path_append (path, part->str, part->len);
		if (child == NULL) {
			if (depth + 1 > EP_TOML_MAX_DEPTH)
				return ep_toml_fail_depth (self, line, error);
			child = ep_toml_value_new (EP_TOML_TABLE, self->filename, line);
			child->flags = EP_TOML_FLAG_IMPLICIT;
			ep_toml_table_add (table, part->str, part->len, child);
			table = child;
			depth++;
		} else if (child->kind == EP_TOML_TABLE && (child->flags & EP_TOML_FLAG_INLINE) == 0) {
			table = child;
			depth++;
		} else if (child->kind == EP_TOML_TABLE) {
			return ep_toml_fail (self, line, error,
					     "cannot add a table to inline table '%s' (defined on line %u)", path->str,
					     child->line);
		} else if (child->kind == EP_TOML_ARRAY && (child->flags & EP_TOML_FLAG_TABLE_ARRAY) != 0) {
			/* the last element of an array of tables */
			table = g_ptr_array_index (child->u.array, child->u.array->len - 1);
			depth += 2;
		} else {
			return ep_toml_fail (self, line, error, "cannot use '%s' as a table: it is %s (defined on line %u)",
					     path->str, ep_toml_type_with_article (child->kind), child->line);
		}
	}

	last = g_ptr_array_index (parts, parts->len - 1);
	ep_toml_path_append (path, last->str, last->len);
	child = ep_toml_table_lookup_len (table, last->str, last->len);
	if (!is_array) {
		if (child == NULL) {
			if (depth + 1 > EP_TOML_MAX_DEPTH)
				return ep_toml_fail_depth (self, line, error);
			child = ep_toml_value_new (EP_TOML_TABLE, self->filename, line);
			ep_toml_table_add (table, last->str, last->len, child);
		} else if (child->kind == EP_TOML_TABLE && child->flags == EP_TOML_FLAG_IMPLICIT) {
			/* a table made as a parent may be defined once, later */
			child->line = line;
		} else if (child->kind == EP_TOML_TABLE) {
			return ep_toml_fail (self, line, error, "table '%s' is already defined%s on line %u", path->str,
					     (child->flags & EP_TOML_FLAG_INLINE)   ? " as an inline table"
					     : (child->flags & EP_TOML_FLAG_DOTTED) ? " by dotted keys"
										    : "",
					     child->line);
		} else if (child->kind == EP_TOML_ARRAY && (child->flags & EP_TOML_FLAG_TABLE_ARRAY) != 0) {
			return ep_toml_fail (self, line, error,
					     "'%s' is an array of tables (defined on line %u): use [[%s]] to add to it",
					     path->str, child->line, path->str);
		} else {
			return ep_toml_fail (self, line, error, "cannot define table '%s': it is %s (defined on line %u)",
					     path->str, ep_toml_type_with_article (child->kind), child->line);
		}
		child->flags = EP_TOML_FLAG_HEADER;
		depth++;
	} else {
		EpTomlValue *element;
		if (child == NULL) {
			if (depth + 2 > EP_TOML_MAX_DEPTH)
				return ep_toml_fail_depth (self, line, error);
			child = ep_toml_value_new (EP_TOML_ARRAY, self->filename, line);
			child->flags = EP_TOML_FLAG_TABLE_ARRAY;
			ep_toml_table_add (table, last->str, last->len, child);
		} else if (child->kind == EP_TOML_ARRAY && (child->flags & EP_TOML_FLAG_TABLE_ARRAY) == 0) {
			return ep_toml_fail (self, line, error,
					     "cannot add to '%s' with [[%s]]: it is an array value (defined on line %u)",
					     path->str, path->str, child->line);
		} else if (child->kind != EP_TOML_ARRAY) {
			return ep_toml_fail (self, line, error,
					     "cannot define array of tables '%s': it is %s (defined on line %u)",
					     path->str, ep_toml_type_with_article (child->kind), child->line);
		}
		element = ep_toml_value_new (EP_TOML_TABLE, self->filename, line);
		element->flags = EP_TOML_FLAG_HEADER;
		g_ptr_array_add (child->u.array, element);
		child = element;
		depth += 2;
	}

	self->table = child;
	self->table_depth = depth;
	g_free (self->table_path);
	self->table_path = g_string_free (g_steal_pointer (&path), FALSE);
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* documents                                                                */
/* ------------------------------------------------------------------------ */

static gboolean
ep_toml_check_encoding (EpTomlParser *self, GError **error)
{
	const char *end = NULL;
	guint line = 1;

	if (g_utf8_validate_len (self->data, self->len, &end))
		return TRUE;
	for (const char *p = self->data; p < end; p++) {
		if (*p == '\n')
			line++;
	}
	if (*end == '\0')
		return ep_toml_fail (self, line, error, "control character U+0000 is not allowed");
	return ep_toml_fail (self, line, error, "invalid UTF-8 (byte 0x%02X)", (guchar) *end);
}

static gboolean
ep_toml_parse_document (EpTomlParser *self, GError **error)
{
	/* a byte order mark is allowed at the very start */
	if (self->len >= 3 && memcmp (self->data, "\xef\xbb\xbf", 3) == 0)
		self->pos = 3;
	while (TRUE) {
		ep_toml_skip_ws (self);
		if (ep_toml_at_end (self))
			return TRUE;
		if (ep_toml_peek (self, 0) == '#') {
			if (!ep_toml_skip_comment (self, error))
				return FALSE;
			continue;
		}
		if (ep_toml_accept_newline (self))
			continue;
		if (ep_toml_peek (self, 0) == '[') {
			if (!ep_toml_parse_header (self, error))
				return FALSE;
			if (!ep_toml_expect_line_end (self, "a table header", error))
				return FALSE;
			continue;
		}
		if (!ep_toml_parse_keyval (self, self->table, self->table_depth, self->table_path, error))
			return FALSE;
		if (!ep_toml_expect_line_end (self, "a value", error))
			return FALSE;
	}
}

/**
 * ep_toml_parse:
 * @data: the document
 * @len: its length in bytes, or -1 if it is NUL-terminated
 * @filename: (nullable): its name for messages and for the values
 * @error: set to an %EP_ERROR_INVALID error "FILENAME:LINE: reason"
 *
 * Parses a TOML 1.0 document.  Strings that span lines get "\n" line
 * endings whatever the document uses.
 *
 * Returns: (transfer full) (nullable): the root table
 */
EpTomlValue *
ep_toml_parse (const char *data, gssize len, const char *filename, GError **error)
{
	g_auto(EpTomlParser) self = { 0 };

	g_return_val_if_fail (data != NULL || len == 0, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	self.data = data != NULL ? data : "";
	self.len = len >= 0 ? (gsize) len : strlen (data);
	self.line = 1;
	self.filename = g_ref_string_new_intern (filename != NULL ? filename : "<input>");
	if (!ep_toml_check_encoding (&self, error))
		return NULL;
	self.root = ep_toml_value_new (EP_TOML_TABLE, self.filename, 0);
	self.table = self.root;
	self.table_path = g_strdup ("");
	if (!ep_toml_parse_document (&self, error))
		return NULL;
	return g_steal_pointer (&self.root);
}
