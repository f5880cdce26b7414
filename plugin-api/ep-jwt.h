/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * JSON Web Tokens (RFC 7519) in JWS compact serialization (RFC 7515), as
 * OAuth 2.0 access tokens for OAUTHBEARER / XOAUTH2: signature checked
 * with a configured public key, then issuer, audience and validity.
 *
 * Algorithms: RS256 (RSA PKCS#1 v1.5 with SHA-256, keys of 2048 bits or
 * more), ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4 raw r||s
 * signatures) and EdDSA (Ed25519, RFC 8037).  The policy pins one
 * algorithm: a token naming another one, or "none", is refused.
 *
 * Keys come from PEM files (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY") or
 * from JSON Web Keys (RFC 7517): one JWK, or a JWK Set as an identity
 * provider publishes it at its jwks_uri (fetching it is the caller's
 * business).  Not done: encrypted tokens (JWE), the JSON serializations,
 * "crit" extensions (refused).
 */

typedef enum {
	EP_JWT_ALG_RS256,
	EP_JWT_ALG_ES256,
	EP_JWT_ALG_EDDSA,
} EpJwtAlg;

#define EP_JWT_MAX_TOKEN     16384 /* octets */
#define EP_JWT_DEFAULT_SKEW  60    /* seconds */
#define EP_JWT_MAX_JWKS      (256 * 1024) /* octets of a JWK Set document */
#define EP_JWT_MAX_JWKS_KEYS 100   /* keys in one JWK Set */
#define EP_JWT_MAX_KID       256   /* octets of a key id */

typedef struct _EpJwtKey EpJwtKey;

/**
 * ep_jwt_key_new_from_pem:
 * @kid: (nullable): the key id tokens name in their "kid" header; a key
 *   without one is tried for any token
 *
 * Returns: (transfer full) (nullable): the key, or %NULL with
 *   EP_ERROR_INVALID
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpJwtKey *ep_jwt_key_new_from_pem (const char *pem, gsize len, const char *kid,
								    GError **error);
/* the same from a file; EP_ERROR_NOT_FOUND when it cannot be read */
EP_API G_GNUC_WARN_UNUSED_RESULT EpJwtKey *ep_jwt_key_load_pem_file (const char *path, const char *kid,
								     GError **error);
/**
 * ep_jwt_key_new_from_jwk:
 * @jwk: one JSON Web Key (RFC 7517 §4)
 *
 * Reads the public key of a JWK: "kty" RSA ("n", "e"; 2048 to 8192 bits),
 * EC ("crv" P-256, "x", "y") or OKP ("crv" Ed25519, "x"; RFC 8037), all
 * base64url without padding.  Its "kid" is kept.  A JWK with private key
 * members ("d", "p", "k"…), a symmetric one ("oct"), another curve or key
 * type, or a member of the wrong type or size is refused.  "use", "alg"
 * and "key_ops" are only type-checked here: choosing keys by them is
 * ep_jwt_keys_from_jwks()'s business.
 *
 * Returns: (transfer full) (nullable): the key, or %NULL with
 *   EP_ERROR_INVALID and a message naming the member at fault
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpJwtKey *ep_jwt_key_new_from_jwk (JsonObject *jwk, GError **error);

/**
 * ep_jwt_keys_from_jwks:
 * @json: a JWK Set document (RFC 7517 §5), at most %EP_JWT_MAX_JWKS octets
 * @alg: the algorithm the keys are for
 * @skipped: (out) (optional) (transfer full): a description of each key
 *   that was meant for @alg but could not be read (%NULL when none)
 *
 * The keys of a set that can verify @alg tokens: keys whose "use" is not
 * "sig", whose "alg" names another algorithm, whose "key_ops" lack
 * "verify", or whose type (or curve) does not fit @alg are left out
 * silently; a fitting key that is malformed is left out and described in
 * @skipped, so that one bad key does not make a provider's whole set
 * unusable.
 *
 * Returns: (transfer full) (nullable): the keys (EpJwtKey*, at least one),
 *   or %NULL with EP_ERROR_INVALID (not a JWK Set), EP_ERROR_LIMIT (too
 *   large, too many keys) or EP_ERROR_NOT_FOUND (no usable key for @alg)
 */
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_jwt_keys_from_jwks (const char *json, gsize len, EpJwtAlg alg,
								   char ***skipped, GError **error);

/* Returns: (nullable): the key id, NULL for a key without one */
EP_API const char *ep_jwt_key_get_kid (const EpJwtKey *key);
EP_API EpJwtKey   *ep_jwt_key_ref (EpJwtKey *key);
EP_API void        ep_jwt_key_unref (EpJwtKey *key);

/* "RS256", "ES256" or "EdDSA" */
EP_API const char *ep_jwt_alg_to_string (EpJwtAlg alg);

typedef struct {
	EpJwtAlg alg;               /* the one algorithm accepted */
	const char *issuer;         /* "iss" must equal it */
	const char *audience;       /* "aud" (a string or an array) must contain it */
	const char *subject_claim;  /* (nullable): the claim naming the user, "sub" when NULL (or "email") */
	GPtrArray *keys;            /* of EpJwtKey*: tried in turn (those whose kid matches) */
	gint64 skew;                /* seconds of clock skew allowed; 0 for EP_JWT_DEFAULT_SKEW */
} EpJwtPolicy;

/**
 * ep_jwt_verify:
 * @token: the compact serialization header.payload.signature
 * @now: unix time in seconds
 * @subject: (out) (transfer full) (optional): the user the token is for
 *
 * Returns: %TRUE when the token is good for @policy; %FALSE with
 *   EP_ERROR_INVALID (malformed) or EP_ERROR_PERM (bad signature, wrong
 *   algorithm, issuer or audience, expired, not yet valid).  The message
 *   is for the log.
 */
EP_API gboolean ep_jwt_verify (const char *token, const EpJwtPolicy *policy, gint64 now, char **subject,
			       GError **error);

/**
 * ep_jwt_peek_kid:
 * @kid: (out) (transfer full) (nullable): the "kid" of the token's header,
 *   %NULL when it has none
 *
 * Reads the key id a token names, without checking anything else, so that
 * a caller holding a key set can tell a key it does not know yet (and
 * fetch the set again) from a bad signature.
 *
 * Returns: %FALSE with EP_ERROR_INVALID when the header cannot be read
 */
EP_API gboolean ep_jwt_peek_kid (const char *token, char **kid, GError **error);

/**
 * ep_jwt_check_claims:
 * @claims: the JSON claims set (a JWT's decoded payload)
 *
 * The claim checks of ep_jwt_verify() alone, for claims whose signature
 * was checked elsewhere (and for the fuzzer).
 */
EP_API gboolean ep_jwt_check_claims (const char *claims, gsize len, const EpJwtPolicy *policy, gint64 now,
				     char **subject, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpJwtKey, ep_jwt_key_unref)

G_END_DECLS
