/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-parser.h"

typedef enum {
	S_TAG,
	S_CMD,
	S_ARG,	     /* an argument must start here (after SP or "(") */
	S_AFTER_ARG, /* SP, ")" or CRLF */
	S_ATOM,
	S_QUOTED,
	S_QUOTED_ESC,
	S_TILDE, /* "~" read: literal8 or an atom */
	S_LIT_SIZE,
	S_LIT_CLOSE, /* "+" read, "}" expected */
	S_LIT_CR,
	S_LIT_LF,
	S_LIT_DATA,
	S_LF,	/* CR read, LF expected: the end of the command */
	S_SKIP, /* after an error: up to the end of the line */
} ImapParserState;

struct _ImapParser {
	ImapParserLimits limits;
	ImapParserState state;
	GString *tok;	     /* the token being read */
	ImapCommand *cmd;    /* being built */
	GPtrArray *stack;    /* open lists (GPtrArray of ImapArg), not owned; [0] is cmd->args */
	gboolean list_empty; /* just after "(": ")" closes at once */
	gboolean in_bracket; /* inside "[...]" of an atom */
	gboolean is_append;
	gsize text_len;	       /* the command's octets outside literals */
	guint64 literal_total; /* octets of the command's literals */
	guint64 lit_size;
	guint64 lit_remaining;
	gboolean lit_nonsync;
	gboolean lit8;
	guint lit_digits;
	GByteArray *lit_data;
	char *error;
	ImapParseErrorKind error_kind;
	gboolean error_nonsync;
	gboolean error_append;
	char *error_tag;
};

/* ---- arguments ------------------------------------------------------------------------ */

void
imap_arg_free (ImapArg *arg)
{
	if (arg == NULL)
		return;
	g_free (arg->str);
	if (arg->list != NULL)
		g_ptr_array_unref (arg->list);
	g_free (arg);
}

void
imap_command_free (ImapCommand *cmd)
{
	if (cmd == NULL)
		return;
	g_free (cmd->tag);
	g_free (cmd->name);
	if (cmd->args != NULL)
		g_ptr_array_unref (cmd->args);
	g_free (cmd);
}

const char *
imap_arg_get_atom (const ImapArg *arg)
{
	if (arg == NULL)
		return NULL;
	return arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL ? arg->str : NULL;
}

const char *
imap_arg_get_string (const ImapArg *arg)
{
	if (arg == NULL)
		return NULL;
	if (arg->type != IMAP_ARG_QUOTED && arg->type != IMAP_ARG_LITERAL)
		return NULL;
	/* a string with a NUL in it is no string for a name */
	if (strlen (arg->str) != arg->len)
		return NULL;
	return arg->str;
}

const char *
imap_arg_get_astring (const ImapArg *arg)
{
	const char *s = imap_arg_get_atom (arg);

	return s != NULL ? s : imap_arg_get_string (arg);
}

static void
imap_arg_render (GString *out, const ImapArg *arg)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
		g_string_append_printf (out, "A(%s)", arg->str);
		break;
	case IMAP_ARG_NIL:
		g_string_append (out, "NIL");
		break;
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
		g_string_append_printf (out, "%s%s(%" G_GSIZE_FORMAT ":",
					arg->type == IMAP_ARG_QUOTED ? "Q" : (arg->literal8 ? "L8" : "L"),
					arg->nonsync ? "+" : "", arg->len);
		g_string_append_len (out, arg->str, (gssize)arg->len);
		g_string_append_c (out, ')');
		break;
	case IMAP_ARG_LIST:
		g_string_append_c (out, '(');
		for (guint i = 0; i < arg->list->len; i++) {
			if (i > 0)
				g_string_append_c (out, ' ');
			imap_arg_render (out, g_ptr_array_index (arg->list, i));
		}
		g_string_append_c (out, ')');
		break;
	}
}

GString *
imap_command_render (const ImapCommand *cmd)
{
	GString *out = g_string_new (NULL);

	g_string_append_printf (out, "%s %s", cmd->tag, cmd->name);
	for (guint i = 0; i < cmd->args->len; i++) {
		g_string_append_c (out, ' ');
		imap_arg_render (out, g_ptr_array_index (cmd->args, i));
	}
	return out;
}

/* ---- the parser ------------------------------------------------------------------------- */

ImapParser *
imap_parser_new (const ImapParserLimits *limits)
{
	ImapParser *self = g_new0 (ImapParser, 1);

	if (limits != NULL)
		self->limits = *limits;
	if (self->limits.max_line == 0)
		self->limits.max_line = IMAP_PARSER_MAX_LINE;
	if (self->limits.max_literal == 0)
		self->limits.max_literal = IMAP_PARSER_MAX_LITERAL;
	self->tok = g_string_new (NULL);
	self->stack = g_ptr_array_new ();
	imap_parser_reset (self);
	return self;
}

static void
imap_parser_clear_command (ImapParser *self)
{
	g_clear_pointer (&self->cmd, imap_command_free);
	g_ptr_array_set_size (self->stack, 0);
	/* a long token's buffer is not kept between commands */
	if (self->tok->allocated_len > 1024) {
		g_string_free (self->tok, TRUE);
		self->tok = g_string_new (NULL);
	} else {
		g_string_truncate (self->tok, 0);
	}
	g_clear_pointer (&self->lit_data, g_byte_array_unref);
	self->list_empty = FALSE;
	self->in_bracket = FALSE;
	self->is_append = FALSE;
	self->text_len = 0;
	self->literal_total = 0;
	self->lit_size = 0;
	self->lit_remaining = 0;
	self->lit_nonsync = FALSE;
	self->lit8 = FALSE;
	self->lit_digits = 0;
}

void
imap_parser_reset (ImapParser *self)
{
	imap_parser_clear_command (self);
	g_clear_pointer (&self->error, g_free);
	g_clear_pointer (&self->error_tag, g_free);
	self->state = S_TAG;
}

void
imap_parser_free (ImapParser *self)
{
	if (self == NULL)
		return;
	imap_parser_clear_command (self);
	g_string_free (self->tok, TRUE);
	g_ptr_array_unref (self->stack);
	g_free (self->error);
	g_free (self->error_tag);
	g_free (self);
}

void
imap_parser_get_literal (ImapParser *self, guint64 *size, gboolean *nonsync, gboolean *literal8)
{
	if (size != NULL)
		*size = self->lit_size;
	if (nonsync != NULL)
		*nonsync = self->lit_nonsync;
	if (literal8 != NULL)
		*literal8 = self->lit8;
}

guint64
imap_parser_get_literal_remaining (ImapParser *self)
{
	return self->state == S_LIT_DATA ? self->lit_remaining : 0;
}

ImapCommand *
imap_parser_take_command (ImapParser *self)
{
	return g_steal_pointer (&self->cmd);
}

const char *
imap_parser_get_error (ImapParser *self)
{
	return self->error;
}

ImapParseErrorKind
imap_parser_get_error_kind (ImapParser *self)
{
	return self->error_kind;
}

gboolean
imap_parser_get_error_append (ImapParser *self)
{
	return self->error_append;
}

gboolean
imap_parser_get_error_nonsync (ImapParser *self)
{
	return self->error_nonsync;
}

void
imap_parser_set_limits (ImapParser *self, const ImapParserLimits *limits)
{
	self->limits = *limits;
	if (self->limits.max_line == 0)
		self->limits.max_line = IMAP_PARSER_MAX_LINE;
	if (self->limits.max_literal == 0)
		self->limits.max_literal = IMAP_PARSER_MAX_LITERAL;
}

const char *
imap_parser_get_error_tag (ImapParser *self)
{
	return self->error_tag;
}

const char *
imap_parser_get_command_name (ImapParser *self)
{
	return self->cmd != NULL ? self->cmd->name : NULL;
}

/* Records an error; @at_lf: the offending octet ended the line. */
static ImapParseStatus imap_parser_fail (ImapParser *self, ImapParseErrorKind kind, gboolean at_lf, const char *format,
					 ...) G_GNUC_PRINTF (4, 5);

static ImapParseStatus
imap_parser_fail (ImapParser *self, ImapParseErrorKind kind, gboolean at_lf, const char *format, ...)
{
	va_list ap;

	g_free (self->error);
	g_free (self->error_tag);
	va_start (ap, format);
	self->error = g_strdup_vprintf (format, ap);
	va_end (ap);
	self->error_kind = kind;
	self->error_nonsync = self->lit_nonsync;
	self->error_append = self->is_append;
	self->error_tag = self->cmd != NULL ? g_strdup (self->cmd->tag) : NULL;
	imap_parser_clear_command (self);
	self->state = at_lf ? S_TAG : S_SKIP;
	return IMAP_PARSE_ERROR;
}

static GPtrArray *
imap_parser_current (ImapParser *self)
{
	return g_ptr_array_index (self->stack, self->stack->len - 1);
}

static void
imap_parser_add (ImapParser *self, ImapArg *arg)
{
	g_ptr_array_add (imap_parser_current (self), arg);
	self->state = S_AFTER_ARG;
}

static ImapParseStatus
imap_parser_end_atom (ImapParser *self)
{
	ImapArg *arg;

	if (self->in_bracket)
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Missing ']'");
	arg = g_new0 (ImapArg, 1);
	arg->type = g_ascii_strcasecmp (self->tok->str, "NIL") == 0 ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
	arg->len = self->tok->len;
	arg->str = g_strndup (self->tok->str, self->tok->len);
	g_string_truncate (self->tok, 0);
	imap_parser_add (self, arg);
	return IMAP_PARSE_NEED_MORE;
}

static void
imap_parser_end_literal (ImapParser *self)
{
	ImapArg *arg = g_new0 (ImapArg, 1);
	GByteArray *data = g_steal_pointer (&self->lit_data);

	arg->type = IMAP_ARG_LITERAL;
	arg->literal8 = self->lit8;
	arg->nonsync = self->lit_nonsync;
	arg->len = data != NULL ? data->len : 0;
	if (data == NULL)
		data = g_byte_array_new ();
	g_byte_array_append (data, (const guint8 *)"", 1);
	arg->str = (char *)g_byte_array_free (data, FALSE);
	imap_parser_add (self, arg);
}

/* an ATOM-CHAR of RFC 9051, plus the list wildcards and "]" (astrings,
 * sequence sets, LIST patterns) */
static gboolean
imap_is_atom_char (guchar c)
{
	if (c <= 0x20 || c >= 0x7f)
		return FALSE;
	return strchr ("(){\"\\", c) == NULL;
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static gboolean
imap_is_tag_char (guchar c)
{
	return imap_is_atom_char (c) && c != '%' && c != '*' && c != '+';
}

/* The start of an argument. */
static ImapParseStatus
imap_parser_arg_start (ImapParser *self, guchar c)
{
	switch (c) {
	case '(': {
		ImapArg *arg;
		if (self->stack->len > IMAP_PARSER_MAX_DEPTH)
			return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Lists nested too deep");
		arg = g_new0 (ImapArg, 1);
		arg->type = IMAP_ARG_LIST;
		arg->list = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_arg_free);
		g_ptr_array_add (imap_parser_current (self), arg);
		g_ptr_array_add (self->stack, arg->list);
		self->list_empty = TRUE;
		self->state = S_ARG;
		return IMAP_PARSE_NEED_MORE;
	}
	case ')':
		if (self->list_empty && self->stack->len > 1) {
			self->list_empty = FALSE;
			g_ptr_array_remove_index (self->stack, self->stack->len - 1);
			self->state = S_AFTER_ARG;
			return IMAP_PARSE_NEED_MORE;
		}
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Unexpected ')'");
	case '"':
		self->list_empty = FALSE;
		g_string_truncate (self->tok, 0);
		self->state = S_QUOTED;
		return IMAP_PARSE_NEED_MORE;
	case '{':
		self->list_empty = FALSE;
		self->lit8 = FALSE;
		self->lit_size = 0;
		self->lit_digits = 0;
		self->lit_nonsync = FALSE;
		self->state = S_LIT_SIZE;
		return IMAP_PARSE_NEED_MORE;
	case '~':
		self->list_empty = FALSE;
		self->state = S_TILDE;
		return IMAP_PARSE_NEED_MORE;
	case ' ':
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Extra space");
	case '\r':
	case '\n':
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n', "Missing argument");
	default:
		break;
	}
	self->list_empty = FALSE;
	/* a flag: "\" atom */
	if (c == '\\' || imap_is_atom_char (c)) {
		g_string_truncate (self->tok, 0);
		g_string_append_c (self->tok, (char)c);
		self->in_bracket = c == '[';
		self->state = S_ATOM;
		return IMAP_PARSE_NEED_MORE;
	}
	if (c >= 0x80)
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "8-bit octets outside a string");
	return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Invalid character 0x%02x", c);
}

static ImapParseStatus
imap_parser_literal_header_end (ImapParser *self)
{
	gboolean append = self->is_append && self->limits.max_append > 0;
	guint64 limit = append ? self->limits.max_append : self->limits.max_literal;
	/* all literals of a command together: APPEND's message and the rest */
	guint64 total = append ? self->limits.max_append + self->limits.max_literal : self->limits.max_literal;

	if (self->lit_size > limit)
		return imap_parser_fail (self, IMAP_PARSE_ERROR_TOO_BIG, FALSE,
					 "Literal too big (at most %" G_GUINT64_FORMAT " octets)", limit);
	if (self->literal_total + self->lit_size > total)
		return imap_parser_fail (self, IMAP_PARSE_ERROR_TOO_BIG, FALSE,
					 "Literals too big (at most %" G_GUINT64_FORMAT " octets in all)", total);
	if (self->lit8 && !self->is_append)
		return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "literal8 only in APPEND");
	self->literal_total += self->lit_size;
	self->state = S_LIT_CR;
	return IMAP_PARSE_NEED_MORE;
}

ImapParseStatus
imap_parser_feed (ImapParser *self, const char *data, gsize len, gsize *consumed)
{
	gsize i = 0;
	ImapParseStatus st;

	while (i < len) {
		guchar c = (guchar)data[i];

		if (self->state == S_LIT_DATA) {
			gsize n = (gsize)MIN ((guint64)(len - i), self->lit_remaining);
			if (self->lit_data == NULL)
				self->lit_data = g_byte_array_new ();
			g_byte_array_append (self->lit_data, (const guint8 *)data + i, (guint)n);
			i += n;
			self->lit_remaining -= n;
			if (self->lit_remaining == 0)
				imap_parser_end_literal (self);
			continue;
		}
		if (self->state == S_SKIP) {
			i++;
			if (c == '\n')
				self->state = S_TAG;
			continue;
		}
		i++;
		if (++self->text_len > self->limits.max_line) {
			*consumed = i;
			return imap_parser_fail (self, IMAP_PARSE_ERROR_TOO_LONG, c == '\n', "Command line too long");
		}
		if (c == '\n' && self->state != S_LF && self->state != S_LIT_LF) {
			*consumed = i;
			return imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, TRUE, "Line ends in a bare LF");
		}
		st = IMAP_PARSE_NEED_MORE;
		switch (self->state) {
		case S_TAG:
			if (self->cmd == NULL) {
				self->cmd = g_new0 (ImapCommand, 1);
				self->cmd->args = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_arg_free);
				g_ptr_array_add (self->stack, self->cmd->args);
			}
			if (c == ' ' && self->tok->len > 0) {
				self->cmd->tag = g_strndup (self->tok->str, self->tok->len);
				g_string_truncate (self->tok, 0);
				self->state = S_CMD;
			} else if (c == '\r' || c == '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n',
						       self->tok->len == 0 ? "Empty command line" : "Missing command");
			} else if (!imap_is_tag_char (c)) {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Invalid tag");
			} else if (self->tok->len >= IMAP_PARSER_MAX_TAG) {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Tag too long");
			} else {
				g_string_append_c (self->tok, (char)c);
			}
			break;
		case S_CMD:
			if (c == '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, TRUE, "Line ends in a bare LF");
			} else if ((c == ' ' || c == '\r') && self->tok->len > 0) {
				self->cmd->name = g_ascii_strup (self->tok->str, (gssize)self->tok->len);
				g_string_truncate (self->tok, 0);
				self->is_append = strcmp (self->cmd->name, "APPEND") == 0;
				self->state = c == ' ' ? S_ARG : S_LF;
			} else if (c == ' ' || c == '\r' || c == '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n', "Missing command");
			} else if (!g_ascii_isalnum (c) && c != '-' && c != '_' && c != '.') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Invalid command name");
			} else if (self->tok->len >= IMAP_PARSER_MAX_COMMAND) {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Unknown command");
			} else {
				g_string_append_c (self->tok, (char)c);
			}
			break;
		case S_ARG:
			st = imap_parser_arg_start (self, c);
			break;
		case S_AFTER_ARG:
			if (c == ' ') {
				self->state = S_ARG;
			} else if (c == ')') {
				if (self->stack->len <= 1)
					st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "Unexpected ')'");
				else
					g_ptr_array_remove_index (self->stack, self->stack->len - 1);
			} else if (c == '\r') {
				self->state = S_LF;
			} else if (c == '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, TRUE, "Line ends in a bare LF");
			} else {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE,
						       "Missing space between arguments");
			}
			break;
		case S_ATOM:
			if (self->in_bracket && c >= 0x20 && c < 0x7f) {
				g_string_append_c (self->tok, (char)c);
				if (c == ']')
					self->in_bracket = FALSE;
			} else if (c == ' ' || c == ')' || c == '\r') {
				st = imap_parser_end_atom (self);
				if (st == IMAP_PARSE_NEED_MORE)
					i--, self->text_len--; /* the separator again, in S_AFTER_ARG */
			} else if (imap_is_atom_char (c)) {
				g_string_append_c (self->tok, (char)c);
				if (c == '[')
					self->in_bracket = TRUE;
			} else if (c >= 0x80) {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE,
						       "8-bit octets outside a string");
			} else {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n',
						       "Invalid character 0x%02x in an atom", c);
			}
			break;
		case S_QUOTED:
			if (c == '"') {
				ImapArg *arg;
				if (!g_utf8_validate (self->tok->str, (gssize)self->tok->len, NULL)) {
					st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE,
							       "Quoted string is not UTF-8");
					break;
				}
				arg = g_new0 (ImapArg, 1);
				arg->type = IMAP_ARG_QUOTED;
				arg->len = self->tok->len;
				arg->str = g_strndup (self->tok->str, self->tok->len);
				g_string_truncate (self->tok, 0);
				imap_parser_add (self, arg);
			} else if (c == '\\') {
				self->state = S_QUOTED_ESC;
			} else if (c == '\r' || c == '\n' || c == '\0') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n',
						       "Line break or NUL in a quoted string");
			} else {
				g_string_append_c (self->tok, (char)c);
			}
			break;
		case S_QUOTED_ESC:
			if (c == '"' || c == '\\') {
				g_string_append_c (self->tok, (char)c);
				self->state = S_QUOTED;
			} else {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n',
						       "Invalid escape in a quoted string");
			}
			break;
		case S_TILDE:
			if (c == '{') {
				self->lit8 = TRUE;
				self->lit_size = 0;
				self->lit_digits = 0;
				self->lit_nonsync = FALSE;
				self->state = S_LIT_SIZE;
			} else {
				/* an atom that starts with "~" */
				g_string_truncate (self->tok, 0);
				g_string_append_c (self->tok, '~');
				self->in_bracket = FALSE;
				self->state = S_ATOM;
				i--, self->text_len--;
			}
			break;
		case S_LIT_SIZE:
			if (g_ascii_isdigit (c)) {
				self->lit_size = self->lit_size * 10 + (guint64)(c - '0');
				if (++self->lit_digits > 10 || self->lit_size > G_MAXUINT32)
					st = imap_parser_fail (self, IMAP_PARSE_ERROR_TOO_BIG, FALSE,
							       "Literal size out of range");
			} else if (self->lit_digits == 0) {
				st =
				    imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n', "Invalid literal size");
			} else if (c == '+') {
				self->lit_nonsync = TRUE;
				self->state = S_LIT_CLOSE;
			} else if (c == '}') {
				st = imap_parser_literal_header_end (self);
			} else {
				st =
				    imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n', "Invalid literal size");
			}
			break;
		case S_LIT_CLOSE:
			if (c == '}')
				st = imap_parser_literal_header_end (self);
			else
				st =
				    imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n', "Invalid literal size");
			break;
		case S_LIT_CR:
			if (c == '\r')
				self->state = S_LIT_LF;
			else
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, c == '\n',
						       "A literal's size must end the line");
			break;
		case S_LIT_LF:
			if (c != '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "CR without LF");
				break;
			}
			self->lit_remaining = self->lit_size;
			if (self->lit_remaining == 0)
				imap_parser_end_literal (self);
			else
				self->state = S_LIT_DATA;
			st = IMAP_PARSE_LITERAL;
			break;
		case S_LF:
			if (c != '\n') {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, FALSE, "CR without LF");
			} else if (self->stack->len > 1) {
				st = imap_parser_fail (self, IMAP_PARSE_ERROR_SYNTAX, TRUE, "Missing ')'");
			} else {
				g_ptr_array_set_size (self->stack, 0);
				self->state = S_TAG;
				/* the command stays in self->cmd for take_command() */
				self->text_len = 0;
				self->literal_total = 0;
				self->is_append = FALSE;
				st = IMAP_PARSE_DONE;
			}
			break;
		case S_LIT_DATA:
		case S_SKIP:
			g_assert_not_reached ();
		}
		if (st != IMAP_PARSE_NEED_MORE) {
			*consumed = i;
			return st;
		}
	}
	*consumed = i;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- sequence sets ---------------------------------------------------------------------- */

static gboolean
imap_seq_number (const char **p, guint32 *out)
{
	guint64 v = 0;
	const char *s = *p;

	if (*s == '*') {
		*out = IMAP_SEQ_STAR;
		*p = s + 1;
		return TRUE;
	}
	/* nz-number: no leading zero */
	if (*s < '1' || *s > '9')
		return FALSE;
	while (g_ascii_isdigit (*s)) {
		v = v * 10 + (guint64)(*s - '0');
		if (v >= G_MAXUINT32) /* 4294967295 is not a valid UID or number: it stands for "*" here */
			return FALSE;
		s++;
	}
	*out = (guint32)v;
	*p = s;
	return TRUE;
}

GArray *
imap_seqset_parse (const char *text, gboolean *is_saved)
{
	g_autoptr (GArray) set = g_array_new (FALSE, FALSE, sizeof (ImapSeqRange));
	const char *p = text;

	if (is_saved != NULL)
		*is_saved = FALSE;
	if (strcmp (text, "$") == 0) {
		if (is_saved != NULL)
			*is_saved = TRUE;
		return NULL;
	}
	for (;;) {
		ImapSeqRange r;
		if (!imap_seq_number (&p, &r.first))
			return NULL;
		r.last = r.first;
		if (*p == ':') {
			p++;
			if (!imap_seq_number (&p, &r.last))
				return NULL;
			if (r.first > r.last) {
				guint32 t = r.first;
				r.first = r.last;
				r.last = t;
			}
		}
		g_array_append_val (set, r);
		if (*p == '\0')
			break;
		if (*p != ',')
			return NULL;
		p++;
	}
	return g_steal_pointer (&set);
}

gboolean
imap_seqset_contains (GArray *set, guint32 n, guint32 star)
{
	for (guint i = 0; i < set->len; i++) {
		ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
		guint32 a = r.first == IMAP_SEQ_STAR ? star : r.first;
		guint32 b = r.last == IMAP_SEQ_STAR ? star : r.last;
		if (a > b) {
			guint32 t = a;
			a = b;
			b = t;
		}
		if (n >= a && n <= b)
			return TRUE;
	}
	return FALSE;
}
