/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep-db.h"
#include "ep-error.h"
#include "ep-pg-embedded.h"

/*
 * The embedded PostgreSQL, for real: every test works on one cluster in a
 * temporary data_dir, in order (first start, restart, a server left
 * running, a daemon killed with SIGKILL, a stale lock file).  As root the
 * server runs as the user 'epistle', as the daemon's would after
 * dropping privileges.  Without the server binaries the tests are skipped.
 */

#define TEST_SERVICE_USER "epistle"
#define TEST_HOLD_ENV	  "EP_PG_EMBEDDED_TEST_HOLD"

static char *data_dir = NULL;
static char *skip_reason = NULL;
static gboolean as_root = FALSE;
static uid_t run_uid;
static gid_t run_gid;
static char *run_user = NULL;
static GPtrArray *logged = NULL;

static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if ((level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) == 0)
		return g_log_writer_default (level, fields, n_fields, user_data);
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0 (fields[i].key, "MESSAGE") == 0) {
			g_ptr_array_add (logged, g_strdup (fields[i].value));
			if (g_test_verbose ())
				g_test_message ("log: %s", (const char *) fields[i].value);
		}
	}
	return G_LOG_WRITER_HANDLED;
}

static guint
test_log_count (const char *needle)
{
	guint n = 0;

	for (guint i = 0; i < logged->len; i++) {
		if (strstr (g_ptr_array_index (logged, i), needle) != NULL)
			n++;
	}
	return n;
}

static gboolean
test_resolve_user (void)
{
	struct passwd *pw;

	if (geteuid () != 0) {
		run_user = g_strdup (g_get_user_name ());
		return TRUE;
	}
	pw = getpwnam (TEST_SERVICE_USER);
	if (pw == NULL)
		return FALSE;
	as_root = TRUE;
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	run_user = g_strdup (pw->pw_name);
	return TRUE;
}

static EpPgEmbedded *
test_manager_new (void)
{
	EpPgEmbedded *pg = ep_pg_embedded_new (data_dir);

	if (as_root)
		ep_pg_embedded_set_run_as (pg, run_uid, run_gid);
	ep_pg_embedded_set_timeouts (pg, 30, 5);
	return pg;
}

static gboolean
test_need_server (void)
{
	if (skip_reason == NULL)
		return TRUE;
	g_test_skip (skip_reason);
	return FALSE;
}

static EpDb *
test_db_new (EpPgEmbedded *pg)
{
	g_autoptr(GError) error = NULL;
	EpDb *db = ep_db_new (ep_pg_embedded_get_conninfo (pg), 2, &error);

	g_assert_no_error (error);
	return db;
}

static void
test_exec (EpDb *db, const char *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_sync (db, sql, NULL, &error);

	g_assert_no_error (error);
	g_assert_nonnull (r);
}

static char *
test_query_text (EpDb *db, const char *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_sync (db, sql, NULL, &error);

	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_n_rows (r), ==, 1);
	return g_strdup (ep_db_result_get_text (r, 0, 0));
}

static void
test_assert_query (EpDb *db, const char *sql, const char *expected)
{
	g_autofree char *value = test_query_text (db, sql);
	g_assert_cmpstr (value, ==, expected);
}

static char *
test_path (const char *relative)
{
	return g_build_filename (data_dir, "postgresql", relative, NULL);
}

static void
test_start (EpPgEmbedded *pg)
{
	g_autoptr(GError) error = NULL;

	g_assert_true (ep_pg_embedded_start_sync (pg, &error));
	g_assert_no_error (error);
	g_assert_cmpint (ep_pg_embedded_get_pid (pg), >, 0);
}

static void
test_stop (EpPgEmbedded *pg)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *pidfile = test_path ("data/postmaster.pid");

	g_assert_true (ep_pg_embedded_stop_sync (pg, &error));
	g_assert_no_error (error);
	g_assert_cmpint (ep_pg_embedded_get_pid (pg), ==, 0);
	g_assert_false (g_file_test (pidfile, G_FILE_TEST_EXISTS));
}

static gboolean
test_pid_alive (pid_t pid)
{
	g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
	g_autofree char *stat = NULL;
	const char *p;

	if (kill (pid, 0) != 0)
		return FALSE;
	return !(g_file_get_contents (path, &stat, NULL, NULL) && (p = strrchr (stat, ')')) != NULL && p[2] == 'Z');
}

static void
test_embedded_first_start (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autofree char *version = test_path ("data/PG_VERSION");
	g_autofree char *run = test_path ("run");
	g_autofree char *expected_host = NULL;
	g_autofree char *proc = NULL;
	GStatBuf st;

	if (!test_need_server ())
		return;
	pg = test_manager_new ();
	g_assert_cmpstr (ep_pg_embedded_get_socket_dir (pg), ==, run);
	expected_host = g_strdup_printf ("host='%s' port=5432 dbname='epistle' user='%s'", run, run_user);
	g_assert_cmpstr (ep_pg_embedded_get_conninfo (pg), ==, expected_host);

	test_start (pg);
	g_assert_cmpuint (test_log_count ("created the cluster"), ==, 1);
	g_assert_cmpuint (test_log_count ("created the database epistle"), ==, 1);
	g_assert_true (g_file_test (version, G_FILE_TEST_IS_REGULAR));
	/* the socket directory is private; the server runs as the service user */
	g_assert_cmpint (g_stat (run, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 0777, ==, 0700);
	proc = g_strdup_printf ("/proc/%d", (int) ep_pg_embedded_get_pid (pg));
	g_assert_cmpint (g_stat (proc, &st), ==, 0);
	if (as_root)
		g_assert_cmpuint (st.st_uid, ==, run_uid);
	else
		g_assert_cmpuint (st.st_uid, ==, geteuid ());

	db = test_db_new (pg);
	test_assert_query (db, "SELECT current_database()", "epistle");
	test_assert_query (db, "SELECT current_user", run_user);
	test_assert_query (db, "SHOW listen_addresses", "");
	test_assert_query (db, "SHOW fsync", "on");
	test_assert_query (db, "SHOW server_encoding", "UTF8");
	test_assert_query (db, "SHOW lc_collate", "C.UTF-8");
	test_assert_query (db, "SHOW data_checksums", "on");
	test_assert_query (db, "SHOW unix_socket_directories", run);
	/* trust on the socket, nothing at all over TCP */
	test_assert_query (db, "SELECT count(*) FROM pg_hba_file_rules WHERE type <> 'local' AND auth_method <> 'reject'",
			   "0");
	test_assert_query (db, "SELECT count(*) > 0 FROM pg_hba_file_rules WHERE type = 'local' AND auth_method = 'trust'",
			   "t");
	test_exec (db, "CREATE TABLE kept (v text)");
	test_exec (db, "INSERT INTO kept VALUES ('first start')");
	ep_db_close (db);

	/* starting again is nothing to do */
	test_start (pg);
	test_stop (pg);
	/* stopping again neither */
	test_stop (pg);
}

static void
test_embedded_restart_keeps_data (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;

	if (!test_need_server ())
		return;
	pg = test_manager_new ();
	test_start (pg);
	g_assert_cmpuint (test_log_count ("created the cluster"), ==, 1);
	g_assert_cmpuint (test_log_count ("created the database"), ==, 1);
	db = test_db_new (pg);
	test_assert_query (db, "SELECT string_agg(v, ',') FROM kept", "first start");
	ep_db_close (db);
	test_stop (pg);
}

static void
test_child_setup (gpointer user_data)
{
	if (as_root && (setgroups (1, &run_gid) != 0 || setgid (run_gid) != 0 || setuid (run_uid) != 0))
		_exit (126);
}

/* A server that is not the daemon's child: what an older daemon, or one
 * whose death signal did not arrive, leaves behind. */
static void
test_embedded_orphan (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *bindir = NULL;
	g_autofree char *pg_ctl = NULL;
	g_autofree char *pgdata = test_path ("data");
	g_autofree char *run = test_path ("run");
	g_autofree char *options = NULL;
	g_autofree char *pidfile = test_path ("data/postmaster.pid");
	g_autofree char *text = NULL;
	g_autofree char *orphan_log = g_build_filename (data_dir, "orphan.log", NULL);
	pid_t orphan;
	int status = 0;

	if (!test_need_server ())
		return;
	bindir = ep_pg_embedded_find_bindir (&error);
	g_assert_no_error (error);
	pg_ctl = g_build_filename (bindir, "pg_ctl", NULL);
	options = g_strdup_printf ("-c unix_socket_directories=%s", run);
	{
		const char *argv[] = { pg_ctl, "-D", pgdata, "-o", options, "-l", orphan_log, "-w", "start", NULL };
		g_assert_true (g_spawn_sync (data_dir, (char **) argv, NULL,
					     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, test_child_setup,
					     NULL, NULL, NULL, &status, &error));
		g_assert_no_error (error);
		g_assert_true (g_spawn_check_wait_status (status, NULL));
	}
	g_assert_true (g_file_get_contents (pidfile, &text, NULL, NULL));
	orphan = (pid_t) g_ascii_strtoll (text, NULL, 10);
	g_assert_true (test_pid_alive (orphan));

	pg = test_manager_new ();
	test_start (pg);
	g_assert_cmpuint (test_log_count ("still runs on"), ==, 1);
	g_assert_false (test_pid_alive (orphan));
	g_assert_cmpint (ep_pg_embedded_get_pid (pg), !=, orphan);
	db = test_db_new (pg);
	test_assert_query (db, "SELECT string_agg(v, ',') FROM kept", "first start");
	ep_db_close (db);
	test_stop (pg);
}

/* A daemon killed with SIGKILL while it holds the cluster; then the
 * postmaster itself killed with SIGKILL. */
static void
test_embedded_kill9 (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) holder = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	g_autofree char *line = NULL;
	g_autofree char *pidfile = test_path ("data/postmaster.pid");
	const char *argv[] = { "/proc/self/exe", NULL };
	g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
	gint64 deadline;
	pid_t postmaster;

	if (!test_need_server ())
		return;
	argv[0] = self_exe;
	launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_subprocess_launcher_setenv (launcher, TEST_HOLD_ENV, data_dir, TRUE);
	holder = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (holder));
	line = g_data_input_stream_read_line (out, NULL, NULL, &error);
	g_assert_no_error (error);
	g_assert_nonnull (line);
	g_assert_true (g_str_has_prefix (line, "ready "));
	postmaster = (pid_t) g_ascii_strtoll (line + 6, NULL, 10);
	g_assert_true (test_pid_alive (postmaster));

	g_subprocess_force_exit (holder);
	g_assert_true (g_subprocess_wait (holder, NULL, &error));

	/* its server is still there, or shutting down: either way it comes up */
	pg = test_manager_new ();
	test_start (pg);
	g_assert_false (test_pid_alive (postmaster));
	db = test_db_new (pg);
	test_assert_query (db, "SELECT string_agg(v, ',' ORDER BY v) FROM kept", "first start,held");
	ep_db_close (db);
	g_clear_object (&db);

	/* now the postmaster itself: a stale postmaster.pid and backends that
	 * outlive it for a moment */
	postmaster = ep_pg_embedded_get_pid (pg);
	kill (postmaster, SIGKILL);
	deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
	/* the manager hears of the death from its wait callback */
	while (test_log_count ("the embedded PostgreSQL exited (signal 9)") == 0) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}
	g_assert_cmpint (ep_pg_embedded_get_pid (pg), ==, 0);
	g_assert_cmpuint (test_log_count ("the embedded PostgreSQL exited (signal 9)"), ==, 1);
	g_assert_true (g_file_test (pidfile, G_FILE_TEST_EXISTS));
	g_clear_object (&pg);

	pg = test_manager_new ();
	test_start (pg);
	db = test_db_new (pg);
	test_assert_query (db, "SELECT count(*) FROM kept", "2");
	ep_db_close (db);
	test_stop (pg);
}

/* A postmaster.pid naming a live process that is not this cluster's
 * server: a pid reused after a reboot. */
static void
test_embedded_stale_pid (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *pidfile = test_path ("data/postmaster.pid");
	g_autofree char *pgdata = test_path ("data");
	g_autofree char *text = NULL;

	if (!test_need_server ())
		return;
	text = g_strdup_printf ("%d\n%s\n1700000000\n5432\n/tmp\n\n  5432001    0\nready   \n", (int) getpid (), pgdata);
	g_assert_true (g_file_set_contents (pidfile, text, -1, &error));
	g_assert_no_error (error);

	pg = test_manager_new ();
	test_start (pg);
	g_assert_cmpuint (test_log_count ("removing the stale lock file"), ==, 1);
	db = test_db_new (pg);
	test_assert_query (db, "SELECT count(*) FROM kept", "2");
	ep_db_close (db);
	test_stop (pg);
}

static void
test_embedded_refusals (void)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(GError) error = NULL;

	if (!test_need_server ())
		return;
	/* no server programs */
	pg = test_manager_new ();
	ep_pg_embedded_set_bindir (pg, "/nonexistent/postgresql/bin");
	g_assert_false (ep_pg_embedded_start_sync (pg, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE);
	g_assert_nonnull (strstr (error->message, "install the Debian package postgresql"));
	g_clear_error (&error);
	g_clear_object (&pg);

	/* root, with nobody to run as */
	if (as_root) {
		pg = ep_pg_embedded_new (data_dir);
		g_assert_false (ep_pg_embedded_start_sync (pg, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_assert_nonnull (strstr (error->message, "root"));
		g_clear_error (&error);
	}
}

/* The child of /db/embedded/kill9: starts the cluster as a daemon would,
 * writes a row, says so and waits to be killed. */
static int
test_hold_cluster (const char *dir)
{
	g_autoptr(EpPgEmbedded) pg = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;

	if (!test_resolve_user ())
		return 1;
	data_dir = g_strdup (dir);
	pg = test_manager_new ();
	if (!ep_pg_embedded_start_sync (pg, &error)) {
		g_printerr ("holder: %s\n", error->message);
		return 1;
	}
	db = ep_db_new (ep_pg_embedded_get_conninfo (pg), 1, &error);
	if (db != NULL)
		r = ep_db_query_sync (db, "INSERT INTO kept VALUES ('held')", NULL, &error);
	if (r == NULL) {
		g_printerr ("holder: %s\n", error->message);
		return 1;
	}
	printf ("ready %d\n", (int) ep_pg_embedded_get_pid (pg));
	fflush (stdout);
	for (;;)
		pause ();
	return 0;
}

int
main (int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *bindir = NULL;
	const char *hold = g_getenv (TEST_HOLD_ENV);
	int status;

	if (hold != NULL)
		return test_hold_cluster (hold);

	g_test_init (&argc, &argv, NULL);
	logged = g_ptr_array_new_with_free_func (g_free);
	g_log_set_writer_func (test_log_writer, NULL, NULL);

	bindir = ep_pg_embedded_find_bindir (&error);
	if (bindir == NULL) {
		skip_reason = g_strdup (error->message);
	} else if (!test_resolve_user ()) {
		skip_reason = g_strdup ("running as root without the user '" TEST_SERVICE_USER
					"' to run PostgreSQL as (see .ci/install-deps)");
	} else {
		data_dir = g_dir_make_tmp ("ep-pg-embedded-test-XXXXXX", &error);
		g_assert_no_error (error);
		/* as the daemon does with data_dir before dropping root */
		if (as_root)
			g_assert_cmpint (chown (data_dir, run_uid, run_gid), ==, 0);
	}

	g_test_add_func ("/pg-embedded/first-start", test_embedded_first_start);
	g_test_add_func ("/pg-embedded/restart-keeps-data", test_embedded_restart_keeps_data);
	g_test_add_func ("/pg-embedded/orphan", test_embedded_orphan);
	g_test_add_func ("/pg-embedded/kill9", test_embedded_kill9);
	g_test_add_func ("/pg-embedded/stale-pid", test_embedded_stale_pid);
	g_test_add_func ("/pg-embedded/refusals", test_embedded_refusals);
	status = g_test_run ();

	if (data_dir != NULL) {
		const char *rm[] = { "rm", "-rf", data_dir, NULL };
		g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	}
	g_free (data_dir);
	g_free (run_user);
	g_free (skip_reason);
	g_ptr_array_unref (logged);
	return status;
}
