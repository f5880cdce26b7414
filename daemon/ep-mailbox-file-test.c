/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-error.h"
#include "ep-mailbox-file.h"

static const char *const quoted_input = "From the start\n"
					">From quoted once\n"
					">>From quoted twice\n"
					">Fro not a match\n"
					">>\n"
					">\n"
					"\n"
					"plain >From inside\n"
					">From ";
static const char *const unquoted_output = "From the start\n"
					   "From quoted once\n"
					   ">From quoted twice\n"
					   ">Fro not a match\n"
					   ">>\n"
					   ">\n"
					   "\n"
					   "plain >From inside\n"
					   "From ";

static void
test_unquote_lines (void)
{
	g_autoptr(GString) out = g_string_new (NULL);
	g_auto(GStrv) lines = g_strsplit (quoted_input, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		ep_mbox_unquote_line (out, lines[i], strlen (lines[i]));
		if (lines[i + 1] != NULL)
			g_string_append_c (out, '\n');
	}
	g_assert_cmpstr (out->str, ==, unquoted_output);
}

/* the streaming unquoter gives the same output for chunks of 1, 2, ... bytes */
static void
test_unquoter_chunks (void)
{
	gsize len = strlen (quoted_input);

	for (gsize chunk = 1; chunk <= len; chunk++) {
		g_autoptr(EpMboxUnquoter) u = ep_mbox_unquoter_new ();
		g_autoptr(GString) out = g_string_new (NULL);

		for (gsize i = 0; i < len; i += chunk)
			ep_mbox_unquoter_feed (u, quoted_input + i, MIN (chunk, len - i), out);
		ep_mbox_unquoter_finish (u, out);
		g_assert_cmpstr (out->str, ==, unquoted_output);
	}
}

static void
test_quote_round_trip (void)
{
	const char *lines[] = { "From x", ">From x", ">>>From x", "From", ">", "", "Fromage", "x From y", NULL };
	const char *quoted[] = { ">From x", ">>From x", ">>>>From x", "From", ">", "", "Fromage", "x From y", NULL };

	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GString) q = g_string_new (NULL);
		g_autoptr(GString) u = g_string_new (NULL);

		ep_mbox_quote_line (q, lines[i], strlen (lines[i]));
		g_assert_cmpstr (q->str, ==, quoted[i]);
		ep_mbox_unquote_line (u, q->str, q->len);
		g_assert_cmpstr (u->str, ==, lines[i]);
	}
}

static void
test_from_line (void)
{
	g_autofree char *line = ep_mbox_from_line (1700000000);

	g_assert_cmpstr (line, ==, "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n");
	g_assert_true (ep_mbox_is_from_line (line, strlen (line)));
	g_assert_false (ep_mbox_is_from_line (">From x", 7));
	g_assert_false (ep_mbox_is_from_line ("From", 4));
	g_assert_cmpint (ep_mbox_from_line_parse_date (line, strlen (line)), ==, 1700000000);
	g_assert_cmpint (ep_mbox_from_line_parse_date ("From a@b Thu Jan  1 00:01:00 1970", 33), ==, 60);
	g_assert_cmpint (ep_mbox_from_line_parse_date ("From a@b", 8), ==, 0);
	g_assert_cmpint (ep_mbox_from_line_parse_date ("From a@b Xyz Foo 1 00:01:00 1970", 32), ==, 0);
}

static void
test_flags (void)
{
	for (EpStoreFlags f = 0; f <= EP_STORE_FLAGS_ALL; f++) {
		g_autofree char *status = NULL;
		g_autofree char *x_status = NULL;
		g_autofree char *letters = ep_maildir_flags_to_letters (f);
		g_autofree char *name = g_strconcat ("123.4.host:2,", letters, NULL);

		ep_mbox_flags_to_status (f, &status, &x_status);
		g_assert_cmpint (ep_mbox_flags_from_status (status, x_status), ==, f);
		g_assert_cmpint (ep_maildir_flags_from_name (name), ==, f);
	}
	{
		g_autofree char *letters = ep_maildir_flags_to_letters (EP_STORE_FLAGS_ALL);
		g_assert_cmpstr (letters, ==, "DFRST");
	}
	g_assert_cmpint (ep_mbox_flags_from_status ("RO", NULL), ==, EP_STORE_FLAG_SEEN);
	g_assert_cmpint (ep_mbox_flags_from_status ("O", NULL), ==, EP_STORE_FLAG_NONE);
	g_assert_cmpint (ep_maildir_flags_from_name ("123.4.host"), ==, EP_STORE_FLAG_NONE);
}

static void
test_folders (void)
{
	g_autofree char *a = ep_maildir_folder_for_mailbox ("INBOX");
	g_autofree char *b = ep_maildir_folder_for_mailbox ("Lists/epistle");
	g_autofree char *c = ep_maildir_mailbox_for_folder (".Lists.epistle");
	g_autofree char *d = ep_maildir_mailbox_for_folder ("");

	g_assert_cmpstr (a, ==, "");
	g_assert_cmpstr (b, ==, ".Lists.epistle");
	g_assert_cmpstr (c, ==, "Lists/epistle");
	g_assert_cmpstr (d, ==, "INBOX");
	g_assert_null (ep_maildir_mailbox_for_folder ("cur"));
	g_assert_null (ep_maildir_mailbox_for_folder ("."));
	g_assert_null (ep_maildir_mailbox_for_folder (".."));
}

static void
test_line_endings (void)
{
	const char *crlf = "a\r\nb\rc\r\n\r\nd";
	g_autoptr(GString) lf = g_string_new (NULL);
	g_autoptr(GString) back = g_string_new (NULL);

	ep_mailbox_file_crlf_to_lf (lf, crlf, strlen (crlf));
	g_assert_cmpstr (lf->str, ==, "a\nb\rc\n\nd");
	ep_mailbox_file_lf_to_crlf (back, lf->str, lf->len);
	g_assert_cmpstr (back->str, ==, crlf);
	g_string_truncate (back, 0);
	ep_mailbox_file_lf_to_crlf (back, crlf, strlen (crlf));
	g_assert_cmpstr (back->str, ==, crlf);
}

static gboolean
collect_message (const EpMboxMessage *m, gpointer user_data, GError **error)
{
	GPtrArray *out = user_data;

	g_ptr_array_add (out, g_strdup_printf ("%" G_GUINT64_FORMAT "|%s|%s|%s|%s|%" G_GINT64_FORMAT "|%s",
					       m->line_no, m->status ? m->status : "-", m->x_status ? m->x_status : "-",
					       m->keywords ? m->keywords : "-", m->mailbox ? m->mailbox : "-",
					       m->internal_date, m->data->str));
	return TRUE;
}

static gboolean
refuse_message (const EpMboxMessage *m, gpointer user_data, GError **error)
{
	g_set_error_literal (error, EP_ERROR, EP_ERROR_LIMIT, "full");
	return FALSE;
}

static void
test_mbox_reader (void)
{
	const char *lines[] = {
		"", "stray", "From a@b Thu Jan  1 00:00:01 1970", "Subject: one", "Status: RO", "X-Status: AF",
		"  folded status", "X-Keywords: $Work", "X-Mailbox: Lists/GLib", "", ">From quoted", ">>From twice",
		"", "From c@d Fri Feb  2 10:00:00 2024\r", "A: b\r", "\r", "body\r", NULL,
	};
	gboolean expect_stray[] = { TRUE, TRUE, FALSE };
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(EpMboxReader) reader = ep_mbox_reader_new (collect_message, out);
	g_autoptr(EpMboxReader) refusing = ep_mbox_reader_new (refuse_message, NULL);
	g_autoptr(GError) error = NULL;

	for (guint i = 0; lines[i] != NULL; i++) {
		gboolean stray = FALSE;
		g_assert_true (ep_mbox_reader_feed_line (reader, lines[i], strlen (lines[i]), &stray, NULL));
		g_assert_cmpint (stray, ==, i < G_N_ELEMENTS (expect_stray) ? expect_stray[i] : FALSE);
	}
	g_assert_true (ep_mbox_reader_finish (reader, NULL));
	g_assert_cmpuint (out->len, ==, 2);
	g_assert_cmpstr (out->pdata[0], ==,
			 "3|RO|AF|$Work|Lists/GLib|1|Subject: one\r\n\r\nFrom quoted\r\n>From twice\r\n");
	g_assert_cmpstr (out->pdata[1], ==, "14|-|-|-|-|1706868000|A: b\r\n\r\nbody\r\n");
	g_assert_cmpuint (ep_mbox_reader_get_line_no (reader), ==, 17);

	/* the consumer's error stops the reader */
	g_assert_true (ep_mbox_reader_feed_line (refusing, "From x", 6, NULL, NULL));
	g_assert_false (ep_mbox_reader_feed_line (refusing, "From y", 6, NULL, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/mailbox-file/unquote-lines", test_unquote_lines);
	g_test_add_func ("/mailbox-file/unquoter-chunks", test_unquoter_chunks);
	g_test_add_func ("/mailbox-file/quote-round-trip", test_quote_round_trip);
	g_test_add_func ("/mailbox-file/from-line", test_from_line);
	g_test_add_func ("/mailbox-file/flags", test_flags);
	g_test_add_func ("/mailbox-file/folders", test_folders);
	g_test_add_func ("/mailbox-file/line-endings", test_line_endings);
	g_test_add_func ("/mailbox-file/mbox-reader", test_mbox_reader);
	return g_test_run ();
}
