/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * SORT (RFC 5256 §3, DISPLAYFROM/DISPLAYTO of RFC 5957): the sort keys of
 * one message read from its header, the base subject of RFC 5256 §2.1, the
 * comparison of two messages by a list of criteria.  Pure: no I/O.  THREAD
 * (imap-thread.h) uses the same message descriptors.
 *
 * Strings are compared as octets after imap_sort_fold(): Unicode case
 * folding then compatibility decomposition (NFKD) of UTF-8, an
 * approximation of the i;unicode-casemap collation of RFC 5051 (which
 * titlecases then decomposes).
 */

typedef enum {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
} ImapSortKey;

typedef struct {
	ImapSortKey key;
	gboolean reverse;
} ImapSortCriterion;

/* One message as SORT and THREAD see it. */
typedef struct {
	guint32 seq;
	guint32 uid;
	gint64 arrival; /* internal date, seconds since the epoch */
	gint64 date;	/* Date: in UTC; the internal date when it is missing or unreadable */
	guint64 size;
	char *subject;	/* the base subject, folded (imap_sort_fold) */
	gboolean reply; /* the subject was that of a reply or forward (RFC 5256 §2.1) */
	char *from;	/* the first From/To/Cc address's local part (addr-mailbox), folded; "" */
	char *to;
	char *cc;
	char *display_from; /* RFC 5957: the display name, else the address; folded; "" */
	char *display_to;
	char *message_id;      /* (nullable): the first valid msg-id of Message-ID, without <> */
	GPtrArray *references; /* of char *: References, else the first msg-id of In-Reply-To */
} ImapSortMessage;

/**
 * imap_sort_message_new:
 * @header: (nullable): the message's header block (a message read as
 *   %NULL, e.g. expunged meanwhile, sorts as one without any field)
 *
 * Returns: (transfer full): the descriptor
 */
ImapSortMessage *imap_sort_message_new (guint32 seq, guint32 uid, gint64 internal_date, guint64 size,
					const char *header, gsize header_len);
void imap_sort_message_free (ImapSortMessage *msg);

/**
 * imap_sort_base_subject:
 * @subject: the raw Subject: value (RFC 2047 words are decoded here)
 * @reply: (out) (optional): whether a "Re:", "Fwd:", "(fwd)" or "[fwd: …]"
 *   was taken away
 *
 * The base subject of RFC 5256 §2.1, not folded.
 * Returns: (transfer full)
 */
char *imap_sort_base_subject (const char *subject, gboolean *reply);

/* The comparison form of a UTF-8 string (see above); invalid UTF-8 is
 * repaired first.  Returns: (transfer full) */
char *imap_sort_fold (const char *s);

/* The seconds since the epoch (UTC) of an RFC 5322 date-time, obsolete
 * forms included; FALSE when it cannot be read. */
gboolean imap_sort_parse_date (const char *value, gint64 *out);

/**
 * imap_sort_parse_criteria:
 * @arg: the parenthesised list of SORT
 * @need_header: (out): whether a criterion needs the message header
 * @error_text: (out): on failure, a text for BAD
 *
 * Returns: (transfer full) (nullable): of ImapSortCriterion
 */
GArray *imap_sort_parse_criteria (const ImapArg *arg, gboolean *need_header, const char **error_text);

/* <0, 0, >0 as @a sorts before, with, after @b by @criteria alone */
int imap_sort_compare (const ImapSortMessage *a, const ImapSortMessage *b, const ImapSortCriterion *criteria,
		       guint n_criteria);

/* Sorts @msgs (of ImapSortMessage) by @criteria, ties by sequence number. */
void imap_sort_messages (GPtrArray *msgs, GArray *criteria);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapSortMessage, imap_sort_message_free)

G_END_DECLS
