/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap-util.h"

/* ---- modified UTF-7 (RFC 3501 §5.1.3) ------------------------------------------------------ */

static const char imap_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void
imap_utf7_flush (GString *out, const gunichar2 *units, gsize n)
{
	guint32 acc = 0;
	guint bits = 0;

	g_string_append_c (out, '&');
	for (gsize i = 0; i < n; i++) {
		acc = (acc << 16) | units[i];
		bits += 16;
		while (bits >= 6) {
			bits -= 6;
			g_string_append_c (out, imap_b64[(acc >> bits) & 0x3f]);
		}
	}
	if (bits > 0)
		g_string_append_c (out, imap_b64[(acc << (6 - bits)) & 0x3f]);
	g_string_append_c (out, '-');
}

char *
imap_utf7_encode (const char *utf8)
{
	GString *out = g_string_new (NULL);
	g_autoptr (GArray) run = g_array_new (FALSE, FALSE, sizeof (gunichar2));

	for (const char *p = utf8; *p != '\0'; p = g_utf8_next_char (p)) {
		gunichar c = g_utf8_get_char (p);
		if (c >= 0x20 && c <= 0x7e) {
			if (run->len > 0) {
				imap_utf7_flush (out, (const gunichar2 *)run->data, run->len);
				g_array_set_size (run, 0);
			}
			if (c == '&')
				g_string_append (out, "&-");
			else
				g_string_append_c (out, (char)c);
			continue;
		}
		if (c >= 0x10000) {
			gunichar2 hi = (gunichar2)(0xd800 + ((c - 0x10000) >> 10));
			gunichar2 lo = (gunichar2)(0xdc00 + ((c - 0x10000) & 0x3ff));
			g_array_append_val (run, hi);
			g_array_append_val (run, lo);
		} else {
			gunichar2 u = (gunichar2)c;
			g_array_append_val (run, u);
		}
	}
	if (run->len > 0)
		imap_utf7_flush (out, (const gunichar2 *)run->data, run->len);
	return g_string_free (out, FALSE);
}

static int
imap_b64_index (char c)
{
	const char *p = c != '\0' ? strchr (imap_b64, c) : NULL;

	return p != NULL ? (int)(p - imap_b64) : -1;
}

char *
imap_utf7_decode (const char *mutf7)
{
	g_autoptr (GString) out = g_string_new (NULL);
	const char *p = mutf7;

	while (*p != '\0') {
		guchar c = (guchar)*p;
		g_autoptr (GArray) units = NULL;
		guint32 acc = 0;
		guint bits = 0;

		if (c < 0x20 || c > 0x7e)
			return NULL;
		if (c != '&') {
			g_string_append_c (out, (char)c);
			p++;
			continue;
		}
		p++;
		if (*p == '-') {
			g_string_append_c (out, '&');
			p++;
			continue;
		}
		units = g_array_new (FALSE, FALSE, sizeof (gunichar2));
		while (*p != '-') {
			int v = imap_b64_index (*p);
			if (v < 0)
				return NULL;
			acc = (acc << 6) | (guint32)v;
			bits += 6;
			if (bits >= 16) {
				gunichar2 u;
				bits -= 16;
				u = (gunichar2)((acc >> bits) & 0xffff);
				g_array_append_val (units, u);
			}
			p++;
		}
		p++;
		/* the leftover bits are padding: fewer than 6, all zero; and a
		 * shift must carry something */
		if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0 || units->len == 0)
			return NULL;
		{
			g_autofree char *s =
			    g_utf16_to_utf8 ((const gunichar2 *)units->data, units->len, NULL, NULL, NULL);
			if (s == NULL)
				return NULL;
			for (const char *q = s; *q != '\0'; q = g_utf8_next_char (q)) {
				gunichar u = g_utf8_get_char (q);
				/* printable ASCII must not be encoded (RFC 3501) */
				if (u < 0x80)
					return NULL;
			}
			g_string_append (out, s);
		}
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ---- strings ------------------------------------------------------------------------------ */

void
imap_append_string (GString *out, const char *s)
{
	gboolean quotable = TRUE;
	gsize len = strlen (s);

	for (gsize i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n')
			quotable = FALSE;
	if (!quotable || !g_utf8_validate (s, (gssize)len, NULL)) {
		g_string_append_printf (out, "{%" G_GSIZE_FORMAT "}\r\n", len);
		g_string_append_len (out, s, (gssize)len);
		return;
	}
	g_string_append_c (out, '"');
	for (gsize i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			g_string_append_c (out, '\\');
		g_string_append_c (out, s[i]);
	}
	g_string_append_c (out, '"');
}

void
imap_append_nstring (GString *out, const char *s)
{
	if (s == NULL)
		g_string_append (out, "NIL");
	else
		imap_append_string (out, s);
}

/* ---- flags -------------------------------------------------------------------------------- */

static const struct {
	EpStoreFlags flag;
	const char *name;
} imap_flag_names[] = {
    {EP_STORE_FLAG_SEEN, "\\Seen"},	  {EP_STORE_FLAG_ANSWERED, "\\Answered"}, {EP_STORE_FLAG_FLAGGED, "\\Flagged"},
    {EP_STORE_FLAG_DELETED, "\\Deleted"}, {EP_STORE_FLAG_DRAFT, "\\Draft"},
};

void
imap_append_flags (GString *out, EpStoreFlags flags, const char *const *keywords)
{
	gboolean first = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS (imap_flag_names); i++) {
		if ((flags & imap_flag_names[i].flag) == 0)
			continue;
		if (!first)
			g_string_append_c (out, ' ');
		g_string_append (out, imap_flag_names[i].name);
		first = FALSE;
	}
	for (guint i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		if (!first)
			g_string_append_c (out, ' ');
		g_string_append (out, keywords[i]);
		first = FALSE;
	}
}

gboolean
imap_parse_flag (const char *text, EpStoreFlags *flag, const char **keyword)
{
	*flag = EP_STORE_FLAG_NONE;
	*keyword = NULL;
	if (text[0] == '\\') {
		for (guint i = 0; i < G_N_ELEMENTS (imap_flag_names); i++) {
			if (g_ascii_strcasecmp (text, imap_flag_names[i].name) == 0) {
				*flag = imap_flag_names[i].flag;
				return TRUE;
			}
		}
		return FALSE;
	}
	if (text[0] == '\0')
		return FALSE;
	for (const char *p = text; *p != '\0'; p++) {
		/* flag-keyword is an atom: no "]" or wildcards either */
		if ((guchar)*p <= 0x20 || (guchar)*p >= 0x7f || strchr ("(){%*\"\\]", *p) != NULL)
			return FALSE;
	}
	*keyword = text;
	return TRUE;
}

/* ---- dates -------------------------------------------------------------------------------- */

static const char *const imap_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

gboolean
imap_parse_date_time (const char *text, gint64 *out)
{
	int day, year, hour, min, sec, zone, month = -1;
	char mon[4] = {0};
	char sign;
	int n = 0;
	const char *p = text;
	g_autoptr (GTimeZone) tz = NULL;
	g_autoptr (GDateTime) dt = NULL;
	g_autofree char *tzid = NULL;

	if (*p == ' ')
		p++;
	if (!g_ascii_isdigit (p[0]))
		return FALSE;
	if (sscanf (p, "%2d-%3c-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year, &hour, &min, &sec, &sign, &zone, &n) != 8 ||
	    p[n] != '\0')
		return FALSE;
	/* fixed widths after the day */
	if (strlen (p) != (g_ascii_isdigit (p[1]) ? 26u : 25u))
		return FALSE;
	for (int i = 0; i < 12; i++)
		if (strcmp (mon, imap_months[i]) == 0)
			month = i + 1;
	if (month < 0 || (sign != '+' && sign != '-') || zone % 100 >= 60)
		return FALSE;
	tzid = g_strdup_printf ("%c%02d:%02d", sign, zone / 100, zone % 100);
	tz = g_time_zone_new_identifier (tzid);
	if (tz == NULL)
		return FALSE;
	dt = g_date_time_new (tz, year, month, day, hour, min, sec);
	if (dt == NULL)
		return FALSE;
	*out = g_date_time_to_unix (dt);
	return TRUE;
}

char *
imap_format_date_time (gint64 t)
{
	g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);

	if (dt == NULL)
		dt = g_date_time_new_from_unix_utc (0);
	return g_strdup_printf ("%02d-%s-%04d %02d:%02d:%02d +0000", g_date_time_get_day_of_month (dt),
				imap_months[g_date_time_get_month (dt) - 1], g_date_time_get_year (dt),
				g_date_time_get_hour (dt), g_date_time_get_minute (dt), g_date_time_get_second (dt));
}

/* ---- base64 ------------------------------------------------------------------------------- */

static int
imap_std_b64 (guchar c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

GBytes *
imap_base64_decode (const char *s, gsize len)
{
	g_autoptr (GByteArray) out = NULL;

	if (len % 4 != 0)
		return NULL;
	out = g_byte_array_new ();
	for (gsize i = 0; i < len; i += 4) {
		guint32 w = 0;
		guint pad = 0;

		for (guint k = 0; k < 4; k++) {
			guchar c = (guchar)s[i + k];
			int v;
			if (c == '=' && i + 4 == len && k >= 2) {
				pad++;
				w <<= 6;
				continue;
			}
			v = imap_std_b64 (c);
			if (v < 0 || pad > 0)
				return NULL;
			w = (w << 6) | (guint32)v;
		}
		if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
			return NULL;
		{
			guint8 b[3] = {(guint8)(w >> 16), (guint8)(w >> 8), (guint8)w};
			g_byte_array_append (out, b, 3 - pad);
		}
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* ---- LIST patterns ------------------------------------------------------------------------ */

/* dynamic programming over (pattern position, name position), one row at a
 * time: linear memory, and no exponential blow-up on "*a*a*a*b" */
static gboolean
imap_match_from (const char *pat, const char *name)
{
	gsize m = strlen (pat), n = strlen (name);
	g_autofree gboolean *next = g_new0 (gboolean, n + 1);
	g_autofree gboolean *cur = g_new0 (gboolean, n + 1);

	next[n] = TRUE; /* the empty pattern matches the empty rest only */
	for (gsize i = m; i-- > 0;) {
		for (gsize j = n + 1; j-- > 0;) {
			if (pat[i] == '*')
				cur[j] = next[j] || (j < n && cur[j + 1]);
			else if (pat[i] == '%')
				cur[j] = next[j] || (j < n && name[j] != '/' && cur[j + 1]);
			else
				cur[j] = j < n && pat[i] == name[j] && next[j + 1];
		}
		{
			gboolean *t = next;
			next = cur;
			cur = t;
		}
	}
	return next[0];
}

gboolean
imap_list_match (const char *pattern, const char *name)
{
	/* INBOX is case-insensitive: match it written as the pattern has it */
	if (g_ascii_strncasecmp (pattern, "INBOX", 5) == 0 && g_ascii_strncasecmp (name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/')) {
		g_autofree char *p = g_strconcat ("INBOX", pattern + 5, NULL);
		return imap_match_from (p, name);
	}
	return imap_match_from (pattern, name);
}

const char *
imap_role_attribute (const char *role)
{
	if (role == NULL)
		return NULL;
	if (strcmp (role, "sent") == 0)
		return "\\Sent";
	if (strcmp (role, "drafts") == 0)
		return "\\Drafts";
	if (strcmp (role, "trash") == 0)
		return "\\Trash";
	if (strcmp (role, "junk") == 0)
		return "\\Junk";
	if (strcmp (role, "archive") == 0)
		return "\\Archive";
	return NULL;
}

char *
imap_mailbox_object_id (gint64 id)
{
	return g_strdup_printf ("F%" G_GINT64_MODIFIER "x", (guint64)id);
}

static void
imap_append_message_clear (ImapAppendMessage *msg)
{
	g_clear_pointer (&msg->keywords, g_ptr_array_unref);
}

/* one append-message from @args at *@i */
static gboolean
imap_append_message_parse (GPtrArray *args, guint *i, ImapAppendMessage *msg, const char **error)
{
	const ImapArg *a = *i < args->len ? g_ptr_array_index (args, *i) : NULL;

	msg->keywords = g_ptr_array_new ();
	if (a != NULL && a->type == IMAP_ARG_LIST) {
		for (guint j = 0; j < a->list->len; j++) {
			const char *f = imap_arg_get_atom (g_ptr_array_index (a->list, j));
			EpStoreFlags one;
			const char *kw;

			if (f == NULL || !imap_parse_flag (f, &one, &kw)) {
				*error = "Invalid flag";
				return FALSE;
			}
			msg->flags |= one;
			if (kw != NULL)
				g_ptr_array_add (msg->keywords, (gpointer)kw);
		}
		a = ++*i < args->len ? g_ptr_array_index (args, *i) : NULL;
	}
	g_ptr_array_add (msg->keywords, NULL);
	if (a != NULL && a->type == IMAP_ARG_QUOTED) {
		if (!imap_parse_date_time (a->str, &msg->date)) {
			*error = "Invalid APPEND date-time";
			return FALSE;
		}
		a = ++*i < args->len ? g_ptr_array_index (args, *i) : NULL;
	}
	/* RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")" */
	if (a != NULL && a->type == IMAP_ARG_ATOM && g_ascii_strcasecmp (a->str, "UTF8") == 0) {
		const ImapArg *list = *i + 1 < args->len ? g_ptr_array_index (args, *i + 1) : NULL;
		const ImapArg *lit = list != NULL && list->type == IMAP_ARG_LIST && list->list->len == 1
					 ? g_ptr_array_index (list->list, 0)
					 : NULL;
		if (lit == NULL || lit->type != IMAP_ARG_LITERAL || !lit->literal8) {
			*error = "APPEND UTF8 takes a literal8 in parentheses";
			return FALSE;
		}
		msg->utf8 = TRUE;
		++*i;
		a = lit;
	}
	if (a == NULL || a->type != IMAP_ARG_LITERAL) {
		*error = "APPEND takes a mailbox, then for each message optional flags and date-time and a literal";
		return FALSE;
	}
	msg->literal = a;
	++*i;
	return TRUE;
}

GArray *
imap_append_messages_parse (GPtrArray *args, guint first, const char **error)
{
	g_autoptr (GArray) msgs = g_array_new (FALSE, TRUE, sizeof (ImapAppendMessage));

	g_array_set_clear_func (msgs, (GDestroyNotify)imap_append_message_clear);
	if (first >= args->len) {
		*error = "APPEND takes a mailbox, then for each message optional flags and date-time and a literal";
		return NULL;
	}
	for (guint i = first; i < args->len;) {
		ImapAppendMessage msg = {0};
		gboolean parsed = imap_append_message_parse (args, &i, &msg, error);

		g_array_append_val (msgs, msg);
		if (!parsed)
			return NULL;
	}
	return g_steal_pointer (&msgs);
}
