/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <unistd.h>

#include "ep-daemon.h"
#include "ep-error.h"
#include "ep-events.h"
#include "ep-log.h"
#include "ep-db-migrator.h"
#include "ep-module-loader.h"
#include "ep-pg-embedded.h"
#include "ep-privileges.h"
#include "ep-resolver.h"
#include "ep-sd-notify.h"

/* How long SIGTERM waits for open sessions before closing them. */
#define EP_DAEMON_DRAIN_TIMEOUT_S 10

typedef struct {
	EpDaemon *daemon; /* not owned */
	EpConfigListener config;
	GSocketService *service;
} EpDaemonListener;

struct _EpDaemon {
	GObject parent_instance;

	char *config_path;
	EpConfig *config;
	EpModuleLoader *loader;
	EpCore *core;
	GPtrArray *listeners;	 /* EpDaemonListener* */
	GHashTable *connections; /* GSocketConnection* (weak) */
	GMainLoop *loop;
	EpPrivileges privileges;
	EpPgEmbedded *pg; /* (nullable): the embedded cluster, without [database] url */
	gboolean stopping;
	gboolean serving; /* modules started: listeners accept */
	guint drain_source;
	guint signal_sources[3];
};

G_DEFINE_TYPE (EpDaemon, ep_daemon, G_TYPE_OBJECT)

static const EpConfigKey ep_daemon_no_keys[] = { { NULL } };

static void
ep_daemon_listener_free (EpDaemonListener *l)
{
	if (l == NULL)
		return;
	if (l->service != NULL) {
		g_socket_service_stop (l->service);
		g_socket_listener_close (G_SOCKET_LISTENER (l->service));
		g_signal_handlers_disconnect_by_data (l->service, l);
		g_object_unref (l->service);
	}
	g_free (l->config.kind);
	g_free (l->config.addr);
	g_free (l->config.filename);
	g_free (l);
}

static void
ep_daemon_connection_gone (gpointer data, GObject *where_the_object_was)
{
	EpDaemon *self = data;
	g_hash_table_remove (self->connections, where_the_object_was);
	if (self->stopping && g_hash_table_size (self->connections) == 0 && self->loop != NULL)
		g_main_loop_quit (self->loop);
}

static void
ep_daemon_forget_connections (EpDaemon *self)
{
	GHashTableIter iter;
	gpointer conn;

	g_hash_table_iter_init (&iter, self->connections);
	while (g_hash_table_iter_next (&iter, &conn, NULL)) {
		g_object_weak_unref (conn, ep_daemon_connection_gone, self);
		g_hash_table_iter_remove (&iter);
	}
}

static void
ep_daemon_finalize (GObject *object)
{
	EpDaemon *self = EP_DAEMON (object);

	for (guint i = 0; i < G_N_ELEMENTS (self->signal_sources); i++)
		g_clear_handle_id (&self->signal_sources[i], g_source_remove);
	g_clear_handle_id (&self->drain_source, g_source_remove);
	g_ptr_array_unref (self->listeners);
	ep_daemon_forget_connections (self);
	g_hash_table_unref (self->connections);
	if (self->loader != NULL)
		ep_module_loader_shutdown_all (self->loader);
	g_clear_pointer (&self->core, ep_core_free);
	g_clear_object (&self->loader);
	g_clear_object (&self->pg);
	g_clear_object (&self->config);
	g_clear_pointer (&self->loop, g_main_loop_unref);
	ep_privileges_clear (&self->privileges);
	g_free (self->config_path);
	G_OBJECT_CLASS (ep_daemon_parent_class)->finalize (object);
}

static void
ep_daemon_class_init (EpDaemonClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_daemon_finalize;
}

static void
ep_daemon_init (EpDaemon *self)
{
	self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_daemon_listener_free);
	self->connections = g_hash_table_new (g_direct_hash, g_direct_equal);
}

EpDaemon *
ep_daemon_new (const char *config_path)
{
	EpDaemon *self = g_object_new (EP_TYPE_DAEMON, NULL);
	self->config_path = g_strdup (config_path);
	return self;
}

/* ---- configuration ------------------------------------------------------ */

static gboolean
ep_daemon_same_modules (EpModuleLoader *loader, char **selection)
{
	g_auto(GStrv) loaded = ep_module_loader_get_loaded_names (loader);
	const char *const *installed = ep_module_loader_get_installed (loader);
	const char *const *wanted = selection != NULL ? (const char *const *) selection : installed;

	for (guint i = 0; wanted[i] != NULL; i++) {
		if (!g_strv_contains ((const char *const *) loaded, wanted[i]))
			return FALSE;
	}
	for (guint i = 0; loaded[i] != NULL; i++) {
		if (!g_strv_contains (wanted, loaded[i]))
			return FALSE;
	}
	return TRUE;
}

/* Loads the configuration and validates it against the modules' schemas.
 * At start-up (@loader without modules) the selected modules are loaded;
 * on reload the selection must not have changed. */
static EpConfig *
ep_daemon_load_config (EpDaemon *self, gboolean initial, GError **error)
{
	g_autoptr(EpConfig) config = NULL;
	g_auto(GStrv) selection = NULL;
	g_autoptr(GPtrArray) descs = NULL;
	const char *const *installed;

	config = ep_config_load (self->config_path, error);
	if (config == NULL)
		return NULL;
	if (!ep_config_get_module_selection (config, &selection, error))
		return NULL;
	if (initial) {
		if (!ep_module_loader_scan (self->loader, error))
			return NULL;
		if (!ep_module_loader_load (self->loader, (const char *const *) selection, error))
			return NULL;
	} else if (!ep_daemon_same_modules (self->loader, selection)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("the set of modules changed; modules are loaded once, so restart the "
				       "daemon to apply this change"));
		return NULL;
	}
	installed = ep_module_loader_get_installed (self->loader);
	for (guint i = 0; installed[i] != NULL; i++)
		ep_config_add_known_module (config, installed[i]);
	descs = ep_module_loader_get_ordered (self->loader);
	for (guint i = 0; i < descs->len; i++) {
		const EpModuleDesc *desc = g_ptr_array_index (descs, i);
		ep_config_add_section_schema (config, desc->name,
					      desc->config_schema != NULL ? desc->config_schema : ep_daemon_no_keys);
	}
	if (!ep_config_validate (config, error))
		return NULL;
	return g_steal_pointer (&config);
}

static gboolean
ep_daemon_check_listener_kinds (EpDaemon *self, EpConfig *config, GError **error)
{
	GPtrArray *kinds = self->core->listener_kinds;
	g_autofree const char **names = g_new0 (const char *, kinds->len + 1);
	g_autofree guint16 *ports = g_new0 (guint16, kinds->len + 1);

	for (guint i = 0; i < kinds->len; i++) {
		EpListenerKind *k = g_ptr_array_index (kinds, i);
		names[i] = k->kind;
		ports[i] = k->default_port;
	}
	return ep_config_check_listener_kinds (config, names, ports, error);
}

/* [tls] and [[tls.sni]]: read now, while the daemon may still read key
 * files only root can; a file that is missing, unparsable, mismatched or out
 * of its validity period stops the start with an error naming it. */
static gboolean
ep_daemon_load_tls (EpDaemon *self, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(EpTlsContext) tls = ep_tls_context_new_from_config (self->config, &error_local);

	if (tls == NULL && error_local != NULL) {
		g_propagate_error (error, g_steal_pointer (&error_local));
		return FALSE;
	}
	g_set_object (&self->core->tls, tls);
	return TRUE;
}

static gboolean
ep_daemon_check_full (EpDaemon *self, gboolean load_tls, GError **error)
{
	g_return_val_if_fail (self->config == NULL, FALSE);

	self->loader = ep_module_loader_new (NULL);
	self->config = ep_daemon_load_config (self, TRUE, error);
	if (self->config == NULL)
		return FALSE;
	self->core = ep_core_new (self->config);
	if (!ep_module_loader_init_all (self->loader, self->core, error))
		return FALSE;
	if (!ep_daemon_check_listener_kinds (self, self->config, error))
		return FALSE;
	if (load_tls && !ep_daemon_load_tls (self, error))
		return FALSE;
	/* [dns]: the trust anchor is read now, while the daemon may still be root */
	self->core->resolver = ep_resolver_new_from_config (self->config, error);
	if (self->core->resolver == NULL)
		return FALSE;
	if (!ep_privileges_resolve (ep_config_get_privileges_user (self->config),
				    ep_config_get_privileges_group (self->config), &self->privileges, error))
		return FALSE;
	return TRUE;
}

/**
 * ep_daemon_check:
 *
 * Runs every check serve runs before binding: configuration, modules and
 * their initialisation, listener kinds, the TLS certificates and keys, and
 * whom the daemon would run as.  Nothing is bound and nothing is written.
 */
gboolean
ep_daemon_check (EpDaemon *self, GError **error)
{
	return ep_daemon_check_full (self, TRUE, error);
}

/* ---- listeners ---------------------------------------------------------- */

static gboolean
ep_daemon_on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source_object,
		       gpointer user_data)
{
	EpDaemonListener *l = user_data;
	EpDaemon *self = l->daemon;
	EpListenerKind *kind;

	if (self->stopping)
		return FALSE;
	kind = ep_core_find_listener_kind (self->core, l->config.kind);
	if (kind == NULL) {
		ep_log_warning (NULL, NULL, "no module handles listener kind '%s'; closing the connection",
				l->config.kind);
		return FALSE;
	}
	g_hash_table_add (self->connections, connection);
	g_object_weak_ref (G_OBJECT (connection), ep_daemon_connection_gone, self);
	kind->func (kind->ctx, connection, &l->config, kind->user_data);
	return TRUE;
}

static EpDaemonListener *
ep_daemon_listener_bind (EpDaemon *self, const EpConfigListener *config, GError **error)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (config->addr);
	g_autoptr(GSocketAddress) sa = NULL;
	g_autoptr(GError) error_local = NULL;
	EpDaemonListener *l;

	if (inet == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s:%u: '%s' is not an IP address"),
			     config->filename, config->line, config->addr);
		return NULL;
	}
	sa = g_inet_socket_address_new (inet, config->port);
	l = g_new0 (EpDaemonListener, 1);
	l->daemon = self;
	l->config.kind = g_strdup (config->kind);
	l->config.addr = g_strdup (config->addr);
	l->config.port = config->port;
	l->config.filename = g_strdup (config->filename);
	l->config.line = config->line;
	l->config.kind_line = config->kind_line;
	l->service = g_socket_service_new ();
	g_socket_listener_set_backlog (G_SOCKET_LISTENER (l->service), 512);
	if (!g_socket_listener_add_address (G_SOCKET_LISTENER (l->service), sa, G_SOCKET_TYPE_STREAM,
					    G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error_local)) {
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
			     _("%s:%u: cannot listen on %s port %u for '%s': %s"), config->filename, config->line,
			     config->addr, config->port, config->kind, error_local->message);
		ep_daemon_listener_free (l);
		return NULL;
	}
	g_signal_connect (l->service, "incoming", G_CALLBACK (ep_daemon_on_incoming), l);
	/* a GSocketService accepts from its creation on: not before the
	 * modules have started (start-up iterates the main context while it
	 * waits for the database); until then the kernel queues clients */
	if (!self->serving)
		g_socket_service_stop (l->service);
	return l;
}

static gboolean
ep_daemon_listener_matches (EpDaemonListener *l, const EpConfigListener *c)
{
	return g_strcmp0 (l->config.kind, c->kind) == 0 && g_strcmp0 (l->config.addr, c->addr) == 0 &&
	       l->config.port == c->port;
}

/* Makes the bound listeners those of @config: keeps the ones that did not
 * change, binds the new ones (all of them, or none: on failure nothing
 * changes), then closes the ones no longer wanted. */
static gboolean
ep_daemon_apply_listeners (EpDaemon *self, EpConfig *config, GError **error)
{
	GPtrArray *wanted = ep_config_get_listeners (config);
	g_autoptr(GPtrArray) next = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_daemon_listener_free);
	g_autofree gint *kept = g_new (gint, wanted->len + 1);

	/* bind what is new first, so that a failure leaves the old set */
	for (guint i = 0; i < wanted->len; i++) {
		EpConfigListener *c = g_ptr_array_index (wanted, i);
		EpDaemonListener *fresh;

		kept[i] = -1;
		for (guint j = 0; j < self->listeners->len; j++) {
			if (ep_daemon_listener_matches (g_ptr_array_index (self->listeners, j), c)) {
				kept[i] = (gint) j;
				break;
			}
		}
		if (kept[i] >= 0) {
			g_ptr_array_add (next, NULL);
			continue;
		}
		fresh = ep_daemon_listener_bind (self, c, error);
		if (fresh == NULL)
			return FALSE;
		g_ptr_array_add (next, fresh);
	}
	/* move the kept ones over, then drop the rest */
	for (guint i = 0; i < wanted->len; i++) {
		if (kept[i] < 0)
			continue;
		next->pdata[i] = self->listeners->pdata[kept[i]];
		self->listeners->pdata[kept[i]] = NULL;
	}
	g_ptr_array_unref (self->listeners);
	self->listeners = g_steal_pointer (&next);
	for (guint i = 0; i < self->listeners->len; i++) {
		EpDaemonListener *l = g_ptr_array_index (self->listeners, i);
		if (!g_socket_service_is_active (l->service))
			g_socket_service_start (l->service);
	}
	return TRUE;
}

static void
ep_daemon_stop_listening (EpDaemon *self)
{
	g_ptr_array_set_size (self->listeners, 0);
}

/* ---- data directory ----------------------------------------------------- */

static gboolean
ep_daemon_prepare_data_dir (EpDaemon *self, GError **error)
{
	const char *dir = ep_config_get_data_dir (self->config);

	if (g_mkdir_with_parents (dir, 0750) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("data_dir %s: cannot create it: %s"), dir,
			     g_strerror (saved));
		return FALSE;
	}
	if (self->privileges.need_drop) {
		if (chown (dir, self->privileges.uid, self->privileges.gid) != 0) {
			int saved = errno;
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("data_dir %s: cannot give it to user '%s': %s"),
				     dir, self->privileges.user, g_strerror (saved));
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
ep_daemon_check_data_dir_access (EpDaemon *self, GError **error)
{
	const char *dir = ep_config_get_data_dir (self->config);
	if (access (dir, R_OK | W_OK | X_OK) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     _("data_dir %s: user '%s' cannot read and write it: %s"), dir, self->privileges.user,
			     g_strerror (saved));
		return FALSE;
	}
	return TRUE;
}

/* After the drop the daemon reads its configuration again on SIGHUP, as
 * the service user: say now, not at the first reload, when it cannot. */
static void
ep_daemon_warn_unreadable_config (EpDaemon *self)
{
	const char *const *files = ep_config_get_files (self->config);
	for (guint i = 0; files[i] != NULL; i++) {
		if (access (files[i], R_OK) == 0)
			continue;
		ep_log_warning (NULL, NULL,
				"%s is not readable by user '%s', so a reload (SIGHUP) will be refused; "
				"run 'chown %s %s' to allow reloads, or restart to apply changes",
				files[i], self->privileges.user, self->privileges.user, files[i]);
	}
}

/* ---- database ---------------------------------------------------------- */

/* Every loaded module's migrations travel in its .so as a GResource under
 * /org/epistle/migrations/<module>/; they are all applied in one run. */
static gboolean
ep_daemon_migrate (EpDaemon *self, EpDb *db, GError **error)
{
	g_autoptr(EpDbMigrator) migrator = ep_db_migrator_new (db);
	g_autoptr(GPtrArray) descs = ep_module_loader_get_ordered (self->loader);
	g_autoptr(GAsyncResult) result = NULL;

	for (guint i = 0; i < descs->len; i++) {
		const EpModuleDesc *desc = g_ptr_array_index (descs, i);
		g_autofree char *path = g_strdup_printf ("/org/epistle/migrations/%s", desc->name);
		g_auto(GStrv) files = g_resources_enumerate_children (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
		if (files == NULL)
			continue;
		if (!ep_db_migrator_add_module_from_resource (migrator, desc->name, path, error))
			return FALSE;
	}
	ep_db_migrator_run_async (migrator, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	if (!ep_db_migrator_run_finish (migrator, result, error))
		return FALSE;
	if (ep_db_migrator_get_n_applied (migrator) > 0)
		ep_log_message (NULL, NULL, "applied %u schema migrations", ep_db_migrator_get_n_applied (migrator));
	return TRUE;
}

/* Starts the embedded cluster when no [database] url is set, connects,
 * and brings every module's schema up to date. */
static gboolean
ep_daemon_start_database (EpDaemon *self, gboolean reuse_running, GError **error)
{
	const char *url = ep_config_get_database_url (self->config);
	g_autoptr(EpDb) db = NULL;

	if (url == NULL && reuse_running) {
		/* a command next to a running daemon uses the daemon's cluster */
		g_autoptr(EpPgEmbedded) pg = ep_pg_embedded_new (ep_config_get_data_dir (self->config));
		g_autofree char *socket = g_build_filename (ep_pg_embedded_get_socket_dir (pg), ".s.PGSQL.5432", NULL);
		g_autoptr(EpDb) probe = NULL;
		g_autoptr(EpDbResult) res = NULL;
		if (g_file_test (socket, G_FILE_TEST_EXISTS))
			probe = ep_db_new (ep_pg_embedded_get_conninfo (pg), 1, NULL);
		if (probe != NULL) {
			ep_db_set_connect_timeout (probe, 2000);
			res = ep_db_query_sync (probe, "SELECT 1", NULL, NULL);
		}
		if (res != NULL) {
			ep_db_close (probe);
			url = ep_pg_embedded_get_conninfo (pg);
			db = ep_db_new (url, ep_config_get_database_max_connections (self->config), error);
			if (db == NULL || !ep_daemon_migrate (self, db, error))
				return FALSE;
			self->core->db = g_steal_pointer (&db);
			return TRUE;
		}
		if (probe != NULL)
			ep_db_close (probe);
	}
	if (url == NULL) {
		self->pg = ep_pg_embedded_new (ep_config_get_data_dir (self->config));
		if (!ep_pg_embedded_start_sync (self->pg, error))
			return FALSE;
		url = ep_pg_embedded_get_conninfo (self->pg);
		ep_log_info (NULL, NULL, "embedded PostgreSQL running in %s",
			     ep_pg_embedded_get_cluster_dir (self->pg));
	}
	db = ep_db_new (url, ep_config_get_database_max_connections (self->config), error);
	if (db == NULL)
		return FALSE;
	if (!ep_daemon_migrate (self, db, error))
		return FALSE;
	self->core->db = g_steal_pointer (&db);
	return TRUE;
}

static void
ep_daemon_stop_database (EpDaemon *self)
{
	g_autoptr(GError) error = NULL;

	if (self->core != NULL && self->core->db != NULL)
		ep_db_close (self->core->db);
	if (self->pg == NULL)
		return;
	if (!ep_pg_embedded_stop_sync (self->pg, &error))
		ep_log_warning (NULL, NULL, "embedded PostgreSQL: %s", error->message);
	g_clear_object (&self->pg);
}

/* ---- signals ------------------------------------------------------------ */

static gboolean
ep_daemon_drain_timeout (gpointer user_data)
{
	EpDaemon *self = user_data;

	self->drain_source = 0;
	ep_log_message (NULL, NULL, "%u sessions still open after %d s; closing them",
			g_hash_table_size (self->connections), EP_DAEMON_DRAIN_TIMEOUT_S);
	g_main_loop_quit (self->loop);
	return G_SOURCE_REMOVE;
}

static gboolean
ep_daemon_on_stop (gpointer user_data)
{
	EpDaemon *self = user_data;

	if (self->stopping) {
		ep_log_message (NULL, NULL, "second stop signal: quitting now");
		g_main_loop_quit (self->loop);
		return G_SOURCE_CONTINUE;
	}
	self->stopping = TRUE;
	ep_sd_notify ("STOPPING=1");
	ep_log_message (NULL, NULL, "stopping: no new connections; waiting up to %d s for %u open sessions",
			EP_DAEMON_DRAIN_TIMEOUT_S, g_hash_table_size (self->connections));
	ep_daemon_stop_listening (self);
	/* protocol modules finish their sessions with a goodbye */
	if (self->core != NULL)
		g_cancellable_cancel (self->core->stopping);
	if (g_hash_table_size (self->connections) == 0) {
		g_main_loop_quit (self->loop);
		return G_SOURCE_CONTINUE;
	}
	self->drain_source = g_timeout_add_seconds (EP_DAEMON_DRAIN_TIMEOUT_S, ep_daemon_drain_timeout, self);
	return G_SOURCE_CONTINUE;
}

static gboolean
ep_daemon_reload (EpDaemon *self, GError **error)
{
	g_autoptr(EpConfig) config = NULL;
	g_autoptr(EpConfig) old = NULL;
	EpConfigReloadedEvent event = { 0 };

	config = ep_daemon_load_config (self, FALSE, error);
	if (config == NULL)
		return FALSE;
	if (!ep_daemon_check_listener_kinds (self, config, error))
		return FALSE;
	if (g_strcmp0 (ep_config_get_data_dir (config), ep_config_get_data_dir (self->config)) != 0 ||
	    g_strcmp0 (ep_config_get_privileges_user (config), ep_config_get_privileges_user (self->config)) != 0 ||
	    g_strcmp0 (ep_config_get_privileges_group (config), ep_config_get_privileges_group (self->config)) != 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("data_dir and [privileges] cannot change while the daemon runs; restart it "
				       "to apply this change"));
		return FALSE;
	}
	if (!ep_daemon_apply_listeners (self, config, error))
		return FALSE;

	old = g_steal_pointer (&self->config);
	self->config = g_object_ref (config);
	ep_core_set_config (self->core, config);
	if (!ep_module_loader_reload_all (self->loader, error)) {
		/* go back to what ran before: the modules re-apply it */
		g_autoptr(GError) error_back = NULL;
		g_set_object (&self->config, old);
		ep_core_set_config (self->core, old);
		if (!ep_daemon_apply_listeners (self, old, &error_back))
			ep_log_warning (NULL, NULL, "cannot restore the listeners: %s", error_back->message);
		if (!ep_module_loader_reload_all (self->loader, &error_back))
			ep_log_warning (NULL, NULL, "cannot restore the old configuration: %s",
					error_back->message);
		return FALSE;
	}
	event.main_file = ep_config_get_main_file (config);
	ep_event_config_reloaded_emit (self->core->events, &event);
	return TRUE;
}

static gboolean
ep_daemon_on_reload (gpointer user_data)
{
	EpDaemon *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *state = NULL;

	if (self->stopping)
		return G_SOURCE_CONTINUE;
	state = g_strdup_printf ("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT, g_get_monotonic_time ());
	ep_sd_notify (state);
	if (!ep_daemon_reload (self, &error)) {
		ep_log_warning (NULL, NULL, "reload refused, keeping the running configuration:\n%s",
				error->message);
	} else {
		ep_log_message (NULL, NULL, "configuration reloaded from %s", self->config_path);
	}
	ep_sd_notify ("READY=1");
	return G_SOURCE_CONTINUE;
}

/* ---- serve -------------------------------------------------------------- */

/**
 * ep_daemon_serve:
 *
 * Checks everything, binds the listeners, drops privileges, then runs the
 * main loop until SIGTERM or SIGINT, draining open sessions on the way out.
 */
gboolean
ep_daemon_serve (EpDaemon *self, GError **error)
{
	g_autoptr(GError) error_close = NULL;

	if (!ep_daemon_check (self, error))
		return FALSE;

	if (!ep_daemon_prepare_data_dir (self, error))
		return FALSE;
	if (!ep_daemon_apply_listeners (self, self->config, error))
		return FALSE;
	if (!ep_privileges_drop (&self->privileges, error))
		return FALSE;
	if (!ep_daemon_check_data_dir_access (self, error))
		return FALSE;
	ep_daemon_warn_unreadable_config (self);
	self->core->serving = TRUE;
	if (!ep_daemon_start_database (self, FALSE, error) || !ep_module_loader_start_all (self->loader, error)) {
		ep_module_loader_shutdown_all (self->loader);
		ep_daemon_stop_database (self);
		return FALSE;
	}

	signal (SIGPIPE, SIG_IGN);
	self->loop = g_main_loop_new (NULL, FALSE);
	self->signal_sources[0] = g_unix_signal_add (SIGTERM, ep_daemon_on_stop, self);
	self->signal_sources[1] = g_unix_signal_add (SIGINT, ep_daemon_on_stop, self);
	self->signal_sources[2] = g_unix_signal_add (SIGHUP, ep_daemon_on_reload, self);

	self->serving = TRUE;
	for (guint i = 0; i < self->listeners->len; i++) {
		EpDaemonListener *l = g_ptr_array_index (self->listeners, i);
		g_socket_service_start (l->service);
		ep_log_info (NULL, NULL, "listening on %s port %u (%s)", l->config.addr, l->config.port,
			     l->config.kind);
	}
	ep_log_message (NULL, NULL, "%s ready as user %s (pid %d)", ep_config_get_hostname (self->config),
			self->privileges.user, (int) getpid ());
	ep_sd_notify ("READY=1\nSTATUS=serving");

	g_main_loop_run (self->loop);

	/* close what is still open, then let the modules go */
	ep_daemon_stop_listening (self);
	if (g_hash_table_size (self->connections) > 0) {
		GHashTableIter iter;
		gpointer conn;
		g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);
		g_hash_table_iter_init (&iter, self->connections);
		while (g_hash_table_iter_next (&iter, &conn, NULL))
			g_ptr_array_add (open, g_object_ref (conn));
		for (guint i = 0; i < open->len; i++)
			g_io_stream_close (G_IO_STREAM (g_ptr_array_index (open, i)), NULL, NULL);
	}
	ep_module_loader_shutdown_all (self->loader);
	ep_daemon_stop_database (self);
	ep_log_message (NULL, NULL, "stopped");
	return TRUE;
}

/**
 * ep_daemon_open:
 *
 * What the commands that work on stored data run instead of serve: every
 * check, the switch to the service user, the database (the running
 * daemon's embedded cluster when there is one, else one started for the
 * command), migrations and the modules' start.  Binds nothing.
 */
gboolean
ep_daemon_open (EpDaemon *self, GError **error)
{
	/* commands on stored data serve no client: an expired certificate
	 * must not stop an export */
	if (!ep_daemon_check_full (self, FALSE, error))
		return FALSE;
	if (!ep_daemon_prepare_data_dir (self, error))
		return FALSE;
	if (!ep_privileges_drop (&self->privileges, error))
		return FALSE;
	if (!ep_daemon_check_data_dir_access (self, error))
		return FALSE;
	if (!ep_daemon_start_database (self, TRUE, error) || !ep_module_loader_start_all (self->loader, error)) {
		ep_daemon_close (self);
		return FALSE;
	}
	return TRUE;
}

void
ep_daemon_close (EpDaemon *self)
{
	if (self->loader != NULL)
		ep_module_loader_shutdown_all (self->loader);
	ep_daemon_stop_database (self);
}

EpConfig *
ep_daemon_get_config (EpDaemon *self)
{
	return self->config;
}

EpCore *
ep_daemon_get_core (EpDaemon *self)
{
	return self->core;
}

/**
 * ep_daemon_get_store:
 *
 * Returns: (nullable): the mailbox store, once ep_daemon_open() succeeded
 */
EpStore *
ep_daemon_get_store (EpDaemon *self)
{
	if (self->core == NULL)
		return NULL;
	return (EpStore *) ep_service_registry_lookup (self->core->services, EP_TYPE_STORE);
}

/**
 * ep_daemon_get_db:
 *
 * Returns: (nullable): the database, once ep_daemon_open() succeeded; for
 * the commands whose modules keep tables of their own (auth-sql)
 */
EpDb *
ep_daemon_get_db (EpDaemon *self)
{
	if (self->core == NULL)
		return NULL;
	return self->core->db;
}
