/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"

/* ---- EXPUNGE and CLOSE ---------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	gboolean close;	   /* CLOSE: silently, then leave the mailbox */
	GArray *set;	   /* (nullable): UID EXPUNGE's set, in the view */
} ImapExpungeOp;

static void
imap_expunge_op_free (ImapExpungeOp *op)
{
	g_object_unref (op->self);
	if (op->set != NULL)
		g_array_unref (op->set);
	g_free (op);
}

static void
imap_expunge_finish_close (ImapSession *self)
{
	imap_session_unselect (self);
	imap_session_tagged (self, "OK", NULL, "CLOSE completed");
	imap_session_done (self);
}

static void
imap_expunge_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapExpungeOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_expunge_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		imap_expunge_op_free (op);
		return;
	}
	if (gone == NULL) {
		imap_session_store_error (self, error, "EXPUNGE");
		imap_session_done (self);
		imap_expunge_op_free (op);
		return;
	}
	if (op->close) {
		imap_expunge_finish_close (self);
		imap_expunge_op_free (op);
		return;
	}
	/* the EXPUNGE responses: at once when no other session changed the
	 * mailbox meanwhile, else with the synchronisation, with those of the
	 * other sessions' changes */
	if (imap_session_view_expunged (self, gone))
		imap_session_tagged_ok_done (self);
	else
		imap_session_sync (self, imap_session_tagged_ok_done);
	imap_expunge_op_free (op);
}

static void
imap_expunge_on_list (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapExpungeOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	g_autoptr (GArray) doomed = g_array_new (FALSE, FALSE, sizeof (guint32));

	if (self->closing) {
		imap_expunge_op_free (op);
		return;
	}
	if (msgs == NULL) {
		imap_session_store_error (self, error, "EXPUNGE");
		imap_session_done (self);
		imap_expunge_op_free (op);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		gboolean in_set = op->set == NULL || imap_uids_contain (op->set, m->uid);
		/* only messages of the view: one arrived unseen is not expunged */
		if ((m->flags & EP_STORE_FLAG_DELETED) && in_set && imap_mailbox_seq (self->mbox, m->uid) > 0)
			g_array_append_val (doomed, m->uid);
	}
	if (doomed->len == 0) {
		if (op->close)
			imap_expunge_finish_close (self);
		else
			imap_session_sync (self, imap_session_tagged_ok_done);
		imap_expunge_op_free (op);
		return;
	}
	ep_store_expunge_async (self->server->store, self->account, self->mbox->name, (const guint32 *)doomed->data,
				doomed->len, self->cancellable, imap_expunge_on_done, op);
}

static void
imap_session_expunge (ImapSession *self, gboolean close, GArray *set)
{
	ImapExpungeOp *op = g_new0 (ImapExpungeOp, 1);

	op->self = g_object_ref (self);
	op->close = close;
	op->set = set != NULL ? g_array_ref (set) : NULL;
	imap_session_suspend (self);
	/* the messages of the view (of the set's range for UID EXPUNGE), in
	 * one answer */
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name,
				      set != NULL && set->len > 0 ? g_array_index (set, guint32, 0) : 1,
				      set != NULL && set->len > 0 ? g_array_index (set, guint32, set->len - 1)
								  : G_MAXUINT32,
				      0, G_MAXINT32, self->cancellable, imap_expunge_on_list, op);
}

void
imap_cmd_expunge (ImapSession *self, GPtrArray *args)
{
	g_autoptr (GArray) set = NULL;

	/* UID EXPUNGE (UIDPLUS) takes a set, EXPUNGE nothing */
	if (args->len != (self->uid ? 1u : 0u)) {
		imap_session_bad (self, self->uid ? "UID EXPUNGE takes a set of UIDs" : "EXPUNGE takes no arguments");
		imap_session_done (self);
		return;
	}
	if (self->mbox->read_only) {
		imap_session_tagged (self, "NO", "READ-ONLY", "The mailbox is read-only");
		imap_session_done (self);
		return;
	}
	if (self->uid) {
		set = imap_session_resolve_set (self, g_ptr_array_index (args, 0));
		if (set == NULL) {
			imap_session_done (self);
			return;
		}
	}
	imap_session_expunge (self, FALSE, set);
}

void
imap_cmd_close (ImapSession *self, GPtrArray *args)
{
	if (self->mbox->read_only) {
		imap_expunge_finish_close (self);
		return;
	}
	imap_session_expunge (self, TRUE, NULL);
}

/* ---- COPY ----------------------------------------------------------------------------------- */

/* COPY and MOVE are one store call, one transaction: every message is
 * copied (with its flags, keywords and internal date; the store keeps the
 * octets once) or none, and MOVE expunges the originals in the same
 * transaction. */

/* "1,3,7" */
static void
imap_append_uid_list (GString *out, GArray *uids)
{
	for (guint i = 0; i < uids->len; i++)
		g_string_append_printf (out, i > 0 ? ",%u" : "%u", g_array_index (uids, guint32, i));
}

static void
imap_copy_done_ok (ImapSession *self)
{
	g_autofree char *text = g_strdup_printf ("%s%s completed", self->uid ? "UID " : "", self->cmd->name);

	/* MOVE said COPYUID in an untagged OK before its EXPUNGEs (RFC 6851) */
	imap_session_tagged (self, "OK", strcmp (self->cmd->name, "MOVE") == 0 ? NULL : self->appenduid, text);
	g_clear_pointer (&self->appenduid, g_free);
	imap_session_done (self);
}

static void
imap_copy_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreCopy) copy = ep_store_copy_messages_finish (EP_STORE (source), res, &error);
	gboolean move = strcmp (self->cmd->name, "MOVE") == 0;
	GString *code;

	if (self->closing)
		return;
	if (copy == NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			imap_session_tagged (self, "NO", "TRYCREATE", "No such mailbox");
		else
			imap_session_store_error (self, error, self->cmd->name);
		imap_session_done (self);
		return;
	}
	/* every message was expunged meanwhile: nothing was copied */
	if (copy->uids->len == 0) {
		imap_copy_done_ok (self);
		return;
	}
	ep_log_info (IMAP_MODULE, self->id, "%s of %u messages to %s", self->cmd->name, copy->uids->len, copy->mailbox);
	code = g_string_new (NULL);
	g_string_append_printf (code, "COPYUID %u ", copy->uidvalidity);
	imap_append_uid_list (code, copy->source_uids);
	g_string_append_c (code, ' ');
	imap_append_uid_list (code, copy->uids);
	g_free (self->appenduid);
	self->appenduid = g_string_free (code, FALSE);
	if (move) {
		imap_session_untagged (self, "OK [%s] Moved", self->appenduid);
		/* the EXPUNGE responses come with the synchronisation */
		imap_session_sync (self, imap_copy_done_ok);
		return;
	}
	/* into the selected mailbox: the client learns of the copies before OK */
	if (self->mbox != NULL && copy->mailbox_id == self->mbox->id)
		imap_session_sync (self, imap_copy_done_ok);
	else
		imap_copy_done_ok (self);
}

void
imap_cmd_copy (ImapSession *self, GPtrArray *args)
{
	g_autoptr (GArray) uids = imap_session_resolve_set (self, g_ptr_array_index (args, 0));
	g_autofree char *dest = NULL;
	gboolean move = strcmp (self->cmd->name, "MOVE") == 0;

	if (uids == NULL) {
		imap_session_done (self);
		return;
	}
	if (move && self->mbox->read_only) {
		imap_session_tagged (self, "NO", "READ-ONLY", "The mailbox is read-only");
		imap_session_done (self);
		return;
	}
	dest = imap_session_mailbox_in (self, g_ptr_array_index (args, 1));
	if (dest == NULL) {
		imap_session_done (self);
		return;
	}
	if (uids->len == 0) {
		imap_copy_done_ok (self);
		return;
	}
	imap_session_suspend (self);
	ep_store_copy_messages_async (self->server->store, self->account, self->mbox->name, (const guint32 *)uids->data,
				      uids->len, dest, move, self->cancellable, imap_copy_on_done, g_object_ref (self));
}

/* ---- APPEND ---------------------------------------------------------------------------------- */

/* APPEND of one message goes through ep_store_append (the store groups
 * concurrent deliveries); MULTIAPPEND (RFC 3502, several messages in one
 * command) through ep_store_append_many: one transaction, all or none. */
#define IMAP_MAX_MULTIAPPEND 1000

static void
imap_append_finish_ok (ImapSession *self)
{
	imap_session_tagged (self, "OK", self->appenduid, "APPEND completed");
	g_clear_pointer (&self->appenduid, g_free);
	imap_session_done (self);
}

static void
imap_append_failed (ImapSession *self, const GError *error)
{
	if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
		imap_session_tagged (self, "NO", "TRYCREATE", "No such mailbox");
	else
		imap_session_store_error (self, error, "APPEND");
	imap_session_done (self);
}

/* @deliveries: of EpStoreDelivery, in the order of the messages */
static void
imap_append_stored (ImapSession *self, GPtrArray *deliveries)
{
	const EpStoreDelivery *first = g_ptr_array_index (deliveries, 0);
	GString *code = g_string_new (NULL);

	g_string_append_printf (code, "APPENDUID %u ", first->uidvalidity);
	for (guint i = 0; i < deliveries->len; i++)
		g_string_append_printf (code, i > 0 ? ",%u" : "%u",
					((const EpStoreDelivery *)g_ptr_array_index (deliveries, i))->uid);
	if (deliveries->len == 1)
		ep_log_info (IMAP_MODULE, self->id, "APPEND to %s: UID %u", first->mailbox, first->uid);
	else
		ep_log_info (IMAP_MODULE, self->id, "APPEND of %u messages to %s: %s", deliveries->len, first->mailbox,
			     code->str + strlen ("APPENDUID "));
	g_free (self->appenduid);
	self->appenduid = g_string_free (code, FALSE);
	/* into the selected mailbox: the client learns of it before OK */
	if (self->mbox != NULL && self->mbox->id == first->mailbox_id) {
		g_auto (GStrv) keywords = g_steal_pointer (&self->append_keywords);

		if (deliveries->len == 1 &&
		    imap_session_view_appended (self, first->uid, first->modseq, (const char *const *)keywords,
						imap_append_finish_ok))
			return;
		imap_session_sync (self, imap_append_finish_ok);
		return;
	}
	imap_append_finish_ok (self);
}

static void
imap_append_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	EpStoreDelivery *d = ep_store_append_finish (EP_STORE (source), res, &error);
	g_autoptr (GPtrArray) deliveries = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_delivery_free);

	if (d != NULL)
		g_ptr_array_add (deliveries, d);
	if (self->closing)
		return;
	if (d == NULL) {
		imap_append_failed (self, error);
		return;
	}
	imap_append_stored (self, deliveries);
}

static void
imap_append_on_many_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) deliveries = ep_store_append_many_finish (EP_STORE (source), res, &error);

	if (self->closing)
		return;
	if (deliveries == NULL || deliveries->len == 0) {
		if (error == NULL)
			error = g_error_new_literal (EP_ERROR, EP_ERROR_INTERNAL, "the store appended nothing");
		imap_append_failed (self, error);
		return;
	}
	imap_append_stored (self, deliveries);
}

void
imap_cmd_append (ImapSession *self, GPtrArray *args)
{
	g_autofree char *name = NULL;
	const char *error = NULL;
	g_autoptr (GArray) msgs = imap_append_messages_parse (args, 1, &error);
	g_autoptr (GArray) items = NULL;
	g_autoptr (GPtrArray) data = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);

	if (msgs == NULL) {
		imap_session_bad (self, error);
		imap_session_done (self);
		return;
	}
	if (msgs->len > IMAP_MAX_MULTIAPPEND) {
		imap_session_tagged (self, "NO", "LIMIT", "At most 1000 messages in one APPEND");
		imap_session_done (self);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		/* RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")" */
		if (g_array_index (msgs, ImapAppendMessage, i).utf8 && !self->utf8_accept) {
			imap_session_bad (self, "APPEND UTF8 needs ENABLE UTF8=ACCEPT");
			imap_session_done (self);
			return;
		}
	}
	for (guint i = 0; i < msgs->len; i++) {
		if (g_array_index (msgs, ImapAppendMessage, i).literal->len == 0) {
			imap_session_tagged (self, "NO", NULL, "Empty message");
			imap_session_done (self);
			return;
		}
	}
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	imap_session_suspend (self);
	if (msgs->len == 1) {
		const ImapAppendMessage *msg = &g_array_index (msgs, ImapAppendMessage, 0);
		g_autoptr (GBytes) bytes = g_bytes_new (msg->literal->str, msg->literal->len);

		g_strfreev (self->append_keywords);
		self->append_keywords = g_strdupv ((char **)msg->keywords->pdata);
		ep_store_append_async (self->server->store, self->account, name, bytes, msg->flags,
				       (const char *const *)msg->keywords->pdata, msg->date, self->cancellable,
				       imap_append_on_done, g_object_ref (self));
		return;
	}
	items = g_array_sized_new (FALSE, TRUE, sizeof (EpStoreAppendItem), msgs->len);
	for (guint i = 0; i < msgs->len; i++) {
		const ImapAppendMessage *msg = &g_array_index (msgs, ImapAppendMessage, i);
		EpStoreAppendItem item = {
		    .data = g_bytes_new (msg->literal->str, msg->literal->len),
		    .flags = msg->flags,
		    .keywords = (const char *const *)msg->keywords->pdata,
		    .internal_date = msg->date,
		};

		g_ptr_array_add (data, item.data);
		g_array_append_val (items, item);
	}
	/* the store copies what it keeps before it returns */
	ep_store_append_many_async (self->server->store, self->account, name, (const EpStoreAppendItem *)items->data,
				    items->len, self->cancellable, imap_append_on_many_done, g_object_ref (self));
}
