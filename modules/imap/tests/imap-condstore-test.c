/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-condstore.h"
#include "imap-parser.h"

/* the last argument of "t X <text>" through the real parser */
static ImapCommand *
test_command (const char *text)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autofree char *line = g_strdup_printf ("t X %s\r\n", text);
	gsize used = 0;

	g_assert_cmpint (imap_parser_feed (p, line, strlen (line), &used), ==, IMAP_PARSE_DONE);
	return imap_parser_take_command (p);
}

static const ImapArg *
test_last_arg (ImapCommand *cmd)
{
	return g_ptr_array_index (cmd->args, cmd->args->len - 1);
}

static void
test_modseq (void)
{
	guint64 n = 1;

	g_assert_true (imap_modseq_parse ("0", TRUE, &n) && n == 0);
	g_assert_false (imap_modseq_parse ("0", FALSE, &n));
	g_assert_true (imap_modseq_parse ("9223372036854775807", FALSE, &n) && n == IMAP_MODSEQ_MAX);
	g_assert_false (imap_modseq_parse ("9223372036854775808", TRUE, &n));
	g_assert_false (imap_modseq_parse ("18446744073709551616", TRUE, &n));
	g_assert_false (imap_modseq_parse ("", TRUE, &n));
	g_assert_false (imap_modseq_parse (NULL, TRUE, &n));
	g_assert_false (imap_modseq_parse ("007", TRUE, &n));
	g_assert_false (imap_modseq_parse ("12a", TRUE, &n));
	g_assert_false (imap_modseq_parse ("-1", TRUE, &n));
	g_assert_true (imap_modseq_parse ("12345", FALSE, &n) && n == 12345);
}

static void
test_fetch_modifiers (void)
{
	static const struct {
		const char *text;
		gboolean ok;
		gboolean changedsince_set;
		guint64 changedsince;
		gboolean vanished;
	} cases[] = {
	    {"(CHANGEDSINCE 12345)", TRUE, TRUE, 12345, FALSE},
	    {"(changedsince 0)", TRUE, TRUE, 0, FALSE},
	    {"(CHANGEDSINCE 5 VANISHED)", TRUE, TRUE, 5, TRUE},
	    {"(VANISHED CHANGEDSINCE 5)", TRUE, TRUE, 5, TRUE},
	    {"(VANISHED)", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE)", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE x)", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE 1 CHANGEDSINCE 2)", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE 1 VANISHED VANISHED)", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE 1 FOO)", FALSE, FALSE, 0, FALSE},
	    {"()", FALSE, FALSE, 0, FALSE},
	    {"CHANGEDSINCE", FALSE, FALSE, 0, FALSE},
	    {"(CHANGEDSINCE (1))", FALSE, FALSE, 0, FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].text);
		ImapFetchModifiers mods;
		const char *error = NULL;
		gboolean ok = imap_fetch_modifiers_parse (test_last_arg (cmd), &mods, &error);

		g_test_message ("%s", cases[i].text);
		g_assert_cmpint (ok, ==, cases[i].ok);
		if (!ok) {
			g_assert_nonnull (error);
			continue;
		}
		g_assert_cmpint (mods.changedsince_set, ==, cases[i].changedsince_set);
		g_assert_cmpuint (mods.changedsince, ==, cases[i].changedsince);
		g_assert_cmpint (mods.vanished, ==, cases[i].vanished);
	}
}

static void
test_store_modifiers (void)
{
	static const struct {
		const char *text;
		gboolean ok;
		guint64 unchangedsince;
	} cases[] = {
	    {"(UNCHANGEDSINCE 320162338)", TRUE, 320162338},
	    {"(unchangedsince 0)", TRUE, 0},
	    {"(UNCHANGEDSINCE)", FALSE, 0},
	    {"(UNCHANGEDSINCE 1 UNCHANGEDSINCE 2)", FALSE, 0},
	    {"(UNCHANGEDSINCE 1 FOO)", FALSE, 0},
	    {"(FOO 1)", FALSE, 0},
	    {"()", FALSE, 0},
	    {"(UNCHANGEDSINCE 9223372036854775808)", FALSE, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].text);
		guint64 n = 99;
		const char *error = NULL;
		gboolean ok = imap_store_modifiers_parse (test_last_arg (cmd), &n, &error);

		g_test_message ("%s", cases[i].text);
		g_assert_cmpint (ok, ==, cases[i].ok);
		if (ok)
			g_assert_cmpuint (n, ==, cases[i].unchangedsince);
		else
			g_assert_nonnull (error);
	}
}

static void
test_render_set (GString *out, GArray *set)
{
	for (guint i = 0; set != NULL && i < set->len; i++) {
		ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
		g_string_append_printf (out, "%s%u-%u", i > 0 ? "," : "", r.first, r.last);
	}
}

static void
test_select_params (void)
{
	static const struct {
		const char *text;
		const char *parsed; /* NULL: BAD */
	} cases[] = {
	    {"(CONDSTORE)", "c=1 q=0"},
	    {"(QRESYNC (67890007 90060115194045000))", "c=0 q=1 v=67890007 m=90060115194045000 k= s= u="},
	    {"(QRESYNC (1 2 41,43:211,214:541))", "c=0 q=1 v=1 m=2 k=41-41,43-211,214-541 s= u="},
	    {"(QRESYNC (1 2 9,1:3,2:5))", "c=0 q=1 v=1 m=2 k=1-5,9-9 s= u="},
	    {"(QRESYNC (1 2 1:100 (1,10:11 5,20:21)))", "c=0 q=1 v=1 m=2 k=1-100 s=1-1,10-11 u=5-5,20-21"},
	    {"(QRESYNC (1 2 (3 7)) CONDSTORE)", "c=1 q=1 v=1 m=2 k= s=3-3 u=7-7"},
	    {"(condstore qresync (1 2))", "c=1 q=1 v=1 m=2 k= s= u="},
	    {"(QRESYNC (0 2))", NULL},
	    {"(QRESYNC (4294967296 2))", NULL},
	    {"(QRESYNC (1 0))", NULL},
	    {"(QRESYNC (1))", NULL},
	    {"(QRESYNC)", NULL},
	    {"(QRESYNC 1 2)", NULL},
	    {"(QRESYNC (1 2 1:*))", NULL},
	    {"(QRESYNC (1 2 $))", NULL},
	    {"(QRESYNC (1 2 1:5 (1:2 5)))", NULL},
	    {"(QRESYNC (1 2 1:5 (2,1 5,6)))", NULL},
	    {"(QRESYNC (1 2 1:5 (1,2 6,5)))", NULL},
	    {"(QRESYNC (1 2 1:5 (1 *)))", NULL},
	    {"(QRESYNC (1 2 1:5 (1)))", NULL},
	    {"(QRESYNC (1 2 1:5 (1 2) x))", NULL},
	    {"(QRESYNC (1 2 1:5 1:5))", NULL},
	    {"(CONDSTORE CONDSTORE)", NULL},
	    {"(QRESYNC (1 2) QRESYNC (1 2))", NULL},
	    {"(FOO)", NULL},
	    {"()", NULL},
	    {"CONDSTORE", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].text);
		ImapSelectParams p;
		const char *error = NULL;
		gboolean ok = imap_select_params_parse (test_last_arg (cmd), &p, &error);
		g_autoptr (GString) got = g_string_new (NULL);

		g_test_message ("%s", cases[i].text);
		g_assert_cmpint (ok, ==, cases[i].parsed != NULL);
		if (!ok) {
			g_assert_nonnull (error);
			g_assert_null (p.known_uids);
			continue;
		}
		g_string_append_printf (got, "c=%d q=%d", p.condstore, p.qresync);
		if (p.qresync) {
			g_string_append_printf (got, " v=%u m=%" G_GUINT64_FORMAT " k=", p.uidvalidity, p.modseq);
			test_render_set (got, p.known_uids);
			g_string_append (got, " s=");
			test_render_set (got, p.match_seqs);
			g_string_append (got, " u=");
			test_render_set (got, p.match_uids);
		}
		g_assert_cmpstr (got->str, ==, cases[i].parsed);
		imap_select_params_clear (&p);
	}
}

static void
test_knows (void)
{
	g_autoptr (ImapCommand) cmd = test_command ("(QRESYNC (1 2 20:30,5,7:9,31))");
	g_autoptr (ImapCommand) all = test_command ("(QRESYNC (1 2))");
	ImapSelectParams p, q;
	const char *error = NULL;
	const guint32 in[] = {5, 7, 8, 9, 20, 25, 30, 31};
	const guint32 out[] = {1, 4, 6, 10, 19, 32, G_MAXUINT32};

	g_assert_true (imap_select_params_parse (test_last_arg (cmd), &p, &error));
	g_assert_true (imap_select_params_parse (test_last_arg (all), &q, &error));
	for (guint i = 0; i < G_N_ELEMENTS (in); i++)
		g_assert_true (imap_select_params_knows (&p, in[i]));
	for (guint i = 0; i < G_N_ELEMENTS (out); i++) {
		g_assert_false (imap_select_params_knows (&p, out[i]));
		g_assert_true (imap_select_params_knows (&q, out[i]));
	}
	imap_select_params_clear (&p);
	imap_select_params_clear (&q);
}

/* RFC 7162 §3.2.5.2: the last matching pair bounds what VANISHED tells */
static void
test_known_up_to (void)
{
	/* the mailbox now: UIDs 1 3 4 8 9 12 (2, 5:7, 10:11 expunged) */
	const guint32 uids[] = {1, 3, 4, 8, 9, 12};
	static const struct {
		const char *text;
		guint32 known;
	} cases[] = {
	    {"(QRESYNC (1 2))", 0},
	    {"(QRESYNC (1 2 1:12))", 0},
	    {"(QRESYNC (1 2 1:12 (1,3 1,4)))", 4},
	    {"(QRESYNC (1 2 1:12 (1:4 1,3,4,8)))", 8},
	    {"(QRESYNC (1 2 1:12 (1:3,5 1,3,4,9)))", 9},
	    /* a pair that does not match ends the scan */
	    {"(QRESYNC (1 2 1:12 (1,2,4 1,2,8)))", 1},
	    {"(QRESYNC (1 2 1:12 (2 2)))", 0},
	    /* past the mailbox's end */
	    {"(QRESYNC (1 2 1:12 (1,7 1,20)))", 1},
	    {"(QRESYNC (1 2 1:12 (1:4294967294 1:4294967294)))", 1},
	    {"(QRESYNC (1 2 1:12 (6 12)))", 12},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = test_command (cases[i].text);
		ImapSelectParams p;
		const char *error = NULL;

		g_test_message ("%s", cases[i].text);
		g_assert_true (imap_select_params_parse (test_last_arg (cmd), &p, &error));
		g_assert_cmpuint (imap_qresync_known_up_to (&p, uids, G_N_ELEMENTS (uids)), ==, cases[i].known);
		g_assert_cmpuint (imap_qresync_known_up_to (&p, uids, 0), ==, 0);
		imap_select_params_clear (&p);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/condstore/modseq", test_modseq);
	g_test_add_func ("/imap/condstore/fetch-modifiers", test_fetch_modifiers);
	g_test_add_func ("/imap/condstore/store-modifiers", test_store_modifiers);
	g_test_add_func ("/imap/condstore/select-params", test_select_params);
	g_test_add_func ("/imap/condstore/knows", test_knows);
	g_test_add_func ("/imap/condstore/known-up-to", test_known_up_to);
	return g_test_run ();
}
