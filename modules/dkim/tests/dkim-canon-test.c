/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dkim-canon.h"
#include "ep-error.h"

/* ---- helpers ------------------------------------------------------------- */

static void
collect (const guint8 *data, gsize len, gpointer user_data)
{
	g_byte_array_append (user_data, data, (guint) len);
}

/* the canonical body of @len bytes fed in chunks of @chunk (0: at once) */
static GByteArray *
canon_body (DkimCanon canon, const char *body, gsize len, gsize chunk, gint64 limit, guint64 *length)
{
	GByteArray *out = g_byte_array_new ();
	DkimBodyCanon bc;

	dkim_body_canon_init (&bc, canon, limit, collect, out);
	if (chunk == 0) {
		dkim_body_canon_feed (&bc, (const guint8 *) body, len);
	} else {
		for (gsize i = 0; i < len; i += chunk)
			dkim_body_canon_feed (&bc, (const guint8 *) body + i, MIN (chunk, len - i));
	}
	dkim_body_canon_finish (&bc);
	if (length != NULL)
		*length = dkim_body_canon_get_length (&bc);
	return out;
}

static void
assert_bytes (GByteArray *got, const char *want, gsize want_len)
{
	if (got->len != want_len || (want_len > 0 && memcmp (got->data, want, want_len) != 0)) {
		g_autofree char *gs = g_strndup ((const char *) got->data, got->len);
		g_autofree char *ge = g_strescape (gs, NULL);
		g_autofree char *we = g_strescape (want, NULL);
		g_error ("got \"%s\" (%u bytes), want \"%s\" (%" G_GSIZE_FORMAT " bytes)", ge, got->len, we, want_len);
	}
}

/* ---- RFC 6376 §3.4.5 ------------------------------------------------------ */

static const char rfc_message[] = "A: X\r\n"
				  "B : Y\t\r\n"
				  "\tZ  \r\n"
				  "\r\n"
				  " C \r\n"
				  "D \t E\r\n"
				  "\r\n"
				  "\r\n";

static GString *
canon_header (DkimCanon canon, const char *msg, gsize len, gsize *body_offset)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = dkim_canon_split_header (msg, len, body_offset, &error);
	GString *out = g_string_new (NULL);

	g_assert_no_error (error);
	for (guint i = 0; i < fields->len; i++)
		dkim_canon_header_field (out, canon, msg, &g_array_index (fields, DkimHeaderField, i));
	return out;
}

static void
test_rfc6376_example (void)
{
	gsize len = strlen (rfc_message);
	gsize body_offset = 0;
	g_autoptr (GString) relaxed = canon_header (DKIM_CANON_RELAXED, rfc_message, len, &body_offset);
	g_autoptr (GString) simple = canon_header (DKIM_CANON_SIMPLE, rfc_message, len, &body_offset);
	g_autoptr (GByteArray) rbody = NULL;
	g_autoptr (GByteArray) sbody = NULL;

	g_assert_cmpstr (relaxed->str, ==, "a:X\r\nb:Y Z\r\n");
	g_assert_cmpstr (simple->str, ==, "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	g_assert_cmpuint (body_offset, ==, strlen ("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n"));
	rbody = canon_body (DKIM_CANON_RELAXED, rfc_message + body_offset, len - body_offset, 0, -1, NULL);
	assert_bytes (rbody, " C\r\nD E\r\n", 9);
	sbody = canon_body (DKIM_CANON_SIMPLE, rfc_message + body_offset, len - body_offset, 0, -1, NULL);
	assert_bytes (sbody, " C \r\nD \t E\r\n", 12);
}

/* ---- bodies ------------------------------------------------------------------- */

typedef struct {
	const char *in;
	gsize in_len; /* 0: strlen */
	const char *simple;
	const char *relaxed;
} BodyCase;

static const BodyCase body_cases[] = {
	{ "", 0, "\r\n", "" },
	{ "\r\n", 0, "\r\n", "" },
	{ "\r\n\r\n\r\n", 0, "\r\n", "" },
	{ "abc", 0, "abc\r\n", "abc\r\n" },
	{ "abc\r\n", 0, "abc\r\n", "abc\r\n" },
	{ "abc\r\n\r\n\r\n", 0, "abc\r\n", "abc\r\n" },
	{ "  \r\n", 0, "  \r\n", "" },
	{ "line\r\n \r\n\t\r\n", 0, "line\r\n \r\n\t\r\n", "line\r\n" },
	{ "a  b \t\r\n", 0, "a  b \t\r\n", "a b\r\n" },
	{ "\t lead\r\n", 0, "\t lead\r\n", " lead\r\n" },
	{ "\r\n\r\nx\r\n", 0, "\r\n\r\nx\r\n", "\r\n\r\nx\r\n" },
	{ "x\r\n\r\n y \r\n\r\n", 0, "x\r\n\r\n y \r\n", "x\r\n\r\n y\r\n" },
	{ "a\rb\r\n", 0, "a\rb\r\n", "a\rb\r\n" },
	{ "a\nb\r\n", 0, "a\nb\r\n", "a\nb\r\n" },
	{ "a \r \r\n", 0, "a \r \r\n", "a \r\r\n" },
	{ "x\r", 0, "x\r\r\n", "x\r\r\n" },
	{ "\r", 0, "\r\r\n", "\r\r\n" },
	{ "\r\r\n\r\n", 0, "\r\r\n", "\r\r\n" },
	{ "last line  ", 0, "last line  \r\n", "last line\r\n" },
	{ "caf\xc3\xa9 \t \r\n\xe9t\xe9\r\n", 0, "caf\xc3\xa9 \t \r\n\xe9t\xe9\r\n", "caf\xc3\xa9\r\n\xe9t\xe9\r\n" },
	{ "nul\0inside \r\n", 13, "nul\0inside \r\n", "nul\0inside\r\n" },
};

static gsize
case_len (const BodyCase *c)
{
	return c->in_len != 0 ? c->in_len : strlen (c->in);
}

/* the expected outputs may hold a NUL too: their length follows the input's */
static gsize
expected_len (const BodyCase *c, const char *want)
{
	if (c->in_len == 0)
		return strlen (want);
	/* only the NUL case: count up to the final CRLF */
	for (gsize i = 0;; i++) {
		if (want[i] == '\r' && want[i + 1] == '\n' && want[i + 2] == '\0')
			return i + 2;
	}
}

static void
test_body_cases (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (body_cases); i++) {
		const BodyCase *c = &body_cases[i];
		g_autoptr (GByteArray) s = canon_body (DKIM_CANON_SIMPLE, c->in, case_len (c), 0, -1, NULL);
		g_autoptr (GByteArray) r = canon_body (DKIM_CANON_RELAXED, c->in, case_len (c), 0, -1, NULL);

		g_test_message ("case %u", i);
		assert_bytes (s, c->simple, expected_len (c, c->simple));
		assert_bytes (r, c->relaxed, expected_len (c, c->relaxed));
	}
}

/* The output does not depend on how the input is cut. */
static void
test_body_chunks (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (body_cases); i++) {
		const BodyCase *c = &body_cases[i];
		gsize len = case_len (c);

		for (DkimCanon canon = DKIM_CANON_SIMPLE; canon <= DKIM_CANON_RELAXED; canon++) {
			g_autoptr (GByteArray) whole = canon_body (canon, c->in, len, 0, -1, NULL);
			for (gsize chunk = 1; chunk <= len; chunk++) {
				g_autoptr (GByteArray) cut = canon_body (canon, c->in, len, chunk, -1, NULL);
				g_assert_cmpmem (cut->data, cut->len, whole->data, whole->len);
			}
		}
	}
}

/* A longer body with every special case, cut at every size. */
static void
test_body_chunks_long (void)
{
	g_autoptr (GString) body = g_string_new (NULL);

	for (guint i = 0; i < 40; i++) {
		g_string_append_printf (body, "line %u \t  with\t\tspace  \r\n", i);
		if (i % 7 == 0)
			g_string_append (body, "\r\n \r\n\t\r\n");
		if (i % 11 == 0)
			g_string_append (body, "bare\rcr and bare\nlf\r\n");
	}
	g_string_append (body, "\r\n\r\n  \r\n");
	for (DkimCanon canon = DKIM_CANON_SIMPLE; canon <= DKIM_CANON_RELAXED; canon++) {
		g_autoptr (GByteArray) whole = canon_body (canon, body->str, body->len, 0, -1, NULL);
		for (gsize chunk = 1; chunk <= 64; chunk++) {
			g_autoptr (GByteArray) cut = canon_body (canon, body->str, body->len, chunk, -1, NULL);
			g_assert_cmpmem (cut->data, cut->len, whole->data, whole->len);
		}
	}
}

/* l=: the output stops at the limit, the length counts everything. */
static void
test_body_limit (void)
{
	const char *body = "hello  world\r\nsecond line\r\n\r\n";
	guint64 length = 0;
	g_autoptr (GByteArray) all = canon_body (DKIM_CANON_RELAXED, body, strlen (body), 0, -1, &length);
	g_autoptr (GByteArray) zero = NULL;

	assert_bytes (all, "hello world\r\nsecond line\r\n", 26);
	g_assert_cmpuint (length, ==, 26);
	for (gint64 limit = 1; limit <= 30; limit++) {
		g_autoptr (GByteArray) cut = NULL;
		guint64 cut_length = 0;

		cut = canon_body (DKIM_CANON_RELAXED, body, strlen (body), 3, limit, &cut_length);
		g_assert_cmpuint (cut_length, ==, 26);
		g_assert_cmpuint (cut->len, ==, MIN ((guint64) limit, 26));
		g_assert_cmpmem (cut->data, cut->len, all->data, cut->len);
	}
	zero = canon_body (DKIM_CANON_SIMPLE, body, strlen (body), 0, 0, &length);
	g_assert_cmpuint (zero->len, ==, 0);
	g_assert_cmpuint (length, ==, 27);
}

static void
test_body_hash (void)
{
	g_autofree char *empty_relaxed = dkim_canon_body_hash (DKIM_CANON_RELAXED, (const guint8 *) "", 0, -1, NULL);
	g_autofree char *empty_simple = dkim_canon_body_hash (DKIM_CANON_SIMPLE, (const guint8 *) "", 0, -1, NULL);
	g_autofree char *crlfs = dkim_canon_body_hash (DKIM_CANON_SIMPLE, (const guint8 *) "\r\n\r\n", 4, -1, NULL);
	g_autofree char *a = dkim_canon_body_hash (DKIM_CANON_RELAXED, (const guint8 *) "Hi  there \r\n", 12, -1, NULL);
	g_autofree char *b = dkim_canon_body_hash (DKIM_CANON_RELAXED, (const guint8 *) "Hi there\r\n\r\n", 12, -1, NULL);
	g_autofree char *c = dkim_canon_body_hash (DKIM_CANON_SIMPLE, (const guint8 *) "Hi  there \r\n", 12, -1, NULL);
	g_autofree char *limited = NULL;
	guint64 length = 0;

	/* SHA-256 of nothing, and of one CRLF */
	g_assert_cmpstr (empty_relaxed, ==, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	g_assert_cmpstr (empty_simple, ==, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	g_assert_cmpstr (crlfs, ==, empty_simple);
	g_assert_cmpstr (a, ==, b);
	g_assert_cmpstr (a, !=, c);
	limited = dkim_canon_body_hash (DKIM_CANON_RELAXED, (const guint8 *) "Hi  there \r\n", 12, 0, &length);
	g_assert_cmpstr (limited, ==, empty_relaxed);
	g_assert_cmpuint (length, ==, 10);
}

/* ---- the header -------------------------------------------------------------- */

static void
test_split (void)
{
	const char *msg = "Received: from a\r\n"
			  "\tby b; Mon, 1 Jan 2024\r\n"
			  "Subject  :  folded\r\n"
			  " twice\r\n"
			  "  and again\r\n"
			  "X-Empty:\r\n"
			  "From: <a@example.org>\r\n"
			  "\r\n"
			  "Body: not a header\r\n";
	gsize body_offset = 0;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = dkim_canon_split_header (msg, strlen (msg), &body_offset, &error);
	const DkimHeaderField *f;

	g_assert_no_error (error);
	g_assert_cmpuint (fields->len, ==, 4);
	f = &g_array_index (fields, DkimHeaderField, 0);
	g_assert_cmpuint (f->offset, ==, 0);
	g_assert_cmpuint (f->length, ==, strlen ("Received: from a\r\n\tby b; Mon, 1 Jan 2024\r\n"));
	g_assert_true (dkim_canon_field_has_name (msg, f, "received"));
	g_assert_true (dkim_canon_field_has_name (msg, f, "RECEIVED"));
	g_assert_false (dkim_canon_field_has_name (msg, f, "receive"));
	f = &g_array_index (fields, DkimHeaderField, 1);
	g_assert_cmpuint (f->name_length, ==, 7);
	g_assert_true (dkim_canon_field_has_name (msg, f, "subject"));
	g_assert_cmpmem (msg + f->value_offset, f->value_length, "  folded\r\n twice\r\n  and again", 29);
	f = &g_array_index (fields, DkimHeaderField, 2);
	g_assert_cmpuint (f->value_length, ==, 0);
	g_assert_cmpstr (msg + body_offset, ==, "Body: not a header\r\n");
}

static void
test_split_no_body (void)
{
	const char *with_crlf = "From: a@example.org\r\nTo: b@example.org\r\n";
	const char *without = "From: a@example.org\r\nSubject: x\r\n y";
	gsize body_offset = 0;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) a = dkim_canon_split_header (with_crlf, strlen (with_crlf), &body_offset, &error);
	g_autoptr (GArray) b = NULL;
	g_autoptr (GString) simple = g_string_new (NULL);
	g_autoptr (GString) relaxed = g_string_new (NULL);
	const DkimHeaderField *f;

	g_assert_no_error (error);
	g_assert_cmpuint (a->len, ==, 2);
	g_assert_cmpuint (body_offset, ==, strlen (with_crlf));

	b = dkim_canon_split_header (without, strlen (without), &body_offset, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (b->len, ==, 2);
	g_assert_cmpuint (body_offset, ==, strlen (without));
	f = &g_array_index (b, DkimHeaderField, 1);
	g_assert_cmpuint (f->offset + f->length, ==, strlen (without));
	dkim_canon_header_field (simple, DKIM_CANON_SIMPLE, without, f);
	g_assert_cmpstr (simple->str, ==, "Subject: x\r\n y\r\n");
	dkim_canon_header_field (relaxed, DKIM_CANON_RELAXED, without, f);
	g_assert_cmpstr (relaxed->str, ==, "subject:x y\r\n");
}

static void
test_split_errors (void)
{
	static const struct {
		const char *msg;
		gsize len;
		EpError code;
	} cases[] = {
		{ " From: a@example.org\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "From a@example.org\r\n\r\n", 0, EP_ERROR_INVALID },
		{ ": no name\r\n\r\n", 0, EP_ERROR_INVALID },
		{ " : no name\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "Bad Name: x\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "Subject: bare\nlf\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "Subject: bare\rcr\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "Subject: cr at end\r", 0, EP_ERROR_INVALID },
		{ "Subject: a\r\n b\n\r\n\r\n", 0, EP_ERROR_INVALID },
		{ "Subject: nul\0x\r\n\r\n", 18, EP_ERROR_INVALID },
		{ "N\xc3\xa4me: 8-bit name\r\n\r\n", 0, EP_ERROR_INVALID },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gsize len = cases[i].len != 0 ? cases[i].len : strlen (cases[i].msg);
		gsize body_offset = 0;
		g_autoptr (GError) error = NULL;
		g_autoptr (GArray) fields = dkim_canon_split_header (cases[i].msg, len, &body_offset, &error);

		g_test_message ("case %u", i);
		g_assert_null (fields);
		g_assert_error (error, EP_ERROR, (gint) cases[i].code);
	}
}

static void
test_split_limit (void)
{
	g_autoptr (GString) msg = g_string_new (NULL);
	gsize body_offset = 0;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = NULL;

	for (guint i = 0; i < DKIM_CANON_MAX_FIELDS; i++)
		g_string_append (msg, "X: y\r\n");
	fields = dkim_canon_split_header (msg->str, msg->len, &body_offset, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (fields->len, ==, DKIM_CANON_MAX_FIELDS);
	g_clear_pointer (&fields, g_array_unref);
	g_string_append (msg, "X: one too many\r\n\r\n");
	fields = dkim_canon_split_header (msg->str, msg->len, &body_offset, &error);
	g_assert_null (fields);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
}

static void
test_header_relaxed (void)
{
	static const struct {
		const char *name;
		const char *value;
		const char *want;
	} cases[] = {
		{ "Subject", "   hello   world  ", "subject:hello world\r\n" },
		{ "SUBJECT", "\thello\r\n\tworld\t", "subject:hello world\r\n" },
		{ "X-Empty", "", "x-empty:\r\n" },
		{ "X-Spaces", "  \t ", "x-spaces:\r\n" },
		{ "X", "\r\n value", "x:value\r\n" },
		{ "To", " a@b,\r\n  c@d ,\r\n\te@f", "to:a@b, c@d , e@f\r\n" },
		{ "Subject", " caf\xc3\xa9  cr\xc3\xa8me ", "subject:caf\xc3\xa9 cr\xc3\xa8me\r\n" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GString) out = g_string_new (NULL);
		dkim_canon_header_relaxed (out, cases[i].name, strlen (cases[i].name), cases[i].value,
					   strlen (cases[i].value), TRUE);
		g_assert_cmpstr (out->str, ==, cases[i].want);
	}
	{
		g_autoptr (GString) out = g_string_new (NULL);
		dkim_canon_header_relaxed (out, "DKIM-Signature", 14, "v=1; a=rsa-sha256;\r\n\tb=", 23, FALSE);
		g_assert_cmpstr (out->str, ==, "dkim-signature:v=1; a=rsa-sha256; b=");
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/dkim/canon/rfc6376-example", test_rfc6376_example);
	g_test_add_func ("/dkim/canon/body-cases", test_body_cases);
	g_test_add_func ("/dkim/canon/body-chunks", test_body_chunks);
	g_test_add_func ("/dkim/canon/body-chunks-long", test_body_chunks_long);
	g_test_add_func ("/dkim/canon/body-limit", test_body_limit);
	g_test_add_func ("/dkim/canon/body-hash", test_body_hash);
	g_test_add_func ("/dkim/canon/split", test_split);
	g_test_add_func ("/dkim/canon/split-no-body", test_split_no_body);
	g_test_add_func ("/dkim/canon/split-errors", test_split_errors);
	g_test_add_func ("/dkim/canon/split-limit", test_split_limit);
	g_test_add_func ("/dkim/canon/header-relaxed", test_header_relaxed);
	return g_test_run ();
}
