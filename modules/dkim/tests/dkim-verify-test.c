/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DKIM verification: the tag list, DKIM-Signature and key record parsers
 * (tables), and whole messages signed by python3-dkim (dkimpy, a separate
 * implementation) with RSA and Ed25519 keys, relaxed and simple, with and
 * without l=, then tampered with; the example of RFC 8463 appendix A;
 * expired, revoked, t=s, rsa-sha1 and small-key cases.  The tests that
 * need dkimpy skip when it is not installed (Debian: python3-dkim,
 * python3-nacl); the small-key test needs openssl.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "dkim-sign.h"
#include "dkim-verify.h"
#include "ep-error.h"

static gboolean have_dkimpy;
static char *tmpdir;
static char *ed_seed;	  /* base64, for dkimpy */
static char *ed_record;	  /* "v=DKIM1; k=ed25519; p=..." */
static char *rsa_pem;	  /* PKCS#1 PEM file, 2048 bits */
static char *rsa_record;

/* ---- the tag list -------------------------------------------------------------- */

typedef struct {
	const char *text;
	gint n_tags; /* -1: an error */
} TagCase;

static const TagCase tag_cases[] = {
	{ "a=b", 1 },
	{ "a=b;", 1 },
	{ "a=b; ", 1 },
	{ " a = b ; c=d", 2 },
	{ "a=b\r\n\t;\r\n c=d e", 2 },
	{ "a=", 1 },
	{ "a_1=x", 1 },
	{ "", -1 },
	{ ";", -1 },
	{ "a=b;;c=d", -1 },
	{ "=b", -1 },
	{ "1a=b", -1 },
	{ "_a=b", -1 },
	{ "a", -1 },
	{ "a b=c", -1 },
	{ "a=b; a=c", -1 },		/* duplicate */
	{ "a=b; A=c", 2 },		/* names are case-sensitive */
	{ "a=\x80", -1 },		/* not VALCHAR */
	{ "a=b\x01", -1 },
	{ "a-b=c", -1 },
};

static void
test_tag_list (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (tag_cases); i++) {
		g_autoptr (GError) error = NULL;
		g_autoptr (GArray) tags = dkim_tag_list_parse (tag_cases[i].text, strlen (tag_cases[i].text), &error);

		if (tag_cases[i].n_tags < 0) {
			if (tags != NULL)
				g_error ("'%s' was accepted", tag_cases[i].text);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		} else {
			if (tags == NULL)
				g_error ("'%s' was refused: %s", tag_cases[i].text, error->message);
			g_assert_cmpuint (tags->len, ==, (guint) tag_cases[i].n_tags);
		}
	}
	/* value offsets: white space around the value is not part of it */
	{
		const char *text = " a =  b  c \r\n ; d=";
		g_autoptr (GArray) tags = dkim_tag_list_parse (text, strlen (text), NULL);
		const DkimTag *a = dkim_tag_list_find (text, tags, "a");
		const DkimTag *d = dkim_tag_list_find (text, tags, "d");

		g_assert_nonnull (a);
		g_assert_cmpmem (text + a->value_offset, a->value_length, "b  c", 4);
		g_assert_nonnull (d);
		g_assert_cmpuint (d->value_length, ==, 0);
		g_assert_null (dkim_tag_list_find (text, tags, "b"));
	}
}

/* ---- DKIM-Signature ---------------------------------------------------------- */

#define SIG_BH "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
#define SIG_B  "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ=="

typedef struct {
	const char *value;
	const char *error; /* NULL: accepted; else a part of the message */
} SigCase;

static const SigCase sig_cases[] = {
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to; bh=" SIG_BH "; b=" SIG_B, NULL },
	{ "v=1; a=ed25519-sha256; c=relaxed/simple; d=Example.ORG; s=a.b; h=From : Subject;\r\n bh=" SIG_BH
	  ";\r\n b=dGhpcyBpcyBub3Qg\r\n YSByZWFsIHNpZ25hdHVyZQ==; unknown_tag=whatever; z=From:a|To:b",
	  NULL },
	{ "a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "no v=" },
	{ "v=1; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "no a=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH, "no b=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; b=" SIG_B, "no bh=" },
	{ "v=1; a=rsa-sha256; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "no d=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; bh=" SIG_BH "; b=" SIG_B, "no h=" },
	{ "v=1; a=rsa-sha256; d=example.org; h=from; bh=" SIG_BH "; b=" SIG_B, "no s=" },
	{ "v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "v= is not 1" },
	{ "v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "unknown algorithm" },
	{ "v=1; a=rsa-sha256; d=example.org; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "duplicate tag d=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; bh=" SIG_BH "; b=" SIG_B, "does not include From" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from::to; bh=" SIG_BH "; b=" SIG_B, "empty field name" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; i=user@example.org", NULL },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; i=@mail.Example.org", NULL },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; i=user@example.net",
	  "i= is not in d=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; i=user@badexample.org",
	  "i= is not in d=" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; i=example.org",
	  "i= is not in d=" },
	{ "v=1; a=rsa-sha256; d=org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "d= is not a domain" },
	{ "v=1; a=rsa-sha256; d=exa_mple.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "d= is not a domain" },
	{ "v=1; a=rsa-sha256; d=example.org; s=se/l; h=from; bh=" SIG_BH "; b=" SIG_B, "s= is not a selector" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=not*base64", "b= is not base64" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=", "b= is not base64" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=YQ=", "b= is not base64" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=YWJj; b=" SIG_B, "bh= is not" },
	{ "v=1; a=rsa-sha256; c=fancy; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B, "canonicalization" },
	{ "v=1; a=rsa-sha256; c=relaxed/fancy; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B,
	  "canonicalization" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; l=12x", "l= is not" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; l=1234567890123456789012",
	  "l= is not" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; q=dns/txt", NULL },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; q=http/well-known",
	  "q= does not offer" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; t=100; x=100", "x= is not after" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; t=-1", "t= is not" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; x=1234567890123",
	  "x= is not" },
	{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B ";; t=1", "malformed" },
};

static void
test_signature_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (sig_cases); i++) {
		const SigCase *c = &sig_cases[i];
		g_autoptr (GError) error = NULL;
		g_autoptr (DkimSignature) sig = dkim_signature_parse (c->value, strlen (c->value), &error);

		if (c->error == NULL) {
			if (sig == NULL)
				g_error ("'%s' was refused: %s", c->value, error->message);
		} else {
			if (sig != NULL)
				g_error ("'%s' was accepted", c->value);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
			if (strstr (error->message, c->error) == NULL)
				g_error ("'%s': '%s' does not say '%s'", c->value, error->message, c->error);
		}
	}
}

static void
test_signature_fields (void)
{
	const char *value = sig_cases[1].value;
	g_autoptr (GError) error = NULL;
	g_autoptr (DkimSignature) sig = dkim_signature_parse (value, strlen (value), &error);

	g_assert_no_error (error);
	g_assert_cmpint (sig->algorithm, ==, DKIM_SIG_ED25519_SHA256);
	g_assert_cmpint (sig->header_canon, ==, DKIM_CANON_RELAXED);
	g_assert_cmpint (sig->body_canon, ==, DKIM_CANON_SIMPLE);
	g_assert_cmpstr (sig->domain, ==, "example.org");
	g_assert_cmpstr (sig->selector, ==, "a.b");
	g_assert_cmpuint (sig->headers->len, ==, 2);
	g_assert_cmpstr (g_ptr_array_index (sig->headers, 0), ==, "from");
	g_assert_cmpstr (g_ptr_array_index (sig->headers, 1), ==, "subject");
	g_assert_cmpstr (sig->b_text, ==, SIG_B);
	g_assert_cmpint (sig->body_length, ==, -1);
	/* b= emptied, all else kept as it was, folding included */
	g_assert_cmpstr (sig->value_without_b, ==,
			 "v=1; a=ed25519-sha256; c=relaxed/simple; d=Example.ORG; s=a.b; h=From : Subject;\r\n bh=" SIG_BH
			 ";\r\n b=; unknown_tag=whatever; z=From:a|To:b");

	/* c=relaxed alone is relaxed/simple; no c= is simple/simple */
	value = "v=1; a=rsa-sha256; c=relaxed; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B "; l=42";
	g_clear_pointer (&sig, dkim_signature_free);
	sig = dkim_signature_parse (value, strlen (value), &error);
	g_assert_no_error (error);
	g_assert_cmpint (sig->header_canon, ==, DKIM_CANON_RELAXED);
	g_assert_cmpint (sig->body_canon, ==, DKIM_CANON_SIMPLE);
	g_assert_cmpint (sig->body_length, ==, 42);
	g_assert_cmpstr (sig->value_without_b, ==,
			 "v=1; a=rsa-sha256; c=relaxed; d=example.org; s=sel; h=from; bh=" SIG_BH "; b=; l=42");
	value = sig_cases[0].value;
	g_clear_pointer (&sig, dkim_signature_free);
	sig = dkim_signature_parse (value, strlen (value), &error);
	g_assert_no_error (error);
	g_assert_cmpint (sig->header_canon, ==, DKIM_CANON_SIMPLE);
	g_assert_cmpint (sig->body_canon, ==, DKIM_CANON_SIMPLE);
}

/* ---- key records ------------------------------------------------------------- */

#define ED_P "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

typedef struct {
	const char *text;
	const char *error; /* NULL: accepted */
	DkimKeyType type;
	gboolean revoked, sha256, email, testing, strict;
} RecordCase;

static const RecordCase record_cases[] = {
	{ "v=DKIM1; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "p=" ED_P, NULL, DKIM_KEY_TYPE_RSA, FALSE, TRUE, TRUE, FALSE, FALSE }, /* k=rsa by default */
	{ "v=DKIM1; p=", NULL, DKIM_KEY_TYPE_RSA, TRUE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; k=ed25519; p= ", NULL, DKIM_KEY_TYPE_ED25519, TRUE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; h=sha1; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, FALSE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; h=sha1 : sha256; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; h=sha512:whatever; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, FALSE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; s=email; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; s=*; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; s=tlsrpt; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, FALSE, FALSE, FALSE },
	{ "v=DKIM1; t=y; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, TRUE, FALSE },
	{ "v=DKIM1; t=s:y:q; k=ed25519; p=" ED_P, NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, TRUE, TRUE },
	{ "v=DKIM1; n=notes here; k=ed25519; p=" ED_P "; future=1", NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE,
	  FALSE },
	{ "v=DKIM1; k=ed25519; p=" ED_P ";", NULL, DKIM_KEY_TYPE_ED25519, FALSE, TRUE, TRUE, FALSE, FALSE },
	{ "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQH\r\n Og7hcvPapiMlrwIaaPcHURo=", NULL, DKIM_KEY_TYPE_ED25519, FALSE,
	  TRUE, TRUE, FALSE, FALSE },
	{ "k=ed25519; v=DKIM1; p=" ED_P, "v= is not the first" },
	{ "v=DKIM2; k=ed25519; p=" ED_P, "v= is not DKIM1" },
	{ "v=dkim1; k=ed25519; p=" ED_P, "v= is not DKIM1" },
	{ "v=DKIM1; k=dsa; p=" ED_P, "unknown key type" },
	{ "v=DKIM1; k=ed25519", "no p=" },
	{ "v=DKIM1; k=ed25519; p=abc", "not base64" },
	{ "v=DKIM1; k=ed25519; p=YWJj", "not an Ed25519 key" },
	{ "v=DKIM1; k=ed25519; k=rsa; p=" ED_P, "duplicate tag k=" },
	{ "v=DKIM1; p=" ED_P "; p=" ED_P, "duplicate tag p=" },
	{ "", "empty" },
	{ "v=spf1 -all", "key record" },
};

static void
test_key_record_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (record_cases); i++) {
		const RecordCase *c = &record_cases[i];
		g_autoptr (GError) error = NULL;
		g_autoptr (DkimKeyRecord) r = dkim_key_record_parse (c->text, strlen (c->text), &error);

		if (c->error != NULL) {
			if (r != NULL)
				g_error ("'%s' was accepted", c->text);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
			if (strstr (error->message, c->error) == NULL)
				g_error ("'%s': '%s' does not say '%s'", c->text, error->message, c->error);
			continue;
		}
		if (r == NULL)
			g_error ("'%s' was refused: %s", c->text, error->message);
		g_assert_cmpint (r->type, ==, c->type);
		g_assert_cmpint (dkim_key_record_is_revoked (r), ==, c->revoked);
		g_assert_cmpint (r->sha256, ==, c->sha256);
		g_assert_cmpint (r->email, ==, c->email);
		g_assert_cmpint (r->testing, ==, c->testing);
		g_assert_cmpint (r->strict, ==, c->strict);
	}
}

/* ---- verifying messages -------------------------------------------------------- */

/* Verifies @msg with @records (NAME, RECORD, ... NULL; a NULL record
 * stands for NXDOMAIN); returns the signatures with their results. */
static GPtrArray *
verify_message (const char *msg, gsize len, gint64 now, ...)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) fields = NULL;
	g_autoptr (GHashTable) zone = g_hash_table_new (g_str_hash, g_str_equal);
	GPtrArray *sigs;
	gsize body_offset = 0;
	const char *name;
	va_list ap;

	va_start (ap, now);
	while ((name = va_arg (ap, const char *)) != NULL)
		g_hash_table_insert (zone, (gpointer) name, va_arg (ap, char *));
	va_end (ap);
	fields = dkim_canon_split_header (msg, len, &body_offset, &error);
	g_assert_no_error (error);
	sigs = dkim_verify_prepare (msg, fields, now, NULL);
	for (guint i = 0; i < sigs->len; i++) {
		DkimVerifySig *vs = g_ptr_array_index (sigs, i);
		const char *record;

		if (vs->done)
			continue;
		g_assert_nonnull (vs->key_name);
		record = g_hash_table_lookup (zone, vs->key_name);
		if (record == NULL) {
			dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, "no key");
			continue;
		}
		vs->records = g_ptr_array_new_with_free_func (g_free);
		g_ptr_array_add (vs->records, g_strdup (record));
	}
	dkim_verify_run (msg, len, fields, body_offset, sigs);
	for (guint i = 0; i < sigs->len; i++)
		g_assert_true (((DkimVerifySig *) g_ptr_array_index (sigs, i))->done);
	return sigs;
}

static DkimVerifySig *
sig_at (GPtrArray *sigs, guint i)
{
	g_assert_cmpuint (i, <, sigs->len);
	return g_ptr_array_index (sigs, i);
}

static void
assert_result (GPtrArray *sigs, guint i, DkimResult result, const char *reason_part)
{
	DkimVerifySig *vs = sig_at (sigs, i);

	if (vs->result != result)
		g_error ("signature %u: %s (%s), not %s", i, dkim_result_to_string (vs->result),
			 vs->reason != NULL ? vs->reason : "no reason", dkim_result_to_string (result));
	if (reason_part == NULL)
		g_assert_null (vs->reason);
	else if (vs->reason == NULL || strstr (vs->reason, reason_part) == NULL)
		g_error ("signature %u: reason '%s' does not say '%s'", i, vs->reason, reason_part);
}

/* the example of RFC 8463 appendix A.2/A.3: its two key records and the
 * message signed with both keys (the RSA key has 1024 bits) */
static const char rfc8463_ed_record[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rfc8463_rsa_record[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
static const char rfc8463_message[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

static gint64
now (void)
{
	return g_get_real_time () / G_USEC_PER_SEC;
}

static void
test_rfc8463 (void)
{
	g_autoptr (GPtrArray) sigs =
	    verify_message (rfc8463_message, strlen (rfc8463_message), now (), "brisbane._domainkey.football.example.com",
			    rfc8463_ed_record, "test._domainkey.football.example.com", rfc8463_rsa_record, NULL);
	g_autoptr (GString) changed = g_string_new (rfc8463_message);
	g_autoptr (GPtrArray) bad = NULL;

	g_assert_cmpuint (sigs->len, ==, 2);
	assert_result (sigs, 0, DKIM_RESULT_PASS, NULL);
	assert_result (sigs, 1, DKIM_RESULT_PASS, NULL);
	g_assert_cmpstr (sig_at (sigs, 0)->domain, ==, "football.example.com");
	g_assert_cmpstr (sig_at (sigs, 0)->selector, ==, "brisbane");
	g_assert_cmpstr (sig_at (sigs, 0)->identity, ==, "@football.example.com");
	g_assert_cmpstr (sig_at (sigs, 0)->algorithm, ==, "ed25519-sha256");
	g_assert_cmpstr (sig_at (sigs, 0)->b_prefix, ==, "/gCrinpc");
	g_assert_cmpstr (sig_at (sigs, 1)->b_prefix, ==, "F45dVWDf");
	g_assert_cmpuint (sig_at (sigs, 1)->key_bits, ==, 1024);

	/* the subject changed: both fail on the header; a key that is not there */
	g_string_replace (changed, "Is dinner ready?", "Is dinner ready!", 1);
	bad = verify_message (changed->str, changed->len, now (), "brisbane._domainkey.football.example.com",
			      rfc8463_ed_record, NULL);
	assert_result (bad, 0, DKIM_RESULT_FAIL, "signature does not verify");
	assert_result (bad, 1, DKIM_RESULT_PERMERROR, "no key");
}

/* ---- messages signed by dkimpy ----------------------------------------------------- */

/* argv: message file, key (PEM file or base64 ed25519 seed), selector,
 * domain, algorithm, c=, l= (0/1), identity ("-": none); the signed message
 * on stdout.  argv "edkey": a new Ed25519 seed and public key. */
static const char sign_script[] =
    "import sys, base64, dkim\n"
    "if sys.argv[1] == 'edkey':\n"
    "    import nacl.signing\n"
    "    k = nacl.signing.SigningKey.generate()\n"
    "    print(base64.b64encode(bytes(k)).decode(), base64.b64encode(bytes(k.verify_key)).decode())\n"
    "    sys.exit(0)\n"
    "msg = open(sys.argv[1], 'rb').read()\n"
    "key = sys.argv[2].encode()\n"
    "if sys.argv[5] != 'ed25519-sha256':\n"
    "    key = open(sys.argv[2], 'rb').read()\n"
    "hc, bc = sys.argv[6].split('/')\n"
    "ident = None if sys.argv[8] == '-' else sys.argv[8].encode()\n"
    "sig = dkim.sign(msg, sys.argv[3].encode(), sys.argv[4].encode(), key, identity=ident,\n"
    "                canonicalize=(hc.encode(), bc.encode()), signature_algorithm=sys.argv[5].encode(),\n"
    "                include_headers=[b'from', b'to', b'subject', b'date'], length=sys.argv[7] == '1')\n"
    "sys.stdout.buffer.write(sig + msg)\n";

static char *
run (const char *const *argv, GError **error)
{
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	gint status = -1;

	if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, error))
		return NULL;
	if (!g_spawn_check_wait_status (status, NULL)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "%s failed: %s", argv[0], err);
		return NULL;
	}
	return g_steal_pointer (&out);
}

/* a PKCS#1 RSA key made by openssl, and its record */
static char *
make_rsa_key (guint bits, char **record)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *bits_s = g_strdup_printf ("%u", bits);
	char *pem = g_strdup_printf ("%s/rsa%u.pem", tmpdir, bits);
	g_autofree char *der_path = g_strdup_printf ("%s/rsa%u.der", tmpdir, bits);
	g_autofree char *der = NULL;
	g_autofree char *p = NULL;
	gsize der_len = 0;
	const char *gen[] = { "openssl", "genrsa", "-traditional", "-out", pem, bits_s, NULL };
	const char *pub[] = { "openssl", "rsa", "-in", pem, "-pubout", "-outform", "DER", "-out", der_path, NULL };
	g_autofree char *o1 = run (gen, &error);

	g_assert_no_error (error);
	g_free (run (pub, &error));
	g_assert_no_error (error);
	g_file_get_contents (der_path, &der, &der_len, &error);
	g_assert_no_error (error);
	p = g_base64_encode ((const guchar *) der, der_len);
	*record = g_strdup_printf ("v=DKIM1; k=rsa; p=%s", p);
	return pem;
}

static void
setup (void)
{
	const char *check[] = { EP_PYTHON3, "-c", "import dkim, nacl", NULL };
	const char *edkey[] = { EP_PYTHON3, "-c", sign_script, "edkey", NULL };
	g_autoptr (GError) error = NULL;
	g_autofree char *out = NULL;
	g_auto (GStrv) parts = NULL;

	tmpdir = g_dir_make_tmp ("dkim-verify-test-XXXXXX", &error);
	g_assert_no_error (error);
	out = run (check, NULL);
	have_dkimpy = out != NULL;
	if (!have_dkimpy)
		return;
	g_clear_pointer (&out, g_free);
	out = run (edkey, &error);
	g_assert_no_error (error);
	parts = g_strsplit (g_strstrip (out), " ", 2);
	ed_seed = g_strdup (parts[0]);
	ed_record = g_strdup_printf ("v=DKIM1; k=ed25519; p=%s", parts[1]);
	rsa_pem = make_rsa_key (2048, &rsa_record);
}

static gboolean
need_dkimpy (void)
{
	if (!have_dkimpy)
		g_test_skip ("python3-dkim (and python3-nacl) is not installed");
	return have_dkimpy;
}

/* @msg signed by dkimpy */
static GString *
dkimpy_sign (const char *msg, const char *key, const char *selector, const char *domain, const char *alg,
	     const char *canon, gboolean length, const char *identity)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *path = g_build_filename (tmpdir, "msg.eml", NULL);
	const char *argv[] = { EP_PYTHON3, "-c", sign_script, path, key, selector, domain, alg, canon,
			       length ? "1" : "0", identity != NULL ? identity : "-", NULL };
	g_autofree char *out = NULL;

	g_file_set_contents (path, msg, -1, &error);
	g_assert_no_error (error);
	out = run (argv, &error);
	g_assert_no_error (error);
	g_assert_true (g_str_has_prefix (out, "DKIM-Signature:"));
	return g_string_new (out);
}

#define MESSAGE                                                                                                    \
	"From: Alice <alice@example.org>\r\n"                                                                      \
	"To: Bob <bob@example.net>\r\n"                                                                            \
	"Subject:  Lunch   tomorrow?\r\n"                                                                          \
	"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"                                                                \
	"Message-ID: <lunch@example.org>\r\n"                                                                      \
	"\r\n"                                                                                                     \
	"Shall we meet  at noon?\t \r\n"                                                                           \
	"\r\n"                                                                                                     \
	"Alice\r\n"                                                                                                \
	"\r\n"

#define ED_NAME  "ed._domainkey.example.org"
#define RSA_NAME "rsa._domainkey.example.org"

static GPtrArray *
verify_default (GString *msg)
{
	return verify_message (msg->str, msg->len, now (), ED_NAME, ed_record, RSA_NAME, rsa_record, NULL);
}

static void
test_dkimpy_messages (void)
{
	static const char *const canons[] = { "relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed" };

	if (!need_dkimpy ())
		return;
	for (guint alg = 0; alg < 2; alg++) {
		for (guint c = 0; c < G_N_ELEMENTS (canons); c++) {
			for (guint l = 0; l < 2; l++) {
				gboolean ed = alg == 0;
				g_autoptr (GString) msg =
				    dkimpy_sign (MESSAGE, ed ? ed_seed : rsa_pem, ed ? "ed" : "rsa", "example.org",
						 ed ? "ed25519-sha256" : "rsa-sha256", canons[c], l == 1, NULL);
				g_autoptr (GPtrArray) sigs = verify_default (msg);
				g_autoptr (GString) body = g_string_new (msg->str);
				g_autoptr (GString) header = g_string_new (msg->str);
				g_autoptr (GString) appended = g_string_new (msg->str);
				g_autoptr (GPtrArray) r1 = NULL;
				g_autoptr (GPtrArray) r2 = NULL;
				g_autoptr (GPtrArray) r3 = NULL;

				g_test_message ("%s %s l=%u", ed ? "ed25519" : "rsa", canons[c], l);
				g_assert_cmpuint (sigs->len, ==, 1);
				assert_result (sigs, 0, DKIM_RESULT_PASS, NULL);
				g_assert_cmpstr (sig_at (sigs, 0)->domain, ==, "example.org");

				/* the body changed */
				g_string_replace (body, "at noon", "at nine", 1);
				r1 = verify_default (body);
				assert_result (r1, 0, DKIM_RESULT_FAIL, "body hash");
				/* a signed field changed */
				g_string_replace (header, "Bob <bob@", "Rob <bob@", 1);
				r2 = verify_default (header);
				assert_result (r2, 0, DKIM_RESULT_FAIL, "signature does not verify");
				/* text appended to the body: signed with l=, it still
				 * passes, and says what is not signed */
				g_string_append (appended, "P.S. click here\r\n");
				r3 = verify_default (appended);
				if (l == 1)
					assert_result (r3, 0, DKIM_RESULT_PASS, "body octets are signed (l=)");
				else
					assert_result (r3, 0, DKIM_RESULT_FAIL, "body hash");
				/* with l=, a body cut short is not what was signed */
				if (l == 1) {
					g_autoptr (GString) cut = g_string_new (msg->str);
					g_autoptr (GPtrArray) r4 = NULL;

					g_string_replace (cut, "Alice\r\n", "", 1);
					r4 = verify_default (cut);
					assert_result (r4, 0, DKIM_RESULT_FAIL, "l= is longer than the body");
				}
			}
		}
	}
}

/* changes only relaxed canonicalization forgives */
static void
test_relaxed_forgives (void)
{
	g_autoptr (GString) relaxed = NULL;
	g_autoptr (GString) simple = NULL;
	g_autoptr (GPtrArray) r1 = NULL;
	g_autoptr (GPtrArray) r2 = NULL;

	if (!need_dkimpy ())
		return;
	relaxed = dkimpy_sign (MESSAGE, ed_seed, "ed", "example.org", "ed25519-sha256", "relaxed/relaxed", FALSE, NULL);
	simple = dkimpy_sign (MESSAGE, ed_seed, "ed", "example.org", "ed25519-sha256", "simple/simple", FALSE, NULL);
	g_string_replace (relaxed, "Subject:  Lunch   tomorrow?", "subject: Lunch tomorrow?", 1);
	g_string_replace (relaxed, "meet  at", "meet at", 1);
	g_string_replace (simple, "Subject:  Lunch   tomorrow?", "subject: Lunch tomorrow?", 1);
	r1 = verify_default (relaxed);
	r2 = verify_default (simple);
	assert_result (r1, 0, DKIM_RESULT_PASS, NULL);
	assert_result (r2, 0, DKIM_RESULT_FAIL, "signature does not verify");
}

static void
test_multiple_signatures (void)
{
	g_autoptr (GString) once = NULL;
	g_autoptr (GString) twice = NULL;
	g_autoptr (GPtrArray) sigs = NULL;
	g_autoptr (GPtrArray) wrong = NULL;

	if (!need_dkimpy ())
		return;
	once = dkimpy_sign (MESSAGE, rsa_pem, "rsa", "example.org", "rsa-sha256", "relaxed/simple", FALSE, NULL);
	twice = dkimpy_sign (once->str, ed_seed, "ed", "example.org", "ed25519-sha256", "relaxed/relaxed", FALSE,
			     "@mail.example.org");
	sigs = verify_default (twice);
	g_assert_cmpuint (sigs->len, ==, 2);
	assert_result (sigs, 0, DKIM_RESULT_PASS, NULL);
	g_assert_cmpstr (sig_at (sigs, 0)->identity, ==, "@mail.example.org");
	g_assert_cmpstr (sig_at (sigs, 0)->algorithm, ==, "ed25519-sha256");
	assert_result (sigs, 1, DKIM_RESULT_PASS, NULL);
	g_assert_cmpstr (sig_at (sigs, 1)->algorithm, ==, "rsa-sha256");
	/* each signature on its own: keys swapped, both fail; one missing */
	wrong = verify_message (twice->str, twice->len, now (), ED_NAME, rsa_record, NULL);
	assert_result (wrong, 0, DKIM_RESULT_PERMERROR, "k=");
	assert_result (wrong, 1, DKIM_RESULT_PERMERROR, "no key");
}

static void
test_too_many_signatures (void)
{
	g_autoptr (GString) msg = g_string_new (NULL);
	g_autoptr (GArray) fields = NULL;
	g_autoptr (GPtrArray) sigs = NULL;
	gsize body_offset = 0;
	guint ignored = 0;

	for (guint i = 0; i < DKIM_VERIFY_MAX_SIGNATURES + 3; i++)
		g_string_append (msg, "DKIM-Signature: " "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=" SIG_BH
				 "; b=" SIG_B "\r\n");
	g_string_append (msg, MESSAGE);
	fields = dkim_canon_split_header (msg->str, msg->len, &body_offset, NULL);
	sigs = dkim_verify_prepare (msg->str, fields, now (), &ignored);
	g_assert_cmpuint (sigs->len, ==, DKIM_VERIFY_MAX_SIGNATURES);
	g_assert_cmpuint (ignored, ==, 3);
}

/* signed by the module's own signer (dkimpy cannot set x=) */
static GString *
own_sign (gint64 t, gint64 x)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *pem = NULL;
	g_autoptr (DkimKey) key = dkim_key_generate ("example.org", "own", DKIM_ALG_ED25519_SHA256, 0, &pem, &error);
	g_autofree char *record = dkim_key_get_dns_record (key, &error);
	g_autoptr (GPtrArray) keys = g_ptr_array_new ();
	g_autoptr (GPtrArray) values = NULL;
	DkimSignOptions options = { t, x };
	GString *out;

	g_assert_no_error (error);
	g_ptr_array_add (keys, key);
	values = dkim_sign_message (MESSAGE, strlen (MESSAGE), keys, &options, &error);
	g_assert_no_error (error);
	out = g_string_new (NULL);
	g_string_append_printf (out, "DKIM-Signature: %s\r\n%s", (char *) g_ptr_array_index (values, 0), MESSAGE);
	/* the record goes after the message, past a NUL */
	g_string_append_c (out, '\0');
	g_string_append (out, record);
	return out;
}

static void
test_times (void)
{
	gint64 t = now ();
	struct {
		gint64 t, x;
		DkimResult result;
		const char *reason;
	} cases[] = {
		{ t - 100, t + 1000, DKIM_RESULT_PASS, NULL },
		{ t - 1000, t - 10, DKIM_RESULT_FAIL, "expired" },
		{ t + 60, 0, DKIM_RESULT_PASS, NULL },		       /* a clock a little ahead */
		{ t + 3600, 0, DKIM_RESULT_PERMERROR, "future" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GString) signed_msg = own_sign (cases[i].t, cases[i].x);
		gsize msg_len = strlen (signed_msg->str);
		const char *record = signed_msg->str + msg_len + 1;
		g_autoptr (GPtrArray) sigs =
		    verify_message (signed_msg->str, msg_len, t, "own._domainkey.example.org", record, NULL);

		assert_result (sigs, 0, cases[i].result, cases[i].reason);
	}
}

static void
test_key_cases (void)
{
	g_autoptr (GString) msg = NULL;
	g_autoptr (GString) sub = NULL;
	g_autofree char *ed_p = NULL;
	struct {
		const char *record;
		gboolean subdomain;
		DkimResult result;
		const char *reason;
	} cases[] = {
		{ "v=DKIM1; k=ed25519; p=", FALSE, DKIM_RESULT_FAIL, "revoked" },
		{ NULL, FALSE, DKIM_RESULT_PASS, NULL },
		{ "t=y", FALSE, DKIM_RESULT_PASS, "testing" },
		{ "t=s", FALSE, DKIM_RESULT_PASS, NULL },
		{ "t=s", TRUE, DKIM_RESULT_PERMERROR, "t=s" },
		{ "t=y:s", TRUE, DKIM_RESULT_PERMERROR, "t=s" },
		{ "h=sha1", FALSE, DKIM_RESULT_PERMERROR, "h=" },
		{ "s=tlsrpt", FALSE, DKIM_RESULT_PERMERROR, "s=" },
		{ "k=rsa", FALSE, DKIM_RESULT_PERMERROR, "k=" },
		{ "v=DKIM2", FALSE, DKIM_RESULT_PERMERROR, "DKIM1" },
	};

	if (!need_dkimpy ())
		return;
	msg = dkimpy_sign (MESSAGE, ed_seed, "ed", "example.org", "ed25519-sha256", "relaxed/relaxed", FALSE,
			   "alice@example.org");
	sub = dkimpy_sign (MESSAGE, ed_seed, "ed", "example.org", "ed25519-sha256", "relaxed/relaxed", FALSE,
			   "alice@lists.example.org");
	ed_p = g_strdup (strstr (ed_record, "p=") + 2);
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *record = NULL;
		g_autoptr (GPtrArray) sigs = NULL;
		GString *m = cases[i].subdomain ? sub : msg;

		if (cases[i].record != NULL && g_str_has_prefix (cases[i].record, "v=DKIM1; k=ed25519; p="))
			record = g_strdup (cases[i].record);
		else if (cases[i].record != NULL && g_str_has_prefix (cases[i].record, "v="))
			record = g_strdup_printf ("%s; k=ed25519; p=%s", cases[i].record, ed_p);
		else if (cases[i].record != NULL && g_str_has_prefix (cases[i].record, "k="))
			record = g_strdup_printf ("v=DKIM1; %s; p=%s", cases[i].record, ed_p);
		else if (cases[i].record != NULL)
			record = g_strdup_printf ("v=DKIM1; k=ed25519; %s; p=%s", cases[i].record, ed_p);
		else
			record = g_strdup (ed_record);
		g_test_message ("%s", record);
		sigs = verify_message (m->str, m->len, now (), ED_NAME, record, NULL);
		assert_result (sigs, 0, cases[i].result, cases[i].reason);
		g_assert_cmpint (sig_at (sigs, 0)->testing, ==, strstr (record, "t=y") != NULL);
	}
}

static void
test_weak (void)
{
	g_autoptr (GString) sha1 = NULL;
	g_autoptr (GPtrArray) r1 = NULL;

	if (!need_dkimpy ())
		return;
	sha1 = dkimpy_sign (MESSAGE, rsa_pem, "rsa", "example.org", "rsa-sha1", "relaxed/relaxed", FALSE, NULL);
	r1 = verify_default (sha1);
	assert_result (r1, 0, DKIM_RESULT_FAIL, "rsa-sha1");
	g_assert_cmpstr (sig_at (r1, 0)->algorithm, ==, "rsa-sha1");

	for (guint bits = 512; bits <= 768; bits += 256) {
		g_autofree char *record = NULL;
		g_autofree char *pem = make_rsa_key (bits, &record);
		g_autoptr (GString) msg =
		    dkimpy_sign (MESSAGE, pem, "small", "example.org", "rsa-sha256", "relaxed/relaxed", FALSE, NULL);
		g_autoptr (GPtrArray) sigs =
		    verify_message (msg->str, msg->len, now (), "small._domainkey.example.org", record, NULL);
		g_autofree char *why = g_strdup_printf ("%u bits is too small", bits);

		assert_result (sigs, 0, DKIM_RESULT_FAIL, why);
	}
}

/* a key published as a bare RSAPublicKey (what RFC 6376 names) works too */
static void
test_rsa_public_key_form (void)
{
	g_autoptr (GString) msg = NULL;
	g_autoptr (GPtrArray) sigs = NULL;
	g_autofree char *der_path = g_build_filename (tmpdir, "pkcs1.der", NULL);
	g_autofree char *der = NULL;
	g_autofree char *p = NULL;
	g_autofree char *record = NULL;
	g_autoptr (GError) error = NULL;
	gsize len = 0;
	const char *argv[] = { "openssl", "rsa", "-in", rsa_pem, "-RSAPublicKey_out", "-outform", "DER",
			       "-out", der_path, NULL };

	if (!need_dkimpy ())
		return;
	g_free (run (argv, &error));
	g_assert_no_error (error);
	g_file_get_contents (der_path, &der, &len, &error);
	g_assert_no_error (error);
	p = g_base64_encode ((const guchar *) der, len);
	record = g_strdup_printf ("v=DKIM1; k=rsa; p=%s", p);
	g_assert_cmpstr (record, !=, rsa_record);
	msg = dkimpy_sign (MESSAGE, rsa_pem, "rsa", "example.org", "rsa-sha256", "simple/simple", FALSE, NULL);
	sigs = verify_message (msg->str, msg->len, now (), RSA_NAME, record, NULL);
	assert_result (sigs, 0, DKIM_RESULT_PASS, NULL);
}

static void
test_unreadable_signature (void)
{
	const char *msg = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; d=example.net; s=x; h=from; bh=" SIG_BH
			  "; b=" SIG_B "\r\n" MESSAGE;
	g_autoptr (GPtrArray) sigs = verify_message (msg, strlen (msg), now (), NULL);

	assert_result (sigs, 0, DKIM_RESULT_PERMERROR, "duplicate tag d=");
	/* what could be read is still reported */
	g_assert_cmpstr (sig_at (sigs, 0)->selector, ==, NULL);
	g_assert_null (sig_at (sigs, 0)->key_name);
}

static void
remove_tmpdir (void)
{
	g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree char *path = g_build_filename (tmpdir, name, NULL);
		g_unlink (path);
	}
	g_rmdir (tmpdir);
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	setup ();
	g_test_add_func ("/dkim/verify/tag-list", test_tag_list);
	g_test_add_func ("/dkim/verify/signature-table", test_signature_table);
	g_test_add_func ("/dkim/verify/signature-fields", test_signature_fields);
	g_test_add_func ("/dkim/verify/key-record-table", test_key_record_table);
	g_test_add_func ("/dkim/verify/rfc8463", test_rfc8463);
	g_test_add_func ("/dkim/verify/dkimpy", test_dkimpy_messages);
	g_test_add_func ("/dkim/verify/relaxed-forgives", test_relaxed_forgives);
	g_test_add_func ("/dkim/verify/multiple", test_multiple_signatures);
	g_test_add_func ("/dkim/verify/too-many", test_too_many_signatures);
	g_test_add_func ("/dkim/verify/times", test_times);
	g_test_add_func ("/dkim/verify/key-cases", test_key_cases);
	g_test_add_func ("/dkim/verify/weak", test_weak);
	g_test_add_func ("/dkim/verify/rsa-public-key-form", test_rsa_public_key_form);
	g_test_add_func ("/dkim/verify/unreadable", test_unreadable_signature);
	rc = g_test_run ();
	remove_tmpdir ();
	return rc;
}
