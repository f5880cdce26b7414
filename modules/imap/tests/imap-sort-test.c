/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-parser.h"
#include "imap-sort.h"

/* "t SORT <criteria>" through the real parser */
static ImapCommand *
test_command (const char *text)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autofree char *line = g_strdup_printf ("t SORT %s\r\n", text);
	gsize used = 0;

	g_assert_cmpint (imap_parser_feed (p, line, strlen (line), &used), ==, IMAP_PARSE_DONE);
	return imap_parser_take_command (p);
}

/* RFC 5256 §2.1, rule by rule */
static void
test_base_subject (void)
{
	static const struct {
		const char *subject;
		const char *base;
		gboolean reply;
	} cases[] = {
	    {"", "", FALSE},
	    {"Hello", "Hello", FALSE},
	    /* (1) RFC 2047 decoded; tabs, line breaks and runs of spaces to one space */
	    {"Hello\t \tbig   world", "Hello big world", FALSE},
	    {"=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?=",
	     "Gr\xc3\xbc\xc3\x9f"
	     "e",
	     TRUE},
	    {"=?ISO-8859-1?Q?Caf=E9?= (fwd)", "Caf\xc3\xa9", TRUE},
	    /* (2) trailers: white space and "(fwd)", repeatedly */
	    {"Hello   ", "Hello", FALSE},
	    {"Hello (fwd)", "Hello", TRUE},
	    {"Hello (FWD) (fwd)  ", "Hello", TRUE},
	    {"Hello(fwd)", "Hello", TRUE},
	    /* (3) leaders: white space, re/fw/fwd with optional blob, after blobs */
	    {"   Hello", "Hello", FALSE},
	    {"Re: Hello", "Hello", TRUE},
	    {"RE: re: Re:Hello", "Hello", TRUE},
	    {"Fw: Hello", "Hello", TRUE},
	    {"FWD: Hello", "Hello", TRUE},
	    {"Re  : Hello", "Hello", TRUE},
	    {"Re[2]: Hello", "Hello", TRUE},
	    {"Re [list]: Hello", "Hello", TRUE},
	    {"[list] Re: Hello", "Hello", TRUE},
	    {"[a][b] Fwd: Hello", "Hello", TRUE},
	    {"Regarding: Hello", "Regarding: Hello", FALSE},
	    {"Fwd Hello", "Fwd Hello", FALSE},
	    {"Re:", "", TRUE},
	    /* (4) a leading blob, unless nothing would be left */
	    {"[list] Hello", "Hello", FALSE},
	    {"[a] [b] Hello", "Hello", FALSE},
	    {"[list]", "[list]", FALSE},
	    {"[a] [b]", "[b]", FALSE},
	    {"[unclosed Hello", "[unclosed Hello", FALSE},
	    /* (5) (3) and (4) again */
	    {"[list] Hello: Re: x", "Hello: Re: x", FALSE},
	    {"Re: [list] Re: Hello", "Hello", TRUE},
	    /* (6) "[fwd:" … "]" and again from (2) */
	    {"[fwd: Hello]", "Hello", TRUE},
	    {"[Fwd: Re: Hello (fwd)]", "Hello", TRUE},
	    {"Re: [fwd: [fwd: Hello]]", "Hello", TRUE},
	    {"[fwd: Hello] tail", "tail", FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gboolean reply = !cases[i].reply;
		g_autofree char *base = imap_sort_base_subject (cases[i].subject, &reply);

		g_test_message ("%s", cases[i].subject);
		g_assert_cmpstr (base, ==, cases[i].base);
		g_assert_cmpint (reply, ==, cases[i].reply);
	}
}

static void
test_fold (void)
{
	g_autofree char *a = imap_sort_fold ("\xc3\x89"
					     "COLE"); /* ÉCOLE */
	g_autofree char *b = imap_sort_fold ("e\xcc\x81"
					     "cole"); /* e + combining acute */
	g_autofree char *c = imap_sort_fold ("\xef\xac\x81"
					     "le"); /* U+FB01 ligature fi */
	g_autofree char *d = imap_sort_fold ("Stra\xc3\x9f"
					     "e"); /* Straße */
	g_autofree char *e = imap_sort_fold ("bad \xff utf-8");

	g_assert_cmpstr (a, ==, b);
	g_assert_cmpstr (c, ==, "file");
	g_assert_cmpstr (d, ==, "strasse");
	g_assert_true (g_utf8_validate (e, -1, NULL));
}

static void
test_parse_date (void)
{
	static const struct {
		const char *value;
		gint64 expect; /* 0: not a date */
	} cases[] = {
	    {"Tue, 1 Feb 1994 23:59:00 -0800", 760175940},
	    {"1 Feb 94 10:00 +0000", 760096800},
	    {"Mon, 7 Dec 2026 10:00:00 GMT", 1796637600},
	    {"7 Dec 2026 10:00:00 EST", 1796655600},
	    {"(comment) 7 dec 2026 10:00:00 +0130 (CET)", 1796632200},
	    {"Mon,7 Dec 2026 10:00:00 +0130", 1796632200},
	    {"bogus", 0},
	    {"32 Dec 2026 10:00 +0000", 0},
	    {"29 Feb 2026 10:00 +0000", 0},
	    {"7 Dec 2026 25:00 +0000", 0},
	    {"7 Foo 2026 10:00 +0000", 0},
	    {"7 Dec 2026", 0},
	    {"7 Dec 2026 10:00 +0099", 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gint64 t = 0;
		gboolean ok = imap_sort_parse_date (cases[i].value, &t);

		g_test_message ("%s", cases[i].value);
		g_assert_cmpint (ok, ==, cases[i].expect != 0);
		if (ok)
			g_assert_cmpint (t, ==, cases[i].expect);
	}
}

static void
test_criteria (void)
{
	static const struct {
		const char *text;
		const char *expect; /* NULL: BAD */
		gboolean need_header;
	} cases[] = {
	    {"(DATE)", "DATE", TRUE},
	    {"(ARRIVAL SIZE)", "ARRIVAL SIZE", FALSE},
	    {"(reverse arrival cc from REVERSE subject to)", "-ARRIVAL CC FROM -SUBJECT TO", TRUE},
	    {"(DISPLAYFROM REVERSE DISPLAYTO)", "DISPLAYFROM -DISPLAYTO", TRUE},
	    {"()", NULL, FALSE},
	    {"(REVERSE)", NULL, FALSE},
	    {"(REVERSE REVERSE DATE)", NULL, FALSE},
	    {"(DATE REVERSE)", NULL, FALSE},
	    {"(FOO)", NULL, FALSE},
	    {"(\"DATE\")", NULL, FALSE},
	    {"((DATE))", NULL, FALSE},
	    {"DATE", NULL, FALSE},
	};
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		static const char *const keys[] = {"ARRIVAL", "CC", "DATE",	   "FROM",     "SIZE",
						   "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"};
		g_autoptr (ImapCommand) cmd = test_command (cases[i].text);
		const char *error = NULL;
		gboolean need = !cases[i].need_header;
		g_autoptr (GArray) c = imap_sort_parse_criteria (g_ptr_array_index (cmd->args, 0), &need, &error);
		g_autoptr (GString) got = g_string_new (NULL);

		g_test_message ("%s", cases[i].text);
		if (cases[i].expect == NULL) {
			g_assert_null (c);
			g_assert_nonnull (error);
			continue;
		}
		g_assert_nonnull (c);
		for (guint k = 0; k < c->len; k++) {
			ImapSortCriterion cr = g_array_index (c, ImapSortCriterion, k);
			g_string_append_printf (got, "%s%s%s", k > 0 ? " " : "", cr.reverse ? "-" : "", keys[cr.key]);
		}
		g_assert_cmpstr (got->str, ==, cases[i].expect);
		g_assert_cmpint (need, ==, cases[i].need_header);
	}
}

static void
test_message (void)
{
	const char *h = "From: =?UTF-8?Q?J=C3=BCrgen?= <Juergen.X@Example.org>, b@example.org\r\n"
			"To: undisclosed: ;, \"Carol C\" <carol@example.org>\r\n"
			"Cc: dave@example.org\r\n"
			"Subject: Re: [list] Budget\r\n"
			"Date: Mon, 7 Dec 2026 10:00:00 +0130\r\n"
			"Message-ID: <id1@example.org> <id2@example.org>\r\n"
			"References: <r1@x> (comment <bad@x>) <no-at>\r\n <r2@x>\r\n"
			"In-Reply-To: <irt@x>\r\n\r\n";
	g_autoptr (ImapSortMessage) m = imap_sort_message_new (3, 30, 1000, 77, h, strlen (h));
	const char *h2 = "Subject: x\r\nDate: bogus\r\nMessage-ID: nothing\r\nIn-Reply-To: <a@x> <b@x>\r\n\r\n";
	g_autoptr (ImapSortMessage) m2 = imap_sort_message_new (4, 40, 2000, 10, h2, strlen (h2));
	g_autoptr (ImapSortMessage) m3 = imap_sort_message_new (5, 50, 3000, 10, NULL, 0);

	g_assert_cmpuint (m->seq, ==, 3);
	g_assert_cmpuint (m->uid, ==, 30);
	g_assert_cmpint (m->arrival, ==, 1000);
	g_assert_cmpint (m->date, ==, 1796632200);
	g_assert_cmpuint (m->size, ==, 77);
	g_assert_cmpstr (m->subject, ==, "budget");
	g_assert_true (m->reply);
	g_assert_cmpstr (m->from, ==, "juergen.x");
	g_assert_cmpstr (m->display_from, ==, "ju\xcc\x88rgen"); /* folded, NFKD */
	g_assert_cmpstr (m->to, ==, "carol");
	g_assert_cmpstr (m->display_to, ==, "carol c");
	g_assert_cmpstr (m->cc, ==, "dave");
	g_assert_cmpstr (m->message_id, ==, "id1@example.org");
	g_assert_cmpuint (m->references->len, ==, 2);
	g_assert_cmpstr (g_ptr_array_index (m->references, 0), ==, "r1@x");
	g_assert_cmpstr (g_ptr_array_index (m->references, 1), ==, "r2@x");

	/* no readable date: the internal date; In-Reply-To's first msg-id */
	g_assert_cmpint (m2->date, ==, 2000);
	g_assert_null (m2->message_id);
	g_assert_false (m2->reply);
	g_assert_cmpstr (m2->from, ==, "");
	g_assert_cmpstr (m2->display_from, ==, "");
	g_assert_cmpuint (m2->references->len, ==, 1);
	g_assert_cmpstr (g_ptr_array_index (m2->references, 0), ==, "a@x");

	/* no header at all */
	g_assert_cmpint (m3->date, ==, 3000);
	g_assert_cmpstr (m3->subject, ==, "");
	g_assert_cmpuint (m3->references->len, ==, 0);
}

/* seven messages; the expected orders are sequence numbers */
static void
test_sort (void)
{
	static const struct {
		gint64 arrival;
		guint64 size;
		const char *header;
	} msgs[] = {
	    {500, 300, "From: Zed <a@x>\r\nTo: m@x\r\nSubject: beta\r\nDate: 7 Dec 2026 10:00 +0000\r\n\r\n"},
	    {400, 100,
	     "From: Amy <z@x>\r\nTo: b@x\r\nCc: c@x\r\nSubject: Re: Alpha\r\n"
	     "Date: 7 Dec 2026 12:00 +0000\r\n\r\n"},
	    {300, 200, "From: b@x\r\nSubject: [fwd: ALPHA]\r\nDate: 7 Dec 2026 09:00 -0300\r\n\r\n"},
	    {200, 100, "Subject: gamma\r\n\r\n"},
	    {100, 400, "From: B@x\r\nTo: a@x\r\nCc: a@x\r\nSubject: beta\r\nDate: 7 Dec 2026 11:00 +0000\r\n\r\n"},
	    {600, 50, "From: \"\" <c@x>\r\nTo: Ann <z@x>\r\nSubject: Beta (fwd)\r\n\r\n"},
	    {1796637600 + 1, 50, "Subject: \r\n\r\n"},
	};
	static const struct {
		const char *criteria;
		const char *expect;
	} cases[] = {
	    /* internal dates */
	    {"(ARRIVAL)", "5 4 3 2 1 6 7"},
	    {"(REVERSE ARRIVAL)", "7 6 1 2 3 4 5"},
	    /* sent dates in UTC; no Date: the internal date */
	    {"(DATE)", "4 6 1 7 5 2 3"},
	    {"(REVERSE DATE)", "2 3 5 7 1 6 4"},
	    /* ties in the mailbox's order, REVERSE or not */
	    {"(SIZE)", "6 7 2 4 3 1 5"},
	    {"(REVERSE SIZE)", "5 1 3 2 4 6 7"},
	    /* base subjects, case-insensitively; the empty one first */
	    {"(SUBJECT)", "7 2 3 1 5 6 4"},
	    {"(SUBJECT REVERSE SIZE)", "7 3 2 5 1 6 4"},
	    {"(REVERSE SUBJECT SIZE)", "4 6 1 5 2 3 7"},
	    /* local parts; no address sorts as "" first */
	    {"(FROM)", "4 7 1 3 5 6 2"},
	    {"(FROM REVERSE ARRIVAL)", "7 4 1 3 5 6 2"},
	    {"(TO)", "3 4 7 5 2 1 6"},
	    {"(CC DATE)", "4 6 1 7 3 5 2"},
	    /* RFC 5957: the display name, else the address */
	    {"(DISPLAYFROM)", "4 7 2 3 5 6 1"},
	    {"(DISPLAYTO)", "3 4 7 5 6 2 1"},
	};
	g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_sort_message_free);

	for (guint i = 0; i < G_N_ELEMENTS (msgs); i++)
		g_ptr_array_add (list, imap_sort_message_new (i + 1, (i + 1) * 10, msgs[i].arrival, msgs[i].size,
							      msgs[i].header, strlen (msgs[i].header)));
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].criteria);
		const char *error = NULL;
		gboolean need;
		g_autoptr (GArray) c = imap_sort_parse_criteria (g_ptr_array_index (cmd->args, 0), &need, &error);
		g_autoptr (GString) got = g_string_new (NULL);

		g_test_message ("%s", cases[i].criteria);
		g_assert_nonnull (c);
		/* whatever order they come in: reversed each time */
		for (guint a = 0, b = list->len - 1; a < b; a++, b--) {
			gpointer t = list->pdata[a];
			list->pdata[a] = list->pdata[b];
			list->pdata[b] = t;
		}
		imap_sort_messages (list, c);
		for (guint k = 0; k < list->len; k++)
			g_string_append_printf (got, "%s%u", k > 0 ? " " : "",
						((ImapSortMessage *)g_ptr_array_index (list, k))->seq);
		g_assert_cmpstr (got->str, ==, cases[i].expect);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/sort/base-subject", test_base_subject);
	g_test_add_func ("/imap/sort/fold", test_fold);
	g_test_add_func ("/imap/sort/parse-date", test_parse_date);
	g_test_add_func ("/imap/sort/criteria", test_criteria);
	g_test_add_func ("/imap/sort/message", test_message);
	g_test_add_func ("/imap/sort/sort", test_sort);
	return g_test_run ();
}
