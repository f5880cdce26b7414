/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DKIM signer's parsers on arbitrary bytes: the header splitter, the
 * author's domain, and both canonicalizations.  Checked properties: fields
 * lie inside the message, in order, without overlap, and the body starts
 * after them; the author's domain is lower-case and non-empty; the relaxed
 * form of a field is "name:value\r\n" with a lower-case name and no CR or
 * LF inside; the body canonicalizers give the same octets and the same
 * hash whether the body comes whole or cut in two at any point.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dkim-canon.h"
#include "dkim-sign.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_collect (const guint8 *data, gsize len, gpointer user_data)
{
	g_byte_array_append (user_data, data, (guint) len);
}

static void
fuzz_check_body (DkimCanon canon, const guint8 *body, gsize len, gsize cut)
{
	g_autoptr (GByteArray) whole = g_byte_array_new ();
	g_autoptr (GByteArray) pieces = g_byte_array_new ();
	DkimBodyCanon a;
	DkimBodyCanon b;

	dkim_body_canon_init (&a, canon, -1, fuzz_collect, whole);
	dkim_body_canon_feed (&a, body, len);
	dkim_body_canon_finish (&a);
	dkim_body_canon_init (&b, canon, -1, fuzz_collect, pieces);
	dkim_body_canon_feed (&b, body, cut);
	dkim_body_canon_feed (&b, body + cut, len - cut);
	dkim_body_canon_finish (&b);
	g_assert_cmpuint (whole->len, ==, pieces->len);
	g_assert (whole->len == 0 || memcmp (whole->data, pieces->data, whole->len) == 0);
	g_assert_cmpuint (dkim_body_canon_get_length (&a), ==, whole->len);
	/* a canonical body is empty or ends with CRLF */
	if (whole->len > 0)
		g_assert (whole->len >= 2 && whole->data[whole->len - 2] == '\r' && whole->data[whole->len - 1] == '\n');
	if (canon == DKIM_CANON_RELAXED) {
		for (guint i = 0; i + 2 < whole->len; i++)
			g_assert (!((whole->data[i] == ' ' || whole->data[i] == '\t') && whole->data[i + 1] == '\r' &&
				    whole->data[i + 2] == '\n'));
	}
}

static void
fuzz_check_header (const char *data, gsize size, GArray *fields, gsize body_offset)
{
	gsize end = 0;

	g_assert_cmpuint (body_offset, <=, size);
	for (guint i = 0; i < fields->len; i++) {
		const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, i);
		g_autoptr (GString) relaxed = g_string_new (NULL);
		g_autoptr (GString) simple = g_string_new (NULL);

		g_assert_cmpuint (f->offset, >=, end);
		g_assert_cmpuint (f->name_length, >, 0);
		g_assert_cmpuint (f->value_offset, >, f->offset + f->name_length - 1);
		g_assert_cmpuint (f->value_offset + f->value_length, <=, f->offset + f->length);
		g_assert_cmpuint (f->offset + f->length, <=, size);
		end = f->offset + f->length;
		dkim_canon_header_field (relaxed, DKIM_CANON_RELAXED, data, f);
		dkim_canon_header_field (simple, DKIM_CANON_SIMPLE, data, f);
		g_assert (g_str_has_suffix (relaxed->str, "\r\n"));
		g_assert (g_str_has_suffix (simple->str, "\r\n"));
		g_assert (memchr (relaxed->str, ':', relaxed->len) != NULL);
		for (gsize j = 0; j + 2 < relaxed->len; j++) {
			g_assert (relaxed->str[j] != '\r' && relaxed->str[j] != '\n');
			if (j < f->name_length)
				g_assert (!g_ascii_isupper (relaxed->str[j]));
		}
	}
	g_assert_cmpuint (end, <=, body_offset);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = NULL;
	g_autofree char *domain = NULL;
	g_autofree char *hash = NULL;
	gsize body_offset = 0;
	gsize cut = size > 0 ? data[0] % (size + 1) : 0;

	fields = dkim_canon_split_header (text, size, &body_offset, &error);
	if (fields == NULL) {
		g_assert (error != NULL);
		g_assert (error->message != NULL && error->message[0] != '\0');
	} else {
		fuzz_check_header (text, size, fields, body_offset);
		domain = dkim_sign_from_domain (text, fields, NULL);
		if (domain != NULL) {
			g_assert (domain[0] != '\0');
			for (const char *p = domain; *p != '\0'; p++)
				g_assert (!g_ascii_isupper (*p));
		}
	}
	fuzz_check_body (DKIM_CANON_SIMPLE, data, size, cut);
	fuzz_check_body (DKIM_CANON_RELAXED, data, size, cut);
	hash = dkim_canon_body_hash (DKIM_CANON_RELAXED, data, size, -1, NULL);
	g_assert (hash != NULL && strlen (hash) == 44);
	return 0;
}
