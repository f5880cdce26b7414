/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A module built for another module ABI: the loader must refuse it
 * without reading past abi_version. */
#include "epistle.h"

static gboolean
bad_abi_init (EpContext *ctx, GError **error)
{
	g_error ("the loader initialised a module built for another ABI");
	return TRUE;
}

EP_MODULE_EXPORT const EpModuleDesc ep_module_descriptor = {
	.abi_version = EP_MODULE_ABI_VERSION + 998,
	.struct_size = sizeof (EpModuleDesc),
	.name = "test-bad-abi",
	.version = "0",
	.description = "built for a module ABI this daemon does not have",
	.init = bad_abi_init,
};
