/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "ep-core-private.h"

G_BEGIN_DECLS

#define EP_TYPE_MODULE_LOADER (ep_module_loader_get_type ())
G_DECLARE_FINAL_TYPE (EpModuleLoader, ep_module_loader, EP, MODULE_LOADER, GObject)

EpModuleLoader *ep_module_loader_new (const char *directory);
const char     *ep_module_loader_get_directory (EpModuleLoader *self);
gboolean        ep_module_loader_scan (EpModuleLoader *self, GError **error);
const char *const *ep_module_loader_get_installed (EpModuleLoader *self);
gboolean        ep_module_loader_load (EpModuleLoader *self, const char *const *selection, GError **error);
GPtrArray      *ep_module_loader_get_ordered (EpModuleLoader *self); /* of const EpModuleDesc* */
char          **ep_module_loader_get_loaded_names (EpModuleLoader *self);
gboolean        ep_module_loader_init_all (EpModuleLoader *self, EpCore *core, GError **error);
gboolean        ep_module_loader_start_all (EpModuleLoader *self, GError **error);
gboolean        ep_module_loader_reload_all (EpModuleLoader *self, GError **error);
void            ep_module_loader_shutdown_all (EpModuleLoader *self);

const char     *ep_module_loader_default_directory (void);

G_END_DECLS
