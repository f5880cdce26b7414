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
	/* the EXPUNGE responses come with the synchronisation, with those of
	 * other sessions' expunges */
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
	/* every message of the view, in one answer */
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, 1, G_MAXUINT32, 0,
				      G_MAXINT32, self->cancellable, imap_expunge_on_list, op);
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

/* COPY reads each message and appends it to the destination with its
 * flags, keywords and internal date (the store keeps the octets once,
 * content-addressed).  Not one transaction: a failure half-way expunges
 * the copies already made, so the destination ends as it was. */
typedef struct {
	ImapSession *self; /* owned */
	char *dest;
	GArray *uids;	      /* to copy, ascending */
	GHashTable *messages; /* uid → EpStoreMessage */
	guint next;
	GArray *copied;	     /* the new UIDs in @dest */
	GArray *copied_from; /* the UIDs they were copied from */
	GError *error;	     /* the failure being rolled back */
	gint64 dest_id;
	guint32 dest_uidvalidity;
	gboolean move; /* MOVE: then expunge the originals */
} ImapCopyOp;

static void
imap_copy_op_free (ImapCopyOp *op)
{
	g_object_unref (op->self);
	g_free (op->dest);
	g_array_unref (op->uids);
	g_array_unref (op->copied);
	g_array_unref (op->copied_from);
	g_hash_table_unref (op->messages);
	g_clear_error (&op->error);
	g_free (op);
}

static void imap_copy_next (ImapCopyOp *op);

static void
imap_copy_on_rolled_back (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCopyOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	/* without @source nothing was copied: nothing to roll back */
	g_autoptr (GArray) gone = source != NULL ? ep_store_expunge_finish (EP_STORE (source), res, &error) : NULL;

	if (gone == NULL && error != NULL)
		ep_log_warning (IMAP_MODULE, self->id, "COPY could not remove its partial copies: %s", error->message);
	if (!self->closing) {
		if (g_error_matches (op->error, EP_ERROR, EP_ERROR_NOT_FOUND))
			imap_session_tagged (self, "NO", "TRYCREATE", "No such mailbox");
		else
			imap_session_store_error (self, op->error, "COPY");
		imap_session_done (self);
	}
	imap_copy_op_free (op);
}

static void
imap_copy_fail (ImapCopyOp *op, GError *error)
{
	ImapSession *self = op->self;

	op->error = error;
	if (self->closing || op->copied->len == 0) {
		imap_copy_on_rolled_back (NULL, NULL, op);
		return;
	}
	ep_store_expunge_async (self->server->store, self->account, op->dest, (const guint32 *)op->copied->data,
				op->copied->len, NULL, imap_copy_on_rolled_back, op);
}

static void
imap_copy_on_appended (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCopyOp *op = user_data;
	GError *error = NULL;
	g_autoptr (EpStoreDelivery) d = ep_store_append_finish (EP_STORE (source), res, &error);

	if (d == NULL) {
		imap_copy_fail (op, error);
		return;
	}
	op->dest_id = d->mailbox_id;
	op->dest_uidvalidity = d->uidvalidity;
	g_array_append_val (op->copied, d->uid);
	g_array_append_val (op->copied_from, g_array_index (op->uids, guint32, op->next));
	op->next++;
	imap_copy_next (op);
}

static void
imap_copy_on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCopyOp *op = user_data;
	ImapSession *self = op->self;
	GError *error = NULL;
	g_autoptr (GBytes) data = ep_store_read_message_finish (EP_STORE (source), res, &error);
	guint32 uid = g_array_index (op->uids, guint32, op->next);
	const EpStoreMessage *m = g_hash_table_lookup (op->messages, GUINT_TO_POINTER (uid));

	if (data == NULL) {
		/* expunged meanwhile: not copied */
		if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND) && !self->closing) {
			g_error_free (error);
			op->next++;
			imap_copy_next (op);
			return;
		}
		imap_copy_fail (op, error);
		return;
	}
	ep_store_append_async (self->server->store, self->account, op->dest, data, m->flags,
			       (const char *const *)m->keywords, m->internal_date, NULL, imap_copy_on_appended, op);
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
imap_move_on_expunged (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_expunge_finish (EP_STORE (source), res, &error);

	if (self->closing)
		return;
	if (gone == NULL) {
		/* copied but not removed: the client sees both and may retry */
		imap_session_store_error (self, error, "MOVE");
		imap_session_done (self);
		return;
	}
	/* the EXPUNGE responses come with the synchronisation */
	imap_session_sync (self, imap_copy_done_ok);
}

/* "1,3,7" */
static void
imap_append_uid_list (GString *out, GArray *uids)
{
	for (guint i = 0; i < uids->len; i++)
		g_string_append_printf (out, i > 0 ? ",%u" : "%u", g_array_index (uids, guint32, i));
}

static void
imap_copy_next (ImapCopyOp *op)
{
	ImapSession *self = op->self;

	if (self->closing) {
		imap_copy_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "closed"));
		return;
	}
	while (op->next < op->uids->len) {
		guint32 uid = g_array_index (op->uids, guint32, op->next);
		if (g_hash_table_contains (op->messages, GUINT_TO_POINTER (uid))) {
			ep_store_read_message_async (self->server->store, self->account, self->mbox->name, uid, NULL,
						     imap_copy_on_read, op);
			return;
		}
		op->next++;
	}
	if (op->copied->len > 0) {
		GString *code = g_string_new (NULL);
		g_string_append_printf (code, "COPYUID %u ", op->dest_uidvalidity);
		imap_append_uid_list (code, op->copied_from);
		g_string_append_c (code, ' ');
		imap_append_uid_list (code, op->copied);
		g_free (self->appenduid);
		self->appenduid = g_string_free (code, FALSE);
	}
	if (op->move && op->copied->len > 0) {
		imap_session_untagged (self, "OK [%s] Moved", self->appenduid);
		ep_store_expunge_async (self->server->store, self->account, self->mbox->name,
					(const guint32 *)op->copied_from->data, op->copied_from->len, NULL,
					imap_move_on_expunged, g_object_ref (self));
		imap_copy_op_free (op);
		return;
	}
	/* into the selected mailbox: the client learns of the copies before OK */
	if (self->mbox != NULL && op->copied->len > 0 && op->dest_id == self->mbox->id)
		imap_session_sync (self, imap_copy_done_ok);
	else
		imap_copy_done_ok (self);
	imap_copy_op_free (op);
}

static void
imap_copy_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCopyOp *op = user_data;
	GError *error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);

	if (msgs == NULL) {
		imap_copy_fail (op, error);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		g_hash_table_insert (op->messages, GUINT_TO_POINTER (m->uid), g_ptr_array_steal_index (msgs, i--));
	}
	imap_copy_next (op);
}

static void
imap_copy_on_dest (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCopyOp *op = user_data;
	ImapSession *self = op->self;
	GError *error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (boxes == NULL || boxes->len == 0) {
		if (error == NULL)
			error = g_error_new_literal (EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		imap_copy_fail (op, error);
		return;
	}
	g_free (op->dest);
	op->dest = g_strdup (((EpStoreMailbox *)g_ptr_array_index (boxes, 0))->name);
	/* the messages' flags, keywords and dates, in one answer */
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name,
				      g_array_index (op->uids, guint32, 0),
				      g_array_index (op->uids, guint32, op->uids->len - 1), 0, G_MAXINT32,
				      self->cancellable, imap_copy_on_messages, op);
}

void
imap_cmd_copy (ImapSession *self, GPtrArray *args)
{
	g_autoptr (GArray) uids = imap_session_resolve_set (self, g_ptr_array_index (args, 0));
	g_autofree char *dest = NULL;
	ImapCopyOp *op;

	if (uids == NULL) {
		imap_session_done (self);
		return;
	}
	if (strcmp (self->cmd->name, "MOVE") == 0 && self->mbox->read_only) {
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
	op = g_new0 (ImapCopyOp, 1);
	op->self = g_object_ref (self);
	op->dest = g_steal_pointer (&dest);
	op->uids = g_steal_pointer (&uids);
	op->copied = g_array_new (FALSE, FALSE, sizeof (guint32));
	op->copied_from = g_array_new (FALSE, FALSE, sizeof (guint32));
	op->messages = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)ep_store_message_free);
	op->move = strcmp (self->cmd->name, "MOVE") == 0;
	imap_session_suspend (self);
	ep_store_list_mailboxes_async (self->server->store, self->account, op->dest, self->cancellable,
				       imap_copy_on_dest, op);
}

/* ---- APPEND --------------------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	char *mailbox;
} ImapAppendOp;

static void
imap_append_finish_ok (ImapSession *self)
{
	imap_session_tagged (self, "OK", self->appenduid, "APPEND completed");
	g_clear_pointer (&self->appenduid, g_free);
	imap_session_done (self);
}

static void
imap_append_on_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapAppendOp *op = user_data;
	g_autoptr (ImapSession) self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpStoreDelivery) d = ep_store_append_finish (EP_STORE (source), res, &error);
	g_autofree char *mailbox = op->mailbox;

	g_free (op);
	if (self->closing)
		return;
	if (d == NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			imap_session_tagged (self, "NO", "TRYCREATE", "No such mailbox");
		else
			imap_session_store_error (self, error, "APPEND");
		imap_session_done (self);
		return;
	}
	ep_log_info (IMAP_MODULE, self->id, "APPEND to %s: UID %u", d->mailbox, d->uid);
	g_free (self->appenduid);
	self->appenduid = g_strdup_printf ("APPENDUID %u %u", d->uidvalidity, d->uid);
	/* into the selected mailbox: the client learns of it before OK */
	if (self->mbox != NULL && self->mbox->id == d->mailbox_id) {
		imap_session_sync (self, imap_append_finish_ok);
		return;
	}
	imap_append_finish_ok (self);
}

void
imap_cmd_append (ImapSession *self, GPtrArray *args)
{
	const ImapArg *msg_arg = args->len >= 2 ? g_ptr_array_index (args, args->len - 1) : NULL;
	const char *ext = args->len >= 3 ? imap_arg_get_atom (g_ptr_array_index (args, args->len - 2)) : NULL;
	guint n_opts = args->len - 2; /* flags and date-time */
	g_autofree char *name = NULL;
	g_autoptr (GPtrArray) keywords = g_ptr_array_new ();
	EpStoreFlags flags = 0;
	gint64 date = 0;
	g_autoptr (GBytes) data = NULL;
	ImapAppendOp *op;

	/* RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")" */
	if (msg_arg != NULL && msg_arg->type == IMAP_ARG_LIST && ext != NULL && g_ascii_strcasecmp (ext, "UTF8") == 0) {
		if (!self->utf8_accept) {
			imap_session_bad (self, "APPEND UTF8 needs ENABLE UTF8=ACCEPT");
			imap_session_done (self);
			return;
		}
		if (msg_arg->list->len != 1 ||
		    ((const ImapArg *)g_ptr_array_index (msg_arg->list, 0))->type != IMAP_ARG_LITERAL ||
		    !((const ImapArg *)g_ptr_array_index (msg_arg->list, 0))->literal8) {
			imap_session_bad (self, "APPEND UTF8 takes a literal8 in parentheses");
			imap_session_done (self);
			return;
		}
		msg_arg = g_ptr_array_index (msg_arg->list, 0);
		n_opts--;
	}
	if (msg_arg == NULL || msg_arg->type != IMAP_ARG_LITERAL || n_opts > 2) {
		imap_session_bad (self, "APPEND takes a mailbox, optional flags and date, and a literal");
		imap_session_done (self);
		return;
	}
	for (guint i = 1; i <= n_opts; i++) {
		const ImapArg *a = g_ptr_array_index (args, i);
		if (a->type == IMAP_ARG_LIST && i == 1) {
			for (guint j = 0; j < a->list->len; j++) {
				const char *f = imap_arg_get_atom (g_ptr_array_index (a->list, j));
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
		} else if (a->type == IMAP_ARG_QUOTED && imap_parse_date_time (a->str, &date)) {
			continue;
		} else {
			imap_session_bad (self, "Invalid APPEND date-time or flags");
			imap_session_done (self);
			return;
		}
	}
	g_ptr_array_add (keywords, NULL);
	if (msg_arg->len == 0) {
		imap_session_tagged (self, "NO", NULL, "Empty message");
		imap_session_done (self);
		return;
	}
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	data = g_bytes_new (msg_arg->str, msg_arg->len);
	op = g_new0 (ImapAppendOp, 1);
	op->self = g_object_ref (self);
	op->mailbox = g_strdup (name);
	imap_session_suspend (self);
	ep_store_append_async (self->server->store, self->account, name, data, flags,
			       (const char *const *)keywords->pdata, date, self->cancellable, imap_append_on_done, op);
}
