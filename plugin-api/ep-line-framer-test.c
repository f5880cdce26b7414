/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-line-framer.h"

/* What scanning a whole input yields: the lines, then the final status
 * (NEED_MORE when the input ends inside or after the lines) and, for an
 * error, the offset of the offending octet within its line. */
typedef struct {
	const char *name;
	const char *input;
	gsize input_len; /* 0: strlen (input) */
	gsize max_line;
	const char *lines[6]; /* NULL-terminated */
	EpLineStatus final;
	gsize final_offset; /* for an error status */
} Case;

#define NUL_INPUT "ab\0c\r\n"

static const Case cases[] = {
	{ "one line", "HELO x\r\n", 0, 100, { "HELO x", NULL }, EP_LINE_NEED_MORE, 0 },
	{ "empty input", "", 0, 100, { NULL }, EP_LINE_NEED_MORE, 0 },
	{ "no CRLF yet", "abc", 0, 100, { NULL }, EP_LINE_NEED_MORE, 0 },
	{ "CR at end", "abc\r", 0, 100, { NULL }, EP_LINE_NEED_MORE, 0 },
	{ "empty line", "\r\n", 0, 100, { "", NULL }, EP_LINE_NEED_MORE, 0 },
	{ "bare CR", "abc\rx\r\n", 0, 100, { NULL }, EP_LINE_BARE_CR, 3 },
	{ "CR CR LF", "a\r\r\n", 0, 100, { NULL }, EP_LINE_BARE_CR, 1 },
	{ "bare LF", "abc\ndef\r\n", 0, 100, { NULL }, EP_LINE_BARE_LF, 3 },
	{ "LF first", "\n", 0, 100, { NULL }, EP_LINE_BARE_LF, 0 },
	{ "NUL", NUL_INPUT, sizeof (NUL_INPUT) - 1, 100, { NULL }, EP_LINE_NUL, 2 },
	{ "exactly max_line", "abcd\r\n", 0, 4, { "abcd", NULL }, EP_LINE_NEED_MORE, 0 },
	{ "max_line + 1", "abcde\r\n", 0, 4, { NULL }, EP_LINE_TOO_LONG, 4 },
	{ "max_line + 1 without end", "abcdefghij", 0, 4, { NULL }, EP_LINE_TOO_LONG, 4 },
	{ "max_line, no CRLF yet", "abcd", 0, 4, { NULL }, EP_LINE_NEED_MORE, 0 },
	{ "max_line, CR at end", "abcd\r", 0, 4, { NULL }, EP_LINE_NEED_MORE, 0 },
	{ "max_line, bare CR", "abcd\rx", 0, 4, { NULL }, EP_LINE_BARE_CR, 4 },
	{ "bare LF before the limit", "ab\ncdefgh", 0, 4, { NULL }, EP_LINE_BARE_LF, 2 },
	{ "max_line 0", "\r\n\r\nx", 0, 0, { "", "", NULL }, EP_LINE_TOO_LONG, 0 },
	{ "several lines", "a\r\nbb\r\n\r\nccc\r\nd", 0, 100, { "a", "bb", "", "ccc", NULL }, EP_LINE_NEED_MORE, 0 },
	{ "line then bare LF", "a\r\nb\nc", 0, 100, { "a", NULL }, EP_LINE_BARE_LF, 1 },
	{ "line then too long", "abcd\r\nabcdefg\r\n", 0, 4, { "abcd", NULL }, EP_LINE_TOO_LONG, 4 },
	{ "pipelined SMTP", "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", 0, 1022,
	  { "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", NULL }, EP_LINE_NEED_MORE, 0 },
	{ "8-bit octets", "caf\xc3\xa9\xff\r\n", 0, 100, { "caf\xc3\xa9\xff", NULL }, EP_LINE_NEED_MORE, 0 },
};

typedef struct {
	GPtrArray *lines;
	EpLineStatus final;
	gsize final_offset;
} Result;

static void
result_clear (Result *r)
{
	g_clear_pointer (&r->lines, g_ptr_array_unref);
}

/* Feeds @input @chunk octets at a time into a buffer and rescans after each
 * piece, the way a connection does; chunk 0 means all at once. */
static void
scan_in_chunks (const guint8 *input, gsize len, gsize max_line, gsize chunk, Result *r)
{
	g_autoptr(GByteArray) buf = g_byte_array_new ();
	gsize fed = 0;

	r->lines = g_ptr_array_new_with_free_func (g_free);
	r->final = EP_LINE_NEED_MORE;
	r->final_offset = 0;
	if (chunk == 0)
		chunk = MAX (len, 1);
	for (;;) {
		gsize n = MIN (chunk, len - fed);
		g_byte_array_append (buf, input + fed, (guint) n);
		fed += n;
		for (;;) {
			gsize line_len = 12345, consumed = 12345;
			EpLineStatus status = ep_line_scan (buf->data, buf->len, max_line, &line_len, &consumed);
			if (status == EP_LINE_OK) {
				g_assert_cmpuint (consumed, ==, line_len + 2);
				g_assert_cmpuint (line_len, <=, max_line);
				g_ptr_array_add (r->lines, g_strndup ((const char *) buf->data, line_len));
				g_byte_array_remove_range (buf, 0, (guint) consumed);
				continue;
			}
			g_assert_cmpuint (consumed, ==, 0);
			if (status != EP_LINE_NEED_MORE) {
				r->final = status;
				r->final_offset = line_len;
				return;
			}
			break;
		}
		if (fed == len)
			return;
	}
}

static void
test_line_framer_cases (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		const Case *c = &cases[i];
		gsize len = c->input_len != 0 ? c->input_len : strlen (c->input);
		Result whole = { 0 };
		guint n_lines = 0;

		g_test_message ("case '%s'", c->name);
		scan_in_chunks ((const guint8 *) c->input, len, c->max_line, 0, &whole);
		while (c->lines[n_lines] != NULL)
			n_lines++;
		g_assert_cmpuint (whole.lines->len, ==, n_lines);
		for (guint j = 0; j < n_lines; j++)
			g_assert_cmpstr (g_ptr_array_index (whole.lines, j), ==, c->lines[j]);
		g_assert_cmpint (whole.final, ==, c->final);
		if (c->final != EP_LINE_NEED_MORE)
			g_assert_cmpuint (whole.final_offset, ==, c->final_offset);

		/* one octet at a time, then two, up to the whole input */
		for (gsize chunk = 1; chunk <= len; chunk++) {
			Result part = { 0 };
			scan_in_chunks ((const guint8 *) c->input, len, c->max_line, chunk, &part);
			g_assert_cmpuint (part.lines->len, ==, whole.lines->len);
			for (guint j = 0; j < part.lines->len; j++)
				g_assert_cmpstr (g_ptr_array_index (part.lines, j), ==,
						 g_ptr_array_index (whole.lines, j));
			g_assert_cmpint (part.final, ==, whole.final);
			g_assert_cmpuint (part.final_offset, ==, whole.final_offset);
			result_clear (&part);
		}
		result_clear (&whole);
	}
}

static void
test_line_framer_long_line (void)
{
	/* the verdict comes without waiting for the end of the line */
	g_autofree guint8 *data = g_malloc (2000);
	gsize line_len = 0, consumed = 0;

	memset (data, 'x', 2000);
	g_assert_cmpint (ep_line_scan (data, 1022, 1022, &line_len, &consumed), ==, EP_LINE_NEED_MORE);
	g_assert_cmpint (ep_line_scan (data, 1023, 1022, &line_len, &consumed), ==, EP_LINE_TOO_LONG);
	g_assert_cmpuint (line_len, ==, 1022);
	g_assert_cmpuint (consumed, ==, 0);
	data[1022] = '\r';
	data[1023] = '\n';
	g_assert_cmpint (ep_line_scan (data, 2000, 1022, &line_len, &consumed), ==, EP_LINE_OK);
	g_assert_cmpuint (line_len, ==, 1022);
	g_assert_cmpuint (consumed, ==, 1024);
}

static void
test_line_framer_status_names (void)
{
	for (EpLineStatus s = EP_LINE_NEED_MORE; s <= EP_LINE_NUL; s++)
		g_assert_cmpstr (ep_line_status_to_string (s), !=, "unknown");
	g_assert_cmpstr (ep_line_status_to_string (EP_LINE_BARE_LF), ==, "bare LF");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/line-framer/cases", test_line_framer_cases);
	g_test_add_func ("/line-framer/long-line", test_line_framer_long_line);
	g_test_add_func ("/line-framer/status-names", test_line_framer_status_names);
	return g_test_run ();
}
