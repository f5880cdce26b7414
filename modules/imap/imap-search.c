/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * The SEARCH program (RFC 9051 §6.4.4): parsed from the command's
 * arguments into a tree, and matched against one message at a time.
 */

#include "config.h"

#include <string.h>

#include "ep-mime.h"
#include "imap-condstore.h"
#include "imap-search.h"

#define IMAP_SEARCH_MAX_DEPTH 64
#define IMAP_JULIAN_EPOCH     719163 /* g_date_get_julian() of 1970-01-01 */

static const char *const imap_search_months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
						 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};

static void
imap_search_key_free (ImapSearchKey *key)
{
	if (key == NULL)
		return;
	g_clear_pointer (&key->children, g_ptr_array_unref);
	g_free (key->field);
	g_free (key->str);
	g_free (key->folded);
	g_clear_pointer (&key->seqset, g_array_unref);
	g_clear_pointer (&key->uids, g_array_unref);
	g_free (key);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapSearchKey, imap_search_key_free)

static ImapSearchKey *
imap_search_key_new (ImapSearchKeyType type)
{
	ImapSearchKey *key = g_new0 (ImapSearchKey, 1);

	key->type = type;
	if (type == IMAP_SEARCH_AND || type == IMAP_SEARCH_OR || type == IMAP_SEARCH_NOT)
		key->children = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_search_key_free);
	return key;
}

void
imap_search_program_free (ImapSearchProgram *prog)
{
	if (prog == NULL)
		return;
	imap_search_key_free (prog->root);
	g_clear_pointer (&prog->text_keys, g_ptr_array_unref);
	g_clear_pointer (&prog->saved_keys, g_ptr_array_unref);
	g_free (prog);
}

/* "1-Feb-1994" (RFC 9051 date, quoted or not) to a julian day; 0 if not */
static guint32
imap_search_parse_date (const char *s)
{
	int day = 0, year = 0, month = 0, nd = 0, ny = 0;
	const char *p = s;

	while (g_ascii_isdigit (*p) && nd < 2)
		day = day * 10 + (*p++ - '0'), nd++;
	if (nd == 0 || *p++ != '-')
		return 0;
	for (guint i = 0; i < G_N_ELEMENTS (imap_search_months); i++)
		if (g_ascii_strncasecmp (p, imap_search_months[i], 3) == 0)
			month = i + 1;
	if (month == 0 || p[3] != '-')
		return 0;
	p += 4;
	while (g_ascii_isdigit (*p) && ny < 4)
		year = year * 10 + (*p++ - '0'), ny++;
	if (ny != 4 || *p != '\0' || year < 1 || !g_date_valid_dmy (day, month, year))
		return 0;
	{
		g_autoptr (GDate) d = g_date_new_dmy (day, month, year);
		return g_date_get_julian (d);
	}
}

/* The julian day of an RFC 5322 Date: value as written (its time and zone
 * disregarded, as SENTON wants); 0 if it cannot be read. */
static guint32
imap_search_sent_day (const char *value)
{
	g_auto (GStrv) words = NULL;
	g_autofree char *copy = g_strdup (value);
	guint i = 0;
	int day, month = 0, year;
	char *end;

	g_strdelimit (copy, "\t\r\n,", ' ');
	words = g_strsplit (g_strstrip (copy), " ", -1);
	while (words[i] != NULL && (*words[i] == '\0' || g_ascii_isalpha (*words[i])))
		i++; /* the day of the week, and empty words */
	if (words[i] == NULL)
		return 0;
	day = (int)g_ascii_strtoll (words[i], &end, 10);
	if (*end != '\0' || end == words[i])
		return 0;
	for (i++; words[i] != NULL && *words[i] == '\0'; i++)
		;
	if (words[i] == NULL || strlen (words[i]) != 3)
		return 0;
	for (guint m = 0; m < G_N_ELEMENTS (imap_search_months); m++)
		if (g_ascii_strcasecmp (words[i], imap_search_months[m]) == 0)
			month = m + 1;
	for (i++; words[i] != NULL && *words[i] == '\0'; i++)
		;
	if (month == 0 || words[i] == NULL)
		return 0;
	year = (int)g_ascii_strtoll (words[i], &end, 10);
	if (*end != '\0' || end == words[i])
		return 0;
	if (end - words[i] <= 2) /* obsolete two-digit year (RFC 5322 §4.3) */
		year += year < 50 ? 2000 : 1900;
	else if (end - words[i] == 3)
		year += 1900;
	if (year < 1 || year > 9999 || !g_date_valid_dmy (day, month, year))
		return 0;
	{
		g_autoptr (GDate) d = g_date_new_dmy (day, month, year);
		return g_date_get_julian (d);
	}
}

static guint32
imap_search_internal_day (gint64 t)
{
	gint64 days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	gint64 j = IMAP_JULIAN_EPOCH + days;

	return j < 1 ? 1 : (guint32)MIN (j, G_MAXUINT32);
}

static char *
imap_search_fold (const char *s, gssize len)
{
	g_autofree char *valid = g_utf8_make_valid (s, len);

	return g_utf8_casefold (valid, -1);
}

typedef struct {
	GPtrArray *args;
	guint i;
	ImapSearchProgram *prog;
	ImapSearchError kind;
	const char *error;
} ImapSearchParser;

static ImapSearchKey *imap_search_parse_key (ImapSearchParser *p, guint depth);

static const ImapArg *
imap_search_next_arg (ImapSearchParser *p)
{
	if (p->i >= p->args->len) {
		p->error = "Missing search key argument";
		return NULL;
	}
	return g_ptr_array_index (p->args, p->i++);
}

static const char *
imap_search_string_arg (ImapSearchParser *p)
{
	const ImapArg *a = imap_search_next_arg (p);
	const char *s = a != NULL ? imap_arg_get_astring (a) : NULL;

	if (a != NULL && s == NULL)
		p->error = "Invalid string in search key";
	if (s != NULL && a->type == IMAP_ARG_LITERAL && strlen (s) != a->len) {
		p->error = "NUL in a search string";
		return NULL;
	}
	return s;
}

static const struct {
	const char *name;
	EpStoreFlags flag;
	gboolean set;
} imap_search_flag_keys[] = {
    {"ANSWERED", EP_STORE_FLAG_ANSWERED, TRUE},	 {"DELETED", EP_STORE_FLAG_DELETED, TRUE},
    {"DRAFT", EP_STORE_FLAG_DRAFT, TRUE},	 {"FLAGGED", EP_STORE_FLAG_FLAGGED, TRUE},
    {"SEEN", EP_STORE_FLAG_SEEN, TRUE},		 {"UNANSWERED", EP_STORE_FLAG_ANSWERED, FALSE},
    {"UNDELETED", EP_STORE_FLAG_DELETED, FALSE}, {"UNDRAFT", EP_STORE_FLAG_DRAFT, FALSE},
    {"UNFLAGGED", EP_STORE_FLAG_FLAGGED, FALSE}, {"UNSEEN", EP_STORE_FLAG_SEEN, FALSE},
};

static const struct {
	const char *name;
	const char *field;
} imap_search_header_keys[] = {
    {"BCC", "Bcc"}, {"CC", "Cc"}, {"FROM", "From"}, {"TO", "To"}, {"SUBJECT", "Subject"},
};

static const struct {
	const char *name;
	ImapSearchKeyType type;
} imap_search_date_keys[] = {
    {"BEFORE", IMAP_SEARCH_BEFORE},	    {"ON", IMAP_SEARCH_ON},	    {"SINCE", IMAP_SEARCH_SINCE},
    {"SENTBEFORE", IMAP_SEARCH_SENTBEFORE}, {"SENTON", IMAP_SEARCH_SENTON}, {"SENTSINCE", IMAP_SEARCH_SENTSINCE},
};

static gboolean
imap_search_parse_number (const char *s, guint64 *out)
{
	guint64 n = 0;

	if (s == NULL || *s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		if (!g_ascii_isdigit (*s) || n > (G_MAXUINT64 - 9) / 10)
			return FALSE;
		n = n * 10 + (guint64)(*s - '0');
	}
	*out = n;
	return TRUE;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162
 * §3.1.5).  The store keeps one MODSEQ per message, which is at least that
 * of any of its flags, so the entry is checked and then disregarded. */
static ImapSearchKey *
imap_search_parse_modseq (ImapSearchParser *p)
{
	const ImapArg *a = imap_search_next_arg (p);
	const char *n;
	g_autoptr (ImapSearchKey) key = NULL;

	if (a == NULL)
		return NULL;
	if (a->type == IMAP_ARG_QUOTED) {
		const ImapArg *type = imap_search_next_arg (p);
		const char *t = type != NULL ? imap_arg_get_atom (type) : NULL;
		if (type == NULL)
			return NULL;
		if (g_ascii_strncasecmp (a->str, "/flags/", 7) != 0 || a->str[7] == '\0') {
			p->error = "Invalid MODSEQ entry name";
			return NULL;
		}
		if (t == NULL || (g_ascii_strcasecmp (t, "priv") != 0 && g_ascii_strcasecmp (t, "shared") != 0 &&
				  g_ascii_strcasecmp (t, "all") != 0)) {
			p->error = "Invalid MODSEQ entry type";
			return NULL;
		}
		a = imap_search_next_arg (p);
		if (a == NULL)
			return NULL;
	}
	n = imap_arg_get_atom (a);
	key = imap_search_key_new (IMAP_SEARCH_MODSEQ);
	if (!imap_modseq_parse (n, TRUE, &key->modseq)) {
		p->error = "Invalid mod-sequence in search key";
		return NULL;
	}
	p->prog->has_modseq = TRUE;
	return g_steal_pointer (&key);
}

/* objectid (RFC 8474): 1*255 of ALPHA / DIGIT / "_" / "-" */
static gboolean
imap_search_object_id_valid (const char *s)
{
	gsize n = 0;

	for (; s[n] != '\0'; n++)
		if (!g_ascii_isalnum (s[n]) && s[n] != '_' && s[n] != '-')
			return FALSE;
	return n >= 1 && n <= 255;
}

/* the keys of a parenthesized list, or of the whole program, ANDed */
static ImapSearchKey *
imap_search_parse_and (ImapSearchParser *p, GPtrArray *args, guint depth)
{
	GPtrArray *saved_args = p->args;
	guint saved_i = p->i;
	g_autoptr (ImapSearchKey) and = imap_search_key_new (IMAP_SEARCH_AND);

	p->args = args;
	p->i = 0;
	if (args->len == 0)
		p->error = "Empty search key list";
	while (p->error == NULL && p->i < args->len) {
		ImapSearchKey *k = imap_search_parse_key (p, depth + 1);
		if (k != NULL)
			g_ptr_array_add (and->children, k);
	}
	p->args = saved_args;
	p->i = saved_i;
	return p->error == NULL ? g_steal_pointer (&and) : NULL;
}

/* "$" and "UID $": the saved result of RFC 5182, a set of UIDs */
static ImapSearchKey *
imap_search_saved_key (ImapSearchParser *p)
{
	ImapSearchKey *key = imap_search_key_new (IMAP_SEARCH_SAVED);

	g_ptr_array_add (p->prog->saved_keys, key);
	return key;
}

static ImapSearchKey *
imap_search_parse_key (ImapSearchParser *p, guint depth)
{
	const ImapArg *a = imap_search_next_arg (p);
	const char *name;
	g_autoptr (ImapSearchKey) key = NULL;

	if (a == NULL)
		return NULL;
	if (depth > IMAP_SEARCH_MAX_DEPTH) {
		p->error = "Search program nested too deeply";
		return NULL;
	}
	if (a->type == IMAP_ARG_LIST)
		return imap_search_parse_and (p, a->list, depth);
	name = imap_arg_get_atom (a);
	if (name == NULL) {
		p->error = "Invalid search key";
		return NULL;
	}
	for (guint i = 0; i < G_N_ELEMENTS (imap_search_flag_keys); i++) {
		if (g_ascii_strcasecmp (name, imap_search_flag_keys[i].name) != 0)
			continue;
		key = imap_search_key_new (IMAP_SEARCH_FLAG);
		key->flag = imap_search_flag_keys[i].flag;
		key->set = imap_search_flag_keys[i].set;
		return g_steal_pointer (&key);
	}
	for (guint i = 0; i < G_N_ELEMENTS (imap_search_header_keys); i++) {
		const char *s;
		if (g_ascii_strcasecmp (name, imap_search_header_keys[i].name) != 0)
			continue;
		if ((s = imap_search_string_arg (p)) == NULL)
			return NULL;
		key = imap_search_key_new (IMAP_SEARCH_HEADER);
		key->field = g_strdup (imap_search_header_keys[i].field);
		key->str = imap_search_fold (s, -1);
		p->prog->need_header = TRUE;
		return g_steal_pointer (&key);
	}
	for (guint i = 0; i < G_N_ELEMENTS (imap_search_date_keys); i++) {
		const char *s;
		if (g_ascii_strcasecmp (name, imap_search_date_keys[i].name) != 0)
			continue;
		if ((s = imap_search_string_arg (p)) == NULL)
			return NULL;
		key = imap_search_key_new (imap_search_date_keys[i].type);
		key->day = imap_search_parse_date (s);
		if (key->day == 0) {
			p->error = "Invalid date in search key";
			return NULL;
		}
		if (key->type >= IMAP_SEARCH_SENTBEFORE)
			p->prog->need_header = TRUE;
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "ALL") == 0)
		return imap_search_key_new (IMAP_SEARCH_ALL);
	/* \Recent (RFC 3501 §6.4.4): the session says which messages have it */
	if (g_ascii_strcasecmp (name, "RECENT") == 0 || g_ascii_strcasecmp (name, "OLD") == 0) {
		key = imap_search_key_new (IMAP_SEARCH_RECENT);
		key->set = g_ascii_strcasecmp (name, "RECENT") == 0;
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "NEW") == 0) {
		ImapSearchKey *recent = imap_search_key_new (IMAP_SEARCH_RECENT);
		ImapSearchKey *unseen = imap_search_key_new (IMAP_SEARCH_FLAG);

		recent->set = TRUE;
		unseen->flag = EP_STORE_FLAG_SEEN;
		unseen->set = FALSE;
		key = imap_search_key_new (IMAP_SEARCH_AND);
		g_ptr_array_add (key->children, recent);
		g_ptr_array_add (key->children, unseen);
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "KEYWORD") == 0 || g_ascii_strcasecmp (name, "UNKEYWORD") == 0) {
		const ImapArg *k = imap_search_next_arg (p);
		const char *kw = k != NULL ? imap_arg_get_atom (k) : NULL;
		if (kw == NULL || *kw == '\\') {
			if (p->error == NULL)
				p->error = "Invalid keyword";
			return NULL;
		}
		key = imap_search_key_new (IMAP_SEARCH_KEYWORD);
		key->str = g_strdup (kw);
		key->set = g_ascii_toupper (*name) == 'K';
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "HEADER") == 0) {
		const char *field = imap_search_string_arg (p);
		const char *s = field != NULL ? imap_search_string_arg (p) : NULL;
		if (s == NULL)
			return NULL;
		if (*field == '\0' || strpbrk (field, ": \t\r\n") != NULL) {
			p->error = "Invalid header field name";
			return NULL;
		}
		key = imap_search_key_new (IMAP_SEARCH_HEADER);
		key->field = g_strdup (field);
		key->str = imap_search_fold (s, -1);
		p->prog->need_header = TRUE;
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "BODY") == 0 || g_ascii_strcasecmp (name, "TEXT") == 0) {
		const char *s = imap_search_string_arg (p);
		if (s == NULL)
			return NULL;
		if (*s == '\0') /* every message holds "" */
			return imap_search_key_new (IMAP_SEARCH_ALL);
		key = imap_search_key_new (IMAP_SEARCH_TEXT);
		key->str = g_strdup (s);
		key->folded = imap_search_fold (s, -1);
		key->body_only = g_ascii_toupper (*name) == 'B';
		g_ptr_array_add (p->prog->text_keys, key);
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "EMAILID") == 0 || g_ascii_strcasecmp (name, "THREADID") == 0) {
		const char *id = imap_search_string_arg (p);
		if (id == NULL)
			return NULL;
		if (!imap_search_object_id_valid (id)) {
			p->error = "Invalid object id";
			return NULL;
		}
		key = imap_search_key_new (g_ascii_toupper (*name) == 'E' ? IMAP_SEARCH_EMAILID : IMAP_SEARCH_THREADID);
		key->str = g_strdup (id);
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "LARGER") == 0 || g_ascii_strcasecmp (name, "SMALLER") == 0) {
		const ImapArg *n = imap_search_next_arg (p);
		guint64 size = 0;
		if (n == NULL)
			return NULL;
		if (!imap_search_parse_number (imap_arg_get_atom (n), &size)) {
			p->error = "Invalid number in search key";
			return NULL;
		}
		key = imap_search_key_new (g_ascii_toupper (*name) == 'L' ? IMAP_SEARCH_LARGER : IMAP_SEARCH_SMALLER);
		key->size = size;
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "MODSEQ") == 0)
		return imap_search_parse_modseq (p);
	if (g_ascii_strcasecmp (name, "NOT") == 0) {
		ImapSearchKey *k = imap_search_parse_key (p, depth + 1);
		if (k == NULL)
			return NULL;
		key = imap_search_key_new (IMAP_SEARCH_NOT);
		g_ptr_array_add (key->children, k);
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "OR") == 0) {
		ImapSearchKey *k1 = imap_search_parse_key (p, depth + 1);
		ImapSearchKey *k2 = k1 != NULL ? imap_search_parse_key (p, depth + 1) : NULL;
		key = imap_search_key_new (IMAP_SEARCH_OR);
		if (k1 != NULL)
			g_ptr_array_add (key->children, k1);
		if (k2 == NULL)
			return NULL;
		g_ptr_array_add (key->children, k2);
		return g_steal_pointer (&key);
	}
	if (g_ascii_strcasecmp (name, "UID") == 0) {
		const ImapArg *s = imap_search_next_arg (p);
		const char *text = s != NULL ? imap_arg_get_atom (s) : NULL;
		gboolean saved = FALSE;
		if (s == NULL)
			return NULL;
		key = imap_search_key_new (IMAP_SEARCH_UIDSET);
		key->seqset = text != NULL ? imap_seqset_parse (text, &saved) : NULL;
		if (saved)
			return imap_search_saved_key (p);
		if (key->seqset == NULL) {
			p->error = "Invalid UID set";
			return NULL;
		}
		return g_steal_pointer (&key);
	}
	{
		gboolean saved = FALSE;
		GArray *set = imap_seqset_parse (name, &saved);
		if (saved)
			return imap_search_saved_key (p);
		if (set == NULL) {
			p->error = "Unknown search key";
			return NULL;
		}
		key = imap_search_key_new (IMAP_SEARCH_SEQSET);
		key->seqset = set;
		return g_steal_pointer (&key);
	}
}

static gboolean
imap_search_parse_return (ImapSearchParser *p, const ImapArg *list)
{
	p->prog->has_return = TRUE;
	if (list == NULL || list->type != IMAP_ARG_LIST) {
		p->error = "RETURN takes a list";
		return FALSE;
	}
	for (guint i = 0; i < list->list->len; i++) {
		const char *opt = imap_arg_get_atom (g_ptr_array_index (list->list, i));
		if (opt == NULL) {
			p->error = "Invalid RETURN option";
			return FALSE;
		}
		if (g_ascii_strcasecmp (opt, "MIN") == 0)
			p->prog->returns |= IMAP_SEARCH_RETURN_MIN;
		else if (g_ascii_strcasecmp (opt, "MAX") == 0)
			p->prog->returns |= IMAP_SEARCH_RETURN_MAX;
		else if (g_ascii_strcasecmp (opt, "ALL") == 0)
			p->prog->returns |= IMAP_SEARCH_RETURN_ALL;
		else if (g_ascii_strcasecmp (opt, "COUNT") == 0)
			p->prog->returns |= IMAP_SEARCH_RETURN_COUNT;
		else if (g_ascii_strcasecmp (opt, "SAVE") == 0)
			p->prog->returns |= IMAP_SEARCH_RETURN_SAVE;
		else {
			p->error = "Unknown RETURN option";
			return FALSE;
		}
	}
	if (p->prog->returns == 0)
		p->prog->returns = IMAP_SEARCH_RETURN_ALL;
	return TRUE;
}

static gboolean
imap_search_parse_program (ImapSearchParser *p)
{
	GPtrArray *args = p->args;
	g_autoptr (GPtrArray) keys = g_ptr_array_new ();
	const char *word = p->i < args->len ? imap_arg_get_atom (g_ptr_array_index (args, p->i)) : NULL;

	if (word != NULL && g_ascii_strcasecmp (word, "RETURN") == 0) {
		p->i++;
		p->prog->returns = 0;
		if (!imap_search_parse_return (p, p->i < args->len ? g_ptr_array_index (args, p->i++) : NULL))
			return FALSE;
		word = p->i < args->len ? imap_arg_get_atom (g_ptr_array_index (args, p->i)) : NULL;
	}
	if (word != NULL && g_ascii_strcasecmp (word, "CHARSET") == 0) {
		const char *cs =
		    p->i + 1 < args->len ? imap_arg_get_astring (g_ptr_array_index (args, p->i + 1)) : NULL;
		p->i += 2;
		if (cs == NULL) {
			p->error = "CHARSET takes a charset name";
			return FALSE;
		}
		if (g_ascii_strcasecmp (cs, "UTF-8") != 0 && g_ascii_strcasecmp (cs, "US-ASCII") != 0) {
			p->kind = IMAP_SEARCH_ERROR_BADCHARSET;
			p->error = "Unsupported charset";
			return FALSE;
		}
	}
	if (p->i >= args->len) {
		p->error = "SEARCH takes search keys";
		return FALSE;
	}
	for (guint i = p->i; i < args->len; i++)
		g_ptr_array_add (keys, g_ptr_array_index (args, i));
	p->prog->root = imap_search_parse_and (p, keys, 0);
	return p->prog->root != NULL;
}

ImapSearchProgram *
imap_search_parse (GPtrArray *args, ImapSearchError *error_kind, const char **error_text)
{
	g_autoptr (ImapSearchProgram) prog = g_new0 (ImapSearchProgram, 1);
	ImapSearchParser p = {args, 0, prog, IMAP_SEARCH_ERROR_SYNTAX, NULL};

	prog->text_keys = g_ptr_array_new ();
	prog->saved_keys = g_ptr_array_new ();
	prog->returns = IMAP_SEARCH_RETURN_ALL;
	if (!imap_search_parse_program (&p)) {
		*error_kind = p.kind;
		*error_text = p.error != NULL ? p.error : "Invalid search program";
		return NULL;
	}
	return g_steal_pointer (&prog);
}

/* ---- matching ---- */

static gboolean
imap_search_has_keyword (const char *const *keywords, const char *kw)
{
	for (guint i = 0; keywords != NULL && keywords[i] != NULL; i++)
		if (g_ascii_strcasecmp (keywords[i], kw) == 0)
			return TRUE;
	return FALSE;
}

static gboolean
imap_search_uids_contain (GArray *uids, guint32 uid)
{
	guint lo = 0, hi = uids != NULL ? uids->len : 0;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		guint32 u = g_array_index (uids, guint32, mid);
		if (u == uid)
			return TRUE;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FALSE;
}

static gboolean
imap_search_match_header (const ImapSearchKey *key, const ImapSearchMessage *msg)
{
	g_autoptr (GPtrArray) values = NULL;

	if (msg->header == NULL)
		return FALSE;
	values = ep_mime_headers_get_all (msg->header, msg->header_len, key->field);
	for (guint i = 0; i < values->len; i++) {
		const char *v = g_ptr_array_index (values, i);
		g_autofree char *decoded = ep_mime_decode_encoded_words (v, strlen (v));
		g_autofree char *folded = imap_search_fold (decoded, -1);
		if (strstr (folded, key->str) != NULL)
			return TRUE;
	}
	return FALSE;
}

static guint32
imap_search_message_sent_day (const ImapSearchMessage *msg)
{
	g_autofree char *date = NULL;

	if (msg->header == NULL)
		return 0;
	date = ep_mime_headers_get_first (msg->header, msg->header_len, "Date");
	return date != NULL ? imap_search_sent_day (date) : 0;
}

gboolean
imap_search_match (const ImapSearchKey *key, const ImapSearchMessage *msg, guint32 n_messages, guint32 max_uid)
{
	guint32 day;

	switch (key->type) {
	case IMAP_SEARCH_AND:
		for (guint i = 0; i < key->children->len; i++)
			if (!imap_search_match (g_ptr_array_index (key->children, i), msg, n_messages, max_uid))
				return FALSE;
		return TRUE;
	case IMAP_SEARCH_OR:
		return imap_search_match (g_ptr_array_index (key->children, 0), msg, n_messages, max_uid) ||
		       imap_search_match (g_ptr_array_index (key->children, 1), msg, n_messages, max_uid);
	case IMAP_SEARCH_NOT:
		return !imap_search_match (g_ptr_array_index (key->children, 0), msg, n_messages, max_uid);
	case IMAP_SEARCH_ALL:
		return TRUE;
	case IMAP_SEARCH_NONE:
		return FALSE;
	case IMAP_SEARCH_RECENT:
		return msg->recent == key->set;
	case IMAP_SEARCH_FLAG:
		return ((msg->flags & key->flag) != 0) == key->set;
	case IMAP_SEARCH_KEYWORD:
		return imap_search_has_keyword (msg->keywords, key->str) == key->set;
	case IMAP_SEARCH_HEADER:
		return imap_search_match_header (key, msg);
	case IMAP_SEARCH_TEXT:
		if (!imap_search_uids_contain (key->uids, msg->uid))
			return FALSE;
		if (msg->body_text == NULL)
			return TRUE;
		return strstr (msg->body_text, key->folded) != NULL ||
		       (!key->body_only && msg->header_text != NULL && strstr (msg->header_text, key->folded) != NULL);
	case IMAP_SEARCH_BEFORE:
		return imap_search_internal_day (msg->internal_date) < key->day;
	case IMAP_SEARCH_ON:
		return imap_search_internal_day (msg->internal_date) == key->day;
	case IMAP_SEARCH_SINCE:
		return imap_search_internal_day (msg->internal_date) >= key->day;
	case IMAP_SEARCH_SENTBEFORE:
		day = imap_search_message_sent_day (msg);
		return day != 0 && day < key->day;
	case IMAP_SEARCH_SENTON:
		day = imap_search_message_sent_day (msg);
		return day != 0 && day == key->day;
	case IMAP_SEARCH_SENTSINCE:
		day = imap_search_message_sent_day (msg);
		return day != 0 && day >= key->day;
	case IMAP_SEARCH_LARGER:
		return msg->size > key->size;
	case IMAP_SEARCH_SMALLER:
		return msg->size < key->size;
	case IMAP_SEARCH_SEQSET:
		return n_messages > 0 && imap_seqset_contains (key->seqset, msg->seq, n_messages);
	case IMAP_SEARCH_UIDSET:
		return max_uid > 0 && imap_seqset_contains (key->seqset, msg->uid, max_uid);
	case IMAP_SEARCH_MODSEQ:
		return msg->modseq >= key->modseq;
	case IMAP_SEARCH_EMAILID:
		return g_strcmp0 (msg->email_id, key->str) == 0;
	case IMAP_SEARCH_THREADID:
		return g_strcmp0 (msg->thread_id, key->str) == 0;
	case IMAP_SEARCH_SAVED:
		return imap_search_uids_contain (key->uids, msg->uid);
	}
	return FALSE;
}

gboolean
imap_search_text_candidate (const ImapSearchProgram *prog, guint32 uid)
{
	for (guint i = 0; i < prog->text_keys->len; i++) {
		const ImapSearchKey *k = g_ptr_array_index (prog->text_keys, i);
		if (imap_search_uids_contain (k->uids, uid))
			return TRUE;
	}
	return FALSE;
}

static void
imap_search_part_text (const EpMimePart *part, const char *data, gsize len, GString *out, guint depth)
{
	const char *type = ep_mime_part_get_content_type (part);
	g_autoptr (GBytes) decoded = NULL;
	g_autofree char *utf8 = NULL;
	const char *charset;
	gsize n = 0;
	const char *d;

	if (depth > 64)
		return;
	if (ep_mime_part_is_multipart (part) || ep_mime_part_get_message (part) != NULL) {
		for (guint i = 0; i < ep_mime_part_get_n_children (part); i++)
			imap_search_part_text (ep_mime_part_get_child (part, i), data, len, out, depth + 1);
		return;
	}
	if (type != NULL && g_ascii_strcasecmp (type, "text") != 0)
		return;
	decoded = ep_mime_part_decode_body (part, data, len, NULL);
	if (decoded == NULL)
		return;
	d = g_bytes_get_data (decoded, &n);
	charset = ep_mime_part_get_param (part, "charset");
	utf8 = ep_mime_charset_to_utf8 (charset != NULL ? charset : "us-ascii", d != NULL ? d : "", n);
	if (utf8 == NULL)
		utf8 = g_utf8_make_valid (d != NULL ? d : "", (gssize)n);
	g_string_append (out, utf8);
	g_string_append_c (out, '\n');
}

void
imap_search_message_text (const char *data, gsize len, char **header_text, char **body_text)
{
	g_autoptr (EpMimeMessage) msg = ep_mime_message_parse (data, len);
	g_autoptr (GString) body = g_string_new (NULL);
	gsize hlen = imap_search_header_length (data, len);
	g_autofree char *header = ep_mime_decode_encoded_words (data, hlen);
	EpMimePart *root = ep_mime_message_get_root (msg);

	imap_search_part_text (root, data, len, body, 0);
	*header_text = imap_search_fold (header, -1);
	*body_text = imap_search_fold (body->str, (gssize)body->len);
}

gsize
imap_search_header_length (const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

guint64
imap_search_result_modseq (const ImapSearchProgram *prog, gboolean esearch, const guint64 *modseqs, guint len)
{
	guint64 max = 0;

	if (!prog->has_modseq || len == 0)
		return 0;
	if ((esearch || prog->has_return) &&
	    (prog->returns & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) == 0) {
		/* MIN and MAX only: the messages they name */
		if (prog->returns & IMAP_SEARCH_RETURN_MIN)
			max = modseqs[0];
		if (prog->returns & IMAP_SEARCH_RETURN_MAX)
			max = MAX (max, modseqs[len - 1]);
		return max;
	}
	for (guint i = 0; i < len; i++)
		max = MAX (max, modseqs[i]);
	return max;
}

gboolean
imap_search_args_want_save (GPtrArray *args)
{
	const ImapArg *a = args->len >= 2 ? g_ptr_array_index (args, 0) : NULL;
	const char *word = a != NULL ? imap_arg_get_atom (a) : NULL;
	const ImapArg *list = args->len >= 2 ? g_ptr_array_index (args, 1) : NULL;

	if (word == NULL || g_ascii_strcasecmp (word, "RETURN") != 0 || list->type != IMAP_ARG_LIST)
		return FALSE;
	for (guint i = 0; i < list->list->len; i++) {
		const char *opt = imap_arg_get_atom (g_ptr_array_index (list->list, i));
		if (opt != NULL && g_ascii_strcasecmp (opt, "SAVE") == 0)
			return TRUE;
	}
	return FALSE;
}

GArray *
imap_search_saved_result (const ImapSearchProgram *prog, const guint32 *n, guint len)
{
	guint others = prog->returns & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT);
	guint minmax = prog->returns & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX);
	GArray *out = g_array_new (FALSE, FALSE, sizeof (guint32));

	if (others != 0 || minmax == 0) {
		g_array_append_vals (out, n, len);
		return out;
	}
	if (len > 0 && (minmax & IMAP_SEARCH_RETURN_MIN))
		g_array_append_val (out, n[0]);
	if (len > 0 && (minmax & IMAP_SEARCH_RETURN_MAX) && (out->len == 0 || n[len - 1] != n[0]))
		g_array_append_val (out, n[len - 1]);
	return out;
}

void
imap_search_append_set (GString *out, const guint32 *n, guint len)
{
	for (guint i = 0; i < len;) {
		guint j = i;
		while (j + 1 < len && n[j + 1] == n[j] + 1)
			j++;
		if (i > 0)
			g_string_append_c (out, ',');
		if (j > i)
			g_string_append_printf (out, "%u:%u", n[i], n[j]);
		else
			g_string_append_printf (out, "%u", n[i]);
		i = j + 1;
	}
}

char *
imap_search_format (const ImapSearchProgram *prog, gboolean esearch, const char *tag, gboolean uid, const guint32 *n,
		    guint len)
{
	GString *out;

	/* RETURN (SAVE) alone: no answer but the tagged OK (RFC 5182 §2.4) */
	if (prog->returns == IMAP_SEARCH_RETURN_SAVE)
		return NULL;
	if (!esearch && !prog->has_return) {
		out = g_string_new ("SEARCH");
		for (guint i = 0; i < len; i++)
			g_string_append_printf (out, " %u", n[i]);
		if (prog->result_modseq > 0 && len > 0)
			g_string_append_printf (out, " (MODSEQ %" G_GUINT64_FORMAT ")", prog->result_modseq);
		return g_string_free (out, FALSE);
	}
	out = g_string_new ("ESEARCH (TAG ");
	g_string_append_c (out, '"');
	for (const char *t = tag; *t != '\0'; t++) {
		if (*t == '"' || *t == '\\')
			g_string_append_c (out, '\\');
		g_string_append_c (out, *t);
	}
	g_string_append (out, "\")");
	if (uid)
		g_string_append (out, " UID");
	if (len > 0 && (prog->returns & IMAP_SEARCH_RETURN_MIN))
		g_string_append_printf (out, " MIN %u", n[0]);
	if (len > 0 && (prog->returns & IMAP_SEARCH_RETURN_MAX))
		g_string_append_printf (out, " MAX %u", n[len - 1]);
	if (len > 0 && (prog->returns & IMAP_SEARCH_RETURN_ALL)) {
		g_string_append (out, " ALL ");
		imap_search_append_set (out, n, len);
	}
	if (prog->returns & IMAP_SEARCH_RETURN_COUNT)
		g_string_append_printf (out, " COUNT %u", len);
	if (prog->result_modseq > 0 && len > 0)
		g_string_append_printf (out, " MODSEQ %" G_GUINT64_FORMAT, prog->result_modseq);
	return g_string_free (out, FALSE);
}
