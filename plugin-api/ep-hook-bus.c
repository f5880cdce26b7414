/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-hook-bus.h"
#include "ep-log.h"

/*
 * How a chain runs.  ep_hook_chain_iterate() calls the handlers one after
 * the other in a loop; a handler that answers while it is being called
 * only leaves its answer on its call, and the loop picks it up when the
 * handler returns, so ten thousand synchronous handlers take ten thousand
 * turns of the loop and no stack.  A handler that answers later re-enters
 * the loop from its answer.  The chain ends once, in ep_hook_chain_end(),
 * which hands the result to the GTask; everything that can arrive after
 * that (late answers, the deadline, a cancellation) looks at chain->ended
 * first.  Calls and timer sources hold references on the chain, and the
 * chain holds references on its handlers, so none of them can outlive what
 * it points to.
 */

typedef struct {
	grefcount ref;
	guint id;
	EpHookPoint point;
	char *module;
	gint priority;
	EpHookMarshal marshal;
	GCallback func;
	gpointer user_data;
	GDestroyNotify destroy;
	gboolean connected;
} EpHookHandler;

typedef struct {
	grefcount ref;
	GTask *task; /* until the chain ends */
	EpHookPoint point;
	gpointer ctx;
	GPtrArray *handlers; /* of EpHookHandler, taken when the run started */
	guint next;          /* index of the next handler to call */
	EpHookCall *current; /* (unowned): the call the chain waits for */
	gboolean iterating;  /* ep_hook_chain_iterate() is on the stack */
	gboolean ended;
	guint deadline_ms;
	GSource *deadline_source;
	GSource *cancel_source;
	GCancellable *cancellable; /* what handlers get; cancelled when the chain ends */
	EpHookResult *result;      /* headers and steps so far */
} EpHookChain;

struct _EpHookCall {
	grefcount ref;
	EpHookChain *chain;
	EpHookHandler *handler;
	gint64 started;
	gboolean answered;
	/* an answer given while the handler was being called */
	gboolean has_answer;
	EpVerdict *verdict;
	GError *error;
};

struct _EpHookBus {
	GObject parent_instance;
	GPtrArray *handlers[EP_HOOK_POINT_COUNT]; /* of EpHookHandler, in calling order */
	guint last_id;
};

G_DEFINE_TYPE (EpHookBus, ep_hook_bus, G_TYPE_OBJECT)

static const char *const ep_hook_point_names[EP_HOOK_POINT_COUNT] = {
	[EP_HOOK_POINT_SMTP_CONNECT] = "smtp.connect",
	[EP_HOOK_POINT_SMTP_HELO] = "smtp.helo",
	[EP_HOOK_POINT_SMTP_MAIL_FROM] = "smtp.mail_from",
	[EP_HOOK_POINT_SMTP_RCPT_TO] = "smtp.rcpt_to",
	[EP_HOOK_POINT_SMTP_DATA] = "smtp.data",
	[EP_HOOK_POINT_DELIVERY_LOCAL] = "delivery.local",
	[EP_HOOK_POINT_SUBMISSION_MESSAGE] = "submission.message",
	[EP_HOOK_POINT_AUTH_VERIFY] = "auth.verify",
	[EP_HOOK_POINT_DIRECTORY_RESOLVE] = "directory.resolve",
	[EP_HOOK_POINT_OUTBOUND_TLS_POLICY] = "outbound.tls_policy",
};

static gboolean
ep_hook_point_is_valid (EpHookPoint point)
{
	return (guint) point < EP_HOOK_POINT_COUNT;
}

/**
 * ep_hook_point_to_string:
 * @point: a hook point
 *
 * Returns: the name of the point, e.g. "smtp.rcpt_to"
 */
const char *
ep_hook_point_to_string (EpHookPoint point)
{
	if (!ep_hook_point_is_valid (point))
		return "unknown";
	return ep_hook_point_names[point];
}

/**
 * ep_hook_point_from_string:
 * @name: a hook point name, e.g. "auth.verify"
 * @point: (out) (optional): the point
 *
 * Returns: %TRUE when @name is a known hook point
 */
gboolean
ep_hook_point_from_string (const char *name, EpHookPoint *point)
{
	g_return_val_if_fail (name != NULL, FALSE);

	for (guint i = 0; i < EP_HOOK_POINT_COUNT; i++) {
		if (g_strcmp0 (ep_hook_point_names[i], name) == 0) {
			if (point != NULL)
				*point = (EpHookPoint) i;
			return TRUE;
		}
	}
	return FALSE;
}

/* handlers */

static EpHookHandler *
ep_hook_handler_ref (EpHookHandler *handler)
{
	g_ref_count_inc (&handler->ref);
	return handler;
}

static void
ep_hook_handler_unref (EpHookHandler *handler)
{
	if (!g_ref_count_dec (&handler->ref))
		return;
	if (handler->destroy != NULL)
		handler->destroy (handler->user_data);
	g_free (handler->module);
	g_free (handler);
}

static void
ep_hook_bus_marshal_untyped (GCallback func, EpHookCall *call, gpointer ctx, gpointer user_data)
{
	((EpHookFunc) func) (call, ctx, user_data);
}

/* results */

static void
ep_hook_header_free (EpHookHeader *header)
{
	g_free (header->name);
	g_free (header->value);
	g_free (header);
}

static void
ep_hook_step_free (EpHookStep *step)
{
	g_free (step->module);
	g_clear_pointer (&step->verdict, ep_verdict_free);
	g_clear_error (&step->error);
	g_free (step);
}

void
ep_hook_result_free (EpHookResult *result)
{
	if (result == NULL)
		return;
	g_clear_pointer (&result->verdict, ep_verdict_free);
	g_free (result->module);
	g_clear_error (&result->reason);
	g_ptr_array_unref (result->headers);
	g_ptr_array_unref (result->steps);
	g_free (result);
}

/* chains */

static EpHookChain *
ep_hook_chain_ref (EpHookChain *chain)
{
	g_ref_count_inc (&chain->ref);
	return chain;
}

static void
ep_hook_chain_unref (EpHookChain *chain)
{
	if (!g_ref_count_dec (&chain->ref))
		return;
	/* the sources hold references: they are gone before we get here */
	g_warn_if_fail (chain->deadline_source == NULL);
	g_warn_if_fail (chain->cancel_source == NULL);
	g_warn_if_fail (chain->task == NULL);
	g_ptr_array_unref (chain->handlers);
	g_object_unref (chain->cancellable);
	g_clear_pointer (&chain->result, ep_hook_result_free);
	g_free (chain);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpHookChain, ep_hook_chain_unref)

static void
ep_hook_chain_clear_source (GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy (*source);
	g_clear_pointer (source, g_source_unref);
}

/*
 * Ends the chain with @verdict, or with @error (a GIO cancellation) when
 * @verdict is NULL; takes @verdict, @reason and @error.  The caller holds a
 * reference on the chain.  Everything after this sees chain->ended.
 */
static void
ep_hook_chain_end (EpHookChain *chain, EpVerdict *verdict, const char *module, GError *reason, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer (&chain->task);
	g_autoptr(EpVerdict) verdict_owned = verdict;
	g_autoptr(GError) reason_owned = reason;
	g_autoptr(GError) error_owned = error;

	g_return_if_fail (!chain->ended);

	chain->ended = TRUE;
	chain->current = NULL;
	ep_hook_chain_clear_source (&chain->deadline_source);
	ep_hook_chain_clear_source (&chain->cancel_source);
	/* handlers still at work stop now; their answers would be ignored */
	g_cancellable_cancel (chain->cancellable);

	if (error_owned != NULL) {
		g_task_return_error (task, g_steal_pointer (&error_owned));
		return;
	}
	chain->result->verdict = g_steal_pointer (&verdict_owned);
	chain->result->module = g_strdup (module);
	chain->result->reason = g_steal_pointer (&reason_owned);
	g_task_return_pointer (task, g_steal_pointer (&chain->result), (GDestroyNotify) ep_hook_result_free);
}

static void
ep_hook_chain_add_step (EpHookChain *chain, EpHookCall *call, const EpVerdict *verdict, const GError *error)
{
	EpHookStep *step = g_new0 (EpHookStep, 1);

	step->module = g_strdup (call->handler->module);
	if (verdict != NULL)
		step->verdict = ep_verdict_copy (verdict);
	if (error != NULL)
		step->error = g_error_copy (error);
	step->elapsed_us = g_get_monotonic_time () - call->started;
	g_ptr_array_add (chain->result->steps, step);
}

/* a module broke the rules: fail closed, and say who in the log */
static void
ep_hook_chain_fail_internal (EpHookChain *chain, EpHookCall *call, const char *module, const char *what)
{
	g_autoptr(GError) error = g_error_new (EP_ERROR, EP_ERROR_INTERNAL, "%s: %s", module, what);

	ep_log_warning (module, NULL, "%s handler %s", ep_hook_point_to_string (chain->point), what);
	if (call != NULL)
		ep_hook_chain_add_step (chain, call, NULL, error);
	ep_hook_chain_end (chain, ep_verdict_new_internal_error (), module, g_steal_pointer (&error), NULL);
}

/* the current call answered: takes @verdict and @error */
static void
ep_hook_chain_take_answer (EpHookChain *chain, EpHookCall *call, EpVerdict *verdict, GError *error)
{
	g_autoptr(EpVerdict) verdict_owned = verdict;
	g_autoptr(GError) error_owned = error;
	const char *module = call->handler->module;

	chain->current = NULL;
	if (error_owned != NULL) {
		g_prefix_error (&error_owned, "%s: ", module);
		ep_log_debug (module, NULL, "%s handler failed: %s", ep_hook_point_to_string (chain->point),
			      error_owned->message);
		ep_hook_chain_add_step (chain, call, NULL, error_owned);
		ep_hook_chain_end (chain, ep_verdict_new_internal_error (), module, g_steal_pointer (&error_owned),
				   NULL);
		return;
	}
	ep_hook_chain_add_step (chain, call, verdict_owned, NULL);
	if (ep_verdict_is_final (verdict_owned))
		ep_hook_chain_end (chain, g_steal_pointer (&verdict_owned), module, NULL, NULL);
}

static EpHookCall *
ep_hook_call_new (EpHookChain *chain, EpHookHandler *handler)
{
	EpHookCall *call = g_new0 (EpHookCall, 1);

	g_ref_count_init (&call->ref);
	call->chain = ep_hook_chain_ref (chain);
	call->handler = ep_hook_handler_ref (handler);
	call->started = g_get_monotonic_time ();
	return call;
}

/* calls handlers until one answers later or the chain ends */
static void
ep_hook_chain_iterate (EpHookChain *chain)
{
	ep_hook_chain_ref (chain);
	chain->iterating = TRUE;
	while (!chain->ended) {
		EpHookHandler *handler;
		EpHookCall *call;

		if (chain->next >= chain->handlers->len) {
			ep_hook_chain_end (chain, ep_verdict_new (EP_VERDICT_CONTINUE), NULL, NULL, NULL);
			break;
		}
		handler = g_ptr_array_index (chain->handlers, chain->next);
		chain->next++;
		if (!handler->connected)
			continue;

		call = ep_hook_call_new (chain, handler);
		chain->current = call;
		handler->marshal (handler->func, call, chain->ctx, handler->user_data);
		if (call->has_answer && !chain->ended) {
			EpVerdict *verdict = g_steal_pointer (&call->verdict);
			GError *error = g_steal_pointer (&call->error);
			ep_hook_chain_take_answer (chain, call, verdict, error);
		}
		/* without an answer and without another reference, this is
		 * the end of the call and of the chain */
		ep_hook_call_unref (call);
		/* still waiting: the handler answers later */
		if (chain->current != NULL)
			break;
	}
	chain->iterating = FALSE;
	ep_hook_chain_unref (chain);
}

static gboolean
ep_hook_chain_on_deadline (gpointer user_data)
{
	EpHookChain *chain = user_data;
	g_autoptr(GError) error = NULL;
	const char *module;

	if (chain->ended)
		return G_SOURCE_REMOVE;
	module = chain->current != NULL ? chain->current->handler->module : "(none)";
	error = g_error_new (EP_ERROR, EP_ERROR_TIMEOUT, "%s: no answer to %s within %u ms", module,
			     ep_hook_point_to_string (chain->point), chain->deadline_ms);
	ep_log_warning (module, NULL, "%s handler did not answer within %u ms", ep_hook_point_to_string (chain->point),
			chain->deadline_ms);
	if (chain->current != NULL)
		ep_hook_chain_add_step (chain, chain->current, NULL, error);
	ep_hook_chain_end (chain, ep_verdict_new_internal_error (), module, g_steal_pointer (&error), NULL);
	return G_SOURCE_REMOVE;
}

static gboolean
ep_hook_chain_on_cancelled (GCancellable *cancellable, gpointer user_data)
{
	EpHookChain *chain = user_data;
	GError *error = NULL;

	if (chain->ended)
		return G_SOURCE_REMOVE;
	g_cancellable_set_error_if_cancelled (cancellable, &error);
	ep_hook_chain_end (chain, NULL, NULL, NULL, error);
	return G_SOURCE_REMOVE;
}

/* calls */

/**
 * ep_hook_call_ref:
 * @call: a call
 *
 * Takes a reference, to answer after the handler has returned.
 *
 * Returns: @call
 */
EpHookCall *
ep_hook_call_ref (EpHookCall *call)
{
	g_return_val_if_fail (call != NULL, NULL);
	g_ref_count_inc (&call->ref);
	return call;
}

/**
 * ep_hook_call_unref:
 * @call: a call
 *
 * Drops a reference.  Dropping the last one before answering is a bug of
 * the module, and ends the chain with a temporary failure.
 */
void
ep_hook_call_unref (EpHookCall *call)
{
	EpHookChain *chain;

	g_return_if_fail (call != NULL);
	if (!g_ref_count_dec (&call->ref))
		return;

	chain = call->chain;
	if (!call->answered && !chain->ended && chain->current == call)
		ep_hook_chain_fail_internal (chain, call, call->handler->module,
					     "dropped its call without answering");
	if (chain->current == call)
		chain->current = NULL;
	g_clear_pointer (&call->verdict, ep_verdict_free);
	g_clear_error (&call->error);
	ep_hook_handler_unref (call->handler);
	ep_hook_chain_unref (chain);
	g_free (call);
}

/* takes @verdict and @error; exactly one of them is set */
static void
ep_hook_call_answer (EpHookCall *call, EpVerdict *verdict, GError *error)
{
	g_autoptr(EpHookChain) chain = ep_hook_chain_ref (call->chain);
	g_autoptr(EpVerdict) verdict_owned = verdict;
	g_autoptr(GError) error_owned = error;
	const char *module = call->handler->module;

	if (call->answered) {
		if (chain->ended) {
			ep_log_warning (module, NULL, "%s handler answered twice",
					ep_hook_point_to_string (chain->point));
			return;
		}
		ep_hook_chain_fail_internal (chain, NULL, module, "answered twice");
		return;
	}
	call->answered = TRUE;

	if (chain->ended) {
		ep_log_debug (module, NULL, "%s handler answered after the chain ended; ignored",
			      ep_hook_point_to_string (chain->point));
		return;
	}
	if (chain->current != call) {
		/* cannot happen: only the current call is unanswered */
		ep_hook_chain_fail_internal (chain, NULL, module, "answered out of turn");
		return;
	}

	/* the handler is still being called: the loop takes the answer */
	if (chain->iterating) {
		call->has_answer = TRUE;
		call->verdict = g_steal_pointer (&verdict_owned);
		call->error = g_steal_pointer (&error_owned);
		return;
	}

	ep_hook_chain_take_answer (chain, call, g_steal_pointer (&verdict_owned), g_steal_pointer (&error_owned));
	if (!chain->ended)
		ep_hook_chain_iterate (chain);
}

/**
 * ep_hook_call_continue:
 * @call: a call
 *
 * Answers "no opinion": the next handler decides.
 */
void
ep_hook_call_continue (EpHookCall *call)
{
	g_return_if_fail (call != NULL);
	ep_hook_call_answer (call, ep_verdict_new (EP_VERDICT_CONTINUE), NULL);
}

/**
 * ep_hook_call_return:
 * @call: a call
 * @verdict: (transfer full): the verdict
 *
 * Answers with a verdict; anything but CONTINUE ends the chain.  A missing
 * or malformed verdict ends the chain with a temporary failure.
 */
void
ep_hook_call_return (EpHookCall *call, EpVerdict *verdict)
{
	g_autoptr(EpVerdict) verdict_owned = verdict;
	g_autoptr(GError) error = NULL;

	g_return_if_fail (call != NULL);

	if (verdict_owned == NULL) {
		error = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "returned no verdict");
		ep_log_warning (call->handler->module, NULL, "%s handler returned no verdict",
				ep_hook_point_to_string (call->chain->point));
		ep_hook_call_answer (call, NULL, g_steal_pointer (&error));
		return;
	}
	if (!ep_verdict_validate (verdict_owned, &error)) {
		ep_log_warning (call->handler->module, NULL, "%s handler returned an invalid verdict: %s",
				ep_hook_point_to_string (call->chain->point), error->message);
		error->code = EP_ERROR_INTERNAL;
		ep_hook_call_answer (call, NULL, g_steal_pointer (&error));
		return;
	}
	ep_hook_call_answer (call, g_steal_pointer (&verdict_owned), NULL);
}

/**
 * ep_hook_call_fail:
 * @call: a call
 * @error: (transfer full): why the handler could not decide
 *
 * Answers that the handler could not decide (a database down, a DNS
 * failure): the chain ends with a temporary failure whose reason is @error,
 * prefixed with the module name.  A %NULL @error is a bug of the module,
 * handled the same way with an internal error.
 */
void
ep_hook_call_fail (EpHookCall *call, GError *error)
{
	g_return_if_fail (call != NULL);

	if (error == NULL) {
		ep_log_warning (call->handler->module, NULL, "%s handler failed without an error",
				ep_hook_point_to_string (call->chain->point));
		error = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "failed without an error");
	}
	ep_hook_call_answer (call, NULL, error);
}

/* RFC 5322 2.2: printable US-ASCII but the colon */
static gboolean
ep_hook_header_name_is_valid (const char *name)
{
	if (name[0] == '\0')
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p < 33 || *p > 126 || *p == ':')
			return FALSE;
	}
	return TRUE;
}

/* one unfolded or folded value: CR LF only before white space */
static gboolean
ep_hook_header_value_is_valid (const char *value)
{
	if (!g_utf8_validate (value, -1, NULL))
		return FALSE;
	for (const char *p = value; *p != '\0'; p++) {
		guchar c = (guchar) *p;
		if (c == '\r') {
			if (p[1] != '\n' || (p[2] != ' ' && p[2] != '\t'))
				return FALSE;
			p++;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/**
 * ep_hook_call_add_header:
 * @call: a call that has not answered yet
 * @name: a header field name, e.g. "Authentication-Results"
 * @value: the field body, without the leading space; may be folded with CRLF
 *
 * Adds a header to the message being processed.  The chain's result keeps
 * the headers in the order they were added.  A malformed header (which
 * could inject lines into the message) is logged and dropped.
 */
void
ep_hook_call_add_header (EpHookCall *call, const char *name, const char *value)
{
	EpHookHeader *header;
	const char *module;
	const char *point;

	g_return_if_fail (call != NULL);
	g_return_if_fail (name != NULL);
	g_return_if_fail (value != NULL);

	module = call->handler->module;
	point = ep_hook_point_to_string (call->chain->point);
	if (call->answered) {
		ep_log_warning (module, NULL, "%s handler added header %s after answering; dropped", point, name);
		return;
	}
	/* too late, but not the handler's fault: the deadline passed */
	if (call->chain->ended)
		return;
	if (!ep_hook_header_name_is_valid (name) || !ep_hook_header_value_is_valid (value)) {
		ep_log_warning (module, NULL, "%s handler added a malformed header; dropped", point);
		return;
	}
	header = g_new0 (EpHookHeader, 1);
	header->name = g_strdup (name);
	header->value = g_strdup (value);
	g_ptr_array_add (call->chain->result->headers, header);
}

/**
 * ep_hook_call_get_cancellable:
 * @call: a call
 *
 * The cancellable to give to the I/O the handler starts.  It is cancelled
 * when the chain ends for any reason (the deadline, the caller cancelled,
 * another answer); from then on the handler must not touch the context.
 *
 * Returns: (transfer none): a cancellable
 */
GCancellable *
ep_hook_call_get_cancellable (EpHookCall *call)
{
	g_return_val_if_fail (call != NULL, NULL);
	return call->chain->cancellable;
}

const char *
ep_hook_call_get_module (EpHookCall *call)
{
	g_return_val_if_fail (call != NULL, NULL);
	return call->handler->module;
}

EpHookPoint
ep_hook_call_get_point (EpHookCall *call)
{
	g_return_val_if_fail (call != NULL, EP_HOOK_POINT_SMTP_CONNECT);
	return call->chain->point;
}

/* the bus */

/**
 * ep_hook_bus_connect_marshal:
 * @self: the bus
 * @point: the hook point
 * @module: the name of the module the handler belongs to
 * @priority: lower runs first; equal priorities run in connection order
 * @marshal: calls @func with its own type
 * @func: the handler
 * @user_data: passed to @func
 * @destroy: (nullable): frees @user_data once the handler is disconnected
 *   and no call to it is left
 *
 * Connects a handler.  Modules use the typed ep_hook_<point>_connect().
 *
 * Returns: the handler id, never 0
 */
guint
ep_hook_bus_connect_marshal (EpHookBus *self, EpHookPoint point, const char *module, gint priority,
			     EpHookMarshal marshal, GCallback func, gpointer user_data, GDestroyNotify destroy)
{
	EpHookHandler *handler;
	GPtrArray *handlers;
	guint pos;

	g_return_val_if_fail (EP_IS_HOOK_BUS (self), 0);
	g_return_val_if_fail (ep_hook_point_is_valid (point), 0);
	g_return_val_if_fail (module != NULL, 0);
	g_return_val_if_fail (marshal != NULL, 0);
	g_return_val_if_fail (func != NULL, 0);

	handler = g_new0 (EpHookHandler, 1);
	g_ref_count_init (&handler->ref);
	handler->id = ++self->last_id;
	handler->point = point;
	handler->module = g_strdup (module);
	handler->priority = priority;
	handler->marshal = marshal;
	handler->func = func;
	handler->user_data = user_data;
	handler->destroy = destroy;
	handler->connected = TRUE;

	/* after every handler of the same or a lower priority */
	handlers = self->handlers[point];
	for (pos = handlers->len; pos > 0; pos--) {
		EpHookHandler *other = g_ptr_array_index (handlers, pos - 1);
		if (other->priority <= priority)
			break;
	}
	g_ptr_array_insert (handlers, (gint) pos, handler);
	return handler->id;
}

/**
 * ep_hook_bus_connect:
 *
 * Connects an untyped handler that receives the context as a gpointer; see
 * ep_hook_bus_connect_marshal().
 *
 * Returns: the handler id, never 0
 */
guint
ep_hook_bus_connect (EpHookBus *self, EpHookPoint point, const char *module, gint priority, EpHookFunc func,
		     gpointer user_data, GDestroyNotify destroy)
{
	return ep_hook_bus_connect_marshal (self, point, module, priority, ep_hook_bus_marshal_untyped,
					    (GCallback) func, user_data, destroy);
}

/**
 * ep_hook_bus_disconnect:
 * @self: the bus
 * @handler_id: what a connect function returned
 *
 * Disconnects a handler: chains already running do not call it any more.
 *
 * Returns: %TRUE if the handler was connected
 */
gboolean
ep_hook_bus_disconnect (EpHookBus *self, guint handler_id)
{
	g_return_val_if_fail (EP_IS_HOOK_BUS (self), FALSE);

	for (guint i = 0; i < EP_HOOK_POINT_COUNT; i++) {
		GPtrArray *handlers = self->handlers[i];
		for (guint j = 0; j < handlers->len; j++) {
			EpHookHandler *handler = g_ptr_array_index (handlers, j);
			if (handler->id != handler_id)
				continue;
			handler->connected = FALSE;
			g_ptr_array_remove_index (handlers, j);
			return TRUE;
		}
	}
	return FALSE;
}

guint
ep_hook_bus_get_n_handlers (EpHookBus *self, EpHookPoint point)
{
	g_return_val_if_fail (EP_IS_HOOK_BUS (self), 0);
	g_return_val_if_fail (ep_hook_point_is_valid (point), 0);
	return self->handlers[point]->len;
}

/**
 * ep_hook_bus_run_async:
 * @self: the bus
 * @point: the hook point
 * @ctx: the context of @point; lives until @callback is called
 * @deadline_ms: how long the whole chain may take; 0 means
 *   %EP_HOOK_DEADLINE_DEFAULT_MS
 * @cancellable: (nullable): cancels the run
 * @callback: called on the thread-default main context when the chain
 *   ended, never before this function returned
 *
 * Runs the handlers of @point.  Callers use the typed
 * ep_hook_<point>_run_async().
 */
void
ep_hook_bus_run_async (EpHookBus *self, EpHookPoint point, gpointer ctx, guint deadline_ms,
		       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GMainContext) context = NULL;
	EpHookChain *chain;

	g_return_if_fail (EP_IS_HOOK_BUS (self));
	g_return_if_fail (ep_hook_point_is_valid (point));
	g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_hook_bus_run_async);
	g_task_set_name (task, ep_hook_point_to_string (point));
	if (g_task_return_error_if_cancelled (task))
		return;

	context = g_main_context_ref_thread_default ();
	chain = g_new0 (EpHookChain, 1);
	g_ref_count_init (&chain->ref);
	chain->task = g_steal_pointer (&task);
	chain->point = point;
	chain->ctx = ctx;
	chain->deadline_ms = deadline_ms != 0 ? deadline_ms : EP_HOOK_DEADLINE_DEFAULT_MS;
	chain->cancellable = g_cancellable_new ();
	chain->result = g_new0 (EpHookResult, 1);
	chain->result->point = point;
	chain->result->headers = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_hook_header_free);
	chain->result->steps = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_hook_step_free);
	chain->handlers = g_ptr_array_new_full (self->handlers[point]->len, (GDestroyNotify) ep_hook_handler_unref);
	for (guint i = 0; i < self->handlers[point]->len; i++)
		g_ptr_array_add (chain->handlers, ep_hook_handler_ref (g_ptr_array_index (self->handlers[point], i)));

	chain->deadline_source = g_timeout_source_new (chain->deadline_ms);
	g_source_set_name (chain->deadline_source, "ep-hook-chain-deadline");
	g_source_set_callback (chain->deadline_source, ep_hook_chain_on_deadline, ep_hook_chain_ref (chain),
			       (GDestroyNotify) ep_hook_chain_unref);
	g_source_attach (chain->deadline_source, context);
	if (cancellable != NULL) {
		chain->cancel_source = g_cancellable_source_new (cancellable);
		g_source_set_name (chain->cancel_source, "ep-hook-chain-cancel");
		g_source_set_callback (chain->cancel_source, G_SOURCE_FUNC (ep_hook_chain_on_cancelled),
				       ep_hook_chain_ref (chain), (GDestroyNotify) ep_hook_chain_unref);
		g_source_attach (chain->cancel_source, context);
	}

	/* a chain that ends here completes from an idle: GTask does not call
	 * back in the main loop iteration that created it */
	ep_hook_chain_iterate (chain);
	ep_hook_chain_unref (chain);
}

/**
 * ep_hook_bus_run_finish:
 * @self: the bus
 * @result: the result given to the callback
 *
 * Returns: (transfer full): how the chain ended, or %NULL with
 *   %G_IO_ERROR_CANCELLED when the run was cancelled
 */
EpHookResult *
ep_hook_bus_run_finish (EpHookBus *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (EP_IS_HOOK_BUS (self), NULL);
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_hook_bus_run_async, NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

static void
ep_hook_bus_finalize (GObject *object)
{
	EpHookBus *self = EP_HOOK_BUS (object);

	for (guint i = 0; i < EP_HOOK_POINT_COUNT; i++) {
		GPtrArray *handlers = self->handlers[i];
		for (guint j = 0; j < handlers->len; j++) {
			EpHookHandler *handler = g_ptr_array_index (handlers, j);
			handler->connected = FALSE;
		}
		g_ptr_array_unref (handlers);
	}
	G_OBJECT_CLASS (ep_hook_bus_parent_class)->finalize (object);
}

static void
ep_hook_bus_class_init (EpHookBusClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->finalize = ep_hook_bus_finalize;
}

static void
ep_hook_bus_init (EpHookBus *self)
{
	for (guint i = 0; i < EP_HOOK_POINT_COUNT; i++)
		self->handlers[i] = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_hook_handler_unref);
}

/**
 * ep_hook_bus_new:
 *
 * Returns: (transfer full): a bus without handlers
 */
EpHookBus *
ep_hook_bus_new (void)
{
	return g_object_new (EP_TYPE_HOOK_BUS, NULL);
}
