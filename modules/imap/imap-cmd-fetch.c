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

	if (set == NULL) {
		imap_session_bad (self, saved ? "SEARCHRES ($) is not supported" : "Invalid sequence set");
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

struct _ImapFetchOp {
	ImapSession *self; /* owned */
	ImapFetchItems items;
	GArray *uids;	      /* requested, in the view, ascending */
	GHashTable *messages; /* uid → EpStoreMessage */
	guint next;	      /* index into uids */
	gboolean draining;    /* waiting for the client to read */
	EpMimeMessage *mime;  /* (nullable): the stored tree of the message being read */
};

void
imap_fetch_op_free (ImapFetchOp *op)
{
	if (op->self->fetch == op)
		op->self->fetch = NULL;
	imap_fetch_items_clear (&op->items);
	g_clear_pointer (&op->mime, ep_mime_message_unref);
	g_array_unref (op->uids);
	g_hash_table_unref (op->messages);
	g_object_unref (op->self);
	g_free (op);
}

static void imap_fetch_next (ImapFetchOp *op);

static void
imap_fetch_complete (ImapFetchOp *op)
{
	ImapSession *self = op->self;

	self->fetch = NULL;
	if (!self->closing) {
		ep_connection_set_drain_func (self->conn, 0, NULL, NULL);
		imap_session_tagged (self, "OK", NULL, self->uid ? "UID FETCH completed" : "FETCH completed");
		imap_session_done (self);
	}
	imap_fetch_op_free (op);
}

static void
imap_fetch_append_literal (GString *line, GBytes *b)
{
	gsize n = 0;
	const char *d = b != NULL ? g_bytes_get_data (b, &n) : NULL;

	if (b == NULL) {
		g_string_append (line, "NIL");
		return;
	}
	g_string_append_printf (line, "{%" G_GSIZE_FORMAT "}\r\n", n);
	g_string_append_len (line, d, (gssize)n);
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
	if (it->uid || self->uid) {
		SEP ();
		g_string_append_printf (line, "UID %u", m->uid);
	}
	if (it->flags || (it->set_seen && !self->mbox->read_only)) {
		SEP ();
		imap_session_append_fetch_flags (line, m);
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
	for (guint i = 0; data != NULL && i < it->bodies->len; i++) {
		const ImapBodyItem *b = g_ptr_array_index (it->bodies, i);
		g_autoptr (GBytes) octets = imap_fetch_body (b, data, mime);
		SEP ();
		g_string_append_printf (line, "%s ", b->response_name);
		imap_fetch_append_literal (line, octets);
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

static void
imap_fetch_on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) data = ep_store_read_message_finish (EP_STORE (source), res, &error);
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));
	g_autoptr (EpMimeMessage) stored = g_steal_pointer (&op->mime);

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	op->next++;
	if (data == NULL) {
		/* expunged meanwhile: nothing to say of it */
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			ep_log_warning (IMAP_MODULE, self->id, "FETCH of UID %u: %s", uid, error->message);
	} else if (stored != NULL || !op->items.need_mime) {
		imap_fetch_write (op, m, data, stored);
	} else if (g_bytes_get_size (data) > IMAP_PARSE_IN_POOL &&
		   ep_context_get_worker_pool (self->server->ctx) != NULL) {
		/* stored without its tree: a large message is parsed on the
		 * worker pool */
		GTask *task = g_task_new (NULL, NULL, imap_fetch_on_parsed, op);
		g_task_set_task_data (task, g_bytes_ref (data), (GDestroyNotify)g_bytes_unref);
		ep_worker_pool_run (ep_context_get_worker_pool (self->server->ctx), task, imap_fetch_parse_thread);
		g_object_unref (task);
		return;
	} else {
		g_autoptr (EpMimeMessage) mime =
		    ep_mime_message_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data));
		imap_fetch_write (op, m, data, mime);
	}
	imap_fetch_next (op);
}

/* the tree the store kept: with it, the message's octets are read only
 * for body sections; without it (stored before the store kept trees, or
 * unreadable), the message is read and parsed */
static void
imap_fetch_on_structure (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapFetchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) structure = ep_store_read_structure_finish (EP_STORE (source), res, &error);
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	if (structure == NULL) {
		/* expunged meanwhile: nothing to say of it */
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			ep_log_warning (IMAP_MODULE, self->id, "FETCH of UID %u: %s", uid, error->message);
		op->next++;
		imap_fetch_next (op);
		return;
	}
	if (g_bytes_get_size (structure) > 0) {
		op->mime = ep_mime_message_deserialize (structure, &error);
		if (op->mime == NULL)
			ep_log_warning (IMAP_MODULE, self->id,
					"UID %u: unreadable stored MIME structure, parsed again: %s", uid,
					error->message);
	}
	if (op->mime != NULL && !op->items.need_data) {
		imap_fetch_write (op, m, NULL, op->mime);
		g_clear_pointer (&op->mime, ep_mime_message_unref);
		op->next++;
		imap_fetch_next (op);
		return;
	}
	ep_store_read_message_async (self->server->store, self->account, self->mbox->name, uid, self->cancellable,
				     imap_fetch_on_read, op);
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
		/* a small message read anyway is parsed at once; otherwise the
		 * stored tree saves reading or parsing it */
		if (op->items.need_mime && (!op->items.need_data || m->size > IMAP_PARSE_IN_POOL)) {
			ep_store_read_structure_async (self->server->store, self->account, self->mbox->name, uid,
						       self->cancellable, imap_fetch_on_structure, op);
			return;
		}
		if (op->items.need_data || op->items.need_mime) {
			ep_store_read_message_async (self->server->store, self->account, self->mbox->name, uid,
						     self->cancellable, imap_fetch_on_read, op);
			return;
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
		if (imap_mailbox_seq (self->mbox, m->uid) > 0)
			g_hash_table_insert (op->messages, GUINT_TO_POINTER (m->uid),
					     g_ptr_array_steal_index (msgs, i--));
	}
	if (n == IMAP_LIST_PAGE && last < last_wanted) {
		ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, last + 1,
					      last_wanted, 0, IMAP_LIST_PAGE, self->cancellable, imap_fetch_on_messages,
					      op);
		return;
	}
	imap_fetch_next (op);
}

static void
imap_fetch_list (ImapFetchOp *op)
{
	ImapSession *self = op->self;
	guint32 first = g_array_index (op->uids, guint32, 0);
	guint32 last = g_array_index (op->uids, guint32, op->uids->len - 1);

	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, first, last, 0,
				      IMAP_LIST_PAGE, self->cancellable, imap_fetch_on_messages, op);
}

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
	imap_fetch_list (op);
}

void
imap_cmd_fetch (ImapSession *self, GPtrArray *args)
{
	const char *error_text = NULL;
	ImapFetchOp *op;
	g_autoptr (GArray) uids = NULL;

	if (args->len != 2) {
		imap_session_bad (self,
				  args->len > 2 ? "FETCH modifiers are not supported" : "FETCH takes a set and items");
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
	op->uids = g_steal_pointer (&uids);
	if (!imap_fetch_parse (g_ptr_array_index (args, 1), &op->items, &error_text)) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		imap_fetch_op_free (op);
		return;
	}
	if (op->uids->len == 0) {
		imap_fetch_complete (op);
		return;
	}
	self->fetch = op;
	imap_session_suspend (self);
	if (op->items.set_seen && !self->mbox->read_only) {
		ep_store_store_flags_async (self->server->store, self->account, self->mbox->name,
					    (const guint32 *)op->uids->data, op->uids->len, EP_STORE_FLAGS_ADD,
					    EP_STORE_FLAG_SEEN, NULL, 0, self->cancellable, imap_fetch_on_seen, op);
		return;
	}
	imap_fetch_list (op);
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

static void
imap_store_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) changes = ep_store_store_flags_finish (EP_STORE (source), res, &error);
	const char *item = imap_arg_get_atom (g_ptr_array_index (self->cmd->args, self->uid ? 2 : 1));
	gboolean silent =
	    item != NULL && g_str_has_suffix (item, ".SILENT")
		? TRUE
		: (item != NULL && strlen (item) > 7 && g_ascii_strcasecmp (item + strlen (item) - 7, ".SILENT") == 0);

	if (self->closing)
		return;
	if (changes == NULL) {
		imap_session_store_error (self, error, "STORE");
		imap_session_done (self);
		return;
	}
	for (guint i = 0; i < changes->len && !silent; i++) {
		EpStoreFlagChange *c = g_ptr_array_index (changes, i);
		guint seq = self->mbox != NULL ? imap_mailbox_seq (self->mbox, c->uid) : 0;
		g_autoptr (GString) line = NULL;

		if (seq == 0)
			continue;
		line = g_string_new (NULL);
		g_string_append_printf (line, "%u FETCH (", seq);
		if (self->uid)
			g_string_append_printf (line, "UID %u ", c->uid);
		g_string_append (line, "FLAGS (");
		imap_append_flags (line, c->flags, (const char *const *)c->keywords);
		g_string_append (line, "))");
		imap_session_untagged (self, "%s", line->str);
	}
	imap_session_tagged (self, "OK", NULL, self->uid ? "UID STORE completed" : "STORE completed");
	imap_session_done (self);
}

void
imap_cmd_store (ImapSession *self, GPtrArray *args)
{
	const char *item = args->len == 3 ? imap_arg_get_atom (g_ptr_array_index (args, 1)) : NULL;
	const ImapArg *flags_arg = args->len == 3 ? g_ptr_array_index (args, 2) : NULL;
	g_autoptr (GArray) uids = NULL;
	g_autoptr (GPtrArray) keywords = g_ptr_array_new ();
	EpStoreFlags flags = 0;
	EpStoreFlagsMode mode;
	g_autofree char *up = NULL;
	GPtrArray *list;
	GPtrArray single = {0};

	if (item == NULL) {
		imap_session_bad (self, args->len > 3 ? "STORE modifiers are not supported"
						      : "STORE takes a set, an item and flags");
		imap_session_done (self);
		return;
	}
	up = g_ascii_strup (item, -1);
	if (g_str_has_suffix (up, ".SILENT"))
		up[strlen (up) - 7] = '\0';
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
	if (uids->len == 0) {
		imap_session_tagged (self, "OK", NULL, self->uid ? "UID STORE completed" : "STORE completed");
		imap_session_done (self);
		return;
	}
	imap_session_suspend (self);
	ep_store_store_flags_async (self->server->store, self->account, self->mbox->name, (const guint32 *)uids->data,
				    uids->len, mode, flags, (const char *const *)keywords->pdata, 0, self->cancellable,
				    imap_store_on_done, g_object_ref (self));
}
