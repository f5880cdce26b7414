/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-verdict.h"

static guint n_warnings;

static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if ((level & G_LOG_LEVEL_WARNING) == 0)
		return g_log_writer_default (level, fields, n_fields, user_data);
	n_warnings++;
	return G_LOG_WRITER_HANDLED;
}

static void
assert_internal_error (const EpVerdict *verdict)
{
	g_assert_cmpint (verdict->kind, ==, EP_VERDICT_TEMPFAIL);
	g_assert_cmpuint (verdict->code, ==, 451);
	g_assert_cmpstr (verdict->enhanced, ==, "4.3.0");
}

static void
test_verdict_constructors (void)
{
	g_autoptr(EpVerdict) cont = ep_verdict_new (EP_VERDICT_CONTINUE);
	g_autoptr(EpVerdict) accept = ep_verdict_new (EP_VERDICT_ACCEPT);
	g_autoptr(EpVerdict) reject = ep_verdict_new_reject (554, "5.7.1", "Relay access denied for %s", "x@y.z");
	g_autoptr(EpVerdict) tempfail = ep_verdict_new_tempfail (450, "4.2.0", "Greylisted, come back in %d s", 300);
	g_autoptr(EpVerdict) reject_default = ep_verdict_new (EP_VERDICT_REJECT);
	g_autoptr(EpVerdict) tempfail_default = ep_verdict_new (EP_VERDICT_TEMPFAIL);
	g_autoptr(EpVerdict) quarantine = ep_verdict_new (EP_VERDICT_QUARANTINE);

	g_assert_cmpint (cont->kind, ==, EP_VERDICT_CONTINUE);
	g_assert_false (ep_verdict_is_final (cont));
	g_assert_true (ep_verdict_is_final (accept));
	g_assert_cmpuint (accept->code, ==, 0);
	g_assert_null (accept->enhanced);

	g_assert_cmpint (reject->kind, ==, EP_VERDICT_REJECT);
	g_assert_cmpuint (reject->code, ==, 554);
	g_assert_cmpstr (reject->enhanced, ==, "5.7.1");
	g_assert_cmpstr (reject->text, ==, "Relay access denied for x@y.z");

	g_assert_cmpint (tempfail->kind, ==, EP_VERDICT_TEMPFAIL);
	g_assert_cmpuint (tempfail->code, ==, 450);
	g_assert_cmpstr (tempfail->enhanced, ==, "4.2.0");
	g_assert_cmpstr (tempfail->text, ==, "Greylisted, come back in 300 s");

	g_assert_cmpuint (reject_default->code, ==, 550);
	g_assert_cmpstr (reject_default->enhanced, ==, "5.7.1");
	g_assert_true (ep_verdict_validate (reject_default, NULL));
	assert_internal_error (tempfail_default);
	g_assert_cmpint (quarantine->kind, ==, EP_VERDICT_QUARANTINE);
	g_assert_true (ep_verdict_validate (quarantine, NULL));
}

typedef struct {
	EpVerdictKind kind;
	guint code;
	const char *enhanced;
	const char *text;
	gboolean valid;
} VerdictCase;

static void
test_verdict_validation (void)
{
	const VerdictCase cases[] = {
		{ EP_VERDICT_REJECT, 550, "5.7.1", "Go away", TRUE },
		{ EP_VERDICT_REJECT, 500, "5.0.0", NULL, TRUE },
		{ EP_VERDICT_REJECT, 559, "5.123.999", "x", TRUE },
		{ EP_VERDICT_REJECT, 550, NULL, "defaults to 5.0.0", TRUE },
		{ EP_VERDICT_TEMPFAIL, 421, "4.4.2", "Timeout", TRUE },
		{ EP_VERDICT_TEMPFAIL, 451, "4.3.0", "UTF-8 is fine: é", TRUE },
		{ EP_VERDICT_ACCEPT, 0, NULL, "allow-listed", TRUE },
		{ EP_VERDICT_DISCARD, 0, NULL, NULL, TRUE },
		/* REJECT needs 5xx and 5.x.x */
		{ EP_VERDICT_REJECT, 450, "5.7.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 250, "5.7.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 560, "5.7.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 5500, "5.7.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "4.7.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.7", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.7.1.", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.1234.1", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "5..1", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.7.x", "x", FALSE },
		{ EP_VERDICT_REJECT, 550, "", "x", FALSE },
		/* TEMPFAIL needs 4xx and 4.x.x */
		{ EP_VERDICT_TEMPFAIL, 550, "4.7.1", "x", FALSE },
		{ EP_VERDICT_TEMPFAIL, 451, "5.3.0", "x", FALSE },
		{ EP_VERDICT_TEMPFAIL, 0, "4.3.0", "x", FALSE },
		/* other kinds carry no code */
		{ EP_VERDICT_ACCEPT, 250, NULL, NULL, FALSE },
		{ EP_VERDICT_CONTINUE, 0, "2.0.0", NULL, FALSE },
		/* the text is one line: no reply injection */
		{ EP_VERDICT_REJECT, 550, "5.7.1", "line\r\n250 OK", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.7.1", "nul\001", FALSE },
		{ EP_VERDICT_REJECT, 550, "5.7.1", "bad utf-8 \xff", FALSE },
		{ 42, 0, NULL, NULL, FALSE },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		const VerdictCase *c = &cases[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(EpVerdict) verdict = ep_verdict_new_full (c->kind, c->code, c->enhanced, c->text, &error);

		g_test_message ("case %u: %d %u %s", i, c->kind, c->code, c->enhanced != NULL ? c->enhanced : "-");
		if (c->valid) {
			g_assert_no_error (error);
			g_assert_nonnull (verdict);
			g_assert_true (ep_verdict_validate (verdict, NULL));
		} else {
			g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
			g_assert_null (verdict);
		}
	}

	/* over-long text */
	{
		g_autofree char *text = g_strnfill (EP_VERDICT_TEXT_MAX + 1, 'a');
		g_autoptr(GError) error = NULL;
		g_autoptr(EpVerdict) verdict = ep_verdict_new_full (EP_VERDICT_REJECT, 550, NULL, text, &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_null (verdict);
	}
}

static void
test_verdict_bad_codes_fail_closed (void)
{
	g_autoptr(EpVerdict) reject = NULL;
	g_autoptr(EpVerdict) tempfail = NULL;

	n_warnings = 0;
	/* a permanent refusal with a temporary code is a module bug: it
	 * neither lets the mail through nor sends a malformed reply */
	reject = ep_verdict_new_reject (450, "5.7.1", "mixed up");
	assert_internal_error (reject);
	tempfail = ep_verdict_new_tempfail (451, "5.3.0", "mixed up");
	assert_internal_error (tempfail);
	g_assert_cmpuint (n_warnings, ==, 2);
}

static void
test_verdict_copy_and_string (void)
{
	g_autoptr(EpVerdict) reject = ep_verdict_new_reject (550, "5.1.1", "No such user");
	g_autoptr(EpVerdict) copy = ep_verdict_copy (reject);
	g_autoptr(EpVerdict) cont = ep_verdict_new (EP_VERDICT_CONTINUE);
	g_autofree char *str = NULL;
	g_autofree char *str_cont = NULL;

	g_assert_true (copy != reject);
	g_assert_true (copy->text != reject->text);
	g_assert_cmpint (copy->kind, ==, reject->kind);
	g_assert_cmpuint (copy->code, ==, 550);
	g_assert_cmpstr (copy->enhanced, ==, "5.1.1");
	g_assert_cmpstr (copy->text, ==, "No such user");

	str = ep_verdict_to_string (reject);
	g_assert_cmpstr (str, ==, "reject 550 5.1.1 \"No such user\"");
	str_cont = ep_verdict_to_string (cont);
	g_assert_cmpstr (str_cont, ==, "continue");
	g_assert_cmpstr (ep_verdict_kind_to_string (EP_VERDICT_QUARANTINE), ==, "quarantine");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_log_set_writer_func (test_log_writer, NULL, NULL);

	g_test_add_func ("/verdict/constructors", test_verdict_constructors);
	g_test_add_func ("/verdict/validation", test_verdict_validation);
	g_test_add_func ("/verdict/bad-codes-fail-closed", test_verdict_bad_codes_fail_closed);
	g_test_add_func ("/verdict/copy-and-string", test_verdict_copy_and_string);
	return g_test_run ();
}
