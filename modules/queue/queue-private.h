/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

#include "ep-resolver.h"
#include "ep-smtp-client.h"

G_BEGIN_DECLS

#define QUEUE_MODULE "queue"
#define QUEUE_CHANNEL "epistle_queue"

/* [[transport]]: a smart host for a domain, or for every domain ("*") */
typedef struct {
	char *domain;
	char *host;
	guint port;
	gboolean starttls;
	char *ca_file;
	char *username;
	char *password;
} QueueTransport;

typedef struct _Queue Queue;

/* one recipient of a group being delivered */
typedef struct {
	gint64 id;
	char *address;
	char *orcpt;
	guint notify;
	guint attempts;
	gboolean delay_notified;
	/* the outcome of this attempt */
	guint code; /* 0: no server answered */
	char *status;
	char *reply;
	char *remote_host;
} QueueRcpt;

/* the recipients of one message at one domain: one SMTP transaction */
typedef struct {
	Queue *queue;
	gint64 message_id;
	char *queue_id;
	char *sender;
	char *kind;
	char *header_message_id; /* (nullable) */
	gint64 size;
	gboolean body_8bit;
	gboolean smtputf8;
	gboolean ret_headers_only;
	char *envid;
	gint64 created; /* seconds since the epoch */
	char *domain;
	GPtrArray *rcpts; /* of QueueRcpt */
	GBytes *message;  /* loaded when the group starts */
} QueueGroup;

void queue_group_free (QueueGroup *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QueueGroup, queue_group_free)

/* one place to try: a host and its addresses, how to talk to it */
typedef struct {
	char *name; /* the MX or relay host name (or IP literal) */
	guint port;
	GPtrArray *addresses; /* of GInetAddress */
	EpSmtpClientTls tls;
	char *verify_name; /* (nullable) */
	char *ca_file;	   /* (nullable) */
	char *username;	   /* (nullable) */
	char *password;	   /* (nullable) */
} QueueHop;

void queue_hop_free (QueueHop *hop);

/* the route of a domain: hops in order, or why there is none */
typedef struct {
	GPtrArray *hops; /* of QueueHop */
	guint code;	 /* with no hops: 4xx (try later) or 5xx (bounce) */
	char *status;
	char *reason;
} QueueRoute;

void queue_route_free (QueueRoute *route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QueueRoute, queue_route_free)

typedef struct {
	EpResolver *resolver;
	GPtrArray *transports; /* of QueueTransport */
	guint smtp_port;
} QueueRouter;

/* routing: [[transport]] first, then MX (null MX, implicit MX), then A/AAAA */
void queue_route_async (const QueueRouter *router, const char *domain, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data);
QueueRoute *queue_route_finish (GAsyncResult *result);

/* the header block of @message: how many Received: fields, and the first
 * value of @name (unfolded), or NULL */
guint queue_count_received (const guint8 *data, gsize len);
char *queue_find_header (const guint8 *data, gsize len, const char *name);

/* exponential backoff: @min_s doubling per attempt, capped at @max_s */
gint64 queue_retry_delay (guint attempts, gint64 min_s, gint64 max_s);

G_END_DECLS
