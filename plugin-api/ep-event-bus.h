/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The event bus: fire-and-forget notifications with typed, read-only
 * payloads (see ep-events.h for the payloads and their typed wrappers,
 * e.g. ep_event_mailbox_changed_emit() and ep_event_mailbox_changed_subscribe()).
 *
 * Emitting copies the payload and returns at once; it never waits for a
 * subscriber and may be done from any thread.  Each subscriber gets the
 * events later, in the order they were emitted, from an idle source on the
 * main context that was the thread default when it subscribed.  Each
 * subscriber has a queue of its own: a slow one only fills its own queue,
 * and once that queue is full the events it would have got are dropped
 * (for it alone) and counted, and the log says how many.
 *
 * The payload a subscriber gets lives until its callback returns; a
 * subscriber that keeps it makes a copy with ep_<event>_event_copy().
 */

typedef enum {
	EP_EVENT_MESSAGE_DELIVERED,
	EP_EVENT_MESSAGE_REJECTED,
	EP_EVENT_MESSAGE_BOUNCED,
	EP_EVENT_QUEUE_DEFERRED,
	EP_EVENT_AUTH_SUCCEEDED,
	EP_EVENT_AUTH_FAILED,
	EP_EVENT_MAILBOX_CHANGED,
	EP_EVENT_ACCOUNT_CHANGED,
	EP_EVENT_CONFIG_RELOADED,
} EpEventType;

#define EP_EVENT_TYPE_COUNT (EP_EVENT_CONFIG_RELOADED + 1)

/* How many events wait for one subscriber before new ones are dropped. */
#define EP_EVENT_MAX_QUEUED_DEFAULT 4096

EP_API const char *ep_event_type_to_string (EpEventType type);
EP_API gboolean    ep_event_type_from_string (const char *name, EpEventType *type);

/* Deep copies of payloads; modules use the typed ep_<event>_event_copy(). */
EP_API gpointer ep_event_copy (EpEventType type, gconstpointer payload);
EP_API void     ep_event_free (EpEventType type, gpointer payload);

typedef void (*EpEventFunc) (gconstpointer payload, gpointer user_data);
/* Calls @func, which is of the typed kind the marshaller knows about. */
typedef void (*EpEventMarshal) (GCallback func, gconstpointer payload, gpointer user_data);

#define EP_TYPE_EVENT_BUS (ep_event_bus_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpEventBus, ep_event_bus, EP, EVENT_BUS, GObject)

EP_API EpEventBus *ep_event_bus_new (void);
EP_API void        ep_event_bus_set_max_queued (EpEventBus *self, guint max_queued);

/* Untyped: modules use the ep_event_<event>_subscribe() wrappers instead. */
EP_API guint ep_event_bus_subscribe (EpEventBus *self, EpEventType type, const char *module, EpEventFunc func,
				     gpointer user_data, GDestroyNotify destroy);
EP_API guint ep_event_bus_subscribe_marshal (EpEventBus *self, EpEventType type, const char *module,
					     EpEventMarshal marshal, GCallback func, gpointer user_data,
					     GDestroyNotify destroy);
EP_API gboolean ep_event_bus_unsubscribe (EpEventBus *self, guint subscription_id);
EP_API guint    ep_event_bus_get_n_subscribers (EpEventBus *self, EpEventType type);
EP_API guint64  ep_event_bus_get_dropped (EpEventBus *self, guint subscription_id);

/* Untyped: modules use the ep_event_<event>_emit() wrappers instead. */
EP_API void ep_event_bus_emit (EpEventBus *self, EpEventType type, gconstpointer payload);

/**
 * EP_EVENT_DEFINE:
 * @lower: the event in lower case, e.g. mailbox_changed
 * @Camel: the event in camel case, e.g. MailboxChanged
 * @TYPE: the #EpEventType, e.g. EP_EVENT_MAILBOX_CHANGED
 * @Payload: the payload struct, e.g. EpMailboxChangedEvent
 *
 * Defines the typed face of an event:
 *
 *   typedef void (*EpEventMailboxChangedFunc) (const EpMailboxChangedEvent *event, gpointer user_data);
 *   guint ep_event_mailbox_changed_subscribe (EpEventBus *bus, const char *module,
 *                                             EpEventMailboxChangedFunc func, gpointer user_data,
 *                                             GDestroyNotify destroy);
 *   void ep_event_mailbox_changed_emit (EpEventBus *bus, const EpMailboxChangedEvent *event);
 *   EpMailboxChangedEvent *ep_mailbox_changed_event_copy (const EpMailboxChangedEvent *event);
 *   void ep_mailbox_changed_event_free (EpMailboxChangedEvent *event);
 *
 * and a g_autoptr() cleanup for the payload.
 */
#define EP_EVENT_DEFINE(lower, Camel, TYPE, Payload)                                                         \
	typedef void (*EpEvent##Camel##Func) (const Payload *event, gpointer user_data);                      \
	static inline void ep_event_##lower##_marshal (GCallback func, gconstpointer payload,                 \
						       gpointer user_data)                                    \
	{                                                                                                     \
		((EpEvent##Camel##Func) func) ((const Payload *) payload, user_data);                         \
	}                                                                                                     \
	static inline guint ep_event_##lower##_subscribe (EpEventBus *bus, const char *module,                \
							  EpEvent##Camel##Func func, gpointer user_data,      \
							  GDestroyNotify destroy)                             \
	{                                                                                                     \
		return ep_event_bus_subscribe_marshal (bus, TYPE, module, ep_event_##lower##_marshal,         \
						       (GCallback) func, user_data, destroy);                 \
	}                                                                                                     \
	static inline void ep_event_##lower##_emit (EpEventBus *bus, const Payload *event)                    \
	{                                                                                                     \
		ep_event_bus_emit (bus, TYPE, event);                                                         \
	}                                                                                                     \
	static inline Payload *ep_##lower##_event_copy (const Payload *event)                                 \
	{                                                                                                     \
		return (Payload *) ep_event_copy (TYPE, event);                                               \
	}                                                                                                     \
	static inline void ep_##lower##_event_free (Payload *event)                                           \
	{                                                                                                     \
		ep_event_free (TYPE, event);                                                                  \
	}                                                                                                     \
	G_DEFINE_AUTOPTR_CLEANUP_FUNC (Payload, ep_##lower##_event_free)

G_END_DECLS
