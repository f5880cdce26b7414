/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-auth-results.h"

struct _EpAuthResult {
	char *method;
	char *result;
	char *reason;	  /* (nullable) */
	GPtrArray *names; /* of char*: "ptype.property" */
	GPtrArray *values;
};

struct _EpAuthResults {
	gint ref_count;
	char *authserv_id;
	GPtrArray *results; /* of EpAuthResult* */
};

#define EP_AUTH_RESULTS_LINE 78
#define EP_AUTH_RESULTS_NAME_LEN 24 /* "Authentication-Results: " */

static void
ep_auth_result_free (EpAuthResult *r)
{
	g_free (r->method);
	g_free (r->result);
	g_free (r->reason);
	g_ptr_array_unref (r->names);
	g_ptr_array_unref (r->values);
	g_free (r);
}

EpAuthResults *
ep_auth_results_new (const char *authserv_id)
{
	EpAuthResults *self = g_new0 (EpAuthResults, 1);

	g_return_val_if_fail (authserv_id != NULL && authserv_id[0] != '\0', NULL);
	self->ref_count = 1;
	self->authserv_id = g_strdup (authserv_id);
	self->results = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_auth_result_free);
	return self;
}

EpAuthResults *
ep_auth_results_ref (EpAuthResults *self)
{
	g_return_val_if_fail (self != NULL, NULL);
	self->ref_count++;
	return self;
}

void
ep_auth_results_unref (EpAuthResults *self)
{
	if (self == NULL || --self->ref_count > 0)
		return;
	g_ptr_array_unref (self->results);
	g_free (self->authserv_id);
	g_free (self);
}

const char *
ep_auth_results_get_authserv_id (const EpAuthResults *self)
{
	return self->authserv_id;
}

/* printable text only: control characters become '?' (a header field
 * value must not carry them; a DNS TXT record or a peer's text may) */
static char *
ep_auth_results_clean (const char *text)
{
	char *out = g_utf8_make_valid (text, -1);

	for (char *p = out; *p != '\0'; p++) {
		if ((guchar) *p < 0x20 || (guchar) *p == 0x7f)
			*p = '?';
	}
	return out;
}

EpAuthResult *
ep_auth_results_add (EpAuthResults *self, const char *method, const char *result, const char *reason)
{
	EpAuthResult *r;

	g_return_val_if_fail (self != NULL, NULL);
	g_return_val_if_fail (method != NULL && result != NULL, NULL);
	if (self->results->len >= EP_AUTH_RESULTS_MAX)
		return NULL;
	r = g_new0 (EpAuthResult, 1);
	r->method = g_ascii_strdown (method, -1);
	r->result = g_ascii_strdown (result, -1);
	r->reason = reason != NULL ? ep_auth_results_clean (reason) : NULL;
	r->names = g_ptr_array_new_with_free_func (g_free);
	r->values = g_ptr_array_new_with_free_func (g_free);
	g_ptr_array_add (self->results, r);
	return r;
}

void
ep_auth_result_add_property (EpAuthResult *result, const char *ptype, const char *property, const char *value)
{
	g_return_if_fail (result != NULL);
	g_return_if_fail (ptype != NULL && property != NULL && value != NULL);
	g_ptr_array_add (result->names, g_strdup_printf ("%s.%s", ptype, property));
	g_ptr_array_add (result->values, ep_auth_results_clean (value));
}

guint
ep_auth_results_get_length (const EpAuthResults *self)
{
	return self->results->len;
}

const EpAuthResult *
ep_auth_results_get (const EpAuthResults *self, guint index)
{
	g_return_val_if_fail (index < self->results->len, NULL);
	return g_ptr_array_index (self->results, index);
}

const EpAuthResult *
ep_auth_results_find (const EpAuthResults *self, const char *method)
{
	for (guint i = 0; i < self->results->len; i++) {
		const EpAuthResult *r = g_ptr_array_index (self->results, i);
		if (g_ascii_strcasecmp (r->method, method) == 0)
			return r;
	}
	return NULL;
}

const char *
ep_auth_result_get_method (const EpAuthResult *result)
{
	return result->method;
}

const char *
ep_auth_result_get_result (const EpAuthResult *result)
{
	return result->result;
}

const char *
ep_auth_result_get_reason (const EpAuthResult *result)
{
	return result->reason;
}

const char *
ep_auth_result_get_property (const EpAuthResult *result, const char *name)
{
	for (guint i = 0; i < result->names->len; i++) {
		if (g_ascii_strcasecmp (g_ptr_array_index (result->names, i), name) == 0)
			return g_ptr_array_index (result->values, i);
	}
	return NULL;
}

/* ---- output ------------------------------------------------------------- */

/* RFC 2045 token: no space, control or tspecial */
static gboolean
ep_auth_results_is_token_char (guchar c)
{
	return c > 0x20 && c < 0x7f && strchr ("()<>@,;:\\\"/[]?=", c) == NULL;
}

static gboolean
ep_auth_results_is_token (const char *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		if (!ep_auth_results_is_token_char ((guchar) *s))
			return FALSE;
	}
	return TRUE;
}

/* [local-part "@"] domain-name, with a dot-atom local part (RFC 8601 §2.2 pvalue) */
static gboolean
ep_auth_results_is_address (const char *s)
{
	const char *at = strrchr (s, '@');
	const char *domain = at != NULL ? at + 1 : s;

	if (*domain == '\0' || *domain == '.')
		return FALSE;
	for (const char *p = domain; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
			return FALSE;
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return FALSE;
	}
	if (at == NULL || at == s)
		return TRUE; /* a domain, or "@domain" (the local part is optional) */
	if (*s == '.' || at[-1] == '.')
		return FALSE;
	for (const char *p = s; p < at; p++) {
		if (!(g_ascii_isalnum (*p) || strchr ("!#$%&'*+-/=?^_`{|}~.", *p) != NULL))
			return FALSE;
		if (*p == '.' && p[1] == '.')
			return FALSE;
	}
	return TRUE;
}

static void
ep_auth_results_append_value (GString *out, const char *value)
{
	if (ep_auth_results_is_token (value) || ep_auth_results_is_address (value)) {
		g_string_append (out, value);
		return;
	}
	g_string_append_c (out, '"');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c (out, '\\');
		g_string_append_c (out, *p);
	}
	g_string_append_c (out, '"');
}

/* appends @piece, after a space or a fold when the line would grow too long */
static void
ep_auth_results_append_piece (GString *out, gsize *line_len, const char *piece, gboolean fold)
{
	gsize n = strlen (piece);

	if (fold || *line_len + 1 + n > EP_AUTH_RESULTS_LINE) {
		g_string_append (out, "\r\n\t");
		*line_len = 8; /* a tab counts as up to eight columns */
	} else {
		g_string_append_c (out, ' ');
		*line_len += 1;
	}
	g_string_append (out, piece);
	*line_len += n;
}

char *
ep_auth_results_to_header_value (const EpAuthResults *self)
{
	GString *out = g_string_new (NULL);
	gsize line_len;

	ep_auth_results_append_value (out, self->authserv_id);
	line_len = EP_AUTH_RESULTS_NAME_LEN + out->len;
	if (self->results->len == 0) {
		g_string_append (out, "; none");
		return g_string_free (out, FALSE);
	}
	for (guint i = 0; i < self->results->len; i++) {
		const EpAuthResult *r = g_ptr_array_index (self->results, i);
		g_autoptr (GString) piece = g_string_new (NULL);

		g_string_append_c (out, ';');
		line_len++;
		g_string_append_printf (piece, "%s=%s", r->method, r->result);
		ep_auth_results_append_piece (out, &line_len, piece->str, TRUE);
		if (r->reason != NULL) {
			g_string_assign (piece, "reason=");
			ep_auth_results_append_value (piece, r->reason);
			ep_auth_results_append_piece (out, &line_len, piece->str, FALSE);
		}
		for (guint j = 0; j < r->names->len; j++) {
			g_string_printf (piece, "%s=", (char *) g_ptr_array_index (r->names, j));
			ep_auth_results_append_value (piece, g_ptr_array_index (r->values, j));
			ep_auth_results_append_piece (out, &line_len, piece->str, FALSE);
		}
	}
	return g_string_free (out, FALSE);
}

/* ---- input -------------------------------------------------------------- */

/* skips white space, folding and (nested) comments */
static gsize
ep_auth_results_skip_cfws (const char *s, gsize len, gsize i)
{
	guint depth = 0;

	while (i < len) {
		char c = s[i];
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '(') {
			depth = 1;
			i++;
		} else {
			break;
		}
	}
	return i;
}

gboolean
ep_auth_results_value_has_authserv_id (const char *value, gsize len, const char *authserv_id)
{
	g_autoptr (GString) id = g_string_new (NULL);
	gsize i;

	g_return_val_if_fail (authserv_id != NULL, FALSE);
	i = ep_auth_results_skip_cfws (value, len, 0);
	if (i < len && value[i] == '"') {
		for (i++; i < len && value[i] != '"'; i++) {
			if (value[i] == '\\' && i + 1 < len)
				i++;
			g_string_append_c (id, value[i]);
		}
		if (i >= len)
			return FALSE; /* unterminated */
	} else {
		for (; i < len && ep_auth_results_is_token_char ((guchar) value[i]); i++)
			g_string_append_c (id, value[i]);
	}
	/* what follows the id: CFWS, then a version, ';' or the end */
	return id->len > 0 && g_ascii_strcasecmp (id->str, authserv_id) == 0;
}
