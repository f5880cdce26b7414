/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"

/* ---- SELECT / EXAMINE ----------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	ImapMailbox *mbox;
	EpStoreMailbox *info;
	guint n_unseen;
	guint first_unseen;
} ImapSelectOp;

static void
imap_select_op_free (ImapSelectOp *op)
{
	g_clear_pointer (&op->mbox, imap_mailbox_free);
	g_clear_pointer (&op->info, ep_store_mailbox_free);
	g_object_unref (op->self);
	g_free (op);
}

static void
imap_select_finish (ImapSelectOp *op)
{
	ImapSession *self = op->self;
	ImapMailbox *mbox = op->mbox;
	g_autoptr (GString) list = g_string_new ("LIST () \"/\" ");

	imap_session_untagged (self, "%u EXISTS", mbox->uids->len);
	if (!self->rev2) {
		imap_session_untagged (self, "0 RECENT");
		if (op->first_unseen > 0)
			imap_session_untagged (self, "OK [UNSEEN %u] First unseen", op->first_unseen);
	}
	imap_session_untagged (self, "OK [UIDVALIDITY %u] UIDs valid", mbox->uidvalidity);
	imap_session_untagged (self, "OK [UIDNEXT %u] Predicted next UID", mbox->uidnext);
	imap_session_untagged (self, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
	if (mbox->read_only)
		imap_session_untagged (self, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_session_untagged (self, "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
					     "Flags permitted");
	if (mbox->modseq > 0)
		imap_session_untagged (self, "OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest", mbox->modseq);
	if (self->rev2) {
		imap_session_append_mailbox (self, list, mbox->name);
		imap_session_untagged (self, "%s", list->str);
	}
	self->mbox = g_steal_pointer (&op->mbox);
	self->state = IMAP_STATE_SELECTED;
	imap_session_tagged (self, "OK", self->mbox->read_only ? "READ-ONLY" : "READ-WRITE",
			     self->mbox->read_only ? "EXAMINE completed" : "SELECT completed");
	imap_session_done (self);
}

static void
imap_select_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSelectOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last = 0;

	if (self->closing) {
		imap_select_op_free (op);
		return;
	}
	if (msgs == NULL) {
		imap_session_store_error (self, error, "SELECT");
		imap_session_done (self);
		imap_select_op_free (op);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		g_array_append_val (op->mbox->uids, m->uid);
		last = m->uid;
		op->mbox->modseq = MAX (op->mbox->modseq, m->modseq);
		if ((m->flags & EP_STORE_FLAG_SEEN) == 0 && op->first_unseen == 0)
			op->first_unseen = op->mbox->uids->len;
		if (m->uid >= op->mbox->uidnext)
			op->mbox->uidnext = m->uid + 1;
	}
	if (msgs->len == IMAP_LIST_PAGE && last < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, op->mbox->name, last + 1, G_MAXUINT32,
					      0, IMAP_LIST_PAGE, self->cancellable, imap_select_on_messages, op);
		return;
	}
	imap_select_finish (op);
	imap_select_op_free (op);
}

static void
imap_select_on_mailbox (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSelectOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);
	EpStoreMailbox *info;

	if (self->closing) {
		imap_select_op_free (op);
		return;
	}
	if (boxes == NULL || boxes->len == 0) {
		if (boxes != NULL || g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			imap_session_tagged (self, "NO", "NONEXISTENT", "No such mailbox");
		else
			imap_session_store_error (self, error, "SELECT");
		imap_session_done (self);
		imap_select_op_free (op);
		return;
	}
	info = g_ptr_array_index (boxes, 0);
	op->mbox->id = info->id;
	g_free (op->mbox->name);
	op->mbox->name = g_strdup (info->name);
	op->mbox->uidvalidity = info->uidvalidity;
	op->mbox->uidnext = (guint32)MIN (info->uidnext, (guint64)G_MAXUINT32);
	op->mbox->modseq = info->highest_modseq;
	ep_store_list_messages_async (self->server->store, self->account, op->mbox->name, 1, G_MAXUINT32, 0,
				      IMAP_LIST_PAGE, self->cancellable, imap_select_on_messages, op);
}

void
imap_cmd_select (ImapSession *self, GPtrArray *args)
{
	g_autofree char *name = NULL;
	ImapSelectOp *op;

	if (args->len != 1) {
		imap_session_bad (self, "SELECT takes a mailbox name");
		imap_session_done (self);
		return;
	}
	/* a failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2) */
	if (self->mbox != NULL) {
		imap_session_unselect (self);
		if (self->rev2)
			imap_session_untagged (self, "OK [CLOSED] Previous mailbox closed");
	}
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSelectOp, 1);
	op->self = g_object_ref (self);
	op->mbox = g_new0 (ImapMailbox, 1);
	op->mbox->name = g_strdup (name);
	op->mbox->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
	op->mbox->read_only = strcmp (self->cmd->name, "EXAMINE") == 0;
	imap_session_suspend (self);
	ep_store_list_mailboxes_async (self->server->store, self->account, name, self->cancellable,
				       imap_select_on_mailbox, op);
}

void
imap_cmd_unselect (ImapSession *self, GPtrArray *args)
{
	imap_session_unselect (self);
	imap_session_tagged (self, "OK", NULL, "UNSELECT completed");
	imap_session_done (self);
}

/* ---- LIST / LSUB / STATUS / CREATE / DELETE / RENAME / (UN)SUBSCRIBE ------------------------ */

typedef struct {
	ImapSession *self; /* owned */
	char *pattern;
	gboolean lsub;
	char **status_items;
} ImapListOp;

static void
imap_list_op_free (ImapListOp *op)
{
	g_object_unref (op->self);
	g_free (op->pattern);
	g_strfreev (op->status_items);
	g_free (op);
}

static gboolean
imap_mailbox_has_children (GPtrArray *boxes, const char *name)
{
	gsize n = strlen (name);

	for (guint i = 0; i < boxes->len; i++) {
		EpStoreMailbox *b = g_ptr_array_index (boxes, i);
		if (strncmp (b->name, name, n) == 0 && b->name[n] == '/')
			return TRUE;
	}
	return FALSE;
}

static void
imap_list_on_mailboxes (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapListOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		imap_list_op_free (op);
		return;
	}
	if (boxes == NULL) {
		imap_session_store_error (self, error, "LIST");
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	for (guint i = 0; i < boxes->len; i++) {
		EpStoreMailbox *b = g_ptr_array_index (boxes, i);
		g_autoptr (GString) line = g_string_new (op->lsub ? "LSUB (" : "LIST (");
		const char *special = imap_role_attribute (b->role);

		if (!imap_list_match (op->pattern, b->name) || (op->lsub && !b->subscribed))
			continue;
		g_string_append (line,
				 imap_mailbox_has_children (boxes, b->name) ? "\\HasChildren" : "\\HasNoChildren");
		if (special != NULL && !op->lsub)
			g_string_append_printf (line, " %s", special);
		g_string_append (line, ") \"/\" ");
		imap_session_append_mailbox (self, line, b->name);
		imap_session_untagged (self, "%s", line->str);
	}
	imap_session_tagged (self, "OK", NULL, op->lsub ? "LSUB completed" : "LIST completed");
	imap_session_done (self);
	imap_list_op_free (op);
}

void
imap_cmd_list (ImapSession *self, GPtrArray *args)
{
	const char *ref = args->len == 2 ? imap_arg_get_astring (g_ptr_array_index (args, 0)) : NULL;
	const char *pat = args->len == 2 ? imap_arg_get_astring (g_ptr_array_index (args, 1)) : NULL;
	g_autofree char *full = NULL;
	g_autofree char *decoded = NULL;
	ImapListOp *op;

	/* the extended forms (selection and return options) are not offered */
	if (ref == NULL || pat == NULL) {
		imap_session_bad (self, "LIST takes a reference and a mailbox pattern");
		imap_session_done (self);
		return;
	}
	if (pat[0] == '\0' && strcmp (self->cmd->name, "LIST") == 0) {
		/* the hierarchy delimiter and the root */
		imap_session_untagged (self, "LIST (\\Noselect) \"/\" \"\"");
		imap_session_tagged (self, "OK", NULL, "LIST completed");
		imap_session_done (self);
		return;
	}
	full = g_strconcat (ref, pat, NULL);
	decoded = self->rev2 ? g_strdup (full) : imap_utf7_decode (full);
	if (decoded == NULL || !g_utf8_validate (decoded, -1, NULL)) {
		imap_session_bad (self, "Invalid mailbox pattern");
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapListOp, 1);
	op->self = g_object_ref (self);
	op->pattern = g_steal_pointer (&decoded);
	op->lsub = strcmp (self->cmd->name, "LSUB") == 0;
	imap_session_suspend (self);
	ep_store_list_mailboxes_async (self->server->store, self->account, NULL, self->cancellable,
				       imap_list_on_mailboxes, op);
}

static void imap_status_on_messages (GObject *source, GAsyncResult *res, gpointer user_data);

static void
imap_status_reply (ImapListOp *op, EpStoreMailbox *b, guint n_deleted)
{
	ImapSession *self = op->self;
	g_autoptr (GString) line = g_string_new ("STATUS ");

	imap_session_append_mailbox (self, line, b->name);
	g_string_append (line, " (");
	for (guint i = 0; op->status_items[i] != NULL; i++) {
		const char *it = op->status_items[i];
		if (i > 0)
			g_string_append_c (line, ' ');
		if (strcmp (it, "MESSAGES") == 0)
			g_string_append_printf (line, "MESSAGES %" G_GUINT64_FORMAT, b->n_messages);
		else if (strcmp (it, "UIDNEXT") == 0)
			g_string_append_printf (line, "UIDNEXT %" G_GUINT64_FORMAT, MIN (b->uidnext, G_MAXUINT32));
		else if (strcmp (it, "UIDVALIDITY") == 0)
			g_string_append_printf (line, "UIDVALIDITY %u", b->uidvalidity);
		else if (strcmp (it, "UNSEEN") == 0)
			g_string_append_printf (line, "UNSEEN %" G_GUINT64_FORMAT, b->n_unseen);
		else if (strcmp (it, "RECENT") == 0)
			g_string_append (line, "RECENT 0");
		else if (strcmp (it, "SIZE") == 0)
			g_string_append_printf (line, "SIZE %" G_GUINT64_FORMAT, b->size);
		else if (strcmp (it, "DELETED") == 0)
			g_string_append_printf (line, "DELETED %u", n_deleted);
	}
	g_string_append_c (line, ')');
	imap_session_untagged (self, "%s", line->str);
	imap_session_tagged (self, "OK", NULL, "STATUS completed");
	imap_session_done (self);
}

typedef struct {
	ImapListOp *op;
	EpStoreMailbox *box;
	guint n_deleted;
} ImapStatusCount;

static void
imap_status_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapStatusCount *sc = user_data;
	ImapSession *self = sc->op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last = 0;

	if (self->closing || msgs == NULL) {
		if (!self->closing) {
			imap_session_store_error (self, error, "STATUS");
			imap_session_done (self);
		}
		ep_store_mailbox_free (sc->box);
		imap_list_op_free (sc->op);
		g_free (sc);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		last = m->uid;
		if (m->flags & EP_STORE_FLAG_DELETED)
			sc->n_deleted++;
	}
	if (msgs->len == IMAP_LIST_PAGE && last < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, sc->box->name, last + 1, G_MAXUINT32,
					      0, IMAP_LIST_PAGE, self->cancellable, imap_status_on_messages, sc);
		return;
	}
	imap_status_reply (sc->op, sc->box, sc->n_deleted);
	ep_store_mailbox_free (sc->box);
	imap_list_op_free (sc->op);
	g_free (sc);
}

static void
imap_status_on_mailbox (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapListOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);
	EpStoreMailbox *b;

	if (self->closing) {
		imap_list_op_free (op);
		return;
	}
	if (boxes == NULL || boxes->len == 0) {
		if (boxes != NULL)
			imap_session_tagged (self, "NO", "NONEXISTENT", "No such mailbox");
		else
			imap_session_store_error (self, error, "STATUS");
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	b = g_ptr_array_index (boxes, 0);
	if (g_strv_contains ((const char *const *)op->status_items, "DELETED")) {
		ImapStatusCount *sc = g_new0 (ImapStatusCount, 1);
		sc->op = op;
		sc->box = g_ptr_array_steal_index (boxes, 0);
		ep_store_list_messages_async (self->server->store, self->account, sc->box->name, 1, G_MAXUINT32, 0,
					      IMAP_LIST_PAGE, self->cancellable, imap_status_on_messages, sc);
		return;
	}
	imap_status_reply (op, b, 0);
	imap_list_op_free (op);
}

void
imap_cmd_status (ImapSession *self, GPtrArray *args)
{
	static const char *const known[] = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
					    "RECENT",	"SIZE",	   "DELETED",	  NULL};
	const ImapArg *list = args->len == 2 ? g_ptr_array_index (args, 1) : NULL;
	g_autofree char *name = NULL;
	g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
	ImapListOp *op;

	if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len == 0) {
		imap_session_bad (self, "STATUS takes a mailbox and a list of items");
		imap_session_done (self);
		return;
	}
	for (guint i = 0; i < list->list->len; i++) {
		const char *it = imap_arg_get_atom (g_ptr_array_index (list->list, i));
		g_autofree char *up = it != NULL ? g_ascii_strup (it, -1) : NULL;
		if (up == NULL || !g_strv_contains (known, up) || (self->rev2 && strcmp (up, "RECENT") == 0)) {
			imap_session_bad (self, "Unknown STATUS item");
			imap_session_done (self);
			return;
		}
		g_ptr_array_add (items, g_steal_pointer (&up));
	}
	g_ptr_array_add (items, NULL);
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapListOp, 1);
	op->self = g_object_ref (self);
	op->status_items = (char **)g_ptr_array_free (g_steal_pointer (&items), FALSE);
	imap_session_suspend (self);
	ep_store_list_mailboxes_async (self->server->store, self->account, name, self->cancellable,
				       imap_status_on_mailbox, op);
}

/* the finish of CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE */
static void
imap_session_on_mailbox_op (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	const char *name = self->cmd->name;
	gboolean ok;

	if (strcmp (name, "CREATE") == 0) {
		g_autoptr (EpStoreMailbox) b = ep_store_create_mailbox_finish (EP_STORE (source), res, &error);
		ok = b != NULL;
	} else if (strcmp (name, "DELETE") == 0) {
		ok = ep_store_delete_mailbox_finish (EP_STORE (source), res, &error);
	} else if (strcmp (name, "RENAME") == 0) {
		ok = ep_store_rename_mailbox_finish (EP_STORE (source), res, &error);
	} else {
		ok = ep_store_set_subscribed_finish (EP_STORE (source), res, &error);
	}
	if (self->closing)
		return;
	if (!ok)
		imap_session_store_error (self, error, name);
	else
		imap_session_tagged_ok_done (self);
	if (!ok)
		imap_session_done (self);
}

/* RENAME INBOX while INBOX is selected: its messages left it, and the
 * client hears of it as EXPUNGEs before OK */
static void
imap_session_on_selected_inbox_renamed (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	gboolean ok = ep_store_rename_mailbox_finish (EP_STORE (source), res, &error);

	if (self->closing)
		return;
	if (!ok) {
		imap_session_store_error (self, error, "RENAME");
		imap_session_done (self);
		return;
	}
	imap_session_sync (self, imap_session_tagged_ok_done);
}

void
imap_cmd_mailbox_op (ImapSession *self, GPtrArray *args)
{
	const char *cmd = self->cmd->name;
	gboolean rename = strcmp (cmd, "RENAME") == 0;
	g_autofree char *name = NULL;
	g_autofree char *new_name = NULL;
	EpStore *store = self->server->store;

	if (args->len != (rename ? 2u : 1u)) {
		g_autofree char *text =
		    g_strdup_printf ("%s takes %s", cmd, rename ? "two mailbox names" : "a mailbox name");
		imap_session_bad (self, text);
		imap_session_done (self);
		return;
	}
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	if (rename) {
		new_name = imap_session_mailbox_in (self, g_ptr_array_index (args, 1));
		if (new_name == NULL) {
			imap_session_done (self);
			return;
		}
	}
	/* deleting the selected mailbox: the session lets go of it first */
	if (strcmp (cmd, "DELETE") == 0 && self->mbox != NULL && strcmp (self->mbox->name, name) == 0) {
		imap_session_tagged (self, "NO", "INUSE", "Close the mailbox before deleting it");
		imap_session_done (self);
		return;
	}
	imap_session_suspend (self);
	if (strcmp (cmd, "CREATE") == 0)
		ep_store_create_mailbox_async (store, self->account, name, NULL, self->cancellable,
					       imap_session_on_mailbox_op, g_object_ref (self));
	else if (strcmp (cmd, "DELETE") == 0)
		ep_store_delete_mailbox_async (store, self->account, name, self->cancellable,
					       imap_session_on_mailbox_op, g_object_ref (self));
	else if (rename)
		ep_store_rename_mailbox_async (store, self->account, name, new_name, self->cancellable,
					       g_ascii_strcasecmp (name, "INBOX") == 0 && self->mbox != NULL &&
						       strcmp (self->mbox->name, "INBOX") == 0
						   ? imap_session_on_selected_inbox_renamed
						   : imap_session_on_mailbox_op,
					       g_object_ref (self));
	else
		ep_store_set_subscribed_async (store, self->account, name, strcmp (cmd, "SUBSCRIBE") == 0,
					       self->cancellable, imap_session_on_mailbox_op, g_object_ref (self));
}
