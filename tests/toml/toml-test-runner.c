/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs the TOML 1.0 cases of the toml-test suite through the parser, one
 * GTest case each.  A valid document must parse to the tree of the .json
 * file beside it (compared as data, not as text); an invalid one must be
 * refused with an "FILENAME:LINE: reason" error.
 *
 * The data lives outside the tree: $EPISTLE_TOML_TEST_DIR, or the
 * directory compiled in as EP_TOML_TEST_DEFAULT_DIR.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ep-error.h"
#include "ep-toml.h"
#include "toml-json.h"

#define EP_TOML_TEST_LIST "files-toml-1.0.0"

typedef struct {
	char *name;      /* "valid/array/nested" */
	char *toml_path;
	char *json_path; /* NULL for an invalid case */
} EpTomlCase;

static void
ep_toml_case_free (gpointer data)
{
	EpTomlCase *tc = data;

	g_free (tc->name);
	g_free (tc->toml_path);
	g_free (tc->json_path);
	g_free (tc);
}

/* ------------------------------------------------------------------------ */
/* comparing tagged JSON as data                                            */
/* ------------------------------------------------------------------------ */

static gboolean
ep_json_is_string (JsonNode *node)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* {"type": "...", "value": "..."} rather than a table */
static gboolean
ep_json_is_tagged (JsonNode *node)
{
	JsonObject *obj;

	if (!JSON_NODE_HOLDS_OBJECT (node))
		return FALSE;
	obj = json_node_get_object (node);
	return json_object_get_size (obj) == 2 && ep_json_is_string (json_object_get_member (obj, "type")) &&
	       ep_json_is_string (json_object_get_member (obj, "value"));
}

static gboolean
ep_parse_float (const char *text, gdouble *out)
{
	const char *body = text;
	gboolean negative = FALSE;
	char *end = NULL;

	if (*body == '+' || *body == '-') {
		negative = *body == '-';
		body++;
	}
	if (g_strcmp0 (body, "inf") == 0) {
		*out = negative ? -INFINITY : INFINITY;
		return TRUE;
	}
	if (g_strcmp0 (body, "nan") == 0) {
		*out = NAN;
		return TRUE;
	}
	*out = g_ascii_strtod (text, &end);
	return end != text && *end == '\0';
}

/*
 * As toml-test compares them: 't', 'z' and a space separator are the same
 * as 'T', 'Z' and 'T'; +00:00 and -00:00 are Z; fractional seconds count
 * to the millisecond, absent ones are zero.
 */
static char *
ep_normalise_datetime (const char *text)
{
	GString *out = g_string_new (NULL);
	char *colon;

	for (const char *p = text; *p != '\0'; p++) {
		char c = *p;
		if (c == 't' || c == ' ')
			c = 'T';
		else if (c == 'z')
			c = 'Z';
		g_string_append_c (out, c);
	}
	if (g_str_has_suffix (out->str, "+00:00") || g_str_has_suffix (out->str, "-00:00")) {
		g_string_truncate (out, out->len - 6);
		g_string_append_c (out, 'Z');
	}

	/* the seconds are the two digits after the second colon of the time */
	colon = strchr (out->str, ':');
	if (colon != NULL)
		colon = strchr (colon + 1, ':');
	if (colon != NULL && strlen (colon) >= 3) {
		gsize frac = (gsize) (colon + 3 - out->str);
		gsize digits = 0;
		if (out->str[frac] == '.') {
			g_string_erase (out, (gssize) frac, 1);
			while (g_ascii_isdigit (out->str[frac + digits]))
				digits++;
		}
		if (digits > 3)
			g_string_erase (out, (gssize) (frac + 3), (gssize) (digits - 3));
		for (; digits < 3; digits++)
			g_string_insert_c (out, (gssize) (frac + digits), '0');
		g_string_insert_c (out, (gssize) frac, '.');
	}
	return g_string_free (out, FALSE);
}

static gboolean
ep_tagged_values_equal (const char *type, const char *expected, const char *actual)
{
	if (g_strcmp0 (type, "float") == 0) {
		gdouble e = 0, a = 0;
		if (!ep_parse_float (expected, &e) || !ep_parse_float (actual, &a))
			return FALSE;
		if (isnan (e) || isnan (a))
			return isnan (e) && isnan (a);
		return e == a && signbit (e) == signbit (a);
	}
	if (g_strcmp0 (type, "integer") == 0) {
		gint64 e = 0, a = 0;
		return g_ascii_string_to_signed (expected, 10, G_MININT64, G_MAXINT64, &e, NULL) &&
		       g_ascii_string_to_signed (actual, 10, G_MININT64, G_MAXINT64, &a, NULL) && e == a;
	}
	if (g_str_has_prefix (type, "datetime") || g_str_has_prefix (type, "date-") ||
	    g_str_has_prefix (type, "time-")) {
		g_autofree char *e = ep_normalise_datetime (expected);
		g_autofree char *a = ep_normalise_datetime (actual);
		return g_strcmp0 (e, a) == 0;
	}
	return g_strcmp0 (expected, actual) == 0;
}

static char *
ep_json_describe (JsonNode *node)
{
	return json_to_string (node, FALSE);
}

static gboolean
ep_json_equal (JsonNode *expected, JsonNode *actual, const char *where, char **reason)
{
	if (ep_json_is_tagged (expected)) {
		JsonObject *eo = json_node_get_object (expected);
		const char *type = json_object_get_string_member (eo, "type");
		JsonObject *ao;
		if (!ep_json_is_tagged (actual)) {
			g_autofree char *got = ep_json_describe (actual);
			*reason = g_strdup_printf ("%s: expected a %s value, got %s", where, type, got);
			return FALSE;
		}
		ao = json_node_get_object (actual);
		if (g_strcmp0 (type, json_object_get_string_member (ao, "type")) != 0 ||
		    !ep_tagged_values_equal (type, json_object_get_string_member (eo, "value"),
					     json_object_get_string_member (ao, "value"))) {
			g_autofree char *want = ep_json_describe (expected);
			g_autofree char *got = ep_json_describe (actual);
			*reason = g_strdup_printf ("%s: expected %s, got %s", where, want, got);
			return FALSE;
		}
		return TRUE;
	}

	if (JSON_NODE_HOLDS_OBJECT (expected)) {
		JsonObject *eo = json_node_get_object (expected);
		JsonObject *ao;
		g_autoptr(GList) members = NULL;
		if (!JSON_NODE_HOLDS_OBJECT (actual) || ep_json_is_tagged (actual)) {
			g_autofree char *got = ep_json_describe (actual);
			*reason = g_strdup_printf ("%s: expected a table, got %s", where, got);
			return FALSE;
		}
		ao = json_node_get_object (actual);
		if (json_object_get_size (eo) != json_object_get_size (ao)) {
			g_autofree char *want = ep_json_describe (expected);
			g_autofree char *got = ep_json_describe (actual);
			*reason = g_strdup_printf ("%s: expected %u keys, got %u: expected %s, got %s", where,
						   json_object_get_size (eo), json_object_get_size (ao), want, got);
			return FALSE;
		}
		members = json_object_get_members (eo);
		for (GList *l = members; l != NULL; l = l->next) {
			const char *key = l->data;
			JsonNode *member = json_object_get_member (ao, key);
			g_autofree char *sub = g_strdup_printf ("%s.%s", where, key);
			if (member == NULL) {
				*reason = g_strdup_printf ("%s: missing", sub);
				return FALSE;
			}
			if (!ep_json_equal (json_object_get_member (eo, key), member, sub, reason))
				return FALSE;
		}
		return TRUE;
	}

	if (JSON_NODE_HOLDS_ARRAY (expected)) {
		JsonArray *ea = json_node_get_array (expected);
		JsonArray *aa;
		if (!JSON_NODE_HOLDS_ARRAY (actual)) {
			g_autofree char *got = ep_json_describe (actual);
			*reason = g_strdup_printf ("%s: expected an array, got %s", where, got);
			return FALSE;
		}
		aa = json_node_get_array (actual);
		if (json_array_get_length (ea) != json_array_get_length (aa)) {
			*reason = g_strdup_printf ("%s: expected %u elements, got %u", where,
						   json_array_get_length (ea), json_array_get_length (aa));
			return FALSE;
		}
		for (guint i = 0; i < json_array_get_length (ea); i++) {
			g_autofree char *sub = g_strdup_printf ("%s[%u]", where, i);
			if (!ep_json_equal (json_array_get_element (ea, i), json_array_get_element (aa, i), sub, reason))
				return FALSE;
		}
		return TRUE;
	}

	*reason = g_strdup_printf ("%s: the expected JSON is not tagged toml-test JSON", where);
	return FALSE;
}

/* ------------------------------------------------------------------------ */
/* the cases                                                                */
/* ------------------------------------------------------------------------ */

static gboolean
ep_read (const char *path, char **contents, gsize *len)
{
	g_autoptr(GError) error = NULL;

	if (g_file_get_contents (path, contents, len, &error))
		return TRUE;
	g_test_fail_printf ("%s", error->message);
	return FALSE;
}

static void
test_toml_valid (gconstpointer data)
{
	const EpTomlCase *tc = data;
	g_autofree char *toml = NULL;
	g_autofree char *json = NULL;
	g_autofree char *actual_text = NULL;
	g_autofree char *reason = NULL;
	g_autoptr(EpTomlValue) root = NULL;
	g_autoptr(JsonNode) expected = NULL;
	g_autoptr(JsonNode) actual = NULL;
	g_autoptr(GError) error = NULL;
	gsize toml_len = 0;
	gsize json_len = 0;

	if (!ep_read (tc->toml_path, &toml, &toml_len) || !ep_read (tc->json_path, &json, &json_len))
		return;
	root = ep_toml_parse (toml, (gssize) toml_len, tc->name, &error);
	if (root == NULL) {
		g_test_fail_printf ("refused a valid document: %s", error->message);
		return;
	}
	actual_text = ep_toml_json_write (root, FALSE);
	expected = ep_toml_json_load (json, (gssize) json_len, &error);
	if (expected == NULL) {
		g_test_fail_printf ("%s: %s", tc->json_path, error->message);
		return;
	}
	actual = ep_toml_json_load (actual_text, -1, &error);
	if (actual == NULL) {
		g_test_fail_printf ("the JSON written for the document does not parse: %s\n%s", error->message,
				    actual_text);
		return;
	}
	if (!ep_json_equal (expected, actual, "(root)", &reason))
		g_test_fail_printf ("%s\nexpected: %s\nactual:   %s", reason, json, actual_text);
}

/* "NAME:LINE: reason" */
static gboolean
ep_error_has_location (const char *message, const char *name)
{
	const char *p;

	if (!g_str_has_prefix (message, name) || message[strlen (name)] != ':')
		return FALSE;
	p = message + strlen (name) + 1;
	if (!g_ascii_isdigit (*p) || *p == '0')
		return FALSE;
	while (g_ascii_isdigit (*p))
		p++;
	return p[0] == ':' && p[1] == ' ' && p[2] != '\0';
}

static void
test_toml_invalid (gconstpointer data)
{
	const EpTomlCase *tc = data;
	g_autofree char *toml = NULL;
	g_autoptr(EpTomlValue) root = NULL;
	g_autoptr(GError) error = NULL;
	gsize toml_len = 0;

	if (!ep_read (tc->toml_path, &toml, &toml_len))
		return;
	root = ep_toml_parse (toml, (gssize) toml_len, tc->name, &error);
	if (root != NULL) {
		g_autofree char *text = ep_toml_json_write (root, FALSE);
		g_test_fail_printf ("accepted an invalid document as %s", text);
		return;
	}
	if (!g_error_matches (error, EP_ERROR, EP_ERROR_INVALID)) {
		g_test_fail_printf ("wrong error %s/%d: %s", g_quark_to_string (error->domain), error->code,
				    error->message);
		return;
	}
	if (!ep_error_has_location (error->message, tc->name)) {
		g_test_fail_printf ("the error does not start with '%s:LINE: ': %s", tc->name, error->message);
		return;
	}
	g_test_message ("%s", error->message);
}

static void
test_toml_data_missing (gconstpointer data)
{
	const char *message = data;

	g_test_message ("%s", message);
	g_test_skip (message);
}

static void
test_toml_list_empty (gconstpointer data)
{
	g_test_fail_printf ("%s lists no valid/invalid .toml case", (const char *) data);
}

int
main (int argc, char **argv)
{
	g_autoptr(GPtrArray) cases = g_ptr_array_new_with_free_func (ep_toml_case_free);
	g_autofree char *list_path = NULL;
	g_autofree char *list = NULL;
	g_autofree char *missing = NULL;
	g_auto(GStrv) lines = NULL;
	const char *dir = g_getenv ("EPISTLE_TOML_TEST_DIR");

	g_test_init (&argc, &argv, NULL);
	if (dir == NULL || *dir == '\0')
		dir = EP_TOML_TEST_DEFAULT_DIR;
	list_path = g_build_filename (dir, EP_TOML_TEST_LIST, NULL);
	if (!g_file_get_contents (list_path, &list, NULL, NULL)) {
		missing = g_strdup_printf ("toml-test data not found at %s: skipped", dir);
		g_printerr ("%s\n", missing);
		g_test_add_data_func ("/toml-test/data", missing, test_toml_data_missing);
		return g_test_run ();
	}

	lines = g_strsplit (list, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const char *line = g_strstrip (lines[i]);
		gboolean valid = g_str_has_prefix (line, "valid/");
		EpTomlCase *tc;
		g_autofree char *testpath = NULL;

		if (!g_str_has_suffix (line, ".toml") || (!valid && !g_str_has_prefix (line, "invalid/")))
			continue;
		tc = g_new0 (EpTomlCase, 1);
		tc->name = g_strndup (line, strlen (line) - strlen (".toml"));
		tc->toml_path = g_build_filename (dir, line, NULL);
		if (valid) {
			g_autofree char *json_name = g_strconcat (tc->name, ".json", NULL);
			tc->json_path = g_build_filename (dir, json_name, NULL);
		}
		g_ptr_array_add (cases, tc);
		testpath = g_strconcat ("/toml-test/", tc->name, NULL);
		g_test_add_data_func (testpath, tc, valid ? test_toml_valid : test_toml_invalid);
	}
	if (cases->len == 0)
		g_test_add_data_func ("/toml-test/list", list_path, test_toml_list_empty);
	return g_test_run ();
}
