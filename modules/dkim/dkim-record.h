/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "dkim-signature.h"

G_BEGIN_DECLS

/*
 * DKIM key records (RFC 6376 §3.6.1, RFC 8463 §4): the TXT record at
 * <s>._domainkey.<d>, read into its key type, flags and public key, and
 * the check of a signature with that key (GnuTLS; any thread).
 */

typedef enum {
	DKIM_KEY_TYPE_RSA,
	DKIM_KEY_TYPE_ED25519,
} DkimKeyType;

typedef struct {
	DkimKeyType type;	/* k=, rsa when absent */
	GBytes *public_key;	/* p=: SubjectPublicKeyInfo (or RSAPublicKey) DER for rsa, 32 octets
				 * for ed25519; empty when the key is revoked */
	gboolean sha256;	/* h= allows sha256 (or there is no h=) */
	gboolean sha1;		/* h= allows sha1 (or there is no h=) */
	gboolean email;		/* s= includes email or * (or there is no s=) */
	gboolean testing;	/* t=y */
	gboolean strict;	/* t=s: i= must be in d= itself */
} DkimKeyRecord;

void dkim_key_record_free (DkimKeyRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DkimKeyRecord, dkim_key_record_free)

/**
 * dkim_key_record_parse:
 * @text: the TXT record, its strings joined
 *
 * Reads a key record: v=DKIM1 (optional, first when present), h=, k= rsa
 * or ed25519, n=, p= (required, base64, empty for a revoked key), s=, t=.
 * Unknown tags and unknown values in the lists of h=, s= and t= are
 * ignored.  An ed25519 key must be 32 octets.
 *
 * Returns: (transfer full): the record, or %NULL with %EP_ERROR_INVALID
 *   (a message fit for a reason: "key record: p= is not base64")
 */
DkimKeyRecord *dkim_key_record_parse (const char *text, gsize len, GError **error);

/* whether the key is revoked (p= empty) */
gboolean dkim_key_record_is_revoked (const DkimKeyRecord *record);

typedef enum {
	DKIM_CHECK_OK,	     /* the signature verifies */
	DKIM_CHECK_BAD,	     /* it does not, or the key is refused (too small): a "fail" */
	DKIM_CHECK_KEY_ERROR /* the key cannot be used (not a key): a "permerror" */
} DkimCheck;

/**
 * dkim_key_record_verify:
 * @data: the canonicalized header data (RFC 6376 §3.7)
 * @bits: (out) (optional): the size of the key (RSA), 256 for Ed25519
 * @why: (out) (transfer full): unless DKIM_CHECK_OK, why, for a reason
 *
 * rsa-sha256: RSASSA-PKCS1-v1_5 with SHA-256 over @data; RSA keys under
 * %DKIM_RSA_MIN_BITS or over %DKIM_RSA_MAX_BITS are refused (RFC 8301).
 * ed25519-sha256: Ed25519 over the SHA-256 digest of @data (RFC 8463).
 * The key type must fit the algorithm.
 */
DkimCheck dkim_key_record_verify (const DkimKeyRecord *record, DkimSigAlgorithm alg, const guint8 *data, gsize len,
				  GBytes *signature, guint *bits, char **why);

G_END_DECLS
