/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parsers of the simple SASL mechanisms on arbitrary bytes: PLAIN
 * (the whole input), LOGIN (user name, '\n', password), OAUTHBEARER (GS2
 * header and key/value pairs) and XOAUTH2 (key/value pairs), each through
 * to the end of the exchange with a good and a bad verdict (including the
 * bearer mechanisms' error challenge and the client's dummy answer).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_identity (const char *s)
{
	if (s == NULL)
		return;
	g_assert (g_utf8_validate (s, -1, NULL) && *s != '\0' && strlen (s) <= EP_SASL_MAX_IDENTITY);
	for (const char *p = s; *p != '\0'; p++)
		g_assert ((guchar) *p >= 0x20 && *p != 0x7f);
}

static void
fuzz_plain_run (const char *mechanism, GBytes *first, GBytes *second, gboolean good)
{
	EpSaslServerSettings settings = { .service = "smtp", .tls_active = TRUE, .oauth_scope = "mail" };
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new (mechanism, &settings, &error);
	g_autoptr(GBytes) out = NULL;
	EpSaslStatus st;

	g_assert (s != NULL);
	st = ep_sasl_server_step (s, first, &out, &error);
	if (st == EP_SASL_CONTINUE && second != NULL) {
		/* LOGIN's password */
		g_clear_pointer (&out, g_bytes_unref);
		st = ep_sasl_server_step (s, second, &out, &error);
	}
	if (st == EP_SASL_CONTINUE)
		return;
	if (st == EP_SASL_FAILURE) {
		g_assert (error != NULL && ep_sasl_server_get_secret (s) == NULL);
		return;
	}
	g_assert (st == EP_SASL_NEED_CREDENTIALS && error == NULL);
	fuzz_check_identity (ep_sasl_server_get_authcid (s));
	fuzz_check_identity (ep_sasl_server_get_authzid (s));
	g_assert (ep_sasl_server_get_secret (s) != NULL &&
		  g_utf8_validate (ep_sasl_server_get_secret (s), -1, NULL));
	ep_sasl_server_set_verified (s, good ? "account" : NULL);
	st = ep_sasl_server_step (s, NULL, &out, &error);
	if (good) {
		g_assert (st == EP_SASL_SUCCESS && error == NULL);
		return;
	}
	if (st == EP_SASL_CONTINUE) {
		static const char dummy = 0x01;
		g_autoptr(GBytes) answer = g_bytes_new_static (&dummy, 1);
		g_assert (out != NULL);
		g_clear_pointer (&out, g_bytes_unref);
		st = ep_sasl_server_step (s, answer, &out, &error);
	}
	g_assert (st == EP_SASL_FAILURE && error != NULL && error->code == EP_ERROR_PERM);
	g_assert (ep_sasl_server_get_account (s) == NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr (data, '\n', size);
	g_autoptr(GBytes) all = g_bytes_new (data, size);
	g_autoptr(GBytes) user = g_bytes_new (data, nl != NULL ? (gsize) (nl - data) : size);
	g_autoptr(GBytes) pass = nl != NULL ? g_bytes_new (nl + 1, size - (nl + 1 - data)) : NULL;
	const char *mechs[] = { "PLAIN", "OAUTHBEARER", "XOAUTH2" };

	for (gsize i = 0; i < G_N_ELEMENTS (mechs); i++) {
		fuzz_plain_run (mechs[i], all, NULL, TRUE);
		fuzz_plain_run (mechs[i], all, NULL, FALSE);
	}
	fuzz_plain_run ("LOGIN", user, pass, size % 2 == 0);
	return 0;
}
