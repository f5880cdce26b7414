/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPF record parser: every mechanism and modifier, prefix lengths,
 * qualifiers, and the syntax errors that make a record a permerror.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "spf-record.h"

static SpfRecord *
parse_ok (const char *text)
{
	g_autoptr (GError) error = NULL;
	SpfRecord *r = spf_record_parse (text, strlen (text), &error);

	g_assert_no_error (error);
	g_assert_nonnull (r);
	return r;
}

static const SpfMechanism *
mech (const SpfRecord *r, guint i)
{
	g_assert_cmpuint (i, <, r->mechanisms->len);
	return g_ptr_array_index (r->mechanisms, i);
}

static void
test_all_terms (void)
{
	g_autoptr (SpfRecord) r = parse_ok ("v=spf1 +a -mx:mx.example.org/24 ~ptr ?ip4:192.0.2.0/24 "
					    "ip6:2001:db8::/32 include:_spf.example.net exists:%{i}.bl.example "
					    "a:%{d}//64 MX/16//48 PTR:example.org redirect=_spf.example.org "
					    "exp=why.%{d} x-custom=%{c} -all");
	const guint8 net4[4] = {192, 0, 2, 0};
	const guint8 net6[16] = {0x20, 0x01, 0x0d, 0xb8};

	g_assert_cmpuint (r->mechanisms->len, ==, 11);
	g_assert_cmpint (mech (r, 0)->kind, ==, SPF_MECH_A);
	g_assert_cmpint (mech (r, 0)->qualifier, ==, SPF_QUALIFIER_PASS);
	g_assert_null (mech (r, 0)->domain_spec);
	g_assert_cmpuint (mech (r, 0)->cidr4, ==, 32);
	g_assert_cmpuint (mech (r, 0)->cidr6, ==, 128);
	g_assert_cmpint (mech (r, 1)->kind, ==, SPF_MECH_MX);
	g_assert_cmpint (mech (r, 1)->qualifier, ==, SPF_QUALIFIER_FAIL);
	g_assert_cmpstr (mech (r, 1)->domain_spec, ==, "mx.example.org");
	g_assert_cmpuint (mech (r, 1)->cidr4, ==, 24);
	g_assert_cmpint (mech (r, 2)->kind, ==, SPF_MECH_PTR);
	g_assert_cmpint (mech (r, 2)->qualifier, ==, SPF_QUALIFIER_SOFTFAIL);
	g_assert_cmpint (mech (r, 3)->kind, ==, SPF_MECH_IP4);
	g_assert_cmpint (mech (r, 3)->qualifier, ==, SPF_QUALIFIER_NEUTRAL);
	g_assert_cmpmem (mech (r, 3)->network, 4, net4, 4);
	g_assert_cmpuint (mech (r, 3)->cidr4, ==, 24);
	g_assert_cmpint (mech (r, 4)->kind, ==, SPF_MECH_IP6);
	g_assert_cmpmem (mech (r, 4)->network, 16, net6, 16);
	g_assert_cmpuint (mech (r, 4)->cidr6, ==, 32);
	g_assert_cmpint (mech (r, 5)->kind, ==, SPF_MECH_INCLUDE);
	g_assert_cmpstr (mech (r, 5)->domain_spec, ==, "_spf.example.net");
	g_assert_cmpint (mech (r, 6)->kind, ==, SPF_MECH_EXISTS);
	g_assert_cmpstr (mech (r, 6)->domain_spec, ==, "%{i}.bl.example");
	g_assert_cmpstr (mech (r, 7)->domain_spec, ==, "%{d}");
	g_assert_cmpuint (mech (r, 7)->cidr4, ==, 32);
	g_assert_cmpuint (mech (r, 7)->cidr6, ==, 64);
	g_assert_cmpint (mech (r, 8)->kind, ==, SPF_MECH_MX);
	g_assert_cmpuint (mech (r, 8)->cidr4, ==, 16);
	g_assert_cmpuint (mech (r, 8)->cidr6, ==, 48);
	g_assert_cmpint (mech (r, 9)->kind, ==, SPF_MECH_PTR);
	g_assert_cmpstr (mech (r, 9)->domain_spec, ==, "example.org");
	g_assert_cmpint (mech (r, 10)->kind, ==, SPF_MECH_ALL);
	g_assert_true (r->has_all);
	g_assert_cmpstr (r->redirect, ==, "_spf.example.org");
	g_assert_cmpstr (r->exp, ==, "why.%{d}");
	g_assert_cmpuint (r->n_unknown, ==, 1);
}

static void
test_version_and_spaces (void)
{
	g_autoptr (SpfRecord) empty = parse_ok ("v=spf1");
	g_autoptr (SpfRecord) spaces = parse_ok ("V=SpF1   a    -all  ");

	g_assert_cmpuint (empty->mechanisms->len, ==, 0);
	g_assert_cmpuint (spaces->mechanisms->len, ==, 2);
	g_assert_true (spf_record_is_spf ("v=spf1", 6));
	g_assert_true (spf_record_is_spf ("v=spf1 -all", 11));
	g_assert_false (spf_record_is_spf ("v=spf10", 7));
	g_assert_false (spf_record_is_spf ("v=spf1-all", 10));
	g_assert_false (spf_record_is_spf ("spf1", 4));
	g_assert_false (spf_record_is_spf ("", 0));
}

static void
test_errors (void)
{
	const char *bad[] = {
	    "v=spf2 -all",
	    "v=spf1 -all\r",
	    "v=spf1 a:example.com\tptr",
	    "v=spf1 \x80"
	    "a",
	    "v=spf1 foo",
	    "v=spf1 -",
	    "v=spf1 all:example.com",
	    "v=spf1 all/24",
	    "v=spf1 include",
	    "v=spf1 include:",
	    "v=spf1 exists",
	    "v=spf1 a:",
	    "v=spf1 a:example",
	    "v=spf1 a:example.123",
	    "v=spf1 a/33",
	    "v=spf1 a//129",
	    "v=spf1 a/024",
	    "v=spf1 mx:example.com///64",
	    "v=spf1 ip4",
	    "v=spf1 ip4:",
	    "v=spf1 ip4:192.0.2",
	    "v=spf1 ip4:192.0.2.256",
	    "v=spf1 ip4:192.0.2.01",
	    "v=spf1 ip4:192.0.2.1/33",
	    "v=spf1 ip4:192.0.2.1//32",
	    "v=spf1 ip4:192.0.2.1/",
	    "v=spf1 ip6:192.0.2.1",
	    "v=spf1 ip4:2001:db8::1",
	    "v=spf1 ip6:2001:db8::/129",
	    "v=spf1 ip6:2001:db8::1%eth0",
	    "v=spf1 ip6:::1//64",
	    "v=spf1 redirect=a.example redirect=b.example",
	    "v=spf1 exp=a.example exp=b.example",
	    "v=spf1 redirect=",
	    "v=spf1 exp=",
	    "v=spf1 exp=%{r}.example.com",
	    "v=spf1 exists:%(ir).sbl.example.com",
	    "v=spf1 exists:%{ir}.%.sbl.example.com",
	    "v=spf1 x-foo=%{z}",
	    "v=spf1 =foo",
	    "v=spf1 1x=foo",
	};

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr (GError) error = NULL;
		g_autoptr (SpfRecord) r = spf_record_parse (bad[i], strlen (bad[i]), &error);
		if (r != NULL)
			g_error ("\"%s\" parsed", bad[i]);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
}

static void
test_unknown_modifiers_and_edges (void)
{
	g_autoptr (SpfRecord) a = parse_ok ("v=spf1 default=deny moo.cow-far_out=man:dog/cat -all");
	g_autoptr (SpfRecord) b = parse_ok ("v=spf1 ip4:0.0.0.0/0 ip6:::/0 a/0//0 mx:foo.1-2");
	g_autoptr (SpfRecord) c = parse_ok ("v=spf1 redirect=%{d}.spf.example.net. exp=%{l}");

	g_assert_cmpuint (a->n_unknown, ==, 2);
	g_assert_cmpuint (a->mechanisms->len, ==, 1);
	g_assert_cmpuint (mech (b, 0)->cidr4, ==, 0);
	g_assert_cmpuint (mech (b, 1)->cidr6, ==, 0);
	g_assert_cmpuint (mech (b, 2)->cidr4, ==, 0);
	g_assert_cmpuint (mech (b, 2)->cidr6, ==, 0);
	g_assert_cmpstr (mech (b, 3)->domain_spec, ==, "foo.1-2");
	g_assert_false (c->has_all);
	g_assert_cmpstr (c->redirect, ==, "%{d}.spf.example.net.");
}

static void
test_ip4_parser (void)
{
	guint8 out[4];

	g_assert_true (spf_parse_ip4 ("0.0.0.0", 7, out));
	g_assert_true (spf_parse_ip4 ("255.255.255.255", 15, out));
	g_assert_cmpuint (out[3], ==, 255);
	g_assert_false (spf_parse_ip4 ("1.2.3.4.5", 9, out));
	g_assert_false (spf_parse_ip4 ("1.2.3", 5, out));
	g_assert_false (spf_parse_ip4 ("1.2.3.", 6, out));
	g_assert_false (spf_parse_ip4 ("1.2.3.1000", 10, out));
	g_assert_false (spf_parse_ip4 ("1..3.4", 6, out));
	g_assert_false (spf_parse_ip4 ("a.b.c.d", 7, out));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/spf-record/all-terms", test_all_terms);
	g_test_add_func ("/spf-record/version-and-spaces", test_version_and_spaces);
	g_test_add_func ("/spf-record/errors", test_errors);
	g_test_add_func ("/spf-record/unknown-modifiers-and-edges", test_unknown_modifiers_and_edges);
	g_test_add_func ("/spf-record/ip4-parser", test_ip4_parser);
	return g_test_run ();
}
