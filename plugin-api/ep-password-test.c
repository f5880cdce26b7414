/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-password.h"

/* computed with the reference argon2 implementation (Debian's argon2):
 * echo -n "correct horse battery" | argon2 saltsaltsalt1234 -id -t 2 -m 10 -p 1 -l 32 -e */
static const char reference[] = "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
				"YnnaLsVmV25kHLbg9uofNnQruZHOdi9hrZn1hicYnVk";

static void
test_password_reference (void)
{
	g_autoptr(GError) error = NULL;
	EpPasswordParams p = { 1024, 2, 1 };
	g_autofree char *phc = ep_password_hash_with_salt ("correct horse battery", &p,
							   (const guint8 *) "saltsaltsalt1234", 16, &error);

	g_assert_no_error (error);
	g_assert_cmpstr (phc, ==, reference);
	g_assert_true (ep_password_verify (reference, "correct horse battery", &error));
	g_assert_no_error (error);
	g_assert_false (ep_password_verify (reference, "correct horse batterY", &error));
	g_assert_no_error (error);
}

static void
test_password_roundtrip (void)
{
	g_autoptr(GError) error = NULL;
	EpPasswordParams p = { 256, 1, 1 };
	g_autofree char *a = ep_password_hash ("a long enough password", &p, &error);
	g_autofree char *b = ep_password_hash ("a long enough password", &p, &error);

	g_assert_no_error (error);
	g_assert_true (g_str_has_prefix (a, "$argon2id$v=19$m=256,t=1,p=1$"));
	/* fresh salts */
	g_assert_cmpstr (a, !=, b);
	g_assert_true (ep_password_verify (a, "a long enough password", &error));
	g_assert_true (ep_password_verify (b, "a long enough password", &error));
	g_assert_false (ep_password_verify (a, "another password here", &error));
	g_assert_no_error (error);
}

static void
test_password_malformed (void)
{
	const char *bad[] = {
		"", "plain", "$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=2,p=1$c2Fs!HNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFz",
		"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ",
	};
	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false (ep_password_verify (bad[i], "whatever password", &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}
}

static void
test_password_policy (void)
{
	struct {
		const char *password;
		gboolean ok;
	} cases[] = {
		{ "short", FALSE },         { "elevenchars", FALSE }, { "twelve chars", TRUE },
		{ "tab\tinside pass", FALSE }, { "ünïcödé pässwörd", TRUE },
	};
	g_autofree char *long_one = g_strnfill (129, 'x');
	g_autofree char *max_one = g_strnfill (128, 'x');

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
		g_assert_cmpint (ep_password_check_policy (cases[i].password, NULL), ==, cases[i].ok);
	g_assert_false (ep_password_check_policy (long_one, NULL));
	g_assert_true (ep_password_check_policy (max_one, NULL));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/password/reference", test_password_reference);
	g_test_add_func ("/password/roundtrip", test_password_roundtrip);
	g_test_add_func ("/password/malformed", test_password_malformed);
	g_test_add_func ("/password/policy", test_password_policy);
	return g_test_run ();
}
