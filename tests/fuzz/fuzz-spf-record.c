/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPF record parser on arbitrary bytes.  Checked properties: a record
 * that parses starts with "v=spf1" and is printable ASCII; its prefix
 * lengths are in range; include and exists have a domain-spec; every
 * domain-spec (and redirect=, exp=) is a valid one by itself; "all" is
 * flagged; and the record written back out from what was parsed parses to
 * the same mechanisms and modifiers.  A record that does not parse says
 * why.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <epistle.h>

#include "spf-macro.h"
#include "spf-record.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_domain_spec (const char *spec)
{
	g_assert (spf_macro_check (spec, strlen (spec), SPF_MACRO_DOMAIN_SPEC, NULL, NULL));
}

static char *
fuzz_write (const SpfRecord *r)
{
	GString *s = g_string_new ("v=spf1");

	for (guint i = 0; i < r->mechanisms->len; i++) {
		const SpfMechanism *m = g_ptr_array_index (r->mechanisms, i);
		char addr[INET6_ADDRSTRLEN];

		g_string_append_printf (s, " %c%s", m->qualifier, spf_mech_kind_to_string (m->kind));
		switch (m->kind) {
		case SPF_MECH_IP4:
			inet_ntop (AF_INET, m->network, addr, sizeof addr);
			g_string_append_printf (s, ":%s/%u", addr, m->cidr4);
			break;
		case SPF_MECH_IP6:
			inet_ntop (AF_INET6, m->network, addr, sizeof addr);
			g_string_append_printf (s, ":%s/%u", addr, m->cidr6);
			break;
		default:
			if (m->domain_spec != NULL)
				g_string_append_printf (s, ":%s", m->domain_spec);
			if (m->kind == SPF_MECH_A || m->kind == SPF_MECH_MX)
				g_string_append_printf (s, "/%u//%u", m->cidr4, m->cidr6);
			break;
		}
	}
	if (r->redirect != NULL)
		g_string_append_printf (s, " redirect=%s", r->redirect);
	if (r->exp != NULL)
		g_string_append_printf (s, " exp=%s", r->exp);
	return g_string_free (s, FALSE);
}

static void
fuzz_check_same (const SpfRecord *a, const SpfRecord *b)
{
	g_assert_cmpuint (a->mechanisms->len, ==, b->mechanisms->len);
	for (guint i = 0; i < a->mechanisms->len; i++) {
		const SpfMechanism *x = g_ptr_array_index (a->mechanisms, i);
		const SpfMechanism *y = g_ptr_array_index (b->mechanisms, i);
		g_assert_cmpint (x->kind, ==, y->kind);
		g_assert_cmpint (x->qualifier, ==, y->qualifier);
		g_assert_cmpstr (x->domain_spec, ==, y->domain_spec);
		g_assert_cmpuint (x->cidr4, ==, y->cidr4);
		g_assert_cmpuint (x->cidr6, ==, y->cidr6);
		g_assert (memcmp (x->network, y->network, 16) == 0);
	}
	g_assert_cmpstr (a->redirect, ==, b->redirect);
	g_assert_cmpstr (a->exp, ==, b->exp);
	g_assert (a->has_all == b->has_all);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	g_autoptr (GError) error = NULL;
	g_autoptr (SpfRecord) record = spf_record_parse (text, size, &error);
	g_autoptr (SpfRecord) again = NULL;
	g_autofree char *written = NULL;
	gboolean has_all = FALSE;

	if (record == NULL) {
		g_assert (error != NULL && error->message[0] != '\0');
		return 0;
	}
	g_assert_no_error (error);
	g_assert (spf_record_is_spf (text, size));
	for (gsize i = 0; i < size; i++)
		g_assert (data[i] >= 0x20 && data[i] <= 0x7e);
	for (guint i = 0; i < record->mechanisms->len; i++) {
		const SpfMechanism *m = g_ptr_array_index (record->mechanisms, i);
		g_assert (m->qualifier == '+' || m->qualifier == '-' || m->qualifier == '~' || m->qualifier == '?');
		g_assert_cmpuint (m->cidr4, <=, 32);
		g_assert_cmpuint (m->cidr6, <=, 128);
		if (m->kind == SPF_MECH_INCLUDE || m->kind == SPF_MECH_EXISTS)
			g_assert (m->domain_spec != NULL);
		if (m->kind == SPF_MECH_ALL || m->kind == SPF_MECH_IP4 || m->kind == SPF_MECH_IP6)
			g_assert (m->domain_spec == NULL);
		if (m->domain_spec != NULL)
			fuzz_check_domain_spec (m->domain_spec);
		if (m->kind == SPF_MECH_ALL)
			has_all = TRUE;
	}
	g_assert (has_all == record->has_all);
	if (record->redirect != NULL)
		fuzz_check_domain_spec (record->redirect);
	if (record->exp != NULL)
		fuzz_check_domain_spec (record->exp);

	/* written back out, it parses to the same thing */
	written = fuzz_write (record);
	again = spf_record_parse (written, strlen (written), &error);
	if (again == NULL)
		g_error ("\"%s\" does not parse: %s", written, error->message);
	fuzz_check_same (record, again);
	g_assert_cmpuint (again->n_unknown, ==, 0);
	return 0;
}
