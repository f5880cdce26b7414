/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPF record parser (RFC 7208 §4.6.1, §5, §6):
 *
 *   record    = version terms *SP
 *   version   = "v=spf1"
 *   terms     = *( 1*SP ( directive / modifier ) )
 *   directive = [ qualifier ] mechanism
 *   modifier  = redirect / explanation / unknown-modifier
 *   unknown-modifier = name "=" macro-string
 *   name      = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include <epistle.h>

#include "spf-macro.h"
#include "spf-record.h"

static void
spf_mechanism_free (SpfMechanism *mech)
{
	g_free (mech->domain_spec);
	g_free (mech);
}

void
spf_record_free (SpfRecord *record)
{
	if (record == NULL)
		return;
	g_clear_pointer (&record->mechanisms, g_ptr_array_unref);
	g_free (record->redirect);
	g_free (record->exp);
	g_free (record);
}

const char *
spf_mech_kind_to_string (SpfMechKind kind)
{
	switch (kind) {
	case SPF_MECH_ALL:
		return "all";
	case SPF_MECH_INCLUDE:
		return "include";
	case SPF_MECH_A:
		return "a";
	case SPF_MECH_MX:
		return "mx";
	case SPF_MECH_PTR:
		return "ptr";
	case SPF_MECH_IP4:
		return "ip4";
	case SPF_MECH_IP6:
		return "ip6";
	case SPF_MECH_EXISTS:
		return "exists";
	default:
		return "?";
	}
}

gboolean
spf_mech_kind_does_dns (SpfMechKind kind)
{
	return kind == SPF_MECH_INCLUDE || kind == SPF_MECH_A || kind == SPF_MECH_MX || kind == SPF_MECH_PTR ||
	       kind == SPF_MECH_EXISTS;
}

gboolean
spf_record_is_spf (const char *text, gsize len)
{
	return len >= 6 && g_ascii_strncasecmp (text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

static gboolean
spf_token_equal (const char *s, gsize len, const char *word)
{
	return strlen (word) == len && g_ascii_strncasecmp (s, word, len) == 0;
}

gboolean
spf_parse_ip4 (const char *s, gsize len, guint8 out[4])
{
	gsize i = 0;

	for (guint part = 0; part < 4; part++) {
		guint value = 0;
		gsize start = i;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return FALSE;
			start = ++i;
		}
		while (i < len && g_ascii_isdigit (s[i]) && i - start < 3)
			value = value * 10 + (guint)(s[i++] - '0');
		if (i == start || value > 255 || (s[start] == '0' && i - start > 1))
			return FALSE;
		out[part] = (guint8)value;
	}
	return i == len;
}

static gboolean
spf_parse_ip6 (const char *s, gsize len, guint8 out[16])
{
	char buf[64];

	if (len == 0 || len >= sizeof buf)
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isxdigit (s[i]) && s[i] != ':' && s[i] != '.')
			return FALSE;
	memcpy (buf, s, len);
	buf[len] = '\0';
	return inet_pton (AF_INET6, buf, out) == 1;
}

/* "/" followed by 1*DIGIT with no leading zero, at most @max */
static gboolean
spf_parse_cidr (const char *s, gsize len, guint max, guint *out)
{
	guint value = 0;

	if (len < 1 || len > 3 || (s[0] == '0' && len > 1))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isdigit (s[i]))
			return FALSE;
		value = value * 10 + (guint)(s[i] - '0');
	}
	if (value > max)
		return FALSE;
	*out = value;
	return TRUE;
}

static gboolean
spf_all_digits (const char *s, gsize len)
{
	if (len == 0)
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isdigit (s[i]))
			return FALSE;
	return TRUE;
}

/* Takes a dual-cidr-length off the end of @rest (a, mx):
 * [ "/" ip4-cidr ] [ "//" ip6-cidr ] */
static gboolean
spf_take_dual_cidr (const char *rest, gsize *len, SpfMechanism *mech, GError **error)
{
	const char *slash = g_strrstr_len (rest, (gssize)*len, "/");

	if (slash != NULL && spf_all_digits (slash + 1, *len - (gsize)(slash + 1 - rest)) && slash > rest &&
	    slash[-1] == '/') {
		if (!spf_parse_cidr (slash + 1, *len - (gsize)(slash + 1 - rest), 128, &mech->cidr6)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "bad IPv6 prefix length");
			return FALSE;
		}
		*len = (gsize)(slash - 1 - rest);
		slash = g_strrstr_len (rest, (gssize)*len, "/");
	}
	if (slash != NULL && spf_all_digits (slash + 1, *len - (gsize)(slash + 1 - rest))) {
		if (!spf_parse_cidr (slash + 1, *len - (gsize)(slash + 1 - rest), 32, &mech->cidr4)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "bad IPv4 prefix length");
			return FALSE;
		}
		*len = (gsize)(slash - rest);
	}
	return TRUE;
}

static gboolean
spf_take_domain_spec (const char *rest, gsize len, gboolean required, SpfMechanism *mech, GError **error)
{
	if (len == 0) {
		if (required) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s needs a domain",
				     spf_mech_kind_to_string (mech->kind));
			return FALSE;
		}
		return TRUE;
	}
	if (rest[0] != ':') {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unexpected '%c' after %s", rest[0],
			     spf_mech_kind_to_string (mech->kind));
		return FALSE;
	}
	if (!spf_macro_check (rest + 1, len - 1, SPF_MACRO_DOMAIN_SPEC, NULL, error)) {
		g_prefix_error (error, "%s: ", spf_mech_kind_to_string (mech->kind));
		return FALSE;
	}
	mech->domain_spec = g_strndup (rest + 1, len - 1);
	return TRUE;
}

static gboolean
spf_take_ip (const char *rest, gsize len, SpfMechanism *mech, GError **error)
{
	gboolean v4 = mech->kind == SPF_MECH_IP4;
	const char *slash;
	gsize addr_len;
	gboolean ok;

	if (len < 2 || rest[0] != ':') {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s needs an address", v4 ? "ip4" : "ip6");
		return FALSE;
	}
	rest++;
	len--;
	slash = memchr (rest, '/', len);
	addr_len = slash != NULL ? (gsize)(slash - rest) : len;
	ok = v4 ? spf_parse_ip4 (rest, addr_len, mech->network) : spf_parse_ip6 (rest, addr_len, mech->network);
	if (!ok) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: bad address", v4 ? "ip4" : "ip6");
		return FALSE;
	}
	if (slash != NULL &&
	    !spf_parse_cidr (slash + 1, len - addr_len - 1, v4 ? 32 : 128, v4 ? &mech->cidr4 : &mech->cidr6)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: bad prefix length", v4 ? "ip4" : "ip6");
		return FALSE;
	}
	return TRUE;
}

static gboolean
spf_parse_modifier (SpfRecord *record, const char *name, gsize name_len, const char *value, gsize value_len,
		    GError **error)
{
	char **slot = NULL;

	if (spf_token_equal (name, name_len, "redirect"))
		slot = &record->redirect;
	else if (spf_token_equal (name, name_len, "exp"))
		slot = &record->exp;
	if (slot == NULL) {
		/* unknown modifiers are ignored, but must be well-formed */
		if (!spf_macro_check (value, value_len, SPF_MACRO_STRING, NULL, error)) {
			g_prefix_error (error, "modifier %.*s: ", (int)name_len, name);
			return FALSE;
		}
		record->n_unknown++;
		return TRUE;
	}
	if (*slot != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%.*s= appears twice", (int)name_len, name);
		return FALSE;
	}
	if (!spf_macro_check (value, value_len, SPF_MACRO_DOMAIN_SPEC, NULL, error)) {
		g_prefix_error (error, "%.*s=: ", (int)name_len, name);
		return FALSE;
	}
	*slot = g_strndup (value, value_len);
	return TRUE;
}

static gboolean
spf_parse_term (SpfRecord *record, const char *t, gsize len, GError **error)
{
	static const struct {
		const char *name;
		SpfMechKind kind;
	} names[] = {
	    {"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},	 {"mx", SPF_MECH_MX},
	    {"ptr", SPF_MECH_PTR}, {"ip4", SPF_MECH_IP4},	  {"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
	};
	g_autofree SpfMechanism *mech = NULL;
	gsize n = 0;
	gsize name_len;
	gboolean known = FALSE;
	const char *rest;
	gsize rest_len;

	/* a modifier: name "=" */
	if (g_ascii_isalpha (t[0])) {
		while (n < len && (g_ascii_isalnum (t[n]) || t[n] == '-' || t[n] == '_' || t[n] == '.'))
			n++;
		if (n < len && t[n] == '=')
			return spf_parse_modifier (record, t, n, t + n + 1, len - n - 1, error);
	}

	mech = g_new0 (SpfMechanism, 1);
	mech->qualifier = SPF_QUALIFIER_PASS;
	mech->cidr4 = 32;
	mech->cidr6 = 128;
	n = 0;
	if (t[0] == '+' || t[0] == '-' || t[0] == '~' || t[0] == '?') {
		mech->qualifier = (SpfQualifier)t[0];
		n = 1;
	}
	name_len = 0;
	while (n + name_len < len && g_ascii_isalnum (t[n + name_len]))
		name_len++;
	for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
		if (spf_token_equal (t + n, name_len, names[i].name)) {
			mech->kind = names[i].kind;
			known = TRUE;
			break;
		}
	}
	if (!known) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unknown mechanism '%.*s'", (int)MIN (len, 64), t);
		return FALSE;
	}
	rest = t + n + name_len;
	rest_len = len - n - name_len;

	switch (mech->kind) {
	case SPF_MECH_ALL:
		if (rest_len != 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "'all' takes no argument");
			return FALSE;
		}
		record->has_all = TRUE;
		break;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		if (!spf_take_domain_spec (rest, rest_len, TRUE, mech, error))
			return FALSE;
		break;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		if (!spf_take_dual_cidr (rest, &rest_len, mech, error) ||
		    !spf_take_domain_spec (rest, rest_len, FALSE, mech, error))
			return FALSE;
		break;
	case SPF_MECH_PTR:
		if (!spf_take_domain_spec (rest, rest_len, FALSE, mech, error))
			return FALSE;
		break;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		if (!spf_take_ip (rest, rest_len, mech, error))
			return FALSE;
		break;
	default:
		g_assert_not_reached ();
	}
	g_ptr_array_add (record->mechanisms, g_steal_pointer (&mech));
	return TRUE;
}

SpfRecord *
spf_record_parse (const char *text, gsize len, GError **error)
{
	g_autoptr (SpfRecord) record = NULL;
	gsize i;

	if (!spf_record_is_spf (text, len)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "not an SPF record (no \"v=spf1\")");
		return NULL;
	}
	for (i = 0; i < len; i++) {
		guchar c = (guchar)text[i];
		if (c < 0x20 || c > 0x7e) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "character 0x%02x at %zu: SPF records are printable ASCII", c, i);
			return NULL;
		}
	}
	record = g_new0 (SpfRecord, 1);
	record->mechanisms = g_ptr_array_new_with_free_func ((GDestroyNotify)spf_mechanism_free);
	i = 6;
	while (i < len) {
		gsize start;

		while (i < len && text[i] == ' ')
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && text[i] != ' ')
			i++;
		if (!spf_parse_term (record, text + start, i - start, error))
			return NULL;
	}
	return g_steal_pointer (&record);
}
