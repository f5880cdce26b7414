/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * The SMTP command parser: RFC 5321 §4.1 grammar, applied strictly (see
 * smtp-command.h for the one leniency).
 */

#include "config.h"

#include <string.h>

#include "smtp-command.h"

#define REPLY(r, c, e, t)                                                                                              \
	G_STMT_START                                                                                                   \
	{                                                                                                              \
		(r)->code = (c);                                                                                       \
		(r)->enhanced = (e);                                                                                   \
		(r)->text = (t);                                                                                       \
	}                                                                                                              \
	G_STMT_END

static const struct {
	const char *name;
	SmtpVerb verb;
} smtp_verbs[] = {
    {"HELO", SMTP_VERB_HELO},	      {"EHLO", SMTP_VERB_EHLO}, {"MAIL", SMTP_VERB_MAIL}, {"RCPT", SMTP_VERB_RCPT},
    {"DATA", SMTP_VERB_DATA},	      {"BDAT", SMTP_VERB_BDAT}, {"RSET", SMTP_VERB_RSET}, {"NOOP", SMTP_VERB_NOOP},
    {"QUIT", SMTP_VERB_QUIT},	      {"VRFY", SMTP_VERB_VRFY}, {"EXPN", SMTP_VERB_EXPN}, {"HELP", SMTP_VERB_HELP},
    {"STARTTLS", SMTP_VERB_STARTTLS}, {"AUTH", SMTP_VERB_AUTH},
};

const char *
smtp_verb_to_string (SmtpVerb verb)
{
	for (guint i = 0; i < G_N_ELEMENTS (smtp_verbs); i++) {
		if (smtp_verbs[i].verb == verb)
			return smtp_verbs[i].name;
	}
	return "UNKNOWN";
}

void
smtp_command_clear (SmtpCommand *cmd)
{
	g_clear_pointer (&cmd->argument, g_free);
	g_clear_pointer (&cmd->path, g_free);
	g_clear_pointer (&cmd->parameters, g_hash_table_unref);
	g_clear_pointer (&cmd->envid, g_free);
	g_clear_pointer (&cmd->orcpt_type, g_free);
	g_clear_pointer (&cmd->orcpt_address, g_free);
	memset (cmd, 0, sizeof (*cmd));
}

/* ---- character classes ---------------------------------------------------- */

static gboolean
smtp_is_let_dig (guchar c)
{
	return g_ascii_isalnum (c);
}

/* RFC 5322 atext */
static gboolean
smtp_is_atext (guchar c)
{
	return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
static gboolean
smtp_is_qtext (guchar c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

static gboolean
smtp_ascii_caseeq (const char *s, gsize len, const char *word)
{
	gsize wlen = strlen (word);
	return len == wlen && g_ascii_strncasecmp (s, word, wlen) == 0;
}

static gboolean
smtp_has_prefix_case (const char *s, gsize len, const char *prefix)
{
	gsize plen = strlen (prefix);
	return len >= plen && g_ascii_strncasecmp (s, prefix, plen) == 0;
}

/* ---- domains and address literals ----------------------------------------- */

/**
 * smtp_domain_is_valid:
 *
 * RFC 5321 Domain: sub-domain *("." sub-domain), sub-domain = Let-dig
 * [Ldh-str], at most 63 octets per ASCII label and 255 in all.  With
 * @allow_utf8 (RFC 6531) a label may also hold non-ASCII characters
 * (a U-label), which must be valid UTF-8.
 */
gboolean
smtp_domain_is_valid (const char *s, gsize len, gboolean allow_utf8)
{
	gsize start = 0;
	gboolean utf8 = FALSE;

	if (len == 0 || len > SMTP_MAX_DOMAIN)
		return FALSE;
	while (start <= len) {
		gsize end = start;
		gboolean label_utf8 = FALSE;

		while (end < len && s[end] != '.')
			end++;
		if (end == start)
			return FALSE; /* empty label, leading or trailing dot */
		for (gsize i = start; i < end; i++) {
			guchar c = (guchar)s[i];
			if (c >= 0x80) {
				if (!allow_utf8)
					return FALSE;
				label_utf8 = TRUE;
				continue;
			}
			if (smtp_is_let_dig (c))
				continue;
			if (c == '-' && i != start && i != end - 1)
				continue;
			return FALSE;
		}
		/* an A-label or LDH label is at most 63 octets; a U-label is
		 * measured by its A-label, which is no longer than its UTF-8 */
		if (!label_utf8 && end - start > 63)
			return FALSE;
		utf8 |= label_utf8;
		start = end + 1;
		if (end == len)
			break;
	}
	return !utf8 || g_utf8_validate_len (s, len, NULL);
}

/* Snum 3("." Snum), Snum = 1*3DIGIT with a value of 0 to 255 */
static gboolean
smtp_ipv4_is_valid (const char *s, gsize len)
{
	gsize i = 0;

	for (guint part = 0; part < 4; part++) {
		guint value = 0;
		guint digits = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return FALSE;
			i++;
		}
		while (i < len && g_ascii_isdigit (s[i]) && digits < 4) {
			value = value * 10 + (guint)(s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || digits > 3 || value > 255)
			return FALSE;
	}
	return i == len;
}

/* Counts the 1*4HEXDIG groups of a ":"-separated list; the last element
 * may be an IPv4 address when @ipv4 is not NULL.  An empty list is 0. */
static gboolean
smtp_ipv6_groups (const char *s, gsize len, guint *n_groups, gboolean *ipv4)
{
	gsize start = 0;

	*n_groups = 0;
	if (ipv4 != NULL)
		*ipv4 = FALSE;
	if (len == 0)
		return TRUE;
	for (;;) {
		gsize end = start;
		while (end < len && s[end] != ':')
			end++;
		if (end == start)
			return FALSE;
		if (end == len && ipv4 != NULL && memchr (s + start, '.', end - start) != NULL) {
			if (!smtp_ipv4_is_valid (s + start, end - start))
				return FALSE;
			*ipv4 = TRUE;
			return TRUE;
		}
		if (end - start > 4)
			return FALSE;
		for (gsize i = start; i < end; i++) {
			if (!g_ascii_isxdigit (s[i]))
				return FALSE;
		}
		(*n_groups)++;
		if (end == len)
			return TRUE;
		start = end + 1;
	}
}

/* RFC 5321 §4.1.3 IPv6-addr: IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp */
static gboolean
smtp_ipv6_is_valid (const char *s, gsize len)
{
	const char *dc = g_strstr_len (s, (gssize)len, "::");
	guint head_groups, tail_groups;
	gboolean ipv4 = FALSE;

	if (dc == NULL) {
		if (!smtp_ipv6_groups (s, len, &head_groups, &ipv4))
			return FALSE;
		return ipv4 ? head_groups == 6 : head_groups == 8;
	} else {
		gsize head_len = (gsize)(dc - s);
		const char *tail = dc + 2;
		gsize tail_len = len - head_len - 2;

		/* one "::" only, and not ":::" */
		if (g_strstr_len (tail, (gssize)tail_len, ":") == tail)
			return FALSE;
		if (g_strstr_len (tail, (gssize)tail_len, "::") != NULL)
			return FALSE;
		if (!smtp_ipv6_groups (s, head_len, &head_groups, NULL))
			return FALSE;
		if (!smtp_ipv6_groups (tail, tail_len, &tail_groups, &ipv4))
			return FALSE;
		/* "::" stands for at least two groups of zeros */
		return head_groups + tail_groups <= (ipv4 ? 4u : 6u);
	}
}

/**
 * smtp_address_literal_is_valid:
 *
 * "[" ( IPv4-address-literal / IPv6-address-literal ) "]".  A
 * General-address-literal is refused: no tag but IPv6 is registered.
 */
gboolean
smtp_address_literal_is_valid (const char *s, gsize len)
{
	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return FALSE;
	s++;
	len -= 2;
	if (smtp_has_prefix_case (s, len, "IPv6:"))
		return smtp_ipv6_is_valid (s + 5, len - 5);
	return smtp_ipv4_is_valid (s, len);
}

/* ---- xtext ------------------------------------------------------------------ */

static int
smtp_upper_hex_value (char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * smtp_xtext_decode:
 *
 * RFC 3461 §4: xtext = *( xchar / hexchar ), xchar = %d33-42 / %d44-60 /
 * %d62-126, hexchar = "+" 2(DIGIT / "A"-"F").  The decoded octets must
 * not contain NUL.
 */
char *
smtp_xtext_decode (const char *s, gsize len)
{
	g_autoptr (GString) out = g_string_sized_new (len);

	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)s[i];
		if (c == '+') {
			int hi, lo;
			if (i + 2 >= len)
				return NULL;
			hi = smtp_upper_hex_value (s[i + 1]);
			lo = smtp_upper_hex_value (s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			g_string_append_c (out, (char)(hi * 16 + lo));
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			g_string_append_c (out, (char)c);
		} else {
			return NULL;
		}
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ---- paths ------------------------------------------------------------------- */

typedef enum {
	PATH_OK,
	PATH_SYNTAX,
	PATH_LOCAL_TOO_LONG,
	PATH_DOMAIN_TOO_LONG,
	PATH_TOO_LONG,
	PATH_BAD_UTF8,
} SmtpPathStatus;

/* A domain or address literal starting at s[*i]: the longest run of
 * domain characters, or a bracketed literal. */
static SmtpPathStatus
smtp_parse_domain_part (const char *s, gsize len, gsize *i, gboolean *is_literal)
{
	gsize start = *i;
	gsize end = start;

	*is_literal = FALSE;
	if (start < len && s[start] == '[') {
		while (end < len && s[end] != ']')
			end++;
		if (end == len)
			return PATH_SYNTAX;
		end++;
		if (!smtp_address_literal_is_valid (s + start, end - start))
			return PATH_SYNTAX;
		*is_literal = TRUE;
		*i = end;
		return PATH_OK;
	}
	while (end < len) {
		guchar c = (guchar)s[end];
		if (!(g_ascii_isalnum (c) || c == '-' || c == '.' || c >= 0x80))
			break;
		end++;
	}
	if (end - start > SMTP_MAX_DOMAIN)
		return PATH_DOMAIN_TOO_LONG;
	if (!smtp_domain_is_valid (s + start, end - start, TRUE)) {
		/* tell malformed UTF-8 apart from other syntax errors */
		for (gsize k = start; k < end; k++) {
			if ((guchar)s[k] >= 0x80 && !g_utf8_validate_len (s + start, end - start, NULL))
				return PATH_BAD_UTF8;
		}
		return PATH_SYNTAX;
	}
	*i = end;
	return PATH_OK;
}

/* Local-part = Dot-string / Quoted-string, appended to @out in its
 * simplest form: a quoted string whose content is a valid Dot-string
 * loses its quotes. */
static SmtpPathStatus
smtp_parse_local_part (const char *s, gsize len, gsize *i, GString *out)
{
	gsize start = *i;
	gsize k = start;

	if (k < len && s[k] == '"') {
		g_autoptr (GString) content = g_string_new (NULL);
		gboolean dot_string = TRUE;
		gboolean after_dot = TRUE;

		k++;
		for (;;) {
			guchar c;
			if (k >= len)
				return PATH_SYNTAX;
			c = (guchar)s[k];
			if (c == '"')
				break;
			if (c == '\\') {
				if (k + 1 >= len || (guchar)s[k + 1] < 32 || (guchar)s[k + 1] > 126)
					return PATH_SYNTAX;
				c = (guchar)s[k + 1];
				k += 2;
			} else if (smtp_is_qtext (c) || c >= 0x80) {
				k++;
			} else {
				return PATH_SYNTAX;
			}
			g_string_append_c (content, (char)c);
			if (c == '.') {
				if (after_dot)
					dot_string = FALSE;
				after_dot = TRUE;
			} else {
				if (!smtp_is_atext (c) && c < 0x80)
					dot_string = FALSE;
				after_dot = FALSE;
			}
		}
		k++; /* the closing quote */
		if (content->len == 0 || after_dot)
			dot_string = FALSE;
		if (k - start > SMTP_MAX_LOCAL_PART)
			return PATH_LOCAL_TOO_LONG;
		if (!g_utf8_validate_len (content->str, content->len, NULL))
			return PATH_BAD_UTF8;
		if (dot_string) {
			g_string_append_len (out, content->str, content->len);
		} else {
			g_string_append_c (out, '"');
			for (gsize j = 0; j < content->len; j++) {
				char c = content->str[j];
				if (c == '"' || c == '\\')
					g_string_append_c (out, '\\');
				g_string_append_c (out, c);
			}
			g_string_append_c (out, '"');
		}
		*i = k;
		return PATH_OK;
	}

	/* Dot-string = Atom *("." Atom) */
	for (;;) {
		gsize atom = k;
		while (k < len && (smtp_is_atext ((guchar)s[k]) || (guchar)s[k] >= 0x80))
			k++;
		if (k == atom)
			return PATH_SYNTAX;
		if (k < len && s[k] == '.') {
			k++;
			continue;
		}
		break;
	}
	if (k - start > SMTP_MAX_LOCAL_PART)
		return PATH_LOCAL_TOO_LONG;
	if (!g_utf8_validate_len (s + start, k - start, NULL))
		return PATH_BAD_UTF8;
	g_string_append_len (out, s + start, k - start);
	*i = k;
	return PATH_OK;
}

/*
 * Path = "<" [ A-d-l ":" ] Mailbox ">", with "<>" for the null reverse
 * path.  On success *i is just past the '>' and @out holds the mailbox
 * (empty for "<>"); the source route is dropped (RFC 5321 §4.1.1.3:
 * SHOULD ignore it).
 */
static SmtpPathStatus
smtp_parse_path (const char *s, gsize len, gsize *i, gboolean allow_null, GString *out)
{
	gsize start = *i;
	gsize k = start;
	gboolean is_literal;
	SmtpPathStatus st;

	if (k >= len || s[k] != '<')
		return PATH_SYNTAX;
	k++;
	if (allow_null && k < len && s[k] == '>') {
		*i = k + 1;
		return PATH_OK;
	}
	/* A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain */
	if (k < len && s[k] == '@') {
		for (;;) {
			if (k >= len || s[k] != '@')
				return PATH_SYNTAX;
			k++;
			st = smtp_parse_domain_part (s, len, &k, &is_literal);
			if (st != PATH_OK)
				return st;
			if (is_literal)
				return PATH_SYNTAX; /* At-domain takes a Domain only */
			if (k < len && s[k] == ',') {
				k++;
				continue;
			}
			if (k < len && s[k] == ':') {
				k++;
				break;
			}
			return PATH_SYNTAX;
		}
	}
	st = smtp_parse_local_part (s, len, &k, out);
	if (st != PATH_OK)
		return st;
	if (k >= len || s[k] != '@')
		return PATH_SYNTAX;
	g_string_append_c (out, '@');
	k++;
	{
		gsize dstart = k;
		st = smtp_parse_domain_part (s, len, &k, &is_literal);
		if (st != PATH_OK)
			return st;
		g_string_append_len (out, s + dstart, k - dstart);
	}
	if (k >= len || s[k] != '>')
		return PATH_SYNTAX;
	k++;
	if (k - start > SMTP_MAX_PATH)
		return PATH_TOO_LONG;
	*i = k;
	return PATH_OK;
}

static void
smtp_path_reply (SmtpPathStatus st, gboolean is_mail, SmtpReply *reply)
{
	const char *enh = is_mail ? "5.1.7" : "5.1.3";

	switch (st) {
	case PATH_LOCAL_TOO_LONG:
		REPLY (reply, 501, enh, "Local part of address too long");
		break;
	case PATH_DOMAIN_TOO_LONG:
		REPLY (reply, 501, enh, "Domain of address too long");
		break;
	case PATH_TOO_LONG:
		REPLY (reply, 501, enh, "Path too long");
		break;
	case PATH_BAD_UTF8:
		REPLY (reply, 501, enh, "Address is not valid UTF-8");
		break;
	case PATH_SYNTAX:
	case PATH_OK:
	default:
		REPLY (reply, 501, enh, is_mail ? "Bad sender address syntax" : "Bad recipient address syntax");
		break;
	}
}

/* ---- ESMTP parameters -------------------------------------------------------- */

static gboolean
smtp_is_esmtp_value_char (guchar c)
{
	return (c >= 33 && c <= 60) || (c >= 62 && c <= 126);
}

static gboolean
smtp_parse_size (const char *v, guint64 *size)
{
	guint64 n = 0;
	gboolean overflow = FALSE;
	gsize len = strlen (v);

	if (len == 0 || len > 20)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		guint d;
		if (!g_ascii_isdigit (v[i]))
			return FALSE;
		d = (guint)(v[i] - '0');
		if (n > (G_MAXUINT64 - d) / 10)
			overflow = TRUE;
		else
			n = n * 10 + d;
	}
	*size = overflow ? G_MAXUINT64 : n;
	return TRUE;
}

static gboolean
smtp_parse_notify (const char *v, SmtpNotify *notify)
{
	g_auto (GStrv) items = g_strsplit (v, ",", -1);
	SmtpNotify n = SMTP_NOTIFY_UNSET;

	for (guint i = 0; items[i] != NULL; i++) {
		SmtpNotify bit;
		if (g_ascii_strcasecmp (items[i], "NEVER") == 0)
			bit = SMTP_NOTIFY_NEVER;
		else if (g_ascii_strcasecmp (items[i], "SUCCESS") == 0)
			bit = SMTP_NOTIFY_SUCCESS;
		else if (g_ascii_strcasecmp (items[i], "FAILURE") == 0)
			bit = SMTP_NOTIFY_FAILURE;
		else if (g_ascii_strcasecmp (items[i], "DELAY") == 0)
			bit = SMTP_NOTIFY_DELAY;
		else
			return FALSE;
		if ((n & bit) != 0)
			return FALSE;
		n |= bit;
	}
	/* NEVER stands alone */
	if (n == SMTP_NOTIFY_UNSET || ((n & SMTP_NOTIFY_NEVER) != 0 && n != SMTP_NOTIFY_NEVER))
		return FALSE;
	*notify = n;
	return TRUE;
}

static gboolean
smtp_decoded_is_printable (const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if ((guchar)*p < 32 || (guchar)*p > 126)
			return FALSE;
	}
	return TRUE;
}

static gboolean
smtp_decoded_is_text (const char *s)
{
	if (!g_utf8_validate (s, -1, NULL))
		return FALSE;
	for (const char *p = s; *p != '\0'; p++) {
		if ((guchar)*p < 32 || (guchar)*p == 127)
			return FALSE;
	}
	return TRUE;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 §4.2) */
static gboolean
smtp_parse_orcpt (const char *v, SmtpCommand *cmd)
{
	const char *semi = strchr (v, ';');
	g_autofree char *decoded = NULL;

	if (semi == NULL || semi == v || strlen (v) > SMTP_MAX_ORCPT)
		return FALSE;
	for (const char *p = v; p < semi; p++) {
		if (!smtp_is_atext ((guchar)*p))
			return FALSE;
	}
	decoded = smtp_xtext_decode (semi + 1, strlen (semi + 1));
	if (decoded == NULL || decoded[0] == '\0' || !smtp_decoded_is_text (decoded))
		return FALSE;
	cmd->orcpt_type = g_strndup (v, (gsize)(semi - v));
	cmd->orcpt_address = g_steal_pointer (&decoded);
	return TRUE;
}

/* One parameter of MAIL (@is_mail) or RCPT, checked and recorded. */
static gboolean
smtp_apply_parameter (SmtpCommand *cmd, gboolean is_mail, SmtpParseFlags flags, const char *key, const char *value,
		      SmtpReply *reply)
{
	if (is_mail && strcmp (key, "SIZE") == 0) {
		if (value == NULL || !smtp_parse_size (value, &cmd->size)) {
			REPLY (reply, 501, "5.5.4", "Invalid SIZE value");
			return FALSE;
		}
		cmd->has_size = TRUE;
	} else if (is_mail && strcmp (key, "BODY") == 0) {
		if (value != NULL && g_ascii_strcasecmp (value, "7BIT") == 0) {
			cmd->body = SMTP_BODY_7BIT;
		} else if (value != NULL && g_ascii_strcasecmp (value, "8BITMIME") == 0) {
			cmd->body = SMTP_BODY_8BITMIME;
		} else if (value != NULL && g_ascii_strcasecmp (value, "BINARYMIME") == 0) {
			REPLY (reply, 555, "5.5.4", "BODY=BINARYMIME is not supported");
			return FALSE;
		} else {
			REPLY (reply, 501, "5.5.4", "Invalid BODY value");
			return FALSE;
		}
	} else if (is_mail && strcmp (key, "SMTPUTF8") == 0) {
		if (value != NULL) {
			REPLY (reply, 501, "5.5.4", "SMTPUTF8 takes no value");
			return FALSE;
		}
		cmd->smtputf8 = TRUE;
	} else if (is_mail && strcmp (key, "REQUIRETLS") == 0) {
		if (value != NULL) {
			REPLY (reply, 501, "5.5.4", "REQUIRETLS takes no value");
			return FALSE;
		}
		cmd->requiretls = TRUE;
	} else if (is_mail && strcmp (key, "RET") == 0) {
		if (value != NULL && g_ascii_strcasecmp (value, "FULL") == 0) {
			cmd->ret = SMTP_RET_FULL;
		} else if (value != NULL && g_ascii_strcasecmp (value, "HDRS") == 0) {
			cmd->ret = SMTP_RET_HDRS;
		} else {
			REPLY (reply, 501, "5.5.4", "Invalid RET value");
			return FALSE;
		}
	} else if (is_mail && strcmp (key, "ENVID") == 0) {
		g_autofree char *decoded = NULL;
		if (value != NULL && strlen (value) <= SMTP_MAX_ENVID)
			decoded = smtp_xtext_decode (value, strlen (value));
		if (decoded == NULL || decoded[0] == '\0' || !smtp_decoded_is_printable (decoded)) {
			REPLY (reply, 501, "5.5.4", "Invalid ENVID value");
			return FALSE;
		}
		cmd->envid = g_steal_pointer (&decoded);
	} else if (is_mail && strcmp (key, "AUTH") == 0 && (flags & SMTP_PARSE_AUTH) != 0) {
		/* RFC 4954 §5: AUTH=<> or AUTH=xtext(mailbox); checked, then
		 * ignored, as RFC 4954 allows: the session knows who submits */
		g_autofree char *decoded = NULL;
		if (value != NULL)
			decoded = smtp_xtext_decode (value, strlen (value));
		if (decoded == NULL || decoded[0] == '\0' || !smtp_decoded_is_printable (decoded)) {
			REPLY (reply, 501, "5.5.4", "Invalid AUTH value");
			return FALSE;
		}
	} else if (!is_mail && strcmp (key, "NOTIFY") == 0) {
		if (value == NULL || !smtp_parse_notify (value, &cmd->notify)) {
			REPLY (reply, 501, "5.5.4", "Invalid NOTIFY value");
			return FALSE;
		}
	} else if (!is_mail && strcmp (key, "ORCPT") == 0) {
		if (value == NULL || !smtp_parse_orcpt (value, cmd)) {
			REPLY (reply, 501, "5.5.4", "Invalid ORCPT value");
			return FALSE;
		}
	} else {
		REPLY (reply, 555, "5.5.4", "Unsupported parameter");
		return FALSE;
	}
	return TRUE;
}

/* Mail-parameters = esmtp-param *(SP esmtp-param) */
static gboolean
smtp_parse_parameters (const char *s, gsize len, gboolean is_mail, SmtpParseFlags flags, SmtpCommand *cmd,
		       SmtpReply *reply)
{
	gsize i = 0;

	cmd->parameters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	for (;;) {
		gsize kstart = i;
		g_autofree char *key = NULL;
		g_autofree char *value = NULL;

		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (i >= len || !g_ascii_isalnum (s[i])) {
			REPLY (reply, 501, "5.5.4", "Syntax error in parameters");
			return FALSE;
		}
		while (i < len && (g_ascii_isalnum (s[i]) || s[i] == '-'))
			i++;
		key = g_ascii_strup (s + kstart, (gssize)(i - kstart));
		if (i < len && s[i] == '=') {
			gsize vstart = ++i;
			while (i < len && smtp_is_esmtp_value_char ((guchar)s[i]))
				i++;
			if (i == vstart) {
				REPLY (reply, 501, "5.5.4", "Syntax error in parameters");
				return FALSE;
			}
			value = g_strndup (s + vstart, i - vstart);
		}
		if (i < len && s[i] != ' ') {
			REPLY (reply, 501, "5.5.4", "Syntax error in parameters");
			return FALSE;
		}
		if (g_hash_table_contains (cmd->parameters, key)) {
			REPLY (reply, 501, "5.5.4", "Duplicate parameter");
			return FALSE;
		}
		if (!smtp_apply_parameter (cmd, is_mail, flags, key, value, reply))
			return FALSE;
		g_hash_table_insert (cmd->parameters, g_steal_pointer (&key), g_steal_pointer (&value));
		if (i == len)
			return TRUE;
		i++; /* the SP */
	}
}

/* "MAIL FROM:" Reverse-path [SP Mail-parameters]
 * "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] */
static gboolean
smtp_parse_mail_rcpt (const char *arg, gsize len, gboolean is_mail, SmtpParseFlags flags, SmtpCommand *cmd,
		      SmtpReply *reply)
{
	const char *keyword = is_mail ? "FROM:" : "TO:";
	g_autoptr (GString) path = g_string_new (NULL);
	gsize i = strlen (keyword);
	SmtpPathStatus st;

	if (!smtp_has_prefix_case (arg, len, keyword)) {
		REPLY (reply, 501, "5.5.4", is_mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
		return FALSE;
	}
	/* the leniency: "FROM: <a@b>" */
	while (i < len && arg[i] == ' ')
		i++;
	if (!is_mail && smtp_has_prefix_case (arg + i, len - i, "<Postmaster>")) {
		g_string_assign (path, "Postmaster");
		cmd->postmaster = TRUE;
		i += strlen ("<Postmaster>");
	} else {
		if (i >= len || arg[i] != '<') {
			REPLY (reply, 501, "5.5.4",
			       is_mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
			return FALSE;
		}
		st = smtp_parse_path (arg, len, &i, is_mail, path);
		if (st != PATH_OK) {
			smtp_path_reply (st, is_mail, reply);
			return FALSE;
		}
	}
	if (i < len) {
		if (arg[i] != ' ') {
			smtp_path_reply (PATH_SYNTAX, is_mail, reply);
			return FALSE;
		}
		if (!smtp_parse_parameters (arg + i + 1, len - i - 1, is_mail, flags, cmd, reply))
			return FALSE;
	}
	for (gsize k = 0; k < path->len; k++) {
		if ((guchar)path->str[k] >= 0x80) {
			cmd->path_utf8 = TRUE;
			break;
		}
	}
	if (cmd->path_utf8 && !cmd->smtputf8 && (flags & SMTP_PARSE_UTF8) == 0) {
		REPLY (reply, 553, "5.6.7",
		       is_mail ? "Non-ASCII sender address needs SMTPUTF8"
			       : "Non-ASCII recipient address needs SMTPUTF8");
		return FALSE;
	}
	cmd->path = g_string_free (g_steal_pointer (&path), FALSE);
	return TRUE;
}

/* "BDAT" SP chunk-size [ SP end-marker ], chunk-size = 1*DIGIT, end-marker = "LAST" */
static gboolean
smtp_parse_bdat (const char *arg, gsize len, SmtpCommand *cmd, SmtpReply *reply)
{
	gsize i = 0;
	guint64 n = 0;

	while (i < len && g_ascii_isdigit (arg[i])) {
		guint d = (guint)(arg[i] - '0');
		if (n > (G_MAXUINT64 - d) / 10) {
			REPLY (reply, 501, "5.5.4", "BDAT chunk size too large");
			return FALSE;
		}
		n = n * 10 + d;
		i++;
	}
	if (i == 0) {
		REPLY (reply, 501, "5.5.4", "Syntax: BDAT <size> [LAST]");
		return FALSE;
	}
	cmd->chunk_size = n;
	if (i == len)
		return TRUE;
	if (arg[i] == ' ' && smtp_ascii_caseeq (arg + i + 1, len - i - 1, "LAST")) {
		cmd->last = TRUE;
		return TRUE;
	}
	REPLY (reply, 501, "5.5.4", "Syntax: BDAT <size> [LAST]");
	return FALSE;
}

static gboolean
smtp_argument_is_text (const char *s, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)s[i];
		if (c < 32 || c == 127)
			return FALSE;
	}
	return g_utf8_validate_len (s, len, NULL);
}

gboolean
smtp_command_parse (const char *line, gsize len, SmtpParseFlags flags, SmtpCommand *cmd, SmtpReply *reply)
{
	gsize vlen = 0;
	const char *arg = NULL;
	gsize alen = 0;
	gboolean has_arg;

	memset (cmd, 0, sizeof (*cmd));
	REPLY (reply, 0, NULL, NULL);

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	cmd->verb = SMTP_VERB_UNKNOWN;
	for (guint i = 0; i < G_N_ELEMENTS (smtp_verbs); i++) {
		if (smtp_ascii_caseeq (line, vlen, smtp_verbs[i].name)) {
			cmd->verb = smtp_verbs[i].verb;
			break;
		}
	}
	has_arg = vlen < len;
	if (has_arg) {
		arg = line + vlen + 1;
		alen = len - vlen - 1;
	}

	if (len > (cmd->verb == SMTP_VERB_MAIL || cmd->verb == SMTP_VERB_RCPT ? SMTP_COMMAND_MAX_LINE_PATH
		   : cmd->verb == SMTP_VERB_AUTH			      ? SMTP_COMMAND_MAX_LINE_AUTH
									      : SMTP_COMMAND_MAX_LINE)) {
		REPLY (reply, 500, "5.5.2", "Line too long");
		return FALSE;
	}

	switch (cmd->verb) {
	case SMTP_VERB_UNKNOWN:
		REPLY (reply, 500, "5.5.2", "Command unrecognized");
		return FALSE;

	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		/* "EHLO" SP ( Domain / address-literal ); ASCII only (RFC 6531 §3.7.1) */
		if (!has_arg || alen == 0) {
			REPLY (reply, 501, "5.5.4",
			       cmd->verb == SMTP_VERB_EHLO ? "Syntax: EHLO <domain>" : "Syntax: HELO <domain>");
			return FALSE;
		}
		if (!(smtp_domain_is_valid (arg, alen, FALSE) ||
		      (arg[0] == '[' && smtp_address_literal_is_valid (arg, alen)))) {
			REPLY (reply, 501, "5.5.4", "Invalid domain name");
			return FALSE;
		}
		cmd->argument = g_strndup (arg, alen);
		return TRUE;

	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		if (!has_arg) {
			REPLY (reply, 501, "5.5.4",
			       cmd->verb == SMTP_VERB_MAIL ? "Syntax: MAIL FROM:<address>"
							   : "Syntax: RCPT TO:<address>");
			return FALSE;
		}
		return smtp_parse_mail_rcpt (arg, alen, cmd->verb == SMTP_VERB_MAIL, flags, cmd, reply);

	case SMTP_VERB_BDAT:
		if (!has_arg) {
			REPLY (reply, 501, "5.5.4", "Syntax: BDAT <size> [LAST]");
			return FALSE;
		}
		return smtp_parse_bdat (arg, alen, cmd, reply);

	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (has_arg) {
			REPLY (reply, 501, "5.5.4", "Syntax error, no parameters allowed");
			return FALSE;
		}
		return TRUE;

	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_AUTH:
		if (!has_arg || alen == 0) {
			REPLY (reply, 501, "5.5.4", "Argument required");
			return FALSE;
		}
		G_GNUC_FALLTHROUGH;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		if (has_arg) {
			if (alen == 0 || !smtp_argument_is_text (arg, alen)) {
				REPLY (reply, 501, "5.5.2", "Syntax error in argument");
				return FALSE;
			}
			cmd->argument = g_strndup (arg, alen);
		}
		return TRUE;
	}
	REPLY (reply, 500, "5.5.2", "Command unrecognized");
	return FALSE;
}
