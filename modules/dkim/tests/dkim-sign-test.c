/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DKIM-Signature fields as a verifier sees them: every message signed here
 * is checked by python3-dkim (dkimpy), a separate implementation, with the
 * TXT records dkim_key_get_dns_record() makes.  The tests that need it skip
 * when it is not installed (Debian: python3-dkim).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "dkim-sign.h"
#include "ep-error.h"

static DkimKey *ed_key;
static DkimKey *rsa_key;
static char *ed_record;
static char *rsa_record;
static gboolean have_dkimpy;

/* argv: message file, then NAME=RECORD...; prints one word per signature,
 * top first: True or False */
static const char verify_script[] =
    "import sys, dkim\n"
    "msg = open(sys.argv[1], 'rb').read()\n"
    "records = {}\n"
    "for arg in sys.argv[2:]:\n"
    "    name, _, rec = arg.partition('=')\n"
    "    records[name.encode()] = rec.encode()\n"
    "def dns(name, timeout=5):\n"
    "    return records.get(name)\n"
    "d = dkim.DKIM(msg)\n"
    "n = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])\n"
    "def check(i):\n"
    "    try:\n"
    "        return dkim.DKIM(msg).verify(idx=i, dnsfunc=dns)\n"
    "    except dkim.DKIMException:\n"
    "        return False\n"
    "print(' '.join(str(check(i)) for i in range(n)))\n";

static void
setup_keys (void)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *pem2 = NULL;
	const char *check[] = { EP_PYTHON3, "-c", "import dkim, nacl", NULL };
	gint status = -1;

	ed_key = dkim_key_generate ("example.org", "ed1", DKIM_ALG_ED25519_SHA256, 0, &pem, &error);
	g_assert_no_error (error);
	rsa_key = dkim_key_generate ("example.org", "rsa1", DKIM_ALG_RSA_SHA256, 2048, &pem2, &error);
	g_assert_no_error (error);
	ed_record = dkim_key_get_dns_record (ed_key, &error);
	g_assert_no_error (error);
	rsa_record = dkim_key_get_dns_record (rsa_key, &error);
	g_assert_no_error (error);
	have_dkimpy = g_spawn_sync (NULL, (char **) check, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
				    NULL, NULL, NULL, NULL, &status, NULL) &&
		      g_spawn_check_wait_status (status, NULL);
}

static gboolean
need_dkimpy (void)
{
	if (!have_dkimpy)
		g_test_skip ("python3-dkim (and python3-nacl) is not installed");
	return have_dkimpy;
}

/* What dkimpy says of each signature of @msg, e.g. "True False". */
static char *
dkimpy_verify (const char *msg, gsize len)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *path = NULL;
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autofree char *ed_arg = g_strdup_printf ("ed1._domainkey.example.org.=%s", ed_record);
	g_autofree char *rsa_arg = g_strdup_printf ("rsa1._domainkey.example.org.=%s", rsa_record);
	gint status = -1;
	int fd = g_file_open_tmp ("dkim-sign-test-XXXXXX.eml", &path, &error);
	const char *argv[] = { EP_PYTHON3, "-c", verify_script, path, ed_arg, rsa_arg, NULL };

	g_assert_no_error (error);
	close (fd);
	g_file_set_contents (path, msg, (gssize) len, &error);
	g_assert_no_error (error);
	g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
	g_unlink (path);
	g_assert_no_error (error);
	if (!g_spawn_check_wait_status (status, NULL))
		g_error ("python3-dkim failed: %s", err);
	return g_strstrip (g_steal_pointer (&out));
}

static GPtrArray *
both_keys (void)
{
	GPtrArray *keys = g_ptr_array_new ();

	g_ptr_array_add (keys, ed_key);
	g_ptr_array_add (keys, rsa_key);
	return keys;
}

/* @msg with its DKIM-Signature fields on top, as the smtp module adds them */
static GString *
sign_message (const char *msg, gsize len, GPtrArray *keys, const DkimSignOptions *options, GPtrArray **values_out)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) values = dkim_sign_message (msg, len, keys, options, &error);
	GString *out = g_string_new (NULL);

	g_assert_no_error (error);
	g_assert_cmpuint (values->len, ==, keys->len);
	for (guint i = 0; i < values->len; i++)
		g_string_append_printf (out, "%s: %s\r\n", DKIM_SIGN_FIELD_NAME, (char *) g_ptr_array_index (values, i));
	g_string_append_len (out, msg, (gssize) len);
	if (values_out != NULL)
		*values_out = g_steal_pointer (&values);
	return out;
}

static DkimSignOptions
now_options (void)
{
	DkimSignOptions o = { g_get_real_time () / G_USEC_PER_SEC, 0 };
	return o;
}

/* The value of tag @tag of a DKIM-Signature value, unfolded, white space removed. */
static char *
tag_value (const char *value, const char *tag)
{
	g_autofree char *flat = g_strdup (value);
	g_auto (GStrv) tags = NULL;
	GString *out;

	/* remove all white space: tag values here never need it */
	out = g_string_new (NULL);
	for (const char *p = flat; *p != '\0'; p++) {
		if (!g_ascii_isspace (*p))
			g_string_append_c (out, *p);
	}
	tags = g_strsplit (out->str, ";", -1);
	g_string_free (out, TRUE);
	for (guint i = 0; tags[i] != NULL; i++) {
		if (g_str_has_prefix (tags[i], tag) && tags[i][strlen (tag)] == '=')
			return g_strdup (tags[i] + strlen (tag) + 1);
	}
	return NULL;
}

static void
assert_folded (const char *value)
{
	g_autofree char *field = g_strdup_printf ("%s: %s", DKIM_SIGN_FIELD_NAME, value);
	g_auto (GStrv) lines = g_strsplit (field, "\r\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (strlen (lines[i]) > DKIM_SIGN_MAX_LINE)
			g_error ("line %u of the field has %zu characters: %s", i, strlen (lines[i]), lines[i]);
		if (i > 0)
			g_assert_true (lines[i][0] == '\t');
		g_assert_null (strchr (lines[i], '\n'));
		g_assert_null (strchr (lines[i], '\r'));
	}
}

/* ---- messages ----------------------------------------------------------------- */

typedef struct {
	const char *name;
	const char *text;
	gsize len; /* 0: strlen */
} Message;

#define HEAD                                                                                                       \
	"From: Alice Example <alice@example.org>\r\n"                                                              \
	"To: Bob <bob@example.net>\r\n"                                                                            \
	"Subject: Hello\r\n"                                                                                       \
	"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"                                                                \
	"Message-ID: <1@example.org>\r\n"

static const Message messages[] = {
	{ "basic", HEAD "\r\nHello Bob.\r\n" },
	{ "folded",
	  "Received: from client.example.net (client.example.net [192.0.2.1])\r\n"
	  "\tby mail.example.org with ESMTPSA\r\n"
	  "\tfor <bob@example.net>; Mon, 01 Jan 2024 12:00:00 +0000\r\n"
	  "From: Alice Example\r\n <alice@example.org>\r\n"
	  "To: Bob <bob@example.net>,\r\n\tCarol <carol@example.net>,\r\n  Dave <dave@example.net>\r\n"
	  "Subject: a subject that goes on\r\n and on\r\n\tand on\r\n"
	  "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
	  "\r\nFolded.\r\n" },
	{ "trailing-whitespace",
	  "From:   alice@example.org   \r\n"
	  "To:\tbob@example.net\t\r\n"
	  "Subject:  two  spaces \t \r\n"
	  "Date: Mon, 01 Jan 2024 12:00:00 +0000 \r\n"
	  "\r\n"
	  "line with trailing space   \r\n"
	  "\ttabbed  \t line\t\r\n"
	  "   \r\n"
	  "\r\n"
	  "\r\n" },
	{ "empty-body", HEAD "\r\n" },
	{ "no-body", HEAD },
	{ "no-final-crlf", HEAD "\r\nfirst line\r\nlast line without CRLF" },
	{ "8bit",
	  "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>\r\n"
	  "To: bob@example.net\r\n"
	  "Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\r\n"
	  "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
	  "MIME-Version: 1.0\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n"
	  "\r\n"
	  "Gr\xc3\xbc\xc3\x9f" "e, \xe9t\xe9 en latin-1 \xff\xfe\r\n"
	  "\xe2\x82\xac  100\r\n" },
	{ "duplicates",
	  "Received: from a by b; Mon, 01 Jan 2024 12:00:02 +0000\r\n"
	  "Received: from c by d; Mon, 01 Jan 2024 12:00:01 +0000\r\n"
	  "From: alice@example.org\r\n"
	  "To: bob@example.net\r\n"
	  "Subject: first subject\r\n"
	  "To: carol@example.net\r\n"
	  "Subject: second subject\r\n"
	  "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
	  "List-Id: Friends <friends.example.org>\r\n"
	  "List-Unsubscribe: <mailto:leave@example.org>\r\n"
	  "list-id: <other.example.org>\r\n"
	  "Cc: dave@example.net\r\n"
	  "\r\n"
	  "Duplicates.\r\n" },
	{ "mime",
	  HEAD "MIME-Version: 1.0\r\n"
	  "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
	  "Reply-To: list@example.org\r\n"
	  "In-Reply-To: <0@example.net>\r\n"
	  "References: <0@example.net>\r\n"
	  "\r\n"
	  "--b1\r\n"
	  "Content-Type: text/plain\r\n"
	  "\r\n"
	  "plain\r\n"
	  "--b1\r\n"
	  "Content-Type: text/html\r\n"
	  "\r\n"
	  "<p>html</p>\r\n"
	  "--b1--\r\n" },
};

static GString *
long_lines_message (void)
{
	GString *msg = g_string_new (HEAD);
	g_autofree char *long_value = g_strnfill (2000, 'v');
	g_autofree char *long_line = g_strnfill (5000, 'x');

	g_string_append_printf (msg, "X-Long: %s\r\n\r\n", long_value);
	g_string_append_printf (msg, "%s\r\n%s  %s \r\n", long_line, long_line, long_line);
	return msg;
}

static void
check_signed (const char *name, const char *text, gsize len)
{
	DkimSignOptions options = now_options ();
	g_autoptr (GPtrArray) keys = both_keys ();
	g_autoptr (GPtrArray) values = NULL;
	g_autoptr (GString) signed_msg = sign_message (text, len, keys, &options, &values);
	g_autofree char *verdict = NULL;

	g_test_message ("message %s", name);
	for (guint i = 0; i < values->len; i++) {
		const char *value = g_ptr_array_index (values, i);
		g_autofree char *l = tag_value (value, "l");
		g_autofree char *t = tag_value (value, "t");
		g_autofree char *x = tag_value (value, "x");
		g_autofree char *c = tag_value (value, "c");
		g_autofree char *a = tag_value (value, "a");
		g_autofree char *want_t = g_strdup_printf ("%" G_GINT64_FORMAT, options.timestamp);

		assert_folded (value);
		g_assert_null (l);
		g_assert_null (x);
		g_assert_cmpstr (t, ==, want_t);
		g_assert_cmpstr (c, ==, "relaxed/relaxed");
		g_assert_cmpstr (a, ==, i == 0 ? "ed25519-sha256" : "rsa-sha256");
	}
	if (!need_dkimpy ())
		return;
	verdict = dkimpy_verify (signed_msg->str, signed_msg->len);
	g_assert_cmpstr (verdict, ==, "True True");
}

static void
test_messages (void)
{
	g_autoptr (GString) long_msg = long_lines_message ();

	for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
		check_signed (messages[i].name, messages[i].text,
			      messages[i].len != 0 ? messages[i].len : strlen (messages[i].text));
	check_signed ("long-lines", long_msg->str, long_msg->len);
}

/* h=: what is present, as often as present; From, Subject, Date once more. */
static void
test_header_list (void)
{
	const char *text = messages[7].text; /* duplicates */
	DkimSignOptions options = now_options ();
	g_autoptr (GPtrArray) keys = g_ptr_array_new ();
	g_autoptr (GPtrArray) values = NULL;
	g_autoptr (GString) signed_msg = NULL;
	g_autofree char *h = NULL;
	g_autofree char *h_basic = NULL;

	g_ptr_array_add (keys, ed_key);
	signed_msg = sign_message (text, strlen (text), keys, &options, &values);
	h = tag_value (g_ptr_array_index (values, 0), "h");
	g_assert_cmpstr (h, ==, "from:from:subject:subject:subject:date:date:to:to:cc:list-id:list-id:list-unsubscribe");
	g_clear_pointer (&values, g_ptr_array_unref);
	g_string_free (signed_msg, TRUE);
	signed_msg = sign_message (messages[0].text, strlen (messages[0].text), keys, &options, &values);
	h_basic = tag_value (g_ptr_array_index (values, 0), "h");
	g_assert_cmpstr (h_basic, ==, "from:from:subject:subject:date:date:to:message-id");
}

/* What a verifier must notice, and what relaxed canonicalization forgives. */
static void
test_tampering (void)
{
	static const struct {
		const char *what;
		const char *prepend; /* above the signatures */
		const char *find;    /* replaced in the signed message */
		const char *replace;
		const char *append;
		const char *verdict;
	} cases[] = {
		{ "untouched", NULL, NULL, NULL, NULL, "True True" },
		{ "body changed", NULL, "Hello Bob.", "Hello Bib.", NULL, "False False" },
		{ "body extended", NULL, NULL, NULL, "P.S. appended\r\n", "False False" },
		{ "From added", "From: Mallory <mallory@example.org>\r\n", NULL, NULL, NULL, "False False" },
		{ "Subject added", "Subject: Pay now\r\n", NULL, NULL, NULL, "False False" },
		{ "Date added", "Date: Tue, 02 Jan 2024 12:00:00 +0000\r\n", NULL, NULL, NULL, "False False" },
		{ "To changed", NULL, "To: Bob <bob@example.net>", "To: Eve <eve@example.net>", NULL, "False False" },
		{ "unsigned field added", "X-Spam-Score: 0.1\r\nReceived: from x by y\r\n", NULL, NULL, NULL,
		  "True True" },
		{ "empty lines added at the end", NULL, NULL, NULL, "\r\n\r\n", "True True" },
		{ "white space changed", NULL, "Hello Bob.", "Hello   Bob. \t", NULL, "True True" },
		{ "header case and spacing", NULL, "Subject: Hello", "SUBJECT:    Hello  ", NULL, "True True" },
	};
	DkimSignOptions options = now_options ();
	g_autoptr (GPtrArray) keys = both_keys ();
	g_autoptr (GString) signed_msg = NULL;

	if (!need_dkimpy ())
		return;
	signed_msg = sign_message (messages[0].text, strlen (messages[0].text), keys, &options, NULL);
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GString) m = g_string_new (cases[i].prepend);
		g_autofree char *verdict = NULL;

		g_string_append_len (m, signed_msg->str, (gssize) signed_msg->len);
		if (cases[i].find != NULL)
			g_assert_cmpuint (g_string_replace (m, cases[i].find, cases[i].replace, 1), ==, 1);
		if (cases[i].append != NULL)
			g_string_append (m, cases[i].append);
		verdict = dkimpy_verify (m->str, m->len);
		g_test_message ("%s: %s", cases[i].what, verdict);
		g_assert_cmpstr (verdict, ==, cases[i].verdict);
	}
}

/* x= when asked for; never before t= */
static void
test_expiration (void)
{
	DkimSignOptions options = now_options ();
	g_autoptr (GPtrArray) keys = both_keys ();
	g_autoptr (GPtrArray) values = NULL;
	g_autoptr (GString) signed_msg = NULL;
	g_autoptr (GError) error = NULL;
	g_autofree char *x = NULL;
	g_autofree char *want = NULL;
	g_autofree char *verdict = NULL;

	options.expiration = options.timestamp + 3600;
	signed_msg = sign_message (messages[0].text, strlen (messages[0].text), keys, &options, &values);
	x = tag_value (g_ptr_array_index (values, 1), "x");
	want = g_strdup_printf ("%" G_GINT64_FORMAT, options.expiration);
	g_assert_cmpstr (x, ==, want);
	if (need_dkimpy ()) {
		verdict = dkimpy_verify (signed_msg->str, signed_msg->len);
		g_assert_cmpstr (verdict, ==, "True True");
	}
	g_clear_pointer (&values, g_ptr_array_unref);
	options.expiration = options.timestamp;
	values = dkim_sign_message (messages[0].text, strlen (messages[0].text), keys, &options, &error);
	g_assert_null (values);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

/* A malformed header is not signed. */
static void
test_malformed (void)
{
	DkimSignOptions options = now_options ();
	g_autoptr (GPtrArray) keys = both_keys ();
	const char *bad = "From: alice@example.org\r\nnot a header line\r\n\r\nbody\r\n";
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) values = dkim_sign_message (bad, strlen (bad), keys, &options, &error);

	g_assert_null (values);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

static void
test_from_domain (void)
{
	static const struct {
		const char *header;
		const char *domain; /* NULL: refused */
	} cases[] = {
		{ "From: Alice <alice@Example.ORG>\r\n", "example.org" },
		{ "From: alice@example.org\r\n", "example.org" },
		{ "From: Alice\r\n <alice@sub.example.org>\r\n", "sub.example.org" },
		{ "From: a@example.org, \"B, b\" <b@EXAMPLE.org>\r\n", "example.org" },
		{ "From: Friends: a@example.org, b@example.org;\r\n", "example.org" },
		{ "From: =?utf-8?q?J=C3=BCrgen?= <j@b\xc3\xbc" "cher.example>\r\n", "xn--bcher-kva.example" },
		{ "From: a@example.org, b@example.net\r\n", NULL },
		{ "From: a@example.org\r\nFrom: a@example.org\r\n", NULL },
		{ "To: a@example.org\r\n", NULL },
		{ "From: undisclosed-recipients:;\r\n", NULL },
		{ "From: a@[192.0.2.1]\r\n", NULL },
		{ "From: alice\r\n", NULL },
		{ "From: a@localhost\r\n", NULL },
		/* not UTF-8: refused, never handed to the IDNA conversion */
		{ "From: a@b.\xf2\r\n", NULL },
		{ "From: a@b\xc3.example\r\n", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *msg = g_strconcat (cases[i].header, "Subject: x\r\n\r\nbody\r\n", NULL);
		gsize body_offset = 0;
		g_autoptr (GError) error = NULL;
		g_autoptr (GArray) fields = dkim_canon_split_header (msg, strlen (msg), &body_offset, &error);
		g_autofree char *domain = NULL;

		g_assert_no_error (error);
		domain = dkim_sign_from_domain (msg, fields, &error);
		g_test_message ("case %u: %s", i, domain != NULL ? domain : error->message);
		if (cases[i].domain == NULL) {
			g_assert_null (domain);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		} else {
			g_assert_no_error (error);
			g_assert_cmpstr (domain, ==, cases[i].domain);
		}
	}
}

/* Each key signs on its own; a verifier finds each key by its selector. */
static void
test_one_key_each (void)
{
	DkimKey *each[] = { ed_key, rsa_key };

	if (!need_dkimpy ())
		return;
	for (guint i = 0; i < G_N_ELEMENTS (each); i++) {
		DkimSignOptions options = now_options ();
		g_autoptr (GPtrArray) keys = g_ptr_array_new ();
		g_autoptr (GString) signed_msg = NULL;
		g_autofree char *verdict = NULL;

		g_ptr_array_add (keys, each[i]);
		signed_msg = sign_message (messages[0].text, strlen (messages[0].text), keys, &options, NULL);
		verdict = dkimpy_verify (signed_msg->str, signed_msg->len);
		g_assert_cmpstr (verdict, ==, "True");
	}
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	setup_keys ();
	g_test_add_func ("/dkim/sign/messages", test_messages);
	g_test_add_func ("/dkim/sign/header-list", test_header_list);
	g_test_add_func ("/dkim/sign/tampering", test_tampering);
	g_test_add_func ("/dkim/sign/expiration", test_expiration);
	g_test_add_func ("/dkim/sign/malformed", test_malformed);
	g_test_add_func ("/dkim/sign/from-domain", test_from_domain);
	g_test_add_func ("/dkim/sign/one-key-each", test_one_key_each);
	rc = g_test_run ();
	dkim_key_unref (ed_key);
	dkim_key_unref (rsa_key);
	g_free (ed_record);
	g_free (rsa_record);
	return rc;
}
