/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-list.h"

static ImapCommand *
parse_command (const char *line)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autofree char *text = g_strconcat (line, "\r\n", NULL);
	gsize used = 0;

	g_assert_cmpint (imap_parser_feed (p, text, strlen (text), &used), ==, IMAP_PARSE_DONE);
	return imap_parser_take_command (p);
}

/* the LIST answer of @line over @boxes, one "name attrs [C]" per line */
static char *
run_list (const char *line, GPtrArray *boxes, gboolean rev2)
{
	g_autoptr (ImapCommand) cmd = parse_command (line);
	const char *error = NULL;
	g_autoptr (ImapListQuery) q =
	    imap_list_query_parse (cmd->args, strcmp (cmd->name, "LSUB") == 0, rev2, rev2, &error);
	g_autoptr (GPtrArray) entries = NULL;
	GString *out = g_string_new (NULL);

	g_assert_nonnull (q);
	entries = imap_list_select (q, boxes);
	for (guint i = 0; i < entries->len; i++) {
		const ImapListEntry *e = g_ptr_array_index (entries, i);

		g_string_append_printf (out, "%s (", e->name);
		imap_list_append_attributes (out, q, e, rev2);
		g_string_append (out, e->childinfo ? ") C\n" : ")\n");
	}
	return g_string_free (out, FALSE);
}

static EpStoreMailbox *
box (const char *name, gboolean subscribed, const char *role)
{
	EpStoreMailbox *b = g_new0 (EpStoreMailbox, 1);

	b->name = g_strdup (name);
	b->subscribed = subscribed;
	b->role = g_strdup (role);
	return b;
}

/* RFC 5258 §5's tree, with what this store can hold: "Fruit/Peach" is
 * not a subscription of a missing mailbox but "Tofu" is a missing parent */
static GPtrArray *
tree (void)
{
	GPtrArray *boxes = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_mailbox_free);

	g_ptr_array_add (boxes, box ("Fruit", FALSE, NULL));
	g_ptr_array_add (boxes, box ("Fruit/Apple", FALSE, NULL));
	g_ptr_array_add (boxes, box ("Fruit/Banana", TRUE, NULL));
	g_ptr_array_add (boxes, box ("INBOX", TRUE, "inbox"));
	g_ptr_array_add (boxes, box ("Sent", FALSE, "sent"));
	g_ptr_array_add (boxes, box ("Tofu/Firm", TRUE, NULL));
	g_ptr_array_add (boxes, box ("Vegetable", TRUE, NULL));
	g_ptr_array_add (boxes, box ("Vegetable/Broccoli", TRUE, NULL));
	g_ptr_array_add (boxes, box ("Vegetable/Corn", FALSE, NULL));
	return boxes;
}

static void
test_select (void)
{
	g_autoptr (GPtrArray) boxes = tree ();
	static const struct {
		const char *line;
		gboolean rev2;
		const char *answer;
	} cases[] = {
	    {"A LIST \"\" \"%\"", FALSE,
	     "Fruit (\\HasChildren)\nINBOX (\\HasNoChildren)\nSent (\\HasNoChildren \\Sent)\n"
	     "Tofu (\\Noselect \\HasChildren)\nVegetable (\\HasChildren)\n"},
	    {"A LIST \"\" \"%\"", TRUE,
	     "Fruit (\\HasChildren)\nINBOX (\\HasNoChildren)\nSent (\\HasNoChildren \\Sent)\n"
	     "Tofu (\\NonExistent \\HasChildren)\nVegetable (\\HasChildren)\n"},
	    /* "*" shows Tofu/Firm itself: its parent is not needed */
	    {"A LIST \"\" \"T*\"", FALSE, "Tofu/Firm (\\HasNoChildren)\n"},
	    {"A LIST (SUBSCRIBED) \"\" \"*\"", FALSE,
	     "Fruit/Banana (\\Subscribed \\HasNoChildren)\nINBOX (\\Subscribed \\HasNoChildren)\n"
	     "Tofu/Firm (\\Subscribed \\HasNoChildren)\nVegetable (\\Subscribed \\HasChildren)\n"
	     "Vegetable/Broccoli (\\Subscribed \\HasNoChildren)\n"},
	    {"A LIST (SUBSCRIBED) \"\" \"%\"", FALSE,
	     "INBOX (\\Subscribed \\HasNoChildren)\nVegetable (\\Subscribed \\HasChildren)\n"},
	    {"A LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"", FALSE,
	     "Fruit (\\HasChildren) C\nINBOX (\\Subscribed \\HasNoChildren)\n"
	     "Tofu (\\NonExistent \\HasChildren) C\nVegetable (\\Subscribed \\HasChildren) C\n"},
	    /* a missing parent only for a descendant the pattern does not show */
	    {"A LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"T*\"", FALSE, "Tofu/Firm (\\Subscribed \\HasNoChildren)\n"},
	    /* ... and CHILDINFO only for descendants the patterns do not show */
	    {"A LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) \"\" \"Fruit*\"", FALSE,
	     "Fruit/Banana (\\Subscribed \\HasNoChildren)\n"},
	    {"A LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"Fruit\" \"Vegetable\")", FALSE,
	     "Fruit (\\HasChildren) C\nVegetable (\\Subscribed \\HasChildren) C\n"},
	    {"A LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"Fruit\" \"Fruit/Banana\")", FALSE,
	     "Fruit/Banana (\\Subscribed \\HasNoChildren)\n"},
	    {"A LIST (SPECIAL-USE) \"\" \"*\"", FALSE, "Sent (\\HasNoChildren \\Sent)\n"},
	    {"A LIST (SPECIAL-USE SUBSCRIBED) \"\" \"*\"", FALSE, ""},
	    {"A LIST \"\" (\"F*\" \"INBOX\" \"nothing\") RETURN (SUBSCRIBED CHILDREN)", FALSE,
	     "Fruit (\\HasChildren)\nFruit/Apple (\\HasNoChildren)\nFruit/Banana (\\Subscribed \\HasNoChildren)\n"
	     "INBOX (\\Subscribed \\HasNoChildren)\n"},
	    {"A LIST \"Vegetable/\" \"%\" RETURN ()", FALSE,
	     "Vegetable/Broccoli (\\HasNoChildren)\nVegetable/Corn (\\HasNoChildren)\n"},
	    {"A LIST () \"\" \"inbox\" RETURN (SPECIAL-USE STATUS (MESSAGES))", FALSE, "INBOX (\\HasNoChildren)\n"},
	    /* LSUB: "%" shows the parents of subscribed mailboxes as \Noselect (RFC 3501 §6.3.9) */
	    {"A LSUB \"\" \"%\"", FALSE,
	     "Fruit (\\Noselect \\HasChildren)\nINBOX (\\HasNoChildren)\nTofu (\\Noselect \\HasChildren)\n"
	     "Vegetable (\\HasChildren)\n"},
	    {"A LSUB \"\" \"*\"", TRUE,
	     "Fruit/Banana (\\HasNoChildren)\nINBOX (\\HasNoChildren)\nTofu/Firm (\\HasNoChildren)\n"
	     "Vegetable (\\HasChildren)\nVegetable/Broccoli (\\HasNoChildren)\n"},
	    {"A LSUB \"Vegetable/\" \"%\"", FALSE, "Vegetable/Broccoli (\\HasNoChildren)\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *answer = run_list (cases[i].line, boxes, cases[i].rev2);
		g_assert_cmpstr (answer, ==, cases[i].answer);
	}
}

static void
test_parse (void)
{
	static const struct {
		const char *line;
		const char *error; /* NULL: valid */
	} cases[] = {
	    {"A LIST \"\" \"*\"", NULL},
	    {"A LIST (subscribed recursivematch) \"\" \"*\" return (children status (messages size deleted-storage))",
	     NULL},
	    {"A LIST () \"\" ()", "Empty list of patterns"},
	    {"A LIST (RECURSIVEMATCH) \"\" \"*\"", "RECURSIVEMATCH needs SUBSCRIBED"},
	    {"A LIST (REMOTE RECURSIVEMATCH) \"\" \"*\"", "RECURSIVEMATCH needs SUBSCRIBED"},
	    {"A LIST (FOO) \"\" \"*\"", "Unknown LIST selection option"},
	    {"A LIST (\"SUBSCRIBED\") \"\" \"*\"", "LIST selection options are atoms"},
	    {"A LIST \"\" \"*\" RETURN (FOO)", "Unknown LIST return option"},
	    {"A LIST \"\" \"*\" RETURN CHILDREN", "RETURN takes one list of options"},
	    {"A LIST \"\" \"*\" RETURN", "RETURN takes one list of options"},
	    {"A LIST \"\" \"*\" RETURN () ()", "RETURN takes one list of options"},
	    {"A LIST \"\" \"*\" FOO ()", "Expected RETURN after the mailbox pattern"},
	    {"A LIST \"\" \"*\" RETURN (STATUS)", "STATUS takes a list of items"},
	    {"A LIST \"\" \"*\" RETURN (STATUS ())", "STATUS takes a list of items"},
	    {"A LIST \"\" \"*\" RETURN (STATUS (MESSAGES) STATUS (SIZE))", "STATUS given twice"},
	    {"A LIST \"\" \"*\" RETURN (STATUS (FOO))", "Unknown STATUS item"},
	    {"A LIST \"\" (\"a\" (\"b\"))", "Invalid mailbox pattern"},
	    {"A LIST (SUBSCRIBED)", "LIST takes a reference and a mailbox pattern"},
	    {"A LIST () \"\"", "LIST takes a reference and a mailbox pattern"},
	    {"A LIST (\"\") \"\" \"*\"", "LIST selection options are atoms"},
	    {"A LIST \"\" \"&Jjo!\"", "Invalid mailbox pattern"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = parse_command (cases[i].line);
		const char *error = NULL;
		g_autoptr (ImapListQuery) q = imap_list_query_parse (cmd->args, FALSE, FALSE, FALSE, &error);

		if (cases[i].error == NULL) {
			g_assert_nonnull (q);
		} else {
			g_assert_null (q);
			g_assert_cmpstr (error, ==, cases[i].error);
		}
	}
	/* LSUB takes the basic form only; RECENT is rev1 only */
	{
		g_autoptr (ImapCommand) cmd = parse_command ("A LSUB \"\" (\"*\")");
		const char *error = NULL;
		g_autoptr (ImapListQuery) q = imap_list_query_parse (cmd->args, TRUE, FALSE, FALSE, &error);
		g_assert_null (q);
		g_assert_cmpstr (error, ==, "LSUB takes one pattern");
	}
	{
		g_autoptr (ImapCommand) cmd = parse_command ("A STATUS x (MESSAGES RECENT)");
		const char *error = NULL;
		g_auto (GStrv) items = imap_status_items_parse (g_ptr_array_index (cmd->args, 1), FALSE, &error);
		g_auto (GStrv) items2 = imap_status_items_parse (g_ptr_array_index (cmd->args, 1), TRUE, &error);
		g_assert_cmpuint (g_strv_length (items), ==, 2);
		g_assert_null (items2);
	}
	/* the delimiter query */
	{
		g_autoptr (ImapCommand) cmd = parse_command ("A LIST \"x/\" \"\"");
		const char *error = NULL;
		g_autoptr (ImapListQuery) q = imap_list_query_parse (cmd->args, FALSE, TRUE, TRUE, &error);
		g_assert_true (q->delimiter);
	}
}

static void
test_create_params (void)
{
	static const struct {
		const char *line;
		ImapCreateParams result;
		const char *role;
	} cases[] = {
	    {"A CREATE x (USE (\\Sent))", IMAP_CREATE_PARAMS_OK, "sent"},
	    {"A CREATE x (use (\\archive))", IMAP_CREATE_PARAMS_OK, "archive"},
	    {"A CREATE x (USE ())", IMAP_CREATE_PARAMS_OK, NULL},
	    {"A CREATE x ()", IMAP_CREATE_PARAMS_OK, NULL},
	    {"A CREATE x (USE (\\Junk \\Junk))", IMAP_CREATE_PARAMS_OK, "junk"},
	    {"A CREATE x (USE (\\All))", IMAP_CREATE_PARAMS_USEATTR, NULL},
	    {"A CREATE x (USE (\\Flagged))", IMAP_CREATE_PARAMS_USEATTR, NULL},
	    {"A CREATE x (USE (\\Sent \\Trash))", IMAP_CREATE_PARAMS_USEATTR, NULL},
	    {"A CREATE x (USE (Sent))", IMAP_CREATE_PARAMS_BAD, NULL},
	    {"A CREATE x (USE \\Sent)", IMAP_CREATE_PARAMS_BAD, NULL},
	    {"A CREATE x (USE)", IMAP_CREATE_PARAMS_BAD, NULL},
	    {"A CREATE x (USE (\\Sent) USE (\\Sent))", IMAP_CREATE_PARAMS_BAD, NULL},
	    {"A CREATE x (FOO (\\Sent))", IMAP_CREATE_PARAMS_BAD, NULL},
	    {"A CREATE x USE", IMAP_CREATE_PARAMS_BAD, NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = parse_command (cases[i].line);
		const char *role = "unset", *error = NULL;
		ImapCreateParams r = imap_create_params_parse (g_ptr_array_index (cmd->args, 1), &role, &error);

		g_assert_cmpint (r, ==, cases[i].result);
		if (r == IMAP_CREATE_PARAMS_OK)
			g_assert_cmpstr (role, ==, cases[i].role);
		else
			g_assert_nonnull (error);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/list/select", test_select);
	g_test_add_func ("/imap/list/parse", test_parse);
	g_test_add_func ("/imap/list/create-params", test_create_params);
	return g_test_run ();
}
