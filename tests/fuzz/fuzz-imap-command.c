/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The IMAP command parser on arbitrary bytes.  The first octet picks the
 * limits (small ones reach the limit paths) and a chunk size; the rest is
 * fed whole, then in chunks, then one octet at a time.  Properties:
 * the three feeds report the same events (commands, literal headers,
 * errors); every call consumes something or reports; a literal never
 * exceeds its limit; the text of every error is non-empty; the tags and
 * names of commands are well formed.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-parser.h"
#include "imap-util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_arg (const ImapArg *arg, guint depth)
{
	g_assert (depth <= IMAP_PARSER_MAX_DEPTH + 1);
	switch (arg->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		g_assert (arg->len > 0 && strlen (arg->str) == arg->len);
		for (gsize i = 0; i < arg->len; i++)
			g_assert (((guchar)arg->str[i] > 0x20 && (guchar)arg->str[i] < 0x7f) || arg->str[i] == ' ');
		break;
	case IMAP_ARG_QUOTED:
		g_assert (g_utf8_validate (arg->str, (gssize)arg->len, NULL));
		g_assert (strlen (arg->str) == arg->len);
		g_assert (memchr (arg->str, '\r', arg->len) == NULL && memchr (arg->str, '\n', arg->len) == NULL);
		break;
	case IMAP_ARG_LITERAL:
		g_assert (arg->str[arg->len] == '\0');
		break;
	case IMAP_ARG_LIST:
		for (guint i = 0; i < arg->list->len; i++)
			fuzz_check_arg (g_ptr_array_index (arg->list, i), depth + 1);
		break;
	}
}

static void
fuzz_feed (ImapParser *p, const char *data, gsize len, const ImapParserLimits *limits, GString *out)
{
	gsize off = 0;

	while (off < len) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, data + off, len - off, &used);

		g_assert (used <= len - off);
		off += used;
		if (st == IMAP_PARSE_NEED_MORE) {
			g_assert (off == len);
		} else if (st == IMAP_PARSE_DONE) {
			g_autoptr (ImapCommand) cmd = imap_parser_take_command (p);
			g_autoptr (GString) s = NULL;

			g_assert (used > 0);
			g_assert (cmd != NULL && cmd->tag != NULL && cmd->name != NULL);
			g_assert (strlen (cmd->tag) > 0 && strchr (cmd->tag, '+') == NULL);
			for (const char *c = cmd->name; *c != '\0'; c++)
				g_assert (!g_ascii_islower (*c));
			for (guint i = 0; i < cmd->args->len; i++)
				fuzz_check_arg (g_ptr_array_index (cmd->args, i), 1);
			/* APPEND's messages (MULTIAPPEND): one at least, or a reason */
			if (strcmp (cmd->name, "APPEND") == 0) {
				const char *error = NULL;
				g_autoptr (GArray) msgs = imap_append_messages_parse (cmd->args, 1, &error);

				g_assert ((msgs == NULL) == (error != NULL && error[0] != '\0'));
				for (guint i = 0; msgs != NULL && i < msgs->len; i++) {
					const ImapAppendMessage *m = &g_array_index (msgs, ImapAppendMessage, i);

					g_assert (m->literal != NULL && m->literal->type == IMAP_ARG_LITERAL);
					g_assert ((m->flags & ~EP_STORE_FLAGS_ALL) == 0);
					g_assert (m->keywords->pdata[m->keywords->len - 1] == NULL);
				}
				g_assert (msgs == NULL || msgs->len <= cmd->args->len);
			}
			s = imap_command_render (cmd);
			g_string_append (out, "D ");
			g_string_append_len (out, s->str, (gssize)s->len);
			g_string_append_c (out, '\n');
		} else if (st == IMAP_PARSE_LITERAL) {
			guint64 n;
			gboolean nonsync, lit8;

			g_assert (used > 0);
			imap_parser_get_literal (p, &n, &nonsync, &lit8);
			g_assert (n <= MAX (limits->max_literal, limits->max_append));
			g_string_append_printf (out, "L %" G_GUINT64_FORMAT " %d %d\n", n, nonsync, lit8);
		} else {
			const char *tag = imap_parser_get_error_tag (p);

			g_assert (st == IMAP_PARSE_ERROR);
			g_assert (used > 0);
			g_assert (imap_parser_get_error (p) != NULL && imap_parser_get_error (p)[0] != '\0');
			g_string_append_printf (out, "E %s %d %s\n", tag != NULL ? tag : "-",
						imap_parser_get_error_kind (p), imap_parser_get_error (p));
		}
	}
}

static GString *
fuzz_run (const char *data, gsize len, gsize chunk, const ImapParserLimits *limits)
{
	g_autoptr (ImapParser) p = imap_parser_new (limits);
	GString *out = g_string_new (NULL);

	for (gsize pos = 0; pos < len; pos += chunk)
		fuzz_feed (p, data + pos, MIN (chunk, len - pos), limits, out);
	return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	ImapParserLimits limits = {0};
	g_autoptr (GString) whole = NULL;
	g_autoptr (GString) chunked = NULL;
	g_autoptr (GString) bytewise = NULL;
	gsize chunk;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		limits.max_line = 64;
		limits.max_literal = 16;
		limits.max_append = 100;
	} else {
		limits.max_line = IMAP_PARSER_MAX_LINE;
		limits.max_literal = IMAP_PARSER_MAX_LITERAL;
		limits.max_append = 1024 * 1024;
	}
	chunk = (gsize)(data[0] >> 1) + 1;
	data++;
	size--;
	whole = fuzz_run ((const char *)data, size, size > 0 ? size : 1, &limits);
	chunked = fuzz_run ((const char *)data, size, chunk, &limits);
	bytewise = fuzz_run ((const char *)data, size, 1, &limits);
	g_assert (g_string_equal (whole, chunked));
	g_assert (g_string_equal (whole, bytewise));
	return 0;
}
