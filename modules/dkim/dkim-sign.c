/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dkim-sign.h"
#include "ep-error.h"
#include "ep-mime.h"

const char *const dkim_sign_headers[] = {
	"from",
	"reply-to",
	"subject",
	"date",
	"to",
	"cc",
	"message-id",
	"in-reply-to",
	"references",
	"mime-version",
	"content-type",
	"content-transfer-encoding",
	NULL,
};

const char *const dkim_sign_oversigned[] = { "from", "subject", "date", NULL };

/* ---- the author's domain --------------------------------------------------- */

char *
dkim_sign_from_domain (const char *data, GArray *fields, GError **error)
{
	const DkimHeaderField *from = NULL;
	g_autoptr (GPtrArray) addresses = NULL;
	g_autofree char *domain = NULL;
	g_autofree char *value = NULL;

	for (guint i = 0; i < fields->len; i++) {
		const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, i);
		if (!dkim_canon_field_has_name (data, f, "From"))
			continue;
		if (from != NULL) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "more than one From: field");
			return NULL;
		}
		from = f;
	}
	if (from == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "no From: field");
		return NULL;
	}
	value = ep_mime_header_unfold (data + from->value_offset, from->value_length);
	addresses = ep_mime_address_list_parse (value, strlen (value));
	for (guint i = 0; i < addresses->len; i++) {
		EpMimeAddress *a = g_ptr_array_index (addresses, i);
		g_autofree char *ascii = NULL;
		g_autofree char *lower = NULL;

		if (a->host == NULL)
			continue; /* a group's start or end */
		/* g_hostname_to_ascii() wants UTF-8: it reads past the end of
		 * anything else (found by fuzz-dkim) */
		ascii = g_utf8_validate (a->host, -1, NULL) ? g_hostname_to_ascii (a->host) : NULL;
		lower = ascii != NULL ? g_ascii_strdown (ascii, -1) : NULL;
		if (lower == NULL || !dkim_domain_is_valid (lower)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "From: has an address in '%s', not a domain",
				     a->host);
			return NULL;
		}
		if (domain != NULL && strcmp (domain, lower) != 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "From: has addresses in %s and %s", domain,
				     lower);
			return NULL;
		}
		if (domain == NULL)
			domain = g_steal_pointer (&lower);
	}
	if (domain == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "From: has no address");
		return NULL;
	}
	return g_steal_pointer (&domain);
}

/* ---- h= ---------------------------------------------------------------------- */

static guint
dkim_sign_count (const char *data, GArray *fields, const char *name)
{
	guint n = 0;

	for (guint i = 0; i < fields->len; i++)
		n += dkim_canon_field_has_name (data, &g_array_index (fields, DkimHeaderField, i), name) ? 1 : 0;
	return n;
}

static void
dkim_sign_add_name (GPtrArray *names, const char *name, guint times)
{
	for (guint i = 0; i < times; i++)
		g_ptr_array_add (names, g_strdup (name));
}

GPtrArray *
dkim_sign_header_list (const char *data, GArray *fields)
{
	GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
	g_autoptr (GPtrArray) lists = g_ptr_array_new_with_free_func (g_free);

	for (guint i = 0; dkim_sign_headers[i] != NULL; i++) {
		const char *name = dkim_sign_headers[i];
		guint n = dkim_sign_count (data, fields, name);
		if (g_strv_contains (dkim_sign_oversigned, name))
			n++;
		dkim_sign_add_name (names, name, n);
	}
	/* List-* (RFC 2369, RFC 2919, RFC 8058), in the order they come */
	for (guint i = 0; i < fields->len; i++) {
		const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, i);
		g_autofree char *name = NULL;

		if (f->name_length <= 5 || g_ascii_strncasecmp (data + f->offset, "List-", 5) != 0)
			continue;
		name = g_ascii_strdown (data + f->offset, (gssize) f->name_length);
		if (g_ptr_array_find_with_equal_func (lists, name, g_str_equal, NULL))
			continue;
		dkim_sign_add_name (names, name, dkim_sign_count (data, fields, name));
		g_ptr_array_add (lists, g_steal_pointer (&name));
	}
	return names;
}

/* ---- the data signed --------------------------------------------------------- */

GString *
dkim_sign_hash_input (const char *data, GArray *fields, GPtrArray *names, const char *signature_field)
{
	static const char head[] = DKIM_SIGN_FIELD_NAME ":";

	return dkim_canon_hash_input (DKIM_CANON_RELAXED, data, fields, names, G_MAXUINT, head, strlen (head),
				      signature_field, strlen (signature_field));
}

/* ---- the field, folded ------------------------------------------------------- */

typedef struct {
	GString *text;
	gsize column; /* of the current line, counting "DKIM-Signature: " */
} DkimFold;

/* Adds @token after a space, or on a new line when it (and @reserve more
 * characters) would not fit; @space FALSE joins it to what comes before
 * (inside a tag value, where folding white space is allowed). */
static void
dkim_fold_add (DkimFold *f, const char *token, gboolean space, gsize reserve)
{
	gsize len = strlen (token);

	if (f->column > 1 && f->column + (space ? 1 : 0) + len + reserve > DKIM_SIGN_MAX_LINE) {
		g_string_append (f->text, "\r\n\t");
		f->column = 1;
	} else if (space) {
		g_string_append_c (f->text, ' ');
		f->column++;
	}
	g_string_append (f->text, token);
	f->column += len;
}

/* base64 text inside a tag value, cut where the line is full */
static void
dkim_fold_add_base64 (DkimFold *f, const char *b64)
{
	gsize len = strlen (b64);
	gsize i = 0;

	while (i < len) {
		gsize room = DKIM_SIGN_MAX_LINE > f->column ? DKIM_SIGN_MAX_LINE - f->column : 0;
		gsize n;

		if (room == 0) {
			g_string_append (f->text, "\r\n\t");
			f->column = 1;
			continue;
		}
		n = MIN (room, len - i);
		g_string_append_len (f->text, b64 + i, (gssize) n);
		f->column += n;
		i += n;
	}
}

/* Everything up to and including "b=": what the signature covers. */
static char *
dkim_sign_field_head (DkimKey *key, GPtrArray *names, const char *body_hash, const DkimSignOptions *options)
{
	DkimFold f = { g_string_new (NULL), strlen (DKIM_SIGN_FIELD_NAME ": ") };
	g_autofree char *a = g_strdup_printf ("a=%s;", dkim_algorithm_to_string (dkim_key_get_algorithm (key)));
	g_autofree char *d = g_strdup_printf ("d=%s;", dkim_key_get_domain (key));
	g_autofree char *s = g_strdup_printf ("s=%s;", dkim_key_get_selector (key));
	g_autofree char *t = g_strdup_printf ("t=%" G_GINT64_FORMAT ";", options->timestamp);
	g_autofree char *bh = g_strdup_printf ("bh=%s;", body_hash);

	/* the first token goes right after "DKIM-Signature: " */
	g_string_append (f.text, "v=1;");
	f.column += 4;
	dkim_fold_add (&f, a, TRUE, 0);
	dkim_fold_add (&f, "c=relaxed/relaxed;", TRUE, 0);
	dkim_fold_add (&f, d, TRUE, 0);
	dkim_fold_add (&f, s, TRUE, 0);
	dkim_fold_add (&f, t, TRUE, 0);
	if (options->expiration > 0) {
		g_autofree char *x = g_strdup_printf ("x=%" G_GINT64_FORMAT ";", options->expiration);
		dkim_fold_add (&f, x, TRUE, 0);
	}
	for (guint i = 0; i < names->len; i++) {
		gboolean last = i + 1 == names->len;
		g_autofree char *token = g_strdup_printf ("%s%s%s", i == 0 ? "h=" : "",
							  (const char *) g_ptr_array_index (names, i), last ? ";" : ":");
		/* FWS may follow a colon of h= */
		dkim_fold_add (&f, token, i == 0, 0);
	}
	dkim_fold_add (&f, bh, TRUE, 0);
	/* some of the signature on the line of b= */
	dkim_fold_add (&f, "b=", TRUE, 16);
	return g_string_free (f.text, FALSE);
}

/* The column at the end of @text, which starts after "DKIM-Signature: ". */
static gsize
dkim_sign_end_column (const char *text)
{
	const char *nl = strrchr (text, '\n');

	if (nl == NULL)
		return strlen (DKIM_SIGN_FIELD_NAME ": ") + strlen (text);
	return strlen (nl + 1);
}

static char *
dkim_sign_one (const char *data, GArray *fields, GPtrArray *names, const char *body_hash, DkimKey *key,
	       const DkimSignOptions *options, GError **error)
{
	g_autofree char *head = dkim_sign_field_head (key, names, body_hash, options);
	g_autoptr (GString) input = dkim_sign_hash_input (data, fields, names, head);
	g_autoptr (GBytes) sig = dkim_key_sign (key, (const guint8 *) input->str, input->len, error);
	g_autofree char *b64 = NULL;
	DkimFold f;

	if (sig == NULL)
		return NULL;
	b64 = g_base64_encode (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
	f.column = dkim_sign_end_column (head);
	f.text = g_string_new (head);
	dkim_fold_add_base64 (&f, b64);
	return g_string_free (f.text, FALSE);
}

GPtrArray *
dkim_sign_fields (const char *data, gsize len, GArray *fields, gsize body_offset, GPtrArray *keys,
		  const DkimSignOptions *options, GError **error)
{
	g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
	g_autoptr (GPtrArray) names = NULL;
	g_autofree char *body_hash = NULL;

	g_return_val_if_fail (body_offset <= len, NULL);

	if (options->expiration != 0 && options->expiration <= options->timestamp) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "x= must come after t=");
		return NULL;
	}
	names = dkim_sign_header_list (data, fields);
	body_hash = dkim_canon_body_hash (DKIM_CANON_RELAXED, (const guint8 *) data + body_offset, len - body_offset,
					  -1, NULL);
	for (guint i = 0; i < keys->len; i++) {
		char *field = dkim_sign_one (data, fields, names, body_hash, g_ptr_array_index (keys, i), options, error);
		if (field == NULL)
			return NULL;
		g_ptr_array_add (out, field);
	}
	return g_steal_pointer (&out);
}

GPtrArray *
dkim_sign_message (const char *data, gsize len, GPtrArray *keys, const DkimSignOptions *options, GError **error)
{
	g_autoptr (GArray) fields = NULL;
	gsize body_offset = 0;

	fields = dkim_canon_split_header (data, len, &body_offset, error);
	if (fields == NULL)
		return NULL;
	return dkim_sign_fields (data, len, fields, body_offset, keys, options, error);
}
