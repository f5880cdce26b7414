/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The service registry: typed interfaces (the mailbox store, the account
 * directory, the DNS resolver, the outbound queue) looked up by the GType
 * of their interface.  A service is a GObject implementing that interface,
 * registered by the module that provides it during its init():
 *
 *   if (!ep_service_registry_register (reg, EP_TYPE_STORE, G_OBJECT (store), "store-pg", error))
 *           return FALSE;
 *   ...
 *   EpStore *store = EP_STORE (ep_service_registry_lookup (reg, EP_TYPE_STORE));
 *
 * An interface has one provider unless ep_service_registry_allow_multiple()
 * was called for it (account directories chain); its providers are then
 * kept in the order they were registered.  The registry keeps a reference
 * on every service for its whole life.  It is used from the main thread.
 */

#define EP_TYPE_SERVICE_REGISTRY (ep_service_registry_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpServiceRegistry, ep_service_registry, EP, SERVICE_REGISTRY, GObject)

EP_API EpServiceRegistry *ep_service_registry_new (void);
EP_API void               ep_service_registry_allow_multiple (EpServiceRegistry *self, GType iface);
EP_API gboolean           ep_service_registry_get_allows_multiple (EpServiceRegistry *self, GType iface);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_service_registry_register (EpServiceRegistry *self, GType iface, GObject *service, const char *module,
			      GError **error);

EP_API GObject    *ep_service_registry_lookup (EpServiceRegistry *self, GType iface);
EP_API GPtrArray  *ep_service_registry_lookup_all (EpServiceRegistry *self, GType iface);
EP_API const char *ep_service_registry_get_provider (EpServiceRegistry *self, GType iface, GObject *service);

G_END_DECLS
