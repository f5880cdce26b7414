/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-event-bus.h"
#include "ep-events.h"
#include "ep-log.h"

/*
 * One emission is copied once into an envelope that every subscriber's
 * queue shares by reference.  A subscriber owns its queue and an idle
 * source, attached while the queue is not empty, that hands the events to
 * the subscriber's callback a batch at a time.
 *
 * Locking: the bus lock guards the subscriber lists and is held for a whole
 * emission, so every subscriber sees emissions in the same order; a
 * subscriber's lock guards its queue and source.  The order is always bus
 * lock, then subscriber lock.  No lock is held while a callback runs.
 */

/* events handed to a subscriber per turn of its main loop */
#define EP_EVENT_BATCH 64

/* payloads: their sizes and where their strings are; every pointer in a
 * payload is a string listed here */

#define EP_EVENT_STRING(Payload, field) G_STRUCT_OFFSET (Payload, field)

static const gsize ep_message_delivered_strings[] = {
	EP_EVENT_STRING (EpMessageDeliveredEvent, message_id),
	EP_EVENT_STRING (EpMessageDeliveredEvent, sender),
	EP_EVENT_STRING (EpMessageDeliveredEvent, account),
	EP_EVENT_STRING (EpMessageDeliveredEvent, mailbox),
	EP_EVENT_STRING (EpMessageDeliveredEvent, protocol),
	EP_EVENT_STRING (EpMessageDeliveredEvent, session_id),
	EP_EVENT_STRING (EpMessageDeliveredEvent, recipient),
	EP_EVENT_STRING (EpMessageDeliveredEvent, remote_host),
	EP_EVENT_STRING (EpMessageDeliveredEvent, queue_id),
};

static const gsize ep_message_rejected_strings[] = {
	EP_EVENT_STRING (EpMessageRejectedEvent, peer),
	EP_EVENT_STRING (EpMessageRejectedEvent, sender),
	EP_EVENT_STRING (EpMessageRejectedEvent, recipient),
	EP_EVENT_STRING (EpMessageRejectedEvent, stage),
	EP_EVENT_STRING (EpMessageRejectedEvent, module),
	EP_EVENT_STRING (EpMessageRejectedEvent, enhanced),
	EP_EVENT_STRING (EpMessageRejectedEvent, reason),
	EP_EVENT_STRING (EpMessageRejectedEvent, session_id),
};

static const gsize ep_message_bounced_strings[] = {
	EP_EVENT_STRING (EpMessageBouncedEvent, message_id),
	EP_EVENT_STRING (EpMessageBouncedEvent, sender),
	EP_EVENT_STRING (EpMessageBouncedEvent, recipient),
	EP_EVENT_STRING (EpMessageBouncedEvent, remote_host),
	EP_EVENT_STRING (EpMessageBouncedEvent, enhanced),
	EP_EVENT_STRING (EpMessageBouncedEvent, diagnostic),
	EP_EVENT_STRING (EpMessageBouncedEvent, queue_id),
};

static const gsize ep_queue_deferred_strings[] = {
	EP_EVENT_STRING (EpQueueDeferredEvent, message_id),
	EP_EVENT_STRING (EpQueueDeferredEvent, recipient),
	EP_EVENT_STRING (EpQueueDeferredEvent, domain),
	EP_EVENT_STRING (EpQueueDeferredEvent, remote_host),
	EP_EVENT_STRING (EpQueueDeferredEvent, reason),
	EP_EVENT_STRING (EpQueueDeferredEvent, queue_id),
};

static const gsize ep_auth_succeeded_strings[] = {
	EP_EVENT_STRING (EpAuthSucceededEvent, protocol),
	EP_EVENT_STRING (EpAuthSucceededEvent, mechanism),
	EP_EVENT_STRING (EpAuthSucceededEvent, peer),
	EP_EVENT_STRING (EpAuthSucceededEvent, username),
	EP_EVENT_STRING (EpAuthSucceededEvent, account),
	EP_EVENT_STRING (EpAuthSucceededEvent, session_id),
};

static const gsize ep_auth_failed_strings[] = {
	EP_EVENT_STRING (EpAuthFailedEvent, protocol),
	EP_EVENT_STRING (EpAuthFailedEvent, mechanism),
	EP_EVENT_STRING (EpAuthFailedEvent, peer),
	EP_EVENT_STRING (EpAuthFailedEvent, username),
	EP_EVENT_STRING (EpAuthFailedEvent, reason),
	EP_EVENT_STRING (EpAuthFailedEvent, session_id),
};

static const gsize ep_mailbox_changed_strings[] = {
	EP_EVENT_STRING (EpMailboxChangedEvent, mailbox),
	EP_EVENT_STRING (EpMailboxChangedEvent, account),
};

static const gsize ep_account_changed_strings[] = {
	EP_EVENT_STRING (EpAccountChangedEvent, account),
};

static const gsize ep_config_reloaded_strings[] = {
	EP_EVENT_STRING (EpConfigReloadedEvent, main_file),
};

typedef struct {
	const char *name;
	gsize size;
	const gsize *strings;
	guint n_strings;
} EpEventTypeInfo;

#define EP_EVENT_TYPE_INFO(name, Payload, strings) { name, sizeof (Payload), strings, G_N_ELEMENTS (strings) }

static const EpEventTypeInfo ep_event_types[EP_EVENT_TYPE_COUNT] = {
	[EP_EVENT_MESSAGE_DELIVERED] = EP_EVENT_TYPE_INFO ("message.delivered", EpMessageDeliveredEvent,
							   ep_message_delivered_strings),
	[EP_EVENT_MESSAGE_REJECTED] = EP_EVENT_TYPE_INFO ("message.rejected", EpMessageRejectedEvent,
							  ep_message_rejected_strings),
	[EP_EVENT_MESSAGE_BOUNCED] = EP_EVENT_TYPE_INFO ("message.bounced", EpMessageBouncedEvent,
							 ep_message_bounced_strings),
	[EP_EVENT_QUEUE_DEFERRED] = EP_EVENT_TYPE_INFO ("queue.deferred", EpQueueDeferredEvent,
							ep_queue_deferred_strings),
	[EP_EVENT_AUTH_SUCCEEDED] = EP_EVENT_TYPE_INFO ("auth.succeeded", EpAuthSucceededEvent,
							ep_auth_succeeded_strings),
	[EP_EVENT_AUTH_FAILED] = EP_EVENT_TYPE_INFO ("auth.failed", EpAuthFailedEvent, ep_auth_failed_strings),
	[EP_EVENT_MAILBOX_CHANGED] = EP_EVENT_TYPE_INFO ("mailbox.changed", EpMailboxChangedEvent,
							 ep_mailbox_changed_strings),
	[EP_EVENT_ACCOUNT_CHANGED] = EP_EVENT_TYPE_INFO ("account.changed", EpAccountChangedEvent,
							 ep_account_changed_strings),
	[EP_EVENT_CONFIG_RELOADED] = EP_EVENT_TYPE_INFO ("config.reloaded", EpConfigReloadedEvent,
							 ep_config_reloaded_strings),
};

static gboolean
ep_event_type_is_valid (EpEventType type)
{
	return (guint) type < EP_EVENT_TYPE_COUNT;
}

/**
 * ep_event_type_to_string:
 * @type: an event type
 *
 * Returns: the name of the event, e.g. "mailbox.changed"
 */
const char *
ep_event_type_to_string (EpEventType type)
{
	if (!ep_event_type_is_valid (type))
		return "unknown";
	return ep_event_types[type].name;
}

/**
 * ep_event_type_from_string:
 * @name: an event name, e.g. "auth.failed"
 * @type: (out) (optional): the type
 *
 * Returns: %TRUE when @name is a known event
 */
gboolean
ep_event_type_from_string (const char *name, EpEventType *type)
{
	g_return_val_if_fail (name != NULL, FALSE);

	for (guint i = 0; i < EP_EVENT_TYPE_COUNT; i++) {
		if (g_strcmp0 (ep_event_types[i].name, name) == 0) {
			if (type != NULL)
				*type = (EpEventType) i;
			return TRUE;
		}
	}
	return FALSE;
}

static char **
ep_event_string_at (gpointer payload, gsize offset)
{
	return (char **) ((guint8 *) payload + offset);
}

/**
 * ep_event_copy:
 * @type: the type of @payload
 * @payload: a payload of that type
 *
 * Returns: (transfer full): a deep copy of @payload, freed with ep_event_free()
 */
gpointer
ep_event_copy (EpEventType type, gconstpointer payload)
{
	const EpEventTypeInfo *info;
	gpointer copy;

	g_return_val_if_fail (ep_event_type_is_valid (type), NULL);
	g_return_val_if_fail (payload != NULL, NULL);

	info = &ep_event_types[type];
	copy = g_memdup2 (payload, info->size);
	for (guint i = 0; i < info->n_strings; i++) {
		char **field = ep_event_string_at (copy, info->strings[i]);
		*field = g_strdup (*field);
	}
	return copy;
}

/**
 * ep_event_free:
 * @type: the type of @payload
 * @payload: (nullable): a payload ep_event_copy() made
 */
void
ep_event_free (EpEventType type, gpointer payload)
{
	const EpEventTypeInfo *info;

	if (payload == NULL)
		return;
	g_return_if_fail (ep_event_type_is_valid (type));

	info = &ep_event_types[type];
	for (guint i = 0; i < info->n_strings; i++)
		g_free (*ep_event_string_at (payload, info->strings[i]));
	g_free (payload);
}

/* envelopes: one emission, shared by the queues */

typedef struct {
	gatomicrefcount ref;
	EpEventType type;
	gpointer payload;
} EpEventEnvelope;

static EpEventEnvelope *
ep_event_envelope_new (EpEventType type, gconstpointer payload)
{
	EpEventEnvelope *envelope = g_new0 (EpEventEnvelope, 1);

	g_atomic_ref_count_init (&envelope->ref);
	envelope->type = type;
	envelope->payload = ep_event_copy (type, payload);
	return envelope;
}

static EpEventEnvelope *
ep_event_envelope_ref (EpEventEnvelope *envelope)
{
	g_atomic_ref_count_inc (&envelope->ref);
	return envelope;
}

static void
ep_event_envelope_unref (EpEventEnvelope *envelope)
{
	if (!g_atomic_ref_count_dec (&envelope->ref))
		return;
	ep_event_free (envelope->type, envelope->payload);
	g_free (envelope);
}

/* subscribers */

typedef struct {
	gatomicrefcount ref;
	guint id;
	EpEventType type;
	char *module;
	EpEventMarshal marshal;
	GCallback func;
	gpointer user_data;
	GDestroyNotify destroy;
	GMainContext *context;
	GMutex lock;
	/* guarded by lock */
	gboolean active;
	GQueue queue; /* of EpEventEnvelope */
	GSource *source;
	guint64 dropped;
	guint64 dropped_unreported;
} EpEventSubscriber;

static EpEventSubscriber *
ep_event_subscriber_ref (EpEventSubscriber *sub)
{
	g_atomic_ref_count_inc (&sub->ref);
	return sub;
}

static void
ep_event_subscriber_unref (EpEventSubscriber *sub)
{
	if (!g_atomic_ref_count_dec (&sub->ref))
		return;
	/* after the last delivery: the source held a reference */
	if (sub->destroy != NULL)
		sub->destroy (sub->user_data);
	g_queue_clear_full (&sub->queue, (GDestroyNotify) ep_event_envelope_unref);
	g_main_context_unref (sub->context);
	g_mutex_clear (&sub->lock);
	g_free (sub->module);
	g_free (sub);
}

/* stops deliveries and drops what waits; the caller drops its reference */
static void
ep_event_subscriber_deactivate (EpEventSubscriber *sub)
{
	GQueue pending = G_QUEUE_INIT;
	GSource *source;

	g_mutex_lock (&sub->lock);
	g_atomic_int_set (&sub->active, FALSE);
	pending = sub->queue;
	g_queue_init (&sub->queue);
	source = g_steal_pointer (&sub->source);
	g_mutex_unlock (&sub->lock);

	if (source != NULL) {
		g_source_destroy (source);
		g_source_unref (source);
	}
	g_queue_clear_full (&pending, (GDestroyNotify) ep_event_envelope_unref);
}

static gboolean
ep_event_subscriber_deliver (gpointer user_data)
{
	EpEventSubscriber *sub = user_data;
	EpEventEnvelope *batch[EP_EVENT_BATCH];
	guint64 dropped;
	guint n = 0;
	gboolean more;

	g_mutex_lock (&sub->lock);
	while (n < EP_EVENT_BATCH && !g_queue_is_empty (&sub->queue))
		batch[n++] = g_queue_pop_head (&sub->queue);
	dropped = sub->dropped_unreported;
	sub->dropped_unreported = 0;
	more = !g_queue_is_empty (&sub->queue);
	/* the next emission attaches a new source */
	if (!more)
		g_clear_pointer (&sub->source, g_source_unref);
	g_mutex_unlock (&sub->lock);

	if (dropped > 0)
		ep_log_warning (sub->module, NULL,
				"%s subscriber was too slow: %" G_GUINT64_FORMAT " events dropped",
				ep_event_type_to_string (sub->type), dropped);
	for (guint i = 0; i < n; i++) {
		/* unsubscribed by an earlier callback of this batch */
		if (g_atomic_int_get (&sub->active))
			sub->marshal (sub->func, batch[i]->payload, sub->user_data);
		ep_event_envelope_unref (batch[i]);
	}
	return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* with the bus lock held */
static void
ep_event_subscriber_push (EpEventSubscriber *sub, EpEventEnvelope *envelope, guint max_queued)
{
	gboolean first_drop = FALSE;

	g_mutex_lock (&sub->lock);
	if (!sub->active) {
		g_mutex_unlock (&sub->lock);
		return;
	}
	if (sub->queue.length >= max_queued) {
		first_drop = sub->dropped_unreported == 0;
		sub->dropped++;
		sub->dropped_unreported++;
	} else {
		g_queue_push_tail (&sub->queue, ep_event_envelope_ref (envelope));
	}
	if (sub->source == NULL) {
		sub->source = g_idle_source_new ();
		g_source_set_priority (sub->source, G_PRIORITY_DEFAULT);
		g_source_set_name (sub->source, "ep-event-delivery");
		g_source_set_callback (sub->source, ep_event_subscriber_deliver, ep_event_subscriber_ref (sub),
				       (GDestroyNotify) ep_event_subscriber_unref);
		g_source_attach (sub->source, sub->context);
	}
	g_mutex_unlock (&sub->lock);

	/* said once per overflow; the count follows when it drains */
	if (first_drop)
		ep_log_warning (sub->module, NULL, "%s subscriber has %u events waiting; dropping new ones",
				ep_event_type_to_string (sub->type), max_queued);
}

/* the bus */

struct _EpEventBus {
	GObject parent_instance;
	GMutex lock;
	/* guarded by lock */
	GPtrArray *subscribers[EP_EVENT_TYPE_COUNT]; /* of EpEventSubscriber */
	guint last_id;
	guint max_queued;
};

G_DEFINE_TYPE (EpEventBus, ep_event_bus, G_TYPE_OBJECT)

/**
 * ep_event_bus_set_max_queued:
 * @self: the bus
 * @max_queued: how many events may wait for one subscriber, at least 1
 *
 * Sets the bound of every subscriber's queue; the default is
 * %EP_EVENT_MAX_QUEUED_DEFAULT.
 */
void
ep_event_bus_set_max_queued (EpEventBus *self, guint max_queued)
{
	g_return_if_fail (EP_IS_EVENT_BUS (self));
	g_return_if_fail (max_queued > 0);

	g_mutex_lock (&self->lock);
	self->max_queued = max_queued;
	g_mutex_unlock (&self->lock);
}

/**
 * ep_event_bus_subscribe_marshal:
 * @self: the bus
 * @type: the event
 * @module: the name of the module that subscribes
 * @marshal: calls @func with its own type
 * @func: the subscriber
 * @user_data: passed to @func
 * @destroy: (nullable): frees @user_data after the last delivery
 *
 * Subscribes to an event.  @func is called on the main context that is the
 * thread default now.  Modules use the typed ep_event_<event>_subscribe().
 *
 * Returns: the subscription id, never 0
 */
guint
ep_event_bus_subscribe_marshal (EpEventBus *self, EpEventType type, const char *module, EpEventMarshal marshal,
				GCallback func, gpointer user_data, GDestroyNotify destroy)
{
	EpEventSubscriber *sub;
	guint id;

	g_return_val_if_fail (EP_IS_EVENT_BUS (self), 0);
	g_return_val_if_fail (ep_event_type_is_valid (type), 0);
	g_return_val_if_fail (module != NULL, 0);
	g_return_val_if_fail (marshal != NULL, 0);
	g_return_val_if_fail (func != NULL, 0);

	sub = g_new0 (EpEventSubscriber, 1);
	g_atomic_ref_count_init (&sub->ref);
	sub->type = type;
	sub->module = g_strdup (module);
	sub->marshal = marshal;
	sub->func = func;
	sub->user_data = user_data;
	sub->destroy = destroy;
	sub->context = g_main_context_ref_thread_default ();
	g_mutex_init (&sub->lock);
	g_queue_init (&sub->queue);
	sub->active = TRUE;

	g_mutex_lock (&self->lock);
	id = sub->id = ++self->last_id;
	g_ptr_array_add (self->subscribers[type], sub);
	g_mutex_unlock (&self->lock);
	return id;
}

static void
ep_event_bus_marshal_untyped (GCallback func, gconstpointer payload, gpointer user_data)
{
	((EpEventFunc) func) (payload, user_data);
}

/**
 * ep_event_bus_subscribe:
 *
 * Subscribes an untyped function that receives the payload as a
 * gconstpointer; see ep_event_bus_subscribe_marshal().
 *
 * Returns: the subscription id, never 0
 */
guint
ep_event_bus_subscribe (EpEventBus *self, EpEventType type, const char *module, EpEventFunc func,
			gpointer user_data, GDestroyNotify destroy)
{
	return ep_event_bus_subscribe_marshal (self, type, module, ep_event_bus_marshal_untyped, (GCallback) func,
					       user_data, destroy);
}

/* with the bus lock held; returns a reference */
static EpEventSubscriber *
ep_event_bus_find_locked (EpEventBus *self, guint id, gboolean remove)
{
	for (guint i = 0; i < EP_EVENT_TYPE_COUNT; i++) {
		GPtrArray *subs = self->subscribers[i];
		for (guint j = 0; j < subs->len; j++) {
			EpEventSubscriber *sub = g_ptr_array_index (subs, j);
			if (sub->id != id)
				continue;
			if (remove)
				return g_ptr_array_steal_index (subs, j);
			return ep_event_subscriber_ref (sub);
		}
	}
	return NULL;
}

/**
 * ep_event_bus_unsubscribe:
 * @self: the bus
 * @subscription_id: what a subscribe function returned
 *
 * Ends a subscription: events still waiting for it are dropped, and none
 * is delivered after this returns, even from a batch being delivered.
 *
 * Returns: %TRUE if the subscription existed
 */
gboolean
ep_event_bus_unsubscribe (EpEventBus *self, guint subscription_id)
{
	EpEventSubscriber *sub;

	g_return_val_if_fail (EP_IS_EVENT_BUS (self), FALSE);

	g_mutex_lock (&self->lock);
	sub = ep_event_bus_find_locked (self, subscription_id, TRUE);
	g_mutex_unlock (&self->lock);
	if (sub == NULL)
		return FALSE;
	ep_event_subscriber_deactivate (sub);
	ep_event_subscriber_unref (sub);
	return TRUE;
}

guint
ep_event_bus_get_n_subscribers (EpEventBus *self, EpEventType type)
{
	guint n;

	g_return_val_if_fail (EP_IS_EVENT_BUS (self), 0);
	g_return_val_if_fail (ep_event_type_is_valid (type), 0);

	g_mutex_lock (&self->lock);
	n = self->subscribers[type]->len;
	g_mutex_unlock (&self->lock);
	return n;
}

/**
 * ep_event_bus_get_dropped:
 * @self: the bus
 * @subscription_id: a subscription
 *
 * Returns: how many events the subscription lost because its queue was full
 */
guint64
ep_event_bus_get_dropped (EpEventBus *self, guint subscription_id)
{
	EpEventSubscriber *sub;
	guint64 dropped;

	g_return_val_if_fail (EP_IS_EVENT_BUS (self), 0);

	g_mutex_lock (&self->lock);
	sub = ep_event_bus_find_locked (self, subscription_id, FALSE);
	g_mutex_unlock (&self->lock);
	if (sub == NULL)
		return 0;
	g_mutex_lock (&sub->lock);
	dropped = sub->dropped;
	g_mutex_unlock (&sub->lock);
	ep_event_subscriber_unref (sub);
	return dropped;
}

/**
 * ep_event_bus_emit:
 * @self: the bus
 * @type: the event
 * @payload: a payload of @type; copied
 *
 * Queues the event for every subscriber and returns without calling any.
 * May be called from any thread.  Modules use the typed
 * ep_event_<event>_emit().
 */
void
ep_event_bus_emit (EpEventBus *self, EpEventType type, gconstpointer payload)
{
	EpEventEnvelope *envelope;
	GPtrArray *subs;

	g_return_if_fail (EP_IS_EVENT_BUS (self));
	g_return_if_fail (ep_event_type_is_valid (type));
	g_return_if_fail (payload != NULL);

	g_mutex_lock (&self->lock);
	subs = self->subscribers[type];
	if (subs->len == 0) {
		g_mutex_unlock (&self->lock);
		return;
	}
	envelope = ep_event_envelope_new (type, payload);
	for (guint i = 0; i < subs->len; i++)
		ep_event_subscriber_push (g_ptr_array_index (subs, i), envelope, self->max_queued);
	g_mutex_unlock (&self->lock);
	ep_event_envelope_unref (envelope);
}

static void
ep_event_bus_finalize (GObject *object)
{
	EpEventBus *self = EP_EVENT_BUS (object);

	for (guint i = 0; i < EP_EVENT_TYPE_COUNT; i++) {
		GPtrArray *subs = self->subscribers[i];
		for (guint j = 0; j < subs->len; j++)
			ep_event_subscriber_deactivate (g_ptr_array_index (subs, j));
		g_ptr_array_unref (subs);
	}
	g_mutex_clear (&self->lock);
	G_OBJECT_CLASS (ep_event_bus_parent_class)->finalize (object);
}

static void
ep_event_bus_class_init (EpEventBusClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->finalize = ep_event_bus_finalize;
}

static void
ep_event_bus_init (EpEventBus *self)
{
	g_mutex_init (&self->lock);
	self->max_queued = EP_EVENT_MAX_QUEUED_DEFAULT;
	for (guint i = 0; i < EP_EVENT_TYPE_COUNT; i++)
		self->subscribers[i] = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_event_subscriber_unref);
}

/**
 * ep_event_bus_new:
 *
 * Returns: (transfer full): a bus without subscribers
 */
EpEventBus *
ep_event_bus_new (void)
{
	return g_object_new (EP_TYPE_EVENT_BUS, NULL);
}
