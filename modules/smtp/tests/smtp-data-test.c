/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "smtp-data.h"

/* ---- DATA lines --------------------------------------------------------------- */

/* Feeds @lines (NULL-terminated) and returns the message, or NULL after an
 * overflow; *@ended tells whether the "." line came. */
static GBytes *
feed_lines (const char *const *lines, guint64 max, gboolean *ended, guint64 *total)
{
	SmtpMessage msg;
	GBytes *out;

	smtp_message_init (&msg, max);
	*ended = FALSE;
	for (guint i = 0; lines[i] != NULL; i++) {
		g_assert_false (*ended);
		if (smtp_data_line (&msg, lines[i], strlen (lines[i])) == SMTP_DATA_END)
			*ended = TRUE;
	}
	if (total != NULL)
		*total = msg.total;
	out = smtp_message_steal (&msg);
	smtp_message_clear (&msg);
	return out;
}

static void
assert_bytes (GBytes *bytes, const char *expected)
{
	g_assert_nonnull (bytes);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected, strlen (expected));
}

static void
test_data_unstuffing (void)
{
	static const struct {
		const char *lines[8];
		const char *message;
	} cases[] = {
	    {{"Subject: x", "", "body", ".", NULL}, "Subject: x\r\n\r\nbody\r\n"},
	    {{".", NULL}, ""},
	    {{"..", "."}, ".\r\n"},
	    {{"...", "."}, "..\r\n"},
	    {{".x", "."}, "x\r\n"},
	    {{". ", "."}, " \r\n"},
	    {{" .", "."}, " .\r\n"},
	    {{"a", "", "", "."}, "a\r\n\r\n\r\n"},
	    {{"x.", "..", "."}, "x.\r\n.\r\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gboolean ended;
		g_autoptr (GBytes) msg = feed_lines (cases[i].lines, 1000, &ended, NULL);
		g_test_message ("case %u", i);
		g_assert_true (ended);
		assert_bytes (msg, cases[i].message);
	}
}

static void
test_data_size_limit (void)
{
	const char *const fits[] = {"12345678", ".", NULL};	  /* 10 octets with CRLF */
	const char *const over[] = {"123456789", "x", ".", NULL}; /* 11, then 14 */
	gboolean ended;
	guint64 total;
	g_autoptr (GBytes) a = feed_lines (fits, 10, &ended, &total);
	g_autoptr (GBytes) b = NULL;

	assert_bytes (a, "12345678\r\n");
	g_assert_cmpuint (total, ==, 10);
	/* over the limit: reading goes on to the end, nothing is kept */
	b = feed_lines (over, 10, &ended, &total);
	g_assert_null (b);
	g_assert_true (ended);
	g_assert_cmpuint (total, ==, 14);
}

static void
test_message_append (void)
{
	SmtpMessage msg;
	g_autoptr (GBytes) out = NULL;

	smtp_message_init (&msg, 5);
	smtp_message_append (&msg, (const guint8 *)"abc", 3);
	smtp_message_append (&msg, (const guint8 *)"de", 2);
	g_assert_false (msg.overflow);
	smtp_message_append (&msg, (const guint8 *)"f", 1);
	g_assert_true (msg.overflow);
	g_assert_cmpuint (msg.data->len, ==, 0);
	smtp_message_append (&msg, (const guint8 *)"gh", 2);
	g_assert_cmpuint (msg.total, ==, 8);
	g_assert_null (smtp_message_steal (&msg));
	/* stealing resets for the next transaction */
	g_assert_false (msg.overflow);
	smtp_message_append (&msg, (const guint8 *)"xy", 2);
	out = smtp_message_steal (&msg);
	assert_bytes (out, "xy");
	smtp_message_clear (&msg);
}

/* ---- BDAT octets ---------------------------------------------------------------- */

typedef struct {
	const char *input;
	gsize len;		 /* 0: strlen */
	SmtpOctetsStatus status; /* after finish */
} OctetCase;

static SmtpOctetsStatus
validate_in_pieces (const guint8 *data, gsize len, gsize piece, gsize max_line)
{
	SmtpOctetValidator v;

	smtp_octet_validator_init (&v, max_line);
	for (gsize off = 0; off < len; off += piece)
		smtp_octet_validator_feed (&v, data + off, MIN (piece, len - off));
	return smtp_octet_validator_finish (&v);
}

static void
test_octet_validator (void)
{
	static const OctetCase cases[] = {
	    {"", 0, SMTP_OCTETS_OK},
	    {"a\r\nb\r\n", 0, SMTP_OCTETS_OK},
	    {"\r\n\r\n", 0, SMTP_OCTETS_OK},
	    {"no end", 0, SMTP_OCTETS_OK},
	    {"a\rb\r\n", 0, SMTP_OCTETS_BARE_CR},
	    {"a\r\r\n", 0, SMTP_OCTETS_BARE_CR},
	    {"a\r", 0, SMTP_OCTETS_BARE_CR},
	    {"\r", 0, SMTP_OCTETS_BARE_CR},
	    {"a\nb", 0, SMTP_OCTETS_BARE_LF},
	    {"\n", 0, SMTP_OCTETS_BARE_LF},
	    {"a\r\n\n", 0, SMTP_OCTETS_BARE_LF},
	    {"a\n\r", 0, SMTP_OCTETS_BARE_LF},
	    {"a\0b", 3, SMTP_OCTETS_NUL},
	    {"a\r\0", 3, SMTP_OCTETS_BARE_CR},
	    {"a\r\n.\r\n", 0, SMTP_OCTETS_OK},
	    {"0123456789\r\n0123456789", 0, SMTP_OCTETS_OK},
	    {"0123456789x\r\n", 0, SMTP_OCTETS_LINE_TOO_LONG},
	    {"ab\r\n0123456789x", 0, SMTP_OCTETS_LINE_TOO_LONG},
	    /* the first problem is the one reported */
	    {"a\nb\rc\0", 6, SMTP_OCTETS_BARE_LF},
	    {"a\0\n", 3, SMTP_OCTETS_NUL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		const guint8 *data = (const guint8 *)cases[i].input;
		gsize len = cases[i].len != 0 ? cases[i].len : strlen (cases[i].input);

		g_test_message ("case %u", i);
		/* one octet at a time, then two, ... up to the whole */
		for (gsize piece = 1; piece <= MAX (len, 1); piece++)
			g_assert_cmpint (validate_in_pieces (data, len, piece, 10), ==, cases[i].status);
		/* and cut once at every offset, as two chunks */
		for (gsize cut = 0; cut <= len; cut++) {
			SmtpOctetValidator v;
			smtp_octet_validator_init (&v, 10);
			smtp_octet_validator_feed (&v, data, cut);
			smtp_octet_validator_feed (&v, data + cut, len - cut);
			g_assert_cmpint (smtp_octet_validator_finish (&v), ==, cases[i].status);
		}
	}
}

static void
test_octet_validator_real_limit (void)
{
	g_autoptr (GString) s = g_string_new (NULL);

	while (s->len < SMTP_DATA_MAX_LINE)
		g_string_append_c (s, 'x');
	g_string_append (s, "\r\n");
	g_assert_cmpint (validate_in_pieces ((const guint8 *)s->str, s->len, 7, SMTP_DATA_MAX_LINE), ==,
			 SMTP_OCTETS_OK);
	g_string_insert_c (s, 0, 'y');
	g_assert_cmpint (validate_in_pieces ((const guint8 *)s->str, s->len, 7, SMTP_DATA_MAX_LINE), ==,
			 SMTP_OCTETS_LINE_TOO_LONG);
}

/* ---- trace fields ----------------------------------------------------------------- */

static void
test_protocol (void)
{
	g_assert_cmpstr (smtp_data_protocol (FALSE, FALSE, FALSE, FALSE), ==, "SMTP");
	g_assert_cmpstr (smtp_data_protocol (FALSE, FALSE, TRUE, FALSE), ==, "SMTP");
	g_assert_cmpstr (smtp_data_protocol (TRUE, FALSE, FALSE, FALSE), ==, "ESMTP");
	g_assert_cmpstr (smtp_data_protocol (TRUE, FALSE, TRUE, FALSE), ==, "ESMTPS");
	g_assert_cmpstr (smtp_data_protocol (TRUE, FALSE, FALSE, TRUE), ==, "ESMTPA");
	g_assert_cmpstr (smtp_data_protocol (TRUE, FALSE, TRUE, TRUE), ==, "ESMTPSA");
	g_assert_cmpstr (smtp_data_protocol (TRUE, TRUE, FALSE, FALSE), ==, "UTF8SMTP");
	g_assert_cmpstr (smtp_data_protocol (TRUE, TRUE, TRUE, FALSE), ==, "UTF8SMTPS");
	g_assert_cmpstr (smtp_data_protocol (TRUE, TRUE, TRUE, TRUE), ==, "UTF8SMTPSA");
}

static void
test_received_header (void)
{
	g_autoptr (GDateTime) date = g_date_time_new_utc (2025, 3, 4, 5, 6, 7);
	SmtpReceivedInfo info = {
	    .helo = "client.example",
	    .peer_ip = "192.0.2.1",
	    .hostname = "mail.example.org",
	    .protocol = "ESMTPS",
	    .id = "abcdefghijkl",
	    .tls_version = "TLSv1.3",
	    .tls_cipher = "TLS_AES_256_GCM_SHA384",
	    .recipient = "bob@example.org",
	    .date = date,
	};
	g_autofree char *h1 = smtp_data_received_header (&info);
	g_autofree char *h2 = NULL;

	g_assert_cmpstr (h1, ==,
			 "Received: from client.example ([192.0.2.1])\r\n"
			 "\tby mail.example.org with ESMTPS id abcdefghijkl\r\n"
			 "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
			 "\tfor <bob@example.org>;\r\n"
			 "\tTue, 4 Mar 2025 05:06:07 +0000\r\n");
	info.peer_ip = "2001:db8::1";
	info.tls_version = NULL;
	info.recipient = NULL;
	info.protocol = "ESMTP";
	h2 = smtp_data_received_header (&info);
	g_assert_cmpstr (h2, ==,
			 "Received: from client.example ([IPv6:2001:db8::1])\r\n"
			 "\tby mail.example.org with ESMTP id abcdefghijkl;\r\n"
			 "\tTue, 4 Mar 2025 05:06:07 +0000\r\n");
}

static void
test_find_header (void)
{
	const char *msg = "From: a@example.org\r\n"
			  "Message-ID:\r\n <x@y>\r\n"
			  "Subject: one\r\n\ttwo\r\n"
			  "\r\n"
			  "Message-Id: <body@y>\r\n";
	const guint8 *m = (const guint8 *)msg;
	g_autofree char *mid = smtp_data_find_header (m, strlen (msg), "Message-Id");
	g_autofree char *subject = smtp_data_find_header (m, strlen (msg), "subject");
	g_autofree char *none = smtp_data_find_header (m, strlen (msg), "To");
	g_autofree char *from = smtp_data_find_header (m, strlen (msg), "From");

	g_assert_cmpstr (mid, ==, "<x@y>");
	g_assert_cmpstr (subject, ==, "one\ttwo");
	g_assert_null (none);
	g_assert_cmpstr (from, ==, "a@example.org");
}

static void
test_strip_auth_results (void)
{
	static const struct {
		const char *in;
		const char *out;
		guint removed;
	} cases[] = {
		{ "Subject: x\r\n\r\nbody\r\n", NULL, 0 },
		{ "Authentication-Results: mx.example.org; spf=pass\r\nSubject: x\r\n\r\nbody\r\n",
		  "Subject: x\r\n\r\nbody\r\n", 1 },
		{ "Subject: x\r\nauthentication-results :\r\n\t(c) MX.EXAMPLE.ORG;\r\n dkim=pass\r\nTo: y\r\n\r\nb\r\n",
		  "Subject: x\r\nTo: y\r\n\r\nb\r\n", 1 },
		{ "Authentication-Results: other.example.net; spf=pass\r\n"
		  "Authentication-Results: mx.example.org; spf=fail\r\n"
		  "Authentication-Results: mx.example.org; dkim=fail\r\n\r\n"
		  "Authentication-Results: mx.example.org; in the body\r\n",
		  "Authentication-Results: other.example.net; spf=pass\r\n\r\n"
		  "Authentication-Results: mx.example.org; in the body\r\n", 2 },
		{ "Authentication-Results-X: mx.example.org; x\r\n\r\n", NULL, 0 },
		{ "Authentication-Results: mx.example.org; none", "", 1 },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GBytes) in = g_bytes_new_static (cases[i].in, strlen (cases[i].in));
		guint removed = 99;
		g_autoptr (GBytes) out = smtp_data_strip_auth_results (in, "mx.example.org", &removed);
		gsize len;
		const char *data = g_bytes_get_data (out, &len);
		const char *want = cases[i].out != NULL ? cases[i].out : cases[i].in;

		g_assert_cmpuint (removed, ==, cases[i].removed);
		g_assert_cmpuint (len, ==, strlen (want));
		g_assert_true (memcmp (data, want, len) == 0);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/smtp-data/unstuffing", test_data_unstuffing);
	g_test_add_func ("/smtp-data/size-limit", test_data_size_limit);
	g_test_add_func ("/smtp-data/append", test_message_append);
	g_test_add_func ("/smtp-data/octet-validator", test_octet_validator);
	g_test_add_func ("/smtp-data/octet-validator-998", test_octet_validator_real_limit);
	g_test_add_func ("/smtp-data/protocol", test_protocol);
	g_test_add_func ("/smtp-data/received", test_received_header);
	g_test_add_func ("/smtp-data/find-header", test_find_header);
	g_test_add_func ("/smtp-data/strip-auth-results", test_strip_auth_results);
	return g_test_run ();
}
