/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-db.h"

G_BEGIN_DECLS

/*
 * Schema migrations.  Each module ships ordered SQL files named
 * NNN_name.sql (001_init.sql, 002_add_index.sql, …: numbered from 1 with
 * no gap).  At start-up the daemon adds every module's directory to one
 * migrator and runs it once: under one advisory lock, held for the whole
 * run, it applies the files not yet applied, in order, each in its own
 * transaction together with its row in
 *
 *   epistle_schema_versions (module text, version int, name text,
 *                            applied_at timestamptz)
 *
 * so that several daemons starting at once on one database apply each
 * file exactly once.  A database whose schema of a module is newer than
 * the newest file of that module is refused: an older epistle must not
 * run on it.
 *
 * A migration file must not contain transaction control (BEGIN, COMMIT)
 * nor statements that cannot run in a transaction (CREATE INDEX
 * CONCURRENTLY, VACUUM).
 */

#define EP_TYPE_DB_MIGRATOR (ep_db_migrator_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpDbMigrator, ep_db_migrator, EP, DB_MIGRATOR, GObject)

EP_API EpDbMigrator *ep_db_migrator_new (EpDb *db);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_migrator_add_module (EpDbMigrator *self, const char *module, const char *dir, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_migrator_add_module_from_resource (EpDbMigrator *self, const char *module, const char *path, GError **error);

EP_API void ep_db_migrator_run_async (EpDbMigrator *self, GCancellable *cancellable, GAsyncReadyCallback callback,
				      gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_migrator_run_finish (EpDbMigrator *self, GAsyncResult *result, GError **error);

/* migrations the last run applied */
EP_API guint ep_db_migrator_get_n_applied (EpDbMigrator *self);

/* the version of @module in the database, as the last run found or left it */
EP_API guint ep_db_migrator_get_version (EpDbMigrator *self, const char *module);

/* one module alone */
EP_API void ep_db_migrate_async (EpDb *db, const char *module, const char *dir, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_db_migrate_finish (EpDb *db, GAsyncResult *result, GError **error);

G_END_DECLS
