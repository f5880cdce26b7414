/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * auth-sql on a real PostgreSQL: a throwaway cluster in a temporary
 * directory (Unix socket only; as root the server runs as the user
 * 'epistle', since PostgreSQL refuses root), store-pg's store for the
 * accounts, and the verifier and the guard as the module builds them.
 * TOTP codes are RFC 6238's own test vectors (secret "12345678901234567890",
 * SHA-1), not computed by the code under test.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth-sql-guard.h"
#include "auth-sql-verifier.h"
#include "store-pg-store.h"

#define TEST_USER     "epistle"
#define TEST_PASSWORD "correct horse battery"

static struct {
	char *dir;
	char *bindir;
	char *conninfo;
	GPid pid;
	gboolean drop;
	uid_t uid;
	gid_t gid;
} pg;

static EpDb *db;
static EpStore *store;
static EpServiceRegistry *services;
static EpWorkerPool *pool;
static EpAuthSqlVerifier *verifier;
static EpAuthSqlGuard *guard;
static gint64 test_clock;

/* cheap enough for a test; the dummy hash uses the same */
static const EpPasswordParams test_params = {16384, 1, 1};

static const EpAuthSqlGuardConfig test_guard_config = {
    .delay_base_ms = 100,
    .delay_max_ms = 800,
    .failure_window = 900,
    .ban_after_ip = 6,
    .ban_after_user = 4,
    .ban_seconds = 1,
};

/* ---- the cluster --------------------------------------------------------- */

static void
pg_child_setup (gpointer user_data)
{
	if (pg.drop && (setgroups (1, &pg.gid) != 0 || setgid (pg.gid) != 0 || setuid (pg.uid) != 0))
		_exit (126);
	prctl (PR_SET_PDEATHSIG, SIGQUIT);
}

static gboolean
pg_start (void)
{
	g_autofree char *initdb = NULL;
	g_autofree char *postgres = NULL;
	g_autofree char *isready = NULL;
	g_autofree char *data = NULL;
	g_autofree char *sockets = NULL;
	g_autofree char *user = NULL;
	g_autofree char *user_opt = NULL;
	g_autofree char *err = NULL;
	g_autoptr (GError) error = NULL;
	int status = 0;

	pg.bindir = g_strdup (g_getenv ("EP_TEST_PG_BINDIR") != NULL ? g_getenv ("EP_TEST_PG_BINDIR")
								     : "/usr/lib/postgresql/15/bin");
	initdb = g_build_filename (pg.bindir, "initdb", NULL);
	if (!g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE))
		return FALSE;
	pg.dir = g_dir_make_tmp ("auth-sql-test-XXXXXX", &error);
	g_assert_no_error (error);
	data = g_build_filename (pg.dir, "data", NULL);
	if (geteuid () == 0) {
		struct passwd *pw = getpwnam (TEST_USER);
		g_assert_nonnull (pw);
		pg.drop = TRUE;
		pg.uid = pw->pw_uid;
		pg.gid = pw->pw_gid;
		g_assert_cmpint (chown (pg.dir, pg.uid, pg.gid), ==, 0);
		user = g_strdup (TEST_USER);
	} else {
		user = g_strdup (g_get_user_name ());
	}
	user_opt = g_strdup_printf ("--username=%s", user);
	{
		const char *argv[] = {
		    initdb, "-D",   data,	  user_opt, "--auth-local=trust", "--auth-host=reject", "--no-sync",
		    "-E",   "UTF8", "--locale=C", NULL};
		g_assert_true (g_spawn_sync (pg.dir, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, pg_child_setup,
					     NULL, NULL, &err, &status, &error));
		if (!g_spawn_check_wait_status (status, NULL))
			g_error ("initdb failed: %s", err);
	}
	postgres = g_build_filename (pg.bindir, "postgres", NULL);
	sockets = g_strdup_printf ("unix_socket_directories=%s", pg.dir);
	{
		const char *argv[] = {
		    postgres, "-D", data, "-c", "listen_addresses=", "-c", sockets, "-c", "fsync=off", NULL};
		g_assert_true (
		    g_spawn_async (pg.dir, (char **)argv, NULL,
				   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
				   pg_child_setup, NULL, &pg.pid, &error));
	}
	isready = g_build_filename (pg.bindir, "pg_isready", NULL);
	for (guint i = 0; i < 300; i++) {
		const char *argv[] = {isready, "-q", "-h", pg.dir, NULL};
		if (g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
				  NULL, NULL, NULL, NULL, &status, NULL) &&
		    g_spawn_check_wait_status (status, NULL)) {
			pg.conninfo = g_strdup_printf ("host=%s dbname=postgres user=%s", pg.dir, user);
			return TRUE;
		}
		g_usleep (100 * 1000);
	}
	g_error ("PostgreSQL did not start");
}

static void
pg_stop (void)
{
	const char *argv[] = {"rm", "-rf", pg.dir, NULL};
	int status;

	if (pg.pid != 0) {
		kill (pg.pid, SIGINT);
		waitpid (pg.pid, &status, 0);
		g_spawn_close_pid (pg.pid);
	}
	if (pg.dir != NULL)
		g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	g_free (pg.dir);
	g_free (pg.bindir);
	g_free (pg.conninfo);
}

/* ---- waiting ------------------------------------------------------------- */

static void
on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
	*(GAsyncResult **)user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
	gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

	while (*slot == NULL) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}
	return *slot;
}

static void
sql (const char *statement)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;
	g_autoptr (EpDbResult) res = NULL;

	ep_db_query_async (db, statement, NULL, NULL, on_result, &r);
	res = ep_db_query_finish (db, wait_for (&r), &error);
	g_assert_no_error (error);
}

static gint64
sql_int (const char *statement)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;
	g_autoptr (EpDbResult) res = NULL;

	ep_db_query_async (db, statement, NULL, NULL, on_result, &r);
	res = ep_db_query_finish (db, wait_for (&r), &error);
	g_assert_no_error (error);
	return ep_db_result_get_int64 (res, 0, 0);
}

static void
add_account (const char *name, const char *address, const char *password)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;
	g_autofree char *hash = NULL;

	if (password != NULL) {
		hash = ep_password_hash (password, &test_params, &error);
		g_assert_no_error (error);
	}
	ep_store_create_account_async (store, name, EP_STRV (address), hash, FALSE, 0, NULL, on_result, &r);
	g_assert_true (ep_store_create_account_finish (store, wait_for (&r), &error));
	g_assert_no_error (error);
}

static void
add_app_password (const char *account, const char *label, const char *password)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *hash = ep_password_hash (password, &test_params, &error);
	g_autofree char *statement = NULL;

	g_assert_no_error (error);
	statement = g_strdup_printf ("INSERT INTO auth_app_passwords (account, label, hash) VALUES ('%s', '%s', '%s')",
				     account, label, hash);
	sql (statement);
}

typedef struct {
	EpAuthSqlOutcome outcome;
	char *account;
	char *scram;
} Verdict;

static void
verdict_clear (Verdict *v)
{
	g_free (v->account);
	g_free (v->scram);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Verdict, verdict_clear)

static Verdict
verify (const char *username, const char *secret, gboolean want_scram)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;
	Verdict v = {0};

	ep_auth_sql_verifier_verify_async (verifier, username, secret, want_scram, NULL, on_result, &r);
	v.outcome = ep_auth_sql_verifier_verify_finish (verifier, wait_for (&r), &v.account, &v.scram, &error);
	g_assert_no_error (error);
	return v;
}

static EpAuthSqlOutcome
verify_outcome (const char *username, const char *secret)
{
	g_auto (Verdict) v = verify (username, secret, FALSE);
	return v.outcome;
}

static gint64
fake_clock (void)
{
	return test_clock;
}

/* ---- passwords ----------------------------------------------------------- */

static void
test_password (void)
{
	add_account ("alice", "alice@example.org", TEST_PASSWORD);
	add_account ("nologin", "nologin@example.org", NULL);
	{
		g_auto (Verdict) v = verify ("alice", TEST_PASSWORD, FALSE);
		g_assert_cmpint (v.outcome, ==, EP_AUTH_SQL_ACCEPT);
		g_assert_cmpstr (v.account, ==, "alice");
		g_assert_null (v.scram);
	}
	g_assert_cmpint (verify_outcome ("alice", "wrong horse battery"), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("alice", ""), ==, EP_AUTH_SQL_REJECT);
	/* unknown and disabled: the same answer as a wrong password */
	g_assert_cmpint (verify_outcome ("mallory", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("Not A Name!", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("nologin", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
	/* a login by the account's own address, not by what maps to it */
	{
		g_auto (Verdict) v = verify ("Alice@Example.org", TEST_PASSWORD, FALSE);
		g_assert_cmpint (v.outcome, ==, EP_AUTH_SQL_ACCEPT);
		g_assert_cmpstr (v.account, ==, "alice");
	}
	g_assert_cmpint (verify_outcome ("alice+tag@example.org", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("nobody@example.org", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
}

/* an unknown user costs an argon2id verification, like a wrong password */
static void
test_unknown_user_same_work (void)
{
	gint64 wrong = G_MAXINT64, unknown = G_MAXINT64;

	/* the best of several, against scheduling noise */
	for (guint i = 0; i < 5; i++) {
		gint64 t0 = g_get_monotonic_time ();
		g_assert_cmpint (verify_outcome ("alice", "wrong horse battery"), ==, EP_AUTH_SQL_REJECT);
		wrong = MIN (wrong, g_get_monotonic_time () - t0);
		t0 = g_get_monotonic_time ();
		g_assert_cmpint (verify_outcome ("mallory", "wrong horse battery"), ==, EP_AUTH_SQL_REJECT);
		unknown = MIN (unknown, g_get_monotonic_time () - t0);
	}
	g_test_message ("wrong password %" G_GINT64_FORMAT " us, unknown user %" G_GINT64_FORMAT " us", wrong, unknown);
	g_assert_cmpint (unknown * 2, >, wrong);
	g_assert_cmpint (wrong * 2, >, unknown);
}

/* ---- TOTP and app passwords ---------------------------------------------- */

static void
test_totp (void)
{
	add_account ("tom", "tom@example.org", TEST_PASSWORD);
	/* RFC 6238 appendix B's SHA-1 secret */
	sql ("INSERT INTO auth_totp (account, secret) VALUES ('tom', convert_to('12345678901234567890', 'UTF8'))");

	/* T = 1111111109: 07081804, six digits 081804 */
	test_clock = 1111111109;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "081804"), ==, EP_AUTH_SQL_ACCEPT);
	/* the same code again: refused */
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "081804"), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (sql_int ("SELECT last_step FROM auth_totp WHERE account = 'tom'"), ==, 1111111109 / 30);

	/* T = 1111111111: 14050471, given one step late */
	test_clock = 1111111111 + 30;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "050471"), ==, EP_AUTH_SQL_ACCEPT);
	/* T = 1234567890: 89005924, given one step early */
	test_clock = 1234567890 - 30;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "005924"), ==, EP_AUTH_SQL_ACCEPT);
	/* T = 2000000000: 69279037, two steps late: refused */
	test_clock = 2000000000 + 60;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "279037"), ==, EP_AUTH_SQL_REJECT);
	/* an older code than the last accepted one: refused */
	test_clock = 1111111111;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "050471"), ==, EP_AUTH_SQL_REJECT);

	/* without the code, with a wrong one, with the code but a wrong password */
	test_clock = 2000000000;
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "123456"), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("tom", "wrong horse battery279037"), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD "279037"), ==, EP_AUTH_SQL_ACCEPT);

	/* disabled: the password alone */
	sql ("UPDATE auth_totp SET enabled = false WHERE account = 'tom'");
	g_assert_cmpint (verify_outcome ("tom", TEST_PASSWORD), ==, EP_AUTH_SQL_ACCEPT);
	sql ("UPDATE auth_totp SET enabled = true WHERE account = 'tom'");
}

static void
test_app_password (void)
{
	test_clock = 2000000000;
	add_app_password ("tom", "phone", "abcd-efgh-ijkm-nopq");
	add_app_password ("tom", "laptop", "qrst-uvwx-yz23-4567");
	/* either app password, without a TOTP code */
	g_assert_cmpint (verify_outcome ("tom", "abcd-efgh-ijkm-nopq"), ==, EP_AUTH_SQL_ACCEPT);
	g_assert_cmpint (verify_outcome ("tom", "qrst-uvwx-yz23-4567"), ==, EP_AUTH_SQL_ACCEPT);
	/* not another account's */
	g_assert_cmpint (verify_outcome ("alice", "abcd-efgh-ijkm-nopq"), ==, EP_AUTH_SQL_REJECT);
	/* revoked: refused, the other one still works */
	sql ("DELETE FROM auth_app_passwords WHERE account = 'tom' AND label = 'phone'");
	g_assert_cmpint (verify_outcome ("tom", "abcd-efgh-ijkm-nopq"), ==, EP_AUTH_SQL_REJECT);
	g_assert_cmpint (verify_outcome ("tom", "qrst-uvwx-yz23-4567"), ==, EP_AUTH_SQL_ACCEPT);
	/* an app password of a disabled account opens nothing */
	add_app_password ("nologin", "old", "aaaa-bbbb-cccc-dddd");
	g_assert_cmpint (verify_outcome ("nologin", "aaaa-bbbb-cccc-dddd"), ==, EP_AUTH_SQL_REJECT);
}

/* ---- SCRAM --------------------------------------------------------------- */

#define TEST_SCRAM "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"

static void
test_scram (void)
{
	sql ("INSERT INTO auth_scram (account, credentials) VALUES ('alice', '" TEST_SCRAM "')");
	sql ("INSERT INTO auth_scram (account, credentials) VALUES ('tom', '" TEST_SCRAM "')");
	sql ("INSERT INTO auth_scram (account, credentials) VALUES ('nologin', '" TEST_SCRAM "')");
	{
		g_auto (Verdict) v = verify ("alice", NULL, TRUE);
		g_assert_cmpint (v.outcome, ==, EP_AUTH_SQL_ACCEPT);
		g_assert_cmpstr (v.account, ==, "alice");
		g_assert_cmpstr (v.scram, ==, TEST_SCRAM);
	}
	{
		g_auto (Verdict) v = verify ("alice@example.org", NULL, TRUE);
		g_assert_cmpint (v.outcome, ==, EP_AUTH_SQL_ACCEPT);
		g_assert_cmpstr (v.scram, ==, TEST_SCRAM);
	}
	/* a second factor cannot travel in SCRAM */
	g_assert_cmpint (verify ("tom", NULL, TRUE).outcome, ==, EP_AUTH_SQL_REJECT);
	/* unknown, disabled, or no credentials: the SASL layer fakes the exchange */
	g_assert_cmpint (verify ("mallory", NULL, TRUE).outcome, ==, EP_AUTH_SQL_CONTINUE);
	g_assert_cmpint (verify ("nologin", NULL, TRUE).outcome, ==, EP_AUTH_SQL_CONTINUE);
	add_account ("noscram", "noscram@example.org", TEST_PASSWORD);
	g_assert_cmpint (verify ("noscram", NULL, TRUE).outcome, ==, EP_AUTH_SQL_CONTINUE);
}

/* account.changed (deleted) forgets the account's rows */
static void
test_forget (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;

	g_assert_cmpint (sql_int ("SELECT count(*) FROM auth_app_passwords WHERE account = 'tom'"), >, 0);
	ep_auth_sql_verifier_forget_async (verifier, "tom", NULL, on_result, &r);
	g_assert_true (ep_auth_sql_verifier_forget_finish (verifier, wait_for (&r), &error));
	g_assert_no_error (error);
	g_assert_cmpint (sql_int ("SELECT (SELECT count(*) FROM auth_app_passwords WHERE account = 'tom')"
				  " + (SELECT count(*) FROM auth_totp WHERE account = 'tom')"
				  " + (SELECT count(*) FROM auth_scram WHERE account = 'tom')"),
			 ==, 0);
	g_assert_cmpint (sql_int ("SELECT count(*) FROM auth_scram WHERE account = 'alice'"), ==, 1);
}

/* ---- the guard ----------------------------------------------------------- */

static gboolean
guard_check (const char *ip, const char *user, guint *delay, GError **error)
{
	g_autoptr (GAsyncResult) r = NULL;

	ep_auth_guard_check_async (EP_AUTH_GUARD (guard), ip, user, NULL, on_result, &r);
	return ep_auth_guard_check_finish (EP_AUTH_GUARD (guard), wait_for (&r), delay, error);
}

static guint
guard_delay (const char *ip, const char *user)
{
	g_autoptr (GError) error = NULL;
	guint delay = G_MAXUINT;

	g_assert_true (guard_check (ip, user, &delay, &error));
	g_assert_no_error (error);
	return delay;
}

static void
guard_banned (const char *ip, const char *user)
{
	g_autoptr (GError) error = NULL;
	guint delay = 0;

	g_assert_false (guard_check (ip, user, &delay, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
}

static void
guard_record (const char *ip, const char *user, gboolean success)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;

	ep_auth_guard_record_async (EP_AUTH_GUARD (guard), ip, user, success, NULL, on_result, &r);
	g_assert_true (ep_auth_guard_record_finish (EP_AUTH_GUARD (guard), wait_for (&r), &error));
	g_assert_no_error (error);
}

static void
test_guard_delays (void)
{
	g_assert_cmpuint (guard_delay ("192.0.2.1", "dave"), ==, 0);
	guard_record ("192.0.2.1", "dave", FALSE);
	g_assert_cmpuint (guard_delay ("192.0.2.1", "dave"), ==, 100);
	guard_record ("192.0.2.1", "dave", FALSE);
	g_assert_cmpuint (guard_delay ("192.0.2.1", "dave"), ==, 200);
	guard_record ("192.0.2.1", "Dave", FALSE);
	g_assert_cmpuint (guard_delay ("192.0.2.1", "dave"), ==, 400);
	/* each counter on its own, the larger delay wins */
	g_assert_cmpuint (guard_delay ("192.0.2.99", "DAVE"), ==, 400);
	g_assert_cmpuint (guard_delay ("192.0.2.1", NULL), ==, 400);
	g_assert_cmpuint (guard_delay ("192.0.2.99", "erin"), ==, 0);
	/* a success forgets both */
	guard_record ("192.0.2.1", "dave", TRUE);
	g_assert_cmpuint (guard_delay ("192.0.2.1", "dave"), ==, 0);

	/* the delay stops growing at delay_max_ms */
	for (guint i = 0; i < 5; i++)
		guard_record ("192.0.2.2", NULL, FALSE);
	g_assert_cmpuint (guard_delay ("192.0.2.2", NULL), ==, 800);
	g_assert_cmpuint (ep_auth_sql_guard_delay_for (&test_guard_config, 1000), ==, 800);
	g_assert_cmpuint (ep_auth_sql_guard_delay_for (&test_guard_config, 0), ==, 0);
}

static void
test_guard_ban (void)
{
	g_autoptr (GError) error = NULL;
	guint delay = 0;

	/* a username, from several addresses */
	for (guint i = 0; i < 3; i++) {
		g_autofree char *ip = g_strdup_printf ("198.51.100.%u", i + 1);
		guard_record (ip, "frank", FALSE);
	}
	g_assert_cmpuint (guard_delay ("198.51.100.200", "frank"), ==, 400);
	guard_record ("198.51.100.4", "frank", FALSE);
	guard_banned ("198.51.100.200", "frank");
	/* a success does not lift a ban */
	guard_record ("198.51.100.200", "frank", TRUE);
	guard_banned ("198.51.100.200", "frank");

	/* an address, whatever the usernames; IPv6 by its /64 */
	for (guint i = 0; i < 6; i++) {
		g_autofree char *user = g_strdup_printf ("user%u", i);
		g_autofree char *ip = g_strdup_printf ("2001:db8:1:2::%x", i + 1);
		guard_record (ip, user, FALSE);
	}
	guard_banned ("2001:db8:1:2:ffff::1", "someone-else");
	g_assert_cmpuint (guard_delay ("2001:db8:1:3::1", "someone-else"), ==, 0);

	/* bans end (ban_seconds = 1), and counting starts again */
	g_usleep (1200 * 1000);
	g_assert_true (guard_check ("2001:db8:1:2::1", "frank", &delay, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (delay, ==, 800);
	guard_record ("2001:db8:1:2::1", "frank", FALSE);
	g_assert_cmpuint (guard_delay ("2001:db8:1:2::1", "frank"), ==, 100);
}

static void
test_guard_keys (void)
{
	g_autofree char *v4 = ep_auth_sql_guard_ip_key ("192.0.2.7");
	g_autofree char *mapped = ep_auth_sql_guard_ip_key ("::ffff:192.0.2.7");
	g_autofree char *v6 = ep_auth_sql_guard_ip_key ("2001:db8:aa:bb:1:2:3:4");

	g_assert_cmpstr (v4, ==, "192.0.2.7");
	g_assert_cmpstr (mapped, ==, "192.0.2.7");
	g_assert_cmpstr (v6, ==, "2001:db8:aa:bb::/64");
	g_assert_null (ep_auth_sql_guard_ip_key (NULL));
}

/* old counters go, bans in force stay */
static void
test_guard_purge (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;

	sql ("UPDATE auth_failures SET last_at = now() - interval '1 hour'");
	sql ("INSERT INTO auth_failures (kind, key, failures, last_at, banned_until)"
	     " VALUES ('ip', '203.0.113.9', 50, now() - interval '1 hour', now() + interval '1 hour')");
	ep_auth_sql_guard_purge_async (guard, NULL, on_result, &r);
	g_assert_true (ep_auth_sql_guard_purge_finish (guard, wait_for (&r), &error));
	g_assert_no_error (error);
	g_assert_cmpint (sql_int ("SELECT count(*) FROM auth_failures"), ==, 1);
	guard_banned ("203.0.113.9", NULL);
}

/* ---- main ---------------------------------------------------------------- */

static void
migrate (const char *module, const char *dir)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GAsyncResult) r = NULL;

	ep_db_migrate_async (db, module, dir, NULL, on_result, &r);
	g_assert_true (ep_db_migrate_finish (db, wait_for (&r), &error));
	g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpEventBus) events = NULL;
	int ret;

	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/auth-sql/guard/keys", test_guard_keys);
	if (!pg_start ()) {
		g_test_skip ("no PostgreSQL server: install the Debian package postgresql");
		return g_test_run ();
	}
	db = ep_db_new (pg.conninfo, 4, &error);
	g_assert_no_error (error);
	migrate ("store-pg", EP_STORE_PG_MIGRATIONS);
	migrate ("auth-sql", EP_AUTH_SQL_MIGRATIONS);
	events = ep_event_bus_new ();
	pool = ep_worker_pool_new (4, 0);
	services = ep_service_registry_new ();
	store = EP_STORE (ep_store_pg_new (db, events, pool, &error));
	g_assert_no_error (error);
	g_assert_true (ep_service_registry_register (services, EP_TYPE_STORE, G_OBJECT (store), "store-pg", &error));
	verifier = ep_auth_sql_verifier_new (db, services, pool, &test_params, &error);
	g_assert_no_error (error);
	ep_auth_sql_verifier_set_clock (verifier, fake_clock);
	guard = ep_auth_sql_guard_new (db, &test_guard_config, &error);
	g_assert_no_error (error);

	g_test_add_func ("/auth-sql/password", test_password);
	g_test_add_func ("/auth-sql/unknown-user-same-work", test_unknown_user_same_work);
	g_test_add_func ("/auth-sql/totp", test_totp);
	g_test_add_func ("/auth-sql/app-password", test_app_password);
	g_test_add_func ("/auth-sql/scram", test_scram);
	g_test_add_func ("/auth-sql/forget", test_forget);
	g_test_add_func ("/auth-sql/guard/delays", test_guard_delays);
	g_test_add_func ("/auth-sql/guard/ban", test_guard_ban);
	g_test_add_func ("/auth-sql/guard/purge", test_guard_purge);
	ret = g_test_run ();

	g_clear_object (&verifier);
	g_clear_object (&guard);
	g_clear_object (&services);
	g_clear_object (&store);
	ep_db_close (db);
	g_clear_object (&db);
	g_clear_object (&pool);
	pg_stop ();
	return ret;
}
