/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * DKIM private keys: RSA (rsa-sha256, RFC 6376) and Ed25519
 * (ed25519-sha256, RFC 8463), read from PKCS#8 (or PKCS#1) PEM, generated
 * with GnuTLS, and the DNS TXT record that publishes the public half.
 * Shared by the dkim module (signing) and `mail dkim-keygen`.
 *
 * A key is immutable once made and reference counted, so a signature in
 * progress on a worker thread keeps the key it started with while a reload
 * replaces the set.  dkim_key_sign() may be called from any thread.
 */

typedef enum {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
} DkimAlgorithm;

/* RFC 8301 §3.2: verifiers may refuse keys below 1024 bits; below 2048 is weak */
#define DKIM_RSA_MIN_BITS     1024
#define DKIM_RSA_DEFAULT_BITS 2048
#define DKIM_RSA_MAX_BITS     8192

/* a key file is at most this big */
#define DKIM_KEY_FILE_MAX 65536

typedef struct _DkimKey DkimKey;

/* "rsa-sha256", "ed25519-sha256" */
const char *dkim_algorithm_to_string (DkimAlgorithm alg);
gboolean    dkim_algorithm_from_string (const char *text, DkimAlgorithm *alg);

/* a domain as d= wants it: LDH labels of 1-63 characters, at least two of
 * them, 253 characters at most (A-labels: IDNs come punycoded) */
gboolean dkim_domain_is_valid (const char *domain);
/* a selector as s= wants it: one or more LDH labels */
gboolean dkim_selector_is_valid (const char *selector);

/**
 * dkim_key_new_from_pem:
 * @domain: the signing domain (d=), stored lower-cased
 * @selector: the selector (s=)
 * @origin: where the key comes from, for messages: a file name, "database"
 *
 * Reads an unencrypted private key.  RSA keys must have at least
 * %DKIM_RSA_MIN_BITS bits; other kinds of keys are refused.
 *
 * Returns: (transfer full): the key, or %NULL with %EP_ERROR_INVALID
 */
DkimKey *dkim_key_new_from_pem (const char *domain, const char *selector, const char *pem, gsize len,
				const char *origin, GError **error);

/**
 * dkim_key_load_file:
 * @allowed_uids: (array length=n_allowed): the owners a key file may have
 *
 * Reads a key file.  The file must be a regular file (not a symbolic link),
 * owned by one of @allowed_uids, with no permission for group or others
 * (0600 or 0400).
 *
 * Returns: (transfer full): the key, or %NULL with %EP_ERROR_CONFIG
 * (permissions, owner), %EP_ERROR_NOT_FOUND, %EP_ERROR_PERM (cannot be
 * read) or %EP_ERROR_INVALID (contents); the message names the file.
 */
DkimKey *dkim_key_load_file (const char *domain, const char *selector, const char *path, const uid_t *allowed_uids,
			     guint n_allowed, GError **error);

DkimKey *dkim_key_ref (DkimKey *key);
void     dkim_key_unref (DkimKey *key);

const char   *dkim_key_get_domain (const DkimKey *key);
const char   *dkim_key_get_selector (const DkimKey *key);
const char   *dkim_key_get_origin (const DkimKey *key);
DkimAlgorithm dkim_key_get_algorithm (const DkimKey *key);
guint         dkim_key_get_bits (const DkimKey *key);

/**
 * dkim_key_sign:
 * @data: the canonicalized header data (RFC 6376 §3.7)
 *
 * rsa-sha256: RSASSA-PKCS1-v1_5 with SHA-256 over @data.  ed25519-sha256
 * (RFC 8463 §3): PureEdDSA Ed25519 over the SHA-256 digest of @data.
 *
 * Returns: (transfer full): the signature, or %NULL with %EP_ERROR_INTERNAL
 */
GBytes *dkim_key_sign (DkimKey *key, const guint8 *data, gsize len, GError **error);

/**
 * dkim_key_get_dns_record:
 *
 * Returns: (transfer full): the TXT record that publishes the public key:
 * "v=DKIM1; k=ed25519; p=<the 32-octet key, base64>" or
 * "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo DER, base64>"
 */
char *dkim_key_get_dns_record (DkimKey *key, GError **error);

/**
 * dkim_dns_zone_line:
 *
 * Returns: (transfer full): `SELECTOR._domainkey.DOMAIN. IN TXT "..."`,
 * the record cut into strings of 255 characters at most, on one line
 */
char *dkim_dns_zone_line (const char *selector, const char *domain, const char *record);

/**
 * dkim_key_generate:
 * @bits: RSA only: %DKIM_RSA_MIN_BITS to %DKIM_RSA_MAX_BITS
 * @pem: (out) (transfer full): the private key, unencrypted PKCS#8 PEM
 *
 * Returns: (transfer full): the new key (with @domain and @selector), or
 * %NULL with %EP_ERROR_USAGE (bits out of range) or %EP_ERROR_INTERNAL
 */
DkimKey *dkim_key_generate (const char *domain, const char *selector, DkimAlgorithm alg, guint bits, char **pem,
			    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DkimKey, dkim_key_unref)

G_END_DECLS
