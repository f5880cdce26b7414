/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPF macro expander on arbitrary bytes (the first octet picks the
 * kind of string: domain-spec, modifier value or explanation).  Checked
 * properties: the syntax check and the expansion agree (for an IPv4 and an
 * IPv6 client alike), except for an expansion that is too long; the output
 * is printable ASCII; an expanded domain-spec is at most 253 characters
 * and has no final dot; a string without %{p} does not depend on the
 * validated domain; a string without '%' expands to itself.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <epistle.h>

#include "spf-macro.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *
fuzz_expand (const char *str, gsize len, SpfMacroKind kind, GInetAddress *ip, const char *validated, gboolean check_ok)
{
	SpfMacroVars vars = {
	    .sender = "first.last-x+tag@sub.Example.org",
	    .local_part = "first.last-x+tag",
	    .sender_domain = "sub.Example.org",
	    .domain = "a.b.c.d.e.f.g.h.example.org",
	    .ip = ip,
	    .validated_domain = validated,
	    .helo = "mx1.example.net",
	    .receiver = "mx.receiver.test",
	    .timestamp = 1700000000,
	};
	g_autoptr (GError) error = NULL;
	char *out = spf_macro_expand (str, len, kind, &vars, &error);

	if (out == NULL) {
		g_assert (error != NULL);
		/* the check passed: only the length limit can fail it */
		if (check_ok)
			g_assert (strstr (error->message, "longer") != NULL);
		return NULL;
	}
	g_assert (check_ok);
	g_assert (strlen (out) <= SPF_MACRO_MAX_OUTPUT + 64);
	for (const char *p = out; *p != '\0'; p++)
		g_assert (*p >= 0x20 && *p <= 0x7e);
	if (kind == SPF_MACRO_DOMAIN_SPEC) {
		gsize n = strlen (out);
		g_assert_cmpuint (n, <=, SPF_DOMAIN_MAX);
		g_assert (n == 0 || out[n - 1] != '.');
	}
	return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr (GInetAddress) ip4 = g_inet_address_new_from_string ("192.0.2.33");
	g_autoptr (GInetAddress) ip6 = g_inet_address_new_from_string ("2001:db8::cb01");
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autofree char *c = NULL;
	SpfMacroKind kind;
	const char *str;
	gsize len;
	gboolean uses_p = FALSE;
	gboolean ok;

	if (size < 1 || size > 4096)
		return 0;
	kind = (SpfMacroKind)(data[0] % 3);
	str = (const char *)data + 1;
	len = size - 1;
	ok = spf_macro_check (str, len, kind, &uses_p, NULL);
	a = fuzz_expand (str, len, kind, ip4, "valid.example.org", ok);
	b = fuzz_expand (str, len, kind, ip6, "valid.example.org", ok);
	c = fuzz_expand (str, len, kind, ip4, NULL, ok);
	if (a != NULL && c != NULL && !uses_p)
		g_assert_cmpstr (a, ==, c);
	if (a != NULL && memchr (str, '%', len) == NULL && kind != SPF_MACRO_DOMAIN_SPEC)
		g_assert (strlen (a) == len && memcmp (a, str, len) == 0);
	if (a != NULL && memchr (str, '%', len) == NULL && kind == SPF_MACRO_DOMAIN_SPEC && len <= SPF_DOMAIN_MAX)
		g_assert (strlen (a) == len - (str[len - 1] == '.' ? 1 : 0) && memcmp (a, str, strlen (a)) == 0);
	return 0;
}
