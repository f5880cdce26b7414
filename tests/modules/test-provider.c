/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Provides a service (a GListModel holding one string) so that the loader
 * can prove that a provider is initialised before the modules that
 * require it, whatever their names. */
#include "epistle.h"

static gboolean
provider_init (EpContext *ctx, GError **error)
{
	g_autoptr(GListStore) store = g_list_store_new (G_TYPE_OBJECT);
	g_autoptr(GObject) item = g_object_new (G_TYPE_OBJECT, NULL);

	g_object_set_data_full (item, "greeting", g_strdup ("hello from test-provider"), g_free);
	g_list_store_append (store, item);
	return ep_service_registry_register (ep_context_get_services (ctx), G_TYPE_LIST_MODEL, G_OBJECT (store),
					    ep_context_get_module_name (ctx), error);
}

EP_MODULE_DEFINE (
	.name = "test-provider",
	.version = "1.0",
	.description = "test module that provides a service",
	.provides = EP_STRV ("service:test-greeter"),
	.init = provider_init,
);
