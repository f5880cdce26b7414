/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-event-bus.h"
#include "ep-events.h"

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

static gboolean
flag_cb (gpointer user_data)
{
	gboolean *flag = user_data;
	*flag = TRUE;
	return G_SOURCE_REMOVE;
}

/* turns the main loop until *counter reaches n, five seconds at most */
static void
wait_for (const guint *counter, guint n)
{
	gboolean timed_out = FALSE;
	guint id = g_timeout_add_seconds (5, flag_cb, &timed_out);

	while (*counter < n && !timed_out)
		g_main_context_iteration (NULL, TRUE);
	g_assert_false (timed_out);
	g_source_remove (id);
}

static void
spin (guint ms)
{
	gboolean elapsed = FALSE;

	g_timeout_add (ms, flag_cb, &elapsed);
	while (!elapsed)
		g_main_context_iteration (NULL, TRUE);
}

/* records the highest_modseq of every mailbox.changed it gets */
typedef struct {
	GArray *seen; /* of guint64 */
	guint count;
	guint sleep_ms;
	EpEventBus *bus;
	guint unsubscribe_id;
} Recorder;

static void
recorder_init (Recorder *rec)
{
	memset (rec, 0, sizeof (*rec));
	rec->seen = g_array_new (FALSE, FALSE, sizeof (guint64));
}

static void
recorder_clear (Recorder *rec)
{
	g_array_unref (rec->seen);
}

static void
on_mailbox_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	Recorder *rec = user_data;

	g_assert_cmpstr (event->account, ==, "alice");
	g_array_append_val (rec->seen, event->highest_modseq);
	rec->count++;
	if (rec->sleep_ms > 0)
		g_usleep (rec->sleep_ms * 1000);
	if (rec->unsubscribe_id != 0) {
		g_assert_true (ep_event_bus_unsubscribe (rec->bus, rec->unsubscribe_id));
		rec->unsubscribe_id = 0;
	}
}

static void
emit_mailbox_changed (EpEventBus *bus, guint64 modseq)
{
	EpMailboxChangedEvent event = {
		.account = "alice",
		.mailbox = "INBOX",
		.mailbox_id = 7,
		.highest_modseq = modseq,
	};
	ep_event_mailbox_changed_emit (bus, &event);
}

static void
assert_seen_in_order (Recorder *rec, guint n)
{
	g_assert_cmpuint (rec->seen->len, ==, n);
	for (guint i = 0; i < n; i++)
		g_assert_cmpuint (g_array_index (rec->seen, guint64, i), ==, i);
}

static void
test_event_type_names (void)
{
	EpEventType type;

	for (guint i = 0; i < EP_EVENT_TYPE_COUNT; i++) {
		g_assert_true (ep_event_type_from_string (ep_event_type_to_string (i), &type));
		g_assert_cmpint (type, ==, i);
	}
	g_assert_cmpstr (ep_event_type_to_string (EP_EVENT_QUEUE_DEFERRED), ==, "queue.deferred");
	g_assert_false (ep_event_type_from_string ("queue.nope", &type));
}

static void
test_event_copy (void)
{
	g_autofree char *peer = g_strdup ("192.0.2.1");
	g_autofree char *reason = g_strdup ("bad credentials");
	g_autoptr(EpAuthFailedEvent) copy = NULL;
	EpAuthFailedEvent event = {
		.protocol = "imap",
		.mechanism = "PLAIN",
		.peer = peer,
		.username = NULL,
		.reason = reason,
	};

	copy = ep_auth_failed_event_copy (&event);
	g_clear_pointer (&peer, g_free);
	g_clear_pointer (&reason, g_free);
	g_assert_cmpstr (copy->protocol, ==, "imap");
	g_assert_true (copy->protocol != event.protocol);
	g_assert_cmpstr (copy->mechanism, ==, "PLAIN");
	g_assert_cmpstr (copy->peer, ==, "192.0.2.1");
	g_assert_null (copy->username);
	g_assert_cmpstr (copy->reason, ==, "bad credentials");
	g_assert_null (copy->session_id);
}

static void
test_event_order_several_subscribers (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	Recorder a, b;
	const guint n = 500;

	recorder_init (&a);
	recorder_init (&b);
	ep_event_mailbox_changed_subscribe (bus, "imap", on_mailbox_changed, &a, NULL);
	ep_event_mailbox_changed_subscribe (bus, "jmap", on_mailbox_changed, &b, NULL);
	g_assert_cmpuint (ep_event_bus_get_n_subscribers (bus, EP_EVENT_MAILBOX_CHANGED), ==, 2);
	g_assert_cmpuint (ep_event_bus_get_n_subscribers (bus, EP_EVENT_AUTH_FAILED), ==, 0);

	for (guint i = 0; i < n; i++)
		emit_mailbox_changed (bus, i);
	/* nothing is delivered inside emit */
	g_assert_cmpuint (a.count, ==, 0);
	g_assert_cmpuint (b.count, ==, 0);

	wait_for (&a.count, n);
	wait_for (&b.count, n);
	assert_seen_in_order (&a, n);
	assert_seen_in_order (&b, n);
	recorder_clear (&a);
	recorder_clear (&b);
}

static void
test_event_slow_subscriber (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	Recorder slow, fast;
	gint64 start, elapsed;

	recorder_init (&slow);
	recorder_init (&fast);
	slow.sleep_ms = 50;
	ep_event_mailbox_changed_subscribe (bus, "webhooks", on_mailbox_changed, &slow, NULL);
	ep_event_mailbox_changed_subscribe (bus, "imap", on_mailbox_changed, &fast, NULL);

	start = g_get_monotonic_time ();
	for (guint i = 0; i < 10; i++)
		emit_mailbox_changed (bus, i);
	elapsed = g_get_monotonic_time () - start;
	/* the emitter came back before any subscriber ran, and well before
	 * even one of the slow subscriber's 50 ms naps */
	g_assert_cmpuint (slow.count, ==, 0);
	g_assert_cmpuint (fast.count, ==, 0);
	g_assert_cmpint (elapsed, <, 25000);

	wait_for (&slow.count, 10);
	wait_for (&fast.count, 10);
	assert_seen_in_order (&slow, 10);
	assert_seen_in_order (&fast, 10);
	recorder_clear (&slow);
	recorder_clear (&fast);
}

static void
test_event_overflow (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	Recorder small, other;
	guint id_small, id_other;

	g_ptr_array_set_size (logged, 0);
	recorder_init (&small);
	recorder_init (&other);
	ep_event_bus_set_max_queued (bus, 100);
	id_small = ep_event_mailbox_changed_subscribe (bus, "webhooks", on_mailbox_changed, &small, NULL);
	id_other = ep_event_mailbox_changed_subscribe (bus, "metrics", on_mailbox_changed, &other, NULL);

	for (guint i = 0; i < 250; i++)
		emit_mailbox_changed (bus, i);
	g_assert_cmpuint (ep_event_bus_get_dropped (bus, id_small), ==, 150);
	g_assert_cmpuint (ep_event_bus_get_dropped (bus, id_other), ==, 150);
	test_log_assert ("webhooks", "dropping new ones");

	wait_for (&small.count, 100);
	spin (20);
	/* the first hundred, in order, and not one more */
	assert_seen_in_order (&small, 100);
	assert_seen_in_order (&other, 100);
	test_log_assert ("webhooks", "150 events dropped");
	test_log_assert ("metrics", "150 events dropped");

	/* once drained, events flow again */
	emit_mailbox_changed (bus, 100);
	wait_for (&small.count, 101);
	assert_seen_in_order (&small, 101);
	g_assert_cmpuint (ep_event_bus_get_dropped (bus, id_small), ==, 150);
	recorder_clear (&small);
	recorder_clear (&other);
}

static void
destroy_count (gpointer user_data)
{
	Recorder *rec = user_data;
	rec->unsubscribe_id = G_MAXUINT;
}

static void
test_event_unsubscribe (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	Recorder gone, kept;
	guint id;

	recorder_init (&gone);
	recorder_init (&kept);
	id = ep_event_mailbox_changed_subscribe (bus, "gone", on_mailbox_changed, &gone, destroy_count);
	ep_event_mailbox_changed_subscribe (bus, "kept", on_mailbox_changed, &kept, NULL);
	for (guint i = 0; i < 5; i++)
		emit_mailbox_changed (bus, i);
	/* what waits for it is dropped with it */
	g_assert_true (ep_event_bus_unsubscribe (bus, id));
	g_assert_cmpuint (gone.unsubscribe_id, ==, G_MAXUINT);
	g_assert_false (ep_event_bus_unsubscribe (bus, id));
	g_assert_cmpuint (ep_event_bus_get_n_subscribers (bus, EP_EVENT_MAILBOX_CHANGED), ==, 1);
	emit_mailbox_changed (bus, 5);
	wait_for (&kept.count, 6);
	spin (20);
	g_assert_cmpuint (gone.count, ==, 0);
	assert_seen_in_order (&kept, 6);
	recorder_clear (&gone);
	recorder_clear (&kept);
}

static void
test_event_unsubscribe_in_callback (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	Recorder rec;

	recorder_init (&rec);
	rec.bus = bus;
	rec.unsubscribe_id = ep_event_mailbox_changed_subscribe (bus, "once", on_mailbox_changed, &rec, NULL);
	for (guint i = 0; i < 5; i++)
		emit_mailbox_changed (bus, i);
	wait_for (&rec.count, 1);
	spin (20);
	g_assert_cmpuint (rec.count, ==, 1);
	recorder_clear (&rec);
}

/* the payload is the emitter's until emit returns */
static void
on_config_reloaded (const EpConfigReloadedEvent *event, gpointer user_data)
{
	GPtrArray *files = user_data;
	g_ptr_array_add (files, g_strdup (event->main_file));
}

static void
test_event_deep_copy_on_emit (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
	char buf[32];
	EpConfigReloadedEvent event = { .main_file = buf };

	/* nobody listens: nothing happens */
	g_strlcpy (buf, "/etc/epistle/mail.toml", sizeof (buf));
	ep_event_config_reloaded_emit (bus, &event);

	ep_event_config_reloaded_subscribe (bus, "api", on_config_reloaded, files, NULL);
	ep_event_config_reloaded_emit (bus, &event);
	g_strlcpy (buf, "overwritten", sizeof (buf));
	ep_event_config_reloaded_emit (bus, &event);
	memset (buf, 'x', sizeof (buf) - 1);
	while (files->len < 2)
		g_main_context_iteration (NULL, TRUE);
	g_assert_cmpstr (g_ptr_array_index (files, 0), ==, "/etc/epistle/mail.toml");
	g_assert_cmpstr (g_ptr_array_index (files, 1), ==, "overwritten");
}

static gpointer
emit_thread (gpointer user_data)
{
	EpEventBus *bus = user_data;

	for (guint i = 0; i < 1000; i++)
		emit_mailbox_changed (bus, i);
	return NULL;
}

static void
test_event_emit_from_thread (void)
{
	g_autoptr(EpEventBus) bus = ep_event_bus_new ();
	GThread *thread;
	Recorder rec;

	recorder_init (&rec);
	ep_event_mailbox_changed_subscribe (bus, "imap", on_mailbox_changed, &rec, NULL);
	thread = g_thread_new ("emitter", emit_thread, bus);
	wait_for (&rec.count, 1000);
	g_thread_join (thread);
	assert_seen_in_order (&rec, 1000);
	recorder_clear (&rec);
}

static void
test_event_pending_at_finalize (void)
{
	EpEventBus *bus = ep_event_bus_new ();
	Recorder rec;

	/* events still queued when the bus goes are freed, never delivered */
	recorder_init (&rec);
	ep_event_mailbox_changed_subscribe (bus, "imap", on_mailbox_changed, &rec, destroy_count);
	for (guint i = 0; i < 10; i++)
		emit_mailbox_changed (bus, i);
	g_object_unref (bus);
	g_assert_cmpuint (rec.unsubscribe_id, ==, G_MAXUINT);
	spin (20);
	g_assert_cmpuint (rec.count, ==, 0);
	recorder_clear (&rec);
}

int
main (int argc, char **argv)
{
	int ret;

	g_test_init (&argc, &argv, NULL);
	logged = g_ptr_array_new_with_free_func (g_free);
	g_log_set_writer_func (test_log_writer, NULL, NULL);

	g_test_add_func ("/event-bus/type-names", test_event_type_names);
	g_test_add_func ("/event-bus/copy", test_event_copy);
	g_test_add_func ("/event-bus/order-several-subscribers", test_event_order_several_subscribers);
	g_test_add_func ("/event-bus/slow-subscriber", test_event_slow_subscriber);
	g_test_add_func ("/event-bus/overflow", test_event_overflow);
	g_test_add_func ("/event-bus/unsubscribe", test_event_unsubscribe);
	g_test_add_func ("/event-bus/unsubscribe-in-callback", test_event_unsubscribe_in_callback);
	g_test_add_func ("/event-bus/deep-copy-on-emit", test_event_deep_copy_on_emit);
	g_test_add_func ("/event-bus/emit-from-thread", test_event_emit_from_thread);
	g_test_add_func ("/event-bus/pending-at-finalize", test_event_pending_at_finalize);

	ret = g_test_run ();
	g_ptr_array_unref (logged);
	return ret;
}
