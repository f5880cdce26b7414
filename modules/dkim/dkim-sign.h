/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "dkim-canon.h"
#include "dkim-key.h"

G_BEGIN_DECLS

/*
 * Making DKIM-Signature header fields (RFC 6376 §5, RFC 8463):
 * relaxed/relaxed canonicalization, SHA-256, no l= ever.
 *
 * Signed header fields: those of dkim_sign_headers that the message has
 * (and every List-* field), each listed in h= as often as it occurs; From,
 * Subject and Date are listed once more than they occur ("oversigned"), so
 * that a copy added on the way breaks the signature.
 *
 * The field is folded between tags (and inside h= and b=) so that its
 * lines, "DKIM-Signature: " included, are 78 characters at most.
 */

/* the header fields signed when present, in h= order (List-* follow) */
extern const char *const dkim_sign_headers[];
/* listed once more than they occur */
extern const char *const dkim_sign_oversigned[];

#define DKIM_SIGN_FIELD_NAME "DKIM-Signature"
#define DKIM_SIGN_MAX_LINE   78

typedef struct {
	gint64 timestamp;  /* t=, seconds since the epoch */
	gint64 expiration; /* x=, 0 for none; must be after t= */
} DkimSignOptions;

/**
 * dkim_sign_from_domain:
 * @fields: (element-type DkimHeaderField): from dkim_canon_split_header()
 *
 * The domain of the author (RFC 5322.From), lower case, IDNs as A-labels.
 *
 * Returns: (transfer full): the domain, or %NULL with %EP_ERROR_INVALID
 * when there is no From: field, more than one, no address in it, or
 * addresses in different domains.
 */
char *dkim_sign_from_domain (const char *data, GArray *fields, GError **error);

/**
 * dkim_sign_header_list:
 *
 * Returns: (transfer full) (element-type utf8): the names for h=, lower
 * case, in order, repeated as described above
 */
GPtrArray *dkim_sign_header_list (const char *data, GArray *fields);

/**
 * dkim_sign_hash_input:
 * @names: (element-type utf8): the h= names
 * @signature_field: the DKIM-Signature value up to and including "b="
 *
 * The data a signature covers (RFC 6376 §3.7): for each name in @names,
 * the next instance of that field from the bottom up (none once they run
 * out), relaxed, then the DKIM-Signature field relaxed without its CRLF.
 */
GString *dkim_sign_hash_input (const char *data, GArray *fields, GPtrArray *names, const char *signature_field);

/**
 * dkim_sign_fields:
 * @fields: (element-type DkimHeaderField): the header of @data
 * @body_offset: where its body starts
 * @keys: (element-type DkimKey): the keys to sign with; the domain of each
 *   is its d=
 *
 * Returns: (transfer full) (element-type utf8): the DKIM-Signature field
 * values (without the name and the space after the colon), one per key in
 * the order of @keys, or %NULL with an error
 */
GPtrArray *dkim_sign_fields (const char *data, gsize len, GArray *fields, gsize body_offset, GPtrArray *keys,
			     const DkimSignOptions *options, GError **error);

/* dkim_sign_fields() on a message not yet split */
GPtrArray *dkim_sign_message (const char *data, gsize len, GPtrArray *keys, const DkimSignOptions *options,
			      GError **error);

G_END_DECLS
