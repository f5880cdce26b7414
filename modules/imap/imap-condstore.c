/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * The syntax of CONDSTORE and QRESYNC (RFC 7162 §7) over the parsed
 * arguments of a command: modifiers of FETCH and STORE, parameters of
 * SELECT/EXAMINE, and the message sequence match data of QRESYNC.
 */

#include "config.h"

#include <string.h>

#include "imap-condstore.h"

gboolean
imap_modseq_parse (const char *text, gboolean allow_zero, guint64 *out)
{
	guint64 n = 0;

	if (text == NULL || *text == '\0' || (text[0] == '0' && text[1] != '\0'))
		return FALSE;
	for (const char *p = text; *p != '\0'; p++) {
		if (!g_ascii_isdigit (*p) || n > (IMAP_MODSEQ_MAX - (guint64)(*p - '0')) / 10)
			return FALSE;
		n = n * 10 + (guint64)(*p - '0');
	}
	if (n == 0 && !allow_zero)
		return FALSE;
	*out = n;
	return TRUE;
}

/* nz-number of 32 bits */
static gboolean
imap_condstore_parse_nz32 (const char *text, guint32 *out)
{
	guint64 n = 0;

	if (!imap_modseq_parse (text, FALSE, &n) || n > G_MAXUINT32)
		return FALSE;
	*out = (guint32)n;
	return TRUE;
}

gboolean
imap_fetch_modifiers_parse (const ImapArg *arg, ImapFetchModifiers *out, const char **error_text)
{
	memset (out, 0, sizeof *out);
	if (arg->type != IMAP_ARG_LIST || arg->list->len == 0) {
		*error_text = "FETCH modifiers are a parenthesized list";
		return FALSE;
	}
	for (guint i = 0; i < arg->list->len; i++) {
		const char *name = imap_arg_get_atom (g_ptr_array_index (arg->list, i));

		if (name != NULL && g_ascii_strcasecmp (name, "CHANGEDSINCE") == 0) {
			const char *n =
			    i + 1 < arg->list->len ? imap_arg_get_atom (g_ptr_array_index (arg->list, i + 1)) : NULL;
			if (out->changedsince_set) {
				*error_text = "CHANGEDSINCE given twice";
				return FALSE;
			}
			if (!imap_modseq_parse (n, TRUE, &out->changedsince)) {
				*error_text = "CHANGEDSINCE takes a mod-sequence";
				return FALSE;
			}
			out->changedsince_set = TRUE;
			i++;
		} else if (name != NULL && g_ascii_strcasecmp (name, "VANISHED") == 0) {
			if (out->vanished) {
				*error_text = "VANISHED given twice";
				return FALSE;
			}
			out->vanished = TRUE;
		} else {
			*error_text = "Unknown FETCH modifier";
			return FALSE;
		}
	}
	if (out->vanished && !out->changedsince_set) {
		*error_text = "VANISHED needs CHANGEDSINCE";
		return FALSE;
	}
	return TRUE;
}

gboolean
imap_store_modifiers_parse (const ImapArg *arg, guint64 *unchangedsince, const char **error_text)
{
	const char *name;

	if (arg->type != IMAP_ARG_LIST || arg->list->len == 0) {
		*error_text = "STORE modifiers are a parenthesized list";
		return FALSE;
	}
	name = imap_arg_get_atom (g_ptr_array_index (arg->list, 0));
	if (name == NULL || g_ascii_strcasecmp (name, "UNCHANGEDSINCE") != 0) {
		*error_text = "Unknown STORE modifier";
		return FALSE;
	}
	if (arg->list->len < 2 ||
	    !imap_modseq_parse (imap_arg_get_atom (g_ptr_array_index (arg->list, 1)), TRUE, unchangedsince)) {
		*error_text = "UNCHANGEDSINCE takes a mod-sequence";
		return FALSE;
	}
	if (arg->list->len > 2) {
		const char *more = imap_arg_get_atom (g_ptr_array_index (arg->list, 2));
		*error_text = more != NULL && g_ascii_strcasecmp (more, "UNCHANGEDSINCE") == 0
				  ? "UNCHANGEDSINCE given twice"
				  : "Unknown STORE modifier";
		return FALSE;
	}
	return TRUE;
}

void
imap_select_params_clear (ImapSelectParams *params)
{
	g_clear_pointer (&params->known_uids, g_array_unref);
	g_clear_pointer (&params->match_seqs, g_array_unref);
	g_clear_pointer (&params->match_uids, g_array_unref);
	memset (params, 0, sizeof *params);
}

/* a set of UIDs or numbers without "*" (nor "$"), or %NULL */
static GArray *
imap_condstore_parse_set (const ImapArg *arg)
{
	const char *text = imap_arg_get_atom (arg);
	g_autoptr (GArray) set = text != NULL ? imap_seqset_parse (text, NULL) : NULL;

	if (set == NULL)
		return NULL;
	for (guint i = 0; i < set->len; i++)
		if (g_array_index (set, ImapSeqRange, i).last == IMAP_SEQ_STAR)
			return NULL;
	return g_steal_pointer (&set);
}

static gint
imap_condstore_range_cmp (gconstpointer a, gconstpointer b)
{
	const ImapSeqRange *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* sorted, overlapping and adjacent ranges merged */
static void
imap_condstore_normalize (GArray *set)
{
	guint out = 0;

	g_array_sort (set, imap_condstore_range_cmp);
	for (guint i = 0; i < set->len; i++) {
		ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
		ImapSeqRange *prev = out > 0 ? &g_array_index (set, ImapSeqRange, out - 1) : NULL;
		if (prev != NULL && (guint64)r.first <= (guint64)prev->last + 1) {
			prev->last = MAX (prev->last, r.last);
			continue;
		}
		g_array_index (set, ImapSeqRange, out++) = r;
	}
	g_array_set_size (set, out);
}

/* ascending as written (each range above the one before); the count of numbers */
static gboolean
imap_condstore_ascending (GArray *set, guint64 *count)
{
	*count = 0;
	for (guint i = 0; i < set->len; i++) {
		ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
		if (i > 0 && r.first <= g_array_index (set, ImapSeqRange, i - 1).last)
			return FALSE;
		*count += (guint64)r.last - r.first + 1;
	}
	return TRUE;
}

static gboolean
imap_condstore_parse_match (const ImapArg *arg, ImapSelectParams *out, const char **error_text)
{
	guint64 n_seqs = 0, n_uids = 0;

	*error_text = "Invalid message sequence match data";
	if (arg->type != IMAP_ARG_LIST || arg->list->len != 2)
		return FALSE;
	out->match_seqs = imap_condstore_parse_set (g_ptr_array_index (arg->list, 0));
	out->match_uids = imap_condstore_parse_set (g_ptr_array_index (arg->list, 1));
	if (out->match_seqs == NULL || out->match_uids == NULL)
		return FALSE;
	if (!imap_condstore_ascending (out->match_seqs, &n_seqs) ||
	    !imap_condstore_ascending (out->match_uids, &n_uids)) {
		*error_text = "Message sequence match data must be ascending";
		return FALSE;
	}
	if (n_seqs != n_uids) {
		*error_text = "Message sequence match data: as many UIDs as message numbers";
		return FALSE;
	}
	return TRUE;
}

static gboolean
imap_condstore_parse_qresync (const ImapArg *arg, ImapSelectParams *out, const char **error_text)
{
	GPtrArray *l;
	guint i = 2;

	*error_text = "QRESYNC takes (uidvalidity mod-sequence [known-uids] [(seq-set uid-set)])";
	if (arg == NULL || arg->type != IMAP_ARG_LIST || arg->list->len < 2 || arg->list->len > 4)
		return FALSE;
	l = arg->list;
	if (!imap_condstore_parse_nz32 (imap_arg_get_atom (g_ptr_array_index (l, 0)), &out->uidvalidity) ||
	    !imap_modseq_parse (imap_arg_get_atom (g_ptr_array_index (l, 1)), FALSE, &out->modseq))
		return FALSE;
	if (i < l->len && ((const ImapArg *)g_ptr_array_index (l, i))->type != IMAP_ARG_LIST) {
		out->known_uids = imap_condstore_parse_set (g_ptr_array_index (l, i));
		if (out->known_uids == NULL) {
			*error_text = "Invalid known UIDs";
			return FALSE;
		}
		imap_condstore_normalize (out->known_uids);
		i++;
	}
	if (i < l->len) {
		if (!imap_condstore_parse_match (g_ptr_array_index (l, i), out, error_text))
			return FALSE;
		i++;
	}
	return i == l->len;
}

gboolean
imap_select_params_parse (const ImapArg *arg, ImapSelectParams *out, const char **error_text)
{
	memset (out, 0, sizeof *out);
	if (arg->type != IMAP_ARG_LIST || arg->list->len == 0) {
		*error_text = "SELECT parameters are a parenthesized list";
		return FALSE;
	}
	for (guint i = 0; i < arg->list->len; i++) {
		const char *name = imap_arg_get_atom (g_ptr_array_index (arg->list, i));

		if (name != NULL && g_ascii_strcasecmp (name, "CONDSTORE") == 0 && !out->condstore) {
			out->condstore = TRUE;
		} else if (name != NULL && g_ascii_strcasecmp (name, "QRESYNC") == 0 && !out->qresync) {
			out->qresync = TRUE;
			if (!imap_condstore_parse_qresync (i + 1 < arg->list->len ? g_ptr_array_index (arg->list, i + 1)
										  : NULL,
							   out, error_text)) {
				imap_select_params_clear (out);
				return FALSE;
			}
			i++;
		} else {
			*error_text = name != NULL && (g_ascii_strcasecmp (name, "CONDSTORE") == 0 ||
						       g_ascii_strcasecmp (name, "QRESYNC") == 0)
					  ? "SELECT parameter given twice"
					  : "Unknown SELECT parameter";
			imap_select_params_clear (out);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
imap_select_params_knows (const ImapSelectParams *params, guint32 uid)
{
	GArray *set = params->known_uids;
	guint lo = 0, hi;

	if (set == NULL)
		return TRUE;
	hi = set->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		ImapSeqRange r = g_array_index (set, ImapSeqRange, mid);
		if (uid < r.first)
			hi = mid;
		else if (uid > r.last)
			lo = mid + 1;
		else
			return TRUE;
	}
	return FALSE;
}

/* walks the numbers of a set of ascending ranges */
typedef struct {
	GArray *set;
	guint i;
	guint64 next;
} ImapSetIter;

static gboolean
imap_set_iter_next (ImapSetIter *it, guint32 *out)
{
	while (it->i < it->set->len) {
		ImapSeqRange r = g_array_index (it->set, ImapSeqRange, it->i);
		if (it->next < r.first)
			it->next = r.first;
		if (it->next <= r.last) {
			*out = (guint32)it->next++;
			return TRUE;
		}
		it->i++;
	}
	return FALSE;
}

guint32
imap_qresync_known_up_to (const ImapSelectParams *params, const guint32 *uids, guint n_uids)
{
	ImapSetIter seqs = {params->match_seqs, 0, 0};
	ImapSetIter us = {params->match_uids, 0, 0};
	guint32 seq, uid, known = 0;

	if (params->match_seqs == NULL || params->match_uids == NULL)
		return 0;
	/* the message numbers ascend, so this stops past the mailbox's end */
	while (imap_set_iter_next (&seqs, &seq) && imap_set_iter_next (&us, &uid)) {
		if (seq > n_uids || uids[seq - 1] != uid)
			break;
		known = uid;
	}
	return known;
}
