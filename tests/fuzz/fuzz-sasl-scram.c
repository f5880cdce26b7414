/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCRAM-SHA-256(-PLUS) server on arbitrary bytes: the input is a
 * client-first message, then '\n', then a client-final message.  Each
 * input runs against both mechanisms, for a known user ("user", password
 * "pencil", the salt of RFC 7677) and an unknown one, with the server
 * nonce of RFC 7677 so that seeds reach the proof check.  Whatever comes
 * in, the exchange ends in SUCCESS or FAILURE with an error, never a crash
 * or a leak; SUCCESS only for the known user.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GBytes *fuzz_salt, *fuzz_stored, *fuzz_server;

static void
fuzz_scram_init (void)
{
	gsize len = 0;
	guchar *raw;

	if (fuzz_salt != NULL)
		return;
	raw = g_base64_decode ("W22ZaJ0SNY7soEsUEjb6gQ==", &len);
	fuzz_salt = g_bytes_new_take (raw, len);
	g_assert (ep_scram_sha256_derive ("pencil", fuzz_salt, 4096, &fuzz_stored, &fuzz_server, NULL));
}

static void
fuzz_scram_run (const char *mechanism, gboolean known, GBytes *first, GBytes *final)
{
	static const char cb[] = "fuzz-tls-exporter-channel-bindin";
	g_autoptr(GBytes) cb_data = g_bytes_new_static (cb, sizeof (cb) - 1);
	EpSaslServerSettings settings = { .service = "imap", .tls_active = TRUE, .channel_binding = cb_data };
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new (mechanism, &settings, &error);
	g_autoptr(GBytes) out = NULL;
	EpSaslStatus st;
	const char *user;

	g_assert (s != NULL);
	ep_sasl_server_set_nonce_for_testing (s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	st = ep_sasl_server_step (s, first, &out, &error);
	if (st == EP_SASL_FAILURE) {
		g_assert (error != NULL && out == NULL);
		return;
	}
	g_assert (st == EP_SASL_NEED_CREDENTIALS && error == NULL);
	g_assert (ep_sasl_server_get_kind (s) == EP_SASL_CREDENTIALS_SCRAM);
	user = ep_sasl_server_get_authcid (s);
	g_assert (user != NULL && g_utf8_validate (user, -1, NULL) && *user != '\0');
	g_assert (ep_sasl_server_get_authzid (s) == NULL || g_utf8_validate (ep_sasl_server_get_authzid (s), -1, NULL));
	if (known)
		g_assert (ep_sasl_server_set_scram_credentials (s, user, fuzz_salt, 4096, fuzz_stored, fuzz_server,
								NULL));
	else
		g_assert (ep_sasl_server_set_scram_credentials (s, NULL, NULL, 0, NULL, NULL, NULL));
	st = ep_sasl_server_step (s, NULL, &out, &error);
	g_assert (st == EP_SASL_CONTINUE && out != NULL);
	g_assert (g_bytes_get_size (out) > 2 && memcmp (g_bytes_get_data (out, NULL), "r=", 2) == 0);
	g_clear_pointer (&out, g_bytes_unref);
	if (final == NULL)
		return;
	st = ep_sasl_server_step (s, final, &out, &error);
	if (st == EP_SASL_SUCCESS) {
		g_assert (known && error == NULL && out != NULL);
		g_assert (memcmp (g_bytes_get_data (out, NULL), "v=", 2) == 0);
		g_assert (g_strcmp0 (ep_sasl_server_get_account (s), user) == 0);
	} else {
		g_assert (st == EP_SASL_FAILURE && error != NULL && out == NULL);
		g_assert (ep_sasl_server_get_account (s) == NULL);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr (data, '\n', size);
	g_autoptr(GBytes) first = NULL;
	g_autoptr(GBytes) final = NULL;

	fuzz_scram_init ();
	if (nl != NULL) {
		first = g_bytes_new (data, nl - data);
		final = g_bytes_new (nl + 1, size - (nl + 1 - data));
	} else {
		first = g_bytes_new (data, size);
	}
	fuzz_scram_run ("SCRAM-SHA-256", TRUE, first, final);
	fuzz_scram_run ("SCRAM-SHA-256", FALSE, first, final);
	fuzz_scram_run ("SCRAM-SHA-256-PLUS", TRUE, first, final);
	fuzz_scram_run ("SCRAM-SHA-256-PLUS", FALSE, first, final);
	return 0;
}
