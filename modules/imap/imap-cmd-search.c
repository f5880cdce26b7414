/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"
#include "imap-sort.h"
#include "imap-thread.h"

/* ---- SEARCH, SORT, THREAD ------------------------------------------------------------------- */

/* SORT (RFC 5256) and THREAD run the SEARCH below, then order what matched */
typedef enum {
	IMAP_SEARCH_OP_SEARCH,
	IMAP_SEARCH_OP_SORT,
	IMAP_SEARCH_OP_THREAD,
} ImapSearchOpKind;

typedef struct {
	ImapSession *self; /* owned */
	ImapSearchOpKind kind;
	GArray *criteria;	       /* SORT: of ImapSortCriterion */
	ImapThreadAlgorithm algorithm; /* THREAD */
	gboolean need_header;	       /* SORT/THREAD: the keys come from the header */
	GPtrArray *sorted;	       /* SORT/THREAD: of ImapSortMessage, the matches */
	ImapSearchProgram *prog;
	guint next_text;     /* index into prog->text_keys */
	GPtrArray *messages; /* of EpStoreMessage: the view's, ascending */
	guint next;	     /* index into messages */
	GArray *result;	     /* guint32: sequence numbers or UIDs, ascending */
	GArray *modseqs;     /* guint64: the MODSEQ of each result */
	guint32 first, last; /* UIDs of the view */
} ImapSearchOp;

static void
imap_search_op_free (ImapSearchOp *op)
{
	imap_search_program_free (op->prog);
	g_clear_pointer (&op->criteria, g_array_unref);
	g_clear_pointer (&op->sorted, g_ptr_array_unref);
	g_ptr_array_unref (op->messages);
	g_array_unref (op->result);
	g_array_unref (op->modseqs);
	g_object_unref (op->self);
	g_free (op);
}

static void imap_search_next (ImapSearchOp *op);

static const char *
imap_search_op_name (ImapSearchOp *op)
{
	static const char *const names[][2] = {
	    {"SEARCH", "UID SEARCH"},
	    {"SORT", "UID SORT"},
	    {"THREAD", "UID THREAD"},
	};

	return names[op->kind][op->self->uid ? 1 : 0];
}

static void
imap_search_fail (ImapSearchOp *op, const GError *error)
{
	/* a failed SEARCH that was to save its result empties it (RFC 5182 §2.1) */
	if (op->prog->returns & IMAP_SEARCH_RETURN_SAVE)
		g_clear_pointer (&op->self->saved, g_array_unref);
	imap_session_store_error (op->self, error, imap_search_op_name (op));
	if (!op->self->closing)
		imap_session_done (op->self);
	imap_search_op_free (op);
}

/* RETURN (SAVE): the result as UIDs (RFC 5182) */
static void
imap_search_save (ImapSearchOp *op)
{
	ImapSession *self = op->self;
	g_autoptr (GArray) uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), op->result->len);

	for (guint i = 0; i < op->result->len; i++) {
		guint32 n = g_array_index (op->result, guint32, i);
		guint32 uid = self->uid ? n : g_array_index (self->mbox->uids, guint32, n - 1);
		g_array_append_val (uids, uid);
	}
	g_clear_pointer (&self->saved, g_array_unref);
	self->saved = imap_search_saved_result (op->prog, (const guint32 *)uids->data, uids->len);
}

static char *
imap_search_answer_sort (ImapSearchOp *op)
{
	GString *out = g_string_new ("SORT");

	imap_sort_messages (op->sorted, op->criteria);
	for (guint i = 0; i < op->sorted->len; i++) {
		const ImapSortMessage *m = g_ptr_array_index (op->sorted, i);
		g_string_append_printf (out, " %u", op->self->uid ? m->uid : m->seq);
	}
	return g_string_free (out, FALSE);
}

static void
imap_search_complete (ImapSearchOp *op)
{
	ImapSession *self = op->self;
	g_autofree char *answer = NULL;
	g_autofree char *done = g_strdup_printf ("%s completed", imap_search_op_name (op));

	if (op->kind == IMAP_SEARCH_OP_SORT) {
		answer = imap_search_answer_sort (op);
	} else if (op->kind == IMAP_SEARCH_OP_THREAD) {
		g_autoptr (ImapThreadTree) tree = imap_thread_build (op->sorted, op->algorithm);
		answer = imap_thread_format (tree, self->uid);
	} else {
		if (op->prog->returns & IMAP_SEARCH_RETURN_SAVE)
			imap_search_save (op);
		op->prog->result_modseq = imap_search_result_modseq (
		    op->prog, self->rev2, (const guint64 *)op->modseqs->data, op->modseqs->len);
		answer = imap_search_format (op->prog, self->rev2, self->cmd->tag, self->uid,
					     (const guint32 *)op->result->data, op->result->len);
	}
	if (answer != NULL)
		imap_session_untagged (self, "%s", answer);
	imap_session_tagged (self, "OK", NULL, done);
	imap_session_done (self);
	imap_search_op_free (op);
}

static void
imap_search_test (ImapSearchOp *op, const EpStoreMessage *m, GBytes *data, const char *header_text,
		  const char *body_text)
{
	ImapMailbox *mbox = op->self->mbox;
	guint32 seq = imap_mailbox_seq (mbox, m->uid);
	gsize len = 0;
	const char *d = data != NULL ? g_bytes_get_data (data, &len) : NULL;
	ImapSearchMessage msg = {
	    .seq = seq,
	    .uid = m->uid,
	    .flags = m->flags,
	    .keywords = (const char *const *)m->keywords,
	    .internal_date = m->internal_date,
	    .size = m->size,
	    .modseq = m->modseq,
	    .header = data != NULL ? (d != NULL ? d : "") : NULL,
	    .header_len = d != NULL ? imap_search_header_length (d, len) : 0,
	    .header_text = header_text,
	    .body_text = body_text,
	    .email_id = m->email_id,
	    .thread_id = m->thread_id,
	    .recent = !op->self->rev2 && imap_mailbox_is_recent (mbox, m->uid),
	};

	if (seq == 0)
		return;
	if (imap_search_match (op->prog->root, &msg, mbox->uids->len, op->last)) {
		guint32 n = op->self->uid ? m->uid : seq;
		g_array_append_val (op->result, n);
		g_array_append_val (op->modseqs, m->modseq);
		if (op->sorted != NULL)
			g_ptr_array_add (op->sorted, imap_sort_message_new (seq, m->uid, m->internal_date, m->size,
									    msg.header, msg.header_len));
	}
}

/* the case-folded texts of a message for BODY/TEXT, on the worker pool */
typedef struct {
	GBytes *data;
	char *header_text;
	char *body_text;
} ImapSearchTexts;

static void
imap_search_texts_free (ImapSearchTexts *t)
{
	g_bytes_unref (t->data);
	g_free (t->header_text);
	g_free (t->body_text);
	g_free (t);
}

static void
imap_search_texts_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	ImapSearchTexts *t = task_data;
	gsize len = 0;
	const char *d = g_bytes_get_data (t->data, &len);

	imap_search_message_text (d != NULL ? d : "", len, &t->header_text, &t->body_text);
	g_task_return_boolean (task, TRUE);
}

static void
imap_search_on_texts (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSearchOp *op = user_data;
	ImapSearchTexts *t = g_task_get_task_data (G_TASK (res));
	const EpStoreMessage *m = g_ptr_array_index (op->messages, op->next - 1);

	if (op->self->closing) {
		imap_search_op_free (op);
		return;
	}
	/* a saturated pool did not run it: do it here */
	if (!g_task_propagate_boolean (G_TASK (res), NULL)) {
		gsize len = 0;
		const char *d = g_bytes_get_data (t->data, &len);
		imap_search_message_text (d != NULL ? d : "", len, &t->header_text, &t->body_text);
	}
	imap_search_test (op, m, t->data, t->header_text, t->body_text);
	imap_search_next (op);
}

static void
imap_search_on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSearchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) data = ep_store_read_message_finish (EP_STORE (source), res, &error);
	const EpStoreMessage *m = g_ptr_array_index (op->messages, op->next);
	EpWorkerPool *pool = ep_context_get_worker_pool (self->server->ctx);

	if (self->closing) {
		imap_search_op_free (op);
		return;
	}
	op->next++;
	if (data == NULL) {
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND)) {
			imap_search_fail (op, error);
			return;
		}
		/* expunged meanwhile: it matches nothing */
	} else if (imap_search_text_candidate (op->prog, m->uid)) {
		/* the store's full-text answer is checked against the text itself */
		ImapSearchTexts *t = g_new0 (ImapSearchTexts, 1);
		t->data = g_bytes_ref (data);
		if (g_bytes_get_size (data) > IMAP_PARSE_IN_POOL && pool != NULL) {
			GTask *task = g_task_new (NULL, NULL, imap_search_on_texts, op);
			g_task_set_task_data (task, t, (GDestroyNotify)imap_search_texts_free);
			ep_worker_pool_run (pool, task, imap_search_texts_thread);
			g_object_unref (task);
			return;
		}
		imap_search_message_text (g_bytes_get_data (data, NULL) != NULL ? g_bytes_get_data (data, NULL) : "",
					  g_bytes_get_size (data), &t->header_text, &t->body_text);
		imap_search_test (op, m, data, t->header_text, t->body_text);
		imap_search_texts_free (t);
	} else {
		imap_search_test (op, m, data, NULL, NULL);
	}
	imap_search_next (op);
}

/* tests the listed messages; a message is read when a header key needs
 * it, or when the full-text index names it for a BODY/TEXT key */
static void
imap_search_next (ImapSearchOp *op)
{
	ImapSession *self = op->self;

	if (self->closing) {
		imap_search_op_free (op);
		return;
	}
	for (; op->next < op->messages->len; op->next++) {
		const EpStoreMessage *m = g_ptr_array_index (op->messages, op->next);
		if (op->prog->need_header || op->need_header || imap_search_text_candidate (op->prog, m->uid)) {
			ep_store_read_message_async (self->server->store, self->account, self->mbox->name, m->uid,
						     self->cancellable, imap_search_on_read, op);
			return;
		}
		imap_search_test (op, m, NULL, NULL, NULL);
	}
	imap_search_complete (op);
}

static void
imap_search_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSearchOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last = 0;
	guint n;

	if (self->closing) {
		imap_search_op_free (op);
		return;
	}
	if (msgs == NULL) {
		imap_search_fail (op, error);
		return;
	}
	n = msgs->len;
	if (n > 0)
		last = ((EpStoreMessage *)g_ptr_array_index (msgs, n - 1))->uid;
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		if (imap_mailbox_seq (self->mbox, m->uid) > 0)
			g_ptr_array_add (op->messages, g_ptr_array_steal_index (msgs, i--));
	}
	if (n == IMAP_LIST_PAGE && last < op->last) {
		ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, last + 1, op->last,
					      0, IMAP_LIST_PAGE, self->cancellable, imap_search_on_messages, op);
		return;
	}
	imap_search_next (op);
}

static void imap_search_text_next (ImapSearchOp *op);

static void
imap_search_on_text (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSearchOp *op = user_data;
	g_autoptr (GError) error = NULL;
	GArray *uids = ep_store_search_text_finish (EP_STORE (source), res, &error);
	ImapSearchKey *key;

	if (op->self->closing) {
		g_clear_pointer (&uids, g_array_unref);
		imap_search_op_free (op);
		return;
	}
	if (uids == NULL) {
		imap_search_fail (op, error);
		return;
	}
	key = g_ptr_array_index (op->prog->text_keys, op->next_text++);
	key->uids = uids;
	imap_search_text_next (op);
}

/* BODY and TEXT keys: asked of the store's full-text index first */
static void
imap_search_text_next (ImapSearchOp *op)
{
	ImapSession *self = op->self;

	if (op->next_text < op->prog->text_keys->len) {
		ImapSearchKey *key = g_ptr_array_index (op->prog->text_keys, op->next_text);
		ep_store_search_text_async (self->server->store, self->account, self->mbox->name, key->str,
					    self->cancellable, imap_search_on_text, op);
		return;
	}
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, op->first, op->last, 0,
				      IMAP_LIST_PAGE, self->cancellable, imap_search_on_messages, op);
}

/* "$" in the program: the saved result as it is now */
static void
imap_search_fill_saved (ImapSession *self, ImapSearchProgram *prog)
{
	for (guint i = 0; i < prog->saved_keys->len; i++) {
		ImapSearchKey *key = g_ptr_array_index (prog->saved_keys, i);
		key->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
		if (self->saved != NULL)
			g_array_append_vals (key->uids, self->saved->data, self->saved->len);
	}
}

static void
imap_search_start (ImapSession *self, ImapSearchOp *op)
{
	GArray *uids = self->mbox->uids;

	op->self = g_object_ref (self);
	op->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_message_free);
	op->result = g_array_new (FALSE, FALSE, sizeof (guint32));
	op->modseqs = g_array_new (FALSE, FALSE, sizeof (guint64));
	/* SEARCH MODSEQ enables CONDSTORE (RFC 7162 §3.1) */
	if (op->prog->has_modseq)
		imap_session_enable_condstore (self);
	if (op->kind != IMAP_SEARCH_OP_SEARCH)
		op->sorted = g_ptr_array_new_with_free_func ((GDestroyNotify)imap_sort_message_free);
	imap_search_fill_saved (self, op->prog);
	if (uids->len == 0) {
		imap_search_complete (op);
		return;
	}
	op->first = g_array_index (uids, guint32, 0);
	op->last = g_array_index (uids, guint32, uids->len - 1);
	imap_session_suspend (self);
	imap_search_text_next (op);
}

void
imap_cmd_search (ImapSession *self, GPtrArray *args)
{
	ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
	const char *error_text = NULL;
	g_autoptr (ImapSearchProgram) prog = imap_search_parse (args, &kind, &error_text);
	ImapSearchOp *op;

	if (prog == NULL) {
		/* a failed SEARCH that was to save its result empties it (RFC 5182 §2.1) */
		if (imap_search_args_want_save (args))
			g_clear_pointer (&self->saved, g_array_unref);
		if (kind == IMAP_SEARCH_ERROR_BADCHARSET)
			imap_session_tagged (self, "NO", "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset");
		else
			imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSearchOp, 1);
	op->kind = IMAP_SEARCH_OP_SEARCH;
	op->prog = g_steal_pointer (&prog);
	imap_search_start (self, op);
}

/* the charset and search program of SORT and THREAD (RFC 5256 §4): the
 * charset is required, RETURN and CHARSET are not there */
static ImapSearchProgram *
imap_search_parse_sort_program (ImapSession *self, GPtrArray *args, guint first)
{
	const char *charset = imap_arg_get_astring (g_ptr_array_index (args, first));
	const char *word = imap_arg_get_atom (g_ptr_array_index (args, first + 1));
	g_autoptr (GPtrArray) keys = g_ptr_array_new ();
	ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
	const char *error_text = NULL;
	ImapSearchProgram *prog;

	if (charset == NULL) {
		imap_session_bad (self, "Invalid charset");
		return NULL;
	}
	if (word != NULL && (g_ascii_strcasecmp (word, "RETURN") == 0 || g_ascii_strcasecmp (word, "CHARSET") == 0)) {
		imap_session_bad (self, "Unknown search key");
		return NULL;
	}
	for (guint i = first + 1; i < args->len; i++)
		g_ptr_array_add (keys, g_ptr_array_index (args, i));
	prog = imap_search_parse (keys, &kind, &error_text);
	if (prog == NULL) {
		imap_session_bad (self, error_text);
		return NULL;
	}
	if (g_ascii_strcasecmp (charset, "UTF-8") != 0 && g_ascii_strcasecmp (charset, "US-ASCII") != 0) {
		imap_session_tagged (self, "NO", "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset");
		imap_search_program_free (prog);
		return NULL;
	}
	return prog;
}

void
imap_cmd_sort (ImapSession *self, GPtrArray *args)
{
	const char *error_text = NULL;
	gboolean need_header = FALSE;
	g_autoptr (GArray) criteria = imap_sort_parse_criteria (g_ptr_array_index (args, 0), &need_header, &error_text);
	ImapSearchProgram *prog;
	ImapSearchOp *op;

	if (criteria == NULL) {
		imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	prog = imap_search_parse_sort_program (self, args, 1);
	if (prog == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSearchOp, 1);
	op->kind = IMAP_SEARCH_OP_SORT;
	op->prog = prog;
	op->criteria = g_steal_pointer (&criteria);
	op->need_header = need_header;
	imap_search_start (self, op);
}

void
imap_cmd_thread (ImapSession *self, GPtrArray *args)
{
	const char *name = imap_arg_get_atom (g_ptr_array_index (args, 0));
	ImapThreadAlgorithm algorithm;
	ImapSearchProgram *prog;
	ImapSearchOp *op;

	if (name == NULL || !imap_thread_parse_algorithm (name, &algorithm)) {
		imap_session_bad (self, "Unknown threading algorithm");
		imap_session_done (self);
		return;
	}
	prog = imap_search_parse_sort_program (self, args, 1);
	if (prog == NULL) {
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSearchOp, 1);
	op->kind = IMAP_SEARCH_OP_THREAD;
	op->prog = prog;
	op->algorithm = algorithm;
	op->need_header = TRUE;
	imap_search_start (self, op);
}
