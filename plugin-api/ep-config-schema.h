/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"
#include "ep-toml.h"

G_BEGIN_DECLS

/*
 * The schema of a configuration section.  The core declares its own keys;
 * each module declares the keys of its `[<module-name>]` section in its
 * descriptor.  A table of EpConfigKey ends with an entry whose name is NULL.
 */

typedef enum {
	EP_CONFIG_TYPE_STRING,
	EP_CONFIG_TYPE_INTEGER,
	EP_CONFIG_TYPE_BOOLEAN,
	EP_CONFIG_TYPE_FLOAT,
	EP_CONFIG_TYPE_STRING_ARRAY,
	EP_CONFIG_TYPE_TABLE,       /* keys described by @children */
	EP_CONFIG_TYPE_TABLE_ARRAY, /* [[name]]: each element described by @children */
} EpConfigType;

typedef enum {
	EP_CONFIG_KEY_NONE = 0,
	EP_CONFIG_KEY_REQUIRED = 1 << 0,
	EP_CONFIG_KEY_SECRET = 1 << 1,    /* never printed back */
	EP_CONFIG_KEY_NON_EMPTY = 1 << 2, /* strings and arrays: at least one */
} EpConfigKeyFlags;

/**
 * EpConfigCheckFunc:
 * @value: the value, already known to be of the declared type
 * @error: set with the reason only (the caller adds file, line and key)
 *
 * A check on one value beyond its type and range.
 */
typedef gboolean (*EpConfigCheckFunc) (const EpTomlValue *value, GError **error);

typedef struct _EpConfigKey EpConfigKey;
struct _EpConfigKey {
	const char *name;
	EpConfigType type;
	EpConfigKeyFlags flags;
	/* integers: inclusive range; strings and arrays: length range
	 * (max 0 means no limit) */
	gint64 min;
	gint64 max;
	EpConfigCheckFunc check;
	const EpConfigKey *children;
	const char *summary;
};

/* Checks shared by the core and the modules. */
EP_API gboolean ep_config_check_fqdn (const EpTomlValue *value, GError **error);
EP_API gboolean ep_config_check_domain (const EpTomlValue *value, GError **error);
EP_API gboolean ep_config_check_absolute_path (const EpTomlValue *value, GError **error);
EP_API gboolean ep_config_check_ip_address (const EpTomlValue *value, GError **error);
EP_API gboolean ep_config_check_host_at_port (const EpTomlValue *value, GError **error);
EP_API gboolean ep_config_check_user_name (const EpTomlValue *value, GError **error);

G_END_DECLS
