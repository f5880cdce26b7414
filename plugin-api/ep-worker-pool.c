/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-worker-pool.h"

struct _EpWorkerPool {
	GObject parent_instance;
	GThreadPool *pool;
	guint max_threads;
	guint max_queued;
};

typedef struct {
	GTask *task;
	GTaskThreadFunc func;
} EpWorkerItem;

G_DEFINE_TYPE (EpWorkerPool, ep_worker_pool, G_TYPE_OBJECT)

static void
ep_worker_pool_thread (gpointer data, gpointer user_data)
{
	EpWorkerItem *item = data;
	GTask *task = item->task;

	if (!g_task_return_error_if_cancelled (task)) {
		item->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
			    g_task_get_cancellable (task));
	}
	g_object_unref (task);
	g_free (item);
}

static void
ep_worker_pool_finalize (GObject *object)
{
	EpWorkerPool *self = EP_WORKER_POOL (object);

	/* finish what was queued: every task gets its answer */
	g_thread_pool_free (self->pool, FALSE, TRUE);
	G_OBJECT_CLASS (ep_worker_pool_parent_class)->finalize (object);
}

static void
ep_worker_pool_class_init (EpWorkerPoolClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_worker_pool_finalize;
}

static void
ep_worker_pool_init (EpWorkerPool *self)
{
}

/**
 * ep_worker_pool_new:
 * @max_threads: threads at most, 0 for the number of processors
 * @max_queued: tasks waiting at most; past it a task fails with
 *   %EP_ERROR_LIMIT instead of waiting
 */
EpWorkerPool *
ep_worker_pool_new (guint max_threads, guint max_queued)
{
	EpWorkerPool *self = g_object_new (EP_TYPE_WORKER_POOL, NULL);

	self->max_threads = max_threads > 0 ? max_threads : MAX (g_get_num_processors (), 1);
	self->max_queued = max_queued;
	self->pool = g_thread_pool_new (ep_worker_pool_thread, self, (gint) self->max_threads, FALSE, NULL);
	return self;
}

/**
 * ep_worker_pool_run:
 * @task: the task; its callback runs on the context it was created on
 * @func: the work, run on a pool thread; it must return a result on @task
 */
void
ep_worker_pool_run (EpWorkerPool *self, GTask *task, GTaskThreadFunc func)
{
	EpWorkerItem *item;

	g_return_if_fail (EP_IS_WORKER_POOL (self));
	g_return_if_fail (G_IS_TASK (task));

	if (self->max_queued > 0 && g_thread_pool_unprocessed (self->pool) >= self->max_queued) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_LIMIT,
					 "the worker pool is saturated (%u tasks waiting)", self->max_queued);
		return;
	}
	item = g_new0 (EpWorkerItem, 1);
	item->task = g_object_ref (task);
	item->func = func;
	g_thread_pool_push (self->pool, item, NULL);
}

guint
ep_worker_pool_get_max_threads (EpWorkerPool *self)
{
	return self->max_threads;
}
