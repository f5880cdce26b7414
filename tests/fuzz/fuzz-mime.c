/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MIME parser on arbitrary bytes: it must never crash, hang or leak,
 * and what it builds must hold together: every offset inside the message,
 * every part inside its parent, each part found again by its number, the
 * structure identical after a serialization round trip, decoded sizes
 * that match the decoders, and text that is valid UTF-8 within its bound.
 * The stream decoders must not care how their input is cut, and the
 * deserializer must refuse or accept foreign bytes without harm.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-mime.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_TEXT_MAX 4096

static void
fuzz_mime_check_part (const EpMimeMessage *msg, const EpMimePart *part, const char *raw, gsize size)
{
	gsize hoff = ep_mime_part_get_header_offset (part);
	gsize hlen = ep_mime_part_get_header_length (part);
	gsize boff = ep_mime_part_get_body_offset (part);
	gsize blen = ep_mime_part_get_body_length (part);
	const EpMimePart *parent = ep_mime_part_get_parent (part);
	const char *section = ep_mime_part_get_section (part);
	const EpMimePart *found;

	g_assert (hoff <= size && hlen <= size - hoff);
	g_assert (boff <= size && blen <= size - boff);
	g_assert (boff == hoff + hlen);
	if (parent != NULL) {
		gsize pstart = ep_mime_part_get_body_offset (parent);
		gsize pend = pstart + ep_mime_part_get_body_length (parent);
		g_assert (hoff >= pstart);
		g_assert (boff + blen <= pend);
	}
	g_assert (section != NULL);
	found = ep_mime_message_lookup_part (msg, section);
	if (section[0] == '\0') {
		g_assert (found == ep_mime_message_get_root (msg));
	} else {
		/* a multipart message shares its number with the part that holds it */
		g_assert (found == part || (found == parent && ep_mime_part_is_multipart (part)));
	}
	g_assert (ep_mime_part_get_content_type (part) != NULL);
	g_assert (ep_mime_part_get_content_subtype (part) != NULL);
	g_assert (ep_mime_part_get_encoding (part) != NULL);

	if (ep_mime_part_get_n_children (part) == 0) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) body = ep_mime_part_decode_body (part, raw, size, &error);
		g_autofree char *filename = ep_mime_part_get_filename (part);
		if (body != NULL)
			g_assert (g_bytes_get_size (body) == ep_mime_part_get_decoded_size (part));
		else
			g_assert (error != NULL);
		if (filename != NULL)
			g_assert (g_utf8_validate (filename, -1, NULL));
	}
	for (guint i = 0; i < ep_mime_part_get_n_children (part); i++) {
		const EpMimePart *child = ep_mime_part_get_child (part, i);
		g_assert (ep_mime_part_get_parent (child) == part);
		fuzz_mime_check_part (msg, child, raw, size);
	}
}

static void
fuzz_mime_check_envelopes (const EpMimePart *a, const EpMimePart *b)
{
	const EpMimeEnvelope *ea = ep_mime_part_get_envelope (a);
	const EpMimeEnvelope *eb = ep_mime_part_get_envelope (b);

	g_assert ((ea == NULL) == (eb == NULL));
	if (ea != NULL) {
		g_autofree char *sa = ep_mime_envelope_to_imap (ea);
		g_autofree char *sb = ep_mime_envelope_to_imap (eb);
		g_assert (strcmp (sa, sb) == 0);
	}
	g_assert (ep_mime_part_get_n_children (a) == ep_mime_part_get_n_children (b));
	g_assert (g_strcmp0 (ep_mime_part_get_section (a), ep_mime_part_get_section (b)) == 0);
	for (guint i = 0; i < ep_mime_part_get_n_children (a); i++)
		fuzz_mime_check_envelopes (ep_mime_part_get_child (a, i), ep_mime_part_get_child (b, i));
}

static gboolean
fuzz_mime_same (const GByteArray *a, const GByteArray *b)
{
	return a->len == b->len && (a->len == 0 || memcmp (a->data, b->data, a->len) == 0);
}

/* a decoder fed whole, and fed in two pieces cut at @cut, gives one answer */
static void
fuzz_mime_check_decoders (const guint8 *data, gsize size, gsize cut)
{
	g_autoptr(GByteArray) whole = g_byte_array_new ();
	g_autoptr(GByteArray) split = g_byte_array_new ();
	EpMimeBase64Decoder b64;
	EpMimeQpDecoder qp;

	ep_mime_base64_decoder_init (&b64);
	ep_mime_base64_decoder_step (&b64, data, size, whole);
	ep_mime_base64_decoder_finish (&b64, whole);
	ep_mime_base64_decoder_step (&b64, data, cut, split);
	ep_mime_base64_decoder_step (&b64, data + cut, size - cut, split);
	ep_mime_base64_decoder_finish (&b64, split);
	g_assert (fuzz_mime_same (whole, split));

	g_byte_array_set_size (whole, 0);
	g_byte_array_set_size (split, 0);
	ep_mime_qp_decoder_init (&qp);
	ep_mime_qp_decoder_step (&qp, data, size, whole);
	ep_mime_qp_decoder_finish (&qp, whole);
	ep_mime_qp_decoder_step (&qp, data, cut, split);
	ep_mime_qp_decoder_step (&qp, data + cut, size - cut, split);
	ep_mime_qp_decoder_finish (&qp, split);
	g_assert (fuzz_mime_same (whole, split));
	g_assert (whole->len <= size);
}

static void
fuzz_mime_one (const uint8_t *data, size_t size)
{
	const char *raw = (const char *) data;
	g_autoptr(EpMimeMessage) msg = ep_mime_message_parse (raw, size);
	EpMimePart *root = ep_mime_message_get_root (msg);
	g_autoptr(GBytes) bytes = ep_mime_message_serialize (msg);
	g_autoptr(GError) error = NULL;
	g_autoptr(EpMimeMessage) copy = ep_mime_message_deserialize (bytes, &error);
	g_autoptr(GBytes) again = NULL;
	g_autofree char *body = ep_mime_part_bodystructure_to_imap (root, FALSE);
	g_autofree char *bs = ep_mime_part_bodystructure_to_imap (root, TRUE);
	g_autofree char *bs_copy = NULL;
	g_autofree char *text = NULL;
	g_autofree char *words = NULL;
	g_autoptr(GPtrArray) addresses = NULL;
	g_autoptr(GPtrArray) params = NULL;
	g_autoptr(GBytes) foreign = g_bytes_new_static (data, size);
	g_autoptr(EpMimeMessage) foreign_msg = NULL;
	g_autoptr(GError) foreign_error = NULL;

	g_assert (ep_mime_message_get_size (msg) == size);
	g_assert (ep_mime_message_get_n_parts (msg) >= 1 && ep_mime_message_get_n_parts (msg) <= EP_MIME_MAX_PARTS);
	g_assert (ep_mime_part_get_envelope (root) != NULL);
	fuzz_mime_check_part (msg, root, raw, size);

	/* the stored form gives the very same structure back */
	g_assert (copy != NULL && error == NULL);
	again = ep_mime_message_serialize (copy);
	g_assert (g_bytes_equal (bytes, again));
	bs_copy = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (copy), TRUE);
	g_assert (strcmp (bs, bs_copy) == 0);
	g_assert (ep_mime_message_get_flags (copy) == ep_mime_message_get_flags (msg));
	fuzz_mime_check_envelopes (root, ep_mime_message_get_root (copy));
	g_assert (body[0] == '(' && bs[0] == '(');

	text = ep_mime_message_extract_text (msg, raw, size, FUZZ_TEXT_MAX);
	g_assert (strlen (text) <= FUZZ_TEXT_MAX);
	g_assert (g_utf8_validate (text, -1, NULL));

	/* the value parsers on the raw bytes too */
	words = ep_mime_decode_encoded_words (raw, size);
	g_assert (g_utf8_validate (words, -1, NULL));
	addresses = ep_mime_address_list_parse (raw, size);
	for (guint i = 0; i < addresses->len; i++) {
		EpMimeAddress *addr = g_ptr_array_index (addresses, i);
		/* only group markers lack a host */
		g_assert (addr->host != NULL || addr->name == NULL);
	}
	params = ep_mime_params_parse (raw, size);
	for (guint i = 0; i < params->len; i++) {
		EpMimeParam *param = g_ptr_array_index (params, i);
		g_assert (param->name[0] != '\0');
		g_assert (g_utf8_validate (param->value, -1, NULL));
	}
	fuzz_mime_check_decoders (data, size, size > 0 ? (data[0] * 257u) % (size + 1) : 0);

	/* foreign bytes as a stored structure: refused, or a sane tree */
	foreign_msg = ep_mime_message_deserialize (foreign, &foreign_error);
	if (foreign_msg != NULL) {
		g_autofree char *fbs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (foreign_msg), TRUE);
		g_assert (fbs[0] == '(');
	} else {
		g_assert (foreign_error != NULL);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	/* an empty input may come as NULL */
	fuzz_mime_one (size > 0 ? data : (const uint8_t *) "", size);
	return 0;
}
