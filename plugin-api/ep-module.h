/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"
#include "ep-config-schema.h"

G_BEGIN_DECLS

/*
 * The module ABI.  A module is a shared object that exports exactly one
 * symbol, EP_MODULE_SYMBOL, a constant EpModuleDesc.  The loader reads
 * abi_version before anything else and refuses a module built for another
 * ABI without touching the rest of the structure.
 *
 * Bump EP_MODULE_ABI_VERSION whenever this structure, a hook context, an
 * event payload or any other type shared with modules changes layout.
 */
#define EP_MODULE_ABI_VERSION 7
#define EP_MODULE_SYMBOL      "ep_module_descriptor"

typedef struct _EpContext EpContext;

typedef struct {
	guint32 abi_version; /* EP_MODULE_ABI_VERSION when the module was built */
	guint32 struct_size; /* sizeof (EpModuleDesc) when the module was built */
	const char *name;    /* [a-z0-9-]+, equal to the file stem */
	const char *version;
	const char *description; /* one line */
	/* keys of the module's [<name>] section; NULL when it has none */
	const EpConfigKey *config_schema;
	/* capabilities, NULL-terminated: "service:store", "hook:auth.verify",
	 * "listener:smtp"; a required capability must be provided by another
	 * selected module, which is then initialised first */
	const char *const *provides;
	const char *const *requires;
	/* ordering hints: module names, NULL-terminated */
	const char *const *run_after;
	const char *const *run_before;
	/* registers handlers, subscribers, services and listener kinds;
	 * nothing else runs at load time */
	gboolean (*init) (EpContext *ctx, GError **error);
	/* re-applies the configuration after a reload; may be NULL */
	gboolean (*reload) (EpContext *ctx, GError **error);
	/* releases what init set up; may be NULL */
	void (*shutdown) (EpContext *ctx);
	/* `serve` only, once privileges are dropped and the database is ready
	 * (migrations applied), before the daemon says it is ready: the
	 * module may start its I/O here; may be NULL */
	gboolean (*start) (EpContext *ctx, GError **error);
} EpModuleDesc;

#define EP_STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/**
 * EP_MODULE_DEFINE:
 *
 * Defines the descriptor of a module:
 *
 *   EP_MODULE_DEFINE (
 *       .name = "greylist",
 *       .version = "1.0",
 *       .description = "Greylisting of unknown senders",
 *       .init = greylist_init,
 *   );
 */
#define EP_MODULE_DEFINE(...)                                                  \
	EP_MODULE_EXPORT const EpModuleDesc ep_module_descriptor = {           \
		.abi_version = EP_MODULE_ABI_VERSION,                          \
		.struct_size = sizeof (EpModuleDesc),                          \
		__VA_ARGS__                                                    \
	}

G_END_DECLS
