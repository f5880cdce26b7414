/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * DKIM canonicalization (RFC 6376 §3.4) as pure code over the exact bytes
 * of a message: the header split into its fields, the "simple" and
 * "relaxed" algorithms for header fields and for the body, and the body
 * length count that the l= tag speaks of.  Signing uses it now and
 * verification will use the very same code.
 *
 * Line ends are CRLF.  In the header a bare CR, a bare LF or a NUL makes
 * the message one that cannot be canonicalized unambiguously (an error);
 * in the body they are ordinary octets, as RFC 6376 canonicalizes only
 * CRLF line ends.
 */

typedef enum {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
} DkimCanon;

/* at most this many header fields: past it the message is refused */
#define DKIM_CANON_MAX_FIELDS 10000

/* One header field, as offsets into the message. */
typedef struct {
	gsize offset;	    /* of the field's first octet (the name) */
	gsize length;	    /* the whole field: folding and final CRLF included */
	gsize name_length;  /* the name, without white space before the colon */
	gsize value_offset; /* the octet after the colon */
	gsize value_length; /* up to, not including, the final CRLF */
} DkimHeaderField;

/**
 * dkim_canon_split_header:
 * @data: the message
 * @body_offset: (out): where the body starts: after the empty line that
 *   ends the header, or @len when the message has no empty line
 *
 * Splits the header of a message into its fields (RFC 5322 §2.2): a field
 * is a line with a colon and the lines starting with white space that
 * follow it.
 *
 * Returns: (transfer full) (element-type DkimHeaderField): the fields, in
 * order; %NULL with %EP_ERROR_INVALID when the header is malformed (a
 * continuation line first, a line without a colon, an empty or invalid
 * field name, a bare CR or LF, a NUL) or %EP_ERROR_LIMIT past
 * %DKIM_CANON_MAX_FIELDS fields.
 */
GArray *dkim_canon_split_header (const char *data, gsize len, gsize *body_offset, GError **error);

/* whether @field's name is @name, ignoring ASCII case */
gboolean dkim_canon_field_has_name (const char *data, const DkimHeaderField *field, const char *name);

/**
 * dkim_canon_header_field:
 * @out: the canonical form is appended here
 *
 * Appends @field canonicalized: "simple" keeps it as it is (a CRLF is added
 * when the message ended inside it), "relaxed" lower-cases the name,
 * unfolds the value, turns runs of white space into one space and removes
 * the white space around the colon and at the end: "name:value\r\n".
 */
void dkim_canon_header_field (GString *out, DkimCanon canon, const char *data, const DkimHeaderField *field);

/**
 * dkim_canon_header_relaxed:
 *
 * The relaxed form of one field given as name and raw value (the text after
 * the colon, folding included, without the final CRLF); the DKIM-Signature
 * field being made or checked goes through here.  @crlf says whether the
 * final CRLF is appended (not for the signature field itself).
 */
void dkim_canon_header_relaxed (GString *out, const char *name, gsize name_len, const char *value, gsize value_len,
				gboolean crlf);

/**
 * dkim_canon_hash_input:
 * @canon: the header canonicalization (c=, the part before the slash)
 * @fields: (element-type DkimHeaderField): the header of @data
 * @names: (element-type utf8): the h= names, lower case
 * @skip: the index in @fields of the DKIM-Signature field being checked,
 *   which h= never selects; %G_MAXUINT when it is not in @fields (signing)
 * @sig_head: the signature field's name and colon as they are written
 *   ("DKIM-Signature:"; white space before the colon kept)
 * @sig_value: its value with the value of b= removed (RFC 6376 §3.7)
 *
 * The data a signature covers (RFC 6376 §3.7, §5.4.2): for each name in
 * @names the next instance of that field from the bottom up (none once
 * they run out), canonicalized, then the signature field canonicalized
 * without its final CRLF.
 */
GString *dkim_canon_hash_input (DkimCanon canon, const char *data, GArray *fields, GPtrArray *names, guint skip,
				const char *sig_head, gsize sig_head_len, const char *sig_value, gsize sig_value_len);

/* ---- the body ---------------------------------------------------------- */

/* Receives canonical body octets, in order, in pieces of any size. */
typedef void (*DkimCanonOutput) (const guint8 *data, gsize len, gpointer user_data);

/*
 * A stream canonicalizer for the body: feed the body in chunks of any size
 * (the output does not depend on where the chunks are cut), then finish.
 * It holds back only what it must: empty lines that may turn out to be
 * trailing, white space that may end a line (relaxed) and a CR whose LF
 * may be in the next chunk.
 */
typedef struct {
	DkimCanon canon;
	DkimCanonOutput output;
	gpointer user_data;
	gint64 limit;	 /* octets passed on at most (the l= tag); -1 for all */
	guint64 length;	 /* canonical octets so far, the limit not applied */
	guint64 n_eol;	 /* line ends held back */
	gboolean wsp;	 /* relaxed: white space held back */
	gboolean cr;	 /* a CR held back */
	gboolean in_line; /* the current line has content */
	gboolean any;	 /* some content was passed on */
	gboolean finished;
} DkimBodyCanon;

void dkim_body_canon_init (DkimBodyCanon *self, DkimCanon canon, gint64 limit, DkimCanonOutput output,
			   gpointer user_data);
void dkim_body_canon_feed (DkimBodyCanon *self, const guint8 *data, gsize len);
void dkim_body_canon_finish (DkimBodyCanon *self);
/* the length of the whole canonical body (for l=), once finished */
guint64 dkim_body_canon_get_length (const DkimBodyCanon *self);

/**
 * dkim_canon_body_digest:
 * @digest: (out caller-allocates): the SHA-256 of the canonical body
 *   (the first @limit octets of it when @limit is not -1)
 *
 * Returns: the length of the whole canonical body
 */
guint64 dkim_canon_body_digest (DkimCanon canon, const guint8 *body, gsize len, gint64 limit, guint8 digest[32]);

/**
 * dkim_canon_body_hash:
 * @body: the body (from the body offset to the end of the message)
 * @limit: octets of canonical body hashed at most, -1 for all
 * @length: (out) (optional): the length of the canonical body
 *
 * Returns: (transfer full): the SHA-256 of the canonical body, base64 (bh=)
 */
char *dkim_canon_body_hash (DkimCanon canon, const guint8 *body, gsize len, gint64 limit, guint64 *length);

G_END_DECLS
