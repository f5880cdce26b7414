/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-worker-pool.h"

typedef struct {
	GMainLoop *loop;
	GThread *main_thread;
	gint running;
	gint max_running;
	guint done;
	guint failed_limit;
	guint expected;
	guint64 sum;
} PoolFixture;

static void
square_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	guint n = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "n"));
	PoolFixture *fx = g_object_get_data (G_OBJECT (task), "fixture");
	gint now = g_atomic_int_add (&fx->running, 1) + 1;
	gint seen;

	g_assert_true (g_thread_self () != fx->main_thread);
	do {
		seen = g_atomic_int_get (&fx->max_running);
	} while (now > seen && !g_atomic_int_compare_and_exchange (&fx->max_running, seen, now));
	g_usleep (2000);
	g_atomic_int_add (&fx->running, -1);
	g_task_return_int (task, (gssize) n * n);
}

static void
square_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	PoolFixture *f = user_data;
	g_autoptr(GError) error = NULL;
	gssize v = g_task_propagate_int (G_TASK (result), &error);

	/* results come back on the thread that runs the main loop */
	g_assert_true (g_thread_self () == f->main_thread);
	if (error != NULL) {
		g_assert_error (error, EP_ERROR, EP_ERROR_LIMIT);
		f->failed_limit++;
	} else {
		f->sum += (guint64) v;
	}
	if (++f->done == f->expected)
		g_main_loop_quit (f->loop);
}

static void
test_worker_pool_bounded (void)
{
	g_autoptr(EpWorkerPool) pool = ep_worker_pool_new (2, 0);
	PoolFixture f = { 0 };
	guint64 expect = 0;

	f.loop = g_main_loop_new (NULL, FALSE);
	f.main_thread = g_thread_self ();
	f.expected = 40;
	for (guint i = 0; i < f.expected; i++) {
		g_autoptr(GTask) task = g_task_new (NULL, NULL, square_done, &f);
		g_object_set_data (G_OBJECT (task), "n", GUINT_TO_POINTER (i));
		g_object_set_data (G_OBJECT (task), "fixture", &f);
		ep_worker_pool_run (pool, task, square_in_thread);
		expect += (guint64) i * i;
	}
	g_main_loop_run (f.loop);
	g_assert_cmpuint (f.sum, ==, expect);
	g_assert_cmpint (f.max_running, <=, 2);
	g_assert_cmpint (f.max_running, >=, 1);
	g_assert_cmpuint (ep_worker_pool_get_max_threads (pool), ==, 2);
	g_main_loop_unref (f.loop);
}

static void
test_worker_pool_queue_limit (void)
{
	g_autoptr(EpWorkerPool) pool = ep_worker_pool_new (1, 3);
	PoolFixture f = { 0 };

	f.loop = g_main_loop_new (NULL, FALSE);
	f.main_thread = g_thread_self ();
	f.expected = 30;
	for (guint i = 0; i < f.expected; i++) {
		g_autoptr(GTask) task = g_task_new (NULL, NULL, square_done, &f);
		g_object_set_data (G_OBJECT (task), "n", GUINT_TO_POINTER (i));
		g_object_set_data (G_OBJECT (task), "fixture", &f);
		ep_worker_pool_run (pool, task, square_in_thread);
	}
	g_main_loop_run (f.loop);
	/* one running, three waiting: the rest were refused at once */
	g_assert_cmpuint (f.failed_limit, >=, 20);
	g_assert_cmpuint (f.failed_limit, <, 30);
	g_main_loop_unref (f.loop);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/worker-pool/bounded", test_worker_pool_bounded);
	g_test_add_func ("/worker-pool/queue-limit", test_worker_pool_queue_limit);
	return g_test_run ();
}
