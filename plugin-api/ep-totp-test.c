/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-error.h"
#include "ep-totp.h"

static GBytes *
rfc_secret (void)
{
	return g_bytes_new_static ("12345678901234567890", 20);
}

/* RFC 6238 Appendix B, SHA-1 rows (8 digits) */
static void
test_totp_rfc6238 (void)
{
	g_autoptr(GBytes) secret = rfc_secret ();
	struct {
		gint64 time;
		const char *code;
	} vectors[] = {
		{ 59, "94287082" },         { 1111111109, "07081804" }, { 1111111111, "14050471" },
		{ 1234567890, "89005924" }, { 2000000000, "69279037" }, { 20000000000, "65353130" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++) {
		g_autofree char *code = g_strdup_printf ("%08u", ep_totp_code (secret, vectors[i].time / 30, 8));
		gint64 step = -1;
		g_assert_cmpstr (code, ==, vectors[i].code);
		g_assert_true (ep_totp_verify_full (secret, vectors[i].code, vectors[i].time, -1, 8, 30, 0, &step));
		g_assert_cmpint (step, ==, vectors[i].time / 30);
		/* the same code as 6 digits is its last six */
		g_assert_true (ep_totp_verify (secret, vectors[i].code + 2, vectors[i].time, -1, NULL));
	}
}

/* RFC 4226 Appendix D */
static void
test_totp_hotp (void)
{
	g_autoptr(GBytes) secret = rfc_secret ();
	const guint32 expect[] = { 755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489 };

	for (guint i = 0; i < G_N_ELEMENTS (expect); i++)
		g_assert_cmpuint (ep_totp_code (secret, i, 6), ==, expect[i]);
}

static char *
code_at (GBytes *secret, gint64 step)
{
	return g_strdup_printf ("%06u", ep_totp_code (secret, step, 6));
}

static void
test_totp_window_and_replay (void)
{
	g_autoptr(GBytes) secret = ep_totp_secret_new ();
	gint64 now = 1700000015; /* in step 56666667 */
	gint64 s = now / 30, matched = -1;
	g_autofree char *prev = code_at (secret, s - 1);
	g_autofree char *cur = code_at (secret, s);
	g_autofree char *next = code_at (secret, s + 1);
	g_autofree char *old = code_at (secret, s - 2);
	g_autofree char *future = code_at (secret, s + 2);

	g_assert_cmpuint (g_bytes_get_size (secret), ==, EP_TOTP_SECRET_LEN);
	g_assert_true (ep_totp_verify (secret, cur, now, -1, &matched));
	g_assert_cmpint (matched, ==, s);
	g_assert_true (ep_totp_verify (secret, prev, now, -1, &matched));
	g_assert_cmpint (matched, ==, s - 1);
	g_assert_true (ep_totp_verify (secret, next, now, -1, &matched));
	g_assert_cmpint (matched, ==, s + 1);
	/* outside the window (unless a code collides, one chance in 10^6) */
	if (strcmp (old, cur) != 0 && strcmp (old, prev) != 0 && strcmp (old, next) != 0)
		g_assert_false (ep_totp_verify (secret, old, now, -1, NULL));
	if (strcmp (future, cur) != 0 && strcmp (future, prev) != 0 && strcmp (future, next) != 0)
		g_assert_false (ep_totp_verify (secret, future, now, -1, NULL));

	/* replay: a used step, or an earlier one, is refused */
	g_assert_false (ep_totp_verify (secret, cur, now, s, NULL));
	g_assert_false (ep_totp_verify (secret, prev, now, s, NULL));
	g_assert_false (ep_totp_verify (secret, prev, now, s - 1, NULL));
	g_assert_true (ep_totp_verify (secret, next, now, s, &matched));
	g_assert_cmpint (matched, ==, s + 1);

	/* not six digits */
	g_assert_false (ep_totp_verify (secret, "12345", now, -1, NULL));
	g_assert_false (ep_totp_verify (secret, "1234567", now, -1, NULL));
	g_assert_false (ep_totp_verify (secret, "12345a", now, -1, NULL));
	g_assert_false (ep_totp_verify (secret, "", now, -1, NULL));
	{
		g_autoptr(GBytes) other = ep_totp_secret_new ();
		g_assert_false (g_bytes_equal (secret, other));
	}
}

static void
test_totp_base32 (void)
{
	struct {
		const char *raw, *b32;
	} rfc4648[] = {
		{ "", "" },           { "f", "MY" },           { "fo", "MZXQ" },           { "foo", "MZXW6" },
		{ "foob", "MZXW6YQ" }, { "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI" },
	};
	const char *bad[] = { "MZXW6YTBO1", "MZXW6YTBOJ", "MZ=XW", "M", "MZX", "MZ!W" };

	for (gsize i = 0; i < G_N_ELEMENTS (rfc4648); i++) {
		g_autofree char *enc = ep_totp_base32_encode ((const guint8 *) rfc4648[i].raw, strlen (rfc4648[i].raw));
		g_autoptr(GBytes) dec = ep_totp_base32_decode (rfc4648[i].b32, NULL);
		g_autofree char *lower = g_ascii_strdown (rfc4648[i].b32, -1);
		g_autoptr(GBytes) dec2 = ep_totp_base32_decode (lower, NULL);
		g_assert_cmpstr (enc, ==, rfc4648[i].b32);
		g_assert_nonnull (dec);
		g_assert_cmpmem (g_bytes_get_data (dec, NULL), g_bytes_get_size (dec), rfc4648[i].raw,
				 strlen (rfc4648[i].raw));
		g_assert_true (g_bytes_equal (dec, dec2));
	}
	{
		g_autoptr(GBytes) padded = ep_totp_base32_decode ("MZXW 6YTB OI======", NULL);
		g_assert_cmpmem (g_bytes_get_data (padded, NULL), g_bytes_get_size (padded), "foobar", 6);
	}
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) dec = ep_totp_base32_decode (bad[i], &error);
		g_test_message ("bad %s", bad[i]);
		g_assert_null (dec);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
	/* round trip over random lengths */
	for (gsize len = 0; len < 41; len++) {
		guint8 raw[41];
		g_autofree char *enc = NULL;
		g_autoptr(GBytes) dec = NULL;
		for (gsize i = 0; i < len; i++)
			raw[i] = g_random_int_range (0, 256);
		enc = ep_totp_base32_encode (raw, len);
		dec = ep_totp_base32_decode (enc, NULL);
		g_assert_cmpmem (g_bytes_get_data (dec, NULL), g_bytes_get_size (dec), raw, len);
	}
}

static void
test_totp_uri (void)
{
	g_autoptr(GBytes) secret = g_bytes_new_static ("foobar", 6);
	g_autofree char *uri = ep_totp_uri ("Example Mail", "alice@example.com", secret);

	g_assert_cmpstr (uri, ==,
			 "otpauth://totp/Example%20Mail:alice%40example.com?secret=MZXW6YTBOI"
			 "&issuer=Example%20Mail&algorithm=SHA1&digits=6&period=30");
	g_clear_pointer (&uri, g_free);
	uri = ep_totp_uri ("a&b:c", "x?y", secret);
	g_assert_cmpstr (uri, ==,
			 "otpauth://totp/a%26b%3Ac:x%3Fy?secret=MZXW6YTBOI&issuer=a%26b%3Ac&algorithm=SHA1&digits=6&period=30");
}

static void
test_totp_split (void)
{
	g_autofree char *pw = NULL;
	g_autofree char *code = NULL;

	g_assert_true (ep_totp_split ("password123456", &pw, &code));
	g_assert_cmpstr (pw, ==, "password");
	g_assert_cmpstr (code, ==, "123456");
	g_clear_pointer (&pw, g_free);
	g_clear_pointer (&code, g_free);
	g_assert_true (ep_totp_split ("pw1234567", &pw, &code));
	g_assert_cmpstr (pw, ==, "pw1");
	g_assert_cmpstr (code, ==, "234567");
	g_assert_false (ep_totp_split ("123456", &pw, &code));
	g_assert_false (ep_totp_split ("pass12345x", &pw, &code));
	g_assert_false (ep_totp_split ("", &pw, &code));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/totp/rfc6238", test_totp_rfc6238);
	g_test_add_func ("/totp/hotp-rfc4226", test_totp_hotp);
	g_test_add_func ("/totp/window-and-replay", test_totp_window_and_replay);
	g_test_add_func ("/totp/base32", test_totp_base32);
	g_test_add_func ("/totp/uri", test_totp_uri);
	g_test_add_func ("/totp/split", test_totp_split);
	return g_test_run ();
}
