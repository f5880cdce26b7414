/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-store.h"
#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * The mailbox-level syntax and selection of the IMAP session, pure so
 * that unit tests and the fuzzer drive them: LIST with the selection and
 * return options of LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154) and
 * LIST-STATUS (RFC 5819); which names a LIST answers with which
 * attributes; STATUS items; the USE parameter of CREATE (RFC 6154 §3).
 */

typedef enum {
	IMAP_LIST_SEL_SUBSCRIBED = 1 << 0,
	IMAP_LIST_SEL_REMOTE = 1 << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1 << 2,
	IMAP_LIST_SEL_SPECIAL_USE = 1 << 3,
} ImapListSelect;

typedef enum {
	IMAP_LIST_RET_SUBSCRIBED = 1 << 0,
	IMAP_LIST_RET_CHILDREN = 1 << 1,
	IMAP_LIST_RET_SPECIAL_USE = 1 << 2,
	IMAP_LIST_RET_STATUS = 1 << 3,
} ImapListReturn;

typedef struct {
	guint select;	     /* ImapListSelect */
	guint ret;	     /* ImapListReturn */
	gboolean lsub;	     /* LSUB: subscribed names, and \Noselect parents for "%" */
	gboolean extended;   /* selection options, several patterns or RETURN were given */
	gboolean delimiter;  /* the basic LIST "" "": the hierarchy delimiter only */
	GPtrArray *patterns; /* of char *: reference + pattern, UTF-8 */
	char **status_items; /* RETURN (STATUS (...)): upper case */
} ImapListQuery;

void imap_list_query_free (ImapListQuery *query);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapListQuery, imap_list_query_free)

/* The arguments of LIST (after the command name) or of LSUB (@lsub: only
 * a reference and a pattern).  Names and patterns are modified UTF-7
 * unless @utf8_names (IMAP4rev2 or UTF8=ACCEPT); @rev2 for the rules of
 * IMAP4rev2.  Returns: (transfer full) (nullable): the query, or %NULL
 * with *@error the text of a BAD answer. */
ImapListQuery *imap_list_query_parse (GPtrArray *args, gboolean lsub, gboolean rev2, gboolean utf8_names,
				      const char **error);

/* STATUS items (a list of atoms), upper-cased; %NULL with *@error for
 * an empty list, an unknown item, or RECENT in IMAP4rev2.  Returns:
 * (transfer full) (nullable) */
char **imap_status_items_parse (const ImapArg *list, gboolean rev2, const char **error);

/* One name a LIST answers */
typedef struct {
	char *name;
	const EpStoreMailbox *box; /* (nullable): %NULL when the name does not exist */
	gboolean subscribed;
	gboolean has_children; /* an existing mailbox below it */
	gboolean childinfo;    /* RECURSIVEMATCH: ("CHILDINFO" ("SUBSCRIBED")) */
} ImapListEntry;

void imap_list_entry_free (ImapListEntry *entry);

/* The names @query answers from @boxes (element-type EpStoreMailbox, the
 * account's mailboxes), by name: existing mailboxes and the parents they
 * imply, subscribed ones, special-use ones, with RECURSIVEMATCH the
 * parents of those.  The entries point into @boxes.
 * Returns: (transfer container) (element-type ImapListEntry) */
GPtrArray *imap_list_select (const ImapListQuery *query, GPtrArray *boxes);

/* The same, the subscriptions being @subscriptions (the account's
 * subscribed names, mailboxes or not; %NULL: the mailboxes' subscribed
 * flags): a subscribed name without mailbox is answered by SUBSCRIBED
 * (\NonExistent \Subscribed) and LSUB, and counts for RECURSIVEMATCH. */
GPtrArray *imap_list_select_subscribed (const ImapListQuery *query, GPtrArray *boxes, const char *const *subscriptions);

/* The attributes of @entry as LIST shows them (without parentheses):
 * \NonExistent (\Noselect in a basic IMAP4rev1 LIST), \Subscribed when
 * asked for, \HasChildren or \HasNoChildren, the special-use attribute.
 * As LSUB shows them: \Noselect for a name that is not subscribed (a
 * parent of subscribed names, RFC 3501 §6.3.9), \HasChildren or
 * \HasNoChildren. */
void imap_list_append_attributes (GString *out, const ImapListQuery *query, const ImapListEntry *entry, gboolean rev2);

typedef enum {
	IMAP_CREATE_PARAMS_OK,
	IMAP_CREATE_PARAMS_BAD,	    /* malformed: BAD */
	IMAP_CREATE_PARAMS_USEATTR, /* a special use the store cannot take: NO [USEATTR] */
} ImapCreateParams;

/* The parameter list of CREATE (RFC 4466), of which USE (RFC 6154 §3) is
 * the one known: *@role becomes the store's role (static, nullable), or
 * *@error the text of the answer. */
ImapCreateParams imap_create_params_parse (const ImapArg *params, const char **role, const char **error);

G_END_DECLS
