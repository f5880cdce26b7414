/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The MIME / RFC 5322 message parser.
 *
 * ep_mime_message_parse() runs once, when a message is delivered, over the
 * raw bytes as received.  It never fails: broken mail is parsed best effort
 * and flagged.  The result is a tree of parts that carries everything IMAP
 * FETCH needs (exact byte offsets of every header and body, the content
 * headers, the ENVELOPE of every message) and nothing that points back into
 * the buffer, so that ep_mime_message_serialize() can store it beside the
 * message and ep_mime_message_deserialize() can rebuild it without parsing
 * the message again.
 *
 * Offsets follow IMAP (RFC 9051 section 6.4.5):
 *   header  [header_offset, header_offset + header_length) is BODY[n.MIME]
 *           (BODY[HEADER] for a message), the blank line included;
 *   body    [body_offset, body_offset + body_length) is BODY[n] (BODY[TEXT]
 *           for a message); the line break before a boundary line belongs
 *           to the boundary, not to the body.
 * Bare LF line endings are accepted; offsets always count the bytes as
 * they are in the buffer.
 *
 * Tree shape: a multipart part has its body parts as children; a
 * message/rfc822 (or message/global) part has exactly one child, the
 * embedded message, whose header and body follow the same rules and which
 * carries an envelope.  The root is the message itself and carries an
 * envelope too.
 */

/* beyond these, what is left is kept as the opaque body of a leaf */
#define EP_MIME_MAX_DEPTH 32
#define EP_MIME_MAX_PARTS 1000

typedef enum {
	EP_MIME_MESSAGE_FLAG_NONE = 0,
	EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH = 1 << 0,       /* nesting deeper than EP_MIME_MAX_DEPTH */
	EP_MIME_MESSAGE_FLAG_LIMIT_PARTS = 1 << 1,       /* more than EP_MIME_MAX_PARTS parts */
	EP_MIME_MESSAGE_FLAG_MISSING_BOUNDARY = 1 << 2,  /* a multipart without its close delimiter */
	EP_MIME_MESSAGE_FLAG_BROKEN_HEADER = 1 << 3,     /* a header line without a colon */
	EP_MIME_MESSAGE_FLAG_NUL = 1 << 4,               /* NUL bytes in a header */
	EP_MIME_MESSAGE_FLAG_8BIT_HEADER = 1 << 5,       /* raw 8-bit bytes in a header */
	EP_MIME_MESSAGE_FLAG_NO_BODY = 1 << 6,           /* the header never ends */
} EpMimeMessageFlags;

typedef struct _EpMimeMessage  EpMimeMessage;
typedef struct _EpMimePart     EpMimePart;
typedef struct _EpMimeEnvelope EpMimeEnvelope;

/* a Content-Type or Content-Disposition parameter, RFC 2231 decoded */
typedef struct {
	char *name;  /* lowercased, without the RFC 2231 "*" and "*N" suffixes */
	char *value; /* UTF-8 */
} EpMimeParam;

/*
 * One entry of an address list as IMAP's ENVELOPE knows it: a mailbox has
 * @mailbox and @host; the start of a group has only @mailbox (the group
 * name), its end has neither.  Strings are raw header text (RFC 2047
 * encoded words are not decoded), NULL where ENVELOPE says NIL.
 */
typedef struct {
	char *name;    /* display name */
	char *route;   /* obsolete source route, "@a,@b" */
	char *mailbox; /* local part, or the group name */
	char *host;    /* domain */
} EpMimeAddress;

EP_API void ep_mime_address_free (EpMimeAddress *address);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *
ep_mime_address_list_parse (const char *text, gsize len);

/* ------------------------------------------------------------------------ */
/* messages                                                                 */
/* ------------------------------------------------------------------------ */

EP_API G_GNUC_WARN_UNUSED_RESULT EpMimeMessage *
ep_mime_message_parse (const char *data, gsize len);
EP_API EpMimeMessage     *ep_mime_message_ref (EpMimeMessage *msg);
EP_API void               ep_mime_message_unref (EpMimeMessage *msg);

EP_API EpMimePart        *ep_mime_message_get_root (const EpMimeMessage *msg);
EP_API gsize              ep_mime_message_get_size (const EpMimeMessage *msg);
EP_API guint              ep_mime_message_get_n_parts (const EpMimeMessage *msg);
EP_API EpMimeMessageFlags ep_mime_message_get_flags (const EpMimeMessage *msg);
EP_API EpMimePart        *ep_mime_message_lookup_part (const EpMimeMessage *msg, const char *section);

EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *
ep_mime_message_serialize (const EpMimeMessage *msg);
EP_API G_GNUC_WARN_UNUSED_RESULT EpMimeMessage *
ep_mime_message_deserialize (GBytes *bytes, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_message_extract_text (const EpMimeMessage *msg, const char *raw, gsize raw_len, gsize max_len);

/* ------------------------------------------------------------------------ */
/* parts                                                                    */
/* ------------------------------------------------------------------------ */

EP_API gsize        ep_mime_part_get_header_offset (const EpMimePart *part);
EP_API gsize        ep_mime_part_get_header_length (const EpMimePart *part);
EP_API gsize        ep_mime_part_get_body_offset (const EpMimePart *part);
EP_API gsize        ep_mime_part_get_body_length (const EpMimePart *part);
EP_API gsize        ep_mime_part_get_body_lines (const EpMimePart *part);
EP_API gsize        ep_mime_part_get_decoded_size (const EpMimePart *part);

EP_API const char  *ep_mime_part_get_section (const EpMimePart *part);
EP_API EpMimePart  *ep_mime_part_get_parent (const EpMimePart *part);
EP_API guint        ep_mime_part_get_n_children (const EpMimePart *part);
EP_API EpMimePart  *ep_mime_part_get_child (const EpMimePart *part, guint index);
EP_API gboolean     ep_mime_part_is_multipart (const EpMimePart *part);
EP_API EpMimePart  *ep_mime_part_get_message (const EpMimePart *part);
EP_API const EpMimeEnvelope *ep_mime_part_get_envelope (const EpMimePart *part);

EP_API const char  *ep_mime_part_get_content_type (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_content_subtype (const EpMimePart *part);
EP_API GPtrArray   *ep_mime_part_get_params (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_param (const EpMimePart *part, const char *name);
EP_API const char  *ep_mime_part_get_encoding (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_content_id (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_description (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_md5 (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_disposition (const EpMimePart *part);
EP_API GPtrArray   *ep_mime_part_get_disposition_params (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_disposition_param (const EpMimePart *part, const char *name);
EP_API const char *const *ep_mime_part_get_languages (const EpMimePart *part);
EP_API const char  *ep_mime_part_get_location (const EpMimePart *part);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_part_get_filename (const EpMimePart *part);
EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_part_bodystructure_to_imap (const EpMimePart *part, gboolean extended);
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *
ep_mime_part_decode_body (const EpMimePart *part, const char *raw, gsize raw_len, GError **error);

/* ------------------------------------------------------------------------ */
/* envelopes                                                                */
/* ------------------------------------------------------------------------ */

EP_API G_GNUC_WARN_UNUSED_RESULT EpMimeEnvelope *
ep_mime_envelope_new_from_headers (const char *header, gsize len);
EP_API void         ep_mime_envelope_free (EpMimeEnvelope *env);

/* NULL when the header is absent */
EP_API const char  *ep_mime_envelope_get_date (const EpMimeEnvelope *env);
EP_API const char  *ep_mime_envelope_get_subject (const EpMimeEnvelope *env);
EP_API const char  *ep_mime_envelope_get_in_reply_to (const EpMimeEnvelope *env);
EP_API const char  *ep_mime_envelope_get_message_id (const EpMimeEnvelope *env);
/* of EpMimeAddress; NULL when the header is absent or holds no address */
EP_API GPtrArray   *ep_mime_envelope_get_from (const EpMimeEnvelope *env);
EP_API GPtrArray   *ep_mime_envelope_get_sender (const EpMimeEnvelope *env);
EP_API GPtrArray   *ep_mime_envelope_get_reply_to (const EpMimeEnvelope *env);
EP_API GPtrArray   *ep_mime_envelope_get_to (const EpMimeEnvelope *env);
EP_API GPtrArray   *ep_mime_envelope_get_cc (const EpMimeEnvelope *env);
EP_API GPtrArray   *ep_mime_envelope_get_bcc (const EpMimeEnvelope *env);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_envelope_to_imap (const EpMimeEnvelope *env);

/* ------------------------------------------------------------------------ */
/* headers                                                                  */
/* ------------------------------------------------------------------------ */

/* one raw header field; pointers go into the buffer being iterated */
typedef struct {
	const char *name;  /* trailing white space removed; the whole line if there is no colon */
	gsize name_len;
	const char *value; /* after the colon, folding and all, without the final line break */
	gsize value_len;
	gsize offset;      /* of the field in the buffer */
	gsize length;      /* of the field, final line break included */
	gboolean has_colon;
} EpMimeHeader;

typedef struct {
	const char *data;
	gsize len;
	gsize pos;
} EpMimeHeaderIter;

EP_API void     ep_mime_header_iter_init (EpMimeHeaderIter *iter, const char *data, gsize len);
EP_API gboolean ep_mime_header_iter_next (EpMimeHeaderIter *iter, EpMimeHeader *header);
EP_API gboolean ep_mime_header_has_name (const EpMimeHeader *header, const char *name);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_header_unfold (const char *value, gsize len);
EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_headers_get_first (const char *data, gsize len, const char *name);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *
ep_mime_headers_get_all (const char *data, gsize len, const char *name);

/* ------------------------------------------------------------------------ */
/* header values                                                            */
/* ------------------------------------------------------------------------ */

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_decode_encoded_words (const char *text, gsize len);
EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_mime_charset_to_utf8 (const char *charset, const char *data, gsize len);
EP_API gboolean ep_mime_content_type_parse (const char *value,
					    gsize len,
					    char **type,
					    char **subtype,
					    GPtrArray **params);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *
ep_mime_params_parse (const char *text, gsize len);
EP_API void ep_mime_param_free (EpMimeParam *param);

/* an IMAP string: NIL, a quoted string or a literal */
EP_API void ep_mime_imap_append_nstring (GString *out, const char *str);

/* ------------------------------------------------------------------------ */
/* transfer decoding                                                        */
/* ------------------------------------------------------------------------ */

/* stream decoders: feed any slicing of the input, then finish */
typedef struct {
	guint32 acc;
	guint n_bits;
} EpMimeBase64Decoder;

EP_API void ep_mime_base64_decoder_init (EpMimeBase64Decoder *dec);
EP_API void ep_mime_base64_decoder_step (EpMimeBase64Decoder *dec, const guint8 *in, gsize len, GByteArray *out);
EP_API void ep_mime_base64_decoder_finish (EpMimeBase64Decoder *dec, GByteArray *out);

#define EP_MIME_QP_MAX_PENDING 256

typedef struct {
	guint state;
	guint8 hex;
	guint n_pending;
	guint8 pending[EP_MIME_QP_MAX_PENDING]; /* white space that may be trailing */
} EpMimeQpDecoder;

EP_API void ep_mime_qp_decoder_init (EpMimeQpDecoder *dec);
EP_API void ep_mime_qp_decoder_step (EpMimeQpDecoder *dec, const guint8 *in, gsize len, GByteArray *out);
EP_API void ep_mime_qp_decoder_finish (EpMimeQpDecoder *dec, GByteArray *out);

/* @dt as an RFC 5322 date-time, "Tue, 1 Jul 2003 10:52:37 +0200", with the
 * English names whatever the locale (Date:, Received:, DSN fields) */
EP_API char *ep_mime_format_date (GDateTime *dt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMimeMessage, ep_mime_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMimeEnvelope, ep_mime_envelope_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMimeAddress, ep_mime_address_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMimeParam, ep_mime_param_free)

G_END_DECLS
