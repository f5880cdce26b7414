/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-service-registry.h"

typedef struct {
	GObject *service;
	char *module;
} EpServiceEntry;

/* everything about one interface */
typedef struct {
	gboolean multiple;
	GPtrArray *entries; /* of EpServiceEntry, in registration order */
} EpServiceSlot;

struct _EpServiceRegistry {
	GObject parent_instance;
	GHashTable *slots; /* GType -> EpServiceSlot */
};

G_DEFINE_TYPE (EpServiceRegistry, ep_service_registry, G_TYPE_OBJECT)

static void
ep_service_entry_free (EpServiceEntry *entry)
{
	g_object_unref (entry->service);
	g_free (entry->module);
	g_free (entry);
}

static void
ep_service_slot_free (EpServiceSlot *slot)
{
	g_ptr_array_unref (slot->entries);
	g_free (slot);
}

static EpServiceSlot *
ep_service_registry_get_slot (EpServiceRegistry *self, GType iface, gboolean create)
{
	EpServiceSlot *slot = g_hash_table_lookup (self->slots, GSIZE_TO_POINTER (iface));

	if (slot == NULL && create) {
		slot = g_new0 (EpServiceSlot, 1);
		slot->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_service_entry_free);
		g_hash_table_insert (self->slots, GSIZE_TO_POINTER (iface), slot);
	}
	return slot;
}

/**
 * ep_service_registry_allow_multiple:
 * @self: the registry
 * @iface: an interface type
 *
 * Lets several modules provide @iface, e.g. account directories that are
 * asked in turn.  Called by whoever defines the interface, before modules
 * register providers.
 */
void
ep_service_registry_allow_multiple (EpServiceRegistry *self, GType iface)
{
	g_return_if_fail (EP_IS_SERVICE_REGISTRY (self));
	g_return_if_fail (G_TYPE_IS_INTERFACE (iface));

	ep_service_registry_get_slot (self, iface, TRUE)->multiple = TRUE;
}

gboolean
ep_service_registry_get_allows_multiple (EpServiceRegistry *self, GType iface)
{
	EpServiceSlot *slot;

	g_return_val_if_fail (EP_IS_SERVICE_REGISTRY (self), FALSE);

	slot = ep_service_registry_get_slot (self, iface, FALSE);
	return slot != NULL && slot->multiple;
}

/**
 * ep_service_registry_register:
 * @self: the registry
 * @iface: the interface type the service provides
 * @service: the service, a GObject implementing @iface; a reference is taken
 * @module: the name of the module providing it
 *
 * Registers a service.  Refuses a type that is not an interface, an object
 * that does not implement @iface, and a second provider of an interface
 * that takes one.
 *
 * Returns: %TRUE if the service was registered
 */
gboolean
ep_service_registry_register (EpServiceRegistry *self, GType iface, GObject *service, const char *module,
			      GError **error)
{
	EpServiceSlot *slot;
	EpServiceEntry *entry;

	g_return_val_if_fail (EP_IS_SERVICE_REGISTRY (self), FALSE);
	g_return_val_if_fail (G_IS_OBJECT (service), FALSE);
	g_return_val_if_fail (module != NULL, FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

	if (!G_TYPE_IS_INTERFACE (iface)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "module %s registers a service as %s, which is not an interface", module,
			     g_type_name (iface) != NULL ? g_type_name (iface) : "an invalid type");
		return FALSE;
	}
	if (!g_type_is_a (G_OBJECT_TYPE (service), iface)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "module %s registers a %s as %s, which it does not implement", module,
			     G_OBJECT_TYPE_NAME (service), g_type_name (iface));
		return FALSE;
	}

	slot = ep_service_registry_get_slot (self, iface, TRUE);
	for (guint i = 0; i < slot->entries->len; i++) {
		EpServiceEntry *other = g_ptr_array_index (slot->entries, i);
		if (other->service == service) {
			g_set_error (error, EP_ERROR, EP_ERROR_EXISTS,
				     "module %s registers as %s a service that module %s registered already", module,
				     g_type_name (iface), other->module);
			return FALSE;
		}
	}
	if (!slot->multiple && slot->entries->len > 0) {
		EpServiceEntry *other = g_ptr_array_index (slot->entries, 0);
		g_set_error (error, EP_ERROR, EP_ERROR_EXISTS,
			     "module %s cannot provide %s: module %s already does, and there can be only one",
			     module, g_type_name (iface), other->module);
		return FALSE;
	}

	entry = g_new0 (EpServiceEntry, 1);
	entry->service = g_object_ref (service);
	entry->module = g_strdup (module);
	g_ptr_array_add (slot->entries, entry);
	return TRUE;
}

/**
 * ep_service_registry_lookup:
 * @self: the registry
 * @iface: an interface type
 *
 * Returns: (transfer none) (nullable): the provider of @iface, the first
 *   one registered if there are several, or %NULL
 */
GObject *
ep_service_registry_lookup (EpServiceRegistry *self, GType iface)
{
	EpServiceSlot *slot;

	g_return_val_if_fail (EP_IS_SERVICE_REGISTRY (self), NULL);

	slot = ep_service_registry_get_slot (self, iface, FALSE);
	if (slot == NULL || slot->entries->len == 0)
		return NULL;
	return ((EpServiceEntry *) g_ptr_array_index (slot->entries, 0))->service;
}

/**
 * ep_service_registry_lookup_all:
 * @self: the registry
 * @iface: an interface type
 *
 * Returns: (transfer full) (element-type GObject): the providers of @iface
 *   in registration order; empty when there is none
 */
GPtrArray *
ep_service_registry_lookup_all (EpServiceRegistry *self, GType iface)
{
	EpServiceSlot *slot;
	GPtrArray *services;

	g_return_val_if_fail (EP_IS_SERVICE_REGISTRY (self), NULL);

	services = g_ptr_array_new_with_free_func (g_object_unref);
	slot = ep_service_registry_get_slot (self, iface, FALSE);
	if (slot == NULL)
		return services;
	for (guint i = 0; i < slot->entries->len; i++) {
		EpServiceEntry *entry = g_ptr_array_index (slot->entries, i);
		g_ptr_array_add (services, g_object_ref (entry->service));
	}
	return services;
}

/**
 * ep_service_registry_get_provider:
 * @self: the registry
 * @iface: an interface type
 * @service: (nullable): one of its services, or %NULL for the first
 *
 * Returns: (nullable): the name of the module that registered @service as
 *   @iface, or %NULL if it did not
 */
const char *
ep_service_registry_get_provider (EpServiceRegistry *self, GType iface, GObject *service)
{
	EpServiceSlot *slot;

	g_return_val_if_fail (EP_IS_SERVICE_REGISTRY (self), NULL);

	slot = ep_service_registry_get_slot (self, iface, FALSE);
	if (slot == NULL)
		return NULL;
	for (guint i = 0; i < slot->entries->len; i++) {
		EpServiceEntry *entry = g_ptr_array_index (slot->entries, i);
		if (service == NULL || entry->service == service)
			return entry->module;
	}
	return NULL;
}

static void
ep_service_registry_finalize (GObject *object)
{
	EpServiceRegistry *self = EP_SERVICE_REGISTRY (object);

	g_hash_table_unref (self->slots);
	G_OBJECT_CLASS (ep_service_registry_parent_class)->finalize (object);
}

static void
ep_service_registry_class_init (EpServiceRegistryClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->finalize = ep_service_registry_finalize;
}

static void
ep_service_registry_init (EpServiceRegistry *self)
{
	self->slots =
		g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) ep_service_slot_free);
}

/**
 * ep_service_registry_new:
 *
 * Returns: (transfer full): an empty registry
 */
EpServiceRegistry *
ep_service_registry_new (void)
{
	return g_object_new (EP_TYPE_SERVICE_REGISTRY, NULL);
}
