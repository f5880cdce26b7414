/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MIME / RFC 5322 message parser (RFC 5322, 2045, 2046, 2047, 2231)
 * and the IMAP views of its result (RFC 9051 ENVELOPE and BODYSTRUCTURE).
 *
 * The parser is one forward pass over the lines of the buffer.  Every
 * multipart pushes its boundary on a stack; each line that starts with "--"
 * is compared with the boundaries on the stack, innermost first, so a part
 * ends at its own delimiter or at any enclosing one (a missing close
 * delimiter ends where the outer multipart, or the data, ends).  The stack
 * is at most EP_MIME_MAX_DEPTH deep, so the work per line is bounded and a
 * message costs linear time however it is built.  Only the few fields of the
 * content headers are kept; header fields are otherwise read straight from
 * the buffer with EpMimeHeaderIter.
 *
 * Nothing here fails on content: a missing boundary, a header line without
 * a colon, NUL or 8-bit bytes, truncated base64, an unknown charset all end
 * up parsed best effort, and the message flags say what was wrong.
 *
 * Serialized form (ep_mime_message_serialize): compact binary, meant for a
 * bytea column.  All integers are unsigned LEB128 varints; a string is a
 * varint n (0 for NULL, else its length + 1) followed by its bytes, which
 * never hold NUL.  The stored strings are raw header text that need not be
 * UTF-8, which is why this is not JSON.
 *
 *   "EPM1" size flags n_parts part
 *   part     = header_offset header_length body_offset body_length
 *              body_lines decoded_size
 *              type subtype encoding id description md5 disposition
 *              location params disposition_params languages
 *              has_envelope [envelope] n_children *part
 *   params   = n *(name value)
 *   languages= n *string
 *   envelope = date subject in_reply_to message_id
 *              from sender reply_to to cc bcc   (each an address list)
 *   address list = n (0 for NULL, else count + 1) *(name route mailbox host)
 *
 * Sections are not stored: they are computed again from the tree.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "ep-error.h"
#include "ep-mime.h"

/* a longer boundary is not believed: the part stays a leaf */
#define EP_MIME_MAX_BOUNDARY 1024
/* parameters kept from one Content-Type or Content-Disposition value */
#define EP_MIME_MAX_PARAMS 256
/* RFC 2231 continuation numbers beyond this are ignored */
#define EP_MIME_MAX_SECTION 9999
#define EP_MIME_MAX_CHARSET 64
#define EP_MIME_SERIAL_MAGIC "EPM1"

struct _EpMimeEnvelope {
	char *date;
	char *subject;
	GPtrArray *from;
	GPtrArray *sender;
	GPtrArray *reply_to;
	GPtrArray *to;
	GPtrArray *cc;
	GPtrArray *bcc;
	char *in_reply_to;
	char *message_id;
};

struct _EpMimePart {
	EpMimePart *parent; /* unowned */
	GPtrArray *children; /* of EpMimePart */
	char *section;
	gsize header_offset;
	gsize header_length;
	gsize body_offset;
	gsize body_length;
	gsize body_lines;
	gsize decoded_size;
	char *type;
	char *subtype;
	char *encoding;
	char *id;
	char *description;
	char *md5;
	char *disposition;
	char *location;
	GPtrArray *params;             /* of EpMimeParam */
	GPtrArray *disposition_params; /* of EpMimeParam */
	GStrv languages;               /* never NULL */
	EpMimeEnvelope *envelope;      /* for the root and embedded messages */
};

struct _EpMimeMessage {
	gatomicrefcount ref_count;
	EpMimePart *root;
	gsize size;
	guint n_parts;
	EpMimeMessageFlags flags;
};

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

static inline gboolean
ep_mime_is_wsp (char c)
{
	return c == ' ' || c == '\t';
}

static inline gboolean
ep_mime_is_lwsp (char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean
ep_mime_mem_caseeq (const char *a, gsize a_len, const char *b)
{
	gsize b_len = strlen (b);

	if (a_len != b_len)
		return FALSE;
	for (gsize i = 0; i < a_len; i++) {
		if (g_ascii_tolower (a[i]) != g_ascii_tolower (b[i]))
			return FALSE;
	}
	return TRUE;
}

/* the position after the line that starts at @pos */
static gsize
ep_mime_line_next (const char *data, gsize len, gsize pos)
{
	const char *lf = memchr (data + pos, '\n', len - pos);

	return lf != NULL ? (gsize) (lf - data) + 1 : len;
}

static int
ep_mime_hex_value (char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* a copy without NUL bytes, which C strings cannot hold */
static char *
ep_mime_strndup_nonul (const char *str, gsize len)
{
	char *copy = g_strndup (str, len);

	for (gsize i = 0; i < len; i++) {
		if (str[i] == '\0')
			copy[i] = ' ';
	}
	return copy;
}

static void
ep_mime_ptr_array_free (GPtrArray *array)
{
	if (array != NULL)
		g_ptr_array_unref (array);
}

/* ------------------------------------------------------------------------ */
/* charsets                                                                 */
/* ------------------------------------------------------------------------ */

/* windows-1252 0x80..0x9f; the five holes map to the C1 controls */
static const gunichar ep_mime_cp1252_high[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static void
ep_mime_append_unichar (GString *out, gunichar c)
{
	char buf[6];
	gint n;

	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	n = g_unichar_to_utf8 (c, buf);
	g_string_append_len (out, buf, n);
}

/* every byte is a character: windows-1252, a superset of latin1 */
static void
ep_mime_append_cp1252 (GString *out, const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guint8 c = (guint8) data[i];
		if (c >= 0x80 && c < 0xa0)
			ep_mime_append_unichar (out, ep_mime_cp1252_high[c - 0x80]);
		else if (c >= 0x80 || c == 0)
			ep_mime_append_unichar (out, c == 0 ? 0xfffd : c);
		else
			g_string_append_c (out, (char) c);
	}
}

/* UTF-8 kept where valid, every invalid byte replaced */
static void
ep_mime_append_utf8_lossy (GString *out, const char *data, gsize len)
{
	const char *p = data;
	const char *end;

	if (len == 0)
		return;
	end = data + len;
	while (p < end) {
		const char *valid_end = NULL;
		if (g_utf8_validate_len (p, end - p, &valid_end)) {
			g_string_append_len (out, p, end - p);
			break;
		}
		g_string_append_len (out, p, valid_end - p);
		p = valid_end;
		if (*p == '\0') {
			/* NUL is valid UTF-8 but not in a C string */
			ep_mime_append_unichar (out, 0xfffd);
			p++;
			continue;
		}
		ep_mime_append_unichar (out, 0xfffd);
		p++;
	}
}

/* text in no declared charset: UTF-8 if it is, windows-1252 otherwise */
static void
ep_mime_append_auto (GString *out, const char *data, gsize len)
{
	if (len == 0)
		return;
	if (g_utf8_validate_len (data, len, NULL))
		ep_mime_append_utf8_lossy (out, data, len);
	else
		ep_mime_append_cp1252 (out, data, len);
}

static gboolean
ep_mime_charset_name_valid (const char *name)
{
	gsize len = strlen (name);

	if (len == 0 || len > EP_MIME_MAX_CHARSET)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = name[i];
		if (!g_ascii_isalnum (c) && strchr ("-_.:+()", c) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* names mail uses that iconv does not know, or knows as a smaller set */
static const char *
ep_mime_charset_alias (const char *lower)
{
	static const struct {
		const char *name;
		const char *iconv;
	} aliases[] = {
		{ "latin1", "WINDOWS-1252" },
		{ "iso-8859-1", "WINDOWS-1252" },
		{ "iso8859-1", "WINDOWS-1252" },
		{ "iso_8859-1", "WINDOWS-1252" },
		{ "ks_c_5601-1987", "CP949" },
		{ "ks_c_5601", "CP949" },
		{ "euc-kr", "CP949" },
		{ "gb2312", "GB18030" },
		{ "gbk", "GB18030" },
		{ "x-gbk", "GB18030" },
		{ "x-sjis", "SHIFT_JIS" },
		{ "shift-jis", "SHIFT_JIS" },
		{ "iso-8859-8-i", "ISO-8859-8" },
		{ "tis-620", "TIS-620" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (aliases); i++) {
		if (strcmp (lower, aliases[i].name) == 0)
			return aliases[i].iconv;
	}
	return lower;
}

static void
ep_mime_append_iconv (GString *out, GIConv cd, const char *data, gsize len)
{
	g_autoptr(GString) tmp = g_string_sized_new (len + 16);
	gchar *in = (gchar *) data;
	gsize in_left = len;
	char buf[1024];
	gchar *outp;
	gsize out_left;

	while (in_left > 0) {
		gsize rc;
		outp = buf;
		out_left = sizeof buf;
		rc = g_iconv (cd, &in, &in_left, &outp, &out_left);
		g_string_append_len (tmp, buf, outp - buf);
		if (rc != (gsize) -1)
			continue;
		if (errno == E2BIG && outp != buf)
			continue;
		if (errno == EILSEQ) {
			/* one byte that means nothing in this charset */
			ep_mime_append_unichar (tmp, 0xfffd);
			in++;
			in_left--;
			continue;
		}
		/* EINVAL: the data ends inside a character */
		ep_mime_append_unichar (tmp, 0xfffd);
		break;
	}
	outp = buf;
	out_left = sizeof buf;
	(void) g_iconv (cd, NULL, NULL, &outp, &out_left);
	g_string_append_len (tmp, buf, outp - buf);
	ep_mime_append_utf8_lossy (out, tmp->str, tmp->len);
}

/* never fails: an unknown charset is read as UTF-8 or windows-1252 */
static void
ep_mime_append_charset (GString *out, const char *charset, const char *data, gsize len)
{
	g_autofree char *lower = NULL;
	const char *name;
	GIConv cd;

	if (len == 0)
		return;
	if (charset == NULL) {
		ep_mime_append_auto (out, data, len);
		return;
	}
	lower = g_ascii_strdown (charset, -1);
	g_strstrip (lower);
	if (strcmp (lower, "utf-8") == 0 || strcmp (lower, "utf8") == 0) {
		ep_mime_append_utf8_lossy (out, data, len);
		return;
	}
	if (!ep_mime_charset_name_valid (lower) || strcmp (lower, "us-ascii") == 0 ||
	    strcmp (lower, "ascii") == 0 || strcmp (lower, "us") == 0 ||
	    strcmp (lower, "ansi_x3.4-1968") == 0 || strcmp (lower, "unknown-8bit") == 0 ||
	    strcmp (lower, "x-unknown") == 0 || strcmp (lower, "default") == 0) {
		ep_mime_append_auto (out, data, len);
		return;
	}
	name = ep_mime_charset_alias (lower);
	cd = g_iconv_open ("UTF-8", name);
	if (cd == (GIConv) -1) {
		ep_mime_append_auto (out, data, len);
		return;
	}
	ep_mime_append_iconv (out, cd, data, len);
	g_iconv_close (cd);
}

/**
 * ep_mime_charset_to_utf8:
 * @charset: (nullable): a MIME charset name; %NULL when none was declared
 * @data: the text
 * @len: its length in bytes
 *
 * Converts text to UTF-8 with GLib's iconv.  This never fails: bytes that
 * mean nothing in @charset become U+FFFD, and an unknown or missing
 * charset reads the text as UTF-8 if it is, windows-1252 otherwise.
 *
 * Returns: (transfer full): valid UTF-8 without NUL
 */
char *
ep_mime_charset_to_utf8 (const char *charset, const char *data, gsize len)
{
	GString *out = g_string_sized_new (len + 1);

	ep_mime_append_charset (out, charset, data, len);
	return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* transfer decoding                                                        */
/* ------------------------------------------------------------------------ */

static int
ep_mime_base64_value (guint8 c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
ep_mime_base64_decoder_init (EpMimeBase64Decoder *dec)
{
	dec->acc = 0;
	dec->n_bits = 0;
}

/**
 * ep_mime_base64_decoder_step:
 * @dec: a decoder
 * @in: encoded input, any slice of the whole
 * @len: its length
 * @out: decoded bytes are appended here
 *
 * Decodes base64 leniently: characters outside the alphabet are skipped,
 * "=" ends a quantum (so concatenated encodings decode one after the other)
 * and a truncated quantum yields the whole bytes it holds.
 */
void
ep_mime_base64_decoder_step (EpMimeBase64Decoder *dec, const guint8 *in, gsize len, GByteArray *out)
{
	for (gsize i = 0; i < len; i++) {
		int v;
		if (in[i] == '=') {
			dec->acc = 0;
			dec->n_bits = 0;
			continue;
		}
		v = ep_mime_base64_value (in[i]);
		if (v < 0)
			continue;
		dec->acc = (dec->acc << 6) | (guint32) v;
		dec->n_bits += 6;
		if (dec->n_bits >= 8) {
			guint8 byte;
			dec->n_bits -= 8;
			byte = (guint8) (dec->acc >> dec->n_bits);
			g_byte_array_append (out, &byte, 1);
			dec->acc &= (1u << dec->n_bits) - 1;
		}
	}
}

void
ep_mime_base64_decoder_finish (EpMimeBase64Decoder *dec, GByteArray *out)
{
	/* a partial quantum carries fewer than 8 bits: nothing to emit */
	ep_mime_base64_decoder_init (dec);
}

enum {
	EP_MIME_QP_TEXT,
	EP_MIME_QP_CR,     /* a CR, waiting for its LF */
	EP_MIME_QP_EQ,     /* "=" */
	EP_MIME_QP_EQ_HEX, /* "=" and one hex digit */
	EP_MIME_QP_EQ_WS,  /* "=" and white space: a soft line break if a line break follows */
	EP_MIME_QP_EQ_CR,  /* "=" (white space) CR */
};

void
ep_mime_qp_decoder_init (EpMimeQpDecoder *dec)
{
	dec->state = EP_MIME_QP_TEXT;
	dec->hex = 0;
	dec->n_pending = 0;
}

static void
ep_mime_qp_flush_pending (EpMimeQpDecoder *dec, GByteArray *out)
{
	if (dec->n_pending > 0)
		g_byte_array_append (out, dec->pending, dec->n_pending);
	dec->n_pending = 0;
}

static void
ep_mime_qp_append (GByteArray *out, char c)
{
	guint8 byte = (guint8) c;

	g_byte_array_append (out, &byte, 1);
}

/**
 * ep_mime_qp_decoder_step:
 * @dec: a decoder
 * @in: encoded input, any slice of the whole
 * @len: its length
 * @out: decoded bytes are appended here
 *
 * Decodes quoted-printable (RFC 2045 section 6.7): "=XX" escapes (either
 * case), soft line breaks ("=" before a line break, white space allowed
 * between), and white space at the end of a line dropped.  An "=" that
 * starts no valid escape is kept as it is.  Line breaks are kept as
 * written (CRLF or LF).
 */
void
ep_mime_qp_decoder_step (EpMimeQpDecoder *dec, const guint8 *in, gsize len, GByteArray *out)
{
	gsize i = 0;

	while (i < len) {
		char c = (char) in[i];
		gboolean consumed = TRUE;

		switch (dec->state) {
		case EP_MIME_QP_TEXT:
			if (ep_mime_is_wsp (c)) {
				if (dec->n_pending == EP_MIME_QP_MAX_PENDING)
					ep_mime_qp_flush_pending (dec, out);
				dec->pending[dec->n_pending++] = (guint8) c;
			} else if (c == '=') {
				ep_mime_qp_flush_pending (dec, out);
				dec->state = EP_MIME_QP_EQ;
			} else if (c == '\r') {
				dec->state = EP_MIME_QP_CR;
			} else if (c == '\n') {
				dec->n_pending = 0;
				ep_mime_qp_append (out, '\n');
			} else {
				ep_mime_qp_flush_pending (dec, out);
				ep_mime_qp_append (out, c);
			}
			break;
		case EP_MIME_QP_CR:
			dec->state = EP_MIME_QP_TEXT;
			if (c == '\n') {
				dec->n_pending = 0;
				g_byte_array_append (out, (const guint8 *) "\r\n", 2);
			} else {
				/* a lone CR is data */
				ep_mime_qp_flush_pending (dec, out);
				ep_mime_qp_append (out, '\r');
				consumed = FALSE;
			}
			break;
		case EP_MIME_QP_EQ:
			if (ep_mime_hex_value (c) >= 0) {
				dec->hex = (guint8) c;
				dec->state = EP_MIME_QP_EQ_HEX;
			} else if (ep_mime_is_wsp (c)) {
				dec->pending[dec->n_pending++] = (guint8) c;
				dec->state = EP_MIME_QP_EQ_WS;
			} else if (c == '\r') {
				dec->state = EP_MIME_QP_EQ_CR;
			} else if (c == '\n') {
				dec->state = EP_MIME_QP_TEXT;
			} else {
				ep_mime_qp_append (out, '=');
				dec->state = EP_MIME_QP_TEXT;
				consumed = FALSE;
			}
			break;
		case EP_MIME_QP_EQ_HEX:
			dec->state = EP_MIME_QP_TEXT;
			if (ep_mime_hex_value (c) >= 0) {
				guint8 byte = (guint8) (ep_mime_hex_value ((char) dec->hex) * 16 + ep_mime_hex_value (c));
				g_byte_array_append (out, &byte, 1);
			} else {
				ep_mime_qp_append (out, '=');
				ep_mime_qp_append (out, (char) dec->hex);
				consumed = FALSE;
			}
			break;
		case EP_MIME_QP_EQ_WS:
			if (ep_mime_is_wsp (c) && dec->n_pending < EP_MIME_QP_MAX_PENDING) {
				dec->pending[dec->n_pending++] = (guint8) c;
			} else if (c == '\r') {
				dec->n_pending = 0;
				dec->state = EP_MIME_QP_EQ_CR;
			} else if (c == '\n') {
				dec->n_pending = 0;
				dec->state = EP_MIME_QP_TEXT;
			} else {
				/* "=" and white space inside a line: both are data */
				ep_mime_qp_append (out, '=');
				ep_mime_qp_flush_pending (dec, out);
				dec->state = EP_MIME_QP_TEXT;
				consumed = FALSE;
			}
			break;
		case EP_MIME_QP_EQ_CR:
		default:
			/* a soft line break, even when the CR stands alone */
			dec->state = EP_MIME_QP_TEXT;
			consumed = c == '\n';
			break;
		}
		if (consumed)
			i++;
	}
}

void
ep_mime_qp_decoder_finish (EpMimeQpDecoder *dec, GByteArray *out)
{
	switch (dec->state) {
	case EP_MIME_QP_CR:
		ep_mime_qp_flush_pending (dec, out);
		ep_mime_qp_append (out, '\r');
		break;
	case EP_MIME_QP_EQ_HEX:
		ep_mime_qp_append (out, '=');
		ep_mime_qp_append (out, (char) dec->hex);
		break;
	default:
		/* trailing white space, or a soft line break at the very end */
		break;
	}
	ep_mime_qp_decoder_init (dec);
}

static gboolean
ep_mime_encoding_is_identity (const char *encoding)
{
	return encoding == NULL || strcmp (encoding, "7bit") == 0 || strcmp (encoding, "8bit") == 0 ||
	       strcmp (encoding, "binary") == 0;
}

/* either stream decoder, chosen by the Content-Transfer-Encoding */
typedef struct {
	gboolean base64;
	EpMimeBase64Decoder b64;
	EpMimeQpDecoder qp;
} EpMimeTransferDecoder;

static void
ep_mime_transfer_decoder_step (EpMimeTransferDecoder *dec, const char *data, gsize len, GByteArray *out)
{
	if (dec->base64)
		ep_mime_base64_decoder_step (&dec->b64, (const guint8 *) data, len, out);
	else
		ep_mime_qp_decoder_step (&dec->qp, (const guint8 *) data, len, out);
}

static void
ep_mime_transfer_decoder_finish (EpMimeTransferDecoder *dec, GByteArray *out)
{
	if (dec->base64)
		ep_mime_base64_decoder_finish (&dec->b64, out);
	else
		ep_mime_qp_decoder_finish (&dec->qp, out);
}

#define EP_MIME_DECODE_CHUNK 8192

/*
 * Decodes the first @max_in bytes (at most) of @data by @encoding and
 * appends the result to @out; with @out NULL it only counts the decoded
 * bytes, in chunks, without holding the whole result.  FALSE for an
 * encoding it does not know.
 */
static gboolean
ep_mime_transfer_decode (const char *encoding, const char *data, gsize len, gsize max_in, GByteArray *out, gsize *count)
{
	g_autoptr(GByteArray) scratch = NULL;
	GByteArray *target = out;
	EpMimeTransferDecoder dec = { 0 };
	gsize start;
	gsize total = 0;

	len = MIN (len, max_in);
	if (ep_mime_encoding_is_identity (encoding)) {
		if (out != NULL)
			g_byte_array_append (out, (const guint8 *) data, len);
		if (count != NULL)
			*count = len;
		return TRUE;
	}
	if (strcmp (encoding, "base64") == 0)
		dec.base64 = TRUE;
	else if (strcmp (encoding, "quoted-printable") != 0)
		return FALSE;
	ep_mime_base64_decoder_init (&dec.b64);
	ep_mime_qp_decoder_init (&dec.qp);

	if (target == NULL) {
		scratch = g_byte_array_sized_new (EP_MIME_DECODE_CHUNK + EP_MIME_QP_MAX_PENDING + 4);
		target = scratch;
	}
	start = target->len;
	for (gsize pos = 0; pos < len; pos += EP_MIME_DECODE_CHUNK) {
		ep_mime_transfer_decoder_step (&dec, data + pos, MIN (len - pos, EP_MIME_DECODE_CHUNK), target);
		if (scratch != NULL) {
			total += scratch->len;
			g_byte_array_set_size (scratch, 0);
		}
	}
	ep_mime_transfer_decoder_finish (&dec, target);
	total += target->len - start;
	if (count != NULL)
		*count = total;
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* headers                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * ep_mime_header_iter_init:
 * @iter: an iterator
 * @data: a header block, or a whole message
 * @len: its length
 *
 * Prepares to walk the header fields at the start of @data; the walk ends
 * at the first blank line (CRLF or bare LF) or at the end of @data.
 */
void
ep_mime_header_iter_init (EpMimeHeaderIter *iter, const char *data, gsize len)
{
	iter->data = data;
	iter->len = len;
	iter->pos = 0;
}

/**
 * ep_mime_header_iter_next:
 * @iter: an iterator
 * @header: (out caller-allocates): the next field
 *
 * A field is a line and the continuation lines (starting with SP or HTAB)
 * that follow it.  A line without a colon is a field all the same, with
 * its whole text as the name and @has_colon FALSE.
 *
 * Returns: FALSE at the end of the header
 */
gboolean
ep_mime_header_iter_next (EpMimeHeaderIter *iter, EpMimeHeader *header)
{
	const char *data = iter->data;
	gsize len = iter->len;
	gsize pos = iter->pos;
	gsize first_end;
	gsize line_len;
	gsize field_end;
	gsize value_end;
	const char *colon;

	if (pos >= len)
		return FALSE;
	first_end = ep_mime_line_next (data, len, pos);
	line_len = first_end - pos;
	if (line_len > 0 && data[first_end - 1] == '\n')
		line_len--;
	if (line_len > 0 && data[pos + line_len - 1] == '\r')
		line_len--;
	if (line_len == 0) {
		iter->pos = len;
		return FALSE;
	}
	field_end = first_end;
	while (field_end < len && ep_mime_is_wsp (data[field_end]))
		field_end = ep_mime_line_next (data, len, field_end);
	value_end = field_end;
	if (value_end > pos && data[value_end - 1] == '\n') {
		value_end--;
		if (value_end > pos && data[value_end - 1] == '\r')
			value_end--;
	}

	header->offset = pos;
	header->length = field_end - pos;
	colon = memchr (data + pos, ':', line_len);
	if (colon != NULL) {
		gsize name_len = colon - (data + pos);
		while (name_len > 0 && ep_mime_is_wsp (data[pos + name_len - 1]))
			name_len--;
		header->name = data + pos;
		header->name_len = name_len;
		header->value = colon + 1;
		header->value_len = value_end - (gsize) (colon + 1 - data);
		header->has_colon = TRUE;
	} else {
		header->name = data + pos;
		header->name_len = line_len;
		header->value = data + pos + line_len;
		header->value_len = 0;
		header->has_colon = FALSE;
	}
	iter->pos = field_end;
	return TRUE;
}

/**
 * ep_mime_header_has_name:
 * @header: a field
 * @name: a field name
 *
 * Returns: whether the field is called @name, ignoring case
 */
gboolean
ep_mime_header_has_name (const EpMimeHeader *header, const char *name)
{
	return header->has_colon && ep_mime_mem_caseeq (header->name, header->name_len, name);
}

/**
 * ep_mime_header_unfold:
 * @value: a raw field value
 * @len: its length
 *
 * Unfolds a value (RFC 5322 section 2.2.3: the line breaks go, the white
 * space stays) and trims the white space around it.  NUL bytes become
 * spaces.
 *
 * Returns: (transfer full): the unfolded value
 */
char *
ep_mime_header_unfold (const char *value, gsize len)
{
	GString *out = g_string_sized_new (len + 1);
	gsize start = 0;

	for (gsize i = 0; i < len; i++) {
		char c = value[i];
		if (c == '\r' || c == '\n')
			continue;
		g_string_append_c (out, c == '\0' ? ' ' : c);
	}
	while (start < out->len && ep_mime_is_wsp (out->str[start]))
		start++;
	g_string_erase (out, 0, start);
	while (out->len > 0 && ep_mime_is_wsp (out->str[out->len - 1]))
		g_string_truncate (out, out->len - 1);
	return g_string_free (out, FALSE);
}

/**
 * ep_mime_headers_get_first:
 * @data: a header block
 * @len: its length
 * @name: a field name
 *
 * Returns: (transfer full) (nullable): the unfolded value of the first
 * field called @name, or %NULL if there is none
 */
char *
ep_mime_headers_get_first (const char *data, gsize len, const char *name)
{
	EpMimeHeaderIter iter;
	EpMimeHeader header;

	ep_mime_header_iter_init (&iter, data, len);
	while (ep_mime_header_iter_next (&iter, &header)) {
		if (ep_mime_header_has_name (&header, name))
			return ep_mime_header_unfold (header.value, header.value_len);
	}
	return NULL;
}

/**
 * ep_mime_headers_get_all:
 * @data: a header block
 * @len: its length
 * @name: a field name
 *
 * Returns: (transfer full) (element-type utf8): the unfolded values of
 * every field called @name, in order; empty if there is none
 */
GPtrArray *
ep_mime_headers_get_all (const char *data, gsize len, const char *name)
{
	GPtrArray *values = g_ptr_array_new_with_free_func (g_free);
	EpMimeHeaderIter iter;
	EpMimeHeader header;

	ep_mime_header_iter_init (&iter, data, len);
	while (ep_mime_header_iter_next (&iter, &header)) {
		if (ep_mime_header_has_name (&header, name))
			g_ptr_array_add (values, ep_mime_header_unfold (header.value, header.value_len));
	}
	return values;
}

/* ------------------------------------------------------------------------ */
/* RFC 2047 encoded words                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
	GString *out;
	GByteArray *pending;   /* decoded bytes of adjacent encoded words */
	char *pending_charset; /* their charset */
} EpMimeWordDecoder;

static void
ep_mime_word_decoder_flush (EpMimeWordDecoder *self)
{
	if (self->pending_charset == NULL)
		return;
	ep_mime_append_charset (self->out, self->pending_charset, (const char *) self->pending->data, self->pending->len);
	g_byte_array_set_size (self->pending, 0);
	g_clear_pointer (&self->pending_charset, g_free);
}

/*
 * Recognises "=?charset?enc?text?=" at @pos.  @no_end_before remembers
 * where a search for "?=" last failed, so that text full of "=?" is still
 * read in linear time.
 */
static gboolean
ep_mime_word_parse (const char *text,
		    gsize len,
		    gsize pos,
		    gsize *no_end_before,
		    gsize *charset_len,
		    char *enc,
		    gsize *payload,
		    gsize *payload_end)
{
	gsize p = pos + 2;
	gsize q;

	while (p < len && text[p] != '?' && !ep_mime_is_lwsp (text[p]) && p - (pos + 2) <= EP_MIME_MAX_CHARSET)
		p++;
	if (p >= len || text[p] != '?' || p == pos + 2)
		return FALSE;
	*charset_len = p - (pos + 2);
	if (p + 2 >= len || text[p + 2] != '?')
		return FALSE;
	*enc = g_ascii_toupper (text[p + 1]);
	if (*enc != 'B' && *enc != 'Q')
		return FALSE;
	*payload = p + 3;
	if (*payload < *no_end_before)
		return FALSE;
	for (q = *payload; q < len && !ep_mime_is_lwsp (text[q]); q++) {
		if (text[q] == '?' && q + 1 < len && text[q + 1] == '=') {
			*payload_end = q;
			return TRUE;
		}
	}
	*no_end_before = q;
	return FALSE;
}

static void
ep_mime_word_decode_q (const char *text, gsize len, GByteArray *out)
{
	for (gsize i = 0; i < len; i++) {
		guint8 byte = (guint8) text[i];
		if (text[i] == '_') {
			byte = ' ';
		} else if (text[i] == '=' && i + 2 < len && ep_mime_hex_value (text[i + 1]) >= 0 &&
			   ep_mime_hex_value (text[i + 2]) >= 0) {
			byte = (guint8) (ep_mime_hex_value (text[i + 1]) * 16 + ep_mime_hex_value (text[i + 2]));
			i += 2;
		}
		g_byte_array_append (out, &byte, 1);
	}
}

/**
 * ep_mime_decode_encoded_words:
 * @text: a header value, unfolded or not
 * @len: its length
 *
 * Decodes RFC 2047 encoded words ("B" and "Q", RFC 2231 language suffix
 * allowed) to UTF-8.  White space between two encoded words goes; adjacent
 * words in one charset are converted together, so a character split over
 * two words survives.  Encoded words glued to other text are decoded too,
 * as mail clients do.  Text outside encoded words is taken as UTF-8 if it
 * is, windows-1252 otherwise.
 *
 * Returns: (transfer full): valid UTF-8
 */
char *
ep_mime_decode_encoded_words (const char *text, gsize len)
{
	g_autoptr(GByteArray) pending = g_byte_array_new ();
	EpMimeWordDecoder dec = { g_string_sized_new (len + 1), pending, NULL };
	gsize plain_start = 0;
	gsize no_end_before = 0;
	gboolean last_was_word = FALSE;
	gsize i = 0;

	if (len == 0)
		text = "";
	while (i + 1 < len) {
		gsize charset_len = 0;
		gsize payload = 0;
		gsize payload_end = 0;
		char enc = 0;
		g_autofree char *charset = NULL;
		char *star;
		gboolean only_space = TRUE;

		if (text[i] != '=' || text[i + 1] != '?' ||
		    !ep_mime_word_parse (text, len, i, &no_end_before, &charset_len, &enc, &payload, &payload_end)) {
			i++;
			continue;
		}
		for (gsize k = plain_start; k < i; k++) {
			if (!ep_mime_is_lwsp (text[k])) {
				only_space = FALSE;
				break;
			}
		}
		if (!(last_was_word && only_space)) {
			ep_mime_word_decoder_flush (&dec);
			ep_mime_append_auto (dec.out, text + plain_start, i - plain_start);
		}
		charset = g_strndup (text + i + 2, charset_len);
		star = strchr (charset, '*');
		if (star != NULL)
			*star = '\0';
		if (dec.pending_charset != NULL && g_ascii_strcasecmp (dec.pending_charset, charset) != 0)
			ep_mime_word_decoder_flush (&dec);
		if (dec.pending_charset == NULL)
			dec.pending_charset = g_steal_pointer (&charset);
		if (enc == 'B') {
			EpMimeBase64Decoder b64;
			ep_mime_base64_decoder_init (&b64);
			ep_mime_base64_decoder_step (&b64, (const guint8 *) text + payload, payload_end - payload, pending);
			ep_mime_base64_decoder_finish (&b64, pending);
		} else {
			ep_mime_word_decode_q (text + payload, payload_end - payload, pending);
		}
		i = payload_end + 2;
		plain_start = i;
		last_was_word = TRUE;
	}
	ep_mime_word_decoder_flush (&dec);
	ep_mime_append_auto (dec.out, text + plain_start, len - plain_start);
	return g_string_free (dec.out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* parameters (RFC 2045 section 5.1, RFC 2231)                              */
/* ------------------------------------------------------------------------ */

void
ep_mime_param_free (EpMimeParam *param)
{
	if (param == NULL)
		return;
	g_free (param->name);
	g_free (param->value);
	g_free (param);
}

static EpMimeParam *
ep_mime_param_new (const char *name, const char *value)
{
	EpMimeParam *param = g_new0 (EpMimeParam, 1);

	param->name = g_strdup (name);
	param->value = g_strdup (value);
	return param;
}

static GPtrArray *
ep_mime_param_array_new (void)
{
	return g_ptr_array_new_with_free_func ((GDestroyNotify) ep_mime_param_free);
}

/* RFC 2045 token characters; 8-bit bytes are let in */
static gboolean
ep_mime_is_token_char (char c)
{
	if ((guint8) c <= 0x20 || c == 0x7f)
		return FALSE;
	return strchr ("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* skips white space, line breaks and (nested) comments */
static gsize
ep_mime_skip_cfws (const char *text, gsize len, gsize pos)
{
	while (pos < len) {
		if (ep_mime_is_lwsp (text[pos])) {
			pos++;
		} else if (text[pos] == '(') {
			guint level = 0;
			while (pos < len) {
				char c = text[pos++];
				if (c == '\\' && pos < len)
					pos++;
				else if (c == '(')
					level++;
				else if (c == ')' && --level == 0)
					break;
			}
		} else {
			break;
		}
	}
	return pos;
}

/* a quoted string at @pos (on the opening quote); appends its content */
static gsize
ep_mime_read_quoted (const char *text, gsize len, gsize pos, GString *out)
{
	pos++;
	while (pos < len && text[pos] != '"') {
		if (text[pos] == '\\' && pos + 1 < len)
			pos++;
		if (text[pos] != '\r' && text[pos] != '\n')
			g_string_append_c (out, text[pos]);
		pos++;
	}
	return pos < len ? pos + 1 : pos;
}

typedef struct {
	char *name;      /* base name, lowercased */
	gint section;    /* -1 when the name has no "*N" */
	gboolean extended;
	GString *value;  /* raw bytes */
	guint order;
} EpMimeRawParam;

static void
ep_mime_raw_param_free (gpointer data)
{
	EpMimeRawParam *raw = data;

	g_free (raw->name);
	g_string_free (raw->value, TRUE);
	g_free (raw);
}

/* splits "name*2*" into its base name, section and extended flag */
static EpMimeRawParam *
ep_mime_raw_param_new (const char *name, gsize name_len, GString *value, guint order)
{
	EpMimeRawParam *raw = g_new0 (EpMimeRawParam, 1);
	gsize base_len = name_len;
	gsize star;

	raw->section = -1;
	if (base_len > 0 && name[base_len - 1] == '*') {
		raw->extended = TRUE;
		base_len--;
	}
	star = base_len;
	while (star > 0 && g_ascii_isdigit (name[star - 1]))
		star--;
	if (star > 0 && star < base_len && name[star - 1] == '*') {
		gsize ndigits = base_len - star;
		if (ndigits <= 4 && !(ndigits > 1 && name[star] == '0')) {
			raw->section = (gint) g_ascii_strtoull (name + star, NULL, 10);
			base_len = star - 1;
		} else {
			raw->section = EP_MIME_MAX_SECTION + 1; /* ignored later */
			base_len = star - 1;
		}
	}
	raw->name = g_ascii_strdown (name, base_len);
	raw->value = value;
	raw->order = order;
	return raw;
}

static gint
ep_mime_raw_param_cmp (gconstpointer a, gconstpointer b)
{
	const EpMimeRawParam *ra = *(EpMimeRawParam *const *) a;
	const EpMimeRawParam *rb = *(EpMimeRawParam *const *) b;

	if (ra->section != rb->section)
		return ra->section < rb->section ? -1 : 1;
	return ra->order < rb->order ? -1 : (ra->order > rb->order ? 1 : 0);
}

/* "%XX" escapes of an extended value */
static void
ep_mime_pct_decode (GString *out, const char *text, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (text[i] == '%' && i + 2 < len && ep_mime_hex_value (text[i + 1]) >= 0 &&
		    ep_mime_hex_value (text[i + 2]) >= 0) {
			g_string_append_c (out, (char) (ep_mime_hex_value (text[i + 1]) * 16 + ep_mime_hex_value (text[i + 2])));
			i += 2;
		} else {
			g_string_append_c (out, text[i]);
		}
	}
}

/* one parameter from its raw pieces (all with the same base name) */
static char *
ep_mime_param_assemble (GPtrArray *pieces)
{
	g_autoptr(GString) bytes = g_string_new (NULL);
	g_autofree char *charset = NULL;
	EpMimeRawParam *single = NULL;
	gboolean sectioned = FALSE;
	gint expect = 0;

	for (guint i = 0; i < pieces->len; i++) {
		EpMimeRawParam *raw = g_ptr_array_index (pieces, i);
		if (raw->section >= 0)
			sectioned = TRUE;
	}
	if (!sectioned) {
		/* "name*" is preferred to "name" when both are there */
		for (guint i = 0; i < pieces->len && single == NULL; i++) {
			EpMimeRawParam *raw = g_ptr_array_index (pieces, i);
			if (raw->extended)
				single = raw;
		}
		if (single == NULL)
			single = g_ptr_array_index (pieces, 0);
		if (!single->extended)
			return ep_mime_charset_to_utf8 (NULL, single->value->str, single->value->len);
	}
	g_ptr_array_sort (pieces, ep_mime_raw_param_cmp);
	for (guint i = 0; i < pieces->len; i++) {
		EpMimeRawParam *raw = g_ptr_array_index (pieces, i);
		const char *text = raw->value->str;
		gsize len = raw->value->len;

		if (sectioned) {
			if (raw->section < expect)
				continue; /* a duplicate, or unsectioned */
			if (raw->section != expect || raw->section > EP_MIME_MAX_SECTION)
				break; /* a gap ends the value */
			expect++;
		} else if (raw != single) {
			continue;
		}
		if (!raw->extended) {
			g_string_append_len (bytes, text, len);
			continue;
		}
		if (raw->section <= 0 && charset == NULL) {
			/* charset'language'value */
			const char *q1 = memchr (text, '\'', len);
			const char *q2 = q1 != NULL ? memchr (q1 + 1, '\'', len - (q1 + 1 - text)) : NULL;
			if (q2 != NULL) {
				charset = g_strndup (text, q1 - text);
				len -= q2 + 1 - text;
				text = q2 + 1;
			}
		}
		ep_mime_pct_decode (bytes, text, len);
	}
	if (sectioned && expect == 0)
		return NULL; /* no section 0 */
	return ep_mime_charset_to_utf8 (charset != NULL && charset[0] != '\0' ? charset : NULL, bytes->str, bytes->len);
}

/**
 * ep_mime_params_parse:
 * @text: the parameters of a Content-Type or Content-Disposition value,
 *   from the first ";" on
 * @len: its length
 *
 * Parses "; name=value" pairs leniently (quoted or bare values, comments,
 * a bare value with spaces in it, a missing ";"), joins RFC 2231
 * continuations, decodes "charset'language'%XX" values and converts every
 * value to UTF-8.  Names are lowercased; the first of duplicates wins.
 *
 * Returns: (transfer full) (element-type EpMimeParam): the parameters
 */
GPtrArray *
ep_mime_params_parse (const char *text, gsize len)
{
	g_autoptr(GPtrArray) raws = g_ptr_array_new_with_free_func (ep_mime_raw_param_free);
	g_autoptr(GHashTable) groups = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
	g_autoptr(GPtrArray) order = g_ptr_array_new ();
	GPtrArray *params = ep_mime_param_array_new ();
	gsize pos = 0;

	if (len == 0)
		return params;
	while (pos < len) {
		gsize name_start;
		gsize name_len;
		GString *value;

		pos = ep_mime_skip_cfws (text, len, pos);
		if (pos >= len)
			break;
		if (text[pos] == ';') {
			pos++;
			continue;
		}
		name_start = pos;
		while (pos < len && ep_mime_is_token_char (text[pos]))
			pos++;
		name_len = pos - name_start;
		pos = ep_mime_skip_cfws (text, len, pos);
		if (name_len == 0 || pos >= len || text[pos] != '=') {
			/* junk, or a name without a value: skip to the next ";" */
			if (name_len == 0 && pos < len && text[pos] != ';')
				pos++;
			while (pos < len && text[pos] != ';' && text[pos] != '"')
				pos++;
			if (pos < len && text[pos] == '"') {
				g_autoptr(GString) junk = g_string_new (NULL);
				pos = ep_mime_read_quoted (text, len, pos, junk);
			}
			continue;
		}
		pos = ep_mime_skip_cfws (text, len, pos + 1);
		value = g_string_new (NULL);
		if (pos < len && text[pos] == '"') {
			pos = ep_mime_read_quoted (text, len, pos, value);
			while (pos < len && text[pos] != ';')
				pos++;
		} else {
			gsize start = pos;
			gsize after;
			while (pos < len && !ep_mime_is_lwsp (text[pos]) && strchr (";\"()", text[pos]) == NULL)
				pos++;
			g_string_append_len (value, text + start, pos - start);
			after = ep_mime_skip_cfws (text, len, pos);
			if (after < len && text[after] != ';') {
				/* "name=a b": one value with a space, unless "b" starts a new "name=" */
				gsize k = after;
				while (k < len && ep_mime_is_token_char (text[k]))
					k++;
				k = ep_mime_skip_cfws (text, len, k);
				if (k >= len || text[k] != '=' || k == after) {
					while (pos < len && text[pos] != ';')
						pos++;
					g_string_truncate (value, 0);
					g_string_append_len (value, text + start, pos - start);
					while (value->len > 0 && ep_mime_is_lwsp (value->str[value->len - 1]))
						g_string_truncate (value, value->len - 1);
				} else {
					pos = after;
				}
			} else {
				pos = after;
			}
		}
		if (raws->len >= EP_MIME_MAX_PARAMS) {
			g_string_free (value, TRUE);
			continue;
		}
		g_ptr_array_add (raws, ep_mime_raw_param_new (text + name_start, name_len, value, raws->len));
	}

	for (guint i = 0; i < raws->len; i++) {
		EpMimeRawParam *raw = g_ptr_array_index (raws, i);
		GPtrArray *group = g_hash_table_lookup (groups, raw->name);
		if (raw->name[0] == '\0')
			continue;
		if (group == NULL) {
			group = g_ptr_array_new ();
			g_hash_table_insert (groups, raw->name, group);
			g_ptr_array_add (order, raw->name);
		}
		g_ptr_array_add (group, raw);
	}
	for (guint i = 0; i < order->len; i++) {
		const char *name = g_ptr_array_index (order, i);
		GPtrArray *group = g_hash_table_lookup (groups, name);
		g_autofree char *value = ep_mime_param_assemble (group);
		EpMimeParam *param;
		if (value == NULL)
			continue;
		param = g_new0 (EpMimeParam, 1);
		param->name = g_strdup (name);
		param->value = g_steal_pointer (&value);
		g_ptr_array_add (params, param);
	}
	return params;
}

static const char *
ep_mime_params_lookup (GPtrArray *params, const char *name)
{
	if (params == NULL)
		return NULL;
	for (guint i = 0; i < params->len; i++) {
		EpMimeParam *param = g_ptr_array_index (params, i);
		if (g_ascii_strcasecmp (param->name, name) == 0)
			return param->value;
	}
	return NULL;
}

/* a lowercased token at @pos; NULL if there is none */
static char *
ep_mime_read_token (const char *text, gsize len, gsize *pos)
{
	gsize start;

	*pos = ep_mime_skip_cfws (text, len, *pos);
	start = *pos;
	while (*pos < len && ep_mime_is_token_char (text[*pos]))
		(*pos)++;
	if (*pos == start)
		return NULL;
	return g_ascii_strdown (text + start, *pos - start);
}

/* the parameters from @pos on; the ";" before the first may be missing */
static GPtrArray *
ep_mime_params_after (const char *text, gsize len, gsize pos)
{
	return ep_mime_params_parse (text + pos, len - pos);
}

/**
 * ep_mime_content_type_parse:
 * @value: an unfolded Content-Type value
 * @len: its length
 * @type: (out) (transfer full): the lowercased type
 * @subtype: (out) (transfer full): the lowercased subtype
 * @params: (out) (transfer full) (element-type EpMimeParam): the parameters
 *
 * Returns: FALSE if the value is no "type/subtype"; the outputs are then
 * %NULL and RFC 2045 says to read the part as text/plain; charset=us-ascii
 */
gboolean
ep_mime_content_type_parse (const char *value, gsize len, char **type, char **subtype, GPtrArray **params)
{
	g_autofree char *t = NULL;
	g_autofree char *s = NULL;
	gsize pos = 0;

	*type = NULL;
	*subtype = NULL;
	*params = NULL;
	t = ep_mime_read_token (value, len, &pos);
	pos = ep_mime_skip_cfws (value, len, pos);
	if (t == NULL || pos >= len || value[pos] != '/')
		return FALSE;
	pos++;
	s = ep_mime_read_token (value, len, &pos);
	if (s == NULL)
		return FALSE;
	*type = g_steal_pointer (&t);
	*subtype = g_steal_pointer (&s);
	*params = ep_mime_params_after (value, len, pos);
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* addresses (RFC 5322 section 3.4, obsolete forms best effort)             */
/* ------------------------------------------------------------------------ */

typedef enum {
	EP_MIME_TOK_ATOM,
	EP_MIME_TOK_QUOTED,
	EP_MIME_TOK_LITERAL,
	EP_MIME_TOK_COMMENT,
	EP_MIME_TOK_SPECIAL,
} EpMimeTokKind;

typedef struct {
	EpMimeTokKind kind;
	char special;
	gboolean space_before;
	char *text; /* NULL for specials */
} EpMimeTok;

static void
ep_mime_tok_clear (gpointer data)
{
	EpMimeTok *tok = data;

	g_free (tok->text);
}

static gboolean
ep_mime_is_addr_special (char c)
{
	return strchr ("()<>[]:;@\\,\"", c) != NULL;
}

static GArray *
ep_mime_address_tokenize (const char *text, gsize len)
{
	GArray *toks = g_array_new (FALSE, TRUE, sizeof (EpMimeTok));
	gboolean space = FALSE;
	gsize pos = 0;

	g_array_set_clear_func (toks, ep_mime_tok_clear);
	while (pos < len) {
		EpMimeTok tok = { 0 };
		char c = text[pos];

		if (ep_mime_is_lwsp (c) || c == '\0') {
			space = TRUE;
			pos++;
			continue;
		}
		tok.space_before = space;
		space = FALSE;
		if (c == '"') {
			g_autoptr(GString) s = g_string_new (NULL);
			pos = ep_mime_read_quoted (text, len, pos, s);
			tok.kind = EP_MIME_TOK_QUOTED;
			tok.text = ep_mime_strndup_nonul (s->str, s->len);
		} else if (c == '(') {
			g_autoptr(GString) s = g_string_new (NULL);
			guint level = 0;
			while (pos < len) {
				char d = text[pos++];
				if (d == '\\' && pos < len) {
					g_string_append_c (s, text[pos++]);
					continue;
				}
				if (d == '(' && level++ == 0)
					continue;
				if (d == ')' && --level == 0)
					break;
				g_string_append_c (s, d);
			}
			tok.kind = EP_MIME_TOK_COMMENT;
			tok.text = ep_mime_header_unfold (s->str, s->len);
			space = TRUE;
		} else if (c == '[') {
			gsize start = pos++;
			while (pos < len && text[pos] != ']') {
				if (text[pos] == '\\' && pos + 1 < len)
					pos++;
				pos++;
			}
			if (pos < len)
				pos++;
			tok.kind = EP_MIME_TOK_LITERAL;
			tok.text = ep_mime_header_unfold (text + start, pos - start);
		} else if (ep_mime_is_addr_special (c)) {
			tok.kind = EP_MIME_TOK_SPECIAL;
			tok.special = c;
			pos++;
		} else {
			gsize start = pos;
			while (pos < len && !ep_mime_is_lwsp (text[pos]) && text[pos] != '\0' &&
			       !ep_mime_is_addr_special (text[pos]))
				pos++;
			tok.kind = EP_MIME_TOK_ATOM;
			tok.text = g_strndup (text + start, pos - start);
		}
		g_array_append_val (toks, tok);
	}
	return toks;
}

static gboolean
ep_mime_tok_is (const EpMimeTok *tok, char special)
{
	return tok->kind == EP_MIME_TOK_SPECIAL && tok->special == special;
}

/* whether [from, to) holds anything but comments */
static gboolean
ep_mime_tokens_any (GArray *toks, guint from, guint to)
{
	for (guint i = from; i < to; i++) {
		if (g_array_index (toks, EpMimeTok, i).kind != EP_MIME_TOK_COMMENT)
			return TRUE;
	}
	return FALSE;
}

/* display-name words, joined by one space where there was white space */
static char *
ep_mime_tokens_phrase (GArray *toks, guint from, guint to)
{
	g_autoptr(GString) out = g_string_new (NULL);
	gboolean any = FALSE;

	for (guint i = from; i < to; i++) {
		EpMimeTok *tok = &g_array_index (toks, EpMimeTok, i);
		if (tok->kind == EP_MIME_TOK_COMMENT)
			continue;
		if (any && (tok->space_before || tok->kind == EP_MIME_TOK_QUOTED))
			g_string_append_c (out, ' ');
		if (tok->kind == EP_MIME_TOK_SPECIAL)
			g_string_append_c (out, tok->special);
		else
			g_string_append (out, tok->text);
		any = TRUE;
	}
	if (!any)
		return NULL;
	return g_strdup (out->str);
}

static gboolean
ep_mime_local_part_needs_quotes (const char *str)
{
	if (str[0] == '\0' || str[0] == '.')
		return TRUE;
	for (const char *p = str; *p != '\0'; p++) {
		if ((guint8) *p <= 0x20 || *p == 0x7f || ep_mime_is_addr_special (*p))
			return TRUE;
		if (p[0] == '.' && (p[1] == '.' || p[1] == '\0'))
			return TRUE;
	}
	return FALSE;
}

/* the tokens of an addr-spec, joined without spaces */
static char *
ep_mime_tokens_join (GArray *toks, guint from, guint to, gboolean local_part)
{
	g_autoptr(GString) out = g_string_new (NULL);
	gboolean any = FALSE;

	for (guint i = from; i < to; i++) {
		EpMimeTok *tok = &g_array_index (toks, EpMimeTok, i);
		if (tok->kind == EP_MIME_TOK_COMMENT)
			continue;
		any = TRUE;
		if (tok->kind == EP_MIME_TOK_SPECIAL) {
			g_string_append_c (out, tok->special);
		} else if (tok->kind == EP_MIME_TOK_QUOTED && local_part && ep_mime_local_part_needs_quotes (tok->text)) {
			g_string_append_c (out, '"');
			for (const char *p = tok->text; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					g_string_append_c (out, '\\');
				g_string_append_c (out, *p);
			}
			g_string_append_c (out, '"');
		} else {
			g_string_append (out, tok->text);
		}
	}
	if (!any)
		return NULL;
	return g_strdup (out->str);
}

static EpMimeAddress *
ep_mime_address_new (const char *name, const char *route, const char *mailbox, const char *host)
{
	EpMimeAddress *addr = g_new0 (EpMimeAddress, 1);

	addr->name = g_strdup (name);
	addr->route = g_strdup (route);
	addr->mailbox = g_strdup (mailbox);
	addr->host = g_strdup (host);
	return addr;
}

void
ep_mime_address_free (EpMimeAddress *address)
{
	if (address == NULL)
		return;
	g_free (address->name);
	g_free (address->route);
	g_free (address->mailbox);
	g_free (address->host);
	g_free (address);
}

static GPtrArray *
ep_mime_address_array_new (void)
{
	return g_ptr_array_new_with_free_func ((GDestroyNotify) ep_mime_address_free);
}

/* the last comment in [from, to): the name of "user@host (Name)" */
static char *
ep_mime_tokens_comment (GArray *toks, guint from, guint to)
{
	for (guint i = to; i > from; i--) {
		EpMimeTok *tok = &g_array_index (toks, EpMimeTok, i - 1);
		if (tok->kind == EP_MIME_TOK_COMMENT && tok->text[0] != '\0')
			return g_strdup (tok->text);
	}
	return NULL;
}

/* an addr-spec in [from, to): local part before the last "@" */
static void
ep_mime_address_add_spec (GPtrArray *list, GArray *toks, guint from, guint to, const char *name, const char *route)
{
	g_autofree char *local = NULL;
	g_autofree char *domain = NULL;
	guint at = to;

	for (guint i = from; i < to; i++) {
		if (ep_mime_tok_is (&g_array_index (toks, EpMimeTok, i), '@'))
			at = i;
	}
	local = ep_mime_tokens_join (toks, from, at, TRUE);
	if (at < to)
		domain = ep_mime_tokens_join (toks, at + 1, to, FALSE);
	if (local == NULL && domain == NULL && at == to)
		return; /* nothing but comments */
	/* a NIL host would read as a group marker */
	g_ptr_array_add (list,
			 ep_mime_address_new (name,
					      route,
					      local != NULL ? local : "MISSING_MAILBOX",
					      domain != NULL ? domain : "MISSING_DOMAIN"));
}

/**
 * ep_mime_address_list_parse:
 * @text: an address-list header value (From, To, Cc…)
 * @len: its length
 *
 * Parses an RFC 5322 address list into ENVELOPE's form: mailboxes, with
 * groups as a start marker (group name in @mailbox, no @host) and an end
 * marker (neither).  Display names keep their raw text, unquoted; a
 * mailbox without a display name takes its comment as name.  A missing
 * local part or domain reads "MISSING_MAILBOX" / "MISSING_DOMAIN".
 *
 * Returns: (transfer full) (element-type EpMimeAddress): the addresses,
 * possibly none
 */
GPtrArray *
ep_mime_address_list_parse (const char *text, gsize len)
{
	g_autoptr(GArray) toks = ep_mime_address_tokenize (text, len);
	GPtrArray *list = ep_mime_address_array_new ();
	gboolean in_group = FALSE;
	guint i = 0;
	guint n = toks->len;

	while (i < n) {
		EpMimeTok *tok = &g_array_index (toks, EpMimeTok, i);
		guint j;

		if (ep_mime_tok_is (tok, ',')) {
			i++;
			continue;
		}
		if (ep_mime_tok_is (tok, ';')) {
			if (in_group)
				g_ptr_array_add (list, ep_mime_address_new (NULL, NULL, NULL, NULL));
			in_group = FALSE;
			i++;
			continue;
		}
		for (j = i; j < n; j++) {
			EpMimeTok *t = &g_array_index (toks, EpMimeTok, j);
			if (ep_mime_tok_is (t, '<') || ep_mime_tok_is (t, ',') || ep_mime_tok_is (t, ';') ||
			    ep_mime_tok_is (t, ':'))
				break;
		}
		if (j < n && ep_mime_tok_is (&g_array_index (toks, EpMimeTok, j), ':')) {
			if (!in_group) {
				g_autofree char *group = ep_mime_tokens_phrase (toks, i, j);
				g_ptr_array_add (list, ep_mime_address_new (NULL, NULL, group != NULL ? group : "", NULL));
				in_group = TRUE;
			} else {
				ep_mime_address_add_spec (list, toks, i, j, NULL, NULL);
			}
			i = j + 1;
			continue;
		}
		if (j < n && ep_mime_tok_is (&g_array_index (toks, EpMimeTok, j), '<')) {
			g_autofree char *name = ep_mime_tokens_phrase (toks, i, j);
			g_autofree char *route = NULL;
			guint k = j + 1;
			guint spec_start;
			guint spec_end;
			guint after;

			/* obsolete route: "@a,@b:"; the search stops at the next "<" so
			 * that a list of broken routes is still read in linear time */
			if (k < n && ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), '@')) {
				guint r = k;
				while (r < n && !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, r), ':') &&
				       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, r), '>') &&
				       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, r), '<') &&
				       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, r), ';'))
					r++;
				if (r < n && ep_mime_tok_is (&g_array_index (toks, EpMimeTok, r), ':')) {
					route = ep_mime_tokens_join (toks, k, r, FALSE);
					k = r + 1;
				}
			}
			spec_start = k;
			while (k < n && !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), '>') &&
			       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), ',') &&
			       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), ';'))
				k++;
			spec_end = k;
			if (k < n && ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), '>'))
				k++;
			after = k;
			while (k < n && !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), ',') &&
			       !ep_mime_tok_is (&g_array_index (toks, EpMimeTok, k), ';'))
				k++;
			if (name == NULL)
				name = ep_mime_tokens_comment (toks, after, k);
			if (ep_mime_tokens_any (toks, spec_start, spec_end)) {
				ep_mime_address_add_spec (list, toks, spec_start, spec_end, name, route);
			} else {
				/* "<>": the null address */
				g_ptr_array_add (list, ep_mime_address_new (name, route, "", ""));
			}
			i = k;
			continue;
		}
		{
			g_autofree char *comment = ep_mime_tokens_comment (toks, i, j);
			ep_mime_address_add_spec (list, toks, i, j, comment, NULL);
		}
		i = j;
	}
	if (in_group)
		g_ptr_array_add (list, ep_mime_address_new (NULL, NULL, NULL, NULL));
	return list;
}

/* ------------------------------------------------------------------------ */
/* envelopes                                                                */
/* ------------------------------------------------------------------------ */

void
ep_mime_envelope_free (EpMimeEnvelope *env)
{
	if (env == NULL)
		return;
	g_free (env->date);
	g_free (env->subject);
	ep_mime_ptr_array_free (env->from);
	ep_mime_ptr_array_free (env->sender);
	ep_mime_ptr_array_free (env->reply_to);
	ep_mime_ptr_array_free (env->to);
	ep_mime_ptr_array_free (env->cc);
	ep_mime_ptr_array_free (env->bcc);
	g_free (env->in_reply_to);
	g_free (env->message_id);
	g_free (env);
}

/* NULL for a list without addresses, as ENVELOPE has NIL for it */
static GPtrArray *
ep_mime_envelope_addresses (const EpMimeHeader *header)
{
	GPtrArray *list = ep_mime_address_list_parse (header->value, header->value_len);

	if (list->len == 0) {
		g_ptr_array_unref (list);
		return NULL;
	}
	return list;
}

/**
 * ep_mime_envelope_new_from_headers:
 * @header: a message header block
 * @len: its length
 *
 * Collects what ENVELOPE shows: the first Date, Subject, From, Sender,
 * Reply-To, To, Cc, Bcc, In-Reply-To and Message-ID fields, unfolded but
 * otherwise as written.
 *
 * Returns: (transfer full): the envelope
 */
EpMimeEnvelope *
ep_mime_envelope_new_from_headers (const char *header, gsize len)
{
	EpMimeEnvelope *env = g_new0 (EpMimeEnvelope, 1);
	gboolean seen_from = FALSE, seen_sender = FALSE, seen_reply_to = FALSE;
	gboolean seen_to = FALSE, seen_cc = FALSE, seen_bcc = FALSE;
	EpMimeHeaderIter iter;
	EpMimeHeader h;

	ep_mime_header_iter_init (&iter, header, len);
	while (ep_mime_header_iter_next (&iter, &h)) {
		if (!h.has_colon || h.name_len < 2)
			continue;
		if (env->date == NULL && ep_mime_header_has_name (&h, "date")) {
			env->date = ep_mime_header_unfold (h.value, h.value_len);
		} else if (env->subject == NULL && ep_mime_header_has_name (&h, "subject")) {
			env->subject = ep_mime_header_unfold (h.value, h.value_len);
		} else if (env->in_reply_to == NULL && ep_mime_header_has_name (&h, "in-reply-to")) {
			env->in_reply_to = ep_mime_header_unfold (h.value, h.value_len);
		} else if (env->message_id == NULL && ep_mime_header_has_name (&h, "message-id")) {
			env->message_id = ep_mime_header_unfold (h.value, h.value_len);
		} else if (!seen_from && ep_mime_header_has_name (&h, "from")) {
			seen_from = TRUE;
			env->from = ep_mime_envelope_addresses (&h);
		} else if (!seen_sender && ep_mime_header_has_name (&h, "sender")) {
			seen_sender = TRUE;
			env->sender = ep_mime_envelope_addresses (&h);
		} else if (!seen_reply_to && ep_mime_header_has_name (&h, "reply-to")) {
			seen_reply_to = TRUE;
			env->reply_to = ep_mime_envelope_addresses (&h);
		} else if (!seen_to && ep_mime_header_has_name (&h, "to")) {
			seen_to = TRUE;
			env->to = ep_mime_envelope_addresses (&h);
		} else if (!seen_cc && ep_mime_header_has_name (&h, "cc")) {
			seen_cc = TRUE;
			env->cc = ep_mime_envelope_addresses (&h);
		} else if (!seen_bcc && ep_mime_header_has_name (&h, "bcc")) {
			seen_bcc = TRUE;
			env->bcc = ep_mime_envelope_addresses (&h);
		}
	}
	return env;
}

const char *
ep_mime_envelope_get_date (const EpMimeEnvelope *env)
{
	return env->date;
}

const char *
ep_mime_envelope_get_subject (const EpMimeEnvelope *env)
{
	return env->subject;
}

const char *
ep_mime_envelope_get_in_reply_to (const EpMimeEnvelope *env)
{
	return env->in_reply_to;
}

const char *
ep_mime_envelope_get_message_id (const EpMimeEnvelope *env)
{
	return env->message_id;
}

GPtrArray *
ep_mime_envelope_get_from (const EpMimeEnvelope *env)
{
	return env->from;
}

GPtrArray *
ep_mime_envelope_get_sender (const EpMimeEnvelope *env)
{
	return env->sender;
}

GPtrArray *
ep_mime_envelope_get_reply_to (const EpMimeEnvelope *env)
{
	return env->reply_to;
}

GPtrArray *
ep_mime_envelope_get_to (const EpMimeEnvelope *env)
{
	return env->to;
}

GPtrArray *
ep_mime_envelope_get_cc (const EpMimeEnvelope *env)
{
	return env->cc;
}

GPtrArray *
ep_mime_envelope_get_bcc (const EpMimeEnvelope *env)
{
	return env->bcc;
}

/* ------------------------------------------------------------------------ */
/* IMAP strings                                                             */
/* ------------------------------------------------------------------------ */

/**
 * ep_mime_imap_append_nstring:
 * @out: where to append
 * @str: (nullable): the string
 *
 * Appends NIL for %NULL, a quoted string when every byte is 7-bit text
 * (with \ and " escaped), and a literal otherwise (line breaks, 8-bit
 * bytes), which IMAP4rev1 and IMAP4rev2 clients both read.
 */
void
ep_mime_imap_append_nstring (GString *out, const char *str)
{
	gboolean quotable = TRUE;
	gsize len;

	if (str == NULL) {
		g_string_append (out, "NIL");
		return;
	}
	for (len = 0; str[len] != '\0'; len++) {
		guint8 c = (guint8) str[len];
		if (c >= 0x80 || c == '\r' || c == '\n')
			quotable = FALSE;
	}
	if (!quotable) {
		g_string_append_printf (out, "{%" G_GSIZE_FORMAT "}\r\n", len);
		g_string_append_len (out, str, len);
		return;
	}
	g_string_append_c (out, '"');
	for (const char *p = str; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c (out, '\\');
		g_string_append_c (out, *p);
	}
	g_string_append_c (out, '"');
}

static void
ep_mime_imap_append_addresses (GString *out, GPtrArray *list)
{
	if (list == NULL || list->len == 0) {
		g_string_append (out, "NIL");
		return;
	}
	g_string_append_c (out, '(');
	for (guint i = 0; i < list->len; i++) {
		EpMimeAddress *addr = g_ptr_array_index (list, i);
		g_string_append_c (out, '(');
		ep_mime_imap_append_nstring (out, addr->name);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, addr->route);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, addr->mailbox);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, addr->host);
		g_string_append_c (out, ')');
	}
	g_string_append_c (out, ')');
}

static void
ep_mime_imap_append_envelope (GString *out, const EpMimeEnvelope *env)
{
	GPtrArray *sender;
	GPtrArray *reply_to;

	if (env == NULL) {
		g_string_append (out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	}
	/* RFC 9051 7.5.2: an absent or empty Sender or Reply-To is From */
	sender = env->sender != NULL ? env->sender : env->from;
	reply_to = env->reply_to != NULL ? env->reply_to : env->from;
	g_string_append_c (out, '(');
	ep_mime_imap_append_nstring (out, env->date);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, env->subject);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, env->from);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, sender);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, reply_to);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, env->to);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, env->cc);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_addresses (out, env->bcc);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, env->in_reply_to);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, env->message_id);
	g_string_append_c (out, ')');
}

/**
 * ep_mime_envelope_to_imap:
 * @env: an envelope
 *
 * Returns: (transfer full): the ENVELOPE value of RFC 9051 section 7.5.2
 */
char *
ep_mime_envelope_to_imap (const EpMimeEnvelope *env)
{
	GString *out = g_string_new (NULL);

	ep_mime_imap_append_envelope (out, env);
	return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* parts                                                                    */
/* ------------------------------------------------------------------------ */

static void
ep_mime_part_free (EpMimePart *part)
{
	if (part == NULL)
		return;
	ep_mime_ptr_array_free (part->children);
	g_free (part->section);
	g_free (part->type);
	g_free (part->subtype);
	g_free (part->encoding);
	g_free (part->id);
	g_free (part->description);
	g_free (part->md5);
	g_free (part->disposition);
	g_free (part->location);
	ep_mime_ptr_array_free (part->params);
	ep_mime_ptr_array_free (part->disposition_params);
	g_strfreev (part->languages);
	ep_mime_envelope_free (part->envelope);
	g_free (part);
}

static EpMimePart *
ep_mime_part_new (EpMimePart *parent)
{
	EpMimePart *part = g_new0 (EpMimePart, 1);

	part->parent = parent;
	part->children = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_mime_part_free);
	part->params = ep_mime_param_array_new ();
	part->disposition_params = ep_mime_param_array_new ();
	part->languages = g_new0 (char *, 1);
	if (parent != NULL)
		g_ptr_array_add (parent->children, part);
	return part;
}

static gboolean
ep_mime_part_is_message_type (const EpMimePart *part)
{
	return g_strcmp0 (part->type, "message") == 0 &&
	       (g_strcmp0 (part->subtype, "rfc822") == 0 || g_strcmp0 (part->subtype, "global") == 0);
}

/* Content-Language: a comma separated list of tags */
static GStrv
ep_mime_parse_languages (const char *value, gsize len)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	gsize pos = 0;
	guint n = 0;

	while (pos < len) {
		gsize start;
		pos = ep_mime_skip_cfws (value, len, pos);
		if (pos < len && value[pos] == ',') {
			pos++;
			continue;
		}
		start = pos;
		while (pos < len && !ep_mime_is_lwsp (value[pos]) && value[pos] != ',' && value[pos] != '(')
			pos++;
		if (pos > start && n++ < EP_MIME_MAX_PARAMS) {
			g_autofree char *tag = ep_mime_strndup_nonul (value + start, pos - start);
			g_strv_builder_add (builder, tag);
		}
	}
	return g_strv_builder_end (builder);
}

typedef enum {
	EP_MIME_HDR_TYPE,
	EP_MIME_HDR_ENCODING,
	EP_MIME_HDR_ID,
	EP_MIME_HDR_DESCRIPTION,
	EP_MIME_HDR_DISPOSITION,
	EP_MIME_HDR_LANGUAGE,
	EP_MIME_HDR_LOCATION,
	EP_MIME_HDR_MD5,
	EP_MIME_HDR_LAST,
} EpMimeHdr;

static const char *const ep_mime_content_headers[EP_MIME_HDR_LAST] = {
	"content-type",
	"content-transfer-encoding",
	"content-id",
	"content-description",
	"content-disposition",
	"content-language",
	"content-location",
	"content-md5",
};

/* reads the content headers of @part from its header block */
static EpMimeMessageFlags
ep_mime_part_load_headers (EpMimePart *part, const char *hdr, gsize len, gboolean in_digest)
{
	char *values[EP_MIME_HDR_LAST] = { NULL };
	EpMimeMessageFlags flags = 0;
	EpMimeHeaderIter iter;
	EpMimeHeader h;
	gboolean type_ok = FALSE;

	for (gsize i = 0; i < len; i++) {
		if (hdr[i] == '\0')
			flags |= EP_MIME_MESSAGE_FLAG_NUL;
		else if ((guint8) hdr[i] >= 0x80)
			flags |= EP_MIME_MESSAGE_FLAG_8BIT_HEADER;
	}
	ep_mime_header_iter_init (&iter, hdr, len);
	while (ep_mime_header_iter_next (&iter, &h)) {
		if (!h.has_colon) {
			flags |= EP_MIME_MESSAGE_FLAG_BROKEN_HEADER;
			continue;
		}
		if (h.name_len < 8 || g_ascii_strncasecmp (h.name, "content-", 8) != 0)
			continue;
		for (guint k = 0; k < EP_MIME_HDR_LAST; k++) {
			if (values[k] == NULL && ep_mime_header_has_name (&h, ep_mime_content_headers[k])) {
				values[k] = ep_mime_header_unfold (h.value, h.value_len);
				break;
			}
		}
	}

	if (values[EP_MIME_HDR_TYPE] != NULL) {
		g_autoptr(GPtrArray) params = NULL;
		g_autofree char *type = NULL;
		g_autofree char *subtype = NULL;
		const char *v = values[EP_MIME_HDR_TYPE];
		type_ok = ep_mime_content_type_parse (v, strlen (v), &type, &subtype, &params);
		if (type_ok) {
			part->type = g_steal_pointer (&type);
			part->subtype = g_steal_pointer (&subtype);
			g_ptr_array_unref (part->params);
			part->params = g_steal_pointer (&params);
		}
	}
	if (!type_ok && in_digest && values[EP_MIME_HDR_TYPE] == NULL) {
		/* RFC 2046 5.1.5 */
		part->type = g_strdup ("message");
		part->subtype = g_strdup ("rfc822");
	} else if (!type_ok) {
		/* RFC 2045 5.2: missing or invalid */
		part->type = g_strdup ("text");
		part->subtype = g_strdup ("plain");
		g_ptr_array_add (part->params, ep_mime_param_new ("charset", "us-ascii"));
	}

	if (values[EP_MIME_HDR_ENCODING] != NULL) {
		const char *v = values[EP_MIME_HDR_ENCODING];
		gsize pos = 0;
		part->encoding = ep_mime_read_token (v, strlen (v), &pos);
	}
	if (part->encoding == NULL)
		part->encoding = g_strdup ("7bit");
	part->id = g_steal_pointer (&values[EP_MIME_HDR_ID]);
	part->description = g_steal_pointer (&values[EP_MIME_HDR_DESCRIPTION]);
	part->location = g_steal_pointer (&values[EP_MIME_HDR_LOCATION]);
	part->md5 = g_steal_pointer (&values[EP_MIME_HDR_MD5]);
	if (values[EP_MIME_HDR_DISPOSITION] != NULL) {
		const char *v = values[EP_MIME_HDR_DISPOSITION];
		gsize pos = 0;
		part->disposition = ep_mime_read_token (v, strlen (v), &pos);
		if (part->disposition != NULL) {
			g_ptr_array_unref (part->disposition_params);
			part->disposition_params = ep_mime_params_after (v, strlen (v), pos);
		}
	}
	if (values[EP_MIME_HDR_LANGUAGE] != NULL) {
		const char *v = values[EP_MIME_HDR_LANGUAGE];
		g_strfreev (part->languages);
		part->languages = ep_mime_parse_languages (v, strlen (v));
	}
	for (guint k = 0; k < EP_MIME_HDR_LAST; k++)
		g_free (values[k]);
	return flags;
}

static gsize
ep_mime_count_lines (const char *data, gsize len)
{
	const char *p = data;
	const char *end = data + len;
	gsize n = 0;

	while (p < end && (p = memchr (p, '\n', end - p)) != NULL) {
		n++;
		p++;
	}
	if (len > 0 && data[len - 1] != '\n')
		n++;
	return n;
}

/* the line count and decoded size, once the body is known */
static void
ep_mime_part_measure (EpMimePart *part, const char *data)
{
	const char *body = data + part->body_offset;

	if (g_strcmp0 (part->type, "text") == 0 || ep_mime_part_is_message_type (part))
		part->body_lines = ep_mime_count_lines (body, part->body_length);
	part->decoded_size = part->body_length;
	if (part->children->len == 0)
		(void) ep_mime_transfer_decode (part->encoding, body, part->body_length, G_MAXSIZE, NULL, &part->decoded_size);
}

/* ------------------------------------------------------------------------ */
/* the structure parser                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *str;
	gsize len;
} EpMimeBoundary;

typedef struct {
	gsize line_start; /* of the boundary line; the data's length at the end */
	gsize next;       /* after the boundary line */
	gint index;       /* in the boundary stack; -1 at the end of the data */
	gboolean close;   /* "--boundary--" */
} EpMimeStop;

typedef struct {
	const char *data;
	gsize len;
	EpMimeBoundary boundaries[EP_MIME_MAX_DEPTH + 1];
	guint n_boundaries;
	guint n_parts;
	EpMimeMessageFlags flags;
} EpMimeParser;

static void
ep_mime_stop_at_end (const EpMimeParser *self, EpMimeStop *stop)
{
	stop->line_start = self->len;
	stop->next = self->len;
	stop->index = -1;
	stop->close = FALSE;
}

/* is [pos, next) a delimiter line of a boundary on the stack? */
static gboolean
ep_mime_parser_match (const EpMimeParser *self, gsize pos, gsize next, EpMimeStop *stop)
{
	const char *line = self->data + pos;
	gsize eol = next - pos;

	if (eol < 2 || line[0] != '-' || line[1] != '-')
		return FALSE;
	if (line[eol - 1] == '\n')
		eol--;
	if (eol > 0 && line[eol - 1] == '\r')
		eol--;
	for (guint i = self->n_boundaries; i > 0; i--) {
		const EpMimeBoundary *b = &self->boundaries[i - 1];
		gsize rest = 2 + b->len;
		gboolean close = FALSE;

		if (eol < rest || memcmp (line + 2, b->str, b->len) != 0)
			continue;
		if (rest + 2 <= eol && line[rest] == '-' && line[rest + 1] == '-') {
			close = TRUE;
			rest += 2;
		}
		/* transport padding */
		while (rest < eol && ep_mime_is_wsp (line[rest]))
			rest++;
		if (rest != eol)
			continue;
		stop->line_start = pos;
		stop->next = next;
		stop->index = (gint) i - 1;
		stop->close = close;
		return TRUE;
	}
	return FALSE;
}

/* finds the next delimiter line of any boundary on the stack */
static void
ep_mime_parser_scan (const EpMimeParser *self, gsize pos, EpMimeStop *stop)
{
	if (self->n_boundaries > 0) {
		while (pos < self->len) {
			gsize next = ep_mime_line_next (self->data, self->len, pos);
			if (ep_mime_parser_match (self, pos, next, stop))
				return;
			pos = next;
		}
	}
	ep_mime_stop_at_end (self, stop);
}

/* where content before @stop ends: the line break before a delimiter is the delimiter's */
static gsize
ep_mime_parser_content_end (const EpMimeParser *self, const EpMimeStop *stop, gsize start)
{
	gsize end = stop->line_start;

	if (stop->index >= 0 && end > start && self->data[end - 1] == '\n') {
		end--;
		if (end > start && self->data[end - 1] == '\r')
			end--;
	}
	return MAX (end, start);
}

/* the header block at @pos; TRUE if it ran into a delimiter or the end */
static gboolean
ep_mime_parser_header (EpMimeParser *self, EpMimePart *part, gsize pos, EpMimeStop *stop)
{
	gsize cur = pos;

	part->header_offset = pos;
	while (cur < self->len) {
		gsize next = ep_mime_line_next (self->data, self->len, cur);
		gsize line_len = next - cur;

		if (self->n_boundaries > 0 && ep_mime_parser_match (self, cur, next, stop)) {
			part->header_length = cur - pos;
			part->body_offset = cur;
			return TRUE;
		}
		if (line_len > 0 && self->data[next - 1] == '\n')
			line_len--;
		if (line_len > 0 && self->data[cur + line_len - 1] == '\r')
			line_len--;
		if (line_len == 0) {
			part->header_length = next - pos;
			part->body_offset = next;
			return FALSE;
		}
		cur = next;
	}
	if (pos == 0)
		self->flags |= EP_MIME_MESSAGE_FLAG_NO_BODY;
	part->header_length = self->len - pos;
	part->body_offset = self->len;
	ep_mime_stop_at_end (self, stop);
	return TRUE;
}

static void ep_mime_parser_entity (EpMimeParser *self,
				   EpMimePart *part,
				   gsize pos,
				   guint depth,
				   gboolean in_digest,
				   EpMimeStop *stop);

static void
ep_mime_parser_multipart (EpMimeParser *self, EpMimePart *part, const char *boundary, gsize len, guint depth, EpMimeStop *stop)
{
	guint index = self->n_boundaries;
	gboolean digest = g_strcmp0 (part->subtype, "digest") == 0;
	gsize end;

	self->boundaries[index].str = boundary;
	self->boundaries[index].len = len;
	self->n_boundaries++;
	/* the preamble */
	ep_mime_parser_scan (self, part->body_offset, stop);
	while (stop->index == (gint) index && !stop->close) {
		EpMimePart *child;
		if (self->n_parts >= EP_MIME_MAX_PARTS) {
			self->flags |= EP_MIME_MESSAGE_FLAG_LIMIT_PARTS;
			ep_mime_parser_scan (self, stop->next, stop);
			continue;
		}
		child = ep_mime_part_new (part);
		self->n_parts++;
		ep_mime_parser_entity (self, child, stop->next, depth + 1, digest, stop);
	}
	self->n_boundaries--;
	if (stop->index == (gint) index) {
		/* the close delimiter; the epilogue runs to an outer delimiter */
		ep_mime_parser_scan (self, stop->next, stop);
	} else {
		self->flags |= EP_MIME_MESSAGE_FLAG_MISSING_BOUNDARY;
	}
	end = ep_mime_parser_content_end (self, stop, part->body_offset);
	if (part->children->len > 0) {
		EpMimePart *last = g_ptr_array_index (part->children, part->children->len - 1);
		end = MAX (end, last->body_offset + last->body_length);
	}
	part->body_length = end - part->body_offset;
}

/* one entity (a message or a body part) at @pos, up to the next delimiter */
static void
ep_mime_parser_entity (EpMimeParser *self, EpMimePart *part, gsize pos, guint depth, gboolean in_digest, EpMimeStop *stop)
{
	gboolean ended = ep_mime_parser_header (self, part, pos, stop);
	gsize end;

	self->flags |= ep_mime_part_load_headers (part, self->data + part->header_offset, part->header_length, in_digest);
	if (ended) {
		part->body_length = 0;
		ep_mime_part_measure (part, self->data);
		return;
	}

	if (g_strcmp0 (part->type, "multipart") == 0) {
		const char *value = ep_mime_params_lookup (part->params, "boundary");
		gsize len = value != NULL ? strlen (value) : 0;
		while (len > 0 && ep_mime_is_wsp (value[len - 1]))
			len--;
		if (len > 0 && len <= EP_MIME_MAX_BOUNDARY) {
			if (depth < EP_MIME_MAX_DEPTH) {
				ep_mime_parser_multipart (self, part, value, len, depth, stop);
				ep_mime_part_measure (part, self->data);
				return;
			}
			self->flags |= EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH;
		}
	} else if (ep_mime_part_is_message_type (part) && ep_mime_encoding_is_identity (part->encoding)) {
		if (depth >= EP_MIME_MAX_DEPTH) {
			self->flags |= EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH;
		} else if (self->n_parts >= EP_MIME_MAX_PARTS) {
			self->flags |= EP_MIME_MESSAGE_FLAG_LIMIT_PARTS;
		} else {
			EpMimePart *child = ep_mime_part_new (part);
			self->n_parts++;
			ep_mime_parser_entity (self, child, part->body_offset, depth + 1, FALSE, stop);
			child->envelope = ep_mime_envelope_new_from_headers (self->data + child->header_offset,
									     child->header_length);
			end = MAX (ep_mime_parser_content_end (self, stop, part->body_offset),
				   child->body_offset + child->body_length);
			part->body_length = end - part->body_offset;
			ep_mime_part_measure (part, self->data);
			return;
		}
	}

	/* a leaf: its body runs to the next delimiter */
	ep_mime_parser_scan (self, part->body_offset, stop);
	end = ep_mime_parser_content_end (self, stop, part->body_offset);
	part->body_length = end - part->body_offset;
	ep_mime_part_measure (part, self->data);
}

static gboolean
ep_mime_part_is_message (const EpMimePart *part)
{
	return ep_mime_part_is_message_type (part) && part->children->len == 1;
}

static char *
ep_mime_section_join (const char *prefix, guint n)
{
	if (prefix[0] == '\0')
		return g_strdup_printf ("%u", n);
	return g_strdup_printf ("%s.%u", prefix, n);
}

static void ep_mime_part_assign_sections (EpMimePart *part, const char *section);

/* a message's body parts: a multipart's children, or the body as part 1 */
static void
ep_mime_message_assign_sections (EpMimePart *root, const char *prefix)
{
	g_autofree char *section = NULL;

	if (g_strcmp0 (root->type, "multipart") == 0) {
		g_free (root->section);
		root->section = g_strdup (prefix);
		for (guint i = 0; i < root->children->len; i++) {
			g_autofree char *child = ep_mime_section_join (prefix, i + 1);
			ep_mime_part_assign_sections (g_ptr_array_index (root->children, i), child);
		}
		return;
	}
	section = ep_mime_section_join (prefix, 1);
	ep_mime_part_assign_sections (root, section);
}

static void
ep_mime_part_assign_sections (EpMimePart *part, const char *section)
{
	g_free (part->section);
	part->section = g_strdup (section);
	if (g_strcmp0 (part->type, "multipart") == 0) {
		for (guint i = 0; i < part->children->len; i++) {
			g_autofree char *child = ep_mime_section_join (section, i + 1);
			ep_mime_part_assign_sections (g_ptr_array_index (part->children, i), child);
		}
	} else if (ep_mime_part_is_message (part)) {
		ep_mime_message_assign_sections (g_ptr_array_index (part->children, 0), section);
	}
}

static EpMimeMessage *
ep_mime_message_new (EpMimePart *root, gsize size, guint n_parts, EpMimeMessageFlags flags)
{
	EpMimeMessage *msg = g_new0 (EpMimeMessage, 1);

	g_atomic_ref_count_init (&msg->ref_count);
	msg->root = root;
	msg->size = size;
	msg->n_parts = n_parts;
	msg->flags = flags;
	ep_mime_message_assign_sections (root, "");
	return msg;
}

/**
 * ep_mime_message_parse:
 * @data: the message as received
 * @len: its length
 *
 * Parses the structure of a message.  This never fails: whatever the
 * bytes, the result describes them best effort, and
 * ep_mime_message_get_flags() tells what was broken or cut at a limit.
 * The result does not point into @data.
 *
 * Returns: (transfer full): the parsed message
 */
EpMimeMessage *
ep_mime_message_parse (const char *data, gsize len)
{
	EpMimeParser parser = { 0 };
	EpMimePart *root = ep_mime_part_new (NULL);
	EpMimeStop stop;

	parser.data = data != NULL ? data : "";
	parser.len = data != NULL ? len : 0;
	parser.n_parts = 1;
	ep_mime_parser_entity (&parser, root, 0, 0, FALSE, &stop);
	root->envelope = ep_mime_envelope_new_from_headers (parser.data, root->header_length);
	return ep_mime_message_new (root, parser.len, parser.n_parts, parser.flags);
}

EpMimeMessage *
ep_mime_message_ref (EpMimeMessage *msg)
{
	g_return_val_if_fail (msg != NULL, NULL);
	g_atomic_ref_count_inc (&msg->ref_count);
	return msg;
}

void
ep_mime_message_unref (EpMimeMessage *msg)
{
	g_return_if_fail (msg != NULL);
	if (!g_atomic_ref_count_dec (&msg->ref_count))
		return;
	ep_mime_part_free (msg->root);
	g_free (msg);
}

/**
 * ep_mime_message_get_root:
 * @msg: a message
 *
 * Returns: (transfer none): the message itself as a part: its header is
 * BODY[HEADER], its body BODY[TEXT]
 */
EpMimePart *
ep_mime_message_get_root (const EpMimeMessage *msg)
{
	return msg->root;
}

gsize
ep_mime_message_get_size (const EpMimeMessage *msg)
{
	return msg->size;
}

guint
ep_mime_message_get_n_parts (const EpMimeMessage *msg)
{
	return msg->n_parts;
}

EpMimeMessageFlags
ep_mime_message_get_flags (const EpMimeMessage *msg)
{
	return msg->flags;
}

/* part @n of a message: a multipart's child, or the message body for 1 */
static EpMimePart *
ep_mime_message_resolve (EpMimePart *root, guint64 n)
{
	if (g_strcmp0 (root->type, "multipart") == 0)
		return n <= root->children->len ? g_ptr_array_index (root->children, n - 1) : NULL;
	return n == 1 ? root : NULL;
}

/**
 * ep_mime_message_lookup_part:
 * @msg: a message
 * @section: an IMAP part number such as "1.2.3", or "" for the message
 *
 * Resolves a part number as RFC 9051 section 6.4.5 numbers parts: the
 * parts of a multipart count from 1, a message that is not multipart has
 * its body as part 1, and the parts of a message/rfc822 part are those of
 * the message it holds.
 *
 * Returns: (transfer none) (nullable): the part, or %NULL if there is none
 */
EpMimePart *
ep_mime_message_lookup_part (const EpMimeMessage *msg, const char *section)
{
	EpMimePart *cur = NULL;
	const char *p = section;

	if (section == NULL)
		return NULL;
	if (section[0] == '\0')
		return msg->root;
	while (TRUE) {
		guint64 n = 0;
		const char *start = p;
		while (g_ascii_isdigit (*p) && n <= G_MAXUINT)
			n = n * 10 + (guint64) (*p++ - '0');
		if (p == start || n == 0 || n > G_MAXUINT || (*p != '.' && *p != '\0') || *start == '0')
			return NULL;
		if (cur == NULL)
			cur = ep_mime_message_resolve (msg->root, n);
		else if (g_strcmp0 (cur->type, "multipart") == 0)
			cur = n <= cur->children->len ? g_ptr_array_index (cur->children, n - 1) : NULL;
		else if (ep_mime_part_is_message (cur))
			cur = ep_mime_message_resolve (g_ptr_array_index (cur->children, 0), n);
		else
			cur = NULL;
		if (cur == NULL)
			return NULL;
		if (*p == '\0')
			return cur;
		p++;
	}
}

/* ------------------------------------------------------------------------ */
/* part accessors                                                           */
/* ------------------------------------------------------------------------ */

gsize
ep_mime_part_get_header_offset (const EpMimePart *part)
{
	return part->header_offset;
}

/* the blank line that ends the header included */
gsize
ep_mime_part_get_header_length (const EpMimePart *part)
{
	return part->header_length;
}

gsize
ep_mime_part_get_body_offset (const EpMimePart *part)
{
	return part->body_offset;
}

gsize
ep_mime_part_get_body_length (const EpMimePart *part)
{
	return part->body_length;
}

/* lines of the body, for text/ and message/rfc822 parts; 0 otherwise */
gsize
ep_mime_part_get_body_lines (const EpMimePart *part)
{
	return part->body_lines;
}

/* the size of the body once its transfer encoding is undone (BINARY.SIZE) */
gsize
ep_mime_part_get_decoded_size (const EpMimePart *part)
{
	return part->decoded_size;
}

/* the IMAP part number; "" for a multipart message itself */
const char *
ep_mime_part_get_section (const EpMimePart *part)
{
	return part->section;
}

EpMimePart *
ep_mime_part_get_parent (const EpMimePart *part)
{
	return part->parent;
}

guint
ep_mime_part_get_n_children (const EpMimePart *part)
{
	return part->children->len;
}

EpMimePart *
ep_mime_part_get_child (const EpMimePart *part, guint index)
{
	g_return_val_if_fail (index < part->children->len, NULL);
	return g_ptr_array_index (part->children, index);
}

gboolean
ep_mime_part_is_multipart (const EpMimePart *part)
{
	return g_strcmp0 (part->type, "multipart") == 0;
}

/**
 * ep_mime_part_get_message:
 * @part: a part
 *
 * Returns: (transfer none) (nullable): the message a message/rfc822 or
 * message/global part holds, if it was parsed
 */
EpMimePart *
ep_mime_part_get_message (const EpMimePart *part)
{
	return ep_mime_part_is_message (part) ? g_ptr_array_index (part->children, 0) : NULL;
}

/* the envelope of the root and of embedded messages, NULL for others */
const EpMimeEnvelope *
ep_mime_part_get_envelope (const EpMimePart *part)
{
	return part->envelope;
}

const char *
ep_mime_part_get_content_type (const EpMimePart *part)
{
	return part->type;
}

const char *
ep_mime_part_get_content_subtype (const EpMimePart *part)
{
	return part->subtype;
}

GPtrArray *
ep_mime_part_get_params (const EpMimePart *part)
{
	return part->params;
}

const char *
ep_mime_part_get_param (const EpMimePart *part, const char *name)
{
	return ep_mime_params_lookup (part->params, name);
}

/* lowercased, "7bit" when absent */
const char *
ep_mime_part_get_encoding (const EpMimePart *part)
{
	return part->encoding;
}

const char *
ep_mime_part_get_content_id (const EpMimePart *part)
{
	return part->id;
}

const char *
ep_mime_part_get_description (const EpMimePart *part)
{
	return part->description;
}

const char *
ep_mime_part_get_md5 (const EpMimePart *part)
{
	return part->md5;
}

/* lowercased, NULL when absent */
const char *
ep_mime_part_get_disposition (const EpMimePart *part)
{
	return part->disposition;
}

GPtrArray *
ep_mime_part_get_disposition_params (const EpMimePart *part)
{
	return part->disposition_params;
}

const char *
ep_mime_part_get_disposition_param (const EpMimePart *part, const char *name)
{
	return ep_mime_params_lookup (part->disposition_params, name);
}

/* never NULL; empty without Content-Language */
const char *const *
ep_mime_part_get_languages (const EpMimePart *part)
{
	return (const char *const *) part->languages;
}

const char *
ep_mime_part_get_location (const EpMimePart *part)
{
	return part->location;
}

/**
 * ep_mime_part_get_filename:
 * @part: a part
 *
 * The file name a part suggests: the "filename" of its disposition or else
 * the "name" of its type, with RFC 2047 encoded words (which some mailers
 * put there) decoded too.
 *
 * Returns: (transfer full) (nullable): UTF-8, or %NULL
 */
char *
ep_mime_part_get_filename (const EpMimePart *part)
{
	const char *name = ep_mime_params_lookup (part->disposition_params, "filename");

	if (name == NULL)
		name = ep_mime_params_lookup (part->params, "name");
	if (name == NULL)
		return NULL;
	return ep_mime_decode_encoded_words (name, strlen (name));
}

/**
 * ep_mime_part_decode_body:
 * @part: a leaf part
 * @raw: the message the part was parsed from
 * @raw_len: its length
 * @error: return location for a #GError
 *
 * Undoes the transfer encoding of a body, as FETCH BINARY does.  Fails with
 * EP_ERROR_INVALID when the encoding is unknown (UNKNOWN-CTE) or when @raw
 * is not the message the part came from.
 *
 * Returns: (transfer full): the decoded body, or %NULL
 */
GBytes *
ep_mime_part_decode_body (const EpMimePart *part, const char *raw, gsize raw_len, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new ();

	if (part->body_offset > raw_len || part->body_length > raw_len - part->body_offset) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "the part lies outside the message");
		return NULL;
	}
	if (!ep_mime_transfer_decode (part->encoding, raw + part->body_offset, part->body_length, G_MAXSIZE, out, NULL)) {
		g_set_error (error,
			     EP_ERROR,
			     EP_ERROR_INVALID,
			     "unknown content-transfer-encoding %s",
			     part->encoding);
		return NULL;
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* ------------------------------------------------------------------------ */
/* BODYSTRUCTURE                                                            */
/* ------------------------------------------------------------------------ */

/* what a multipart without parts, or an unparsed message, shows */
#define EP_MIME_EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"

static void
ep_mime_imap_append_params (GString *out, GPtrArray *params)
{
	if (params == NULL || params->len == 0) {
		g_string_append (out, "NIL");
		return;
	}
	g_string_append_c (out, '(');
	for (guint i = 0; i < params->len; i++) {
		EpMimeParam *param = g_ptr_array_index (params, i);
		if (i > 0)
			g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, param->name);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, param->value);
	}
	g_string_append_c (out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
ep_mime_imap_append_dsp_lang_loc (GString *out, const EpMimePart *part)
{
	if (part->disposition == NULL) {
		g_string_append (out, "NIL");
	} else {
		g_string_append_c (out, '(');
		ep_mime_imap_append_nstring (out, part->disposition);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_params (out, part->disposition_params);
		g_string_append_c (out, ')');
	}
	g_string_append_c (out, ' ');
	if (part->languages[0] == NULL) {
		g_string_append (out, "NIL");
	} else if (part->languages[1] == NULL) {
		ep_mime_imap_append_nstring (out, part->languages[0]);
	} else {
		g_string_append_c (out, '(');
		for (guint i = 0; part->languages[i] != NULL; i++) {
			if (i > 0)
				g_string_append_c (out, ' ');
			ep_mime_imap_append_nstring (out, part->languages[i]);
		}
		g_string_append_c (out, ')');
	}
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, part->location);
}

static void
ep_mime_imap_append_body (GString *out, const EpMimePart *part, gboolean extended)
{
	g_string_append_c (out, '(');
	if (g_strcmp0 (part->type, "multipart") == 0) {
		for (guint i = 0; i < part->children->len; i++)
			ep_mime_imap_append_body (out, g_ptr_array_index (part->children, i), extended);
		/* body-type-mpart needs one body at least */
		if (part->children->len == 0)
			g_string_append (out, EP_MIME_EMPTY_BODY);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, part->subtype);
		if (extended) {
			g_string_append_c (out, ' ');
			ep_mime_imap_append_params (out, part->params);
			g_string_append_c (out, ' ');
			ep_mime_imap_append_dsp_lang_loc (out, part);
		}
		g_string_append_c (out, ')');
		return;
	}
	ep_mime_imap_append_nstring (out, part->type);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, part->subtype);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_params (out, part->params);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, part->id);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, part->description);
	g_string_append_c (out, ' ');
	ep_mime_imap_append_nstring (out, part->encoding);
	g_string_append_printf (out, " %" G_GSIZE_FORMAT, part->body_length);
	if (ep_mime_part_is_message_type (part)) {
		const EpMimePart *inner = ep_mime_part_get_message (part);
		g_string_append_c (out, ' ');
		if (inner != NULL) {
			ep_mime_imap_append_envelope (out, inner->envelope);
			g_string_append_c (out, ' ');
			ep_mime_imap_append_body (out, inner, extended);
		} else {
			ep_mime_imap_append_envelope (out, NULL);
			g_string_append (out, " " EP_MIME_EMPTY_BODY);
		}
		g_string_append_printf (out, " %" G_GSIZE_FORMAT, part->body_lines);
	} else if (g_strcmp0 (part->type, "text") == 0) {
		g_string_append_printf (out, " %" G_GSIZE_FORMAT, part->body_lines);
	}
	if (extended) {
		g_string_append_c (out, ' ');
		ep_mime_imap_append_nstring (out, part->md5);
		g_string_append_c (out, ' ');
		ep_mime_imap_append_dsp_lang_loc (out, part);
	}
	g_string_append_c (out, ')');
}

/**
 * ep_mime_part_bodystructure_to_imap:
 * @part: a part, usually the root
 * @extended: %TRUE for BODYSTRUCTURE, %FALSE for BODY
 *
 * Writes the body structure of RFC 9051 section 7.5.2.  Strings come out
 * as written in the message (types and encodings lowercased, parameters
 * RFC 2231 decoded to UTF-8), quoted or as literals.
 *
 * Returns: (transfer full): the value
 */
char *
ep_mime_part_bodystructure_to_imap (const EpMimePart *part, gboolean extended)
{
	GString *out = g_string_new (NULL);

	ep_mime_imap_append_body (out, part, extended);
	return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* serialization                                                            */
/* ------------------------------------------------------------------------ */

static void
ep_mime_put_varint (GByteArray *out, guint64 value)
{
	do {
		guint8 byte = value & 0x7f;
		value >>= 7;
		if (value != 0)
			byte |= 0x80;
		g_byte_array_append (out, &byte, 1);
	} while (value != 0);
}

static void
ep_mime_put_string (GByteArray *out, const char *str)
{
	gsize len;

	if (str == NULL) {
		ep_mime_put_varint (out, 0);
		return;
	}
	len = strlen (str);
	ep_mime_put_varint (out, (guint64) len + 1);
	g_byte_array_append (out, (const guint8 *) str, len);
}

static void
ep_mime_put_params (GByteArray *out, GPtrArray *params)
{
	ep_mime_put_varint (out, params->len);
	for (guint i = 0; i < params->len; i++) {
		EpMimeParam *param = g_ptr_array_index (params, i);
		ep_mime_put_string (out, param->name);
		ep_mime_put_string (out, param->value);
	}
}

static void
ep_mime_put_addresses (GByteArray *out, GPtrArray *list)
{
	if (list == NULL) {
		ep_mime_put_varint (out, 0);
		return;
	}
	ep_mime_put_varint (out, (guint64) list->len + 1);
	for (guint i = 0; i < list->len; i++) {
		EpMimeAddress *addr = g_ptr_array_index (list, i);
		ep_mime_put_string (out, addr->name);
		ep_mime_put_string (out, addr->route);
		ep_mime_put_string (out, addr->mailbox);
		ep_mime_put_string (out, addr->host);
	}
}

static void
ep_mime_put_part (GByteArray *out, const EpMimePart *part)
{
	guint n_languages = g_strv_length (part->languages);

	ep_mime_put_varint (out, part->header_offset);
	ep_mime_put_varint (out, part->header_length);
	ep_mime_put_varint (out, part->body_offset);
	ep_mime_put_varint (out, part->body_length);
	ep_mime_put_varint (out, part->body_lines);
	ep_mime_put_varint (out, part->decoded_size);
	ep_mime_put_string (out, part->type);
	ep_mime_put_string (out, part->subtype);
	ep_mime_put_string (out, part->encoding);
	ep_mime_put_string (out, part->id);
	ep_mime_put_string (out, part->description);
	ep_mime_put_string (out, part->md5);
	ep_mime_put_string (out, part->disposition);
	ep_mime_put_string (out, part->location);
	ep_mime_put_params (out, part->params);
	ep_mime_put_params (out, part->disposition_params);
	ep_mime_put_varint (out, n_languages);
	for (guint i = 0; i < n_languages; i++)
		ep_mime_put_string (out, part->languages[i]);
	if (part->envelope != NULL) {
		const EpMimeEnvelope *env = part->envelope;
		ep_mime_put_varint (out, 1);
		ep_mime_put_string (out, env->date);
		ep_mime_put_string (out, env->subject);
		ep_mime_put_string (out, env->in_reply_to);
		ep_mime_put_string (out, env->message_id);
		ep_mime_put_addresses (out, env->from);
		ep_mime_put_addresses (out, env->sender);
		ep_mime_put_addresses (out, env->reply_to);
		ep_mime_put_addresses (out, env->to);
		ep_mime_put_addresses (out, env->cc);
		ep_mime_put_addresses (out, env->bcc);
	} else {
		ep_mime_put_varint (out, 0);
	}
	ep_mime_put_varint (out, part->children->len);
	for (guint i = 0; i < part->children->len; i++)
		ep_mime_put_part (out, g_ptr_array_index (part->children, i));
}

/**
 * ep_mime_message_serialize:
 * @msg: a message
 *
 * Writes the parsed structure in the compact binary form described at the
 * top of this file, for a bytea column.  ep_mime_message_deserialize()
 * gives back an equal structure, which serializes to the same bytes.
 *
 * Returns: (transfer full): the serialized structure
 */
GBytes *
ep_mime_message_serialize (const EpMimeMessage *msg)
{
	GByteArray *out = g_byte_array_sized_new (256);

	g_byte_array_append (out, (const guint8 *) EP_MIME_SERIAL_MAGIC, 4);
	ep_mime_put_varint (out, msg->size);
	ep_mime_put_varint (out, msg->flags);
	ep_mime_put_varint (out, msg->n_parts);
	ep_mime_put_part (out, msg->root);
	return g_byte_array_free_to_bytes (out);
}

typedef struct {
	const guint8 *data;
	gsize len;
	gsize pos;
	gsize size;    /* of the message */
	guint n_parts; /* read so far */
} EpMimeReader;

static gboolean
ep_mime_get_varint (EpMimeReader *self, guint64 *value)
{
	guint64 result = 0;

	for (guint shift = 0; shift < 64; shift += 7) {
		guint8 byte;
		if (self->pos >= self->len)
			return FALSE;
		byte = self->data[self->pos++];
		if (shift == 63 && (byte & 0x7e) != 0)
			return FALSE;
		result |= (guint64) (byte & 0x7f) << shift;
		if ((byte & 0x80) == 0) {
			*value = result;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean
ep_mime_get_size (EpMimeReader *self, gsize *value)
{
	guint64 v;

	if (!ep_mime_get_varint (self, &v) || v > G_MAXSIZE)
		return FALSE;
	*value = (gsize) v;
	return TRUE;
}

static gboolean
ep_mime_get_count (EpMimeReader *self, guint max, guint *value)
{
	guint64 v;

	if (!ep_mime_get_varint (self, &v) || v > max)
		return FALSE;
	*value = (guint) v;
	return TRUE;
}

static gboolean
ep_mime_get_string (EpMimeReader *self, char **str)
{
	guint64 n;

	if (!ep_mime_get_varint (self, &n))
		return FALSE;
	if (n == 0) {
		*str = NULL;
		return TRUE;
	}
	n--;
	if (n > self->len - self->pos || memchr (self->data + self->pos, '\0', n) != NULL)
		return FALSE;
	*str = g_strndup ((const char *) self->data + self->pos, n);
	self->pos += n;
	return TRUE;
}

/* a string that must be there */
static gboolean
ep_mime_get_string_nonnull (EpMimeReader *self, char **str)
{
	return ep_mime_get_string (self, str) && *str != NULL;
}

static gboolean
ep_mime_get_params (EpMimeReader *self, GPtrArray *params)
{
	guint n;

	if (!ep_mime_get_count (self, EP_MIME_MAX_PARAMS, &n))
		return FALSE;
	for (guint i = 0; i < n; i++) {
		EpMimeParam *param = g_new0 (EpMimeParam, 1);
		g_ptr_array_add (params, param);
		if (!ep_mime_get_string_nonnull (self, &param->name) || !ep_mime_get_string_nonnull (self, &param->value))
			return FALSE;
	}
	return TRUE;
}

static gboolean
ep_mime_get_addresses (EpMimeReader *self, GPtrArray **list)
{
	guint64 n;

	if (!ep_mime_get_varint (self, &n))
		return FALSE;
	if (n == 0) {
		*list = NULL;
		return TRUE;
	}
	n--;
	/* an address takes four bytes at least */
	if (n == 0 || n > (self->len - self->pos) / 4)
		return FALSE;
	*list = ep_mime_address_array_new ();
	for (guint64 i = 0; i < n; i++) {
		EpMimeAddress *addr = g_new0 (EpMimeAddress, 1);
		g_ptr_array_add (*list, addr);
		if (!ep_mime_get_string (self, &addr->name) || !ep_mime_get_string (self, &addr->route) ||
		    !ep_mime_get_string (self, &addr->mailbox) || !ep_mime_get_string (self, &addr->host))
			return FALSE;
	}
	return TRUE;
}

static gboolean
ep_mime_get_envelope (EpMimeReader *self, EpMimeEnvelope **out)
{
	EpMimeEnvelope *env = g_new0 (EpMimeEnvelope, 1);

	*out = env;
	return ep_mime_get_string (self, &env->date) && ep_mime_get_string (self, &env->subject) &&
	       ep_mime_get_string (self, &env->in_reply_to) && ep_mime_get_string (self, &env->message_id) &&
	       ep_mime_get_addresses (self, &env->from) && ep_mime_get_addresses (self, &env->sender) &&
	       ep_mime_get_addresses (self, &env->reply_to) && ep_mime_get_addresses (self, &env->to) &&
	       ep_mime_get_addresses (self, &env->cc) && ep_mime_get_addresses (self, &env->bcc);
}

static gboolean
ep_mime_range_ok (const EpMimeReader *self, gsize offset, gsize length)
{
	return offset <= self->size && length <= self->size - offset;
}

static gboolean
ep_mime_get_part (EpMimeReader *self, EpMimePart *part, guint depth)
{
	guint n_languages;
	guint n_children;
	guint has_envelope;
	gboolean multipart;
	gboolean message;

	if (!ep_mime_get_size (self, &part->header_offset) || !ep_mime_get_size (self, &part->header_length) ||
	    !ep_mime_get_size (self, &part->body_offset) || !ep_mime_get_size (self, &part->body_length) ||
	    !ep_mime_get_size (self, &part->body_lines) || !ep_mime_get_size (self, &part->decoded_size))
		return FALSE;
	if (!ep_mime_range_ok (self, part->header_offset, part->header_length) ||
	    !ep_mime_range_ok (self, part->body_offset, part->body_length))
		return FALSE;
	if (!ep_mime_get_string_nonnull (self, &part->type) || !ep_mime_get_string_nonnull (self, &part->subtype) ||
	    !ep_mime_get_string_nonnull (self, &part->encoding) || !ep_mime_get_string (self, &part->id) ||
	    !ep_mime_get_string (self, &part->description) || !ep_mime_get_string (self, &part->md5) ||
	    !ep_mime_get_string (self, &part->disposition) || !ep_mime_get_string (self, &part->location))
		return FALSE;
	if (!ep_mime_get_params (self, part->params) || !ep_mime_get_params (self, part->disposition_params))
		return FALSE;
	if (!ep_mime_get_count (self, EP_MIME_MAX_PARAMS, &n_languages))
		return FALSE;
	g_strfreev (part->languages);
	part->languages = g_new0 (char *, n_languages + 1);
	for (guint i = 0; i < n_languages; i++) {
		if (!ep_mime_get_string_nonnull (self, &part->languages[i]))
			return FALSE;
	}
	if (!ep_mime_get_count (self, 1, &has_envelope))
		return FALSE;
	if (has_envelope && !ep_mime_get_envelope (self, &part->envelope))
		return FALSE;
	if (!ep_mime_get_count (self, EP_MIME_MAX_PARTS, &n_children))
		return FALSE;

	/* only multiparts and messages have children, as the parser builds them */
	multipart = strcmp (part->type, "multipart") == 0;
	message = ep_mime_part_is_message_type (part);
	if (n_children > 0 && (depth >= EP_MIME_MAX_DEPTH || (!multipart && !message) || (message && n_children != 1)))
		return FALSE;
	for (guint i = 0; i < n_children; i++) {
		EpMimePart *child;
		if (self->n_parts >= EP_MIME_MAX_PARTS)
			return FALSE;
		self->n_parts++;
		child = ep_mime_part_new (part);
		if (!ep_mime_get_part (self, child, depth + 1))
			return FALSE;
	}
	return TRUE;
}

/**
 * ep_mime_message_deserialize:
 * @bytes: what ep_mime_message_serialize() wrote
 * @error: return location for a #GError
 *
 * Rebuilds a parsed structure without the message.  Damaged or foreign
 * bytes fail with EP_ERROR_INVALID; every offset is checked against the
 * stored message size.
 *
 * Returns: (transfer full): the message structure, or %NULL
 */
EpMimeMessage *
ep_mime_message_deserialize (GBytes *bytes, GError **error)
{
	EpMimeReader reader = { 0 };
	EpMimePart *root;
	guint64 flags = 0;
	guint n_parts = 0;
	gsize len = 0;

	reader.data = g_bytes_get_data (bytes, &len);
	reader.len = len;
	if (len < 4 || memcmp (reader.data, EP_MIME_SERIAL_MAGIC, 4) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "not a serialized message structure");
		return NULL;
	}
	reader.pos = 4;
	reader.n_parts = 1;
	root = ep_mime_part_new (NULL);
	if (!ep_mime_get_size (&reader, &reader.size) || !ep_mime_get_varint (&reader, &flags) ||
	    flags > G_MAXUINT || !ep_mime_get_count (&reader, EP_MIME_MAX_PARTS, &n_parts) ||
	    !ep_mime_get_part (&reader, root, 0) || reader.pos != reader.len || n_parts != reader.n_parts) {
		ep_mime_part_free (root);
		g_set_error (error,
			     EP_ERROR,
			     EP_ERROR_INVALID,
			     "corrupt message structure near byte %" G_GSIZE_FORMAT,
			     reader.pos);
		return NULL;
	}
	return ep_mime_message_new (root, reader.size, n_parts, (EpMimeMessageFlags) flags);
}

/* ------------------------------------------------------------------------ */
/* text for full-text search                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
	GString *out;
	gsize max;
	const char *raw;
	gsize raw_len;
	gboolean full;
} EpMimeTextCtx;

static gboolean
ep_mime_text_full (const EpMimeTextCtx *ctx)
{
	return ctx->full || ctx->out->len >= ctx->max;
}

/* appends UTF-8 on a line of its own, cut at a character boundary to stay within the bound */
static void
ep_mime_text_append (EpMimeTextCtx *ctx, const char *text, gsize len)
{
	gsize before = ctx->out->len;
	gsize room;

	if (len == 0 || ep_mime_text_full (ctx))
		return;
	if (ctx->out->len > 0)
		g_string_append_c (ctx->out, '\n');
	room = ctx->max > ctx->out->len ? ctx->max - ctx->out->len : 0;
	if (len > room) {
		/* back up to the start of a character */
		while (room > 0 && ((guint8) text[room] & 0xc0) == 0x80)
			room--;
		len = room;
		ctx->full = TRUE;
	}
	if (len == 0) {
		g_string_truncate (ctx->out, before);
		return;
	}
	g_string_append_len (ctx->out, text, len);
}

static const struct {
	const char *name;
	gunichar c;
} ep_mime_html_entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' }, { "nbsp", ' ' },
};

/* a character reference at @p ("&...;"); returns its length or 0 */
static gsize
ep_mime_html_entity (const char *p, const char *end, GString *out)
{
	const char *semi;
	gsize n = MIN ((gsize) (end - p), 12);

	semi = memchr (p, ';', n);
	if (semi == NULL)
		return 0;
	if (p[1] == '#') {
		guint64 c = 0;
		gboolean hex = semi > p + 2 && (p[2] == 'x' || p[2] == 'X');
		const char *q = p + (hex ? 3 : 2);
		if (q == semi)
			return 0;
		for (; q < semi; q++) {
			int v = hex ? ep_mime_hex_value (*q) : (g_ascii_isdigit (*q) ? *q - '0' : -1);
			if (v < 0)
				return 0;
			c = c * (hex ? 16 : 10) + (guint64) v;
		}
		ep_mime_append_unichar (out, c > 0x10ffff ? 0xfffd : (gunichar) c);
		return semi - p + 1;
	}
	for (guint i = 0; i < G_N_ELEMENTS (ep_mime_html_entities); i++) {
		gsize len = strlen (ep_mime_html_entities[i].name);
		if ((gsize) (semi - p - 1) == len && g_ascii_strncasecmp (p + 1, ep_mime_html_entities[i].name, len) == 0) {
			ep_mime_append_unichar (out, ep_mime_html_entities[i].c);
			return len + 2;
		}
	}
	return 0;
}

static gboolean
ep_mime_html_tag_is (const char *p, const char *end, const char *name)
{
	gsize len = strlen (name);

	return (gsize) (end - p) > len && g_ascii_strncasecmp (p, name, len) == 0 &&
	       !g_ascii_isalnum (p[len]);
}

/* text/html to text: tags, scripts and styles go, entities are decoded */
static char *
ep_mime_html_to_text (const char *html, gsize len)
{
	GString *out = g_string_sized_new (len / 2 + 1);
	const char *p = html;
	const char *end = html + len;
	const char *skip_until = NULL; /* "</script" or "</style" */

	while (p < end) {
		if (*p == '<') {
			const char *close;
			if (skip_until != NULL) {
				if (ep_mime_html_tag_is (p, end, skip_until))
					skip_until = NULL;
				else {
					p++;
					continue;
				}
			} else if (ep_mime_html_tag_is (p, end, "<script")) {
				skip_until = "</script";
			} else if (ep_mime_html_tag_is (p, end, "<style")) {
				skip_until = "</style";
			}
			close = memchr (p, '>', end - p);
			p = close != NULL ? close + 1 : end;
			if (out->len > 0 && out->str[out->len - 1] != ' ')
				g_string_append_c (out, ' ');
			continue;
		}
		if (skip_until != NULL) {
			p++;
			continue;
		}
		if (*p == '&') {
			gsize n = ep_mime_html_entity (p, end, out);
			if (n > 0) {
				p += n;
				continue;
			}
		}
		g_string_append_c (out, *p);
		p++;
	}
	return g_string_free (out, FALSE);
}

static gboolean
ep_mime_text_part_in_range (const EpMimeTextCtx *ctx, gsize offset, gsize length)
{
	return offset <= ctx->raw_len && length <= ctx->raw_len - offset;
}

static void
ep_mime_text_headers (EpMimeTextCtx *ctx, const EpMimePart *part)
{
	const char *names[] = { "subject", "from", "to", "cc" };

	if (!ep_mime_text_part_in_range (ctx, part->header_offset, part->header_length))
		return;
	for (guint i = 0; i < G_N_ELEMENTS (names) && !ep_mime_text_full (ctx); i++) {
		g_autofree char *raw = ep_mime_headers_get_first (ctx->raw + part->header_offset, part->header_length, names[i]);
		g_autofree char *text = NULL;
		if (raw == NULL)
			continue;
		text = ep_mime_decode_encoded_words (raw, strlen (raw));
		ep_mime_text_append (ctx, text, strlen (text));
		if (i > 0) {
			/* the parts of each address as words too: a search for
			 * "bob" or "example" finds mail from bob@example.org,
			 * whose whole address is one token of the index */
			for (char *p = text; *p != '\0'; p++) {
				if (*p == '@' || *p == '.' || *p == '<' || *p == '>' || *p == '+' || *p == '_')
					*p = ' ';
			}
			ep_mime_text_append (ctx, text, strlen (text));
		}
	}
}

static void
ep_mime_text_body (EpMimeTextCtx *ctx, const EpMimePart *part)
{
	g_autoptr(GByteArray) decoded = g_byte_array_new ();
	g_autofree char *utf8 = NULL;
	gsize room = ctx->max - ctx->out->len;
	/* enough input for the room left, whatever the encoding */
	gsize max_in = room < G_MAXSIZE / 8 ? room * 8 + 1024 : G_MAXSIZE;

	if (!ep_mime_text_part_in_range (ctx, part->body_offset, part->body_length))
		return;
	if (!ep_mime_transfer_decode (part->encoding, ctx->raw + part->body_offset, part->body_length, max_in, decoded, NULL))
		return;
	utf8 = ep_mime_charset_to_utf8 (ep_mime_params_lookup (part->params, "charset"),
					(const char *) decoded->data,
					decoded->len);
	if (g_strcmp0 (part->subtype, "html") == 0) {
		g_autofree char *text = ep_mime_html_to_text (utf8, strlen (utf8));
		ep_mime_text_append (ctx, text, strlen (text));
	} else {
		ep_mime_text_append (ctx, utf8, strlen (utf8));
	}
}

static gboolean
ep_mime_part_is_text (const EpMimePart *part, const char *subtype)
{
	return g_strcmp0 (part->type, "text") == 0 && g_strcmp0 (part->subtype, subtype) == 0;
}

static void
ep_mime_text_walk (EpMimeTextCtx *ctx, const EpMimePart *part)
{
	if (ep_mime_text_full (ctx))
		return;
	if (part->envelope != NULL)
		ep_mime_text_headers (ctx, part);
	if (g_strcmp0 (part->type, "multipart") == 0) {
		if (g_strcmp0 (part->subtype, "alternative") == 0 && part->children->len > 0) {
			/* one rendering is enough: plain text if there is one */
			const EpMimePart *best = NULL;
			for (guint i = 0; i < part->children->len && best == NULL; i++) {
				const EpMimePart *child = g_ptr_array_index (part->children, i);
				if (ep_mime_part_is_text (child, "plain"))
					best = child;
			}
			for (guint i = 0; i < part->children->len && best == NULL; i++) {
				const EpMimePart *child = g_ptr_array_index (part->children, i);
				if (ep_mime_part_is_text (child, "html"))
					best = child;
			}
			ep_mime_text_walk (ctx, best != NULL ? best : g_ptr_array_index (part->children, 0));
			return;
		}
		for (guint i = 0; i < part->children->len; i++)
			ep_mime_text_walk (ctx, g_ptr_array_index (part->children, i));
		return;
	}
	if (ep_mime_part_is_message (part)) {
		ep_mime_text_walk (ctx, g_ptr_array_index (part->children, 0));
		return;
	}
	if (ep_mime_part_is_text (part, "plain") || ep_mime_part_is_text (part, "html"))
		ep_mime_text_body (ctx, part);
}

/**
 * ep_mime_message_extract_text:
 * @msg: a message
 * @raw: the message it was parsed from
 * @raw_len: its length
 * @max_len: the most bytes to return
 *
 * The text to index for full-text search: the decoded Subject, From, To
 * and Cc of the message and of every message it holds (the address
 * headers twice: as written, then with the parts of each address apart), then its text/plain
 * bodies and its text/html bodies without markup (one alternative of a
 * multipart/alternative, plain text preferred), transfer encoding undone
 * and converted to UTF-8.  The work done is bounded by @max_len as well as
 * the output.
 *
 * Returns: (transfer full): valid UTF-8, at most @max_len bytes
 */
char *
ep_mime_message_extract_text (const EpMimeMessage *msg, const char *raw, gsize raw_len, gsize max_len)
{
	EpMimeTextCtx ctx = { g_string_new (NULL), max_len, raw, raw_len, FALSE };

	ep_mime_text_walk (&ctx, msg->root);
	return g_string_free (ctx.out, FALSE);
}

char *
ep_mime_format_date (GDateTime *dt)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	gint64 offset = g_date_time_get_utc_offset (dt) / G_TIME_SPAN_MINUTE;
	char sign = offset < 0 ? '-' : '+';

	g_return_val_if_fail (dt != NULL, NULL);
	if (offset < 0)
		offset = -offset;
	/* g_date_time_format() would use the locale's names of days and months */
	return g_strdup_printf ("%s, %d %s %04d %02d:%02d:%02d %c%02d%02d", days[g_date_time_get_day_of_week (dt) - 1],
				g_date_time_get_day_of_month (dt), months[g_date_time_get_month (dt) - 1],
				g_date_time_get_year (dt), g_date_time_get_hour (dt), g_date_time_get_minute (dt),
				g_date_time_get_second (dt), sign, (int) (offset / 60), (int) (offset % 60));
}
