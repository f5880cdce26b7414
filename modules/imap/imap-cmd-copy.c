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
	g_autofree char *name = NULL;
	g_autoptr (GPtrArray) keywords = g_ptr_array_new ();
	EpStoreFlags flags = 0;
	gint64 date = 0;
	g_autoptr (GBytes) data = NULL;
	ImapAppendOp *op;

	if (msg_arg == NULL || msg_arg->type != IMAP_ARG_LITERAL || args->len > 4) {
		imap_session_bad (self, "APPEND takes a mailbox, optional flags and date, and a literal");
		imap_session_done (self);
		return;
	}
	for (guint i = 1; i + 1 < args->len; i++) {
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
