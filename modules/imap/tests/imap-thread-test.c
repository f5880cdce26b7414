/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-thread.h"

/* one message of a case: sequence number i + 1, UID (i + 1) * 10 */
typedef struct {
	const char *subject;
	int minute; /* Date: 7 Dec 2026 10:<minute> +0000; -1: no Date: */
	const char *id;
	const char *references;
	const char *in_reply_to;
} TestMsg;

#define TEST_MAX_MSGS 8

typedef struct {
	const char *name;
	TestMsg msgs[TEST_MAX_MSGS];
	const char *orderedsubject;
	const char *references;
} TestCase;

static GPtrArray *
test_messages (const TestMsg *msgs)
{
	GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_sort_message_free);

	for (guint i = 0; i < TEST_MAX_MSGS && msgs[i].subject != NULL; i++) {
		g_autoptr (GString) h = g_string_new (NULL);

		g_string_append_printf (h, "Subject: %s\r\n", msgs[i].subject);
		if (msgs[i].minute >= 0)
			g_string_append_printf (h, "Date: Mon, 7 Dec 2026 10:%02d:00 +0000\r\n", msgs[i].minute);
		if (msgs[i].id != NULL)
			g_string_append_printf (h, "Message-ID: %s\r\n", msgs[i].id);
		if (msgs[i].references != NULL)
			g_string_append_printf (h, "References: %s\r\n", msgs[i].references);
		if (msgs[i].in_reply_to != NULL)
			g_string_append_printf (h, "In-Reply-To: %s\r\n", msgs[i].in_reply_to);
		g_string_append (h, "\r\n");
		/* the internal date counts only for a message without Date: */
		g_ptr_array_add (
		    out, imap_sort_message_new (i + 1, (i + 1) * 10, 1796637600 + 3600 + i, 100, h->str, h->len));
	}
	return out;
}

/* every message of @msgs appears exactly once in the answer */
static void
test_check_once (const char *answer, GPtrArray *msgs)
{
	g_autofree guint *seen = g_new0 (guint, msgs->len + 1);
	const char *p = answer + strlen ("THREAD");
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			g_assert_cmpint (--depth, >=, 0);
		else if (g_ascii_isdigit (*p)) {
			guint64 n = g_ascii_strtoull (p, (char **)&p, 10);
			p--;
			g_assert_cmpuint (n, >=, 1);
			g_assert_cmpuint (n, <=, msgs->len);
			seen[n]++;
		}
	}
	g_assert_cmpint (depth, ==, 0);
	for (guint i = 1; i <= msgs->len; i++)
		g_assert_cmpuint (seen[i], ==, 1);
}

static const TestCase test_cases[] = {
    {"empty", {{NULL}}, "THREAD", "THREAD"},
    {"one", {{"Hello", 0}}, "THREAD (1)", "THREAD (1)"},
    /* REFERENCES (1): References make a chain */
    {"chain",
     {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", "<a@x>"}, {"c", 2, "<c@x>", "<a@x> <b@x>"}},
     "THREAD (1)(2)(3)",
     "THREAD (1 2 3)"},
    /* siblings under one parent, ordered by sent date, not sequence */
    {"siblings",
     {{"a", 0, "<a@x>"}, {"b", 5, "<b@x>", "<a@x>"}, {"c", 2, "<c@x>", "<a@x>"}},
     "THREAD (1)(3)(2)",
     "THREAD (1 (3)(2))"},
    /* (1B) In-Reply-To when there is no References */
    {"in-reply-to", {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", NULL, "<a@x> <zz@x>"}}, "THREAD (1)(2)", "THREAD (1 2)"},
    /* References win over In-Reply-To */
    {"references-first", {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", "<gone@x>", "<a@x>"}}, "THREAD (1)(2)", "THREAD (1)(2)"},
    /* (1A) a missing message is a dummy; (4) a dummy at the root with two
     * children stays */
    {"dummy-root", {{"a", 0, "<a@x>", "<gone@x>"}, {"b", 1, "<b@x>", "<gone@x>"}}, "THREAD (1)(2)", "THREAD ((1)(2))"},
    /* (4) a dummy inside a thread gives its place to its children */
    {"dummy-inside",
     {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", "<a@x> <gone@x>"}, {"c", 2, "<c@x>", "<a@x> <gone@x>"}},
     "THREAD (1)(2)(3)",
     "THREAD (1 (2)(3))"},
    /* (1) a duplicate Message-ID is the first message's only */
    {"duplicate-id",
     {{"a", 0, "<a@x>"}, {"b", 1, "<a@x>"}, {"c", 2, "<c@x>", "<a@x>"}},
     "THREAD (1)(2)(3)",
     "THREAD (1 3)(2)"},
    /* no Message-ID at all, or an invalid one */
    {"no-id",
     {{"a", 0, NULL}, {"b", 1, "<nonsense>"}, {"c", 2, "<c@x>", "<nonsense>"}},
     "THREAD (1)(2)(3)",
     "THREAD (1)(2)(3)"},
    /* (1A/1B) links that would close a loop are not made */
    {"loop", {{"a", 0, "<a@x>", "<b@x>"}, {"b", 1, "<b@x>", "<a@x>"}}, "THREAD (1)(2)", "THREAD (2 1)"},
    {"self-reference", {{"a", 0, "<a@x>", "<a@x>"}}, "THREAD (1)", "THREAD (1)"},
    /* (1B) a later, longer References moves a message to its real parent */
    {"truncated-references",
     {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", "<a@x>"}, {"c", 2, "<c@x>", "<b@x>"}, {"d", 3, "<d@x>", "<a@x> <c@x>"}},
     "THREAD (1)(2)(3)(4)",
     "THREAD (1 2 3 4)"},
    /* (1B) a message's own References win over a link made by another's */
    {"reparent", {{"x", 0, "<x@x>", "<a@x> <c@x>"}, {"c", 1, "<c@x>", "<b@x>"}}, "THREAD (1)(2)", "THREAD (2 1)"},
    /* (6) a reply joins the thread of its subject as a child */
    {"subject-reply", {{"Hello", 0, "<a@x>"}, {"Re: hello", 1, "<b@x>"}}, "THREAD (1 2)", "THREAD (1 2)"},
    /* (6) two non-replies (or two replies) of one subject: a dummy parent */
    {"subject-two",
     {{"Hello", 0, "<a@x>"}, {"[list] HELLO", 1, "<b@x>"}, {"Re: x", 2, "<c@x>"}, {"Fwd: x", 3, "<d@x>"}},
     "THREAD (1 2)(3 4)",
     "THREAD ((1)(2))((3)(4))"},
    /* (6) the non-reply is the table's even when it is younger */
    {"subject-younger-original", {{"Re: Hello", 0, "<a@x>"}, {"Hello", 1, "<b@x>"}}, "THREAD (1 2)", "THREAD (2 1)"},
    /* (6) a dummy of the subject takes the others */
    {"subject-dummy",
     {{"Topic", 0, "<a@x>", "<gone@x>"}, {"Re: Topic", 1, "<b@x>", "<gone@x>"}, {"topic", 2, "<c@x>"}},
     "THREAD (1 (2)(3))",
     "THREAD ((1)(2)(3))"},
    /* (6) empty subjects are never gathered */
    {"subject-empty", {{"", 0, "<a@x>"}, {"Re:", 1, "<b@x>"}}, "THREAD (1 2)", "THREAD (1)(2)"},
    /* (5)(7) by sent date, a missing Date: being the internal date (later) */
    {"dates",
     {{"a", -1, "<a@x>"}, {"b", 30, "<b@x>"}, {"c", 10, "<c@x>", "<b@x>"}, {"d", 5, "<d@x>", "<b@x>"}},
     "THREAD (4)(3)(2)(1)",
     "THREAD (2 (4)(3))(1)"},
    /* ORDEREDSUBJECT: no grandchildren; threads by their first message */
    {"orderedsubject",
     {{"Hello", 20, "<a@x>"},
      {"Re: hello", 21, "<b@x>", "<a@x>"},
      {"Other", 5, "<c@x>"},
      {"HELLO", 22, "<d@x>", "<b@x>"}},
     "THREAD (3)(1 (2)(4))",
     "THREAD (3)(1 2 4)"},
};

static void
test_threads (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (test_cases); i++) {
		g_autoptr (GPtrArray) msgs = test_messages (test_cases[i].msgs);

		g_test_message ("%s", test_cases[i].name);
		/* the input's order does not matter: as given, then reversed */
		for (guint round = 0; round < 2; round++) {
			g_autoptr (ImapThreadTree) os = imap_thread_build (msgs, IMAP_THREAD_ORDEREDSUBJECT);
			g_autoptr (ImapThreadTree) refs = imap_thread_build (msgs, IMAP_THREAD_REFERENCES);
			g_autofree char *a = imap_thread_format (os, FALSE);
			g_autofree char *b = imap_thread_format (refs, FALSE);

			g_assert_cmpstr (a, ==, test_cases[i].orderedsubject);
			g_assert_cmpstr (b, ==, test_cases[i].references);
			test_check_once (a, msgs);
			test_check_once (b, msgs);
			for (guint x = 0, y = msgs->len > 0 ? msgs->len - 1 : 0; x < y; x++, y--) {
				gpointer t = msgs->pdata[x];
				msgs->pdata[x] = msgs->pdata[y];
				msgs->pdata[y] = t;
			}
		}
	}
}

/* UIDs rather than sequence numbers */
static void
test_uid (void)
{
	static const TestMsg msgs[TEST_MAX_MSGS] = {{"a", 0, "<a@x>"}, {"b", 1, "<b@x>", "<a@x>"}, {"c", 2, "<c@x>"}};
	g_autoptr (GPtrArray) list = test_messages (msgs);
	g_autoptr (ImapThreadTree) refs = imap_thread_build (list, IMAP_THREAD_REFERENCES);
	g_autofree char *b = imap_thread_format (refs, TRUE);
	ImapThreadAlgorithm alg;

	g_assert_cmpstr (b, ==, "THREAD (10 20)(30)");
	g_assert_true (imap_thread_parse_algorithm ("references", &alg));
	g_assert_cmpint (alg, ==, IMAP_THREAD_REFERENCES);
	g_assert_true (imap_thread_parse_algorithm ("OrderedSubject", &alg));
	g_assert_cmpint (alg, ==, IMAP_THREAD_ORDEREDSUBJECT);
	g_assert_false (imap_thread_parse_algorithm ("REFS", &alg));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/thread/cases", test_threads);
	g_test_add_func ("/imap/thread/uid", test_uid);
	return g_test_run ();
}
