/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The POP3 command parser (RFC 1939, RFC 2449, RFC 2595, RFC 5034): a pure
 * function over one command line (without its CRLF), so that unit tests
 * and the fuzzer drive it without sockets.
 */

/* RFC 2449 §4: a command line is at most 255 octets with its CRLF */
#define POP3_COMMAND_MAX_LINE 253
/* RFC 2449 §4: an argument is at most 40 octets (PASS and the initial
 * response of AUTH are longer in practice: they are bounded by the line) */
#define POP3_COMMAND_MAX_ARG 40
/* RFC 4422 §3.1: a mechanism name is 1 to 20 of A-Z, 0-9, "-" and "_" */
#define POP3_COMMAND_MAX_MECHANISM 20

typedef enum {
	POP3_VERB_UNKNOWN,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_APOP,
	POP3_VERB_AUTH,
	POP3_VERB_STLS,
	POP3_VERB_CAPA,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_QUIT,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
} Pop3Verb;

typedef struct {
	Pop3Verb verb;
	/* LIST, UIDL: a message number was given; RETR, DELE, TOP: always */
	gboolean has_msg;
	guint32 msg;   /* 1.. */
	guint32 lines; /* TOP: body lines, 0.. */
	/* USER: the name; PASS: the password (the rest of the line, spaces
	 * included); AUTH: the mechanism, upper-cased, or NULL for a bare
	 * AUTH (list the mechanisms) */
	char *arg;
	/* AUTH: the initial response as sent (base64, "=" for an empty one);
	 * NULL when there is none */
	char *initial;
} Pop3Command;

/**
 * pop3_command_parse:
 * @line: a command line without CRLF (it may hold any octet)
 * @len: its length
 * @cmd: (out caller-allocates): the command; clear it with
 *   pop3_command_clear() whatever the result
 * @error: (out) (optional): on failure, the text of the -ERR answer
 *   (static)
 *
 * A keyword of 3 or 4 letters, case ignored, then arguments separated by
 * one space each.  Message numbers are decimal, 1 to 4294967295; the TOP
 * line count 0 to 4294967295.  Control characters are refused everywhere;
 * the user name and the password must be UTF-8.
 *
 * Returns: %TRUE when the command is well formed; an unknown keyword is
 *   %FALSE with @cmd->verb %POP3_VERB_UNKNOWN
 */
gboolean pop3_command_parse (const char *line, gsize len, Pop3Command *cmd, const char **error);

void pop3_command_clear (Pop3Command *cmd);

const char *pop3_verb_to_string (Pop3Verb verb);

/* RFC 5034 §4: the base64 line of a SASL exchange, or its initial
 * response ("=" is an empty one there).  Strict RFC 4648: the alphabet,
 * a length that is a multiple of four, padding only at the end.
 *
 * Returns: (transfer full) (nullable): the decoded octets, %NULL when
 *   @s is not base64 */
GBytes *pop3_base64_decode (const char *s, gsize len, gboolean allow_equals);

G_END_DECLS
