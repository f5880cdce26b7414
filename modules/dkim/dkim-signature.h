/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "dkim-canon.h"

G_BEGIN_DECLS

/*
 * Reading DKIM-Signature fields (RFC 6376 §3.5, RFC 8463): the tag=value
 * list of §3.2, shared with the key records of DNS (dkim-record.h), and the
 * signature's tags checked one by one.  Pure code over a buffer.
 *
 * Every error is %EP_ERROR_INVALID with a short message fit for a reason
 * in Authentication-Results ("duplicate tag d=", "h= does not include
 * From", ...): a signature that cannot be read is a "permerror".
 */

/* at most this many tags in one list: more is not a signature */
#define DKIM_TAGS_MAX 64

/* One tag of a tag list, as offsets into the text parsed. */
typedef struct {
	gsize name_offset;
	gsize name_length;
	gsize value_offset; /* the first octet of the value (after "=" and white space) */
	gsize value_length; /* up to its last octet that is not white space */
} DkimTag;

/**
 * dkim_tag_list_parse:
 * @text: a tag list; folding (CRLF followed by white space) is white space
 *
 * Splits a tag list (RFC 6376 §3.2): tag names are ALPHA *(ALPHA / DIGIT /
 * "_"), values printable US-ASCII but ";" with white space allowed
 * inside.  A repeated tag name, an empty tag, or more than %DKIM_TAGS_MAX
 * tags is an error.
 *
 * Returns: (transfer full) (element-type DkimTag): the tags in order, or
 *   %NULL with %EP_ERROR_INVALID
 */
GArray *dkim_tag_list_parse (const char *text, gsize len, GError **error);

/* the tag named @name (case-sensitive), or NULL */
const DkimTag *dkim_tag_list_find (const char *text, GArray *tags, const char *name);

/* the value of @tag, with every white space octet (and CRLF) removed */
char *dkim_tag_value_compact (const char *text, const DkimTag *tag);

/**
 * dkim_base64_decode_strict:
 * @text: base64 with white space allowed anywhere (FWS of a tag value)
 *
 * Returns: (transfer full) (nullable): the octets, or %NULL when @text
 *   holds anything but the base64 alphabet, white space and final padding,
 *   or its length is not a multiple of four
 */
GBytes *dkim_base64_decode_strict (const char *text, gsize len);

typedef enum {
	DKIM_SIG_RSA_SHA256,
	DKIM_SIG_ED25519_SHA256,
	DKIM_SIG_RSA_SHA1, /* read, so that the reason can say why it fails (RFC 8301) */
} DkimSigAlgorithm;

typedef struct {
	DkimSigAlgorithm algorithm;
	char *algorithm_name;  /* a= as written, lower case */
	DkimCanon header_canon;
	DkimCanon body_canon;
	char *domain;	       /* d=, lower case */
	char *selector;	       /* s=, as written */
	char *identity;	       /* (nullable): i=, as written */
	GPtrArray *headers;    /* h=, lower case */
	GBytes *body_hash;     /* bh= */
	GBytes *signature;     /* b= */
	char *b_text;	       /* b=, white space removed (for header.b) */
	gint64 body_length;    /* l=, -1 without */
	gint64 timestamp;      /* t=, -1 without */
	gint64 expiration;     /* x=, -1 without */
	/* the value with the value of b= removed: what the signature covers */
	char *value_without_b;
	gsize value_without_b_len;
} DkimSignature;

void dkim_signature_free (DkimSignature *sig);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DkimSignature, dkim_signature_free)

/**
 * dkim_signature_parse:
 * @value: the field's value (after the colon, folding included, without
 *   the final CRLF)
 *
 * Reads a DKIM-Signature value: v=1; a= one of rsa-sha256,
 * ed25519-sha256, rsa-sha1; b= and bh= base64 (bh= of the length of the
 * hash); c= simple or relaxed (each half); d= a domain name; h= field
 * names, From among them; i= [local-part]@domain where the domain is d= or
 * a subdomain of it; l=, t=, x= decimal (x= after t=); q= must offer
 * dns/txt; s= a selector.  Unknown tags are ignored.
 *
 * Returns: (transfer full): the signature, or %NULL with %EP_ERROR_INVALID
 */
DkimSignature *dkim_signature_parse (const char *value, gsize len, GError **error);

G_END_DECLS
