/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How fast messages are stored into one mailbox as it fills: the rate of
 * appends through EpStore (store-pg) with a mailbox already holding 0,
 * 10,000 and 100,000 messages, CONCURRENCY appends in flight.
 *
 *   store-bench CONNINFO MIGRATIONS_DIR [FILL_MAX]
 *
 * Before each level the tables are vacuumed and a checkpoint is taken (the
 * steady state autovacuum keeps a live server in), then ROUNDS rounds of
 * MEASURED appends are timed.  Prints one line per fill level:
 * "fill=N messages=M seconds=S rate=R/s" with the median round.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "ep-db-migrator.h"
#include "store-pg-store.h"

#define CONCURRENCY 8
#define MEASURED    2000
#define ROUNDS      3

typedef struct {
	EpStore *store;
	guint to_start;
	guint in_flight;
	guint done;
	guint counter;
	gboolean failed;
	GMainLoop *loop;
} Bench;

static GBytes *
bench_message (guint n)
{
	g_autoptr(GString) m = g_string_new (NULL);
	g_string_append_printf (m,
				"From: Sender %u <sender%u@example.net>\r\n"
				"To: alice@example.org\r\n"
				"Subject: benchmark message %u\r\n"
				"Message-ID: <bench-%u-%d@example.net>\r\n"
				"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"\r\n",
				n % 97, n % 97, n, n, g_random_int ());
	/* ~5 KiB of body */
	for (guint i = 0; i < 64; i++)
		g_string_append_printf (m, "Line %u of message %u: the quick brown fox jumps over the lazy dog.\r\n", i, n);
	return g_string_free_to_bytes (g_steal_pointer (&m));
}

static void bench_next (Bench *b);

static void
bench_appended (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Bench *b = user_data;
	g_autoptr(GError) error = NULL;
	EpStoreDelivery *d = ep_store_append_finish (EP_STORE (source), result, &error);

	if (d == NULL) {
		g_printerr ("append failed: %s\n", error->message);
		b->failed = TRUE;
	} else {
		ep_store_delivery_free (d);
	}
	b->in_flight--;
	b->done++;
	bench_next (b);
}

static void
bench_next (Bench *b)
{
	while (b->to_start > 0 && b->in_flight < CONCURRENCY && !b->failed) {
		g_autoptr(GBytes) msg = bench_message (b->counter++);
		b->to_start--;
		b->in_flight++;
		ep_store_append_async (b->store, "alice", "INBOX", msg, 0, NULL, 0, NULL, bench_appended, b);
	}
	if (b->in_flight == 0)
		g_main_loop_quit (b->loop);
}

static void
bench_settle (EpDb *db)
{
	const char *sql[] = { "VACUUM ANALYZE", "CHECKPOINT" };
	for (guint i = 0; i < G_N_ELEMENTS (sql); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpDbResult) res = ep_db_query_sync (db, sql[i], NULL, &error);
		if (res == NULL)
			g_error ("%s: %s", sql[i], error->message);
	}
}

static int
bench_cmp_double (gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static gdouble
bench_run (Bench *b, guint n)
{
	gint64 start = g_get_monotonic_time ();
	b->to_start = n;
	b->done = 0;
	bench_next (b);
	g_main_loop_run (b->loop);
	return (gdouble) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
}

int
main (int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDb) db = NULL;
	g_autoptr(EpStorePg) store = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(EpDbMigrator) migrator = NULL;
	const char *addresses[] = { "alice@example.org", NULL };
	guint levels[] = { 0, 10000, 100000 };
	guint fill_max = argc > 3 ? (guint) atoi (argv[3]) : 100000;
	Bench b = { 0 };
	guint filled = 0;

	if (argc < 3) {
		g_printerr ("usage: store-bench CONNINFO MIGRATIONS_DIR [FILL_MAX]\n");
		return 64;
	}
	db = ep_db_new (argv[1], CONCURRENCY, &error);
	if (db == NULL)
		g_error ("%s", error->message);
	migrator = ep_db_migrator_new (db);
	if (!ep_db_migrator_add_module (migrator, "store-pg", argv[2], &error))
		g_error ("%s", error->message);
	ep_db_migrator_run_async (migrator, NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	if (!ep_db_migrator_run_finish (migrator, result, &error))
		g_error ("%s", error->message);
	g_clear_object (&result);

	store = ep_store_pg_new (db, NULL, NULL, &error);
	if (store == NULL)
		g_error ("%s", error->message);
	ep_store_create_account_async (EP_STORE (store), "alice", addresses, NULL, FALSE, 0, NULL,
				       ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	if (!ep_store_create_account_finish (EP_STORE (store), result, &error))
		g_error ("%s", error->message);

	b.store = EP_STORE (store);
	b.loop = g_main_loop_new (NULL, FALSE);
	for (guint i = 0; i < G_N_ELEMENTS (levels) && levels[i] <= fill_max; i++) {
		gdouble secs[ROUNDS];
		if (levels[i] > filled) {
			bench_run (&b, levels[i] - filled);
			filled = levels[i];
		}
		bench_settle (db);
		for (guint r = 0; r < ROUNDS; r++) {
			secs[r] = bench_run (&b, MEASURED);
			filled += MEASURED;
			if (b.failed)
				return 1;
		}
		qsort (secs, ROUNDS, sizeof (gdouble), bench_cmp_double);
		printf ("fill=%u messages=%u seconds=%.2f rate=%.0f/s (rounds %.0f..%.0f/s)\n", levels[i], MEASURED,
			secs[ROUNDS / 2], MEASURED / secs[ROUNDS / 2], MEASURED / secs[ROUNDS - 1], MEASURED / secs[0]);
		fflush (stdout);
	}
	g_main_loop_unref (b.loop);
	return 0;
}
