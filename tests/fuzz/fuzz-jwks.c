/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JWK Set parsing on arbitrary bytes: the document is read once for each
 * algorithm.  A key set either yields keys (each with a kid that is valid
 * UTF-8 or none) and descriptions of the keys left out, or fails with one
 * of the documented codes; never both, never neither.  Every key read
 * from it must be usable to check a token (here: a signature that cannot
 * be right is refused).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-error.h"
#include "ep-jwt.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* a token no key can have signed, for every algorithm */
static const char *const fuzz_tokens[] = {
	"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.AAAA",
	"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const EpJwtAlg algs[] = { EP_JWT_ALG_RS256, EP_JWT_ALG_ES256, EP_JWT_ALG_EDDSA };

	for (gsize a = 0; a < G_N_ELEMENTS (algs); a++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) skipped = NULL;
		g_autoptr(GPtrArray) keys = ep_jwt_keys_from_jwks ((const char *) data, size, algs[a], &skipped, &error);

		if (keys == NULL) {
			g_assert (error != NULL);
			g_assert (error->code == EP_ERROR_INVALID || error->code == EP_ERROR_LIMIT ||
				  error->code == EP_ERROR_NOT_FOUND);
			g_assert (g_utf8_validate (error->message, -1, NULL));
		} else {
			EpJwtPolicy policy = {
				.alg = algs[a],
				.issuer = "x",
				.audience = "y",
				.keys = keys,
			};
			g_autoptr(GError) verify_error = NULL;
			g_assert (error == NULL);
			g_assert (keys->len > 0 && keys->len <= EP_JWT_MAX_JWKS_KEYS);
			for (guint i = 0; i < keys->len; i++) {
				const char *kid = ep_jwt_key_get_kid (g_ptr_array_index (keys, i));
				g_assert (kid == NULL || (strlen (kid) <= EP_JWT_MAX_KID && g_utf8_validate (kid, -1, NULL)));
			}
			g_assert (!ep_jwt_verify (fuzz_tokens[a], &policy, 1700000000, NULL, &verify_error));
			g_assert (verify_error != NULL);
		}
		for (guint i = 0; skipped != NULL && skipped[i] != NULL; i++)
			g_assert (g_utf8_validate (skipped[i], -1, NULL));
	}
	return 0;
}
