/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DKIM key record parser (RFC 6376 §3.6.1, RFC 8463 §4) on arbitrary
 * bytes.  Checked properties: a record that is read has a p= tag, v= (when
 * there) first and exactly DKIM1, an Ed25519 key of 32 octets or none
 * (revoked); white space added after every ";" changes nothing; and a
 * signature check with whatever key was read never succeeds on a
 * signature of zeros and never crashes.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dkim-record.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	DkimKeyRecord *record = dkim_key_record_parse (text, size, NULL);
	DkimKeyRecord *record2;
	GString *spaced;

	if (record != NULL) {
		GArray *tags = dkim_tag_list_parse (text, size, NULL);
		const DkimTag *v;
		guint8 zeros[256] = { 0 };
		GBytes *sig = g_bytes_new_static (zeros, record->type == DKIM_KEY_TYPE_ED25519 ? 64 : sizeof (zeros));
		char *why = NULL;
		DkimCheck check;

		g_assert_nonnull (tags);
		g_assert_nonnull (dkim_tag_list_find (text, tags, "p"));
		v = dkim_tag_list_find (text, tags, "v");
		if (v != NULL) {
			g_assert (v == &g_array_index (tags, DkimTag, 0));
			g_assert_cmpuint (v->value_length, ==, 5);
			g_assert (memcmp (text + v->value_offset, "DKIM1", 5) == 0);
		}
		g_array_unref (tags);
		if (record->type == DKIM_KEY_TYPE_ED25519)
			g_assert (dkim_key_record_is_revoked (record) || g_bytes_get_size (record->public_key) == 32);
		check = dkim_key_record_verify (record,
						record->type == DKIM_KEY_TYPE_ED25519 ? DKIM_SIG_ED25519_SHA256
										      : DKIM_SIG_RSA_SHA256,
						(const guint8 *) "data", 4, sig, NULL, &why);
		g_assert_cmpint (check, !=, DKIM_CHECK_OK);
		g_assert_nonnull (why);
		g_free (why);
		g_bytes_unref (sig);
	}

	spaced = g_string_new (NULL);
	for (size_t i = 0; i < size; i++) {
		g_string_append_c (spaced, text[i]);
		if (text[i] == ';')
			g_string_append (spaced, " \t");
	}
	record2 = dkim_key_record_parse (spaced->str, spaced->len, NULL);
	g_assert ((record == NULL) == (record2 == NULL));
	if (record != NULL) {
		g_assert_cmpint (record->type, ==, record2->type);
		g_assert (g_bytes_equal (record->public_key, record2->public_key));
		g_assert_cmpint (record->testing, ==, record2->testing);
		g_assert_cmpint (record->strict, ==, record2->strict);
		g_assert_cmpint (record->sha256, ==, record2->sha256);
		g_assert_cmpint (record->email, ==, record2->email);
	}
	dkim_key_record_free (record2);
	dkim_key_record_free (record);
	g_string_free (spaced, TRUE);
	return 0;
}
