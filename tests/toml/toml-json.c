/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between TOML trees and the tagged JSON of toml-test.  The writer is by
 * hand because TOML strings and keys may hold U+0000, which json-glib
 * cannot represent.
 */
#include "config.h"

#include "toml-json.h"

#include <math.h>
#include <string.h>

/* U+10FFFD, a private use character, marks the substitutions of _load() */
#define EP_TOML_JSON_MARK     "\xf4\x8f\xbf\xbd"
#define EP_TOML_JSON_MARK_ESC "\\uDBFF\\uDFFD"

static void
ep_toml_json_write_string (GString *out, const char *str, gsize len)
{
	g_string_append_c (out, '"');
	for (gsize i = 0; i < len; i++) {
		guchar c = str[i];
		switch (c) {
		case '"':
			g_string_append (out, "\\\"");
			break;
		case '\\':
			g_string_append (out, "\\\\");
			break;
		case '\b':
			g_string_append (out, "\\b");
			break;
		case '\f':
			g_string_append (out, "\\f");
			break;
		case '\n':
			g_string_append (out, "\\n");
			break;
		case '\r':
			g_string_append (out, "\\r");
			break;
		case '\t':
			g_string_append (out, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				g_string_append_printf (out, "\\u%04x", c);
			else
				g_string_append_c (out, (char) c);
			break;
		}
	}
	g_string_append_c (out, '"');
}

/* the shortest text that reads back as @d */
static void
ep_toml_json_format_float (GString *out, gdouble d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan (d)) {
		g_string_append (out, "nan");
		return;
	}
	if (isinf (d)) {
		g_string_append (out, d > 0 ? "inf" : "-inf");
		return;
	}
	for (int precision = 1; precision <= 17; precision++) {
		char format[8];
		g_snprintf (format, sizeof format, "%%.%dg", precision);
		g_ascii_formatd (buf, sizeof buf, format, d);
		if (g_ascii_strtod (buf, NULL) == d)
			break;
	}
	g_string_append (out, buf);
}

static const char *
ep_toml_json_type_name (EpTomlType kind)
{
	switch (kind) {
	case EP_TOML_STRING:
		return "string";
	case EP_TOML_INTEGER:
		return "integer";
	case EP_TOML_FLOAT:
		return "float";
	case EP_TOML_BOOLEAN:
		return "bool";
	case EP_TOML_DATETIME:
		return "datetime";
	case EP_TOML_DATETIME_LOCAL:
		return "datetime-local";
	case EP_TOML_DATE_LOCAL:
		return "date-local";
	case EP_TOML_TIME_LOCAL:
		return "time-local";
	case EP_TOML_ARRAY:
	case EP_TOML_TABLE:
		break;
	}
	return NULL;
}

static void
ep_toml_json_newline (GString *out, gboolean pretty, guint indent)
{
	if (!pretty)
		return;
	g_string_append_c (out, '\n');
	for (guint i = 0; i < indent; i++)
		g_string_append (out, "  ");
}

static void
ep_toml_json_write_scalar (GString *out, const EpTomlValue *value)
{
	EpTomlType kind = ep_toml_value_get_kind (value);
	g_autoptr(GString) text = g_string_new (NULL);

	switch (kind) {
	case EP_TOML_INTEGER:
		g_string_append_printf (text, "%" G_GINT64_FORMAT, ep_toml_value_get_integer (value));
		break;
	case EP_TOML_FLOAT:
		ep_toml_json_format_float (text, ep_toml_value_get_float (value));
		break;
	case EP_TOML_BOOLEAN:
		g_string_append (text, ep_toml_value_get_boolean (value) ? "true" : "false");
		break;
	case EP_TOML_STRING:
	case EP_TOML_DATETIME:
	case EP_TOML_DATETIME_LOCAL:
	case EP_TOML_DATE_LOCAL:
	case EP_TOML_TIME_LOCAL: {
		gsize len = 0;
		const char *str = ep_toml_value_get_string_len (value, &len);
		g_string_append_len (text, str, len);
		break;
	}
	case EP_TOML_ARRAY:
	case EP_TOML_TABLE:
		g_assert_not_reached ();
	}
	g_string_append (out, "{\"type\": \"");
	g_string_append (out, ep_toml_json_type_name (kind));
	g_string_append (out, "\", \"value\": ");
	ep_toml_json_write_string (out, text->str, text->len);
	g_string_append_c (out, '}');
}

static void
ep_toml_json_write_value (GString *out, const EpTomlValue *value, gboolean pretty, guint indent)
{
	EpTomlType kind = ep_toml_value_get_kind (value);

	if (kind == EP_TOML_TABLE) {
		guint n = ep_toml_value_table_size (value);
		g_string_append_c (out, '{');
		for (guint i = 0; i < n; i++) {
			gsize len = 0;
			const char *key = ep_toml_value_table_key_at_len (value, i, &len);
			if (i > 0)
				g_string_append_c (out, ',');
			ep_toml_json_newline (out, pretty, indent + 1);
			ep_toml_json_write_string (out, key, len);
			g_string_append (out, ": ");
			ep_toml_json_write_value (out, ep_toml_value_table_value_at (value, i), pretty, indent + 1);
		}
		if (n > 0)
			ep_toml_json_newline (out, pretty, indent);
		g_string_append_c (out, '}');
	} else if (kind == EP_TOML_ARRAY) {
		guint n = ep_toml_value_array_length (value);
		g_string_append_c (out, '[');
		for (guint i = 0; i < n; i++) {
			if (i > 0)
				g_string_append_c (out, ',');
			ep_toml_json_newline (out, pretty, indent + 1);
			ep_toml_json_write_value (out, ep_toml_value_array_index (value, i), pretty, indent + 1);
		}
		if (n > 0)
			ep_toml_json_newline (out, pretty, indent);
		g_string_append_c (out, ']');
	} else {
		ep_toml_json_write_scalar (out, value);
	}
}

/**
 * ep_toml_json_write:
 * @value: a TOML tree
 * @pretty: whether to indent
 *
 * Returns: (transfer full): its tagged JSON, ending in a newline if @pretty
 */
char *
ep_toml_json_write (const EpTomlValue *value, gboolean pretty)
{
	GString *out = g_string_new (NULL);

	ep_toml_json_write_value (out, value, pretty, 0);
	if (pretty)
		g_string_append_c (out, '\n');
	return g_string_free (out, FALSE);
}

static gint
ep_toml_json_hex4 (const char *text, gsize len, gsize at)
{
	gint value = 0;

	if (at + 4 > len)
		return -1;
	for (gsize i = at; i < at + 4; i++) {
		gint digit = g_ascii_xdigit_value (text[i]);
		if (digit < 0)
			return -1;
		value = value * 16 + digit;
	}
	return value;
}

/* the substitution described in the header, on the JSON text */
static GString *
ep_toml_json_protect (const char *text, gsize len)
{
	GString *out = g_string_sized_new (len + 16);
	gboolean in_string = FALSE;
	gsize i = 0;

	while (i < len) {
		char c = text[i];
		if (!in_string || (c != '\\' && c != '"' && c != EP_TOML_JSON_MARK[0])) {
			in_string = in_string || c == '"';
			g_string_append_c (out, c);
			i++;
		} else if (c == '"') {
			in_string = FALSE;
			g_string_append_c (out, c);
			i++;
		} else if (c == '\\' && i + 1 < len && text[i + 1] == 'u') {
			gint code = ep_toml_json_hex4 (text, len, i + 2);
			if (code == 0) {
				g_string_append (out, EP_TOML_JSON_MARK_ESC "0");
				i += 6;
			} else if (code == 0xdbff && i + 12 <= len && text[i + 6] == '\\' && text[i + 7] == 'u' &&
				   ep_toml_json_hex4 (text, len, i + 8) == 0xdffd) {
				g_string_append (out, EP_TOML_JSON_MARK_ESC "1");
				i += 12;
			} else {
				g_string_append_c (out, c);
				i++;
			}
		} else if (c == '\\') {
			/* any other escape: copy it whole so that \" does not end the string */
			g_string_append_len (out, text + i, MIN (2, len - i));
			i += 2;
		} else if (len - i >= 4 && memcmp (text + i, EP_TOML_JSON_MARK, 4) == 0) {
			g_string_append (out, EP_TOML_JSON_MARK "1");
			i += 4;
		} else {
			g_string_append_c (out, c);
			i++;
		}
	}
	return out;
}

/**
 * ep_toml_json_load:
 * @text: JSON text
 * @len: its length, or -1
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the JSON tree, U+0000 substituted
 */
JsonNode *
ep_toml_json_load (const char *text, gssize len, GError **error)
{
	gsize size = len >= 0 ? (gsize) len : strlen (text);
	g_autoptr(GString) safe = ep_toml_json_protect (text, size);
	g_autoptr(JsonParser) parser = json_parser_new ();
	JsonNode *root;

	if (!json_parser_load_from_data (parser, safe->str, (gssize) safe->len, error))
		return NULL;
	root = json_parser_get_root (parser);
	if (root == NULL) {
		g_set_error_literal (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE, "empty JSON document");
		return NULL;
	}
	return json_node_copy (root);
}
