/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dkim-canon.h"
#include "ep-error.h"

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')

/* ---- the header ---------------------------------------------------------- */

/* RFC 5322 §3.6.8: ftext is printable US-ASCII except the colon */
static gboolean
dkim_canon_is_ftext (guchar c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* The end of the line starting at @pos: the offset of its CR, or @len when
 * the message ends first.  A bare CR, a bare LF or a NUL is an error. */
static gboolean
dkim_canon_line_end (const char *data, gsize len, gsize pos, gsize *eol, GError **error)
{
	for (gsize i = pos; i < len; i++) {
		char c = data[i];
		if (c == '\r') {
			if (i + 1 < len && data[i + 1] == '\n') {
				*eol = i;
				return TRUE;
			}
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "bare CR in the header at offset %" G_GSIZE_FORMAT,
				     i);
			return FALSE;
		}
		if (c == '\n') {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "bare LF in the header at offset %" G_GSIZE_FORMAT,
				     i);
			return FALSE;
		}
		if (c == '\0') {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "NUL in the header at offset %" G_GSIZE_FORMAT, i);
			return FALSE;
		}
	}
	*eol = len;
	return TRUE;
}

GArray *
dkim_canon_split_header (const char *data, gsize len, gsize *body_offset, GError **error)
{
	g_autoptr (GArray) fields = g_array_new (FALSE, TRUE, sizeof (DkimHeaderField));
	gsize pos = 0;

	g_return_val_if_fail (data != NULL || len == 0, NULL);
	g_return_val_if_fail (body_offset != NULL, NULL);

	while (pos < len) {
		DkimHeaderField f = { 0 };
		const char *colon;
		gsize eol;
		gsize name_end;

		/* the empty line that ends the header */
		if (len - pos >= 2 && data[pos] == '\r' && data[pos + 1] == '\n') {
			*body_offset = pos + 2;
			return g_steal_pointer (&fields);
		}
		if (IS_WSP (data[pos])) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "the header starts with a continuation line (offset %" G_GSIZE_FORMAT ")", pos);
			return NULL;
		}
		if (fields->len >= DKIM_CANON_MAX_FIELDS) {
			g_set_error (error, EP_ERROR, EP_ERROR_LIMIT, "more than %u header fields",
				     DKIM_CANON_MAX_FIELDS);
			return NULL;
		}
		if (!dkim_canon_line_end (data, len, pos, &eol, error))
			return NULL;
		colon = memchr (data + pos, ':', eol - pos);
		if (colon == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "a header line without a colon (offset %" G_GSIZE_FORMAT ")", pos);
			return NULL;
		}
		/* obs-optional: white space may come before the colon */
		name_end = (gsize) (colon - data);
		while (name_end > pos && IS_WSP (data[name_end - 1]))
			name_end--;
		if (name_end == pos) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "a header field without a name (offset %" G_GSIZE_FORMAT ")", pos);
			return NULL;
		}
		for (gsize i = pos; i < name_end; i++) {
			if (!dkim_canon_is_ftext ((guchar) data[i])) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
					     "an invalid character in a header field name (offset %" G_GSIZE_FORMAT ")",
					     i);
				return NULL;
			}
		}
		f.offset = pos;
		f.name_length = name_end - pos;
		f.value_offset = (gsize) (colon - data) + 1;
		/* continuation lines */
		while (eol + 2 < len && IS_WSP (data[eol + 2])) {
			if (!dkim_canon_line_end (data, len, eol + 2, &eol, error))
				return NULL;
		}
		f.value_length = eol - f.value_offset;
		f.length = (eol < len ? eol + 2 : len) - pos;
		g_array_append_val (fields, f);
		pos = f.offset + f.length;
	}
	*body_offset = len;
	return g_steal_pointer (&fields);
}

gboolean
dkim_canon_field_has_name (const char *data, const DkimHeaderField *field, const char *name)
{
	gsize n = strlen (name);

	return field->name_length == n && g_ascii_strncasecmp (data + field->offset, name, n) == 0;
}

void
dkim_canon_header_relaxed (GString *out, const char *name, gsize name_len, const char *value, gsize value_len,
			   gboolean crlf)
{
	gboolean wsp = FALSE;
	gboolean started = FALSE;

	for (gsize i = 0; i < name_len; i++)
		g_string_append_c (out, g_ascii_tolower (name[i]));
	g_string_append_c (out, ':');
	for (gsize i = 0; i < value_len; i++) {
		char c = value[i];

		/* unfolding: a CRLF goes, the white space after it stays */
		if (c == '\r' && i + 1 < value_len && value[i + 1] == '\n') {
			i++;
			continue;
		}
		if (IS_WSP (c)) {
			wsp = TRUE;
			continue;
		}
		/* white space before the value and at its end goes, runs
		 * inside become one space */
		if (wsp && started)
			g_string_append_c (out, ' ');
		wsp = FALSE;
		started = TRUE;
		g_string_append_c (out, c);
	}
	if (crlf)
		g_string_append (out, "\r\n");
}

void
dkim_canon_header_field (GString *out, DkimCanon canon, const char *data, const DkimHeaderField *field)
{
	if (canon == DKIM_CANON_SIMPLE) {
		g_string_append_len (out, data + field->offset, (gssize) field->length);
		/* the message ended inside the field */
		if (field->value_offset + field->value_length == field->offset + field->length)
			g_string_append (out, "\r\n");
		return;
	}
	dkim_canon_header_relaxed (out, data + field->offset, field->name_length, data + field->value_offset,
				   field->value_length, TRUE);
}

GString *
dkim_canon_hash_input (DkimCanon canon, const char *data, GArray *fields, GPtrArray *names, guint skip,
		       const char *sig_head, gsize sig_head_len, const char *sig_value, gsize sig_value_len)
{
	GString *out = g_string_new (NULL);
	/* name -> instances used so far */
	g_autoptr (GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
	gsize name_len = sig_head_len;

	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index (names, i);
		guint skip_n = GPOINTER_TO_UINT (g_hash_table_lookup (used, name));
		guint seen = 0;

		g_hash_table_insert (used, (gpointer) name, GUINT_TO_POINTER (skip_n + 1));
		/* RFC 6376 §5.4.2: instances are taken from the bottom up */
		for (guint j = fields->len; j > 0; j--) {
			const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, j - 1);
			if (j - 1 == skip || !dkim_canon_field_has_name (data, f, name))
				continue;
			if (seen++ == skip_n) {
				dkim_canon_header_field (out, canon, data, f);
				break;
			}
		}
	}
	if (canon == DKIM_CANON_SIMPLE) {
		g_string_append_len (out, sig_head, (gssize) sig_head_len);
		g_string_append_len (out, sig_value, (gssize) sig_value_len);
		return out;
	}
	/* the name, without the colon and the white space before it */
	if (name_len > 0 && sig_head[name_len - 1] == ':')
		name_len--;
	while (name_len > 0 && IS_WSP (sig_head[name_len - 1]))
		name_len--;
	dkim_canon_header_relaxed (out, sig_head, name_len, sig_value, sig_value_len, FALSE);
	return out;
}

/* ---- the body -------------------------------------------------------------- */

void
dkim_body_canon_init (DkimBodyCanon *self, DkimCanon canon, gint64 limit, DkimCanonOutput output, gpointer user_data)
{
	memset (self, 0, sizeof (*self));
	self->canon = canon;
	self->limit = limit;
	self->output = output;
	self->user_data = user_data;
}

/* Passes canonical octets on, within the limit. */
static void
dkim_body_canon_emit (DkimBodyCanon *self, const guint8 *data, gsize len)
{
	gsize n = len;

	if (self->limit >= 0) {
		guint64 left = self->length < (guint64) self->limit ? (guint64) self->limit - self->length : 0;
		n = (gsize) MIN ((guint64) len, left);
	}
	self->length += len;
	if (n > 0)
		self->output (data, n, self->user_data);
}

static void
dkim_body_canon_emit_eols (DkimBodyCanon *self, guint64 n)
{
	static const guint8 crlf[] = { '\r', '\n' };

	for (guint64 i = 0; i < n; i++)
		dkim_body_canon_emit (self, crlf, sizeof (crlf));
}

/* Content of a line (never CR-LF, never white space in relaxed): what was
 * held back goes first. */
static void
dkim_body_canon_content (DkimBodyCanon *self, const guint8 *data, gsize len)
{
	static const guint8 space = ' ';

	dkim_body_canon_emit_eols (self, self->n_eol);
	self->n_eol = 0;
	if (self->wsp) {
		/* relaxed: a run of white space inside a line is one space */
		dkim_body_canon_emit (self, &space, 1);
		self->wsp = FALSE;
	}
	dkim_body_canon_emit (self, data, len);
	self->in_line = TRUE;
	self->any = TRUE;
}

static void
dkim_body_canon_eol (DkimBodyCanon *self)
{
	/* relaxed: white space at the end of a line goes */
	self->wsp = FALSE;
	self->in_line = FALSE;
	self->n_eol++;
}

void
dkim_body_canon_feed (DkimBodyCanon *self, const guint8 *data, gsize len)
{
	static const guint8 cr = '\r';
	gboolean relaxed = self->canon == DKIM_CANON_RELAXED;
	gsize i = 0;

	g_return_if_fail (!self->finished);

	while (i < len) {
		guint8 c = data[i];
		gsize run;

		if (self->cr) {
			self->cr = FALSE;
			if (c == '\n') {
				dkim_body_canon_eol (self);
				i++;
				continue;
			}
			/* a bare CR is content */
			dkim_body_canon_content (self, &cr, 1);
		}
		if (c == '\r') {
			self->cr = TRUE;
			i++;
			continue;
		}
		if (relaxed && IS_WSP (c)) {
			self->wsp = TRUE;
			i++;
			continue;
		}
		/* a run of content in one piece */
		run = 1;
		while (i + run < len && data[i + run] != '\r' && !(relaxed && IS_WSP (data[i + run])))
			run++;
		dkim_body_canon_content (self, data + i, run);
		i += run;
	}
}

void
dkim_body_canon_finish (DkimBodyCanon *self)
{
	static const guint8 cr = '\r';
	static const guint8 crlf[] = { '\r', '\n' };

	g_return_if_fail (!self->finished);

	if (self->cr) {
		self->cr = FALSE;
		dkim_body_canon_content (self, &cr, 1);
	}
	/* the trailing empty lines go; a last line without CRLF gets one;
	 * an empty body is CRLF in simple, nothing in relaxed */
	if (self->in_line || self->any || self->canon == DKIM_CANON_SIMPLE)
		dkim_body_canon_emit (self, crlf, sizeof (crlf));
	self->n_eol = 0;
	self->wsp = FALSE;
	self->finished = TRUE;
}

guint64
dkim_body_canon_get_length (const DkimBodyCanon *self)
{
	return self->length;
}

static void
dkim_canon_to_checksum (const guint8 *data, gsize len, gpointer user_data)
{
	g_checksum_update (user_data, data, (gssize) len);
}

guint64
dkim_canon_body_digest (DkimCanon canon, const guint8 *body, gsize len, gint64 limit, guint8 digest[32])
{
	g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
	DkimBodyCanon bc;
	gsize digest_len = 32;

	dkim_body_canon_init (&bc, canon, limit, dkim_canon_to_checksum, sha);
	dkim_body_canon_feed (&bc, body, len);
	dkim_body_canon_finish (&bc);
	g_checksum_get_digest (sha, digest, &digest_len);
	return dkim_body_canon_get_length (&bc);
}

char *
dkim_canon_body_hash (DkimCanon canon, const guint8 *body, gsize len, gint64 limit, guint64 *length)
{
	guint8 digest[32];
	guint64 n = dkim_canon_body_digest (canon, body, len, limit, digest);

	if (length != NULL)
		*length = n;
	return g_base64_encode (digest, sizeof (digest));
}
