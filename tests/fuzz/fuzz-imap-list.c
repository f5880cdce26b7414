/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mailbox-level syntax of the IMAP session on arbitrary bytes: the
 * input is parsed into commands, and each LIST, LSUB, STATUS and CREATE
 * goes through its parser (LIST-EXTENDED selection and return options,
 * several patterns, RETURN (STATUS ...), CREATE (USE (...))).  The first
 * octet says rev1 or rev2.  A LIST that parses is answered over a fixed
 * mailbox tree with subscriptions, two of names without mailbox.
 * Properties: an error always has a text; every name answered matches a
 * pattern, once, in order; a name that does not exist is answered only as
 * the parent of a mailbox or with SUBSCRIBED; CHILDINFO only with
 * RECURSIVEMATCH; \Subscribed only when asked for and exactly for the
 * subscribed names; LSUB says \Noselect exactly for the names that are
 * not subscribed.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-list.h"
#include "imap-util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GPtrArray *
fuzz_tree (void)
{
	static const struct {
		const char *name;
		gboolean subscribed;
		const char *role;
	} boxes[] = {
	    {"INBOX", TRUE, "inbox"}, {"INBOX/a", FALSE, NULL},
	    {"Sent", TRUE, "sent"},   {"a/b/c", TRUE, NULL},
	    {"a/b/d", FALSE, NULL},   {"x", FALSE, NULL},
	    {"x/y", TRUE, "archive"}, {"\xc3\xa9t\xc3\xa9", TRUE, NULL},
	};
	GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_mailbox_free);

	for (guint i = 0; i < G_N_ELEMENTS (boxes); i++) {
		EpStoreMailbox *b = g_new0 (EpStoreMailbox, 1);
		b->name = g_strdup (boxes[i].name);
		b->subscribed = boxes[i].subscribed;
		b->role = g_strdup (boxes[i].role);
		g_ptr_array_add (out, b);
	}
	return out;
}

/* the tree's subscribed mailboxes, and two names without mailbox */
static const char *const subscriptions[] = {"INBOX",   "Sent", "a/b/c", "x/y", "\xc3\xa9t\xc3\xa9",
					    "a/ghost", "q/r",  NULL};

static void
fuzz_list (ImapCommand *cmd, gboolean rev2, GPtrArray *tree)
{
	gboolean lsub = strcmp (cmd->name, "LSUB") == 0;
	const char *error = NULL;
	g_autoptr (ImapListQuery) q = imap_list_query_parse (cmd->args, lsub, rev2, rev2, &error);
	g_autoptr (GPtrArray) entries = NULL;
	const char *prev = NULL;

	if (q == NULL) {
		g_assert (error != NULL && error[0] != '\0');
		return;
	}
	g_assert (q->patterns->len > 0);
	g_assert ((q->ret & IMAP_LIST_RET_STATUS) == 0 || q->status_items != NULL);
	entries = imap_list_select_subscribed (q, tree, subscriptions);
	for (guint i = 0; i < entries->len; i++) {
		const ImapListEntry *e = g_ptr_array_index (entries, i);
		g_autoptr (GString) attrs = g_string_new (NULL);
		gboolean matched = FALSE;

		for (guint k = 0; k < q->patterns->len; k++)
			matched |= imap_list_match (g_ptr_array_index (q->patterns, k), e->name);
		g_assert (matched);
		g_assert (prev == NULL || strcmp (prev, e->name) < 0);
		prev = e->name;
		g_assert (e->box != NULL || e->has_children || (q->select & IMAP_LIST_SEL_SUBSCRIBED));
		g_assert (e->subscribed == g_strv_contains (subscriptions, e->name));
		g_assert (!e->childinfo || (q->select & IMAP_LIST_SEL_RECURSIVEMATCH));
		imap_list_append_attributes (attrs, q, e, rev2);
		if (q->lsub) {
			g_assert (strstr (attrs->str, "\\Subscribed") == NULL);
			g_assert ((strstr (attrs->str, "\\Noselect") != NULL) == !e->subscribed);
			continue;
		}
		g_assert ((strstr (attrs->str, "\\Subscribed") != NULL) ==
			  (e->subscribed && (q->ret & IMAP_LIST_RET_SUBSCRIBED)));
		g_assert ((strstr (attrs->str, "\\NonExistent") != NULL || strstr (attrs->str, "\\Noselect") != NULL) ==
			  (e->box == NULL));
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autoptr (GPtrArray) tree = fuzz_tree ();
	gboolean rev2;
	gsize off = 1;

	if (size < 1)
		return 0;
	rev2 = data[0] & 1;
	while (off < size) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, (const char *)data + off, size - off, &used);

		off += used;
		if (st == IMAP_PARSE_NEED_MORE)
			break;
		if (st == IMAP_PARSE_DONE) {
			g_autoptr (ImapCommand) cmd = imap_parser_take_command (p);
			const char *error = NULL;

			if (strcmp (cmd->name, "LIST") == 0 || strcmp (cmd->name, "LSUB") == 0) {
				fuzz_list (cmd, rev2, tree);
			} else if (strcmp (cmd->name, "STATUS") == 0 && cmd->args->len == 2) {
				g_auto (GStrv) items =
				    imap_status_items_parse (g_ptr_array_index (cmd->args, 1), rev2, &error);
				g_assert (items != NULL || (error != NULL && error[0] != '\0'));
			} else if (strcmp (cmd->name, "CREATE") == 0 && cmd->args->len == 2) {
				const char *role = NULL;
				ImapCreateParams r =
				    imap_create_params_parse (g_ptr_array_index (cmd->args, 1), &role, &error);
				g_assert (r == IMAP_CREATE_PARAMS_OK || (error != NULL && error[0] != '\0'));
				g_assert (r == IMAP_CREATE_PARAMS_OK || role == NULL);
			}
		}
	}
	return 0;
}
