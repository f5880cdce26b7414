/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dmarc-record.h"
#include "ep-error.h"

typedef struct {
	const char *text;
	gboolean valid;
	DmarcPolicy p;
	DmarcPolicy sp;
	guint pct;
	DmarcAlign adkim;
	DmarcAlign aspf;
	guint n_rua;
	gboolean fallback;
} RecordCase;

#define N DMARC_POLICY_NONE
#define Q DMARC_POLICY_QUARANTINE
#define R DMARC_POLICY_REJECT
#define U DMARC_POLICY_UNSET
#define RL DMARC_ALIGN_RELAXED
#define ST DMARC_ALIGN_STRICT

static const RecordCase record_cases[] = {
	/* the minimum, and the defaults */
	{"v=DMARC1; p=none", TRUE, N, U, 100, RL, RL, 0, FALSE},
	{"v=DMARC1;p=reject", TRUE, R, U, 100, RL, RL, 0, FALSE},
	{"v=DMARC1; p=quarantine;", TRUE, Q, U, 100, RL, RL, 0, FALSE},
	{"  v = DMARC1 ;  p = reject ; ", TRUE, R, U, 100, RL, RL, 0, FALSE},
	/* keywords without case, tag names without case */
	{"v=DMARC1; p=REJECT; SP=Quarantine", TRUE, R, Q, 100, RL, RL, 0, FALSE},
	{"V=DMARC1; P=none", TRUE, N, U, 100, RL, RL, 0, FALSE},
	/* every tag */
	{"v=DMARC1; p=quarantine; sp=reject; pct=25; adkim=s; aspf=s; ri=3600; fo=1:d:s; rf=afrf; "
	 "rua=mailto:a@example.org,mailto:b@example.net!10m; ruf=mailto:f@example.org",
	 TRUE, Q, R, 25, ST, ST, 2, FALSE},
	{"v=DMARC1; p=none; pct=0", TRUE, N, U, 0, RL, RL, 0, FALSE},
	{"v=DMARC1; p=none; pct=100", TRUE, N, U, 100, RL, RL, 0, FALSE},
	{"v=DMARC1; p=none; pct=007", TRUE, N, U, 7, RL, RL, 0, FALSE},
	{"v=DMARC1; p=none; adkim=r; aspf=S", TRUE, N, U, 100, RL, ST, 0, FALSE},
	/* unknown tags are ignored; p= need not come second */
	{"v=DMARC1; x=whatever; p=reject; np=reject; t=y", TRUE, R, U, 100, RL, RL, 0, FALSE},
	{"v=DMARC1; pct=50; p=reject", TRUE, R, U, 50, RL, RL, 0, FALSE},
	/* empty specs are tolerated */
	{"v=DMARC1;; p=none;;", TRUE, N, U, 100, RL, RL, 0, FALSE},
	/* folding white space inside */
	{"v=DMARC1;\r\n\tp=reject", TRUE, R, U, 100, RL, RL, 0, FALSE},
	/* rua: malformed URIs are dropped, the others kept */
	{"v=DMARC1; p=none; rua=mailto:ok@example.org, bogus, mailto:noat, :x, mailto:big@example.org!5x",
	 TRUE, N, U, 100, RL, RL, 1, FALSE},
	{"v=DMARC1; p=none; rua=https://reports.example.org/dmarc!1024", TRUE, N, U, 100, RL, RL, 1, FALSE},
	/* an invalid p= or sp= with a valid rua=: p=none (RFC 7489 §6.6.3) */
	{"v=DMARC1; p=bogus; rua=mailto:r@example.org", TRUE, N, U, 100, RL, RL, 1, TRUE},
	{"v=DMARC1; rua=mailto:r@example.org", TRUE, N, U, 100, RL, RL, 1, TRUE},
	{"v=DMARC1; p=reject; sp=bogus; rua=mailto:r@example.org", TRUE, N, U, 100, RL, RL, 1, TRUE},
	/* ... and without one: no policy */
	{"v=DMARC1; p=bogus", FALSE},
	{"v=DMARC1; p=reject; sp=bogus", FALSE},
	{"v=DMARC1", FALSE},
	{"v=DMARC1;", FALSE},
	{"v=DMARC1; p=bogus; rua=bogus", FALSE},
	{"v=DMARC1; p=", FALSE},
	/* v= must come first, exactly DMARC1 */
	{"p=reject; v=DMARC1", FALSE},
	{"v=dmarc1; p=reject", FALSE},
	{"v=DMARC2; p=reject", FALSE},
	{"v=DMARC10; p=reject", FALSE},
	{"v=spf1 -all", FALSE},
	{"", FALSE},
	{"   ", FALSE},
	/* malformed values of known tags */
	{"v=DMARC1; p=reject; pct=101", FALSE},
	{"v=DMARC1; p=reject; pct=-1", FALSE},
	{"v=DMARC1; p=reject; pct=", FALSE},
	{"v=DMARC1; p=reject; pct=5 0", FALSE},
	{"v=DMARC1; p=reject; adkim=x", FALSE},
	{"v=DMARC1; p=reject; aspf=relaxed", FALSE},
	{"v=DMARC1; p=reject; ri=4294967296", FALSE},
	{"v=DMARC1; p=reject; ri=abc", FALSE},
	{"v=DMARC1; p=reject; fo=2", FALSE},
	{"v=DMARC1; p=reject; rf=a$b", FALSE},
	/* malformed tag lists */
	{"v=DMARC1; p=reject; p=none", FALSE},
	{"v=DMARC1; v=DMARC1; p=reject", FALSE},
	{"v=DMARC1; p reject", FALSE},
	{"v=DMARC1; 1p=reject", FALSE},
	{"v=DMARC1; =reject", FALSE},
	{"v=DMARC1; p=reject\x01", FALSE},
	{"v=DMARC1; p=r\xc3\xa9ject", FALSE},
};

static void
test_record_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (record_cases); i++) {
		const RecordCase *c = &record_cases[i];
		g_autoptr (GError) error = NULL;
		g_autoptr (DmarcRecord) r = dmarc_record_parse (c->text, strlen (c->text), &error);

		g_test_message ("record %u: %s", i, c->text);
		if (!c->valid) {
			g_assert_null (r);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
			g_assert_cmpstr (error->message, !=, "");
			continue;
		}
		g_assert_no_error (error);
		g_assert_nonnull (r);
		g_assert_cmpint (r->p, ==, c->p);
		g_assert_cmpint (r->sp, ==, c->sp);
		g_assert_cmpuint (r->pct, ==, c->pct);
		g_assert_cmpint (r->adkim, ==, c->adkim);
		g_assert_cmpint (r->aspf, ==, c->aspf);
		g_assert_cmpuint (r->rua->len, ==, c->n_rua);
		g_assert_cmpint (r->p_fallback, ==, c->fallback);
	}
}

static void
test_record_details (void)
{
	const char *text = "v=DMARC1; p=reject; ri=3600; fo=1:D; rf=AFRF:iodef; "
			   "rua=mailto:a@example.org!10k, https://r.example.net/x!2G; ruf=mailto:f@example.org!1";
	g_autoptr (GError) error = NULL;
	g_autoptr (DmarcRecord) r = dmarc_record_parse (text, strlen (text), &error);
	const DmarcUri *u;

	g_assert_no_error (error);
	g_assert_cmpuint (r->ri, ==, 3600);
	g_assert_cmpuint (r->fo, ==, DMARC_FO_1 | DMARC_FO_D);
	g_assert_cmpuint (r->rf->len, ==, 2);
	g_assert_cmpstr (g_ptr_array_index (r->rf, 0), ==, "afrf");
	g_assert_cmpstr (g_ptr_array_index (r->rf, 1), ==, "iodef");
	g_assert_cmpuint (r->rua->len, ==, 2);
	u = g_ptr_array_index (r->rua, 0);
	g_assert_cmpstr (u->uri, ==, "mailto:a@example.org");
	g_assert_cmpuint (u->max_size, ==, 10 * 1024);
	u = g_ptr_array_index (r->rua, 1);
	g_assert_cmpstr (u->uri, ==, "https://r.example.net/x");
	g_assert_cmpuint (u->max_size, ==, G_GUINT64_CONSTANT (2) << 30);
	u = g_ptr_array_index (r->ruf, 0);
	g_assert_cmpstr (u->uri, ==, "mailto:f@example.org");
	g_assert_cmpuint (u->max_size, ==, 1);

	/* the defaults */
	{
		g_autoptr (DmarcRecord) d = dmarc_record_parse ("v=DMARC1; p=none", 16, &error);
		g_assert_no_error (error);
		g_assert_cmpuint (d->ri, ==, 86400);
		g_assert_cmpuint (d->fo, ==, DMARC_FO_0);
		g_assert_cmpuint (d->rf->len, ==, 1);
		g_assert_cmpstr (g_ptr_array_index (d->rf, 0), ==, "afrf");
		g_assert_cmpuint (d->ruf->len, ==, 0);
	}
	/* a size that overflows drops the URI */
	{
		const char *big = "v=DMARC1; p=none; rua=mailto:a@example.org!99999999999999999999t";
		g_autoptr (DmarcRecord) d = dmarc_record_parse (big, strlen (big), &error);
		g_assert_no_error (error);
		g_assert_cmpuint (d->rua->len, ==, 0);
	}
}

static void
test_record_length_bounded (void)
{
	/* the parser reads exactly @len bytes: no NUL needed, none read past */
	const char text[] = {'v', '=', 'D', 'M', 'A', 'R', 'C', '1', ';', 'p', '=', 'r', 'e', 'j', 'e', 'c', 't', 'X'};
	g_autoptr (GError) error = NULL;
	g_autoptr (DmarcRecord) r = dmarc_record_parse (text, sizeof text - 1, &error);

	g_assert_no_error (error);
	g_assert_cmpint (r->p, ==, DMARC_POLICY_REJECT);
	g_assert_true (dmarc_record_is_dmarc (text, 8));
	g_assert_false (dmarc_record_is_dmarc (text, 7));
}

static void
test_record_is_dmarc (void)
{
	g_assert_true (dmarc_record_is_dmarc ("v=DMARC1", 8));
	g_assert_true (dmarc_record_is_dmarc ("v=DMARC1; p=none", 16));
	g_assert_true (dmarc_record_is_dmarc (" v = DMARC1 ;", 13));
	g_assert_false (dmarc_record_is_dmarc ("v=DMARC1x", 9));
	g_assert_false (dmarc_record_is_dmarc ("v=spf1 -all", 11));
	g_assert_false (dmarc_record_is_dmarc ("x=1; v=DMARC1", 13));
	g_assert_false (dmarc_record_is_dmarc ("", 0));
}

static void
test_uri_is_valid (void)
{
	static const struct {
		const char *uri;
		gboolean valid;
	} cases[] = {
		{"mailto:dmarc@example.org", TRUE},
		{"MAILTO:dmarc@example.org", TRUE},
		{"mailto:dmarc@example.org?subject=x", TRUE},
		{"https://example.org/report", TRUE},
		{"x-y+z.w:anything", TRUE},
		{"mailto:", FALSE},
		{"mailto:@example.org", FALSE},
		{"mailto:dmarc@", FALSE},
		{"mailto:dmarc", FALSE},
		{"mailto:a b@example.org", FALSE},
		{"dmarc@example.org", FALSE},
		{"1http://example.org", FALSE},
		{"", FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
		g_assert_cmpint (dmarc_uri_is_valid (cases[i].uri, strlen (cases[i].uri)), ==, cases[i].valid);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/dmarc/record/table", test_record_table);
	g_test_add_func ("/dmarc/record/details", test_record_details);
	g_test_add_func ("/dmarc/record/length-bounded", test_record_length_bounded);
	g_test_add_func ("/dmarc/record/is-dmarc", test_record_is_dmarc);
	g_test_add_func ("/dmarc/record/uri", test_uri_is_valid);
	return g_test_run ();
}
