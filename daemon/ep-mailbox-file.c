/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ep-mailbox-file.h"

gboolean
ep_mbox_line_needs_quote (const char *line, gsize len)
{
	gsize i = 0;

	while (i < len && line[i] == '>')
		i++;
	return len - i >= 5 && memcmp (line + i, "From ", 5) == 0;
}

gboolean
ep_mbox_is_from_line (const char *line, gsize len)
{
	return len >= 5 && memcmp (line, "From ", 5) == 0;
}

void
ep_mbox_quote_line (GString *out, const char *line, gsize len)
{
	if (ep_mbox_line_needs_quote (line, len))
		g_string_append_c (out, '>');
	g_string_append_len (out, line, len);
}

void
ep_mbox_unquote_line (GString *out, const char *line, gsize len)
{
	if (len > 0 && line[0] == '>' && ep_mbox_line_needs_quote (line, len)) {
		g_string_append_len (out, line + 1, len - 1);
		return;
	}
	g_string_append_len (out, line, len);
}

static const char *const ep_mbox_days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const ep_mbox_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

char *
ep_mbox_from_line (gint64 internal_date)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (internal_date);

	if (dt == NULL)
		dt = g_date_time_new_from_unix_utc (0);
	return g_strdup_printf ("From MAILER-DAEMON %s %s %2d %02d:%02d:%02d %04d\n",
				ep_mbox_days[g_date_time_get_day_of_week (dt) - 1],
				ep_mbox_months[g_date_time_get_month (dt) - 1], g_date_time_get_day_of_month (dt),
				g_date_time_get_hour (dt), g_date_time_get_minute (dt), g_date_time_get_second (dt),
				g_date_time_get_year (dt));
}

gint64
ep_mbox_from_line_parse_date (const char *line, gsize len)
{
	g_autofree char *copy = g_strndup (line, len);
	g_auto(GStrv) words = NULL;
	guint n;
	int month = -1, day, hour, minute, second, year;
	g_autoptr(GDateTime) dt = NULL;

	g_strchomp (copy);
	words = g_strsplit_set (copy, " \t", -1);
	/* drop empty words ("Jan  1") */
	n = 0;
	for (guint i = 0; words[i] != NULL; i++) {
		if (words[i][0] == '\0') {
			g_free (words[i]);
			continue;
		}
		words[n++] = words[i];
	}
	words[n] = NULL;
	/* From SENDER Www Mmm dd hh:mm:ss yyyy */
	if (n < 7)
		return 0;
	for (int m = 0; m < 12; m++) {
		if (g_ascii_strcasecmp (words[n - 4], ep_mbox_months[m]) == 0)
			month = m + 1;
	}
	if (month < 0)
		return 0;
	if (sscanf (words[n - 3], "%d", &day) != 1 || sscanf (words[n - 2], "%d:%d:%d", &hour, &minute, &second) != 3 ||
	    sscanf (words[n - 1], "%d", &year) != 1)
		return 0;
	dt = g_date_time_new_utc (year, month, day, hour, minute, second);
	return dt != NULL ? g_date_time_to_unix (dt) : 0;
}

/* ---- streaming unquoter ---------------------------------------------------- */

struct _EpMboxUnquoter {
	GString *pending;  /* the start of the current line while it may still match ^>+From  */
	gboolean mid_line; /* past the decision point of the current line */
};

EpMboxUnquoter *
ep_mbox_unquoter_new (void)
{
	EpMboxUnquoter *self = g_new0 (EpMboxUnquoter, 1);
	self->pending = g_string_new (NULL);
	return self;
}

void
ep_mbox_unquoter_free (EpMboxUnquoter *self)
{
	if (self == NULL)
		return;
	g_string_free (self->pending, TRUE);
	g_free (self);
}

/* can @p (all '>' then a prefix of "From ") still become ^>+From  ? */
static gboolean
ep_mbox_unquoter_may_match (const GString *p)
{
	gsize i = 0;

	while (i < p->len && p->str[i] == '>')
		i++;
	if (i == 0)
		return FALSE;
	return p->len - i <= 5 && memcmp (p->str + i, "From ", p->len - i) == 0;
}

void
ep_mbox_unquoter_feed (EpMboxUnquoter *self, const char *data, gsize len, GString *out)
{
	for (gsize i = 0; i < len; i++) {
		char c = data[i];

		if (self->mid_line) {
			g_string_append_c (out, c);
			if (c == '\n')
				self->mid_line = FALSE;
			continue;
		}
		g_string_append_c (self->pending, c);
		if (ep_mbox_unquoter_may_match (self->pending)) {
			if (ep_mbox_line_needs_quote (self->pending->str, self->pending->len)) {
				/* ">...>From ": drop one '>' */
				g_string_append_len (out, self->pending->str + 1, self->pending->len - 1);
				g_string_truncate (self->pending, 0);
				self->mid_line = TRUE;
			}
			continue;
		}
		g_string_append_len (out, self->pending->str, self->pending->len);
		g_string_truncate (self->pending, 0);
		self->mid_line = c != '\n';
	}
}

void
ep_mbox_unquoter_finish (EpMboxUnquoter *self, GString *out)
{
	g_string_append_len (out, self->pending->str, self->pending->len);
	g_string_truncate (self->pending, 0);
	self->mid_line = FALSE;
}

/* ---- flags ------------------------------------------------------------------ */

void
ep_mbox_flags_to_status (EpStoreFlags flags, char **status, char **x_status)
{
	GString *s = g_string_new (NULL);
	GString *x = g_string_new (NULL);

	if (flags & EP_STORE_FLAG_SEEN)
		g_string_append_c (s, 'R');
	g_string_append_c (s, 'O');
	if (flags & EP_STORE_FLAG_ANSWERED)
		g_string_append_c (x, 'A');
	if (flags & EP_STORE_FLAG_FLAGGED)
		g_string_append_c (x, 'F');
	if (flags & EP_STORE_FLAG_DRAFT)
		g_string_append_c (x, 'T');
	if (flags & EP_STORE_FLAG_DELETED)
		g_string_append_c (x, 'D');
	*status = g_string_free (s, FALSE);
	*x_status = g_string_free (x, FALSE);
}

EpStoreFlags
ep_mbox_flags_from_status (const char *status, const char *x_status)
{
	EpStoreFlags flags = EP_STORE_FLAG_NONE;

	if (status != NULL && strchr (status, 'R') != NULL)
		flags |= EP_STORE_FLAG_SEEN;
	if (x_status != NULL) {
		if (strchr (x_status, 'A') != NULL)
			flags |= EP_STORE_FLAG_ANSWERED;
		if (strchr (x_status, 'F') != NULL)
			flags |= EP_STORE_FLAG_FLAGGED;
		if (strchr (x_status, 'T') != NULL)
			flags |= EP_STORE_FLAG_DRAFT;
		if (strchr (x_status, 'D') != NULL)
			flags |= EP_STORE_FLAG_DELETED;
	}
	return flags;
}

char *
ep_maildir_flags_to_letters (EpStoreFlags flags)
{
	GString *s = g_string_new (NULL);

	if (flags & EP_STORE_FLAG_DRAFT)
		g_string_append_c (s, 'D');
	if (flags & EP_STORE_FLAG_FLAGGED)
		g_string_append_c (s, 'F');
	if (flags & EP_STORE_FLAG_ANSWERED)
		g_string_append_c (s, 'R');
	if (flags & EP_STORE_FLAG_SEEN)
		g_string_append_c (s, 'S');
	if (flags & EP_STORE_FLAG_DELETED)
		g_string_append_c (s, 'T');
	return g_string_free (s, FALSE);
}

EpStoreFlags
ep_maildir_flags_from_name (const char *name)
{
	const char *info = strstr (name, ":2,");
	EpStoreFlags flags = EP_STORE_FLAG_NONE;

	if (info == NULL)
		return flags;
	for (const char *p = info + 3; *p != '\0'; p++) {
		switch (*p) {
		case 'D':
			flags |= EP_STORE_FLAG_DRAFT;
			break;
		case 'F':
			flags |= EP_STORE_FLAG_FLAGGED;
			break;
		case 'R':
			flags |= EP_STORE_FLAG_ANSWERED;
			break;
		case 'S':
			flags |= EP_STORE_FLAG_SEEN;
			break;
		case 'T':
			flags |= EP_STORE_FLAG_DELETED;
			break;
		default:
			break;
		}
	}
	return flags;
}

char *
ep_maildir_folder_for_mailbox (const char *mailbox)
{
	g_autofree char *dotted = NULL;

	if (g_ascii_strcasecmp (mailbox, "INBOX") == 0)
		return g_strdup ("");
	dotted = g_strdup (mailbox);
	g_strdelimit (dotted, "/", '.');
	return g_strconcat (".", dotted, NULL);
}

char *
ep_maildir_mailbox_for_folder (const char *folder)
{
	char *name;

	if (folder[0] == '\0')
		return g_strdup ("INBOX");
	if (folder[0] != '.' || folder[1] == '\0' || g_strcmp0 (folder, "..") == 0)
		return NULL;
	name = g_strdup (folder + 1);
	g_strdelimit (name, ".", '/');
	return name;
}

/* ---- line endings ----------------------------------------------------------- */

void
ep_mailbox_file_crlf_to_lf (GString *out, const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		g_string_append_c (out, data[i]);
	}
}

void
ep_mailbox_file_lf_to_crlf (GString *out, const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			g_string_append_c (out, '\r');
		g_string_append_c (out, data[i]);
	}
}

/* ---- the mbox reader ------------------------------------------------------ */

struct _EpMboxReader {
	EpMboxMessageFunc func;
	gpointer user_data;
	EpMboxMessage m;
	gboolean active;
	gboolean in_header;
	gboolean skipping_header; /* continuation lines of a removed header */
	guint64 line_no;
	GString *unquoted;
};

static void
ep_mbox_reader_reset (EpMboxReader *self)
{
	self->active = FALSE;
	self->in_header = TRUE;
	self->skipping_header = FALSE;
	g_string_truncate (self->m.data, 0);
	g_clear_pointer (&self->m.status, g_free);
	g_clear_pointer (&self->m.x_status, g_free);
	g_clear_pointer (&self->m.keywords, g_free);
	g_clear_pointer (&self->m.mailbox, g_free);
	self->m.internal_date = 0;
	self->m.line_no = 0;
}

EpMboxReader *
ep_mbox_reader_new (EpMboxMessageFunc func, gpointer user_data)
{
	EpMboxReader *self = g_new0 (EpMboxReader, 1);

	self->func = func;
	self->user_data = user_data;
	self->m.data = g_string_new (NULL);
	self->unquoted = g_string_new (NULL);
	ep_mbox_reader_reset (self);
	return self;
}

void
ep_mbox_reader_free (EpMboxReader *self)
{
	if (self == NULL)
		return;
	ep_mbox_reader_reset (self);
	g_string_free (self->m.data, TRUE);
	g_string_free (self->unquoted, TRUE);
	g_free (self);
}

guint64
ep_mbox_reader_get_line_no (EpMboxReader *self)
{
	return self->line_no;
}

static gboolean
ep_mbox_reader_flush (EpMboxReader *self, GError **error)
{
	GString *data = self->m.data;
	gboolean ok;

	if (!self->active)
		return TRUE;
	/* the empty line that ends every message in an mbox */
	if ((data->len >= 4 && memcmp (data->str + data->len - 4, "\r\n\r\n", 4) == 0) ||
	    (data->len == 2 && memcmp (data->str, "\r\n", 2) == 0))
		g_string_truncate (data, data->len - 2);
	ok = self->func (&self->m, self->user_data, error);
	ep_mbox_reader_reset (self);
	return ok;
}

/* Whether @line is the header @name; its value (trimmed) goes to @value. */
static gboolean
ep_mbox_header_is (const char *line, gsize len, const char *name, char **value)
{
	gsize n = strlen (name);

	if (len <= n || g_ascii_strncasecmp (line, name, n) != 0 || line[n] != ':')
		return FALSE;
	g_free (*value);
	*value = g_strstrip (g_strndup (line + n + 1, len - n - 1));
	return TRUE;
}

gboolean
ep_mbox_reader_feed_line (EpMboxReader *self, const char *line, gsize len, gboolean *stray, GError **error)
{
	gboolean ok = TRUE;

	if (stray != NULL)
		*stray = FALSE;
	self->line_no++;
	if (ep_mbox_is_from_line (line, len)) {
		ok = ep_mbox_reader_flush (self, error);
		self->active = TRUE;
		self->m.line_no = self->line_no;
		self->m.internal_date = ep_mbox_from_line_parse_date (line, len);
		return ok;
	}
	if (!self->active) {
		if (stray != NULL && (self->line_no == 1 || len > 0))
			*stray = TRUE;
		return TRUE;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (self->in_header) {
		if (len == 0) {
			self->in_header = FALSE;
		} else if (line[0] == ' ' || line[0] == '\t') {
			if (self->skipping_header)
				return TRUE;
		} else {
			self->skipping_header = ep_mbox_header_is (line, len, "Status", &self->m.status) ||
						ep_mbox_header_is (line, len, "X-Status", &self->m.x_status) ||
						ep_mbox_header_is (line, len, "X-Keywords", &self->m.keywords) ||
						ep_mbox_header_is (line, len, "X-Mailbox", &self->m.mailbox);
			if (self->skipping_header)
				return TRUE;
		}
	}
	g_string_truncate (self->unquoted, 0);
	ep_mbox_unquote_line (self->unquoted, line, len);
	g_string_append_len (self->m.data, self->unquoted->str, self->unquoted->len);
	g_string_append (self->m.data, "\r\n");
	return TRUE;
}

gboolean
ep_mbox_reader_finish (EpMboxReader *self, GError **error)
{
	return ep_mbox_reader_flush (self, error);
}
