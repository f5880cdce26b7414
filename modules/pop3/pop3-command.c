/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "pop3-command.h"

static const struct {
	const char *name;
	Pop3Verb verb;
} pop3_verbs[] = {
    {"USER", POP3_VERB_USER}, {"PASS", POP3_VERB_PASS}, {"APOP", POP3_VERB_APOP}, {"AUTH", POP3_VERB_AUTH},
    {"STLS", POP3_VERB_STLS}, {"CAPA", POP3_VERB_CAPA}, {"STAT", POP3_VERB_STAT}, {"LIST", POP3_VERB_LIST},
    {"RETR", POP3_VERB_RETR}, {"DELE", POP3_VERB_DELE}, {"NOOP", POP3_VERB_NOOP}, {"RSET", POP3_VERB_RSET},
    {"QUIT", POP3_VERB_QUIT}, {"TOP", POP3_VERB_TOP},	{"UIDL", POP3_VERB_UIDL},
};

const char *
pop3_verb_to_string (Pop3Verb verb)
{
	for (guint i = 0; i < G_N_ELEMENTS (pop3_verbs); i++)
		if (pop3_verbs[i].verb == verb)
			return pop3_verbs[i].name;
	return "UNKNOWN";
}

void
pop3_command_clear (Pop3Command *cmd)
{
	/* a password or an initial response is not left behind in memory */
	if (cmd->arg != NULL && cmd->verb == POP3_VERB_PASS)
		memset (cmd->arg, 0, strlen (cmd->arg));
	if (cmd->initial != NULL)
		memset (cmd->initial, 0, strlen (cmd->initial));
	g_free (cmd->arg);
	g_free (cmd->initial);
	memset (cmd, 0, sizeof (*cmd));
}

#define FAIL(text)                                                                                                     \
	do {                                                                                                           \
		if (error != NULL)                                                                                     \
			*error = (text);                                                                               \
		return FALSE;                                                                                          \
	} while (0)

/* 1 to 10 decimal digits whose value fits 32 bits */
static gboolean
pop3_parse_number (const char *s, gsize len, guint32 *out)
{
	guint64 v = 0;

	if (len == 0 || len > 10)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return FALSE;
		v = v * 10 + (guint64)(s[i] - '0');
	}
	if (v > G_MAXUINT32)
		return FALSE;
	*out = (guint32)v;
	return TRUE;
}

/* Splits @s at single spaces: at most @max fields.  Returns the number of
 * fields, or -1 for an empty field (two spaces, or one at an end) or more
 * than @max. */
static gint
pop3_split (const char *s, gsize len, const char **fields, gsize *lens, guint max)
{
	guint n = 0;
	gsize start = 0;

	if (len == 0)
		return 0;
	for (gsize i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (i == start || n == max)
			return -1;
		fields[n] = s + start;
		lens[n] = i - start;
		n++;
		start = i + 1;
	}
	return (gint)n;
}

static gboolean
pop3_valid_mechanism (const char *s, gsize len)
{
	if (len == 0 || len > POP3_COMMAND_MAX_MECHANISM)
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_')
			return FALSE;
	return TRUE;
}

/* RFC 4648 alphabet and padding, or "=" alone; the decoding is the
 * session's business */
static gboolean
pop3_valid_base64 (const char *s, gsize len)
{
	if (len == 1 && s[0] == '=')
		return TRUE;
	if (len == 0 || len % 4 != 0)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = s[i];
		if (g_ascii_isalnum (c) || c == '+' || c == '/')
			continue;
		if (c == '=' && i >= len - 2 && (i == len - 1 || s[len - 1] == '='))
			continue;
		return FALSE;
	}
	return TRUE;
}

gboolean
pop3_command_parse (const char *line, gsize len, Pop3Command *cmd, const char **error)
{
	gsize klen = 0;
	const char *args;
	gsize alen;
	const char *f[3];
	gsize fl[3];
	gint n;

	memset (cmd, 0, sizeof (*cmd));
	if (error != NULL)
		*error = NULL;
	if (len > POP3_COMMAND_MAX_LINE)
		FAIL ("Command line too long");
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)line[i];
		if (c < 0x20 || c == 0x7f)
			FAIL ("Control characters are not allowed");
	}
	while (klen < len && line[klen] != ' ')
		klen++;
	if (klen < 3 || klen > 4)
		FAIL ("Unknown command");
	for (guint i = 0; i < G_N_ELEMENTS (pop3_verbs); i++) {
		if (strlen (pop3_verbs[i].name) == klen && g_ascii_strncasecmp (pop3_verbs[i].name, line, klen) == 0) {
			cmd->verb = pop3_verbs[i].verb;
			break;
		}
	}
	if (cmd->verb == POP3_VERB_UNKNOWN)
		FAIL ("Unknown command");
	if (klen < len) {
		args = line + klen + 1;
		alen = len - klen - 1;
		if (alen == 0)
			FAIL ("Syntax error: trailing space");
	} else {
		args = line + len;
		alen = 0;
	}

	switch (cmd->verb) {
	case POP3_VERB_PASS:
		/* RFC 1939 §7: the password is the rest of the line, spaces too */
		if (alen == 0)
			FAIL ("Syntax: PASS password");
		if (!g_utf8_validate_len (args, alen, NULL))
			FAIL ("Password is not UTF-8");
		cmd->arg = g_strndup (args, alen);
		return TRUE;
	case POP3_VERB_USER:
		n = pop3_split (args, alen, f, fl, 1);
		if (n != 1)
			FAIL ("Syntax: USER name");
		if (fl[0] > POP3_COMMAND_MAX_ARG * 4 || !g_utf8_validate_len (f[0], fl[0], NULL))
			FAIL ("Invalid user name");
		cmd->arg = g_strndup (f[0], fl[0]);
		return TRUE;
	case POP3_VERB_APOP:
		/* recognised, never offered: no greeting timestamp is sent */
		return TRUE;
	case POP3_VERB_AUTH:
		n = pop3_split (args, alen, f, fl, 2);
		if (n < 0)
			FAIL ("Syntax: AUTH mechanism [initial-response]");
		if (n == 0)
			return TRUE;
		if (!pop3_valid_mechanism (f[0], fl[0]))
			FAIL ("Unrecognized authentication mechanism");
		cmd->arg = g_ascii_strup (f[0], (gssize)fl[0]);
		if (n == 2) {
			if (!pop3_valid_base64 (f[1], fl[1])) {
				g_clear_pointer (&cmd->arg, g_free);
				FAIL ("Cannot decode the initial response");
			}
			cmd->initial = g_strndup (f[1], fl[1]);
		}
		return TRUE;
	case POP3_VERB_STLS:
	case POP3_VERB_CAPA:
	case POP3_VERB_STAT:
	case POP3_VERB_NOOP:
	case POP3_VERB_RSET:
	case POP3_VERB_QUIT:
		if (alen != 0)
			FAIL ("Syntax error: no arguments expected");
		return TRUE;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		n = pop3_split (args, alen, f, fl, 1);
		if (n < 0)
			FAIL ("Syntax error: one message number at most");
		if (n == 1) {
			if (!pop3_parse_number (f[0], fl[0], &cmd->msg) || cmd->msg == 0)
				FAIL ("Invalid message number");
			cmd->has_msg = TRUE;
		}
		return TRUE;
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
		n = pop3_split (args, alen, f, fl, 1);
		if (n != 1)
			FAIL ("Syntax error: a message number is required");
		if (!pop3_parse_number (f[0], fl[0], &cmd->msg) || cmd->msg == 0)
			FAIL ("Invalid message number");
		cmd->has_msg = TRUE;
		return TRUE;
	case POP3_VERB_TOP:
		n = pop3_split (args, alen, f, fl, 2);
		if (n != 2)
			FAIL ("Syntax: TOP message lines");
		if (!pop3_parse_number (f[0], fl[0], &cmd->msg) || cmd->msg == 0)
			FAIL ("Invalid message number");
		if (!pop3_parse_number (f[1], fl[1], &cmd->lines))
			FAIL ("Invalid number of lines");
		cmd->has_msg = TRUE;
		return TRUE;
	case POP3_VERB_UNKNOWN:
	default:
		break;
	}
	FAIL ("Unknown command");
}

GBytes *
pop3_base64_decode (const char *s, gsize len, gboolean allow_equals)
{
	g_autofree char *copy = NULL;
	guchar *out;
	gsize out_len = 0;

	if (len == 1 && s[0] == '=')
		return allow_equals ? g_bytes_new (NULL, 0) : NULL;
	if (len == 0)
		return g_bytes_new (NULL, 0);
	if (!pop3_valid_base64 (s, len))
		return NULL;
	copy = g_strndup (s, len);
	out = g_base64_decode (copy, &out_len);
	return g_bytes_new_take (out, out_len);
}
