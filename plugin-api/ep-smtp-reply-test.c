/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-error.h"
#include "ep-smtp-reply.h"

/*
 * Table of replies as a server sends them, line by line, and what the
 * parser must make of them: a reply (code, enhanced code, text), a
 * "need more" after the last line given, or an error naming the fault.
 */

typedef enum {
	WANT_REPLY,
	WANT_MORE,
	WANT_ERROR,
} Want;

typedef struct {
	const char *name;
	const char *lines[8];
	Want want;
	guint code;
	const char *enhanced;
	const char *text; /* the text, or for WANT_ERROR a piece of the message */
} Case;

static const Case cases[] = {
	/* single lines */
	{ "plain", { "250 OK" }, WANT_REPLY, 250, NULL, "OK" },
	{ "bare code", { "250" }, WANT_REPLY, 250, NULL, "" },
	{ "code and space", { "250 " }, WANT_REPLY, 250, NULL, "" },
	{ "greeting", { "220 mx.example.org ESMTP" }, WANT_REPLY, 220, NULL, "mx.example.org ESMTP" },
	{ "354", { "354 End data with <CR><LF>.<CR><LF>" }, WANT_REPLY, 354, NULL, "End data with <CR><LF>.<CR><LF>" },
	{ "tab in text", { "250 a\tb" }, WANT_REPLY, 250, NULL, "a\tb" },
	{ "utf-8 text", { "550 bo\xc3\xaete inconnue" }, WANT_REPLY, 550, NULL, "bo\xc3\xaete inconnue" },
	{ "599", { "599 odd" }, WANT_REPLY, 599, NULL, "odd" },
	{ "200", { "200 odd" }, WANT_REPLY, 200, NULL, "odd" },
	{ "text with spaces kept", { "250  two  spaces " }, WANT_REPLY, 250, NULL, " two  spaces " },
	/* enhanced status codes */
	{ "enhanced", { "550 5.1.1 User unknown" }, WANT_REPLY, 550, "5.1.1", "User unknown" },
	{ "enhanced alone", { "250 2.0.0" }, WANT_REPLY, 250, "2.0.0", "" },
	{ "enhanced three digits", { "451 4.123.456 x" }, WANT_REPLY, 451, "4.123.456", "x" },
	{ "enhanced four digits is text", { "451 4.1234.1 x" }, WANT_REPLY, 451, NULL, "4.1234.1 x" },
	{ "enhanced class mismatch", { "250 4.1.1 odd" }, WANT_REPLY, 250, NULL, "4.1.1 odd" },
	{ "enhanced class 3 is text", { "354 3.0.0 go ahead" }, WANT_REPLY, 354, NULL, "3.0.0 go ahead" },
	{ "enhanced glued to text", { "550 5.1.1User" }, WANT_REPLY, 550, NULL, "5.1.1User" },
	{ "enhanced missing detail", { "550 5.1. x" }, WANT_REPLY, 550, NULL, "5.1. x" },
	{ "enhanced class 6", { "550 6.1.1 x" }, WANT_REPLY, 550, NULL, "6.1.1 x" },
	{ "enhanced tab after", { "550 5.1.1\tx" }, WANT_REPLY, 550, NULL, "5.1.1\tx" },
	/* multi-line */
	{ "two lines", { "250-first", "250 second" }, WANT_REPLY, 250, NULL, "first\nsecond" },
	{ "empty continuation", { "250-", "250 last" }, WANT_REPLY, 250, NULL, "\nlast" },
	{ "ehlo",
	  { "250-mx.example.org Hello", "250-PIPELINING", "250-SIZE 1000", "250-8BITMIME", "250 CHUNKING" },
	  WANT_REPLY, 250, NULL, "mx.example.org Hello\nPIPELINING\nSIZE 1000\n8BITMIME\nCHUNKING" },
	{ "multi-line enhanced stripped from each",
	  { "550-5.1.1 The account", "550-5.1.1 does not", "550 5.1.1 exist" }, WANT_REPLY, 550, "5.1.1",
	  "The account\ndoes not\nexist" },
	{ "multi-line other code kept", { "550-5.1.1 first", "550 5.7.1 second" }, WANT_REPLY, 550, "5.1.1",
	  "first\n5.7.1 second" },
	{ "multi-line enhanced only later", { "550-first", "550 5.1.1 second" }, WANT_REPLY, 550, NULL,
	  "first\n5.1.1 second" },
	{ "unfinished", { "250-first", "250-second" }, WANT_MORE },
	{ "unfinished one", { "250-first" }, WANT_MORE },
	/* malformed */
	{ "empty line", { "" }, WANT_ERROR, 0, NULL, "does not start with a reply code" },
	{ "short", { "25" }, WANT_ERROR, 0, NULL, "does not start with a reply code" },
	{ "letters", { "abc hello" }, WANT_ERROR, 0, NULL, "does not start with a reply code" },
	{ "1yz", { "199 nope" }, WANT_ERROR, 0, NULL, "199 is not an SMTP reply code" },
	{ "6yz", { "600 nope" }, WANT_ERROR, 0, NULL, "600 is not an SMTP reply code" },
	{ "0yz", { "050 nope" }, WANT_ERROR, 0, NULL, "050 is not an SMTP reply code" },
	{ "four digits", { "2500 x" }, WANT_ERROR, 0, NULL, "followed by 0x30" },
	{ "glued text", { "250OK" }, WANT_ERROR, 0, NULL, "followed by 0x4f" },
	{ "tab after code", { "250\tOK" }, WANT_ERROR, 0, NULL, "followed by 0x09" },
	{ "codes differ", { "250-first", "550 second" }, WANT_ERROR, 0, NULL, "550 in a 250 reply" },
	{ "codes differ later", { "250-a", "250-b", "251 c" }, WANT_ERROR, 0, NULL, "251 in a 250 reply" },
	{ "control character", { "250 a\x01z" }, WANT_ERROR, 0, NULL, "octet 0x01 at offset 5" },
	{ "DEL", { "250 a\x7f" }, WANT_ERROR, 0, NULL, "octet 0x7f" },
	{ "escape", { "250 \x1b[31mred" }, WANT_ERROR, 0, NULL, "octet 0x1b" },
	{ "CR inside", { "250 a\rb" }, WANT_ERROR, 0, NULL, "octet 0x0d" },
	{ "LF inside", { "250 a\nb" }, WANT_ERROR, 0, NULL, "octet 0x0a" },
	{ "truncated utf-8", { "250 caf\xc3" }, WANT_ERROR, 0, NULL, "octet 0xc3 at offset 7" },
	{ "overlong utf-8", { "250 \xc0\xaf" }, WANT_ERROR, 0, NULL, "octet 0xc0" },
	{ "lone continuation", { "250 \x80" }, WANT_ERROR, 0, NULL, "octet 0x80" },
	{ "surrogate", { "250 \xed\xa0\x80" }, WANT_ERROR, 0, NULL, "octet 0xed" },
	{ "latin-1", { "250 caf\xe9 noir" }, WANT_ERROR, 0, NULL, "octet 0xe9" },
	{ "bad line ends a reply in progress", { "250-first", "hello" }, WANT_ERROR, 0, NULL,
	  "does not start with a reply code" },
};

static void
feed_case (EpSmtpReplyParser *parser, const Case *c)
{
	g_autoptr(EpSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	gboolean done = FALSE;
	guint i;

	for (i = 0; i < G_N_ELEMENTS (c->lines) && c->lines[i] != NULL; i++) {
		g_assert_false (done);
		g_assert_no_error (error);
		done = ep_smtp_reply_parser_feed (parser, c->lines[i], strlen (c->lines[i]), &reply, &error);
		if (error != NULL)
			break;
		if (!done)
			g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, i + 1);
	}
	switch (c->want) {
	case WANT_REPLY:
		g_assert_no_error (error);
		g_assert_true (done);
		g_assert_nonnull (reply);
		g_assert_cmpuint (reply->code, ==, c->code);
		g_assert_cmpstr (reply->enhanced, ==, c->enhanced);
		g_assert_cmpstr (reply->text, ==, c->text);
		g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, 0);
		break;
	case WANT_MORE:
		g_assert_no_error (error);
		g_assert_false (done);
		g_assert_null (reply);
		break;
	case WANT_ERROR:
		g_assert_false (done);
		g_assert_null (reply);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		if (strstr (error->message, c->text) == NULL)
			g_error ("%s: '%s' does not say '%s'", c->name, error->message, c->text);
		/* the parser starts afresh */
		g_assert_cmpuint (ep_smtp_reply_parser_get_pending_lines (parser), ==, 0);
		/* every line was needed to find the fault */
		g_assert_true (i + 1 == G_N_ELEMENTS (c->lines) || c->lines[i + 1] == NULL);
		break;
	}
}

static void
test_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();
		g_test_message ("case %s", cases[i].name);
		feed_case (parser, &cases[i]);
	}
}

/* One parser through every case in a row: nothing of one leaks into the
 * next (after an unfinished one, reset). */
static void
test_table_one_parser (void)
{
	g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		feed_case (parser, &cases[i]);
		if (cases[i].want == WANT_MORE)
			ep_smtp_reply_parser_reset (parser);
	}
}

/* Lines are taken by length, not up to a NUL: a line in the middle of a
 * buffer, and a NUL inside the text, refused. */
static void
test_length (void)
{
	g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();
	g_autoptr(EpSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	const char buf[] = "250 OKtrailing";
	const char nul[] = "250 a\0b";

	g_assert_true (ep_smtp_reply_parser_feed (parser, buf, 6, &reply, &error));
	g_assert_cmpstr (reply->text, ==, "OK");
	g_clear_pointer (&reply, ep_smtp_reply_free);
	g_assert_false (ep_smtp_reply_parser_feed (parser, nul, sizeof (nul) - 1, &reply, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "octet 0x00 at offset 5"));
}

static void
test_limits (void)
{
	g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();
	g_autoptr(EpSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *longest = g_strnfill (EP_SMTP_REPLY_MAX_LINE, 'x');
	g_autofree char *too_long = g_strnfill (EP_SMTP_REPLY_MAX_LINE + 1, 'x');
	g_autofree char *line = NULL;
	guint i;

	/* the longest line passes, one more octet does not */
	memcpy (longest, "250 ", 4);
	memcpy (too_long, "250 ", 4);
	g_assert_true (ep_smtp_reply_parser_feed (parser, longest, strlen (longest), &reply, &error));
	g_assert_cmpuint (strlen (reply->text), ==, EP_SMTP_REPLY_MAX_LINE - 4);
	g_clear_pointer (&reply, ep_smtp_reply_free);
	g_assert_false (ep_smtp_reply_parser_feed (parser, too_long, strlen (too_long), &reply, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "more than 1000 octets"));
	g_clear_error (&error);

	/* as many lines as allowed, then one more is refused */
	for (i = 0; i < EP_SMTP_REPLY_MAX_LINES; i++) {
		g_assert_false (ep_smtp_reply_parser_feed (parser, "250-x", 5, &reply, &error));
		g_assert_no_error (error);
	}
	g_assert_false (ep_smtp_reply_parser_feed (parser, "250 x", 5, &reply, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "more than 1000 lines"));
	g_clear_error (&error);
	for (i = 0; i + 1 < EP_SMTP_REPLY_MAX_LINES; i++)
		g_assert_false (ep_smtp_reply_parser_feed (parser, "250-x", 5, &reply, &error));
	g_assert_true (ep_smtp_reply_parser_feed (parser, "250 x", 5, &reply, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (strlen (reply->text), ==, 2 * EP_SMTP_REPLY_MAX_LINES - 1);
	g_clear_pointer (&reply, ep_smtp_reply_free);

	/* the total text is bounded below lines x line length */
	line = g_strnfill (EP_SMTP_REPLY_MAX_LINE, 'y');
	memcpy (line, "250-", 4);
	for (i = 0; i < EP_SMTP_REPLY_MAX_LINES; i++) {
		if (ep_smtp_reply_parser_feed (parser, line, strlen (line), &reply, &error) || error != NULL)
			break;
	}
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "octets of text"));
	g_assert_cmpuint (i, ==, EP_SMTP_REPLY_MAX_TEXT / (EP_SMTP_REPLY_MAX_LINE - 3));
}

static void
test_reply_object (void)
{
	g_autoptr(EpSmtpReply) reply = ep_smtp_reply_new (552, "5.3.4", "Too big");
	g_autoptr(EpSmtpReply) copy = NULL;
	g_autoptr(EpSmtpReply) bare = ep_smtp_reply_new (250, NULL, NULL);
	g_autoptr(EpSmtpReply) multi = NULL;
	g_autoptr(EpSmtpReplyParser) parser = ep_smtp_reply_parser_new ();
	g_autoptr(GError) error = NULL;
	g_autofree char *s1 = NULL;
	g_autofree char *s2 = NULL;
	g_autofree char *s3 = NULL;

	s1 = ep_smtp_reply_to_string (reply);
	g_assert_cmpstr (s1, ==, "552 5.3.4 Too big");
	g_assert_true (ep_smtp_reply_is_permanent (reply));
	g_assert_false (ep_smtp_reply_is_transient (reply));
	g_assert_false (ep_smtp_reply_is_positive (reply));
	copy = ep_smtp_reply_copy (reply);
	g_assert_true (copy != reply && copy->text != reply->text);
	g_assert_cmpuint (copy->code, ==, 552);
	g_assert_cmpstr (copy->enhanced, ==, "5.3.4");
	g_assert_cmpstr (copy->text, ==, "Too big");
	s2 = ep_smtp_reply_to_string (bare);
	g_assert_cmpstr (s2, ==, "250");
	g_assert_true (ep_smtp_reply_is_positive (bare));

	g_assert_false (ep_smtp_reply_parser_feed (parser, "451-4.7.1 Greylisted", 20, &multi, &error));
	g_assert_true (ep_smtp_reply_parser_feed (parser, "451 4.7.1 come back later", 25, &multi, &error));
	s3 = ep_smtp_reply_to_string (multi);
	g_assert_cmpstr (s3, ==, "451 4.7.1 Greylisted come back later");
	g_assert_true (ep_smtp_reply_is_transient (multi));

	/* a boxed type for GValue and signals */
	g_assert_true (G_TYPE_IS_BOXED (EP_TYPE_SMTP_REPLY));
}

static void
test_enhanced_scan (void)
{
	static const struct {
		const char *text;
		gsize len;
	} scans[] = {
		{ "2.0.0", 5 },	   { "5.1.1 x", 5 },  { "4.7.1\t", 0 }, { "5.10.100 x", 8 }, { "5.1", 0 },
		{ "5..1", 0 },	   { "3.0.0", 0 },    { "5.1.1x", 0 },	{ "5.1111.1", 0 },   { "5.1.1111", 0 },
		{ "x5.1.1", 0 },   { "", 0 },	      { "5.1.", 0 },	{ "4.000.000 y", 9 },
	};

	for (guint i = 0; i < G_N_ELEMENTS (scans); i++) {
		gsize got = ep_smtp_enhanced_code_scan (scans[i].text, strlen (scans[i].text));
		if (got != scans[i].len)
			g_error ("'%s': %" G_GSIZE_FORMAT " instead of %" G_GSIZE_FORMAT, scans[i].text, got,
				 scans[i].len);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/smtp-reply/table", test_table);
	g_test_add_func ("/smtp-reply/table-one-parser", test_table_one_parser);
	g_test_add_func ("/smtp-reply/length", test_length);
	g_test_add_func ("/smtp-reply/limits", test_limits);
	g_test_add_func ("/smtp-reply/object", test_reply_object);
	g_test_add_func ("/smtp-reply/enhanced-scan", test_enhanced_scan);
	return g_test_run ();
}
