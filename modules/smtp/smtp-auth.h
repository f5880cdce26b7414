/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "smtp-command.h"

G_BEGIN_DECLS

/*
 * The pure parts of SMTP AUTH (RFC 4954) and of authenticated submission
 * (RFC 6409): the AUTH command's argument, the base64 lines of the
 * exchange, the From: addresses a submitted message claims and the fields
 * a message submission agent adds.  No I/O, so that unit tests and the
 * fuzzer drive them directly.
 */

/* RFC 4954 §4: a line of the exchange (the AUTH command with its initial
 * response, or a response to a 334 challenge) may be 12288 octets with
 * CRLF */
#define SMTP_AUTH_MAX_LINE SMTP_COMMAND_MAX_LINE_AUTH

/* RFC 4422 §3.1: a mechanism name is 1 to 20 of A-Z, 0-9, "-" and "_" */
#define SMTP_AUTH_MAX_MECHANISM 20

typedef enum {
	SMTP_AUTH_LINE_OK,	  /* decoded */
	SMTP_AUTH_LINE_CANCEL,	  /* "*": the client gives up (501 5.0.0) */
	SMTP_AUTH_LINE_MALFORMED, /* not base64 (501 5.5.2) */
} SmtpAuthLine;

/**
 * smtp_auth_parse_command:
 * @arg: the argument of AUTH: mechanism [SP initial-response]
 * @len: its length
 * @mechanism: (out) (transfer full): the mechanism name, upper-cased
 * @initial: (out) (transfer full) (nullable): the decoded initial
 *   response, empty for "="; NULL when the client sent none
 * @reply: (out): on failure, what to answer
 *
 * Returns: %TRUE when the argument is well formed.
 */
gboolean smtp_auth_parse_command (const char *arg, gsize len, char **mechanism, GBytes **initial, SmtpReply *reply);

/**
 * smtp_auth_decode_line:
 * @line: a client's response to a 334 challenge, without CRLF
 * @out: (out) (transfer full) (optional): the decoded octets with
 *   %SMTP_AUTH_LINE_OK; an empty line is an empty response
 *
 * Strict RFC 4648 base64: only the alphabet, a length that is a multiple
 * of four, padding only at the end.
 */
SmtpAuthLine smtp_auth_decode_line (const char *line, gsize len, GBytes **out);

/* Strict RFC 4648 §4 base64 (see smtp_auth_decode_line()); %NULL when it
 * is not.  "" decodes to an empty buffer. */
GBytes *smtp_auth_base64_decode (const char *s, gsize len);

/* "334 <base64>\r\n" (or "334 \r\n" for an empty or %NULL challenge) */
char *smtp_auth_challenge_line (GBytes *challenge);

/**
 * smtp_auth_from_addresses:
 * @msg: a message, CRLF line ends
 *
 * Every mailbox of every From: field of the header (RFC 5322 allows one
 * field, a message may carry more: all are checked), as local-part@domain
 * with the domain lower-cased.  Groups contribute their members.
 *
 * Returns: (transfer full) (nullable) (element-type utf8): the addresses;
 *   %NULL when there is no From: field, no mailbox in it, or a mailbox
 *   without local part or domain
 */
GPtrArray *smtp_auth_from_addresses (const guint8 *msg, gsize len);

/* Whether the header of @msg has a field called @name (case ignored). */
gboolean smtp_auth_has_field (const guint8 *msg, gsize len, const char *name);

/* "<random@hostname>" for a Message-ID field */
char *smtp_auth_new_message_id (const char *hostname);

/**
 * smtp_auth_missing_fields:
 * @msg: the submitted message
 * @hostname: ours, for the Message-ID
 * @now: the time for the Date field
 *
 * RFC 6409 §8.2 and §8.3: the Message-ID and Date fields a message lacks,
 * as header lines to put in front of it ("" when it has both).
 *
 * Returns: (transfer full): the lines, CRLF-terminated
 */
char *smtp_auth_missing_fields (const guint8 *msg, gsize len, const char *hostname, GDateTime *now);

G_END_DECLS
