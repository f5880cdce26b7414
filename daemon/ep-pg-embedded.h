/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * The embedded PostgreSQL: with no `[database] url`, the daemon runs a
 * private cluster of its own under <data_dir>/postgresql:
 *
 *   data/   the cluster (initdb on first start: UTF8, locale C.UTF-8,
 *           data checksums, trust on the Unix socket, nothing over TCP)
 *   run/    its Unix socket (mode 0700: only the service user gets in)
 *   log/    its logs: startup.log, then postgresql-<weekday>.log
 *
 * The server is `postgres -D data` spawned as a child of the daemon, in a
 * session of its own, with listen_addresses='' and fsync on.  It must not
 * run as root: the daemon starts it after dropping privileges, so the
 * cluster belongs to the service user.  Tests running as root name the
 * user to run it as with ep_pg_embedded_set_run_as().
 *
 * A server left running by a daemon killed with SIGKILL is stopped with a
 * fast shutdown (it also shuts itself down when it sees its parent die)
 * and a new one is started: the daemon always owns the server it talks
 * to.  A postmaster.pid naming a process that is not this cluster's
 * server (a pid reused after a reboot) is removed; one naming a dead
 * process is left to PostgreSQL, which checks its shared memory itself.
 */

#define EP_PG_EMBEDDED_DATABASE "epistle"

#define EP_TYPE_PG_EMBEDDED (ep_pg_embedded_get_type ())
G_DECLARE_FINAL_TYPE (EpPgEmbedded, ep_pg_embedded, EP, PG_EMBEDDED, GObject)

EpPgEmbedded *ep_pg_embedded_new (const char *data_dir);

void ep_pg_embedded_set_run_as (EpPgEmbedded *self, uid_t uid, gid_t gid);
void ep_pg_embedded_set_bindir (EpPgEmbedded *self, const char *bindir);
void ep_pg_embedded_set_timeouts (EpPgEmbedded *self, guint start_s, guint stop_s);

const char *ep_pg_embedded_get_conninfo (EpPgEmbedded *self);
const char *ep_pg_embedded_get_cluster_dir (EpPgEmbedded *self);
const char *ep_pg_embedded_get_socket_dir (EpPgEmbedded *self);
GPid        ep_pg_embedded_get_pid (EpPgEmbedded *self);

void     ep_pg_embedded_start_async (EpPgEmbedded *self, GCancellable *cancellable, GAsyncReadyCallback callback,
				     gpointer user_data);
gboolean ep_pg_embedded_start_finish (EpPgEmbedded *self, GAsyncResult *result, GError **error);
void     ep_pg_embedded_stop_async (EpPgEmbedded *self, GAsyncReadyCallback callback, gpointer user_data);
gboolean ep_pg_embedded_stop_finish (EpPgEmbedded *self, GAsyncResult *result, GError **error);

/* the same, iterating the thread-default main context until done: for
 * start-up and shut-down, before and after the main loop runs */
gboolean ep_pg_embedded_start_sync (EpPgEmbedded *self, GError **error);
gboolean ep_pg_embedded_stop_sync (EpPgEmbedded *self, GError **error);

char *ep_pg_embedded_find_bindir (GError **error);

G_END_DECLS
