/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JWT verification on arbitrary bytes.  The first octet chooses: even, the
 * rest is a compact token checked against an ES256 and an EdDSA policy
 * (base64url, header JSON, algorithm pinning, signature); odd, the rest is
 * a claims set checked as ep_jwt_check_claims() does (signatures cannot be
 * forged by a fuzzer, so the claim checks are driven directly).
 */
#include "config.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <string.h>

#include "ep-error.h"
#include "ep-jwt.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GPtrArray *fuzz_keys;

static EpJwtKey *
fuzz_jwt_key (gnutls_pk_algorithm_t pk, unsigned int bits, const char *kid)
{
	gnutls_privkey_t priv = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	EpJwtKey *key;

	g_assert (gnutls_privkey_init (&priv) == 0);
	g_assert (gnutls_privkey_generate2 (priv, pk, bits, 0, NULL, 0) == 0);
	g_assert (gnutls_pubkey_init (&pub) == 0);
	g_assert (gnutls_pubkey_import_privkey (pub, priv, 0, 0) == 0);
	g_assert (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_PEM, &pem) == 0);
	key = ep_jwt_key_new_from_pem ((const char *) pem.data, pem.size, kid, NULL);
	g_assert (key != NULL);
	gnutls_free (pem.data);
	gnutls_pubkey_deinit (pub);
	gnutls_privkey_deinit (priv);
	return key;
}

static void
fuzz_jwt_check (gboolean ok, GError *error, char *subject)
{
	if (ok) {
		g_assert (error == NULL && subject != NULL && g_utf8_validate (subject, -1, NULL));
	} else {
		g_assert (error != NULL && subject == NULL);
		g_assert (error->code == EP_ERROR_INVALID || error->code == EP_ERROR_PERM);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	EpJwtPolicy policy = {
		.alg = EP_JWT_ALG_ES256,
		.issuer = "https://id.example.com",
		.audience = "mail",
	};

	if (fuzz_keys == NULL) {
		fuzz_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_jwt_key_unref);
		g_ptr_array_add (fuzz_keys, fuzz_jwt_key (GNUTLS_PK_ECDSA,
							  GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), "ec"));
		g_ptr_array_add (fuzz_keys, fuzz_jwt_key (GNUTLS_PK_EDDSA_ED25519,
							  GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519), NULL));
	}
	policy.keys = fuzz_keys;
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		g_autofree char *token = g_strndup ((const char *) data + 1, size - 1);
		for (int i = 0; i < 2; i++) {
			g_autoptr(GError) error = NULL;
			g_autofree char *subject = NULL;
			gboolean ok;
			policy.alg = i == 0 ? EP_JWT_ALG_ES256 : EP_JWT_ALG_EDDSA;
			ok = ep_jwt_verify (token, &policy, 1700000000, &subject, &error);
			/* a fuzzer cannot sign */
			g_assert (!ok);
			fuzz_jwt_check (ok, error, subject);
		}
	} else {
		g_autoptr(GError) error = NULL;
		g_autofree char *subject = NULL;
		gboolean ok;
		policy.subject_claim = data[0] % 4 == 1 ? NULL : "email";
		ok = ep_jwt_check_claims ((const char *) data + 1, size - 1, &policy, 1700000000, &subject, &error);
		fuzz_jwt_check (ok, error, subject);
	}
	return 0;
}
