/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-config.h"
#include "ep-core-private.h"
#include "ep-db.h"
#include "ep-store.h"

G_BEGIN_DECLS

#define EP_TYPE_DAEMON (ep_daemon_get_type ())
G_DECLARE_FINAL_TYPE (EpDaemon, ep_daemon, EP, DAEMON, GObject)

EpDaemon *ep_daemon_new (const char *config_path);
gboolean  ep_daemon_check (EpDaemon *self, GError **error);
gboolean  ep_daemon_serve (EpDaemon *self, GError **error);
gboolean  ep_daemon_open (EpDaemon *self, GError **error);
void      ep_daemon_close (EpDaemon *self);
EpConfig *ep_daemon_get_config (EpDaemon *self);
EpStore  *ep_daemon_get_store (EpDaemon *self);
EpDb     *ep_daemon_get_db (EpDaemon *self);
/* the buses, services and resolver the modules share, once ep_daemon_open() succeeded */
EpCore   *ep_daemon_get_core (EpDaemon *self);

G_END_DECLS
