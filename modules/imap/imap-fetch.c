/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap-fetch.h"

static void
imap_body_item_free (ImapBodyItem *item)
{
	g_free (item->part);
	g_strfreev (item->fields);
	g_free (item->response_name);
	g_free (item);
}

void
imap_fetch_items_clear (ImapFetchItems *items)
{
	if (items->bodies != NULL)
		g_ptr_array_unref (items->bodies);
	memset (items, 0, sizeof *items);
}

/* "<0.100>": offset and length (nz-number) */
static gboolean
imap_fetch_parse_partial (const char *s, ImapBodyItem *item)
{
	char *end = NULL;
	guint64 off, len;

	if (*s == '\0')
		return TRUE;
	if (*s != '<' || !g_ascii_isdigit (s[1]))
		return FALSE;
	off = g_ascii_strtoull (s + 1, &end, 10);
	if (*end != '.' || !g_ascii_isdigit (end[1]) || off > G_MAXUINT32)
		return FALSE;
	len = g_ascii_strtoull (end + 1, &end, 10);
	if (strcmp (end, ">") != 0 || len == 0 || len > G_MAXUINT32)
		return FALSE;
	item->partial = TRUE;
	item->offset = off;
	item->length = len;
	return TRUE;
}

/* "(From To)" or "(\"From\")": the field names */
static char **
imap_fetch_parse_fields (const char *s)
{
	g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
	gsize len = strlen (s);
	g_auto (GStrv) words = NULL;

	if (len < 3 || s[0] != '(' || s[len - 1] != ')')
		return NULL;
	{
		g_autofree char *inner = g_strndup (s + 1, len - 2);
		words = g_strsplit (inner, " ", -1);
	}
	for (guint i = 0; words[i] != NULL; i++) {
		char *w = words[i];
		gsize wl = strlen (w);
		if (wl >= 2 && w[0] == '"' && w[wl - 1] == '"') {
			w[wl - 1] = '\0';
			w++;
			wl -= 2;
		}
		if (wl == 0)
			return NULL;
		for (const char *p = w; *p != '\0'; p++)
			/* a field name: printable US-ASCII but ":" (RFC 5322 ftext) */
			if ((guchar)*p <= 0x20 || (guchar)*p >= 0x7f || *p == ':' || *p == '"')
				return NULL;
		g_ptr_array_add (out, g_strdup (w));
	}
	g_ptr_array_add (out, NULL);
	return (char **)g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* section inside the brackets: [part "."] (HEADER | HEADER.FIELDS[.NOT] (...) | TEXT | MIME) | part | "" */
static gboolean
imap_fetch_parse_section (const char *s, ImapBodyItem *item)
{
	const char *p = s;
	const char *spec;

	/* the part numbers */
	while (g_ascii_isdigit (*p)) {
		if (*p == '0')
			return FALSE;
		while (g_ascii_isdigit (*p))
			p++;
		if (*p == '.') {
			if (!g_ascii_isdigit (p[1]))
				break;
			p++;
		} else if (*p != '\0') {
			return FALSE;
		}
	}
	item->part = g_strndup (s, (gsize)(p - s));
	if (item->part[0] != '\0' && item->part[strlen (item->part) - 1] == '.')
		return FALSE;
	spec = *p == '.' ? p + 1 : p;
	if (*p == '.' && item->part[0] == '\0')
		return FALSE;
	if (*spec == '\0') {
		item->kind = IMAP_SECTION_ALL;
		return p == spec; /* "1." is no section */
	}
	if (g_ascii_strcasecmp (spec, "HEADER") == 0) {
		item->kind = IMAP_SECTION_HEADER;
	} else if (g_ascii_strcasecmp (spec, "TEXT") == 0) {
		item->kind = IMAP_SECTION_TEXT;
	} else if (g_ascii_strcasecmp (spec, "MIME") == 0) {
		item->kind = IMAP_SECTION_MIME;
		return item->part[0] != '\0';
	} else if (g_ascii_strncasecmp (spec, "HEADER.FIELDS.NOT ", 18) == 0) {
		item->kind = IMAP_SECTION_HEADER_FIELDS_NOT;
		item->fields = imap_fetch_parse_fields (spec + 18);
		return item->fields != NULL;
	} else if (g_ascii_strncasecmp (spec, "HEADER.FIELDS ", 14) == 0) {
		item->kind = IMAP_SECTION_HEADER_FIELDS;
		item->fields = imap_fetch_parse_fields (spec + 14);
		return item->fields != NULL;
	} else {
		return FALSE;
	}
	return TRUE;
}

static void
imap_fetch_section_name (GString *out, const ImapBodyItem *item)
{
	static const char *const kinds[] = {"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};

	g_string_append (out, "BODY[");
	g_string_append (out, item->part);
	if (item->kind != IMAP_SECTION_ALL) {
		if (item->part[0] != '\0')
			g_string_append_c (out, '.');
		g_string_append (out, kinds[item->kind]);
	}
	if (item->fields != NULL) {
		g_string_append (out, " (");
		for (guint i = 0; item->fields[i] != NULL; i++) {
			if (i > 0)
				g_string_append_c (out, ' ');
			g_string_append (out, item->fields[i]);
		}
		g_string_append_c (out, ')');
	}
	g_string_append_c (out, ']');
	if (item->partial)
		g_string_append_printf (out, "<%" G_GUINT64_FORMAT ">", item->offset);
}

/* section-binary inside the brackets: "" or nz-number *("." nz-number) */
static gboolean
imap_fetch_parse_binary_section (const char *s, gsize len, ImapBodyItem *item)
{
	gsize i = 0;

	while (i < len) {
		if (!g_ascii_isdigit (s[i]) || s[i] == '0')
			return FALSE;
		while (i < len && g_ascii_isdigit (s[i]))
			i++;
		if (i < len && (s[i] != '.' || i + 1 == len))
			return FALSE;
		if (i < len)
			i++;
	}
	item->part = g_strndup (s, len);
	item->kind = IMAP_SECTION_ALL;
	return TRUE;
}

/* BINARY[...]<partial>, BINARY.PEEK[...]<partial>, BINARY.SIZE[...] */
static gboolean
imap_fetch_parse_binary (const char *atom, ImapFetchItems *items, ImapBodyItem *item)
{
	const char *open;
	const char *close;
	GString *name;

	if (g_ascii_strncasecmp (atom, "BINARY.PEEK[", 12) == 0) {
		item->peek = TRUE;
		open = atom + 11;
	} else if (g_ascii_strncasecmp (atom, "BINARY.SIZE[", 12) == 0) {
		item->binary_size = TRUE;
		open = atom + 11;
	} else if (g_ascii_strncasecmp (atom, "BINARY[", 7) == 0) {
		open = atom + 6;
	} else {
		return FALSE;
	}
	item->binary = !item->binary_size;
	close = strchr (open, ']');
	if (close == NULL || !imap_fetch_parse_binary_section (open + 1, (gsize)(close - open - 1), item))
		return FALSE;
	if (item->binary_size ? close[1] != '\0' : !imap_fetch_parse_partial (close + 1, item))
		return FALSE;
	if (item->binary && !item->peek)
		items->set_seen = TRUE;
	if (item->part[0] != '\0')
		items->need_mime = TRUE;
	name = g_string_new (item->binary_size ? "BINARY.SIZE[" : "BINARY[");
	g_string_append (name, item->part);
	g_string_append_c (name, ']');
	/* RFC 3516 §4.3: the offset of a partial answer is given */
	if (item->partial)
		g_string_append_printf (name, "<%" G_GUINT64_FORMAT ">", item->offset);
	item->response_name = g_string_free (name, FALSE);
	return TRUE;
}

static gboolean
imap_fetch_parse_one (const char *atom, ImapFetchItems *items)
{
	ImapBodyItem *item;
	const char *open;
	const char *close;
	gboolean peek = FALSE;
	g_autofree char *section = NULL;

	if (g_ascii_strcasecmp (atom, "UID") == 0)
		return items->uid = TRUE;
	if (g_ascii_strcasecmp (atom, "FLAGS") == 0)
		return items->flags = TRUE;
	if (g_ascii_strcasecmp (atom, "RFC822.SIZE") == 0)
		return items->size = TRUE;
	if (g_ascii_strcasecmp (atom, "INTERNALDATE") == 0)
		return items->internaldate = TRUE;
	if (g_ascii_strcasecmp (atom, "MODSEQ") == 0)
		return items->modseq = TRUE;
	/* the MIME tree alone: the store keeps it */
	if (g_ascii_strcasecmp (atom, "ENVELOPE") == 0) {
		items->need_mime = TRUE;
		return items->envelope = TRUE;
	}
	if (g_ascii_strcasecmp (atom, "BODYSTRUCTURE") == 0) {
		items->need_mime = TRUE;
		return items->bodystructure = TRUE;
	}
	if (g_ascii_strcasecmp (atom, "BODY") == 0) {
		items->need_mime = TRUE;
		return items->body = TRUE;
	}
	if (g_ascii_strcasecmp (atom, "EMAILID") == 0)
		return items->emailid = TRUE;
	if (g_ascii_strcasecmp (atom, "THREADID") == 0)
		return items->threadid = TRUE;
	item = g_new0 (ImapBodyItem, 1);
	g_ptr_array_add (items->bodies, item);
	items->need_data = TRUE;
	if (g_ascii_strncasecmp (atom, "BINARY", 6) == 0)
		return imap_fetch_parse_binary (atom, items, item);
	if (g_ascii_strcasecmp (atom, "RFC822") == 0 || g_ascii_strcasecmp (atom, "RFC822.HEADER") == 0 ||
	    g_ascii_strcasecmp (atom, "RFC822.TEXT") == 0) {
		item->part = g_strdup ("");
		item->kind = atom[6] == '\0'
				 ? IMAP_SECTION_ALL
				 : (g_ascii_toupper (atom[7]) == 'H' ? IMAP_SECTION_HEADER : IMAP_SECTION_TEXT);
		item->peek = item->kind == IMAP_SECTION_HEADER;
		item->response_name = g_ascii_strup (atom, -1);
		if (item->kind != IMAP_SECTION_ALL)
			items->need_mime = TRUE;
		if (!item->peek)
			items->set_seen = TRUE;
		return TRUE;
	}
	if (g_ascii_strncasecmp (atom, "BODY.PEEK[", 10) == 0) {
		peek = TRUE;
		open = atom + 9;
	} else if (g_ascii_strncasecmp (atom, "BODY[", 5) == 0) {
		open = atom + 4;
	} else {
		return FALSE;
	}
	close = strchr (open, ']');
	if (close == NULL)
		return FALSE;
	section = g_strndup (open + 1, (gsize)(close - open - 1));
	if (!imap_fetch_parse_section (section, item) || !imap_fetch_parse_partial (close + 1, item))
		return FALSE;
	item->peek = peek;
	if (!peek)
		items->set_seen = TRUE;
	if (item->kind != IMAP_SECTION_ALL || item->part[0] != '\0')
		items->need_mime = TRUE;
	{
		GString *name = g_string_new (NULL);
		imap_fetch_section_name (name, item);
		item->response_name = g_string_free (name, FALSE);
	}
	return TRUE;
}

gboolean
imap_fetch_parse (const ImapArg *arg, ImapFetchItems *items, const char **error_text)
{
	const char *atom = imap_arg_get_atom (arg);

	memset (items, 0, sizeof *items);
	items->bodies = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_body_item_free);
	*error_text = "Invalid fetch item";
	if (atom != NULL) {
		if (g_ascii_strcasecmp (atom, "ALL") == 0 || g_ascii_strcasecmp (atom, "FAST") == 0 ||
		    g_ascii_strcasecmp (atom, "FULL") == 0) {
			items->flags = items->internaldate = items->size = TRUE;
			if (g_ascii_toupper (atom[1]) != 'A')
				items->envelope = items->need_mime = TRUE;
			if (g_ascii_toupper (atom[0]) == 'F' && g_ascii_toupper (atom[1]) == 'U')
				items->body = TRUE;
			return TRUE;
		}
		return imap_fetch_parse_one (atom, items);
	}
	if (arg->type != IMAP_ARG_LIST || arg->list->len == 0) {
		*error_text = "Missing fetch items";
		return FALSE;
	}
	for (guint i = 0; i < arg->list->len; i++) {
		const char *a = imap_arg_get_atom (g_ptr_array_index (arg->list, i));
		if (a == NULL || !imap_fetch_parse_one (a, items))
			return FALSE;
	}
	return TRUE;
}

static gboolean
imap_fetch_field_listed (char **fields, const EpMimeHeader *h)
{
	for (guint i = 0; fields[i] != NULL; i++)
		if (h->has_colon && ep_mime_header_has_name (h, fields[i]))
			return TRUE;
	return FALSE;
}

GBytes *
imap_fetch_body (const ImapBodyItem *item, GBytes *data, const EpMimeMessage *msg)
{
	gsize dlen = 0;
	const char *d = g_bytes_get_data (data, &dlen);
	EpMimePart *part;
	gsize off = 0, len = dlen;
	g_autoptr (GBytes) region = NULL;

	if (item->part[0] == '\0' && item->kind == IMAP_SECTION_ALL) {
		region = g_bytes_ref (data);
	} else {
		if (msg == NULL)
			return NULL;
		part = item->part[0] == '\0' ? ep_mime_message_get_root (msg)
					     : ep_mime_message_lookup_part (msg, item->part);
		if (part == NULL)
			return NULL;
		switch (item->kind) {
		case IMAP_SECTION_ALL:
			off = ep_mime_part_get_body_offset (part);
			len = ep_mime_part_get_body_length (part);
			break;
		case IMAP_SECTION_MIME:
			off = ep_mime_part_get_header_offset (part);
			len = ep_mime_part_get_header_length (part);
			break;
		default:
			/* HEADER/TEXT of a part: of the message it carries */
			if (item->part[0] != '\0') {
				part = ep_mime_part_get_message (part);
				if (part == NULL)
					return NULL;
			}
			if (item->kind == IMAP_SECTION_TEXT) {
				off = ep_mime_part_get_body_offset (part);
				len = ep_mime_part_get_body_length (part);
			} else {
				off = ep_mime_part_get_header_offset (part);
				len = ep_mime_part_get_header_length (part);
			}
			break;
		}
		if (off > dlen || len > dlen - off)
			return NULL;
		if (item->kind == IMAP_SECTION_HEADER_FIELDS || item->kind == IMAP_SECTION_HEADER_FIELDS_NOT) {
			GString *out = g_string_new (NULL);
			EpMimeHeaderIter iter;
			EpMimeHeader h;
			gboolean want = item->kind == IMAP_SECTION_HEADER_FIELDS;

			ep_mime_header_iter_init (&iter, d + off, len);
			while (ep_mime_header_iter_next (&iter, &h))
				if (imap_fetch_field_listed (item->fields, &h) == want)
					g_string_append_len (out, d + off + h.offset, (gssize)h.length);
			g_string_append (out, "\r\n");
			region = g_string_free_to_bytes (out);
		} else {
			region = g_bytes_new_from_bytes (data, off, len);
		}
	}
	if (item->partial) {
		gsize rlen = g_bytes_get_size (region);
		gsize o = (gsize)MIN (item->offset, (guint64)rlen);
		gsize n = (gsize)MIN (item->length, (guint64)(rlen - o));
		return g_bytes_new_from_bytes (region, o, n);
	}
	return g_steal_pointer (&region);
}

ImapFetchBinaryStatus
imap_fetch_binary (const ImapBodyItem *item, GBytes *data, const EpMimeMessage *msg, GBytes **out, guint64 *size)
{
	gsize dlen = 0;
	const char *d = g_bytes_get_data (data, &dlen);
	const EpMimePart *part;
	const char *cte;
	g_autoptr (GBytes) region = NULL;
	gsize off, len;

	if (out != NULL)
		*out = NULL;
	if (size != NULL)
		*size = 0;
	if (item->part[0] == '\0') {
		region = g_bytes_ref (data);
	} else {
		part = msg != NULL ? ep_mime_message_lookup_part (msg, item->part) : NULL;
		if (part == NULL)
			return IMAP_FETCH_BINARY_NIL;
		off = ep_mime_part_get_body_offset (part);
		len = ep_mime_part_get_body_length (part);
		if (off > dlen || len > dlen - off)
			return IMAP_FETCH_BINARY_NIL;
		cte = ep_mime_part_get_encoding (part);
		if (ep_mime_part_get_n_children (part) > 0 || cte == NULL || g_ascii_strcasecmp (cte, "7bit") == 0 ||
		    g_ascii_strcasecmp (cte, "8bit") == 0 || g_ascii_strcasecmp (cte, "binary") == 0) {
			region = g_bytes_new_from_bytes (data, off, len);
		} else if (g_ascii_strcasecmp (cte, "base64") == 0 ||
			   g_ascii_strcasecmp (cte, "quoted-printable") == 0) {
			if (out == NULL && size != NULL) {
				/* counted when the message was parsed */
				*size = ep_mime_part_get_decoded_size (part);
				return IMAP_FETCH_BINARY_OK;
			}
			region = ep_mime_part_decode_body (part, d, dlen, NULL);
			if (region == NULL)
				return IMAP_FETCH_BINARY_UNKNOWN_CTE;
		} else {
			return IMAP_FETCH_BINARY_UNKNOWN_CTE;
		}
	}
	if (size != NULL)
		*size = g_bytes_get_size (region);
	if (out == NULL)
		return IMAP_FETCH_BINARY_OK;
	if (item->partial) {
		gsize rlen = g_bytes_get_size (region);
		gsize o = (gsize)MIN (item->offset, (guint64)rlen);
		gsize n = (gsize)MIN (item->length, (guint64)(rlen - o));
		*out = g_bytes_new_from_bytes (region, o, n);
	} else {
		*out = g_steal_pointer (&region);
	}
	return IMAP_FETCH_BINARY_OK;
}
