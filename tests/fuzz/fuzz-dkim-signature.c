/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DKIM-Signature parser (RFC 6376 §3.5) on arbitrary bytes.  Checked
 * properties: tags lie inside the input, in order, without repeated names;
 * a signature that is read has every required part (d= a lower-case
 * domain, i= inside it, From in h=, a hash of the right size, a non-empty
 * b=), its value without b= is the input with exactly the b= value taken
 * out; and folding white space added after every ";" changes nothing.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dkim-signature.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_tags (const char *text, gsize len, GArray *tags)
{
	gsize end = 0;

	g_assert_cmpuint (tags->len, >, 0);
	g_assert_cmpuint (tags->len, <=, DKIM_TAGS_MAX);
	for (guint i = 0; i < tags->len; i++) {
		const DkimTag *t = &g_array_index (tags, DkimTag, i);

		g_assert_cmpuint (t->name_offset, >=, end);
		g_assert_cmpuint (t->name_length, >, 0);
		g_assert (g_ascii_isalpha (text[t->name_offset]));
		g_assert_cmpuint (t->value_offset, >, t->name_offset + t->name_length);
		g_assert_cmpuint (t->value_offset + t->value_length, <=, len);
		g_assert (memchr (text + t->value_offset, ';', t->value_length) == NULL);
		end = t->value_offset + t->value_length;
		for (guint j = 0; j < i; j++) {
			const DkimTag *u = &g_array_index (tags, DkimTag, j);
			g_assert (!(u->name_length == t->name_length &&
				    memcmp (text + u->name_offset, text + t->name_offset, t->name_length) == 0));
		}
	}
}

static void
fuzz_check_signature (const char *text, gsize len, const DkimSignature *sig)
{
	GArray *tags = dkim_tag_list_parse (text, len, NULL);
	const DkimTag *b;
	gsize hl;
	gsize dl = strlen (sig->domain);

	g_assert_nonnull (tags);
	b = dkim_tag_list_find (text, tags, "b");
	g_assert_nonnull (b);
	g_assert_cmpuint (sig->value_without_b_len, ==, len - b->value_length);
	g_assert (memcmp (sig->value_without_b, text, b->value_offset) == 0);
	g_assert (memcmp (sig->value_without_b + b->value_offset, text + b->value_offset + b->value_length,
			  len - b->value_offset - b->value_length) == 0);
	g_array_unref (tags);

	for (const char *p = sig->domain; *p != '\0'; p++)
		g_assert (!g_ascii_isupper (*p));
	g_assert_nonnull (strchr (sig->domain, '.'));
	g_assert_nonnull (sig->selector);
	g_assert_cmpuint (g_bytes_get_size (sig->signature), >, 0);
	g_assert_cmpuint (g_bytes_get_size (sig->body_hash), ==, sig->algorithm == DKIM_SIG_RSA_SHA1 ? 20 : 32);
	g_assert (g_ptr_array_find_with_equal_func (sig->headers, "from", g_str_equal, NULL));
	if (sig->identity != NULL) {
		const char *at = strrchr (sig->identity, '@');
		g_assert_nonnull (at);
		hl = strlen (at + 1);
		g_assert_cmpuint (hl, >=, dl);
		g_assert (g_ascii_strcasecmp (at + 1 + hl - dl, sig->domain) == 0);
	}
	if (sig->timestamp >= 0 && sig->expiration >= 0)
		g_assert_cmpint (sig->expiration, >, sig->timestamp);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	GArray *tags = dkim_tag_list_parse (text, size, NULL);
	DkimSignature *sig;
	GString *folded;
	DkimSignature *sig2;

	if (tags != NULL) {
		fuzz_check_tags (text, size, tags);
		g_array_unref (tags);
	}
	sig = dkim_signature_parse (text, size, NULL);
	if (sig != NULL) {
		g_assert_nonnull (tags);
		fuzz_check_signature (text, size, sig);
	}

	/* FWS after each ";" is allowed anywhere: the same signature, or none */
	folded = g_string_new (NULL);
	for (size_t i = 0; i < size; i++) {
		g_string_append_c (folded, text[i]);
		if (text[i] == ';')
			g_string_append (folded, "\r\n\t");
	}
	sig2 = dkim_signature_parse (folded->str, folded->len, NULL);
	g_assert ((sig == NULL) == (sig2 == NULL));
	if (sig != NULL) {
		g_assert_cmpstr (sig->domain, ==, sig2->domain);
		g_assert_cmpstr (sig->selector, ==, sig2->selector);
		g_assert_cmpstr (sig->b_text, ==, sig2->b_text);
		g_assert_cmpint (sig->body_length, ==, sig2->body_length);
		g_assert_cmpuint (sig->headers->len, ==, sig2->headers->len);
		g_assert (g_bytes_equal (sig->body_hash, sig2->body_hash));
	}
	dkim_signature_free (sig2);
	dkim_signature_free (sig);
	g_string_free (folded, TRUE);
	return 0;
}
