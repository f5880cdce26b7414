/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The IMAP command parser (RFC 9051 §9, RFC 3501 §9): a pure, incremental
 * parser over octets, without I/O, so that unit tests and the fuzzer drive
 * it directly.
 *
 * A command is a tag, a command name and arguments, parsed into a typed
 * tree: atoms (which carry sequence sets, "$", flags such as \Seen, list
 * wildcards and fetch items with their "[section]<partial>"), quoted
 * strings (escapes removed, UTF-8 checked), literals ({n}, {n+} of RFC
 * 7888 LITERAL+, ~{n} literal8 of RFC 3516), NIL and parenthesized lists.
 * Line ends are CRLF only.
 *
 * Feeding: imap_parser_feed() consumes what it can and says why it
 * stopped.  IMAP_PARSE_LITERAL: a literal header "{n}" CRLF was read; a
 * synchronizing literal needs the server's "+ " continuation before the
 * client sends its n octets (imap_parser_get_literal()).  Literal octets
 * are buffered only as they arrive, so a literal announced but never sent
 * holds no memory.  IMAP_PARSE_DONE: a command is complete
 * (imap_parser_take_command()).  IMAP_PARSE_ERROR: imap_parser_get_error()
 * is the text for BAD; the parser then skips to the end of that line
 * (consuming it as it is fed) and starts afresh with the next.
 *
 * Limits: the text of a command outside its literals is at most
 * max_line octets (8 KiB); a literal of a command other than APPEND at
 * most max_literal octets (all of them together); a literal of APPEND at
 * most max_append octets (APPENDLIMIT); lists nest at most
 * IMAP_PARSER_MAX_DEPTH deep.
 */

#define IMAP_PARSER_MAX_LINE	8192
#define IMAP_PARSER_MAX_LITERAL (64 * 1024)
#define IMAP_PARSER_MAX_DEPTH	16
#define IMAP_PARSER_MAX_TAG	64
#define IMAP_PARSER_MAX_COMMAND 32

typedef enum {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
} ImapArgType;

typedef struct _ImapArg ImapArg;
struct _ImapArg {
	ImapArgType type;
	/* atoms, quoted strings and literals: the value, NUL-terminated (a
	 * literal may hold NULs: use @len) */
	char *str;
	gsize len;
	gboolean literal8; /* ~{n} */
	gboolean nonsync;  /* {n+} */
	GPtrArray *list;   /* IMAP_ARG_LIST: of ImapArg */
};

typedef struct {
	char *tag;
	char *name;	 /* upper case */
	GPtrArray *args; /* of ImapArg, owned */
} ImapCommand;

typedef enum {
	IMAP_PARSE_NEED_MORE, /* everything was consumed; feed more */
	IMAP_PARSE_LITERAL,   /* a literal header was read: see imap_parser_get_literal() */
	IMAP_PARSE_DONE,      /* a command is complete */
	IMAP_PARSE_ERROR,     /* see imap_parser_get_error() */
} ImapParseStatus;

typedef enum {
	IMAP_PARSE_ERROR_SYNTAX,   /* BAD */
	IMAP_PARSE_ERROR_TOO_LONG, /* BAD: the command text exceeds max_line */
	IMAP_PARSE_ERROR_TOO_BIG,  /* a literal over its limit: BAD [TOOBIG] (RFC 7889/9051 TOOBIG) */
} ImapParseErrorKind;

typedef struct {
	gsize max_line;	    /* 0: IMAP_PARSER_MAX_LINE */
	gsize max_literal;  /* 0: IMAP_PARSER_MAX_LITERAL */
	guint64 max_append; /* 0: no APPEND literal larger than max_literal */
} ImapParserLimits;

typedef struct _ImapParser ImapParser;

ImapParser *imap_parser_new (const ImapParserLimits *limits);
void imap_parser_free (ImapParser *self);
void imap_parser_reset (ImapParser *self);
/* new limits from the next literal on (after login: APPENDLIMIT) */
void imap_parser_set_limits (ImapParser *self, const ImapParserLimits *limits);

/**
 * imap_parser_feed:
 * @consumed: (out): octets of @data used; the rest is to be fed again
 *
 * Returns: why it stopped; %IMAP_PARSE_NEED_MORE only once @data is used up.
 */
ImapParseStatus imap_parser_feed (ImapParser *self, const char *data, gsize len, gsize *consumed);

/* After %IMAP_PARSE_LITERAL: the announced size, whether the client needs
 * no continuation ({n+}), whether it is literal8. */
void imap_parser_get_literal (ImapParser *self, guint64 *size, gboolean *nonsync, gboolean *literal8);

/* The octets of a literal still expected (0 outside a literal). */
guint64 imap_parser_get_literal_remaining (ImapParser *self);

/* After %IMAP_PARSE_DONE.  Returns: (transfer full) */
ImapCommand *imap_parser_take_command (ImapParser *self);

/* After %IMAP_PARSE_ERROR: what went wrong, for a BAD answer, its kind,
 * and the tag (nullable: none was read yet). */
const char *imap_parser_get_error (ImapParser *self);
ImapParseErrorKind imap_parser_get_error_kind (ImapParser *self);
/* whether the literal refused as too big was {n+}: its octets follow */
gboolean imap_parser_get_error_nonsync (ImapParser *self);
/* whether the command in error was APPEND */
gboolean imap_parser_get_error_append (ImapParser *self);
const char *imap_parser_get_error_tag (ImapParser *self);
/* The command name of the command being parsed, if read (upper case). */
const char *imap_parser_get_command_name (ImapParser *self);

void imap_arg_free (ImapArg *arg);
void imap_command_free (ImapCommand *cmd);

/* astring / string / nstring accessors: %NULL when @arg is not one */
const char *imap_arg_get_astring (const ImapArg *arg);
const char *imap_arg_get_string (const ImapArg *arg);
/* an atom (not a string), %NULL otherwise */
const char *imap_arg_get_atom (const ImapArg *arg);

/* A canonical rendering of a command, for tests and the fuzzer (literals
 * as they are, NULs included). */
GString *imap_command_render (const ImapCommand *cmd);

/* ---- sequence sets (RFC 9051 sequence-set; "$" of RFC 5182) ---- */

#define IMAP_SEQ_STAR G_MAXUINT32

typedef struct {
	guint32 first; /* first <= last; IMAP_SEQ_STAR for "*" */
	guint32 last;
} ImapSeqRange;

/* Returns: (transfer full) (nullable): the ranges (of ImapSeqRange,
 * ordered as written, each with first <= last), or %NULL when @text is not
 * a sequence set; "$" gives %NULL and sets *@is_saved. */
GArray *imap_seqset_parse (const char *text, gboolean *is_saved);

/* Whether @n is in @set, "*" standing for @star. */
gboolean imap_seqset_contains (GArray *set, guint32 n, guint32 star);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapParser, imap_parser_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapCommand, imap_command_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapArg, imap_arg_free)

G_END_DECLS
