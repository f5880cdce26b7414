/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dkim-key.h"
#include "dkim-signature.h"
#include "ep-error.h"

/* FWS: white space, and the CRLF of folding (the header splitter already
 * made sure a CRLF inside a field is followed by white space) */
#define IS_FWS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')
/* RFC 6376 §3.2 VALCHAR: %x21-3A / %x3C-7E */
#define IS_VALCHAR(c) ((guchar) (c) >= 0x21 && (guchar) (c) <= 0x7e && (c) != ';')

/* more names in h= than this is not a signature anyone makes */
#define DKIM_SIG_MAX_HEADERS 256

/* ---- the tag list ---------------------------------------------------------- */

static gboolean
dkim_tag_name_equal (const char *text, const DkimTag *a, const DkimTag *b)
{
	return a->name_length == b->name_length &&
	       memcmp (text + a->name_offset, text + b->name_offset, a->name_length) == 0;
}

GArray *
dkim_tag_list_parse (const char *text, gsize len, GError **error)
{
	g_autoptr (GArray) tags = g_array_new (FALSE, TRUE, sizeof (DkimTag));
	gsize pos = 0;

	for (;;) {
		DkimTag tag = { 0 };
		gsize last;

		while (pos < len && IS_FWS (text[pos]))
			pos++;
		if (pos == len) {
			/* the end: after a last ";" (allowed) or of an empty list */
			if (tags->len == 0) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "empty tag list");
				return NULL;
			}
			return g_steal_pointer (&tags);
		}
		if (!g_ascii_isalpha (text[pos])) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "malformed tag list at offset %" G_GSIZE_FORMAT,
				     pos);
			return NULL;
		}
		tag.name_offset = pos;
		while (pos < len && (g_ascii_isalnum (text[pos]) || text[pos] == '_'))
			pos++;
		tag.name_length = pos - tag.name_offset;
		while (pos < len && IS_FWS (text[pos]))
			pos++;
		if (pos == len || text[pos] != '=') {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "tag %.*s without '='", (int) MIN (tag.name_length, 32),
				     text + tag.name_offset);
			return NULL;
		}
		pos++;
		while (pos < len && IS_FWS (text[pos]))
			pos++;
		tag.value_offset = pos;
		last = pos;
		while (pos < len && text[pos] != ';') {
			if (IS_VALCHAR (text[pos]))
				last = pos + 1;
			else if (!IS_FWS (text[pos])) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid octet in the value of %.*s=",
					     (int) MIN (tag.name_length, 32), text + tag.name_offset);
				return NULL;
			}
			pos++;
		}
		tag.value_length = last - tag.value_offset;
		for (guint i = 0; i < tags->len; i++) {
			if (dkim_tag_name_equal (text, &g_array_index (tags, DkimTag, i), &tag)) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "duplicate tag %.*s=",
					     (int) MIN (tag.name_length, 32), text + tag.name_offset);
				return NULL;
			}
		}
		if (tags->len >= DKIM_TAGS_MAX) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "more than %u tags", DKIM_TAGS_MAX);
			return NULL;
		}
		g_array_append_val (tags, tag);
		if (pos == len)
			return g_steal_pointer (&tags);
		pos++; /* the ";" */
	}
}

const DkimTag *
dkim_tag_list_find (const char *text, GArray *tags, const char *name)
{
	gsize n = strlen (name);

	for (guint i = 0; i < tags->len; i++) {
		const DkimTag *t = &g_array_index (tags, DkimTag, i);
		if (t->name_length == n && memcmp (text + t->name_offset, name, n) == 0)
			return t;
	}
	return NULL;
}

char *
dkim_tag_value_compact (const char *text, const DkimTag *tag)
{
	GString *out = g_string_sized_new (tag->value_length);

	for (gsize i = 0; i < tag->value_length; i++) {
		char c = text[tag->value_offset + i];
		if (!IS_FWS (c))
			g_string_append_c (out, c);
	}
	return g_string_free (out, FALSE);
}

/* the value as written (white space inside kept) */
static char *
dkim_tag_value (const char *text, const DkimTag *tag)
{
	return g_strndup (text + tag->value_offset, tag->value_length);
}

static gboolean
dkim_is_base64_char (char c)
{
	return g_ascii_isalnum (c) || c == '+' || c == '/';
}

GBytes *
dkim_base64_decode_strict (const char *text, gsize len)
{
	g_autoptr (GString) compact = g_string_sized_new (len);
	guint pad = 0;
	guchar *raw;
	gsize raw_len = 0;

	for (gsize i = 0; i < len; i++) {
		char c = text[i];
		if (IS_FWS (c))
			continue;
		if (c == '=') {
			pad++;
		} else if (!dkim_is_base64_char (c) || pad > 0) {
			return NULL; /* not base64, or data after the padding */
		}
		g_string_append_c (compact, c);
	}
	if (pad > 2 || compact->len % 4 != 0)
		return NULL;
	if (compact->len == 0)
		return g_bytes_new (NULL, 0);
	raw = g_base64_decode (compact->str, &raw_len);
	return g_bytes_new_take (raw, raw_len);
}

/* ---- the signature ------------------------------------------------------------ */

void
dkim_signature_free (DkimSignature *sig)
{
	if (sig == NULL)
		return;
	g_free (sig->algorithm_name);
	g_free (sig->domain);
	g_free (sig->selector);
	g_free (sig->identity);
	g_clear_pointer (&sig->headers, g_ptr_array_unref);
	g_clear_pointer (&sig->body_hash, g_bytes_unref);
	g_clear_pointer (&sig->signature, g_bytes_unref);
	g_free (sig->b_text);
	g_free (sig->value_without_b);
	g_free (sig);
}

/* 1*@max_digits DIGIT */
static gboolean
dkim_parse_decimal (const char *text, guint max_digits, gint64 *out)
{
	gsize n = strlen (text);
	gint64 v = 0;

	if (n == 0 || n > max_digits)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isdigit (text[i]))
			return FALSE;
		v = v * 10 + (text[i] - '0');
	}
	*out = v;
	return TRUE;
}

static gboolean
dkim_parse_canon (const char *text, DkimCanon *out)
{
	if (g_ascii_strcasecmp (text, "simple") == 0) {
		*out = DKIM_CANON_SIMPLE;
		return TRUE;
	}
	if (g_ascii_strcasecmp (text, "relaxed") == 0) {
		*out = DKIM_CANON_RELAXED;
		return TRUE;
	}
	return FALSE;
}

/* h=: names separated by colons, FWS around them */
static GPtrArray *
dkim_parse_header_list (const char *text, GError **error)
{
	g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	g_auto (GStrv) parts = g_strsplit (text, ":", -1);
	gboolean has_from = FALSE;

	for (guint i = 0; parts[i] != NULL; i++) {
		char *name = g_strstrip (parts[i]);

		if (*name == '\0') {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "h= has an empty field name");
			return NULL;
		}
		for (const char *p = name; *p != '\0'; p++) {
			/* ftext: printable US-ASCII but the colon */
			if ((guchar) *p < 33 || (guchar) *p > 126) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "h= has an invalid field name");
				return NULL;
			}
		}
		if (names->len >= DKIM_SIG_MAX_HEADERS) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "h= lists more than %u fields",
				     DKIM_SIG_MAX_HEADERS);
			return NULL;
		}
		has_from |= g_ascii_strcasecmp (name, "from") == 0;
		g_ptr_array_add (names, g_ascii_strdown (name, -1));
	}
	if (!has_from) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "h= does not include From");
		return NULL;
	}
	return g_steal_pointer (&names);
}

/* i= is [local-part] "@" domain, the domain d= or a subdomain of it */
static gboolean
dkim_identity_matches (const char *identity, const char *domain)
{
	const char *at = strrchr (identity, '@');
	g_autofree char *host = NULL;
	gsize hl;
	gsize dl = strlen (domain);

	if (at == NULL)
		return FALSE;
	host = g_ascii_strdown (at + 1, -1);
	if (!dkim_domain_is_valid (host))
		return FALSE;
	hl = strlen (host);
	if (hl == dl)
		return strcmp (host, domain) == 0;
	return hl > dl && host[hl - dl - 1] == '.' && strcmp (host + hl - dl, domain) == 0;
}

static const char *const dkim_required_tags[] = { "v", "a", "b", "bh", "d", "h", "s", NULL };

DkimSignature *
dkim_signature_parse (const char *value, gsize len, GError **error)
{
	g_autoptr (GArray) tags = dkim_tag_list_parse (value, len, error);
	g_autoptr (DkimSignature) sig = NULL;
	g_autofree char *v = NULL;
	g_autofree char *a = NULL;
	g_autofree char *h = NULL;
	const DkimTag *t;
	const DkimTag *b;
	GString *without_b;

	if (tags == NULL)
		return NULL;
	for (guint i = 0; dkim_required_tags[i] != NULL; i++) {
		if (dkim_tag_list_find (value, tags, dkim_required_tags[i]) == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "no %s= tag", dkim_required_tags[i]);
			return NULL;
		}
	}
	sig = g_new0 (DkimSignature, 1);
	sig->body_length = -1;
	sig->timestamp = -1;
	sig->expiration = -1;
	sig->header_canon = DKIM_CANON_SIMPLE;
	sig->body_canon = DKIM_CANON_SIMPLE;

	v = dkim_tag_value (value, dkim_tag_list_find (value, tags, "v"));
	if (strcmp (v, "1") != 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "v= is not 1");
		return NULL;
	}

	a = dkim_tag_value (value, dkim_tag_list_find (value, tags, "a"));
	sig->algorithm_name = g_ascii_strdown (a, -1);
	if (strcmp (sig->algorithm_name, "rsa-sha256") == 0)
		sig->algorithm = DKIM_SIG_RSA_SHA256;
	else if (strcmp (sig->algorithm_name, "ed25519-sha256") == 0)
		sig->algorithm = DKIM_SIG_ED25519_SHA256;
	else if (strcmp (sig->algorithm_name, "rsa-sha1") == 0)
		sig->algorithm = DKIM_SIG_RSA_SHA1;
	else {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "unknown algorithm a=");
		return NULL;
	}

	b = dkim_tag_list_find (value, tags, "b");
	sig->signature = dkim_base64_decode_strict (value + b->value_offset, b->value_length);
	if (sig->signature == NULL || g_bytes_get_size (sig->signature) == 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "b= is not base64");
		return NULL;
	}
	sig->b_text = dkim_tag_value_compact (value, b);

	t = dkim_tag_list_find (value, tags, "bh");
	sig->body_hash = dkim_base64_decode_strict (value + t->value_offset, t->value_length);
	if (sig->body_hash == NULL ||
	    g_bytes_get_size (sig->body_hash) != (sig->algorithm == DKIM_SIG_RSA_SHA1 ? 20u : 32u)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "bh= is not a base64 hash");
		return NULL;
	}

	t = dkim_tag_list_find (value, tags, "c");
	if (t != NULL) {
		g_autofree char *c = dkim_tag_value (value, t);
		char *slash = strchr (c, '/');

		if (slash != NULL)
			*slash = '\0';
		if (!dkim_parse_canon (c, &sig->header_canon) ||
		    (slash != NULL && !dkim_parse_canon (slash + 1, &sig->body_canon))) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "unknown canonicalization c=");
			return NULL;
		}
	}

	sig->domain = g_ascii_strdown (value + dkim_tag_list_find (value, tags, "d")->value_offset,
				       (gssize) dkim_tag_list_find (value, tags, "d")->value_length);
	if (!dkim_domain_is_valid (sig->domain)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "d= is not a domain name");
		return NULL;
	}

	h = dkim_tag_value (value, dkim_tag_list_find (value, tags, "h"));
	sig->headers = dkim_parse_header_list (h, error);
	if (sig->headers == NULL)
		return NULL;

	t = dkim_tag_list_find (value, tags, "i");
	if (t != NULL) {
		sig->identity = dkim_tag_value (value, t);
		if (!dkim_identity_matches (sig->identity, sig->domain)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "i= is not in d= or a subdomain of it");
			return NULL;
		}
	}

	t = dkim_tag_list_find (value, tags, "l");
	if (t != NULL) {
		g_autofree char *l = dkim_tag_value (value, t);
		/* 76 digits are allowed, but no body is longer than 18 */
		if (!dkim_parse_decimal (l, 18, &sig->body_length)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "l= is not a length");
			return NULL;
		}
	}

	t = dkim_tag_list_find (value, tags, "q");
	if (t != NULL) {
		g_autofree char *q = dkim_tag_value_compact (value, t);
		g_auto (GStrv) methods = g_strsplit (q, ":", -1);
		gboolean dns = FALSE;

		for (guint i = 0; methods[i] != NULL; i++)
			dns |= g_ascii_strcasecmp (methods[i], "dns/txt") == 0;
		if (!dns) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "q= does not offer dns/txt");
			return NULL;
		}
	}

	sig->selector = dkim_tag_value (value, dkim_tag_list_find (value, tags, "s"));
	if (!dkim_selector_is_valid (sig->selector)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "s= is not a selector");
		return NULL;
	}

	t = dkim_tag_list_find (value, tags, "t");
	if (t != NULL) {
		g_autofree char *ts = dkim_tag_value (value, t);
		if (!dkim_parse_decimal (ts, 12, &sig->timestamp)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "t= is not a time");
			return NULL;
		}
	}
	t = dkim_tag_list_find (value, tags, "x");
	if (t != NULL) {
		g_autofree char *xs = dkim_tag_value (value, t);
		if (!dkim_parse_decimal (xs, 12, &sig->expiration)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "x= is not a time");
			return NULL;
		}
		if (sig->timestamp >= 0 && sig->expiration <= sig->timestamp) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "x= is not after t=");
			return NULL;
		}
	}

	/* RFC 6376 §3.7: b= counts as empty; everything else stays as it is */
	without_b = g_string_sized_new (len);
	g_string_append_len (without_b, value, (gssize) b->value_offset);
	g_string_append_len (without_b, value + b->value_offset + b->value_length,
			     (gssize) (len - b->value_offset - b->value_length));
	sig->value_without_b_len = without_b->len;
	sig->value_without_b = g_string_free (without_b, FALSE);
	return g_steal_pointer (&sig);
}
