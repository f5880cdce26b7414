/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define EP_DEFAULT_SERVICE_USER "epistle"

typedef struct {
	char *user;
	uid_t uid;
	gid_t gid;
	gboolean need_drop; /* running as root */
} EpPrivileges;

gboolean ep_privileges_resolve (const char *user, const char *group, EpPrivileges *out, GError **error);
gboolean ep_privileges_drop (const EpPrivileges *priv, GError **error);
void     ep_privileges_clear (EpPrivileges *priv);

G_END_DECLS
