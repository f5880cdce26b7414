/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-config.h"
#include "ep-db.h"
#include "ep-event-bus.h"
#include "ep-hook-bus.h"
#include "ep-module.h"
#include "ep-resolver.h"
#include "ep-service-registry.h"
#include "ep-tls.h"
#include "ep-worker-pool.h"

G_BEGIN_DECLS

/*
 * What a module's init() receives: the module's own handle on the daemon.
 * Through it a module registers hook handlers (on the hook bus), event
 * subscribers (on the event bus), services, and listener kinds, and reads
 * its configuration section.  The pointers returned are owned by the daemon
 * and live as long as the context.
 */

/**
 * EpListenerAcceptFunc:
 * @ctx: the context of the module that registered the kind
 * @connection: (transfer none): the accepted connection
 * @listener: the listener's configuration
 *
 * Called on the main loop for every connection accepted on a listener of
 * the kind.  The function takes a reference if it keeps the connection.
 */
typedef void (*EpListenerAcceptFunc) (EpContext *ctx, GSocketConnection *connection,
				      const EpConfigListener *listener, gpointer user_data);

EP_API const char        *ep_context_get_module_name (EpContext *ctx);
EP_API EpConfig          *ep_context_get_config (EpContext *ctx);
EP_API EpTomlValue       *ep_context_get_section (EpContext *ctx);
EP_API EpHookBus         *ep_context_get_hook_bus (EpContext *ctx);
EP_API EpEventBus        *ep_context_get_event_bus (EpContext *ctx);
EP_API EpServiceRegistry *ep_context_get_services (EpContext *ctx);
EP_API EpWorkerPool      *ep_context_get_worker_pool (EpContext *ctx);
EP_API EpDb              *ep_context_get_db (EpContext *ctx);
/* The server TLS material of [tls] / [[tls.sni]]; NULL when none is configured
 * (and in config-check before it is loaded).  Valid from start() on. */
EP_API EpTlsContext      *ep_context_get_tls (EpContext *ctx);
/* The DNS resolver of [dns], shared by every module; NULL in config-check
 * before it is created.  Valid from start() on. */
EP_API EpResolver        *ep_context_get_resolver (EpContext *ctx);
/* TRUE in `mail serve`; FALSE in the CLI's data commands (`mail queue`,
 * `mail export`…), which start modules too but must not begin background
 * work such as delivering the queue. */
EP_API gboolean           ep_context_is_serving (EpContext *ctx);
/* Cancelled when the daemon starts draining for a stop. */
EP_API GCancellable      *ep_context_get_stopping (EpContext *ctx);

EP_API void     ep_context_set_data (EpContext *ctx, gpointer data, GDestroyNotify destroy);
EP_API gpointer ep_context_get_data (EpContext *ctx);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_context_add_listener_kind (EpContext *ctx, const char *kind, guint16 default_port, EpListenerAcceptFunc func,
			      gpointer user_data, GError **error);

G_END_DECLS
