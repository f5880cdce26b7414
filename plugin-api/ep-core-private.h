/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the daemon uses to build module contexts.  Not installed: modules
 * see only ep-context.h.
 */

#include "ep-context.h"
#include "ep-db.h"

G_BEGIN_DECLS

typedef struct {
	char *kind;
	guint16 default_port;
	EpContext *ctx; /* the module that provides it */
	EpListenerAcceptFunc func;
	gpointer user_data;
} EpListenerKind;

typedef struct {
	EpConfig *config;
	EpHookBus *hooks;
	EpEventBus *events;
	EpServiceRegistry *services;
	EpWorkerPool *workers;
	EpDb *db; /* (nullable): set once the database is reachable */
	EpTlsContext *tls; /* (nullable): [tls], loaded before privileges are dropped */
	EpResolver *resolver; /* (nullable): [dns], created before privileges are dropped */
	GPtrArray *listener_kinds; /* of EpListenerKind */
	GCancellable *stopping;    /* cancelled when the daemon starts draining */
	gboolean serving;          /* `serve`, not a data command of the CLI */
} EpCore;

EP_API EpCore    *ep_core_new (EpConfig *config);
EP_API void       ep_core_free (EpCore *core);
EP_API void       ep_core_set_config (EpCore *core, EpConfig *config);
EP_API EpListenerKind *ep_core_find_listener_kind (EpCore *core, const char *kind);

EP_API EpContext *ep_context_new (EpCore *core, const EpModuleDesc *desc);
EP_API void       ep_context_free (EpContext *ctx);
EP_API const EpModuleDesc *ep_context_get_desc (EpContext *ctx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpCore, ep_core_free)

G_END_DECLS
