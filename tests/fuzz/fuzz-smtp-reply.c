/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SMTP reply parser on arbitrary bytes: the input is cut into lines at
 * every LF (a CR before it dropped, as the line framer would), each line
 * fed in turn.  Every reply that comes out is checked against what the
 * parser promises: a code of 200..599, an enhanced code of the code's
 * class, text without control characters but the line separators, and a
 * one-line rendering of it.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-smtp-reply.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_reply (const EpSmtpReply *reply, guint lines)
{
	g_autoptr(EpSmtpReply) copy = NULL;
	g_autofree char *line = NULL;
	guint newlines = 0;

	g_assert (reply->code >= 200 && reply->code <= 599);
	g_assert (reply->text != NULL);
	g_assert (strlen (reply->text) <= EP_SMTP_REPLY_MAX_TEXT);
	for (const char *p = reply->text; *p != '\0'; p++) {
		guchar c = (guchar) *p;
		if (c == '\n')
			newlines++;
		else
			g_assert (c == '\t' || c >= 0x20);
		g_assert (c != 0x7f);
	}
	g_assert (g_utf8_validate (reply->text, -1, NULL));
	g_assert_cmpuint (newlines + 1, ==, lines);
	if (reply->enhanced != NULL) {
		g_assert_cmpuint (ep_smtp_enhanced_code_scan (reply->enhanced, strlen (reply->enhanced)), ==,
				  strlen (reply->enhanced));
		g_assert_cmpint (reply->enhanced[0] - '0', ==, (int) (reply->code / 100));
	}
	copy = ep_smtp_reply_copy (reply);
	g_assert_cmpuint (copy->code, ==, reply->code);
	g_assert_cmpstr (copy->text, ==, reply->text);
	g_assert_cmpstr (copy->enhanced, ==, reply->enhanced);
	line = ep_smtp_reply_to_string (reply);
	g_assert (strchr (line, '\n') == NULL);
	g_assert (g_str_has_prefix (line, (char[]){ (char) ('0' + reply->code / 100), 0 }));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();
	gsize pos = 0;

	while (pos < size) {
		const uint8_t *nl = memchr (data + pos, '\n', size - pos);
		gsize end = nl != NULL ? (gsize) (nl - data) : size;
		gsize len = end - pos;
		g_autoptr(EpSmtpReply) reply = NULL;
		g_autoptr(GError) error = NULL;
		guint before = ep_smtp_reply_parser_get_pending_lines (parser);

		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		if (ep_smtp_reply_parser_feed (parser, (const char *) data + pos, len, &reply, &error)) {
			g_assert (reply != NULL && error == NULL);
			fuzz_check_reply (reply, before + 1);
			g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, 0);
		} else if (error != NULL) {
			g_assert (reply == NULL);
			g_assert (error->message != NULL && error->message[0] != '\0');
			g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, 0);
		} else {
			g_assert (reply == NULL);
			g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, before + 1);
		}
		pos = end + 1;
	}
	return 0;
}
