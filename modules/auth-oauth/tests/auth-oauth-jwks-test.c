/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The key set's rules that need no network: how long a response is kept,
 * which URLs and CA files are accepted, and that nothing is fetched before
 * start().  Fetching itself is tested against a real HTTPS server in
 * tests/integration/test_smtp_oauth.py.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include "auth-oauth-jwks.h"

static void
test_max_age (void)
{
	struct {
		const char *header;
		guint seconds;
	} cases[] = {
		{ NULL, AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "public", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "max-age=7200", 7200 },
		{ "public, max-age=7200, must-revalidate", 7200 },
		{ "Max-Age=900", 900 },
		{ "max-age=\"1200\"", 1200 },
		/* clamped to [5 min, 24 h] */
		{ "max-age=10", AUTH_OAUTH_JWKS_MAX_AGE_MIN_S },
		{ "max-age=0", AUTH_OAUTH_JWKS_MAX_AGE_MIN_S },
		{ "max-age=604800", AUTH_OAUTH_JWKS_MAX_AGE_MAX_S },
		{ "max-age=99999999999999999999999", AUTH_OAUTH_JWKS_MAX_AGE_MAX_S },
		{ "no-cache", AUTH_OAUTH_JWKS_MAX_AGE_MIN_S },
		{ "no-store, max-age=7200", AUTH_OAUTH_JWKS_MAX_AGE_MIN_S },
		/* not a number: as if absent */
		{ "max-age=-5", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "max-age=12h", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "max-age=", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ "max-age", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
		{ ",,,;;=", AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_test_message ("case %zu: %s", i, cases[i].header != NULL ? cases[i].header : "(none)");
		g_assert_cmpuint (auth_oauth_jwks_max_age (cases[i].header), ==, cases[i].seconds);
	}
}

static void
test_url (void)
{
	const char *good[] = { "https://id.example.org/.well-known/jwks.json", "HTTPS://id.example.org/keys",
			       "https://127.0.0.1:8443/jwks", "https://[::1]/jwks?x=1" };
	struct {
		const char *url;
		const char *message;
	} bad[] = {
		{ "http://id.example.org/jwks", "is not an https URL" },
		{ "ftp://id.example.org/jwks", "is not an https URL" },
		{ "id.example.org/jwks", "is not a URL" },
		{ "https:///jwks", "names no host" },
		{ "https://user:secret@id.example.org/jwks", "carries credentials" },
		{ "https://id.example.org:99999/jwks", "is not a URL" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (good); i++) {
		g_autoptr(GError) error = NULL;
		g_test_message ("good %zu: %s", i, good[i]);
		g_assert_true (auth_oauth_jwks_check_url (good[i], &error));
		g_assert_no_error (error);
	}
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_test_message ("bad %zu: %s", i, bad[i].url);
		g_assert_false (auth_oauth_jwks_check_url (bad[i].url, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_assert_nonnull (strstr (error->message, bad[i].message));
	}
}

static void
test_new (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AuthOAuthJwks) jwks = NULL;
	g_autofree char *path = NULL;
	int fd;

	if (!g_tls_backend_supports_tls (g_tls_backend_get_default ())) {
		g_test_skip ("GIO has no TLS backend (glib-networking)");
		return;
	}
	jwks = auth_oauth_jwks_new ("http://id.example.org/jwks", EP_JWT_ALG_RS256, NULL, &error);
	g_assert_null (jwks);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_clear_error (&error);

	jwks = auth_oauth_jwks_new ("https://id.example.org/jwks", EP_JWT_ALG_RS256, "/nonexistent/ca.pem", &error);
	g_assert_null (jwks);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_nonnull (strstr (error->message, "jwks_ca_file: /nonexistent/ca.pem"));
	g_clear_error (&error);

	fd = g_file_open_tmp ("auth-oauth-jwks-test-XXXXXX.pem", &path, &error);
	g_assert_no_error (error);
	close (fd);
	g_assert_true (g_file_set_contents (path, "not a certificate\n", -1, &error));
	jwks = auth_oauth_jwks_new ("https://id.example.org/jwks", EP_JWT_ALG_RS256, path, &error);
	g_unlink (path);
	g_assert_null (jwks);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_nonnull (strstr (error->message, "jwks_ca_file"));
	g_clear_error (&error);

	/* with the system's CAs: nothing happens before start() */
	jwks = auth_oauth_jwks_new ("https://id.example.org/jwks", EP_JWT_ALG_ES256, NULL, &error);
	g_assert_no_error (error);
	g_assert_nonnull (jwks);
	g_assert_null (auth_oauth_jwks_get_keys (jwks));
	g_assert_false (auth_oauth_jwks_is_fetching (jwks));
	g_assert_false (auth_oauth_jwks_has_kid (jwks, "k1"));
	g_assert_cmpstr (auth_oauth_jwks_get_url (jwks), ==, "https://id.example.org/jwks");
}

static void
on_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GError **out = user_data;
	gboolean fetched = auth_oauth_jwks_refresh_finish (AUTH_OAUTH_JWKS (source), result, out);

	g_assert_false (fetched);
	if (*out == NULL)
		g_set_error_literal (out, EP_ERROR, EP_ERROR_NOT_FOUND, "no fetch (expected)");
}

/* before start() and after stop() no refresh fetches anything */
static void
test_refresh_idle (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AuthOAuthJwks) jwks = NULL;

	if (!g_tls_backend_supports_tls (g_tls_backend_get_default ())) {
		g_test_skip ("GIO has no TLS backend (glib-networking)");
		return;
	}
	jwks = auth_oauth_jwks_new ("https://id.example.org/jwks", EP_JWT_ALG_RS256, NULL, &error);
	g_assert_no_error (error);
	for (int how = AUTH_OAUTH_JWKS_JOIN; how <= AUTH_OAUTH_JWKS_UNKNOWN_KID; how++) {
		auth_oauth_jwks_refresh_async (jwks, how, NULL, on_refreshed, &error);
		while (error == NULL)
			g_main_context_iteration (NULL, TRUE);
		g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
		g_clear_error (&error);
		g_assert_false (auth_oauth_jwks_is_fetching (jwks));
	}
	auth_oauth_jwks_stop (jwks);
	auth_oauth_jwks_start (jwks);
	g_assert_false (auth_oauth_jwks_is_fetching (jwks));
	auth_oauth_jwks_refresh_async (jwks, AUTH_OAUTH_JWKS_UNKNOWN_KID, NULL, on_refreshed, &error);
	while (error == NULL)
		g_main_context_iteration (NULL, TRUE);
	g_assert_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/auth-oauth/jwks/max-age", test_max_age);
	g_test_add_func ("/auth-oauth/jwks/url", test_url);
	g_test_add_func ("/auth-oauth/jwks/new", test_new);
	g_test_add_func ("/auth-oauth/jwks/refresh-idle", test_refresh_idle);
	return g_test_run ();
}
