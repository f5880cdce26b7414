/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SEARCH program on arbitrary bytes: the input is the rest of a
 * "t SEARCH " command line, read by the command parser; its arguments go
 * to imap_search_parse().  Properties: a failure always has a non-empty
 * text; a program matches a few fixed messages without crashing, and NOT of
 * it matches exactly the others; the answers it formats are one line (or
 * none for RETURN (SAVE) alone); what RETURN (SAVE) keeps is a subset of
 * the matches.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-parser.h"
#include "imap-search.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const fuzz_headers[] = {
    "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\nSubject: Budget\r\nDate: 1 Feb 1994 10:00 +0000\r\n\r\n",
    "Subject: x\nDate: Tue, 31 Jan 94\n\n",
    "",
};

/* EMAILID and THREADID of the messages */
static const char *const fuzz_object_ids[][2] = {{"M1", "T1"}, {"M2", "T1"}, {"M3", NULL}};

static void
fuzz_program (GPtrArray *args)
{
	ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
	const char *text = NULL;
	g_autoptr (ImapSearchProgram) prog = imap_search_parse (args, &kind, &text);
	g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (guint32));
	const char *const kw[] = {"$Junk", NULL};
	g_autofree char *answer = NULL;

	if (prog == NULL) {
		g_assert (text != NULL && *text != '\0');
		return;
	}
	for (guint i = 0; i < prog->text_keys->len; i++) {
		ImapSearchKey *k = g_ptr_array_index (prog->text_keys, i);
		guint32 u = 2;
		k->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
		g_array_append_val (k->uids, u);
	}
	/* "$": the saved result holds UID 3 */
	for (guint i = 0; i < prog->saved_keys->len; i++) {
		ImapSearchKey *k = g_ptr_array_index (prog->saved_keys, i);
		guint32 u = 3;
		k->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
		g_array_append_val (k->uids, u);
	}
	for (guint i = 0; i < G_N_ELEMENTS (fuzz_headers); i++) {
		ImapSearchMessage msg = {
		    .seq = i + 1,
		    .uid = i + 1,
		    .flags = (EpStoreFlags)i,
		    .keywords = i == 1 ? kw : NULL,
		    .internal_date = (gint64)i * 400000000 - 1,
		    .size = i * 100,
		    .header = fuzz_headers[i],
		    .header_len = imap_search_header_length (fuzz_headers[i], strlen (fuzz_headers[i])),
		    .email_id = fuzz_object_ids[i][0],
		    .thread_id = fuzz_object_ids[i][1],
		};
		ImapSearchKey not_key = {.type = IMAP_SEARCH_NOT, .children = g_ptr_array_new ()};
		gboolean m = imap_search_match (prog->root, &msg, G_N_ELEMENTS (fuzz_headers), 3);

		g_ptr_array_add (not_key.children, prog->root);
		g_assert (imap_search_match (&not_key, &msg, G_N_ELEMENTS (fuzz_headers), 3) == !m);
		g_ptr_array_unref (not_key.children);
		if (m)
			g_array_append_val (found, msg.seq);
	}
	/* RETURN (SAVE) alone answers nothing */
	answer = imap_search_format (prog, TRUE, "t", TRUE, (const guint32 *)found->data, found->len);
	g_assert ((answer == NULL) == (prog->returns == IMAP_SEARCH_RETURN_SAVE));
	g_assert (answer == NULL || (strchr (answer, '\r') == NULL && strchr (answer, '\n') == NULL));
	g_clear_pointer (&answer, g_free);
	answer = imap_search_format (prog, FALSE, "t", FALSE, (const guint32 *)found->data, found->len);
	g_assert (answer == NULL || strchr (answer, '\n') == NULL);
	/* what SAVE keeps is a subset of the matches, ascending */
	{
		g_autoptr (GArray) saved = imap_search_saved_result (prog, (const guint32 *)found->data, found->len);
		g_assert (saved->len <= found->len);
		for (guint i = 0; i < saved->len; i++) {
			guint32 u = g_array_index (saved, guint32, i);
			gboolean in = FALSE;
			g_assert (i == 0 || g_array_index (saved, guint32, i - 1) < u);
			for (guint j = 0; j < found->len; j++)
				in |= g_array_index (found, guint32, j) == u;
			g_assert (in);
		}
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autoptr (GString) line = g_string_new ("t SEARCH ");
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
			fuzz_program (cmd->args);
			break;
		}
		if (st != IMAP_PARSE_LITERAL)
			break;
	}
	return 0;
}
