/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "dkim-key.h"
#include "dkim-record.h"
#include "ep-error.h"

#define ED25519_KEY_SIZE 32

void
dkim_key_record_free (DkimKeyRecord *record)
{
	if (record == NULL)
		return;
	g_clear_pointer (&record->public_key, g_bytes_unref);
	g_free (record);
}

gboolean
dkim_key_record_is_revoked (const DkimKeyRecord *record)
{
	return g_bytes_get_size (record->public_key) == 0;
}

/* the items of a colon-separated list, white space removed, lower case */
static GStrv
dkim_record_list (const char *text, const DkimTag *tag)
{
	g_autofree char *compact = dkim_tag_value_compact (text, tag);
	g_autofree char *lower = g_ascii_strdown (compact, -1);

	return g_strsplit (lower, ":", -1);
}

DkimKeyRecord *
dkim_key_record_parse (const char *text, gsize len, GError **error)
{
	g_autoptr (GError) local = NULL;
	g_autoptr (GArray) tags = dkim_tag_list_parse (text, len, &local);
	g_autoptr (DkimKeyRecord) record = NULL;
	const DkimTag *t;

	if (tags == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "key record: %s", local->message);
		return NULL;
	}
	record = g_new0 (DkimKeyRecord, 1);
	record->type = DKIM_KEY_TYPE_RSA;
	record->sha256 = record->sha1 = record->email = TRUE;

	t = dkim_tag_list_find (text, tags, "v");
	if (t != NULL) {
		if (t != &g_array_index (tags, DkimTag, 0)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: v= is not the first tag");
			return NULL;
		}
		if (t->value_length != 5 || memcmp (text + t->value_offset, "DKIM1", 5) != 0) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: v= is not DKIM1");
			return NULL;
		}
	}

	t = dkim_tag_list_find (text, tags, "k");
	if (t != NULL) {
		if (t->value_length == 3 && g_ascii_strncasecmp (text + t->value_offset, "rsa", 3) == 0)
			record->type = DKIM_KEY_TYPE_RSA;
		else if (t->value_length == 7 && g_ascii_strncasecmp (text + t->value_offset, "ed25519", 7) == 0)
			record->type = DKIM_KEY_TYPE_ED25519;
		else {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: unknown key type k=");
			return NULL;
		}
	}

	t = dkim_tag_list_find (text, tags, "h");
	if (t != NULL) {
		g_auto (GStrv) algs = dkim_record_list (text, t);
		record->sha256 = g_strv_contains ((const char *const *) algs, "sha256");
		record->sha1 = g_strv_contains ((const char *const *) algs, "sha1");
	}

	t = dkim_tag_list_find (text, tags, "s");
	if (t != NULL) {
		g_auto (GStrv) services = dkim_record_list (text, t);
		record->email = g_strv_contains ((const char *const *) services, "*") ||
				g_strv_contains ((const char *const *) services, "email");
	}

	t = dkim_tag_list_find (text, tags, "t");
	if (t != NULL) {
		g_auto (GStrv) flags = dkim_record_list (text, t);
		record->testing = g_strv_contains ((const char *const *) flags, "y");
		record->strict = g_strv_contains ((const char *const *) flags, "s");
	}

	t = dkim_tag_list_find (text, tags, "p");
	if (t == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: no p= tag");
		return NULL;
	}
	record->public_key = dkim_base64_decode_strict (text + t->value_offset, t->value_length);
	if (record->public_key == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: p= is not base64");
		return NULL;
	}
	if (record->type == DKIM_KEY_TYPE_ED25519 && g_bytes_get_size (record->public_key) != 0 &&
	    g_bytes_get_size (record->public_key) != ED25519_KEY_SIZE) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "key record: p= is not an Ed25519 key");
		return NULL;
	}
	return g_steal_pointer (&record);
}

/* ---- checking a signature ------------------------------------------------------ */

static void
dkim_der_length (GByteArray *out, gsize n)
{
	guint8 b[5];
	guint k = 0;

	if (n < 0x80) {
		b[0] = (guint8) n;
		g_byte_array_append (out, b, 1);
		return;
	}
	while (n > 0 && k < 4) {
		b[4 - k] = (guint8) (n & 0xff);
		n >>= 8;
		k++;
	}
	b[4 - k] = (guint8) (0x80 | k);
	g_byte_array_append (out, b + 4 - k, k + 1);
}

/* RFC 6376 names an RSAPublicKey, but the records published hold a
 * SubjectPublicKeyInfo; a bare RSAPublicKey is wrapped into one. */
static GBytes *
dkim_spki_from_rsa_public_key (GBytes *pkcs1)
{
	static const guint8 alg_id[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
					 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
	gsize n = g_bytes_get_size (pkcs1);
	g_autoptr (GByteArray) bits = g_byte_array_new ();
	GByteArray *out = g_byte_array_new ();
	guint8 tag;

	tag = 0x03; /* BIT STRING, no unused bits */
	g_byte_array_append (bits, &tag, 1);
	dkim_der_length (bits, n + 1);
	tag = 0x00;
	g_byte_array_append (bits, &tag, 1);
	g_byte_array_append (bits, g_bytes_get_data (pkcs1, NULL), (guint) n);
	tag = 0x30; /* SEQUENCE */
	g_byte_array_append (out, &tag, 1);
	dkim_der_length (out, sizeof (alg_id) + bits->len);
	g_byte_array_append (out, alg_id, sizeof (alg_id));
	g_byte_array_append (out, bits->data, bits->len);
	return g_byte_array_free_to_bytes (out);
}

static int
dkim_import_rsa (gnutls_pubkey_t pub, GBytes *der)
{
	gnutls_datum_t d = { (unsigned char *) g_bytes_get_data (der, NULL), (unsigned int) g_bytes_get_size (der) };
	g_autoptr (GBytes) wrapped = NULL;
	int rc = gnutls_pubkey_import (pub, &d, GNUTLS_X509_FMT_DER);

	if (rc >= 0)
		return rc;
	wrapped = dkim_spki_from_rsa_public_key (der);
	d.data = (unsigned char *) g_bytes_get_data (wrapped, NULL);
	d.size = (unsigned int) g_bytes_get_size (wrapped);
	return gnutls_pubkey_import (pub, &d, GNUTLS_X509_FMT_DER);
}

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)

DkimCheck
dkim_key_record_verify (const DkimKeyRecord *record, DkimSigAlgorithm alg, const guint8 *data, gsize len,
			GBytes *signature, guint *bits, char **why)
{
	g_auto (gnutls_pubkey_t) pub = NULL;
	gnutls_datum_t sig = { (unsigned char *) g_bytes_get_data (signature, NULL),
			       (unsigned int) g_bytes_get_size (signature) };
	gnutls_datum_t in = { (unsigned char *) data, (unsigned int) len };
	gnutls_sign_algorithm_t sign_alg;
	guint8 digest[32];
	unsigned int key_bits = 0;
	int rc;

	*why = NULL;
	if (bits != NULL)
		*bits = 0;
	if (dkim_key_record_is_revoked (record)) {
		*why = g_strdup ("key revoked");
		return DKIM_CHECK_BAD;
	}
	if (alg == DKIM_SIG_RSA_SHA1) {
		*why = g_strdup ("rsa-sha1 is not accepted (RFC 8301)");
		return DKIM_CHECK_BAD;
	}
	if ((alg == DKIM_SIG_ED25519_SHA256) != (record->type == DKIM_KEY_TYPE_ED25519)) {
		*why = g_strdup ("key type (k=) does not match a=");
		return DKIM_CHECK_KEY_ERROR;
	}
	if (len > G_MAXUINT) {
		*why = g_strdup ("header too large");
		return DKIM_CHECK_BAD;
	}
	rc = gnutls_pubkey_init (&pub);
	if (rc < 0) {
		*why = g_strdup_printf ("cannot check: %s", gnutls_strerror (rc));
		return DKIM_CHECK_KEY_ERROR;
	}
	if (record->type == DKIM_KEY_TYPE_ED25519) {
		gnutls_datum_t x = { (unsigned char *) g_bytes_get_data (record->public_key, NULL),
				     (unsigned int) g_bytes_get_size (record->public_key) };

		rc = gnutls_pubkey_import_ecc_raw (pub, GNUTLS_ECC_CURVE_ED25519, &x, NULL);
		if (rc < 0) {
			*why = g_strdup ("p= is not an Ed25519 key");
			return DKIM_CHECK_KEY_ERROR;
		}
		key_bits = 256;
		/* RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data */
		rc = gnutls_hash_fast (GNUTLS_DIG_SHA256, data, len, digest);
		if (rc < 0) {
			*why = g_strdup_printf ("cannot check: %s", gnutls_strerror (rc));
			return DKIM_CHECK_KEY_ERROR;
		}
		in.data = digest;
		in.size = sizeof (digest);
		sign_alg = GNUTLS_SIGN_EDDSA_ED25519;
	} else {
		rc = dkim_import_rsa (pub, record->public_key);
		if (rc < 0 || gnutls_pubkey_get_pk_algorithm (pub, &key_bits) != GNUTLS_PK_RSA) {
			*why = g_strdup ("p= is not an RSA key");
			return DKIM_CHECK_KEY_ERROR;
		}
		if (key_bits < DKIM_RSA_MIN_BITS) {
			*why = g_strdup_printf ("RSA key of %u bits is too small (RFC 8301: at least %u)", key_bits,
						DKIM_RSA_MIN_BITS);
			if (bits != NULL)
				*bits = key_bits;
			return DKIM_CHECK_BAD;
		}
		if (key_bits > DKIM_RSA_MAX_BITS) {
			*why = g_strdup_printf ("RSA key of %u bits is larger than %u", key_bits, DKIM_RSA_MAX_BITS);
			return DKIM_CHECK_KEY_ERROR;
		}
		sign_alg = GNUTLS_SIGN_RSA_SHA256;
	}
	if (bits != NULL)
		*bits = key_bits;
	rc = gnutls_pubkey_verify_data2 (pub, sign_alg, 0, &in, &sig);
	if (rc < 0) {
		*why = g_strdup (rc == GNUTLS_E_PK_SIG_VERIFY_FAILED ? "signature does not verify"
								     : gnutls_strerror (rc));
		return DKIM_CHECK_BAD;
	}
	return DKIM_CHECK_OK;
}
