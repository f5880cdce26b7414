/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

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
 * Keys come from PEM files (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY").
 * Not done: fetching keys from a JWKS URL (jwks_uri), encrypted tokens
 * (JWE), the JSON serializations, "crit" extensions (refused).
 */

typedef enum {
	EP_JWT_ALG_RS256,
	EP_JWT_ALG_ES256,
	EP_JWT_ALG_EDDSA,
} EpJwtAlg;

#define EP_JWT_MAX_TOKEN    16384 /* octets */
#define EP_JWT_DEFAULT_SKEW 60    /* seconds */

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
EP_API EpJwtKey *ep_jwt_key_ref (EpJwtKey *key);
EP_API void      ep_jwt_key_unref (EpJwtKey *key);

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
