/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * The contract of EpStore, run against store-pg on a real PostgreSQL: a
 * throwaway cluster in a temporary directory, Unix socket only, started
 * with initdb and postgres (as the user 'epistle' when run as root, since
 * PostgreSQL refuses to run as root).  The cases are a table: a second
 * implementation of EpStore runs the same table with its own
 * contract_store_new().
 */

#include "config.h"

#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep-db-migrator.h"
#include "ep-mime.h"
#include "store-pg-store.h"

#define TEST_USER "epistle"

typedef struct {
	char *dir;
	char *data;
	char *bindir;
	char *conninfo;
	GPid pid;
	gboolean drop;
	uid_t uid;
	gid_t gid;
} TestCluster;

static TestCluster cluster;
static EpDb *db;
static EpStore *store;
static EpEventBus *events;
static GPtrArray *warnings; /* of char*: what an operator would have read */

/* Warnings go to the operator: collect them so that a test can check them,
 * rather than letting GTest abort. */
static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if ((level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) == 0)
		return g_log_writer_default (level, fields, n_fields, user_data);
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
			g_ptr_array_add (warnings, g_strdup (fields[i].value));
			if (g_test_verbose ())
				g_test_message ("log: %s", (const char *)fields[i].value);
		}
	}
	return G_LOG_WRITER_HANDLED;
}

static gboolean
test_logged (const char *needle)
{
	for (guint i = 0; i < warnings->len; i++) {
		if (strstr (g_ptr_array_index (warnings, i), needle) != NULL)
			return TRUE;
	}
	return FALSE;
}

/* ---- the cluster --------------------------------------------------------- */

static void
test_child_setup (gpointer user_data)
{
	if (cluster.drop &&
	    (setgroups (1, &cluster.gid) != 0 || setgid (cluster.gid) != 0 || setuid (cluster.uid) != 0))
		_exit (126);
	prctl (PR_SET_PDEATHSIG, SIGQUIT);
}

static void
test_cluster_run (const char *const *argv)
{
	int status = 0;
	g_autofree char *err = NULL;
	g_autoptr (GError) error = NULL;

	g_assert_true (g_spawn_sync (cluster.dir, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, test_child_setup,
				     NULL, NULL, &err, &status, &error));
	if (!g_spawn_check_wait_status (status, NULL))
		g_error ("%s failed: %s", argv[0], err);
}

static void
test_cluster_start_server (void)
{
	g_autofree char *postgres = g_build_filename (cluster.bindir, "postgres", NULL);
	g_autofree char *sockets = g_strdup_printf ("unix_socket_directories=%s", cluster.dir);
	g_autofree char *pg_isready = g_build_filename (cluster.bindir, "pg_isready", NULL);
	const char *argv[] = {postgres,
			      "-D",
			      cluster.data,
			      "-c",
			      "listen_addresses=",
			      "-c",
			      sockets,
			      "-c",
			      "fsync=off",
			      "-c",
			      "max_connections=50",
			      "-c",
			      "logging_collector=on",
			      "-c",
			      "log_directory=log",
			      NULL};
	const char *ready[] = {pg_isready, "-q", "-h", cluster.dir, NULL};
	g_autoptr (GError) error = NULL;

	g_assert_true (
	    g_spawn_async (cluster.dir, (char **)argv, NULL,
			   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
			   test_child_setup, NULL, &cluster.pid, &error));
	for (guint i = 0; i < 300; i++) {
		int status = 0;

		if (g_spawn_sync (NULL, (char **)ready, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
				  NULL, NULL, NULL, NULL, &status, NULL) &&
		    g_spawn_check_wait_status (status, NULL))
			return;
		g_usleep (100 * 1000);
	}
	g_error ("PostgreSQL did not start");
}

static void
test_cluster_stop_server (void)
{
	int status;

	if (cluster.pid == 0)
		return;
	kill (cluster.pid, SIGINT);
	waitpid (cluster.pid, &status, 0);
	g_spawn_close_pid (cluster.pid);
	cluster.pid = 0;
}

static gboolean
test_cluster_start (void)
{
	g_autofree char *initdb = NULL;
	g_autofree char *user_opt = NULL;
	g_autoptr (GError) error = NULL;

	cluster.bindir = g_strdup (g_getenv ("EP_TEST_PG_BINDIR") != NULL ? g_getenv ("EP_TEST_PG_BINDIR")
									  : "/usr/lib/postgresql/15/bin");
	initdb = g_build_filename (cluster.bindir, "initdb", NULL);
	if (!g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE))
		return FALSE;
	cluster.dir = g_dir_make_tmp ("store-contract-XXXXXX", &error);
	g_assert_no_error (error);
	cluster.data = g_build_filename (cluster.dir, "data", NULL);
	if (geteuid () == 0) {
		struct passwd *pw = getpwnam (TEST_USER);

		g_assert_nonnull (pw);
		cluster.drop = TRUE;
		cluster.uid = pw->pw_uid;
		cluster.gid = pw->pw_gid;
		g_assert_cmpint (chown (cluster.dir, cluster.uid, cluster.gid), ==, 0);
		user_opt = g_strdup ("--username=" TEST_USER);
	} else {
		user_opt = g_strdup_printf ("--username=%s", g_get_user_name ());
	}
	{
		const char *argv[] = {
		    initdb, "-D",   cluster.data, user_opt, "--auth-local=trust", "--auth-host=reject", "--no-sync",
		    "-E",   "UTF8", "--locale=C", NULL};

		test_cluster_run (argv);
	}
	test_cluster_start_server ();
	cluster.conninfo =
	    g_strdup_printf ("host=%s dbname=postgres user=%s", cluster.dir, user_opt + strlen ("--username="));
	return TRUE;
}

static void
test_cluster_free (void)
{
	const char *argv[] = {"rm", "-rf", cluster.dir, NULL};

	test_cluster_stop_server ();
	if (cluster.dir != NULL)
		g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	g_free (cluster.dir);
	g_free (cluster.data);
	g_free (cluster.bindir);
	g_free (cluster.conninfo);
}

/* ---- waiting on the main loop -------------------------------------------- */

static void
test_on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
	*(GAsyncResult **)user_data = g_object_ref (result);
}

static GAsyncResult *
test_wait (GAsyncResult **slot)
{
	gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

	while (*slot == NULL) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}
	return *slot;
}

static void
test_spin (guint ms)
{
	gint64 until = g_get_monotonic_time () + ms * 1000;

	while (g_get_monotonic_time () < until)
		g_main_context_iteration (NULL, FALSE), g_usleep (1000);
}

static gint64
test_query_int (const char *sql)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = NULL;
	GAsyncResult *r = NULL;

	ep_db_query_async (db, sql, NULL, NULL, test_on_result, &r);
	res = ep_db_query_finish (db, test_wait (&r), &error);
	g_object_unref (r);
	g_assert_no_error (error);
	return ep_db_result_get_int64 (res, 0, 0);
}

/* ---- synchronous faces of the contract ----------------------------------- */

static gboolean
create_account (const char *name, const char *const *addresses, gboolean catch_all, gint64 quota, GError **error)
{
	GAsyncResult *r = NULL;
	gboolean ok;

	ep_store_create_account_async (store, name, addresses, NULL, catch_all, quota, NULL, test_on_result, &r);
	ok = ep_store_create_account_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return ok;
}

static char *
resolve (const char *address, GError **error)
{
	GAsyncResult *r = NULL;
	char *account;

	ep_store_resolve_address_async (store, address, NULL, test_on_result, &r);
	account = ep_store_resolve_address_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return account;
}

static GPtrArray *
list_mailboxes (const char *account, const char *name, GError **error)
{
	GAsyncResult *r = NULL;
	GPtrArray *mailboxes;

	ep_store_list_mailboxes_async (store, account, name, NULL, test_on_result, &r);
	mailboxes = ep_store_list_mailboxes_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return mailboxes;
}

static GPtrArray *
list_accounts (const char *name, GError **error)
{
	GAsyncResult *r = NULL;
	GPtrArray *accounts;

	ep_store_list_accounts_async (store, name, NULL, test_on_result, &r);
	accounts = ep_store_list_accounts_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return accounts;
}

static EpStoreDelivery *
append (const char *account, const char *mailbox, const char *text, GError **error)
{
	g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));
	GAsyncResult *r = NULL;
	EpStoreDelivery *delivery;

	ep_store_append_async (store, account, mailbox, data, EP_STORE_FLAG_NONE, NULL, 0, NULL, test_on_result, &r);
	delivery = ep_store_append_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return delivery;
}

static GArray *
expunge (const char *account, const char *mailbox, const guint32 *uids, guint n_uids, GError **error)
{
	GAsyncResult *r = NULL;
	GArray *expunged;

	ep_store_expunge_async (store, account, mailbox, uids, n_uids, NULL, test_on_result, &r);
	expunged = ep_store_expunge_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return expunged;
}

static GArray *
tombstones (const char *account, const char *mailbox, guint64 since, GError **error)
{
	GAsyncResult *r = NULL;
	GArray *list;

	ep_store_list_tombstones_async (store, account, mailbox, since, NULL, test_on_result, &r);
	list = ep_store_list_tombstones_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return list;
}

static GPtrArray *
list_messages (const char *account, const char *mailbox, guint32 first, guint32 last, guint limit, GError **error)
{
	GAsyncResult *r = NULL;
	GPtrArray *messages;

	ep_store_list_messages_async (store, account, mailbox, first, last, 0, limit, NULL, test_on_result, &r);
	messages = ep_store_list_messages_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return messages;
}

static gboolean
sync_config (GPtrArray *accounts, GError **error)
{
	GAsyncResult *r = NULL;
	gboolean ok;

	ep_store_sync_config_accounts_async (store, accounts, NULL, test_on_result, &r);
	ok = ep_store_sync_config_accounts_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return ok;
}

static gboolean
rename_mailbox (const char *account, const char *from, const char *to, GError **error)
{
	GAsyncResult *r = NULL;
	gboolean ok;

	ep_store_rename_mailbox_async (store, account, from, to, NULL, test_on_result, &r);
	ok = ep_store_rename_mailbox_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return ok;
}

static EpStoreMailbox *
create_mailbox (const char *account, const char *name, GError **error)
{
	GAsyncResult *r = NULL;
	EpStoreMailbox *mailbox;

	ep_store_create_mailbox_async (store, account, name, NULL, NULL, test_on_result, &r);
	mailbox = ep_store_create_mailbox_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return mailbox;
}

static EpStoreMailbox *
find_mailbox (GPtrArray *mailboxes, const char *name)
{
	for (guint i = 0; i < mailboxes->len; i++) {
		EpStoreMailbox *m = g_ptr_array_index (mailboxes, i);

		if (g_strcmp0 (m->name, name) == 0)
			return m;
	}
	return NULL;
}

#define MESSAGE(subject) "From: a@example.org\r\nSubject: " subject "\r\nMessage-ID: <" subject "@x>\r\n\r\nbody\r\n"

static EpStore *contract_store_new (EpDb *database, EpEventBus *bus);

/* ---- the cases ----------------------------------------------------------- */

static void
test_special_use (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) mailboxes = NULL;
	const struct {
		const char *name;
		const char *role;
	} expected[] = {
	    {"INBOX", "inbox"}, {"Sent", "sent"}, {"Drafts", "drafts"},
	    {"Trash", "trash"}, {"Junk", "junk"}, {"Archive", "archive"},
	};

	g_assert_true (create_account ("special", EP_STRV ("special@example.org"), FALSE, 0, &error));
	g_assert_no_error (error);
	g_assert_false (create_account ("special", EP_STRV ("other@example.org"), FALSE, 0, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_false (create_account ("Bad Name", NULL, FALSE, 0, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);

	mailboxes = list_mailboxes ("special", NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (mailboxes->len, ==, G_N_ELEMENTS (expected));
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		EpStoreMailbox *m = find_mailbox (mailboxes, expected[i].name);

		g_assert_nonnull (m);
		g_assert_cmpstr (m->role, ==, expected[i].role);
		g_assert_cmpuint (m->uidnext, ==, 1);
		g_assert_cmpuint (m->uidvalidity, >, 0);
		g_assert_true (m->subscribed);
	}
	g_clear_pointer (&mailboxes, g_ptr_array_unref);
	mailboxes = list_mailboxes ("nobody", NULL, &error);
	g_assert_null (mailboxes);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
}

static void
test_resolve (void)
{
	const struct {
		const char *address;
		const char *account; /* NULL: NOT_FOUND */
	} cases[] = {
	    {"alice@one.example", "res-alice"},
	    {"ALICE@One.Example", "res-alice"},
	    {"alice+lists@one.example", "res-alice"},
	    {"Alice+X+Y@ONE.example", "res-alice"},
	    {"a.l@one.example", "res-alice"},
	    {"bob@one.example", NULL},
	    {"bob+tag@one.example", NULL},
	    {"carol@two.example", "res-carol"},
	    {"carol+x@two.example", "res-carol"},
	    {"anyone@two.example", "res-catch"},
	    {"anyone+tag@two.example", "res-catch"},
	    {"alice@three.example", NULL},
	};
	g_autoptr (GError) error = NULL;

	g_assert_true (
	    create_account ("res-alice", EP_STRV ("alice@one.example", "A.L@one.example"), FALSE, 0, &error));
	g_assert_true (create_account ("res-carol", EP_STRV ("carol@two.example"), FALSE, 0, &error));
	g_assert_true (create_account ("res-catch", EP_STRV ("postmaster@two.example"), TRUE, 0, &error));
	g_assert_no_error (error);
	g_assert_false (create_account ("res-dup", EP_STRV ("alice@one.example"), FALSE, 0, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *account = resolve (cases[i].address, &error);

		g_test_message ("resolving %s", cases[i].address);
		if (cases[i].account == NULL) {
			g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
			g_clear_error (&error);
		} else {
			g_assert_no_error (error);
		}
		g_assert_cmpstr (account, ==, cases[i].account);
	}
}

typedef struct {
	GAsyncResult *results[200];
} ConcurrentAppends;

static void
test_concurrent_appends (void)
{
	g_autoptr (GError) error = NULL;
	ConcurrentAppends c = {{NULL}};
	g_autoptr (GHashTable) uids = g_hash_table_new (NULL, NULL);
	g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_message_free);
	g_autoptr (GPtrArray) mailboxes = NULL;
	guint32 next = 1;
	guint64 last_modseq = 0;

	g_assert_true (create_account ("conc", EP_STRV ("conc@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < G_N_ELEMENTS (c.results); i++) {
		g_autofree char *text = g_strdup_printf (MESSAGE ("concurrent") "%u\r\n", i);
		g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));

		ep_store_append_async (store, "conc", "INBOX", data, EP_STORE_FLAG_SEEN, NULL, 0, NULL, test_on_result,
				       &c.results[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS (c.results); i++) {
		g_autoptr (EpStoreDelivery) d = ep_store_append_finish (store, test_wait (&c.results[i]), &error);

		g_assert_no_error (error);
		g_assert_cmpuint (d->uid, >=, 1);
		g_assert_cmpuint (d->uid, <=, G_N_ELEMENTS (c.results));
		g_assert_false (g_hash_table_contains (uids, GUINT_TO_POINTER (d->uid)));
		g_hash_table_add (uids, GUINT_TO_POINTER (d->uid));
		g_object_unref (c.results[i]);
	}
	/* paged by 37: UIDs 1..200 in order, MODSEQ rising with them */
	for (;;) {
		g_autoptr (GPtrArray) page = list_messages ("conc", "inbox", next, G_MAXUINT32, 37, &error);

		g_assert_no_error (error);
		if (page->len == 0)
			break;
		g_assert_cmpuint (page->len, <=, 37);
		for (guint i = 0; i < page->len; i++) {
			EpStoreMessage *m = g_ptr_array_index (page, i);

			g_assert_cmpuint (m->uid, ==, next);
			g_assert_cmpuint (m->modseq, >, last_modseq);
			g_assert_cmpint (m->flags, ==, EP_STORE_FLAG_SEEN);
			g_assert_true (g_str_has_prefix (m->email_id, "M"));
			last_modseq = m->modseq;
			next = m->uid + 1;
		}
	}
	g_assert_cmpuint (next, ==, G_N_ELEMENTS (c.results) + 1);
	mailboxes = list_mailboxes ("conc", "INBOX", &error);
	g_assert_no_error (error);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->uidnext, ==, G_N_ELEMENTS (c.results) + 1);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->highest_modseq, ==, last_modseq);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->n_messages, ==, G_N_ELEMENTS (c.results));
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->n_unseen, ==, 0);
}

static void
test_tombstones_and_flags (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) first = NULL;
	g_autoptr (GArray) second = NULL;
	g_autoptr (GArray) list = NULL;
	g_autoptr (GPtrArray) changes = NULL;
	g_autoptr (GPtrArray) again = NULL;
	g_autoptr (GBytes) bytes = NULL;
	guint64 modseq = 0;
	GAsyncResult *r = NULL;
	const guint32 first_uids[] = {2, 4};
	const guint32 second_uids[] = {1, 99};
	const guint32 flag_uids[] = {3, 5};

	g_assert_true (create_account ("tomb", EP_STRV ("tomb@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < 5; i++) {
		g_autoptr (EpStoreDelivery) d = append ("tomb", "INBOX", MESSAGE ("tomb"), &error);

		g_assert_no_error (error);
		g_assert_cmpuint (d->uid, ==, i + 1);
		g_assert_cmpuint (d->modseq, >, modseq);
		modseq = d->modseq;
	}
	ep_store_read_message_async (store, "tomb", "INBOX", 3, NULL, test_on_result, &r);
	bytes = ep_store_read_message_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), MESSAGE ("tomb"),
			 strlen (MESSAGE ("tomb")));

	/* flags: one new MODSEQ for the change; UNCHANGEDSINCE refuses */
	ep_store_store_flags_async (store, "tomb", "INBOX", flag_uids, G_N_ELEMENTS (flag_uids), EP_STORE_FLAGS_ADD,
				    EP_STORE_FLAG_FLAGGED, EP_STRV ("$Important"), 0, NULL, test_on_result, &r);
	changes = ep_store_store_flags_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_cmpuint (changes->len, ==, 2);
	for (guint i = 0; i < changes->len; i++) {
		EpStoreFlagChange *c = g_ptr_array_index (changes, i);

		g_assert_false (c->failed);
		g_assert_cmpuint (c->modseq, ==, modseq + 1);
		g_assert_cmpint (c->flags, ==, EP_STORE_FLAG_FLAGGED);
		g_assert_cmpstrv (c->keywords, EP_STRV ("$Important"));
	}
	modseq++;
	/* changes that alter nothing give nothing and use no MODSEQ (the
	 * expunge below gets modseq + 1) */
	{
		struct {
			EpStoreFlagsMode mode;
			EpStoreFlags flags;
			const char *const *keywords;
		} no_ops[] = {
		    {EP_STORE_FLAGS_ADD, EP_STORE_FLAG_FLAGGED, EP_STRV ("$Important")},
		    {EP_STORE_FLAGS_ADD, 0, NULL},
		    {EP_STORE_FLAGS_REMOVE, EP_STORE_FLAG_SEEN | EP_STORE_FLAG_DELETED, EP_STRV ("$Junk")},
		    {EP_STORE_FLAGS_REPLACE, EP_STORE_FLAG_FLAGGED, EP_STRV ("$Important", "$Important")},
		};

		for (guint i = 0; i < G_N_ELEMENTS (no_ops); i++) {
			g_autoptr (GPtrArray) none = NULL;

			ep_store_store_flags_async (store, "tomb", "INBOX", flag_uids, G_N_ELEMENTS (flag_uids),
						    no_ops[i].mode, no_ops[i].flags, no_ops[i].keywords, 0, NULL,
						    test_on_result, &r);
			none = ep_store_store_flags_finish (store, test_wait (&r), &error);
			g_clear_object (&r);
			g_assert_no_error (error);
			g_assert_cmpuint (none->len, ==, 0);
		}
	}
	ep_store_store_flags_async (store, "tomb", "INBOX", flag_uids, G_N_ELEMENTS (flag_uids), EP_STORE_FLAGS_ADD,
				    EP_STORE_FLAG_SEEN, NULL, modseq - 1, NULL, test_on_result, &r);
	again = ep_store_store_flags_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_cmpuint (again->len, ==, 2);
	g_assert_true (((EpStoreFlagChange *)again->pdata[0])->failed);
	g_assert_cmpint (((EpStoreFlagChange *)again->pdata[0])->flags, ==, EP_STORE_FLAG_FLAGGED);

	/* expunges become tombstones listed by MODSEQ */
	first = expunge ("tomb", "INBOX", first_uids, G_N_ELEMENTS (first_uids), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (first->len, ==, 2);
	g_assert_cmpuint (g_array_index (first, EpStoreTombstone, 0).modseq, ==, modseq + 1);
	second = expunge ("tomb", "INBOX", second_uids, G_N_ELEMENTS (second_uids), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (second->len, ==, 1);
	g_assert_cmpuint (g_array_index (second, EpStoreTombstone, 0).uid, ==, 1);
	g_assert_cmpuint (g_array_index (second, EpStoreTombstone, 0).modseq, ==, modseq + 2);

	list = tombstones ("tomb", "INBOX", modseq, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (list->len, ==, 3);
	g_assert_cmpuint (g_array_index (list, EpStoreTombstone, 0).uid, ==, 2);
	g_assert_cmpuint (g_array_index (list, EpStoreTombstone, 1).uid, ==, 4);
	g_assert_cmpuint (g_array_index (list, EpStoreTombstone, 2).uid, ==, 1);
	g_clear_pointer (&list, g_array_unref);
	list = tombstones ("tomb", "INBOX", modseq + 1, &error);
	g_assert_cmpuint (list->len, ==, 1);
	g_clear_pointer (&list, g_array_unref);
	list = tombstones ("tomb", "Nope", 0, &error);
	g_assert_null (list);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
}

static void
test_blob_dedup (void)
{
	const char *text = MESSAGE ("shared-blob-for-five");
	g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) deliveries = NULL;
	EpStoreTarget targets[5];
	char *names[5];
	GAsyncResult *r = NULL;
	g_autofree char *count_sql = NULL;
	g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

	g_checksum_update (checksum, (const guchar *)text, strlen (text));
	count_sql = g_strdup_printf ("SELECT count(*) FROM store_blobs WHERE hash = '\\x%s'::bytea",
				     g_checksum_get_string (checksum));
	for (guint i = 0; i < 5; i++) {
		g_autofree char *address = g_strdup_printf ("blob%u@example.org", i);

		names[i] = g_strdup_printf ("blob%u", i);
		g_assert_true (create_account (names[i], EP_STRV (address), FALSE, 0, &error));
		targets[i].account = names[i];
		targets[i].mailbox = "INBOX";
	}
	ep_store_deliver_async (store, targets, 5, data, NULL, test_on_result, &r);
	deliveries = ep_store_deliver_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_cmpuint (deliveries->len, ==, 5);
	g_assert_cmpint (test_query_int (count_sql), ==, 1);
	for (guint i = 0; i < 5; i++) {
		EpStoreDelivery *d = g_ptr_array_index (deliveries, i);
		const guint32 uid = d->uid;
		g_autoptr (GArray) gone = NULL;

		g_assert_cmpuint (uid, ==, 1);
		gone = expunge (d->account, "INBOX", &uid, 1, &error);
		g_assert_no_error (error);
		g_assert_cmpuint (gone->len, ==, 1);
		g_assert_cmpint (test_query_int (count_sql), ==, i < 4 ? 1 : 0);
	}
	for (guint i = 0; i < 5; i++)
		g_free (names[i]);
}

/* an expunge of a blob's last holder racing a delivery of the same bytes:
 * whatever the order, the delivered message stays readable */
static void
test_blob_race (void)
{
	g_autoptr (GError) error = NULL;

	g_assert_true (create_account ("racea", EP_STRV ("racea@example.org"), FALSE, 0, &error));
	g_assert_true (create_account ("raceb", EP_STRV ("raceb@example.org"), FALSE, 0, &error));
	for (guint round = 0; round < 30; round++) {
		g_autofree char *text = g_strdup_printf (MESSAGE ("race") "round %u\r\n", round);
		g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));
		g_autoptr (EpStoreDelivery) held = append ("racea", "INBOX", text, &error);
		g_autoptr (EpStoreDelivery) d = NULL;
		g_autoptr (GArray) gone = NULL;
		g_autoptr (GBytes) back = NULL;
		GAsyncResult *r1 = NULL, *r2 = NULL, *r3 = NULL;
		guint32 uid;

		g_assert_no_error (error);
		uid = held->uid;
		/* both in flight at once, on two connections of the pool */
		if (round % 2 == 0) {
			ep_store_expunge_async (store, "racea", "INBOX", &uid, 1, NULL, test_on_result, &r1);
			ep_store_append_async (store, "raceb", "INBOX", data, 0, NULL, 0, NULL, test_on_result, &r2);
		} else {
			ep_store_append_async (store, "raceb", "INBOX", data, 0, NULL, 0, NULL, test_on_result, &r2);
			ep_store_expunge_async (store, "racea", "INBOX", &uid, 1, NULL, test_on_result, &r1);
		}
		gone = ep_store_expunge_finish (store, test_wait (&r1), &error);
		g_assert_no_error (error);
		g_assert_cmpuint (gone->len, ==, 1);
		d = ep_store_append_finish (store, test_wait (&r2), &error);
		g_assert_no_error (error);
		ep_store_read_message_async (store, "raceb", "INBOX", d->uid, NULL, test_on_result, &r3);
		back = ep_store_read_message_finish (store, test_wait (&r3), &error);
		g_assert_no_error (error);
		g_assert_cmpmem (g_bytes_get_data (back, NULL), g_bytes_get_size (back), text, strlen (text));
		g_object_unref (r1);
		g_object_unref (r2);
		g_object_unref (r3);
	}
}

static void
test_quota (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreDelivery) d = NULL;
	g_autoptr (GPtrArray) accounts = NULL;
	g_autoptr (GPtrArray) deliveries = NULL;
	g_autofree char *big = g_strnfill (600, 'x');
	g_autoptr (GBytes) data = g_bytes_new (big, strlen (big));
	const EpStoreTarget targets[] = {{"quota-free", "INBOX"}, {"quota", "INBOX"}};
	GAsyncResult *r = NULL;
	gint64 used = -1, limit = -1, count = -1;

	g_assert_true (create_account ("quota", EP_STRV ("quota@example.org"), FALSE, 1000, &error));
	g_assert_true (create_account ("quota-free", EP_STRV ("free@example.org"), FALSE, 0, &error));
	d = append ("quota", "INBOX", big, &error);
	g_assert_no_error (error);
	g_assert_nonnull (d);
	g_clear_pointer (&d, ep_store_delivery_free);
	d = append ("quota", "Archive", big, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
	g_assert_null (d);
	g_clear_error (&error);

	/* one target over quota: nothing stored anywhere */
	ep_store_deliver_async (store, targets, G_N_ELEMENTS (targets), data, NULL, test_on_result, &r);
	deliveries = ep_store_deliver_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
	g_assert_null (deliveries);
	g_clear_error (&error);

	ep_store_get_quota_async (store, "quota", NULL, test_on_result, &r);
	g_assert_true (ep_store_get_quota_finish (store, test_wait (&r), &used, &limit, &count, &error));
	g_clear_object (&r);
	g_assert_cmpint (used, ==, 600);
	g_assert_cmpint (limit, ==, 1000);
	g_assert_cmpint (count, ==, 1);
	accounts = list_accounts ("quota-free", &error);
	g_assert_no_error (error);
	g_assert_cmpint (((EpStoreAccount *)accounts->pdata[0])->message_count, ==, 0);
	g_assert_cmpint (((EpStoreAccount *)accounts->pdata[0])->used_bytes, ==, 0);
}

static void
test_rename (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) mailboxes = NULL;
	g_autoptr (EpStoreMailbox) child = NULL;
	g_autoptr (EpStoreMailbox) dup = NULL;
	guint32 uidvalidity;
	const struct {
		const char *name;
		gboolean present;
	} expected[] = {
	    {"Lists", FALSE},	 {"Lists/a", FALSE},	{"Lists/a/deep", FALSE},    {"Old", TRUE},
	    {"Old/Lists", TRUE}, {"Old/Lists/a", TRUE}, {"Old/Lists/a/deep", TRUE}, {"Listsx", TRUE},
	};

	g_assert_true (create_account ("ren", EP_STRV ("ren@example.org"), FALSE, 0, &error));
	child = create_mailbox ("ren", "Lists/a/deep", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (child->name, ==, "Lists/a/deep");
	uidvalidity = child->uidvalidity;
	g_clear_pointer (&child, ep_store_mailbox_free);
	child = create_mailbox ("ren", "Listsx", &error);
	g_assert_no_error (error);
	dup = create_mailbox ("ren", "Lists/a", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_null (create_mailbox ("ren", "inbox", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_null (create_mailbox ("ren", "a//b", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);

	g_assert_true (rename_mailbox ("ren", "Lists", "Old/Lists", &error));
	g_assert_no_error (error);
	/* INBOX is renamed by moving its messages (test_rename_inbox) */
	g_assert_false (rename_mailbox ("ren", "INBOX", "Drafts", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);
	g_assert_false (rename_mailbox ("ren", "INBOX", "inbox", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);
	g_assert_false (rename_mailbox ("ren", "Nope", "Elsewhere", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	g_assert_false (rename_mailbox ("ren", "Sent", "Drafts", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_clear_error (&error);

	mailboxes = list_mailboxes ("ren", NULL, &error);
	g_assert_no_error (error);
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		g_test_message ("mailbox %s", expected[i].name);
		g_assert_true ((find_mailbox (mailboxes, expected[i].name) != NULL) == expected[i].present);
	}
	g_assert_cmpuint (find_mailbox (mailboxes, "Old/Lists/a/deep")->uidvalidity, ==, uidvalidity);
}

static EpStoreCopy *
copy_messages (const char *account, const char *from, const guint32 *uids, guint n_uids, const char *to, gboolean move,
	       GError **error)
{
	GAsyncResult *r = NULL;
	EpStoreCopy *copy;

	ep_store_copy_messages_async (store, account, from, uids, n_uids, to, move, NULL, test_on_result, &r);
	copy = ep_store_copy_messages_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return copy;
}

static void
get_quota (const char *account, gint64 *used, gint64 *count)
{
	g_autoptr (GError) error = NULL;
	GAsyncResult *r = NULL;

	ep_store_get_quota_async (store, account, NULL, test_on_result, &r);
	g_assert_true (ep_store_get_quota_finish (store, test_wait (&r), used, NULL, count, &error));
	g_assert_no_error (error);
	g_object_unref (r);
}

static void
assert_uids (GArray *uids, const guint32 *expected, guint n)
{
	g_assert_cmpuint (uids->len, ==, n);
	for (guint i = 0; i < n; i++)
		g_assert_cmpuint (g_array_index (uids, guint32, i), ==, expected[i]);
}

static gint64
blob_count (void)
{
	return test_query_int ("SELECT count(*) FROM store_blobs");
}

/* COPY and MOVE: one transaction, flags, keywords, dates and ids kept,
 * the octets shared, the quota counted (not for a move), tombstones */
static void
test_copy_move (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreCopy) copy = NULL;
	g_autoptr (EpStoreCopy) moved = NULL;
	g_autoptr (EpStoreCopy) none = NULL;
	g_autoptr (GPtrArray) src = NULL;
	g_autoptr (GPtrArray) dst = NULL;
	g_autoptr (GPtrArray) boxes = NULL;
	g_autoptr (GArray) gone = NULL;
	g_autoptr (EpStoreMailbox) work = NULL;
	g_autoptr (GBytes) back = NULL;
	GAsyncResult *r = NULL;
	gint64 used = 0, count = 0, used_before = 0, blobs;
	guint64 src_modseq;
	const guint32 wanted[] = {4, 2, 99, 1};
	const guint32 expected_from[] = {1, 2, 4};
	const guint32 expected_to[] = {1, 2, 3};
	const guint32 expunge_two = 2;
	guint32 move_uids[] = {1, 3};

	g_assert_true (create_account ("cpy", EP_STRV ("cpy@example.org"), FALSE, 0, &error));
	work = create_mailbox ("cpy", "Work", &error);
	g_assert_no_error (error);
	for (guint i = 0; i < 4; i++) {
		g_autofree char *text = g_strdup_printf (MESSAGE ("copy") "number %u\r\n", i + 1);
		g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));
		g_autoptr (EpStoreDelivery) d = NULL;

		ep_store_append_async (
		    store, "cpy", "INBOX", data, i == 1 ? EP_STORE_FLAG_SEEN | EP_STORE_FLAG_FLAGGED : 0,
		    i == 1 ? EP_STRV ("$label1", "Work") : NULL, 1000000000 + i * 86400, NULL, test_on_result, &r);
		d = ep_store_append_finish (store, test_wait (&r), &error);
		g_clear_object (&r);
		g_assert_no_error (error);
	}
	/* UID 3 is gone before the copy: copied are 1, 2, 4, in that order */
	gone = expunge ("cpy", "INBOX", (const guint32[]){3}, 1, &error);
	g_assert_no_error (error);
	get_quota ("cpy", &used_before, NULL);
	blobs = blob_count ();

	copy = copy_messages ("cpy", "INBOX", wanted, G_N_ELEMENTS (wanted), "work", FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND); /* mailbox names are case-sensitive but INBOX */
	g_assert_null (copy);
	g_clear_error (&error);
	copy = copy_messages ("cpy", "inbox", wanted, G_N_ELEMENTS (wanted), "Work", FALSE, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (copy->mailbox, ==, "Work");
	g_assert_cmpint (copy->mailbox_id, ==, work->id);
	g_assert_cmpuint (copy->uidvalidity, ==, work->uidvalidity);
	assert_uids (copy->source_uids, expected_from, G_N_ELEMENTS (expected_from));
	assert_uids (copy->uids, expected_to, G_N_ELEMENTS (expected_to));
	g_assert_cmpuint (copy->modseq, >, 0);
	g_assert_cmpuint (copy->expunge_modseq, ==, 0);
	/* the octets once, the quota counted */
	g_assert_cmpint (blob_count (), ==, blobs);
	get_quota ("cpy", &used, &count);
	g_assert_cmpint (used, ==, 2 * used_before);
	g_assert_cmpint (count, ==, 6);

	src = list_messages ("cpy", "INBOX", 1, G_MAXUINT32, 100, &error);
	dst = list_messages ("cpy", "Work", 1, G_MAXUINT32, 100, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (src->len, ==, 3);
	g_assert_cmpuint (dst->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		EpStoreMessage *a = g_ptr_array_index (src, i);
		EpStoreMessage *b = g_ptr_array_index (dst, i);

		g_assert_cmpuint (b->uid, ==, i + 1);
		g_assert_cmpuint (b->modseq, ==, copy->modseq);
		g_assert_cmpint (b->flags, ==, a->flags);
		g_assert_cmpstrv (b->keywords, a->keywords);
		g_assert_cmpint (b->internal_date, ==, a->internal_date);
		g_assert_cmpuint (b->size, ==, a->size);
		g_assert_cmpstr (b->email_id, ==, a->email_id);
		g_assert_cmpstr (b->thread_id, ==, a->thread_id);
	}
	g_assert_cmpint (((EpStoreMessage *)dst->pdata[1])->flags, ==, EP_STORE_FLAG_SEEN | EP_STORE_FLAG_FLAGGED);
	g_assert_cmpstrv (((EpStoreMessage *)dst->pdata[1])->keywords, EP_STRV ("$label1", "Work"));
	g_assert_cmpint (((EpStoreMessage *)dst->pdata[2])->internal_date, ==, 1000000000 + 3 * 86400);
	ep_store_read_message_async (store, "cpy", "Work", 3, NULL, test_on_result, &r);
	back = ep_store_read_message_finish (store, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_true (g_str_has_suffix (g_bytes_get_data (back, NULL), "number 4\r\n"));
	boxes = list_mailboxes ("cpy", "Work", &error);
	g_assert_cmpuint (((EpStoreMailbox *)boxes->pdata[0])->uidnext, ==, 4);
	g_assert_cmpuint (((EpStoreMailbox *)boxes->pdata[0])->highest_modseq, ==, copy->modseq);
	g_clear_pointer (&boxes, g_ptr_array_unref);

	/* nothing to copy: no change, and the destination's UIDVALIDITY */
	none = copy_messages ("cpy", "INBOX", (const guint32[]){3, 77}, 2, "Work", TRUE, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (none->uids->len, ==, 0);
	g_assert_cmpuint (none->uidvalidity, ==, work->uidvalidity);
	g_assert_cmpuint (none->modseq, ==, 0);
	g_clear_pointer (&none, ep_store_copy_free);
	none = copy_messages ("cpy", "INBOX", wanted, 1, "Nope", FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);

	/* a move: new UIDs, the originals become tombstones, the usage stays */
	boxes = list_mailboxes ("cpy", "Work", &error);
	src_modseq = ((EpStoreMailbox *)boxes->pdata[0])->highest_modseq;
	g_clear_pointer (&boxes, g_ptr_array_unref);
	moved = copy_messages ("cpy", "Work", move_uids, G_N_ELEMENTS (move_uids), "INBOX", TRUE, &error);
	g_assert_no_error (error);
	assert_uids (moved->source_uids, (const guint32[]){1, 3}, 2);
	assert_uids (moved->uids, (const guint32[]){5, 6}, 2);
	g_assert_cmpuint (moved->expunge_modseq, ==, src_modseq + 1);
	g_clear_pointer (&gone, g_array_unref);
	gone = tombstones ("cpy", "Work", src_modseq, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (gone->len, ==, 2);
	g_assert_cmpuint (g_array_index (gone, EpStoreTombstone, 0).uid, ==, 1);
	g_assert_cmpuint (g_array_index (gone, EpStoreTombstone, 1).uid, ==, 3);
	g_assert_cmpuint (g_array_index (gone, EpStoreTombstone, 1).modseq, ==, moved->expunge_modseq);
	get_quota ("cpy", &used, &count);
	g_assert_cmpint (used, ==, 2 * used_before);
	g_assert_cmpint (count, ==, 6);
	g_clear_pointer (&dst, g_ptr_array_unref);
	dst = list_messages ("cpy", "Work", 1, G_MAXUINT32, 100, &error);
	g_assert_cmpuint (dst->len, ==, 1);
	g_assert_cmpuint (((EpStoreMessage *)dst->pdata[0])->uid, ==, 2);

	/* a move within one mailbox; expunging every holder frees the blob */
	g_clear_pointer (&moved, ep_store_copy_free);
	moved = copy_messages ("cpy", "Work", &expunge_two, 1, "Work", TRUE, &error);
	g_assert_no_error (error);
	assert_uids (moved->uids, (const guint32[]){4}, 1);
	g_assert_cmpuint (moved->expunge_modseq, ==, moved->modseq + 1);
}

/* a copy over the quota copies nothing */
static void
test_copy_quota (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreCopy) copy = NULL;
	g_autoptr (EpStoreCopy) moved = NULL;
	g_autoptr (GPtrArray) dst = NULL;
	g_autofree char *big = g_strnfill (300, 'q');
	const guint32 uids[] = {1, 2};
	gint64 used = 0, count = 0;

	g_assert_true (create_account ("cpyq", EP_STRV ("cpyq@example.org"), FALSE, 1000, &error));
	for (guint i = 0; i < 2; i++) {
		g_autoptr (EpStoreDelivery) d = append ("cpyq", "INBOX", big, &error);

		g_assert_no_error (error);
	}
	/* 600 + 600 > 1000 */
	copy = copy_messages ("cpyq", "INBOX", uids, 2, "Archive", FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
	g_assert_null (copy);
	g_clear_error (&error);
	dst = list_messages ("cpyq", "Archive", 1, G_MAXUINT32, 100, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (dst->len, ==, 0);
	get_quota ("cpyq", &used, &count);
	g_assert_cmpint (used, ==, 600);
	g_assert_cmpint (count, ==, 2);
	/* one fits; a move needs no room */
	copy = copy_messages ("cpyq", "INBOX", uids, 1, "Archive", FALSE, &error);
	g_assert_no_error (error);
	moved = copy_messages ("cpyq", "INBOX", uids, 2, "Archive", TRUE, &error);
	g_assert_no_error (error);
	assert_uids (moved->uids, (const guint32[]){2, 3}, 2);
	get_quota ("cpyq", &used, &count);
	g_assert_cmpint (used, ==, 900);
	g_assert_cmpint (count, ==, 3);
}

static GPtrArray *
append_many (const char *account, const char *mailbox, const EpStoreAppendItem *items, guint n, GError **error)
{
	GAsyncResult *r = NULL;
	GPtrArray *deliveries;

	ep_store_append_many_async (store, account, mailbox, items, n, NULL, test_on_result, &r);
	deliveries = ep_store_append_many_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return deliveries;
}

/* several messages in one transaction: all or none */
static void
test_append_many (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) deliveries = NULL;
	g_autoptr (GPtrArray) messages = NULL;
	g_autofree char *big = g_strnfill (400, 'm');
	g_autoptr (GBytes) one = g_bytes_new_static (MESSAGE ("many-one"), strlen (MESSAGE ("many-one")));
	g_autoptr (GBytes) two = g_bytes_new_static (MESSAGE ("many-two"), strlen (MESSAGE ("many-two")));
	g_autoptr (GBytes) large = g_bytes_new (big, strlen (big));
	EpStoreAppendItem items[] = {
	    {one, EP_STORE_FLAG_SEEN, EP_STRV ("$Junk"), 1200000000},
	    {two, EP_STORE_FLAG_DRAFT, NULL, 0},
	    {one, 0, NULL, 1300000000},
	};
	EpStoreAppendItem too_much[] = {{large, 0, NULL, 0}, {large, 0, NULL, 0}, {large, 0, NULL, 0}};
	gint64 used = 0, count = 0;

	g_assert_true (create_account ("many", EP_STRV ("many@example.org"), FALSE, 1000, &error));
	deliveries = append_many ("many", "inbox", items, G_N_ELEMENTS (items), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (deliveries->len, ==, 3);
	messages = list_messages ("many", "INBOX", 1, G_MAXUINT32, 100, &error);
	g_assert_cmpuint (messages->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		EpStoreDelivery *d = g_ptr_array_index (deliveries, i);
		EpStoreMessage *m = g_ptr_array_index (messages, i);

		g_assert_cmpuint (d->uid, ==, i + 1);
		g_assert_cmpstr (d->mailbox, ==, "INBOX");
		g_assert_cmpuint (d->uidvalidity, ==, ((EpStoreDelivery *)deliveries->pdata[0])->uidvalidity);
		g_assert_cmpint (m->flags, ==, items[i].flags);
		g_assert_cmpuint (m->size, ==, g_bytes_get_size (items[i].data));
	}
	g_assert_cmpstrv (((EpStoreMessage *)messages->pdata[0])->keywords, EP_STRV ("$Junk"));
	g_assert_cmpint (((EpStoreMessage *)messages->pdata[0])->internal_date, ==, 1200000000);
	g_assert_cmpint (((EpStoreMessage *)messages->pdata[2])->internal_date, ==, 1300000000);
	g_assert_cmpint (((EpStoreMessage *)messages->pdata[1])->internal_date, >, 1700000000);
	g_clear_pointer (&deliveries, g_ptr_array_unref);
	g_clear_pointer (&messages, g_ptr_array_unref);
	get_quota ("many", &used, &count);
	g_assert_cmpint (count, ==, 3);

	/* the third is over the quota: none of them is stored */
	deliveries = append_many ("many", "INBOX", too_much, G_N_ELEMENTS (too_much), &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
	g_assert_null (deliveries);
	g_clear_error (&error);
	messages = list_messages ("many", "INBOX", 1, G_MAXUINT32, 100, &error);
	g_assert_cmpuint (messages->len, ==, 3);
	get_quota ("many", NULL, &count);
	g_assert_cmpint (count, ==, 3);
	deliveries = append_many ("many", "Nope", items, 1, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	deliveries = append_many ("many", "INBOX", items, 0, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);
	/* the UIDs of the refused ones were not used */
	deliveries = append_many ("many", "INBOX", too_much, 1, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (((EpStoreDelivery *)deliveries->pdata[0])->uid, ==, 4);
}

static GBytes *
read_structure (const char *account, const char *mailbox, guint32 uid, GError **error)
{
	GAsyncResult *r = NULL;
	GBytes *structure;

	ep_store_read_structure_async (store, account, mailbox, uid, NULL, test_on_result, &r);
	structure = ep_store_read_structure_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return structure;
}

/* the MIME tree computed at delivery comes back as it was, copies keep it,
 * and a message without one says so */
static void
test_structure (void)
{
	const char *text = "From: a@example.org\r\nSubject: tree\r\nMIME-Version: 1.0\r\n"
			   "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
			   "one\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\n";
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreDelivery) d = NULL;
	g_autoptr (EpStoreCopy) copy = NULL;
	g_autoptr (EpMimeMessage) parsed = ep_mime_message_parse (text, strlen (text));
	g_autoptr (GBytes) expected = ep_mime_message_serialize (parsed);
	g_autoptr (GBytes) stored = NULL;
	g_autoptr (GBytes) copied = NULL;
	g_autoptr (GBytes) none = NULL;
	g_autoptr (GBytes) missing = NULL;
	g_autoptr (EpMimeMessage) tree = NULL;
	g_autofree char *bs = NULL;
	g_autofree char *bs_parsed = NULL;
	guint32 uid;

	g_assert_true (create_account ("tree", EP_STRV ("tree@example.org"), FALSE, 0, &error));
	d = append ("tree", "INBOX", text, &error);
	g_assert_no_error (error);
	uid = d->uid;
	stored = read_structure ("tree", "inbox", uid, &error);
	g_assert_no_error (error);
	g_assert_true (g_bytes_equal (stored, expected));
	tree = ep_mime_message_deserialize (stored, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_mime_message_get_n_parts (tree), ==, 3);
	bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (tree), TRUE);
	bs_parsed = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (parsed), TRUE);
	g_assert_cmpstr (bs, ==, bs_parsed);

	copy = copy_messages ("tree", "INBOX", &uid, 1, "Archive", FALSE, &error);
	g_assert_no_error (error);
	copied = read_structure ("tree", "Archive", g_array_index (copy->uids, guint32, 0), &error);
	g_assert_no_error (error);
	g_assert_true (g_bytes_equal (copied, expected));

	g_assert_cmpint (
	    test_query_int ("WITH u AS (UPDATE store_messages s SET structure = NULL FROM store_mailboxes m, "
			    "store_accounts a WHERE s.mailbox_id = m.id AND m.account_id = a.id "
			    "AND a.name = 'tree' AND m.name = 'INBOX' RETURNING 1) SELECT count(*) FROM u"),
	    ==, 1);
	none = read_structure ("tree", "INBOX", uid, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_bytes_get_size (none), ==, 0);
	missing = read_structure ("tree", "INBOX", uid + 1, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_assert_null (missing);
}

static GHashTable *
read_messages (const char *account, const char *mailbox, const guint32 *uids, guint n_uids, GError **error)
{
	GAsyncResult *r = NULL;
	GHashTable *messages;

	ep_store_read_messages_async (store, account, mailbox, uids, n_uids, NULL, test_on_result, &r);
	messages = ep_store_read_messages_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return messages;
}

/* several messages in one read: those found, each as a read of it alone
 * gives it; a UID that does not exist is absent */
static void
test_read_messages (void)
{
	const char *texts[] = {MESSAGE ("batch-one"), MESSAGE ("batch-two"),
			       "Subject: three\r\n\r\nbinary \x01\x7f\xff\r\n"};
	g_autoptr (GError) error = NULL;
	g_autoptr (GHashTable) all = NULL;
	g_autoptr (GHashTable) none = NULL;
	g_autoptr (GHashTable) missing = NULL;
	g_autoptr (GArray) gone = NULL;
	guint32 uids[G_N_ELEMENTS (texts)];
	guint32 wanted[5];

	g_assert_true (create_account ("batch", EP_STRV ("batch@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
		g_autoptr (EpStoreDelivery) d = append ("batch", "INBOX", texts[i], &error);
		g_assert_no_error (error);
		uids[i] = d->uid;
	}
	/* the second is expunged, and one more was never there */
	gone = expunge ("batch", "INBOX", &uids[1], 1, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (gone->len, ==, 1);
	wanted[0] = uids[2];
	wanted[1] = uids[1];
	wanted[2] = uids[0];
	wanted[3] = uids[2] + 10;
	wanted[4] = uids[0];
	all = read_messages ("batch", "inbox", wanted, G_N_ELEMENTS (wanted), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_hash_table_size (all), ==, 2);
	g_assert_false (g_hash_table_contains (all, GUINT_TO_POINTER (uids[1])));
	g_assert_false (g_hash_table_contains (all, GUINT_TO_POINTER (uids[2] + 10)));
	for (guint i = 0; i < G_N_ELEMENTS (texts); i += 2) {
		GBytes *batched = g_hash_table_lookup (all, GUINT_TO_POINTER (uids[i]));
		g_autoptr (GBytes) single = NULL;
		GAsyncResult *r = NULL;

		ep_store_read_message_async (store, "batch", "INBOX", uids[i], NULL, test_on_result, &r);
		single = ep_store_read_message_finish (store, test_wait (&r), &error);
		g_object_unref (r);
		g_assert_no_error (error);
		g_assert_nonnull (batched);
		g_assert_true (g_bytes_equal (batched, single));
		g_assert_cmpmem (g_bytes_get_data (batched, NULL), g_bytes_get_size (batched), texts[i],
				 strlen (texts[i]));
	}

	/* nothing asked, nothing found: an empty table */
	none = read_messages ("batch", "INBOX", NULL, 0, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_hash_table_size (none), ==, 0);
	missing = read_messages ("batch", "Nope", uids, 1, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_assert_null (missing);
	g_clear_error (&error);
	missing = read_messages ("nobody", "INBOX", uids, 1, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_assert_null (missing);
}

static GHashTable *
read_messages_full (const char *account, const char *mailbox, const guint32 *uids, guint n_uids, EpStoreReadFlags flags,
		    GError **error)
{
	GAsyncResult *r = NULL;
	GHashTable *messages;

	ep_store_read_messages_full_async (store, account, mailbox, uids, n_uids, flags, NULL, test_on_result, &r);
	messages = ep_store_read_messages_full_finish (store, test_wait (&r), error);
	g_object_unref (r);
	return messages;
}

/* several messages in one read with their trees, or their trees alone, or
 * their octets alone: each as the single reads give it; a message stored
 * without a tree has an empty one; a UID that does not exist is absent */
static void
test_read_messages_full (void)
{
	const char *texts[] = {"From: a@example.org\r\nSubject: full\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
			       "Content-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n"
			       "<p>two</p>\r\n--b--\r\n",
			       MESSAGE ("full-two"), "Subject: three\r\n\r\nbinary \x01\x7f\xff\r\n",
			       MESSAGE ("full-four")};
	const EpStoreReadFlags modes[] = {EP_STORE_READ_DATA | EP_STORE_READ_STRUCTURE, EP_STORE_READ_STRUCTURE,
					  EP_STORE_READ_DATA};
	g_autoptr (GError) error = NULL;
	g_autoptr (GHashTable) none = NULL;
	g_autoptr (GHashTable) missing = NULL;
	g_autoptr (GArray) gone = NULL;
	guint32 uids[G_N_ELEMENTS (texts)];
	guint32 wanted[5];
	g_autofree char *sql = NULL;

	g_assert_true (create_account ("full", EP_STRV ("full@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
		g_autoptr (EpStoreDelivery) d = append ("full", "INBOX", texts[i], &error);
		g_assert_no_error (error);
		uids[i] = d->uid;
	}
	/* the second is expunged, the fourth loses its tree, and one more
	 * was never there */
	gone = expunge ("full", "INBOX", &uids[1], 1, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (gone->len, ==, 1);
	sql = g_strdup_printf ("WITH u AS (UPDATE store_messages s SET structure = NULL FROM store_mailboxes m, "
			       "store_accounts a WHERE s.mailbox_id = m.id AND m.account_id = a.id "
			       "AND a.name = 'full' AND m.name = 'INBOX' AND s.uid = %u RETURNING 1) "
			       "SELECT count(*) FROM u",
			       uids[3]);
	g_assert_cmpint (test_query_int (sql), ==, 1);
	wanted[0] = uids[3];
	wanted[1] = uids[1];
	wanted[2] = uids[0];
	wanted[3] = uids[3] + 10;
	wanted[4] = uids[2];
	for (guint k = 0; k < G_N_ELEMENTS (modes); k++) {
		g_autoptr (GHashTable) all =
		    read_messages_full ("full", "inbox", wanted, G_N_ELEMENTS (wanted), modes[k], &error);

		g_assert_no_error (error);
		g_assert_cmpuint (g_hash_table_size (all), ==, 3);
		g_assert_false (g_hash_table_contains (all, GUINT_TO_POINTER (uids[1])));
		g_assert_false (g_hash_table_contains (all, GUINT_TO_POINTER (uids[3] + 10)));
		for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
			const EpStoreMessageData *batched = g_hash_table_lookup (all, GUINT_TO_POINTER (uids[i]));
			g_autoptr (GBytes) single = NULL;
			g_autoptr (GBytes) tree = NULL;

			if (i == 1)
				continue;
			g_assert_nonnull (batched);
			if ((modes[k] & EP_STORE_READ_DATA) != 0) {
				g_assert_nonnull (batched->data);
				g_assert_cmpmem (g_bytes_get_data (batched->data, NULL),
						 g_bytes_get_size (batched->data), texts[i], strlen (texts[i]));
			} else {
				g_assert_null (batched->data);
			}
			if ((modes[k] & EP_STORE_READ_STRUCTURE) == 0) {
				g_assert_null (batched->structure);
				continue;
			}
			g_assert_nonnull (batched->structure);
			single = read_structure ("full", "INBOX", uids[i], &error);
			g_assert_no_error (error);
			g_assert_true (g_bytes_equal (batched->structure, single));
			if (i == 3) {
				g_assert_cmpuint (g_bytes_get_size (batched->structure), ==, 0);
			} else {
				g_autoptr (EpMimeMessage) parsed = ep_mime_message_parse (texts[i], strlen (texts[i]));
				tree = ep_mime_message_serialize (parsed);
				g_assert_true (g_bytes_equal (batched->structure, tree));
			}
		}
	}

	/* nothing asked, nothing found: an empty table */
	none = read_messages_full ("full", "INBOX", NULL, 0, EP_STORE_READ_STRUCTURE, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_hash_table_size (none), ==, 0);
	for (guint k = 0; k < G_N_ELEMENTS (modes); k++) {
		missing = read_messages_full ("full", "Nope", uids, 1, modes[k], &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
		g_assert_null (missing);
		g_clear_error (&error);
		missing = read_messages_full ("nobody", "INBOX", uids, 1, modes[k], &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
		g_assert_null (missing);
		g_clear_error (&error);
	}
}

static void
test_on_inbox_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	if (g_strcmp0 (event->account, "rinbox") == 0)
		g_ptr_array_add (user_data, g_strdup (event->mailbox));
}

/* RFC 9051 6.3.6: INBOX's messages move to the new mailbox, INBOX stays */
static void
test_rename_inbox (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) inbox = NULL;
	g_autoptr (GPtrArray) old = NULL;
	g_autoptr (GPtrArray) boxes = NULL;
	g_autoptr (GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
	g_autoptr (GArray) gone = NULL;
	g_autoptr (EpStoreMailbox) child = NULL;
	guint32 inbox_uidvalidity;
	gint64 used_before = 0, used = 0;
	guint id;

	g_assert_true (create_account ("rinbox", EP_STRV ("rinbox@example.org"), FALSE, 0, &error));
	child = create_mailbox ("rinbox", "INBOX/kept", &error);
	g_assert_no_error (error);
	for (guint i = 0; i < 3; i++) {
		g_autoptr (EpStoreDelivery) d = append ("rinbox", "INBOX", MESSAGE ("rename-inbox"), &error);

		g_assert_no_error (error);
	}
	g_clear_pointer (&gone, g_array_unref);
	gone = expunge ("rinbox", "INBOX", (const guint32[]){2}, 1, &error);
	boxes = list_mailboxes ("rinbox", "INBOX", &error);
	inbox_uidvalidity = ((EpStoreMailbox *)boxes->pdata[0])->uidvalidity;
	g_clear_pointer (&boxes, g_ptr_array_unref);
	get_quota ("rinbox", &used_before, NULL);

	id = ep_event_mailbox_changed_subscribe (events, "test", test_on_inbox_changed, changed, NULL);
	g_assert_true (rename_mailbox ("rinbox", "inbox", "Old/Inbox", &error));
	g_assert_no_error (error);
	/* each change announced once, NOTIFYs come back or not */
	test_spin (1000);
	ep_event_bus_unsubscribe (events, id);
	g_assert_cmpuint (changed->len, ==, 2);
	g_assert_true (g_ptr_array_find_with_equal_func (changed, "INBOX", g_str_equal, NULL));
	g_assert_true (g_ptr_array_find_with_equal_func (changed, "Old/Inbox", g_str_equal, NULL));

	inbox = list_messages ("rinbox", "INBOX", 1, G_MAXUINT32, 100, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (inbox->len, ==, 0);
	old = list_messages ("rinbox", "Old/Inbox", 1, G_MAXUINT32, 100, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (old->len, ==, 2);
	g_assert_cmpuint (((EpStoreMessage *)old->pdata[0])->uid, ==, 1);
	g_assert_cmpuint (((EpStoreMessage *)old->pdata[1])->uid, ==, 2);
	boxes = list_mailboxes ("rinbox", NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (find_mailbox (boxes, "INBOX")->role, ==, "inbox");
	g_assert_cmpuint (find_mailbox (boxes, "INBOX")->uidvalidity, ==, inbox_uidvalidity);
	g_assert_cmpuint (find_mailbox (boxes, "INBOX")->uidnext, ==, 4);
	g_assert_nonnull (find_mailbox (boxes, "INBOX/kept"));
	g_assert_nonnull (find_mailbox (boxes, "Old"));
	g_assert_null (find_mailbox (boxes, "Old/Inbox")->role);
	g_assert_cmpuint (find_mailbox (boxes, "Old/Inbox")->uidvalidity, !=, inbox_uidvalidity);
	get_quota ("rinbox", &used, NULL);
	g_assert_cmpint (used, ==, used_before);
	g_clear_pointer (&gone, g_array_unref);
	gone = tombstones ("rinbox", "INBOX", 0, &error);
	g_assert_cmpuint (gone->len, ==, 3);

	/* an empty INBOX: the new mailbox is empty; an existing name is refused */
	g_assert_true (rename_mailbox ("rinbox", "INBOX", "INBOX/again", &error));
	g_assert_no_error (error);
	g_clear_pointer (&boxes, g_ptr_array_unref);
	boxes = list_mailboxes ("rinbox", "INBOX/again", &error);
	g_assert_no_error (error);
	g_assert_cmpuint (((EpStoreMailbox *)boxes->pdata[0])->n_messages, ==, 0);
	g_assert_false (rename_mailbox ("rinbox", "INBOX", "Old/Inbox", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
}

static EpConfigAccount *
config_account (const char *name, const char *const *addresses, const char *hash)
{
	EpConfigAccount *a = g_new0 (EpConfigAccount, 1);

	a->name = g_strdup (name);
	a->addresses = g_strdupv ((char **)addresses);
	a->password_hash = g_strdup (hash);
	return a;
}

static void
config_account_free (EpConfigAccount *a)
{
	g_free (a->name);
	g_strfreev (a->addresses);
	g_free (a->password_hash);
	g_free (a);
}

static void
test_config_mirror (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) config = g_ptr_array_new_with_free_func ((GDestroyNotify)config_account_free);
	g_autoptr (GPtrArray) accounts = NULL;
	g_autofree char *who = NULL;
	GAsyncResult *r = NULL;

	g_assert_true (create_account ("mirror-db", EP_STRV ("db@mirror.example"), FALSE, 0, &error));
	g_ptr_array_add (config, config_account ("mirror-c1", EP_STRV ("c1@mirror.example"), "hash1"));
	g_ptr_array_add (config, config_account ("mirror-c2", EP_STRV ("c2@mirror.example"), NULL));
	/* clashes with the db account: skipped, db account untouched */
	g_ptr_array_add (config, config_account ("mirror-db", EP_STRV ("other@mirror.example"), "stolen"));
	g_assert_true (sync_config (config, &error));
	g_assert_no_error (error);
	g_assert_true (test_logged ("account 'mirror-db' of the configuration is not mirrored"));

	accounts = list_accounts ("mirror-c1", &error);
	g_assert_no_error (error);
	g_assert_cmpint (((EpStoreAccount *)accounts->pdata[0])->source, ==, EP_STORE_ACCOUNT_SOURCE_CONFIG);
	g_assert_cmpstr (((EpStoreAccount *)accounts->pdata[0])->password_hash, ==, "hash1");
	g_clear_pointer (&accounts, g_ptr_array_unref);

	/* c2 leaves the configuration, c1 changes */
	g_ptr_array_remove_range (config, 1, 2);
	g_free (((EpConfigAccount *)config->pdata[0])->password_hash);
	((EpConfigAccount *)config->pdata[0])->password_hash = g_strdup ("hash2");
	g_assert_true (sync_config (config, &error));
	g_assert_no_error (error);

	accounts = list_accounts ("mirror-c2", &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	g_clear_pointer (&accounts, g_ptr_array_unref);
	accounts = list_accounts ("mirror-c1", &error);
	g_assert_cmpstr (((EpStoreAccount *)accounts->pdata[0])->password_hash, ==, "hash2");
	g_clear_pointer (&accounts, g_ptr_array_unref);
	accounts = list_accounts ("mirror-db", &error);
	g_assert_no_error (error);
	g_assert_cmpint (((EpStoreAccount *)accounts->pdata[0])->source, ==, EP_STORE_ACCOUNT_SOURCE_DB);
	g_assert_null (((EpStoreAccount *)accounts->pdata[0])->password_hash);
	g_assert_cmpstrv (((EpStoreAccount *)accounts->pdata[0])->addresses, EP_STRV ("db@mirror.example"));
	who = resolve ("c1@mirror.example", &error);
	g_assert_cmpstr (who, ==, "mirror-c1");

	/* a config account cannot be deleted at run time */
	ep_store_delete_account_async (store, "mirror-c1", NULL, test_on_result, &r);
	g_assert_false (ep_store_delete_account_finish (store, test_wait (&r), &error));
	g_clear_object (&r);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_clear_error (&error);
	ep_store_delete_account_async (store, "mirror-db", NULL, test_on_result, &r);
	g_assert_true (ep_store_delete_account_finish (store, test_wait (&r), &error));
	g_clear_object (&r);
	g_assert_no_error (error);
}

static guint n_events_for_evt;

static void
test_on_mailbox_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	if (g_strcmp0 (event->account, "evt") == 0)
		n_events_for_evt++;
}

static void
test_events_once (void)
{
	g_autoptr (GError) error = NULL;
	guint id = ep_event_mailbox_changed_subscribe (events, "test", test_on_mailbox_changed, NULL, NULL);

	g_assert_true (create_account ("evt", EP_STRV ("evt@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < 10; i++) {
		g_autoptr (EpStoreDelivery) d = append ("evt", "INBOX", MESSAGE ("evt"), &error);

		g_assert_no_error (error);
	}
	/* let every NOTIFY come back: none may announce a change twice */
	test_spin (1000);
	g_assert_cmpuint (n_events_for_evt, ==, 10);
	ep_event_bus_unsubscribe (events, id);
}

static gboolean
simple_call_finish (gboolean (*finish) (EpStore *, GAsyncResult *, GError **), GAsyncResult **r, GError **error)
{
	gboolean ok = finish (store, test_wait (r), error);

	g_clear_object (r);
	return ok;
}

static void
test_mailbox_lifecycle (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreMailbox) tmp = NULL;
	g_autoptr (EpStoreDelivery) d = NULL;
	g_autoptr (GPtrArray) mailboxes = NULL;
	g_autoptr (GPtrArray) accounts = NULL;
	GAsyncResult *r = NULL;
	gint64 used = -1;
	guint32 old_uidvalidity;

	g_assert_true (create_account ("life", EP_STRV ("life@example.org"), FALSE, 0, &error));
	tmp = create_mailbox ("life", "Tmp", &error);
	g_assert_no_error (error);
	old_uidvalidity = tmp->uidvalidity;
	d = append ("life", "Tmp", MESSAGE ("lifecycle-unique-blob"), &error);
	g_assert_no_error (error);
	g_assert_cmpint (test_query_int ("SELECT count(*) FROM store_blobs b "
					 "WHERE b.data = convert_to('" MESSAGE ("lifecycle-unique-blob") "', 'UTF8')"),
			 ==, 1);

	/* deleting a mailbox gives its quota back and its blobs go */
	ep_store_delete_mailbox_async (store, "life", "Tmp", NULL, test_on_result, &r);
	g_assert_true (simple_call_finish (ep_store_delete_mailbox_finish, &r, &error));
	g_assert_no_error (error);
	ep_store_get_quota_async (store, "life", NULL, test_on_result, &r);
	g_assert_true (ep_store_get_quota_finish (store, test_wait (&r), &used, NULL, NULL, &error));
	g_clear_object (&r);
	g_assert_cmpint (used, ==, 0);
	g_assert_cmpint (test_query_int ("SELECT count(*) FROM store_blobs b "
					 "WHERE b.data = convert_to('" MESSAGE ("lifecycle-unique-blob") "', 'UTF8')"),
			 ==, 0);
	/* created again: another UIDVALIDITY */
	g_clear_pointer (&tmp, ep_store_mailbox_free);
	tmp = create_mailbox ("life", "Tmp", &error);
	g_assert_no_error (error);
	g_assert_cmpuint (tmp->uidvalidity, !=, old_uidvalidity);

	ep_store_delete_mailbox_async (store, "life", "inbox", NULL, test_on_result, &r);
	g_assert_false (simple_call_finish (ep_store_delete_mailbox_finish, &r, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_clear_error (&error);
	ep_store_delete_mailbox_async (store, "life", "Nope", NULL, test_on_result, &r);
	g_assert_false (simple_call_finish (ep_store_delete_mailbox_finish, &r, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);

	ep_store_set_subscribed_async (store, "life", "Junk", FALSE, NULL, test_on_result, &r);
	g_assert_true (simple_call_finish (ep_store_set_subscribed_finish, &r, &error));
	mailboxes = list_mailboxes ("life", "Junk", &error);
	g_assert_no_error (error);
	g_assert_false (((EpStoreMailbox *)mailboxes->pdata[0])->subscribed);

	ep_store_set_password_hash_async (store, "life", "$argon2id$x", NULL, test_on_result, &r);
	g_assert_true (simple_call_finish (ep_store_set_password_hash_finish, &r, &error));
	g_assert_no_error (error);
	accounts = list_accounts ("life", &error);
	g_assert_cmpstr (((EpStoreAccount *)accounts->pdata[0])->password_hash, ==, "$argon2id$x");
	ep_store_set_password_hash_async (store, "nobody", "x", NULL, test_on_result, &r);
	g_assert_false (simple_call_finish (ep_store_set_password_hash_finish, &r, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
}

static char **
list_subscriptions (const char *account, GError **error)
{
	g_autoptr (GAsyncResult) r = NULL;

	ep_store_list_subscriptions_async (store, account, NULL, test_on_result, &r);
	return ep_store_list_subscriptions_finish (store, test_wait (&r), error);
}

static gboolean
set_subscribed (const char *account, const char *name, gboolean subscribed, GError **error)
{
	g_autoptr (GAsyncResult) r = NULL;

	ep_store_set_subscribed_async (store, account, name, subscribed, NULL, test_on_result, &r);
	return ep_store_set_subscribed_finish (store, test_wait (&r), error);
}

/* RFC 9051 §6.3.7: a subscription is a name; it outlives DELETE, a name
 * without mailbox can be subscribed; RENAME moves it (as Dovecot does) */
static void
test_subscriptions (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreMailbox) box = NULL;
	g_autoptr (GPtrArray) mailboxes = NULL;
	g_auto (GStrv) names = NULL;
	g_autoptr (GAsyncResult) r = NULL;

	g_assert_true (create_account ("subs", EP_STRV ("subs@example.org"), FALSE, 0, &error));
	/* every new mailbox is subscribed, the six of a new account too */
	names = list_subscriptions ("subs", &error);
	g_assert_no_error (error);
	g_assert_cmpstrv (names, EP_STRV ("Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"));
	g_clear_pointer (&names, g_strfreev);

	g_assert_true (set_subscribed ("subs", "Ghost/child", TRUE, &error));
	g_assert_no_error (error);
	g_assert_true (set_subscribed ("subs", "Ghost/child", TRUE, &error)); /* twice: once */
	g_assert_true (set_subscribed ("subs", "Junk", FALSE, &error));
	g_assert_true (set_subscribed ("subs", "Never", FALSE, &error)); /* not subscribed: nothing */
	g_assert_no_error (error);
	box = create_mailbox ("subs", "Box/in", &error);
	g_assert_no_error (error);
	g_assert_true (set_subscribed ("subs", "Box", FALSE, &error)); /* the parent created with it */
	names = list_subscriptions ("subs", &error);
	g_assert_cmpstrv (names, EP_STRV ("Archive", "Box/in", "Drafts", "Ghost/child", "INBOX", "Sent", "Trash"));
	g_clear_pointer (&names, g_strfreev);

	/* RENAME moves the subscriptions of the mailbox and its children */
	g_assert_true (rename_mailbox ("subs", "Box", "Moved", &error));
	g_assert_no_error (error);
	names = list_subscriptions ("subs", &error);
	g_assert_cmpstrv (names, EP_STRV ("Archive", "Drafts", "Ghost/child", "INBOX", "Moved/in", "Sent", "Trash"));
	g_clear_pointer (&names, g_strfreev);
	mailboxes = list_mailboxes ("subs", "Moved", &error);
	g_assert_false (((EpStoreMailbox *)mailboxes->pdata[0])->subscribed);
	g_clear_pointer (&mailboxes, g_ptr_array_unref);
	mailboxes = list_mailboxes ("subs", "Moved/in", &error);
	g_assert_true (((EpStoreMailbox *)mailboxes->pdata[0])->subscribed);
	g_clear_pointer (&mailboxes, g_ptr_array_unref);

	/* DELETE keeps the subscription */
	ep_store_delete_mailbox_async (store, "subs", "Moved/in", NULL, test_on_result, &r);
	g_assert_true (ep_store_delete_mailbox_finish (store, test_wait (&r), &error));
	g_assert_no_error (error);
	g_clear_object (&r);
	names = list_subscriptions ("subs", &error);
	g_assert_cmpstrv (names, EP_STRV ("Archive", "Drafts", "Ghost/child", "INBOX", "Moved/in", "Sent", "Trash"));
	g_clear_pointer (&names, g_strfreev);
	g_assert_true (set_subscribed ("subs", "Moved/in", FALSE, &error));
	g_assert_true (set_subscribed ("subs", "Ghost/child", FALSE, &error));
	names = list_subscriptions ("subs", &error);
	g_assert_cmpstrv (names, EP_STRV ("Archive", "Drafts", "INBOX", "Sent", "Trash"));
	g_clear_pointer (&names, g_strfreev);

	g_assert_null (list_subscriptions ("nobody", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	g_assert_false (set_subscribed ("nobody", "INBOX", TRUE, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
}

/* RFC 3501 §2.3.2: each message is claimed as \Recent once, by one caller */
static void
test_claim_recent (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreMailbox) box = NULL;
	g_autoptr (GAsyncResult) r1 = NULL;
	g_autoptr (GAsyncResult) r2 = NULL;
	guint32 first = 0, first2 = 0;
	guint64 next = 0, next2 = 0;

	g_assert_true (create_account ("rec", EP_STRV ("rec@example.org"), FALSE, 0, &error));
	box = create_mailbox ("rec", "R", &error);
	g_assert_no_error (error);
	ep_store_claim_recent_async (store, "rec", "R", NULL, test_on_result, &r1);
	g_assert_true (ep_store_claim_recent_finish (store, test_wait (&r1), &first, &next, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (first, ==, 1);
	g_assert_cmpuint (next, ==, 1);
	g_clear_object (&r1);
	for (guint i = 0; i < 2; i++) {
		g_autoptr (EpStoreDelivery) d = append ("rec", "R", MESSAGE ("recent"), &error);
		g_assert_no_error (error);
	}
	/* listing counts the unclaimed messages, and claims nothing */
	for (guint i = 0; i < 2; i++) {
		g_autoptr (GPtrArray) boxes = list_mailboxes ("rec", "R", &error);
		g_assert_no_error (error);
		g_assert_cmpuint (((EpStoreMailbox *)g_ptr_array_index (boxes, 0))->n_recent, ==, 2);
	}
	ep_store_claim_recent_async (store, "rec", "r", NULL, test_on_result, &r1);
	g_assert_false (ep_store_claim_recent_finish (store, test_wait (&r1), &first, &next, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	g_clear_object (&r1);
	ep_store_claim_recent_async (store, "rec", "R", NULL, test_on_result, &r1);
	g_assert_true (ep_store_claim_recent_finish (store, test_wait (&r1), &first, &next, &error));
	g_assert_cmpuint (first, ==, 1);
	g_assert_cmpuint (next, ==, 3);
	g_clear_object (&r1);
	{
		g_autoptr (GPtrArray) boxes = list_mailboxes ("rec", "R", &error);
		g_assert_no_error (error);
		g_assert_cmpuint (((EpStoreMailbox *)g_ptr_array_index (boxes, 0))->n_recent, ==, 0);
	}

	/* two claims at once after one more message: one gets it, the other nothing */
	{
		g_autoptr (EpStoreDelivery) d = append ("rec", "R", MESSAGE ("recent"), &error);
		g_assert_no_error (error);
	}
	ep_store_claim_recent_async (store, "rec", "R", NULL, test_on_result, &r1);
	ep_store_claim_recent_async (store, "rec", "R", NULL, test_on_result, &r2);
	g_assert_true (ep_store_claim_recent_finish (store, test_wait (&r1), &first, &next, &error));
	g_assert_true (ep_store_claim_recent_finish (store, test_wait (&r2), &first2, &next2, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (next, ==, 4);
	g_assert_cmpuint (next2, ==, 4);
	g_assert_cmpuint ((next - first) + (next2 - first2), ==, 1);

	/* INBOX by any case */
	g_clear_object (&r1);
	ep_store_claim_recent_async (store, "rec", "inbox", NULL, test_on_result, &r1);
	g_assert_true (ep_store_claim_recent_finish (store, test_wait (&r1), &first, &next, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (first, ==, 1);
	g_assert_cmpuint (next, ==, 1);
}

static guint n_remote_events;
static guint n_remote_structure_events;

static void
test_on_remote_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	if (g_strcmp0 (event->account, "remote") == 0 && g_strcmp0 (event->mailbox, "INBOX") == 0 &&
	    event->uidnext == 2 && event->uidvalidity > 0)
		n_remote_events++;
	/* created, then renamed, then subscribed: the last two read back the new name */
	if (g_strcmp0 (event->account, "remote") == 0 &&
	    (g_strcmp0 (event->mailbox, "Made") == 0 || g_strcmp0 (event->mailbox, "Renamed") == 0))
		n_remote_structure_events++;
}

/* a change made by another process (another pool, another store) reaches
 * this process's bus through NOTIFY, once */
static void
test_events_remote (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDb) other_db = ep_db_new (cluster.conninfo, 2, &error);
	g_autoptr (EpEventBus) other_events = ep_event_bus_new ();
	g_autoptr (EpStore) other = NULL;
	g_autoptr (GBytes) data = g_bytes_new_static (MESSAGE ("remote"), strlen (MESSAGE ("remote")));
	g_autoptr (EpStoreDelivery) d = NULL;
	guint id = ep_event_mailbox_changed_subscribe (events, "test", test_on_remote_changed, NULL, NULL);
	GAsyncResult *r = NULL;

	g_assert_no_error (error);
	other = contract_store_new (other_db, other_events);
	g_assert_true (create_account ("remote", EP_STRV ("remote@example.org"), FALSE, 0, &error));
	ep_store_append_async (other, "remote", "INBOX", data, 0, NULL, 0, NULL, test_on_result, &r);
	d = ep_store_append_finish (other, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	for (guint i = 0; i < 100 && n_remote_events == 0; i++)
		test_spin (20);
	test_spin (300);
	g_assert_cmpuint (n_remote_events, ==, 1);

	/* changes of the mailbox itself travel too */
	{
		g_autoptr (EpStoreMailbox) made = NULL;

		ep_store_create_mailbox_async (other, "remote", "Made", NULL, NULL, test_on_result, &r);
		made = ep_store_create_mailbox_finish (other, test_wait (&r), &error);
		g_clear_object (&r);
		g_assert_no_error (error);
		ep_store_rename_mailbox_async (other, "remote", "Made", "Renamed", NULL, test_on_result, &r);
		g_assert_true (ep_store_rename_mailbox_finish (other, test_wait (&r), &error));
		g_clear_object (&r);
		ep_store_set_subscribed_async (other, "remote", "Renamed", TRUE, NULL, test_on_result, &r);
		g_assert_true (ep_store_set_subscribed_finish (other, test_wait (&r), &error));
		g_clear_object (&r);
		for (guint i = 0; i < 100 && n_remote_structure_events < 3; i++)
			test_spin (20);
		g_assert_cmpuint (n_remote_structure_events, >=, 2);
		g_assert_cmpuint (n_remote_structure_events, <=, 3);
	}
	ep_event_bus_unsubscribe (events, id);
	g_clear_object (&other);
	ep_db_close (other_db);
}

static void
test_database_down (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreDelivery) d = NULL;
	g_autoptr (GPtrArray) messages = NULL;

	g_assert_true (create_account ("down", EP_STRV ("down@example.org"), FALSE, 0, &error));
	test_cluster_stop_server ();
	d = append ("down", "INBOX", MESSAGE ("down"), &error);
	g_assert_null (d);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_clear_error (&error);
	{
		const EpStoreTarget targets[] = {{"down", "INBOX"}, {"down", "Archive"}};
		g_autoptr (GBytes) data = g_bytes_new_static (MESSAGE ("down"), strlen (MESSAGE ("down")));
		g_autoptr (GPtrArray) deliveries = NULL;
		GAsyncResult *r = NULL;

		ep_store_deliver_async (store, targets, G_N_ELEMENTS (targets), data, NULL, test_on_result, &r);
		deliveries = ep_store_deliver_finish (store, test_wait (&r), &error);
		g_clear_object (&r);
		g_assert_null (deliveries);
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_clear_error (&error);
	}
	test_cluster_start_server ();
	/* the pool reconnects after its delay */
	for (guint i = 0; i < 100; i++) {
		messages = list_messages ("down", "INBOX", 1, G_MAXUINT32, 10, &error);
		if (messages != NULL)
			break;
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_clear_error (&error);
		test_spin (100);
	}
	g_assert_nonnull (messages);
	g_assert_cmpuint (messages->len, ==, 0);
	g_clear_pointer (&messages, g_ptr_array_unref);
	messages = list_messages ("down", "Archive", 1, G_MAXUINT32, 10, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (messages->len, ==, 0);
	g_assert_cmpint (test_query_int ("SELECT used_bytes FROM store_accounts WHERE name = 'down'"), ==, 0);
	g_assert_cmpint (test_query_int ("SELECT count(*) FROM store_blobs b WHERE NOT EXISTS "
					 "(SELECT 1 FROM store_messages s WHERE s.blob_hash = b.hash)"),
			 ==, 0);
}

static void
test_header_scan (void)
{
	const struct {
		const char *header;
		const char *message_id;
		const char *first_ref;
		const char *base_subject;
	} cases[] = {
	    {"Message-ID: <a@b>\r\nSubject: Re: [list] Fwd: Hello\r\n\r\nbody", "a@b", NULL, "hello"},
	    {"References: <r1@x>\r\n <r2@x>\nIn-Reply-To: <r2@x>\nSubject: hi (fwd)\n\n", NULL, "r1@x", "hi"},
	    {"Subject:\r\n\tfolded\r\n  subject\r\n\r\n", NULL, NULL, "folded subject"},
	    {"no header end", NULL, NULL, NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *message_id = NULL;
		g_auto (GStrv) refs = NULL;
		g_autofree char *subject = NULL;

		ep_store_pg_scan_header (cases[i].header, strlen (cases[i].header), &message_id, &refs, &subject);
		g_assert_cmpstr (message_id, ==, cases[i].message_id);
		g_assert_cmpstr (refs != NULL ? refs[0] : NULL, ==, cases[i].first_ref);
		g_assert_cmpstr (subject, ==, cases[i].base_subject);
	}
}

static void
test_arrays (void)
{
	const char *const values[] = {"a", "b,c", "d\"e", "f\\g", "", "NULL", NULL};
	g_autofree char *literal = ep_store_pg_text_array (values, -1);
	g_auto (GStrv) back = ep_store_pg_parse_array (literal);

	g_assert_cmpstrv (back, values);
}

static GArray *
search_text (const char *account, const char *mailbox, const char *query, GError **error)
{
	GAsyncResult *r = NULL;
	GArray *uids;

	ep_store_search_text_async (store, account, mailbox, query, NULL, test_on_result, &r);
	uids = ep_store_search_text_finish (store, test_wait (&r), error);
	g_clear_object (&r);
	return uids;
}

/* the full-text vector covers decoded headers and decoded text parts */
static void
test_search_text (void)
{
	const struct {
		const char *query;
		const char *uids; /* expected, comma-separated */
	} cases[] = {
	    {"budget", "1,3"},	     {"BUDGET", "1,3"},
	    {"budget meeting", "1"}, {"quarterly", "1"}, /* quoted-printable body, decoded */
	    {"café", "2"},				 /* RFC 2047 subject, decoded */
	    {"attachment-only", ""},			 /* a word of a non-text part is not indexed */
	    {"nowhere", ""},	     {"bob", "1,2,3"},	 /* a header */
	    {"& | ! ( )", ""},				 /* operators are words, not syntax */
	};
	const char *messages[] = {
	    "From: Bob <bob@example.org>\r\nSubject: budget meeting\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nthe quar=\r\nterly figures\r\n",
	    "From: bob@example.org\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nhello\r\n",
	    "From: bob@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe budget\r\n"
	    "--b\r\nContent-Type: application/octet-stream\r\n\r\nattachment-only\r\n--b--\r\n",
	};
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) missing = NULL;

	g_assert_true (create_account ("searcher", EP_STRV ("searcher@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < G_N_ELEMENTS (messages); i++) {
		g_autoptr (EpStoreDelivery) d = append ("searcher", "INBOX", messages[i], &error);
		g_assert_no_error (error);
	}
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GArray) uids = search_text ("searcher", "INBOX", cases[i].query, &error);
		g_autoptr (GString) got = g_string_new (NULL);

		g_assert_no_error (error);
		for (guint j = 0; j < uids->len; j++)
			g_string_append_printf (got, "%s%u", j > 0 ? "," : "", g_array_index (uids, guint32, j));
		g_test_message ("search %s", cases[i].query);
		g_assert_cmpstr (got->str, ==, cases[i].uids);
	}
	missing = search_text ("searcher", "Nope", "budget", &error);
	g_assert_null (missing);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);

	/* copies and moves keep their words; expunged and moved-away
	 * messages lose theirs */
	{
		const guint32 copied[] = {1, 3}, moved[] = {2}, gone[] = {1};
		const struct {
			const char *mailbox;
			const char *query;
			const char *uids;
		} after[] = {
		    {"Archive", "budget", "1,2"}, {"Archive", "café", "3"},    {"INBOX", "café", ""},
		    {"INBOX", "budget", "3"},	  {"Archive", "bob", "1,2,3"},
		};
		g_autoptr (EpStoreCopy) c1 = copy_messages ("searcher", "INBOX", copied, 2, "Archive", FALSE, &error);
		g_autoptr (EpStoreCopy) c2 = NULL;
		g_autoptr (GArray) expunged = NULL;

		g_assert_no_error (error);
		c2 = copy_messages ("searcher", "INBOX", moved, 1, "Archive", TRUE, &error);
		g_assert_no_error (error);
		expunged = expunge ("searcher", "INBOX", gone, 1, &error);
		g_assert_no_error (error);
		for (guint i = 0; i < G_N_ELEMENTS (after); i++) {
			g_autoptr (GArray) uids = search_text ("searcher", after[i].mailbox, after[i].query, &error);
			g_autoptr (GString) got = g_string_new (NULL);

			g_assert_no_error (error);
			for (guint j = 0; j < uids->len; j++)
				g_string_append_printf (got, "%s%u", j > 0 ? "," : "",
							g_array_index (uids, guint32, j));
			g_test_message ("search %s in %s", after[i].query, after[i].mailbox);
			g_assert_cmpstr (got->str, ==, after[i].uids);
		}
	}
}

/* ---- group commit of deliveries ------------------------------------------ */

/* Holds a mailbox's row locked from a connection of its own, as a long
 * transaction of another process would: a delivery to it waits, and the
 * deliveries after it pile up behind it. */
typedef struct {
	EpDb *db;
	EpDbTransaction *tx;
} TestLock;

static void
test_lock_mailbox (TestLock *lock, const char *account, const char *mailbox)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, mailbox, NULL);
	g_autoptr (EpDbResult) res = NULL;
	GAsyncResult *r = NULL;

	lock->db = ep_db_new (cluster.conninfo, 1, &error);
	g_assert_no_error (error);
	ep_db_begin_async (lock->db, NULL, test_on_result, &r);
	lock->tx = ep_db_begin_finish (lock->db, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	ep_db_transaction_query_async (
	    lock->tx,
	    "SELECT m.id FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id "
	    "WHERE a.name = $1 AND m.name = $2 FOR UPDATE OF m",
	    params, NULL, test_on_result, &r);
	res = ep_db_transaction_query_finish (lock->tx, test_wait (&r), &error);
	g_clear_object (&r);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_db_result_get_n_rows (res), ==, 1);
}

static void
test_unlock_mailbox (TestLock *lock)
{
	g_autoptr (GError) error = NULL;
	GAsyncResult *r = NULL;

	ep_db_transaction_rollback_async (lock->tx, NULL, test_on_result, &r);
	ep_db_transaction_rollback_finish (lock->tx, test_wait (&r), &error);
	g_clear_object (&r);
	g_clear_object (&lock->tx);
	ep_db_close (lock->db);
	g_clear_object (&lock->db);
}

static void
test_append_async (EpStore *to, const char *account, const char *mailbox, const char *text, GCancellable *cancellable,
		   GAsyncResult **slot)
{
	g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));

	ep_store_append_async (to, account, mailbox, data, EP_STORE_FLAG_NONE, NULL, 0, cancellable, test_on_result,
			       slot);
}

static EpStoreDelivery *
test_append_finish (EpStore *to, GAsyncResult **slot, GError **error)
{
	EpStoreDelivery *d = ep_store_append_finish (to, test_wait (slot), error);

	g_clear_object (slot);
	return d;
}

#define ORDER_TOTAL	200
#define ORDER_IN_FLIGHT 50

typedef struct {
	guint issued;
	guint done;
	guint64 modseq[ORDER_TOTAL + 1]; /* by UID */
} OrderRun;

static void test_on_ordered_append (GObject *source, GAsyncResult *result, gpointer user_data);

static void
test_issue_ordered_append (OrderRun *run)
{
	g_autofree char *text = g_strdup_printf (MESSAGE ("order") "%u\r\n", run->issued++);
	g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));

	ep_store_append_async (store, "order", "INBOX", data, EP_STORE_FLAG_NONE, NULL, 0, NULL, test_on_ordered_append,
			       run);
}

static void
test_on_ordered_append (GObject *source, GAsyncResult *result, gpointer user_data)
{
	OrderRun *run = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreDelivery) d = ep_store_append_finish (EP_STORE (source), result, &error);

	g_assert_no_error (error);
	g_assert_cmpuint (d->uid, >=, 1);
	g_assert_cmpuint (d->uid, <=, ORDER_TOTAL);
	g_assert_cmpuint (run->modseq[d->uid], ==, 0);
	run->modseq[d->uid] = d->modseq;
	run->done++;
	if (run->issued < ORDER_TOTAL)
		test_issue_ordered_append (run);
}

/* a steady stream of appends, ORDER_IN_FLIGHT at a time: each is stored
 * once, UIDs 1..ORDER_TOTAL with no gap, MODSEQ rising with the UID (the
 * order of the commits) */
static void
test_steady_appends (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) mailboxes = NULL;
	g_autofree OrderRun *run = g_new0 (OrderRun, 1);
	gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

	g_assert_true (create_account ("order", EP_STRV ("order@example.org"), FALSE, 0, &error));
	while (run->issued < ORDER_IN_FLIGHT)
		test_issue_ordered_append (run);
	while (run->done < ORDER_TOTAL) {
		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, TRUE);
	}
	for (guint uid = 2; uid <= ORDER_TOTAL; uid++)
		g_assert_cmpuint (run->modseq[uid], >, run->modseq[uid - 1]);
	mailboxes = list_mailboxes ("order", "INBOX", &error);
	g_assert_no_error (error);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->n_messages, ==, ORDER_TOTAL);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->uidnext, ==, ORDER_TOTAL + 1);
	g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->highest_modseq, ==, run->modseq[ORDER_TOTAL]);
}

static guint n_events_for_bfree;

static void
test_on_bfree_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	if (g_strcmp0 (event->account, "bfree") == 0)
		n_events_for_bfree++;
}

/* deliveries that wait together: each has its own verdict */
static void
test_batch_verdicts (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GCancellable) cancellable = g_cancellable_new ();
	g_autofree char *big = g_strnfill (2000, 'x');
	g_autoptr (EpStoreDelivery) d = NULL;
	g_autoptr (GPtrArray) messages = NULL;
	GAsyncResult *blocked = NULL, *fits[5] = {NULL}, *small = NULL, *over = NULL, *nowhere = NULL,
		     *cancelled = NULL;
	TestLock lock = {NULL};
	gint64 used = -1, limit = -1, count = -1;
	guint id = ep_event_mailbox_changed_subscribe (events, "test", test_on_bfree_changed, NULL, NULL);

	g_assert_true (create_account ("bblock", EP_STRV ("bblock@example.org"), FALSE, 0, &error));
	g_assert_true (create_account ("bq", EP_STRV ("bq@example.org"), FALSE, 1000, &error));
	g_assert_true (create_account ("bfree", EP_STRV ("bfree@example.org"), FALSE, 0, &error));
	test_lock_mailbox (&lock, "bblock", "INBOX");
	test_append_async (store, "bblock", "INBOX", MESSAGE ("blocked"), NULL, &blocked);
	test_spin (200);
	for (guint i = 0; i < G_N_ELEMENTS (fits); i++) {
		g_autofree char *text = g_strdup_printf (MESSAGE ("fits") "%u\r\n", i);

		test_append_async (store, "bfree", "INBOX", text, NULL, &fits[i]);
	}
	test_append_async (store, "bq", "INBOX", MESSAGE ("small"), NULL, &small);
	test_append_async (store, "bq", "INBOX", big, NULL, &over);
	test_append_async (store, "bfree", "Nope", MESSAGE ("nowhere"), NULL, &nowhere);
	test_append_async (store, "bfree", "INBOX", MESSAGE ("cancelled"), cancellable, &cancelled);
	test_spin (300);
	/* waiting, it is answered at once, while the others still wait */
	g_cancellable_cancel (cancellable);
	d = test_append_finish (store, &cancelled, &error);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null (d);
	g_clear_error (&error);
	g_assert_null (blocked);
	g_assert_null (small);

	test_unlock_mailbox (&lock);
	d = test_append_finish (store, &blocked, &error);
	g_assert_no_error (error);
	g_clear_pointer (&d, ep_store_delivery_free);
	for (guint i = 0; i < G_N_ELEMENTS (fits); i++) {
		d = test_append_finish (store, &fits[i], &error);
		g_assert_no_error (error);
		g_clear_pointer (&d, ep_store_delivery_free);
	}
	d = test_append_finish (store, &small, &error);
	g_assert_no_error (error);
	g_clear_pointer (&d, ep_store_delivery_free);
	d = test_append_finish (store, &over, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
	g_assert_null (d);
	g_clear_error (&error);
	d = test_append_finish (store, &nowhere, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_assert_null (d);
	g_clear_error (&error);

	messages = list_messages ("bfree", "INBOX", 1, G_MAXUINT32, 100, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (messages->len, ==, G_N_ELEMENTS (fits));
	{
		GAsyncResult *r = NULL;

		ep_store_get_quota_async (store, "bq", NULL, test_on_result, &r);
		g_assert_true (ep_store_get_quota_finish (store, test_wait (&r), &used, &limit, &count, &error));
		g_clear_object (&r);
	}
	g_assert_cmpint (used, ==, strlen (MESSAGE ("small")));
	g_assert_cmpint (count, ==, 1);
	/* one change announced per delivery, once */
	test_spin (500);
	g_assert_cmpuint (n_events_for_bfree, ==, G_N_ELEMENTS (fits));
	ep_event_bus_unsubscribe (events, id);
}

#define CROSS_TOTAL 240

/* Deliveries to mailboxes of two accounts, several to a transaction and
 * in every order, from two processes at once: a deadlock between them is
 * PostgreSQL's business, never the caller's. */
static void
test_crossing_deliveries (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDb) other_db = ep_db_new (cluster.conninfo, 4, &error);
	g_autoptr (EpStore) other = NULL;
	GAsyncResult *results[CROSS_TOTAL] = {NULL};
	const EpStoreTarget pairs[][2] = {
	    {{"xa", "INBOX"}, {"xb", "INBOX"}},
	    {{"xb", "INBOX"}, {"xa", "Archive"}},
	    {{"xa", "Archive"}, {"xa", "INBOX"}},
	};
	const struct {
		const char *account;
		const char *mailbox;
	} expected[] = {{"xa", "INBOX"}, {"xa", "Archive"}, {"xb", "INBOX"}};

	g_assert_no_error (error);
	other = contract_store_new (other_db, NULL);
	g_assert_true (create_account ("xa", EP_STRV ("xa@example.org"), FALSE, 0, &error));
	g_assert_true (create_account ("xb", EP_STRV ("xb@example.org"), FALSE, 0, &error));
	for (guint i = 0; i < CROSS_TOTAL; i++) {
		EpStore *to = i % 2 == 0 ? store : other;
		/* the same message from both processes: they share its blob */
		g_autofree char *text = g_strdup_printf (MESSAGE ("cross") "%u\r\n", i / 2);
		g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));

		switch (i % 6) {
		case 0:
			ep_store_append_async (to, "xa", "INBOX", data, 0, NULL, 0, NULL, test_on_result, &results[i]);
			break;
		case 1:
			ep_store_append_async (to, "xb", "INBOX", data, 0, NULL, 0, NULL, test_on_result, &results[i]);
			break;
		case 2:
			ep_store_append_async (to, "xa", "Archive", data, 0, NULL, 0, NULL, test_on_result,
					       &results[i]);
			break;
		default:
			ep_store_deliver_async (to, pairs[i % 6 - 3], 2, data, NULL, test_on_result, &results[i]);
			break;
		}
	}
	for (guint i = 0; i < CROSS_TOTAL; i++) {
		EpStore *to = i % 2 == 0 ? store : other;

		if (i % 6 < 3) {
			g_autoptr (EpStoreDelivery) d = ep_store_append_finish (to, test_wait (&results[i]), &error);

			g_assert_no_error (error);
		} else {
			g_autoptr (GPtrArray) d = ep_store_deliver_finish (to, test_wait (&results[i]), &error);

			g_assert_no_error (error);
			g_assert_cmpuint (d->len, ==, 2);
		}
		g_clear_object (&results[i]);
	}
	/* each mailbox: one append and two deliveries of every six */
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		g_autoptr (GPtrArray) mailboxes = list_mailboxes (expected[i].account, expected[i].mailbox, &error);

		g_assert_no_error (error);
		g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->n_messages, ==, CROSS_TOTAL / 2);
		g_assert_cmpuint (((EpStoreMailbox *)mailboxes->pdata[0])->uidnext, ==, CROSS_TOTAL / 2 + 1);
	}
	g_clear_object (&other);
	ep_db_close (other_db);
}

/* The database goes away while deliveries wait together for their
 * commit: nothing is stored, and every one of them is told to try again
 * later. */
static void
test_database_down_mid_batch (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) messages = NULL;
	g_autoptr (EpStoreDelivery) d = NULL;
	GAsyncResult *first = NULL, *results[20] = {NULL};
	TestLock hold_first = {NULL}, hold_batch = {NULL};

	g_assert_true (create_account ("downb", EP_STRV ("downb@example.org"), FALSE, 0, &error));
	/* the first in flight alone, waiting for Archive; the others pile
	 * up behind it; once it is through, they go together and wait for
	 * INBOX */
	test_lock_mailbox (&hold_first, "downb", "Archive");
	test_lock_mailbox (&hold_batch, "downb", "INBOX");
	test_append_async (store, "downb", "Archive", MESSAGE ("first"), NULL, &first);
	test_spin (200);
	for (guint i = 0; i < G_N_ELEMENTS (results); i++) {
		g_autofree char *text = g_strdup_printf (MESSAGE ("downb") "%u\r\n", i);

		test_append_async (store, "downb", "INBOX", text, NULL, &results[i]);
	}
	test_spin (300);
	test_unlock_mailbox (&hold_first);
	d = test_append_finish (store, &first, &error);
	g_assert_no_error (error);
	test_spin (300);
	for (guint i = 0; i < G_N_ELEMENTS (results); i++)
		g_assert_null (results[i]);

	test_cluster_stop_server ();
	for (guint i = 0; i < G_N_ELEMENTS (results); i++) {
		g_autoptr (EpStoreDelivery) lost = test_append_finish (store, &results[i], &error);

		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_assert_null (lost);
		g_clear_error (&error);
	}
	g_clear_object (&hold_batch.tx);
	ep_db_close (hold_batch.db);
	g_clear_object (&hold_batch.db);
	test_cluster_start_server ();
	for (guint i = 0; i < 100; i++) {
		messages = list_messages ("downb", "INBOX", 1, G_MAXUINT32, 100, &error);
		if (messages != NULL)
			break;
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_clear_error (&error);
		test_spin (100);
	}
	g_assert_nonnull (messages);
	g_assert_cmpuint (messages->len, ==, 0);
}

/* ---- the table ----------------------------------------------------------- */

static const struct {
	const char *path;
	GTestFunc func;
} contract_cases[] = {
    {"/store/unit/header-scan", test_header_scan},
    {"/store/unit/arrays", test_arrays},
    {"/store/accounts/special-use-mailboxes", test_special_use},
    {"/store/accounts/resolve-address", test_resolve},
    {"/store/accounts/config-mirror", test_config_mirror},
    {"/store/messages/concurrent-appends", test_concurrent_appends},
    {"/store/messages/tombstones-and-flags", test_tombstones_and_flags},
    {"/store/messages/blob-stored-once", test_blob_dedup},
    {"/store/messages/blob-expunge-delivery-race", test_blob_race},
    {"/store/messages/quota", test_quota},
    {"/store/messages/search-text", test_search_text},
    {"/store/messages/copy-and-move", test_copy_move},
    {"/store/messages/copy-over-quota", test_copy_quota},
    {"/store/messages/append-many", test_append_many},
    {"/store/messages/structure", test_structure},
    {"/store/messages/read-many", test_read_messages},
    {"/store/messages/read-many-full", test_read_messages_full},
    {"/store/mailboxes/rename-inbox", test_rename_inbox},
    {"/store/mailboxes/rename-with-children", test_rename},
    {"/store/mailboxes/lifecycle", test_mailbox_lifecycle},
    {"/store/mailboxes/subscriptions", test_subscriptions},
    {"/store/mailboxes/claim-recent", test_claim_recent},
    {"/store/events/mailbox-changed-once", test_events_once},
    {"/store/events/other-process", test_events_remote},
    {"/store/group-commit/steady-appends", test_steady_appends},
    {"/store/group-commit/verdict-per-delivery", test_batch_verdicts},
    {"/store/group-commit/crossing-deliveries", test_crossing_deliveries},
    /* last: they stop and restart the server */
    {"/store/outage/database-down-mid-batch", test_database_down_mid_batch},
    {"/store/outage/database-down", test_database_down},
};

/* the implementation under test */
static EpStore *
contract_store_new (EpDb *database, EpEventBus *bus)
{
	g_autoptr (GError) error = NULL;
	EpStorePg *pg = ep_store_pg_new (database, bus, NULL, &error);

	g_assert_no_error (error);
	return EP_STORE (pg);
}

static void
test_migrate (void)
{
	g_autoptr (GError) error = NULL;
	GAsyncResult *r = NULL;

	ep_db_migrate_async (db, "store-pg", EP_STORE_PG_MIGRATIONS, NULL, test_on_result, &r);
	if (!ep_db_migrate_finish (db, test_wait (&r), &error))
		g_error ("migrations: %s", error->message);
	g_object_unref (r);
}

int
main (int argc, char **argv)
{
	g_autoptr (GError) error = NULL;
	int ret;

	g_test_init (&argc, &argv, NULL);
	warnings = g_ptr_array_new_with_free_func (g_free);
	g_log_set_writer_func (test_log_writer, NULL, NULL);
	if (!test_cluster_start ()) {
		g_test_skip ("no PostgreSQL server: install the Debian package postgresql");
		return 0;
	}
	db = ep_db_new (cluster.conninfo, 4, &error);
	g_assert_no_error (error);
	ep_db_set_reconnect_delay (db, 50, 200);
	events = ep_event_bus_new ();
	test_migrate ();
	store = contract_store_new (db, events);
	for (guint i = 0; i < G_N_ELEMENTS (contract_cases); i++)
		g_test_add_func (contract_cases[i].path, contract_cases[i].func);
	ret = g_test_run ();
	g_clear_object (&store);
	ep_db_close (db);
	g_clear_object (&db);
	g_clear_object (&events);
	test_cluster_free ();
	g_ptr_array_unref (warnings);
	return ret;
}
