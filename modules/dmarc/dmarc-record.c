/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DMARC record parser (RFC 7489 §6.3, §6.4); see dmarc-record.h for
 * what it accepts.
 */
#include "config.h"

#include <string.h>

#include "dmarc-record.h"
#include "ep-error.h"

#define DMARC_VERSION "DMARC1"

static gboolean
dmarc_is_wsp (char c)
{
	return c == ' ' || c == '\t';
}

/* FWS, leniently: any run of white space and line breaks */
static gboolean
dmarc_is_fws (char c)
{
	return dmarc_is_wsp (c) || c == '\r' || c == '\n';
}

static gsize
dmarc_skip_fws (const char *text, gsize len, gsize pos)
{
	while (pos < len && dmarc_is_fws (text[pos]))
		pos++;
	return pos;
}

const char *
dmarc_policy_to_string (DmarcPolicy policy)
{
	switch (policy) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	case DMARC_POLICY_UNSET:
	default:
		return NULL;
	}
}

const char *
dmarc_align_to_string (DmarcAlign align)
{
	return align == DMARC_ALIGN_STRICT ? "s" : "r";
}

static void
dmarc_uri_free (DmarcUri *uri)
{
	g_free (uri->uri);
	g_free (uri);
}

void
dmarc_record_free (DmarcRecord *record)
{
	if (record == NULL)
		return;
	g_clear_pointer (&record->rf, g_ptr_array_unref);
	g_clear_pointer (&record->rua, g_ptr_array_unref);
	g_clear_pointer (&record->ruf, g_ptr_array_unref);
	g_free (record);
}

gboolean
dmarc_record_is_dmarc (const char *text, gsize len)
{
	gsize pos = dmarc_skip_fws (text, len, 0);
	gsize vlen = strlen (DMARC_VERSION);

	if (pos >= len || (text[pos] != 'v' && text[pos] != 'V'))
		return FALSE;
	pos = dmarc_skip_fws (text, len, pos + 1);
	if (pos >= len || text[pos] != '=')
		return FALSE;
	pos = dmarc_skip_fws (text, len, pos + 1);
	if (len - pos < vlen || memcmp (text + pos, DMARC_VERSION, vlen) != 0)
		return FALSE;
	pos += vlen;
	return pos == len || dmarc_is_fws (text[pos]) || text[pos] == ';';
}

gboolean
dmarc_uri_is_valid (const char *uri, gsize len)
{
	gsize colon = 0;

	if (len == 0 || !g_ascii_isalpha (uri[0]))
		return FALSE;
	for (colon = 1; colon < len && uri[colon] != ':'; colon++) {
		char c = uri[colon];
		if (!g_ascii_isalnum (c) && c != '+' && c != '-' && c != '.')
			return FALSE;
	}
	if (colon >= len || colon + 1 == len)
		return FALSE;
	for (gsize i = colon + 1; i < len; i++) {
		guchar c = (guchar) uri[i];
		if (c <= 0x20 || c >= 0x7f || c == ',' || c == '!' || c == ';')
			return FALSE;
	}
	if (colon == 6 && g_ascii_strncasecmp (uri, "mailto", 6) == 0) {
		const char *rest = uri + colon + 1;
		gsize rest_len = len - colon - 1;
		const char *query = memchr (rest, '?', rest_len);
		gsize addr_len = query != NULL ? (gsize) (query - rest) : rest_len;
		const char *at = memchr (rest, '@', addr_len);

		if (at == NULL || at == rest || (gsize) (at - rest) + 1 >= addr_len)
			return FALSE;
	}
	return TRUE;
}

/* "!size[kmgt]" after a URI; FALSE when malformed or too large */
static gboolean
dmarc_parse_size (const char *text, gsize len, guint64 *size)
{
	guint64 value = 0;
	gsize i = 0;
	guint shift = 0;

	for (; i < len && g_ascii_isdigit (text[i]); i++) {
		if (value > (G_MAXUINT64 - 9) / 10)
			return FALSE;
		value = value * 10 + (guint64) (text[i] - '0');
	}
	if (i == 0)
		return FALSE;
	if (i < len) {
		switch (g_ascii_tolower (text[i])) {
		case 'k':
			shift = 10;
			break;
		case 'm':
			shift = 20;
			break;
		case 'g':
			shift = 30;
			break;
		case 't':
			shift = 40;
			break;
		default:
			return FALSE;
		}
		if (i + 1 != len)
			return FALSE;
	}
	if (shift > 0 && value > (G_MAXUINT64 >> shift))
		return FALSE;
	*size = value << shift;
	return TRUE;
}

/* a comma-separated list of DMARC URIs; malformed ones are dropped */
static GPtrArray *
dmarc_parse_uri_list (const char *value)
{
	GPtrArray *uris = g_ptr_array_new_with_free_func ((GDestroyNotify) dmarc_uri_free);
	g_auto (GStrv) parts = g_strsplit (value, ",", -1);

	for (guint i = 0; parts[i] != NULL; i++) {
		char *item = g_strstrip (parts[i]);
		gsize len = strlen (item);
		const char *bang = strrchr (item, '!');
		guint64 size = 0;
		DmarcUri *uri;

		if (bang != NULL) {
			if (!dmarc_parse_size (bang + 1, strlen (bang + 1), &size))
				continue;
			len = (gsize) (bang - item);
		}
		if (!dmarc_uri_is_valid (item, len))
			continue;
		uri = g_new0 (DmarcUri, 1);
		uri->uri = g_strndup (item, len);
		uri->max_size = size;
		g_ptr_array_add (uris, uri);
	}
	return uris;
}

static gboolean
dmarc_parse_policy (const char *value, DmarcPolicy *policy)
{
	if (g_ascii_strcasecmp (value, "none") == 0)
		*policy = DMARC_POLICY_NONE;
	else if (g_ascii_strcasecmp (value, "quarantine") == 0)
		*policy = DMARC_POLICY_QUARANTINE;
	else if (g_ascii_strcasecmp (value, "reject") == 0)
		*policy = DMARC_POLICY_REJECT;
	else
		return FALSE;
	return TRUE;
}

static gboolean
dmarc_parse_align (const char *value, DmarcAlign *align)
{
	if (g_ascii_strcasecmp (value, "r") == 0)
		*align = DMARC_ALIGN_RELAXED;
	else if (g_ascii_strcasecmp (value, "s") == 0)
		*align = DMARC_ALIGN_STRICT;
	else
		return FALSE;
	return TRUE;
}

/* 1*DIGIT up to @max */
static gboolean
dmarc_parse_uint (const char *value, guint64 max, guint64 *out)
{
	guint64 n = 0;

	if (value[0] == '\0')
		return FALSE;
	for (const char *p = value; *p != '\0'; p++) {
		if (!g_ascii_isdigit (*p))
			return FALSE;
		n = n * 10 + (guint64) (*p - '0');
		if (n > max)
			return FALSE;
	}
	*out = n;
	return TRUE;
}

static gboolean
dmarc_parse_fo (const char *value, guint *fo)
{
	g_auto (GStrv) parts = g_strsplit (value, ":", -1);
	guint bits = 0;

	for (guint i = 0; parts[i] != NULL; i++) {
		const char *t = g_strstrip (parts[i]);
		if (strcmp (t, "0") == 0)
			bits |= DMARC_FO_0;
		else if (strcmp (t, "1") == 0)
			bits |= DMARC_FO_1;
		else if (g_ascii_strcasecmp (t, "d") == 0)
			bits |= DMARC_FO_D;
		else if (g_ascii_strcasecmp (t, "s") == 0)
			bits |= DMARC_FO_S;
		else
			return FALSE;
	}
	*fo = bits;
	return TRUE;
}

static GPtrArray *
dmarc_parse_rf (const char *value)
{
	g_auto (GStrv) parts = g_strsplit (value, ":", -1);
	g_autoptr (GPtrArray) formats = g_ptr_array_new_with_free_func (g_free);

	for (guint i = 0; parts[i] != NULL; i++) {
		const char *t = g_strstrip (parts[i]);
		if (t[0] == '\0' || !g_ascii_isalpha (t[0]))
			return NULL;
		for (const char *p = t; *p != '\0'; p++) {
			if (!g_ascii_isalnum (*p) && *p != '-')
				return NULL;
		}
		g_ptr_array_add (formats, g_ascii_strdown (t, -1));
	}
	return g_steal_pointer (&formats);
}

/* the value of a tag: VALCHARs and folding white space only */
static gboolean
dmarc_value_is_valid (const char *value, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar) value[i];
		if (!(c >= 0x21 && c <= 0x7e && c != ';') && !dmarc_is_fws ((char) c))
			return FALSE;
	}
	return TRUE;
}

static gboolean
dmarc_fail (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
dmarc_fail (GError **error, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, message);
	return FALSE;
}

/* one known tag into @record; FALSE with @error for a malformed value */
static gboolean
dmarc_record_apply_tag (DmarcRecord *record, const char *name, const char *value, gboolean *p_seen,
			gboolean *p_bad, gboolean *sp_bad, GError **error)
{
	guint64 n = 0;

	if (strcmp (name, "p") == 0) {
		*p_seen = TRUE;
		*p_bad = !dmarc_parse_policy (value, &record->p);
	} else if (strcmp (name, "sp") == 0) {
		*sp_bad = !dmarc_parse_policy (value, &record->sp);
	} else if (strcmp (name, "pct") == 0) {
		if (!dmarc_parse_uint (value, 100, &n))
			return dmarc_fail (error, "pct=%s is not a number from 0 to 100", value);
		record->pct = (guint) n;
	} else if (strcmp (name, "adkim") == 0 || strcmp (name, "aspf") == 0) {
		if (!dmarc_parse_align (value, name[1] == 'd' ? &record->adkim : &record->aspf))
			return dmarc_fail (error, "%s=%s is neither r nor s", name, value);
	} else if (strcmp (name, "ri") == 0) {
		if (!dmarc_parse_uint (value, G_MAXUINT32, &n))
			return dmarc_fail (error, "ri=%s is not a number of seconds", value);
		record->ri = (guint32) n;
	} else if (strcmp (name, "fo") == 0) {
		if (!dmarc_parse_fo (value, &record->fo))
			return dmarc_fail (error, "fo=%s is not a list of 0, 1, d and s", value);
	} else if (strcmp (name, "rf") == 0) {
		GPtrArray *rf = dmarc_parse_rf (value);
		if (rf == NULL)
			return dmarc_fail (error, "rf=%s is not a list of report formats", value);
		g_ptr_array_unref (record->rf);
		record->rf = rf;
	} else if (strcmp (name, "rua") == 0) {
		g_ptr_array_unref (record->rua);
		record->rua = dmarc_parse_uri_list (value);
	} else if (strcmp (name, "ruf") == 0) {
		g_ptr_array_unref (record->ruf);
		record->ruf = dmarc_parse_uri_list (value);
	}
	/* any other tag is ignored */
	return TRUE;
}

DmarcRecord *
dmarc_record_parse (const char *text, gsize len, GError **error)
{
	g_autoptr (DmarcRecord) record = g_new0 (DmarcRecord, 1);
	g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
	gboolean p_seen = FALSE;
	gboolean p_bad = FALSE;
	gboolean sp_bad = FALSE;
	gsize pos = 0;

	record->p = DMARC_POLICY_NONE;
	record->sp = DMARC_POLICY_UNSET;
	record->pct = 100;
	record->ri = DMARC_RI_DEFAULT;
	record->fo = DMARC_FO_0;
	record->rf = g_ptr_array_new_with_free_func (g_free);
	g_ptr_array_add (record->rf, g_strdup ("afrf"));
	record->rua = g_ptr_array_new_with_free_func ((GDestroyNotify) dmarc_uri_free);
	record->ruf = g_ptr_array_new_with_free_func ((GDestroyNotify) dmarc_uri_free);

	if (!dmarc_record_is_dmarc (text, len)) {
		dmarc_fail (error, "the record does not start with v=%s", DMARC_VERSION);
		return NULL;
	}
	pos = dmarc_skip_fws (text, len, 0);
	while (pos < len) {
		gsize name_start = pos;
		gsize value_start;
		gsize value_end;
		g_autofree char *name = NULL;
		g_autofree char *value = NULL;

		if (text[pos] == ';') { /* an empty tag-spec */
			pos = dmarc_skip_fws (text, len, pos + 1);
			continue;
		}
		if (!g_ascii_isalpha (text[pos])) {
			dmarc_fail (error, "a tag name is expected at offset %" G_GSIZE_FORMAT, pos);
			return NULL;
		}
		while (pos < len && (g_ascii_isalnum (text[pos]) || text[pos] == '_'))
			pos++;
		name = g_ascii_strdown (text + name_start, (gssize) (pos - name_start));
		pos = dmarc_skip_fws (text, len, pos);
		if (pos >= len || text[pos] != '=') {
			dmarc_fail (error, "tag %s has no '='", name);
			return NULL;
		}
		value_start = dmarc_skip_fws (text, len, pos + 1);
		value_end = value_start;
		while (value_end < len && text[value_end] != ';')
			value_end++;
		pos = value_end < len ? value_end + 1 : value_end;
		while (value_end > value_start && dmarc_is_fws (text[value_end - 1]))
			value_end--;
		if (!dmarc_value_is_valid (text + value_start, value_end - value_start)) {
			dmarc_fail (error, "the value of tag %s has characters a tag value cannot have", name);
			return NULL;
		}
		value = g_strndup (text + value_start, value_end - value_start);
		pos = dmarc_skip_fws (text, len, pos);

		for (guint i = 0; i < seen->len; i++) {
			if (strcmp (g_ptr_array_index (seen, i), name) == 0) {
				dmarc_fail (error, "tag %s occurs more than once", name);
				return NULL;
			}
		}
		g_ptr_array_add (seen, g_strdup (name));
		if (seen->len == 1)
			continue; /* v=DMARC1, checked above */
		if (!dmarc_record_apply_tag (record, name, value, &p_seen, &p_bad, &sp_bad, error))
			return NULL;
	}
	if (!p_seen || p_bad || sp_bad) {
		const char *what = !p_seen ? "there is no p= tag" : p_bad ? "p= is not a policy" : "sp= is not a policy";
		if (record->rua->len == 0) {
			dmarc_fail (error, "%s (and no rua= to report to)", what);
			return NULL;
		}
		/* RFC 7489 §6.6.3, step 6: as if p=none were published */
		record->p = DMARC_POLICY_NONE;
		record->sp = DMARC_POLICY_UNSET;
		record->p_fallback = TRUE;
	}
	return g_steal_pointer (&record);
}
