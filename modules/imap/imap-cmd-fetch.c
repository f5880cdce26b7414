/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"

/* ---- sequence sets -------------------------------------------------------------------------- */

/* The UIDs of the view that @text names (sequence numbers or, for UID
 * commands, UIDs), ascending; %NULL with a BAD sent. */
GArray *
imap_session_resolve_set (ImapSession *self, const ImapArg *arg)
{
	const char *text = imap_arg_get_atom (arg);
	gboolean saved = FALSE;
	g_autoptr (GArray) set = text != NULL ? imap_seqset_parse (text, &saved) : NULL;
	GArray *uids = self->mbox->uids;
	g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (guint32));

	if (saved) {
		/* "$": the saved result (RFC 5182), UIDs, those still in the view */
		for (guint i = 0; self->saved != NULL && i < self->saved->len; i++) {
			guint32 u = g_array_index (self->saved, guint32, i);
			if (imap_uids_contain (uids, u))
				g_array_append_val (out, u);
		}
		return g_steal_pointer (&out);
	}
	if (set == NULL) {
		imap_session_bad (self, "Invalid sequence set");
		return NULL;
	}
	if (self->uid) {
		guint32 star = uids->len > 0 ? g_array_index (uids, guint32, uids->len - 1) : 0;
		for (guint i = 0; i < uids->len; i++) {
			guint32 u = g_array_index (uids, guint32, i);
			if (imap_seqset_contains (set, u, star))
				g_array_append_val (out, u);
		}
		/* "n:*" with every UID below n still names the last message */
		if (out->len == 0 && uids->len > 0) {
			for (guint i = 0; i < set->len; i++) {
				ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
				if (r.last == IMAP_SEQ_STAR) {
					g_array_append_val (out, star);
					break;
				}
			}
		}
		return g_steal_pointer (&out);
	}
	for (guint i = 0; i < set->len; i++) {
		ImapSeqRange r = g_array_index (set, ImapSeqRange, i);
		if ((r.first != IMAP_SEQ_STAR && r.first > uids->len) ||
		    (r.last != IMAP_SEQ_STAR && r.last > uids->len) || uids->len == 0) {
			imap_session_bad (self, "Invalid message sequence number");
			return NULL;
		}
	}
	for (guint i = 0; i < uids->len; i++)
		if (imap_seqset_contains (set, i + 1, uids->len))
			g_array_append_val (out, g_array_index (uids, guint32, i));
	return g_steal_pointer (&out);
}

/* ---- FETCH ---------------------------------------------------------------------------------- */

/* message data is read ahead in batches of at most this many messages and
 * (but always one) this many octets of RFC822.SIZE together; a larger
 * message is read alone */
#define IMAP_FETCH_BATCH_MESSAGES 64
#define IMAP_FETCH_BATCH_BYTES	  (1024 * 1024)

struct _ImapFetchOp {
	ImapSession *self; /* owned */
	ImapFetchItems items;
	GArray *uids;	      /* requested, in the view, ascending */
	GHashTable *messages; /* uid → EpStoreMessage */
	guint next;	      /* index into uids */
	gboolean draining;    /* waiting for the client to read */
	ImapFetchModifiers mods;
	GArray *vanished_set; /* (nullable): UID FETCH's set, for VANISHED */
	gboolean with_modseq; /* MODSEQ (and UID) in every response */
	GArray *newly_seen;   /* UIDs this FETCH set \Seen on, ascending */
	GArray *failed;	      /* UIDs a BINARY part of which could not be decoded: NO [UNKNOWN-CTE] */
	GHashTable *prefetch; /* uid → EpStoreMessageData: read ahead, dropped as written */
	guint prefetch_end;   /* the uids before this index were asked for: absent from prefetch, gone */
};

void
imap_fetch_op_free (ImapFetchOp *op)
{
	if (op->self->fetch == op)
		op->self->fetch = NULL;
	imap_fetch_items_clear (&op->items);
	g_clear_pointer (&op->vanished_set, g_array_unref);
	g_array_unref (op->uids);
	g_array_unref (op->newly_seen);
	g_array_unref (op->failed);
	g_hash_table_unref (op->messages);
	g_hash_table_unref (op->prefetch);
	g_object_unref (op->self);
	g_free (op);
}

static void imap_fetch_next (ImapFetchOp *op);

static void
imap_fetch_finish (ImapFetchOp *op)
{
	ImapSession *self = op->self;

	self->fetch = NULL;
	if (!self->closing) {
		ep_connection_set_drain_func (self->conn, 0, NULL, NULL);
		if (op->failed->len > 0)
			imap_session_tagged (self, "NO", "UNKNOWN-CTE",
					     "Cannot decode the content-transfer-encoding of a part");
		else
			imap_session_tagged (self, "OK", NULL, self->uid ? "UID FETCH completed" : "FETCH completed");
		imap_session_done (self);
	}
	imap_fetch_op_free (op);
}

static void
imap_fetch_on_unseen (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) changes = ep_store_store_flags_finish (EP_STORE (source), res, &error);

	if (changes == NULL && !op->self->closing)
		ep_log_warning (IMAP_MODULE, op->self->id, "FETCH could not take \\Seen back: %s", error->message);
	imap_fetch_finish (op);
}

/* The messages that got no answer (UNKNOWN-CTE) were not read: the \Seen
 * this FETCH set on them is taken back before the tagged NO. */
static void
imap_fetch_complete (ImapFetchOp *op)
{
	ImapSession *self = op->self;
	g_autoptr (GArray) unseen = g_array_new (FALSE, FALSE, sizeof (guint32));

	for (guint i = 0; i < op->failed->len; i++)
		if (imap_uids_contain (op->newly_seen, g_array_index (op->failed, guint32, i)))
			g_array_append_val (unseen, g_array_index (op->failed, guint32, i));
	if (unseen->len > 0 && !self->closing) {
		ep_store_store_flags_async (self->server->store, self->account, self->mbox->name,
					    (const guint32 *)unseen->data, unseen->len, EP_STORE_FLAGS_REMOVE,
					    EP_STORE_FLAG_SEEN, NULL, 0, self->cancellable, imap_fetch_on_unseen, op);
		return;
	}
	imap_fetch_finish (op);
}

static void
imap_fetch_append_literal (GString *line, GBytes *b, gboolean binary)
{
	gsize n = 0;
	const char *d = b != NULL ? g_bytes_get_data (b, &n) : NULL;

	if (b == NULL) {
		g_string_append (line, "NIL");
		return;
	}
	/* decoded BINARY data with NUL goes as literal8 (RFC 3516 §4.3) */
	g_string_append_printf (line, "%s{%" G_GSIZE_FORMAT "}\r\n",
				binary && n > 0 && memchr (d, '\0', n) != NULL ? "~" : "", n);
	g_string_append_len (line, d, (gssize)n);
}

static void
imap_fetch_append_object_id (GString *line, const char *name, const char *id)
{
	if (id != NULL && *id != '\0')
		g_string_append_printf (line, "%s (%s)", name, id);
	else
		g_string_append_printf (line, "%s NIL", name);
}

/* writes the FETCH response of one message; @data and @mime nullable */
static void
imap_fetch_write (ImapFetchOp *op, const EpStoreMessage *m, GBytes *data, EpMimeMessage *mime)
{
	ImapSession *self = op->self;
	ImapFetchItems *it = &op->items;
	guint seq = imap_mailbox_seq (self->mbox, m->uid);
	g_autoptr (GString) line = g_string_new (NULL);
	gboolean first = TRUE;

#define SEP() (first ? (first = FALSE, (void)0) : (void)g_string_append_c (line, ' '))
	g_string_append_printf (line, "* %u FETCH (", seq);
	if (it->uid || self->uid || op->with_modseq) {
		SEP ();
		g_string_append_printf (line, "UID %u", m->uid);
	}
	if (it->modseq || op->with_modseq) {
		SEP ();
		g_string_append_printf (line, "MODSEQ (%" G_GUINT64_FORMAT ")", m->modseq);
	}
	if (it->flags || (it->set_seen && !self->mbox->read_only)) {
		SEP ();
		imap_session_append_fetch_flags (self, line, m);
	}
	if (it->size) {
		SEP ();
		g_string_append_printf (line, "RFC822.SIZE %" G_GUINT64_FORMAT, m->size);
	}
	if (it->internaldate) {
		g_autofree char *d = imap_format_date_time (m->internal_date);
		SEP ();
		g_string_append_printf (line, "INTERNALDATE \"%s\"", d);
	}
	if (it->envelope && mime != NULL) {
		g_autofree char *env =
		    ep_mime_envelope_to_imap (ep_mime_part_get_envelope (ep_mime_message_get_root (mime)));
		SEP ();
		g_string_append_printf (line, "ENVELOPE %s", env);
	}
	if (it->bodystructure && mime != NULL) {
		g_autofree char *bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (mime), TRUE);
		SEP ();
		g_string_append_printf (line, "BODYSTRUCTURE %s", bs);
	}
	if (it->body && mime != NULL) {
		g_autofree char *bs = ep_mime_part_bodystructure_to_imap (ep_mime_message_get_root (mime), FALSE);
		SEP ();
		g_string_append_printf (line, "BODY %s", bs);
	}
	if (it->emailid) {
		SEP ();
		imap_fetch_append_object_id (line, "EMAILID", m->email_id);
	}
	if (it->threadid) {
		SEP ();
		imap_fetch_append_object_id (line, "THREADID", m->thread_id);
	}
	for (guint i = 0; data != NULL && i < it->bodies->len; i++) {
		const ImapBodyItem *b = g_ptr_array_index (it->bodies, i);
		g_autoptr (GBytes) octets = NULL;

		if (b->binary || b->binary_size) {
			guint64 size = 0;
			ImapFetchBinaryStatus st = imap_fetch_binary (b, data, mime, b->binary ? &octets : NULL,
								      b->binary_size ? &size : NULL);
			if (st == IMAP_FETCH_BINARY_UNKNOWN_CTE) {
				/* the message gets no answer; the command fails */
				g_array_append_val (op->failed, m->uid);
				return;
			}
			SEP ();
			if (b->binary_size) {
				g_string_append_printf (line, "%s %" G_GUINT64_FORMAT, b->response_name, size);
			} else {
				g_string_append_printf (line, "%s ", b->response_name);
				imap_fetch_append_literal (line, octets, TRUE);
			}
			continue;
		}
		octets = imap_fetch_body (b, data, mime);
		SEP ();
		g_string_append_printf (line, "%s ", b->response_name);
		imap_fetch_append_literal (line, octets, FALSE);
	}
#undef SEP
	g_string_append (line, ")\r\n");
	ep_connection_write (self->conn, line->str, line->len);
}

static void
imap_fetch_on_drained (EpConnection *conn, gpointer user_data)
{
	ImapFetchOp *op = user_data;

	ep_connection_set_drain_func (conn, 0, NULL, NULL);
	op->draining = FALSE;
	imap_fetch_next (op);
}

static void
imap_fetch_parse_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	GBytes *data = task_data;

	g_task_return_pointer (task, ep_mime_message_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data)),
			       (GDestroyNotify)ep_mime_message_unref);
}

static void
imap_fetch_on_parsed (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	ImapSession *self = op->self;
	GBytes *data = g_task_get_task_data (G_TASK (res));
	g_autoptr (EpMimeMessage) mime = g_task_propagate_pointer (G_TASK (res), NULL);
	guint32 uid = g_array_index (op->uids, guint32, op->next - 1);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	/* a saturated pool: parse here rather than fail the FETCH */
	if (mime == NULL)
		mime = ep_mime_message_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data));
	imap_fetch_write (op, m, data, mime);
	imap_fetch_next (op);
}

/* The message at op->next, @data, has no usable tree (stored without one,
 * or unreadable): it is parsed, on the worker pool when it is large.
 * Returns %FALSE in that case, where imap_fetch_on_parsed() goes on;
 * %TRUE when its response was written. */
static gboolean
imap_fetch_parse_message (ImapFetchOp *op, GBytes *data, const char *why)
{
	ImapSession *self = op->self;
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));
	g_autoptr (EpMimeMessage) mime = NULL;

	op->next++;
	ep_log_debug (IMAP_MODULE, self->id, "UID %u parsed for FETCH: %s", uid, why);
	if (g_bytes_get_size (data) > IMAP_PARSE_IN_POOL && ep_context_get_worker_pool (self->server->ctx) != NULL) {
		GTask *task = g_task_new (NULL, NULL, imap_fetch_on_parsed, op);
		g_task_set_task_data (task, g_bytes_ref (data), (GDestroyNotify)g_bytes_unref);
		ep_worker_pool_run (ep_context_get_worker_pool (self->server->ctx), task, imap_fetch_parse_thread);
		g_object_unref (task);
		return FALSE;
	}
	mime = ep_mime_message_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data));
	imap_fetch_write (op, m, data, mime);
	return TRUE;
}

/* the octets of a message whose tree was read without them and is
 * missing: read alone to be parsed */
static void
imap_fetch_on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) data = ep_store_read_message_finish (EP_STORE (source), res, &error);
	guint32 uid = g_array_index (op->uids, guint32, op->next);

	if (op->self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (data == NULL) {
		/* expunged meanwhile: nothing to say of it */
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			ep_log_warning (IMAP_MODULE, op->self->id, "FETCH of UID %u: %s", uid, error->message);
		op->next++;
		imap_fetch_next (op);
		return;
	}
	if (imap_fetch_parse_message (op, data, "no usable stored structure"))
		imap_fetch_next (op);
}

/* What was read of the message at op->next is here (%NULL: not read, with
 * @error, or %NULL for one expunged meanwhile): its response is written
 * with its stored tree.  Without a usable tree the message is parsed (its
 * octets read first when only the tree was).  Returns %FALSE while that
 * goes on (its callback carries on); %TRUE when the response was written. */
static gboolean
imap_fetch_take (ImapFetchOp *op, const EpStoreMessageData *entry, const GError *error)
{
	ImapSession *self = op->self;
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));
	g_autoptr (GError) tree_error = NULL;
	g_autoptr (EpMimeMessage) mime = NULL;
	const char *why = "stored without its structure";

	if (entry == NULL) {
		/* expunged meanwhile: nothing to say of it */
		if (error != NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			ep_log_warning (IMAP_MODULE, self->id, "FETCH of UID %u: %s", uid, error->message);
		op->next++;
		return TRUE;
	}
	if (!op->items.need_mime) {
		op->next++;
		imap_fetch_write (op, m, entry->data, NULL);
		return TRUE;
	}
	if (entry->structure != NULL && g_bytes_get_size (entry->structure) > 0) {
		mime = ep_mime_message_deserialize (entry->structure, &tree_error);
		if (mime == NULL) {
			ep_log_warning (IMAP_MODULE, self->id,
					"UID %u: unreadable stored MIME structure, parsed again: %s", uid,
					tree_error->message);
			why = "its stored structure is unreadable";
		}
	}
	if (mime != NULL) {
		op->next++;
		imap_fetch_write (op, m, entry->data, mime);
		return TRUE;
	}
	if (entry->data == NULL) {
		ep_store_read_message_async (self->server->store, self->account, self->mbox->name, uid,
					     self->cancellable, imap_fetch_on_read, op);
		return FALSE;
	}
	return imap_fetch_parse_message (op, entry->data, why);
}

static void
imap_fetch_on_batch (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GHashTable) found = ep_store_read_messages_full_finish (EP_STORE (source), res, &error);
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	g_autoptr (EpStoreMessageData) entry = NULL;
	GHashTableIter iter;
	gpointer key, value;

	if (op->self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (found == NULL) {
		/* this message fails as its own read would have; the next
		 * ones are asked for again */
		op->prefetch_end = op->next + 1;
		if (imap_fetch_take (op, NULL, error))
			imap_fetch_next (op);
		return;
	}
	g_hash_table_iter_init (&iter, found);
	while (g_hash_table_iter_next (&iter, &key, &value)) {
		g_hash_table_insert (op->prefetch, key, value);
		g_hash_table_iter_steal (&iter);
	}
	g_hash_table_steal_extended (op->prefetch, GUINT_TO_POINTER (uid), NULL, (gpointer *)&entry);
	if (imap_fetch_take (op, entry, NULL))
		imap_fetch_next (op);
}

/* Reads what the items need of the message at op->next, @m — its octets,
 * its stored tree, or both, in one read: from what was read ahead, else
 * together with the next messages of the request (IMAP_FETCH_BATCH_*: the
 * byte limit counts the octets; a larger message is read alone).  Returns
 * %FALSE while a read or a parse goes on (its callback carries on); %TRUE
 * when the response was written. */
static gboolean
imap_fetch_read (ImapFetchOp *op, const EpStoreMessage *m)
{
	ImapSession *self = op->self;
	g_autoptr (EpStoreMessageData) entry = NULL;
	g_autoptr (GArray) batch = NULL;
	EpStoreReadFlags flags = 0;
	guint64 bytes = 0;

	if (g_hash_table_steal_extended (op->prefetch, GUINT_TO_POINTER (m->uid), NULL, (gpointer *)&entry) ||
	    op->next < op->prefetch_end)
		return imap_fetch_take (op, entry, NULL);
	if (op->items.need_data)
		flags |= EP_STORE_READ_DATA;
	if (op->items.need_mime)
		flags |= EP_STORE_READ_STRUCTURE;
	batch = g_array_new (FALSE, FALSE, sizeof (guint32));
	for (guint i = op->next; i < op->uids->len && batch->len < IMAP_FETCH_BATCH_MESSAGES; i++) {
		guint32 uid = g_array_index (op->uids, guint32, i);
		const EpStoreMessage *next = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));

		if (next == NULL)
			continue;
		if (op->items.need_data) {
			if (batch->len > 0 && bytes + next->size > IMAP_FETCH_BATCH_BYTES)
				break;
			bytes += next->size;
		}
		g_array_append_val (batch, uid);
		op->prefetch_end = i + 1;
	}
	ep_store_read_messages_full_async (self->server->store, self->account, self->mbox->name,
					   (const guint32 *)batch->data, batch->len, flags, self->cancellable,
					   imap_fetch_on_batch, op);
	return FALSE;
}

static void
imap_fetch_next (ImapFetchOp *op)
{
	ImapSession *self = op->self;

	while (op->next < op->uids->len) {
		guint32 uid = g_array_index (op->uids, guint32, op->next);
		const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));

		if (self->closing) {
			imap_fetch_op_free (op);
			return;
		}
		if (ep_connection_get_output_queued (self->conn) > IMAP_OUTPUT_HIGH) {
			/* let the client read before more is queued */
			op->draining = TRUE;
			ep_connection_set_drain_func (self->conn, IMAP_OUTPUT_LOW, imap_fetch_on_drained, op);
			return;
		}
		if (m == NULL) {
			op->next++;
			continue;
		}
		/* the octets and the stored tree, as the items need them,
		 * read ahead in batches */
		if (op->items.need_data || op->items.need_mime) {
			if (!imap_fetch_read (op, m))
				return;
			continue;
		}
		imap_fetch_write (op, m, NULL, NULL);
		op->next++;
	}
	imap_fetch_complete (op);
}

static void
imap_fetch_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last_wanted = g_array_index (op->uids, guint32, op->uids->len - 1);
	guint32 last = 0;
	guint n;

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (msgs == NULL) {
		self->fetch = NULL;
		imap_session_store_error (self, error, "FETCH");
		imap_session_done (self);
		imap_fetch_op_free (op);
		return;
	}
	n = msgs->len;
	if (n > 0)
		last = ((EpStoreMessage *)g_ptr_array_index (msgs, n - 1))->uid;
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		if (imap_mailbox_seq (self->mbox, m->uid) > 0 &&
		    (!op->mods.changedsince_set || m->modseq > op->mods.changedsince))
			g_hash_table_insert (op->messages, GUINT_TO_POINTER (m->uid),
					     g_ptr_array_steal_index (msgs, i--));
	}
	if (n == IMAP_LIST_PAGE && last < last_wanted) {
		ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, last + 1,
					      last_wanted, op->mods.changedsince, IMAP_LIST_PAGE, self->cancellable,
					      imap_fetch_on_messages, op);
		return;
	}
	imap_fetch_next (op);
}

static void
imap_fetch_list (ImapFetchOp *op)
{
	ImapSession *self = op->self;
	guint32 first, last;

	if (op->uids->len == 0) {
		imap_fetch_complete (op);
		return;
	}
	first = g_array_index (op->uids, guint32, 0);
	last = g_array_index (op->uids, guint32, op->uids->len - 1);
	/* CHANGEDSINCE: only what changed after it (the store's filter) */
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, first, last,
				      op->mods.changedsince, IMAP_LIST_PAGE, self->cancellable, imap_fetch_on_messages,
				      op);
}

static void imap_fetch_start (ImapFetchOp *op);

static void
imap_fetch_on_seen (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) changes = ep_store_store_flags_finish (EP_STORE (source), res, &error);

	if (op->self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (changes == NULL)
		ep_log_warning (IMAP_MODULE, op->self->id, "FETCH could not set \\Seen: %s", error->message);
	for (guint i = 0; changes != NULL && i < changes->len; i++) {
		const EpStoreFlagChange *c = g_ptr_array_index (changes, i);
		if (!c->failed)
			g_array_append_val (op->newly_seen, c->uid);
	}
	g_array_sort (op->newly_seen, imap_uid_cmp);
	imap_session_view_flags_changed (op->self, changes);
	imap_fetch_start (op);
}

/* UID FETCH … (CHANGEDSINCE n VANISHED): the UIDs of the set expunged
 * since n, before the FETCH responses (RFC 7162 §3.2.6) */
static void
imap_fetch_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_list_tombstones_finish (EP_STORE (source), res, &error);
	g_autoptr (GArray) vanished = g_array_new (FALSE, FALSE, sizeof (guint32));

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (gone == NULL) {
		self->fetch = NULL;
		imap_session_store_error (self, error, "FETCH");
		imap_session_done (self);
		imap_fetch_op_free (op);
		return;
	}
	for (guint i = 0; i < gone->len; i++) {
		const EpStoreTombstone *t = &g_array_index (gone, EpStoreTombstone, i);
		/* one still in the view is told by the next synchronisation */
		if (imap_seqset_contains (op->vanished_set, t->uid, G_MAXUINT32) &&
		    imap_mailbox_seq (self->mbox, t->uid) == 0)
			g_array_append_val (vanished, t->uid);
	}
	if (vanished->len > 0) {
		g_autoptr (GString) line = g_string_new ("VANISHED (EARLIER) ");
		g_array_sort (vanished, imap_uid_cmp);
		imap_search_append_set (line, (const guint32 *)vanished->data, vanished->len);
		imap_session_untagged (self, "%s", line->str);
	}
	imap_fetch_list (op);
}

static void
imap_fetch_start (ImapFetchOp *op)
{
	ImapSession *self = op->self;

	if (op->vanished_set != NULL) {
		ep_store_list_tombstones_async (self->server->store, self->account, self->mbox->name,
						op->mods.changedsince, self->cancellable, imap_fetch_on_tombstones, op);
		return;
	}
	imap_fetch_list (op);
}

void
imap_cmd_fetch (ImapSession *self, GPtrArray *args)
{
	const char *error_text = NULL;
	ImapFetchOp *op;
	g_autoptr (GArray) uids = NULL;
	ImapFetchModifiers mods = {0};

	if (args->len != 2 && args->len != 3) {
		imap_session_bad (self, "FETCH takes a set, items and modifiers");
		imap_session_done (self);
		return;
	}
	if (args->len == 3 && !imap_fetch_modifiers_parse (g_ptr_array_index (args, 2), &mods, &error_text)) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	if (mods.vanished && (!self->uid || !self->qresync)) {
		imap_session_bad (self, !self->uid ? "VANISHED is for UID FETCH"
						   : "QRESYNC is not enabled (ENABLE QRESYNC first)");
		imap_session_done (self);
		return;
	}
	uids = imap_session_resolve_set (self, g_ptr_array_index (args, 0));
	if (uids == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapFetchOp, 1);
	op->self = g_object_ref (self);
	op->messages = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)ep_store_message_free);
	op->prefetch = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)ep_store_message_data_free);
	op->uids = g_steal_pointer (&uids);
	op->mods = mods;
	op->newly_seen = g_array_new (FALSE, FALSE, sizeof (guint32));
	op->failed = g_array_new (FALSE, FALSE, sizeof (guint32));
	if (!imap_fetch_parse (g_ptr_array_index (args, 1), &op->items, &error_text)) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		imap_fetch_op_free (op);
		return;
	}
	/* MODSEQ and CHANGEDSINCE enable CONDSTORE; CHANGEDSINCE implies MODSEQ */
	if (op->items.modseq || mods.changedsince_set) {
		imap_session_enable_condstore (self);
		op->items.modseq = TRUE;
	}
	/* a FETCH that sets \Seen tells UID and the new MODSEQ (RFC 7162 §3.1) */
	op->with_modseq = self->condstore && op->items.set_seen && !self->mbox->read_only;
	if (mods.vanished)
		op->vanished_set = imap_seqset_parse (imap_arg_get_atom (g_ptr_array_index (args, 0)), NULL);
	if (op->uids->len == 0 && op->vanished_set == NULL) {
		imap_fetch_complete (op);
		return;
	}
	self->fetch = op;
	imap_session_suspend (self);
	if (op->items.set_seen && !self->mbox->read_only && op->uids->len > 0) {
		ep_store_store_flags_async (self->server->store, self->account, self->mbox->name,
					    (const guint32 *)op->uids->data, op->uids->len, EP_STORE_FLAGS_ADD,
					    EP_STORE_FLAG_SEEN, NULL, 0, self->cancellable, imap_fetch_on_seen, op);
		return;
	}
	imap_fetch_start (op);
}

/* The connection closed: a FETCH that waits for the client to read never
 * hears again, so it ends here. */
void
imap_fetch_abandon_drained (ImapSession *self)
{
	if (self->fetch != NULL && self->fetch->draining)
		imap_fetch_op_free (self->fetch);
}

/* ---- STORE ---------------------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	gboolean silent;
	GArray *modified; /* guint32: UNCHANGEDSINCE failed (UIDs), ascending */
} ImapStoreOp;

static void
imap_store_op_free (ImapStoreOp *op)
{
	g_array_unref (op->modified);
	g_object_unref (op->self);
	g_free (op);
}

/* the tagged answer; [MODIFIED set] when UNCHANGEDSINCE refused some
 * (message numbers for STORE, UIDs for UID STORE: RFC 7162 §3.1.3) */
static void
imap_store_complete (ImapStoreOp *op)
{
	ImapSession *self = op->self;
	g_autoptr (GArray) numbers = g_array_new (FALSE, FALSE, sizeof (guint32));
	g_autoptr (GString) code = g_string_new ("MODIFIED ");

	for (guint i = 0; i < op->modified->len; i++) {
		guint32 uid = g_array_index (op->modified, guint32, i);
		guint32 n = self->uid ? uid : imap_mailbox_seq (self->mbox, uid);
		if (n > 0)
			g_array_append_val (numbers, n);
	}
	g_array_sort (numbers, imap_uid_cmp);
	if (numbers->len > 0) {
		imap_search_append_set (code, (const guint32 *)numbers->data, numbers->len);
		imap_session_tagged (self, "OK", code->str, "Conditional STORE failed");
	} else {
		imap_session_tagged (self, "OK", NULL, self->uid ? "UID STORE completed" : "STORE completed");
	}
	imap_session_done (self);
	imap_store_op_free (op);
}

static void
imap_store_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapStoreOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) changes = ep_store_store_flags_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		imap_store_op_free (op);
		return;
	}
	if (changes == NULL) {
		imap_session_store_error (self, error, "STORE");
		imap_session_done (self);
		imap_store_op_free (op);
		return;
	}
	for (guint i = 0; i < changes->len; i++) {
		EpStoreFlagChange *c = g_ptr_array_index (changes, i);
		guint seq = self->mbox != NULL ? imap_mailbox_seq (self->mbox, c->uid) : 0;
		g_autoptr (GString) line = NULL;

		if (c->failed) {
			g_array_append_val (op->modified, c->uid);
			continue;
		}
		/* a new keyword: FLAGS tells it, even with .SILENT */
		imap_session_announce_keywords (self, (const char *const *)c->keywords);
		/* with CONDSTORE even .SILENT tells the new MODSEQ (RFC 7162 §3.1.3) */
		if (seq == 0 || (op->silent && !self->condstore))
			continue;
		line = g_string_new (NULL);
		g_string_append_printf (line, "%u FETCH (", seq);
		if (self->uid || self->condstore)
			g_string_append_printf (line, "UID %u", c->uid);
		if (!op->silent) {
			if (self->uid || self->condstore)
				g_string_append_c (line, ' ');
			imap_session_append_flags (self, line, c->uid, c->flags, (const char *const *)c->keywords);
		}
		if (self->condstore)
			g_string_append_printf (line, " MODSEQ (%" G_GUINT64_FORMAT ")", c->modseq);
		g_string_append_c (line, ')');
		imap_session_untagged (self, "%s", line->str);
	}
	g_array_sort (op->modified, imap_uid_cmp);
	imap_session_view_flags_changed (self, changes);
	imap_store_complete (op);
}

void
imap_cmd_store (ImapSession *self, GPtrArray *args)
{
	gboolean has_mods = args->len == 4;
	const char *item =
	    args->len == 3 || has_mods ? imap_arg_get_atom (g_ptr_array_index (args, args->len - 2)) : NULL;
	const ImapArg *flags_arg = item != NULL ? g_ptr_array_index (args, args->len - 1) : NULL;
	g_autoptr (GArray) uids = NULL;
	g_autoptr (GPtrArray) keywords = g_ptr_array_new ();
	EpStoreFlags flags = 0;
	EpStoreFlagsMode mode;
	g_autofree char *up = NULL;
	GPtrArray *list;
	GPtrArray single = {0};
	guint64 unchangedsince = 0;
	gboolean silent = FALSE;
	const char *error_text = NULL;
	ImapStoreOp *op;

	if (item == NULL) {
		imap_session_bad (self, args->len > 4 ? "STORE takes a set, modifiers, an item and flags"
						      : "STORE takes a set, an item and flags");
		imap_session_done (self);
		return;
	}
	if (has_mods && !imap_store_modifiers_parse (g_ptr_array_index (args, 1), &unchangedsince, &error_text)) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	up = g_ascii_strup (item, -1);
	if (g_str_has_suffix (up, ".SILENT")) {
		up[strlen (up) - 7] = '\0';
		silent = TRUE;
	}
	if (strcmp (up, "FLAGS") == 0)
		mode = EP_STORE_FLAGS_REPLACE;
	else if (strcmp (up, "+FLAGS") == 0)
		mode = EP_STORE_FLAGS_ADD;
	else if (strcmp (up, "-FLAGS") == 0)
		mode = EP_STORE_FLAGS_REMOVE;
	else {
		imap_session_bad (self, "Unknown STORE item");
		imap_session_done (self);
		return;
	}
	if (flags_arg->type == IMAP_ARG_LIST) {
		list = flags_arg->list;
	} else {
		/* a single flag without parentheses */
		single.pdata = (gpointer *)&flags_arg;
		single.len = 1;
		list = &single;
	}
	for (guint i = 0; i < list->len; i++) {
		const char *f = imap_arg_get_atom (g_ptr_array_index (list, i));
		EpStoreFlags one;
		const char *kw;
		if (f == NULL || !imap_parse_flag (f, &one, &kw)) {
			imap_session_bad (self, "Invalid flag");
			imap_session_done (self);
			return;
		}
		flags |= one;
		if (kw != NULL)
			g_ptr_array_add (keywords, (gpointer)kw);
	}
	g_ptr_array_add (keywords, NULL);
	if (self->mbox->read_only) {
		imap_session_tagged (self, "NO", "READ-ONLY", "The mailbox is read-only");
		imap_session_done (self);
		return;
	}
	uids = imap_session_resolve_set (self, g_ptr_array_index (args, 0));
	if (uids == NULL) {
		imap_session_done (self);
		return;
	}
	/* UNCHANGEDSINCE enables CONDSTORE */
	if (has_mods)
		imap_session_enable_condstore (self);
	op = g_new0 (ImapStoreOp, 1);
	op->self = g_object_ref (self);
	op->silent = silent;
	op->modified = g_array_new (FALSE, FALSE, sizeof (guint32));
	if (uids->len == 0) {
		imap_store_complete (op);
		return;
	}
	/* UNCHANGEDSINCE 0 fails for every message: each has a MODSEQ */
	if (has_mods && unchangedsince == 0) {
		g_array_append_vals (op->modified, uids->data, uids->len);
		imap_store_complete (op);
		return;
	}
	imap_session_suspend (self);
	ep_store_store_flags_async (self->server->store, self->account, self->mbox->name, (const guint32 *)uids->data,
				    uids->len, mode, flags, (const char *const *)keywords->pdata, unchangedsince,
				    self->cancellable, imap_store_on_done, op);
}
