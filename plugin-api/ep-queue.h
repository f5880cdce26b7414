/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The outbound queue, as a service: protocols hand it messages for remote
 * recipients (authenticated submission), and it answers only once the
 * message and its recipients are committed to the database, so that a
 * "250" a client hears means the message will be delivered or bounced.
 */

/* DSN parameters (RFC 3461 NOTIFY), as bits */
typedef enum {
	EP_QUEUE_NOTIFY_DEFAULT = 0,      /* no NOTIFY given: FAILURE (and DELAY) */
	EP_QUEUE_NOTIFY_NEVER = 1 << 0,
	EP_QUEUE_NOTIFY_SUCCESS = 1 << 1,
	EP_QUEUE_NOTIFY_FAILURE = 1 << 2,
	EP_QUEUE_NOTIFY_DELAY = 1 << 3,
} EpQueueNotify;

typedef struct {
	const char *address; /* the forward path, local-part@domain */
	const char *orcpt;   /* (nullable): ORCPT, "rfc822;addr" */
	EpQueueNotify notify;
} EpQueueRecipient;

typedef struct {
	const char *session_id;              /* (nullable): for logs */
	const char *sender;                  /* the reverse path; "" is the null sender */
	const EpQueueRecipient *recipients;  /* remote recipients only */
	guint n_recipients;
	GBytes *message;                     /* the whole message, CRLF lines, without Return-Path */
	gboolean body_8bit;                  /* BODY=8BITMIME was given */
	gboolean smtputf8;                   /* SMTPUTF8 was given */
	const char *envid;                   /* (nullable): ENVID */
	gboolean ret_headers_only;           /* RET=HDRS */
	const char *submitted_by;            /* (nullable): the authenticated account */
} EpQueueSubmission;

#define EP_TYPE_QUEUE (ep_queue_get_type ())
EP_API G_DECLARE_INTERFACE (EpQueue, ep_queue, EP, QUEUE, GObject)

struct _EpQueueInterface {
	GTypeInterface parent_iface;

	void (*enqueue_async) (EpQueue *self, const EpQueueSubmission *submission, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data);
	char *(*enqueue_finish) (EpQueue *self, GAsyncResult *result, GError **error);

	gpointer padding[8];
};

/**
 * ep_queue_enqueue_async:
 *
 * Queues @submission (copied: nothing of it needs to outlive the call).
 * Finishes with the queue id once committed; EP_ERROR_TEMP when the
 * database cannot take it now, EP_ERROR_LIMIT for a message that has
 * travelled too far (a mail loop: too many Received: fields),
 * EP_ERROR_INVALID for a malformed submission.
 */
EP_API void ep_queue_enqueue_async (EpQueue *self, const EpQueueSubmission *submission, GCancellable *cancellable,
				    GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_queue_enqueue_finish (EpQueue *self, GAsyncResult *result,
								GError **error);

G_END_DECLS
