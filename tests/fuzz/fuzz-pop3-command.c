/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The POP3 command parser on arbitrary bytes: the input is cut into lines
 * at every LF (a CR before it dropped, as the line framer would), each line
 * parsed twice (the parser is pure: the same answer both times).  A
 * command that parses is checked against what the parser promises: a known
 * verb, message numbers from 1, arguments only where the verb has them,
 * UTF-8 without control characters, a mechanism name of RFC 4422's
 * alphabet, an initial response that decodes.  A refusal carries a text
 * and no argument.
 *
 * The whole input then goes through the RETR/TOP filter whole and cut in
 * two at a point the input chooses: the output must not depend on the cut,
 * must end with ".\r\n", and must hold no LF without its CR.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "pop3-command.h"
#include "pop3-dotstuff.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_text (const char *s)
{
	g_assert (s != NULL);
	g_assert (g_utf8_validate (s, -1, NULL));
	for (const char *p = s; *p != '\0'; p++)
		g_assert ((guchar)*p >= 0x20 && *p != 0x7f);
}

static void
fuzz_check_command (const char *line, gsize len)
{
	Pop3Command cmd, again;
	const char *error = NULL, *error_again = NULL;
	gboolean ok = pop3_command_parse (line, len, &cmd, &error);
	gboolean ok_again = pop3_command_parse (line, len, &again, &error_again);

	g_assert_cmpint (ok, ==, ok_again);
	g_assert_cmpint (cmd.verb, ==, again.verb);
	g_assert_cmpstr (cmd.arg, ==, again.arg);
	g_assert_cmpstr (cmd.initial, ==, again.initial);
	g_assert_cmpuint (cmd.msg, ==, again.msg);
	g_assert_cmpuint (cmd.lines, ==, again.lines);
	pop3_command_clear (&again);

	if (!ok) {
		g_assert (error != NULL && error[0] != '\0');
		g_assert (cmd.arg == NULL && cmd.initial == NULL);
		pop3_command_clear (&cmd);
		return;
	}
	g_assert (error == NULL);
	g_assert_cmpuint (len, <=, POP3_COMMAND_MAX_LINE);
	g_assert (cmd.verb != POP3_VERB_UNKNOWN);
	g_assert_cmpuint (
	    g_ascii_strncasecmp (line, pop3_verb_to_string (cmd.verb), strlen (pop3_verb_to_string (cmd.verb))), ==, 0);
	switch (cmd.verb) {
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
	case POP3_VERB_TOP:
		g_assert (cmd.has_msg);
		g_assert_cmpuint (cmd.msg, >=, 1);
		g_assert (cmd.arg == NULL);
		break;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		g_assert (!cmd.has_msg || cmd.msg >= 1);
		g_assert (cmd.arg == NULL);
		break;
	case POP3_VERB_USER:
		fuzz_check_text (cmd.arg);
		g_assert (cmd.arg[0] != '\0' && strchr (cmd.arg, ' ') == NULL);
		break;
	case POP3_VERB_PASS:
		fuzz_check_text (cmd.arg);
		g_assert (cmd.arg[0] != '\0');
		break;
	case POP3_VERB_AUTH:
		if (cmd.arg == NULL) {
			g_assert (cmd.initial == NULL);
			break;
		}
		g_assert_cmpuint (strlen (cmd.arg), >=, 1);
		g_assert_cmpuint (strlen (cmd.arg), <=, POP3_COMMAND_MAX_MECHANISM);
		for (const char *p = cmd.arg; *p != '\0'; p++)
			g_assert (g_ascii_isupper (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '_');
		if (cmd.initial != NULL) {
			g_autoptr (GBytes) decoded = pop3_base64_decode (cmd.initial, strlen (cmd.initial), TRUE);
			g_assert (decoded != NULL);
		}
		break;
	default:
		g_assert (!cmd.has_msg && cmd.arg == NULL && cmd.initial == NULL);
		break;
	}
	if (cmd.verb != POP3_VERB_TOP)
		g_assert_cmpuint (cmd.lines, ==, 0);
	pop3_command_clear (&cmd);
}

static GByteArray *
fuzz_filter (const uint8_t *data, size_t size, size_t cut, gint64 lines)
{
	GByteArray *out = g_byte_array_new ();
	Pop3DotStuff ds;

	pop3_dotstuff_init (&ds, lines);
	if (pop3_dotstuff_feed (&ds, data, cut, out))
		(void)pop3_dotstuff_feed (&ds, data + cut, size - cut, out);
	else
		g_assert (!pop3_dotstuff_feed (&ds, data + cut, size - cut, out));
	pop3_dotstuff_finish (&ds, out);
	return out;
}

static void
fuzz_check_filter (const uint8_t *data, size_t size)
{
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;
	gint64 lines = size > 1 ? (gint64)(data[1] % 8) - 1 : -1;
	g_autoptr (GByteArray) whole = fuzz_filter (data, size, size, lines);
	g_autoptr (GByteArray) split = fuzz_filter (data, size, cut, lines);

	g_assert_cmpmem (whole->data, whole->len, split->data, split->len);
	g_assert_cmpuint (whole->len, >=, 3);
	g_assert (memcmp (whole->data + whole->len - 3, ".\r\n", 3) == 0);
	for (guint i = 0; i < whole->len; i++) {
		if (whole->data[i] == '\n')
			g_assert (i > 0 && whole->data[i - 1] == '\r');
		/* a line that starts with "." is stuffed, except the terminator */
		if (whole->data[i] == '.' && (i == 0 || whole->data[i - 1] == '\n') && i != whole->len - 3)
			g_assert (i + 1 < whole->len && whole->data[i + 1] == '.');
		if (whole->data[i] == '.' && (i == 0 || whole->data[i - 1] == '\n') && i != whole->len - 3)
			i++;
	}
	if (lines < 0)
		g_assert_cmpuint (whole->len, >=, size + 3);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	gsize pos = 0;

	while (pos < size) {
		const uint8_t *nl = memchr (data + pos, '\n', size - pos);
		gsize end = nl != NULL ? (gsize)(nl - data) : size;
		gsize len = end - pos;

		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		fuzz_check_command ((const char *)data + pos, len);
		pos = end + 1;
	}
	fuzz_check_filter (data, size);
	return 0;
}
