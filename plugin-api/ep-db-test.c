/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep-db-migrator.h"
#include "ep-db.h"

/*
 * These tests run against a real PostgreSQL: a throwaway cluster in a
 * temporary directory, Unix socket only, started with initdb and postgres
 * directly (plugin-api cannot use the daemon's embedded manager).  As
 * root the server runs as the user 'epistle', since PostgreSQL refuses
 * root.  Without the server binaries every test is skipped.
 */

#define TEST_SERVICE_USER "epistle"

typedef struct {
	char *bindir;
	char *dir;
	char *data;
	char *run;
	char *user;
	char *conninfo;
	uid_t uid;
	gid_t gid;
	gboolean drop; /* running as root: the server runs as TEST_SERVICE_USER */
	GPid pid;
} TestCluster;

static TestCluster *cluster = NULL;
static char *skip_reason = NULL;
static GPtrArray *logged = NULL; /* warnings and messages */

/* Warnings are what an operator sees: the tests collect and check them
 * instead of letting GTest abort on them. */
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

/* ---- the throwaway cluster ---------------------------------------------- */

static char *
test_find_bindir (void)
{
	const char *env = g_getenv ("EPISTLE_PG_BINDIR");
	g_autofree char *out = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autofree char *best = NULL;
	guint best_version = 0;
	const char *name;

	if (env != NULL)
		return g_strdup (env);
	if (g_spawn_command_line_sync ("pg_config --bindir", &out, NULL, NULL, NULL) && out != NULL) {
		g_autofree char *postgres = g_build_filename (g_strstrip (out), "postgres", NULL);
		if (g_file_test (postgres, G_FILE_TEST_IS_EXECUTABLE))
			return g_strdup (out);
	}
	dir = g_dir_open ("/usr/lib/postgresql", 0, NULL);
	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree char *postgres = g_build_filename ("/usr/lib/postgresql", name, "bin", "postgres", NULL);
		guint version = (guint) g_ascii_strtoull (name, NULL, 10);
		if (version > best_version && g_file_test (postgres, G_FILE_TEST_IS_EXECUTABLE)) {
			best_version = version;
			g_free (best);
			best = g_build_filename ("/usr/lib/postgresql", name, "bin", NULL);
		}
	}
	return g_steal_pointer (&best);
}

static void
test_child_setup (gpointer user_data)
{
	TestCluster *c = user_data;

	if (c->drop && (setgroups (1, &c->gid) != 0 || setgid (c->gid) != 0 || setuid (c->uid) != 0))
		_exit (126);
	/* a test that crashes leaves no server behind */
	prctl (PR_SET_PDEATHSIG, SIGQUIT);
}

static void
test_cluster_spawn (TestCluster *c)
{
	g_autofree char *postgres = g_build_filename (c->bindir, "postgres", NULL);
	g_autofree char *sockets = g_strdup_printf ("unix_socket_directories=%s", c->run);
	const char *argv[] = { postgres, "-D", c->data, "-c", "listen_addresses=", "-c", sockets, "-c", "fsync=off",
			       "-c", "max_connections=40", "-c", "logging_collector=off", "-c", "log_min_messages=fatal",
			       NULL };
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

	g_assert_true (g_spawn_async (c->dir, (char **) argv, NULL,
				      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
				      test_child_setup, c, &c->pid, &error));
	g_assert_no_error (error);
	while (PQping (c->conninfo) != PQPING_OK) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_usleep (20000);
	}
}

static void
test_cluster_stop (TestCluster *c)
{
	int status = 0;

	if (c->pid == 0)
		return;
	kill (c->pid, SIGINT); /* fast shutdown */
	while (waitpid (c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

static TestCluster *
test_cluster_start (void)
{
	g_autoptr(GError) error = NULL;
	TestCluster *c = g_new0 (TestCluster, 1);
	g_autofree char *initdb = NULL;
	g_autofree char *user_opt = NULL;
	int status = 0;

	c->bindir = test_find_bindir ();
	if (c->bindir == NULL) {
		skip_reason = g_strdup ("no PostgreSQL server: install the Debian package postgresql");
		g_free (c);
		return NULL;
	}
	if (geteuid () == 0) {
		struct passwd *pw = getpwnam (TEST_SERVICE_USER);
		if (pw == NULL) {
			skip_reason = g_strdup ("running as root without the user '" TEST_SERVICE_USER
						"' to run PostgreSQL as (see .ci/install-deps)");
			g_free (c->bindir);
			g_free (c);
			return NULL;
		}
		c->drop = TRUE;
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
		c->user = g_strdup (pw->pw_name);
	} else {
		c->user = g_strdup (g_get_user_name ());
	}
	c->dir = g_dir_make_tmp ("ep-db-test-XXXXXX", &error);
	g_assert_no_error (error);
	c->data = g_build_filename (c->dir, "data", NULL);
	c->run = g_build_filename (c->dir, "run", NULL);
	g_assert_cmpint (g_mkdir (c->run, 0700), ==, 0);
	if (c->drop) {
		g_assert_cmpint (chown (c->dir, c->uid, c->gid), ==, 0);
		g_assert_cmpint (chown (c->run, c->uid, c->gid), ==, 0);
	}
	c->conninfo = g_strdup_printf ("host=%s dbname=postgres user=%s", c->run, c->user);

	initdb = g_build_filename (c->bindir, "initdb", NULL);
	user_opt = g_strdup_printf ("--username=%s", c->user);
	{
		const char *argv[] = { initdb, "-D", c->data, user_opt, "--auth-local=trust", "--auth-host=reject",
				       "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions", NULL };
		g_autofree char *err = NULL;
		g_assert_true (g_spawn_sync (c->dir, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, test_child_setup,
					     c, NULL, &err, &status, &error));
		g_assert_no_error (error);
		if (!g_spawn_check_wait_status (status, NULL))
			g_error ("initdb failed: %s", err);
	}
	test_cluster_spawn (c);
	return c;
}

static void
test_cluster_free (TestCluster *c)
{
	const char *argv[] = { "rm", "-rf", c->dir, NULL };

	test_cluster_stop (c);
	g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	g_free (c->bindir);
	g_free (c->dir);
	g_free (c->data);
	g_free (c->run);
	g_free (c->user);
	g_free (c->conninfo);
	g_free (c);
}

static gboolean
test_need_cluster (void)
{
	if (cluster != NULL)
		return TRUE;
	g_test_skip (skip_reason);
	return FALSE;
}

/* ---- helpers ------------------------------------------------------------ */

static EpDb *
test_db_new (guint max_connections)
{
	g_autoptr(GError) error = NULL;
	EpDb *db = ep_db_new (cluster->conninfo, max_connections, &error);

	g_assert_no_error (error);
	g_assert_nonnull (db);
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

static gint64
test_query_int (EpDb *db, const char *sql)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_sync (db, sql, NULL, &error);

	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_n_rows (r), ==, 1);
	return ep_db_result_get_int64 (r, 0, 0);
}

static void
test_iterate_until (gboolean *done, guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;

	while (!*done) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
}

/* ---- queries and results ------------------------------------------------- */

static void
test_db_query_values (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDbParams) params = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GBytes) back = NULL;
	guint8 raw[256];

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);
	for (guint i = 0; i < sizeof (raw); i++)
		raw[i] = (guint8) i;
	bytes = g_bytes_new (raw, sizeof (raw));

	params = ep_db_params_new ();
	ep_db_params_add_text (params, "héllo 'quoted' \\ \"x\"");
	ep_db_params_add_null (params);
	ep_db_params_add_int64 (params, G_GINT64_CONSTANT (-9007199254740993));
	ep_db_params_add_boolean (params, TRUE);
	ep_db_params_add_bytes (params, bytes);
	r = ep_db_query_sync (db,
			      "SELECT $1::text AS t, $2::text AS n, $3::bigint AS i, $4::boolean AS b, $5::bytea AS y, "
			      "length($5::bytea) AS len",
			      params, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_n_rows (r), ==, 1);
	g_assert_cmpuint (ep_db_result_get_n_columns (r), ==, 6);
	g_assert_cmpstr (ep_db_result_get_column_name (r, 2), ==, "i");
	g_assert_cmpint (ep_db_result_find_column (r, "y"), ==, 4);
	g_assert_cmpint (ep_db_result_find_column (r, "nope"), ==, -1);
	g_assert_cmpstr (ep_db_result_get_text_by_name (r, 0, "t"), ==, "héllo 'quoted' \\ \"x\"");
	g_assert_true (ep_db_result_is_null_by_name (r, 0, "n"));
	g_assert_null (ep_db_result_get_text (r, 0, 1));
	g_assert_false (ep_db_result_is_null (r, 0, 0));
	g_assert_cmpint (ep_db_result_get_int64_by_name (r, 0, "i"), ==, G_GINT64_CONSTANT (-9007199254740993));
	g_assert_true (ep_db_result_get_boolean_by_name (r, 0, "b"));
	g_assert_cmpint (ep_db_result_get_int64_by_name (r, 0, "len"), ==, 256);
	/* a text result: bytea comes as hex and is decoded */
	back = ep_db_result_get_bytes_by_name (r, 0, "y");
	g_assert_true (g_bytes_equal (back, bytes));
	g_clear_pointer (&back, g_bytes_unref);
	g_clear_pointer (&r, ep_db_result_unref);
	g_clear_pointer (&params, ep_db_params_unref);

	/* binary results: raw bytes and binary integers */
	params = ep_db_params_new ();
	ep_db_params_add_bytes (params, bytes);
	ep_db_params_set_binary_results (params, TRUE);
	r = ep_db_query_sync (db, "SELECT $1::bytea, 7::int2, -70000::int4, 5000000000::int8, true, 'txt'::text",
			      params, &error);
	g_assert_no_error (error);
	back = ep_db_result_get_bytes (r, 0, 0);
	g_assert_true (g_bytes_equal (back, bytes));
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 1), ==, 7);
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 2), ==, -70000);
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 3), ==, G_GINT64_CONSTANT (5000000000));
	g_assert_true (ep_db_result_get_boolean (r, 0, 4));
	g_assert_cmpstr (ep_db_result_get_text (r, 0, 5), ==, "txt");
	g_clear_pointer (&r, ep_db_result_unref);

	/* affected rows and command tags */
	test_exec (db, "CREATE TABLE values_t (id int PRIMARY KEY)");
	r = ep_db_query_sync (db, "INSERT INTO values_t SELECT generate_series(1, 5)", NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_affected_rows (r), ==, 5);
	g_assert_cmpstr (ep_db_result_get_command (r), ==, "INSERT 0 5");
	g_clear_pointer (&r, ep_db_result_unref);
	r = ep_db_query_sync (db, "DELETE FROM values_t WHERE id > 3", NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_affected_rows (r), ==, 2);
	g_clear_pointer (&r, ep_db_result_unref);
	test_exec (db, "DROP TABLE values_t");
}

static void
test_db_errors (void)
{
	static const struct {
		const char *state;
		EpError code;
	} states[] = {
		{ "23505", EP_ERROR_EXISTS },	{ "23503", EP_ERROR_EXISTS },	 { "08006", EP_ERROR_TEMP },
		{ "08P01", EP_ERROR_INTERNAL }, { "57P01", EP_ERROR_TEMP },	 { "53300", EP_ERROR_TEMP },
		{ "40001", EP_ERROR_TEMP },	{ "40P01", EP_ERROR_TEMP },	 { "25006", EP_ERROR_TEMP },
		{ "57014", EP_ERROR_TIMEOUT },	{ "42601", EP_ERROR_INTERNAL }, { "XX000", EP_ERROR_INTERNAL },
		{ NULL, EP_ERROR_TEMP },
	};
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDb) bad = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;

	for (guint i = 0; i < G_N_ELEMENTS (states); i++)
		g_assert_cmpint (ep_db_error_code_from_sqlstate (states[i].state), ==, states[i].code);

	/* a URL that does not parse is a configuration error */
	bad = ep_db_new ("postgresql://host:notaport:/x?nosuchoption=1", 2, &error);
	g_assert_null (bad);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_clear_error (&error);

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);
	g_assert_nonnull (strstr (ep_db_get_display_name (db), "dbname=postgres"));
	test_exec (db, "CREATE TABLE errors_t (id int PRIMARY KEY)");
	test_exec (db, "INSERT INTO errors_t VALUES (1)");

	r = ep_db_query_sync (db, "INSERT INTO errors_t VALUES (1)", NULL, &error);
	g_assert_null (r);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_assert_nonnull (strstr (error->message, "SQLSTATE 23505"));
	g_clear_error (&error);

	r = ep_db_query_sync (db, "SELEC 1", NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_assert_true (g_str_has_prefix (error->message, "SQLSTATE 42601:"));
	g_clear_error (&error);

	/* one statement per query: several are refused, not half run */
	r = ep_db_query_sync (db, "INSERT INTO errors_t VALUES (2); INSERT INTO errors_t VALUES (3)", NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_clear_error (&error);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM errors_t"), ==, 1);

	ep_db_execute_async (db, "errors.nosuch", NULL, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	r = ep_db_execute_finish (db, result, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);

	/* the pool is still fine after all that */
	g_assert_cmpint (test_query_int (db, "SELECT 42"), ==, 42);
	test_exec (db, "DROP TABLE errors_t");
}

/* ---- the pool ----------------------------------------------------------- */

typedef struct {
	EpDb *db;
	guint done;
	guint failed;
	guint max_seen;
	GHashTable *pids;
} PoolFixture;

static void
pool_query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	PoolFixture *f = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_query_finish (EP_DB (source), result, &error);

	f->max_seen = MAX (f->max_seen, ep_db_get_n_connections (f->db));
	f->done++;
	if (r == NULL) {
		g_printerr ("pool query failed: %s\n", error->message);
		f->failed++;
		return;
	}
	g_hash_table_add (f->pids, GINT_TO_POINTER ((gint) ep_db_result_get_int64 (r, 0, 0)));
}

static void
test_db_pool_bounded (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDb) observer = NULL;
	g_autoptr(GHashTable) pids = g_hash_table_new (NULL, NULL);
	PoolFixture f = { 0 };
	gboolean done = FALSE;
	gint64 most = 0;

	if (!test_need_cluster ())
		return;
	db = test_db_new (3);
	observer = test_db_new (1);
	f.db = db;
	f.pids = pids;
	for (guint i = 0; i < 50; i++) {
		ep_db_query_async (db, "SELECT pg_backend_pid(), pg_sleep(0.01)", NULL, NULL, pool_query_done, &f);
		f.max_seen = MAX (f.max_seen, ep_db_get_n_connections (db));
	}
	/* watch from outside, too, while they run */
	while (f.done < 50) {
		g_main_context_iteration (NULL, FALSE);
		if (f.done > 5 && f.done < 45) {
			g_autoptr(GError) error = NULL;
			g_autoptr(EpDbResult) r = NULL;
			r = ep_db_query_sync (observer,
					      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'epistle' "
					      "AND pid <> pg_backend_pid()",
					      NULL, &error);
			g_assert_no_error (error);
			most = MAX (most, ep_db_result_get_int64 (r, 0, 0));
		}
	}
	done = TRUE;
	test_iterate_until (&done, 1);
	g_assert_cmpuint (f.failed, ==, 0);
	g_assert_cmpuint (f.max_seen, <=, 3);
	g_assert_cmpuint (g_hash_table_size (pids), ==, 3);
	g_assert_cmpint (most, <=, 3);
	g_assert_cmpuint (ep_db_get_n_connections (db), ==, 3);
}

/* ---- prepared statements -------------------------------------------------- */

static void
prepared_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	PoolFixture *f = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) r = ep_db_execute_finish (EP_DB (source), result, &error);

	g_assert_no_error (error);
	f->done++;
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 0), ==, ep_db_result_get_int64 (r, 0, 1) * 2);
}

static void
prepared_in_tx_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **slot = user_data;
	*slot = g_object_ref (result);
}

static void
test_db_prepared (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(EpDbTransaction) tx = NULL;
	g_autoptr(EpDbResult) r = NULL;
	PoolFixture f = { 0 };

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);
	g_assert_true (ep_db_prepare (db, "test.double", "SELECT $1::int * 2, $1::int", &error));
	g_assert_no_error (error);
	/* the same again is fine; another statement under the name is not */
	g_assert_true (ep_db_prepare (db, "test.double", "SELECT $1::int * 2, $1::int", &error));
	g_assert_false (ep_db_prepare (db, "test.double", "SELECT 1", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_false (ep_db_prepare (db, "bad name;", "SELECT 1", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);

	for (gint i = 0; i < 20; i++) {
		g_autoptr(EpDbParams) params = ep_db_params_new ();
		ep_db_params_add_int64 (params, i);
		ep_db_execute_async (db, "test.double", params, NULL, prepared_done, &f);
	}
	while (f.done < 20)
		g_main_context_iteration (NULL, TRUE);

	/* on one connection the statement was prepared once and is reused */
	ep_db_begin_async (db, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	tx = ep_db_begin_finish (db, result, &error);
	g_assert_no_error (error);
	g_clear_object (&result);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(EpDbParams) params = ep_db_params_new_text ("21", NULL);
		ep_db_transaction_execute_async (tx, "test.double", params, NULL, prepared_in_tx_done, &result);
		ep_db_run_sync (db, &result);
		r = ep_db_transaction_execute_finish (tx, result, &error);
		g_assert_no_error (error);
		g_assert_cmpint (ep_db_result_get_int64 (r, 0, 0), ==, 42);
		g_clear_pointer (&r, ep_db_result_unref);
		g_clear_object (&result);
	}
	ep_db_transaction_query_async (tx, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'test.double'",
				       NULL, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	r = ep_db_transaction_query_finish (tx, result, &error);
	g_assert_no_error (error);
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 0), ==, 1);
	g_clear_object (&result);
	ep_db_transaction_commit_async (tx, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_true (ep_db_transaction_commit_finish (tx, result, &error));
	g_assert_no_error (error);
}

/* ---- timeouts and cancellation ------------------------------------------- */

static void
test_db_timeout (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDb) observer = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	gint64 start;

	if (!test_need_cluster ())
		return;
	db = test_db_new (1);
	observer = test_db_new (1);
	ep_db_set_query_timeout (db, 300);

	start = g_get_monotonic_time ();
	r = ep_db_query_sync (db, "SELECT pg_sleep(30)", NULL, &error);
	g_assert_null (r);
	g_assert_error (error, EP_ERROR, EP_ERROR_TIMEOUT);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
	g_clear_error (&error);

	/* the server really stopped sleeping: with one connection, the next
	 * query runs at once */
	start = g_get_monotonic_time ();
	g_assert_cmpint (test_query_int (db, "SELECT 7"), ==, 7);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
	g_assert_cmpint (test_query_int (observer, "SELECT count(*) FROM pg_stat_activity "
						   "WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'"),
			 ==, 0);

	/* a query waiting for the connection times out in the queue too */
	{
		g_autoptr(GAsyncResult) slow = NULL;
		g_autoptr(GAsyncResult) queued = NULL;
		ep_db_query_async (db, "SELECT pg_sleep(30)", NULL, NULL, ep_db_sync_callback, &slow);
		ep_db_query_async (db, "SELECT 1", NULL, NULL, ep_db_sync_callback, &queued);
		ep_db_run_sync (db, &queued);
		ep_db_run_sync (db, &slow);
		g_clear_pointer (&r, ep_db_result_unref);
		r = ep_db_query_finish (db, queued, &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_TIMEOUT);
		g_clear_error (&error);
		r = ep_db_query_finish (db, slow, &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_TIMEOUT);
		g_clear_error (&error);
	}
	g_assert_cmpint (test_query_int (db, "SELECT 8"), ==, 8);
}

static gboolean
cancel_later (gpointer user_data)
{
	g_cancellable_cancel (G_CANCELLABLE (user_data));
	return G_SOURCE_REMOVE;
}

static void
test_db_cancel (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GCancellable) cancellable = g_cancellable_new ();
	g_autoptr(GCancellable) cancelled = g_cancellable_new ();
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	gint64 start;

	if (!test_need_cluster ())
		return;
	db = test_db_new (1);

	start = g_get_monotonic_time ();
	g_timeout_add (200, cancel_later, cancellable);
	ep_db_query_async (db, "SELECT pg_sleep(30)", NULL, cancellable, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	r = ep_db_query_finish (db, result, &error);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
	g_clear_error (&error);
	g_clear_object (&result);

	g_cancellable_cancel (cancelled);
	ep_db_query_async (db, "SELECT 1", NULL, cancelled, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	r = ep_db_query_finish (db, result, &error);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error (&error);

	g_assert_cmpint (test_query_int (db, "SELECT 9"), ==, 9);
}

/* ---- transactions --------------------------------------------------------- */

static EpDbTransaction *
test_begin (EpDb *db)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;
	EpDbTransaction *tx;

	ep_db_begin_async (db, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	tx = ep_db_begin_finish (db, result, &error);
	g_assert_no_error (error);
	return tx;
}

static EpDbResult *
test_tx_query (EpDb *db, EpDbTransaction *tx, const char *sql, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	ep_db_transaction_query_async (tx, sql, NULL, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	return ep_db_transaction_query_finish (tx, result, error);
}

static gboolean
test_tx_commit (EpDb *db, EpDbTransaction *tx, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	ep_db_transaction_commit_async (tx, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	return ep_db_transaction_commit_finish (tx, result, error);
}

static void
test_db_transaction (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDb) other = NULL;
	g_autoptr(EpDbTransaction) tx = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;

	if (!test_need_cluster ())
		return;
	db = test_db_new (1);
	other = test_db_new (1);
	test_exec (db, "CREATE TABLE tx_t (id int PRIMARY KEY)");

	/* committed: both rows */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (1)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (2)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	/* not visible outside before the commit */
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t"), ==, 0);
	g_assert_true (test_tx_commit (db, tx, &error));
	g_assert_no_error (error);
	g_clear_object (&tx);
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t"), ==, 2);

	/* a failure rolls the whole unit back */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (3)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (1)", &error);
	g_assert_null (r);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_true (ep_db_transaction_has_failed (tx));
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (4)", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_assert_nonnull (strstr (error->message, "rolled back"));
	g_clear_error (&error);
	g_assert_false (test_tx_commit (db, tx, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_clear_object (&tx);
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t"), ==, 2);

	/* dropped without commit: rolled back, and the one connection comes
	 * back clean (this insert commits on its own) */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (5)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	g_clear_object (&tx);
	test_exec (db, "INSERT INTO tx_t VALUES (6)");
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t WHERE id IN (5, 6)"), ==, 1);
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t WHERE id = 6"), ==, 1);

	/* a caller's own BEGIN outside a transaction object is rolled back,
	 * not handed on to the next user of the connection */
	test_exec (db, "BEGIN");
	test_exec (db, "INSERT INTO tx_t VALUES (7)");
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t WHERE id = 7"), ==, 1);
	g_assert_cmpint (test_query_int (db, "SELECT (txid_current_if_assigned() IS NULL)::int"), ==, 1);

	/* the first statement fails, in the same round trip as BEGIN */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (1)", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_clear_object (&tx);
	g_assert_cmpint (test_query_int (db, "SELECT (txid_current_if_assigned() IS NULL)::int"), ==, 1);

	/* an explicit rollback */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (9)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	{
		g_autoptr(GAsyncResult) result = NULL;
		ep_db_transaction_rollback_async (tx, NULL, ep_db_sync_callback, &result);
		ep_db_run_sync (db, &result);
		g_assert_true (ep_db_transaction_rollback_finish (tx, result, &error));
		g_assert_no_error (error);
	}
	/* it has ended */
	r = test_tx_query (db, tx, "SELECT 1", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_clear_error (&error);
	g_clear_object (&tx);
	g_assert_cmpint (test_query_int (other, "SELECT count(*) FROM tx_t WHERE id = 9"), ==, 0);

	/* a timeout inside the transaction fails it */
	tx = test_begin (db);
	ep_db_transaction_set_timeout (tx, 200);
	r = test_tx_query (db, tx, "INSERT INTO tx_t VALUES (8)", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);
	r = test_tx_query (db, tx, "SELECT pg_sleep(10)", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_TIMEOUT);
	g_clear_error (&error);
	g_assert_false (test_tx_commit (db, tx, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_TIMEOUT);
	g_clear_error (&error);
	g_clear_object (&tx);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM tx_t WHERE id = 8"), ==, 0);

	test_exec (db, "DROP TABLE tx_t");
}

static void
test_db_too_many_connections (void)
{
	g_autoptr(EpDb) admin = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDb) other = NULL;
	g_autoptr(EpDbTransaction) tx = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) queued = NULL;
	g_autofree char *conninfo = NULL;

	if (!test_need_cluster ())
		return;
	/* superusers are exempt from connection limits: a role that is not */
	admin = test_db_new (1);
	test_exec (admin, "CREATE ROLE ep_limited LOGIN CONNECTION LIMIT 1");
	conninfo = g_strdup_printf ("host=%s dbname=postgres user=ep_limited", cluster->run);
	db = ep_db_new (conninfo, 3, &error);
	g_assert_no_error (error);
	other = ep_db_new (conninfo, 3, &error);
	g_assert_no_error (error);

	/* the role's one connection is taken */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "SELECT 1", &error);
	g_assert_no_error (error);
	g_clear_pointer (&r, ep_db_result_unref);

	/* nobody else gets one: a temporary failure, not a hang */
	r = ep_db_query_sync (other, "SELECT 1", NULL, &error);
	g_assert_null (r);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_nonnull (strstr (error->message, "too many connections"));
	g_clear_error (&error);

	/* the pool that has a connection waits for it instead of failing */
	ep_db_query_async (db, "SELECT 2", NULL, NULL, ep_db_sync_callback, &queued);
	for (guint i = 0; i < 200; i++) {
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
	g_assert_null (queued);
	g_assert_true (test_tx_commit (db, tx, &error));
	ep_db_run_sync (db, &queued);
	r = ep_db_query_finish (db, queued, &error);
	g_assert_no_error (error);
	g_assert_cmpint (ep_db_result_get_int64 (r, 0, 0), ==, 2);
	g_assert_cmpuint (ep_db_get_n_connections (db), ==, 1);

	g_clear_object (&tx);
	g_clear_object (&db);
	g_clear_object (&other);
	test_exec (admin, "DROP ROLE ep_limited");
}

/* ---- pipelines -------------------------------------------------------------- */

static void
test_db_batch (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDbBatch) batch = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GPtrArray) results = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbTransaction) tx = NULL;

	if (!test_need_cluster ())
		return;
	db = test_db_new (1);
	test_exec (db, "CREATE TABLE batch_t (id int PRIMARY KEY, v text)");
	g_assert_true (ep_db_prepare (db, "test.batch_insert", "INSERT INTO batch_t VALUES ($1, $2)", &error));

	batch = ep_db_batch_new ();
	for (guint i = 1; i <= 3; i++) {
		g_autoptr(EpDbParams) params = ep_db_params_new ();
		ep_db_params_add_int64 (params, i);
		ep_db_params_add_text (params, "v");
		ep_db_batch_add (batch, "INSERT INTO batch_t VALUES ($1, $2)", params);
	}
	{
		g_autoptr(EpDbParams) params = ep_db_params_new_text ("4", "prepared", NULL);
		ep_db_batch_add_prepared (batch, "test.batch_insert", params);
	}
	ep_db_batch_add (batch, "SELECT count(*) FROM batch_t", NULL);
	g_assert_cmpuint (ep_db_batch_get_length (batch), ==, 5);
	ep_db_run_batch_async (db, batch, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	results = ep_db_run_batch_finish (db, result, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (results->len, ==, 5);
	g_assert_cmpuint (ep_db_result_get_affected_rows (g_ptr_array_index (results, 0)), ==, 1);
	g_assert_cmpint (ep_db_result_get_int64 (g_ptr_array_index (results, 4), 0, 0), ==, 4);
	g_clear_pointer (&results, g_ptr_array_unref);
	g_clear_pointer (&batch, ep_db_batch_unref);
	g_clear_object (&result);

	/* the second statement fails: the first does not take effect either */
	batch = ep_db_batch_new ();
	ep_db_batch_add (batch, "INSERT INTO batch_t VALUES (10, 'a')", NULL);
	ep_db_batch_add (batch, "INSERT INTO batch_t VALUES (1, 'dup')", NULL);
	ep_db_batch_add (batch, "INSERT INTO batch_t VALUES (11, 'b')", NULL);
	ep_db_run_batch_async (db, batch, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	results = ep_db_run_batch_finish (db, result, &error);
	g_assert_null (results);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_clear_object (&result);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM batch_t"), ==, 4);

	/* a batch inside a transaction */
	tx = test_begin (db);
	g_clear_pointer (&batch, ep_db_batch_unref);
	batch = ep_db_batch_new ();
	ep_db_batch_add (batch, "INSERT INTO batch_t VALUES (20, 'tx')", NULL);
	ep_db_batch_add (batch, "INSERT INTO batch_t VALUES (21, 'tx')", NULL);
	ep_db_transaction_run_batch_async (tx, batch, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	results = ep_db_transaction_run_batch_finish (tx, result, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (results->len, ==, 2);
	g_clear_object (&result);
	g_assert_true (test_tx_commit (db, tx, &error));
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM batch_t"), ==, 6);

	/* an empty batch answers at once */
	g_clear_pointer (&results, g_ptr_array_unref);
	g_clear_pointer (&batch, ep_db_batch_unref);
	batch = ep_db_batch_new ();
	ep_db_run_batch_async (db, batch, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	results = ep_db_run_batch_finish (db, result, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (results->len, ==, 0);

	test_exec (db, "DROP TABLE batch_t");
}

/* ---- LISTEN/NOTIFY ---------------------------------------------------------- */

typedef struct {
	GPtrArray *payloads; /* "(null)" for activations */
	guint activations;
} ListenFixture;

static void
listen_cb (EpDb *db, const char *channel, const char *payload, gpointer user_data)
{
	ListenFixture *f = user_data;

	g_assert_cmpstr (channel, ==, "epistle test");
	if (payload == NULL)
		f->activations++;
	else
		g_ptr_array_add (f->payloads, g_strdup (payload));
}

static void
test_notify (EpDb *db, const char *payload)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GError) error = NULL;

	ep_db_notify_async (db, "epistle test", payload, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_true (ep_db_notify_finish (db, result, &error));
	g_assert_no_error (error);
}

static void
test_wait_payloads (ListenFixture *f, guint n)
{
	gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

	while (f->payloads->len < n) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
}

static void
test_db_listen (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDbTransaction) tx = NULL;
	g_autoptr(EpDbResult) r = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) payloads = g_ptr_array_new_with_free_func (g_free);
	ListenFixture f = { payloads, 0 };
	gint64 deadline;
	guint id;

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);
	id = ep_db_listen (db, "epistle test", listen_cb, &f, NULL);
	g_assert_cmpuint (id, >, 0);
	deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
	while (f.activations == 0) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}
	/* the listening connection is not one of the pool */
	g_assert_cmpuint (ep_db_get_n_connections (db), <=, 2);

	test_notify (db, "first");
	test_notify (db, "second, with 'quotes'");
	test_wait_payloads (&f, 2);
	g_assert_cmpstr (g_ptr_array_index (payloads, 0), ==, "first");
	g_assert_cmpstr (g_ptr_array_index (payloads, 1), ==, "second, with 'quotes'");

	/* inside a transaction: delivered at commit, not before */
	tx = test_begin (db);
	r = test_tx_query (db, tx, "SELECT pg_notify('epistle test', 'from a transaction')", &error);
	g_assert_no_error (error);
	for (guint i = 0; i < 50; i++) {
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
	g_assert_cmpuint (payloads->len, ==, 2);
	g_assert_true (test_tx_commit (db, tx, &error));
	test_wait_payloads (&f, 3);
	g_assert_cmpstr (g_ptr_array_index (payloads, 2), ==, "from a transaction");

	/* gone after unlisten */
	ep_db_unlisten (db, id);
	test_notify (db, "unheard");
	for (guint i = 0; i < 100; i++) {
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
	g_assert_cmpuint (payloads->len, ==, 3);
	g_assert_cmpuint (f.activations, ==, 1);
}

/* ---- a server restart ----------------------------------------------------- */

typedef struct {
	gboolean done;
	GError *error;
} RestartFixture;

static void
restart_query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RestartFixture *f = user_data;
	EpDbResult *r = ep_db_query_finish (EP_DB (source), result, &f->error);

	g_clear_pointer (&r, ep_db_result_unref);
	f->done = TRUE;
}

static void
test_db_restart (void)
{
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GPtrArray) payloads = g_ptr_array_new_with_free_func (g_free);
	ListenFixture lf = { payloads, 0 };
	RestartFixture f = { 0 };
	gboolean ok = FALSE;
	gint64 deadline;

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);
	ep_db_set_reconnect_delay (db, 20, 200);
	ep_db_listen (db, "epistle test", listen_cb, &lf, NULL);
	g_assert_cmpint (test_query_int (db, "SELECT 1"), ==, 1);
	deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
	while (lf.activations == 0) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}

	/* the server goes down under a running query: a temporary failure */
	ep_db_query_async (db, "SELECT pg_sleep(20)", NULL, NULL, restart_query_done, &f);
	for (guint i = 0; i < 100; i++) {
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
	test_cluster_stop (cluster);
	test_iterate_until (&f.done, 10);
	g_assert_error (f.error, EP_ERROR, EP_ERROR_TEMP);
	g_clear_error (&f.error);

	/* while it is down: temporary failures, quickly */
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpDbResult) r = NULL;
		gint64 start = g_get_monotonic_time ();
		r = ep_db_query_sync (db, "SELECT 1", NULL, &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
	}

	/* back: the pool reconnects on its own */
	test_cluster_spawn (cluster);
	deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
	while (!ok) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpDbResult) r = ep_db_query_sync (db, "SELECT 5", NULL, &error);
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		if (r != NULL) {
			g_assert_cmpint (ep_db_result_get_int64 (r, 0, 0), ==, 5);
			ok = TRUE;
		} else {
			g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
			g_usleep (20000);
		}
	}

	g_assert_cmpuint (test_log_count ("is available again"), >=, 1);

	/* and the listener LISTENs again, saying so with a NULL payload */
	deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
	while (lf.activations < 2) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, FALSE);
		g_usleep (1000);
	}
	test_notify (db, "after the restart");
	test_wait_payloads (&lf, 1);
	g_assert_cmpstr (g_ptr_array_index (payloads, 0), ==, "after the restart");
}

/* ---- migrations ------------------------------------------------------------- */

static char *
test_write_migrations (const char *const *names, const char *const *sqls)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp ("ep-db-migrations-XXXXXX", &error);

	g_assert_no_error (error);
	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree char *path = g_build_filename (dir, names[i], NULL);
		g_assert_true (g_file_set_contents (path, sqls[i], -1, &error));
		g_assert_no_error (error);
	}
	return dir;
}

static void
test_remove_dir (const char *dir)
{
	const char *argv[] = { "rm", "-rf", dir, NULL };
	g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
migrate_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RestartFixture *f = user_data;
	if (!ep_db_migrator_run_finish (EP_DB_MIGRATOR (source), result, &f->error))
		g_assert_nonnull (f->error);
	f->done = TRUE;
}

static void
test_db_migrate_concurrent (void)
{
	const char *names[] = { "001_init.sql", "002_more.sql", "003_data.sql", "README", NULL };
	const char *sqls[] = {
		"CREATE TABLE mig_log (step text NOT NULL);\n"
		"CREATE TABLE mig_a (id int PRIMARY KEY);\n"
		"INSERT INTO mig_log VALUES ('001');\n",
		/* slow enough for the other runner to have to wait for the lock */
		"SELECT pg_sleep(0.3);\nALTER TABLE mig_a ADD COLUMN v text;\nINSERT INTO mig_log VALUES ('002');\n",
		"INSERT INTO mig_a VALUES (1, 'one');\nINSERT INTO mig_log VALUES ('003');\n",
		"not a migration",
	};
	g_autofree char *dir = NULL;
	g_autoptr(EpDb) db1 = NULL;
	g_autoptr(EpDb) db2 = NULL;
	g_autoptr(EpDbMigrator) m1 = NULL;
	g_autoptr(EpDbMigrator) m2 = NULL;
	g_autoptr(EpDbMigrator) m3 = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	RestartFixture f1 = { 0 };
	RestartFixture f2 = { 0 };

	if (!test_need_cluster ())
		return;
	dir = test_write_migrations (names, sqls);
	db1 = test_db_new (2);
	db2 = test_db_new (2);
	m1 = ep_db_migrator_new (db1);
	m2 = ep_db_migrator_new (db2);
	g_assert_true (ep_db_migrator_add_module (m1, "test-mod", dir, &error));
	g_assert_no_error (error);
	g_assert_true (ep_db_migrator_add_module (m2, "test-mod", dir, &error));
	g_assert_false (ep_db_migrator_add_module (m2, "test-mod", dir, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);

	/* two daemons starting at once */
	ep_db_migrator_run_async (m1, NULL, migrate_done, &f1);
	ep_db_migrator_run_async (m2, NULL, migrate_done, &f2);
	test_iterate_until (&f1.done, 30);
	test_iterate_until (&f2.done, 30);
	g_assert_no_error (f1.error);
	g_assert_no_error (f2.error);
	g_assert_cmpuint (ep_db_migrator_get_n_applied (m1) + ep_db_migrator_get_n_applied (m2), ==, 3);
	g_assert_cmpuint (ep_db_migrator_get_version (m1, "test-mod"), ==, 3);
	g_assert_cmpuint (ep_db_migrator_get_version (m2, "test-mod"), ==, 3);
	g_assert_cmpint (test_query_int (db1, "SELECT count(*) FROM mig_log"), ==, 3);
	g_assert_cmpint (test_query_int (db1, "SELECT count(DISTINCT step) FROM mig_log"), ==, 3);
	g_assert_cmpint (test_query_int (db1, "SELECT count(*) FROM epistle_schema_versions WHERE module = 'test-mod'"),
			 ==, 3);
	g_assert_cmpint (test_query_int (db1, "SELECT count(*) FROM epistle_schema_versions "
					      "WHERE module = 'test-mod' AND version = 2 AND name = '002_more.sql' "
					      "AND applied_at <= now()"),
			 ==, 1);

	/* once more: nothing left to do */
	m3 = ep_db_migrator_new (db1);
	g_assert_true (ep_db_migrator_add_module (m3, "test-mod", dir, &error));
	ep_db_migrator_run_async (m3, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db1, &result);
	g_assert_true (ep_db_migrator_run_finish (m3, result, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_migrator_get_n_applied (m3), ==, 0);
	/* the lock was released: nobody holds it */
	g_assert_cmpint (test_query_int (db1, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), ==, 0);
	test_remove_dir (dir);
}

static void
test_db_migrate_refusals (void)
{
	const char *names[] = { "001_one.sql", "002_two.sql", NULL };
	const char *sqls[] = { "CREATE TABLE refuse_a (id int);", "CREATE TABLE refuse_b (id int);" };
	const char *gap_names[] = { "001_one.sql", "003_three.sql", NULL };
	const char *dup_names[] = { "001_one.sql", "01_again.sql", NULL };
	const char *bad_names[] = { "1-one.sql", NULL };
	const char *fail_names[] = { "001_ok.sql", "002_broken.sql", "003_after.sql", NULL };
	const char *commit_names[] = { "001_commits.sql", NULL };
	const char *commit_sqls[] = { "CREATE TABLE commit_a (id int);\nCOMMIT;\n" };
	const char *fail_sqls[] = { "CREATE TABLE fail_a (id int);",
				    "CREATE TABLE fail_b (id int);\nINSERT INTO fail_b VALUES ('not a number');",
				    "CREATE TABLE fail_c (id int);" };
	g_autofree char *dir = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;

	if (!test_need_cluster ())
		return;
	db = test_db_new (2);

	/* files that are not a sequence */
	{
		g_autofree char *gap = test_write_migrations (gap_names, sqls);
		g_autofree char *dup = test_write_migrations (dup_names, sqls);
		g_autofree char *bad = test_write_migrations (bad_names, sqls);
		g_autoptr(EpDbMigrator) m = ep_db_migrator_new (db);
		g_assert_false (ep_db_migrator_add_module (m, "gap", gap, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_nonnull (strstr (error->message, "migration 2 is missing"));
		g_clear_error (&error);
		g_assert_false (ep_db_migrator_add_module (m, "dup", dup, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_nonnull (strstr (error->message, "the same number"));
		g_clear_error (&error);
		g_assert_false (ep_db_migrator_add_module (m, "bad", bad, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_clear_error (&error);
		g_assert_false (ep_db_migrator_add_module (m, "missing", "/nonexistent/migrations", &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_clear_error (&error);
		test_remove_dir (gap);
		test_remove_dir (dup);
		test_remove_dir (bad);
	}

	/* a database newer than this epistle */
	dir = test_write_migrations (names, sqls);
	ep_db_migrate_async (db, "refuse", dir, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_true (ep_db_migrate_finish (db, result, &error));
	g_assert_no_error (error);
	g_clear_object (&result);
	test_exec (db, "INSERT INTO epistle_schema_versions (module, version, name) VALUES ('refuse', 3, '003_x.sql')");
	ep_db_migrate_async (db, "refuse", dir, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_false (ep_db_migrate_finish (db, result, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_cmpstr (error->message, ==,
			 "the database schema of module refuse is at version 3 but this epistle only knows up to 2; "
			 "upgrade epistle");
	g_clear_error (&error);
	g_clear_object (&result);
	test_remove_dir (dir);
	g_clear_pointer (&dir, g_free);

	/* a migration that commits by itself is caught, not recorded */
	dir = test_write_migrations (commit_names, commit_sqls);
	ep_db_migrate_async (db, "commits", dir, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_false (ep_db_migrate_finish (db, result, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "must not contain COMMIT"));
	g_clear_error (&error);
	g_clear_object (&result);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM epistle_schema_versions WHERE module = 'commits'"),
			 ==, 0);
	test_remove_dir (dir);
	g_clear_pointer (&dir, g_free);

	/* a migration that fails: the ones before stay, it leaves nothing
	 * behind, the ones after wait, and the lock is free */
	dir = test_write_migrations (fail_names, fail_sqls);
	ep_db_migrate_async (db, "fail", dir, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_false (ep_db_migrate_finish (db, result, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_assert_nonnull (strstr (error->message, "module fail: migration 002_broken.sql failed: SQLSTATE 22P02"));
	g_clear_error (&error);
	g_clear_object (&result);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM epistle_schema_versions WHERE module = 'fail'"), ==,
			 1);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM pg_tables WHERE tablename IN ('fail_b', 'fail_c')"),
			 ==, 0);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fail_a'"), ==, 1);
	{
		g_autofree char *fixed = g_build_filename (dir, "002_broken.sql", NULL);
		g_assert_true (g_file_set_contents (fixed, "CREATE TABLE fail_b (id int);", -1, &error));
	}
	ep_db_migrate_async (db, "fail", dir, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	g_assert_true (ep_db_migrate_finish (db, result, &error));
	g_assert_no_error (error);
	g_assert_cmpint (test_query_int (db, "SELECT count(*) FROM epistle_schema_versions WHERE module = 'fail'"), ==,
			 3);
	test_remove_dir (dir);
}

/* ---- blocking use, down database ------------------------------------------- */

static void
test_db_private_context (void)
{
	g_autoptr(GMainContext) context = NULL;
	g_autoptr(EpDb) db = NULL;

	if (!test_need_cluster ())
		return;
	/* a command-line tool: its own context, nothing on the default one */
	context = g_main_context_new ();
	g_main_context_push_thread_default (context);
	db = test_db_new (1);
	g_assert_cmpint (test_query_int (db, "SELECT 11"), ==, 11);
	g_assert_false (g_main_context_pending (NULL));
	g_clear_object (&db);
	g_main_context_pop_thread_default (context);
}

static void
test_db_unavailable (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpDbResult) r = NULL;
	gint64 start;

	db = ep_db_new ("host=/nonexistent/epistle-test dbname=x", 2, &error);
	g_assert_no_error (error);
	ep_db_set_reconnect_delay (db, 5000, 10000);
	start = g_get_monotonic_time ();
	r = ep_db_query_sync (db, "SELECT 1", NULL, &error);
	g_assert_null (r);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_nonnull (strstr (error->message, "cannot connect to the database"));
	g_clear_error (&error);
	/* while waiting to try again, queries fail at once */
	r = ep_db_query_sync (db, "SELECT 1", NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_nonnull (strstr (error->message, "unavailable"));
	g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
	g_assert_cmpuint (ep_db_get_n_connections (db), ==, 0);
	/* the operator hears it once, not at every query */
	g_assert_cmpuint (test_log_count ("host=/nonexistent/epistle-test) is unavailable"), ==, 1);
}

int
main (int argc, char **argv)
{
	int status;

	g_test_init (&argc, &argv, NULL);
	logged = g_ptr_array_new_with_free_func (g_free);
	g_log_set_writer_func (test_log_writer, NULL, NULL);
	signal (SIGPIPE, SIG_IGN);
	cluster = test_cluster_start ();

	g_test_add_func ("/db/query-values", test_db_query_values);
	g_test_add_func ("/db/errors", test_db_errors);
	g_test_add_func ("/db/pool-bounded", test_db_pool_bounded);
	g_test_add_func ("/db/prepared", test_db_prepared);
	g_test_add_func ("/db/timeout", test_db_timeout);
	g_test_add_func ("/db/cancel", test_db_cancel);
	g_test_add_func ("/db/transaction", test_db_transaction);
	g_test_add_func ("/db/too-many-connections", test_db_too_many_connections);
	g_test_add_func ("/db/batch", test_db_batch);
	g_test_add_func ("/db/listen", test_db_listen);
	g_test_add_func ("/db/migrate-concurrent", test_db_migrate_concurrent);
	g_test_add_func ("/db/migrate-refusals", test_db_migrate_refusals);
	g_test_add_func ("/db/private-context", test_db_private_context);
	g_test_add_func ("/db/unavailable", test_db_unavailable);
	g_test_add_func ("/db/restart", test_db_restart);
	status = g_test_run ();

	if (cluster != NULL)
		test_cluster_free (cluster);
	g_free (skip_reason);
	g_ptr_array_unref (logged);
	return status;
}
