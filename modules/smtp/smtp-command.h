/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The parser of one SMTP command line (RFC 5321 §4.1, with the ESMTP
 * parameters of RFC 1870, 3461, 6152, 6531, 8689 and the BDAT command of
 * RFC 3030).  A pure function over a buffer: no I/O, no session state
 * beyond what the caller passes in, so the unit tests and the fuzzer drive
 * it directly.
 *
 * The grammar is applied strictly, with one documented leniency: spaces
 * between "FROM:" / "TO:" and the '<' of the path ("MAIL FROM: <a@b>") are
 * accepted, because many deployed clients send them and the angle brackets
 * keep the path unambiguous.  A path without angle brackets, a space
 * before the colon, trailing spaces, two spaces between parameters or a
 * parameter that was not advertised are refused.
 *
 * A refused line comes back as an SmtpReply the session sends as it is:
 * a reply code, an RFC 3463 enhanced status code of the same class and a
 * text that never echoes client input.
 */

typedef enum {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
} SmtpVerb;

/* A reply for the client: static strings, never client input. */
typedef struct {
	guint code;
	const char *enhanced;
	const char *text;
} SmtpReply;

typedef enum {
	SMTP_BODY_UNSET,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
} SmtpBody;

typedef enum {
	SMTP_RET_UNSET,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
} SmtpRet;

/* RFC 3461 NOTIFY: NEVER alone, or a set of the others */
typedef enum {
	SMTP_NOTIFY_UNSET = 0,
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
} SmtpNotify;

typedef enum {
	SMTP_PARSE_NONE = 0,
	/* the transaction's MAIL carried SMTPUTF8: RCPT may use UTF-8 */
	SMTP_PARSE_UTF8 = 1 << 0,
	/* AUTH was advertised: MAIL may carry AUTH= (RFC 4954 §5) */
	SMTP_PARSE_AUTH = 1 << 1,
} SmtpParseFlags;

/* Longest command lines, CRLF not counted: RFC 5321 §4.5.3.1.4 gives 512
 * octets with CRLF; MAIL and RCPT grow by the parameters the advertised
 * extensions allow (RFC 1869 §4.1.2: 460, RFC 3461: ORCPT up to 500). */
#define SMTP_COMMAND_MAX_LINE	   510
#define SMTP_COMMAND_MAX_LINE_PATH 2046
/* RFC 4954 §4: AUTH with its initial response, 12288 octets with CRLF */
#define SMTP_COMMAND_MAX_LINE_AUTH 12286

/* RFC 5321 §4.5.3.1 */
#define SMTP_MAX_LOCAL_PART 64
#define SMTP_MAX_DOMAIN	    255
#define SMTP_MAX_PATH	    256
/* RFC 3461 §4.4 and §4.2 */
#define SMTP_MAX_ENVID 100
#define SMTP_MAX_ORCPT 500

typedef struct {
	SmtpVerb verb;
	/* HELO/EHLO: the domain or address literal; VRFY, EXPN, HELP, NOOP,
	 * AUTH: the argument as given; NULL when there is none */
	char *argument;

	/* MAIL: the reverse path, "" for <>; RCPT: the forward path, a
	 * mailbox local-part@domain with any source route dropped and a
	 * quoted local part kept quoted only when it has to be */
	char *path;
	gboolean path_utf8;  /* the path has non-ASCII characters */
	gboolean postmaster; /* RCPT TO:<Postmaster> without a domain */

	/* MAIL and RCPT: every parameter, upper-case keyword -> value as
	 * given (NULL for a keyword without value); NULL when none */
	GHashTable *parameters;

	/* MAIL parameters */
	gboolean has_size;
	guint64 size; /* G_MAXUINT64 when the number does not fit */
	SmtpBody body;
	gboolean smtputf8;
	gboolean requiretls;
	SmtpRet ret;
	char *envid; /* xtext-decoded */

	/* RCPT parameters */
	SmtpNotify notify;
	char *orcpt_type;    /* e.g. "rfc822", as given */
	char *orcpt_address; /* xtext-decoded */

	/* BDAT */
	guint64 chunk_size;
	gboolean last;
} SmtpCommand;

void smtp_command_clear (SmtpCommand *cmd);

/**
 * smtp_command_parse:
 * @line: one command line without its CRLF (need not be NUL-terminated)
 * @len: its length
 * @flags: what the session allows
 * @cmd: (out caller-allocates): the command; cleared first, and to be
 *   cleared with smtp_command_clear() whatever the result
 * @reply: (out): on failure, what to answer
 *
 * Returns: %TRUE when the line is a well-formed command; %FALSE with
 *   @reply set otherwise.  @cmd->verb is set even for a malformed line of
 *   a known verb, so that the session can tell a bad BDAT (whose chunk it
 *   cannot skip) from the others.
 */
gboolean smtp_command_parse (const char *line, gsize len, SmtpParseFlags flags, SmtpCommand *cmd, SmtpReply *reply);

const char *smtp_verb_to_string (SmtpVerb verb);

/* Pieces of the grammar, for the session and the tests. */
gboolean smtp_domain_is_valid (const char *s, gsize len, gboolean allow_utf8);
gboolean smtp_address_literal_is_valid (const char *s, gsize len);
/* RFC 3461 §4: xtext decoding; NULL when malformed */
char *smtp_xtext_decode (const char *s, gsize len);

G_END_DECLS
