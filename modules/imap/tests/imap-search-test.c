/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-parser.h"
#include "imap-search.h"

/* the command "t SEARCH <program>" through the real parser */
static ImapCommand *
test_command (const char *program)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autofree char *line = g_strdup_printf ("t SEARCH %s\r\n", program);
	gsize off = 0, len = strlen (line);

	for (;;) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, line + off, len - off, &used);

		off += used;
		if (st == IMAP_PARSE_DONE)
			return imap_parser_take_command (p);
		g_assert_cmpint (st, ==, IMAP_PARSE_LITERAL);
	}
}

static void
test_render (GString *out, const ImapSearchKey *k)
{
	static const char *const names[] = {"AND",	  "OR",	    "NOT",	 "ALL",	     "NONE",	"FLAG",
					    "KEYWORD",	  "HEADER", "TEXT",	 "BEFORE",   "ON",	"SINCE",
					    "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER",   "SMALLER", "SEQSET",
					    "UIDSET",	  "MODSEQ", "EMAILID",	 "THREADID", "SAVED",	"RECENT"};

	g_string_append_printf (out, "(%s", names[k->type]);
	switch (k->type) {
	case IMAP_SEARCH_FLAG:
		g_string_append_printf (out, " %d %d", k->flag, k->set);
		break;
	case IMAP_SEARCH_RECENT:
		g_string_append_printf (out, " %d", k->set);
		break;
	case IMAP_SEARCH_KEYWORD:
		g_string_append_printf (out, " %s %d", k->str, k->set);
		break;
	case IMAP_SEARCH_HEADER:
		g_string_append_printf (out, " %s \"%s\"", k->field, k->str);
		break;
	case IMAP_SEARCH_TEXT:
		g_string_append_printf (out, " %s \"%s\"", k->body_only ? "body" : "text", k->str);
		break;
	case IMAP_SEARCH_EMAILID:
	case IMAP_SEARCH_THREADID:
		g_string_append_printf (out, " %s", k->str);
		break;
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER:
		g_string_append_printf (out, " %" G_GUINT64_FORMAT, k->size);
		break;
	case IMAP_SEARCH_MODSEQ:
		g_string_append_printf (out, " %" G_GUINT64_FORMAT, k->modseq);
		break;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UIDSET:
		for (guint i = 0; i < k->seqset->len; i++) {
			ImapSeqRange r = g_array_index (k->seqset, ImapSeqRange, i);
			g_string_append_printf (out, " %u-%u", r.first, r.last);
		}
		break;
	default:
		if (k->type >= IMAP_SEARCH_BEFORE && k->type <= IMAP_SEARCH_SENTSINCE)
			g_string_append_printf (out, " %u", k->day);
		break;
	}
	for (guint i = 0; k->children != NULL && i < k->children->len; i++) {
		g_string_append_c (out, ' ');
		test_render (out, g_ptr_array_index (k->children, i));
	}
	g_string_append_c (out, ')');
}

static void
test_parse (void)
{
	/* 1-Feb-1994 is julian day 727960 */
	static const struct {
		const char *program;
		const char *tree;
		gboolean need_header;
		guint n_text;
	} cases[] = {
	    {"ALL", "(AND (ALL))", FALSE, 0},
	    {"seen unflagged", "(AND (FLAG 1 1) (FLAG 4 0))", FALSE, 0},
	    {"OLD NEW RECENT", "(AND (RECENT 0) (AND (RECENT 1) (FLAG 1 0)) (RECENT 1))", FALSE, 0},
	    {"KEYWORD $Junk UNKEYWORD work", "(AND (KEYWORD $Junk 1) (KEYWORD work 0))", FALSE, 0},
	    {"FROM \"Alice\" SUBJECT {3}\r\nB\xc3\xa9", "(AND (HEADER From \"alice\") (HEADER Subject \"b\xc3\xa9\"))",
	     TRUE, 0},
	    {"HEADER X-Spam \"\"", "(AND (HEADER X-Spam \"\"))", TRUE, 0},
	    {"BODY budget TEXT \"Hello World\"", "(AND (TEXT body \"budget\") (TEXT text \"Hello World\"))", FALSE, 2},
	    {"SINCE 1-Feb-1994 BEFORE \"01-feb-1994\"", "(AND (SINCE 727960) (BEFORE 727960))", FALSE, 0},
	    {"SENTON 1-Feb-1994", "(AND (SENTON 727960))", TRUE, 0},
	    {"LARGER 100 SMALLER 0", "(AND (LARGER 100) (SMALLER 0))", FALSE, 0},
	    {"1:3,5 UID 7:*", "(AND (SEQSET 1-3 5-5) (UIDSET 7-4294967295))", FALSE, 0},
	    {"NOT OR SEEN (DELETED FLAGGED)", "(AND (NOT (OR (FLAG 1 1) (AND (FLAG 8 1) (FLAG 4 1)))))", FALSE, 0},
	    {"OR OR SEEN DRAFT NOT ANSWERED", "(AND (OR (OR (FLAG 1 1) (FLAG 16 1)) (NOT (FLAG 2 1))))", FALSE, 0},
	    {"BODY \"\" TEXT \"\"", "(AND (ALL) (ALL))", FALSE, 0},
	    {"CHARSET UTF-8 ALL", "(AND (ALL))", FALSE, 0},
	    {"charset us-ascii ALL", "(AND (ALL))", FALSE, 0},
	    {"RETURN (MIN COUNT) ALL", "(AND (ALL))", FALSE, 0},
	    {"RETURN () CHARSET UTF-8 ALL", "(AND (ALL))", FALSE, 0},
	    {"MODSEQ 0", "(AND (MODSEQ 0))", FALSE, 0},
	    {"modseq 9223372036854775807 SEEN", "(AND (MODSEQ 9223372036854775807) (FLAG 1 1))", FALSE, 0},
	    {"MODSEQ \"/flags/\\\\draft\" all 620162338", "(AND (MODSEQ 620162338))", FALSE, 0},
	    {"NOT MODSEQ \"/flags/$Junk\" PRIV 7", "(AND (NOT (MODSEQ 7)))", FALSE, 0},
	    {"EMAILID M1a threadid \"T_x-9\"", "(AND (EMAILID M1a) (THREADID T_x-9))", FALSE, 0},
	    {"NOT EMAILID {3}\r\nM2b", "(AND (NOT (EMAILID M2b)))", FALSE, 0},
	    {"$ UID $ NOT $", "(AND (SAVED) (SAVED) (NOT (SAVED)))", FALSE, 0},
	    {"RETURN (SAVE) ALL", "(AND (ALL))", FALSE, 0},
	};
	static const struct {
		const char *program;
		ImapSearchError kind;
	} bad[] = {
	    {"FOO", IMAP_SEARCH_ERROR_SYNTAX},
	    {"FROM", IMAP_SEARCH_ERROR_SYNTAX},
	    {"NOT", IMAP_SEARCH_ERROR_SYNTAX},
	    {"OR SEEN", IMAP_SEARCH_ERROR_SYNTAX},
	    {"()", IMAP_SEARCH_ERROR_SYNTAX},
	    {"SINCE 31-Feb-2020", IMAP_SEARCH_ERROR_SYNTAX},
	    {"SINCE 1-Foo-2020", IMAP_SEARCH_ERROR_SYNTAX},
	    {"SINCE 1-Feb-20", IMAP_SEARCH_ERROR_SYNTAX},
	    {"LARGER x", IMAP_SEARCH_ERROR_SYNTAX},
	    {"LARGER 99999999999999999999999", IMAP_SEARCH_ERROR_SYNTAX},
	    {"UID x", IMAP_SEARCH_ERROR_SYNTAX},
	    {"KEYWORD \\Seen", IMAP_SEARCH_ERROR_SYNTAX},
	    {"HEADER \"a:b\" x", IMAP_SEARCH_ERROR_SYNTAX},
	    {"CHARSET", IMAP_SEARCH_ERROR_SYNTAX},
	    {"CHARSET UTF-8", IMAP_SEARCH_ERROR_SYNTAX},
	    {"CHARSET ISO-8859-1 ALL", IMAP_SEARCH_ERROR_BADCHARSET},
	    {"CHARSET KOI8-R FROM x", IMAP_SEARCH_ERROR_BADCHARSET},
	    {"RETURN (FOO) ALL", IMAP_SEARCH_ERROR_SYNTAX},
	    {"RETURN MIN ALL", IMAP_SEARCH_ERROR_SYNTAX},
	    {"RETURN (SAVE MAX COUNT FOO) ALL", IMAP_SEARCH_ERROR_SYNTAX},
	    {"$,1", IMAP_SEARCH_ERROR_SYNTAX},
	    {"UID 1:$", IMAP_SEARCH_ERROR_SYNTAX},
	    {"0", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ x", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ -1", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ 01", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ 9223372036854775808", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ \"/flags/\\\\seen\" mine 5", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ \"/other/x\" all 5", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ \"/flags/\" all 5", IMAP_SEARCH_ERROR_SYNTAX},
	    {"MODSEQ \"/flags/x\" all", IMAP_SEARCH_ERROR_SYNTAX},
	    {"EMAILID", IMAP_SEARCH_ERROR_SYNTAX},
	    {"EMAILID \"\"", IMAP_SEARCH_ERROR_SYNTAX},
	    {"EMAILID \"M 1\"", IMAP_SEARCH_ERROR_SYNTAX},
	    {"THREADID T.1", IMAP_SEARCH_ERROR_SYNTAX},
	    {"THREADID {4}\r\nT\xc3\xa9\x31", IMAP_SEARCH_ERROR_SYNTAX},
	    {"THREADID (T1)", IMAP_SEARCH_ERROR_SYNTAX},
	    {"EMAILID "
	     "M123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	     "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	     "01234567890123456789012345678901234567890123456789012345",
	     IMAP_SEARCH_ERROR_SYNTAX},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].program);
		ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);
		g_autoptr (GString) tree = g_string_new (NULL);

		g_test_message ("%s", cases[i].program);
		g_assert_nonnull (prog);
		test_render (tree, prog->root);
		g_assert_cmpstr (tree->str, ==, cases[i].tree);
		g_assert_cmpint (prog->need_header, ==, cases[i].need_header);
		g_assert_cmpuint (prog->text_keys->len, ==, cases[i].n_text);
	}
	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr (ImapCommand) cmd = test_command (bad[i].program);
		ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);

		g_test_message ("%s", bad[i].program);
		g_assert_null (prog);
		g_assert_cmpint (kind, ==, bad[i].kind);
		g_assert_nonnull (text);
		g_assert_cmpuint (strlen (text), >, 0);
	}
}

static void
test_returns (void)
{
	static const struct {
		const char *program;
		gboolean has_return;
		guint returns;
	} cases[] = {
	    {"ALL", FALSE, IMAP_SEARCH_RETURN_ALL},
	    {"RETURN () ALL", TRUE, IMAP_SEARCH_RETURN_ALL},
	    {"RETURN (min MAX) ALL", TRUE, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX},
	    {"RETURN (COUNT ALL) ALL", TRUE, IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL},
	    {"RETURN (SAVE) ALL", TRUE, IMAP_SEARCH_RETURN_SAVE},
	    {"RETURN (SAVE MIN) ALL", TRUE, IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].program);
		ImapSearchError kind;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);

		g_assert_nonnull (prog);
		g_assert_cmpint (prog->has_return, ==, cases[i].has_return);
		g_assert_cmpuint (prog->returns, ==, cases[i].returns);
	}
}

/* five messages, UIDs 10 20 30 40 50 */
static const struct {
	EpStoreFlags flags;
	const char *keywords;
	gint64 internal_date;
	guint64 size;
	const char *message;
} test_messages[] = {
    {EP_STORE_FLAG_SEEN, "$Junk", 760060800 /* 1994-02-01 00:00 UTC */, 100,
     "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Budget 2026\r\n"
     "Date: Tue, 1 Feb 1994 23:59:00 -0800\r\n\r\nFrom: not a header\r\n"},
    {EP_STORE_FLAG_SEEN | EP_STORE_FLAG_FLAGGED, NULL, 760060800 - 1, 2000,
     "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\nCc: carol@example.org\r\nSubject: =?UTF-8?B?"
     "R3LDvMOfZQ==?=\r\nDate: 31 Jan 94 10:00 +0000\r\n\r\nbody\r\n"},
    {EP_STORE_FLAG_DELETED, "work", 760060800 + 86400, 3000,
     "From: bob@example.org\nSubject: re: budget\nX-Spam: yes\nDate: 2 Feb 1994 00:00 +1400\n\nbody\n"},
    {EP_STORE_FLAG_ANSWERED | EP_STORE_FLAG_DRAFT, "Work $Junk", 0, 50,
     "Subject: no date\r\nBcc: dave@example.org\r\n\r\n"},
    {EP_STORE_FLAG_NONE, NULL, 1800000000, 4000, "Subject: Folded\r\n  subject line\r\nDate: bogus\r\n\r\n"},
};

/* their EMAILID and THREADID; the fourth has no thread */
static const char *const test_object_ids[][2] = {
    {"M1", "T1"}, {"M2", "T2"}, {"M3", "T1"}, {"M4", NULL}, {"Mx", "T2"},
};

static char *
test_search (const char *program, guint32 *text_uids, guint n_text_uids)
{
	g_autoptr (ImapCommand) cmd = test_command (program);
	ImapSearchError kind;
	const char *text = NULL;
	g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);
	g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (guint32));
	g_autoptr (GArray) modseqs = g_array_new (FALSE, FALSE, sizeof (guint64));

	g_assert_nonnull (prog);
	for (guint i = 0; i < prog->text_keys->len; i++) {
		ImapSearchKey *k = g_ptr_array_index (prog->text_keys, i);
		k->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
		g_array_append_vals (k->uids, text_uids, n_text_uids);
	}
	for (guint i = 0; i < G_N_ELEMENTS (test_messages); i++) {
		g_auto (GStrv) kw =
		    test_messages[i].keywords != NULL ? g_strsplit (test_messages[i].keywords, " ", -1) : NULL;
		const char *m = test_messages[i].message;
		ImapSearchMessage msg = {
		    .seq = i + 1,
		    .uid = (i + 1) * 10,
		    .flags = test_messages[i].flags,
		    .keywords = (const char *const *)kw,
		    .internal_date = test_messages[i].internal_date,
		    .size = test_messages[i].size,
		    .modseq = (i + 1) * 100,
		    .header = prog->need_header ? m : NULL,
		    .header_len = prog->need_header ? imap_search_header_length (m, strlen (m)) : 0,
		    .email_id = test_object_ids[i][0],
		    .thread_id = test_object_ids[i][1],
		    .recent = i == 1 || i >= 3, /* \Recent: messages 2, 4 and 5 */
		};
		if (imap_search_match (prog->root, &msg, G_N_ELEMENTS (test_messages), 50)) {
			g_array_append_val (found, msg.seq);
			g_array_append_val (modseqs, msg.modseq);
		}
	}
	prog->result_modseq = imap_search_result_modseq (prog, FALSE, (const guint64 *)modseqs->data, modseqs->len);
	return imap_search_format (prog, FALSE, "t", FALSE, (const guint32 *)found->data, found->len);
}

static void
test_match (void)
{
	static const struct {
		const char *program;
		const char *result;
	} cases[] = {
	    {"ALL", "SEARCH 1 2 3 4 5"},
	    {"SEEN", "SEARCH 1 2"},
	    {"UNSEEN", "SEARCH 3 4 5"},
	    {"FLAGGED", "SEARCH 2"},
	    {"UNFLAGGED", "SEARCH 1 3 4 5"},
	    {"DELETED", "SEARCH 3"},
	    {"UNDELETED", "SEARCH 1 2 4 5"},
	    {"ANSWERED", "SEARCH 4"},
	    {"UNANSWERED", "SEARCH 1 2 3 5"},
	    {"DRAFT", "SEARCH 4"},
	    {"UNDRAFT", "SEARCH 1 2 3 5"},
	    {"RECENT", "SEARCH 2 4 5"},
	    {"NEW", "SEARCH 4 5"},
	    {"OLD", "SEARCH 1 3"},
	    {"NOT NEW", "SEARCH 1 2 3"},
	    {"OR OLD SEEN", "SEARCH 1 2 3"},
	    {"KEYWORD $junk", "SEARCH 1 4"},
	    {"KEYWORD work", "SEARCH 3 4"},
	    {"UNKEYWORD work", "SEARCH 1 2 5"},
	    {"FROM alice", "SEARCH 1"},
	    {"FROM \"EXAMPLE.ORG\"", "SEARCH 1 2 3"},
	    {"FROM {5}\r\nj\xc3\xbcrg", "SEARCH 2"},
	    {"FROM \"J\xc3\x9cRGEN\"", "SEARCH 2"},
	    {"SUBJECT budget", "SEARCH 1 3"},
	    {"SUBJECT \"gr\xc3\xbc\xc3\x9f\"", "SEARCH 2"},
	    {"SUBJECT \"subject line\"", "SEARCH 5"},
	    {"TO bob", "SEARCH 1"},
	    {"CC carol", "SEARCH 2"},
	    {"BCC dave", "SEARCH 4"},
	    {"HEADER X-Spam \"\"", "SEARCH 3"},
	    {"HEADER x-spam YES", "SEARCH 3"},
	    {"HEADER Date \"\"", "SEARCH 1 2 3 5"},
	    {"SUBJECT \"not a header\"", "SEARCH"},
	    {"FROM \"not a header\"", "SEARCH"},
	    {"ON 1-Feb-1994", "SEARCH 1"},
	    {"BEFORE 1-Feb-1994", "SEARCH 2 4"},
	    {"SINCE 1-Feb-1994", "SEARCH 1 3 5"},
	    {"SINCE 2-Feb-1994 BEFORE 1-Jan-2000", "SEARCH 3"},
	    {"SENTON 1-Feb-1994", "SEARCH 1"},
	    {"SENTON 31-Jan-1994", "SEARCH 2"},
	    {"SENTBEFORE 1-Feb-1994", "SEARCH 2"},
	    {"SENTSINCE 1-Feb-1994", "SEARCH 1 3"},
	    {"LARGER 100", "SEARCH 2 3 5"},
	    {"SMALLER 100", "SEARCH 4"},
	    {"LARGER 50 SMALLER 2001", "SEARCH 1 2"},
	    {"2:3,5", "SEARCH 2 3 5"},
	    {"*", "SEARCH 5"},
	    {"4:*", "SEARCH 4 5"},
	    {"9", "SEARCH"},
	    {"UID 20:40", "SEARCH 2 3 4"},
	    {"UID 15:25", "SEARCH 2"},
	    {"UID 60:*", "SEARCH 5"},
	    {"UID 1,50", "SEARCH 5"},
	    {"NOT SEEN", "SEARCH 3 4 5"},
	    {"NOT NOT SEEN", "SEARCH 1 2"},
	    {"OR FLAGGED DELETED", "SEARCH 2 3"},
	    {"OR (SEEN LARGER 1000) (UNSEEN SMALLER 100)", "SEARCH 2 4"},
	    {"NOT (OR FLAGGED OR DELETED DRAFT)", "SEARCH 1 5"},
	    {"OR NOT SEEN KEYWORD $Junk", "SEARCH 1 3 4 5"},
	    {"((SEEN) (NOT FLAGGED))", "SEARCH 1"},
	    {"TEXT anything", "SEARCH 2 4"},
	    {"NOT BODY anything", "SEARCH 1 3 5"},
	    {"MODSEQ 300", "SEARCH 3 4 5 (MODSEQ 500)"},
	    {"MODSEQ 301", "SEARCH 4 5 (MODSEQ 500)"},
	    {"MODSEQ 600", "SEARCH"},
	    {"NOT MODSEQ 200", "SEARCH 1 (MODSEQ 100)"},
	    {"MODSEQ 0 SEEN", "SEARCH 1 2 (MODSEQ 200)"},
	    {"OR MODSEQ 500 FLAGGED", "SEARCH 2 5 (MODSEQ 500)"},
	    {"EMAILID M3", "SEARCH 3"},
	    {"EMAILID m3", "SEARCH"},
	    {"EMAILID M", "SEARCH"},
	    {"THREADID T1", "SEARCH 1 3"},
	    {"NOT THREADID T1", "SEARCH 2 4 5"},
	    {"OR THREADID T2 EMAILID M4", "SEARCH 2 4 5"},
	    {"THREADID T2 EMAILID M2", "SEARCH 2"},
	};
	guint32 text_uids[] = {20, 40};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *got = test_search (cases[i].program, text_uids, G_N_ELEMENTS (text_uids));
		g_test_message ("%s", cases[i].program);
		g_assert_cmpstr (got, ==, cases[i].result);
	}
}

static void
test_format (void)
{
	const guint32 n[] = {1, 2, 3, 5, 7, 8, 10};
	static const struct {
		const char *program;
		gboolean esearch;
		gboolean uid;
		guint len;
		const char *answer;
	} cases[] = {
	    {"ALL", FALSE, FALSE, 7, "SEARCH 1 2 3 5 7 8 10"},
	    {"ALL", FALSE, TRUE, 0, "SEARCH"},
	    {"ALL", TRUE, FALSE, 7, "ESEARCH (TAG \"a\\\"b\") ALL 1:3,5,7:8,10"},
	    {"ALL", TRUE, TRUE, 0, "ESEARCH (TAG \"a\\\"b\") UID"},
	    {"RETURN () ALL", FALSE, TRUE, 1, "ESEARCH (TAG \"a\\\"b\") UID ALL 1"},
	    {"RETURN (MIN MAX COUNT) ALL", TRUE, FALSE, 7, "ESEARCH (TAG \"a\\\"b\") MIN 1 MAX 10 COUNT 7"},
	    {"RETURN (MIN MAX COUNT ALL) ALL", FALSE, FALSE, 0, "ESEARCH (TAG \"a\\\"b\") COUNT 0"},
	    {"RETURN (COUNT) ALL", TRUE, TRUE, 3, "ESEARCH (TAG \"a\\\"b\") UID COUNT 3"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].program);
		ImapSearchError kind;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);
		g_autofree char *got =
		    imap_search_format (prog, cases[i].esearch, "a\"b", cases[i].uid, n, cases[i].len);
		g_assert_cmpstr (got, ==, cases[i].answer);
	}
}

/* the MODSEQ of an answer: of every match, or of those MIN and MAX name */
static void
test_result_modseq (void)
{
	const guint32 n[] = {1, 2, 3};
	const guint64 modseqs[] = {5, 9, 7};
	static const struct {
		const char *program;
		gboolean esearch;
		guint len;
		const char *answer;
	} cases[] = {
	    {"MODSEQ 1", FALSE, 3, "SEARCH 1 2 3 (MODSEQ 9)"},
	    {"MODSEQ 1", FALSE, 0, "SEARCH"},
	    {"MODSEQ 1", TRUE, 3, "ESEARCH (TAG \"t\") ALL 1:3 MODSEQ 9"},
	    {"MODSEQ 1", TRUE, 0, "ESEARCH (TAG \"t\")"},
	    {"RETURN (MIN) MODSEQ 1", FALSE, 3, "ESEARCH (TAG \"t\") MIN 1 MODSEQ 5"},
	    {"RETURN (MIN MAX) MODSEQ 1", TRUE, 3, "ESEARCH (TAG \"t\") MIN 1 MAX 3 MODSEQ 7"},
	    {"RETURN (MAX) MODSEQ 1", TRUE, 2, "ESEARCH (TAG \"t\") MAX 2 MODSEQ 9"},
	    {"RETURN (COUNT) MODSEQ 1", TRUE, 3, "ESEARCH (TAG \"t\") COUNT 3 MODSEQ 9"},
	    {"RETURN (COUNT) MODSEQ 1", TRUE, 0, "ESEARCH (TAG \"t\") COUNT 0"},
	    {"RETURN (MIN) ALL", TRUE, 3, "ESEARCH (TAG \"t\") MIN 1"},
	    {"ALL", FALSE, 3, "SEARCH 1 2 3"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].program);
		ImapSearchError kind;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);
		g_autofree char *got = NULL;

		g_test_message ("%s", cases[i].program);
		prog->result_modseq = imap_search_result_modseq (prog, cases[i].esearch, modseqs, cases[i].len);
		got = imap_search_format (prog, cases[i].esearch, "t", FALSE, n, cases[i].len);
		g_assert_cmpstr (got, ==, cases[i].answer);
	}
}

static void
test_header_length (void)
{
	g_assert_cmpuint (imap_search_header_length ("A: b\r\n\r\nbody", 12), ==, 8);
	g_assert_cmpuint (imap_search_header_length ("A: b\n\nbody", 10), ==, 6);
	g_assert_cmpuint (imap_search_header_length ("A: b\r\n", 6), ==, 6);
	g_assert_cmpuint (imap_search_header_length ("", 0), ==, 0);
}

static void
test_message_text (void)
{
	static const char message[] =
	    "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\nSubject: Budget\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Gr=FC=DFe, SECRET plan\r\n"
	    "--b\r\nContent-Type: application/octet-stream\r\n\r\nhidden words\r\n--b--\r\n";
	g_autofree char *header = NULL;
	g_autofree char *body = NULL;
	static const struct {
		const char *program;
		gboolean match;
	} cases[] = {
	    {"BODY \"secret PLAN\"", TRUE},	   {"BODY budget", FALSE},	    {"TEXT budget", TRUE},
	    {"TEXT \"J\xc3\xbcrgen\"", TRUE},	   {"BODY \"plan secret\"", FALSE}, {"BODY hidden", FALSE},
	    {"BODY \"gr\xc3\xbc\xc3\x9f\"", TRUE},
	};

	imap_search_message_text (message, strlen (message), &header, &body);
	g_assert_nonnull (strstr (header, "j\xc3\xbcrgen"));
	g_assert_nonnull (strstr (body, "gr\xc3\xbcsse, secret plan"));
	g_assert_null (strstr (body, "hidden"));
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) c = test_command (cases[i].program);
		ImapSearchError kind;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (c->args, &kind, &text);
		ImapSearchKey *k = g_ptr_array_index (prog->text_keys, 0);
		guint32 uid = 7;
		ImapSearchMessage msg = {.seq = 1, .uid = 7, .header_text = header, .body_text = body};

		g_test_message ("%s", cases[i].program);
		/* the full-text index named it: the text decides */
		k->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
		g_array_append_val (k->uids, uid);
		g_assert_cmpint (imap_search_match (prog->root, &msg, 1, 7), ==, cases[i].match);
		/* it did not: no match whatever the text */
		g_array_set_size (k->uids, 0);
		g_assert_false (imap_search_match (prog->root, &msg, 1, 7));
	}
}

/* RETURN (SAVE): what is saved (RFC 5182 §2.4) and what is answered */
static void
test_save (void)
{
	static const guint32 matches[] = {3, 5, 9};
	static const struct {
		const char *program;
		const char *saved;
		const char *answer; /* NULL: none */
	} cases[] = {
	    {"RETURN (SAVE) ALL", "3 5 9", NULL},
	    {"RETURN (SAVE MIN) ALL", "3", "ESEARCH (TAG \"t\") MIN 3"},
	    {"RETURN (MAX SAVE) ALL", "9", "ESEARCH (TAG \"t\") MAX 9"},
	    {"RETURN (SAVE MIN MAX) ALL", "3 9", "ESEARCH (TAG \"t\") MIN 3 MAX 9"},
	    {"RETURN (SAVE MIN COUNT) ALL", "3 5 9", "ESEARCH (TAG \"t\") MIN 3 COUNT 3"},
	    {"RETURN (SAVE ALL) ALL", "3 5 9", "ESEARCH (TAG \"t\") ALL 3,5,9"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].program);
		ImapSearchError kind;
		const char *text = NULL;
		g_autoptr (ImapSearchProgram) prog = imap_search_parse (cmd->args, &kind, &text);
		g_autoptr (GArray) saved = NULL;
		g_autoptr (GString) got = g_string_new (NULL);
		g_autofree char *answer = NULL;

		g_assert_nonnull (prog);
		g_assert_true (imap_search_args_want_save (cmd->args));
		saved = imap_search_saved_result (prog, matches, G_N_ELEMENTS (matches));
		for (guint j = 0; j < saved->len; j++)
			g_string_append_printf (got, "%s%u", j > 0 ? " " : "", g_array_index (saved, guint32, j));
		g_assert_cmpstr (got->str, ==, cases[i].saved);
		answer = imap_search_format (prog, FALSE, "t", FALSE, matches, G_N_ELEMENTS (matches));
		g_assert_cmpstr (answer, ==, cases[i].answer);
		/* nothing matched: nothing saved, whatever the options */
		g_clear_pointer (&saved, g_array_unref);
		saved = imap_search_saved_result (prog, NULL, 0);
		g_assert_cmpuint (saved->len, ==, 0);
	}
	{
		g_autoptr (ImapCommand) cmd = test_command ("RETURN (MIN) ALL");
		g_assert_false (imap_search_args_want_save (cmd->args));
	}
	{
		/* a program that fails to parse still asked for SAVE */
		g_autoptr (ImapCommand) cmd = test_command ("RETURN (SAVE) FOO");
		g_assert_true (imap_search_args_want_save (cmd->args));
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/search/parse", test_parse);
	g_test_add_func ("/imap/search/returns", test_returns);
	g_test_add_func ("/imap/search/match", test_match);
	g_test_add_func ("/imap/search/format", test_format);
	g_test_add_func ("/imap/search/result-modseq", test_result_modseq);
	g_test_add_func ("/imap/search/save", test_save);
	g_test_add_func ("/imap/search/header-length", test_header_length);
	g_test_add_func ("/imap/search/message-text", test_message_text);
	return g_test_run ();
}
