/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdarg.h>

#include "ep-error.h"
#include "ep-log.h"
#include "ep-verdict.h"

#define EP_VERDICT_INTERNAL_CODE     451
#define EP_VERDICT_INTERNAL_ENHANCED "4.3.0"
#define EP_VERDICT_INTERNAL_TEXT     "Temporary local problem, please try again later"

const char *
ep_verdict_kind_to_string (EpVerdictKind kind)
{
	switch (kind) {
	case EP_VERDICT_CONTINUE:
		return "continue";
	case EP_VERDICT_ACCEPT:
		return "accept";
	case EP_VERDICT_REJECT:
		return "reject";
	case EP_VERDICT_TEMPFAIL:
		return "tempfail";
	case EP_VERDICT_DISCARD:
		return "discard";
	case EP_VERDICT_QUARANTINE:
		return "quarantine";
	}
	return "unknown";
}

static gboolean
ep_verdict_kind_is_valid (EpVerdictKind kind)
{
	return kind >= EP_VERDICT_CONTINUE && kind <= EP_VERDICT_QUARANTINE;
}

static gboolean
ep_verdict_kind_has_code (EpVerdictKind kind)
{
	return kind == EP_VERDICT_REJECT || kind == EP_VERDICT_TEMPFAIL;
}

/* the first digit a REJECT or TEMPFAIL reply starts with */
static guint
ep_verdict_kind_get_class (EpVerdictKind kind)
{
	return kind == EP_VERDICT_REJECT ? 5 : 4;
}

/* RFC 3463: class "." subject "." detail, subject and detail 1*3digit */
static gboolean
ep_verdict_enhanced_is_valid (const char *enhanced, guint klass)
{
	const char *p = enhanced;

	if (p[0] != (char) ('0' + klass) || p[1] != '.')
		return FALSE;
	p += 2;
	for (guint part = 0; part < 2; part++) {
		guint digits = 0;
		while (g_ascii_isdigit (*p)) {
			digits++;
			p++;
		}
		if (digits < 1 || digits > 3)
			return FALSE;
		if (part == 0) {
			if (*p != '.')
				return FALSE;
			p++;
		}
	}
	return *p == '\0';
}

static gboolean
ep_verdict_text_is_valid (const char *text)
{
	if (strlen (text) > EP_VERDICT_TEXT_MAX)
		return FALSE;
	if (!g_utf8_validate (text, -1, NULL))
		return FALSE;
	for (const char *p = text; *p != '\0'; p++) {
		guchar c = (guchar) *p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/**
 * ep_verdict_validate:
 * @verdict: a verdict
 *
 * Checks that a verdict can go on the wire: a REJECT carries a 5xx reply
 * code and a 5.x.x enhanced code, a TEMPFAIL 4xx and 4.x.x, other kinds
 * carry neither; the text is one line of printable UTF-8.
 *
 * Returns: %TRUE when the verdict is well formed
 */
gboolean
ep_verdict_validate (const EpVerdict *verdict, GError **error)
{
	g_return_val_if_fail (verdict != NULL, FALSE);

	if (!ep_verdict_kind_is_valid (verdict->kind)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unknown verdict kind %d", (int) verdict->kind);
		return FALSE;
	}
	if (ep_verdict_kind_has_code (verdict->kind)) {
		guint klass = ep_verdict_kind_get_class (verdict->kind);
		guint lo = klass * 100;

		/* the second digit of a reply code is 0 to 5 (RFC 5321 4.2.1) */
		if (verdict->code < lo || verdict->code > lo + 59) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s needs a %uxx reply code, not %u",
				     ep_verdict_kind_to_string (verdict->kind), klass, verdict->code);
			return FALSE;
		}
		if (verdict->enhanced == NULL || !ep_verdict_enhanced_is_valid (verdict->enhanced, klass)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "%s needs an enhanced status code %u.x.x, not %s",
				     ep_verdict_kind_to_string (verdict->kind), klass,
				     verdict->enhanced != NULL ? verdict->enhanced : "none");
			return FALSE;
		}
	} else if (verdict->code != 0 || verdict->enhanced != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s carries no reply code",
			     ep_verdict_kind_to_string (verdict->kind));
		return FALSE;
	}
	if (verdict->text != NULL && !ep_verdict_text_is_valid (verdict->text)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "verdict text must be one line of at most %u printable characters",
			     (guint) EP_VERDICT_TEXT_MAX);
		return FALSE;
	}
	return TRUE;
}

/**
 * ep_verdict_new_full:
 * @kind: the kind of verdict
 * @code: the SMTP reply code for REJECT and TEMPFAIL, else 0
 * @enhanced: (nullable): the enhanced status code for REJECT and TEMPFAIL;
 *   %NULL means "5.0.0" or "4.0.0"
 * @text: (nullable): the reply text
 *
 * Builds a verdict from values that may come from configuration or other
 * input, checking them with ep_verdict_validate().
 *
 * Returns: (transfer full): a new verdict, or %NULL with @error set
 */
EpVerdict *
ep_verdict_new_full (EpVerdictKind kind, guint code, const char *enhanced, const char *text, GError **error)
{
	g_autoptr(EpVerdict) verdict = g_new0 (EpVerdict, 1);

	verdict->kind = kind;
	verdict->code = code;
	verdict->text = g_strdup (text);
	if (enhanced != NULL)
		verdict->enhanced = g_strdup (enhanced);
	else if (ep_verdict_kind_has_code (kind) && ep_verdict_kind_is_valid (kind))
		verdict->enhanced = g_strdup_printf ("%u.0.0", ep_verdict_kind_get_class (kind));
	if (!ep_verdict_validate (verdict, error))
		return NULL;
	return g_steal_pointer (&verdict);
}

/**
 * ep_verdict_new_internal_error:
 *
 * The verdict a chain ends with when something inside it broke: a
 * temporary failure (451 4.3.0) that tells the client nothing about why.
 *
 * Returns: (transfer full): a new verdict
 */
EpVerdict *
ep_verdict_new_internal_error (void)
{
	EpVerdict *verdict = g_new0 (EpVerdict, 1);

	verdict->kind = EP_VERDICT_TEMPFAIL;
	verdict->code = EP_VERDICT_INTERNAL_CODE;
	verdict->enhanced = g_strdup (EP_VERDICT_INTERNAL_ENHANCED);
	verdict->text = g_strdup (EP_VERDICT_INTERNAL_TEXT);
	return verdict;
}

/**
 * ep_verdict_new:
 * @kind: the kind of verdict
 *
 * Builds a verdict without text.  A REJECT gets 550 5.7.1 and a TEMPFAIL
 * 451 4.3.0 with a generic text; use ep_verdict_new_reject() and
 * ep_verdict_new_tempfail() to say more.
 *
 * Returns: (transfer full): a new verdict
 */
EpVerdict *
ep_verdict_new (EpVerdictKind kind)
{
	EpVerdict *verdict;

	if (kind == EP_VERDICT_REJECT)
		return ep_verdict_new_reject (550, "5.7.1", "Message rejected");
	if (kind == EP_VERDICT_TEMPFAIL)
		return ep_verdict_new_internal_error ();
	if (!ep_verdict_kind_is_valid (kind)) {
		ep_log_warning (NULL, NULL, "unknown verdict kind %d, answering a temporary failure instead",
				(int) kind);
		return ep_verdict_new_internal_error ();
	}
	verdict = g_new0 (EpVerdict, 1);
	verdict->kind = kind;
	return verdict;
}

static EpVerdict *
ep_verdict_new_coded (EpVerdictKind kind, guint code, const char *enhanced, const char *format, va_list args)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = g_strdup_vprintf (format, args);
	EpVerdict *verdict = ep_verdict_new_full (kind, code, enhanced, text, &error);

	/* a handler built a malformed reply: fail closed, do not send it */
	if (verdict == NULL) {
		ep_log_warning (NULL, NULL, "invalid %s verdict %u %s: %s; answering a temporary failure instead",
				ep_verdict_kind_to_string (kind), code, enhanced != NULL ? enhanced : "-",
				error->message);
		return ep_verdict_new_internal_error ();
	}
	return verdict;
}

/**
 * ep_verdict_new_reject:
 * @code: a 5xx SMTP reply code
 * @enhanced: (nullable): a 5.x.x enhanced status code
 * @format: printf() format of the reply text
 *
 * Builds a permanent refusal.  Malformed values are a bug of the caller:
 * they are logged and the verdict becomes a temporary failure (451 4.3.0),
 * so that a broken module never sends a broken reply nor lets mail through.
 *
 * Returns: (transfer full): a new verdict
 */
EpVerdict *
ep_verdict_new_reject (guint code, const char *enhanced, const char *format, ...)
{
	va_list args;
	EpVerdict *verdict;

	va_start (args, format);
	verdict = ep_verdict_new_coded (EP_VERDICT_REJECT, code, enhanced, format, args);
	va_end (args);
	return verdict;
}

/**
 * ep_verdict_new_tempfail:
 * @code: a 4xx SMTP reply code
 * @enhanced: (nullable): a 4.x.x enhanced status code
 * @format: printf() format of the reply text
 *
 * Builds a temporary refusal; malformed values are handled as for
 * ep_verdict_new_reject().
 *
 * Returns: (transfer full): a new verdict
 */
EpVerdict *
ep_verdict_new_tempfail (guint code, const char *enhanced, const char *format, ...)
{
	va_list args;
	EpVerdict *verdict;

	va_start (args, format);
	verdict = ep_verdict_new_coded (EP_VERDICT_TEMPFAIL, code, enhanced, format, args);
	va_end (args);
	return verdict;
}

/**
 * ep_verdict_is_final:
 * @verdict: a verdict
 *
 * Returns: %TRUE when the verdict ends a chain, that is unless it is CONTINUE
 */
gboolean
ep_verdict_is_final (const EpVerdict *verdict)
{
	g_return_val_if_fail (verdict != NULL, FALSE);
	return verdict->kind != EP_VERDICT_CONTINUE;
}

/**
 * ep_verdict_copy:
 * @verdict: a verdict
 *
 * Returns: (transfer full): a deep copy of @verdict
 */
EpVerdict *
ep_verdict_copy (const EpVerdict *verdict)
{
	EpVerdict *copy;

	g_return_val_if_fail (verdict != NULL, NULL);

	copy = g_new0 (EpVerdict, 1);
	copy->kind = verdict->kind;
	copy->code = verdict->code;
	copy->enhanced = g_strdup (verdict->enhanced);
	copy->text = g_strdup (verdict->text);
	return copy;
}

void
ep_verdict_free (EpVerdict *verdict)
{
	if (verdict == NULL)
		return;
	g_free (verdict->enhanced);
	g_free (verdict->text);
	g_free (verdict);
}

/**
 * ep_verdict_to_string:
 * @verdict: a verdict
 *
 * Describes a verdict for the log, e.g. `reject 550 5.7.1 "Relaying denied"`.
 *
 * Returns: (transfer full): a new string
 */
char *
ep_verdict_to_string (const EpVerdict *verdict)
{
	GString *str;

	g_return_val_if_fail (verdict != NULL, NULL);

	str = g_string_new (ep_verdict_kind_to_string (verdict->kind));
	if (verdict->code != 0)
		g_string_append_printf (str, " %u", verdict->code);
	if (verdict->enhanced != NULL)
		g_string_append_printf (str, " %s", verdict->enhanced);
	if (verdict->text != NULL)
		g_string_append_printf (str, " \"%s\"", verdict->text);
	return g_string_free (str, FALSE);
}
