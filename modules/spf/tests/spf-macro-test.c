/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SPF macro expansion: the examples of RFC 7208 §7.4 and the syntax rules
 * of §7.1.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "spf-macro.h"

static SpfMacroVars
rfc_vars (GInetAddress *ip)
{
	/* RFC 7208 §7.4: sender strong-bad@email.example.com, client 192.0.2.3 */
	SpfMacroVars vars = {
	    .sender = "strong-bad@email.example.com",
	    .local_part = "strong-bad",
	    .sender_domain = "email.example.com",
	    .domain = "email.example.com",
	    .ip = ip,
	    .helo = "mx.example.org",
	    .receiver = "mx.receiver.test",
	    .timestamp = 1234567890,
	};
	return vars;
}

static void
check_expand (const SpfMacroVars *vars, SpfMacroKind kind, const char *in, const char *want)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *got = spf_macro_expand (in, strlen (in), kind, vars, &error);

	g_assert_no_error (error);
	g_assert_cmpstr (got, ==, want);
	g_assert_true (spf_macro_check (in, strlen (in), kind, NULL, NULL));
}

static void
test_rfc_examples_ip4 (void)
{
	g_autoptr (GInetAddress) ip = g_inet_address_new_from_string ("192.0.2.3");
	SpfMacroVars vars = rfc_vars (ip);
	const struct {
		const char *in, *out;
	} cases[] = {
	    {"%{s}", "strong-bad@email.example.com"},
	    {"%{o}", "email.example.com"},
	    {"%{d}", "email.example.com"},
	    {"%{d4}", "email.example.com"},
	    {"%{d3}", "email.example.com"},
	    {"%{d2}", "example.com"},
	    {"%{d1}", "com"},
	    {"%{dr}", "com.example.email"},
	    {"%{d2r}", "example.email"},
	    {"%{l}", "strong-bad"},
	    {"%{l-}", "strong.bad"},
	    {"%{lr}", "strong-bad"},
	    {"%{lr-}", "bad.strong"},
	    {"%{l1r-}", "strong"},
	    {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
	    {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
	    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
	    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
	    {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
	    {"%{h}.%{p}.example", "mx.example.org.unknown.example"},
	    {"%{d999}.x.example", "email.example.com.x.example"},
	    {"%{d99999999999999999999}.x.example", "email.example.com.x.example"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
		check_expand (&vars, SPF_MACRO_DOMAIN_SPEC, cases[i].in, cases[i].out);
	/* escapes, upper case (URL-escaped), the explanation-only letters */
	check_expand (&vars, SPF_MACRO_EXPLANATION, "%% %_%- %{c} %{r} %{t} %{V}",
		      "%  %20 192.0.2.3 mx.receiver.test 1234567890 in-addr");
	vars.local_part = "~jack&jill=up-a_b3.c";
	check_expand (&vars, SPF_MACRO_EXPLANATION, "http://example.com/why.html?l=%{L}",
		      "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c");
	/* a final dot is dropped from a domain, not from an explanation */
	check_expand (&vars, SPF_MACRO_DOMAIN_SPEC, "%{d}.example.", "email.example.com.example");
	check_expand (&vars, SPF_MACRO_EXPLANATION, "Bye.", "Bye.");
	vars.validated_domain = "mx.email.example.com";
	check_expand (&vars, SPF_MACRO_DOMAIN_SPEC, "%{p}.x.example", "mx.email.example.com.x.example");
}

static void
test_rfc_examples_ip6 (void)
{
	g_autoptr (GInetAddress) ip = g_inet_address_new_from_string ("2001:db8::cb01");
	SpfMacroVars vars = rfc_vars (ip);

	check_expand (&vars, SPF_MACRO_DOMAIN_SPEC, "%{ir}.%{v}._spf.%{d2}",
		      "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
	check_expand (&vars, SPF_MACRO_EXPLANATION, "%{c}", "2001:db8::cb01");
}

static void
test_syntax_errors (void)
{
	const struct {
		SpfMacroKind kind;
		const char *in;
	} bad[] = {
	    {SPF_MACRO_DOMAIN_SPEC, ""},
	    {SPF_MACRO_DOMAIN_SPEC, "%"},
	    {SPF_MACRO_DOMAIN_SPEC, "%x.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%(ir).sbl.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "foo%.sbl.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{a}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{d0}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{d}x"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{d}."},
	    {SPF_MACRO_DOMAIN_SPEC, "%{d.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{dr!}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{c}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{r}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{t}.example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "example"},
	    {SPF_MACRO_DOMAIN_SPEC, "example.123"},
	    {SPF_MACRO_DOMAIN_SPEC, "example.-com"},
	    {SPF_MACRO_DOMAIN_SPEC, "exa mple.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "ex\x80.com"},
	    {SPF_MACRO_STRING, "a b"},
	    {SPF_MACRO_EXPLANATION, "tab\there"},
	    {SPF_MACRO_EXPLANATION, "%{x}"},
	};
	const struct {
		SpfMacroKind kind;
		const char *in;
	} good[] = {
	    {SPF_MACRO_DOMAIN_SPEC, "example.com"},
	    {SPF_MACRO_DOMAIN_SPEC, "example.com."},
	    {SPF_MACRO_DOMAIN_SPEC, "foo.1-2"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{d}"},
	    {SPF_MACRO_DOMAIN_SPEC, "x.%%"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{l2r+-}.user.%{d2}"},
	    {SPF_MACRO_DOMAIN_SPEC, "%{ir.-+,/_=}.x.example"},
	    {SPF_MACRO_STRING, ""},
	    {SPF_MACRO_STRING, "%{c}%{r}"},
	    {SPF_MACRO_EXPLANATION, ""},
	    {SPF_MACRO_EXPLANATION, "a  b %{t}"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr (GError) error = NULL;
		g_assert_false (spf_macro_check (bad[i].in, strlen (bad[i].in), bad[i].kind, NULL, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
		g_autoptr (GError) error = NULL;
		g_assert_true (spf_macro_check (good[i].in, strlen (good[i].in), good[i].kind, NULL, &error));
		g_assert_no_error (error);
	}
}

static void
test_uses_p (void)
{
	gboolean uses_p = TRUE;

	g_assert_true (spf_macro_check ("%{d}.x.example", 14, SPF_MACRO_DOMAIN_SPEC, &uses_p, NULL));
	g_assert_false (uses_p);
	g_assert_true (spf_macro_check ("%{P2}.x.example", 15, SPF_MACRO_DOMAIN_SPEC, &uses_p, NULL));
	g_assert_true (uses_p);
}

static void
test_truncation (void)
{
	g_autoptr (GInetAddress) ip = g_inet_address_new_from_string ("192.0.2.3");
	SpfMacroVars vars = rfc_vars (ip);
	g_autofree char *got = NULL;
	g_autoptr (GString) in = g_string_new (NULL);

	/* 20 x 17 characters of "email.example.com." then "example.com" */
	for (guint i = 0; i < 20; i++)
		g_string_append (in, "%{d}.");
	g_string_append (in, "example.com");
	got = spf_macro_expand (in->str, in->len, SPF_MACRO_DOMAIN_SPEC, &vars, NULL);
	g_assert_nonnull (got);
	g_assert_cmpuint (strlen (got), <=, SPF_DOMAIN_MAX);
	g_assert_true (g_str_has_suffix (got, "email.example.com.example.com"));
	/* whole labels went: it starts with a label of the expansion */
	g_assert_true (g_str_has_prefix (got, "email.") || g_str_has_prefix (got, "example.") ||
		       g_str_has_prefix (got, "com."));
}

static void
test_output_limit (void)
{
	g_autoptr (GInetAddress) ip = g_inet_address_new_from_string ("2001:db8::1");
	SpfMacroVars vars = rfc_vars (ip);
	g_autoptr (GString) in = g_string_new (NULL);
	g_autoptr (GError) error = NULL;
	g_autofree char *got = NULL;

	vars.sender = "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~@example.com";
	for (guint i = 0; i < 200; i++)
		g_string_append (in, "%{S}");
	got = spf_macro_expand (in->str, in->len, SPF_MACRO_EXPLANATION, &vars, &error);
	g_assert_null (got);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/spf-macro/rfc-examples-ip4", test_rfc_examples_ip4);
	g_test_add_func ("/spf-macro/rfc-examples-ip6", test_rfc_examples_ip6);
	g_test_add_func ("/spf-macro/syntax-errors", test_syntax_errors);
	g_test_add_func ("/spf-macro/uses-p", test_uses_p);
	g_test_add_func ("/spf-macro/truncation", test_truncation);
	g_test_add_func ("/spf-macro/output-limit", test_output_limit);
	return g_test_run ();
}
