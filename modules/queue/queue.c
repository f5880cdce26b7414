/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * queue: outbound delivery.  Messages for remote recipients are rows in
 * PostgreSQL, committed before the client hears 250 (the EpQueue
 * service).  Workers claim due recipients with FOR UPDATE SKIP LOCKED and
 * a lease, group them by message and domain, route each group (transport,
 * MX, addresses), deliver it with the SMTP client and record the outcome:
 * delivered, deferred with exponential backoff, or failed with a DSN to
 * the sender.  See docs/queue.md.
 */
#include "config.h"

#include <string.h>

#include "queue-dsn.h"
#include "queue-private.h"

#define QUEUE_CLAIM_BATCH 100
#define QUEUE_IDLE_SECONDS 10

typedef struct {
	char *key; /* address|port|tls */
	EpSmtpClient *client;
	gint64 since;
} QueueIdle;

struct _Queue {
	EpContext *ctx;
	EpDb *db;
	GObject *service;
	char *node;
	char *hostname;
	QueueRouter router;

	/* [queue] */
	guint max_connections;
	guint max_per_domain;
	gint64 max_age;
	gint64 delay_warning;
	gint64 retry_min;
	gint64 retry_max;
	guint lease;
	guint poll_interval;
	guint max_received;
	gsize dsn_max_original;
	guint connect_timeout;
	guint command_timeout;

	gboolean started;
	gboolean claiming;
	gboolean claim_again;
	guint in_flight;
	GQueue waiting;		     /* of QueueGroup */
	GHashTable *domain_active;   /* domain -> count */
	GPtrArray *idle;	     /* of QueueIdle */
	guint poll_source;
	guint listen_id;
	GCancellable *cancellable;
};

static void queue_kick (Queue *q);
static void queue_dispatch (Queue *q);

/* ---- the service --------------------------------------------------------- */

#define QUEUE_TYPE_SERVICE (queue_service_get_type ())
G_DECLARE_FINAL_TYPE (QueueService, queue_service, QUEUE, SERVICE, GObject)

struct _QueueService {
	GObject parent_instance;
	Queue *queue; /* (unowned): the module outlives its service's use */
};

static void queue_service_iface_init (EpQueueInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (QueueService, queue_service, G_TYPE_OBJECT,
			       G_IMPLEMENT_INTERFACE (EP_TYPE_QUEUE, queue_service_iface_init))

static void
queue_service_class_init (QueueServiceClass *klass)
{
}

static void
queue_service_init (QueueService *self)
{
}

static char *
queue_new_id (void)
{
	return g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
}

static const char *
queue_domain_of (const char *address)
{
	const char *at = strrchr (address, '@');
	return at != NULL ? at + 1 : NULL;
}

#define QUEUE_SQL_ENQUEUE                                                                                              \
	"WITH m AS (INSERT INTO queue_messages (queue_id, sender, message, size, body_8bit, smtputf8, envid,"         \
	" ret_headers_only, submitted_by, header_message_id, kind)"                                                    \
	" VALUES ($1, $2, $3, $4::bigint, $5::boolean, $6::boolean, $7, $8::boolean, $9, $10, $11) RETURNING id)"       \
	" INSERT INTO queue_recipients (message_id, recipient, domain, orcpt, notify)"                                 \
	" SELECT m.id, r.recipient, lower(r.domain), r.orcpt, r.notify"                                                 \
	" FROM m, jsonb_to_recordset($12::jsonb) AS r(recipient text, domain text, orcpt text, notify integer)"

typedef struct {
	char *queue_id;
	Queue *queue;
} EnqueueOp;

static void
enqueue_op_free (EnqueueOp *op)
{
	g_free (op->queue_id);
	g_free (op);
}

static void
queue_on_notified (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GError) error = NULL;

	if (!ep_db_notify_finish (EP_DB (source), result, &error))
		ep_log_debug (QUEUE_MODULE, NULL, "cannot wake other queue workers: %s", error->message);
}

static void
queue_on_enqueued (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	EnqueueOp *op = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);

	if (res == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		g_object_unref (task);
		return;
	}
	/* other processes and hosts sharing the queue look now, as this one does */
	ep_db_notify_async (EP_DB (source), QUEUE_CHANNEL, "wakeup", NULL, queue_on_notified, NULL);
	queue_kick (op->queue);
	g_task_return_pointer (task, g_strdup (op->queue_id), g_free);
	g_object_unref (task);
}

/* @kind "message" or "dsn" */
static void
queue_insert_async (Queue *q, const EpQueueSubmission *s, const char *kind, GCancellable *cancellable,
		    GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (q->service, cancellable, callback, user_data);
	EnqueueOp *op = g_new0 (EnqueueOp, 1);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autoptr (JsonBuilder) builder = json_builder_new ();
	g_autoptr (JsonGenerator) generator = json_generator_new ();
	g_autoptr (JsonNode) root = NULL;
	g_autofree char *json = NULL;
	g_autofree char *message_id = NULL;
	gsize len = 0;
	const guint8 *data;

	g_task_set_source_tag (task, queue_insert_async);
	op->queue = q;
	op->queue_id = queue_new_id ();
	g_task_set_task_data (task, op, (GDestroyNotify)enqueue_op_free);
	if (q->db == NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP, "the queue is not started");
		g_object_unref (task);
		return;
	}
	if (s->sender == NULL || s->message == NULL || s->n_recipients == 0) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "nothing to queue");
		g_object_unref (task);
		return;
	}
	data = g_bytes_get_data (s->message, &len);
	if (queue_count_received (data, len) > q->max_received) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_LIMIT,
					 "too many Received: fields (more than %u): a mail loop", q->max_received);
		g_object_unref (task);
		return;
	}
	json_builder_begin_array (builder);
	for (guint i = 0; i < s->n_recipients; i++) {
		const EpQueueRecipient *r = &s->recipients[i];
		const char *domain = r->address != NULL ? queue_domain_of (r->address) : NULL;
		if (domain == NULL || domain[0] == '\0') {
			g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "'%s' is not an address",
						 r->address != NULL ? r->address : "");
			g_object_unref (task);
			return;
		}
		json_builder_begin_object (builder);
		json_builder_set_member_name (builder, "recipient");
		json_builder_add_string_value (builder, r->address);
		json_builder_set_member_name (builder, "domain");
		json_builder_add_string_value (builder, domain);
		json_builder_set_member_name (builder, "orcpt");
		if (r->orcpt != NULL)
			json_builder_add_string_value (builder, r->orcpt);
		else
			json_builder_add_null_value (builder);
		json_builder_set_member_name (builder, "notify");
		json_builder_add_int_value (builder, r->notify);
		json_builder_end_object (builder);
	}
	json_builder_end_array (builder);
	root = json_builder_get_root (builder);
	json_generator_set_root (generator, root);
	json = json_generator_to_data (generator, NULL);
	message_id = queue_find_header (data, len, "Message-ID");

	ep_db_params_add_text (params, op->queue_id);
	ep_db_params_add_text (params, s->sender);
	ep_db_params_add_bytes (params, s->message);
	ep_db_params_add_int64 (params, (gint64)len);
	ep_db_params_add_boolean (params, s->body_8bit);
	ep_db_params_add_boolean (params, s->smtputf8);
	ep_db_params_add_text (params, s->envid);
	ep_db_params_add_boolean (params, s->ret_headers_only);
	ep_db_params_add_text (params, s->submitted_by);
	ep_db_params_add_text (params, message_id);
	ep_db_params_add_text (params, kind);
	ep_db_params_add_text (params, json);
	ep_log_info (QUEUE_MODULE, s->session_id, "queued %s from=<%s> rcpts=%u size=%" G_GSIZE_FORMAT " kind=%s",
		     op->queue_id, s->sender, s->n_recipients, len, kind);
	ep_db_query_async (q->db, QUEUE_SQL_ENQUEUE, params, cancellable, queue_on_enqueued, task);
}

static void
queue_service_enqueue_async (EpQueue *queue, const EpQueueSubmission *submission, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data)
{
	queue_insert_async (QUEUE_SERVICE (queue)->queue, submission, "message", cancellable, callback, user_data);
}

static char *
queue_service_enqueue_finish (EpQueue *queue, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer (G_TASK (result), error);
}

static void
queue_service_iface_init (EpQueueInterface *iface)
{
	iface->enqueue_async = queue_service_enqueue_async;
	iface->enqueue_finish = queue_service_enqueue_finish;
}

/* ---- groups -------------------------------------------------------------- */

static void
queue_rcpt_free (QueueRcpt *r)
{
	g_free (r->address);
	g_free (r->orcpt);
	g_free (r->status);
	g_free (r->reply);
	g_free (r->remote_host);
	g_free (r);
}

void
queue_group_free (QueueGroup *g)
{
	g_free (g->queue_id);
	g_free (g->sender);
	g_free (g->kind);
	g_free (g->header_message_id);
	g_free (g->envid);
	g_free (g->domain);
	g_clear_pointer (&g->rcpts, g_ptr_array_unref);
	g_clear_pointer (&g->message, g_bytes_unref);
	g_free (g);
}

static void
queue_rcpt_set (QueueRcpt *r, guint code, const char *status, const char *reply, const char *host)
{
	g_free (r->status);
	g_free (r->reply);
	g_free (r->remote_host);
	r->code = code;
	r->status = g_strdup (status);
	r->reply = g_strdup (reply);
	r->remote_host = g_strdup (host);
}

static void
queue_group_set_all (QueueGroup *g, guint code, const char *status, const char *reply, const char *host)
{
	for (guint i = 0; i < g->rcpts->len; i++)
		queue_rcpt_set (g_ptr_array_index (g->rcpts, i), code, status, reply, host);
}

/* the enhanced code of a reply, or one derived from its class */
static const char *
queue_reply_status (const EpSmtpReply *reply)
{
	if (reply->enhanced != NULL)
		return reply->enhanced;
	return reply->code >= 500 ? "5.0.0" : reply->code >= 400 ? "4.0.0" : "2.0.0";
}

static void
queue_rcpt_set_reply (QueueRcpt *r, const EpSmtpReply *reply, const char *host)
{
	g_autofree char *text = ep_smtp_reply_to_string (reply);
	queue_rcpt_set (r, reply->code, queue_reply_status (reply), text, host);
}

/* ---- recording outcomes -------------------------------------------------- */

#define QUEUE_SQL_RECORD                                                                                               \
	"UPDATE queue_recipients r SET state = x.state,"                                                               \
	" next_attempt = CASE WHEN x.state = 'queued' THEN now() + make_interval(secs => x.delay) ELSE r.next_attempt END," \
	" lease_owner = NULL, last_code = x.code, last_status = x.status, last_reply = x.reply,"                        \
	" remote_host = x.host, delay_notified = r.delay_notified OR x.notified"                                       \
	" FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, state text, delay float8, code integer, status text,"   \
	" reply text, host text, notified boolean)"                                                                     \
	" WHERE r.id = x.id AND r.lease_owner = $2"

#define QUEUE_SQL_FINISH                                                                                               \
	"DELETE FROM queue_messages m WHERE m.id = $1::bigint AND NOT EXISTS"                                          \
	" (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id AND r.state = 'queued')"

typedef enum {
	OUTCOME_DELIVERED,
	OUTCOME_DEFERRED,
	OUTCOME_FAILED,
} QueueOutcome;

static QueueOutcome
queue_rcpt_outcome (Queue *q, QueueGroup *g, QueueRcpt *r)
{
	if (r->code >= 200 && r->code < 300)
		return OUTCOME_DELIVERED;
	if (r->code >= 500)
		return OUTCOME_FAILED;
	/* temporary: until the message is too old */
	if (g_get_real_time () / G_USEC_PER_SEC - g->created >= q->max_age)
		return OUTCOME_FAILED;
	return OUTCOME_DEFERRED;
}

static gboolean
queue_wants_notice (QueueGroup *g, QueueRcpt *r, EpQueueNotify which)
{
	if (g->sender[0] == '\0' || g_strcmp0 (g->kind, "dsn") == 0)
		return FALSE; /* never a bounce to the null sender, nor about a bounce */
	if (r->notify & EP_QUEUE_NOTIFY_NEVER)
		return FALSE;
	if (r->notify == EP_QUEUE_NOTIFY_DEFAULT)
		return which == EP_QUEUE_NOTIFY_FAILURE || which == EP_QUEUE_NOTIFY_DELAY;
	return (r->notify & which) != 0;
}

typedef struct {
	Queue *queue;
	QueueGroup *group;
	GArray *outcomes;  /* of QueueOutcome, one per rcpt */
	GArray *notified;  /* of gboolean: a delay notice goes out now */
	guint stage;	   /* 0: failure DSN next, 1: delay notice next, 2: write */
	GBytes *dsn;	   /* (nullable): being delivered */
	gboolean dsn_8bit;
	EpDirectoryResolveCtx resolve;
} RecordOp;

static void
record_op_free (RecordOp *op)
{
	queue_group_free (op->group);
	g_clear_pointer (&op->outcomes, g_array_unref);
	g_clear_pointer (&op->notified, g_array_unref);
	g_clear_pointer (&op->dsn, g_bytes_unref);
	g_free (op->resolve.account);
	g_free (op);
}

static void
queue_group_done (Queue *q)
{
	q->in_flight--;
	queue_dispatch (q);
	queue_kick (q);
}

static void
record_on_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RecordOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);
	Queue *q = op->queue;

	if (res == NULL)
		ep_log_warning (QUEUE_MODULE, op->group->queue_id, "cannot finish: %s", error->message);
	else if (ep_db_result_get_affected_rows (res) > 0)
		ep_log_info (QUEUE_MODULE, op->group->queue_id, "removed: every recipient is done");
	record_op_free (op);
	queue_group_done (q);
}

static void
record_on_recorded (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RecordOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);
	g_autoptr (EpDbParams) params = NULL;
	Queue *q = op->queue;

	if (res == NULL) {
		/* the lease ends and the recipients are tried again: at least once */
		ep_log_warning (QUEUE_MODULE, op->group->queue_id, "cannot record the outcome: %s", error->message);
		record_op_free (op);
		queue_group_done (q);
		return;
	}
	params = ep_db_params_new ();
	ep_db_params_add_int64 (params, op->group->message_id);
	ep_db_query_async (q->db, QUEUE_SQL_FINISH, params, q->cancellable, record_on_finished, op);
}

static void
record_write (RecordOp *op)
{
	Queue *q = op->queue;
	QueueGroup *g = op->group;
	g_autoptr (JsonBuilder) builder = json_builder_new ();
	g_autoptr (JsonGenerator) generator = json_generator_new ();
	g_autoptr (JsonNode) root = NULL;
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autofree char *json = NULL;
	EpEventBus *events = ep_context_get_event_bus (q->ctx);

	json_builder_begin_array (builder);
	for (guint i = 0; i < g->rcpts->len; i++) {
		QueueRcpt *r = g_ptr_array_index (g->rcpts, i);
		QueueOutcome outcome = g_array_index (op->outcomes, QueueOutcome, i);
		gint64 delay = queue_retry_delay (r->attempts, q->retry_min, q->retry_max);
		const char *state = outcome == OUTCOME_DELIVERED ? "delivered"
				    : outcome == OUTCOME_FAILED	 ? "failed"
								 : "queued";

		json_builder_begin_object (builder);
		json_builder_set_member_name (builder, "id");
		json_builder_add_int_value (builder, r->id);
		json_builder_set_member_name (builder, "state");
		json_builder_add_string_value (builder, state);
		json_builder_set_member_name (builder, "delay");
		json_builder_add_int_value (builder, delay);
		json_builder_set_member_name (builder, "code");
		json_builder_add_int_value (builder, r->code);
		json_builder_set_member_name (builder, "status");
		json_builder_add_string_value (builder, r->status);
		json_builder_set_member_name (builder, "reply");
		json_builder_add_string_value (builder, r->reply);
		json_builder_set_member_name (builder, "host");
		json_builder_add_string_value (builder, r->remote_host);
		json_builder_set_member_name (builder, "notified");
		json_builder_add_boolean_value (builder, g_array_index (op->notified, gboolean, i));
		json_builder_end_object (builder);

		ep_log_info (QUEUE_MODULE, g->queue_id, "to=<%s> relay=%s attempts=%u status=%s (%s)", r->address,
			     r->remote_host != NULL ? r->remote_host : "none", r->attempts, state,
			     r->reply != NULL ? r->reply : "");
		if (outcome == OUTCOME_DELIVERED) {
			EpMessageDeliveredEvent ev = {
			    .message_id = g->header_message_id,
			    .sender = g->sender,
			    .size = (guint64)g->size,
			    .protocol = "smtp-out",
			    .recipient = r->address,
			    .remote_host = r->remote_host,
			    .queue_id = g->queue_id,
			};
			ep_event_message_delivered_emit (events, &ev);
		} else if (outcome == OUTCOME_FAILED) {
			EpMessageBouncedEvent ev = {
			    .queue_id = g->queue_id,
			    .message_id = g->header_message_id,
			    .sender = queue_wants_notice (g, r, EP_QUEUE_NOTIFY_FAILURE) ? g->sender : "",
			    .recipient = r->address,
			    .remote_host = r->remote_host,
			    .code = r->code,
			    .enhanced = r->status,
			    .diagnostic = r->reply,
			};
			ep_event_message_bounced_emit (events, &ev);
		} else {
			EpQueueDeferredEvent ev = {
			    .queue_id = g->queue_id,
			    .message_id = g->header_message_id,
			    .recipient = r->address,
			    .domain = g->domain,
			    .remote_host = r->remote_host,
			    .attempts = r->attempts,
			    .next_attempt = g_get_real_time () / G_USEC_PER_SEC + delay,
			    .reason = r->reply,
			};
			ep_event_queue_deferred_emit (events, &ev);
		}
	}
	json_builder_end_array (builder);
	root = json_builder_get_root (builder);
	json_generator_set_root (generator, root);
	json = json_generator_to_data (generator, NULL);
	ep_db_params_add_text (params, json);
	ep_db_params_add_text (params, q->node);
	ep_db_query_async (q->db, QUEUE_SQL_RECORD, params, q->cancellable, record_on_recorded, op);
}

/* ---- DSNs ---------------------------------------------------------------- */

static GBytes *
record_build_dsn (RecordOp *op, gboolean failures)
{
	Queue *q = op->queue;
	QueueGroup *g = op->group;
	g_autoptr (GArray) list = g_array_new (FALSE, TRUE, sizeof (QueueDsnRecipient));
	g_autoptr (GDateTime) now = g_date_time_new_now_local ();
	g_autoptr (GDateTime) arrival = g_date_time_new_from_unix_local (g->created);
	g_autoptr (GDateTime) until = g_date_time_new_from_unix_local (g->created + q->max_age);
	gboolean body_8bit = FALSE;
	GBytes *dsn;

	for (guint i = 0; i < g->rcpts->len; i++) {
		QueueRcpt *r = g_ptr_array_index (g->rcpts, i);
		QueueOutcome outcome = g_array_index (op->outcomes, QueueOutcome, i);
		QueueDsnRecipient d = { 0 };

		if (failures ? outcome != OUTCOME_FAILED || !queue_wants_notice (g, r, EP_QUEUE_NOTIFY_FAILURE)
			     : !g_array_index (op->notified, gboolean, i))
			continue;
		d.recipient = r->address;
		d.orcpt = r->orcpt;
		d.action = failures ? "failed" : "delayed";
		d.status = r->status != NULL ? r->status : (failures ? "5.0.0" : "4.0.0");
		d.remote_mta = r->remote_host;
		d.diagnostic = r->reply;
		d.last_attempt = now;
		d.will_retry_until = failures ? NULL : until;
		g_array_append_val (list, d);
	}
	if (list->len == 0)
		return NULL;
	dsn = queue_dsn_build (q->hostname, g->sender, g->queue_id, g->envid, arrival,
			       (const QueueDsnRecipient *)(gpointer)list->data, list->len, g->message,
			       g->ret_headers_only, q->dsn_max_original, now, &body_8bit);
	op->dsn_8bit = body_8bit;
	return dsn;
}

static void record_next (RecordOp *op);

static void
record_on_dsn_queued (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RecordOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autofree char *id = g_task_propagate_pointer (G_TASK (result), &error);

	if (id == NULL)
		ep_log_warning (QUEUE_MODULE, op->group->queue_id, "cannot queue the DSN to <%s>: %s", op->group->sender,
				error->message);
	else
		ep_log_info (QUEUE_MODULE, op->group->queue_id, "DSN to <%s> queued as %s", op->group->sender, id);
	g_clear_pointer (&op->dsn, g_bytes_unref);
	record_next (op);
}

static void
record_on_dsn_stored (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RecordOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) deliveries = ep_store_deliver_finish (EP_STORE (source), result, &error);

	if (deliveries == NULL)
		ep_log_warning (QUEUE_MODULE, op->group->queue_id, "cannot store the DSN for %s: %s",
				op->resolve.account, error->message);
	else
		ep_log_info (QUEUE_MODULE, op->group->queue_id, "DSN delivered to %s", op->resolve.account);
	g_clear_pointer (&op->dsn, g_bytes_unref);
	record_next (op);
}

static void
record_on_sender_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	RecordOp *op = user_data;
	Queue *q = op->queue;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) res = ep_hook_directory_resolve_run_finish (EP_HOOK_BUS (source), result, &error);
	EpStore *store = EP_STORE (ep_service_registry_lookup (ep_context_get_services (q->ctx), EP_TYPE_STORE));

	if (op->resolve.account != NULL && store != NULL) {
		/* a local sender: straight into its INBOX, as final delivery */
		static const char return_path[] = "Return-Path: <>\r\n";
		gsize len;
		const guint8 *data = g_bytes_get_data (op->dsn, &len);
		GByteArray *out = g_byte_array_sized_new ((guint)(len + sizeof return_path));
		g_autoptr (GBytes) final = NULL;
		EpStoreTarget target = { .account = op->resolve.account, .mailbox = "INBOX" };

		g_byte_array_append (out, (const guint8 *)return_path, sizeof return_path - 1);
		g_byte_array_append (out, data, (guint)len);
		final = g_byte_array_free_to_bytes (out);
		ep_store_deliver_async (store, &target, 1, final, q->cancellable, record_on_dsn_stored, op);
		return;
	}
	if (op->resolve.is_local_domain) {
		ep_log_warning (QUEUE_MODULE, op->group->queue_id, "no local account <%s> for the DSN: dropped",
				op->group->sender);
		g_clear_pointer (&op->dsn, g_bytes_unref);
		record_next (op);
		return;
	}
	{
		EpQueueRecipient rcpt = { .address = op->group->sender };
		EpQueueSubmission s = {
		    .session_id = op->group->queue_id,
		    .sender = "",
		    .recipients = &rcpt,
		    .n_recipients = 1,
		    .message = op->dsn,
		    .body_8bit = op->dsn_8bit,
		};
		queue_insert_async (q, &s, "dsn", q->cancellable, record_on_dsn_queued, op);
	}
}

/* failures first, then delay notices, then the outcome is written: a DSN
 * is queued before the recipient is marked (at least once) */
static void
record_next (RecordOp *op)
{
	Queue *q = op->queue;

	while (op->stage < 2) {
		gboolean failures = op->stage == 0;

		op->stage++;
		op->dsn = record_build_dsn (op, failures);
		if (op->dsn == NULL)
			continue;
		op->resolve.address = op->group->sender;
		g_clear_pointer (&op->resolve.account, g_free);
		op->resolve.is_local_domain = FALSE;
		ep_hook_directory_resolve_run_async (ep_context_get_hook_bus (q->ctx), &op->resolve, 0, q->cancellable,
						     record_on_sender_resolved, op);
		return;
	}
	record_write (op);
}

/* the group's attempt is over: outcomes, DSNs, then the database */
static void
queue_group_record (Queue *q, QueueGroup *g)
{
	RecordOp *op = g_new0 (RecordOp, 1);
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	op->queue = q;
	op->group = g;
	op->outcomes = g_array_sized_new (FALSE, TRUE, sizeof (QueueOutcome), g->rcpts->len);
	op->notified = g_array_sized_new (FALSE, TRUE, sizeof (gboolean), g->rcpts->len);
	for (guint i = 0; i < g->rcpts->len; i++) {
		QueueRcpt *r = g_ptr_array_index (g->rcpts, i);
		QueueOutcome outcome = queue_rcpt_outcome (q, g, r);
		gboolean notify = outcome == OUTCOME_DEFERRED && !r->delay_notified && q->delay_warning > 0 &&
				  now - g->created >= q->delay_warning &&
				  queue_wants_notice (g, r, EP_QUEUE_NOTIFY_DELAY);

		if (outcome == OUTCOME_FAILED && r->code < 500) {
			/* gave up on a temporary failure: the DSN says why */
			g_autofree char *why = g_strdup_printf ("delivery time expired; last: %s",
								r->reply != NULL ? r->reply : "no answer");
			queue_rcpt_set (r, 554, "5.4.7", why, r->remote_host);
		}
		g_array_append_val (op->outcomes, outcome);
		g_array_append_val (op->notified, notify);
	}
	record_next (op);
}

/* ---- delivery ------------------------------------------------------------ */

typedef struct {
	Queue *queue;
	QueueGroup *group;
	QueueRoute *route;
	EpOutboundTlsPolicyCtx policy;
	guint hop;
	guint address;
	gboolean clear_retry; /* opportunistic TLS failed: this address again in clear */
	EpSmtpClient *client;
	char *client_key;
	char *last_reason;
	guint last_code;
	char *last_status;
	char *last_host;
} DeliverOp;

static void
deliver_op_free (DeliverOp *op)
{
	if (op->route != NULL)
		queue_route_free (op->route);
	g_clear_pointer (&op->policy.mx_patterns, g_ptr_array_unref);
	g_clear_object (&op->client);
	g_free (op->client_key);
	g_free (op->last_reason);
	g_free (op->last_status);
	g_free (op->last_host);
	g_free (op);
}

static void
deliver_end (DeliverOp *op)
{
	Queue *q = op->queue;
	QueueGroup *g = g_steal_pointer (&op->group);
	guint *count = g_hash_table_lookup (q->domain_active, g->domain);

	if (count != NULL && --(*count) == 0)
		g_hash_table_remove (q->domain_active, g->domain);
	deliver_op_free (op);
	queue_group_record (q, g);
}

/* no server took the transaction: every recipient gets the last reason */
static void
deliver_give_up (DeliverOp *op)
{
	if (op->last_reason == NULL)
		op->last_reason = g_strdup ("no server could be reached");
	queue_group_set_all (op->group, op->last_code != 0 ? op->last_code : 451,
			     op->last_status != NULL ? op->last_status : "4.4.1", op->last_reason, op->last_host);
	deliver_end (op);
}

static void
deliver_note (DeliverOp *op, guint code, const char *status, const char *host, const char *format, ...)
    G_GNUC_PRINTF (5, 6);

static void
deliver_note (DeliverOp *op, guint code, const char *status, const char *host, const char *format, ...)
{
	va_list ap;

	g_free (op->last_reason);
	g_free (op->last_status);
	g_free (op->last_host);
	va_start (ap, format);
	op->last_reason = g_strdup_vprintf (format, ap);
	va_end (ap);
	op->last_code = code;
	op->last_status = g_strdup (status);
	op->last_host = g_strdup (host);
}

static void deliver_try_next (DeliverOp *op);

static char *
queue_client_key (QueueHop *hop, GInetAddress *address, guint port)
{
	g_autofree char *ip = g_inet_address_to_string (address);
	return g_strdup_printf ("%s|%u|%d|%s", ip, port, (int)hop->tls, hop->username != NULL ? hop->username : "");
}

static void
queue_idle_free (QueueIdle *idle)
{
	if (idle->client != NULL) {
		ep_smtp_client_quit (idle->client);
		g_object_unref (idle->client);
	}
	g_free (idle->key);
	g_free (idle);
}

static EpSmtpClient *
queue_idle_take (Queue *q, const char *key)
{
	for (guint i = 0; i < q->idle->len; i++) {
		QueueIdle *idle = g_ptr_array_index (q->idle, i);
		if (strcmp (idle->key, key) == 0) {
			EpSmtpClient *client = g_steal_pointer (&idle->client);
			g_ptr_array_remove_index (q->idle, i);
			if (ep_smtp_client_is_usable (client))
				return client;
			g_object_unref (client);
			return NULL;
		}
	}
	return NULL;
}

static void
queue_idle_put (Queue *q, const char *key, EpSmtpClient *client)
{
	QueueIdle *idle;

	if (!ep_smtp_client_is_usable (client) || q->idle->len >= q->max_connections) {
		ep_smtp_client_quit (client);
		return;
	}
	idle = g_new0 (QueueIdle, 1);
	idle->key = g_strdup (key);
	idle->client = g_object_ref (client);
	idle->since = g_get_monotonic_time ();
	g_ptr_array_add (q->idle, idle);
}

static void
deliver_on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DeliverOp *op = user_data;
	EpSmtpClient *client = EP_SMTP_CLIENT (source);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpSmtpSendResult) sent = ep_smtp_client_send_finish (client, result, &error);
	QueueGroup *g = op->group;
	QueueHop *hop = g_ptr_array_index (op->route->hops, op->hop);

	if (sent == NULL) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			deliver_note (op, 451, "4.3.2", NULL, "delivery interrupted: the server is stopping");
			deliver_give_up (op);
			return;
		}
		/* the outcome is unknown for everyone: try again later */
		deliver_note (op, 451, "4.4.2", hop->name, "lost connection with %s: %s", hop->name, error->message);
		g_clear_object (&op->client);
		deliver_give_up (op);
		return;
	}
	for (guint i = 0; i < g->rcpts->len; i++) {
		const EpSmtpReply *reply = ep_smtp_send_result_get_outcome (sent, i);
		QueueRcpt *r = g_ptr_array_index (g->rcpts, i);

		if (reply != NULL) {
			queue_rcpt_set_reply (r, reply, hop->name);
		} else {
			queue_rcpt_set (r, 451, "4.4.2", "no final reply", hop->name);
		}
	}
	queue_idle_put (op->queue, op->client_key, client);
	g_clear_object (&op->client);
	deliver_end (op);
}

static void
deliver_send (DeliverOp *op)
{
	QueueGroup *g = op->group;
	g_autoptr (GPtrArray) rcpts = g_ptr_array_new ();

	for (guint i = 0; i < g->rcpts->len; i++)
		g_ptr_array_add (rcpts, ((QueueRcpt *)g_ptr_array_index (g->rcpts, i))->address);
	g_ptr_array_add (rcpts, NULL);
	ep_smtp_client_send_async (op->client, g->sender, (const char *const *)rcpts->pdata, g->message, g->body_8bit,
				   g->smtputf8, op->queue->cancellable, deliver_on_sent, op);
}

static void
deliver_on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DeliverOp *op = user_data;
	EpSmtpClient *client = EP_SMTP_CLIENT (source);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpSmtpReply) reply = NULL;
	QueueHop *hop = g_ptr_array_index (op->route->hops, op->hop);

	if (!ep_smtp_client_connect_finish (client, result, &reply, &error)) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			deliver_note (op, 451, "4.3.2", NULL, "delivery interrupted: the server is stopping");
			deliver_give_up (op);
			return;
		}
		if (reply != NULL) {
			g_autofree char *text = ep_smtp_reply_to_string (reply);
			deliver_note (op, reply->code, queue_reply_status (reply), hop->name, "%s said: %s", hop->name,
				      text);
		} else {
			deliver_note (op, 451, "4.4.1", hop->name, "connection to %s failed: %s", hop->name,
				      error->message);
		}
		ep_log_info (QUEUE_MODULE, op->group->queue_id, "%s", op->last_reason);
		/* RFC 7435: opportunistic TLS that fails is retried in clear */
		op->clear_retry = !op->clear_retry && hop->tls == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC &&
				  ep_smtp_client_get_tls_failed (client);
		g_clear_object (&op->client);
		if (!op->clear_retry)
			op->address++;
		deliver_try_next (op);
		return;
	}
	deliver_send (op);
}

static void
deliver_try_next (DeliverOp *op)
{
	Queue *q = op->queue;

	while (op->hop < op->route->hops->len) {
		QueueHop *hop = g_ptr_array_index (op->route->hops, op->hop);
		GInetAddress *address;
		guint port;
		g_autoptr (GSocketAddress) sockaddr = NULL;
		EpSmtpClientTls tls;

		if (op->address >= hop->addresses->len) {
			op->hop++;
			op->address = 0;
			continue;
		}
		address = g_ptr_array_index (hop->addresses, op->address);
		port = hop->port != 0 ? hop->port : q->router.smtp_port;
		g_free (op->client_key);
		op->client_key = queue_client_key (hop, address, port);
		if (!op->clear_retry) {
			op->client = queue_idle_take (q, op->client_key);
			if (op->client != NULL) {
				ep_log_debug (QUEUE_MODULE, op->group->queue_id, "reusing the connection to %s",
					      hop->name);
				deliver_send (op);
				return;
			}
		}
		tls = op->clear_retry ? EP_SMTP_CLIENT_TLS_NONE : hop->tls;
		if (!op->clear_retry && hop->tls == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC) {
			/* what MTA-STS or DANE say for this domain */
			switch (op->policy.policy) {
			case EP_TLS_POLICY_NONE:
				tls = EP_SMTP_CLIENT_TLS_NONE;
				break;
			case EP_TLS_POLICY_MTA_STS_ENFORCE:
				tls = EP_SMTP_CLIENT_TLS_VERIFY;
				break;
			case EP_TLS_POLICY_DANE:
				/* no DANE verifier in this build: fail closed */
				deliver_note (op, 451, "4.7.5", hop->name,
					      "DANE is required for %s but cannot be verified here", op->group->domain);
				deliver_give_up (op);
				return;
			case EP_TLS_POLICY_OPPORTUNISTIC:
			default:
				break;
			}
		}
		op->client = ep_smtp_client_new (q->hostname);
		ep_smtp_client_set_tls (op->client, tls, hop->verify_name != NULL ? hop->verify_name : hop->name,
					hop->ca_file);
		if (hop->username != NULL)
			ep_smtp_client_set_auth (op->client, hop->username, hop->password != NULL ? hop->password : "");
		ep_smtp_client_set_timeouts (op->client, q->connect_timeout, q->command_timeout, q->command_timeout * 2);
		sockaddr = g_inet_socket_address_new (address, (guint16)port);
		ep_smtp_client_connect_async (op->client, G_INET_SOCKET_ADDRESS (sockaddr), q->cancellable,
					      deliver_on_connected, op);
		return;
	}
	deliver_give_up (op);
}

static void
deliver_on_policy (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DeliverOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) res = ep_hook_outbound_tls_policy_run_finish (EP_HOOK_BUS (source), result, &error);

	if (res == NULL || res->verdict->kind == EP_VERDICT_TEMPFAIL || res->verdict->kind == EP_VERDICT_REJECT) {
		deliver_note (op, 451, "4.7.5", NULL, "no TLS policy for %s: %s", op->group->domain,
			      error != NULL ? error->message : "a policy module refused");
		deliver_give_up (op);
		return;
	}
	deliver_try_next (op);
}

static void
deliver_on_route (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DeliverOp *op = user_data;
	Queue *q = op->queue;

	op->route = queue_route_finish (result);
	if (op->route == NULL) {
		deliver_note (op, 451, "4.3.2", NULL, "delivery interrupted: the server is stopping");
		deliver_give_up (op);
		return;
	}
	if (op->route->hops->len == 0) {
		queue_group_set_all (op->group, op->route->code, op->route->status, op->route->reason, NULL);
		deliver_end (op);
		return;
	}
	op->policy.domain = op->group->domain;
	op->policy.policy = EP_TLS_POLICY_OPPORTUNISTIC;
	op->policy.mx_patterns = g_ptr_array_new_with_free_func (g_free);
	ep_hook_outbound_tls_policy_run_async (ep_context_get_hook_bus (q->ctx), &op->policy, 0, q->cancellable,
					       deliver_on_policy, op);
}

static void
deliver_on_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DeliverOp *op = user_data;
	Queue *q = op->queue;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);
	gsize len;
	const guint8 *data;

	if (res == NULL || ep_db_result_get_n_rows (res) == 0) {
		/* deleted meanwhile (mail queue delete), or no database */
		if (res == NULL)
			ep_log_warning (QUEUE_MODULE, op->group->queue_id, "cannot load: %s", error->message);
		deliver_note (op, 451, "4.3.0", NULL, "the message could not be loaded");
		deliver_give_up (op);
		return;
	}
	op->group->message = ep_db_result_get_bytes (res, 0, 0);
	data = g_bytes_get_data (op->group->message, &len);
	if (queue_count_received (data, len) > q->max_received) {
		queue_group_set_all (op->group, 554, "5.4.6", "too many Received: fields: a mail loop", NULL);
		deliver_end (op);
		return;
	}
	queue_route_async (&q->router, op->group->domain, q->cancellable, deliver_on_route, op);
}

static void
queue_group_start (Queue *q, QueueGroup *g)
{
	DeliverOp *op = g_new0 (DeliverOp, 1);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	guint *count = g_hash_table_lookup (q->domain_active, g->domain);

	if (count == NULL) {
		count = g_new0 (guint, 1);
		g_hash_table_insert (q->domain_active, g_strdup (g->domain), count);
	}
	(*count)++;
	q->in_flight++;
	op->queue = q;
	op->group = g;
	ep_db_params_add_int64 (params, g->message_id);
	ep_db_params_set_binary_results (params, TRUE);
	ep_db_query_async (q->db, "SELECT message FROM queue_messages WHERE id = $1::bigint", params, q->cancellable,
			   deliver_on_loaded, op);
}

/* start what the limits allow, oldest first */
static void
queue_dispatch (Queue *q)
{
	GList *l = q->waiting.head;

	while (l != NULL && q->in_flight < q->max_connections) {
		GList *next = l->next;
		QueueGroup *g = l->data;
		guint *count = g_hash_table_lookup (q->domain_active, g->domain);

		if (count == NULL || *count < q->max_per_domain) {
			g_queue_delete_link (&q->waiting, l);
			queue_group_start (q, g);
		}
		l = next;
	}
}

/* ---- claiming ------------------------------------------------------------ */

#define QUEUE_SQL_CLAIM                                                                                                \
	"WITH due AS (SELECT r.id FROM queue_recipients r"                                                             \
	" WHERE r.state = 'queued' AND r.next_attempt <= now()"                                                        \
	" ORDER BY r.next_attempt, r.id LIMIT $1::integer FOR UPDATE SKIP LOCKED)"                                     \
	" UPDATE queue_recipients r SET lease_owner = $2, next_attempt = now() + make_interval(secs => $3::integer),"  \
	" attempts = r.attempts + 1, last_attempt = now()"                                                             \
	" FROM due, queue_messages m WHERE r.id = due.id AND m.id = r.message_id"                                      \
	" RETURNING r.id, r.message_id, m.queue_id, m.sender, m.kind, m.header_message_id, m.size, m.body_8bit,"      \
	" m.smtputf8, m.ret_headers_only, m.envid, extract(epoch FROM m.created_at)::bigint, r.domain, r.recipient,"   \
	" r.orcpt, r.notify, r.attempts, r.delay_notified"

/* Whether the queue stopped since @result's operation began: the module
 * may be gone then (its Queue freed with the context), so the callback
 * must not touch it.  The task keeps the cancellable alive. */
static gboolean
queue_result_stopped (GAsyncResult *result)
{
	GCancellable *cancellable = g_task_get_cancellable (G_TASK (result));

	return cancellable != NULL && g_cancellable_is_cancelled (cancellable);
}

static void
queue_on_claimed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Queue *q = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);
	g_autoptr (GHashTable) groups = NULL;
	guint n;

	if (queue_result_stopped (result))
		return;
	q->claiming = FALSE;
	if (res == NULL) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (QUEUE_MODULE, NULL, "cannot claim work: %s", error->message);
		return;
	}
	n = ep_db_result_get_n_rows (res);
	groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < n; i++) {
		g_autofree char *key = g_strdup_printf ("%s|%s", ep_db_result_get_text (res, i, 1),
							ep_db_result_get_text (res, i, 12));
		QueueGroup *g = g_hash_table_lookup (groups, key);
		QueueRcpt *r = g_new0 (QueueRcpt, 1);

		if (g == NULL) {
			g = g_new0 (QueueGroup, 1);
			g->queue = q;
			g->message_id = ep_db_result_get_int64 (res, i, 1);
			g->queue_id = g_strdup (ep_db_result_get_text (res, i, 2));
			g->sender = g_strdup (ep_db_result_get_text (res, i, 3));
			g->kind = g_strdup (ep_db_result_get_text (res, i, 4));
			g->header_message_id = ep_db_result_is_null (res, i, 5)
						   ? NULL
						   : g_strdup (ep_db_result_get_text (res, i, 5));
			g->size = ep_db_result_get_int64 (res, i, 6);
			g->body_8bit = ep_db_result_get_boolean (res, i, 7);
			g->smtputf8 = ep_db_result_get_boolean (res, i, 8);
			g->ret_headers_only = ep_db_result_get_boolean (res, i, 9);
			g->envid = ep_db_result_is_null (res, i, 10) ? NULL : g_strdup (ep_db_result_get_text (res, i, 10));
			g->created = ep_db_result_get_int64 (res, i, 11);
			g->domain = g_strdup (ep_db_result_get_text (res, i, 12));
			g->rcpts = g_ptr_array_new_with_free_func ((GDestroyNotify)queue_rcpt_free);
			g_hash_table_insert (groups, g_steal_pointer (&key), g);
			g_queue_push_tail (&q->waiting, g);
		}
		r->id = ep_db_result_get_int64 (res, i, 0);
		r->address = g_strdup (ep_db_result_get_text (res, i, 13));
		r->orcpt = ep_db_result_is_null (res, i, 14) ? NULL : g_strdup (ep_db_result_get_text (res, i, 14));
		r->notify = (guint)ep_db_result_get_int64 (res, i, 15);
		r->attempts = (guint)ep_db_result_get_int64 (res, i, 16);
		r->delay_notified = ep_db_result_get_boolean (res, i, 17);
		g_ptr_array_add (g->rcpts, r);
	}
	if (n > 0)
		ep_log_debug (QUEUE_MODULE, NULL, "claimed %u recipients in %u deliveries", n,
			      g_hash_table_size (groups));
	queue_dispatch (q);
	/* a full batch: there may be more due */
	if (n == QUEUE_CLAIM_BATCH || q->claim_again) {
		q->claim_again = FALSE;
		queue_kick (q);
	}
}

static void
queue_kick (Queue *q)
{
	g_autoptr (EpDbParams) params = NULL;
	guint room;

	if (!q->started || q->db == NULL || g_cancellable_is_cancelled (q->cancellable))
		return;
	if (q->claiming) {
		q->claim_again = TRUE;
		return;
	}
	/* no more than the workers can start soon */
	if (q->in_flight + g_queue_get_length (&q->waiting) >= q->max_connections * 2)
		return;
	room = MIN (QUEUE_CLAIM_BATCH, q->max_connections * 2 - q->in_flight - g_queue_get_length (&q->waiting));
	q->claiming = TRUE;
	params = ep_db_params_new ();
	ep_db_params_add_int64 (params, room);
	ep_db_params_add_text (params, q->node);
	ep_db_params_add_int64 (params, q->lease);
	ep_db_query_async (q->db, QUEUE_SQL_CLAIM, params, q->cancellable, queue_on_claimed, q);
}

static gboolean
queue_on_poll (gpointer user_data)
{
	Queue *q = user_data;
	gint64 now = g_get_monotonic_time ();

	/* idle connections are closed after a while */
	for (guint i = q->idle->len; i > 0; i--) {
		QueueIdle *idle = g_ptr_array_index (q->idle, i - 1);
		if (now - idle->since > QUEUE_IDLE_SECONDS * G_USEC_PER_SEC || !ep_smtp_client_is_usable (idle->client))
			g_ptr_array_remove_index (q->idle, i - 1);
	}
	queue_kick (q);
	return G_SOURCE_CONTINUE;
}

static void
queue_on_notify (EpDb *db, const char *channel, const char *payload, gpointer user_data)
{
	queue_kick (user_data);
}

/* ---- configuration and lifecycle ----------------------------------------- */

static const EpConfigKey queue_keys[] = {
    {"max_age", EP_CONFIG_TYPE_INTEGER, 0, 60, 60 * 86400, NULL, NULL,
     "seconds a message is retried before it bounces (default 432000, 5 days)"},
    {"delay_warning", EP_CONFIG_TYPE_INTEGER, 0, 0, 30 * 86400, NULL, NULL,
     "seconds after which the sender is told once that delivery is delayed (default 14400; 0: never)"},
    {"retry_min", EP_CONFIG_TYPE_INTEGER, 0, 1, 86400, NULL, NULL,
     "seconds before the first retry, doubling each time (default 60)"},
    {"retry_max", EP_CONFIG_TYPE_INTEGER, 0, 1, 86400, NULL, NULL, "the longest wait between retries (default 3600)"},
    {"max_connections", EP_CONFIG_TYPE_INTEGER, 0, 1, 10000, NULL, NULL,
     "deliveries in progress at once in this process (default 20)"},
    {"max_per_domain", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000, NULL, NULL,
     "deliveries in progress at once to one domain (default 4)"},
    {"lease", EP_CONFIG_TYPE_INTEGER, 0, 60, 86400, NULL, NULL,
     "seconds a worker holds the recipients it delivers; a worker that dies leaves them for others after it "
     "(default 1800)"},
    {"poll_interval", EP_CONFIG_TYPE_INTEGER, 0, 1, 3600, NULL, NULL,
     "seconds between looks for due work besides wake-ups (default 10)"},
    {"node", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 1, 255, NULL, NULL,
     "this worker's name in the queue; unique per process sharing a database (default host name and data_dir)"},
    {"max_received", EP_CONFIG_TYPE_INTEGER, 0, 5, 1000, NULL, NULL,
     "Received: fields above which a message is a loop (default 50)"},
    {"dsn_max_original", EP_CONFIG_TYPE_INTEGER, 0, 0, 100 * 1024 * 1024, NULL, NULL,
     "largest message returned whole in a bounce; larger ones return their headers (default 1048576)"},
    {"smtp_port", EP_CONFIG_TYPE_INTEGER, 0, 1, 65535, NULL, NULL, "port of the MX servers (default 25; tests only)"},
    {"connect_timeout", EP_CONFIG_TYPE_INTEGER, 0, 1, 600, NULL, NULL, "seconds to connect (default 30)"},
    {"command_timeout", EP_CONFIG_TYPE_INTEGER, 0, 1, 3600, NULL, NULL,
     "seconds to wait for a reply (default 300; the end of DATA waits twice that)"},
    {NULL}};

static void
queue_transport_free (QueueTransport *t)
{
	g_free (t->domain);
	g_free (t->host);
	g_free (t->ca_file);
	g_free (t->username);
	if (t->password != NULL)
		memset (t->password, 0, strlen (t->password));
	g_free (t->password);
	g_free (t);
}

static GPtrArray *
queue_read_transports (EpConfig *config, GError **error)
{
	g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify)queue_transport_free);
	EpTomlValue *array = ep_toml_value_table_lookup (ep_config_get_root (config), "transport");

	for (guint i = 0; array != NULL && i < ep_toml_value_array_length (array); i++) {
		EpTomlValue *item = ep_toml_value_array_index (array, i);
		QueueTransport *t = g_new0 (QueueTransport, 1);

		t->domain = g_ascii_strdown (ep_config_section_get_string (item, "domain", "*"), -1);
		t->host = g_strdup (ep_config_section_get_string (item, "host", ""));
		t->port = (guint)ep_config_section_get_integer (item, "port", 25);
		t->starttls = ep_config_section_get_boolean (item, "starttls", FALSE);
		t->ca_file = g_strdup (ep_config_section_get_string (item, "ca_file", NULL));
		t->username = g_strdup (ep_config_section_get_string (item, "username", NULL));
		t->password = g_strdup (ep_config_section_get_string (item, "password", NULL));
		g_ptr_array_add (list, t);
		if (t->username != NULL && !t->starttls && t->port != 465) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: transport[%u]: starttls = true is required with username (AUTH is never "
				     "sent in clear text)",
				     ep_toml_value_get_filename (item), ep_toml_value_get_line (item), i + 1);
			return NULL;
		}
		if ((t->username == NULL) != (t->password == NULL)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: transport[%u]: username and password must be given together",
				     ep_toml_value_get_filename (item), ep_toml_value_get_line (item), i + 1);
			return NULL;
		}
		for (guint j = 0; j + 1 < list->len; j++) {
			if (strcmp (((QueueTransport *)g_ptr_array_index (list, j))->domain, t->domain) == 0) {
				g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
					     "%s:%u: transport[%u]: a transport for '%s' is already defined",
					     ep_toml_value_get_filename (item), ep_toml_value_get_line (item), i + 1,
					     t->domain);
				return NULL;
			}
		}
	}
	return g_steal_pointer (&list);
}

static gboolean
queue_read_config (Queue *q, EpContext *ctx, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	EpConfig *config = ep_context_get_config (ctx);
	g_autoptr (GPtrArray) transports = queue_read_transports (config, error);
	g_autofree char *host = NULL;

	if (transports == NULL)
		return FALSE;
	q->max_age = ep_config_section_get_integer (section, "max_age", 5 * 86400);
	q->delay_warning = ep_config_section_get_integer (section, "delay_warning", 4 * 3600);
	q->retry_min = ep_config_section_get_integer (section, "retry_min", 60);
	q->retry_max = ep_config_section_get_integer (section, "retry_max", 3600);
	q->max_connections = (guint)ep_config_section_get_integer (section, "max_connections", 20);
	q->max_per_domain = (guint)ep_config_section_get_integer (section, "max_per_domain", 4);
	q->lease = (guint)ep_config_section_get_integer (section, "lease", 1800);
	q->poll_interval = (guint)ep_config_section_get_integer (section, "poll_interval", 10);
	q->max_received = (guint)ep_config_section_get_integer (section, "max_received", 50);
	q->dsn_max_original = (gsize)ep_config_section_get_integer (section, "dsn_max_original", 1024 * 1024);
	q->router.smtp_port = (guint)ep_config_section_get_integer (section, "smtp_port", 25);
	q->connect_timeout = (guint)ep_config_section_get_integer (section, "connect_timeout", 30);
	q->command_timeout = (guint)ep_config_section_get_integer (section, "command_timeout", 300);
	if (q->retry_max < q->retry_min) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "[queue] retry_max (%" G_GINT64_FORMAT
			     ") is smaller than retry_min (%" G_GINT64_FORMAT ")", q->retry_max, q->retry_min);
		return FALSE;
	}
	/* a delivery must end well before its lease does */
	if ((gint64)q->lease < (gint64)q->connect_timeout * 10 + (gint64)q->command_timeout * 4) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "[queue] lease (%u s) is too short for connect_timeout and command_timeout "
			     "(at least %u s)",
			     q->lease, q->connect_timeout * 10 + q->command_timeout * 4);
		return FALSE;
	}
	g_free (q->hostname);
	q->hostname = g_strdup (ep_config_get_hostname (config));
	host = g_strdup (g_get_host_name ());
	g_free (q->node);
	q->node = g_strdup (ep_config_section_get_string (section, "node", NULL));
	if (q->node == NULL)
		q->node = g_strdup_printf ("%s:%s", host, ep_config_get_data_dir (config));
	g_clear_pointer (&q->router.transports, g_ptr_array_unref);
	q->router.transports = g_steal_pointer (&transports);
	return TRUE;
}

static void
queue_free (Queue *q)
{
	g_cancellable_cancel (q->cancellable);
	g_clear_handle_id (&q->poll_source, g_source_remove);
	if (q->listen_id != 0 && q->db != NULL)
		ep_db_unlisten (q->db, q->listen_id);
	g_clear_pointer (&q->idle, g_ptr_array_unref);
	g_queue_clear_full (&q->waiting, (GDestroyNotify)queue_group_free);
	g_clear_pointer (&q->domain_active, g_hash_table_unref);
	g_clear_pointer (&q->router.transports, g_ptr_array_unref);
	g_clear_object (&q->router.resolver);
	g_clear_object (&q->service);
	g_clear_object (&q->cancellable);
	g_free (q->node);
	g_free (q->hostname);
	g_free (q);
}

static gboolean
queue_init (EpContext *ctx, GError **error)
{
	Queue *q = g_new0 (Queue, 1);
	QueueService *service;

	ep_context_set_data (ctx, q, (GDestroyNotify)queue_free);
	q->ctx = ctx;
	q->cancellable = g_cancellable_new ();
	q->idle = g_ptr_array_new_with_free_func ((GDestroyNotify)queue_idle_free);
	q->domain_active = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	g_queue_init (&q->waiting);
	if (!queue_read_config (q, ctx, error))
		return FALSE;
	service = g_object_new (QUEUE_TYPE_SERVICE, NULL);
	service->queue = q;
	q->service = G_OBJECT (service);
	return ep_service_registry_register (ep_context_get_services (ctx), EP_TYPE_QUEUE, q->service, QUEUE_MODULE,
					     error);
}

static void
queue_on_released (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Queue *q = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_query_finish (EP_DB (source), result, &error);

	if (queue_result_stopped (result))
		return;
	if (res == NULL) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (QUEUE_MODULE, NULL, "cannot take back this node's leases: %s", error->message);
	} else if (ep_db_result_get_affected_rows (res) > 0) {
		ep_log_info (QUEUE_MODULE, NULL, "%" G_GUINT64_FORMAT " recipients left by an earlier run are due again",
			     ep_db_result_get_affected_rows (res));
	}
	q->started = TRUE;
	queue_kick (q);
}

static gboolean
queue_start (EpContext *ctx, GError **error)
{
	Queue *q = ep_context_get_data (ctx);
	g_autoptr (EpDbParams) params = NULL;

	q->db = ep_context_get_db (ctx);
	if (q->db == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "no database for the queue");
		return FALSE;
	}
	if (!ep_context_is_serving (ctx)) {
		/* a data command of the CLI: it may queue (no), never deliver */
		return TRUE;
	}
	q->router.resolver = ep_context_get_resolver (ctx);
	if (q->router.resolver == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "no DNS resolver for the queue");
		return FALSE;
	}
	g_object_ref (q->router.resolver);
	q->listen_id = ep_db_listen (q->db, QUEUE_CHANNEL, queue_on_notify, q, NULL);
	q->poll_source = g_timeout_add_seconds (q->poll_interval, queue_on_poll, q);
	/* this node was restarted: what its previous run held is due again */
	params = ep_db_params_new ();
	ep_db_params_add_text (params, q->node);
	ep_db_query_async (q->db,
			   "UPDATE queue_recipients SET lease_owner = NULL, next_attempt = now()"
			   " WHERE lease_owner = $1 AND state = 'queued'",
			   params, q->cancellable, queue_on_released, q);
	return TRUE;
}

static gboolean
queue_reload (EpContext *ctx, GError **error)
{
	Queue *q = ep_context_get_data (ctx);
	g_autofree char *node = g_strdup (q->node);

	if (!queue_read_config (q, ctx, error))
		return FALSE;
	if (g_strcmp0 (node, q->node) != 0) {
		ep_log_warning (QUEUE_MODULE, NULL, "[queue] node changes at the next restart");
		g_free (q->node);
		q->node = g_steal_pointer (&node);
	}
	if (q->poll_source != 0) {
		g_source_remove (q->poll_source);
		q->poll_source = g_timeout_add_seconds (q->poll_interval, queue_on_poll, q);
	}
	return TRUE;
}

static void
queue_shutdown (EpContext *ctx)
{
	Queue *q = ep_context_get_data (ctx);

	if (q != NULL)
		g_cancellable_cancel (q->cancellable);
}

EP_MODULE_DEFINE (.name = QUEUE_MODULE, .version = PACKAGE_VERSION,
		  .description = "Outbound delivery: the queue in PostgreSQL, MX routing, SMTP client, retries and DSNs",
		  .config_schema = queue_keys, .provides = EP_STRV ("service:queue"),
		  .run_after = EP_STRV ("store-pg"), .init = queue_init, .reload = queue_reload,
		  .shutdown = queue_shutdown, .start = queue_start, );
