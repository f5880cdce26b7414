/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ep-error.h"
#include "ep-toml.h"

static EpTomlValue *
parse_ok (const char *text)
{
	g_autoptr(GError) error = NULL;
	EpTomlValue *root = ep_toml_parse (text, -1, "mail.toml", &error);

	g_assert_no_error (error);
	g_assert_nonnull (root);
	return root;
}

/* the error message of a document that must be refused */
static char *
parse_error (const char *text, gssize len)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpTomlValue) root = ep_toml_parse (text, len, "mail.toml", &error);

	g_assert_null (root);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	return g_strdup (error->message);
}

static EpTomlValue *
lookup_path (EpTomlValue *table, const char *dotted)
{
	g_auto(GStrv) parts = g_strsplit (dotted, ".", -1);

	for (guint i = 0; parts[i] != NULL && table != NULL; i++)
		table = ep_toml_value_table_lookup (table, parts[i]);
	return table;
}

static void
test_toml_scalars (void)
{
	g_autoptr(EpTomlValue) root = parse_ok ("s = 'text'\n"
						"i = -42\n"
						"h = 0xdead_BEEF\n"
						"o = 0o755\n"
						"b = 0b1010\n"
						"f = 6.25e-1\n"
						"t = true\n"
						"odt = 1979-05-27 07:32:00.5z\n"
						"ldt = 1979-05-27t07:32:00\n"
						"ld = 2024-02-29\n"
						"lt = 23:59:60.123456\n"
						"off = 1979-05-27T00:32:00-07:00\n");

	g_assert_cmpint (ep_toml_value_get_kind (root), ==, EP_TOML_TABLE);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "s")), ==, "text");
	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (root, "i")), ==, -42);
	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (root, "h")), ==, 0xdeadbeef);
	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (root, "o")), ==, 0755);
	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (root, "b")), ==, 10);
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "f")), ==, 0.625);
	g_assert_true (ep_toml_value_get_boolean (lookup_path (root, "t")));

	/* date and time values are kept as normalised text, precision as written */
	g_assert_cmpint (ep_toml_value_get_kind (lookup_path (root, "odt")), ==, EP_TOML_DATETIME);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "odt")), ==, "1979-05-27T07:32:00.5Z");
	g_assert_cmpint (ep_toml_value_get_kind (lookup_path (root, "ldt")), ==, EP_TOML_DATETIME_LOCAL);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "ldt")), ==, "1979-05-27T07:32:00");
	g_assert_cmpint (ep_toml_value_get_kind (lookup_path (root, "ld")), ==, EP_TOML_DATE_LOCAL);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "ld")), ==, "2024-02-29");
	g_assert_cmpint (ep_toml_value_get_kind (lookup_path (root, "lt")), ==, EP_TOML_TIME_LOCAL);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "lt")), ==, "23:59:60.123456");
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "off")), ==, "1979-05-27T00:32:00-07:00");

	g_assert_cmpstr (ep_toml_type_to_string (EP_TOML_INTEGER), ==, "integer");
	g_assert_cmpstr (ep_toml_type_to_string (EP_TOML_DATETIME), ==, "offset date-time");
	g_assert_cmpstr (ep_toml_type_to_string (EP_TOML_TABLE), ==, "table");
}

static void
test_toml_floats (void)
{
	g_autoptr(EpTomlValue) root = parse_ok ("a = inf\nb = -inf\nc = +nan\nd = -0.0\ne = 1_000.5\n"
						"f = 5e+22\ng = 1e-400\n");
	g_autofree char *msg = NULL;

	g_assert_true (isinf (ep_toml_value_get_float (lookup_path (root, "a"))));
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "a")), >, 0);
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "b")), <, 0);
	g_assert_true (isnan (ep_toml_value_get_float (lookup_path (root, "c"))));
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "d")), ==, 0.0);
	g_assert_true (signbit (ep_toml_value_get_float (lookup_path (root, "d"))));
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "e")), ==, 1000.5);
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "f")), ==, 5e22);
	g_assert_cmpfloat (ep_toml_value_get_float (lookup_path (root, "g")), ==, 0.0);

	msg = parse_error ("big = 1e400\n", -1);
	g_assert_cmpstr (msg, ==, "mail.toml:1: invalid float '1e400': out of range for a 64-bit float");
}

static void
test_toml_integer_limits (void)
{
	const struct {
		const char *text;
		gint64 value;
	} good[] = {
		{ "v = 9223372036854775807", G_MAXINT64 },
		{ "v = -9223372036854775808", G_MININT64 },
		{ "v = +9_223_372_036_854_775_807", G_MAXINT64 },
		{ "v = 0x7fffffffffffffff", G_MAXINT64 },
		{ "v = 0o777777777777777777777", G_MAXINT64 },
		{ "v = 0b111111111111111111111111111111111111111111111111111111111111111", G_MAXINT64 },
		{ "v = -0", 0 },
		{ "v = +0", 0 },
		{ "v = 0x0000_00ff", 255 },
	};
	const char *overflow[] = {
		"v = 9223372036854775808",
		"v = -9223372036854775809",
		"v = 99999999999999999999999999",
		"v = 0x8000000000000000",
		"v = 0xffffffffffffffffffff",
		"v = 0o1000000000000000000000",
		"v = 0b1000000000000000000000000000000000000000000000000000000000000000",
	};

	for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpTomlValue) root = ep_toml_parse (good[i].text, -1, "mail.toml", &error);
		g_assert_no_error (error);
		g_assert_cmpint (ep_toml_value_get_integer (lookup_path (root, "v")), ==, good[i].value);
	}
	for (guint i = 0; i < G_N_ELEMENTS (overflow); i++) {
		g_autofree char *msg = parse_error (overflow[i], -1);
		g_assert_true (g_str_has_prefix (msg, "mail.toml:1: invalid integer '"));
		g_assert_true (g_str_has_suffix (msg, "': out of range for a 64-bit integer"));
	}
}

static void
test_toml_strings (void)
{
	g_autoptr(EpTomlValue) root = parse_ok ("a = \"tab\\there \\\"q\\\" \\u00e9 \\U0001F600\"\n"
						"b = \"\"\"\nline1\r\nline2\\\n     \t  \n  joined\"\"\"\n"
						"c = '''\n  raw \\n '' '''''\n"
						"d = \"nul\\u0000byte\"\n"
						"e = \"\"\"x\"\"\"\"\"\n");
	const char *str;
	gsize len = 0;

	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "a")), ==, "tab\there \"q\" é 😀");
	/* CRLF becomes LF; a line-ending backslash eats the whitespace after it */
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "b")), ==, "line1\nline2joined");
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "c")), ==, "  raw \\n '' ''");
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "e")), ==, "x\"\"");

	/* U+0000 is a valid TOML string character */
	str = ep_toml_value_get_string_len (lookup_path (root, "d"), &len);
	g_assert_cmpuint (len, ==, 8);
	g_assert_cmpmem (str, len, "nul\0byte", 8);
	g_assert_cmpstr (ep_toml_value_get_string (lookup_path (root, "d")), ==, "nul");
}

static void
test_toml_lines (void)
{
	g_autoptr(EpTomlValue) root = parse_ok ("# comment\n"                      /* 1 */
						"name = 'x'\n"                     /* 2 */
						"list = [\n"                       /* 3 */
						"  1,\n"                           /* 4 */
						"  # comment\n"                    /* 5 */
						"  2,\n"                           /* 6 */
						"]\n"                              /* 7 */
						"text = \"\"\"\n"                  /* 8 */
						"two\n"                            /* 9 */
						"lines\"\"\"\n"                    /* 10 */
						"[a.b]\n"                          /* 11 */
						"x = 1\n"                          /* 12 */
						"[a]\n"                            /* 13 */
						"[[accounts]]\n"                   /* 14 */
						"name = 'alice'\n"                 /* 15 */
						"\r\n"                             /* 16 */
						"[[accounts]]\n"                   /* 17 */
						"dotted.key = 1\n");               /* 18 */
	EpTomlValue *list = lookup_path (root, "list");
	EpTomlValue *accounts = lookup_path (root, "accounts");

	g_assert_cmpuint (ep_toml_value_get_line (root), ==, 0);
	g_assert_cmpstr (ep_toml_value_get_filename (root), ==, "mail.toml");
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (root, "name")), ==, 2);
	g_assert_cmpstr (ep_toml_value_get_filename (lookup_path (root, "name")), ==, "mail.toml");
	g_assert_cmpuint (ep_toml_value_get_line (list), ==, 3);
	g_assert_cmpuint (ep_toml_value_get_line (ep_toml_value_array_index (list, 0)), ==, 4);
	g_assert_cmpuint (ep_toml_value_get_line (ep_toml_value_array_index (list, 1)), ==, 6);
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (root, "text")), ==, 8);
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (root, "a.b")), ==, 11);
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (root, "a.b.x")), ==, 12);
	/* created implicitly by [a.b], then defined by its own header */
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (root, "a")), ==, 13);
	g_assert_cmpuint (ep_toml_value_get_line (accounts), ==, 14);
	g_assert_cmpuint (ep_toml_value_array_length (accounts), ==, 2);
	g_assert_cmpuint (ep_toml_value_get_line (ep_toml_value_array_index (accounts, 0)), ==, 14);
	g_assert_cmpuint (ep_toml_value_get_line (ep_toml_value_array_index (accounts, 1)), ==, 17);
	g_assert_cmpuint (ep_toml_value_get_line (lookup_path (ep_toml_value_array_index (accounts, 1), "dotted")),
			  ==, 18);
}

static void
test_toml_key_order (void)
{
	g_autoptr(EpTomlValue) root = parse_ok ("zeta = 1\n"
						"alpha = 2\n"
						"mid.z = 3\n"
						"mid.a = 4\n"
						"\"quoted key\" = 5\n"
						"[later.sub]\n"
						"[beta]\n");
	const char *expected[] = { "zeta", "alpha", "mid", "quoted key", "later", "beta" };
	EpTomlValue *mid = lookup_path (root, "mid");

	g_assert_cmpuint (ep_toml_value_table_size (root), ==, G_N_ELEMENTS (expected));
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		g_assert_cmpstr (ep_toml_value_table_key_at (root, i), ==, expected[i]);
		g_assert_true (ep_toml_value_table_value_at (root, i) ==
			       ep_toml_value_table_lookup (root, expected[i]));
	}
	g_assert_cmpstr (ep_toml_value_table_key_at (mid, 0), ==, "z");
	g_assert_cmpstr (ep_toml_value_table_key_at (mid, 1), ==, "a");
	g_assert_null (ep_toml_value_table_lookup (root, "missing"));
}

static void
test_toml_error_messages (void)
{
	const struct {
		const char *text;
		const char *message;
	} cases[] = {
		{ "hostname = 'a'\n\n# x\nport = 25\n\n\nhostname = 'b'\n",
		  "mail.toml:7: duplicate key 'hostname' (first defined on line 1)" },
		{ "[server]\nport = 25\nport = 26\n", "mail.toml:3: duplicate key 'server.port' (first defined on line 2)" },
		{ "a.b = 1\na.b = 2\n", "mail.toml:2: duplicate key 'a.b' (first defined on line 1)" },
		{ "\"a b\" = 1\n'a b' = 2\n", "mail.toml:2: duplicate key '\"a b\"' (first defined on line 1)" },
		{ "[a]\nx = 1\n[a]\n", "mail.toml:3: table 'a' is already defined on line 1" },
		{ "a.b = 1\n[a]\n", "mail.toml:2: table 'a' is already defined by dotted keys on line 1" },
		{ "a = {b = 1}\na.c = 2\n", "mail.toml:2: cannot add keys to inline table 'a' (defined on line 1)" },
		{ "a = {b = 1}\n[a.c]\n", "mail.toml:2: cannot add a table to inline table 'a' (defined on line 1)" },
		{ "[a.b]\n[a]\nb.c = 1\n",
		  "mail.toml:3: cannot add keys to table 'a.b' (defined by a header on line 1) with dotted keys" },
		{ "a = 1\na.b = 2\n", "mail.toml:2: cannot use 'a' as a table: it is an integer (defined on line 1)" },
		{ "[[a]]\n[a]\n", "mail.toml:2: 'a' is an array of tables (defined on line 1): use [[a]] to add to it" },
		{ "a = []\n[[a]]\n",
		  "mail.toml:2: cannot add to 'a' with [[a]]: it is an array value (defined on line 1)" },
		{ "n = 9223372036854775808\n",
		  "mail.toml:1: invalid integer '9223372036854775808': out of range for a 64-bit integer" },
		{ "n = 012\n", "mail.toml:1: invalid integer '012': leading zeros are not allowed" },
		{ "n = 1__0\n", "mail.toml:1: invalid integer '1__0': an underscore must be between two digits" },
		{ "d = 2023-02-29\n", "mail.toml:1: invalid date '2023-02-29': February 2023 has no day 29" },
		{ "t = 24:00:00\n", "mail.toml:1: invalid time '24:00:00': 24:00:00 is out of range" },
		{ "t = 07:32\n", "mail.toml:1: invalid time '07:32': expected HH:MM:SS (seconds are required)" },
		{ "s = hello\n", "mail.toml:1: invalid value 'hello' (strings must be quoted)" },
		{ "s = \"abc\n", "mail.toml:1: unterminated string (use \"\"\" for strings of several lines)" },
		{ "s = \"\"\"abc\n\n", "mail.toml:3: unterminated multi-line string (opened on line 1)" },
		{ "s = \"\\q\"\n", "mail.toml:1: invalid escape sequence: backslash followed by 'q'" },
		{ "s = \"\\uD800\"\n",
		  "mail.toml:1: invalid escape sequence \\uD800: U+D800 is not a Unicode scalar value" },
		{ "s = \"a\tb\x01\"\n", "mail.toml:1: control character U+0001 must be escaped in a string" },
		{ "a = 1\n# bell \x07\n", "mail.toml:2: control character U+0007 is not allowed in a comment" },
		{ "a = 1\r\nb = 2\rc = 3\n",
		  "mail.toml:2: expected end of line after a value, found a carriage return without a line feed" },
		{ "a = 1 b = 2\n", "mail.toml:1: expected end of line after a value, found 'b'" },
		{ "a = [1,,2]\n", "mail.toml:1: expected a value, found ','" },
		{ "a = [1\n", "mail.toml:2: unterminated array (opened on line 1)" },
		{ "a = {x = 1,}\n", "mail.toml:1: trailing comma in inline table 'a'" },
		{ "a = {x = 1,\ny = 2}\n", "mail.toml:1: expected a key, found end of line" },
		{ "key\n", "mail.toml:1: expected '=' after key 'key', found end of line" },
		{ "[table\n", "mail.toml:1: expected ']' to close the header, found end of line" },
		{ "x = 1\ny = 2\nz = \"\xff\"\n", "mail.toml:3: invalid UTF-8 (byte 0xFF)" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *msg = parse_error (cases[i].text, -1);
		g_assert_cmpstr (msg, ==, cases[i].message);
	}
}

static void
test_toml_no_filename (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpTomlValue) root = ep_toml_parse ("a = \n", -1, NULL, &error);

	g_assert_null (root);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_cmpstr (error->message, ==, "<input>:1: expected a value, found end of line");
}

static void
test_toml_redefinitions (void)
{
	/* what TOML 1.0 allows */
	const char *good[] = {
		"[a.b]\nx = 1\n[a]\ny = 2\n",
		"[a]\n[a.b]\n[a.c]\n",
		"[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n",
		"[[a]]\n[a.b]\n[[a]]\n[a.b]\n",
		"[[a.b]]\n[a]\ny = 2\n",
		"a.b.c = 1\na.b.d = 2\na.e = 3\n",
		"a = {b.c = 1, b.d = 2}\n",
		"[[x]]\ny.z = 1\n[[x]]\ny.z = 2\n",
	};
	/* and what it does not */
	const char *bad[] = {
		"a = 1\na = 2\n",
		"[a]\n[a]\n",
		"[a.b]\n[a]\n[a]\n",
		"[a]\nb = 1\n[a.b]\n",
		"[a]\nb.c = 1\n[a.b]\n",
		"a = {}\na.b = 1\n",
		"a = {b = {}}\n[a.b]\n",
		"a = {b = 1, b.c = 2}\n",
		"[[a]]\n[a]\n",
		"[a]\n[[a]]\n",
		"a = [{}]\n[[a]]\n",
		"[[a.b]]\n[a]\nb.y = 2\n",
		"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
		"a.b = 1\na.b.c = 2\n",
		"[[albums.songs]]\n[[albums]]\n",
		"'a' = 1\n\"a\" = 2\n",
		"a = 1\n[a.b]\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
		g_autoptr(EpTomlValue) root = parse_ok (good[i]);
		g_assert_nonnull (root);
	}
	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autofree char *msg = parse_error (bad[i], -1);
		g_assert_true (g_str_has_prefix (msg, "mail.toml:"));
	}
}

static char *
repeat (const char *piece, guint times)
{
	GString *out = g_string_new (NULL);

	for (guint i = 0; i < times; i++)
		g_string_append (out, piece);
	return g_string_free (out, FALSE);
}

static void
test_toml_depth_limit (void)
{
	g_autofree char *open_ok = repeat ("[", EP_TOML_MAX_DEPTH);
	g_autofree char *close_ok = repeat ("]", EP_TOML_MAX_DEPTH);
	g_autofree char *doc_ok = g_strdup_printf ("a = %s%s\n", open_ok, close_ok);
	g_autofree char *open_deep = repeat ("[", EP_TOML_MAX_DEPTH + 1);
	g_autofree char *close_deep = repeat ("]", EP_TOML_MAX_DEPTH + 1);
	g_autofree char *doc_deep = g_strdup_printf ("a = %s%s\n", open_deep, close_deep);
	g_autofree char *huge_arrays = g_strdup_printf ("a = %s\n", open_deep);
	g_autofree char *brackets = repeat ("[", 200000);
	g_autofree char *tables = repeat ("{b=", 200000);
	g_autofree char *dots = repeat ("a.", 100000);
	g_autofree char *header_half = repeat ("h.", EP_TOML_MAX_DEPTH / 2 - 1);
	g_autofree char *key_half = repeat ("k.", EP_TOML_MAX_DEPTH / 2 - 1);
	g_autofree char *header_full = repeat ("h.", EP_TOML_MAX_DEPTH - 1);
	g_autofree char *mixed_ok = g_strdup_printf ("[%sh]\n%sk = 1\n", header_half, key_half);
	g_autofree char *mixed_deep = g_strdup_printf ("[%sh]\n%sk = {x = [[1]]}\n", header_half, key_half);
	g_autoptr(EpTomlValue) root = parse_ok (doc_ok);
	const char *limit_message = "nesting too deep (more than 128 levels)";
	g_autofree char *msg = NULL;
	g_autofree char *doc = NULL;
	g_autoptr(EpTomlValue) mixed = NULL;
	EpTomlValue *value = lookup_path (root, "a");

	for (guint i = 1; i < EP_TOML_MAX_DEPTH; i++)
		value = ep_toml_value_array_index (value, 0);
	g_assert_cmpuint (ep_toml_value_array_length (value), ==, 0);

	msg = parse_error (doc_deep, -1);
	g_assert_cmpstr (msg, ==, "mail.toml:1: nesting too deep (more than 128 levels)");
	g_clear_pointer (&msg, g_free);

	/* hostile documents are refused, not a stack overflow */
	msg = parse_error (huge_arrays, -1);
	g_assert_nonnull (strstr (msg, limit_message));
	g_clear_pointer (&msg, g_free);
	doc = g_strdup_printf ("a = %s\n", brackets);
	msg = parse_error (doc, -1);
	g_assert_nonnull (strstr (msg, limit_message));
	g_clear_pointer (&msg, g_free);
	g_clear_pointer (&doc, g_free);
	doc = g_strdup_printf ("a = %s1\n", tables);
	msg = parse_error (doc, -1);
	g_assert_nonnull (strstr (msg, limit_message));
	g_clear_pointer (&msg, g_free);
	g_clear_pointer (&doc, g_free);
	doc = g_strdup_printf ("%sz = 1\n", dots);
	msg = parse_error (doc, -1);
	g_assert_nonnull (strstr (msg, limit_message));
	g_clear_pointer (&msg, g_free);
	g_clear_pointer (&doc, g_free);
	doc = g_strdup_printf ("[%sz]\n", dots);
	msg = parse_error (doc, -1);
	g_assert_nonnull (strstr (msg, limit_message));
	g_clear_pointer (&msg, g_free);
	g_clear_pointer (&doc, g_free);

	/* the limit is on the whole tree: header depth + dotted key + value */
	mixed = parse_ok (mixed_ok);
	g_assert_nonnull (mixed);
	msg = parse_error (mixed_deep, -1);
	g_assert_cmpstr (msg, ==, "mail.toml:2: nesting too deep (more than 128 levels)");
	g_clear_pointer (&msg, g_free);
	g_clear_pointer (&mixed, ep_toml_value_unref);
	doc = g_strdup_printf ("[%sh]\nk = 1\n", header_full);
	mixed = parse_ok (doc);
	g_assert_nonnull (mixed);
	g_clear_pointer (&doc, g_free);
	doc = g_strdup_printf ("[%sh]\nk.k = 1\n", header_full);
	msg = parse_error (doc, -1);
	g_assert_cmpstr (msg, ==, "mail.toml:2: nesting too deep (more than 128 levels)");
}

static void
test_toml_encoding (void)
{
	const char with_nul[] = "a = 1\nb = \"x\0y\"\n";
	const char not_terminated[] = { 'a', '=', '1', '2', 'x', 'y' };
	g_autoptr(EpTomlValue) bom = parse_ok ("\xef\xbb\xbf" "a = 1\r\n[t]\r\nb = 2\r\n");
	g_autoptr(EpTomlValue) part = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *msg = NULL;

	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (bom, "t.b")), ==, 2);

	/* the length is honoured: no reading past it, NUL bytes refused */
	part = ep_toml_parse (not_terminated, 4, "mail.toml", &error);
	g_assert_no_error (error);
	g_assert_cmpint (ep_toml_value_get_integer (lookup_path (part, "a")), ==, 12);
	msg = parse_error (with_nul, sizeof with_nul - 1);
	g_assert_cmpstr (msg, ==, "mail.toml:2: control character U+0000 is not allowed");
	g_clear_pointer (&msg, g_free);

	/* surrogates and overlong forms are not UTF-8 */
	msg = parse_error ("a = \"\xed\xa0\x80\"\n", -1);
	g_assert_cmpstr (msg, ==, "mail.toml:1: invalid UTF-8 (byte 0xED)");
	g_clear_pointer (&msg, g_free);
	msg = parse_error ("# \xc0\xaf\n", -1);
	g_assert_cmpstr (msg, ==, "mail.toml:1: invalid UTF-8 (byte 0xC0)");
}

static void
test_toml_builder (void)
{
	g_autoptr(EpTomlValue) table = ep_toml_value_new_table ("built.toml", 4);
	g_autoptr(EpTomlValue) array = ep_toml_value_new_array (NULL, 0);
	EpTomlValue *str;

	g_assert_cmpint (ep_toml_value_get_kind (table), ==, EP_TOML_TABLE);
	g_assert_cmpstr (ep_toml_value_get_filename (table), ==, "built.toml");
	g_assert_cmpuint (ep_toml_value_get_line (table), ==, 4);
	g_assert_null (ep_toml_value_get_filename (array));
	g_assert_cmpuint (ep_toml_value_table_size (table), ==, 0);

	ep_toml_value_table_set (table, "one", ep_toml_value_new_string ("1", "built.toml", 5));
	ep_toml_value_table_set (table, "two", ep_toml_value_new_string ("2", NULL, 0));
	ep_toml_value_table_set (table, "three", ep_toml_value_new_string ("3", NULL, 0));
	g_assert_cmpuint (ep_toml_value_table_size (table), ==, 3);

	/* replacing keeps the position */
	ep_toml_value_table_set (table, "one", ep_toml_value_new_string ("uno", NULL, 7));
	g_assert_cmpuint (ep_toml_value_table_size (table), ==, 3);
	g_assert_cmpstr (ep_toml_value_table_key_at (table, 0), ==, "one");
	str = ep_toml_value_table_lookup (table, "one");
	g_assert_cmpstr (ep_toml_value_get_string (str), ==, "uno");
	g_assert_cmpuint (ep_toml_value_get_line (str), ==, 7);

	g_assert_true (ep_toml_value_table_remove (table, "two"));
	g_assert_false (ep_toml_value_table_remove (table, "two"));
	g_assert_null (ep_toml_value_table_lookup (table, "two"));
	g_assert_cmpuint (ep_toml_value_table_size (table), ==, 2);
	g_assert_cmpstr (ep_toml_value_table_key_at (table, 0), ==, "one");
	g_assert_cmpstr (ep_toml_value_table_key_at (table, 1), ==, "three");
	g_assert_cmpstr (ep_toml_value_get_string (ep_toml_value_table_value_at (table, 1)), ==, "3");

	ep_toml_value_array_append (array, ep_toml_value_new_string ("a", NULL, 0));
	ep_toml_value_array_append (array, ep_toml_value_new_table (NULL, 0));
	g_assert_cmpuint (ep_toml_value_array_length (array), ==, 2);
	g_assert_cmpint (ep_toml_value_get_kind (ep_toml_value_array_index (array, 1)), ==, EP_TOML_TABLE);
	ep_toml_value_table_set (table, "list", ep_toml_value_ref (array));
	g_assert_true (ep_toml_value_table_lookup (table, "list") == array);
	g_assert_cmpuint (ep_toml_value_table_size (table), ==, 3);
}

static void
test_toml_refcount (void)
{
	EpTomlValue *root = parse_ok ("[server]\nnames = ['a', 'b']\n");
	g_autoptr(EpTomlValue) names = ep_toml_value_ref (lookup_path (root, "server.names"));
	g_autoptr(EpTomlValue) other = ep_toml_value_new_table (NULL, 0);

	/* a child outlives the tree it was parsed in while referenced */
	ep_toml_value_unref (root);
	g_assert_cmpuint (ep_toml_value_array_length (names), ==, 2);
	g_assert_cmpstr (ep_toml_value_get_string (ep_toml_value_array_index (names, 1)), ==, "b");
	g_assert_cmpstr (ep_toml_value_get_filename (names), ==, "mail.toml");

	/* one value in two tables */
	ep_toml_value_table_set (other, "x", ep_toml_value_ref (names));
	ep_toml_value_table_set (other, "y", ep_toml_value_ref (names));
	g_assert_true (ep_toml_value_table_lookup (other, "x") == ep_toml_value_table_lookup (other, "y"));
	g_assert_true (ep_toml_value_table_remove (other, "x"));
	g_assert_cmpuint (ep_toml_value_array_length (ep_toml_value_table_lookup (other, "y")), ==, 2);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/toml/scalars", test_toml_scalars);
	g_test_add_func ("/toml/floats", test_toml_floats);
	g_test_add_func ("/toml/integer-limits", test_toml_integer_limits);
	g_test_add_func ("/toml/strings", test_toml_strings);
	g_test_add_func ("/toml/lines", test_toml_lines);
	g_test_add_func ("/toml/key-order", test_toml_key_order);
	g_test_add_func ("/toml/error-messages", test_toml_error_messages);
	g_test_add_func ("/toml/no-filename", test_toml_no_filename);
	g_test_add_func ("/toml/redefinitions", test_toml_redefinitions);
	g_test_add_func ("/toml/depth-limit", test_toml_depth_limit);
	g_test_add_func ("/toml/encoding", test_toml_encoding);
	g_test_add_func ("/toml/builder", test_toml_builder);
	g_test_add_func ("/toml/refcount", test_toml_refcount);
	return g_test_run ();
}
