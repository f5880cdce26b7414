/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-list.h"
#include "imap-session-private.h"

/* ---- SELECT / EXAMINE ----------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	ImapMailbox *mbox;
	EpStoreMailbox *info;
	guint n_unseen;
	guint first_unseen;
	ImapSelectParams params;
	gboolean resync;    /* QRESYNC with the mailbox's UIDVALIDITY: tell what changed */
	GPtrArray *changed; /* of EpStoreMessage: changed since the client's MODSEQ */
	GArray *vanished;   /* guint32: expunged since, ascending */
} ImapSelectOp;

static void
imap_select_op_free (ImapSelectOp *op)
{
	imap_select_params_clear (&op->params);
	g_clear_pointer (&op->changed, g_ptr_array_unref);
	g_clear_pointer (&op->vanished, g_array_unref);
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
		imap_session_untagged (self, "%u RECENT", imap_mailbox_n_recent (mbox));
		if (op->first_unseen > 0)
			imap_session_untagged (self, "OK [UNSEEN %u] First unseen", op->first_unseen);
	}
	imap_session_untagged (self, "OK [UIDVALIDITY %u] UIDs valid", mbox->uidvalidity);
	imap_session_untagged (self, "OK [UIDNEXT %u] Predicted next UID", mbox->uidnext);
	/* the view is the session's from here: FLAGS and the FETCH of QRESYNC
	 * below speak of it */
	self->mbox = g_steal_pointer (&op->mbox);
	imap_session_send_flags (self);
	if (mbox->modseq > 0)
		imap_session_untagged (self, "OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest", mbox->modseq);
	{
		g_autofree char *mailboxid = imap_mailbox_object_id (mbox->id);
		imap_session_untagged (self, "OK [MAILBOXID (%s)] Ok", mailboxid);
	}
	if (self->rev2) {
		imap_session_append_mailbox (self, list, mbox->name);
		imap_session_untagged (self, "%s", list->str);
	}
	/* QRESYNC (RFC 7162 §3.2.5): what the client missed, by UID */
	if (op->vanished != NULL && op->vanished->len > 0) {
		g_autoptr (GString) line = g_string_new ("VANISHED (EARLIER) ");
		imap_search_append_set (line, (const guint32 *)op->vanished->data, op->vanished->len);
		imap_session_untagged (self, "%s", line->str);
	}
	for (guint i = 0; op->changed != NULL && i < op->changed->len; i++) {
		const EpStoreMessage *m = g_ptr_array_index (op->changed, i);
		g_autoptr (GString) line = g_string_new (NULL);
		guint seq = imap_mailbox_seq (mbox, m->uid);

		if (seq == 0)
			continue;
		g_string_append_printf (line, "%u FETCH (UID %u ", seq, m->uid);
		imap_session_append_fetch_flags (self, line, m);
		g_string_append_printf (line, " MODSEQ (%" G_GUINT64_FORMAT "))", m->modseq);
		imap_session_untagged (self, "%s", line->str);
	}
	self->state = IMAP_STATE_SELECTED;
	imap_session_tagged (self, "OK", self->mbox->read_only ? "READ-ONLY" : "READ-WRITE",
			     self->mbox->read_only ? "EXAMINE completed" : "SELECT completed");
	imap_session_done (self);
}

static void
imap_select_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSelectOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_list_tombstones_finish (EP_STORE (source), res, &error);
	GArray *uids = op->mbox->uids;
	guint32 known_up_to;

	if (self->closing) {
		imap_select_op_free (op);
		return;
	}
	if (gone == NULL) {
		imap_session_store_error (self, error, "SELECT");
		imap_session_done (self);
		imap_select_op_free (op);
		return;
	}
	/* expunged after the messages were listed: the client has not seen
	 * the view yet, so it leaves the view now */
	for (guint i = 0; i < gone->len; i++) {
		guint seq = imap_mailbox_seq (op->mbox, g_array_index (gone, EpStoreTombstone, i).uid);
		if (seq == 0)
			continue;
		g_array_remove_index (uids, seq - 1);
		if (op->first_unseen == seq)
			op->first_unseen = 0;
		else if (op->first_unseen > seq)
			op->first_unseen--;
	}
	known_up_to = imap_qresync_known_up_to (&op->params, (const guint32 *)uids->data, uids->len);
	op->vanished = g_array_new (FALSE, FALSE, sizeof (guint32));
	for (guint i = 0; i < gone->len; i++) {
		const EpStoreTombstone *t = &g_array_index (gone, EpStoreTombstone, i);
		if (t->uid > known_up_to && imap_select_params_knows (&op->params, t->uid))
			g_array_append_val (op->vanished, t->uid);
	}
	g_array_sort (op->vanished, imap_uid_cmp);
	imap_select_finish (op);
	imap_select_op_free (op);
}

static void imap_select_on_recent (GObject *source, GAsyncResult *res, gpointer user_data);
static void imap_select_listed (ImapSelectOp *op);

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
		imap_mailbox_learn_keywords (op->mbox, (const char *const *)m->keywords);
		last = m->uid;
		op->mbox->modseq = MAX (op->mbox->modseq, m->modseq);
		if ((m->flags & EP_STORE_FLAG_SEEN) == 0 && op->first_unseen == 0)
			op->first_unseen = op->mbox->uids->len;
		if (m->uid >= op->mbox->uidnext)
			op->mbox->uidnext = m->uid + 1;
		if (op->resync && m->modseq > op->params.modseq && imap_select_params_knows (&op->params, m->uid))
			g_ptr_array_add (op->changed, g_ptr_array_steal_index (msgs, i--));
	}
	if (msgs->len == IMAP_LIST_PAGE && last < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, op->mbox->name, last + 1, G_MAXUINT32,
					      0, IMAP_LIST_PAGE, self->cancellable, imap_select_on_messages, op);
		return;
	}
	/* a rev1 SELECT takes the messages no session has seen as \Recent;
	 * after the listing, so that one stored meanwhile is claimed and
	 * reaches the view, \Recent, at the next synchronisation */
	if (op->mbox->recent != NULL) {
		ep_store_claim_recent_async (self->server->store, self->account, op->mbox->name, self->cancellable,
					     imap_select_on_recent, op);
		return;
	}
	imap_select_listed (op);
}

static void
imap_select_on_recent (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSelectOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	guint32 first = 0;
	guint64 next = 0;

	if (self->closing) {
		imap_select_op_free (op);
		return;
	}
	if (!ep_store_claim_recent_finish (EP_STORE (source), res, &first, &next, &error)) {
		imap_session_store_error (self, error, "SELECT");
		imap_session_done (self);
		imap_select_op_free (op);
		return;
	}
	imap_mailbox_add_recent (op->mbox, first, next);
	imap_select_listed (op);
}

/* the messages are listed (and claimed): what QRESYNC adds, then the answer */
static void
imap_select_listed (ImapSelectOp *op)
{
	ImapSession *self = op->self;

	if (op->resync) {
		/* listed after the messages, so that every expunge is in the
		 * view or in VANISHED (EARLIER) */
		ep_store_list_tombstones_async (self->server->store, self->account, op->mbox->name, op->params.modseq,
						self->cancellable, imap_select_on_tombstones, op);
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
	/* a QRESYNC for another UIDVALIDITY is a plain SELECT (RFC 7162 §3.2.5) */
	if (op->params.qresync && op->params.uidvalidity == info->uidvalidity) {
		op->resync = TRUE;
		op->changed = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_message_free);
	}
	/* a rev1 SELECT (not EXAMINE) has a \Recent set of its own */
	if (!self->rev2 && !op->mbox->read_only)
		op->mbox->recent = g_array_new (FALSE, FALSE, sizeof (ImapSeqRange));
	ep_store_list_messages_async (self->server->store, self->account, op->mbox->name, 1, G_MAXUINT32, 0,
				      IMAP_LIST_PAGE, self->cancellable, imap_select_on_messages, op);
}

void
imap_cmd_select (ImapSession *self, GPtrArray *args)
{
	g_autofree char *name = NULL;
	ImapSelectParams params = {0};
	const char *error_text = NULL;
	ImapSelectOp *op;

	if (args->len != 1 && args->len != 2) {
		imap_session_bad (self, "SELECT takes a mailbox name and parameters");
		imap_session_done (self);
		return;
	}
	if (args->len == 2 && !imap_select_params_parse (g_ptr_array_index (args, 1), &params, &error_text)) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	if (params.qresync && !self->qresync) {
		imap_select_params_clear (&params);
		imap_session_bad (self, "QRESYNC is not enabled (ENABLE QRESYNC first)");
		imap_session_done (self);
		return;
	}
	/* a failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2) */
	if (self->mbox != NULL) {
		imap_session_unselect (self);
		if (self->rev2 || self->qresync)
			imap_session_untagged (self, "OK [CLOSED] Previous mailbox closed");
	}
	if (params.condstore)
		imap_session_enable_condstore (self);
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_select_params_clear (&params);
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSelectOp, 1);
	op->self = g_object_ref (self);
	op->params = params;
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
	ImapListQuery *query;
	char **status_items;
	GPtrArray *boxes;     /* of EpStoreMailbox: what the store listed */
	GPtrArray *entries;   /* of ImapListEntry: what LIST answers */
	char **subscriptions; /* the subscribed names, for SUBSCRIBED and LSUB */
	guint next;	      /* the next entry to answer */
} ImapListOp;

static void
imap_list_op_free (ImapListOp *op)
{
	g_object_unref (op->self);
	g_clear_pointer (&op->query, imap_list_query_free);
	g_clear_pointer (&op->boxes, g_ptr_array_unref);
	g_clear_pointer (&op->entries, g_ptr_array_unref);
	g_strfreev (op->status_items);
	g_strfreev (op->subscriptions);
	g_free (op);
}

/* STATUS items that need the messages listed (the store counts the rest) */
static gboolean
imap_status_needs_messages (char **items)
{
	return g_strv_contains ((const char *const *)items, "DELETED") ||
	       g_strv_contains ((const char *const *)items, "DELETED-STORAGE");
}

/* octets in units of 1024 octets (RFC 9208 STORAGE), rounded up */
static guint64
imap_kib (guint64 octets)
{
	return octets / 1024 + (octets % 1024 != 0 ? 1 : 0);
}

/* the untagged STATUS answer of @b */
static void
imap_status_untagged (ImapSession *self, char **items, const EpStoreMailbox *b, guint n_deleted, guint64 deleted_size)
{
	g_autoptr (GString) line = g_string_new ("STATUS ");

	imap_session_append_mailbox (self, line, b->name);
	g_string_append (line, " (");
	for (guint i = 0; items[i] != NULL; i++) {
		const char *it = items[i];
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
			g_string_append_printf (line, "RECENT %" G_GUINT64_FORMAT, b->n_recent);
		else if (strcmp (it, "SIZE") == 0)
			g_string_append_printf (line, "SIZE %" G_GUINT64_FORMAT, b->size);
		else if (strcmp (it, "DELETED") == 0)
			g_string_append_printf (line, "DELETED %u", n_deleted);
		else if (strcmp (it, "HIGHESTMODSEQ") == 0)
			g_string_append_printf (line, "HIGHESTMODSEQ %" G_GUINT64_FORMAT, b->highest_modseq);
		else if (strcmp (it, "DELETED-STORAGE") == 0)
			g_string_append_printf (line, "DELETED-STORAGE %" G_GUINT64_FORMAT, imap_kib (deleted_size));
		else if (strcmp (it, "MAILBOXID") == 0) {
			g_autofree char *mailboxid = imap_mailbox_object_id (b->id);
			g_string_append_printf (line, "MAILBOXID (%s)", mailboxid);
		}
	}
	g_string_append_c (line, ')');
	imap_session_untagged (self, "%s", line->str);
}

/* Counting the \Deleted messages of one mailbox (STATUS DELETED and
 * DELETED-STORAGE), a page of the store's listing at a time. */
typedef void (*ImapCountDone) (ImapListOp *op, const EpStoreMailbox *box, const GError *error, guint n_deleted,
			       guint64 deleted_size);

typedef struct {
	ImapListOp *op;
	const EpStoreMailbox *box; /* in op->boxes */
	ImapCountDone done;
	guint n_deleted;
	guint64 deleted_size;
} ImapStatusCount;

static void
imap_status_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapStatusCount *sc = user_data;
	ImapSession *self = sc->op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last = 0;

	if (self->closing) {
		imap_list_op_free (sc->op);
		g_free (sc);
		return;
	}
	if (msgs == NULL) {
		sc->done (sc->op, sc->box, error, 0, 0);
		g_free (sc);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		last = m->uid;
		if (m->flags & EP_STORE_FLAG_DELETED) {
			sc->n_deleted++;
			sc->deleted_size += m->size;
		}
	}
	if (msgs->len == IMAP_LIST_PAGE && last < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, sc->box->name, last + 1, G_MAXUINT32,
					      0, IMAP_LIST_PAGE, self->cancellable, imap_status_on_messages, sc);
		return;
	}
	sc->done (sc->op, sc->box, NULL, sc->n_deleted, sc->deleted_size);
	g_free (sc);
}

static void
imap_status_count (ImapListOp *op, const EpStoreMailbox *box, ImapCountDone done)
{
	ImapSession *self = op->self;
	ImapStatusCount *sc = g_new0 (ImapStatusCount, 1);

	sc->op = op;
	sc->box = box;
	sc->done = done;
	ep_store_list_messages_async (self->server->store, self->account, box->name, 1, G_MAXUINT32, 0, IMAP_LIST_PAGE,
				      self->cancellable, imap_status_on_messages, sc);
}

static void imap_list_walk (ImapListOp *op);

static void
imap_list_on_counted (ImapListOp *op, const EpStoreMailbox *box, const GError *error, guint n_deleted,
		      guint64 deleted_size)
{
	ImapSession *self = op->self;

	if (error != NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND)) {
		imap_session_store_error (self, error, "LIST");
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	/* a mailbox deleted meanwhile gets no STATUS (RFC 5819 §2) */
	if (error == NULL)
		imap_status_untagged (self, op->query->status_items, box, n_deleted, deleted_size);
	imap_list_walk (op);
}

/* the LIST answers, each followed by its STATUS with RETURN (STATUS ...) */
static void
imap_list_walk (ImapListOp *op)
{
	ImapSession *self = op->self;
	ImapListQuery *q = op->query;

	while (op->next < op->entries->len) {
		const ImapListEntry *e = g_ptr_array_index (op->entries, op->next++);
		g_autoptr (GString) line = g_string_new (q->lsub ? "LSUB (" : "LIST (");

		imap_list_append_attributes (line, q, e, self->rev2);
		g_string_append (line, ") \"/\" ");
		imap_session_append_mailbox (self, line, e->name);
		if (e->childinfo)
			g_string_append (line, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		imap_session_untagged (self, "%s", line->str);
		if ((q->ret & IMAP_LIST_RET_STATUS) == 0 || e->box == NULL)
			continue;
		if (imap_status_needs_messages (q->status_items)) {
			imap_status_count (op, e->box, imap_list_on_counted);
			return;
		}
		imap_status_untagged (self, q->status_items, e->box, 0, 0);
	}
	imap_session_tagged (self, "OK", NULL, q->lsub ? "LSUB completed" : "LIST completed");
	imap_session_done (self);
	imap_list_op_free (op);
}

static void
imap_list_on_mailboxes (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapListOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	GPtrArray *boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		g_clear_pointer (&boxes, g_ptr_array_unref);
		imap_list_op_free (op);
		return;
	}
	if (boxes == NULL) {
		imap_session_store_error (self, error, op->query->lsub ? "LSUB" : "LIST");
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	op->boxes = boxes;
	op->entries = imap_list_select_subscribed (op->query, op->boxes, (const char *const *)op->subscriptions);
	imap_list_walk (op);
}

/* the subscribed names (RFC 9051 §6.3.7: some may name no mailbox), then the mailboxes */
static void
imap_list_on_subscriptions (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapListOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;

	op->subscriptions = ep_store_list_subscriptions_finish (EP_STORE (source), res, &error);
	if (self->closing) {
		imap_list_op_free (op);
		return;
	}
	if (op->subscriptions == NULL) {
		imap_session_store_error (self, error, op->query->lsub ? "LSUB" : "LIST");
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	ep_store_list_mailboxes_async (self->server->store, self->account, NULL, self->cancellable,
				       imap_list_on_mailboxes, op);
}

void
imap_cmd_list (ImapSession *self, GPtrArray *args)
{
	gboolean lsub = strcmp (self->cmd->name, "LSUB") == 0;
	const char *error = NULL;
	g_autoptr (ImapListQuery) query =
	    imap_list_query_parse (args, lsub, self->rev2, self->rev2 || self->utf8_accept, &error);
	ImapListOp *op;

	if (query == NULL) {
		imap_session_bad (self, error);
		imap_session_done (self);
		return;
	}
	if (query->delimiter) {
		/* the hierarchy delimiter and the root */
		imap_session_untagged (self, "LIST (\\Noselect) \"/\" \"\"");
		imap_session_tagged (self, "OK", NULL, "LIST completed");
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapListOp, 1);
	op->self = g_object_ref (self);
	op->query = g_steal_pointer (&query);
	imap_session_suspend (self);
	if (op->query->ret & IMAP_LIST_RET_SUBSCRIBED)
		ep_store_list_subscriptions_async (self->server->store, self->account, self->cancellable,
						   imap_list_on_subscriptions, op);
	else
		ep_store_list_mailboxes_async (self->server->store, self->account, NULL, self->cancellable,
					       imap_list_on_mailboxes, op);
}

static void
imap_status_on_counted (ImapListOp *op, const EpStoreMailbox *box, const GError *error, guint n_deleted,
			guint64 deleted_size)
{
	ImapSession *self = op->self;

	if (error != NULL) {
		imap_session_store_error (self, error, "STATUS");
	} else {
		imap_status_untagged (self, op->status_items, box, n_deleted, deleted_size);
		imap_session_tagged (self, "OK", NULL, "STATUS completed");
	}
	imap_session_done (self);
	imap_list_op_free (op);
}

static void
imap_status_on_mailbox (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapListOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	GPtrArray *boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		g_clear_pointer (&boxes, g_ptr_array_unref);
		imap_list_op_free (op);
		return;
	}
	if (boxes == NULL || boxes->len == 0) {
		if (boxes != NULL)
			imap_session_tagged (self, "NO", "NONEXISTENT", "No such mailbox");
		else
			imap_session_store_error (self, error, "STATUS");
		g_clear_pointer (&boxes, g_ptr_array_unref);
		imap_session_done (self);
		imap_list_op_free (op);
		return;
	}
	op->boxes = boxes;
	if (imap_status_needs_messages (op->status_items)) {
		imap_status_count (op, g_ptr_array_index (boxes, 0), imap_status_on_counted);
		return;
	}
	imap_status_on_counted (op, g_ptr_array_index (boxes, 0), NULL, 0, 0);
}

void
imap_cmd_status (ImapSession *self, GPtrArray *args)
{
	const char *error = NULL;
	g_auto (GStrv) items = imap_status_items_parse (g_ptr_array_index (args, 1), self->rev2, &error);
	g_autofree char *name = NULL;
	ImapListOp *op;

	if (items == NULL) {
		imap_session_bad (self, error);
		imap_session_done (self);
		return;
	}
	/* STATUS HIGHESTMODSEQ enables CONDSTORE (RFC 7162 §3.1) */
	if (g_strv_contains ((const char *const *)items, "HIGHESTMODSEQ"))
		imap_session_enable_condstore (self);
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapListOp, 1);
	op->self = g_object_ref (self);
	op->status_items = g_steal_pointer (&items);
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
	g_autofree char *mailboxid = NULL;
	gboolean ok;

	if (strcmp (name, "CREATE") == 0) {
		g_autoptr (EpStoreMailbox) b = ep_store_create_mailbox_finish (EP_STORE (source), res, &error);
		ok = b != NULL;
		/* OBJECTID (RFC 8474 §4.1): the new mailbox's id in the tagged OK */
		if (ok) {
			g_autofree char *id = imap_mailbox_object_id (b->id);
			mailboxid = g_strdup_printf ("MAILBOXID (%s)", id);
		}
	} else if (strcmp (name, "DELETE") == 0) {
		ok = ep_store_delete_mailbox_finish (EP_STORE (source), res, &error);
	} else if (strcmp (name, "RENAME") == 0) {
		ok = ep_store_rename_mailbox_finish (EP_STORE (source), res, &error);
	} else {
		ok = ep_store_set_subscribed_finish (EP_STORE (source), res, &error);
	}
	if (self->closing)
		return;
	if (!ok) {
		imap_session_store_error (self, error, name);
		imap_session_done (self);
	} else if (mailboxid != NULL) {
		imap_session_tagged (self, "OK", mailboxid, "CREATE completed");
		imap_session_done (self);
	} else {
		imap_session_tagged_ok_done (self);
	}
}

/* CREATE with USE: the role must be free (the store keeps one mailbox per role) */
typedef struct {
	ImapSession *self; /* owned */
	char *name;
	const char *role;
} ImapCreateOp;

static void
imap_create_on_mailboxes (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapCreateOp *op = user_data;
	g_autoptr (ImapSession) self = op->self;
	g_autofree char *name = op->name;
	const char *role = op->role;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	g_free (op);
	if (self->closing)
		return;
	if (boxes == NULL) {
		imap_session_store_error (self, error, "CREATE");
		imap_session_done (self);
		return;
	}
	for (guint i = 0; i < boxes->len; i++) {
		EpStoreMailbox *b = g_ptr_array_index (boxes, i);

		if (g_strcmp0 (b->role, role) != 0)
			continue;
		if (strcmp (b->name, name) == 0)
			imap_session_tagged (self, "NO", "ALREADYEXISTS", "Mailbox already exists");
		else
			imap_session_tagged (self, "NO", "USEATTR", "Another mailbox has this special use");
		imap_session_done (self);
		return;
	}
	ep_store_create_mailbox_async (self->server->store, self->account, name, role, self->cancellable,
				       imap_session_on_mailbox_op, g_object_ref (self));
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
	gboolean create = strcmp (cmd, "CREATE") == 0;
	const char *role = NULL;
	g_autofree char *name = NULL;
	g_autofree char *new_name = NULL;
	EpStore *store = self->server->store;

	if (args->len != (rename ? 2u : 1u) && !(create && args->len == 2)) {
		g_autofree char *text =
		    g_strdup_printf ("%s takes %s", cmd, rename ? "two mailbox names" : "a mailbox name");
		imap_session_bad (self, text);
		imap_session_done (self);
		return;
	}
	if (create && args->len == 2) {
		const char *error = NULL;
		ImapCreateParams r = imap_create_params_parse (g_ptr_array_index (args, 1), &role, &error);

		if (r != IMAP_CREATE_PARAMS_OK) {
			if (r == IMAP_CREATE_PARAMS_BAD)
				imap_session_bad (self, error);
			else
				imap_session_tagged (self, "NO", "USEATTR", error);
			imap_session_done (self);
			return;
		}
	}
	name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	if (role != NULL) {
		ImapCreateOp *op = g_new0 (ImapCreateOp, 1);

		/* the store takes a role once per account: which mailbox has it? */
		op->self = g_object_ref (self);
		op->name = g_steal_pointer (&name);
		op->role = role;
		imap_session_suspend (self);
		ep_store_list_mailboxes_async (store, self->account, NULL, self->cancellable, imap_create_on_mailboxes,
					       op);
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
	if (create)
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

/* ---- QUOTA (RFC 9208) ----------------------------------------------------------------------- */

/*
 * The store keeps one storage quota per account (quota_bytes, set in the
 * configuration or when the CLI creates the account): it is the quota
 * root "" of every mailbox of the account.  An account without a quota
 * has no quota root.  Usage and limit are in units of 1024 octets.
 */

typedef struct {
	ImapSession *self; /* owned */
	char *mailbox;	   /* (nullable): GETQUOTAROOT's mailbox */
} ImapQuotaOp;

static void
imap_quota_op_free (ImapQuotaOp *op)
{
	g_object_unref (op->self);
	g_free (op->mailbox);
	g_free (op);
}

static void
imap_quota_on_quota (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapQuotaOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	gint64 used = 0, limit = 0;
	gboolean ok = ep_store_get_quota_finish (EP_STORE (source), res, &used, &limit, NULL, &error);

	if (self->closing) {
		imap_quota_op_free (op);
		return;
	}
	if (!ok) {
		imap_session_store_error (self, error, "GETQUOTA");
		imap_session_done (self);
		imap_quota_op_free (op);
		return;
	}
	if (op->mailbox != NULL) {
		g_autoptr (GString) line = g_string_new ("QUOTAROOT ");

		imap_session_append_mailbox (self, line, op->mailbox);
		if (limit > 0)
			g_string_append (line, " \"\"");
		imap_session_untagged (self, "%s", line->str);
	} else if (limit <= 0) {
		imap_session_tagged (self, "NO", "NONEXISTENT", "No such quota root");
		imap_session_done (self);
		imap_quota_op_free (op);
		return;
	}
	if (limit > 0)
		imap_session_untagged (self, "QUOTA \"\" (STORAGE %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT ")",
				       imap_kib ((guint64)MAX (used, 0)), (guint64)limit / 1024);
	imap_session_tagged_ok_done (self);
	imap_quota_op_free (op);
}

static void
imap_quota_on_mailbox (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapQuotaOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) boxes = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (self->closing) {
		imap_quota_op_free (op);
		return;
	}
	if (boxes == NULL || boxes->len == 0) {
		if (boxes != NULL || g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			imap_session_tagged (self, "NO", "NONEXISTENT", "No such mailbox");
		else
			imap_session_store_error (self, error, "GETQUOTAROOT");
		imap_session_done (self);
		imap_quota_op_free (op);
		return;
	}
	/* the name as the store spells it (INBOX) */
	g_free (op->mailbox);
	op->mailbox = g_strdup (((EpStoreMailbox *)g_ptr_array_index (boxes, 0))->name);
	ep_store_get_quota_async (self->server->store, self->account, self->cancellable, imap_quota_on_quota, op);
}

void
imap_cmd_getquotaroot (ImapSession *self, GPtrArray *args)
{
	g_autofree char *name = imap_session_mailbox_in (self, g_ptr_array_index (args, 0));
	ImapQuotaOp *op;

	if (name == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapQuotaOp, 1);
	op->self = g_object_ref (self);
	op->mailbox = g_steal_pointer (&name);
	imap_session_suspend (self);
	ep_store_list_mailboxes_async (self->server->store, self->account, op->mailbox, self->cancellable,
				       imap_quota_on_mailbox, op);
}

void
imap_cmd_getquota (ImapSession *self, GPtrArray *args)
{
	const char *root = imap_arg_get_astring (g_ptr_array_index (args, 0));
	ImapQuotaOp *op;

	if (root == NULL) {
		imap_session_bad (self, "GETQUOTA takes a quota root");
		imap_session_done (self);
		return;
	}
	if (root[0] != '\0') {
		imap_session_tagged (self, "NO", "NONEXISTENT", "No such quota root");
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapQuotaOp, 1);
	op->self = g_object_ref (self);
	imap_session_suspend (self);
	ep_store_get_quota_async (self->server->store, self->account, self->cancellable, imap_quota_on_quota, op);
}

void
imap_cmd_setquota (ImapSession *self, GPtrArray *args)
{
	const char *root = imap_arg_get_astring (g_ptr_array_index (args, 0));
	const ImapArg *list = g_ptr_array_index (args, 1);
	gboolean valid = root != NULL && list->type == IMAP_ARG_LIST && list->list->len % 2 == 0;

	/* setquota_list: "(" [setquota_resource *(SP setquota_resource)] ")", resource SP number64 */
	for (guint i = 0; valid && i < list->list->len; i += 2) {
		const char *res = imap_arg_get_atom (g_ptr_array_index (list->list, i));
		const char *num = imap_arg_get_atom (g_ptr_array_index (list->list, i + 1));
		guint64 n;

		valid = res != NULL && num != NULL && g_ascii_string_to_unsigned (num, 10, 0, G_MAXINT64, &n, NULL);
	}
	if (!valid) {
		imap_session_bad (self, "SETQUOTA takes a quota root and a list of resource limits");
		imap_session_done (self);
		return;
	}
	imap_session_tagged (self, "NO", "NOPERM", "Quotas are set by the administrator, not over IMAP");
	imap_session_done (self);
}
