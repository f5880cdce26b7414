/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-fetch.h"
#include "imap-util.h"

static void
test_utf7 (void)
{
	static const struct {
		const char *utf8;
		const char *mutf7;
	} cases[] = {
	    {"INBOX", "INBOX"},
	    {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
	    {"a&b", "a&-b"},
	    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	    {"\xf0\x9f\x98\x80", "&2D3eAA-"},
	};
	static const char *const invalid[] = {"&", "&U,BTFw", "&AGE-", "&-&", "a\x01", "&U,B-", "&Jjo!", "&-", NULL};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *enc = imap_utf7_encode (cases[i].utf8);
		g_autofree char *dec = imap_utf7_decode (cases[i].mutf7);
		g_assert_cmpstr (enc, ==, cases[i].mutf7);
		g_assert_cmpstr (dec, ==, cases[i].utf8);
	}
	for (guint i = 0; invalid[i] != NULL; i++) {
		g_autofree char *dec = imap_utf7_decode (invalid[i]);
		if (strcmp (invalid[i], "&-") == 0)
			g_assert_cmpstr (dec, ==, "&");
		else
			g_assert_null (dec);
	}
}

static void
test_strings (void)
{
	g_autoptr (GString) s = g_string_new (NULL);

	imap_append_string (s, "a \"b\" \\c");
	g_string_append_c (s, ' ');
	imap_append_nstring (s, NULL);
	g_string_append_c (s, ' ');
	imap_append_string (s, "x\r\ny");
	g_assert_cmpstr (s->str, ==, "\"a \\\"b\\\" \\\\c\" NIL {4}\r\nx\r\ny");
}

static void
test_flags (void)
{
	g_autoptr (GString) s = g_string_new (NULL);
	const char *const kw[] = {"$Junk", "work", NULL};
	EpStoreFlags f;
	const char *k;

	imap_append_flags (s, EP_STORE_FLAG_SEEN | EP_STORE_FLAG_DELETED, kw);
	g_assert_cmpstr (s->str, ==, "\\Seen \\Deleted $Junk work");
	g_assert_true (imap_parse_flag ("\\seen", &f, &k));
	g_assert_cmpint (f, ==, EP_STORE_FLAG_SEEN);
	g_assert_null (k);
	g_assert_true (imap_parse_flag ("$Forwarded", &f, &k));
	g_assert_cmpstr (k, ==, "$Forwarded");
	g_assert_false (imap_parse_flag ("\\Recent", &f, &k));
	g_assert_false (imap_parse_flag ("\\Foo", &f, &k));
	g_assert_false (imap_parse_flag ("a]b", &f, &k));
	g_assert_false (imap_parse_flag ("", &f, &k));
}

static void
test_dates (void)
{
	gint64 t = 0;
	g_autofree char *s = NULL;

	g_assert_true (imap_parse_date_time ("07-Dec-2026 12:00:00 +0000", &t));
	g_assert_cmpint (t, ==, 1796644800);
	g_assert_true (imap_parse_date_time (" 7-Dec-2026 13:00:00 +0100", &t));
	g_assert_cmpint (t, ==, 1796644800);
	g_assert_true (imap_parse_date_time ("7-Dec-2026 07:00:00 -0500", &t));
	g_assert_cmpint (t, ==, 1796644800);
	g_assert_false (imap_parse_date_time ("07-Foo-2026 12:00:00 +0000", &t));
	g_assert_false (imap_parse_date_time ("07-Dec-2026 12:00:00", &t));
	g_assert_false (imap_parse_date_time ("07-Dec-2026 12:00:00 +0000x", &t));
	g_assert_false (imap_parse_date_time ("31-Feb-2026 12:00:00 +0000", &t));
	g_assert_false (imap_parse_date_time ("07-Dec-2026 12:00:00 +0099", &t));
	s = imap_format_date_time (1796644800);
	g_assert_cmpstr (s, ==, "07-Dec-2026 12:00:00 +0000");
}

static void
test_base64 (void)
{
	g_autoptr (GBytes) a = imap_base64_decode ("AGFsaWNlAHB3", 12);
	g_autoptr (GBytes) e = imap_base64_decode ("", 0);

	g_assert_cmpmem (g_bytes_get_data (a, NULL), g_bytes_get_size (a), "\0alice\0pw", 9);
	g_assert_cmpuint (g_bytes_get_size (e), ==, 0);
	g_assert_null (imap_base64_decode ("AGF", 3));
	g_assert_null (imap_base64_decode ("A=Fs", 4));
	g_assert_null (imap_base64_decode ("AB==", 4)); /* non-zero padding bits */
	g_assert_null (imap_base64_decode ("AA==AAAA", 8));
	g_assert_null (imap_base64_decode ("AA!A", 4));
}

static void
test_list_match (void)
{
	g_assert_true (imap_list_match ("*", "a/b/c"));
	g_assert_true (imap_list_match ("%", "Sent"));
	g_assert_false (imap_list_match ("%", "a/b"));
	g_assert_true (imap_list_match ("a/%", "a/b"));
	g_assert_false (imap_list_match ("a/%", "a/b/c"));
	g_assert_true (imap_list_match ("a*c", "a/b/c"));
	g_assert_true (imap_list_match ("inbox", "INBOX"));
	g_assert_true (imap_list_match ("Inbox/*", "INBOX/x"));
	g_assert_false (imap_list_match ("Sent", "sent"));
	g_assert_false (
	    imap_list_match ("*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	g_assert_true (imap_list_match ("", ""));
	g_assert_false (imap_list_match ("", "a"));
}

static ImapArg *
atom (const char *s)
{
	ImapArg *a = g_new0 (ImapArg, 1);
	a->type = IMAP_ARG_ATOM;
	a->str = g_strdup (s);
	a->len = strlen (s);
	return a;
}

static const char test_message[] = "From: a@example.org\r\n"
				   "To: b@example.org\r\n"
				   "Subject: hi\r\n"
				   "Content-Type: multipart/mixed; boundary=X\r\n"
				   "\r\n"
				   "preamble\r\n"
				   "--X\r\n"
				   "Content-Type: text/plain\r\n"
				   "\r\n"
				   "part one\r\n"
				   "--X--\r\n";

static char *
fetch_one (const char *item_text)
{
	g_autoptr (ImapArg) arg = atom (item_text);
	ImapFetchItems items;
	const char *err = NULL;
	g_autoptr (GBytes) data = g_bytes_new_static (test_message, sizeof test_message - 1);
	g_autoptr (EpMimeMessage) msg = ep_mime_message_parse (test_message, sizeof test_message - 1);
	g_autoptr (GBytes) out = NULL;
	char *s;

	if (!imap_fetch_parse (arg, &items, &err)) {
		imap_fetch_items_clear (&items);
		return g_strdup ("BAD");
	}
	g_assert_cmpuint (items.bodies->len, ==, 1);
	out = imap_fetch_body (g_ptr_array_index (items.bodies, 0), data, msg);
	s = out == NULL
		? g_strdup ("NIL")
		: g_strdup_printf ("%s %.*s", ((ImapBodyItem *)g_ptr_array_index (items.bodies, 0))->response_name,
				   (int)g_bytes_get_size (out), (const char *)g_bytes_get_data (out, NULL));
	imap_fetch_items_clear (&items);
	return s;
}

static void
test_fetch (void)
{
	static const struct {
		const char *item;
		const char *result;
	} cases[] = {
	    {"BODY[HEADER.FIELDS (Subject To)]",
	     "BODY[HEADER.FIELDS (Subject To)] To: b@example.org\r\nSubject: hi\r\n\r\n"},
	    {"BODY.PEEK[HEADER.FIELDS.NOT (From To Content-Type)]",
	     "BODY[HEADER.FIELDS.NOT (From To Content-Type)] Subject: hi\r\n\r\n"},
	    {"BODY[1]", "BODY[1] part one"},
	    {"BODY[1.MIME]", "BODY[1.MIME] Content-Type: text/plain\r\n\r\n"},
	    {"BODY[]<0.4>", "BODY[]<0> From"},
	    {"BODY[]<5.3>", "BODY[]<5>  a@"},
	    {"BODY[TEXT]<0.8>", "BODY[TEXT]<0> preamble"},
	    {"BODY[HEADER]<1000.10>", "BODY[HEADER]<1000> "},
	    {"RFC822.HEADER", "RFC822.HEADER From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n"
			      "Content-Type: multipart/mixed; boundary=X\r\n\r\n"},
	    {"BODY[2]", "NIL"},
	    {"BODY[1.HEADER]", "NIL"},
	    {"BODY[0]", "BAD"},
	    {"BODY[1.]", "BAD"},
	    {"BODY[.HEADER]", "BAD"},
	    {"BODY[MIME]", "BAD"},
	    {"BODY[HEADER.FIELDS ()]", "BAD"},
	    {"BODY[]<0.0>", "BAD"},
	    {"BODY[]<1>", "BAD"},
	    {"BODY[FOO]", "BAD"},
	    {"BODY[", "BAD"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *got = fetch_one (cases[i].item);
		g_test_message ("%s", cases[i].item);
		g_assert_cmpstr (got, ==, cases[i].result);
	}
}

static void
test_fetch_macros (void)
{
	g_autoptr (ImapArg) all = atom ("ALL");
	g_autoptr (ImapArg) fast = atom ("fast");
	g_autoptr (ImapArg) full = atom ("FULL");
	g_autoptr (ImapArg) bad = atom ("FOO");
	ImapFetchItems it;
	const char *err;

	g_assert_true (imap_fetch_parse (all, &it, &err));
	g_assert_true (it.flags && it.internaldate && it.size && it.envelope && !it.body);
	imap_fetch_items_clear (&it);
	g_assert_true (imap_fetch_parse (fast, &it, &err));
	g_assert_true (it.flags && it.internaldate && it.size && !it.envelope && !it.body && !it.need_data);
	imap_fetch_items_clear (&it);
	g_assert_true (imap_fetch_parse (full, &it, &err));
	g_assert_true (it.flags && it.envelope && it.body);
	imap_fetch_items_clear (&it);
	g_assert_false (imap_fetch_parse (bad, &it, &err));
	imap_fetch_items_clear (&it);
}

static const char test_binary_message[] = "Subject: parts\r\n"
					  "Content-Type: multipart/mixed; boundary=X\r\n"
					  "\r\n"
					  "--X\r\n"
					  "Content-Transfer-Encoding: Quoted-Printable\r\n"
					  "\r\n"
					  "caf=C3=A9 =\r\nsoft =3D\r\n"
					  "--X\r\n"
					  "Content-Transfer-Encoding: base64\r\n"
					  "\r\n"
					  "AGFi\r\nYw==\r\n"
					  "--X\r\n"
					  "Content-Transfer-Encoding: x-uuencode\r\n"
					  "\r\n"
					  "begin\r\n"
					  "--X\r\n"
					  "Content-Type: multipart/alternative; boundary=Y\r\n"
					  "\r\n"
					  "--Y\r\n"
					  "\r\n"
					  "inner\r\n"
					  "--Y--\r\n"
					  "--X--\r\n";

/* "name data" (NUL shown as "\\0"), "name NIL", "name n" (sizes), "NO" or "BAD" */
static char *
fetch_binary_one (const char *item_text)
{
	g_autoptr (ImapArg) arg = atom (item_text);
	ImapFetchItems items;
	const char *err = NULL;
	g_autoptr (GBytes) data = g_bytes_new_static (test_binary_message, sizeof test_binary_message - 1);
	g_autoptr (EpMimeMessage) msg = ep_mime_message_parse (test_binary_message, sizeof test_binary_message - 1);
	g_autoptr (GBytes) out = NULL;
	g_autoptr (GString) s = g_string_new (NULL);
	const ImapBodyItem *item;
	ImapFetchBinaryStatus st;
	guint64 size = 0;

	if (!imap_fetch_parse (arg, &items, &err)) {
		imap_fetch_items_clear (&items);
		return g_strdup ("BAD");
	}
	g_assert_cmpuint (items.bodies->len, ==, 1);
	item = g_ptr_array_index (items.bodies, 0);
	g_assert_true (item->binary != item->binary_size);
	st = imap_fetch_binary (item, data, items.need_mime ? msg : NULL, item->binary ? &out : NULL,
				item->binary_size ? &size : NULL);
	if (st == IMAP_FETCH_BINARY_UNKNOWN_CTE) {
		imap_fetch_items_clear (&items);
		return g_strdup ("NO");
	}
	g_string_append_printf (s, "%s ", item->response_name);
	if (item->binary_size) {
		g_string_append_printf (s, "%" G_GUINT64_FORMAT, size);
	} else if (st == IMAP_FETCH_BINARY_NIL) {
		g_assert_null (out);
		g_string_append (s, "NIL");
	} else {
		gsize n = 0;
		const char *d = g_bytes_get_data (out, &n);
		for (gsize i = 0; i < n; i++)
			if (d[i] == '\0')
				g_string_append (s, "\\0");
			else
				g_string_append_c (s, d[i]);
	}
	g_assert_true (items.set_seen == (item->binary && !item->peek));
	imap_fetch_items_clear (&items);
	return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
test_fetch_binary (void)
{
	static const struct {
		const char *item;
		const char *result;
	} cases[] = {
	    {"BINARY[1]", "BINARY[1] caf\xc3\xa9 soft ="},
	    {"BINARY.PEEK[2]", "BINARY[2] \\0abc"},
	    {"binary.peek[2]<1.2>", "BINARY[2]<1> ab"},
	    {"BINARY[2]<0.1>", "BINARY[2]<0> \\0"},
	    {"BINARY[2]<9.1>", "BINARY[2]<9> "},
	    {"BINARY.SIZE[1]", "BINARY.SIZE[1] 12"},
	    {"BINARY.SIZE[2]", "BINARY.SIZE[2] 4"},
	    {"BINARY[4]", "BINARY[4] --Y\r\n\r\ninner\r\n--Y--"},
	    {"BINARY.SIZE[4]", "BINARY.SIZE[4] 19"},
	    {"BINARY[4.1]", "BINARY[4.1] inner"},
	    {"BINARY[]<0.8>", "BINARY[]<0> Subject:"},
	    {"BINARY.SIZE[]", "BINARY.SIZE[] 327"},
	    {"BINARY[5]", "BINARY[5] NIL"},
	    {"BINARY.SIZE[5]", "BINARY.SIZE[5] 0"},
	    {"BINARY[3]", "NO"},
	    {"BINARY.SIZE[3]", "NO"},
	    {"BINARY.PEEK[3]<0.1>", "NO"},
	    {"BINARY[0]", "BAD"},
	    {"BINARY[1.]", "BAD"},
	    {"BINARY[.1]", "BAD"},
	    {"BINARY[1..2]", "BAD"},
	    {"BINARY[1.MIME]", "BAD"},
	    {"BINARY[HEADER]", "BAD"},
	    {"BINARY[TEXT]", "BAD"},
	    {"BINARY[1]<0.0>", "BAD"},
	    {"BINARY[1]<1>", "BAD"},
	    {"BINARY[1]x", "BAD"},
	    {"BINARY.SIZE[1]<0.1>", "BAD"},
	    {"BINARY.PEEK", "BAD"},
	    {"BINARY", "BAD"},
	    {"BINARYX[1]", "BAD"},
	    {"BINARY[1", "BAD"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *got = fetch_binary_one (cases[i].item);
		g_test_message ("%s", cases[i].item);
		g_assert_cmpstr (got, ==, cases[i].result);
	}
}

static void
test_fetch_object_ids (void)
{
	g_autoptr (ImapArg) list = g_new0 (ImapArg, 1);
	ImapFetchItems it;
	const char *err;
	g_autofree char *id = imap_mailbox_object_id (26);

	list->type = IMAP_ARG_LIST;
	list->list = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_arg_free);
	g_ptr_array_add (list->list, atom ("emailid"));
	g_ptr_array_add (list->list, atom ("THREADID"));
	g_assert_true (imap_fetch_parse (list, &it, &err));
	g_assert_true (it.emailid && it.threadid && !it.need_data && !it.set_seen);
	imap_fetch_items_clear (&it);
	g_assert_cmpstr (id, ==, "F1a");
}

/* one command, whole, with its literals */
static ImapCommand *
parse_command (const char *input)
{
	ImapParserLimits limits = {0, 0, 1000};
	g_autoptr (ImapParser) p = imap_parser_new (&limits);
	ImapCommand *cmd = NULL;
	gsize len = strlen (input), off = 0;

	while (off < len) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, input + off, len - off, &used);

		off += used;
		g_assert_cmpint (st, !=, IMAP_PARSE_ERROR);
		if (st == IMAP_PARSE_DONE)
			cmd = imap_parser_take_command (p);
	}
	g_assert_nonnull (cmd);
	return cmd;
}

/* MULTIAPPEND (RFC 3502): the messages of an APPEND, or the reason for BAD */
static void
test_append_messages (void)
{
	const struct {
		const char *input;
		guint n;	   /* messages; 0: BAD */
		const char *error; /* its start */
	} cases[] = {
	    {"a APPEND INBOX {1+}\r\nx\r\n", 1, NULL},
	    {"a APPEND INBOX (\\Seen $k) \"07-Dec-2026 12:00:00 +0000\" {1+}\r\nx ({1+}\r\ny) {1+}\r\nz\r\n", 0,
	     "Invalid flag"},
	    {"a APPEND INBOX (\\Seen $k) \"07-Dec-2026 12:00:00 +0000\" {1+}\r\nx () {1+}\r\ny {1+}\r\nz\r\n", 3, NULL},
	    {"a APPEND INBOX {1+}\r\nx (\\Recent) {1+}\r\ny\r\n", 0, "Invalid flag"},
	    {"a APPEND INBOX {1+}\r\nx \"30-Feb-2026 12:00:00 +0000\" {1+}\r\ny\r\n", 0, "Invalid APPEND date-time"},
	    {"a APPEND INBOX {1+}\r\nx (\\Seen)\r\n", 0, "APPEND takes"},
	    {"a APPEND INBOX \"07-Dec-2026 12:00:00 +0000\" (\\Seen) {1+}\r\nx\r\n", 0, "APPEND takes"},
	    {"a APPEND INBOX {1+}\r\nx {1+}\r\ny NIL\r\n", 0, "APPEND takes"},
	    {"a APPEND INBOX\r\n", 0, "APPEND takes"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (ImapCommand) cmd = parse_command (cases[i].input);
		g_autoptr (GArray) msgs = NULL;
		const char *error = NULL;

		g_test_message ("%s", cases[i].input);
		msgs = imap_append_messages_parse (cmd->args, 1, &error);
		if (cases[i].n == 0) {
			g_assert_null (msgs);
			g_assert_true (g_str_has_prefix (error, cases[i].error));
			continue;
		}
		g_assert_nonnull (msgs);
		g_assert_cmpuint (msgs->len, ==, cases[i].n);
	}
}

/* what each message of a MULTIAPPEND carries */
static void
test_append_message_fields (void)
{
	const char *input =
	    "a APPEND INBOX (\\Seen $k \\Draft) \"07-Dec-2026 12:00:00 +0100\" {2+}\r\nab {1+}\r\nc\r\n";
	g_autoptr (ImapCommand) cmd = parse_command (input);
	g_autoptr (GArray) msgs = NULL;
	const ImapAppendMessage *m;
	const char *error = NULL;

	msgs = imap_append_messages_parse (cmd->args, 1, &error);
	g_assert_nonnull (msgs);
	g_assert_cmpuint (msgs->len, ==, 2);
	m = &g_array_index (msgs, ImapAppendMessage, 0);
	g_assert_cmpint (m->flags, ==, EP_STORE_FLAG_SEEN | EP_STORE_FLAG_DRAFT);
	g_assert_cmpstrv ((const char *const *)m->keywords->pdata, ((const char *const[]){"$k", NULL}));
	g_assert_cmpint (m->date, ==, 1796641200);
	g_assert_cmpmem (m->literal->str, m->literal->len, "ab", 2);
	m = &g_array_index (msgs, ImapAppendMessage, 1);
	g_assert_cmpint (m->flags, ==, 0);
	g_assert_null (m->keywords->pdata[0]);
	g_assert_cmpint (m->date, ==, 0);
	g_assert_cmpmem (m->literal->str, m->literal->len, "c", 1);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/imap/util/utf7", test_utf7);
	g_test_add_func ("/imap/util/strings", test_strings);
	g_test_add_func ("/imap/util/flags", test_flags);
	g_test_add_func ("/imap/util/dates", test_dates);
	g_test_add_func ("/imap/util/base64", test_base64);
	g_test_add_func ("/imap/util/list-match", test_list_match);
	g_test_add_func ("/imap/fetch/sections", test_fetch);
	g_test_add_func ("/imap/fetch/macros", test_fetch_macros);
	g_test_add_func ("/imap/fetch/binary", test_fetch_binary);
	g_test_add_func ("/imap/fetch/object-ids", test_fetch_object_ids);
	g_test_add_func ("/imap/util/append-messages", test_append_messages);
	g_test_add_func ("/imap/util/append-message-fields", test_append_message_fields);
	return g_test_run ();
}
