/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "imap-sort.h"

G_BEGIN_DECLS

/*
 * THREAD (RFC 5256 §2.2, §4): ORDEREDSUBJECT and REFERENCES over an array
 * of message descriptors (imap-sort.h), and the THREAD answer.  Pure: no
 * I/O.
 */

typedef enum {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
} ImapThreadAlgorithm;

typedef struct _ImapThreadNode ImapThreadNode;
struct _ImapThreadNode {
	const ImapSortMessage *msg; /* (nullable): NULL for a dummy */
	ImapThreadNode *parent;
	GPtrArray *children; /* of ImapThreadNode, borrowed from the tree's pool */
	guint root_pos;	     /* index in the root set while merging subjects */
	gboolean removed;
	gboolean visited; /* of the iterative walk that prunes dummies */
};

typedef struct {
	GPtrArray *pool;  /* of ImapThreadNode, owned */
	GPtrArray *roots; /* of ImapThreadNode, borrowed, in answer order */
} ImapThreadTree;

/* "ORDEREDSUBJECT", "REFERENCES", any case */
gboolean imap_thread_parse_algorithm (const char *name, ImapThreadAlgorithm *out);

/**
 * imap_thread_build:
 * @msgs: (element-type ImapSortMessage): the messages, any order; borrowed
 *   by the tree, which must not outlive them
 *
 * Returns: (transfer full): the threads
 */
ImapThreadTree *imap_thread_build (GPtrArray *msgs, ImapThreadAlgorithm algorithm);
void imap_thread_tree_free (ImapThreadTree *tree);

/* The untagged answer without "* " and CRLF: "THREAD (1 2)(3 (4)(5))";
 * "THREAD" when there are none.  @uid: UIDs rather than sequence numbers. */
char *imap_thread_format (const ImapThreadTree *tree, gboolean uid);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapThreadTree, imap_thread_tree_free)

G_END_DECLS
