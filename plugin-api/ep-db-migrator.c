/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-db-migrator.h"
#include "ep-db-private.h"
#include "ep-log.h"

/* the advisory lock every epistle takes to migrate: "epistle" in ASCII */
#define EP_DB_MIGRATOR_LOCK "28552570858663013"

#define EP_DB_MIGRATOR_MAX_VERSION 99999

typedef struct {
	guint version;
	char *name; /* the file name */
	char *sql;
} EpDbMigration;

typedef struct {
	char *module;
	char *dir;
	GPtrArray *migrations; /* EpDbMigration: [i] is version i + 1 */
	guint current;	       /* the version the database is at */
} EpDbMigrationModule;

struct _EpDbMigrator {
	GObject parent_instance;
	EpDb *db;
	GPtrArray *modules; /* EpDbMigrationModule */
	guint n_applied;
	/* while running */
	GTask *task;
	EpDbConn *conn;
	guint module_index;
};

G_DEFINE_TYPE (EpDbMigrator, ep_db_migrator, G_TYPE_OBJECT)

static void ep_db_migrator_next_module (EpDbMigrator *self);
static void ep_db_migrator_next_migration (EpDbMigrator *self);

static void
ep_db_migration_free (EpDbMigration *m)
{
	g_free (m->name);
	g_free (m->sql);
	g_free (m);
}

static void
ep_db_migration_module_free (EpDbMigrationModule *m)
{
	g_free (m->module);
	g_free (m->dir);
	g_ptr_array_unref (m->migrations);
	g_free (m);
}

static void
ep_db_migrator_finalize (GObject *object)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (object);

	g_ptr_array_unref (self->modules);
	g_clear_object (&self->db);
	G_OBJECT_CLASS (ep_db_migrator_parent_class)->finalize (object);
}

static void
ep_db_migrator_class_init (EpDbMigratorClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_db_migrator_finalize;
}

static void
ep_db_migrator_init (EpDbMigrator *self)
{
	self->modules = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_migration_module_free);
}

EpDbMigrator *
ep_db_migrator_new (EpDb *db)
{
	EpDbMigrator *self;

	g_return_val_if_fail (EP_IS_DB (db), NULL);
	self = g_object_new (EP_TYPE_DB_MIGRATOR, NULL);
	self->db = g_object_ref (db);
	return self;
}

static gboolean
ep_db_migrator_is_valid_module (const char *module)
{
	gsize len = strlen (module);

	if (len == 0 || len > 63 || !g_ascii_isalnum (module[0]))
		return FALSE;
	for (const char *p = module; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* NNN_name.sql: returns the version, or 0 when the name does not fit */
static guint
ep_db_migrator_parse_name (const char *name)
{
	const char *p = name;
	guint64 version = 0;

	if (!g_ascii_isdigit (*p))
		return 0;
	while (g_ascii_isdigit (*p)) {
		version = version * 10 + (guint64) (*p - '0');
		if (version > EP_DB_MIGRATOR_MAX_VERSION)
			return 0;
		p++;
	}
	if (*p++ != '_')
		return 0;
	if (!g_ascii_isalnum (*p))
		return 0;
	for (; *p != '\0' && g_strcmp0 (p, ".sql") != 0; p++) {
		if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
			return 0;
	}
	return g_strcmp0 (p, ".sql") == 0 ? (guint) version : 0;
}

static gint
ep_db_migration_compare (gconstpointer a, gconstpointer b)
{
	const EpDbMigration *ma = *(EpDbMigration *const *) a;
	const EpDbMigration *mb = *(EpDbMigration *const *) b;

	return ma->version < mb->version ? -1 : ma->version > mb->version ? 1 : 0;
}

/* Registers @module's migrations, given as file names and texts read from
 * @where (a directory or a resource path, for messages). */
static gboolean
ep_db_migrator_add_texts (EpDbMigrator *self, const char *module, const char *where, GPtrArray *names,
			  GPtrArray *texts, GError **error)
{
	g_autoptr(GPtrArray) migrations = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_migration_free);
	EpDbMigrationModule *m;

	if (!ep_db_migrator_is_valid_module (module)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "'%s' is not a valid module name for migrations",
			     module);
		return FALSE;
	}
	for (guint i = 0; i < self->modules->len; i++) {
		if (g_strcmp0 (((EpDbMigrationModule *) g_ptr_array_index (self->modules, i))->module, module) == 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_EXISTS, "the migrations of module %s were already added",
				     module);
			return FALSE;
		}
	}
	for (guint i = 0; i < names->len; i++) {
		const char *entry = g_ptr_array_index (names, i);
		GBytes *text = g_ptr_array_index (texts, i);
		gsize len = 0;
		const char *sql = g_bytes_get_data (text, &len);
		guint version = ep_db_migrator_parse_name (entry);
		EpDbMigration *mig;

		if (version == 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "%s/%s: a migration is named NNN_name.sql, with NNN from 1 and a name of letters, "
				     "digits, '_' and '-'",
				     where, entry);
			return FALSE;
		}
		if (sql == NULL || memchr (sql, '\0', len) != NULL || !g_utf8_validate (sql, (gssize) len, NULL)) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s/%s: not UTF-8 text", where, entry);
			return FALSE;
		}
		mig = g_new0 (EpDbMigration, 1);
		mig->version = version;
		mig->name = g_strdup (entry);
		mig->sql = g_strndup (sql, len);
		g_ptr_array_add (migrations, mig);
	}
	g_ptr_array_sort (migrations, ep_db_migration_compare);
	for (guint i = 0; i < migrations->len; i++) {
		EpDbMigration *mig = g_ptr_array_index (migrations, i);
		if (mig->version == i + 1)
			continue;
		if (mig->version == i) {
			EpDbMigration *prev = g_ptr_array_index (migrations, i - 1);
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: %s and %s have the same number", where,
				     prev->name, mig->name);
		} else {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "%s: migration %u is missing: the files are numbered from 1 with no gap (next is "
				     "%s)",
				     where, i + 1, mig->name);
		}
		return FALSE;
	}
	m = g_new0 (EpDbMigrationModule, 1);
	m->module = g_strdup (module);
	m->dir = g_strdup (where);
	m->migrations = g_steal_pointer (&migrations);
	g_ptr_array_add (self->modules, m);
	return TRUE;
}

/**
 * ep_db_migrator_add_module:
 * @module: the module's name
 * @dir: the directory of its NNN_name.sql files
 *
 * Reads the migrations of @module; files not ending in .sql are ignored.
 */
gboolean
ep_db_migrator_add_module (EpDbMigrator *self, const char *module, const char *dir, GError **error)
{
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
	const char *entry;

	g_return_val_if_fail (EP_IS_DB_MIGRATOR (self), FALSE);
	g_return_val_if_fail (module != NULL && dir != NULL, FALSE);
	g_return_val_if_fail (self->task == NULL, FALSE);

	d = g_dir_open (dir, 0, &error_local);
	if (d == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "migrations of module %s: %s", module,
			     error_local->message);
		return FALSE;
	}
	while ((entry = g_dir_read_name (d)) != NULL) {
		g_autofree char *path = NULL;
		char *sql = NULL;
		gsize len = 0;

		if (entry[0] == '.' || !g_str_has_suffix (entry, ".sql"))
			continue;
		path = g_build_filename (dir, entry, NULL);
		if (!g_file_get_contents (path, &sql, &len, &error_local)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "migrations of module %s: %s", module,
				     error_local->message);
			return FALSE;
		}
		g_ptr_array_add (names, g_strdup (entry));
		g_ptr_array_add (texts, g_bytes_new_take (sql, len));
	}
	return ep_db_migrator_add_texts (self, module, dir, names, texts, error);
}

/**
 * ep_db_migrator_add_module_from_resource:
 * @module: the module's name
 * @path: a GResource directory holding its NNN_name.sql files, as
 *   modules embed them (/org/epistle/migrations/<module>)
 */
gboolean
ep_db_migrator_add_module_from_resource (EpDbMigrator *self, const char *module, const char *path,
					 GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) children = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

	g_return_val_if_fail (EP_IS_DB_MIGRATOR (self), FALSE);
	g_return_val_if_fail (module != NULL && path != NULL, FALSE);
	g_return_val_if_fail (self->task == NULL, FALSE);

	children = g_resources_enumerate_children (path, G_RESOURCE_LOOKUP_FLAGS_NONE, &error_local);
	if (children == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "migrations of module %s: %s", module,
			     error_local->message);
		return FALSE;
	}
	for (guint i = 0; children[i] != NULL; i++) {
		g_autofree char *child = g_strdup_printf ("%s/%s", path, children[i]);
		GBytes *text;

		if (!g_str_has_suffix (children[i], ".sql"))
			continue;
		text = g_resources_lookup_data (child, G_RESOURCE_LOOKUP_FLAGS_NONE, &error_local);
		if (text == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "migrations of module %s: %s", module,
				     error_local->message);
			return FALSE;
		}
		g_ptr_array_add (names, g_strdup (children[i]));
		g_ptr_array_add (texts, text);
	}
	return ep_db_migrator_add_texts (self, module, path, names, texts, error);
}

guint
ep_db_migrator_get_n_applied (EpDbMigrator *self)
{
	g_return_val_if_fail (EP_IS_DB_MIGRATOR (self), 0);
	return self->n_applied;
}

guint
ep_db_migrator_get_version (EpDbMigrator *self, const char *module)
{
	g_return_val_if_fail (EP_IS_DB_MIGRATOR (self), 0);
	for (guint i = 0; i < self->modules->len; i++) {
		EpDbMigrationModule *m = g_ptr_array_index (self->modules, i);
		if (g_strcmp0 (m->module, module) == 0)
			return m->current;
	}
	return 0;
}

/* ---- the run ------------------------------------------------------------ */

/* Ends the run.  On failure the connection is closed, not reused: that
 * rolls back a migration half done and releases the lock, whatever state
 * the session was left in. */
static void
ep_db_migrator_finish_run (EpDbMigrator *self, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer (&self->task);

	if (self->conn != NULL) {
		ep_db_release (self->db, self->conn, error != NULL);
		g_clear_pointer (&self->conn, ep_db_conn_unref);
	}
	if (error != NULL)
		g_task_return_error (task, error);
	else
		g_task_return_boolean (task, TRUE);
}

static void
ep_db_migrator_send (EpDbMigrator *self, const char *sql, EpDbParams *params, GAsyncReadyCallback next)
{
	g_autoptr(GPtrArray) stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);

	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, sql, params));
	/* no timeout: the lock may wait for another daemon's migrations,
	 * and a migration may rewrite a large table */
	ep_db_run_on_async (self->db, self->conn, stmts, NULL, 0, self, g_task_get_cancellable (self->task), next,
			    NULL);
}

static void
ep_db_migrator_on_unlocked (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	if (results == NULL) {
		g_prefix_error (&error, "database migrations: ");
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	ep_db_migrator_finish_run (self, NULL);
}

static void
ep_db_migrator_on_recorded (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	EpDbMigrationModule *m = g_ptr_array_index (self->modules, self->module_index);
	EpDbMigration *mig = g_ptr_array_index (m->migrations, m->current);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	if (results == NULL) {
		g_prefix_error (&error, "module %s: migration %s: ", m->module, mig->name);
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	if (results->len != 2 || g_strcmp0 (ep_db_result_get_command (g_ptr_array_index (results, 1)), "COMMIT") != 0) {
		ep_db_migrator_finish_run (self, g_error_new (EP_ERROR, EP_ERROR_INTERNAL,
							      "module %s: migration %s was rolled back", m->module,
							      mig->name));
		return;
	}
	m->current++;
	self->n_applied++;
	ep_log_message (NULL, NULL, "database: module %s: applied migration %s", m->module, mig->name);
	ep_db_migrator_next_migration (self);
}

static void
ep_db_migrator_on_migrated (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	EpDbMigrationModule *m = g_ptr_array_index (self->modules, self->module_index);
	EpDbMigration *mig = g_ptr_array_index (m->migrations, m->current);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);
	g_autoptr(GPtrArray) stmts = NULL;
	g_autoptr(EpDbParams) params = NULL;

	if (results == NULL) {
		g_prefix_error (&error, "module %s: migration %s failed: ", m->module, mig->name);
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	/* the file must not end the transaction its version row belongs to */
	if (!ep_db_conn_in_transaction (self->conn)) {
		ep_db_migrator_finish_run (self, g_error_new (EP_ERROR, EP_ERROR_INVALID,
							      "module %s: migration %s ends its own transaction; "
							      "migration files must not contain COMMIT or ROLLBACK",
							      m->module, mig->name));
		return;
	}
	params = ep_db_params_new ();
	ep_db_params_add_text (params, m->module);
	ep_db_params_add_int64 (params, mig->version);
	ep_db_params_add_text (params, mig->name);
	stmts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_db_stmt_free);
	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL,
						"INSERT INTO epistle_schema_versions (module, version, name) "
						"VALUES ($1, $2, $3)",
						params));
	g_ptr_array_add (stmts, ep_db_stmt_new (EP_DB_STMT_QUERY, NULL, "COMMIT", NULL));
	ep_db_run_on_async (self->db, self->conn, stmts, NULL, 0, self, g_task_get_cancellable (self->task),
			    ep_db_migrator_on_recorded, NULL);
}

static void
ep_db_migrator_next_migration (EpDbMigrator *self)
{
	EpDbMigrationModule *m = g_ptr_array_index (self->modules, self->module_index);
	EpDbMigration *mig;
	g_autofree char *script = NULL;

	if (m->current >= m->migrations->len) {
		self->module_index++;
		ep_db_migrator_next_module (self);
		return;
	}
	mig = g_ptr_array_index (m->migrations, m->current);
	/* the migration and its row in epistle_schema_versions commit together */
	script = g_strconcat ("BEGIN;\n", mig->sql, NULL);
	ep_db_run_on_async (self->db, self->conn, NULL, script, 0, self, g_task_get_cancellable (self->task),
			    ep_db_migrator_on_migrated, NULL);
}

static void
ep_db_migrator_on_version (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	EpDbMigrationModule *m = g_ptr_array_index (self->modules, self->module_index);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);
	g_autoptr(EpDbResult) r = ep_db_results_take_single (results, &error);
	gint64 version;

	if (r == NULL) {
		g_prefix_error (&error, "module %s: cannot read its schema version: ", m->module);
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	version = ep_db_result_get_int64 (r, 0, 0);
	if (version > (gint64) m->migrations->len) {
		ep_db_migrator_finish_run (self, g_error_new (EP_ERROR, EP_ERROR_CONFIG,
							      "the database schema of module %s is at version %" G_GINT64_FORMAT
							      " but this epistle only knows up to %u; upgrade epistle",
							      m->module, version, m->migrations->len));
		return;
	}
	m->current = (guint) MAX (version, 0);
	ep_db_migrator_next_migration (self);
}

static void
ep_db_migrator_next_module (EpDbMigrator *self)
{
	g_autoptr(EpDbParams) params = NULL;
	EpDbMigrationModule *m;

	if (self->module_index >= self->modules->len) {
		ep_db_migrator_send (self, "SELECT pg_advisory_unlock(" EP_DB_MIGRATOR_LOCK ")", NULL,
				     ep_db_migrator_on_unlocked);
		return;
	}
	m = g_ptr_array_index (self->modules, self->module_index);
	params = ep_db_params_new_text (m->module, NULL);
	ep_db_migrator_send (self, "SELECT coalesce(max(version), 0) FROM epistle_schema_versions WHERE module = $1",
			     params, ep_db_migrator_on_version);
}

static void
ep_db_migrator_on_table (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	if (results == NULL) {
		g_prefix_error (&error, "database migrations: cannot create epistle_schema_versions: ");
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	ep_db_migrator_next_module (self);
}

static void
ep_db_migrator_on_locked (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) results = ep_db_run_on_finish (result, &error);

	if (results == NULL) {
		g_prefix_error (&error, "database migrations: cannot take the migration lock: ");
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	/* under the lock, so that two first starts do not race on it */
	ep_db_migrator_send (self,
			     "CREATE TABLE IF NOT EXISTS epistle_schema_versions ("
			     "module text NOT NULL, "
			     "version integer NOT NULL, "
			     "name text NOT NULL, "
			     "applied_at timestamptz NOT NULL DEFAULT now(), "
			     "PRIMARY KEY (module, version))",
			     NULL, ep_db_migrator_on_table);
}

static void
ep_db_migrator_on_reserved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpDbMigrator *self = EP_DB_MIGRATOR (source);
	g_autoptr(GError) error = NULL;

	self->conn = ep_db_reserve_finish (result, &error);
	if (self->conn == NULL) {
		g_prefix_error (&error, "database migrations: ");
		ep_db_migrator_finish_run (self, g_steal_pointer (&error));
		return;
	}
	/* held across every module, released by unlock or by closing */
	ep_db_migrator_send (self, "SELECT pg_advisory_lock(" EP_DB_MIGRATOR_LOCK ")", NULL,
			     ep_db_migrator_on_locked);
}

/**
 * ep_db_migrator_run_async:
 *
 * Applies what is pending of every module added, in the order they were
 * added.  Fails at the first migration that fails; what was applied
 * before it stays.
 */
void
ep_db_migrator_run_async (EpDbMigrator *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_return_if_fail (EP_IS_DB_MIGRATOR (self));
	g_return_if_fail (self->task == NULL);

	self->task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (self->task, ep_db_migrator_run_async);
	self->n_applied = 0;
	self->module_index = 0;
	ep_db_reserve_async (self->db, self, cancellable, ep_db_migrator_on_reserved, NULL);
}

gboolean
ep_db_migrator_run_finish (EpDbMigrator *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

static void
ep_db_migrate_on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GError *error = NULL;

	if (!ep_db_migrator_run_finish (EP_DB_MIGRATOR (source), result, &error)) {
		g_task_return_error (task, error);
		return;
	}
	g_task_return_boolean (task, TRUE);
}

void
ep_db_migrate_async (EpDb *db, const char *module, const char *dir, GCancellable *cancellable,
		     GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(EpDbMigrator) migrator = NULL;
	GError *error = NULL;
	GTask *task;

	g_return_if_fail (EP_IS_DB (db));

	task = g_task_new (db, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_db_migrate_async);
	migrator = ep_db_migrator_new (db);
	if (!ep_db_migrator_add_module (migrator, module, dir, &error)) {
		g_task_return_error (task, error);
		g_object_unref (task);
		return;
	}
	ep_db_migrator_run_async (migrator, cancellable, ep_db_migrate_on_done, task);
}

gboolean
ep_db_migrate_finish (EpDb *db, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, db), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}
