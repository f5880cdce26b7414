/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-list.h"
#include "imap-util.h"

/* ---- LIST arguments ------------------------------------------------------------------------ */

void
imap_list_query_free (ImapListQuery *query)
{
	if (query == NULL)
		return;
	g_clear_pointer (&query->patterns, g_ptr_array_unref);
	g_strfreev (query->status_items);
	g_free (query);
}

static gboolean
imap_list_parse_select (ImapListQuery *q, const ImapArg *list, const char **error)
{
	for (guint i = 0; i < list->list->len; i++) {
		const char *opt = imap_arg_get_atom (g_ptr_array_index (list->list, i));

		if (opt == NULL) {
			*error = "LIST selection options are atoms";
			return FALSE;
		}
		if (g_ascii_strcasecmp (opt, "SUBSCRIBED") == 0)
			q->select |= IMAP_LIST_SEL_SUBSCRIBED;
		else if (g_ascii_strcasecmp (opt, "REMOTE") == 0)
			q->select |= IMAP_LIST_SEL_REMOTE;
		else if (g_ascii_strcasecmp (opt, "RECURSIVEMATCH") == 0)
			q->select |= IMAP_LIST_SEL_RECURSIVEMATCH;
		else if (g_ascii_strcasecmp (opt, "SPECIAL-USE") == 0)
			q->select |= IMAP_LIST_SEL_SPECIAL_USE;
		else {
			*error = "Unknown LIST selection option";
			return FALSE;
		}
	}
	/* RFC 5258 §3.1: RECURSIVEMATCH needs a base option (SUBSCRIBED) */
	if ((q->select & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 && (q->select & IMAP_LIST_SEL_SUBSCRIBED) == 0) {
		*error = "RECURSIVEMATCH needs SUBSCRIBED";
		return FALSE;
	}
	return TRUE;
}

static gboolean
imap_list_parse_return (ImapListQuery *q, const ImapArg *list, gboolean rev2, const char **error)
{
	for (guint i = 0; i < list->list->len; i++) {
		const char *opt = imap_arg_get_atom (g_ptr_array_index (list->list, i));

		if (opt == NULL) {
			*error = "LIST return options are atoms";
			return FALSE;
		}
		if (g_ascii_strcasecmp (opt, "SUBSCRIBED") == 0) {
			q->ret |= IMAP_LIST_RET_SUBSCRIBED;
		} else if (g_ascii_strcasecmp (opt, "CHILDREN") == 0) {
			q->ret |= IMAP_LIST_RET_CHILDREN;
		} else if (g_ascii_strcasecmp (opt, "SPECIAL-USE") == 0) {
			q->ret |= IMAP_LIST_RET_SPECIAL_USE;
		} else if (g_ascii_strcasecmp (opt, "STATUS") == 0) {
			const ImapArg *items = i + 1 < list->list->len ? g_ptr_array_index (list->list, i + 1) : NULL;

			if ((q->ret & IMAP_LIST_RET_STATUS) != 0) {
				*error = "STATUS given twice";
				return FALSE;
			}
			if (items == NULL || items->type != IMAP_ARG_LIST) {
				*error = "STATUS takes a list of items";
				return FALSE;
			}
			q->status_items = imap_status_items_parse (items, rev2, error);
			if (q->status_items == NULL)
				return FALSE;
			q->ret |= IMAP_LIST_RET_STATUS;
			i++;
		} else {
			*error = "Unknown LIST return option";
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
imap_list_add_pattern (ImapListQuery *q, const char *ref, const ImapArg *arg, gboolean utf8_names, const char **error)
{
	const char *pat = imap_arg_get_astring (arg);
	g_autofree char *full = NULL;
	char *decoded;

	if (pat == NULL) {
		*error = "Invalid mailbox pattern";
		return FALSE;
	}
	full = g_strconcat (ref, pat, NULL);
	decoded = utf8_names ? g_strdup (full) : imap_utf7_decode (full);
	if (decoded == NULL || !g_utf8_validate (decoded, -1, NULL)) {
		g_free (decoded);
		*error = "Invalid mailbox pattern";
		return FALSE;
	}
	g_ptr_array_add (q->patterns, decoded);
	return TRUE;
}

ImapListQuery *
imap_list_query_parse (GPtrArray *args, gboolean lsub, gboolean rev2, gboolean utf8_names, const char **error)
{
	g_autoptr (ImapListQuery) q = g_new0 (ImapListQuery, 1);
	const ImapArg *pats;
	const char *ref;
	guint i = 0;

	q->patterns = g_ptr_array_new_with_free_func (g_free);
	/* LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts] */
	if (!lsub && args->len > 0 && ((const ImapArg *)g_ptr_array_index (args, 0))->type == IMAP_ARG_LIST) {
		if (!imap_list_parse_select (q, g_ptr_array_index (args, 0), error))
			return NULL;
		q->extended = TRUE;
		i++;
	}
	if (args->len < i + 2) {
		*error = lsub ? "LSUB takes a reference and a mailbox pattern"
			      : "LIST takes a reference and a mailbox pattern";
		return NULL;
	}
	ref = imap_arg_get_astring (g_ptr_array_index (args, i));
	if (ref == NULL) {
		*error = "Invalid reference";
		return NULL;
	}
	pats = g_ptr_array_index (args, i + 1);
	if (pats->type == IMAP_ARG_LIST) {
		if (lsub || pats->list->len == 0) {
			*error = lsub ? "LSUB takes one pattern" : "Empty list of patterns";
			return NULL;
		}
		q->extended = TRUE;
		for (guint k = 0; k < pats->list->len; k++)
			if (!imap_list_add_pattern (q, ref, g_ptr_array_index (pats->list, k), utf8_names, error))
				return NULL;
	} else if (!imap_list_add_pattern (q, ref, pats, utf8_names, error)) {
		return NULL;
	}
	i += 2;
	if (i < args->len) {
		const char *kw = imap_arg_get_atom (g_ptr_array_index (args, i));
		const ImapArg *opts = i + 1 < args->len ? g_ptr_array_index (args, i + 1) : NULL;

		if (lsub || kw == NULL || g_ascii_strcasecmp (kw, "RETURN") != 0) {
			*error = "Expected RETURN after the mailbox pattern";
			return NULL;
		}
		if (opts == NULL || opts->type != IMAP_ARG_LIST || i + 2 != args->len) {
			*error = "RETURN takes one list of options";
			return NULL;
		}
		if (!imap_list_parse_return (q, opts, rev2, error))
			return NULL;
		q->extended = TRUE;
	}
	/* LIST "" "" (whatever the reference) asks for the hierarchy delimiter */
	q->delimiter = !lsub && q->select == 0 && pats->type != IMAP_ARG_LIST && imap_arg_get_astring (pats)[0] == '\0';
	/* LSUB is LIST (SUBSCRIBED RECURSIVEMATCH) with attributes of its own */
	if (lsub) {
		q->lsub = TRUE;
		q->select = IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH;
	}
	/* RFC 5258 §3.1: SUBSCRIBED selects \Subscribed in the answer too */
	if (q->select & IMAP_LIST_SEL_SUBSCRIBED)
		q->ret |= IMAP_LIST_RET_SUBSCRIBED;
	return g_steal_pointer (&q);
}

/* ---- STATUS items -------------------------------------------------------------------------- */

char **
imap_status_items_parse (const ImapArg *list, gboolean rev2, const char **error)
{
	static const char *const known[] = {"MESSAGES",	     "UIDNEXT",	  "UIDVALIDITY", "UNSEEN",
					    "RECENT",	     "SIZE",	  "DELETED",	 "DELETED-STORAGE",
					    "HIGHESTMODSEQ", "MAILBOXID", NULL};
	g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);

	if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len == 0) {
		*error = "STATUS takes a list of items";
		return NULL;
	}
	for (guint i = 0; i < list->list->len; i++) {
		const char *it = imap_arg_get_atom (g_ptr_array_index (list->list, i));
		g_autofree char *up = it != NULL ? g_ascii_strup (it, -1) : NULL;

		if (up == NULL || !g_strv_contains (known, up) || (rev2 && strcmp (up, "RECENT") == 0)) {
			*error = "Unknown STATUS item";
			return NULL;
		}
		g_ptr_array_add (items, g_steal_pointer (&up));
	}
	g_ptr_array_add (items, NULL);
	return (char **)g_ptr_array_free (g_steal_pointer (&items), FALSE);
}

/* ---- which names a LIST answers ------------------------------------------------------------ */

void
imap_list_entry_free (ImapListEntry *entry)
{
	g_free (entry->name);
	g_free (entry);
}

typedef struct {
	char *name;
	const EpStoreMailbox *box; /* NULL: a parent, or a subscription, that does not exist */
	gboolean subscribed;
} ImapListName;

static int
imap_list_name_cmp (gconstpointer a, gconstpointer b)
{
	const ImapListName *x = *(ImapListName *const *)a;
	const ImapListName *y = *(ImapListName *const *)b;

	return strcmp (x->name, y->name);
}

static void
imap_list_name_free (ImapListName *n)
{
	g_free (n->name);
	g_free (n);
}

static gboolean
imap_list_matches (const ImapListQuery *q, const char *name)
{
	for (guint i = 0; i < q->patterns->len; i++)
		if (imap_list_match (g_ptr_array_index (q->patterns, i), name))
			return TRUE;
	return FALSE;
}

/* whether the name @n meets the selection options: SUBSCRIBED selects
 * subscribed names whether they exist or not (RFC 5258 §3.1) */
static gboolean
imap_list_selected (const ImapListQuery *q, const ImapListName *n)
{
	if (n->box == NULL && (q->select & IMAP_LIST_SEL_SUBSCRIBED) == 0)
		return FALSE;
	if ((q->select & IMAP_LIST_SEL_SUBSCRIBED) && !n->subscribed)
		return FALSE;
	if ((q->select & IMAP_LIST_SEL_SPECIAL_USE) && (n->box == NULL || imap_role_attribute (n->box->role) == NULL))
		return FALSE;
	return TRUE;
}

/* the first index of @names (sorted) whose name is >= @key */
static guint
imap_list_lower_bound (GPtrArray *names, const char *key)
{
	guint lo = 0, hi = names->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		const ImapListName *n = g_ptr_array_index (names, mid);
		if (strcmp (n->name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

typedef struct {
	gboolean exists;	     /* an existing mailbox below */
	gboolean exists_unmatched;   /* ... that no pattern matches */
	gboolean selected;	     /* a mailbox below that meets the selection options */
	gboolean selected_unmatched; /* ... that no pattern matches */
} ImapListBelow;

/* what lies below @name: the names with the prefix "name/" are one range of
 * the sorted array */
static ImapListBelow
imap_list_below (const ImapListQuery *q, GPtrArray *names, const char *name)
{
	g_autofree char *prefix = g_strconcat (name, "/", NULL);
	gsize plen = strlen (prefix);
	ImapListBelow r = {FALSE, FALSE, FALSE, FALSE};

	for (guint i = imap_list_lower_bound (names, prefix); i < names->len; i++) {
		const ImapListName *n = g_ptr_array_index (names, i);
		gboolean matched;

		if (strncmp (n->name, prefix, plen) != 0)
			break;
		matched = imap_list_matches (q, n->name);
		if (n->box != NULL) {
			r.exists = TRUE;
			r.exists_unmatched |= !matched;
		}
		if (imap_list_selected (q, n)) {
			r.selected = TRUE;
			r.selected_unmatched |= !matched;
		}
	}
	return r;
}

GPtrArray *
imap_list_select (const ImapListQuery *q, GPtrArray *boxes)
{
	return imap_list_select_subscribed (q, boxes, NULL);
}

/* adds @name (not a mailbox) and its parents that are not there yet */
static void
imap_list_add_name (GPtrArray *names, GHashTable *seen, const char *name, gboolean subscribed)
{
	ImapListName *n;

	for (const char *p = strchr (name, '/'); p != NULL; p = strchr (p + 1, '/')) {
		g_autofree char *parent = g_strndup (name, p - name);

		if (g_hash_table_contains (seen, parent))
			continue;
		n = g_new0 (ImapListName, 1);
		n->name = g_steal_pointer (&parent);
		g_ptr_array_add (names, n);
		g_hash_table_add (seen, n->name);
	}
	if (!subscribed || g_hash_table_contains (seen, name))
		return;
	n = g_new0 (ImapListName, 1);
	n->name = g_strdup (name);
	n->subscribed = TRUE;
	g_ptr_array_add (names, n);
	g_hash_table_add (seen, n->name);
}

GPtrArray *
imap_list_select_subscribed (const ImapListQuery *q, GPtrArray *boxes, const char *const *subscriptions)
{
	g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
	g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_list_name_free);
	GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_list_entry_free);
	gboolean plain = (q->select & (IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_SPECIAL_USE)) == 0;
	gboolean recursive = (q->select & IMAP_LIST_SEL_RECURSIVEMATCH) != 0;

	/* the mailboxes, then the parents they imply that do not exist */
	for (guint i = 0; i < boxes->len; i++) {
		const EpStoreMailbox *b = g_ptr_array_index (boxes, i);
		ImapListName *n = g_new0 (ImapListName, 1);

		n->name = g_strdup (b->name);
		n->box = b;
		n->subscribed = subscriptions != NULL ? g_strv_contains (subscriptions, b->name) : b->subscribed;
		g_ptr_array_add (names, n);
		g_hash_table_add (seen, n->name);
	}
	for (guint i = 0; i < boxes->len; i++)
		imap_list_add_name (names, seen, ((const EpStoreMailbox *)g_ptr_array_index (boxes, i))->name, FALSE);
	/* subscriptions of names that do not exist, and their parents */
	for (guint i = 0; subscriptions != NULL && subscriptions[i] != NULL; i++)
		imap_list_add_name (names, seen, subscriptions[i], TRUE);
	g_ptr_array_sort (names, imap_list_name_cmp);

	for (guint i = 0; i < names->len; i++) {
		const ImapListName *n = g_ptr_array_index (names, i);
		ImapListBelow below;
		ImapListEntry *e;
		gboolean take;

		if (!imap_list_matches (q, n->name))
			continue;
		below = imap_list_below (q, names, n->name);
		if (imap_list_selected (q, n))
			take = TRUE;
		else if (recursive && below.selected_unmatched)
			/* RFC 5258 §3.4: a parent for a descendant that meets the
			 * selection but that the patterns do not show */
			take = TRUE;
		else
			/* a parent that does not exist, for its children that the
			 * patterns do not show ("%", RFC 9051 §6.3.9) */
			take = plain && n->box == NULL && below.exists_unmatched;
		if (!take)
			continue;
		e = g_new0 (ImapListEntry, 1);
		e->name = g_strdup (n->name);
		e->box = n->box;
		e->subscribed = n->subscribed;
		e->has_children = below.exists;
		e->childinfo = recursive && !q->lsub && below.selected_unmatched;
		g_ptr_array_add (out, e);
	}
	return out;
}

void
imap_list_append_attributes (GString *out, const ImapListQuery *q, const ImapListEntry *e, gboolean rev2)
{
	const char *special = e->box != NULL ? imap_role_attribute (e->box->role) : NULL;

	if (q->lsub) {
		if (!e->subscribed)
			g_string_append (out, "\\Noselect ");
		g_string_append (out, e->has_children ? "\\HasChildren" : "\\HasNoChildren");
		return;
	}
	if (e->box == NULL)
		g_string_append (out, rev2 || q->extended ? "\\NonExistent " : "\\Noselect ");
	if ((q->ret & IMAP_LIST_RET_SUBSCRIBED) && e->subscribed)
		g_string_append (out, "\\Subscribed ");
	g_string_append (out, e->has_children ? "\\HasChildren" : "\\HasNoChildren");
	if (special != NULL)
		g_string_append_printf (out, " %s", special);
}

/* ---- CREATE parameters --------------------------------------------------------------------- */

ImapCreateParams
imap_create_params_parse (const ImapArg *params, const char **role, const char **error)
{
	static const struct {
		const char *attr;
		const char *role;
	} uses[] = {
	    {"\\Sent", "sent"}, {"\\Drafts", "drafts"},	  {"\\Trash", "trash"},
	    {"\\Junk", "junk"}, {"\\Archive", "archive"},
	};
	gboolean seen_use = FALSE;

	*role = NULL;
	if (params == NULL)
		return IMAP_CREATE_PARAMS_OK;
	if (params->type != IMAP_ARG_LIST) {
		*error = "CREATE takes a mailbox name and a list of parameters";
		return IMAP_CREATE_PARAMS_BAD;
	}
	for (guint i = 0; i < params->list->len; i += 2) {
		const char *name = imap_arg_get_atom (g_ptr_array_index (params->list, i));
		const ImapArg *value = i + 1 < params->list->len ? g_ptr_array_index (params->list, i + 1) : NULL;

		if (name == NULL || g_ascii_strcasecmp (name, "USE") != 0) {
			*role = NULL;
			*error = "Unknown CREATE parameter";
			return IMAP_CREATE_PARAMS_BAD;
		}
		if (seen_use || value == NULL || value->type != IMAP_ARG_LIST) {
			*role = NULL;
			*error = "USE takes one list of special-use attributes";
			return IMAP_CREATE_PARAMS_BAD;
		}
		seen_use = TRUE;
		for (guint k = 0; k < value->list->len; k++) {
			const char *attr = imap_arg_get_atom (g_ptr_array_index (value->list, k));
			const char *found = NULL;

			if (attr == NULL || attr[0] != '\\' || attr[1] == '\0') {
				*role = NULL;
				*error = "USE takes special-use attributes";
				return IMAP_CREATE_PARAMS_BAD;
			}
			for (guint u = 0; u < G_N_ELEMENTS (uses); u++)
				if (g_ascii_strcasecmp (attr, uses[u].attr) == 0)
					found = uses[u].role;
			if (found == NULL) {
				*role = NULL;
				*error = "This special use is not supported";
				return IMAP_CREATE_PARAMS_USEATTR;
			}
			if (*role != NULL && strcmp (*role, found) != 0) {
				*role = NULL;
				*error = "A mailbox takes one special use here";
				return IMAP_CREATE_PARAMS_USEATTR;
			}
			*role = found;
		}
	}
	return IMAP_CREATE_PARAMS_OK;
}
