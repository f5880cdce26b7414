/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SORT and THREAD on arbitrary bytes.  The input's first line is the rest
 * of a "t SORT " command line, read by the command parser: its first
 * argument goes to imap_sort_parse_criteria() and, as a name, to
 * imap_thread_parse_algorithm().  The rest is a set of header blocks
 * separated by NUL octets, one message each (at most 64).  Properties: a
 * failure always has a text; a base subject is valid UTF-8 without
 * leading, trailing or doubled spaces; a sort is a permutation ordered by
 * its criteria, ties by sequence number; both threadings place every
 * message exactly once in balanced parentheses, and give the same tree
 * whatever the order of the input.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-parser.h"
#include "imap-sort.h"
#include "imap-thread.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_MAX_MESSAGES 64

static void
fuzz_check_subject (const char *subject)
{
	gboolean reply;
	g_autofree char *base = imap_sort_base_subject (subject, &reply);
	gsize n = strlen (base);

	g_assert (g_utf8_validate (base, -1, NULL));
	g_assert (n == 0 || (base[0] != ' ' && base[n - 1] != ' '));
	g_assert (strstr (base, "  ") == NULL);
}

static void
fuzz_check_thread (const char *answer, guint n)
{
	g_autofree guint *seen = g_new0 (guint, n + 1);
	const char *p = answer;
	int depth = 0;

	g_assert (g_str_has_prefix (answer, "THREAD"));
	for (p += 6; *p != '\0'; p++) {
		if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			g_assert (--depth >= 0);
		} else if (g_ascii_isdigit (*p)) {
			char *end;
			guint64 v = g_ascii_strtoull (p, &end, 10);
			g_assert (v >= 1 && v <= n);
			seen[v]++;
			p = end - 1;
		} else {
			g_assert (*p == ' ');
		}
	}
	g_assert (depth == 0);
	for (guint i = 1; i <= n; i++)
		g_assert (seen[i] == 1);
}

static void
fuzz_messages (GArray *criteria, const char *data, gsize size)
{
	g_autoptr (GPtrArray) msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_sort_message_free);
	gsize off = 0;

	while (off <= size && msgs->len < FUZZ_MAX_MESSAGES) {
		const char *start = data + off;
		const char *nul = memchr (start, '\0', size - off);
		gsize len = nul != NULL ? (gsize)(nul - start) : size - off;
		g_autofree char *subject = g_strndup (start, len);

		fuzz_check_subject (subject);
		g_ptr_array_add (msgs, imap_sort_message_new (msgs->len + 1, (msgs->len + 1) * 2,
							      (gint64)(len % 7) * 1000 - 1, len % 5, start, len));
		off += len + 1;
	}
	if (criteria != NULL) {
		g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
		g_ptr_array_extend (sorted, msgs, NULL, NULL);
		imap_sort_messages (sorted, criteria);
		for (guint i = 1; i < sorted->len; i++) {
			const ImapSortMessage *a = g_ptr_array_index (sorted, i - 1);
			const ImapSortMessage *b = g_ptr_array_index (sorted, i);
			int r = imap_sort_compare (a, b, (const ImapSortCriterion *)criteria->data, criteria->len);
			g_assert (r < 0 || (r == 0 && a->seq < b->seq));
		}
	}
	for (guint alg = IMAP_THREAD_ORDEREDSUBJECT; alg <= IMAP_THREAD_REFERENCES; alg++) {
		g_autoptr (ImapThreadTree) tree = imap_thread_build (msgs, alg);
		g_autofree char *answer = imap_thread_format (tree, FALSE);
		g_autoptr (GPtrArray) reversed = g_ptr_array_new ();
		g_autoptr (ImapThreadTree) tree2 = NULL;
		g_autofree char *answer2 = NULL;

		fuzz_check_thread (answer, msgs->len);
		for (guint i = msgs->len; i > 0; i--)
			g_ptr_array_add (reversed, g_ptr_array_index (msgs, i - 1));
		tree2 = imap_thread_build (reversed, alg);
		answer2 = imap_thread_format (tree2, FALSE);
		g_assert (strcmp (answer, answer2) == 0);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *nl = memchr (data, '\n', size);
	gsize line_len = nl != NULL ? (gsize)(nl - (const char *)data) + 1 : size;
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autoptr (GString) line = g_string_new ("t SORT ");
	g_autoptr (ImapCommand) cmd = NULL;
	g_autoptr (GArray) criteria = NULL;
	gsize off = 0;

	g_string_append_len (line, (const char *)data, (gssize)line_len);
	if (line->len < 2 || line->str[line->len - 2] != '\r' || line->str[line->len - 1] != '\n') {
		if (line->str[line->len - 1] == '\n')
			g_string_truncate (line, line->len - 1);
		g_string_append (line, "\r\n");
	}
	while (off < line->len && cmd == NULL) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, line->str + off, line->len - off, &used);
		off += used;
		if (st == IMAP_PARSE_DONE)
			cmd = imap_parser_take_command (p);
		else if (st == IMAP_PARSE_ERROR || st == IMAP_PARSE_NEED_MORE)
			break;
	}
	if (cmd != NULL && cmd->args->len > 0) {
		const ImapArg *first = g_ptr_array_index (cmd->args, 0);
		const char *error = NULL;
		const char *name = imap_arg_get_atom (first);
		gboolean need = FALSE;
		ImapThreadAlgorithm alg;

		criteria = imap_sort_parse_criteria (first, &need, &error);
		g_assert (criteria != NULL || (error != NULL && *error != '\0'));
		g_assert (criteria == NULL || criteria->len > 0);
		if (name != NULL)
			(void)imap_thread_parse_algorithm (name, &alg);
	}
	fuzz_messages (criteria, (const char *)data + line_len, size - line_len);
	return 0;
}
