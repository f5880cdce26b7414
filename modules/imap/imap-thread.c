/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §2.2).  Every walk
 * over the tree is iterative, so a thread as deep as the mailbox is long
 * costs no stack.
 */

#include "config.h"

#include <string.h>

#include "imap-thread.h"

gboolean
imap_thread_parse_algorithm (const char *name, ImapThreadAlgorithm *out)
{
	if (g_ascii_strcasecmp (name, "ORDEREDSUBJECT") == 0)
		*out = IMAP_THREAD_ORDEREDSUBJECT;
	else if (g_ascii_strcasecmp (name, "REFERENCES") == 0)
		*out = IMAP_THREAD_REFERENCES;
	else
		return FALSE;
	return TRUE;
}

static void
imap_thread_node_free (ImapThreadNode *node)
{
	g_ptr_array_unref (node->children);
	g_free (node);
}

static ImapThreadNode *
imap_thread_node_new (ImapThreadTree *tree, const ImapSortMessage *msg)
{
	ImapThreadNode *node = g_new0 (ImapThreadNode, 1);

	node->msg = msg;
	node->children = g_ptr_array_new ();
	g_ptr_array_add (tree->pool, node);
	return node;
}

void
imap_thread_tree_free (ImapThreadTree *tree)
{
	if (tree == NULL)
		return;
	g_ptr_array_unref (tree->roots);
	g_ptr_array_unref (tree->pool);
	g_free (tree);
}

static void
imap_thread_link (ImapThreadNode *parent, ImapThreadNode *child)
{
	child->parent = parent;
	g_ptr_array_add (parent->children, child);
}

static void
imap_thread_unlink (ImapThreadNode *child)
{
	if (child->parent == NULL)
		return;
	g_ptr_array_remove (child->parent->children, child);
	child->parent = NULL;
}

/* whether making @parent the parent of @child would close a loop */
static gboolean
imap_thread_would_loop (const ImapThreadNode *parent, const ImapThreadNode *child)
{
	for (const ImapThreadNode *p = parent; p != NULL; p = p->parent)
		if (p == child)
			return TRUE;
	return FALSE;
}

/* the message a node sorts by: its own, or a dummy's first child's */
static const ImapSortMessage *
imap_thread_node_key (const ImapThreadNode *node)
{
	while (node->msg == NULL && node->children->len > 0)
		node = g_ptr_array_index (node->children, 0);
	return node->msg;
}

/* by sent date, then by sequence number */
static gint
imap_thread_cmp_nodes (gconstpointer pa, gconstpointer pb)
{
	const ImapSortMessage *a = imap_thread_node_key (*(const ImapThreadNode *const *)pa);
	const ImapSortMessage *b = imap_thread_node_key (*(const ImapThreadNode *const *)pb);

	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

/* Sorts every set of siblings, then the roots.  Only roots may be dummies
 * (after pruning), and a dummy's children are messages: sorting children
 * first gives each dummy its first child, whatever the order of the pool. */
static void
imap_thread_sort_all (ImapThreadTree *tree, GPtrArray *roots)
{
	for (guint i = 0; i < tree->pool->len; i++) {
		ImapThreadNode *n = g_ptr_array_index (tree->pool, i);
		if (!n->removed && n->msg != NULL)
			g_ptr_array_sort (n->children, imap_thread_cmp_nodes);
	}
	for (guint i = 0; i < tree->pool->len; i++) {
		ImapThreadNode *n = g_ptr_array_index (tree->pool, i);
		if (!n->removed && n->msg == NULL)
			g_ptr_array_sort (n->children, imap_thread_cmp_nodes);
	}
	g_ptr_array_sort (roots, imap_thread_cmp_nodes);
}

/* a copy of @a that frees nothing */
static GPtrArray *
imap_thread_borrow (GPtrArray *a)
{
	GPtrArray *out = g_ptr_array_sized_new (a->len);

	g_ptr_array_extend (out, a, NULL, NULL);
	return out;
}

static gint
imap_thread_cmp_seq (gconstpointer pa, gconstpointer pb)
{
	const ImapSortMessage *a = *(const ImapSortMessage *const *)pa;
	const ImapSortMessage *b = *(const ImapSortMessage *const *)pb;

	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

static gint
imap_thread_cmp_subject_date (gconstpointer pa, gconstpointer pb)
{
	const ImapSortMessage *a = *(const ImapSortMessage *const *)pa;
	const ImapSortMessage *b = *(const ImapSortMessage *const *)pb;
	int r = strcmp (a->subject, b->subject);

	if (r != 0)
		return r;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

/* ---- ORDEREDSUBJECT -------------------------------------------------------------------------- */

static void
imap_thread_orderedsubject (ImapThreadTree *tree, GPtrArray *msgs)
{
	g_autoptr (GPtrArray) sorted = imap_thread_borrow (msgs);
	ImapThreadNode *root = NULL;

	/* by base subject and sent date; each run of one subject is a thread
	 * whose first message is the parent of all the others */
	g_ptr_array_sort (sorted, imap_thread_cmp_subject_date);
	for (guint i = 0; i < sorted->len; i++) {
		const ImapSortMessage *m = g_ptr_array_index (sorted, i);
		ImapThreadNode *n = imap_thread_node_new (tree, m);
		if (root != NULL && strcmp (root->msg->subject, m->subject) == 0) {
			imap_thread_link (root, n);
			continue;
		}
		root = n;
		g_ptr_array_add (tree->roots, n);
	}
	/* threads by the sent date of their first message */
	g_ptr_array_sort (tree->roots, imap_thread_cmp_nodes);
}

/* ---- REFERENCES ------------------------------------------------------------------------------ */

/* (1) links by Message-ID, References and In-Reply-To */
static void
imap_thread_link_references (ImapThreadTree *tree, GPtrArray *msgs)
{
	g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
	g_autoptr (GPtrArray) sorted = imap_thread_borrow (msgs);

	/* a duplicate Message-ID belongs to the lowest sequence number */
	g_ptr_array_sort (sorted, imap_thread_cmp_seq);
	for (guint i = 0; i < sorted->len; i++) {
		const ImapSortMessage *m = g_ptr_array_index (sorted, i);
		ImapThreadNode *c = NULL;
		ImapThreadNode *prev = NULL;

		if (m->message_id != NULL) {
			c = g_hash_table_lookup (ids, m->message_id);
			if (c != NULL && c->msg == NULL)
				c->msg = m; /* a dummy made by an earlier reference */
			else if (c != NULL)
				c = NULL; /* a duplicate: a unique id of its own */
			else
				g_hash_table_insert (ids, m->message_id, c = imap_thread_node_new (tree, m));
		}
		if (c == NULL)
			c = imap_thread_node_new (tree, m);
		/* (A) each reference the parent of the next, unless that one
		 * has a parent already or a loop would follow */
		for (guint k = 0; k < m->references->len; k++) {
			const char *id = g_ptr_array_index (m->references, k);
			ImapThreadNode *r = g_hash_table_lookup (ids, id);
			if (r == NULL)
				g_hash_table_insert (ids, (gpointer)id, r = imap_thread_node_new (tree, NULL));
			if (prev != NULL && r->parent == NULL && !imap_thread_would_loop (prev, r))
				imap_thread_link (prev, r);
			prev = r;
		}
		/* (B) the last reference is the parent of the message, whatever
		 * parent it had */
		imap_thread_unlink (c);
		if (prev != NULL && !imap_thread_would_loop (prev, c))
			imap_thread_link (prev, c);
	}
}

/* (4) dummies without children go; a dummy's children take its place,
 * except that at the root only a single child does */
static void
imap_thread_prune (ImapThreadTree *tree, GPtrArray *roots)
{
	g_autoptr (GPtrArray) stack = imap_thread_borrow (roots);
	g_autoptr (GPtrArray) kept = g_ptr_array_new ();

	/* post-order: a node's children are pruned before it looks at them */
	while (stack->len > 0) {
		ImapThreadNode *n = g_ptr_array_index (stack, stack->len - 1);
		GPtrArray *children;

		if (!n->visited) {
			n->visited = TRUE;
			for (guint i = 0; i < n->children->len; i++)
				g_ptr_array_add (stack, g_ptr_array_index (n->children, i));
			continue;
		}
		g_ptr_array_set_size (stack, stack->len - 1);
		children = g_ptr_array_new ();
		for (guint i = 0; i < n->children->len; i++) {
			ImapThreadNode *k = g_ptr_array_index (n->children, i);
			if (k->msg != NULL) {
				g_ptr_array_add (children, k);
				continue;
			}
			k->removed = TRUE;
			for (guint j = 0; j < k->children->len; j++) {
				ImapThreadNode *g = g_ptr_array_index (k->children, j);
				g->parent = n;
				g_ptr_array_add (children, g);
			}
			g_ptr_array_set_size (k->children, 0);
		}
		g_ptr_array_unref (n->children);
		n->children = children;
	}
	for (guint i = 0; i < roots->len; i++) {
		ImapThreadNode *n = g_ptr_array_index (roots, i);
		if (n->msg != NULL || n->children->len > 1) {
			g_ptr_array_add (kept, n);
			continue;
		}
		n->removed = TRUE;
		if (n->children->len == 1) {
			ImapThreadNode *only = g_ptr_array_index (n->children, 0);
			only->parent = NULL;
			g_ptr_array_add (kept, only);
			g_ptr_array_set_size (n->children, 0);
		}
	}
	g_ptr_array_set_size (roots, 0);
	g_ptr_array_extend (roots, kept, NULL, NULL);
}

static const char *
imap_thread_node_subject (const ImapThreadNode *n)
{
	const ImapSortMessage *m = imap_thread_node_key (n);

	return m != NULL ? m->subject : "";
}

/* (6) threads of the same base subject are gathered */
static void
imap_thread_merge_subjects (ImapThreadTree *tree, GPtrArray *roots)
{
	g_autoptr (GHashTable) table = g_hash_table_new (g_str_hash, g_str_equal);

	/* (A) one thread per subject: a dummy first, else a message that is
	 * not a reply */
	for (guint i = 0; i < roots->len; i++) {
		ImapThreadNode *r = g_ptr_array_index (roots, i);
		const char *subject = imap_thread_node_subject (r);
		ImapThreadNode *t;

		r->root_pos = i;
		if (*subject == '\0')
			continue;
		t = g_hash_table_lookup (table, subject);
		if (t == NULL || (t->msg != NULL && (r->msg == NULL || (t->msg->reply && !r->msg->reply))))
			g_hash_table_insert (table, (gpointer)subject, r);
	}
	/* (B) the others join it */
	for (guint i = 0; i < roots->len; i++) {
		ImapThreadNode *r = g_ptr_array_index (roots, i);
		const char *subject = imap_thread_node_subject (r);
		ImapThreadNode *t;

		if (r->removed || *subject == '\0')
			continue;
		t = g_hash_table_lookup (table, subject);
		if (t == NULL || t == r)
			continue;
		if (t->msg == NULL && r->msg == NULL) {
			for (guint k = 0; k < r->children->len; k++)
				imap_thread_link (t, g_ptr_array_index (r->children, k));
			g_ptr_array_set_size (r->children, 0);
			r->removed = TRUE;
		} else if (t->msg == NULL) {
			imap_thread_link (t, r);
			r->removed = TRUE;
		} else if (r->msg == NULL) {
			imap_thread_link (r, t);
			t->removed = TRUE;
			g_hash_table_insert (table, (gpointer)subject, r);
		} else if (!t->msg->reply && r->msg->reply) {
			imap_thread_link (t, r);
			r->removed = TRUE;
		} else {
			ImapThreadNode *d = imap_thread_node_new (tree, NULL);
			d->root_pos = t->root_pos;
			g_ptr_array_index (roots, t->root_pos) = d;
			imap_thread_link (d, t);
			imap_thread_link (d, r);
			r->removed = TRUE;
			g_hash_table_insert (table, (gpointer)subject, d);
		}
	}
	{
		guint k = 0;
		for (guint i = 0; i < roots->len; i++) {
			ImapThreadNode *r = g_ptr_array_index (roots, i);
			/* a root that became a child is marked removed or has a parent */
			if (!r->removed && r->parent == NULL)
				g_ptr_array_index (roots, k++) = r;
		}
		g_ptr_array_set_size (roots, k);
	}
}

static void
imap_thread_references (ImapThreadTree *tree, GPtrArray *msgs)
{
	imap_thread_link_references (tree, msgs);
	/* (2) the root set; (3) the id table is gone with its function */
	for (guint i = 0; i < tree->pool->len; i++) {
		ImapThreadNode *n = g_ptr_array_index (tree->pool, i);
		if (n->parent == NULL)
			g_ptr_array_add (tree->roots, n);
	}
	imap_thread_prune (tree, tree->roots);
	/* (5) sorted by sent date, a dummy by its first child */
	imap_thread_sort_all (tree, tree->roots);
	imap_thread_merge_subjects (tree, tree->roots);
	/* (7) every set of siblings by sent date */
	imap_thread_sort_all (tree, tree->roots);
}

ImapThreadTree *
imap_thread_build (GPtrArray *msgs, ImapThreadAlgorithm algorithm)
{
	ImapThreadTree *tree = g_new0 (ImapThreadTree, 1);

	tree->pool = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_thread_node_free);
	tree->roots = g_ptr_array_new ();
	if (algorithm == IMAP_THREAD_ORDEREDSUBJECT)
		imap_thread_orderedsubject (tree, msgs);
	else
		imap_thread_references (tree, msgs);
	return tree;
}

/* ---- the answer ------------------------------------------------------------------------------ */

char *
imap_thread_format (const ImapThreadTree *tree, gboolean uid)
{
	GString *out = g_string_new ("THREAD");
	g_autoptr (GPtrArray) stack = g_ptr_array_new (); /* NULL: a ")" to write */

	if (tree->roots->len > 0)
		g_string_append_c (out, ' ');
	for (guint i = tree->roots->len; i > 0; i--)
		g_ptr_array_add (stack, g_ptr_array_index (tree->roots, i - 1));
	while (stack->len > 0) {
		const ImapThreadNode *n = g_ptr_array_steal_index (stack, stack->len - 1);
		gboolean first = TRUE;

		if (n == NULL) {
			g_string_append_c (out, ')');
			continue;
		}
		g_string_append_c (out, '(');
		/* a chain of single children is written flat: "(1 2 3)" */
		for (;;) {
			if (n->msg != NULL) {
				g_string_append_printf (out, first ? "%u" : " %u", uid ? n->msg->uid : n->msg->seq);
				first = FALSE;
			}
			if (n->children->len == 1 && n->msg != NULL) {
				n = g_ptr_array_index (n->children, 0);
				continue;
			}
			break;
		}
		if (n->children->len == 0) {
			g_string_append_c (out, ')');
			continue;
		}
		/* branches: "(1 (2 3)(4))" */
		if (!first)
			g_string_append_c (out, ' ');
		g_ptr_array_add (stack, NULL);
		for (guint i = n->children->len; i > 0; i--)
			g_ptr_array_add (stack, g_ptr_array_index (n->children, i - 1));
	}
	return g_string_free (out, FALSE);
}
