/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO): sort keys of a
 * message, the base subject (RFC 5256 §2.1) and the comparison.
 */

#include "config.h"

#include <string.h>

#include "ep-mime.h"
#include "imap-sort.h"

/* ---- the base subject (RFC 5256 §2.1) ----------------------------------------------------- */

/* subj-blob = "[" *BLOBCHAR "]" *WSP; BLOBCHAR is any CHAR but "[" and "]" */
static gsize
imap_sort_match_blob (const char *p, gsize n)
{
	gsize i = 1;

	if (n == 0 || p[0] != '[')
		return 0;
	while (i < n && p[i] != '[' && p[i] != ']')
		i++;
	if (i >= n || p[i] != ']')
		return 0;
	i++;
	while (i < n && p[i] == ' ')
		i++;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static gsize
imap_sort_match_refwd (const char *p, gsize n)
{
	gsize i;

	if (n >= 2 && g_ascii_strncasecmp (p, "re", 2) == 0)
		i = 2;
	else if (n >= 3 && g_ascii_strncasecmp (p, "fwd", 3) == 0)
		i = 3;
	else if (n >= 2 && g_ascii_strncasecmp (p, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < n && p[i] == ' ')
		i++;
	i += imap_sort_match_blob (p + i, n - i);
	if (i >= n || p[i] != ':')
		return 0;
	return i + 1;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP: the first alternative here */
static gsize
imap_sort_match_leader (const char *p, gsize n)
{
	gsize i = 0, b, r;

	while ((b = imap_sort_match_blob (p + i, n - i)) > 0)
		i += b;
	r = imap_sort_match_refwd (p + i, n - i);
	return r > 0 ? i + r : 0;
}

char *
imap_sort_base_subject (const char *subject, gboolean *reply)
{
	g_autofree char *decoded = ep_mime_decode_encoded_words (subject, strlen (subject));
	g_autofree char *valid = g_utf8_make_valid (decoded, -1);
	g_autoptr (GString) buf = g_string_new (NULL);
	gboolean is_reply = FALSE;
	gsize s = 0, e;

	/* (1) tabs and line breaks to spaces, runs of spaces to one */
	for (const char *p = valid; *p != '\0'; p++) {
		char c = (*p == '\t' || *p == '\r' || *p == '\n') ? ' ' : *p;
		if (c == ' ' && buf->len > 0 && buf->str[buf->len - 1] == ' ')
			continue;
		g_string_append_c (buf, c);
	}
	e = buf->len;
	for (;;) {
		const char *b = buf->str;
		gboolean changed;

		/* (2) the trailers "(fwd)" and white space */
		while (e > s) {
			if (b[e - 1] == ' ') {
				e--;
			} else if (e - s >= 5 && g_ascii_strncasecmp (b + e - 5, "(fwd)", 5) == 0) {
				e -= 5;
				is_reply = TRUE;
			} else {
				break;
			}
		}
		/* (3) leaders, (4) a leading blob when something is left, (5) again */
		do {
			gsize n;

			changed = FALSE;
			for (;;) {
				if (s < e && b[s] == ' ') {
					s++;
					changed = TRUE;
				} else if ((n = imap_sort_match_leader (b + s, e - s)) > 0) {
					s += n;
					is_reply = TRUE;
					changed = TRUE;
				} else {
					break;
				}
			}
			n = imap_sort_match_blob (b + s, e - s);
			if (n > 0 && s + n < e) {
				s += n;
				changed = TRUE;
			}
		} while (changed);
		/* (6) "[fwd:" … "]" around it all: off, and again from (2) */
		if (e - s >= 6 && g_ascii_strncasecmp (b + s, "[fwd:", 5) == 0 && b[e - 1] == ']') {
			s += 5;
			e -= 1;
			is_reply = TRUE;
			continue;
		}
		break;
	}
	if (reply != NULL)
		*reply = is_reply;
	return g_strndup (buf->str + s, e - s);
}

char *
imap_sort_fold (const char *s)
{
	g_autofree char *valid = g_utf8_make_valid (s, -1);
	g_autofree char *folded = g_utf8_casefold (valid, -1);
	char *norm = g_utf8_normalize (folded, -1, G_NORMALIZE_NFKD);

	return norm != NULL ? norm : g_steal_pointer (&folded);
}

/* ---- dates ---------------------------------------------------------------------------------- */

static const char *const imap_sort_months[] = {"jan", "feb", "mar", "apr", "may", "jun",
					       "jul", "aug", "sep", "oct", "nov", "dec"};

static const struct {
	const char *name;
	int minutes;
} imap_sort_zones[] = {
    {"UT", 0},	      {"GMT", 0},	{"Z", 0},	  {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60},
    {"CDT", -5 * 60}, {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
};

static gboolean
imap_sort_number (const char *s, int min_digits, int max_digits, int *out)
{
	int n = 0, d = 0;

	for (; g_ascii_isdigit (*s); s++, d++) {
		if (d >= max_digits)
			return FALSE;
		n = n * 10 + (*s - '0');
	}
	if (*s != '\0' || d < min_digits)
		return FALSE;
	*out = n;
	return TRUE;
}

gboolean
imap_sort_parse_date (const char *value, gint64 *out)
{
	g_autoptr (GString) text = g_string_new (NULL);
	g_auto (GStrv) words = NULL;
	g_autoptr (GPtrArray) w = g_ptr_array_new ();
	g_autoptr (GDateTime) dt = NULL;
	g_auto (GStrv) hms = NULL;
	int depth = 0, day, month = 0, year, hour, minute, second = 0, zone = 0;
	guint i = 0;

	/* comments away; commas and white space separate words */
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			g_string_append_c (text, (*p == ',' || g_ascii_isspace (*p)) ? ' ' : *p);
	}
	words = g_strsplit (text->str, " ", -1);
	for (guint k = 0; words[k] != NULL; k++)
		if (*words[k] != '\0')
			g_ptr_array_add (w, words[k]);
	/* the day of the week */
	if (i < w->len && g_ascii_isalpha (*(char *)g_ptr_array_index (w, i)))
		i++;
	if (i + 4 > w->len)
		return FALSE;
	if (!imap_sort_number (g_ptr_array_index (w, i++), 1, 2, &day))
		return FALSE;
	for (guint m = 0; m < G_N_ELEMENTS (imap_sort_months); m++)
		if (g_ascii_strcasecmp (g_ptr_array_index (w, i), imap_sort_months[m]) == 0)
			month = m + 1;
	if (month == 0)
		return FALSE;
	i++;
	{
		const char *y = g_ptr_array_index (w, i++);
		if (!imap_sort_number (y, 2, 4, &year))
			return FALSE;
		if (strlen (y) == 2) /* obsolete years (RFC 5322 §4.3) */
			year += year < 50 ? 2000 : 1900;
		else if (strlen (y) == 3)
			year += 1900;
	}
	hms = g_strsplit (g_ptr_array_index (w, i++), ":", -1);
	if (g_strv_length (hms) < 2 || g_strv_length (hms) > 3 || !imap_sort_number (hms[0], 1, 2, &hour) ||
	    !imap_sort_number (hms[1], 2, 2, &minute) || (hms[2] != NULL && !imap_sort_number (hms[2], 2, 2, &second)))
		return FALSE;
	if (hour > 23 || minute > 59 || second > 60)
		return FALSE;
	if (second == 60)
		second = 59;
	if (i < w->len) {
		const char *z = g_ptr_array_index (w, i);
		int hhmm;
		if ((*z == '+' || *z == '-') && imap_sort_number (z + 1, 4, 4, &hhmm)) {
			if (hhmm % 100 > 59)
				return FALSE;
			zone = (hhmm / 100) * 60 + hhmm % 100;
			if (*z == '-')
				zone = -zone;
		} else {
			/* named zones; military letters and the unknown count as +0000 */
			for (guint k = 0; k < G_N_ELEMENTS (imap_sort_zones); k++)
				if (g_ascii_strcasecmp (z, imap_sort_zones[k].name) == 0)
					zone = imap_sort_zones[k].minutes;
		}
	}
	if (year < 1 || year > 9999 || !g_date_valid_dmy (day, month, year))
		return FALSE;
	dt = g_date_time_new_utc (year, month, day, hour, minute, second);
	if (dt == NULL)
		return FALSE;
	*out = g_date_time_to_unix (dt) - (gint64)zone * 60;
	return TRUE;
}

/* ---- the message descriptor ------------------------------------------------------------------ */

/* the first mailbox of an address list: its local part and its display form */
static void
imap_sort_first_address (const char *header, gsize len, const char *field, char **mailbox, char **display)
{
	g_autofree char *value = header != NULL ? ep_mime_headers_get_first (header, len, field) : NULL;
	g_autoptr (GPtrArray) list = value != NULL ? ep_mime_address_list_parse (value, strlen (value)) : NULL;

	for (guint i = 0; list != NULL && i < list->len; i++) {
		const EpMimeAddress *a = g_ptr_array_index (list, i);
		if (a->host == NULL || a->mailbox == NULL)
			continue; /* the start or end of a group */
		*mailbox = imap_sort_fold (a->mailbox);
		if (display == NULL)
			return;
		if (a->name != NULL && *a->name != '\0') {
			g_autofree char *name = ep_mime_decode_encoded_words (a->name, strlen (a->name));
			*display = imap_sort_fold (name);
		} else {
			g_autofree char *spec = g_strdup_printf ("%s@%s", a->mailbox, a->host);
			*display = imap_sort_fold (spec);
		}
		return;
	}
	*mailbox = g_strdup ("");
	if (display != NULL)
		*display = g_strdup ("");
}

/* the msg-ids of @value in order: "<" id ">" with an "@" inside, white
 * space and comments outside and inside disregarded */
static void
imap_sort_msg_ids (const char *value, GPtrArray *out, guint max)
{
	const char *p = value;
	int depth = 0;

	while (*p != '\0' && out->len < max) {
		const char *end;
		g_autoptr (GString) id = NULL;

		if (*p == '(') {
			depth++;
			p++;
			continue;
		}
		if (*p == ')' && depth > 0) {
			depth--;
			p++;
			continue;
		}
		if (depth > 0 || *p != '<') {
			p++;
			continue;
		}
		end = strchr (p + 1, '>');
		if (end == NULL)
			return;
		id = g_string_new (NULL);
		for (const char *q = p + 1; q < end; q++)
			if (!g_ascii_isspace (*q))
				g_string_append_c (id, *q);
		p = end + 1;
		{
			const char *at = strchr (id->str, '@');
			if (at == NULL || at == id->str || at[1] == '\0' || strchr (id->str, '<') != NULL)
				continue;
		}
		g_ptr_array_add (out, g_string_free (g_steal_pointer (&id), FALSE));
	}
}

#define IMAP_SORT_MAX_REFERENCES 1000

ImapSortMessage *
imap_sort_message_new (guint32 seq, guint32 uid, gint64 internal_date, guint64 size, const char *header,
		       gsize header_len)
{
	ImapSortMessage *m = g_new0 (ImapSortMessage, 1);
	g_autofree char *subject = NULL;
	g_autofree char *date = NULL;
	g_autofree char *base = NULL;
	g_autofree char *message_id = NULL;
	g_autofree char *references = NULL;
	g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

	m->seq = seq;
	m->uid = uid;
	m->arrival = internal_date;
	m->size = size;
	m->date = internal_date;
	m->references = g_ptr_array_new_with_free_func (g_free);
	if (header != NULL) {
		subject = ep_mime_headers_get_first (header, header_len, "Subject");
		date = ep_mime_headers_get_first (header, header_len, "Date");
		message_id = ep_mime_headers_get_first (header, header_len, "Message-ID");
		references = ep_mime_headers_get_first (header, header_len, "References");
	}
	if (date != NULL && !imap_sort_parse_date (date, &m->date))
		m->date = internal_date;
	base = imap_sort_base_subject (subject != NULL ? subject : "", &m->reply);
	m->subject = imap_sort_fold (base);
	imap_sort_first_address (header, header_len, "From", &m->from, &m->display_from);
	imap_sort_first_address (header, header_len, "To", &m->to, &m->display_to);
	imap_sort_first_address (header, header_len, "Cc", &m->cc, NULL);
	if (message_id != NULL) {
		imap_sort_msg_ids (message_id, ids, 1);
		if (ids->len > 0)
			m->message_id = g_strdup (g_ptr_array_index (ids, 0));
	}
	/* References, else the first msg-id of In-Reply-To (RFC 5256 §2.2) */
	if (references != NULL)
		imap_sort_msg_ids (references, m->references, IMAP_SORT_MAX_REFERENCES);
	if (m->references->len == 0 && header != NULL) {
		g_autofree char *irt = ep_mime_headers_get_first (header, header_len, "In-Reply-To");
		if (irt != NULL)
			imap_sort_msg_ids (irt, m->references, 1);
	}
	return m;
}

void
imap_sort_message_free (ImapSortMessage *msg)
{
	if (msg == NULL)
		return;
	g_free (msg->subject);
	g_free (msg->from);
	g_free (msg->to);
	g_free (msg->cc);
	g_free (msg->display_from);
	g_free (msg->display_to);
	g_free (msg->message_id);
	g_ptr_array_unref (msg->references);
	g_free (msg);
}

/* ---- criteria and comparison ------------------------------------------------------------------ */

static const struct {
	const char *name;
	ImapSortKey key;
	gboolean header;
} imap_sort_keys[] = {
    {"ARRIVAL", IMAP_SORT_ARRIVAL, FALSE},
    {"CC", IMAP_SORT_CC, TRUE},
    {"DATE", IMAP_SORT_DATE, TRUE},
    {"FROM", IMAP_SORT_FROM, TRUE},
    {"SIZE", IMAP_SORT_SIZE, FALSE},
    {"SUBJECT", IMAP_SORT_SUBJECT, TRUE},
    {"TO", IMAP_SORT_TO, TRUE},
    {"DISPLAYFROM", IMAP_SORT_DISPLAYFROM, TRUE},
    {"DISPLAYTO", IMAP_SORT_DISPLAYTO, TRUE},
};

GArray *
imap_sort_parse_criteria (const ImapArg *arg, gboolean *need_header, const char **error_text)
{
	g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (ImapSortCriterion));
	gboolean reverse = FALSE;

	*need_header = FALSE;
	if (arg->type != IMAP_ARG_LIST) {
		*error_text = "SORT criteria must be a parenthesised list";
		return NULL;
	}
	for (guint i = 0; i < arg->list->len; i++) {
		const char *name = imap_arg_get_atom (g_ptr_array_index (arg->list, i));
		gboolean found = FALSE;

		if (name == NULL) {
			*error_text = "Invalid sort criterion";
			return NULL;
		}
		if (g_ascii_strcasecmp (name, "REVERSE") == 0) {
			if (reverse) {
				*error_text = "REVERSE REVERSE in sort criteria";
				return NULL;
			}
			reverse = TRUE;
			continue;
		}
		for (guint k = 0; k < G_N_ELEMENTS (imap_sort_keys); k++) {
			ImapSortCriterion c = {imap_sort_keys[k].key, reverse};
			if (g_ascii_strcasecmp (name, imap_sort_keys[k].name) != 0)
				continue;
			g_array_append_val (out, c);
			*need_header |= imap_sort_keys[k].header;
			found = TRUE;
			break;
		}
		if (!found) {
			*error_text = "Unknown sort criterion";
			return NULL;
		}
		reverse = FALSE;
	}
	if (reverse) {
		*error_text = "REVERSE must precede a sort criterion";
		return NULL;
	}
	if (out->len == 0) {
		*error_text = "Empty sort criteria";
		return NULL;
	}
	return g_steal_pointer (&out);
}

#define IMAP_SORT_CMP(x, y) ((x) < (y) ? -1 : (x) > (y) ? 1 : 0)

int
imap_sort_compare (const ImapSortMessage *a, const ImapSortMessage *b, const ImapSortCriterion *criteria,
		   guint n_criteria)
{
	for (guint i = 0; i < n_criteria; i++) {
		int r = 0;

		switch (criteria[i].key) {
		case IMAP_SORT_ARRIVAL:
			r = IMAP_SORT_CMP (a->arrival, b->arrival);
			break;
		case IMAP_SORT_CC:
			r = strcmp (a->cc, b->cc);
			break;
		case IMAP_SORT_DATE:
			r = IMAP_SORT_CMP (a->date, b->date);
			break;
		case IMAP_SORT_FROM:
			r = strcmp (a->from, b->from);
			break;
		case IMAP_SORT_SIZE:
			r = IMAP_SORT_CMP (a->size, b->size);
			break;
		case IMAP_SORT_SUBJECT:
			r = strcmp (a->subject, b->subject);
			break;
		case IMAP_SORT_TO:
			r = strcmp (a->to, b->to);
			break;
		case IMAP_SORT_DISPLAYFROM:
			r = strcmp (a->display_from, b->display_from);
			break;
		case IMAP_SORT_DISPLAYTO:
			r = strcmp (a->display_to, b->display_to);
			break;
		}
		if (r != 0)
			return criteria[i].reverse ? -r : r;
	}
	return 0;
}

static gint
imap_sort_cmp_func (gconstpointer pa, gconstpointer pb, gpointer user_data)
{
	const ImapSortMessage *a = *(const ImapSortMessage *const *)pa;
	const ImapSortMessage *b = *(const ImapSortMessage *const *)pb;
	GArray *criteria = user_data;
	int r = imap_sort_compare (a, b, (const ImapSortCriterion *)criteria->data, criteria->len);

	/* ties: the order of the mailbox, REVERSE or not (RFC 5256 §3) */
	return r != 0 ? r : IMAP_SORT_CMP (a->seq, b->seq);
}

void
imap_sort_messages (GPtrArray *msgs, GArray *criteria)
{
	g_ptr_array_sort_with_data (msgs, imap_sort_cmp_func, criteria);
}
