/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FETCH items on arbitrary bytes: the input is the rest of a
 * "t FETCH 1 " command line, read by the command parser; its last argument
 * goes to imap_fetch_parse().  Every body item parsed is then served from
 * a fixed message (base64, quoted-printable, an unknown encoding, nested
 * multipart and message parts).  Properties: a failure always has a
 * non-empty text; response names are non-empty single lines; what BINARY
 * gives without a partial is as long as BINARY.SIZE says, and a partial
 * is a slice of it.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-fetch.h"
#include "imap-parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char fuzz_message[] = "Subject: fuzz\r\n"
				   "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
				   "\r\n"
				   "--b\r\n"
				   "Content-Transfer-Encoding: quoted-printable\r\n"
				   "\r\n"
				   "caf=C3=A9 =\r\nsoft =3D\r\n"
				   "--b\r\n"
				   "Content-Type: application/octet-stream\r\n"
				   "Content-Transfer-Encoding: base64\r\n"
				   "\r\n"
				   "AAECAwQF\r\nBgcI\r\n"
				   "--b\r\n"
				   "Content-Transfer-Encoding: x-unknown\r\n"
				   "\r\n"
				   "???\r\n"
				   "--b\r\n"
				   "Content-Type: message/rfc822\r\n"
				   "\r\n"
				   "Subject: inner\r\n"
				   "Content-Transfer-Encoding: base64\r\n"
				   "\r\n"
				   "aW5uZXI=\r\n"
				   "--b--\r\n";

static void
fuzz_serve (const ImapBodyItem *item, GBytes *msg_data, const EpMimeMessage *mime)
{
	g_autoptr (GBytes) out = NULL;
	guint64 full = 0, counted = 0;
	ImapFetchBinaryStatus st, st2;
	ImapBodyItem whole = *item;

	g_assert (item->response_name != NULL && *item->response_name != '\0');
	g_assert (strpbrk (item->response_name, "\r\n") == NULL);
	if (!item->binary && !item->binary_size) {
		g_autoptr (GBytes) b = imap_fetch_body (item, msg_data, mime);
		if (b != NULL && item->partial)
			g_assert_cmpuint (g_bytes_get_size (b), <=, item->length);
		return;
	}
	/* the whole part, and its size as BINARY.SIZE counts it */
	whole.partial = FALSE;
	st = imap_fetch_binary (&whole, msg_data, mime, &out, &full);
	st2 = imap_fetch_binary (&whole, msg_data, mime, NULL, &counted);
	g_assert_cmpint (st, ==, st2);
	if (st != IMAP_FETCH_BINARY_OK) {
		g_assert_null (out);
		return;
	}
	g_assert_cmpuint (g_bytes_get_size (out), ==, full);
	g_assert_cmpuint (counted, ==, full);
	if (item->partial) {
		g_autoptr (GBytes) slice = NULL;
		gsize n = 0, wn = 0;
		const char *w = g_bytes_get_data (out, &wn);
		const char *s;

		g_assert_cmpint (imap_fetch_binary (item, msg_data, mime, &slice, NULL), ==, IMAP_FETCH_BINARY_OK);
		s = g_bytes_get_data (slice, &n);
		g_assert_cmpuint (n, <=, item->length);
		if (n > 0)
			g_assert (item->offset + n <= wn && memcmp (s, w + item->offset, n) == 0);
	}
}

static void
fuzz_items (const ImapArg *arg)
{
	ImapFetchItems items = {0};
	const char *text = NULL;
	g_autoptr (GBytes) msg_data = g_bytes_new_static (fuzz_message, sizeof fuzz_message - 1);
	g_autoptr (EpMimeMessage) mime = ep_mime_message_parse (fuzz_message, sizeof fuzz_message - 1);

	if (!imap_fetch_parse (arg, &items, &text)) {
		g_assert (text != NULL && *text != '\0');
		imap_fetch_items_clear (&items);
		return;
	}
	for (guint i = 0; i < items.bodies->len; i++)
		fuzz_serve (g_ptr_array_index (items.bodies, i), msg_data, items.need_mime ? mime : NULL);
	imap_fetch_items_clear (&items);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autoptr (GString) line = g_string_new ("t FETCH 1 ");
	gsize off = 0;

	g_string_append_len (line, (const char *)data, (gssize)size);
	if (size < 2 || data[size - 2] != '\r' || data[size - 1] != '\n')
		g_string_append (line, "\r\n");
	while (off < line->len) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, line->str + off, line->len - off, &used);

		off += used;
		if (st == IMAP_PARSE_DONE) {
			g_autoptr (ImapCommand) cmd = imap_parser_take_command (p);
			if (cmd->args->len == 2)
				fuzz_items (g_ptr_array_index (cmd->args, 1));
			break;
		}
		if (st != IMAP_PARSE_LITERAL)
			break;
	}
	return 0;
}
