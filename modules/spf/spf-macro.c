/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SPF macro-strings (RFC 7208 §7):
 *
 *   macro-string = *( macro-expand / macro-literal )
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   macro-literal = %x21-24 / %x26-7E
 *   transformers = *DIGIT [ "r" ]
 *   delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * One walker serves both the syntax check (no values) and the expansion.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "spf-macro.h"

#define SPF_MACRO_MAX_PARTS 128 /* a larger DIGIT transformer keeps every part */

gboolean
spf_macro_letter_allowed (char c, SpfMacroKind kind)
{
	switch (g_ascii_tolower (c)) {
	case 's':
	case 'l':
	case 'o':
	case 'd':
	case 'i':
	case 'p':
	case 'h':
	case 'v':
		return TRUE;
	case 'c':
	case 'r':
	case 't':
		return kind != SPF_MACRO_DOMAIN_SPEC;
	default:
		return FALSE;
	}
}

static gboolean
spf_macro_is_delimiter (char c)
{
	return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

static gboolean
spf_macro_is_literal (guchar c)
{
	return c >= 0x21 && c <= 0x7e && c != '%';
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static gboolean
spf_macro_is_toplabel (const char *s, gsize len)
{
	gboolean alpha = FALSE;
	gboolean dash = FALSE;

	if (len == 0 || !g_ascii_isalnum (s[0]) || !g_ascii_isalnum (s[len - 1]))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (g_ascii_isalpha (s[i]))
			alpha = TRUE;
		else if (s[i] == '-')
			dash = TRUE;
		else if (!g_ascii_isdigit (s[i]))
			return FALSE;
	}
	return alpha || dash;
}

/* domain-end = ( "." toplabel [ "." ] ) / macro-expand, checked on the
 * literal text after the last macro-expand */
static gboolean
spf_macro_check_domain_end (const char *tail, gsize len)
{
	const char *dot;

	if (len > 0 && tail[len - 1] == '.')
		len--;
	dot = g_strrstr_len (tail, (gssize)len, ".");
	if (dot == NULL)
		return FALSE;
	return spf_macro_is_toplabel (dot + 1, len - (gsize)(dot + 1 - tail));
}

static void
spf_macro_append_escaped (GString *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		guchar c = (guchar)*p;
		/* RFC 3986 unreserved characters stay, everything else is %XX */
		if (g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~')
			g_string_append_c (out, (char)c);
		else
			g_string_append_printf (out, "%%%02X", c);
	}
}

static char *
spf_macro_ip_dotted (GInetAddress *ip)
{
	const guint8 *bytes = g_inet_address_to_bytes (ip);
	GString *s;

	if (g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV4)
		return g_inet_address_to_string (ip);
	/* IPv6: 32 nibbles, dot-separated (RFC 7208 §7.3) */
	s = g_string_sized_new (64);
	for (guint i = 0; i < 16; i++)
		g_string_append_printf (s, "%s%x.%x", i == 0 ? "" : ".", bytes[i] >> 4, bytes[i] & 0xf);
	return g_string_free (s, FALSE);
}

static char *
spf_macro_value (char letter, const SpfMacroVars *vars)
{
	switch (g_ascii_tolower (letter)) {
	case 's':
		return g_strdup (vars->sender);
	case 'l':
		return g_strdup (vars->local_part);
	case 'o':
		return g_strdup (vars->sender_domain);
	case 'd':
		return g_strdup (vars->domain);
	case 'i':
		return spf_macro_ip_dotted (vars->ip);
	case 'c':
		return g_inet_address_to_string (vars->ip);
	case 'p':
		return g_strdup (vars->validated_domain != NULL ? vars->validated_domain : "unknown");
	case 'v':
		return g_strdup (g_inet_address_get_family (vars->ip) == G_SOCKET_FAMILY_IPV4 ? "in-addr" : "ip6");
	case 'h':
		return g_strdup (vars->helo != NULL ? vars->helo : "unknown");
	case 'r':
		return g_strdup (vars->receiver != NULL ? vars->receiver : "unknown");
	case 't':
		return g_strdup_printf ("%" G_GINT64_FORMAT, vars->timestamp);
	default:
		g_assert_not_reached ();
	}
}

/* Applies the transformers: split @value on @delims (default "."), reverse
 * when @reverse, keep the rightmost @keep parts (0: all), join with ".". */
static void
spf_macro_transform (GString *out, const char *value, guint keep, gboolean reverse, const char *delims, gsize n_delims)
{
	g_autoptr (GPtrArray) parts = g_ptr_array_new ();
	g_autofree char *copy = g_strdup (value);
	char *start = copy;
	guint first;

	for (char *p = copy;; p++) {
		gboolean split = FALSE;
		if (*p == '\0') {
			g_ptr_array_add (parts, start);
			break;
		}
		if (n_delims == 0)
			split = *p == '.';
		else
			split = memchr (delims, *p, n_delims) != NULL;
		if (split) {
			*p = '\0';
			g_ptr_array_add (parts, start);
			start = p + 1;
		}
	}
	if (reverse) {
		for (guint i = 0, j = parts->len - 1; i < j; i++, j--) {
			gpointer tmp = parts->pdata[i];
			parts->pdata[i] = parts->pdata[j];
			parts->pdata[j] = tmp;
		}
	}
	first = keep > 0 && keep < parts->len ? parts->len - keep : 0;
	for (guint i = first; i < parts->len; i++) {
		if (i > first)
			g_string_append_c (out, '.');
		g_string_append (out, g_ptr_array_index (parts, i));
	}
}

/* The walker: with @vars NULL it only checks; with @out it expands. */
static gboolean
spf_macro_walk (const char *str, gsize len, SpfMacroKind kind, const SpfMacroVars *vars, GString *out, gboolean *uses_p,
		GError **error)
{
	gsize tail = 0; /* where the literal text after the last macro-expand begins */
	gsize i = 0;

	if (uses_p != NULL)
		*uses_p = FALSE;
	while (i < len) {
		guchar c = (guchar)str[i];

		if (out != NULL && out->len > SPF_MACRO_MAX_OUTPUT) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "macro expansion longer than %u characters",
				     SPF_MACRO_MAX_OUTPUT);
			return FALSE;
		}
		if (c == ' ' && kind == SPF_MACRO_EXPLANATION) {
			if (out != NULL)
				g_string_append_c (out, ' ');
			i++;
			continue;
		}
		if (c != '%') {
			if (!spf_macro_is_literal (c)) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "character 0x%02x not allowed at %zu",
					     c, i);
				return FALSE;
			}
			if (out != NULL)
				g_string_append_c (out, (char)c);
			i++;
			continue;
		}
		if (i + 1 >= len) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "'%%' at the end of a macro-string");
			return FALSE;
		}
		switch (str[i + 1]) {
		case '%':
			if (out != NULL)
				g_string_append_c (out, '%');
			i += 2;
			tail = i;
			continue;
		case '_':
			if (out != NULL)
				g_string_append_c (out, ' ');
			i += 2;
			tail = i;
			continue;
		case '-':
			if (out != NULL)
				g_string_append (out, "%20");
			i += 2;
			tail = i;
			continue;
		case '{':
			break;
		default:
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "'%%' must be followed by '{', '%%', '_' or '-' (at %zu)", i);
			return FALSE;
		}
		/* %{ letter *DIGIT [r] *delimiter } */
		{
			gsize j = i + 2;
			char letter;
			guint keep = 0;
			gboolean has_digits = FALSE;
			gboolean reverse = FALSE;
			const char *delims;
			gsize n_delims = 0;

			if (j >= len || !spf_macro_letter_allowed (str[j], kind)) {
				if (j < len && spf_macro_letter_allowed (str[j], SPF_MACRO_EXPLANATION))
					g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
						     "macro letter '%c' is allowed only in explanations", str[j]);
				else
					g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unknown macro letter at %zu",
						     j);
				return FALSE;
			}
			letter = str[j++];
			while (j < len && g_ascii_isdigit (str[j])) {
				has_digits = TRUE;
				if (keep <= SPF_MACRO_MAX_PARTS)
					keep = keep * 10 + (guint)(str[j] - '0');
				j++;
			}
			if (has_digits && keep == 0) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "macro digit transformer 0");
				return FALSE;
			}
			if (j < len && g_ascii_tolower (str[j]) == 'r') {
				reverse = TRUE;
				j++;
			}
			delims = str + j;
			while (j < len && spf_macro_is_delimiter (str[j])) {
				n_delims++;
				j++;
			}
			if (j >= len || str[j] != '}') {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "malformed macro at %zu", i);
				return FALSE;
			}
			j++;
			if (g_ascii_tolower (letter) == 'p' && uses_p != NULL)
				*uses_p = TRUE;
			if (out != NULL) {
				g_autofree char *value = spf_macro_value (letter, vars);
				if (value == NULL)
					value = g_strdup ("");
				if (g_ascii_isupper (letter)) {
					g_autoptr (GString) plain = g_string_new (NULL);
					spf_macro_transform (plain, value, keep, reverse, delims, n_delims);
					spf_macro_append_escaped (out, plain->str);
				} else {
					spf_macro_transform (out, value, keep, reverse, delims, n_delims);
				}
			}
			i = j;
			tail = i;
		}
	}
	if (out != NULL && out->len > SPF_MACRO_MAX_OUTPUT) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "macro expansion longer than %u characters",
			     SPF_MACRO_MAX_OUTPUT);
		return FALSE;
	}
	if (kind == SPF_MACRO_DOMAIN_SPEC) {
		if (len == 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "empty domain-spec");
			return FALSE;
		}
		if (tail < len && !spf_macro_check_domain_end (str + tail, len - tail)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "domain-spec does not end in a top-level label or a macro");
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
spf_macro_check (const char *str, gsize len, SpfMacroKind kind, gboolean *uses_p, GError **error)
{
	return spf_macro_walk (str, len, kind, NULL, NULL, uses_p, error);
}

void
spf_domain_truncate (GString *domain)
{
	while (domain->len > SPF_DOMAIN_MAX) {
		const char *dot = strchr (domain->str, '.');
		if (dot == NULL) {
			g_string_truncate (domain, 0);
			return;
		}
		g_string_erase (domain, 0, (gssize)(dot + 1 - domain->str));
	}
}

char *
spf_macro_expand (const char *str, gsize len, SpfMacroKind kind, const SpfMacroVars *vars, GError **error)
{
	g_autoptr (GString) out = g_string_sized_new (len + 32);

	g_return_val_if_fail (vars != NULL && vars->ip != NULL, NULL);
	if (!spf_macro_walk (str, len, kind, vars, out, NULL, error))
		return NULL;
	if (kind == SPF_MACRO_DOMAIN_SPEC) {
		if (out->len > 0 && out->str[out->len - 1] == '.')
			g_string_truncate (out, out->len - 1);
		spf_domain_truncate (out);
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}
