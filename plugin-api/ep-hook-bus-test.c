/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-hook-bus.h"
#include "ep-hooks.h"

/* warnings the code under test logged, as "module: message" */
static GPtrArray *logged;

static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	const char *message = NULL;
	const char *module = "-";

	if ((level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) == 0)
		return g_log_writer_default (level, fields, n_fields, user_data);
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
			message = fields[i].value;
		else if (g_strcmp0 (fields[i].key, "EPISTLE_MODULE") == 0)
			module = fields[i].value;
	}
	g_ptr_array_add (logged, g_strdup_printf ("%s: %s", module, message));
	return G_LOG_WRITER_HANDLED;
}

static void
test_log_reset (void)
{
	g_ptr_array_set_size (logged, 0);
}

/* one logged warning contains @module and @needle */
static void
test_log_assert (const char *module, const char *needle)
{
	g_autofree char *prefix = g_strdup_printf ("%s: ", module);

	for (guint i = 0; i < logged->len; i++) {
		const char *line = g_ptr_array_index (logged, i);
		if (g_str_has_prefix (line, prefix) && strstr (line, needle) != NULL)
			return;
	}
	for (guint i = 0; i < logged->len; i++)
		g_printerr ("logged: %s\n", (const char *) g_ptr_array_index (logged, i));
	g_error ("no warning from %s containing \"%s\"", module, needle);
}

static void
test_log_assert_empty (void)
{
	for (guint i = 0; i < logged->len; i++)
		g_printerr ("unexpected: %s\n", (const char *) g_ptr_array_index (logged, i));
	g_assert_cmpuint (logged->len, ==, 0);
}

/* running a chain to its end */

typedef struct {
	gboolean done;
	EpHookResult *result;
	GError *error;
} RunData;

static void
run_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	RunData *data = user_data;

	data->result = ep_hook_bus_run_finish (EP_HOOK_BUS (source), res, &data->error);
	data->done = TRUE;
}

static EpHookResult *
run_chain (EpHookBus *bus, EpHookPoint point, gpointer ctx, guint deadline_ms, GCancellable *cancellable,
	   GError **error)
{
	RunData data = { 0 };

	ep_hook_bus_run_async (bus, point, ctx, deadline_ms, cancellable, run_done_cb, &data);
	/* never completes inside run_async */
	g_assert_false (data.done);
	while (!data.done)
		g_main_context_iteration (NULL, TRUE);
	if (data.error != NULL) {
		g_propagate_error (error, data.error);
		return NULL;
	}
	return data.result;
}

/* keep the main loop turning for @ms */
static gboolean
quit_cb (gpointer user_data)
{
	gboolean *flag = user_data;
	*flag = TRUE;
	return G_SOURCE_REMOVE;
}

static void
spin (guint ms)
{
	gboolean elapsed = FALSE;

	g_timeout_add (ms, quit_cb, &elapsed);
	while (!elapsed)
		g_main_context_iteration (NULL, TRUE);
}

/* handlers */

typedef struct {
	GString *trace;
	const char *label;
} Recorder;

static void
continue_and_record (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	Recorder *rec = user_data;

	g_string_append_printf (rec->trace, "%s,", rec->label);
	ep_hook_call_continue (call);
}

static void
reject_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_return (call, ep_verdict_new_reject (550, "5.7.1", "Go away"));
}

static void
accept_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_return (call, ep_verdict_new (EP_VERDICT_ACCEPT));
}

static void
continue_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_continue (call);
}

static void
count_and_continue (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	guint *count = user_data;

	(*count)++;
	ep_hook_call_continue (call);
}

static void
assert_internal_tempfail (EpHookResult *result, const char *module, gint code, const char *needle)
{
	g_assert_nonnull (result);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_TEMPFAIL);
	g_assert_cmpuint (result->verdict->code, ==, 451);
	g_assert_cmpstr (result->verdict->enhanced, ==, "4.3.0");
	g_assert_cmpstr (result->module, ==, module);
	g_assert_error (result->reason, EP_ERROR, code);
	g_assert_true (g_str_has_prefix (result->reason->message, module));
	g_assert_nonnull (strstr (result->reason->message, needle));
	/* the client never sees why */
	g_assert_null (strstr (result->verdict->text, module));
}

static void
test_hook_point_names (void)
{
	EpHookPoint point;

	for (guint i = 0; i < EP_HOOK_POINT_COUNT; i++) {
		g_assert_true (ep_hook_point_from_string (ep_hook_point_to_string (i), &point));
		g_assert_cmpint (point, ==, i);
	}
	g_assert_cmpstr (ep_hook_point_to_string (EP_HOOK_POINT_SMTP_RCPT_TO), ==, "smtp.rcpt_to");
	g_assert_cmpstr (ep_hook_point_to_string (EP_HOOK_POINT_OUTBOUND_TLS_POLICY), ==, "outbound.tls_policy");
	g_assert_false (ep_hook_point_from_string ("smtp.nope", &point));
}

static void
test_hook_priority_order (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(GString) trace = g_string_new (NULL);
	g_autoptr(EpHookResult) result = NULL;
	Recorder r10a = { trace, "10a" }, r10b = { trace, "10b" }, rm5 = { trace, "-5" };
	Recorder r0a = { trace, "0a" }, r0b = { trace, "0b" };

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "m10a", 10, continue_and_record, &r10a, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "m0a", 0, continue_and_record, &r0a, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "mm5", -5, continue_and_record, &rm5, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "m10b", 10, continue_and_record, &r10b, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "m0b", 0, continue_and_record, &r0b, NULL);
	/* another point is not called */
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_CONNECT, "other", 0, reject_handler, NULL, NULL);
	g_assert_cmpuint (ep_hook_bus_get_n_handlers (bus, EP_HOOK_POINT_SMTP_HELO), ==, 5);

	result = run_chain (bus, EP_HOOK_POINT_SMTP_HELO, &r0a, 0, NULL, NULL);
	g_assert_cmpstr (trace->str, ==, "-5,0a,0b,10a,10b,");
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_CONTINUE);
	g_assert_null (result->module);
	g_assert_null (result->reason);
	g_assert_cmpuint (result->steps->len, ==, 5);
	g_assert_cmpstr (((EpHookStep *) g_ptr_array_index (result->steps, 0))->module, ==, "mm5");
	g_assert_cmpstr (((EpHookStep *) g_ptr_array_index (result->steps, 4))->module, ==, "m10b");
	test_log_assert_empty ();
}

static void
test_hook_final_verdict_stops (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	guint before = 0, after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "first", 0, count_and_continue, &before, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "policy", 1, reject_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "last", 2, count_and_continue, &after, NULL);

	result = run_chain (bus, EP_HOOK_POINT_SMTP_RCPT_TO, &ctx, 0, NULL, NULL);
	g_assert_cmpuint (before, ==, 1);
	g_assert_cmpuint (after, ==, 0);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_REJECT);
	g_assert_cmpuint (result->verdict->code, ==, 550);
	g_assert_cmpstr (result->verdict->enhanced, ==, "5.7.1");
	g_assert_cmpstr (result->verdict->text, ==, "Go away");
	g_assert_cmpstr (result->module, ==, "policy");
	g_assert_null (result->reason);
	test_log_assert_empty ();
}

static void
test_hook_empty_chain (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	int ctx = 0;

	result = run_chain (bus, EP_HOOK_POINT_AUTH_VERIFY, &ctx, 0, NULL, NULL);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_CONTINUE);
	g_assert_null (result->module);
	g_assert_cmpuint (result->steps->len, ==, 0);
}

/* answers later, from a timeout */
typedef struct {
	EpHookCall *call;
	EpVerdictKind answer;
	gboolean answered;
	gboolean was_cancelled;
	gboolean drop;
	guint delay_ms;
} Later;

static gboolean
later_answer_cb (gpointer user_data)
{
	Later *later = user_data;
	g_autoptr(EpHookCall) call = g_steal_pointer (&later->call);

	later->was_cancelled = g_cancellable_is_cancelled (ep_hook_call_get_cancellable (call));
	later->answered = TRUE;
	if (later->drop)
		return G_SOURCE_REMOVE;
	if (later->answer == EP_VERDICT_CONTINUE)
		ep_hook_call_continue (call);
	else
		ep_hook_call_return (call, ep_verdict_new (later->answer));
	return G_SOURCE_REMOVE;
}

static void
later_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	Later *later = user_data;

	later->call = ep_hook_call_ref (call);
	g_timeout_add (later->delay_ms, later_answer_cb, later);
}

static void
test_hook_async_answer (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	Later later = { .answer = EP_VERDICT_CONTINUE, .delay_ms = 20 };
	guint after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "dns", 0, later_handler, &later, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "next", 1, count_and_continue, &after, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "decider", 2, accept_handler, NULL, NULL);

	result = run_chain (bus, EP_HOOK_POINT_SMTP_DATA, &ctx, 1000, NULL, NULL);
	g_assert_true (later.answered);
	g_assert_false (later.was_cancelled);
	g_assert_cmpuint (after, ==, 1);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_ACCEPT);
	g_assert_cmpstr (result->module, ==, "decider");
	g_assert_cmpuint (result->steps->len, ==, 3);
	g_assert_cmpint (((EpHookStep *) g_ptr_array_index (result->steps, 0))->elapsed_us, >=, 15000);
	test_log_assert_empty ();
}

static void
test_hook_deadline (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	Later slow = { .answer = EP_VERDICT_ACCEPT, .delay_ms = 300 };
	guint after = 0;
	gint64 start;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "quick", 0, continue_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "slowmod", 1, later_handler, &slow, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "after", 2, count_and_continue, &after, NULL);

	start = g_get_monotonic_time ();
	result = run_chain (bus, EP_HOOK_POINT_SMTP_DATA, &ctx, 50, NULL, NULL);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 250000);
	g_assert_false (slow.answered);
	assert_internal_tempfail (result, "slowmod", EP_ERROR_TIMEOUT, "50 ms");
	test_log_assert ("slowmod", "did not answer");

	/* the late answer comes, is ignored, and nothing else runs */
	spin (400);
	g_assert_true (slow.answered);
	g_assert_true (slow.was_cancelled);
	g_assert_cmpuint (after, ==, 0);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_TEMPFAIL);
}

static void
fail_null_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_fail (call, NULL);
}

static void
fail_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_fail (call, g_error_new_literal (EP_ERROR, EP_ERROR_UNAVAILABLE, "database is down"));
}

static void
test_hook_fail_without_error (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	guint after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_AUTH_VERIFY, "sloppy", 0, fail_null_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_AUTH_VERIFY, "after", 1, count_and_continue, &after, NULL);
	result = run_chain (bus, EP_HOOK_POINT_AUTH_VERIFY, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result, "sloppy", EP_ERROR_INTERNAL, "without an error");
	g_assert_cmpuint (after, ==, 0);
	test_log_assert ("sloppy", "failed without an error");
}

static void
test_hook_fail_with_error (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	EpHookStep *step;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_AUTH_VERIFY, "auth-sql", 0, fail_handler, NULL, NULL);
	result = run_chain (bus, EP_HOOK_POINT_AUTH_VERIFY, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result, "auth-sql", EP_ERROR_UNAVAILABLE, "database is down");
	g_assert_cmpstr (result->reason->message, ==, "auth-sql: database is down");
	step = g_ptr_array_index (result->steps, 0);
	g_assert_null (step->verdict);
	g_assert_error (step->error, EP_ERROR, EP_ERROR_UNAVAILABLE);
	/* an ordinary failure is the caller's to log */
	test_log_assert_empty ();
}

static void
invalid_verdict_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	EpVerdict *verdict = g_new0 (EpVerdict, 1);

	/* built by hand, and wrong: a permanent refusal with a 4xx code */
	verdict->kind = EP_VERDICT_REJECT;
	verdict->code = 450;
	verdict->enhanced = g_strdup ("4.7.1");
	ep_hook_call_return (call, verdict);
}

static void
null_verdict_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_return (call, NULL);
}

static void
test_hook_invalid_verdict (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookBus) bus2 = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	g_autoptr(EpHookResult) result2 = NULL;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "broken", 0, invalid_verdict_handler, NULL, NULL);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_RCPT_TO, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result, "broken", EP_ERROR_INTERNAL, "5xx");
	test_log_assert ("broken", "invalid verdict");

	ep_hook_bus_connect (bus2, EP_HOOK_POINT_SMTP_RCPT_TO, "empty", 0, null_verdict_handler, NULL, NULL);
	result2 = run_chain (bus2, EP_HOOK_POINT_SMTP_RCPT_TO, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result2, "empty", EP_ERROR_INTERNAL, "no verdict");
}

static void
double_answer_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_continue (call);
	ep_hook_call_return (call, ep_verdict_new (EP_VERDICT_ACCEPT));
}

static void
test_hook_double_answer (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	guint after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, "twice", 0, double_answer_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, "after", 1, count_and_continue, &after, NULL);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result, "twice", EP_ERROR_INTERNAL, "answered twice");
	g_assert_cmpuint (after, ==, 0);
	test_log_assert ("twice", "answered twice");
}

/* answers at once, keeps the call, and answers again later while the
 * next handler is still at work */
static void
answer_now_and_later_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	Later *later = user_data;

	ep_hook_call_continue (call);
	later->call = ep_hook_call_ref (call);
	g_timeout_add (later->delay_ms, later_answer_cb, later);
}

static void
test_hook_double_answer_async (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	Later twice = { .answer = EP_VERDICT_ACCEPT, .delay_ms = 10 };
	Later slow = { .answer = EP_VERDICT_ACCEPT, .delay_ms = 200 };
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, "twice", 0, answer_now_and_later_handler, &twice,
			     NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, "slow", 1, later_handler, &slow, NULL);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, &ctx, 5000, NULL, NULL);
	assert_internal_tempfail (result, "twice", EP_ERROR_INTERNAL, "answered twice");
	test_log_assert ("twice", "answered twice");
	g_assert_false (slow.answered);
	spin (300);
	g_assert_true (slow.answered);
	g_assert_true (slow.was_cancelled);
}

static void
drop_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	/* returns without answering and without a reference */
}

static void
test_hook_dropped_call (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookBus) bus2 = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	g_autoptr(EpHookResult) result2 = NULL;
	Later dropper = { .drop = TRUE, .delay_ms = 10 };
	guint after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_DIRECTORY_RESOLVE, "forgetful", 0, drop_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_DIRECTORY_RESOLVE, "after", 1, count_and_continue, &after, NULL);
	result = run_chain (bus, EP_HOOK_POINT_DIRECTORY_RESOLVE, &ctx, 0, NULL, NULL);
	assert_internal_tempfail (result, "forgetful", EP_ERROR_INTERNAL, "without answering");
	g_assert_cmpuint (after, ==, 0);
	test_log_assert ("forgetful", "dropped its call");

	/* the same when the last reference goes later */
	test_log_reset ();
	ep_hook_bus_connect (bus2, EP_HOOK_POINT_DIRECTORY_RESOLVE, "dropper", 0, later_handler, &dropper, NULL);
	ep_hook_bus_connect (bus2, EP_HOOK_POINT_DIRECTORY_RESOLVE, "after", 1, count_and_continue, &after, NULL);
	result2 = run_chain (bus2, EP_HOOK_POINT_DIRECTORY_RESOLVE, &ctx, 5000, NULL, NULL);
	g_assert_true (dropper.answered);
	assert_internal_tempfail (result2, "dropper", EP_ERROR_INTERNAL, "without answering");
	g_assert_cmpuint (after, ==, 0);
	test_log_assert ("dropper", "dropped its call");
}

static void
headers_a_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	ep_hook_call_add_header (call, "Authentication-Results", "mx.example.org; spf=pass");
	ep_hook_call_continue (call);
}

static gboolean
headers_b_later_cb (gpointer user_data)
{
	g_autoptr(EpHookCall) call = user_data;

	ep_hook_call_add_header (call, "X-B", "2");
	ep_hook_call_add_header (call, "X-C", "folded\r\n\tvalue");
	ep_hook_call_continue (call);
	/* too late: the call has answered */
	ep_hook_call_add_header (call, "X-Late", "nope");
	return G_SOURCE_REMOVE;
}

static void
headers_b_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	g_timeout_add (5, headers_b_later_cb, ep_hook_call_ref (call));
}

static void
headers_c_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	/* header injection attempts are dropped */
	ep_hook_call_add_header (call, "X-Evil", "x\r\nBcc: victim@example.org");
	ep_hook_call_add_header (call, "X Bad", "x");
	ep_hook_call_add_header (call, "X-Spam-Score", "1.5");
	ep_hook_call_return (call, ep_verdict_new (EP_VERDICT_ACCEPT));
}

static void
test_hook_headers (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	const char *expected[][2] = {
		{ "Authentication-Results", "mx.example.org; spf=pass" },
		{ "X-B", "2" },
		{ "X-C", "folded\r\n\tvalue" },
		{ "X-Spam-Score", "1.5" },
	};
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "spf", 0, headers_a_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "dkim", 1, headers_b_handler, NULL, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_DATA, "bayes", 2, headers_c_handler, NULL, NULL);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_DATA, &ctx, 0, NULL, NULL);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_ACCEPT);
	g_assert_cmpuint (result->headers->len, ==, G_N_ELEMENTS (expected));
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		EpHookHeader *header = g_ptr_array_index (result->headers, i);
		g_assert_cmpstr (header->name, ==, expected[i][0]);
		g_assert_cmpstr (header->value, ==, expected[i][1]);
	}
	test_log_assert ("dkim", "after answering");
	test_log_assert ("bayes", "malformed header");
}

/* the stack the handlers of one chain run on */
typedef struct {
	guintptr lowest;
	guintptr highest;
	guint count;
} StackProbe;

static void
stack_probe_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	StackProbe *probe = user_data;
	guintptr frame = (guintptr) __builtin_frame_address (0);

	probe->lowest = MIN (probe->lowest, frame);
	probe->highest = MAX (probe->highest, frame);
	probe->count++;
	ep_hook_call_continue (call);
}

static gboolean
idle_continue_cb (gpointer user_data)
{
	g_autoptr(EpHookCall) call = user_data;

	ep_hook_call_continue (call);
	return G_SOURCE_REMOVE;
}

static void
idle_handler (EpHookCall *call, gpointer ctx, gpointer user_data)
{
	g_idle_add (idle_continue_cb, ep_hook_call_ref (call));
}

static void
test_hook_long_chain (gconstpointer data)
{
	gboolean async_first = GPOINTER_TO_INT (data);
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	StackProbe probe = { ~(guintptr) 0, 0, 0 };
	const guint n = 10000;
	int ctx = 0;

	test_log_reset ();
	if (async_first)
		ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "idle", -1, idle_handler, NULL, NULL);
	for (guint i = 0; i < n; i++)
		ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_RCPT_TO, "probe", 0, stack_probe_handler, &probe, NULL);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_RCPT_TO, &ctx, 0, NULL, NULL);
	g_assert_cmpuint (probe.count, ==, n);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_CONTINUE);
	g_assert_cmpuint (result->steps->len, ==, n + (async_first ? 1 : 0));
	/* every handler ran at the same depth: a recursion would put each
	 * one a frame deeper, hundreds of kilobytes in all */
	g_assert_cmpuint (probe.highest - probe.lowest, <, 4096);
	test_log_assert_empty ();
}

static gboolean
cancel_cb (gpointer user_data)
{
	g_cancellable_cancel (G_CANCELLABLE (user_data));
	return G_SOURCE_REMOVE;
}

static void
test_hook_cancel (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(GCancellable) cancellable = g_cancellable_new ();
	g_autoptr(GError) error = NULL;
	EpHookResult *result;
	Later slow = { .answer = EP_VERDICT_CONTINUE, .delay_ms = 100 };
	guint after = 0;
	int ctx = 0;

	test_log_reset ();
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "slow", 0, later_handler, &slow, NULL);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "after", 1, count_and_continue, &after, NULL);
	g_timeout_add (10, cancel_cb, cancellable);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_HELO, &ctx, 5000, cancellable, &error);
	g_assert_null (result);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_false (slow.answered);
	spin (200);
	g_assert_true (slow.answered);
	g_assert_true (slow.was_cancelled);
	g_assert_cmpuint (after, ==, 0);
	test_log_assert_empty ();

	/* cancelled before it starts: no handler runs */
	g_clear_error (&error);
	result = run_chain (bus, EP_HOOK_POINT_SMTP_HELO, &ctx, 5000, cancellable, &error);
	g_assert_null (result);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpuint (after, ==, 0);
}

static void
destroy_count (gpointer user_data)
{
	guint *count = user_data;
	(*count)++;
}

static void
test_hook_disconnect (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	guint destroyed = 0, destroyed_kept = 0;
	guint id;
	int ctx = 0;

	id = ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "gone", 0, reject_handler, &destroyed, destroy_count);
	g_assert_cmpuint (id, !=, 0);
	ep_hook_bus_connect (bus, EP_HOOK_POINT_SMTP_HELO, "kept", 1, accept_handler, &destroyed_kept,
			     destroy_count);
	g_assert_true (ep_hook_bus_disconnect (bus, id));
	g_assert_cmpuint (destroyed, ==, 1);
	g_assert_false (ep_hook_bus_disconnect (bus, id));
	g_assert_false (ep_hook_bus_disconnect (bus, 12345));

	result = run_chain (bus, EP_HOOK_POINT_SMTP_HELO, &ctx, 0, NULL, NULL);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_ACCEPT);
	g_assert_cmpstr (result->module, ==, "kept");
	g_clear_object (&bus);
	g_assert_cmpuint (destroyed_kept, ==, 1);
}

/* the typed face */

static void
rcpt_to_handler (EpHookCall *call, EpSmtpRcptToCtx *ctx, gpointer user_data)
{
	if (g_str_has_suffix (ctx->recipient, "@example.org")) {
		ep_hook_ctx_set_string (&ctx->account, "alice");
		ep_hook_ctx_set_string (&ctx->account, "bob");
		ctx->is_local = TRUE;
		ep_hook_call_return (call, ep_verdict_new (EP_VERDICT_ACCEPT));
		return;
	}
	ep_hook_call_continue (call);
}

static void
typed_run_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	EpHookResult **result = user_data;
	g_autoptr(GError) error = NULL;

	*result = ep_hook_smtp_rcpt_to_run_finish (EP_HOOK_BUS (source), res, &error);
	g_assert_no_error (error);
}

static void
test_hook_typed (void)
{
	g_autoptr(EpHookBus) bus = ep_hook_bus_new ();
	g_autoptr(EpHookResult) result = NULL;
	EpSmtpSessionInfo session = { .session_id = "abc", .listener_kind = "smtp" };
	EpSmtpRcptToCtx ctx = { .session = &session, .reverse_path = "", .recipient = "bob@example.org" };

	ep_hook_smtp_rcpt_to_connect (bus, "directory", EP_HOOK_PRIORITY_DEFAULT, rcpt_to_handler, NULL, NULL);
	ep_hook_smtp_rcpt_to_run_async (bus, &ctx, 0, NULL, typed_run_done_cb, &result);
	while (result == NULL)
		g_main_context_iteration (NULL, TRUE);
	g_assert_cmpint (result->verdict->kind, ==, EP_VERDICT_ACCEPT);
	g_assert_cmpstr (ctx.account, ==, "bob");
	g_assert_true (ctx.is_local);
	g_free (ctx.account);
}

int
main (int argc, char **argv)
{
	int ret;

	g_test_init (&argc, &argv, NULL);
	logged = g_ptr_array_new_with_free_func (g_free);
	g_log_set_writer_func (test_log_writer, NULL, NULL);

	g_test_add_func ("/hook-bus/point-names", test_hook_point_names);
	g_test_add_func ("/hook-bus/priority-order", test_hook_priority_order);
	g_test_add_func ("/hook-bus/final-verdict-stops", test_hook_final_verdict_stops);
	g_test_add_func ("/hook-bus/empty-chain", test_hook_empty_chain);
	g_test_add_func ("/hook-bus/async-answer", test_hook_async_answer);
	g_test_add_func ("/hook-bus/deadline", test_hook_deadline);
	g_test_add_func ("/hook-bus/fail-without-error", test_hook_fail_without_error);
	g_test_add_func ("/hook-bus/fail-with-error", test_hook_fail_with_error);
	g_test_add_func ("/hook-bus/invalid-verdict", test_hook_invalid_verdict);
	g_test_add_func ("/hook-bus/double-answer", test_hook_double_answer);
	g_test_add_func ("/hook-bus/double-answer-async", test_hook_double_answer_async);
	g_test_add_func ("/hook-bus/dropped-call", test_hook_dropped_call);
	g_test_add_func ("/hook-bus/headers", test_hook_headers);
	g_test_add_data_func ("/hook-bus/long-chain/sync", GINT_TO_POINTER (FALSE), test_hook_long_chain);
	g_test_add_data_func ("/hook-bus/long-chain/async-first", GINT_TO_POINTER (TRUE), test_hook_long_chain);
	g_test_add_func ("/hook-bus/cancel", test_hook_cancel);
	g_test_add_func ("/hook-bus/disconnect", test_hook_disconnect);
	g_test_add_func ("/hook-bus/typed", test_hook_typed);

	ret = g_test_run ();
	g_ptr_array_unref (logged);
	return ret;
}
