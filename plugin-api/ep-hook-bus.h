/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-verdict.h"

G_BEGIN_DECLS

/*
 * The hook bus: ordered, possibly asynchronous verdict chains.
 *
 * A hook point has a context struct of its own (see ep-hooks.h), and
 * modules register and run handlers through the typed wrappers that
 * EP_HOOK_POINT_DEFINE generates for it, e.g.
 *
 *   static void
 *   greylist_on_rcpt_to (EpHookCall *call, EpSmtpRcptToCtx *ctx, gpointer user_data)
 *   {
 *           ...
 *           ep_hook_call_continue (call);
 *   }
 *
 *   ep_hook_smtp_rcpt_to_connect (bus, "greylist", EP_HOOK_PRIORITY_DEFAULT,
 *                                 greylist_on_rcpt_to, self, NULL);
 *
 * A handler with the wrong context type does not compile.
 *
 * Handlers run one after the other in ascending priority (ties in the order
 * they were connected).  Each one answers exactly once, at once or later:
 * ep_hook_call_continue() passes on to the next handler, ep_hook_call_return()
 * with any other verdict ends the chain, ep_hook_call_fail() ends it with a
 * temporary failure.  To answer later, a handler takes a reference with
 * ep_hook_call_ref() and drops it after answering.  A call whose last
 * reference goes without an answer, a call answered twice and a failure
 * without an error are bugs of the module: the chain ends with a temporary
 * failure (451 4.3.0) and the log names the module.
 *
 * Every chain has a deadline.  When it passes, the chain ends with a
 * temporary failure whose reason names the module that did not answer, and
 * the cancellable of the call is cancelled.  An answer that comes after the
 * chain ended is ignored.
 *
 * The context pointer belongs to whoever runs the chain and lives until the
 * chain ends: a handler must not touch it after answering, nor once the
 * cancellable of its call is cancelled.
 *
 * Everything here runs on the thread that runs the chain; a handler that
 * hands work to another thread answers from a callback on that main
 * context.
 */

typedef enum {
	EP_HOOK_POINT_SMTP_CONNECT,
	EP_HOOK_POINT_SMTP_HELO,
	EP_HOOK_POINT_SMTP_MAIL_FROM,
	EP_HOOK_POINT_SMTP_RCPT_TO,
	EP_HOOK_POINT_SMTP_DATA,
	EP_HOOK_POINT_DELIVERY_LOCAL,
	EP_HOOK_POINT_SUBMISSION_MESSAGE,
	EP_HOOK_POINT_AUTH_VERIFY,
	EP_HOOK_POINT_DIRECTORY_RESOLVE,
	EP_HOOK_POINT_OUTBOUND_TLS_POLICY,
} EpHookPoint;

#define EP_HOOK_POINT_COUNT (EP_HOOK_POINT_OUTBOUND_TLS_POLICY + 1)

/* Handlers run in ascending priority. */
#define EP_HOOK_PRIORITY_EARLY   (-100)
#define EP_HOOK_PRIORITY_DEFAULT 0
#define EP_HOOK_PRIORITY_LATE    100

/* The deadline a chain gets when run with deadline_ms 0. */
#define EP_HOOK_DEADLINE_DEFAULT_MS 30000

EP_API const char *ep_hook_point_to_string (EpHookPoint point);
EP_API gboolean    ep_hook_point_from_string (const char *name, EpHookPoint *point);

/* One handler's part in one chain run. */
typedef struct _EpHookCall EpHookCall;

EP_API EpHookCall   *ep_hook_call_ref (EpHookCall *call);
EP_API void          ep_hook_call_unref (EpHookCall *call);
EP_API void          ep_hook_call_continue (EpHookCall *call);
EP_API void          ep_hook_call_return (EpHookCall *call, EpVerdict *verdict);
EP_API void          ep_hook_call_fail (EpHookCall *call, GError *error);
EP_API void          ep_hook_call_add_header (EpHookCall *call, const char *name, const char *value);
EP_API GCancellable *ep_hook_call_get_cancellable (EpHookCall *call);
EP_API const char   *ep_hook_call_get_module (EpHookCall *call);
EP_API EpHookPoint   ep_hook_call_get_point (EpHookCall *call);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpHookCall, ep_hook_call_unref)

/* A header a handler added to the message being processed. */
typedef struct {
	char *name;
	char *value;
} EpHookHeader;

/* What one handler answered, for `mail trace` and the log. */
typedef struct {
	char *module;
	EpVerdict *verdict; /* (nullable): what it answered, NULL when it failed */
	GError *error;      /* (nullable): why it failed */
	gint64 elapsed_us;  /* from the call to the answer */
} EpHookStep;

/* How a chain ended. */
typedef struct {
	EpHookPoint point;
	EpVerdict *verdict; /* never NULL; CONTINUE when every handler continued */
	char *module;       /* (nullable): the module that decided; NULL when all continued */
	GError *reason;     /* (nullable): why the chain failed closed; for the log, never for the client */
	GPtrArray *headers; /* of EpHookHeader, in the order they were added */
	GPtrArray *steps;   /* of EpHookStep, in calling order */
} EpHookResult;

EP_API void ep_hook_result_free (EpHookResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpHookResult, ep_hook_result_free)

typedef void (*EpHookFunc) (EpHookCall *call, gpointer ctx, gpointer user_data);
/* Calls @func, which is of the typed kind the marshaller knows about. */
typedef void (*EpHookMarshal) (GCallback func, EpHookCall *call, gpointer ctx, gpointer user_data);

#define EP_TYPE_HOOK_BUS (ep_hook_bus_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpHookBus, ep_hook_bus, EP, HOOK_BUS, GObject)

EP_API EpHookBus *ep_hook_bus_new (void);

/* Untyped: modules use the ep_hook_<point>_connect() wrappers instead. */
EP_API guint ep_hook_bus_connect (EpHookBus *self, EpHookPoint point, const char *module, gint priority,
				  EpHookFunc func, gpointer user_data, GDestroyNotify destroy);
EP_API guint ep_hook_bus_connect_marshal (EpHookBus *self, EpHookPoint point, const char *module, gint priority,
					  EpHookMarshal marshal, GCallback func, gpointer user_data,
					  GDestroyNotify destroy);
EP_API gboolean ep_hook_bus_disconnect (EpHookBus *self, guint handler_id);
EP_API guint    ep_hook_bus_get_n_handlers (EpHookBus *self, EpHookPoint point);

/* Untyped: callers use the ep_hook_<point>_run_async() wrappers instead. */
EP_API void ep_hook_bus_run_async (EpHookBus *self, EpHookPoint point, gpointer ctx, guint deadline_ms,
				   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpHookResult *
ep_hook_bus_run_finish (EpHookBus *self, GAsyncResult *result, GError **error);

/**
 * EP_HOOK_POINT_DEFINE:
 * @lower: the point in lower case, e.g. smtp_rcpt_to
 * @Camel: the point in camel case, e.g. SmtpRcptTo
 * @POINT: the #EpHookPoint, e.g. EP_HOOK_POINT_SMTP_RCPT_TO
 * @CtxType: the context struct, e.g. EpSmtpRcptToCtx
 *
 * Defines the typed face of a hook point:
 *
 *   typedef void (*EpHookSmtpRcptToFunc) (EpHookCall *call, EpSmtpRcptToCtx *ctx, gpointer user_data);
 *   guint ep_hook_smtp_rcpt_to_connect (EpHookBus *bus, const char *module, gint priority,
 *                                       EpHookSmtpRcptToFunc func, gpointer user_data,
 *                                       GDestroyNotify destroy);
 *   void ep_hook_smtp_rcpt_to_run_async (EpHookBus *bus, EpSmtpRcptToCtx *ctx, guint deadline_ms,
 *                                        GCancellable *cancellable, GAsyncReadyCallback callback,
 *                                        gpointer user_data);
 *   EpHookResult *ep_hook_smtp_rcpt_to_run_finish (EpHookBus *bus, GAsyncResult *result, GError **error);
 *
 * The handler is stored as a #GCallback and cast back to its own type
 * before it is called, so no call goes through a mismatched pointer.
 */
#define EP_HOOK_POINT_DEFINE(lower, Camel, POINT, CtxType)                                                  \
	typedef void (*EpHook##Camel##Func) (EpHookCall * call, CtxType * ctx, gpointer user_data);         \
	static inline void ep_hook_##lower##_marshal (GCallback func, EpHookCall *call, gpointer ctx,       \
						      gpointer user_data)                                   \
	{                                                                                                   \
		((EpHook##Camel##Func) func) (call, (CtxType *) ctx, user_data);                            \
	}                                                                                                   \
	static inline guint ep_hook_##lower##_connect (EpHookBus *bus, const char *module, gint priority,  \
						       EpHook##Camel##Func func, gpointer user_data,        \
						       GDestroyNotify destroy)                              \
	{                                                                                                   \
		return ep_hook_bus_connect_marshal (bus, POINT, module, priority, ep_hook_##lower##_marshal, \
						    (GCallback) func, user_data, destroy);                  \
	}                                                                                                   \
	static inline void ep_hook_##lower##_run_async (EpHookBus *bus, CtxType *ctx, guint deadline_ms,    \
							GCancellable *cancellable,                          \
							GAsyncReadyCallback callback, gpointer user_data)   \
	{                                                                                                   \
		ep_hook_bus_run_async (bus, POINT, ctx, deadline_ms, cancellable, callback, user_data);     \
	}                                                                                                   \
	static inline G_GNUC_WARN_UNUSED_RESULT EpHookResult *ep_hook_##lower##_run_finish (                \
		EpHookBus *bus, GAsyncResult *result, GError **error)                                       \
	{                                                                                                   \
		return ep_hook_bus_run_finish (bus, result, error);                                         \
	}

G_END_DECLS
