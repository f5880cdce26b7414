/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-error.h"
#include "ep-mime.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */
/* ------------------------------------------------------------------------ */

static char *
slice (const char *raw, gsize offset, gsize length)
{
	return g_strndup (raw + offset, length);
}

static char *
part_header (const char *raw, const EpMimePart *part)
{
	return slice (raw, ep_mime_part_get_header_offset (part), ep_mime_part_get_header_length (part));
}

static char *
part_body (const char *raw, const EpMimePart *part)
{
	return slice (raw, ep_mime_part_get_body_offset (part), ep_mime_part_get_body_length (part));
}

static EpMimePart *
lookup (EpMimeMessage *msg, const char *section)
{
	EpMimePart *part = ep_mime_message_lookup_part (msg, section);

	if (part == NULL)
		g_error ("no part %s", section);
	return part;
}

/* parse, and check that the structure survives serialization unchanged */
static EpMimeMessage *
parse (const char *raw, gsize len)
{
	g_autoptr(GError) error = NULL;
	EpMimeMessage *msg = ep_mime_message_parse (raw, len);
	g_autoptr(GBytes) bytes = ep_mime_message_serialize (msg);
	g_autoptr(EpMimeMessage) copy = ep_mime_message_deserialize (bytes, &error);
	g_autoptr(GBytes) again = NULL;
	g_autofree char *bs1 = NULL;
	g_autofree char *bs2 = NULL;

	g_assert_no_error (error);
	g_assert_nonnull (copy);
	again = ep_mime_message_serialize (copy);
	g_assert_true (g_bytes_equal (bytes, again));
	bs1 = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (msg), TRUE);
	bs2 = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (copy), TRUE);
	g_assert_cmpstr (bs1, ==, bs2);
	return msg;
}

static EpMimeMessage *
parse_str (const char *raw)
{
	return parse (raw, strlen (raw));
}

static char *
bodystructure (const char *raw, gboolean extended)
{
	g_autoptr(EpMimeMessage) msg = parse_str (raw);

	return ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (msg), extended);
}

static char *
envelope (const char *raw)
{
	g_autoptr(EpMimeMessage) msg = parse_str (raw);

	return ep_mime_envelope_to_imap (ep_mime_part_get_envelope (ep_mime_message_get_root (msg)));
}

/* the same message with bare LF line endings */
static char *
to_lf (const char *crlf)
{
	GString *out = g_string_new (NULL);

	for (const char *p = crlf; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n')
			continue;
		g_string_append_c (out, *p);
	}
	return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* structure and offsets                                                    */
/* ------------------------------------------------------------------------ */

static const char nested_msg[] =
	"From: a@example.com\r\n"
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--outer\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"first\r\n"
	"\r\n"
	"--outer\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/alternative; boundary=inner\r\n"
	"\r\n"
	"--inner\r\n"
	"\r\n"
	"plain\r\n"
	"--inner\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>html</p>\r\n"
	"--inner--\r\n"
	"inner epilogue\r\n"
	"--outer\r\n"
	"Content-Type: multipart/related; boundary=rel\r\n"
	"\r\n"
	"--rel\r\n"
	"Content-Type: image/png\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"iVBORw==\r\n"
	"--rel--\r\n"
	"--outer--\r\n"
	"epilogue\r\n";

typedef struct {
	const char *section;
	const char *type;
	const char *header;
	const char *body;
} PartCase;

static const PartCase nested_parts[] = {
	{ "1", "text/plain", "Content-Type: text/plain; charset=utf-8\r\n\r\n", "first\r\n" },
	{ "2", "message/rfc822", "Content-Type: message/rfc822\r\n\r\n",
	  "Subject: inner\r\n"
	  "Content-Type: multipart/alternative; boundary=inner\r\n"
	  "\r\n"
	  "--inner\r\n"
	  "\r\n"
	  "plain\r\n"
	  "--inner\r\n"
	  "Content-Type: text/html\r\n"
	  "\r\n"
	  "<p>html</p>\r\n"
	  "--inner--\r\n"
	  "inner epilogue" },
	{ "2.1", "text/plain", "\r\n", "plain" },
	{ "2.2", "text/html", "Content-Type: text/html\r\n\r\n", "<p>html</p>" },
	{ "3", "multipart/related", "Content-Type: multipart/related; boundary=rel\r\n\r\n",
	  "--rel\r\n"
	  "Content-Type: image/png\r\n"
	  "Content-Transfer-Encoding: base64\r\n"
	  "\r\n"
	  "iVBORw==\r\n"
	  "--rel--" },
	{ "3.1", "image/png", "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n", "iVBORw==" },
};

static void
check_nested (const char *raw, gboolean crlf)
{
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	EpMimePart *root = ep_mime_message_get_root (msg);
	EpMimePart *rfc822 = lookup (msg, "2");
	EpMimePart *inner = ep_mime_part_get_message (rfc822);
	g_autofree char *hdr = part_header (raw, root);
	g_autofree char *inner_hdr = NULL;
	g_autofree char *inner_body = NULL;
	g_autofree char *expect_hdr = NULL;

	g_assert_cmpuint (ep_mime_message_get_n_parts (msg), ==, 8);
	g_assert_cmpint (ep_mime_message_get_flags (msg), ==, 0);
	g_assert_cmpuint (ep_mime_message_get_size (msg), ==, strlen (raw));
	expect_hdr = crlf ? g_strdup ("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
			  : to_lf ("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n");
	g_assert_cmpstr (hdr, ==, expect_hdr);
	g_assert_cmpuint (ep_mime_part_get_header_offset (root), ==, 0);
	/* the root body is everything after the header, epilogue included */
	g_assert_cmpuint (ep_mime_part_get_body_offset (root), ==, strlen (expect_hdr));
	g_assert_cmpuint (ep_mime_part_get_body_length (root), ==, strlen (raw) - strlen (expect_hdr));
	g_assert_cmpstr (ep_mime_part_get_section (root), ==, "");
	g_assert_cmpuint (ep_mime_part_get_n_children (root), ==, 3);

	for (guint i = 0; i < G_N_ELEMENTS (nested_parts); i++) {
		const PartCase *c = &nested_parts[i];
		EpMimePart *part = lookup (msg, c->section);
		g_autofree char *type = g_strdup_printf ("%s/%s",
							 ep_mime_part_get_content_type (part),
							 ep_mime_part_get_content_subtype (part));
		g_autofree char *h = part_header (raw, part);
		g_autofree char *b = part_body (raw, part);
		g_autofree char *eh = crlf ? g_strdup (c->header) : to_lf (c->header);
		g_autofree char *eb = crlf ? g_strdup (c->body) : to_lf (c->body);
		g_test_message ("part %s", c->section);
		g_assert_cmpstr (type, ==, c->type);
		g_assert_cmpstr (h, ==, eh);
		g_assert_cmpstr (b, ==, eb);
		g_assert_cmpstr (ep_mime_part_get_section (part), ==, c->section);
	}

	/* the embedded message: BODY[2.HEADER] and BODY[2.TEXT] */
	g_assert_nonnull (inner);
	g_assert_cmpstr (ep_mime_part_get_section (inner), ==, "2");
	g_assert_nonnull (ep_mime_part_get_envelope (inner));
	g_assert_cmpstr (ep_mime_envelope_get_subject (ep_mime_part_get_envelope (inner)), ==, "inner");
	inner_hdr = part_header (raw, inner);
	inner_body = part_body (raw, inner);
	g_assert_true (g_str_has_prefix (inner_hdr, "Subject: inner"));
	g_assert_true (g_str_has_suffix (inner_hdr, crlf ? "boundary=inner\r\n\r\n" : "boundary=inner\n\n"));
	g_assert_true (g_str_has_prefix (inner_body, "--inner"));
	g_assert_true (g_str_has_suffix (inner_body, "inner epilogue"));
	g_assert_cmpuint (ep_mime_part_get_header_offset (inner), ==, ep_mime_part_get_body_offset (rfc822));
	g_assert_cmpuint (ep_mime_part_get_body_offset (inner) + ep_mime_part_get_body_length (inner),
			  ==,
			  ep_mime_part_get_body_offset (rfc822) + ep_mime_part_get_body_length (rfc822));

	/* line counts and decoded sizes */
	g_assert_cmpuint (ep_mime_part_get_body_lines (lookup (msg, "1")), ==, 1);
	g_assert_cmpuint (ep_mime_part_get_body_lines (rfc822), ==, 12);
	g_assert_cmpuint (ep_mime_part_get_body_lines (lookup (msg, "2.1")), ==, 1);
	g_assert_cmpuint (ep_mime_part_get_decoded_size (lookup (msg, "3.1")), ==, 4);
	g_assert_cmpuint (ep_mime_part_get_decoded_size (lookup (msg, "1")), ==, crlf ? 7 : 6);
}

static void
test_mime_offsets_nested (void)
{
	g_autofree char *lf = to_lf (nested_msg);

	check_nested (nested_msg, TRUE);
	check_nested (lf, FALSE);
}

typedef struct {
	const char *section;
	const char *body; /* NULL: no such part */
} LookupCase;

static void
test_mime_numbering (void)
{
	static const char simple[] = "Subject: s\r\n\r\nbody\r\n";
	static const char forwarded[] =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"\r\n"
		"text\r\n"
		"--b\r\n"
		"Content-Type: message/rfc822\r\n"
		"\r\n"
		"Subject: fwd\r\n"
		"\r\n"
		"fwd body\r\n"
		"--b--\r\n";
	static const LookupCase nested_cases[] = {
		{ "1", "first\r\n" }, { "2.1", "plain" }, { "2.2", "<p>html</p>" }, { "3.1", "iVBORw==" },
		{ "4", NULL },        { "2.3", NULL },    { "1.1", NULL },          { "0", NULL },
		{ "01", NULL },       { "1.", NULL },     { ".1", NULL },           { "2..1", NULL },
		{ "x", NULL },        { "99999999999999999999", NULL },              { "3.1.1", NULL },
	};
	static const LookupCase forwarded_cases[] = {
		{ "1", "text" }, { "2.1", "fwd body" }, { "2.2", NULL }, { "2.1.1", NULL }, { "3", NULL },
	};
	g_autoptr(EpMimeMessage) msg = parse_str (nested_msg);
	g_autoptr(EpMimeMessage) msg_simple = parse_str (simple);
	g_autoptr(EpMimeMessage) msg_fwd = parse_str (forwarded);
	EpMimePart *part;
	g_autofree char *body = NULL;

	for (guint i = 0; i < G_N_ELEMENTS (nested_cases); i++) {
		g_autofree char *b = NULL;
		part = ep_mime_message_lookup_part (msg, nested_cases[i].section);
		if (nested_cases[i].body == NULL) {
			g_assert_null (part);
			continue;
		}
		g_assert_nonnull (part);
		b = part_body (nested_msg, part);
		g_assert_cmpstr (b, ==, nested_cases[i].body);
	}
	for (guint i = 0; i < G_N_ELEMENTS (forwarded_cases); i++) {
		g_autofree char *b = NULL;
		part = ep_mime_message_lookup_part (msg_fwd, forwarded_cases[i].section);
		if (forwarded_cases[i].body == NULL) {
			g_assert_null (part);
			continue;
		}
		g_assert_nonnull (part);
		b = part_body (forwarded, part);
		g_assert_cmpstr (b, ==, forwarded_cases[i].body);
		g_assert_cmpstr (ep_mime_part_get_section (part), ==, forwarded_cases[i].section);
	}
	/* a message that is not multipart has its body as part 1 */
	part = lookup (msg_simple, "1");
	g_assert_true (part == ep_mime_message_get_root (msg_simple));
	g_assert_cmpstr (ep_mime_part_get_section (part), ==, "1");
	body = part_body (simple, part);
	g_assert_cmpstr (body, ==, "body\r\n");
	g_assert_null (ep_mime_message_lookup_part (msg_simple, "2"));
	g_assert_true (ep_mime_message_lookup_part (msg_simple, "") == ep_mime_message_get_root (msg_simple));
}

/* ------------------------------------------------------------------------ */
/* BODYSTRUCTURE                                                            */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *name;
	const char *message;
	const char *body;          /* BODY */
	const char *bodystructure; /* BODYSTRUCTURE */
} BodyCase;

static const BodyCase body_cases[] = {
	{ "default text/plain",
	  "Subject: x\r\n\r\nab\r\ncd\r\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 2)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 2 NIL NIL NIL NIL)" },
	{ "rfc 9051 multipart example",
	  "MIME-Version: 1.0\r\n"
	  "Content-Type: MULTIPART/MIXED; BOUNDARY=\"=_b\"\r\n"
	  "\r\n"
	  "--=_b\r\n"
	  "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	  "\r\n"
	  "line one\r\n"
	  "line two\r\n"
	  "--=_b\r\n"
	  "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
	  "Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
	  "Content-Description: Compiler diff\r\n"
	  "Content-Transfer-Encoding: BASE64\r\n"
	  "\r\n"
	  "SGVsbG8=\r\n"
	  "--=_b--\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 18 2)"
	  "(\"text\" \"plain\" (\"charset\" \"US-ASCII\" \"name\" \"cc.diff\") "
	  "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"base64\" 8 1) \"mixed\")",
	  "((\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 18 2 NIL NIL NIL NIL)"
	  "(\"text\" \"plain\" (\"charset\" \"US-ASCII\" \"name\" \"cc.diff\") "
	  "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"base64\" 8 1 NIL NIL NIL NIL) "
	  "\"mixed\" (\"boundary\" \"=_b\") NIL NIL NIL)" },
	{ "extension fields",
	  "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
	  "Content-Disposition: attachment; filename=\"a.pdf\"; size=3\r\n"
	  "Content-Language: en, de\r\n"
	  "Content-Location: http://x.test/a.pdf\r\n"
	  "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	  "Content-Transfer-Encoding: base64\r\n"
	  "\r\n"
	  "YWJj\r\n",
	  "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 6)",
	  "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 6 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
	  "(\"attachment\" (\"filename\" \"a.pdf\" \"size\" \"3\")) (\"en\" \"de\") \"http://x.test/a.pdf\")" },
	{ "one language, inline without parameters",
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Disposition: inline\r\n"
	  "Content-Language: en\r\n"
	  "\r\n"
	  "x",
	  "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 1 1)",
	  "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 1 1 NIL (\"inline\" NIL) \"en\" NIL)" },
	{ "message/rfc822",
	  "Content-Type: multipart/mixed; boundary=b\r\n"
	  "\r\n"
	  "--b\r\n"
	  "Content-Type: message/rfc822\r\n"
	  "\r\n"
	  "Subject: hi\r\n"
	  "From: a@b.c\r\n"
	  "\r\n"
	  "body\r\n"
	  "--b--\r\n",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 32 "
	  "(NIL \"hi\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL) "
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1) 4) \"mixed\")",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 32 "
	  "(NIL \"hi\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL) "
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) "
	  "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)" },
	{ "8-bit and quotes: literals and escapes",
	  "Content-Type: text/plain; name=\"say \\\"hi\\\"\"\r\n"
	  "Content-Description: Caf\xc3\xa9\r\n"
	  "\r\n",
	  "(\"text\" \"plain\" (\"name\" \"say \\\"hi\\\"\") NIL {5}\r\nCaf\xc3\xa9 \"7bit\" 0 0)",
	  NULL },
	{ "multipart without any delimiter",
	  "Content-Type: multipart/mixed; boundary=nope\r\n\r\njust text\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
	  NULL },
	{ "multipart without boundary parameter",
	  "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\ntext\r\n--x--\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
	  NULL },
	{ "message/rfc822 in base64 stays opaque",
	  "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQo=\r\n",
	  "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)",
	  NULL },
	{ "invalid content-type is text/plain",
	  "Content-Type: garbage\r\n\r\nx\r\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
	  NULL },
	{ "digest parts default to message/rfc822",
	  "Content-Type: multipart/digest; boundary=d\r\n"
	  "\r\n"
	  "--d\r\n"
	  "\r\n"
	  "Subject: one\r\n"
	  "\r\n"
	  "1\r\n"
	  "--d--\r\n",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 "
	  "(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1) 3) \"digest\")",
	  NULL },
};

static void
test_mime_bodystructure (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (body_cases); i++) {
		const BodyCase *c = &body_cases[i];
		g_autofree char *body = bodystructure (c->message, FALSE);
		g_test_message ("case: %s", c->name);
		g_assert_cmpstr (body, ==, c->body);
		if (c->bodystructure != NULL) {
			g_autofree char *bs = bodystructure (c->message, TRUE);
			g_assert_cmpstr (bs, ==, c->bodystructure);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* ENVELOPE and addresses                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *name;
	const char *header;
	const char *envelope;
} EnvelopeCase;

static const EnvelopeCase envelope_cases[] = {
	{ "rfc 9051 example",
	  "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
	  "From: Terry Gray <gray@cac.washington.edu>\r\n"
	  "Subject: IMAP4rev2 WG mtg summary and minutes\r\n"
	  "To: imap@cac.washington.edu\r\n"
	  "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
	  "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
	  "MIME-Version: 1.0\r\n"
	  "\r\n",
	  "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary and minutes\" "
	  "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	  "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	  "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	  "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	  "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) "
	  "NIL NIL \"<B27397-0100000@cac.washington.edu>\")" },
	{ "nothing at all",
	  "X-Other: 1\r\n\r\n",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "empty fields, explicit sender and reply-to, folding",
	  "Subject:\r\n"
	  "From: Joe <joe@a.test>\r\n"
	  "Sender: list@b.test\r\n"
	  "Reply-To: \"Ann\r\n B\" <ann@c.test>\r\n"
	  "To:\r\n"
	  "Bcc: x@d.test\r\n"
	  "In-Reply-To: <1@a.test>\r\n"
	  "\r\n",
	  "(NIL \"\" ((\"Joe\" NIL \"joe\" \"a.test\")) ((NIL NIL \"list\" \"b.test\")) "
	  "((\"Ann B\" NIL \"ann\" \"c.test\")) NIL NIL ((NIL NIL \"x\" \"d.test\")) \"<1@a.test>\" NIL)" },
	{ "rfc 5322 group",
	  "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
	  "Cc: Undisclosed recipients:;\r\n"
	  "\r\n",
	  "(NIL NIL NIL NIL NIL "
	  "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")"
	  "(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) "
	  "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)" },
	{ "rfc 5322 obsolete forms and comments",
	  "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
	  "To:A Group(Some people)\r\n"
	  "     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
	  "         joe@example.org,\r\n"
	  "  John <jdoe@one.test> (my dear friend); (the end of the group)\r\n"
	  "Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n"
	  "\r\n",
	  "(NIL NIL ((\"Pete\" NIL \"pete\" \"silly.test\")) ((\"Pete\" NIL \"pete\" \"silly.test\")) "
	  "((\"Pete\" NIL \"pete\" \"silly.test\")) "
	  "((NIL NIL \"A Group\" NIL)(\"Chris Jones\" NIL \"c\" \"public.example\")(NIL NIL \"joe\" \"example.org\")"
	  "(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) "
	  "((NIL NIL \"Hidden recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)" },
	{ "routes, comment names, quoted local parts, missing domain",
	  "From: <@node.test,@node2.test:jdoe@one.test>\r\n"
	  "To: jdoe@example.com (John Doe), \"john doe\"@example.com, localuser, \"Doe, John\" <jd@x.test>\r\n"
	  "Cc: \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>, John  Q.  Public <jqp@x.test>\r\n"
	  "\r\n",
	  "(NIL NIL ((NIL \"@node.test,@node2.test\" \"jdoe\" \"one.test\")) "
	  "((NIL \"@node.test,@node2.test\" \"jdoe\" \"one.test\")) "
	  "((NIL \"@node.test,@node2.test\" \"jdoe\" \"one.test\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"example.com\")(NIL NIL \"\\\"john doe\\\"\" \"example.com\")"
	  "(NIL NIL \"localuser\" \"MISSING_DOMAIN\")(\"Doe, John\" NIL \"jd\" \"x.test\")) "
	  "((\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")(\"John Q. Public\" NIL \"jqp\" \"x.test\")) "
	  "NIL NIL NIL)" },
	{ "encoded words stay encoded, 8-bit becomes a literal",
	  "Subject: =?utf-8?q?caf=C3=A9?=\r\n"
	  "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
	  "To: Caf\xc3\xa9 <c@x.test>\r\n"
	  "\r\n",
	  "(NIL \"=?utf-8?q?caf=C3=A9?=\" ((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) "
	  "((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) "
	  "((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) "
	  "(({5}\r\nCaf\xc3\xa9 NIL \"c\" \"x.test\")) NIL NIL NIL NIL)" },
	{ "first of duplicate fields, broken lines ignored",
	  "Subject: one\r\n"
	  "Subject: two\r\n"
	  "this line has no colon\r\n"
	  "From: a@b.test, , ,\r\n"
	  "\r\n",
	  "(NIL \"one\" ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) "
	  "NIL NIL NIL NIL NIL)" },
};

static void
test_mime_envelope (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (envelope_cases); i++) {
		g_autofree char *env = envelope (envelope_cases[i].header);
		g_test_message ("case: %s", envelope_cases[i].name);
		g_assert_cmpstr (env, ==, envelope_cases[i].envelope);
	}
}

static void
test_mime_envelope_accessors (void)
{
	static const char header[] = "Subject:  spaced  \r\nTo: a@b.test\r\n\r\nbody";
	g_autoptr(EpMimeEnvelope) env = ep_mime_envelope_new_from_headers (header, strlen (header));
	EpMimeAddress *addr;

	g_assert_cmpstr (ep_mime_envelope_get_subject (env), ==, "spaced");
	g_assert_null (ep_mime_envelope_get_date (env));
	g_assert_null (ep_mime_envelope_get_from (env));
	g_assert_null (ep_mime_envelope_get_sender (env));
	g_assert_null (ep_mime_envelope_get_reply_to (env));
	g_assert_null (ep_mime_envelope_get_cc (env));
	g_assert_null (ep_mime_envelope_get_bcc (env));
	g_assert_null (ep_mime_envelope_get_in_reply_to (env));
	g_assert_null (ep_mime_envelope_get_message_id (env));
	g_assert_cmpuint (ep_mime_envelope_get_to (env)->len, ==, 1);
	addr = g_ptr_array_index (ep_mime_envelope_get_to (env), 0);
	g_assert_null (addr->name);
	g_assert_null (addr->route);
	g_assert_cmpstr (addr->mailbox, ==, "a");
	g_assert_cmpstr (addr->host, ==, "b.test");
}

/* ------------------------------------------------------------------------ */
/* RFC 2047                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *in;
	const char *out;
} StrCase;

static const StrCase rfc2047_cases[] = {
	/* RFC 2047 section 8 */
	{ "From: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "From: Keith Moore <moore@cs.utk.edu>" },
	{ "To: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "To: Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>" },
	{ "CC: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", "CC: Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>" },
	{ "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
	  "If you can read this you understand the example." },
	{ "Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n    (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
	  "Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n    (\xd7\x9d\xd7\x95\xd7\x9c\xd7\xa9 \xd7\x9f\xd7\x91 "
	  "\xd7\x99\xd7\x9c\xd7\x98\xd7\xa4\xd7\xa0)" },
	{ "(=?ISO-8859-1?Q?a?=)", "(a)" },
	{ "(=?ISO-8859-1?Q?a?= b)", "(a b)" },
	{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a_b?=)", "(a b)" },
	{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)" },
	/* RFC 2231 section 5: a language */
	{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
	/* a character split over two words */
	{ "=?utf-8?q?=C3?= =?utf-8?q?=A9t=C3=A9?=", "\xc3\xa9t\xc3\xa9" },
	{ "=?UTF-8?B?w6k=?==?UTF-8?B?w6k=?=", "\xc3\xa9\xc3\xa9" },
	/* text between words keeps its space */
	{ "=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b" },
	/* lenient: lowercase, glued to text, missing padding */
	{ "re:=?utf-8?b?w6k?=!", "re:\xc3\xa9!" },
	{ "=?utf-8?Q?=c3=a9?=", "\xc3\xa9" },
	/* not encoded words */
	{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
	{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
	{ "=?utf-8?q?has space?=", "=?utf-8?q?has space?=" },
	{ "=??q?a?=", "=??q?a?=" },
	{ "a =? b ?= c", "a =? b ?= c" },
	/* unknown charset, invalid bytes, raw 8-bit */
	{ "=?x-bogus?q?caf=E9?=", "caf\xc3\xa9" },
	{ "=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b" },
	{ "caf\xe9", "caf\xc3\xa9" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "=?windows-1252?q?=80?=", "\xe2\x82\xac" },
	{ "=?iso-8859-1?q?=80?=", "\xe2\x82\xac" },
	{ "=?utf-8?q?a=00b?=", "a\xef\xbf\xbd" "b" },
	{ "", "" },
};

static void
test_mime_rfc2047 (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (rfc2047_cases); i++) {
		g_autofree char *out = ep_mime_decode_encoded_words (rfc2047_cases[i].in, strlen (rfc2047_cases[i].in));
		g_autofree char *escaped = g_strescape (rfc2047_cases[i].in, NULL);
		g_test_message ("case %u: %s", i, escaped);
		g_assert_cmpstr (out, ==, rfc2047_cases[i].out);
		g_assert_true (g_utf8_validate (out, -1, NULL));
	}
}

static void
test_mime_charset (void)
{
	static const struct {
		const char *charset;
		const char *in;
		gssize len;
		const char *out;
	} cases[] = {
		{ "iso-8859-2", "\xb1", -1, "\xc4\x85" },
		{ "KOI8-R", "\xf0\xd2\xc9", -1, "\xd0\x9f\xd1\x80\xd0\xb8" },
		{ "utf-16le", "a\0b\0", 4, "ab" },
		{ "utf-8", "ok\xff", -1, "ok\xef\xbf\xbd" },
		{ "us-ascii", "caf\xc3\xa9", -1, "caf\xc3\xa9" },
		{ "us-ascii", "caf\xe9", -1, "caf\xc3\xa9" },
		{ "no-such-charset", "caf\xe9", -1, "caf\xc3\xa9" },
		{ "../../etc/passwd", "x", -1, "x" },
		{ NULL, "a\0b", 3, "a\xef\xbf\xbd" "b" },
		{ "shift_jis", "\x82\xa0", -1, "\xe3\x81\x82" },
		{ "shift_jis", "\x82", -1, "\xef\xbf\xbd" },
		{ "iso-2022-jp", "\x1b$B$\"\x1b(B", -1, "\xe3\x81\x82" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gsize len = cases[i].len < 0 ? strlen (cases[i].in) : (gsize) cases[i].len;
		g_autofree char *out = ep_mime_charset_to_utf8 (cases[i].charset, cases[i].in, len);
		g_test_message ("case %u: %s", i, cases[i].charset);
		g_assert_cmpstr (out, ==, cases[i].out);
	}
}

/* ------------------------------------------------------------------------ */
/* RFC 2231 parameters                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
	const char *content_type;
	const char *name;
	const char *value; /* NULL: absent */
} ParamCase;

static const ParamCase param_cases[] = {
	/* RFC 2231 examples */
	{ "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
	  "url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar" },
	{ "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
	  "access-type", "URL" },
	{ "application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", "title", "This is ***fun***" },
	{ "application/x-stuff\r\n title*0*=us-ascii'en'This%20is%20even%20more%20\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20\r\n title*2=\"isn't it!\"",
	  "title", "This is even more ***fun*** isn't it!" },
	{ "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
	  "title", "This is even more ***fun*** isn't it!" },
	/* charsets */
	{ "application/pdf; name*=UTF-8''%E2%82%AC%20rates.pdf", "name", "\xe2\x82\xac rates.pdf" },
	{ "application/pdf; name*=iso-8859-1''caf%E9", "name", "caf\xc3\xa9" },
	{ "application/pdf; name*0*=utf-8''%E2%82; name*1*=%AC", "name", "\xe2\x82\xac" },
	{ "application/pdf; name*=''plain%20text", "name", "plain text" },
	{ "application/pdf; name*=no-quotes%41", "name", "no-quotesA" },
	/* order, preference, gaps, duplicates */
	{ "text/plain; x*1=\"b\"; x*0=\"a\"; x*2=c", "x", "abc" },
	{ "text/plain; x*0=a; x*2=c", "x", "a" },
	{ "text/plain; x*1=b", "x", NULL },
	{ "text/plain; name=\"fallback.txt\"; name*=utf-8''real.txt", "name", "real.txt" },
	{ "text/plain; charset=one; CHARSET=two", "charset", "one" },
	{ "text/plain; x*00=a", "x", NULL },
	/* lenient syntax */
	{ "text/plain; name=foo bar.txt", "name", "foo bar.txt" },
	{ "text/plain; charset=utf-8 format=flowed", "charset", "utf-8" },
	{ "text/plain; charset=utf-8 format=flowed", "format", "flowed" },
	{ "text/plain; charset=us-ascii (Plain text)", "charset", "us-ascii" },
	{ "text/plain; name=\"a\\\"b\"", "name", "a\"b" },
	{ "text/plain; name=\"unterminated", "name", "unterminated" },
	{ "text/plain;; ;charset = \"x\" ;", "charset", "x" },
	{ "text/plain; =junk; charset=y", "charset", "y" },
	{ "text/plain; novalue; charset=z", "charset", "z" },
	{ "multipart/mixed; boundary=----=_Part_0_1.2", "boundary", "----=_Part_0_1.2" },
	{ "text/plain; name=\"caf\xe9.txt\"", "name", "caf\xc3\xa9.txt" },
};

static void
test_mime_rfc2231 (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (param_cases); i++) {
		const ParamCase *c = &param_cases[i];
		g_autofree char *type = NULL;
		g_autofree char *subtype = NULL;
		g_autoptr(GPtrArray) params = NULL;
		const char *value = NULL;
		g_autofree char *unfolded = ep_mime_header_unfold (c->content_type, strlen (c->content_type));
		g_autofree char *escaped = g_strescape (c->content_type, NULL);

		g_test_message ("case %u: %s", i, escaped);
		g_assert_true (ep_mime_content_type_parse (unfolded, strlen (unfolded), &type, &subtype, &params));
		for (guint k = 0; k < params->len; k++) {
			EpMimeParam *param = g_ptr_array_index (params, k);
			if (strcmp (param->name, c->name) == 0)
				value = param->value;
		}
		g_assert_cmpstr (value, ==, c->value);
	}
}

static void
test_mime_content_type (void)
{
	static const struct {
		const char *in;
		const char *type;
		const char *subtype;
	} cases[] = {
		{ "Text/HTML", "text", "html" },
		{ " text / plain ; charset=x", "text", "plain" },
		{ "(comment) image/png (more)", "image", "png" },
		{ "text", NULL, NULL },
		{ "text/", NULL, NULL },
		{ "/plain", NULL, NULL },
		{ "", NULL, NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *type = NULL;
		g_autofree char *subtype = NULL;
		g_autoptr(GPtrArray) params = NULL;
		gboolean ok = ep_mime_content_type_parse (cases[i].in, strlen (cases[i].in), &type, &subtype, &params);
		g_assert_cmpint (ok, ==, cases[i].type != NULL);
		g_assert_cmpstr (type, ==, cases[i].type);
		g_assert_cmpstr (subtype, ==, cases[i].subtype);
	}
}

static void
test_mime_filename (void)
{
	static const struct {
		const char *message;
		const char *filename;
	} cases[] = {
		{ "Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''%E2%82%AC.pdf\r\n\r\n",
		  "\xe2\x82\xac.pdf" },
		{ "Content-Type: application/pdf; name=\"=?utf-8?q?caf=C3=A9.pdf?=\"\r\n\r\n", "caf\xc3\xa9.pdf" },
		{ "Content-Type: application/pdf; name=a.pdf\r\nContent-Disposition: inline; filename=b.pdf\r\n\r\n",
		  "b.pdf" },
		{ "Content-Type: application/pdf\r\n\r\n", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(EpMimeMessage) msg = parse_str (cases[i].message);
		g_autofree char *name = ep_mime_part_get_filename (ep_mime_message_get_root (msg));
		g_assert_cmpstr (name, ==, cases[i].filename);
	}
}

/* ------------------------------------------------------------------------ */
/* headers                                                                  */
/* ------------------------------------------------------------------------ */

static void
test_mime_headers (void)
{
	static const char raw[] =
		"Received: from a\r\n"
		"\tby b; Tue, 1 Jul 2003\r\n"
		"Subject : folded\r\n"
		"  subject\r\n"
		"not a header\n"
		"X-Empty:\r\n"
		"received: second\r\n"
		"\r\n"
		"Body: not a header\r\n";
	static const struct {
		const char *name;
		const char *value;
		gboolean has_colon;
		gsize length;
	} expect[] = {
		{ "Received", " from a\r\n\tby b; Tue, 1 Jul 2003", TRUE, 42 },
		{ "Subject", " folded\r\n  subject", TRUE, 29 },
		{ "not a header", "", FALSE, 13 },
		{ "X-Empty", "", TRUE, 10 },
		{ "received", " second", TRUE, 18 },
	};
	EpMimeHeaderIter iter;
	EpMimeHeader h;
	gsize offset = 0;
	guint n = 0;
	g_autofree char *first = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *none = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autofree char *unfolded = NULL;

	ep_mime_header_iter_init (&iter, raw, strlen (raw));
	while (ep_mime_header_iter_next (&iter, &h)) {
		g_autofree char *name = NULL;
		g_autofree char *value = NULL;
		g_assert_cmpuint (n, <, G_N_ELEMENTS (expect));
		name = g_strndup (h.name, h.name_len);
		value = g_strndup (h.value, h.value_len);
		g_assert_cmpstr (name, ==, expect[n].name);
		g_assert_cmpstr (value, ==, expect[n].value);
		g_assert_cmpint (h.has_colon, ==, expect[n].has_colon);
		g_assert_cmpuint (h.offset, ==, offset);
		g_assert_cmpuint (h.length, ==, expect[n].length);
		offset += h.length;
		n++;
	}
	g_assert_cmpuint (n, ==, G_N_ELEMENTS (expect));
	g_assert_false (ep_mime_header_iter_next (&iter, &h));

	first = ep_mime_headers_get_first (raw, strlen (raw), "RECEIVED");
	g_assert_cmpstr (first, ==, "from a\tby b; Tue, 1 Jul 2003");
	subject = ep_mime_headers_get_first (raw, strlen (raw), "subject");
	g_assert_cmpstr (subject, ==, "folded  subject");
	none = ep_mime_headers_get_first (raw, strlen (raw), "body");
	g_assert_null (none);
	all = ep_mime_headers_get_all (raw, strlen (raw), "received");
	g_assert_cmpuint (all->len, ==, 2);
	g_assert_cmpstr (g_ptr_array_index (all, 1), ==, "second");
	unfolded = ep_mime_header_unfold (" a\r\n b\0c \t", 10);
	g_assert_cmpstr (unfolded, ==, "a b c");

	/* a header without any blank line, and an empty buffer */
	ep_mime_header_iter_init (&iter, "A: 1", 4);
	g_assert_true (ep_mime_header_iter_next (&iter, &h));
	g_assert_cmpuint (h.length, ==, 4);
	g_assert_cmpuint (h.value_len, ==, 2);
	g_assert_false (ep_mime_header_iter_next (&iter, &h));
	ep_mime_header_iter_init (&iter, "", 0);
	g_assert_false (ep_mime_header_iter_next (&iter, &h));
}

/* ------------------------------------------------------------------------ */
/* broken mail                                                              */
/* ------------------------------------------------------------------------ */

static void
test_mime_missing_close (void)
{
	static const char raw[] =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"\r\n"
		"one\r\n"
		"--b\r\n"
		"Content-Type: multipart/alternative; boundary=c\r\n"
		"\r\n"
		"--c\r\n"
		"\r\n"
		"inner, never closed\r\n"
		"--b\r\n"
		"\r\n"
		"three, to the end\r\n";
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	g_autofree char *b1 = part_body (raw, lookup (msg, "1"));
	g_autofree char *b21 = part_body (raw, lookup (msg, "2.1"));
	g_autofree char *b3 = part_body (raw, lookup (msg, "3"));
	g_autofree char *bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (msg), FALSE);

	g_assert_true (ep_mime_message_get_flags (msg) & EP_MIME_MESSAGE_FLAG_MISSING_BOUNDARY);
	g_assert_cmpstr (b1, ==, "one");
	/* the outer delimiter ends the inner multipart too */
	g_assert_cmpstr (b21, ==, "inner, never closed");
	g_assert_cmpstr (b3, ==, "three, to the end\r\n");
	g_assert_cmpstr (bs,
			 ==,
			 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"
			 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1) \"alternative\")"
			 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1) \"mixed\")");
}

static void
test_mime_delimiters (void)
{
	static const char raw[] =
		"Content-Type: multipart/mixed; boundary=\"b \"\r\n"
		"\r\n"
		"--b  \t\r\n"
		"\r\n"
		"--bb is data\r\n"
		"--b-- is data too\r\n"
		"---b\r\n"
		" --b\r\n"
		"--b--\t\r\n"
		"--b\r\n"
		"epilogue, not a part\r\n";
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	EpMimePart *root = ep_mime_message_get_root (msg);
	g_autofree char *b1 = part_body (raw, lookup (msg, "1"));

	g_assert_cmpuint (ep_mime_part_get_n_children (root), ==, 1);
	g_assert_cmpstr (b1, ==, "--bb is data\r\n--b-- is data too\r\n---b\r\n --b");
	g_assert_cmpint (ep_mime_message_get_flags (msg), ==, 0);
}

static void
test_mime_empty_parts (void)
{
	static const char raw[] =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"--b\r\n"
		"Content-Type: text/html\r\n"
		"--b\r\n"
		"X: 1\r\n"
		"\r\n"
		"--b--";
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	EpMimePart *p1 = lookup (msg, "1");
	EpMimePart *p2 = lookup (msg, "2");
	EpMimePart *p3 = lookup (msg, "3");
	g_autofree char *h2 = part_header (raw, p2);
	g_autofree char *h3 = part_header (raw, p3);

	g_assert_cmpuint (ep_mime_part_get_header_length (p1), ==, 0);
	g_assert_cmpuint (ep_mime_part_get_body_length (p1), ==, 0);
	/* a header that runs into the delimiter: no body */
	g_assert_cmpstr (h2, ==, "Content-Type: text/html\r\n");
	g_assert_cmpstr (ep_mime_part_get_content_subtype (p2), ==, "html");
	g_assert_cmpuint (ep_mime_part_get_body_length (p2), ==, 0);
	g_assert_cmpstr (h3, ==, "X: 1\r\n\r\n");
	g_assert_cmpuint (ep_mime_part_get_body_length (p3), ==, 0);
	g_assert_cmpuint (ep_mime_part_get_body_offset (p3), ==, strlen (raw) - 5);
}

typedef struct {
	const char *name;
	const char *raw;
	gsize len; /* 0: strlen */
	EpMimeMessageFlags flags;
	const char *subject;
	const char *body;
} BrokenCase;

static const BrokenCase broken_cases[] = {
	{ "empty", "", 0, EP_MIME_MESSAGE_FLAG_NO_BODY, NULL, "" },
	{ "header only", "Subject: x\r\n", 0, EP_MIME_MESSAGE_FLAG_NO_BODY, "x", "" },
	{ "body only", "\r\nbody", 0, 0, NULL, "body" },
	{ "bare LF blank line", "Subject: y\n\nbody\n", 0, 0, "y", "body\n" },
	{ "no colon", "From: a@b\r\nThis is not a header\r\nSubject: z\r\n\r\nb", 0,
	  EP_MIME_MESSAGE_FLAG_BROKEN_HEADER, "z", "b" },
	{ "NUL in header", "Subject: a\0b\r\n\r\nbody\0with nul", 29, EP_MIME_MESSAGE_FLAG_NUL, "a b", "body" },
	{ "8-bit header", "Subject: caf\xe9\r\n\r\nb", 0, EP_MIME_MESSAGE_FLAG_8BIT_HEADER, "caf\xe9", "b" },
	{ "whitespace line is no blank line", "Subject: s\r\n \r\nX: 1\r\n\r\nb", 0, 0, "s", "b" },
	{ "leading continuation", " folded\r\nSubject: t\r\n\r\nb", 0, EP_MIME_MESSAGE_FLAG_BROKEN_HEADER, "t", "b" },
};

static void
test_mime_broken (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (broken_cases); i++) {
		const BrokenCase *c = &broken_cases[i];
		gsize len = c->len > 0 ? c->len : strlen (c->raw);
		g_autoptr(EpMimeMessage) msg = parse (c->raw, len);
		EpMimePart *root = ep_mime_message_get_root (msg);
		const EpMimeEnvelope *env = ep_mime_part_get_envelope (root);
		g_autofree char *body = part_body (c->raw, root);

		g_test_message ("case: %s", c->name);
		g_assert_cmpint (ep_mime_message_get_flags (msg), ==, c->flags);
		g_assert_cmpstr (ep_mime_envelope_get_subject (env), ==, c->subject);
		g_assert_cmpstr (body, ==, c->body);
		g_assert_cmpuint (ep_mime_part_get_header_length (root) + ep_mime_part_get_body_length (root), <=, len);
	}
}

/* ------------------------------------------------------------------------ */
/* transfer decoders, fed in every slicing                                  */
/* ------------------------------------------------------------------------ */

static const StrCase qp_cases[] = {
	{ "a=3Db", "a=b" },
	{ "soft=\r\nbreak", "softbreak" },
	{ "soft=  \t\r\nbreak", "softbreak" },
	{ "soft=\nbreak", "softbreak" },
	{ "trail   \r\nx", "trail\r\nx" },
	{ "trail \t\nx", "trail\nx" },
	{ "=4a=4A", "JJ" },
	{ "=E2=82=AC", "\xe2\x82\xac" },
	{ "bad=ZZ", "bad=ZZ" },
	{ "bad=4", "bad=4" },
	{ "bad=4Z", "bad=4Z" },
	{ "end=", "end" },
	{ "end= ", "end" },
	{ "a = b", "a = b" },
	{ "a=  b", "a=  b" },
	{ "tab\tin", "tab\tin" },
	{ "lone\rcr", "lone\rcr" },
	{ "cr at end\r", "cr at end\r" },
	{ "sp cr \r", "sp cr \r" },
	{ "ends with space ", "ends with space" },
	{ "=\r\n=\r\n", "" },
	{ "=\rx", "x" },
	{ "", "" },
};

static const StrCase base64_cases[] = {
	{ "SGVsbG8=", "Hello" },
	{ "SGVs\r\nbG8=\r\n", "Hello" },
	{ "SGVsbG8gV29ybGQ=", "Hello World" },
	{ "SGVsbG8gV29ybG", "Hello Worl" },
	{ "QQ==QUJD", "AABC" },
	{ "!!SG Vs!!", "Hel" },
	{ "Q", "" },
	{ "", "" },
	{ "4pyTIMOgIGxhIG1vZGU=", "\xe2\x9c\x93 \xc3\xa0 la mode" },
	{ "+/+/", "\xfb\xff\xbf" },
};

static char *
decode_sliced (gboolean base64, const char *in, gsize chunk)
{
	g_autoptr(GByteArray) out = g_byte_array_new ();
	EpMimeBase64Decoder b64;
	EpMimeQpDecoder qp;
	gsize len = strlen (in);

	ep_mime_base64_decoder_init (&b64);
	ep_mime_qp_decoder_init (&qp);
	for (gsize pos = 0; pos < len; pos += chunk) {
		gsize n = MIN (chunk, len - pos);
		if (base64)
			ep_mime_base64_decoder_step (&b64, (const guint8 *) in + pos, n, out);
		else
			ep_mime_qp_decoder_step (&qp, (const guint8 *) in + pos, n, out);
	}
	if (base64)
		ep_mime_base64_decoder_finish (&b64, out);
	else
		ep_mime_qp_decoder_finish (&qp, out);
	return g_strndup (out->len > 0 ? (const char *) out->data : "", out->len);
}

static void
check_decoder (gboolean base64, const StrCase *cases, guint n_cases)
{
	for (guint i = 0; i < n_cases; i++) {
		gsize len = strlen (cases[i].in);
		g_autofree char *escaped = g_strescape (cases[i].in, NULL);
		g_test_message ("case %u: %s", i, escaped);
		for (gsize chunk = 1; chunk <= MAX (len, 1); chunk++) {
			g_autofree char *out = decode_sliced (base64, cases[i].in, chunk);
			g_assert_cmpstr (out, ==, cases[i].out);
		}
	}
}

static void
test_mime_qp (void)
{
	g_autoptr(GString) spaces = g_string_new ("x");
	g_autofree char *long_out = NULL;

	check_decoder (FALSE, qp_cases, G_N_ELEMENTS (qp_cases));

	/* more white space than the decoder holds back: kept inside a line */
	for (guint i = 0; i < EP_MIME_QP_MAX_PENDING * 3; i++)
		g_string_append_c (spaces, ' ');
	g_string_append_c (spaces, 'y');
	long_out = decode_sliced (FALSE, spaces->str, 7);
	g_assert_cmpstr (long_out, ==, spaces->str);
}

static void
test_mime_base64 (void)
{
	check_decoder (TRUE, base64_cases, G_N_ELEMENTS (base64_cases));
}

static void
test_mime_decode_body (void)
{
	static const char raw[] =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"SGVs\r\n"
		"bG8=\r\n"
		"--b\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"caf=C3=A9 =\r\n"
		"ok\r\n"
		"--b\r\n"
		"Content-Transfer-Encoding: x-uuencode\r\n"
		"\r\n"
		"begin 644 x\r\n"
		"--b--\r\n";
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) b1 = ep_mime_part_decode_body (lookup (msg, "1"), raw, strlen (raw), &error);
	g_autoptr(GBytes) b2 = NULL;
	g_autoptr(GBytes) b3 = NULL;
	g_autoptr(GBytes) short_raw = NULL;

	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (b1, NULL), g_bytes_get_size (b1), "Hello", 5);
	g_assert_cmpuint (ep_mime_part_get_decoded_size (lookup (msg, "1")), ==, 5);
	b2 = ep_mime_part_decode_body (lookup (msg, "2"), raw, strlen (raw), &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (b2, NULL), g_bytes_get_size (b2), "caf\xc3\xa9 ok", 8);
	g_assert_cmpuint (ep_mime_part_get_decoded_size (lookup (msg, "2")), ==, 8);
	b3 = ep_mime_part_decode_body (lookup (msg, "3"), raw, strlen (raw), &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_null (b3);
	g_clear_error (&error);
	/* a buffer that is not the message */
	short_raw = ep_mime_part_decode_body (lookup (msg, "2"), raw, 10, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_null (short_raw);
}

/* ------------------------------------------------------------------------ */
/* text extraction                                                          */
/* ------------------------------------------------------------------------ */

static void
test_mime_text (void)
{
	static const char raw[] =
		"Subject: =?utf-8?q?R=C3=A9union?=\r\n"
		"From: Ann <ann@x.test>\r\n"
		"To: bob@y.test\r\n"
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"Content-Type: multipart/alternative; boundary=a\r\n"
		"\r\n"
		"--a\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<p>html version</p>\r\n"
		"--a\r\n"
		"Content-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Caf=E9 cr=E8me\r\n"
		"--a--\r\n"
		"--b\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"PHNjcmlwdD5oaWRkZW48L3NjcmlwdD48Yj5Cb2xkPC9iPiAmYW1wOyAmIzIzMzsmI3hFOTs=\r\n"
		"--b\r\n"
		"Content-Type: image/png\r\n"
		"\r\n"
		"binary\r\n"
		"--b--\r\n";
	g_autoptr(EpMimeMessage) msg = parse_str (raw);
	g_autofree char *text = ep_mime_message_extract_text (msg, raw, strlen (raw), 4096);
	g_autofree char *cut = ep_mime_message_extract_text (msg, raw, strlen (raw), 2);

	g_assert_cmpstr (text,
			 ==,
			 "R\xc3\xa9union\n"
			 "Ann <ann@x.test>\n"
			 "Ann  ann x test \n"
			 "bob@y.test\n"
			 "bob y test\n"
			 "Caf\xc3\xa9 cr\xc3\xa8me\n"
			 "Bold  & \xc3\xa9\xc3\xa9");
	/* cut at a character boundary */
	g_assert_cmpstr (cut, ==, "R");
}

/* ------------------------------------------------------------------------ */
/* serialization                                                            */
/* ------------------------------------------------------------------------ */

static void
test_mime_serialize (void)
{
	g_autoptr(EpMimeMessage) msg = parse_str (nested_msg);
	g_autoptr(GBytes) bytes = ep_mime_message_serialize (msg);
	g_autoptr(GError) error = NULL;
	g_autoptr(EpMimeMessage) copy = ep_mime_message_deserialize (bytes, &error);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data (bytes, &len);
	g_autofree char *env1 = NULL;
	g_autofree char *env2 = NULL;
	g_autoptr(GBytes) bad_magic = g_bytes_new_static ("XXXX", 4);
	g_autoptr(EpMimeMessage) none = NULL;

	g_assert_no_error (error);
	/* the copy answers everything without the message */
	g_assert_cmpuint (ep_mime_message_get_n_parts (copy), ==, 8);
	g_assert_cmpuint (ep_mime_message_get_size (copy), ==, strlen (nested_msg));
	g_assert_cmpuint (ep_mime_part_get_body_offset (lookup (copy, "2.2")),
			  ==,
			  ep_mime_part_get_body_offset (lookup (msg, "2.2")));
	g_assert_cmpstr (ep_mime_part_get_section (lookup (copy, "3.1")), ==, "3.1");
	env1 = ep_mime_envelope_to_imap (ep_mime_part_get_envelope (ep_mime_part_get_message (lookup (msg, "2"))));
	env2 = ep_mime_envelope_to_imap (ep_mime_part_get_envelope (ep_mime_part_get_message (lookup (copy, "2"))));
	g_assert_cmpstr (env1, ==, env2);

	/* every truncation fails cleanly */
	for (gsize cut = 0; cut < len; cut++) {
		g_autoptr(GBytes) part = g_bytes_new (data, cut);
		g_autoptr(GError) e = NULL;
		g_autoptr(EpMimeMessage) m = ep_mime_message_deserialize (part, &e);
		g_assert_null (m);
		g_assert_error (e, EP_ERROR, EP_ERROR_INVALID);
	}
	/* and every single flipped byte either fails or gives a sane tree */
	for (gsize pos = 0; pos < len; pos++) {
		g_autofree guint8 *copy_data = g_memdup2 (data, len);
		g_autoptr(GBytes) flipped = NULL;
		g_autoptr(GError) e = NULL;
		g_autoptr(EpMimeMessage) m = NULL;
		copy_data[pos] ^= 0x41;
		flipped = g_bytes_new (copy_data, len);
		m = ep_mime_message_deserialize (flipped, &e);
		if (m != NULL) {
			g_autofree char *bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (m), TRUE);
			g_assert_nonnull (bs);
		}
	}
	none = ep_mime_message_deserialize (bad_magic, &error);
	g_assert_null (none);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
}

/* ------------------------------------------------------------------------ */
/* limits                                                                   */
/* ------------------------------------------------------------------------ */

static guint
tree_depth (const EpMimePart *part)
{
	guint depth = 0;

	for (guint i = 0; i < ep_mime_part_get_n_children (part); i++) {
		guint child = tree_depth (ep_mime_part_get_child (part, i));
		depth = MAX (depth, child);
	}
	return depth + 1;
}

static void
test_mime_limit_depth (void)
{
	g_autoptr(GString) raw = g_string_new (NULL);
	g_autoptr(GString) fwd = g_string_new (NULL);
	g_autoptr(EpMimeMessage) msg = NULL;
	g_autoptr(EpMimeMessage) msg_fwd = NULL;

	for (guint i = 0; i < 100; i++)
		g_string_append_printf (raw, "Content-Type: multipart/mixed; boundary=b%u\r\n\r\n--b%u\r\n", i, i);
	g_string_append (raw, "\r\ndeepest\r\n");
	msg = parse (raw->str, raw->len);
	g_assert_true (ep_mime_message_get_flags (msg) & EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH);
	g_assert_cmpuint (tree_depth (ep_mime_message_get_root (msg)), ==, EP_MIME_MAX_DEPTH + 1);

	for (guint i = 0; i < 100; i++)
		g_string_append (fwd, "Content-Type: message/rfc822\r\n\r\n");
	g_string_append (fwd, "Subject: deepest\r\n\r\nbody\r\n");
	msg_fwd = parse (fwd->str, fwd->len);
	g_assert_true (ep_mime_message_get_flags (msg_fwd) & EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH);
	g_assert_cmpuint (tree_depth (ep_mime_message_get_root (msg_fwd)), ==, EP_MIME_MAX_DEPTH + 1);
}

static void
test_mime_limit_parts (void)
{
	g_autoptr(GString) raw = g_string_new ("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	g_autoptr(EpMimeMessage) msg = NULL;
	EpMimePart *last;
	g_autofree char *bs = NULL;

	for (guint i = 0; i < 1500; i++)
		g_string_append_printf (raw, "--b\r\n\r\npart %u\r\n", i);
	g_string_append (raw, "--b--\r\n");
	msg = parse (raw->str, raw->len);
	g_assert_true (ep_mime_message_get_flags (msg) & EP_MIME_MESSAGE_FLAG_LIMIT_PARTS);
	g_assert_cmpuint (ep_mime_message_get_n_parts (msg), ==, EP_MIME_MAX_PARTS);
	g_assert_cmpuint (ep_mime_part_get_n_children (ep_mime_message_get_root (msg)), ==, EP_MIME_MAX_PARTS - 1);
	last = lookup (msg, "999");
	g_assert_null (ep_mime_message_lookup_part (msg, "1000"));
	g_assert_cmpuint (ep_mime_part_get_body_length (last), ==, strlen ("part 998"));
	/* the root body still covers everything */
	g_assert_cmpuint (ep_mime_part_get_body_offset (ep_mime_message_get_root (msg)) +
				  ep_mime_part_get_body_length (ep_mime_message_get_root (msg)),
			  ==,
			  raw->len);
	bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (msg), TRUE);
	g_assert_true (g_str_has_suffix (bs, " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"));
}

/* hostile shapes must stay linear: each would take minutes if quadratic */
static void
test_mime_hostile (void)
{
	g_autoptr(GString) headers = g_string_new (NULL);
	g_autoptr(GString) bounds = g_string_new ("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	g_autoptr(GString) nested = g_string_new (NULL);
	g_autoptr(GString) words = g_string_new ("Subject: ");
	g_autoptr(GString) params = g_string_new ("Content-Type: text/plain");
	g_autoptr(GString) addresses = g_string_new ("To: ");
	g_autoptr(EpMimeMessage) m1 = NULL;
	g_autoptr(EpMimeMessage) m2 = NULL;
	g_autoptr(EpMimeMessage) m3 = NULL;
	g_autoptr(EpMimeMessage) m4 = NULL;
	g_autoptr(EpMimeMessage) m5 = NULL;
	g_autoptr(EpMimeMessage) m6 = NULL;
	g_autofree char *decoded = NULL;
	g_autofree char *text = NULL;
	gint64 start = g_get_monotonic_time ();

	for (guint i = 0; i < 100000; i++)
		g_string_append_printf (headers, "X-H%u: v\r\n", i);
	g_string_append (headers, "Subject: last\r\n\r\nbody");
	m1 = ep_mime_message_parse (headers->str, headers->len);
	g_assert_cmpstr (ep_mime_envelope_get_subject (ep_mime_part_get_envelope (ep_mime_message_get_root (m1))),
			 ==,
			 "last");

	while (bounds->len < 1024 * 1024)
		g_string_append (bounds, "--b\r\n");
	m2 = ep_mime_message_parse (bounds->str, bounds->len);
	g_assert_cmpuint (ep_mime_message_get_n_parts (m2), ==, EP_MIME_MAX_PARTS);

	/* 32 open multiparts, then 1 MB of lines that look like delimiters */
	for (guint i = 0; i < EP_MIME_MAX_DEPTH; i++)
		g_string_append_printf (nested, "Content-Type: multipart/mixed; boundary=%u\r\n\r\n--%u\r\n", i, i);
	while (nested->len < 1024 * 1024)
		g_string_append (nested, "--1x\r\n--2--x\r\n");
	m3 = ep_mime_message_parse (nested->str, nested->len);
	g_assert_cmpuint (ep_mime_message_get_n_parts (m3), ==, EP_MIME_MAX_DEPTH + 1);

	while (words->len < 1024 * 1024)
		g_string_append (words, "=?a?q?x");
	g_string_append (words, "\r\n\r\n");
	m4 = ep_mime_message_parse (words->str, words->len);
	text = ep_mime_message_extract_text (m4, words->str, words->len, 1024);
	decoded = ep_mime_decode_encoded_words (words->str, words->len);
	g_assert_cmpuint (strlen (decoded), ==, words->len);

	while (params->len < 1024 * 1024)
		g_string_append (params, "; a*1*=%41");
	g_string_append (params, "\r\n\r\n");
	m5 = ep_mime_message_parse (params->str, params->len);

	while (addresses->len < 1024 * 1024)
		g_string_append (addresses, "a@b, (c) <d@e>, g:;, <@r, <@s,");
	g_string_append (addresses, "\r\n\r\n");
	m6 = ep_mime_message_parse (addresses->str, addresses->len);

	g_test_message ("hostile inputs took %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - start) / 1000);
}

static void
test_format_date (void)
{
	g_autoptr(GTimeZone) plus2 = g_time_zone_new_offset (2 * 3600);
	g_autoptr(GTimeZone) minus = g_time_zone_new_offset (-(5 * 3600 + 30 * 60));
	g_autoptr(GDateTime) a = g_date_time_new (plus2, 2003, 7, 1, 10, 52, 37);
	g_autoptr(GDateTime) b = g_date_time_new (minus, 2024, 12, 29, 0, 0, 5);
	g_autoptr(GDateTime) c = g_date_time_new_utc (2025, 2, 2, 23, 59, 59);
	g_autofree char *sa = ep_mime_format_date (a);
	g_autofree char *sb = ep_mime_format_date (b);
	g_autofree char *sc = ep_mime_format_date (c);

	g_assert_cmpstr (sa, ==, "Tue, 1 Jul 2003 10:52:37 +0200");
	g_assert_cmpstr (sb, ==, "Sun, 29 Dec 2024 00:00:05 -0530");
	g_assert_cmpstr (sc, ==, "Sun, 2 Feb 2025 23:59:59 +0000");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/mime/offsets-nested", test_mime_offsets_nested);
	g_test_add_func ("/mime/numbering", test_mime_numbering);
	g_test_add_func ("/mime/bodystructure", test_mime_bodystructure);
	g_test_add_func ("/mime/envelope", test_mime_envelope);
	g_test_add_func ("/mime/envelope-accessors", test_mime_envelope_accessors);
	g_test_add_func ("/mime/rfc2047", test_mime_rfc2047);
	g_test_add_func ("/mime/charset", test_mime_charset);
	g_test_add_func ("/mime/rfc2231", test_mime_rfc2231);
	g_test_add_func ("/mime/content-type", test_mime_content_type);
	g_test_add_func ("/mime/filename", test_mime_filename);
	g_test_add_func ("/mime/headers", test_mime_headers);
	g_test_add_func ("/mime/missing-close", test_mime_missing_close);
	g_test_add_func ("/mime/delimiters", test_mime_delimiters);
	g_test_add_func ("/mime/empty-parts", test_mime_empty_parts);
	g_test_add_func ("/mime/broken", test_mime_broken);
	g_test_add_func ("/mime/qp", test_mime_qp);
	g_test_add_func ("/mime/base64", test_mime_base64);
	g_test_add_func ("/mime/decode-body", test_mime_decode_body);
	g_test_add_func ("/mime/text", test_mime_text);
	g_test_add_func ("/mime/serialize", test_mime_serialize);
	g_test_add_func ("/mime/limit-depth", test_mime_limit_depth);
	g_test_add_func ("/mime/limit-parts", test_mime_limit_parts);
	g_test_add_func ("/mime/hostile", test_mime_hostile);
	g_test_add_func ("/mime/format-date", test_format_date);
	return g_test_run ();
}
