/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-auth-results.h"

static void
test_none (void)
{
	g_autoptr(EpAuthResults) ar = ep_auth_results_new ("mx.example.org");
	g_autofree char *value = ep_auth_results_to_header_value (ar);

	g_assert_cmpstr (value, ==, "mx.example.org; none");
	g_assert_cmpuint (ep_auth_results_get_length (ar), ==, 0);
	g_assert_null (ep_auth_results_find (ar, "spf"));
}

static void
test_results (void)
{
	g_autoptr(EpAuthResults) ar = ep_auth_results_new ("mx.example.org");
	EpAuthResult *spf = ep_auth_results_add (ar, "SPF", "Pass", NULL);
	EpAuthResult *dkim = ep_auth_results_add (ar, "dkim", "fail", "body hash did not verify");
	EpAuthResult *dmarc = ep_auth_results_add (ar, "dmarc", "fail", NULL);
	g_autofree char *value = NULL;
	const EpAuthResult *found;

	ep_auth_result_add_property (spf, "smtp", "mailfrom", "bounce+x=y@example.org");
	ep_auth_result_add_property (spf, "smtp", "helo", "mx.example.org");
	ep_auth_result_add_property (dkim, "header", "d", "example.org");
	ep_auth_result_add_property (dkim, "header", "i", "@example.org");
	ep_auth_result_add_property (dkim, "header", "s", "sel 1;x");
	ep_auth_result_add_property (dmarc, "header", "from", "example.org");
	ep_auth_result_add_property (dmarc, "policy", "dmarc", "reject");

	found = ep_auth_results_find (ar, "spf");
	g_assert_true (found == spf);
	g_assert_cmpstr (ep_auth_result_get_method (found), ==, "spf");
	g_assert_cmpstr (ep_auth_result_get_result (found), ==, "pass");
	g_assert_cmpstr (ep_auth_result_get_property (found, "smtp.mailfrom"), ==, "bounce+x=y@example.org");
	g_assert_null (ep_auth_result_get_property (found, "header.d"));
	g_assert_cmpstr (ep_auth_result_get_reason (dkim), ==, "body hash did not verify");

	value = ep_auth_results_to_header_value (ar);
	g_assert_cmpstr (value, ==,
			 "mx.example.org;\r\n"
			 "\tspf=pass smtp.mailfrom=bounce+x=y@example.org smtp.helo=mx.example.org;\r\n"
			 "\tdkim=fail reason=\"body hash did not verify\" header.d=example.org\r\n"
			 "\theader.i=@example.org header.s=\"sel 1;x\";\r\n"
			 "\tdmarc=fail header.from=example.org policy.dmarc=reject");
}

/* every line fits 78 columns where a break is possible; nothing leaks a CR or LF */
static void
test_folding_and_cleaning (void)
{
	g_autoptr(EpAuthResults) ar = ep_auth_results_new ("mx.example.org");
	g_autofree char *value = NULL;
	g_autofree char *field = NULL;
	g_auto(GStrv) lines = NULL;

	for (guint i = 0; i < 5; i++) {
		EpAuthResult *r = ep_auth_results_add (ar, "dkim", "pass", "a \"quoted\\\" reason\r\nwith a line break");
		ep_auth_result_add_property (r, "header", "d", "a-rather-long-domain-name.example.org");
		ep_auth_result_add_property (r, "header", "s", "selector-with-a-long-name");
		ep_auth_result_add_property (r, "header", "b", "abcdefgh");
	}
	value = ep_auth_results_to_header_value (ar);
	field = g_strconcat ("Authentication-Results: ", value, NULL);
	lines = g_strsplit (field, "\r\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_assert_cmpuint (strlen (lines[i]) + (i > 0 ? 7 : 0), <=, 78);
		g_assert_null (strchr (lines[i], '\r'));
		g_assert_null (strchr (lines[i], '\n'));
		if (i > 0)
			g_assert_true (lines[i][0] == '\t');
	}
	g_assert_nonnull (strstr (value, "reason=\"a \\\"quoted\\\\\\\" reason??with a line break\""));
}

static void
test_limit (void)
{
	g_autoptr(EpAuthResults) ar = ep_auth_results_new ("mx.example.org");

	for (guint i = 0; i < EP_AUTH_RESULTS_MAX; i++)
		g_assert_nonnull (ep_auth_results_add (ar, "dkim", "pass", NULL));
	g_assert_null (ep_auth_results_add (ar, "dkim", "pass", NULL));
	g_assert_cmpuint (ep_auth_results_get_length (ar), ==, EP_AUTH_RESULTS_MAX);
}

static void
test_authserv_id (void)
{
	static const struct {
		const char *value;
		gboolean ours;
	} cases[] = {
		{ "mx.example.org; spf=pass", TRUE },
		{ "MX.Example.ORG; none", TRUE },
		{ " (comment (nested)) mx.example.org 1; dkim=pass", TRUE },
		{ "\r\n\tmx.example.org;\r\n\tspf=fail", TRUE },
		{ "\"mx.example.org\"; none", TRUE },
		{ "mx.example.org.evil.net; spf=pass", FALSE },
		{ "evil.net; spf=pass (mx.example.org)", FALSE },
		{ "mx.example.or; none", FALSE },
		{ "", FALSE },
		{ "(unterminated comment mx.example.org", FALSE },
		{ "\"mx.example.org", FALSE },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gboolean got = ep_auth_results_value_has_authserv_id (cases[i].value, strlen (cases[i].value),
								      "mx.example.org");
		if (got != cases[i].ours)
			g_error ("case %u '%s': expected %d", i, cases[i].value, cases[i].ours);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/auth-results/none", test_none);
	g_test_add_func ("/auth-results/results", test_results);
	g_test_add_func ("/auth-results/folding-and-cleaning", test_folding_and_cleaning);
	g_test_add_func ("/auth-results/limit", test_limit);
	g_test_add_func ("/auth-results/authserv-id", test_authserv_id);
	return g_test_run ();
}
