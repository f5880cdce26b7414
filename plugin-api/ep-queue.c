/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-queue.h"

G_DEFINE_INTERFACE (EpQueue, ep_queue, G_TYPE_OBJECT)

static void
ep_queue_default_init (EpQueueInterface *iface)
{
}

void
ep_queue_enqueue_async (EpQueue *self, const EpQueueSubmission *submission, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data)
{
	EpQueueInterface *iface;

	g_return_if_fail (EP_IS_QUEUE (self));
	g_return_if_fail (submission != NULL);
	iface = EP_QUEUE_GET_IFACE (self);
	g_return_if_fail (iface->enqueue_async != NULL);
	iface->enqueue_async (self, submission, cancellable, callback, user_data);
}

char *
ep_queue_enqueue_finish (EpQueue *self, GAsyncResult *result, GError **error)
{
	EpQueueInterface *iface;

	g_return_val_if_fail (EP_IS_QUEUE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_QUEUE_GET_IFACE (self);
	g_return_val_if_fail (iface->enqueue_finish != NULL, NULL);
	return iface->enqueue_finish (self, result, error);
}
