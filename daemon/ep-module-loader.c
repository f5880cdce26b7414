/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep-error.h"
#include "ep-log.h"
#include "ep-module-loader.h"

/*
 * Finds, checks, loads and orders the modules.  Everything a module file
 * could do wrong is refused with a message naming the file and saying what
 * to do; nothing in a module runs before its descriptor has been checked.
 */

typedef struct {
	char *name;
	char *path;
	GModule *module;
	const EpModuleDesc *desc;
	EpContext *ctx;
	gboolean initialised;
} EpLoadedModule;

struct _EpModuleLoader {
	GObject parent_instance;
	char *directory;
	GPtrArray *installed; /* char*, NULL-terminated */
	GPtrArray *loaded;    /* EpLoadedModule*, in init order once ordered */
};

G_DEFINE_TYPE (EpModuleLoader, ep_module_loader, G_TYPE_OBJECT)

static void
ep_loaded_module_free (EpLoadedModule *m)
{
	/* modules are resident: the GModule handle is released but the code
	 * stays mapped, as pointers into it may survive */
	if (m->module != NULL)
		g_module_close (m->module);
	ep_context_free (m->ctx);
	g_free (m->name);
	g_free (m->path);
	g_free (m);
}

static void
ep_module_loader_finalize (GObject *object)
{
	EpModuleLoader *self = EP_MODULE_LOADER (object);

	ep_module_loader_shutdown_all (self);
	g_ptr_array_unref (self->loaded);
	g_ptr_array_unref (self->installed);
	g_free (self->directory);
	G_OBJECT_CLASS (ep_module_loader_parent_class)->finalize (object);
}

static void
ep_module_loader_class_init (EpModuleLoaderClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_module_loader_finalize;
}

static void
ep_module_loader_init (EpModuleLoader *self)
{
	self->installed = g_ptr_array_new_null_terminated (8, g_free, TRUE);
	self->loaded = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_loaded_module_free);
}

/**
 * ep_module_loader_default_directory:
 *
 * Returns: `EPISTLE_MODULE_DIR` when set, else the directory chosen at
 * build time.
 */
const char *
ep_module_loader_default_directory (void)
{
	const char *dir = g_getenv ("EPISTLE_MODULE_DIR");
	if (dir != NULL && dir[0] != '\0')
		return dir;
	return EP_MODULEDIR;
}

EpModuleLoader *
ep_module_loader_new (const char *directory)
{
	EpModuleLoader *self = g_object_new (EP_TYPE_MODULE_LOADER, NULL);
	self->directory = g_strdup (directory != NULL ? directory : ep_module_loader_default_directory ());
	return self;
}

const char *
ep_module_loader_get_directory (EpModuleLoader *self)
{
	return self->directory;
}

static gboolean
ep_module_loader_name_is_valid (const char *name)
{
	if (name[0] == '\0' || strlen (name) > 64)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-'))
			return FALSE;
	}
	return TRUE;
}

static gint
ep_module_loader_strcmp (gconstpointer a, gconstpointer b)
{
	return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/**
 * ep_module_loader_scan:
 *
 * Lists the modules installed in the directory: every `<name>.so`.
 * A missing directory means that no module is installed.
 */
gboolean
ep_module_loader_scan (EpModuleLoader *self, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error_local = NULL;
	const char *file;

	g_ptr_array_set_size (self->installed, 0);
	dir = g_dir_open (self->directory, 0, &error_local);
	if (dir == NULL) {
		if (g_error_matches (error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: cannot read the module directory: %s"),
			     self->directory, error_local->message);
		return FALSE;
	}
	while ((file = g_dir_read_name (dir)) != NULL) {
		g_autofree char *name = NULL;
		if (!g_str_has_suffix (file, ".so") || file[0] == '.')
			continue;
		name = g_strndup (file, strlen (file) - 3);
		if (!ep_module_loader_name_is_valid (name))
			continue;
		g_ptr_array_add (self->installed, g_steal_pointer (&name));
	}
	g_ptr_array_sort (self->installed, ep_module_loader_strcmp);
	return TRUE;
}

const char *const *
ep_module_loader_get_installed (EpModuleLoader *self)
{
	return (const char *const *) self->installed->pdata;
}

static gboolean
ep_module_loader_is_installed (EpModuleLoader *self, const char *name)
{
	for (guint i = 0; i < self->installed->len; i++) {
		if (g_strcmp0 (g_ptr_array_index (self->installed, i), name) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
ep_module_loader_check_file (const char *path, GError **error)
{
	struct stat st;

	if (g_lstat (path, &st) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: cannot stat the module: %s"), path,
			     g_strerror (saved));
		return FALSE;
	}
	if (S_ISLNK (st.st_mode) && g_stat (path, &st) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: the module is a broken link: %s"), path,
			     g_strerror (saved));
		return FALSE;
	}
	if (!S_ISREG (st.st_mode)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: the module is not a regular file"), path);
		return FALSE;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     _("%s: the module is writable by group or others (mode %04o), so anyone could "
			       "replace the code the daemon runs; run 'chmod go-w %s'"),
			     path, (guint) (st.st_mode & 07777), path);
		return FALSE;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid ()) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     _("%s: the module is owned by uid %u, neither root nor the user running the "
			       "daemon; run 'chown root %s'"),
			     path, (guint) st.st_uid, path);
		return FALSE;
	}
	return TRUE;
}

static EpLoadedModule *
ep_module_loader_open (EpModuleLoader *self, const char *name, GError **error)
{
	g_autofree char *file = g_strdup_printf ("%s.so", name);
	g_autofree char *path = g_build_filename (self->directory, file, NULL);
	GModule *module;
	gpointer symbol = NULL;
	const EpModuleDesc *desc;
	EpLoadedModule *m;

	if (!ep_module_loader_check_file (path, error))
		return NULL;

	/* resolve every symbol now: an unresolved one fails here, with the
	 * file named, rather than in the middle of a session */
	module = g_module_open (path, G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: cannot load the module: %s"), path,
			     g_module_error ());
		return NULL;
	}
	if (!g_module_symbol (module, EP_MODULE_SYMBOL, &symbol) || symbol == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("%s: not an epistle module (it does not export '%s')"), path, EP_MODULE_SYMBOL);
		g_module_close (module);
		return NULL;
	}
	desc = symbol;
	if (desc->abi_version != EP_MODULE_ABI_VERSION) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("%s: the module was built for module ABI %u but this daemon has ABI %u; "
			       "rebuild it against this version of epistle-1 or remove it"),
			     path, (guint) desc->abi_version, (guint) EP_MODULE_ABI_VERSION);
		g_module_close (module);
		return NULL;
	}
	if (desc->struct_size < sizeof (EpModuleDesc)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("%s: the module descriptor is %u bytes, expected %u; rebuild the module"), path,
			     (guint) desc->struct_size, (guint) sizeof (EpModuleDesc));
		g_module_close (module);
		return NULL;
	}
	if (desc->name == NULL || g_strcmp0 (desc->name, name) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("%s: the module calls itself '%s'; its name and file name must agree"), path,
			     desc->name != NULL ? desc->name : "(null)");
		g_module_close (module);
		return NULL;
	}
	if (desc->init == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("%s: the module has no init function"), path);
		g_module_close (module);
		return NULL;
	}
	g_module_make_resident (module);

	m = g_new0 (EpLoadedModule, 1);
	m->name = g_strdup (name);
	m->path = g_steal_pointer (&path);
	m->module = module;
	m->desc = desc;
	return m;
}

static EpLoadedModule *
ep_module_loader_find (EpModuleLoader *self, const char *name)
{
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);
		if (g_strcmp0 (m->name, name) == 0)
			return m;
	}
	return NULL;
}

static EpLoadedModule *
ep_module_loader_find_provider (EpModuleLoader *self, const char *capability, EpLoadedModule *except)
{
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);
		if (m == except || m->desc->provides == NULL)
			continue;
		if (g_strv_contains ((const char *const *) m->desc->provides, capability))
			return m;
	}
	return NULL;
}

static gboolean
ep_module_loader_check_requirements (EpModuleLoader *self, GPtrArray *errors)
{
	gboolean ok = TRUE;
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);
		for (guint j = 0; m->desc->requires != NULL && m->desc->requires[j] != NULL; j++) {
			const char *req = m->desc->requires[j];
			if (ep_module_loader_find_provider (self, req, m) != NULL)
				continue;
			g_ptr_array_add (errors,
					 g_strdup_printf (_("%s: module '%s' requires '%s', which no loaded "
							    "module provides; load a module that provides it "
							    "or remove '%s'"),
							  m->path, m->name, req, m->name));
			ok = FALSE;
		}
	}
	return ok;
}

/* Orders the modules so that a module comes after every module it
 * requires a capability of and every module it names in run_after, and
 * before those it names in run_before; ties are broken by name so that the
 * order does not depend on the directory listing. */
static gboolean
ep_module_loader_order (EpModuleLoader *self, GError **error)
{
	guint n = self->loaded->len;
	g_autofree guint *indegree = g_new0 (guint, n);
	g_autofree gboolean *edges = g_new0 (gboolean, (gsize) n * n); /* edges[a*n+b]: a before b */
	g_autoptr(GPtrArray) ordered = g_ptr_array_new ();
	g_autofree gboolean *done = g_new0 (gboolean, n);

	for (guint b = 0; b < n; b++) {
		EpLoadedModule *mb = g_ptr_array_index (self->loaded, b);
		const EpModuleDesc *d = mb->desc;
		for (guint a = 0; a < n; a++) {
			EpLoadedModule *ma = g_ptr_array_index (self->loaded, a);
			gboolean before = FALSE;
			if (a == b)
				continue;
			for (guint j = 0; d->requires != NULL && d->requires[j] != NULL; j++) {
				if (ma->desc->provides != NULL &&
				    g_strv_contains ((const char *const *) ma->desc->provides, d->requires[j]))
					before = TRUE;
			}
			if (d->run_after != NULL && g_strv_contains ((const char *const *) d->run_after, ma->name))
				before = TRUE;
			if (ma->desc->run_before != NULL &&
			    g_strv_contains ((const char *const *) ma->desc->run_before, mb->name))
				before = TRUE;
			if (before && !edges[a * n + b]) {
				edges[a * n + b] = TRUE;
				indegree[b]++;
			}
		}
	}

	/* Kahn's algorithm, picking the smallest name among the ready ones */
	for (guint step = 0; step < n; step++) {
		gint pick = -1;
		for (guint i = 0; i < n; i++) {
			EpLoadedModule *mi = g_ptr_array_index (self->loaded, i);
			if (done[i] || indegree[i] > 0)
				continue;
			if (pick < 0 ||
			    strcmp (mi->name, ((EpLoadedModule *) g_ptr_array_index (self->loaded, pick))->name) < 0)
				pick = (gint) i;
		}
		if (pick < 0) {
			g_autoptr(GString) cycle = g_string_new (NULL);
			for (guint i = 0; i < n; i++) {
				if (done[i])
					continue;
				if (cycle->len > 0)
					g_string_append (cycle, ", ");
				g_string_append (cycle, ((EpLoadedModule *) g_ptr_array_index (self->loaded, i))->name);
			}
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("the ordering of modules %s is circular (run_after, run_before and "
				       "requirements contradict each other)"),
				     cycle->str);
			return FALSE;
		}
		done[pick] = TRUE;
		g_ptr_array_add (ordered, g_ptr_array_index (self->loaded, pick));
		for (guint c = 0; c < n; c++) {
			if (edges[(guint) pick * n + c])
				indegree[c]--;
		}
	}

	/* re-arrange self->loaded without freeing its elements */
	g_ptr_array_set_free_func (self->loaded, NULL);
	g_ptr_array_set_size (self->loaded, 0);
	for (guint i = 0; i < ordered->len; i++)
		g_ptr_array_add (self->loaded, g_ptr_array_index (ordered, i));
	g_ptr_array_set_free_func (self->loaded, (GDestroyNotify) ep_loaded_module_free);
	return TRUE;
}

/**
 * ep_module_loader_load:
 * @selection: (nullable): the module names the configuration selects, or
 *   %NULL to load every installed module
 *
 * Loads and checks the modules, verifies their requirements and resolves
 * their order.  Every refused module is reported, one per line.
 */
gboolean
ep_module_loader_load (EpModuleLoader *self, const char *const *selection, GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) names = g_ptr_array_new ();

	if (selection != NULL) {
		for (guint i = 0; selection[i] != NULL; i++)
			g_ptr_array_add (names, (gpointer) selection[i]);
	} else {
		for (guint i = 0; i < self->installed->len; i++)
			g_ptr_array_add (names, g_ptr_array_index (self->installed, i));
	}

	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index (names, i);
		g_autoptr(GError) error_local = NULL;
		EpLoadedModule *m;

		if (ep_module_loader_find (self, name) != NULL)
			continue;
		if (strchr (name, '/') != NULL) {
			g_ptr_array_add (errors, g_strdup_printf (_("module name '%s' must not contain '/': "
								    "modules are loaded from %s only"),
								  name, self->directory));
			continue;
		}
		if (!ep_module_loader_name_is_valid (name)) {
			g_ptr_array_add (errors, g_strdup_printf (_("module name '%s' is not valid "
								    "(use a-z, 0-9 and -)"),
								  name));
			continue;
		}
		if (!ep_module_loader_is_installed (self, name)) {
			g_autofree char *installed = self->installed->len > 0
							     ? g_strjoinv (", ", (char **) self->installed->pdata)
							     : g_strdup (_("none"));
			g_ptr_array_add (errors, g_strdup_printf (_("unknown module '%s': there is no %s/%s.so "
								    "(installed modules: %s)"),
								  name, self->directory, name, installed));
			continue;
		}
		m = ep_module_loader_open (self, name, &error_local);
		if (m == NULL) {
			g_ptr_array_add (errors, g_strdup (error_local->message));
			continue;
		}
		g_ptr_array_add (self->loaded, m);
	}
	if (errors->len == 0)
		ep_module_loader_check_requirements (self, errors);
	if (errors->len > 0) {
		g_autofree char *all = NULL;
		g_ptr_array_add (errors, NULL);
		all = g_strjoinv ("\n", (char **) errors->pdata);
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG, all);
		return FALSE;
	}
	return ep_module_loader_order (self, error);
}

/**
 * ep_module_loader_get_ordered:
 *
 * Returns: (transfer container): the loaded modules' descriptors in the
 * order they are initialised
 */
GPtrArray *
ep_module_loader_get_ordered (EpModuleLoader *self)
{
	GPtrArray *descs = g_ptr_array_new ();
	for (guint i = 0; i < self->loaded->len; i++)
		g_ptr_array_add (descs, (gpointer) ((EpLoadedModule *) g_ptr_array_index (self->loaded, i))->desc);
	return descs;
}

char **
ep_module_loader_get_loaded_names (EpModuleLoader *self)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	for (guint i = 0; i < self->loaded->len; i++)
		g_strv_builder_add (builder, ((EpLoadedModule *) g_ptr_array_index (self->loaded, i))->name);
	return g_strv_builder_end (builder);
}

/* The one guarded way into a module: an error is prefixed with the
 * module's name, and a failure without an error becomes an internal error. */
static gboolean
ep_module_loader_call (EpLoadedModule *m, const char *what, gboolean (*func) (EpContext *, GError **),
		       GError **error)
{
	g_autoptr(GError) error_local = NULL;

	if (func == NULL)
		return TRUE;
	if (func (m->ctx, &error_local)) {
		if (error_local != NULL) {
			ep_log_warning (m->name, NULL, "%s succeeded but set an error: %s", what,
					error_local->message);
		}
		return TRUE;
	}
	if (error_local == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL,
			     _("module '%s': %s failed without saying why (a bug in the module)"), m->name, what);
		return FALSE;
	}
	g_set_error (error, error_local->domain, error_local->code, _("module '%s': %s"), m->name,
		     error_local->message);
	return FALSE;
}

/**
 * ep_module_loader_init_all:
 *
 * Initialises the modules in order.  When one fails, those already
 * initialised are shut down again, in reverse order.
 */
gboolean
ep_module_loader_init_all (EpModuleLoader *self, EpCore *core, GError **error)
{
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);

		if (m->initialised)
			continue;
		if (m->ctx == NULL)
			m->ctx = ep_context_new (core, m->desc);
		if (!ep_module_loader_call (m, "init", m->desc->init, error)) {
			ep_module_loader_shutdown_all (self);
			return FALSE;
		}
		m->initialised = TRUE;
		ep_log_debug (m->name, NULL, "initialised (version %s)",
			      m->desc->version != NULL ? m->desc->version : "?");
	}
	return TRUE;
}

/**
 * ep_module_loader_start_all:
 *
 * Starts the initialised modules in order, once the database is ready.
 */
gboolean
ep_module_loader_start_all (EpModuleLoader *self, GError **error)
{
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);
		if (!m->initialised)
			continue;
		if (!ep_module_loader_call (m, "start", m->desc->start, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
ep_module_loader_reload_all (EpModuleLoader *self, GError **error)
{
	for (guint i = 0; i < self->loaded->len; i++) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i);
		if (!m->initialised)
			continue;
		if (!ep_module_loader_call (m, "reload", m->desc->reload, error))
			return FALSE;
	}
	return TRUE;
}

void
ep_module_loader_shutdown_all (EpModuleLoader *self)
{
	for (guint i = self->loaded->len; i > 0; i--) {
		EpLoadedModule *m = g_ptr_array_index (self->loaded, i - 1);
		if (!m->initialised)
			continue;
		if (m->desc->shutdown != NULL)
			m->desc->shutdown (m->ctx);
		m->initialised = FALSE;
		g_clear_pointer (&m->ctx, ep_context_free);
	}
}
