/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gcrypt.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl.h"

static const EpSaslServerSettings tls_settings = { .service = "imap", .tls_active = TRUE };

/* step with @len octets of @data (-1: a C string; data NULL: no input) */
static EpSaslStatus
step (EpSaslServer *s, const char *data, gssize len, char **out, GError **error)
{
	g_autoptr(GBytes) in = NULL;
	g_autoptr(GBytes) output = NULL;
	EpSaslStatus st;

	if (data != NULL)
		in = g_bytes_new (data, len < 0 ? strlen (data) : (gsize) len);
	st = ep_sasl_server_step (s, in, &output, error);
	if (out != NULL) {
		*out = NULL;
		if (output != NULL)
			*out = g_strndup (g_bytes_get_data (output, NULL), g_bytes_get_size (output));
	}
	return st;
}

/* ---- the mechanism list ---- */

static void
test_sasl_mechanisms (void)
{
	g_auto(GStrv) none = ep_sasl_mechanisms_available (FALSE, TRUE, TRUE);
	g_auto(GStrv) basic = ep_sasl_mechanisms_available (TRUE, FALSE, FALSE);
	g_auto(GStrv) all = ep_sasl_mechanisms_available (TRUE, TRUE, TRUE);
	g_autofree char *joined = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = NULL;
	EpSaslServerSettings plain_text = { .service = "smtp" };

	g_assert_cmpuint (g_strv_length (none), ==, 0);
	joined = g_strjoinv (" ", basic);
	g_assert_cmpstr (joined, ==, "PLAIN LOGIN SCRAM-SHA-256");
	g_free (joined);
	joined = g_strjoinv (" ", all);
	g_assert_cmpstr (joined, ==, "PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS OAUTHBEARER XOAUTH2");

	/* no TLS: refused unless the caller allows it */
	s = ep_sasl_server_new ("PLAIN", &plain_text, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_assert_null (s);
	g_clear_error (&error);
	plain_text.allow_plaintext = TRUE;
	s = ep_sasl_server_new ("plain", &plain_text, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (ep_sasl_server_get_mechanism (s), ==, "PLAIN");
	g_clear_pointer (&s, ep_sasl_server_free);

	s = ep_sasl_server_new ("CRAM-MD5", &tls_settings, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	/* -PLUS needs channel-binding data */
	s = ep_sasl_server_new ("SCRAM-SHA-256-PLUS", &tls_settings, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE);
	g_assert_null (s);
}

/* ---- PLAIN ---- */

static void
test_sasl_plain (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new ("PLAIN", &tls_settings, &error);
	g_autofree char *out = NULL;

	g_assert_no_error (error);
	g_assert_cmpint (step (s, "\0user\0pencil", 12, &out, &error), ==, EP_SASL_NEED_CREDENTIALS);
	g_assert_no_error (error);
	g_assert_null (out);
	g_assert_cmpint (ep_sasl_server_get_kind (s), ==, EP_SASL_CREDENTIALS_PASSWORD);
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "user");
	g_assert_null (ep_sasl_server_get_authzid (s));
	g_assert_cmpstr (ep_sasl_server_get_secret (s), ==, "pencil");
	/* stepping before the verdict is a misuse */
	ep_sasl_server_set_verified (s, "user-account");
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_SUCCESS);
	g_assert_no_error (error);
	g_assert_cmpstr (ep_sasl_server_get_account (s), ==, "user-account");
	/* the password is gone once it was used */
	g_assert_null (ep_sasl_server_get_secret (s));
	/* the exchange is over */
	g_assert_cmpint (step (s, "x", -1, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_clear_error (&error);
	g_clear_pointer (&s, ep_sasl_server_free);

	/* authzid, and no initial response */
	s = ep_sasl_server_new ("PLAIN", &tls_settings, &error);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_cmpstr (out, ==, "");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "admin\0user\0pencil", 17, &out, &error), ==, EP_SASL_NEED_CREDENTIALS);
	g_assert_cmpstr (ep_sasl_server_get_authzid (s), ==, "admin");
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "user");
	ep_sasl_server_set_verified (s, NULL);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_assert_null (ep_sasl_server_get_account (s));
	g_clear_error (&error);
	g_clear_pointer (&s, ep_sasl_server_free);

	/* stepping without the verdict */
	s = ep_sasl_server_new ("PLAIN", &tls_settings, &error);
	g_assert_cmpint (step (s, "\0user\0pencil", 12, &out, &error), ==, EP_SASL_NEED_CREDENTIALS);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
}

static void
test_sasl_plain_malformed (void)
{
	g_autofree char *long_id = g_strnfill (EP_SASL_MAX_IDENTITY + 1, 'u');
	g_autofree char *max_id = g_strnfill (EP_SASL_MAX_IDENTITY, 'u');
	g_autofree char *huge = g_strnfill (EP_SASL_MAX_INPUT + 1, 'p');
	struct {
		const char *data;
		gsize len;
	} bad[] = {
		{ "", 0 },                       /* the empty initial response "=" */
		{ "user\0pencil", 11 },          /* two fields */
		{ "\0\0pencil", 8 },             /* empty authcid */
		{ "\0user\0", 6 },               /* empty password */
		{ "a\0b\0c\0d", 7 },             /* four fields */
		{ "\0us\xffr\0pencil", 13 },     /* authcid not UTF-8 */
		{ "\0user\0pen\xc3", 10 },       /* password not UTF-8 */
		{ "\0us\ter\0pencil", 13 },      /* control character */
		{ "\0user\0pen\ncil", 13 },      /* control character in the password */
		{ "ad\x01min\0user\0pencil", 18 }, /* control character in the authzid */
	};

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("PLAIN", &tls_settings, &error);
		g_autofree char *out = NULL;
		g_test_message ("case %zu", i);
		g_assert_cmpint (step (s, bad[i].data, bad[i].len, &out, &error), ==, EP_SASL_FAILURE);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_null (ep_sasl_server_get_secret (s));
	}
	/* identity lengths: 255 octets is fine, 256 is not */
	for (int i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("PLAIN", &tls_settings, &error);
		g_autofree char *msg = NULL;
		const char *id = i == 0 ? max_id : long_id;
		gsize len;
		EpSaslStatus st;
		if (i < 2) {
			msg = g_strdup_printf ("%c%s%cpencil", 0, id, 0);
			len = 1 + strlen (id) + 1 + 6;
		} else {
			msg = g_strdup_printf ("%c%s%c%s", 0, "user", 0, huge);
			len = 1 + 4 + 1 + strlen (huge);
		}
		st = step (s, msg, len, NULL, &error);
		if (i == 0) {
			g_assert_cmpint (st, ==, EP_SASL_NEED_CREDENTIALS);
			g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, max_id);
		} else {
			g_assert_cmpint (st, ==, EP_SASL_FAILURE);
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		}
	}
}

/* ---- LOGIN ---- */

static void
test_sasl_login (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new ("LOGIN", &tls_settings, &error);
	g_autofree char *out = NULL;

	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_cmpstr (out, ==, "Username:");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "user", -1, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_cmpstr (out, ==, "Password:");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "pencil", -1, &out, &error), ==, EP_SASL_NEED_CREDENTIALS);
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "user");
	g_assert_cmpstr (ep_sasl_server_get_secret (s), ==, "pencil");
	ep_sasl_server_set_verified (s, "user");
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_SUCCESS);
	g_assert_no_error (error);
	g_clear_pointer (&s, ep_sasl_server_free);

	/* the user name as the initial response */
	s = ep_sasl_server_new ("LOGIN", &tls_settings, &error);
	g_assert_cmpint (step (s, "user", -1, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_cmpstr (out, ==, "Password:");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "", 0, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);
	g_clear_pointer (&s, ep_sasl_server_free);

	s = ep_sasl_server_new ("LOGIN", &tls_settings, &error);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "us\0er", 5, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

/* ---- OAUTHBEARER, XOAUTH2 ---- */

static const char rfc7628_message[] = "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
				      "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";

static void
test_sasl_oauthbearer (void)
{
	EpSaslServerSettings settings = tls_settings;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = NULL;
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autofree char *out = NULL;
	JsonObject *obj;

	settings.oauth_scope = "mail";
	settings.oauth_openid_configuration = "https://example.com/.well-known/openid-configuration";

	s = ep_sasl_server_new ("OAUTHBEARER", &settings, &error);
	g_assert_cmpint (step (s, rfc7628_message, sizeof (rfc7628_message) - 1, &out, &error), ==,
			 EP_SASL_NEED_CREDENTIALS);
	g_assert_no_error (error);
	g_assert_cmpint (ep_sasl_server_get_kind (s), ==, EP_SASL_CREDENTIALS_BEARER);
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "user@example.com");
	g_assert_cmpstr (ep_sasl_server_get_secret (s), ==, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
	ep_sasl_server_set_verified (s, "user");
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_SUCCESS);
	g_assert_cmpstr (ep_sasl_server_get_account (s), ==, "user");
	g_clear_pointer (&s, ep_sasl_server_free);

	/* the failure dance: an error challenge, the client's %x01, then failure */
	s = ep_sasl_server_new ("OAUTHBEARER", &settings, &error);
	g_assert_cmpint (step (s, rfc7628_message, sizeof (rfc7628_message) - 1, &out, &error), ==,
			 EP_SASL_NEED_CREDENTIALS);
	ep_sasl_server_set_verified (s, NULL);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_no_error (error);
	g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
	obj = json_node_get_object (json_parser_get_root (parser));
	g_assert_cmpstr (json_object_get_string_member (obj, "status"), ==, "invalid_token");
	g_assert_cmpstr (json_object_get_string_member (obj, "scope"), ==, "mail");
	g_assert_cmpstr (json_object_get_string_member (obj, "openid-configuration"), ==,
			 settings.oauth_openid_configuration);
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s, "\x01", 1, &out, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_assert_null (out);
	g_clear_error (&error);
	g_clear_pointer (&s, ep_sasl_server_free);

	/* no a=: the token alone says who it is */
	s = ep_sasl_server_new ("OAUTHBEARER", &settings, &error);
	g_assert_cmpint (step (s, "n,,\x01" "auth=bearer abc.def-ghi\x01\x01", -1, &out, &error), ==,
			 EP_SASL_NEED_CREDENTIALS);
	g_assert_null (ep_sasl_server_get_authcid (s));
	g_assert_cmpstr (ep_sasl_server_get_secret (s), ==, "abc.def-ghi");
}

static void
test_sasl_oauthbearer_malformed (void)
{
	const char *bad[] = {
		"",
		"\x01",
		"n,,\x01\x01",                                          /* no auth */
		"n,,\x01" "auth=Basic dXNlcjpwYXNz\x01\x01",           /* not Bearer */
		"n,,\x01" "auth=Bearer abc\x01",                        /* no final kvsep */
		"n,,auth=Bearer abc\x01\x01",                           /* no kvsep after the GS2 header */
		"p=tls-exporter,,\x01" "auth=Bearer abc\x01\x01",       /* channel binding */
		"n,,\x01" "auth=Bearer a b\x01\x01",                    /* space in the token */
		"n,,\x01" "auth=Bearer \x01\x01",                       /* empty token */
		"n,,\x01" "auth=Bearer abc\x01" "auth=Bearer abc\x01\x01", /* twice */
		"n,,\x01" "auth=Bearer abc\x01\x01x",                   /* trailing data */
		"n,,\x01" "au th=Bearer abc\x01\x01",                   /* bad key */
		"n,,\x01" "host=a\x7f\x01" "auth=Bearer abc\x01\x01",   /* bad value */
		"n,a=us=2Xer,\x01" "auth=Bearer abc\x01\x01",           /* bad saslname */
		"x,,\x01" "auth=Bearer abc\x01\x01",                    /* bad flag */
	};

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("OAUTHBEARER", &tls_settings, &error);
		g_test_message ("case %zu", i);
		g_assert_cmpint (step (s, bad[i], -1, NULL, &error), ==, EP_SASL_FAILURE);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
}

static void
test_sasl_xoauth2 (void)
{
	static const char msg[] = "user=someuser@example.com\x01"
				  "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01";
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new ("XOAUTH2", &tls_settings, &error);
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autofree char *out = NULL;
	JsonObject *obj;

	g_assert_cmpint (step (s, msg, -1, &out, &error), ==, EP_SASL_NEED_CREDENTIALS);
	g_assert_cmpint (ep_sasl_server_get_kind (s), ==, EP_SASL_CREDENTIALS_BEARER);
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "someuser@example.com");
	g_assert_cmpstr (ep_sasl_server_get_secret (s), ==, "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	ep_sasl_server_set_verified (s, NULL);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
	obj = json_node_get_object (json_parser_get_root (parser));
	g_assert_cmpstr (json_object_get_string_member (obj, "status"), ==, "401");
	g_assert_cmpint (step (s, "", 0, NULL, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_clear_error (&error);
	g_clear_pointer (&s, ep_sasl_server_free);

	/* no user */
	s = ep_sasl_server_new ("XOAUTH2", &tls_settings, &error);
	g_assert_cmpint (step (s, "auth=Bearer abc\x01\x01", -1, NULL, &error), ==, EP_SASL_FAILURE);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

/* ---- SCRAM ---- */

static GBytes *
b64 (const char *s)
{
	gsize len = 0;
	guchar *raw = g_base64_decode (s, &len);
	return g_bytes_new_take (raw, len);
}

static void
test_scram_rfc7677 (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
	g_autoptr(GBytes) salt = b64 ("W22ZaJ0SNY7soEsUEjb6gQ==");
	g_autoptr(GBytes) stored = NULL;
	g_autoptr(GBytes) server = NULL;
	g_autoptr(GBytes) salt2 = NULL;
	g_autoptr(GBytes) stored2 = NULL;
	g_autoptr(GBytes) server2 = NULL;
	g_autofree char *out = NULL;
	g_autofree char *creds = NULL;
	guint iter = 0;

	g_assert_no_error (error);
	ep_sasl_server_set_nonce_for_testing (s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	g_assert_cmpint (step (s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", -1, &out, &error), ==,
			 EP_SASL_NEED_CREDENTIALS);
	g_assert_no_error (error);
	g_assert_cmpint (ep_sasl_server_get_kind (s), ==, EP_SASL_CREDENTIALS_SCRAM);
	g_assert_cmpstr (ep_sasl_server_get_authcid (s), ==, "user");
	g_assert_null (ep_sasl_server_get_authzid (s));

	g_assert_true (ep_scram_sha256_derive ("pencil", salt, 4096, &stored, &server, &error));
	g_assert_no_error (error);
	/* the stored form round-trips */
	creds = ep_scram_sha256_credentials_format (4096, salt, stored, server);
	g_assert_true (g_str_has_prefix (creds, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
	g_assert_true (ep_scram_sha256_credentials_parse (creds, &iter, &salt2, &stored2, &server2, &error));
	g_assert_cmpuint (iter, ==, 4096);
	g_assert_true (g_bytes_equal (salt, salt2) && g_bytes_equal (stored, stored2) &&
		       g_bytes_equal (server, server2));

	g_assert_true (ep_sasl_server_set_scram_credentials_string (s, "user", creds, &error));
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_cmpstr (out, ==, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (step (s,
			       "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			       -1, &out, &error),
			 ==, EP_SASL_SUCCESS);
	g_assert_no_error (error);
	g_assert_cmpstr (out, ==, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	g_assert_cmpstr (ep_sasl_server_get_account (s), ==, "user");
}

static void
test_scram_credentials_parse (void)
{
	const char *bad[] = {
		"",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA", /* short keys */
		"SCRAM-SHA-256$1000:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* iterations */
		"SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:W22Z*J0SNY7soEsUEjb6gQ==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) a = NULL;
		g_autoptr(GBytes) b = NULL;
		g_autoptr(GBytes) c = NULL;
		guint iter = 0;
		g_test_message ("case %zu", i);
		g_assert_false (ep_scram_sha256_credentials_parse (bad[i], &iter, &a, &b, &c, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
}

/* the client side, computed here from RFC 5802 §3 */
static void
hmac (const guint8 *key, gsize key_len, const char *data, gsize len, guint8 out[32])
{
	gcry_md_hd_t hd = NULL;

	g_assert_cmpint (gcry_md_open (&hd, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC), ==, 0);
	g_assert_cmpint (gcry_md_setkey (hd, key, key_len), ==, 0);
	gcry_md_write (hd, data, len);
	memcpy (out, gcry_md_read (hd, GCRY_MD_SHA256), 32);
	gcry_md_close (hd);
}

typedef struct {
	const char *mechanism;
	const char *server_cb;  /* NULL: no channel binding on the server */
	const char *gs2_header; /* what the client sends */
	const char *client_cb;  /* what the client binds to with p= */
	const char *user;       /* n= as sent */
	gboolean known;         /* the server knows the user */
	const char *password;   /* the client's password ("pencil" is right) */
} ScramCase;

typedef struct {
	EpSaslStatus first;  /* after client-first */
	EpSaslStatus last;   /* after client-final */
	GError *error;
	char *server_first;
	char *authcid;
	char *authzid;
} ScramResult;

static void
scram_result_clear (ScramResult *r)
{
	g_clear_error (&r->error);
	g_free (r->server_first);
	g_free (r->authcid);
	g_free (r->authzid);
}

static GBytes *test_salt, *test_stored, *test_server;

static void
scram_run (const ScramCase *c, ScramResult *r)
{
	EpSaslServerSettings settings = tls_settings;
	g_autoptr(GBytes) cb = c->server_cb != NULL ? g_bytes_new_static (c->server_cb, strlen (c->server_cb)) : NULL;
	g_autoptr(EpSaslServer) s = NULL;
	g_autofree char *first = NULL;
	g_autofree char *out = NULL;
	g_autofree char *without_proof = NULL;
	g_autofree char *auth_msg = NULL;
	g_autofree char *cbind = NULL;
	g_autofree char *proof64 = NULL;
	g_autofree char *final = NULL;
	g_autofree char *v64 = NULL;
	g_autoptr(GBytes) salt = NULL;
	g_autoptr(GString) cb_input = g_string_new (c->gs2_header);
	g_auto(GStrv) fields = NULL;
	guint8 salted[32], client_key[32], stored[32], sig[32], proof[32], server_key[32], server_sig[32];
	guint iterations;

	memset (r, 0, sizeof (*r));
	settings.channel_binding = cb;
	s = ep_sasl_server_new (c->mechanism, &settings, &r->error);
	g_assert_no_error (r->error);
	first = g_strdup_printf ("%sn=%s,r=fyko+d2lbbFgONRv9qkxdawL", c->gs2_header, c->user);
	r->first = step (s, first, -1, &out, &r->error);
	if (r->first != EP_SASL_NEED_CREDENTIALS)
		return;
	r->authcid = g_strdup (ep_sasl_server_get_authcid (s));
	r->authzid = g_strdup (ep_sasl_server_get_authzid (s));
	if (c->known)
		g_assert_true (ep_sasl_server_set_scram_credentials (s, r->authcid, test_salt, 4096, test_stored,
								     test_server, NULL));
	else
		g_assert_true (ep_sasl_server_set_scram_credentials (s, NULL, NULL, 0, NULL, NULL, NULL));
	g_assert_cmpint (step (s, NULL, 0, &r->server_first, &r->error), ==, EP_SASL_CONTINUE);

	/* r=<nonce>,s=<salt>,i=<iterations> */
	fields = g_strsplit (r->server_first, ",", -1);
	g_assert_cmpuint (g_strv_length (fields), ==, 3);
	g_assert_true (g_str_has_prefix (fields[0], "r=fyko+d2lbbFgONRv9qkxdawL"));
	g_assert_cmpuint (strlen (fields[0]), >, 2 + 24);
	g_assert_true (g_str_has_prefix (fields[1], "s="));
	salt = b64 (fields[1] + 2);
	g_assert_true (g_str_has_prefix (fields[2], "i="));
	iterations = atoi (fields[2] + 2);

	g_assert_cmpint (gcry_kdf_derive (c->password, strlen (c->password), GCRY_KDF_PBKDF2, GCRY_MD_SHA256,
					  g_bytes_get_data (salt, NULL), g_bytes_get_size (salt), iterations, 32,
					  salted),
			 ==, 0);
	hmac (salted, 32, "Client Key", 10, client_key);
	gcry_md_hash_buffer (GCRY_MD_SHA256, stored, client_key, 32);
	hmac (salted, 32, "Server Key", 10, server_key);
	if (c->client_cb != NULL)
		g_string_append (cb_input, c->client_cb);
	cbind = g_base64_encode ((const guchar *) cb_input->str, cb_input->len);
	without_proof = g_strdup_printf ("c=%s,%s", cbind, fields[0]);
	auth_msg = g_strdup_printf ("%s,%s,%s", first + strlen (c->gs2_header), r->server_first, without_proof);
	hmac (stored, 32, auth_msg, strlen (auth_msg), sig);
	for (int i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ sig[i];
	proof64 = g_base64_encode (proof, 32);
	final = g_strdup_printf ("%s,p=%s", without_proof, proof64);
	g_clear_pointer (&out, g_free);
	r->last = step (s, final, -1, &out, &r->error);
	if (r->last == EP_SASL_SUCCESS) {
		/* the client checks the server's signature */
		hmac (server_key, 32, auth_msg, strlen (auth_msg), server_sig);
		v64 = g_base64_encode (server_sig, 32);
		g_assert_true (g_str_has_prefix (out, "v="));
		g_assert_cmpstr (out + 2, ==, v64);
		g_assert_cmpstr (ep_sasl_server_get_account (s), ==, r->authcid);
	} else {
		g_assert_null (out);
		g_assert_null (ep_sasl_server_get_account (s));
	}
}

static void
test_scram_exchanges (void)
{
	const char *cb = "exporter-keying-material-32-octs";
	struct {
		ScramCase c;
		EpSaslStatus first, last;
		gint code;
	} cases[] = {
		/* -PLUS with tls-exporter */
		{ { "SCRAM-SHA-256-PLUS", cb, "p=tls-exporter,,", cb, "user", TRUE, "pencil" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_SUCCESS, 0 },
		/* the channel-binding data differs: a man in the middle */
		{ { "SCRAM-SHA-256-PLUS", cb, "p=tls-exporter,,", "other-connections-keying-material", "user", TRUE,
		    "pencil" },
		  EP_SASL_NEED_CREDENTIALS, EP_SASL_FAILURE, EP_ERROR_PERM },
		/* wrong password */
		{ { "SCRAM-SHA-256-PLUS", cb, "p=tls-exporter,,", cb, "user", TRUE, "pencil2" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_FAILURE, EP_ERROR_PERM },
		{ { "SCRAM-SHA-256", NULL, "n,,", NULL, "user", TRUE, "Pencil" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_FAILURE, EP_ERROR_PERM },
		/* another channel-binding type */
		{ { "SCRAM-SHA-256-PLUS", cb, "p=tls-unique,,", cb, "user", TRUE, "pencil" }, EP_SASL_FAILURE, 0,
		  EP_ERROR_PERM },
		/* -PLUS without binding */
		{ { "SCRAM-SHA-256-PLUS", cb, "n,,", NULL, "user", TRUE, "pencil" }, EP_SASL_FAILURE, 0,
		  EP_ERROR_INVALID },
		{ { "SCRAM-SHA-256-PLUS", cb, "y,,", NULL, "user", TRUE, "pencil" }, EP_SASL_FAILURE, 0,
		  EP_ERROR_INVALID },
		/* binding asked for with the plain mechanism */
		{ { "SCRAM-SHA-256", cb, "p=tls-exporter,,", cb, "user", TRUE, "pencil" }, EP_SASL_FAILURE, 0,
		  EP_ERROR_INVALID },
		/* "y" while -PLUS was advertised: downgrade */
		{ { "SCRAM-SHA-256", cb, "y,,", NULL, "user", TRUE, "pencil" }, EP_SASL_FAILURE, 0, EP_ERROR_PERM },
		/* "y" while no -PLUS was advertised: fine */
		{ { "SCRAM-SHA-256", NULL, "y,,", NULL, "user", TRUE, "pencil" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_SUCCESS, 0 },
		/* "n" when -PLUS is offered: the client may choose so */
		{ { "SCRAM-SHA-256", cb, "n,,", NULL, "user", TRUE, "pencil" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_SUCCESS, 0 },
		/* authzid and saslname escapes */
		{ { "SCRAM-SHA-256", NULL, "n,a=ad=2Cmin=3D,", NULL, "us=3Der=2C", TRUE, "pencil" },
		  EP_SASL_NEED_CREDENTIALS, EP_SASL_SUCCESS, 0 },
		/* unknown user, even with the right password */
		{ { "SCRAM-SHA-256", NULL, "n,,", NULL, "nobody", FALSE, "pencil" }, EP_SASL_NEED_CREDENTIALS,
		  EP_SASL_FAILURE, EP_ERROR_PERM },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		ScramResult r;
		g_test_message ("case %zu", i);
		scram_run (&cases[i].c, &r);
		g_assert_cmpint (r.first, ==, cases[i].first);
		if (r.first == EP_SASL_FAILURE) {
			g_assert_error (r.error, EP_ERROR, cases[i].code);
		} else {
			g_assert_cmpint (r.last, ==, cases[i].last);
			if (r.last == EP_SASL_FAILURE)
				g_assert_error (r.error, EP_ERROR, cases[i].code);
			else
				g_assert_no_error (r.error);
		}
		if (i == 11) {
			g_assert_cmpstr (r.authcid, ==, "us=er,");
			g_assert_cmpstr (r.authzid, ==, "ad,min=");
		}
		scram_result_clear (&r);
	}
}

/* an unknown user looks like a known one with a wrong password */
static void
test_scram_unknown_user (void)
{
	ScramCase known = { "SCRAM-SHA-256", NULL, "n,,", NULL, "user", TRUE, "wrong" };
	ScramCase unknown = { "SCRAM-SHA-256", NULL, "n,,", NULL, "nobody", FALSE, "wrong" };
	ScramCase unknown2 = { "SCRAM-SHA-256", NULL, "n,,", NULL, "someone", FALSE, "wrong" };
	ScramResult a, b, b2, c;
	g_auto(GStrv) fa = NULL;
	g_auto(GStrv) fb = NULL;
	g_auto(GStrv) fb2 = NULL;
	g_auto(GStrv) fc = NULL;

	scram_run (&known, &a);
	scram_run (&unknown, &b);
	scram_run (&unknown, &b2);
	scram_run (&unknown2, &c);
	g_assert_cmpint (a.last, ==, EP_SASL_FAILURE);
	g_assert_cmpint (b.last, ==, EP_SASL_FAILURE);
	g_assert_error (a.error, EP_ERROR, EP_ERROR_PERM);
	g_assert_error (b.error, EP_ERROR, EP_ERROR_PERM);
	/* the same words in the log */
	g_assert_cmpstr (a.error->message, ==, b.error->message);
	fa = g_strsplit (a.server_first, ",", -1);
	fb = g_strsplit (b.server_first, ",", -1);
	fb2 = g_strsplit (b2.server_first, ",", -1);
	fc = g_strsplit (c.server_first, ",", -1);
	/* same shape: nonce length, salt length, iterations */
	g_assert_cmpuint (strlen (fa[0]), ==, strlen (fb[0]));
	g_assert_cmpuint (strlen (fa[1]), ==, strlen (fb[1]));
	g_assert_cmpstr (fa[2], ==, fb[2]);
	/* the made-up salt is stable per user, and differs between users */
	g_assert_cmpstr (fb[1], ==, fb2[1]);
	g_assert_cmpstr (fb[1], !=, fc[1]);
	/* fresh server nonces */
	g_assert_cmpstr (fb[0], !=, fb2[0]);
	scram_result_clear (&a);
	scram_result_clear (&b);
	scram_result_clear (&b2);
	scram_result_clear (&c);
}

static void
test_scram_client_first_malformed (void)
{
	struct {
		const char *msg;
		gsize len; /* 0: strlen */
	} bad[] = {
		{ "", 0 },
		{ "n", 0 },
		{ "n,", 0 },
		{ "n,,", 0 },
		{ "x,,n=user,r=abc", 0 },
		{ "nn,,n=user,r=abc", 0 },
		{ "n,,n=user", 0 },
		{ "n,,r=abc,n=user", 0 },              /* attribute order */
		{ "n,,m=ext,n=user,r=abc", 0 },        /* mandatory extension */
		{ "n,,n=,r=abc", 0 },                  /* empty user */
		{ "n,,n=us=2Xer,r=abc", 0 },           /* bad escape */
		{ "n,,n=user=,r=abc", 0 },             /* bad escape */
		{ "n,,n=user,r=", 0 },                 /* empty nonce */
		{ "n,,n=user,r=ab c", 0 },             /* not printable */
		{ "n,,n=user,r=abc,", 0 },             /* empty extension */
		{ "n,,n=user,r=abc,x", 0 },            /* extension without value */
		{ "n,,n=user,r=abc,m=1", 0 },          /* m is reserved */
		{ "n,,n=user,r=abc\0", 16 },           /* NUL */
		{ "n,,n=us\x01" "er,r=abc", 0 },      /* control character */
		{ "n,,n=us\xff" "er,r=abc", 0 },      /* not UTF-8 */
		{ "n,a=,n=user,r=abc", 0 },            /* empty authzid */
		{ "n,b=x,n=user,r=abc", 0 },           /* not an authzid */
		{ "p=,,n=user,r=abc", 0 },             /* empty cb-name */
		{ "p=tls_exporter,,n=user,r=abc", 0 }, /* bad cb-name */
		{ "n,,,n=user,r=abc", 0 },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
		g_test_message ("case %zu", i);
		g_assert_cmpint (step (s, bad[i].msg, bad[i].len ? (gssize) bad[i].len : -1, NULL, &error), ==,
				 EP_SASL_FAILURE);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	/* unknown extensions are ignored */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
		g_assert_cmpint (step (s, "n,,n=user,r=abc,x=ext=1", -1, NULL, &error), ==, EP_SASL_NEED_CREDENTIALS);
	}
}

static void
test_scram_client_final_malformed (void)
{
	/* the nonce is "abc" + "SRV" */
	const char *bad[] = {
		"",
		"c=biws",
		"c=biws,r=abcSRV",
		"c=biws,r=abcSRV,p=",
		"c=biws,r=abcSRV,p=AAAA",
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=abcSRVx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"r=abcSRV,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=bi*s,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biw,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
		"c=biws,r=abcSRV,m=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV=Q",
		"c=biws,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
		g_autofree char *out = NULL;
		g_test_message ("case %zu", i);
		ep_sasl_server_set_nonce_for_testing (s, "SRV");
		g_assert_cmpint (step (s, "n,,n=user,r=abc", -1, NULL, &error), ==, EP_SASL_NEED_CREDENTIALS);
		g_assert_true (ep_sasl_server_set_scram_credentials (s, "user", test_salt, 4096, test_stored,
								     test_server, &error));
		g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
		g_assert_cmpint (step (s, bad[i], -1, NULL, &error), ==, EP_SASL_FAILURE);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	/* channel binding that is well-formed but wrong ("y,," instead of "n,,") */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
		g_autofree char *out = NULL;
		ep_sasl_server_set_nonce_for_testing (s, "SRV");
		g_assert_cmpint (step (s, "n,,n=user,r=abc", -1, NULL, &error), ==, EP_SASL_NEED_CREDENTIALS);
		g_assert_true (ep_sasl_server_set_scram_credentials (s, "user", test_salt, 4096, test_stored,
								     test_server, &error));
		g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
		g_assert_cmpint (step (s, "c=eSws,r=abcSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", -1, NULL,
				       &error),
				 ==, EP_SASL_FAILURE);
		g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	}
}

static void
test_scram_bad_credentials (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpSaslServer) s = ep_sasl_server_new ("SCRAM-SHA-256", &tls_settings, &error);
	g_autofree char *out = NULL;

	g_assert_cmpint (step (s, "n,,n=user,r=abc", -1, NULL, &error), ==, EP_SASL_NEED_CREDENTIALS);
	/* too few iterations: refused, and the exchange goes on as for an unknown user */
	g_assert_false (ep_sasl_server_set_scram_credentials (s, "user", test_salt, 1000, test_stored, test_server,
							      &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);
	g_assert_cmpint (step (s, NULL, 0, &out, &error), ==, EP_SASL_CONTINUE);
	g_assert_true (g_str_has_suffix (out, ",i=4096"));
}

static void
test_sasl_prep (void)
{
	struct {
		const char *in, *out;
	} cases[] = {
		{ "pencil", "pencil" },
		{ "I\xc2\xad" "X", "IX" },       /* SOFT HYPHEN mapped to nothing */
		{ "user", "user" },
		{ "USER", "USER" },              /* case preserved */
		{ "\xc2\xaa", "a" },             /* NFKC */
		{ "\xe2\x85\xa8", "IX" },        /* ROMAN NUMERAL NINE */
		{ "a\xc2\xa0" "b", "a b" },      /* NO-BREAK SPACE */
		{ "\x07", NULL },                /* control */
		{ "a\xc2\x85", NULL },           /* C1 control */
		{ "a\xee\x80\x80", NULL },       /* private use */
		{ "a\xe2\x80\x8e", NULL },       /* LEFT-TO-RIGHT MARK */
		{ "\xff", NULL },                /* not UTF-8 */
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *out = ep_sasl_prep (cases[i].in, &error);
		g_test_message ("case %zu", i);
		g_assert_cmpstr (out, ==, cases[i].out);
		if (cases[i].out == NULL)
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	/* the derivation prepares the password */
	{
		g_autoptr(GBytes) a1 = NULL;
		g_autoptr(GBytes) a2 = NULL;
		g_autoptr(GBytes) b1 = NULL;
		g_autoptr(GBytes) b2 = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true (ep_scram_sha256_derive ("I\xc2\xad" "X", test_salt, 4096, &a1, &a2, &error));
		g_assert_true (ep_scram_sha256_derive ("IX", test_salt, 4096, &b1, &b2, &error));
		g_assert_true (g_bytes_equal (a1, b1) && g_bytes_equal (a2, b2));
		g_assert_false (ep_scram_sha256_derive ("IX", test_salt, 100, &b1, &b2, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	/* fresh credentials differ in salt and parse back */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *c1 = ep_scram_sha256_credentials_new ("pencil", 0, &error);
		g_autofree char *c2 = ep_scram_sha256_credentials_new ("pencil", 0, &error);
		g_autoptr(GBytes) s = NULL;
		g_autoptr(GBytes) k1 = NULL;
		g_autoptr(GBytes) k2 = NULL;
		guint iter = 0;
		g_assert_no_error (error);
		g_assert_cmpstr (c1, !=, c2);
		g_assert_true (ep_scram_sha256_credentials_parse (c1, &iter, &s, &k1, &k2, &error));
		g_assert_cmpuint (iter, ==, EP_SCRAM_DEFAULT_ITERATIONS);
		g_assert_cmpuint (g_bytes_get_size (s), ==, EP_SCRAM_SALT_LEN);
	}
}

int
main (int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int rc;

	g_test_init (&argc, &argv, NULL);
	gcry_check_version (NULL);
	test_salt = b64 ("c2FsdHNhbHRzYWx0MTIzNA=="); /* 16 octets, as ep_scram_sha256_credentials_new() makes */
	g_assert_true (ep_scram_sha256_derive ("pencil", test_salt, 4096, &test_stored, &test_server, &error));

	g_test_add_func ("/sasl/mechanisms", test_sasl_mechanisms);
	g_test_add_func ("/sasl/plain", test_sasl_plain);
	g_test_add_func ("/sasl/plain-malformed", test_sasl_plain_malformed);
	g_test_add_func ("/sasl/login", test_sasl_login);
	g_test_add_func ("/sasl/oauthbearer", test_sasl_oauthbearer);
	g_test_add_func ("/sasl/oauthbearer-malformed", test_sasl_oauthbearer_malformed);
	g_test_add_func ("/sasl/xoauth2", test_sasl_xoauth2);
	g_test_add_func ("/sasl/scram-rfc7677", test_scram_rfc7677);
	g_test_add_func ("/sasl/scram-credentials-parse", test_scram_credentials_parse);
	g_test_add_func ("/sasl/scram-exchanges", test_scram_exchanges);
	g_test_add_func ("/sasl/scram-unknown-user", test_scram_unknown_user);
	g_test_add_func ("/sasl/scram-client-first-malformed", test_scram_client_first_malformed);
	g_test_add_func ("/sasl/scram-client-final-malformed", test_scram_client_final_malformed);
	g_test_add_func ("/sasl/scram-bad-credentials", test_scram_bad_credentials);
	g_test_add_func ("/sasl/prep", test_sasl_prep);
	rc = g_test_run ();
	g_bytes_unref (test_salt);
	g_bytes_unref (test_stored);
	g_bytes_unref (test_server);
	return rc;
}
