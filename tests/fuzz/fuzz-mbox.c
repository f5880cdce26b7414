/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mbox reader of `mail import` on arbitrary bytes.  Two properties:
 * fed any lines, it never crashes, hangs or leaks, and every message it
 * hands over holds CRLF-ended lines only; and any message body written the
 * way `mail export` writes it (From_ line, mboxrd quoting, flag headers,
 * the separating empty line) is read back identical, flags included.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-mailbox-file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
	guint n_messages;
	GString *last;
	char *last_status;
	char *last_mailbox;
} FuzzMbox;

static gboolean
fuzz_mbox_message (const EpMboxMessage *m, gpointer user_data, GError **error)
{
	FuzzMbox *f = user_data;
	const char *p = m->data->str;
	gsize len = m->data->len;

	/* every line ends with CRLF, and no LF stands alone */
	g_assert (len == 0 || (len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n'));
	for (gsize i = 0; i < len; i++) {
		if (p[i] == '\n')
			g_assert (i > 0 && p[i - 1] == '\r');
	}
	g_assert_cmpuint (m->line_no, >, 0);
	f->n_messages++;
	g_string_assign (f->last, "");
	g_string_append_len (f->last, p, len);
	g_free (f->last_status);
	f->last_status = g_strdup (m->status);
	g_free (f->last_mailbox);
	f->last_mailbox = g_strdup (m->mailbox);
	return TRUE;
}

static void
fuzz_mbox_feed (FuzzMbox *f, const char *text, gsize size, guint expected)
{
	g_autoptr(EpMboxReader) reader = ep_mbox_reader_new (fuzz_mbox_message, f);
	gsize start = 0;

	for (gsize i = 0; i <= size; i++) {
		if (i == size || text[i] == '\n') {
			gboolean stray = FALSE;
			if (i == size && start == size)
				break;
			g_assert (ep_mbox_reader_feed_line (reader, text + start, i - start, &stray, NULL));
			start = i + 1;
		}
	}
	g_assert (ep_mbox_reader_finish (reader, NULL));
	if (expected != G_MAXUINT)
		g_assert_cmpuint (f->n_messages, ==, expected);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	FuzzMbox f = { 0 };
	g_autoptr(GString) body = g_string_new ("Subject: fuzz\r\n\r\n");
	g_autoptr(GString) mbox = g_string_new (NULL);
	g_autofree char *from = ep_mbox_from_line (1700000000);
	gsize start = 0;

	/* 1: the raw bytes as an mbox */
	f.last = g_string_new (NULL);
	fuzz_mbox_feed (&f, (const char *) data, size, G_MAXUINT);

	/* 2: the bytes as the body of one message, exported then read back;
	 * CRs go (a body line of a stored message never holds one alone) */
	for (gsize i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			for (gsize j = start; j < i; j++) {
				if (data[j] != '\r')
					g_string_append_c (body, (char) data[j]);
			}
			g_string_append (body, "\r\n");
			start = i + 1;
		}
	}
	g_string_append (mbox, from);
	g_string_append (mbox, "X-Mailbox: Fuzz/Box\nStatus: RO\n");
	for (gsize i = 0; i < body->len;) {
		gsize line_len = 0;
		/* the body may hold NULs: no str*() here */
		while (!(body->str[i + line_len] == '\r' && body->str[i + line_len + 1] == '\n'))
			line_len++;
		ep_mbox_quote_line (mbox, body->str + i, line_len);
		g_string_append_c (mbox, '\n');
		i += line_len + 2;
	}
	g_string_append_c (mbox, '\n');
	f.n_messages = 0;
	fuzz_mbox_feed (&f, mbox->str, mbox->len, 1);
	g_assert_cmpuint (f.last->len, ==, body->len);
	g_assert (memcmp (f.last->str, body->str, body->len) == 0);
	g_assert_cmpstr (f.last_status, ==, "RO");
	g_assert_cmpstr (f.last_mailbox, ==, "Fuzz/Box");

	g_string_free (f.last, TRUE);
	g_free (f.last_status);
	g_free (f.last_mailbox);
	return 0;
}
