/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "smtp-data.h"

#include "ep-auth-results.h"
#include "ep-mime.h"

/* ---- accumulation ------------------------------------------------------------ */

void
smtp_message_init (SmtpMessage *msg, guint64 max_size)
{
	msg->data = g_byte_array_new ();
	msg->max_size = max_size;
	msg->total = 0;
	msg->overflow = FALSE;
}

void
smtp_message_clear (SmtpMessage *msg)
{
	g_clear_pointer (&msg->data, g_byte_array_unref);
	msg->total = 0;
	msg->overflow = FALSE;
}

void
smtp_message_append (SmtpMessage *msg, const guint8 *data, gsize len)
{
	if (msg->data == NULL)
		msg->data = g_byte_array_new ();
	msg->total = msg->total > G_MAXUINT64 - len ? G_MAXUINT64 : msg->total + len;
	if (msg->overflow)
		return;
	if (msg->total > msg->max_size) {
		/* keep reading to the end, but no longer keep anything */
		msg->overflow = TRUE;
		g_byte_array_set_size (msg->data, 0);
		g_clear_pointer (&msg->data, g_byte_array_unref);
		msg->data = g_byte_array_new ();
		return;
	}
	g_byte_array_append (msg->data, data, (guint)len);
}

GBytes *
smtp_message_steal (SmtpMessage *msg)
{
	GBytes *bytes = NULL;

	if (!msg->overflow && msg->data != NULL)
		bytes = g_byte_array_free_to_bytes (g_steal_pointer (&msg->data));
	smtp_message_clear (msg);
	msg->data = g_byte_array_new ();
	return bytes;
}

/* ---- DATA ----------------------------------------------------------------------- */

SmtpDataLine
smtp_data_line (SmtpMessage *msg, const char *line, gsize len)
{
	static const guint8 crlf[] = {'\r', '\n'};

	if (len > 0 && line[0] == '.') {
		if (len == 1)
			return SMTP_DATA_END;
		line++;
		len--;
	}
	smtp_message_append (msg, (const guint8 *)line, len);
	smtp_message_append (msg, crlf, sizeof (crlf));
	return SMTP_DATA_MORE;
}

/* ---- BDAT ----------------------------------------------------------------------- */

void
smtp_octet_validator_init (SmtpOctetValidator *v, gsize max_line)
{
	v->status = SMTP_OCTETS_OK;
	v->pending_cr = FALSE;
	v->line_len = 0;
	v->max_line = max_line;
}

SmtpOctetsStatus
smtp_octet_validator_feed (SmtpOctetValidator *v, const guint8 *data, gsize len)
{
	for (gsize i = 0; i < len && v->status == SMTP_OCTETS_OK; i++) {
		guint8 c = data[i];

		if (v->pending_cr) {
			v->pending_cr = FALSE;
			if (c != '\n') {
				v->status = SMTP_OCTETS_BARE_CR;
				break;
			}
			v->line_len = 0;
			continue;
		}
		switch (c) {
		case '\r':
			v->pending_cr = TRUE;
			break;
		case '\n':
			v->status = SMTP_OCTETS_BARE_LF;
			break;
		case '\0':
			v->status = SMTP_OCTETS_NUL;
			break;
		default:
			if (++v->line_len > v->max_line)
				v->status = SMTP_OCTETS_LINE_TOO_LONG;
			break;
		}
	}
	return v->status;
}

SmtpOctetsStatus
smtp_octet_validator_finish (SmtpOctetValidator *v)
{
	if (v->status == SMTP_OCTETS_OK && v->pending_cr)
		v->status = SMTP_OCTETS_BARE_CR;
	v->pending_cr = FALSE;
	return v->status;
}

const char *
smtp_octets_status_to_string (SmtpOctetsStatus status)
{
	switch (status) {
	case SMTP_OCTETS_OK:
		return "ok";
	case SMTP_OCTETS_BARE_CR:
		return "bare CR";
	case SMTP_OCTETS_BARE_LF:
		return "bare LF";
	case SMTP_OCTETS_NUL:
		return "NUL";
	case SMTP_OCTETS_LINE_TOO_LONG:
		return "line too long";
	}
	return "unknown";
}

/* ---- trace fields --------------------------------------------------------------- */

const char *
smtp_data_protocol (gboolean ehlo, gboolean utf8, gboolean tls, gboolean authenticated)
{
	static const char *const esmtp[] = {"ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA"};
	static const char *const utf8smtp[] = {"UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA"};
	guint i = (tls ? 2 : 0) + (authenticated ? 1 : 0);

	/* HELO has no registered variant with TLS or AUTH (both need EHLO) */
	if (!ehlo)
		return "SMTP";
	return utf8 ? utf8smtp[i] : esmtp[i];
}

char *
smtp_data_received_header (const SmtpReceivedInfo *info)
{
	g_autoptr (GString) h = g_string_new ("Received: from ");
	g_autofree char *date = ep_mime_format_date (info->date);
	gboolean v6 = strchr (info->peer_ip, ':') != NULL;

	/* From-domain = "FROM" FWS Extended-Domain, TCP-info = address-literal */
	g_string_append_printf (h, "%s ([%s%s])\r\n", info->helo, v6 ? "IPv6:" : "", info->peer_ip);
	g_string_append_printf (h, "\tby %s with %s id %s", info->hostname, info->protocol, info->id);
	if (info->tls_version != NULL) {
		g_string_append_printf (h, "\r\n\t(using %s with cipher %s)", info->tls_version,
					info->tls_cipher != NULL ? info->tls_cipher : "unknown");
	}
	if (info->recipient != NULL)
		g_string_append_printf (h, "\r\n\tfor <%s>", info->recipient);
	g_string_append_printf (h, ";\r\n\t%s\r\n", date);
	return g_string_free (g_steal_pointer (&h), FALSE);
}

char *
smtp_data_find_header (const guint8 *msg, gsize len, const char *name)
{
	gsize name_len = strlen (name);
	gsize i = 0;

	while (i < len) {
		gsize eol = i;
		while (eol < len && msg[eol] != '\n')
			eol++;
		/* the empty line ends the header */
		if (eol == i || (eol == i + 1 && msg[i] == '\r'))
			return NULL;
		if (eol - i > name_len && g_ascii_strncasecmp ((const char *)msg + i, name, name_len) == 0 &&
		    msg[i + name_len] == ':') {
			g_autoptr (GString) value = g_string_new (NULL);
			gsize p = i + name_len + 1;
			for (;;) {
				gsize end = eol;
				if (end > p && msg[end - 1] == '\r')
					end--;
				g_string_append_len (value, (const char *)msg + p, end - p);
				/* continuation lines start with WSP */
				if (eol + 1 < len && (msg[eol + 1] == ' ' || msg[eol + 1] == '\t')) {
					p = eol + 1;
					eol = p;
					while (eol < len && msg[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
			g_strstrip (value->str);
			return g_strdup (value->str);
		}
		i = eol + 1;
	}
	return NULL;
}

GBytes *
smtp_data_strip_auth_results (GBytes *msg, const char *authserv_id, guint *n_removed)
{
	static const char name[] = "Authentication-Results";
	const gsize name_len = sizeof (name) - 1;
	gsize len;
	const guint8 *data = g_bytes_get_data (msg, &len);
	g_autoptr (GByteArray) out = NULL;
	gsize copied = 0; /* data before this offset is in out (once out exists) */
	gsize i = 0;
	guint n = 0;

	while (i < len) {
		gsize end = i; /* the end of the field, its continuation lines included */
		gsize colon;

		while (end < len && data[end] != '\n')
			end++;
		if (end == i || (end == i + 1 && data[i] == '\r'))
			break; /* the empty line: the body follows */
		while (end + 1 < len && (data[end + 1] == ' ' || data[end + 1] == '\t')) {
			end++;
			while (end < len && data[end] != '\n')
				end++;
		}
		end = end < len ? end + 1 : len;
		/* the name, then optional white space before the colon (obs-optional) */
		colon = i + name_len;
		while (colon < end && (data[colon] == ' ' || data[colon] == '\t'))
			colon++;
		if (end - i > name_len && g_ascii_strncasecmp ((const char *)data + i, name, name_len) == 0 &&
		    colon < end && data[colon] == ':' &&
		    ep_auth_results_value_has_authserv_id ((const char *)data + colon + 1, end - colon - 1, authserv_id)) {
			if (out == NULL)
				out = g_byte_array_sized_new ((guint)len);
			g_byte_array_append (out, data + copied, (guint)(i - copied));
			copied = end;
			n++;
		}
		i = end;
	}
	if (n_removed != NULL)
		*n_removed = n;
	if (out == NULL)
		return g_bytes_ref (msg);
	g_byte_array_append (out, data + copied, (guint)(len - copied));
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}
