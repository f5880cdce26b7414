/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "dmarc-policy.h"
#include "ep-error.h"

#define PSL_DAT "/usr/share/publicsuffix/public_suffix_list.dat"

static DmarcPsl *psl; /* the distribution's list, or libpsl's own */

/* ---- organizational domains ------------------------------------------------ */

static void
test_org_domain (void)
{
	static const struct {
		const char *domain;
		const char *org;
	} cases[] = {
		{"example.com", "example.com"},
		{"mail.example.com", "example.com"},
		{"a.b.c.example.com", "example.com"},
		{"Mail.Example.COM.", "example.com"},
		/* multi-label public suffixes */
		{"example.co.uk", "example.co.uk"},
		{"sub.example.co.uk", "example.co.uk"},
		{"deep.sub.example.co.uk", "example.co.uk"},
		{"example.com.au", "example.com.au"},
		{"x.example.com.au", "example.com.au"},
		/* a public suffix is its own organizational domain */
		{"co.uk", "co.uk"},
		{"com", "com"},
		/* wildcard and exception rules (*.ck, !www.ck) */
		{"a.b.example.ck", "b.example.ck"},
		{"www.ck", "www.ck"},
		/* a private suffix of the list */
		{"someone.github.io", "someone.github.io"},
		{"www.someone.github.io", "someone.github.io"},
		/* an unknown top-level domain: the implicit * rule */
		{"a.example.invalidtld", "example.invalidtld"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *org = dmarc_org_domain (psl, cases[i].domain);
		g_test_message ("%s", cases[i].domain);
		g_assert_cmpstr (org, ==, cases[i].org);
	}
}

static void
test_psl_file (void)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp ("dmarc-psl-XXXXXX", &error);
	g_autofree char *path = g_build_filename (dir, "list.dat", NULL);
	g_autoptr (DmarcPsl) own = NULL;
	g_autoptr (DmarcPsl) missing = NULL;
	g_autofree char *org1 = NULL;
	g_autofree char *org2 = NULL;

	g_assert_no_error (error);
	/* a list of our own where "example.test" is a public suffix */
	g_assert_true (g_file_set_contents (path, "// test list\n// ===BEGIN ICANN DOMAINS===\ntest\nexample.test\n"
						  "// ===END ICANN DOMAINS===\n", -1, &error));
	own = dmarc_psl_new (path, &error);
	g_assert_no_error (error);
	org1 = dmarc_org_domain (own, "a.b.example.test");
	g_assert_cmpstr (org1, ==, "b.example.test");
	org2 = dmarc_org_domain (psl, "a.b.example.test");
	g_assert_cmpstr (org2, ==, "example.test");

	missing = dmarc_psl_new ("/nonexistent/public_suffix_list.dat", &error);
	g_assert_null (missing);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_unlink (path);
	g_rmdir (dir);
}

/* ---- alignment ------------------------------------------------------------- */

static void
test_alignment (void)
{
	static const struct {
		const char *from;
		const char *other;
		gboolean relaxed;
		gboolean strict;
	} cases[] = {
		{"example.com", "example.com", TRUE, TRUE},
		{"example.com", "EXAMPLE.com.", TRUE, TRUE},
		{"example.com", "mail.example.com", TRUE, FALSE},
		{"news.example.com", "example.com", TRUE, FALSE},
		{"news.example.com", "bounces.example.com", TRUE, FALSE},
		{"example.com", "example.net", FALSE, FALSE},
		{"example.com", "example.com.evil.net", FALSE, FALSE},
		{"example.com", "notexample.com", FALSE, FALSE},
		/* multi-label suffixes: siblings under co.uk are strangers */
		{"sub.example.co.uk", "example.co.uk", TRUE, FALSE},
		{"sub.example.co.uk", "bounce.example.co.uk", TRUE, FALSE},
		{"example.co.uk", "other.co.uk", FALSE, FALSE},
		{"example.co.uk", "co.uk", FALSE, FALSE},
		/* private suffixes too */
		{"alice.github.io", "bob.github.io", FALSE, FALSE},
		{"www.alice.github.io", "alice.github.io", TRUE, FALSE},
		/* nothing aligns with nothing */
		{"example.com", NULL, FALSE, FALSE},
		{"example.com", "", FALSE, FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_test_message ("%s ~ %s", cases[i].from, cases[i].other);
		g_assert_cmpint (dmarc_domain_is_aligned (psl, DMARC_ALIGN_RELAXED, cases[i].from, cases[i].other), ==,
				 cases[i].relaxed);
		g_assert_cmpint (dmarc_domain_is_aligned (psl, DMARC_ALIGN_STRICT, cases[i].from, cases[i].other), ==,
				 cases[i].strict);
	}
}

/* ---- the author domain ------------------------------------------------------ */

static void
test_from_domain (void)
{
	static const struct {
		const char *message;
		DmarcFromStatus status;
		const char *domain;
	} cases[] = {
		{"From: a@Example.COM\r\nTo: b@x.org\r\n\r\nbody", DMARC_FROM_OK, "example.com"},
		{"from: \"Alice\" <alice@example.org>\r\n\r\n", DMARC_FROM_OK, "example.org"},
		{"From: a@example.org, b@EXAMPLE.org\r\n\r\n", DMARC_FROM_OK, "example.org"},
		{"From:\r\n a@example.org\r\n\r\n", DMARC_FROM_OK, "example.org"},
		{"From: a@b\xc3\xbc" "cher.example\r\n\r\n", DMARC_FROM_OK, "xn--bcher-kva.example"},
		{"To: b@x.org\r\n\r\n", DMARC_FROM_MISSING, NULL},
		{"From: undisclosed:;\r\n\r\n", DMARC_FROM_MISSING, NULL},
		{"From: a@example.org\r\nFrom: b@example.org\r\n\r\n", DMARC_FROM_MULTIPLE_FIELDS, NULL},
		{"From: a@example.org, b@evil.example\r\n\r\n", DMARC_FROM_MULTIPLE_DOMAINS, "example.org"},
		{"From: a@[192.0.2.1]\r\n\r\n", DMARC_FROM_BAD_DOMAIN, NULL},
		{"From: a@exa!mple.org\r\n\r\n", DMARC_FROM_BAD_DOMAIN, NULL},
		/* a bad address does not hide a good one from the check */
		{"From: a@example.org, b@[192.0.2.1]\r\n\r\n", DMARC_FROM_MULTIPLE_DOMAINS, "example.org"},
		/* a From: field in the body is not a header field */
		{"From: a@example.org\r\n\r\nFrom: b@evil.example\r\n", DMARC_FROM_OK, "example.org"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *domain = NULL;
		DmarcFromStatus status = dmarc_from_domain (cases[i].message, strlen (cases[i].message), &domain);

		g_test_message ("%u: %s", i, cases[i].message);
		g_assert_cmpint (status, ==, cases[i].status);
		if (cases[i].domain != NULL)
			g_assert_cmpstr (domain, ==, cases[i].domain);
		else if (status != DMARC_FROM_BAD_DOMAIN)
			g_assert_null (domain);
	}
}

/* ---- inputs from EpAuthResults -------------------------------------------- */

static void
test_inputs_from_results (void)
{
	g_autoptr (EpAuthResults) ar = ep_auth_results_new ("mx.example.org");
	g_autoptr (DmarcAuthInputs) in = NULL;
	EpAuthResult *r;
	const DmarcAuthEntry *e;

	r = ep_auth_results_add (ar, "spf", "pass", NULL);
	ep_auth_result_add_property (r, "smtp", "mailfrom", "bounce@Mail.Example.COM");
	r = ep_auth_results_add (ar, "spf", "fail", NULL); /* only the first counts */
	ep_auth_result_add_property (r, "smtp", "mailfrom", "x@evil.example");
	r = ep_auth_results_add (ar, "dkim", "pass", NULL);
	ep_auth_result_add_property (r, "header", "d", "example.com");
	r = ep_auth_results_add (ar, "dkim", "fail", NULL);
	ep_auth_result_add_property (r, "header", "d", "other.example");
	ep_auth_results_add (ar, "dkim", "none", NULL);
	in = dmarc_auth_inputs_from_results (ar);
	g_assert_nonnull (in->spf);
	g_assert_cmpstr (in->spf->result, ==, "pass");
	g_assert_cmpstr (in->spf->domain, ==, "mail.example.com");
	g_assert_cmpuint (in->dkim->len, ==, 3);
	e = g_ptr_array_index (in->dkim, 0);
	g_assert_cmpstr (e->result, ==, "pass");
	g_assert_cmpstr (e->domain, ==, "example.com");
	e = g_ptr_array_index (in->dkim, 2);
	g_assert_cmpstr (e->result, ==, "none");
	g_assert_null (e->domain);

	/* the null sender: SPF checked the HELO name */
	{
		g_autoptr (EpAuthResults) ar2 = ep_auth_results_new ("mx.example.org");
		g_autoptr (DmarcAuthInputs) in2 = NULL;
		r = ep_auth_results_add (ar2, "spf", "pass", NULL);
		ep_auth_result_add_property (r, "smtp", "helo", "mx.example.net");
		in2 = dmarc_auth_inputs_from_results (ar2);
		g_assert_cmpstr (in2->spf->domain, ==, "mx.example.net");
		g_assert_cmpuint (in2->dkim->len, ==, 0);
	}
	/* a domain in smtp.mailfrom */
	{
		g_autofree char *d = dmarc_identity_domain ("example.net");
		g_assert_cmpstr (d, ==, "example.net");
		g_assert_null (dmarc_identity_domain (""));
		g_assert_null (dmarc_identity_domain ("user@"));
		g_assert_null (dmarc_identity_domain (NULL));
	}
}

/* ---- policy selection and evaluation ------------------------------------------ */

static DmarcRecord *
parse (const char *text)
{
	g_autoptr (GError) error = NULL;
	DmarcRecord *r = dmarc_record_parse (text, strlen (text), &error);
	g_assert_no_error (error);
	return r;
}

static void
test_select_policy (void)
{
	g_autoptr (DmarcRecord) p_only = parse ("v=DMARC1; p=reject");
	g_autoptr (DmarcRecord) with_sp = parse ("v=DMARC1; p=reject; sp=quarantine");
	g_autoptr (DmarcRecord) sp_none = parse ("v=DMARC1; p=quarantine; sp=none");

	/* the record of the From domain itself: p= */
	g_assert_cmpint (dmarc_select_policy (with_sp, "example.com", "example.com"), ==, DMARC_POLICY_REJECT);
	g_assert_cmpint (dmarc_select_policy (with_sp, "sub.example.com", "sub.example.com"), ==, DMARC_POLICY_REJECT);
	/* the organizational domain's record for a subdomain: sp= when given */
	g_assert_cmpint (dmarc_select_policy (with_sp, "sub.example.com", "example.com"), ==, DMARC_POLICY_QUARANTINE);
	g_assert_cmpint (dmarc_select_policy (sp_none, "a.b.example.com", "example.com"), ==, DMARC_POLICY_NONE);
	g_assert_cmpint (dmarc_select_policy (p_only, "sub.example.com", "example.com"), ==, DMARC_POLICY_REJECT);
	g_assert_cmpint (dmarc_select_policy (with_sp, "Sub.Example.com.", "example.com"), ==, DMARC_POLICY_QUARANTINE);
	g_assert_cmpint (dmarc_select_policy (with_sp, "EXAMPLE.com", "example.com"), ==, DMARC_POLICY_REJECT);
}

static void
test_apply_pct (void)
{
	gboolean out = FALSE;

	/* sample < pct: the policy */
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_REJECT, 100, 99, &out), ==, DMARC_POLICY_REJECT);
	g_assert_false (out);
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_REJECT, 50, 49, &out), ==, DMARC_POLICY_REJECT);
	g_assert_false (out);
	/* otherwise one step milder */
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_REJECT, 50, 50, &out), ==, DMARC_POLICY_QUARANTINE);
	g_assert_true (out);
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_QUARANTINE, 50, 75, &out), ==, DMARC_POLICY_NONE);
	g_assert_true (out);
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_REJECT, 0, 0, &out), ==, DMARC_POLICY_QUARANTINE);
	g_assert_true (out);
	/* none stays none, never "sampled out" */
	g_assert_cmpint (dmarc_apply_pct (DMARC_POLICY_NONE, 0, 99, &out), ==, DMARC_POLICY_NONE);
	g_assert_false (out);

	/* over every sample, pct=30 applies the policy 30 times in 100 */
	{
		guint applied = 0;
		for (guint s = 0; s < 100; s++)
			applied += dmarc_apply_pct (DMARC_POLICY_QUARANTINE, 30, s, NULL) == DMARC_POLICY_QUARANTINE;
		g_assert_cmpuint (applied, ==, 30);
	}
}

typedef struct {
	const char *record;
	const char *from;
	const char *record_domain;
	const char *spf_result;
	const char *spf_domain;
	const char *dkim; /* "result:domain,result:domain" */
	guint sample;
	DmarcResult result;
	gboolean spf_aligned;
	gboolean dkim_aligned;
	DmarcPolicy disposition;
	gboolean sampled_out;
} EvalCase;

static const EvalCase eval_cases[] = {
	/* aligned SPF pass */
	{"v=DMARC1; p=reject", "example.com", "example.com", "pass", "example.com", NULL, 0,
	 DMARC_RESULT_PASS, TRUE, FALSE, DMARC_POLICY_NONE, FALSE},
	{"v=DMARC1; p=reject", "example.com", "example.com", "pass", "bounce.example.com", NULL, 0,
	 DMARC_RESULT_PASS, TRUE, FALSE, DMARC_POLICY_NONE, FALSE},
	/* strict SPF: the subdomain does not align */
	{"v=DMARC1; p=reject; aspf=s", "example.com", "example.com", "pass", "bounce.example.com", NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	/* unaligned SPF pass only */
	{"v=DMARC1; p=reject", "example.com", "example.com", "pass", "example.net", NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	/* aligned SPF that did not pass */
	{"v=DMARC1; p=quarantine", "example.com", "example.com", "softfail", "example.com", NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_QUARANTINE, FALSE},
	/* aligned DKIM pass among others */
	{"v=DMARC1; p=reject", "example.com", "example.com", "fail", "example.net",
	 "fail:example.com,pass:other.example,pass:mail.example.com", 0,
	 DMARC_RESULT_PASS, FALSE, TRUE, DMARC_POLICY_NONE, FALSE},
	/* strict DKIM */
	{"v=DMARC1; p=reject; adkim=s", "example.com", "example.com", NULL, NULL, "pass:mail.example.com", 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	{"v=DMARC1; p=reject; adkim=s", "example.com", "example.com", NULL, NULL, "pass:EXAMPLE.COM", 0,
	 DMARC_RESULT_PASS, FALSE, TRUE, DMARC_POLICY_NONE, FALSE},
	/* DKIM fail aligned is no pass */
	{"v=DMARC1; p=reject", "example.com", "example.com", NULL, NULL, "fail:example.com,permerror:example.com", 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	/* nothing at all */
	{"v=DMARC1; p=none", "example.com", "example.com", NULL, NULL, NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_NONE, FALSE},
	/* subdomain policies */
	{"v=DMARC1; p=reject; sp=quarantine", "sub.example.com", "example.com", "pass", "example.net", NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_QUARANTINE, FALSE},
	{"v=DMARC1; p=reject; sp=none", "sub.example.com", "example.com", NULL, NULL, NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_NONE, FALSE},
	{"v=DMARC1; p=none; sp=reject", "example.com", "example.com", NULL, NULL, NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_NONE, FALSE},
	/* relaxed alignment across a multi-label suffix */
	{"v=DMARC1; p=reject", "sub.example.co.uk", "example.co.uk", "pass", "example.co.uk", NULL, 0,
	 DMARC_RESULT_PASS, TRUE, FALSE, DMARC_POLICY_NONE, FALSE},
	{"v=DMARC1; p=reject", "example.co.uk", "example.co.uk", "pass", "other.co.uk", NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	/* pct= */
	{"v=DMARC1; p=reject; pct=50", "example.com", "example.com", NULL, NULL, NULL, 10,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_REJECT, FALSE},
	{"v=DMARC1; p=reject; pct=50", "example.com", "example.com", NULL, NULL, NULL, 60,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_QUARANTINE, TRUE},
	{"v=DMARC1; p=quarantine; pct=0", "example.com", "example.com", NULL, NULL, NULL, 0,
	 DMARC_RESULT_FAIL, FALSE, FALSE, DMARC_POLICY_NONE, TRUE},
	/* pct= does not matter on pass */
	{"v=DMARC1; p=reject; pct=0", "example.com", "example.com", "pass", "example.com", NULL, 99,
	 DMARC_RESULT_PASS, TRUE, FALSE, DMARC_POLICY_NONE, FALSE},
};

static void
test_evaluate (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (eval_cases); i++) {
		const EvalCase *c = &eval_cases[i];
		g_autoptr (DmarcRecord) record = parse (c->record);
		g_autoptr (DmarcAuthInputs) in = dmarc_auth_inputs_new ();
		DmarcOutcome out;

		g_test_message ("case %u: %s from %s", i, c->record, c->from);
		if (c->spf_result != NULL)
			dmarc_auth_inputs_set_spf (in, c->spf_result, c->spf_domain);
		if (c->dkim != NULL) {
			g_auto (GStrv) sigs = g_strsplit (c->dkim, ",", -1);
			for (guint j = 0; sigs[j] != NULL; j++) {
				g_auto (GStrv) parts = g_strsplit (sigs[j], ":", 2);
				dmarc_auth_inputs_add_dkim (in, parts[0], parts[1]);
			}
		}
		dmarc_evaluate (psl, record, c->from, c->record_domain, in, c->sample, &out);
		g_assert_cmpint (out.result, ==, c->result);
		g_assert_cmpint (out.spf_aligned, ==, c->spf_aligned);
		g_assert_cmpint (out.dkim_aligned, ==, c->dkim_aligned);
		g_assert_cmpint (out.disposition, ==, c->disposition);
		g_assert_cmpint (out.sampled_out, ==, c->sampled_out);
	}
}

int
main (int argc, char **argv)
{
	g_autoptr (GError) error = NULL;
	int ret;

	g_test_init (&argc, &argv, NULL);
	psl = dmarc_psl_new (g_file_test (PSL_DAT, G_FILE_TEST_EXISTS) ? PSL_DAT : NULL, &error);
	g_assert_no_error (error);
	g_test_add_func ("/dmarc/policy/org-domain", test_org_domain);
	g_test_add_func ("/dmarc/policy/psl-file", test_psl_file);
	g_test_add_func ("/dmarc/policy/alignment", test_alignment);
	g_test_add_func ("/dmarc/policy/from-domain", test_from_domain);
	g_test_add_func ("/dmarc/policy/inputs", test_inputs_from_results);
	g_test_add_func ("/dmarc/policy/select", test_select_policy);
	g_test_add_func ("/dmarc/policy/pct", test_apply_pct);
	g_test_add_func ("/dmarc/policy/evaluate", test_evaluate);
	ret = g_test_run ();
	dmarc_psl_free (psl);
	return ret;
}
