/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "ep-mime.h"

#include "smtp-auth.h"
#include "smtp-data.h"

#define REPLY(r, c, e, t) (*(r) = (SmtpReply){(c), (e), (t)})

/* ---- base64 ------------------------------------------------------------------------ */

static int
smtp_auth_b64_value (guchar c)
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
smtp_auth_base64_decode (const char *s, gsize len)
{
	g_autoptr (GByteArray) out = NULL;

	if (len % 4 != 0)
		return NULL;
	out = g_byte_array_sized_new ((guint)(len / 4 * 3));
	for (gsize i = 0; i < len; i += 4) {
		gboolean last = i + 4 == len;
		int v[4];
		guint n_pad = 0;

		for (guint k = 0; k < 4; k++) {
			guchar c = (guchar)s[i + k];
			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				n_pad++;
				continue;
			}
			/* nothing but padding may follow padding */
			if (n_pad > 0)
				return NULL;
			v[k] = smtp_auth_b64_value (c);
			if (v[k] < 0)
				return NULL;
		}
		{
			guint32 w =
			    ((guint32)v[0] << 18) | ((guint32)v[1] << 12) | ((guint32)v[2] << 6) | (guint32)v[3];
			guint8 b[3] = {(guint8)(w >> 16), (guint8)(w >> 8), (guint8)w};
			/* canonical: the bits the padding hides are zero */
			if ((n_pad == 1 && (w & 0xff) != 0) || (n_pad == 2 && (w & 0xffff) != 0))
				return NULL;
			g_byte_array_append (out, b, 3 - n_pad);
		}
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

SmtpAuthLine
smtp_auth_decode_line (const char *line, gsize len, GBytes **out)
{
	g_autoptr (GBytes) bytes = NULL;

	if (out != NULL)
		*out = NULL;
	if (len == 1 && line[0] == '*')
		return SMTP_AUTH_LINE_CANCEL;
	bytes = smtp_auth_base64_decode (line, len);
	if (bytes == NULL)
		return SMTP_AUTH_LINE_MALFORMED;
	if (out != NULL)
		*out = g_steal_pointer (&bytes);
	return SMTP_AUTH_LINE_OK;
}

char *
smtp_auth_challenge_line (GBytes *challenge)
{
	g_autofree char *b64 = NULL;
	gsize len = 0;
	const guint8 *data = challenge != NULL ? g_bytes_get_data (challenge, &len) : NULL;

	if (len == 0)
		return g_strdup ("334 \r\n");
	b64 = g_base64_encode (data, len);
	return g_strdup_printf ("334 %s\r\n", b64);
}

/* ---- AUTH mechanism [SP initial-response] ---------------------------------------------- */

gboolean
smtp_auth_parse_command (const char *arg, gsize len, char **mechanism, GBytes **initial, SmtpReply *reply)
{
	gsize mlen = 0;

	*mechanism = NULL;
	*initial = NULL;
	REPLY (reply, 0, NULL, NULL);
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	if (mlen == 0) {
		REPLY (reply, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return FALSE;
	}
	for (gsize i = 0; i < mlen; i++) {
		char c = arg[i];
		if (!g_ascii_isalnum (c) && c != '-' && c != '_') {
			REPLY (reply, 504, "5.5.4", "Unrecognized authentication type");
			return FALSE;
		}
	}
	if (mlen > SMTP_AUTH_MAX_MECHANISM) {
		REPLY (reply, 504, "5.5.4", "Unrecognized authentication type");
		return FALSE;
	}
	if (mlen < len) {
		const char *ir = arg + mlen + 1;
		gsize irlen = len - mlen - 1;
		GBytes *decoded;

		/* exactly one space, then the response; "=" is an empty one */
		if (irlen == 0) {
			REPLY (reply, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
			return FALSE;
		}
		if (irlen == 1 && ir[0] == '=') {
			decoded = g_bytes_new (NULL, 0);
		} else {
			decoded = irlen > 0 ? smtp_auth_base64_decode (ir, irlen) : NULL;
			if (decoded == NULL) {
				REPLY (reply, 501, "5.5.2", "Cannot decode the initial response");
				return FALSE;
			}
		}
		*initial = decoded;
	}
	*mechanism = g_ascii_strup (arg, (gssize)mlen);
	return TRUE;
}

/* ---- the submitted message ---------------------------------------------------------------- */

/* The header of @msg: up to the empty line (or all of it). */
static gsize
smtp_auth_header_length (const guint8 *msg, gsize len)
{
	gsize i = 0;

	while (i < len) {
		gsize eol = i;
		while (eol < len && msg[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && msg[i] == '\r'))
			return i;
		i = eol + 1;
	}
	return len;
}

GPtrArray *
smtp_auth_from_addresses (const guint8 *msg, gsize len)
{
	g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
	gsize hlen = smtp_auth_header_length (msg, len);
	g_autoptr (GPtrArray) fields = ep_mime_headers_get_all ((const char *)msg, hlen, "From");

	if (fields->len == 0)
		return NULL;
	for (guint i = 0; i < fields->len; i++) {
		const char *value = g_ptr_array_index (fields, i);
		g_autoptr (GPtrArray) list = ep_mime_address_list_parse (value, strlen (value));
		guint n_mailboxes = 0;

		for (guint j = 0; j < list->len; j++) {
			EpMimeAddress *a = g_ptr_array_index (list, j);
			g_autofree char *domain = NULL;

			/* group start (name only) and end (nothing) markers */
			if (a->host == NULL)
				continue;
			if (a->mailbox == NULL || a->mailbox[0] == '\0' || a->host[0] == '\0' ||
			    strcmp (a->mailbox, "MISSING_MAILBOX") == 0 || strcmp (a->host, "MISSING_DOMAIN") == 0)
				return NULL;
			domain = g_ascii_strdown (a->host, -1);
			g_ptr_array_add (out, g_strconcat (a->mailbox, "@", domain, NULL));
			n_mailboxes++;
		}
		/* a field that names no one cannot be vouched for */
		if (n_mailboxes == 0)
			return NULL;
	}
	return g_steal_pointer (&out);
}

gboolean
smtp_auth_has_field (const guint8 *msg, gsize len, const char *name)
{
	gsize hlen = smtp_auth_header_length (msg, len);
	g_autoptr (GPtrArray) fields = ep_mime_headers_get_all ((const char *)msg, hlen, name);

	return fields->len > 0;
}

char *
smtp_auth_new_message_id (const char *hostname)
{
	g_autoptr (GString) id = g_string_new ("<");

	for (guint i = 0; i < 4; i++)
		g_string_append_printf (id, "%08x", g_random_int ());
	g_string_append_printf (id, "@%s>", hostname);
	return g_string_free (g_steal_pointer (&id), FALSE);
}

char *
smtp_auth_missing_fields (const guint8 *msg, gsize len, const char *hostname, GDateTime *now)
{
	g_autoptr (GString) out = g_string_new (NULL);

	if (!smtp_auth_has_field (msg, len, "Message-ID")) {
		g_autofree char *id = smtp_auth_new_message_id (hostname);
		g_string_append_printf (out, "Message-ID: %s\r\n", id);
	}
	if (!smtp_auth_has_field (msg, len, "Date")) {
		g_autofree char *date = ep_mime_format_date (now);
		g_string_append_printf (out, "Date: %s\r\n", date);
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}
