/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ep-db.h"
#include "ep-error.h"
#include "ep-log.h"
#include "ep-pg-embedded.h"

#define EP_PG_PORT		      "5432"
#define EP_PG_POLL_MS		      50
#define EP_PG_ORPHAN_POLL_MS	      100
#define EP_PG_DEFAULT_START_TIMEOUT_S 60
#define EP_PG_DEFAULT_STOP_TIMEOUT_S  30
#define EP_PG_IMMEDIATE_TIMEOUT_S     5
#define EP_PG_INSTALL_HINT	      "install the Debian package postgresql"

/* what the child does between fork and exec; read in the child only */
typedef struct {
	uid_t uid;
	gid_t gid;
	gboolean drop;
	gboolean server;
	pid_t parent;
} EpPgChildSetup;

/* a lock file of the cluster and the process it names */
typedef enum {
	EP_PG_LOCK_NONE,    /* no file */
	EP_PG_LOCK_DEAD,    /* its process is gone: PostgreSQL copes */
	EP_PG_LOCK_OURS,    /* a server of this cluster runs */
	EP_PG_LOCK_FOREIGN, /* another process has the pid now */
} EpPgLockState;

struct _EpPgEmbedded {
	GObject parent_instance;

	char *data_dir;
	char *root;   /* <data_dir>/postgresql */
	char *pgdata; /* root/data */
	char *run;    /* root/run */
	char *log;    /* root/log */
	char *bindir;
	char *conninfo;
	gboolean run_as_set;
	uid_t uid;
	gid_t gid;
	guint start_timeout_s;
	guint stop_timeout_s;
	EpPgChildSetup setup;

	GSubprocess *server;
	GTask *start_task;
	GError *start_error; /* a start that failed after spawning */
	GTask *stop_task;
	GSource *timer;
	gint64 deadline;
	guint phase;
	EpDb *db;
};

G_DEFINE_TYPE (EpPgEmbedded, ep_pg_embedded, G_TYPE_OBJECT)

static void ep_pg_embedded_spawn (EpPgEmbedded *self);
static void ep_pg_embedded_begin_stop (EpPgEmbedded *self);

/* ---- helpers ------------------------------------------------------------ */

static void
ep_pg_embedded_clear_timer (EpPgEmbedded *self)
{
	if (self->timer == NULL)
		return;
	g_source_destroy (self->timer);
	g_clear_pointer (&self->timer, g_source_unref);
}

static void
ep_pg_embedded_set_timer (EpPgEmbedded *self, guint ms, GSourceFunc func)
{
	ep_pg_embedded_clear_timer (self);
	self->timer = g_timeout_source_new (ms);
	g_source_set_callback (self->timer, func, self, NULL);
	g_source_attach (self->timer, g_main_context_get_thread_default ());
}

/* a libpq connection string value, quoted */
static char *
ep_pg_embedded_quote_value (const char *value)
{
	GString *s = g_string_new ("'");

	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\'' || *p == '\\')
			g_string_append_c (s, '\\');
		g_string_append_c (s, *p);
	}
	g_string_append_c (s, '\'');
	return g_string_free (s, FALSE);
}

static char *
ep_pg_embedded_role (EpPgEmbedded *self)
{
	struct passwd *pw = getpwuid (self->run_as_set ? self->uid : geteuid ());
	return g_strdup (pw != NULL ? pw->pw_name : g_get_user_name ());
}

static char *
ep_pg_embedded_conninfo_for (EpPgEmbedded *self, const char *dbname)
{
	g_autofree char *role = ep_pg_embedded_role (self);
	g_autofree char *host = ep_pg_embedded_quote_value (self->run);
	g_autofree char *db = ep_pg_embedded_quote_value (dbname);
	g_autofree char *user = ep_pg_embedded_quote_value (role);

	return g_strdup_printf ("host=%s port=" EP_PG_PORT " dbname=%s user=%s", host, db, user);
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void
ep_pg_embedded_child_setup (gpointer user_data)
{
	const EpPgChildSetup *s = user_data;

	/* out of the daemon's process group: a ^C on its terminal is the
	 * daemon's to handle, which stops the server in order */
	if (s->server)
		setsid ();
	if (s->drop && (setgroups (1, &s->gid) != 0 || setresgid (s->gid, s->gid, s->gid) != 0 ||
			setresuid (s->uid, s->uid, s->uid) != 0))
		_exit (126);
	if (s->server) {
		/* the daemon dies (SIGKILL, a crash): fast shutdown */
		prctl (PR_SET_PDEATHSIG, SIGINT);
		if (getppid () != s->parent)
			_exit (0);
	}
}

/* what a user's environment must not change for the cluster */
static const char *const ep_pg_embedded_unset_env[] = {
	"PGDATA", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS", "PGTZ",
	/* a PostgreSQL built with systemd support would tell the daemon's
	 * service manager it is ready, on the daemon's behalf */
	"NOTIFY_SOCKET", NULL,
};

static GSubprocessLauncher *
ep_pg_embedded_launcher (EpPgEmbedded *self, GSubprocessFlags flags, gboolean server)
{
	GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

	self->setup.uid = self->uid;
	self->setup.gid = self->gid;
	self->setup.drop = self->run_as_set && geteuid () == 0;
	self->setup.server = server;
	self->setup.parent = getpid ();
	g_subprocess_launcher_set_child_setup (launcher, ep_pg_embedded_child_setup, &self->setup, NULL);
	g_subprocess_launcher_set_cwd (launcher, self->root);
	g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
	for (guint i = 0; ep_pg_embedded_unset_env[i] != NULL; i++)
		g_subprocess_launcher_unsetenv (launcher, ep_pg_embedded_unset_env[i]);
	return launcher;
}

static gboolean
ep_pg_embedded_ensure_dir (EpPgEmbedded *self, const char *path, GError **error)
{
	if (g_mkdir (path, 0700) != 0 && errno != EEXIST) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot create %s: %s"), path, g_strerror (saved));
		return FALSE;
	}
	if (self->run_as_set && geteuid () == 0 && chown (path, self->uid, self->gid) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot give %s to uid %u: %s"), path, (guint) self->uid,
			     g_strerror (saved));
		return FALSE;
	}
	/* the socket directory is what keeps other users out: trust auth */
	if (g_chmod (path, 0700) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot make %s private: %s"), path, g_strerror (saved));
		return FALSE;
	}
	return TRUE;
}

/* Removes a tree this manager created; symbolic links are not followed. */
static gboolean
ep_pg_embedded_remove_tree (const char *path, GError **error)
{
	GStatBuf st;
	g_autoptr(GDir) dir = NULL;
	const char *name;

	if (g_lstat (path, &st) != 0)
		return errno == ENOENT ? TRUE : FALSE;
	if (S_ISDIR (st.st_mode)) {
		dir = g_dir_open (path, 0, error);
		if (dir == NULL)
			return FALSE;
		while ((name = g_dir_read_name (dir)) != NULL) {
			g_autofree char *child = g_build_filename (path, name, NULL);
			if (!ep_pg_embedded_remove_tree (child, error))
				return FALSE;
		}
		if (g_rmdir (path) == 0)
			return TRUE;
	} else if (g_unlink (path) == 0) {
		return TRUE;
	}
	{
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot remove %s: %s"), path, g_strerror (saved));
	}
	return FALSE;
}

/* The last lines PostgreSQL wrote, for an error message. */
static char *
ep_pg_embedded_log_tail (EpPgEmbedded *self)
{
	g_autofree char *startup = g_build_filename (self->log, "startup.log", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GDir) dir = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GString) tail = g_string_new (NULL);
	guint n;
	guint from;

	if (!g_file_get_contents (startup, &text, NULL, NULL) || g_strstrip (text)[0] == '\0') {
		/* after start-up the logging collector writes elsewhere */
		gint64 newest = 0;
		const char *name;
		g_autofree char *best = NULL;
		g_clear_pointer (&text, g_free);
		dir = g_dir_open (self->log, 0, NULL);
		while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
			g_autofree char *path = g_build_filename (self->log, name, NULL);
			GStatBuf st;
			if (g_str_has_prefix (name, "postgresql-") && g_stat (path, &st) == 0 && st.st_mtime >= newest) {
				newest = st.st_mtime;
				g_free (best);
				best = g_steal_pointer (&path);
			}
		}
		if (best == NULL || !g_file_get_contents (best, &text, NULL, NULL))
			return g_strdup (_("(PostgreSQL logged nothing)"));
		g_strstrip (text);
	}
	lines = g_strsplit (text, "\n", -1);
	n = g_strv_length (lines);
	from = n > 8 ? n - 8 : 0;
	for (guint i = from; i < n; i++)
		g_string_append_printf (tail, "\n  %s", lines[i]);
	return g_strdup (tail->str);
}

static guint
ep_pg_embedded_parse_major (const char *text)
{
	/* "15", "15.20", "postgres (PostgreSQL) 15.20 (Debian …)" */
	const char *p = strstr (text, ") ");
	p = p != NULL ? p + 2 : text;
	return (guint) g_ascii_strtoull (p, NULL, 10);
}

/* ---- finding the server ------------------------------------------------- */

static gboolean
ep_pg_embedded_bindir_has_server (const char *bindir)
{
	g_autofree char *postgres = g_build_filename (bindir, "postgres", NULL);
	g_autofree char *initdb = g_build_filename (bindir, "initdb", NULL);

	return g_file_test (postgres, G_FILE_TEST_IS_EXECUTABLE) && g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE);
}

/**
 * ep_pg_embedded_find_bindir:
 *
 * Where the PostgreSQL server programs are: $EPISTLE_PG_BINDIR, else
 * `pg_config --bindir`, else the highest /usr/lib/postgresql/N/bin.
 */
char *
ep_pg_embedded_find_bindir (GError **error)
{
	const char *env = g_getenv ("EPISTLE_PG_BINDIR");
	const char *argv[] = { "pg_config", "--bindir", NULL };
	g_autofree char *out = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autofree char *best = NULL;
	guint best_major = 0;
	int status = 0;
	const char *name;

	if (env != NULL) {
		if (ep_pg_embedded_bindir_has_server (env))
			return g_strdup (env);
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
			     _("EPISTLE_PG_BINDIR is %s, which holds no PostgreSQL server (postgres, initdb); %s"), env,
			     EP_PG_INSTALL_HINT);
		return NULL;
	}
	if (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			  &out, NULL, &status, NULL) &&
	    g_spawn_check_wait_status (status, NULL) && out != NULL) {
		g_strstrip (out);
		/* libpq-dev alone has pg_config but no server */
		if (ep_pg_embedded_bindir_has_server (out))
			return g_steal_pointer (&out);
	}
	dir = g_dir_open ("/usr/lib/postgresql", 0, NULL);
	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree char *bindir = g_build_filename ("/usr/lib/postgresql", name, "bin", NULL);
		guint major = ep_pg_embedded_parse_major (name);
		if (major > best_major && ep_pg_embedded_bindir_has_server (bindir)) {
			best_major = major;
			g_free (best);
			best = g_steal_pointer (&bindir);
		}
	}
	if (best != NULL)
		return g_steal_pointer (&best);
	g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
		     _("no PostgreSQL server found (neither `pg_config --bindir` nor /usr/lib/postgresql/*/bin has "
		       "postgres and initdb): %s, or set [database] url"),
		     EP_PG_INSTALL_HINT);
	return NULL;
}

static guint
ep_pg_embedded_server_major (EpPgEmbedded *self, GError **error)
{
	g_autofree char *postgres = g_build_filename (self->bindir, "postgres", NULL);
	const char *argv[] = { postgres, "--version", NULL };
	g_autofree char *out = NULL;
	int status = 0;
	guint major;

	if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
			   error))
		return 0;
	major = out != NULL ? ep_pg_embedded_parse_major (out) : 0;
	if (!g_spawn_check_wait_status (status, NULL) || major == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE, _("%s --version does not work: %s"), postgres,
			     out != NULL ? g_strstrip (out) : "");
		return 0;
	}
	return major;
}

/* ---- lock files left behind -------------------------------------------- */

static gboolean
ep_pg_embedded_pid_alive (pid_t pid)
{
	g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
	g_autofree char *stat = NULL;
	const char *p;

	if (kill (pid, 0) != 0 && errno != EPERM)
		return FALSE;
	/* a zombie waiting for a parent that does not reap is gone too */
	if (g_file_get_contents (path, &stat, NULL, NULL) && (p = strrchr (stat, ')')) != NULL && p[1] == ' ' &&
	    (p[2] == 'Z' || p[2] == 'X'))
		return FALSE;
	return TRUE;
}

/* A postgres whose working directory (or -D) is this cluster. */
static gboolean
ep_pg_embedded_pid_is_ours (EpPgEmbedded *self, pid_t pid)
{
	g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", (int) pid);
	g_autofree char *cwd_path = g_strdup_printf ("/proc/%d/cwd", (int) pid);
	g_autofree char *cmdline_path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
	g_autofree char *comm = NULL;
	g_autofree char *cwd = NULL;
	g_autofree char *cmdline = NULL;
	g_autofree char *pgdata = realpath (self->pgdata, NULL);
	gsize len = 0;

	if (pgdata == NULL || !g_file_get_contents (comm_path, &comm, NULL, NULL))
		return FALSE;
	g_strstrip (comm);
	if (g_strcmp0 (comm, "postgres") != 0 && g_strcmp0 (comm, "postmaster") != 0)
		return FALSE;
	/* the postmaster works in its data directory */
	cwd = g_file_read_link (cwd_path, NULL);
	if (cwd != NULL)
		return g_strcmp0 (cwd, pgdata) == 0;
	if (!g_file_get_contents (cmdline_path, &cmdline, &len, NULL))
		return FALSE;
	for (gsize i = 0; i < len; i += strlen (cmdline + i) + 1) {
		g_autofree char *arg = realpath (cmdline + i, NULL);
		if (arg != NULL && g_strcmp0 (arg, pgdata) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Every process of this cluster: a postmaster, and backends that outlive
 * a postmaster killed with SIGKILL for a moment. */
static GArray *
ep_pg_embedded_cluster_pids (EpPgEmbedded *self)
{
	GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
	g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
	const char *name;

	while (proc != NULL && (name = g_dir_read_name (proc)) != NULL) {
		pid_t pid;
		if (!g_ascii_isdigit (name[0]))
			continue;
		pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
		if (pid <= 1 || pid == getpid () || !ep_pg_embedded_pid_alive (pid) ||
		    !ep_pg_embedded_pid_is_ours (self, pid))
			continue;
		g_array_append_val (pids, pid);
	}
	return pids;
}

static EpPgLockState
ep_pg_embedded_check_lock (EpPgEmbedded *self, const char *path, pid_t *pid_out)
{
	g_autofree char *text = NULL;
	gint64 pid;

	*pid_out = 0;
	if (!g_file_get_contents (path, &text, NULL, NULL))
		return EP_PG_LOCK_NONE;
	/* a standalone backend writes its pid negated */
	pid = ABS (g_ascii_strtoll (text, NULL, 10));
	if (pid <= 0 || pid > G_MAXINT32)
		return EP_PG_LOCK_FOREIGN;
	*pid_out = (pid_t) pid;
	if (!ep_pg_embedded_pid_alive ((pid_t) pid))
		return EP_PG_LOCK_DEAD;
	if (pid == getpid ())
		return EP_PG_LOCK_FOREIGN;
	return ep_pg_embedded_pid_is_ours (self, (pid_t) pid) ? EP_PG_LOCK_OURS : EP_PG_LOCK_FOREIGN;
}

/* Lock files naming a live process that is not this cluster's server
 * would stop PostgreSQL from starting: they are stale, remove them. */
static gboolean
ep_pg_embedded_remove_foreign_locks (EpPgEmbedded *self, GError **error)
{
	g_autofree char *pidfile = g_build_filename (self->pgdata, "postmaster.pid", NULL);
	g_autofree char *socklock = g_build_filename (self->run, ".s.PGSQL." EP_PG_PORT ".lock", NULL);
	const char *files[] = { pidfile, socklock, NULL };

	for (guint i = 0; files[i] != NULL; i++) {
		pid_t pid = 0;
		if (ep_pg_embedded_check_lock (self, files[i], &pid) != EP_PG_LOCK_FOREIGN)
			continue;
		ep_log_message (NULL, NULL,
				"embedded PostgreSQL: removing the stale lock file %s (pid %d is not a server of this "
				"cluster)",
				files[i], (int) pid);
		if (g_unlink (files[i]) != 0 && errno != ENOENT) {
			int saved = errno;
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot remove the stale lock file %s: %s"),
				     files[i], g_strerror (saved));
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- the object --------------------------------------------------------- */

static void
ep_pg_embedded_dispose (GObject *object)
{
	EpPgEmbedded *self = EP_PG_EMBEDDED (object);

	ep_pg_embedded_clear_timer (self);
	if (self->server != NULL) {
		ep_log_warning (NULL, NULL, "embedded PostgreSQL (pid %s) was not stopped; asking it for a fast shutdown",
				g_subprocess_get_identifier (self->server));
		g_subprocess_send_signal (self->server, SIGINT);
		g_clear_object (&self->server);
	}
	if (self->db != NULL) {
		ep_db_close (self->db);
		g_clear_object (&self->db);
	}
	G_OBJECT_CLASS (ep_pg_embedded_parent_class)->dispose (object);
}

static void
ep_pg_embedded_finalize (GObject *object)
{
	EpPgEmbedded *self = EP_PG_EMBEDDED (object);

	g_clear_error (&self->start_error);
	g_free (self->data_dir);
	g_free (self->root);
	g_free (self->pgdata);
	g_free (self->run);
	g_free (self->log);
	g_free (self->bindir);
	g_free (self->conninfo);
	G_OBJECT_CLASS (ep_pg_embedded_parent_class)->finalize (object);
}

static void
ep_pg_embedded_class_init (EpPgEmbeddedClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = ep_pg_embedded_dispose;
	object_class->finalize = ep_pg_embedded_finalize;
}

static void
ep_pg_embedded_init (EpPgEmbedded *self)
{
	self->start_timeout_s = EP_PG_DEFAULT_START_TIMEOUT_S;
	self->stop_timeout_s = EP_PG_DEFAULT_STOP_TIMEOUT_S;
}

/**
 * ep_pg_embedded_new:
 * @data_dir: the daemon's data_dir; the cluster lives in its postgresql/
 */
EpPgEmbedded *
ep_pg_embedded_new (const char *data_dir)
{
	EpPgEmbedded *self = g_object_new (EP_TYPE_PG_EMBEDDED, NULL);

	self->data_dir = g_strdup (data_dir);
	self->root = g_build_filename (data_dir, "postgresql", NULL);
	self->pgdata = g_build_filename (self->root, "data", NULL);
	self->run = g_build_filename (self->root, "run", NULL);
	self->log = g_build_filename (self->root, "log", NULL);
	return self;
}

/**
 * ep_pg_embedded_set_run_as:
 *
 * The user the server runs as when the caller is root (PostgreSQL refuses
 * root); the cluster's files are given to that user.  The daemon has
 * dropped root before it starts the server and does not need this.
 */
void
ep_pg_embedded_set_run_as (EpPgEmbedded *self, uid_t uid, gid_t gid)
{
	g_return_if_fail (EP_IS_PG_EMBEDDED (self));
	self->run_as_set = TRUE;
	self->uid = uid;
	self->gid = gid;
	g_clear_pointer (&self->conninfo, g_free);
}

/* instead of looking for the server programs */
void
ep_pg_embedded_set_bindir (EpPgEmbedded *self, const char *bindir)
{
	g_return_if_fail (EP_IS_PG_EMBEDDED (self));
	g_free (self->bindir);
	self->bindir = g_strdup (bindir);
}

/**
 * ep_pg_embedded_set_timeouts:
 * @start_s: how long start-up may take
 * @stop_s: how long each of the smart and the fast shutdown may take
 *   before the next, stronger one
 */
void
ep_pg_embedded_set_timeouts (EpPgEmbedded *self, guint start_s, guint stop_s)
{
	g_return_if_fail (EP_IS_PG_EMBEDDED (self));
	self->start_timeout_s = MAX (start_s, 1);
	self->stop_timeout_s = MAX (stop_s, 1);
}

/**
 * ep_pg_embedded_get_conninfo:
 *
 * The connection string of the cluster's database for the daemon:
 * "host=<socket dir> port=5432 dbname=epistle user=<service user>".
 * Known before the server starts.
 */
const char *
ep_pg_embedded_get_conninfo (EpPgEmbedded *self)
{
	g_return_val_if_fail (EP_IS_PG_EMBEDDED (self), NULL);
	if (self->conninfo == NULL)
		self->conninfo = ep_pg_embedded_conninfo_for (self, EP_PG_EMBEDDED_DATABASE);
	return self->conninfo;
}

const char *
ep_pg_embedded_get_cluster_dir (EpPgEmbedded *self)
{
	g_return_val_if_fail (EP_IS_PG_EMBEDDED (self), NULL);
	return self->root;
}

const char *
ep_pg_embedded_get_socket_dir (EpPgEmbedded *self)
{
	g_return_val_if_fail (EP_IS_PG_EMBEDDED (self), NULL);
	return self->run;
}

/* the server's pid, or 0 when it does not run */
GPid
ep_pg_embedded_get_pid (EpPgEmbedded *self)
{
	const char *id;

	g_return_val_if_fail (EP_IS_PG_EMBEDDED (self), 0);
	/* no identifier once the process was reaped, even before the wait
	 * callback has run */
	id = self->server != NULL ? g_subprocess_get_identifier (self->server) : NULL;
	return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

/* ---- start -------------------------------------------------------------- */

static void
ep_pg_embedded_start_done (EpPgEmbedded *self, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

	ep_pg_embedded_clear_timer (self);
	if (self->db != NULL) {
		ep_db_close (self->db);
		g_clear_object (&self->db);
	}
	if (error != NULL)
		g_task_return_error (task, error);
	else
		g_task_return_boolean (task, TRUE);
}

/* A start that fails once the server runs stops it first. */
static void
ep_pg_embedded_start_fail (EpPgEmbedded *self, GError *error)
{
	if (self->server == NULL) {
		ep_pg_embedded_start_done (self, error);
		return;
	}
	g_clear_error (&self->start_error);
	self->start_error = error;
	ep_pg_embedded_begin_stop (self);
}

static gboolean
ep_pg_embedded_prepare (EpPgEmbedded *self, gboolean *need_initdb, GError **error)
{
	struct sockaddr_un sun;
	g_autofree char *version_file = g_build_filename (self->pgdata, "PG_VERSION", NULL);
	g_autofree char *scratch = g_strconcat (self->pgdata, ".initdb", NULL);
	g_autofree char *version = NULL;
	guint major;

	if (geteuid () == 0 && (!self->run_as_set || self->uid == 0)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("PostgreSQL does not run as root: the embedded database starts after the daemon "
				       "has dropped privileges"));
		return FALSE;
	}
	if (self->run_as_set && geteuid () != 0 && self->uid != geteuid ()) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     _("cannot run the embedded PostgreSQL as uid %u: only root can switch users"),
			     (guint) self->uid);
		return FALSE;
	}
	if (self->bindir == NULL) {
		self->bindir = ep_pg_embedded_find_bindir (error);
		if (self->bindir == NULL)
			return FALSE;
	} else if (!ep_pg_embedded_bindir_has_server (self->bindir)) {
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
			     _("%s holds no PostgreSQL server (postgres, initdb): %s"), self->bindir,
			     EP_PG_INSTALL_HINT);
		return FALSE;
	}
	if (strlen (self->run) + strlen ("/.s.PGSQL." EP_PG_PORT) >= sizeof (sun.sun_path)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("data_dir %s is too long: the embedded PostgreSQL's socket path must fit in %u bytes"),
			     self->data_dir, (guint) sizeof (sun.sun_path) - 1);
		return FALSE;
	}
	if (!ep_pg_embedded_ensure_dir (self, self->root, error) || !ep_pg_embedded_ensure_dir (self, self->run, error) ||
	    !ep_pg_embedded_ensure_dir (self, self->log, error))
		return FALSE;
	major = ep_pg_embedded_server_major (self, error);
	if (major == 0)
		return FALSE;

	*need_initdb = !g_file_get_contents (version_file, &version, NULL, NULL);
	if (*need_initdb) {
		if (g_file_test (self->pgdata, G_FILE_TEST_EXISTS)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("%s exists but holds no PostgreSQL cluster (no PG_VERSION); move it away to "
				       "start a new one"),
				     self->pgdata);
			return FALSE;
		}
		/* what an interrupted first start left */
		return ep_pg_embedded_remove_tree (scratch, error);
	}
	if (ep_pg_embedded_parse_major (g_strstrip (version)) != major) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("the embedded cluster %s was made by PostgreSQL %s but the server in %s is version %u: "
			       "install postgresql-%s beside it, or upgrade the cluster with pg_upgrade"),
			     self->pgdata, version, self->bindir, major, version);
		return FALSE;
	}
	return TRUE;
}

static void
ep_pg_embedded_on_database (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpPgEmbedded *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_finish (EP_DB (source), result, &error);

	/* another process may have made it just now: 42P04 duplicate_database */
	if (r == NULL && strstr (error->message, "SQLSTATE 42P04") == NULL) {
		g_prefix_error (&error, _("cannot create the database %s: "), EP_PG_EMBEDDED_DATABASE);
		ep_pg_embedded_start_fail (self, g_steal_pointer (&error));
		return;
	}
	ep_log_message (NULL, NULL, "embedded PostgreSQL: created the database %s", EP_PG_EMBEDDED_DATABASE);
	ep_pg_embedded_start_done (self, NULL);
}

static void
ep_pg_embedded_on_database_exists (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpPgEmbedded *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_finish (EP_DB (source), result, &error);
	g_autofree char *name = NULL;
	g_autofree char *sql = NULL;

	if (r == NULL) {
		g_prefix_error (&error, _("the embedded PostgreSQL does not answer: "));
		ep_pg_embedded_start_fail (self, g_steal_pointer (&error));
		return;
	}
	if (ep_db_result_get_n_rows (r) > 0) {
		ep_pg_embedded_start_done (self, NULL);
		return;
	}
	name = ep_db_quote_identifier (EP_PG_EMBEDDED_DATABASE);
	sql = g_strdup_printf ("CREATE DATABASE %s", name);
	ep_db_query_async (self->db, sql, NULL, NULL, ep_pg_embedded_on_database, self);
}

/* The server accepts connections: make the daemon's database the first
 * time.  This is also the check that connecting works. */
static void
ep_pg_embedded_create_database (EpPgEmbedded *self)
{
	g_autofree char *conninfo = ep_pg_embedded_conninfo_for (self, "postgres");
	g_autoptr(EpDbParams) params = ep_db_params_new_text (EP_PG_EMBEDDED_DATABASE, NULL);
	GError *error = NULL;

	self->db = ep_db_new (conninfo, 1, &error);
	if (self->db == NULL) {
		ep_pg_embedded_start_fail (self, error);
		return;
	}
	ep_db_query_async (self->db, "SELECT 1 FROM pg_database WHERE datname = $1", params, NULL,
			   ep_pg_embedded_on_database_exists, self);
}

static gboolean
ep_pg_embedded_on_ready_tick (gpointer user_data)
{
	EpPgEmbedded *self = user_data;
	g_autofree char *pidfile = g_build_filename (self->pgdata, "postmaster.pid", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (g_get_monotonic_time () > self->deadline) {
		g_autofree char *tail = ep_pg_embedded_log_tail (self);
		g_clear_pointer (&self->timer, g_source_unref);
		ep_pg_embedded_start_fail (self, g_error_new (EP_ERROR, EP_ERROR_TIMEOUT,
							      _("the embedded PostgreSQL did not start within %u s:%s"),
							      self->start_timeout_s, tail));
		return G_SOURCE_REMOVE;
	}
	/* line 1 the pid, line 8 the state: what pg_ctl -w reads too */
	if (!g_file_get_contents (pidfile, &text, NULL, NULL))
		return G_SOURCE_CONTINUE;
	lines = g_strsplit (text, "\n", -1);
	if (g_strv_length (lines) < 8 || g_ascii_strtoll (lines[0], NULL, 10) != ep_pg_embedded_get_pid (self) ||
	    !g_str_has_prefix (lines[7], "ready"))
		return G_SOURCE_CONTINUE;
	g_clear_pointer (&self->timer, g_source_unref);
	ep_log_info (NULL, NULL, "embedded PostgreSQL ready (pid %d) on %s", (int) ep_pg_embedded_get_pid (self),
		     self->run);
	ep_pg_embedded_create_database (self);
	return G_SOURCE_REMOVE;
}

static void
ep_pg_embedded_on_server_exit (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GWeakRef *watch = user_data;
	g_autoptr(EpPgEmbedded) self = g_weak_ref_get (watch);
	GSubprocess *server = G_SUBPROCESS (source);
	g_autofree char *how = NULL;

	g_weak_ref_clear (watch);
	g_free (watch);
	if (!g_subprocess_wait_finish (server, result, NULL) || self == NULL || self->server != server)
		return;
	if (g_subprocess_get_if_exited (server))
		how = g_strdup_printf ("exit status %d", g_subprocess_get_exit_status (server));
	else
		how = g_strdup_printf ("signal %d", g_subprocess_get_term_sig (server));
	g_clear_object (&self->server);
	ep_pg_embedded_clear_timer (self);

	if (self->stop_task != NULL) {
		g_autoptr(GTask) task = g_steal_pointer (&self->stop_task);
		ep_log_message (NULL, NULL, "embedded PostgreSQL stopped (%s)", how);
		g_task_return_boolean (task, TRUE);
		return;
	}
	if (self->start_task != NULL) {
		GError *error = g_steal_pointer (&self->start_error);
		if (error == NULL) {
			g_autofree char *tail = ep_pg_embedded_log_tail (self);
			error = g_error_new (EP_ERROR, EP_ERROR_UNAVAILABLE,
					     _("the embedded PostgreSQL exited while starting (%s):%s"), how, tail);
		}
		ep_pg_embedded_start_done (self, error);
		return;
	}
	ep_log_warning (NULL, NULL, "the embedded PostgreSQL exited (%s); queries fail until the daemon restarts; see %s",
			how, self->log);
}

static void
ep_pg_embedded_spawn (EpPgEmbedded *self)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *postgres = g_build_filename (self->bindir, "postgres", NULL);
	g_autofree char *startup = g_build_filename (self->log, "startup.log", NULL);
	/* a list setting: a directory with a comma or a space is quoted */
	g_autofree char *sockets = g_strdup_printf (strpbrk (self->run, ", ") != NULL ? "unix_socket_directories=\"%s\""
										     : "unix_socket_directories=%s",
						    self->run);
	g_autofree char *log_dir = g_strdup_printf ("log_directory=%s", self->log);
	const char *argv[] = {
		postgres,
		"-D", self->pgdata,
		"-c", "listen_addresses=",
		"-c", sockets,
		"-c", "unix_socket_permissions=0700",
		"-c", "port=" EP_PG_PORT,
		"-c", "fsync=on",
		"-c", "logging_collector=on",
		"-c", log_dir,
		NULL,
	};
	GWeakRef *watch;
	int fd;

	if (!ep_pg_embedded_remove_foreign_locks (self, &error)) {
		ep_pg_embedded_start_done (self, g_steal_pointer (&error));
		return;
	}
	/* what PostgreSQL says before its logging collector takes over */
	g_unlink (startup);
	fd = open (startup, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int saved = errno;
		ep_pg_embedded_start_done (self, g_error_new (EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"),
							      startup, g_strerror (saved)));
		return;
	}
	if (self->run_as_set && geteuid () == 0 && fchown (fd, self->uid, self->gid) != 0)
		ep_log_debug (NULL, NULL, "embedded PostgreSQL: cannot give %s away", startup);
	launcher = ep_pg_embedded_launcher (self, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, TRUE);
	g_subprocess_launcher_take_stderr_fd (launcher, fd);
	self->server = g_subprocess_launcher_spawnv (launcher, argv, &error);
	if (self->server == NULL) {
		g_prefix_error (&error, _("cannot run %s: "), postgres);
		ep_pg_embedded_start_done (self, g_steal_pointer (&error));
		return;
	}
	watch = g_new0 (GWeakRef, 1);
	g_weak_ref_init (watch, self);
	g_subprocess_wait_async (self->server, NULL, ep_pg_embedded_on_server_exit, watch);
	self->deadline = g_get_monotonic_time () + (gint64) self->start_timeout_s * G_USEC_PER_SEC;
	ep_pg_embedded_set_timer (self, EP_PG_POLL_MS, ep_pg_embedded_on_ready_tick);
}

/* Leftovers of an earlier daemon: wait for them to go (the postmaster was
 * asked for a fast shutdown), then shut them down immediately. */
static gboolean
ep_pg_embedded_on_orphan_tick (gpointer user_data)
{
	EpPgEmbedded *self = user_data;
	g_autoptr(GArray) pids = ep_pg_embedded_cluster_pids (self);

	if (pids->len == 0) {
		g_clear_pointer (&self->timer, g_source_unref);
		ep_log_message (NULL, NULL, "embedded PostgreSQL: the processes of the earlier run are gone");
		ep_pg_embedded_spawn (self);
		return G_SOURCE_REMOVE;
	}
	if (g_get_monotonic_time () < self->deadline)
		return G_SOURCE_CONTINUE;
	if (self->phase == 0) {
		ep_log_warning (NULL, NULL, "embedded PostgreSQL: %u processes of an earlier run do not stop; "
					    "sending SIGQUIT",
				pids->len);
		for (guint i = 0; i < pids->len; i++)
			kill (g_array_index (pids, pid_t, i), SIGQUIT);
		self->phase = 1;
		self->deadline = g_get_monotonic_time () + EP_PG_IMMEDIATE_TIMEOUT_S * G_USEC_PER_SEC;
		return G_SOURCE_CONTINUE;
	}
	g_clear_pointer (&self->timer, g_source_unref);
	ep_pg_embedded_start_done (self, g_error_new (EP_ERROR, EP_ERROR_UNAVAILABLE,
						      _("PostgreSQL processes (pid %d, …) of an earlier run still use %s "
							"and do not stop; stop them by hand"),
						      (int) g_array_index (pids, pid_t, 0), self->pgdata));
	return G_SOURCE_REMOVE;
}

static void
ep_pg_embedded_recover (EpPgEmbedded *self)
{
	g_autofree char *pidfile = g_build_filename (self->pgdata, "postmaster.pid", NULL);
	g_autoptr(GArray) pids = ep_pg_embedded_cluster_pids (self);
	pid_t pid = 0;

	if (ep_pg_embedded_check_lock (self, pidfile, &pid) == EP_PG_LOCK_OURS) {
		/* its stdio, its exit status and its shutdown are out of
		 * reach: stop it and start one of our own (a fast shutdown
		 * loses nothing committed) */
		ep_log_message (NULL, NULL,
				"embedded PostgreSQL: a server from an earlier run (pid %d) still runs on %s; "
				"stopping it",
				(int) pid, self->pgdata);
		kill (pid, SIGINT);
	} else if (pids->len > 0) {
		ep_log_message (NULL, NULL,
				"embedded PostgreSQL: %u processes of an earlier run still use %s; waiting for them",
				pids->len, self->pgdata);
	} else {
		ep_pg_embedded_spawn (self);
		return;
	}
	self->phase = 0;
	self->deadline = g_get_monotonic_time () + (gint64) self->stop_timeout_s * G_USEC_PER_SEC;
	ep_pg_embedded_set_timer (self, EP_PG_ORPHAN_POLL_MS, ep_pg_embedded_on_orphan_tick);
}

static gboolean
ep_pg_embedded_write_settings (EpPgEmbedded *self, const char *pgdata, GError **error)
{
	g_autofree char *conf = g_build_filename (pgdata, "postgresql.conf", NULL);
	g_autofree char *text = NULL;
	g_autofree char *all = NULL;
	static const char settings[] =
		"\n"
		"# epistle: its embedded cluster.  The daemon passes these on the command\n"
		"# line at every start as well, with unix_socket_directories and\n"
		"# log_directory, which follow data_dir.\n"
		"listen_addresses = ''\n"
		"unix_socket_permissions = 0700\n"
		"fsync = on\n"
		"logging_collector = on\n"
		"log_directory = '../log'\n"
		"log_filename = 'postgresql-%a.log'\n"
		"log_truncate_on_rotation = on\n"
		"log_rotation_age = 1d\n"
		"log_rotation_size = 0\n";

	if (!g_file_get_contents (conf, &text, NULL, error))
		return FALSE;
	all = g_strconcat (text, settings, NULL);
	/* g_file_set_contents() would make a new file owned by the caller */
	{
		int fd = open (conf, O_WRONLY | O_TRUNC | O_CLOEXEC);
		gsize len = strlen (all);
		gssize done = 0;
		if (fd < 0) {
			int saved = errno;
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"), conf, g_strerror (saved));
			return FALSE;
		}
		while ((gsize) done < len) {
			gssize n = write (fd, all + done, len - (gsize) done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int saved = errno;
				close (fd);
				g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"), conf,
					     g_strerror (saved));
				return FALSE;
			}
			done += n;
		}
		if (fsync (fd) != 0 || close (fd) != 0) {
			int saved = errno;
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"), conf, g_strerror (saved));
			return FALSE;
		}
	}
	return TRUE;
}

static void
ep_pg_embedded_on_initdb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EpPgEmbedded *self = user_data;
	GSubprocess *initdb = G_SUBPROCESS (source);
	g_autoptr(GError) error = NULL;
	g_autofree char *out = NULL;
	g_autofree char *scratch = g_strconcat (self->pgdata, ".initdb", NULL);

	if (!g_subprocess_communicate_utf8_finish (initdb, result, &out, NULL, &error)) {
		ep_pg_embedded_start_done (self, g_steal_pointer (&error));
		return;
	}
	if (!g_subprocess_get_successful (initdb)) {
		ep_pg_embedded_remove_tree (scratch, NULL);
		ep_pg_embedded_start_done (self, g_error_new (EP_ERROR, EP_ERROR_UNAVAILABLE,
							      _("initdb failed for the embedded PostgreSQL:\n%s"),
							      out != NULL ? g_strstrip (out) : ""));
		return;
	}
	if (!ep_pg_embedded_write_settings (self, scratch, &error)) {
		ep_pg_embedded_start_done (self, g_steal_pointer (&error));
		return;
	}
	/* only a complete cluster gets the name */
	if (g_rename (scratch, self->pgdata) != 0) {
		int saved = errno;
		ep_pg_embedded_start_done (self, g_error_new (EP_ERROR, EP_ERROR_PERM, _("cannot rename %s to %s: %s"),
							      scratch, self->pgdata, g_strerror (saved)));
		return;
	}
	ep_log_message (NULL, NULL, "embedded PostgreSQL: created the cluster %s", self->pgdata);
	ep_pg_embedded_recover (self);
}

static void
ep_pg_embedded_initdb (EpPgEmbedded *self)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) initdb = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *program = g_build_filename (self->bindir, "initdb", NULL);
	g_autofree char *scratch = g_strconcat (self->pgdata, ".initdb", NULL);
	g_autofree char *role = ep_pg_embedded_role (self);
	g_autofree char *user_opt = g_strdup_printf ("--username=%s", role);
	const char *argv[] = {
		program,
		"-D", scratch,
		user_opt,
		"--auth-local=trust",
		"--auth-host=reject",
		"--encoding=UTF8",
		"--locale=C.UTF-8",
		"--data-checksums",
		"--no-instructions",
		NULL,
	};

	ep_log_message (NULL, NULL, "embedded PostgreSQL: first start, running initdb in %s", self->root);
	launcher = ep_pg_embedded_launcher (self, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
					    FALSE);
	initdb = g_subprocess_launcher_spawnv (launcher, argv, &error);
	if (initdb == NULL) {
		g_prefix_error (&error, _("cannot run %s: "), program);
		ep_pg_embedded_start_done (self, g_steal_pointer (&error));
		return;
	}
	g_subprocess_communicate_utf8_async (initdb, NULL, NULL, ep_pg_embedded_on_initdb, self);
}

/**
 * ep_pg_embedded_start_async:
 *
 * Makes the cluster on first start, recovers from a daemon that was
 * killed, starts the server, waits until it accepts connections and makes
 * the database the first time.  Nothing to do if it already runs.
 */
void
ep_pg_embedded_start_async (EpPgEmbedded *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	gboolean need_initdb = FALSE;

	g_return_if_fail (EP_IS_PG_EMBEDDED (self));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_pg_embedded_start_async);
	if (self->start_task != NULL || self->stop_task != NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP,
					 _("the embedded PostgreSQL is already starting or stopping"));
		return;
	}
	if (self->server != NULL) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	if (!ep_pg_embedded_prepare (self, &need_initdb, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	self->start_task = g_steal_pointer (&task);
	if (need_initdb)
		ep_pg_embedded_initdb (self);
	else
		ep_pg_embedded_recover (self);
}

gboolean
ep_pg_embedded_start_finish (EpPgEmbedded *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- stop --------------------------------------------------------------- */

static gboolean
ep_pg_embedded_on_stop_tick (gpointer user_data)
{
	EpPgEmbedded *self = user_data;

	g_clear_pointer (&self->timer, g_source_unref);
	if (self->server == NULL)
		return G_SOURCE_REMOVE;
	self->phase++;
	switch (self->phase) {
	case 1:
		ep_log_message (NULL, NULL, "embedded PostgreSQL: sessions still open after %u s; fast shutdown",
				self->stop_timeout_s);
		g_subprocess_send_signal (self->server, SIGINT);
		ep_pg_embedded_set_timer (self, self->stop_timeout_s * 1000, ep_pg_embedded_on_stop_tick);
		break;
	case 2:
		ep_log_warning (NULL, NULL,
				"embedded PostgreSQL: no fast shutdown after %u s; immediate shutdown (recovery at "
				"the next start)",
				self->stop_timeout_s);
		g_subprocess_send_signal (self->server, SIGQUIT);
		ep_pg_embedded_set_timer (self, EP_PG_IMMEDIATE_TIMEOUT_S * 1000, ep_pg_embedded_on_stop_tick);
		break;
	default:
		ep_log_warning (NULL, NULL, "embedded PostgreSQL: still running; killing it");
		g_subprocess_force_exit (self->server);
		break;
	}
	return G_SOURCE_REMOVE;
}

/* Smart shutdown, then fast, then immediate; the exit callback ends it. */
static void
ep_pg_embedded_begin_stop (EpPgEmbedded *self)
{
	self->phase = 0;
	g_subprocess_send_signal (self->server, SIGTERM);
	ep_pg_embedded_set_timer (self, self->stop_timeout_s * 1000, ep_pg_embedded_on_stop_tick);
}

/**
 * ep_pg_embedded_stop_async:
 *
 * Stops the server: a smart shutdown (SIGTERM) waits for the sessions to
 * end; after the stop timeout a fast one (SIGINT) closes them; after
 * another, an immediate one (SIGQUIT).  Call it after the modules shut
 * down and the database connections closed.
 */
void
ep_pg_embedded_stop_async (EpPgEmbedded *self, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail (EP_IS_PG_EMBEDDED (self));

	task = g_task_new (self, NULL, callback, user_data);
	g_task_set_source_tag (task, ep_pg_embedded_stop_async);
	if (self->start_task != NULL || self->stop_task != NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP,
					 _("the embedded PostgreSQL is already starting or stopping"));
		return;
	}
	if (self->server == NULL) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	self->stop_task = g_steal_pointer (&task);
	ep_pg_embedded_begin_stop (self);
}

gboolean
ep_pg_embedded_stop_finish (EpPgEmbedded *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- blocking ----------------------------------------------------------- */

static void
ep_pg_embedded_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **slot = user_data;
	*slot = g_object_ref (result);
}

gboolean
ep_pg_embedded_start_sync (EpPgEmbedded *self, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();

	ep_pg_embedded_start_async (self, NULL, ep_pg_embedded_sync_cb, &result);
	while (result == NULL)
		g_main_context_iteration (context, TRUE);
	return ep_pg_embedded_start_finish (self, result, error);
}

gboolean
ep_pg_embedded_stop_sync (EpPgEmbedded *self, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();

	ep_pg_embedded_stop_async (self, ep_pg_embedded_sync_cb, &result);
	while (result == NULL)
		g_main_context_iteration (context, TRUE);
	return ep_pg_embedded_stop_finish (self, result, error);
}
