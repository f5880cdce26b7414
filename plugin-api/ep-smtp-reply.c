/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-error.h"
#include "ep-smtp-reply.h"

/* ---- replies ------------------------------------------------------------ */

G_DEFINE_BOXED_TYPE (EpSmtpReply, ep_smtp_reply, ep_smtp_reply_copy, ep_smtp_reply_free)

EpSmtpReply *
ep_smtp_reply_new (guint code, const char *enhanced, const char *text)
{
	EpSmtpReply *reply;

	g_return_val_if_fail (code >= 200 && code <= 599, NULL);
	g_return_val_if_fail (enhanced == NULL ||
				      (ep_smtp_enhanced_code_scan (enhanced, strlen (enhanced)) == strlen (enhanced) &&
				       (guint) (enhanced[0] - '0') == code / 100),
			      NULL);

	reply = g_new0 (EpSmtpReply, 1);
	reply->code = code;
	reply->enhanced = g_strdup (enhanced);
	reply->text = g_strdup (text != NULL ? text : "");
	return reply;
}

EpSmtpReply *
ep_smtp_reply_copy (const EpSmtpReply *reply)
{
	EpSmtpReply *copy;

	g_return_val_if_fail (reply != NULL, NULL);
	copy = g_new0 (EpSmtpReply, 1);
	copy->code = reply->code;
	copy->enhanced = g_strdup (reply->enhanced);
	copy->text = g_strdup (reply->text);
	return copy;
}

void
ep_smtp_reply_free (EpSmtpReply *reply)
{
	if (reply == NULL)
		return;
	g_free (reply->enhanced);
	g_free (reply->text);
	g_free (reply);
}

char *
ep_smtp_reply_to_string (const EpSmtpReply *reply)
{
	GString *out;

	g_return_val_if_fail (reply != NULL, NULL);
	out = g_string_new (NULL);
	g_string_append_printf (out, "%03u", reply->code);
	if (reply->enhanced != NULL)
		g_string_append_printf (out, " %s", reply->enhanced);
	if (reply->text != NULL && reply->text[0] != '\0') {
		g_string_append_c (out, ' ');
		for (const char *p = reply->text; *p != '\0'; p++)
			g_string_append_c (out, *p == '\n' ? ' ' : *p);
	}
	return g_string_free (out, FALSE);
}

gboolean
ep_smtp_reply_is_positive (const EpSmtpReply *reply)
{
	g_return_val_if_fail (reply != NULL, FALSE);
	return reply->code / 100 == 2;
}

gboolean
ep_smtp_reply_is_transient (const EpSmtpReply *reply)
{
	g_return_val_if_fail (reply != NULL, FALSE);
	return reply->code / 100 == 4;
}

gboolean
ep_smtp_reply_is_permanent (const EpSmtpReply *reply)
{
	g_return_val_if_fail (reply != NULL, FALSE);
	return reply->code / 100 == 5;
}

/* ---- enhanced status codes (RFC 3463) ----------------------------------- */

/* one to three digits at @p; returns how many, 0 if none or too many */
static gsize
ep_smtp_scan_digits (const char *p, gsize len)
{
	gsize n = 0;

	while (n < len && g_ascii_isdigit (p[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

gsize
ep_smtp_enhanced_code_scan (const char *text, gsize len)
{
	gsize pos, n;

	g_return_val_if_fail (text != NULL || len == 0, 0);

	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
		return 0;
	pos = 2;
	n = ep_smtp_scan_digits (text + pos, len - pos);
	if (n == 0)
		return 0;
	pos += n;
	if (pos >= len || text[pos] != '.')
		return 0;
	pos++;
	n = ep_smtp_scan_digits (text + pos, len - pos);
	if (n == 0)
		return 0;
	pos += n;
	if (pos < len && text[pos] != ' ')
		return 0;
	return pos;
}

/* ---- the parser --------------------------------------------------------- */

struct _EpSmtpReplyParser {
	guint code;	    /* of the reply in progress; 0 before its first line */
	guint n_lines;	    /* lines of the reply in progress */
	char *enhanced;	    /* the first line's enhanced code */
	GString *text;	    /* lines so far, joined with "\n" */
};

EpSmtpReplyParser *
ep_smtp_reply_parser_new (void)
{
	EpSmtpReplyParser *self = g_new0 (EpSmtpReplyParser, 1);

	self->text = g_string_new (NULL);
	return self;
}

void
ep_smtp_reply_parser_reset (EpSmtpReplyParser *self)
{
	g_return_if_fail (self != NULL);
	self->code = 0;
	self->n_lines = 0;
	g_clear_pointer (&self->enhanced, g_free);
	g_string_truncate (self->text, 0);
}

void
ep_smtp_reply_parser_free (EpSmtpReplyParser *self)
{
	if (self == NULL)
		return;
	g_free (self->enhanced);
	g_string_free (self->text, TRUE);
	g_free (self);
}

guint
ep_smtp_reply_parser_get_pending_lines (EpSmtpReplyParser *self)
{
	g_return_val_if_fail (self != NULL, 0);
	return self->n_lines;
}

/* Returns the offset of the first octet that is not HT, printable ASCII or
 * part of well-formed UTF-8, or @len when all are. */
static gsize
ep_smtp_reply_check_text (const char *text, gsize len)
{
	gsize i = 0;

	while (i < len) {
		guchar c = (guchar) text[i];
		if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
			i++;
			continue;
		}
		if (c < 0x80)
			return i;
		{
			/* one UTF-8 sequence: its length from the lead octet */
			gsize seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			const char *end = NULL;
			if (seq > len - i || !g_utf8_validate (text + i, (gssize) seq, &end))
				return i;
			i += seq;
		}
	}
	return len;
}

static gboolean
ep_smtp_reply_parser_fail (EpSmtpReplyParser *self, GError **error, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
ep_smtp_reply_parser_fail (EpSmtpReplyParser *self, GError **error, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "malformed SMTP reply: %s", message);
	ep_smtp_reply_parser_reset (self);
	return FALSE;
}

gboolean
ep_smtp_reply_parser_feed (EpSmtpReplyParser *self, const char *line, gsize len, EpSmtpReply **reply,
			   GError **error)
{
	const char *text;
	gsize text_len, bad;
	guint code;
	gboolean last;

	g_return_val_if_fail (self != NULL, FALSE);
	g_return_val_if_fail (line != NULL || len == 0, FALSE);
	g_return_val_if_fail (reply != NULL && *reply == NULL, FALSE);

	if (len > EP_SMTP_REPLY_MAX_LINE)
		return ep_smtp_reply_parser_fail (self, error, "a line of more than %d octets",
						  EP_SMTP_REPLY_MAX_LINE);
	if (len < 3 || !g_ascii_isdigit (line[0]) || !g_ascii_isdigit (line[1]) || !g_ascii_isdigit (line[2]))
		return ep_smtp_reply_parser_fail (self, error, "a line that does not start with a reply code");
	code = (guint) (line[0] - '0') * 100 + (guint) (line[1] - '0') * 10 + (guint) (line[2] - '0');
	if (code < 200 || code > 599)
		return ep_smtp_reply_parser_fail (self, error, "reply code %03u is not an SMTP reply code", code);
	if (len == 3) {
		last = TRUE;
	} else if (line[3] == ' ') {
		last = TRUE;
	} else if (line[3] == '-') {
		last = FALSE;
	} else {
		return ep_smtp_reply_parser_fail (self, error, "the reply code %03u is followed by 0x%02x", code,
						  (guchar) line[3]);
	}
	if (self->n_lines > 0 && code != self->code)
		return ep_smtp_reply_parser_fail (self, error, "a line with code %03u in a %03u reply", code,
						  self->code);
	if (self->n_lines >= EP_SMTP_REPLY_MAX_LINES)
		return ep_smtp_reply_parser_fail (self, error, "a reply of more than %d lines",
						  EP_SMTP_REPLY_MAX_LINES);

	text = len > 4 ? line + 4 : "";
	text_len = len > 4 ? len - 4 : 0;
	bad = ep_smtp_reply_check_text (text, text_len);
	if (bad < text_len)
		return ep_smtp_reply_parser_fail (self, error, "octet 0x%02x at offset %" G_GSIZE_FORMAT,
						  (guchar) text[bad], bad + 4);

	if (self->n_lines == 0) {
		gsize n = ep_smtp_enhanced_code_scan (text, text_len);
		self->code = code;
		if (n > 0 && (guint) (text[0] - '0') == code / 100)
			self->enhanced = g_strndup (text, n);
	} else {
		g_string_append_c (self->text, '\n');
	}
	if (self->enhanced != NULL) {
		gsize n = strlen (self->enhanced);
		if (text_len >= n && memcmp (text, self->enhanced, n) == 0 &&
		    ep_smtp_enhanced_code_scan (text, text_len) == n) {
			text += n;
			text_len -= n;
			if (text_len > 0) {
				/* the space after the code */
				text++;
				text_len--;
			}
		}
	}
	if (self->text->len + text_len > EP_SMTP_REPLY_MAX_TEXT)
		return ep_smtp_reply_parser_fail (self, error, "a reply of more than %d octets of text",
						  EP_SMTP_REPLY_MAX_TEXT);
	g_string_append_len (self->text, text, (gssize) text_len);
	self->n_lines++;
	if (!last)
		return FALSE;

	*reply = g_new0 (EpSmtpReply, 1);
	(*reply)->code = self->code;
	(*reply)->enhanced = g_steal_pointer (&self->enhanced);
	(*reply)->text = g_strndup (self->text->str, self->text->len);
	ep_smtp_reply_parser_reset (self);
	return TRUE;
}
