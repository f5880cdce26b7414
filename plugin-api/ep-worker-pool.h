/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * A bounded pool of threads for CPU-heavy work (password hashing, RSA
 * signing, large MIME parsing).  Work is a GTask: its thread function runs
 * on a pool thread and its result comes back to the main context the task
 * was created on, like g_task_run_in_thread() but on a pool whose size and
 * queue are bounded.
 */

#define EP_TYPE_WORKER_POOL (ep_worker_pool_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpWorkerPool, ep_worker_pool, EP, WORKER_POOL, GObject)

EP_API EpWorkerPool *ep_worker_pool_new (guint max_threads, guint max_queued);
EP_API void          ep_worker_pool_run (EpWorkerPool *self, GTask *task, GTaskThreadFunc func);
EP_API guint         ep_worker_pool_get_max_threads (EpWorkerPool *self);

G_END_DECLS
