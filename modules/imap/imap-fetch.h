/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-mime.h"
#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * FETCH (RFC 9051 §6.4.5): the data items a client asks for, and the
 * octets of a BODY[section]<partial>, from the raw message and its MIME
 * tree.  Pure: no I/O.
 */

typedef enum {
	IMAP_SECTION_ALL, /* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
} ImapSectionKind;

typedef struct {
	char *part; /* "" or "1.2" */
	ImapSectionKind kind;
	char **fields; /* HEADER.FIELDS[.NOT] */
	gboolean peek;
	gboolean binary;      /* BINARY[part]: the transfer encoding undone (RFC 3516) */
	gboolean binary_size; /* BINARY.SIZE[part] */
	gboolean partial;
	guint64 offset;
	guint64 length;
	char *response_name; /* "BODY[HEADER]<0>", "RFC822.HEADER", "BINARY[1]"... */
} ImapBodyItem;

typedef struct {
	gboolean uid, flags, size, internaldate, envelope, bodystructure, body;
	gboolean modseq;    /* MODSEQ (RFC 7162 CONDSTORE) */
	GPtrArray *bodies;  /* of ImapBodyItem */
	gboolean set_seen;  /* a non-peek body item */
	gboolean need_data; /* the message's octets are needed */
	gboolean need_mime; /* its MIME tree (which the store keeps) */
	/* OBJECTID (RFC 8474) */
	gboolean emailid, threadid;
} ImapFetchItems;

void imap_fetch_items_clear (ImapFetchItems *items);

/**
 * imap_fetch_parse:
 * @arg: the item (an atom) or the parenthesized list of them, or a macro
 *   (ALL, FAST, FULL)
 * @error_text: (out): on failure, the text for BAD
 */
gboolean imap_fetch_parse (const ImapArg *arg, ImapFetchItems *items, const char **error_text);

/**
 * imap_fetch_body:
 * @msg: (nullable): the MIME tree; needed unless the section is the whole
 *   message
 *
 * Returns: (transfer full) (nullable): the octets of @item (partial
 *   applied), or %NULL for a part that does not exist (NIL)
 */
GBytes *imap_fetch_body (const ImapBodyItem *item, GBytes *data, const EpMimeMessage *msg);

typedef enum {
	IMAP_FETCH_BINARY_OK,
	IMAP_FETCH_BINARY_NIL,	       /* no such part */
	IMAP_FETCH_BINARY_UNKNOWN_CTE, /* NO [UNKNOWN-CTE] */
} ImapFetchBinaryStatus;

/**
 * imap_fetch_binary:
 * @item: a BINARY or BINARY.SIZE item
 * @msg: (nullable): the MIME tree; needed unless the section is ""
 * @out: (out) (optional) (transfer full): BINARY: the part with its
 *   Content-Transfer-Encoding undone, partial applied
 * @size: (out) (optional): BINARY.SIZE: the decoded size (0 for no part)
 *
 * BINARY[] is the whole message as stored; a multipart or message part
 * is its body as is (RFC 2045 allows them no encoding but 7bit, 8bit,
 * binary); a leaf is decoded: 7bit, 8bit, binary as is, base64 and
 * quoted-printable undone, any other is UNKNOWN-CTE.
 */
ImapFetchBinaryStatus imap_fetch_binary (const ImapBodyItem *item, GBytes *data, const EpMimeMessage *msg, GBytes **out,
					 guint64 *size);

G_END_DECLS
