/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "smtp-auth.h"

static void
assert_bytes (GBytes *bytes, const char *expected, gsize len)
{
	g_assert_nonnull (bytes);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected, len);
}

/* ---- base64 lines ---------------------------------------------------------------- */

static void
test_decode_line (void)
{
	static const struct {
		const char *line;
		SmtpAuthLine status;
		const char *decoded;
		gsize decoded_len;
	} cases[] = {
	    {"", SMTP_AUTH_LINE_OK, "", 0},
	    {"*", SMTP_AUTH_LINE_CANCEL, NULL, 0},
	    {"YQ==", SMTP_AUTH_LINE_OK, "a", 1},
	    {"YWI=", SMTP_AUTH_LINE_OK, "ab", 2},
	    {"YWJj", SMTP_AUTH_LINE_OK, "abc", 3},
	    {"AGFsaWNlAHNlY3JldA==", SMTP_AUTH_LINE_OK, "\0alice\0secret", 13},
	    {"+/+/", SMTP_AUTH_LINE_OK, "\xfb\xff\xbf", 3},
	    /* "=" is an empty initial response, never a response to 334 */
	    {"=", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"**", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {" *", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YQ=", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YQ", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"Y===", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"====", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YQ=a", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YQ==YWJj", SMTP_AUTH_LINE_MALFORMED, NULL, 0}, /* padding in the middle */
	    {"YW Jj", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YWJj ", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YWJ\x01", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	    {"YWJ-", SMTP_AUTH_LINE_MALFORMED, NULL, 0}, /* base64url is not base64 */
	    {"YR==", SMTP_AUTH_LINE_MALFORMED, NULL, 0}, /* non-zero bits under the padding */
	    {"YWJ=", SMTP_AUTH_LINE_MALFORMED, NULL, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GBytes) out = NULL;
		SmtpAuthLine status;

		g_test_message ("case %u: '%s'", i, cases[i].line);
		status = smtp_auth_decode_line (cases[i].line, strlen (cases[i].line), &out);
		g_assert_cmpint (status, ==, cases[i].status);
		if (status == SMTP_AUTH_LINE_OK)
			assert_bytes (out, cases[i].decoded, cases[i].decoded_len);
		else
			g_assert_null (out);
	}
}

/* Whatever GLib encodes, the strict decoder reads back, at every length. */
static void
test_base64_round_trip (void)
{
	guint8 data[300];

	for (guint i = 0; i < sizeof (data); i++)
		data[i] = (guint8)g_test_rand_int_range (0, 256);
	for (gsize n = 0; n <= sizeof (data); n++) {
		g_autofree char *b64 = g_base64_encode (data, n);
		g_autoptr (GBytes) out = smtp_auth_base64_decode (b64, strlen (b64));
		assert_bytes (out, (const char *)data, n);
		/* cutting any tail off a non-empty encoding breaks it */
		if (n > 0) {
			for (gsize cut = 1; cut < 4; cut++) {
				g_autoptr (GBytes) bad = smtp_auth_base64_decode (b64, strlen (b64) - cut);
				g_assert_null (bad);
			}
		}
	}
}

static void
test_challenge_line (void)
{
	g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
	g_autoptr (GBytes) some = g_bytes_new ("Username:", 9);
	g_autofree char *a = smtp_auth_challenge_line (NULL);
	g_autofree char *b = smtp_auth_challenge_line (empty);
	g_autofree char *c = smtp_auth_challenge_line (some);

	g_assert_cmpstr (a, ==, "334 \r\n");
	g_assert_cmpstr (b, ==, "334 \r\n");
	g_assert_cmpstr (c, ==, "334 VXNlcm5hbWU6\r\n");
}

/* ---- AUTH argument ---------------------------------------------------------------- */

static void
test_parse_command (void)
{
	static const struct {
		const char *arg;
		guint code; /* 0: accepted */
		const char *enhanced;
		const char *mechanism;
		const char *initial; /* NULL: none */
		gsize initial_len;
	} cases[] = {
	    {"PLAIN", 0, NULL, "PLAIN", NULL, 0},
	    {"plain", 0, NULL, "PLAIN", NULL, 0},
	    {"SCRAM-SHA-256-PLUS", 0, NULL, "SCRAM-SHA-256-PLUS", NULL, 0},
	    {"PLAIN =", 0, NULL, "PLAIN", "", 0},
	    {"PLAIN AGEAYg==", 0, NULL, "PLAIN", "\0a\0b", 4},
	    {"X_Y-1 YWJj", 0, NULL, "X_Y-1", "abc", 3},
	    {"ABCDEFGHIJKLMNOPQRST", 0, NULL, "ABCDEFGHIJKLMNOPQRST", NULL, 0},
	    {"ABCDEFGHIJKLMNOPQRSTU", 504, "5.5.4", NULL, NULL, 0},
	    {"PL@IN", 504, "5.5.4", NULL, NULL, 0},
	    {" PLAIN", 501, "5.5.4", NULL, NULL, 0},
	    {"PLAIN ", 501, "5.5.4", NULL, NULL, 0},
	    {"PLAIN  YWJj", 501, "5.5.2", NULL, NULL, 0},
	    {"PLAIN YWJj ", 501, "5.5.2", NULL, NULL, 0},
	    {"PLAIN ===", 501, "5.5.2", NULL, NULL, 0},
	    {"PLAIN *", 501, "5.5.2", NULL, NULL, 0},
	    {"PLAIN !!!!", 501, "5.5.2", NULL, NULL, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *mech = NULL;
		g_autoptr (GBytes) initial = NULL;
		SmtpReply reply;
		gboolean ok;

		g_test_message ("case %u: '%s'", i, cases[i].arg);
		ok = smtp_auth_parse_command (cases[i].arg, strlen (cases[i].arg), &mech, &initial, &reply);
		if (cases[i].code != 0) {
			g_assert_false (ok);
			g_assert_null (mech);
			g_assert_null (initial);
			g_assert_cmpuint (reply.code, ==, cases[i].code);
			g_assert_cmpstr (reply.enhanced, ==, cases[i].enhanced);
			continue;
		}
		g_assert_true (ok);
		g_assert_cmpstr (mech, ==, cases[i].mechanism);
		if (cases[i].initial == NULL)
			g_assert_null (initial);
		else
			assert_bytes (initial, cases[i].initial, cases[i].initial_len);
	}
}

/* ---- From: addresses --------------------------------------------------------------- */

static char *
join (GPtrArray *a)
{
	if (a == NULL)
		return NULL;
	g_ptr_array_add (a, NULL);
	return g_strjoinv (",", (char **)a->pdata);
}

static void
test_from_addresses (void)
{
	static const struct {
		const char *msg;
		const char *addresses; /* NULL: refused */
	} cases[] = {
	    {"From: alice@example.org\r\n\r\nbody\r\n", "alice@example.org"},
	    {"From: Alice <alice@Example.ORG>\r\nTo: x@y\r\n\r\n", "alice@example.org"},
	    {"from: \"Smith, Alice\" <alice@example.org> (home)\r\n\r\n", "alice@example.org"},
	    {"From: Alice\r\n <alice@example.org>\r\n\r\n", "alice@example.org"},
	    {"From: alice@example.org, Bob <bob@example.org>\r\n\r\n", "alice@example.org,bob@example.org"},
	    /* every From field counts, not only the first */
	    {"From: alice@example.org\r\nFrom: victim@example.org\r\n\r\n", "alice@example.org,victim@example.org"},
	    {"From: team: alice@example.org, bob@example.org;\r\n\r\n", "alice@example.org,bob@example.org"},
	    {"From : alice@example.org\r\n\r\n", "alice@example.org"},
	    /* a From in the body is not a header field */
	    {"Subject: x\r\n\r\nFrom: victim@example.org\r\n", NULL},
	    {"Subject: x\r\n\r\n", NULL},
	    {"", NULL},
	    {"From: \r\n\r\n", NULL},
	    {"From: undisclosed:;\r\n\r\n", NULL},
	    {"From: alice\r\n\r\n", NULL},
	    {"From: @example.org\r\n\r\n", NULL},
	    {"From: alice@example.org\r\nFrom: \r\n\r\n", NULL},
	    {"From: alice@example.org\r\nFrom: <>\r\n\r\n", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GPtrArray) addresses = NULL;
		g_autofree char *joined = NULL;

		g_test_message ("case %u", i);
		addresses = smtp_auth_from_addresses ((const guint8 *)cases[i].msg, strlen (cases[i].msg));
		joined = join (addresses);
		g_assert_cmpstr (joined, ==, cases[i].addresses);
	}
}

/* ---- fields an MSA adds ------------------------------------------------------------- */

static void
test_missing_fields (void)
{
	g_autoptr (GDateTime) now = g_date_time_new_utc (2024, 1, 2, 3, 4, 5);
	const char *both = "Message-ID: <x@y>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n";
	const char *none = "Subject: x\r\n\r\nMessage-ID: <in@body>\r\nDate: in body\r\n";
	const char *no_date = "message-id: <x@y>\r\n\r\n";
	g_autofree char *a = smtp_auth_missing_fields ((const guint8 *)both, strlen (both), "mail.example.org", now);
	g_autofree char *b = smtp_auth_missing_fields ((const guint8 *)none, strlen (none), "mail.example.org", now);
	g_autofree char *c =
	    smtp_auth_missing_fields ((const guint8 *)no_date, strlen (no_date), "mail.example.org", now);
	GRegex *re = g_regex_new ("^Message-ID: <[0-9a-f]{32}@mail\\.example\\.org>\r\n"
				  "Date: Tue, 2 Jan 2024 03:04:05 \\+0000\r\n$",
				  0, 0, NULL);

	g_assert_cmpstr (a, ==, "");
	g_assert_true (g_regex_match (re, b, 0, NULL));
	g_assert_cmpstr (c, ==, "Date: Tue, 2 Jan 2024 03:04:05 +0000\r\n");
	g_regex_unref (re);
}

static void
test_message_id_unique (void)
{
	g_autofree char *a = smtp_auth_new_message_id ("h.example");
	g_autofree char *b = smtp_auth_new_message_id ("h.example");

	g_assert_cmpstr (a, !=, b);
	g_assert_true (g_str_has_suffix (a, "@h.example>"));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/smtp-auth/decode-line", test_decode_line);
	g_test_add_func ("/smtp-auth/base64-round-trip", test_base64_round_trip);
	g_test_add_func ("/smtp-auth/challenge-line", test_challenge_line);
	g_test_add_func ("/smtp-auth/parse-command", test_parse_command);
	g_test_add_func ("/smtp-auth/from-addresses", test_from_addresses);
	g_test_add_func ("/smtp-auth/missing-fields", test_missing_fields);
	g_test_add_func ("/smtp-auth/message-id-unique", test_message_id_unique);
	return g_test_run ();
}
