/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-parser.h"

/* Feeds one piece, writing every event the parser reports, one a line:
 * "DONE <command>", "LIT <n>[+]" ("LIT8 <n>"), "ERR [<tag> ]<kind> <text>". */
static void
feed_piece (ImapParser *p, const char *data, gsize n, GString *out)
{
	gsize off = 0;

	while (off < n) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, data + off, n - off, &used);
		off += used;
		if (st == IMAP_PARSE_DONE) {
			g_autoptr (ImapCommand) cmd = imap_parser_take_command (p);
			g_autoptr (GString) s = imap_command_render (cmd);
			g_string_append (out, "DONE ");
			g_string_append_len (out, s->str, (gssize)s->len);
			g_string_append_c (out, '\n');
		} else if (st == IMAP_PARSE_LITERAL) {
			guint64 size;
			gboolean nonsync, lit8;
			imap_parser_get_literal (p, &size, &nonsync, &lit8);
			g_string_append_printf (out, "LIT%s %" G_GUINT64_FORMAT "%s\n", lit8 ? "8" : "", size,
						nonsync ? "+" : "");
		} else if (st == IMAP_PARSE_ERROR) {
			const char *tag = imap_parser_get_error_tag (p);
			g_string_append_printf (out, "ERR %s%s%d %s\n", tag != NULL ? tag : "", tag != NULL ? " " : "",
						imap_parser_get_error_kind (p), imap_parser_get_error (p));
		} else {
			g_assert_cmpuint (off, ==, n);
		}
	}
}

/* Feeds @input in pieces of @chunk octets (0: whole). */
static GString *
run_parser_len (const char *input, gsize len, gsize chunk, const ImapParserLimits *limits)
{
	g_autoptr (ImapParser) p = imap_parser_new (limits);
	GString *out = g_string_new (NULL);

	if (chunk == 0)
		chunk = len;
	for (gsize pos = 0; pos < len; pos += chunk)
		feed_piece (p, input + pos, MIN (chunk, len - pos), out);
	return out;
}

static char *
run_parser (const char *input, gsize len, gsize chunk, const ImapParserLimits *limits)
{
	return g_string_free (run_parser_len (input, len, chunk, limits), FALSE);
}

/* The same events whatever the slicing (CONVENTIONS: one octet at a time,
 * then two, up to the whole; and every cut in two pieces).
 * Returns: the events of the whole feed */
static GString *
check_all_slicings_len (const char *input, gsize len, const ImapParserLimits *limits)
{
	GString *whole = run_parser_len (input, len, 0, limits);

	for (gsize k = 1; k < len; k++) {
		g_autoptr (GString) got = run_parser_len (input, len, k, limits);
		g_assert_true (g_string_equal (got, whole));
	}
	for (gsize cut = 1; cut < len; cut++) {
		g_autoptr (ImapParser) p = imap_parser_new (limits);
		g_autoptr (GString) got = g_string_new (NULL);
		feed_piece (p, input, cut, got);
		feed_piece (p, input + cut, len - cut, got);
		g_assert_true (g_string_equal (got, whole));
	}
	return whole;
}

static char *
check_all_slicings (const char *input, const ImapParserLimits *limits)
{
	return g_string_free (check_all_slicings_len (input, strlen (input), limits), FALSE);
}

typedef struct {
	const char *input;
	const char *events;
} ParserCase;

static const ParserCase parser_cases[] = {
    {"a1 NOOP\r\n", "DONE a1 NOOP\n"},
    {"a1 noop\r\n", "DONE a1 NOOP\n"},
    {"A.1] CAPABILITY\r\n", "DONE A.1] CAPABILITY\n"},
    {"a LOGIN alice \"pass word\"\r\n", "DONE a LOGIN A(alice) Q(9:pass word)\n"},
    {"a LOGIN \"al\\\\ice\" \"p\\\"w\"\r\n", "DONE a LOGIN Q(6:al\\ice) Q(3:p\"w)\n"},
    {"a LOGIN {5}\r\nalice {3+}\r\np w\r\n", "LIT 5\nLIT 3+\nDONE a LOGIN L(5:alice) L+(3:p w)\n"},
    {"a LOGIN {0}\r\n \"\"\r\n", "LIT 0\nDONE a LOGIN L(0:) Q(0:)\n"},
    {"a SELECT \"Entw\xc3\xbcrfe\"\r\n", "DONE a SELECT Q(9:Entw\xc3\xbcrfe)\n"},
    {"a SELECT NIL\r\n", "DONE a SELECT NIL\n"},
    {"a FETCH 1:*,3 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)\r\n",
     "DONE a FETCH A(1:*,3) (A(FLAGS) A(BODY.PEEK[HEADER.FIELDS (From To)]<0.100>) A(UID))\n"},
    {"a FETCH $ BODY[]\r\n", "DONE a FETCH A($) A(BODY[])\n"},
    {"a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\r\n",
     "DONE a STORE A(1) A(+FLAGS.SILENT) (A(\\Seen) A(\\Deleted) A($Junk))\n"},
    {"a LIST \"\" %\r\n", "DONE a LIST Q(0:) A(%)\n"},
    {"a LIST \"\" *\r\n", "DONE a LIST Q(0:) A(*)\n"},
    {"a X (() (a (b)))\r\n", "DONE a X (() (A(a) (A(b))))\n"},
    {"a ID ~x\r\n", "DONE a ID A(~x)\n"},
    /* pipelined */
    {"a NOOP\r\nb NOOP\r\n", "DONE a NOOP\nDONE b NOOP\n"},
    /* errors, and recovery at the next line */
    {"\r\nb NOOP\r\n", "ERR 0 Empty command line\nDONE b NOOP\n"},
    {"a\r\n", "ERR 0 Missing command\n"},
    {"a+ NOOP\r\n", "ERR 0 Invalid tag\n"},
    {"* NOOP\r\nb NOOP\r\n", "ERR 0 Invalid tag\nDONE b NOOP\n"},
    {"a NOOP\n", "ERR a 0 Line ends in a bare LF\n"},
    {"a NOOP\rx\r\nb NOOP\r\n", "ERR a 0 CR without LF\nDONE b NOOP\n"},
    {"a X b\n", "ERR a 0 Line ends in a bare LF\n"},
    {"a X  b\r\n", "ERR a 0 Extra space\n"},
    {"a X b \r\n", "ERR a 0 Missing argument\n"},
    {"a X ( b)\r\n", "ERR a 0 Extra space\n"},
    {"a X (b )\r\n", "ERR a 0 Unexpected ')'\n"},
    {"a X (b\r\nc NOOP\r\n", "ERR a 0 Missing ')'\nDONE c NOOP\n"},
    {"a X b)\r\n", "ERR a 0 Unexpected ')'\n"},
    {"a X \"b\r\n", "ERR a 0 Line break or NUL in a quoted string\n"},
    {"a X \"\\n\"\r\nb NOOP\r\n", "ERR a 0 Invalid escape in a quoted string\nDONE b NOOP\n"},
    {"a X \"\xff\"\r\n", "ERR a 0 Quoted string is not UTF-8\n"},
    {"a X \xc3\xa9\r\n", "ERR a 0 8-bit octets outside a string\n"},
    {"a X {}\r\n", "ERR a 0 Invalid literal size\n"},
    {"a X {5 }\r\n", "ERR a 0 Invalid literal size\n"},
    {"a X {5}x\r\n", "ERR a 0 A literal's size must end the line\n"},
    {"a X {99999999999}\r\n", "ERR a 2 Literal size out of range\n"},
    {"a X {65537}\r\nb NOOP\r\n", "ERR a 2 Literal too big (at most 65536 octets)\nDONE b NOOP\n"},
    {"a X ~{1}\r\n", "ERR a 0 literal8 only in APPEND\n"},
    {"a X BODY[HEADER\r\n", "ERR a 0 Missing ']'\n"},
    {"a X b\"c\r\n", "ERR a 0 Invalid character 0x22 in an atom\n"},
    {"a X(b)\r\n", "ERR a 0 Invalid command name\n"},
};

static void
test_parser_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (parser_cases); i++) {
		const ParserCase *c = &parser_cases[i];
		g_autofree char *got = NULL;

		g_test_message ("case %u: %s", i, c->input);
		got = check_all_slicings (c->input, NULL);
		g_assert_cmpstr (got, ==, c->events);
	}
}

static void
test_parser_literal8 (void)
{
	static const char input[] = "a APPEND INBOX (\\Seen) \"07-Dec-2026 12:00:00 +0000\" ~{3}\r\nx\0y\r\n";
	static const char expected[] =
	    "LIT8 3\nDONE a APPEND A(INBOX) (A(\\Seen)) Q(26:07-Dec-2026 12:00:00 +0000) L8(3:x\0y)\n";
	ImapParserLimits limits = {0, 0, 1000};
	g_autoptr (GString) whole = check_all_slicings_len (input, sizeof input - 1, &limits);

	g_assert_cmpuint (whole->len, ==, sizeof expected - 1);
	g_assert_true (memcmp (whole->str, expected, sizeof expected - 1) == 0);
}

static void
test_parser_limits (void)
{
	ImapParserLimits limits = {64, 10, 100};
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autofree char *c = NULL;
	g_autofree char *d = NULL;
	g_autofree char *e = NULL;
	g_autofree char *long_line = NULL;
	g_autofree char *f = NULL;
	g_autofree char *g = NULL;
	g_autofree char *h = NULL;
	ImapParserLimits prelogin = {64, 10, 0};
	g_autofree char *hundred = NULL;
	g_autofree char *append3 = NULL;

	/* non-APPEND literals share max_literal */
	a = check_all_slicings ("a X {6}\r\nabcdef {4}\r\nabcd\r\n", &limits);
	g_assert_cmpstr (a, ==, "LIT 6\nLIT 4\nDONE a X L(6:abcdef) L(4:abcd)\n");
	b = check_all_slicings ("a X {6}\r\nabcdef {5}\r\nb NOOP\r\n", &limits);
	g_assert_cmpstr (b, ==, "LIT 6\nERR a 2 Literals too big (at most 10 octets in all)\nDONE b NOOP\n");
	/* APPEND gets max_append */
	c = check_all_slicings ("a APPEND INBOX {50+}\r\n01234567890123456789012345678901234567890123456789\r\n",
				&limits);
	g_assert_cmpstr (c, ==,
			 "LIT 50+\nDONE a APPEND A(INBOX) L+(50:01234567890123456789012345678901234567890123456789)\n");
	/* APPEND's literals together: the message and at most max_literal more */
	hundred = g_strnfill (100, 'x');
	append3 = g_strdup_printf ("a APPEND {10}\r\n0123456789 {100}\r\n%s {1}\r\n", hundred);
	g = check_all_slicings (append3, &limits);
	g_assert_cmpstr (g, ==, "LIT 10\nLIT 100\nERR a 2 Literals too big (at most 110 octets in all)\n");
	/* before login (no max_append) APPEND is held to max_literal in total */
	h = check_all_slicings ("a APPEND {6}\r\n012345 {6}\r\n", &prelogin);
	g_assert_cmpstr (h, ==, "LIT 6\nERR a 2 Literals too big (at most 10 octets in all)\n");
	d = check_all_slicings ("a APPEND INBOX {101}\r\n", &limits);
	g_assert_cmpstr (d, ==, "ERR a 2 Literal too big (at most 100 octets)\n");
	/* the command's text, literals excluded, is limited as a whole */
	e = check_all_slicings ("a X {10}\r\n0123456789 {0}\r\n {0}\r\n\r\n", &limits);
	g_assert_cmpstr (e, ==, "LIT 10\nLIT 0\nLIT 0\nDONE a X L(10:0123456789) L(0:) L(0:)\n");
	long_line = g_strdup_printf ("a X %s\r\nb NOOP\r\n",
				     "0123456789012345678901234567890123456789012345678901234567890123");
	f = check_all_slicings (long_line, &limits);
	g_assert_cmpstr (f, ==, "ERR a 1 Command line too long\nDONE b NOOP\n");
}

static void
test_parser_depth (void)
{
	GString *s = g_string_new ("a X ");
	g_autofree char *got = NULL;

	for (guint i = 0; i < 100; i++)
		g_string_append_c (s, '(');
	g_string_append (s, "\r\nb NOOP\r\n");
	got = run_parser (s->str, s->len, 0, NULL);
	g_assert_cmpstr (got, ==, "ERR a 0 Lists nested too deep\nDONE b NOOP\n");
	g_string_free (s, TRUE);
}

static void
test_parser_literal_state (void)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	gsize used = 0;
	g_autoptr (ImapCommand) cmd = NULL;

	g_assert_cmpint (imap_parser_feed (p, "a LOGIN {5}\r\nal", 15, &used), ==, IMAP_PARSE_LITERAL);
	g_assert_cmpuint (used, ==, 13);
	g_assert_cmpuint (imap_parser_get_literal_remaining (p), ==, 5);
	g_assert_cmpint (imap_parser_feed (p, "al", 2, &used), ==, IMAP_PARSE_NEED_MORE);
	g_assert_cmpuint (imap_parser_get_literal_remaining (p), ==, 3);
	g_assert_cmpstr (imap_parser_get_command_name (p), ==, "LOGIN");
	g_assert_cmpint (imap_parser_feed (p, "ice x\r\n", 7, &used), ==, IMAP_PARSE_DONE);
	cmd = imap_parser_take_command (p);
	g_assert_cmpstr (cmd->tag, ==, "a");
	g_assert_cmpuint (cmd->args->len, ==, 2);
	g_assert_cmpstr (imap_arg_get_astring (g_ptr_array_index (cmd->args, 0)), ==, "alice");
	g_assert_cmpstr (imap_arg_get_astring (g_ptr_array_index (cmd->args, 1)), ==, "x");
	g_assert_null (imap_arg_get_string (g_ptr_array_index (cmd->args, 1)));
}

typedef struct {
	const char *text;
	const char *ranges; /* "a-b,c-d"; NULL: invalid */
} SeqCase;

static const SeqCase seq_cases[] = {
    {"1", "1-1"},	  {"1:5", "1-5"}, {"5:1", "1-5"}, {"1,3:4,7", "1-1,3-4,7-7"},
    {"*", "*-*"},	  {"3:*", "3-*"}, {"*:3", "3-*"}, {"4294967294", "4294967294-4294967294"},
    {"4294967295", NULL}, {"0", NULL},	  {"01", NULL},	  {"", NULL},
    {"1,", NULL},	  {",1", NULL},	  {"1:", NULL},	  {"1::2", NULL},
    {"a", NULL},	  {"1 2", NULL},
};

static void
test_seqset (void)
{
	gboolean saved = TRUE;
	g_autoptr (GArray) s = NULL;
	g_autoptr (GArray) t = NULL;

	for (guint i = 0; i < G_N_ELEMENTS (seq_cases); i++) {
		g_autoptr (GArray) set = imap_seqset_parse (seq_cases[i].text, &saved);
		g_autoptr (GString) out = g_string_new (NULL);

		g_assert_false (saved);
		if (seq_cases[i].ranges == NULL) {
			g_assert_null (set);
			continue;
		}
		g_assert_nonnull (set);
		for (guint j = 0; j < set->len; j++) {
			ImapSeqRange r = g_array_index (set, ImapSeqRange, j);
			if (j > 0)
				g_string_append_c (out, ',');
			if (r.first == IMAP_SEQ_STAR)
				g_string_append (out, "*");
			else
				g_string_append_printf (out, "%u", r.first);
			g_string_append_c (out, '-');
			if (r.last == IMAP_SEQ_STAR)
				g_string_append (out, "*");
			else
				g_string_append_printf (out, "%u", r.last);
		}
		g_assert_cmpstr (out->str, ==, seq_cases[i].ranges);
	}
	g_assert_null (imap_seqset_parse ("$", &saved));
	g_assert_true (saved);

	s = imap_seqset_parse ("2:4,*", NULL);
	g_assert_false (imap_seqset_contains (s, 1, 10));
	g_assert_true (imap_seqset_contains (s, 3, 10));
	g_assert_true (imap_seqset_contains (s, 10, 10));
	g_assert_false (imap_seqset_contains (s, 9, 10));
	/* "5:*" with * = 3 is 3:5 */
	t = imap_seqset_parse ("5:*", NULL);
	g_assert_true (imap_seqset_contains (t, 3, 3));
	g_assert_true (imap_seqset_contains (t, 4, 3));
	g_assert_false (imap_seqset_contains (t, 2, 3));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/parser/table", test_parser_table);
	g_test_add_func ("/imap/parser/literal8", test_parser_literal8);
	g_test_add_func ("/imap/parser/limits", test_parser_limits);
	g_test_add_func ("/imap/parser/depth", test_parser_depth);
	g_test_add_func ("/imap/parser/literal-state", test_parser_literal_state);
	g_test_add_func ("/imap/parser/seqset", test_seqset);
	return g_test_run ();
}
