/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * SMTP replies as a client reads them (RFC 5321 §4.2): one or more lines
 * with the same three-digit code, "250-" on every line but the last,
 * "250 " (or a bare "250") on the last.  The parser is strict and bounded,
 * a pure function over lines so that unit tests and the fuzzer drive it
 * without sockets:
 *
 *   - the code is [2-5][0-9][0-9] (SMTP has no 1yz replies; RFC 5321 §4.2
 *     asks clients to take an unknown second digit by its first digit);
 *   - after the code comes "-", " " or the end of the line, nothing else;
 *   - every line of one reply carries the same code;
 *   - the text is HT, printable ASCII or well-formed UTF-8 (RFC 6531
 *     servers may answer in UTF-8); any other control octet is refused;
 *   - a line is at most EP_SMTP_REPLY_MAX_LINE octets (CRLF not counted),
 *     a reply at most EP_SMTP_REPLY_MAX_LINES lines and
 *     EP_SMTP_REPLY_MAX_TEXT octets of text.
 *
 * An RFC 3463 enhanced status code ("5.1.1") at the start of the first
 * line's text is taken apart when its class matches the code's first
 * digit; the same code is then stripped from every line that starts with
 * it.  A code whose class does not match stays in the text.
 */

#define EP_SMTP_REPLY_MAX_LINE	1000
#define EP_SMTP_REPLY_MAX_LINES 1000
#define EP_SMTP_REPLY_MAX_TEXT	(64 * 1024)

typedef struct {
	guint code;	/* 200..599 */
	char *enhanced; /* (nullable) "4.2.1" */
	char *text;	/* every line's text joined with "\n", the enhanced code stripped */
} EpSmtpReply;

#define EP_TYPE_SMTP_REPLY (ep_smtp_reply_get_type ())
EP_API GType ep_smtp_reply_get_type (void);

/**
 * ep_smtp_reply_new:
 * @code: 200..599
 * @enhanced: (nullable): "5.3.4", whose class is @code's first digit
 * @text: (nullable): the text ("" when NULL)
 *
 * A reply made up locally (a refusal the client decides on without asking
 * the server).
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpSmtpReply *ep_smtp_reply_new (guint code, const char *enhanced,
								 const char *text);
EP_API G_GNUC_WARN_UNUSED_RESULT EpSmtpReply *ep_smtp_reply_copy (const EpSmtpReply *reply);
EP_API void ep_smtp_reply_free (EpSmtpReply *reply);

/**
 * ep_smtp_reply_to_string:
 *
 * Returns: (transfer full): "550 5.1.1 text" on one line (the lines of a
 *   multi-line reply joined by a space), for logs and DSNs.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_smtp_reply_to_string (const EpSmtpReply *reply);

/* 2yz, 4yz, 5yz (3yz is none of them) */
EP_API gboolean ep_smtp_reply_is_positive (const EpSmtpReply *reply);
EP_API gboolean ep_smtp_reply_is_transient (const EpSmtpReply *reply);
EP_API gboolean ep_smtp_reply_is_permanent (const EpSmtpReply *reply);

/**
 * ep_smtp_enhanced_code_scan:
 * @text: text that may start with an RFC 3463 code
 * @len: its length
 *
 * Returns: the length of the code ("5.1.1" is 5) when @text starts with
 *   class "." subject "." detail (class 2, 4 or 5; subject and detail one
 *   to three digits) followed by a space or the end, else 0.
 */
EP_API gsize ep_smtp_enhanced_code_scan (const char *text, gsize len);

typedef struct _EpSmtpReplyParser EpSmtpReplyParser;

EP_API G_GNUC_WARN_UNUSED_RESULT EpSmtpReplyParser *ep_smtp_reply_parser_new (void);
EP_API void ep_smtp_reply_parser_free (EpSmtpReplyParser *self);
/* Forgets the lines of an unfinished reply. */
EP_API void ep_smtp_reply_parser_reset (EpSmtpReplyParser *self);
/* Lines of an unfinished reply held (a peer closing now closes mid-reply). */
EP_API guint ep_smtp_reply_parser_get_pending_lines (EpSmtpReplyParser *self);

/**
 * ep_smtp_reply_parser_feed:
 * @line: one line without its CRLF (need not be NUL-terminated)
 * @len: its length
 * @reply: (out) (transfer full): the reply, when @line was its last line
 *
 * Returns: TRUE with *@reply when @line ends a reply; FALSE with no error
 *   when more lines are needed; FALSE with EP_ERROR_INVALID naming the
 *   fault when @line is malformed.  The parser starts afresh after a reply
 *   and after an error.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_smtp_reply_parser_feed (EpSmtpReplyParser *self, const char *line,
								     gsize len, EpSmtpReply **reply,
								     GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpSmtpReply, ep_smtp_reply_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpSmtpReplyParser, ep_smtp_reply_parser_free)

G_END_DECLS
