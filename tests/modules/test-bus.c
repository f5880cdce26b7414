/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test module that lets the integration tests drive the hook bus and the
 * event bus inside the real daemon.  It provides the listener kind
 * "test-bus", a line protocol:
 *
 *   RESOLVE <address>  runs the directory.resolve chain and answers
 *                      "<VERDICT> <code> <enhanced> <module> order=<a,b,..> account=<x>"
 *   EVENTS             "EVENTS <n> <file>": config.reloaded events seen
 *   OUTBOUND           "OUTBOUND <line>|<line>|...": the queue's events seen, each
 *                      "delivered <recipient> <remote_host> <queue_id>",
 *                      "deferred <recipient> <attempts> <queue_id>" or
 *                      "bounced <recipient> <code> <enhanced> <queue_id>"
 *   GREETING           the [test-bus] greeting currently configured
 *   QUIT
 *
 * Its three directory.resolve handlers (which leave the chains of other
 * modules alone, so the module can be loaded beside smtp): "async" (priority -5) answers
 * CONTINUE 20 ms later; "sync" (priority 10) answers CONTINUE at once;
 * "decider" (priority 20) rejects reject*@, never answers slow*@ in time,
 * fails without an error for fail*@, and accepts everything else.
 */
#include "epistle.h"

typedef struct {
	EpDirectoryResolveCtx ctx; /* first: the handlers get a pointer to it */
	GString *order;
	GSocketConnection *connection;
	GDataInputStream *input;
	struct _TestBus *bus;
} TestRequest;

typedef struct _TestBus {
	EpContext *ctx;
	guint events_seen;
	char *last_main_file;
	GPtrArray *outbound; /* of char*: the queue's events, in order */
	GHashTable *requests; /* the TestRequest of every RESOLVE under way */
	char *greeting;
	guint deadline_ms;
} TestBus;

static const EpConfigKey test_bus_keys[] = {
	{ "greeting", EP_CONFIG_TYPE_STRING, 0, 1, 64, NULL, NULL, "what GREETING answers" },
	{ "deadline_ms", EP_CONFIG_TYPE_INTEGER, 0, 10, 60000, NULL, NULL, "the chain's deadline" },
	{ NULL }
};

static void test_bus_read_line (GSocketConnection *connection, GDataInputStream *input, TestBus *bus);

static void
test_bus_reply (GSocketConnection *connection, const char *line)
{
	g_autofree char *out = g_strconcat (line, "\r\n", NULL);
	GOutputStream *os = g_io_stream_get_output_stream (G_IO_STREAM (connection));
	g_output_stream_write_all (os, out, strlen (out), NULL, NULL, NULL);
}

static void
test_request_free (TestRequest *req)
{
	g_free (req->ctx.account);
	g_string_free (req->order, TRUE);
	g_object_unref (req->input);
	g_object_unref (req->connection);
	g_free ((char *) req->ctx.address);
	g_free (req);
}

static void
test_bus_order_add (EpDirectoryResolveCtx *ctx, const char *step)
{
	TestRequest *req = (TestRequest *) ctx;
	if (req->order->len > 0)
		g_string_append_c (req->order, ',');
	g_string_append (req->order, step);
}

static gboolean
test_bus_async_answer (gpointer data)
{
	EpHookCall *call = data;
	GCancellable *cancellable = ep_hook_call_get_cancellable (call);

	if (!g_cancellable_is_cancelled (cancellable))
		ep_hook_call_continue (call);
	ep_hook_call_unref (call);
	return G_SOURCE_REMOVE;
}

/* a resolve chain run by someone else (the smtp module): not ours to answer */
static gboolean
test_bus_not_ours (EpHookCall *call, EpDirectoryResolveCtx *ctx, gpointer user_data)
{
	TestBus *bus = user_data;

	if (g_hash_table_contains (bus->requests, ctx))
		return FALSE;
	ep_hook_call_continue (call);
	return TRUE;
}

static void
test_bus_handler_async (EpHookCall *call, EpDirectoryResolveCtx *ctx, gpointer user_data)
{
	if (test_bus_not_ours (call, ctx, user_data))
		return;
	test_bus_order_add (ctx, "async");
	g_timeout_add (20, test_bus_async_answer, ep_hook_call_ref (call));
}

static void
test_bus_handler_sync (EpHookCall *call, EpDirectoryResolveCtx *ctx, gpointer user_data)
{
	if (test_bus_not_ours (call, ctx, user_data))
		return;
	test_bus_order_add (ctx, "sync");
	ep_hook_call_continue (call);
}

static void
test_bus_handler_decider (EpHookCall *call, EpDirectoryResolveCtx *ctx, gpointer user_data)
{
	TestBus *bus = user_data;
	const char *at = strchr (ctx->address, '@');
	g_autofree char *local = NULL;

	if (test_bus_not_ours (call, ctx, user_data))
		return;
	test_bus_order_add (ctx, "decider");
	if (g_str_has_prefix (ctx->address, "reject")) {
		ep_hook_call_return (call, ep_verdict_new_reject (550, "5.1.1", "no such user here"));
		return;
	}
	if (g_str_has_prefix (ctx->address, "slow")) {
		/* answers only after the chain's deadline has passed */
		g_timeout_add (bus->deadline_ms * 2, test_bus_async_answer, ep_hook_call_ref (call));
		return;
	}
	if (g_str_has_prefix (ctx->address, "fail")) {
		ep_hook_call_fail (call, NULL);
		return;
	}
	ctx->is_local_domain = TRUE;
	local = at != NULL ? g_strndup (ctx->address, (gsize) (at - ctx->address)) : g_strdup (ctx->address);
	ep_hook_ctx_set_string (&ctx->account, local);
	ep_hook_call_return (call, ep_verdict_new (EP_VERDICT_ACCEPT));
}

static void
test_bus_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	TestRequest *req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpHookResult) res = ep_hook_directory_resolve_run_finish (EP_HOOK_BUS (source), result, &error);
	g_autofree char *line = NULL;

	if (res == NULL) {
		line = g_strdup_printf ("ERROR %s", error->message);
	} else {
		line = g_strdup_printf ("%s %u %s %s order=%s account=%s",
					ep_verdict_kind_to_string (res->verdict->kind), res->verdict->code,
					res->verdict->enhanced != NULL ? res->verdict->enhanced : "-",
					res->module != NULL ? res->module : "-", req->order->str,
					req->ctx.account != NULL ? req->ctx.account : "-");
	}
	test_bus_reply (req->connection, line);
	test_bus_read_line (req->connection, req->input, req->bus);
	g_hash_table_remove (req->bus->requests, &req->ctx);
	test_request_free (req);
}

static void
test_bus_on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GDataInputStream *input = G_DATA_INPUT_STREAM (source);
	GSocketConnection *connection = user_data; /* owned */
	TestBus *bus = g_object_get_data (G_OBJECT (connection), "test-bus");
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (input, result, NULL, NULL);

	if (line == NULL || g_strcmp0 (g_strstrip (line), "QUIT") == 0) {
		if (line != NULL)
			test_bus_reply (connection, "BYE");
		g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
		g_object_unref (connection);
		return;
	}
	if (g_str_has_prefix (line, "RESOLVE ")) {
		TestRequest *req = g_new0 (TestRequest, 1);
		req->ctx.address = g_strdup (line + 8);
		req->order = g_string_new (NULL);
		req->connection = connection; /* the reference moves to the request */
		req->input = g_object_ref (input);
		req->bus = bus;
		g_hash_table_add (bus->requests, &req->ctx);
		ep_hook_directory_resolve_run_async (ep_context_get_hook_bus (bus->ctx), &req->ctx, bus->deadline_ms,
						     NULL, test_bus_resolved, req);
		return;
	}
	if (g_strcmp0 (line, "EVENTS") == 0) {
		g_autofree char *reply = g_strdup_printf ("EVENTS %u %s", bus->events_seen,
							  bus->last_main_file != NULL ? bus->last_main_file : "-");
		test_bus_reply (connection, reply);
	} else if (g_strcmp0 (line, "OUTBOUND") == 0) {
		g_autofree char *joined = NULL;
		g_autofree char *reply = NULL;
		g_ptr_array_add (bus->outbound, NULL);
		joined = g_strjoinv ("|", (char **) bus->outbound->pdata);
		g_ptr_array_remove_index (bus->outbound, bus->outbound->len - 1);
		reply = g_strdup_printf ("OUTBOUND %s", joined);
		test_bus_reply (connection, reply);
	} else if (g_strcmp0 (line, "GREETING") == 0) {
		test_bus_reply (connection, bus->greeting);
	} else {
		test_bus_reply (connection, "ERROR unknown command");
	}
	test_bus_read_line (connection, input, bus);
	g_object_unref (connection);
}

static void
test_bus_read_line (GSocketConnection *connection, GDataInputStream *input, TestBus *bus)
{
	g_data_input_stream_read_line_async (input, G_PRIORITY_DEFAULT, NULL, test_bus_on_line,
					     g_object_ref (connection));
}

static void
test_bus_accept (EpContext *ctx, GSocketConnection *connection, const EpConfigListener *listener, gpointer user_data)
{
	TestBus *bus = user_data;
	GInputStream *is = g_io_stream_get_input_stream (G_IO_STREAM (connection));
	g_autoptr(GDataInputStream) input = g_data_input_stream_new (is);

	g_data_input_stream_set_newline_type (input, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
	g_object_set_data (G_OBJECT (connection), "test-bus", bus);
	test_bus_reply (connection, "READY test-bus");
	test_bus_read_line (connection, input, bus);
}

static void
test_bus_on_reloaded (const EpConfigReloadedEvent *event, gpointer user_data)
{
	TestBus *bus = user_data;
	bus->events_seen++;
	g_free (bus->last_main_file);
	bus->last_main_file = g_strdup (event->main_file);
}

static void
test_bus_on_delivered (const EpMessageDeliveredEvent *event, gpointer user_data)
{
	TestBus *bus = user_data;

	if (g_strcmp0 (event->protocol, "smtp-out") != 0)
		return;
	g_ptr_array_add (bus->outbound, g_strdup_printf ("delivered %s %s %s", event->recipient,
							 event->remote_host != NULL ? event->remote_host : "-",
							 event->queue_id != NULL ? event->queue_id : "-"));
}

static void
test_bus_on_deferred (const EpQueueDeferredEvent *event, gpointer user_data)
{
	TestBus *bus = user_data;

	g_ptr_array_add (bus->outbound,
			 g_strdup_printf ("deferred %s %u %s", event->recipient, event->attempts, event->queue_id));
}

static void
test_bus_on_bounced (const EpMessageBouncedEvent *event, gpointer user_data)
{
	TestBus *bus = user_data;

	g_ptr_array_add (bus->outbound, g_strdup_printf ("bounced %s %u %s %s", event->recipient, event->code,
							 event->enhanced != NULL ? event->enhanced : "-",
							 event->queue_id));
}

static void
test_bus_free (TestBus *bus)
{
	g_ptr_array_unref (bus->outbound);
	g_hash_table_unref (bus->requests);
	g_free (bus->last_main_file);
	g_free (bus->greeting);
	g_free (bus);
}

static gboolean
test_bus_apply (EpContext *ctx, GError **error)
{
	TestBus *bus = ep_context_get_data (ctx);
	EpTomlValue *section = ep_context_get_section (ctx);

	g_free (bus->greeting);
	bus->greeting = g_strdup (ep_config_section_get_string (section, "greeting", "hello"));
	bus->deadline_ms = (guint) ep_config_section_get_integer (section, "deadline_ms", 300);
	return TRUE;
}

static gboolean
test_bus_init (EpContext *ctx, GError **error)
{
	TestBus *bus = g_new0 (TestBus, 1);
	const char *name = ep_context_get_module_name (ctx);
	EpHookBus *hooks = ep_context_get_hook_bus (ctx);

	bus->ctx = ctx;
	bus->outbound = g_ptr_array_new_with_free_func (g_free);
	bus->requests = g_hash_table_new (g_direct_hash, g_direct_equal);
	ep_context_set_data (ctx, bus, (GDestroyNotify) test_bus_free);
	if (!test_bus_apply (ctx, error))
		return FALSE;
	/* registered out of priority order on purpose */
	ep_hook_directory_resolve_connect (hooks, name, 20, test_bus_handler_decider, bus, NULL);
	ep_hook_directory_resolve_connect (hooks, name, 10, test_bus_handler_sync, bus, NULL);
	ep_hook_directory_resolve_connect (hooks, name, -5, test_bus_handler_async, bus, NULL);
	ep_event_config_reloaded_subscribe (ep_context_get_event_bus (ctx), name, test_bus_on_reloaded, bus, NULL);
	ep_event_message_delivered_subscribe (ep_context_get_event_bus (ctx), name, test_bus_on_delivered, bus, NULL);
	ep_event_queue_deferred_subscribe (ep_context_get_event_bus (ctx), name, test_bus_on_deferred, bus, NULL);
	ep_event_message_bounced_subscribe (ep_context_get_event_bus (ctx), name, test_bus_on_bounced, bus, NULL);
	return ep_context_add_listener_kind (ctx, "test-bus", 0, test_bus_accept, bus, error);
}

EP_MODULE_DEFINE (
	.name = "test-bus",
	.version = "1.0",
	.description = "test module driving the hook and event buses over a line protocol",
	.config_schema = test_bus_keys,
	.provides = EP_STRV ("listener:test-bus"),
	.init = test_bus_init,
	.reload = test_bus_apply,
);
