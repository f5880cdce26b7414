/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * One IMAP session (RFC 9051, with RFC 3501 behaviour until the client
 * sends ENABLE IMAP4rev2).
 *
 * Input: command lines from the connection's strict framer, each fed with
 * its CRLF to the incremental parser (imap-parser.c); when the parser
 * announces a literal, its octets are read by count and fed the same way.
 * A command that waits for the store pauses input; the next command is
 * read once the tagged answer went out, so pipelined commands are served
 * in order.
 *
 * Sequence numbers: the session keeps the UIDs of the selected mailbox in
 * order (its view).  Changes made by others reach the view only when the
 * session synchronises: at NOOP, at IDLE (at once, on mailbox.changed),
 * after APPEND or COPY into the selected mailbox and after EXPUNGE; untagged
 * EXPUNGE is sent only then, never during FETCH or STORE.
 */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"

G_DEFINE_FINAL_TYPE (ImapSession, imap_session, G_TYPE_OBJECT)

static void imap_session_input (ImapSession *self);

/* ---- output ------------------------------------------------------------------------------ */

void
imap_session_write (ImapSession *self, const char *text)
{
	ep_connection_write (self->conn, text, strlen (text));
}

void
imap_session_untagged (ImapSession *self, const char *format, ...)
{
	va_list ap;
	g_autofree char *text = NULL;
	g_autofree char *line = NULL;

	va_start (ap, format);
	text = g_strdup_vprintf (format, ap);
	va_end (ap);
	line = g_strdup_printf ("* %s\r\n", text);
	imap_session_write (self, line);
}

/* "<tag> <status> [<code>] <text>" for the command being executed */
void
imap_session_tagged (ImapSession *self, const char *status, const char *code, const char *text)
{
	g_autofree char *line =
	    g_strdup_printf ("%s %s %s%s%s%s\r\n", self->cmd != NULL ? self->cmd->tag : "*", status,
			     code != NULL ? "[" : "", code != NULL ? code : "", code != NULL ? "] " : "", text);
	imap_session_write (self, line);
}

static void
imap_session_close (ImapSession *self)
{
	if (self->closing)
		return;
	self->closing = TRUE;
	g_cancellable_cancel (self->cancellable);
	ep_connection_close (self->conn);
}

void
imap_session_bye (ImapSession *self, const char *text)
{
	imap_session_untagged (self, "BYE %s", text);
	imap_session_close (self);
}

void
imap_session_suspend (ImapSession *self)
{
	self->busy = TRUE;
	ep_connection_pause_input (self->conn);
}

/* The command is over: the next one may be read. */
void
imap_session_done (ImapSession *self)
{
	g_clear_pointer (&self->cmd, imap_command_free);
	self->uid = FALSE;
	self->busy = FALSE;
	if (!self->closing && !self->auth_recording)
		ep_connection_resume_input (self->conn);
}

void
imap_session_bad (ImapSession *self, const char *text)
{
	imap_session_tagged (self, "BAD", NULL, text);
	if (++self->n_errors >= self->server->limits.max_errors)
		imap_session_bye (self, "Too many invalid commands");
}

/* a store error as a client may see it: no internal text ever */
void
imap_session_store_error (ImapSession *self, const GError *error, const char *what)
{
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->closing)
		return;
	if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
		imap_session_tagged (self, "NO", "NONEXISTENT", "No such mailbox");
	else if (g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS))
		imap_session_tagged (self, "NO", "ALREADYEXISTS", "Mailbox already exists");
	else if (g_error_matches (error, EP_ERROR, EP_ERROR_PERM))
		imap_session_tagged (self, "NO", "CANNOT", "Not allowed");
	else if (g_error_matches (error, EP_ERROR, EP_ERROR_INVALID))
		imap_session_tagged (self, "NO", "CANNOT", "Invalid mailbox name");
	else if (g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT))
		imap_session_tagged (self, "NO", "OVERQUOTA", "Quota exceeded");
	else {
		ep_log_warning (IMAP_MODULE, self->id, "%s: %s", what, error->message);
		imap_session_tagged (self, "NO", "UNAVAILABLE", "Temporary failure, try again later");
	}
}

/* ---- capabilities ------------------------------------------------------------------------ */

char *
imap_session_auth_mechanisms (ImapSession *self)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	EpTomlValue *oauth = ep_config_get_section (ep_context_get_config (self->server->ctx), "auth-oauth");
	gboolean has_oauth = oauth != NULL && ep_config_section_get_string (oauth, "issuer", NULL) != NULL;
	g_auto (GStrv) mechs = NULL;
	GString *out = g_string_new (NULL);

	/* no mechanism at all without TLS or without a credential backend */
	if (!ep_connection_is_tls (self->conn) ||
	    ep_hook_bus_get_n_handlers (ep_context_get_hook_bus (self->server->ctx), EP_HOOK_POINT_AUTH_VERIFY) == 0)
		return g_string_free (out, FALSE);
	mechs = ep_sasl_mechanisms_available (TRUE, cb != NULL, has_oauth);
	for (guint i = 0; mechs != NULL && mechs[i] != NULL; i++)
		g_string_append_printf (out, " AUTH=%s", mechs[i]);
	return g_string_free (out, FALSE);
}

char *
imap_session_capabilities (ImapSession *self)
{
	GString *out = g_string_new ("IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID IDLE NAMESPACE");

	if (self->state == IMAP_STATE_NOT_AUTH) {
		if (!ep_connection_is_tls (self->conn)) {
			if (ep_context_get_tls (self->server->ctx) != NULL)
				g_string_append (out, " STARTTLS");
			g_string_append (out, " LOGINDISABLED");
		} else {
			g_autofree char *mechs = imap_session_auth_mechanisms (self);
			g_string_append (out, " SASL-IR");
			g_string_append (out, mechs);
		}
	} else {
		g_string_append_printf (
		    out,
		    " UNSELECT UIDPLUS MOVE SPECIAL-USE CHILDREN ESEARCH SEARCHRES MULTIAPPEND BINARY OBJECTID "
		    "UTF8=ACCEPT APPENDLIMIT=%" G_GUINT64_FORMAT,
		    self->server->limits.append_limit);
		g_string_append (out, " CONDSTORE QRESYNC");
		g_string_append (out,
				 " LIST-EXTENDED LIST-STATUS CREATE-SPECIAL-USE QUOTA QUOTA=RES-STORAGE STATUS=SIZE");
		g_string_append (out, " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES");
	}
	return g_string_free (out, FALSE);
}

/* ---- mailbox names ------------------------------------------------------------------------ */

/* A client's mailbox name to the store's, or %NULL (with a BAD or NO sent) */
char *
imap_session_mailbox_in (ImapSession *self, const ImapArg *arg)
{
	const char *s = imap_arg_get_astring (arg);
	g_autofree char *utf8 = NULL;
	g_autofree char *trimmed = NULL;
	char *name;
	gsize len;

	if (s == NULL) {
		imap_session_bad (self, "Invalid mailbox name");
		return NULL;
	}
	if (self->rev2 || self->utf8_accept) {
		if (!g_utf8_validate (s, -1, NULL)) {
			imap_session_bad (self, "Mailbox name is not UTF-8");
			return NULL;
		}
		utf8 = g_strdup (s);
	} else {
		utf8 = imap_utf7_decode (s);
		if (utf8 == NULL) {
			imap_session_bad (self, "Mailbox name is not modified UTF-7");
			return NULL;
		}
	}
	/* "a/" names the mailbox "a" (CREATE of a future parent) */
	len = strlen (utf8);
	trimmed = len > 1 && utf8[len - 1] == '/' ? g_strndup (utf8, len - 1) : g_strdup (utf8);
	name = ep_store_normalize_mailbox_name (trimmed, NULL);
	if (name == NULL)
		imap_session_tagged (self, "NO", "CANNOT", "Invalid mailbox name");
	return name;
}

void
imap_session_append_mailbox (ImapSession *self, GString *out, const char *name)
{
	if (self->rev2 || self->utf8_accept) {
		imap_append_string (out, name);
	} else {
		g_autofree char *m = imap_utf7_encode (name);
		imap_append_string (out, m);
	}
}

/* ---- the selected mailbox ------------------------------------------------------------------ */

void
imap_mailbox_free (ImapMailbox *mbox)
{
	g_free (mbox->name);
	g_array_unref (mbox->uids);
	g_clear_pointer (&mbox->recent, g_array_unref);
	g_clear_pointer (&mbox->keywords_folded, g_hash_table_unref);
	g_clear_pointer (&mbox->keywords, g_ptr_array_unref);
	g_free (mbox);
}

/* Adds the claimed UIDs [@first, @next) to the session's \Recent set;
 * claims come in ascending order, so a range extends the last one or
 * follows it */
void
imap_mailbox_add_recent (ImapMailbox *mbox, guint32 first, guint64 next)
{
	ImapSeqRange r = {first, (guint32)MIN (next - 1, (guint64)G_MAXUINT32)};
	ImapSeqRange *last;

	if (mbox->recent == NULL || next <= first)
		return;
	last = mbox->recent->len > 0 ? &g_array_index (mbox->recent, ImapSeqRange, mbox->recent->len - 1) : NULL;
	if (last != NULL && r.first <= (guint64)last->last + 1) {
		last->last = MAX (last->last, r.last);
		return;
	}
	g_array_append_val (mbox->recent, r);
}

/* whether @uid is \Recent for this session (whether the view holds it
 * is the caller's question) */
gboolean
imap_mailbox_is_recent (ImapMailbox *mbox, guint32 uid)
{
	guint lo = 0, hi;

	if (mbox == NULL || mbox->recent == NULL)
		return FALSE;
	hi = mbox->recent->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		const ImapSeqRange *r = &g_array_index (mbox->recent, ImapSeqRange, mid);
		if (uid < r->first)
			hi = mid;
		else if (uid > r->last)
			lo = mid + 1;
		else
			return TRUE;
	}
	return FALSE;
}

/* the index of the first UID of the view that is >= @uid */
static guint
imap_mailbox_lower_bound (ImapMailbox *mbox, guint32 uid)
{
	guint lo = 0, hi = mbox->uids->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		if (g_array_index (mbox->uids, guint32, mid) < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* the number of messages of the view that are \Recent for this session:
 * an expunged message has left the view, and with it the count */
guint
imap_mailbox_n_recent (ImapMailbox *mbox)
{
	guint n = 0;

	for (guint i = 0; mbox->recent != NULL && i < mbox->recent->len; i++) {
		const ImapSeqRange *r = &g_array_index (mbox->recent, ImapSeqRange, i);
		guint from = imap_mailbox_lower_bound (mbox, r->first);
		guint to = r->last == G_MAXUINT32 ? mbox->uids->len : imap_mailbox_lower_bound (mbox, r->last + 1);
		n += to - from;
	}
	return n;
}

/* keywords are compared without regard to ASCII case, as SEARCH KEYWORD
 * compares them */
static guint
imap_keyword_hash (gconstpointer key)
{
	guint h = 5381;

	for (const char *p = key; *p != '\0'; p++)
		h = h * 33 + (guchar)g_ascii_tolower (*p);
	return h;
}

static gboolean
imap_keyword_equal (gconstpointer a, gconstpointer b)
{
	return g_ascii_strcasecmp (a, b) == 0;
}

/* Adds the keywords of @keywords the view does not know yet; returns
 * whether there was one */
static gboolean
imap_mailbox_add_keywords (ImapMailbox *mbox, const char *const *keywords)
{
	gboolean added = FALSE;

	if (mbox->keywords == NULL) {
		mbox->keywords = g_ptr_array_new_with_free_func (g_free);
		mbox->keywords_folded = g_hash_table_new (imap_keyword_hash, imap_keyword_equal);
	}
	for (guint i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		char *keyword;

		if (g_hash_table_contains (mbox->keywords_folded, keywords[i]))
			continue;
		keyword = g_strdup (keywords[i]);
		g_ptr_array_add (mbox->keywords, keyword);
		g_hash_table_add (mbox->keywords_folded, keyword); /* the key is the array's string */
		added = TRUE;
	}
	return added;
}

/* the keywords of a message listed at SELECT, before FLAGS is sent */
void
imap_mailbox_learn_keywords (ImapMailbox *mbox, const char *const *keywords)
{
	imap_mailbox_add_keywords (mbox, keywords);
}

/* FLAGS and PERMANENTFLAGS (RFC 3501 §7.2.6, §7.1): the system flags and
 * the keywords the mailbox's messages use */
void
imap_session_send_flags (ImapSession *self)
{
	ImapMailbox *mbox = self->mbox;
	g_autoptr (GString) kw = g_string_new (NULL);

	for (guint i = 0; mbox->keywords != NULL && i < mbox->keywords->len; i++) {
		g_string_append_c (kw, ' ');
		g_string_append (kw, g_ptr_array_index (mbox->keywords, i));
	}
	imap_session_untagged (self, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)", kw->str);
	if (mbox->read_only)
		imap_session_untagged (self, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_session_untagged (self,
				       "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s \\*)] "
				       "Flags permitted",
				       kw->str);
}

/* A keyword of @keywords the client was not told of yet: a new FLAGS
 * (RFC 3501 §7.2.6), before the FETCH that carries it */
void
imap_session_announce_keywords (ImapSession *self, const char *const *keywords)
{
	if (self->mbox == NULL || keywords == NULL || keywords[0] == NULL)
		return;
	if (imap_mailbox_add_keywords (self->mbox, keywords))
		imap_session_send_flags (self);
}

/* the sequence number (1-based) of @uid, or 0 */
guint
imap_mailbox_seq (ImapMailbox *mbox, guint32 uid)
{
	guint lo = 0, hi = mbox->uids->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		guint32 u = g_array_index (mbox->uids, guint32, mid);
		if (u == uid)
			return mid + 1;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* whether the ascending @uids hold @uid */
gboolean
imap_uids_contain (GArray *uids, guint32 uid)
{
	guint lo = 0, hi = uids->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		guint32 u = g_array_index (uids, guint32, mid);
		if (u == uid)
			return TRUE;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FALSE;
}

/* the sequence number (1-based) of @uid, or 0 */

void
imap_session_unselect (ImapSession *self)
{
	g_clear_pointer (&self->mbox, imap_mailbox_free);
	g_clear_pointer (&self->saved, g_array_unref); /* RFC 5182 §2.1 */
	self->changed = FALSE;
	if (self->state == IMAP_STATE_SELECTED)
		self->state = IMAP_STATE_AUTH;
}

/* "FLAGS (…)" of message @uid: its system flags, \Recent in a rev1
 * session that claimed it, then its keywords (announced first with a
 * FLAGS response when the client does not know one of them yet) */
void
imap_session_append_flags (ImapSession *self, GString *line, guint32 uid, EpStoreFlags flags,
			   const char *const *keywords)
{
	gsize start;

	imap_session_announce_keywords (self, keywords);
	g_string_append (line, "FLAGS (");
	start = line->len;
	imap_append_flags (line, flags, NULL);
	if (!self->rev2 && imap_mailbox_is_recent (self->mbox, uid)) {
		if (line->len > start)
			g_string_append_c (line, ' ');
		g_string_append (line, "\\Recent");
	}
	for (guint i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		if (line->len > start)
			g_string_append_c (line, ' ');
		g_string_append (line, keywords[i]);
	}
	g_string_append_c (line, ')');
}

void
imap_session_append_fetch_flags (ImapSession *self, GString *line, const EpStoreMessage *m)
{
	imap_session_append_flags (self, line, m->uid, m->flags, (const char *const *)m->keywords);
}

/* ---- synchronisation: bring the view up to date and tell the client ----------------------- */

typedef struct {
	ImapSession *self; /* owned */
	ImapSyncDone done;
	guint64 since;
	guint64 max_modseq;
	gboolean listed_changes;   /* a changed message was listed */
	gboolean rechecked;	   /* the tombstones were listed again after the messages */
	gboolean grew;		   /* EXISTS was sent: a rev1 session tells RECENT */
	gboolean claimed;	   /* the new messages were claimed as \Recent */
	gboolean claimed_by_other; /* a session of the same shared listing claims them */
} ImapSyncOp;

static void imap_session_idle_finish (ImapSession *self);
static void imap_sync_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data);

static void imap_sync_finish (ImapSyncOp *op);
static ImapSyncOp *imap_sync_op_new (ImapSession *self, ImapSyncDone done);

static void
imap_sync_on_claimed (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSyncOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	guint32 first = 0;
	guint64 next = 0;

	if (!ep_store_claim_recent_finish (EP_STORE (source), res, &first, &next, &error)) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (IMAP_MODULE, self->id, "claiming the recent messages: %s", error->message);
	} else if (!self->closing && self->mbox != NULL) {
		imap_mailbox_add_recent (self->mbox, first, next);
	}
	if (!self->closing && self->mbox != NULL)
		imap_session_untagged (self, "%u RECENT", imap_mailbox_n_recent (self->mbox));
	imap_sync_finish (op);
}

static void
imap_sync_finish (ImapSyncOp *op)
{
	g_autoptr (ImapSession) self = NULL;
	ImapSyncDone done = op->done;

	/* new messages in a rev1 session: RECENT after EXISTS (RFC 3501
	 * §7.3.2); one claim per synchronisation takes those no other session
	 * has seen as \Recent (a SELECT, not an EXAMINE, claims) */
	if (op->grew && !op->claimed && !op->self->closing && op->self->mbox != NULL && !op->self->rev2) {
		op->claimed = TRUE;
		if (op->self->mbox->recent != NULL && !op->claimed_by_other) {
			ep_store_claim_recent_async (op->self->server->store, op->self->account, op->self->mbox->name,
						     op->self->cancellable, imap_sync_on_claimed, op);
			return;
		}
		imap_session_untagged (op->self, "%u RECENT", imap_mailbox_n_recent (op->self->mbox));
	}
	self = op->self;

	if (self->mbox != NULL && op->max_modseq > self->mbox->modseq)
		self->mbox->modseq = op->max_modseq;
	g_free (op);
	self->syncing = FALSE;
	if (self->closing)
		return;
	if (done != NULL)
		done (self);
	if (self->idle_done_pending) {
		imap_session_idle_finish (self);
		return;
	}
	/* a change that arrived meanwhile, for a client that waits in IDLE */
	if (self->changed && self->idling && !self->syncing && !self->idle_done_pending)
		imap_session_sync (self, NULL);
}

/* Tells the client of the changed and new messages in @msgs; returns the
 * UID of the last one */
static guint32
imap_sync_apply_messages (ImapSyncOp *op, GPtrArray *msgs)
{
	ImapSession *self = op->self;
	guint32 last_uid = 0;
	gboolean grew = FALSE;

	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		guint seq = imap_mailbox_seq (self->mbox, m->uid);
		GArray *uids = self->mbox->uids;

		last_uid = m->uid;
		op->max_modseq = MAX (op->max_modseq, m->modseq);
		op->listed_changes = TRUE;
		if (seq > 0) {
			g_autoptr (GString) line = g_string_new (NULL);
			g_string_append_printf (line, "%u FETCH (UID %u ", seq, m->uid);
			imap_session_append_fetch_flags (self, line, m);
			if (self->condstore)
				g_string_append_printf (line, " MODSEQ (%" G_GUINT64_FORMAT ")", m->modseq);
			g_string_append_c (line, ')');
			imap_session_untagged (self, "%s", line->str);
		} else if (uids->len == 0 || m->uid > g_array_index (uids, guint32, uids->len - 1)) {
			imap_session_announce_keywords (self, (const char *const *)m->keywords);
			g_array_append_val (uids, m->uid);
			grew = TRUE;
		}
		if (m->uid >= self->mbox->uidnext)
			self->mbox->uidnext = m->uid + 1;
	}
	if (grew) {
		imap_session_untagged (self, "%u EXISTS", self->mbox->uids->len);
		op->grew = TRUE;
	}
	return last_uid;
}

static void
imap_sync_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSyncOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last_uid;

	if (msgs == NULL || self->closing || self->mbox == NULL) {
		if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (IMAP_MODULE, self->id, "synchronising the mailbox: %s", error->message);
		imap_sync_finish (op);
		return;
	}
	last_uid = imap_sync_apply_messages (op, msgs);
	if (msgs->len == IMAP_LIST_PAGE && last_uid < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, last_uid + 1,
					      G_MAXUINT32, op->since, IMAP_LIST_PAGE, self->cancellable,
					      imap_sync_on_messages, op);
		return;
	}
	/* an expunge committed after the tombstones were listed may have a
	 * MODSEQ below a change listed since: the view's MODSEQ would pass it
	 * by, so the tombstones are listed once more (RFC 7162 clients rely on
	 * hearing of every expunge) */
	if (op->listed_changes && !op->rechecked) {
		op->rechecked = TRUE;
		ep_store_list_tombstones_async (self->server->store, self->account, self->mbox->name, op->since,
						self->cancellable, imap_sync_on_tombstones, op);
		return;
	}
	imap_sync_finish (op);
}

/* Takes the expunged messages of @gone out of the view and tells the client */
static void
imap_sync_apply_tombstones (ImapSyncOp *op, GArray *gone)
{
	ImapSession *self = op->self;
	g_autoptr (GArray) vanished = g_array_new (FALSE, FALSE, sizeof (guint32));

	for (guint i = 0; i < gone->len; i++) {
		EpStoreTombstone *t = &g_array_index (gone, EpStoreTombstone, i);
		guint seq = imap_mailbox_seq (self->mbox, t->uid);

		op->max_modseq = MAX (op->max_modseq, t->modseq);
		if (seq == 0)
			continue;
		g_array_remove_index (self->mbox->uids, seq - 1);
		if (self->qresync)
			g_array_append_val (vanished, t->uid);
		else
			imap_session_untagged (self, "%u EXPUNGE", seq);
	}
	/* QRESYNC: the UIDs instead, in one response (RFC 7162 §3.2.10) */
	if (vanished->len > 0) {
		g_autoptr (GString) line = g_string_new ("VANISHED ");
		g_array_sort (vanished, imap_uid_cmp);
		imap_search_append_set (line, (const guint32 *)vanished->data, vanished->len);
		imap_session_untagged (self, "%s", line->str);
	}
}

/* ---- the session's own changes ------------------------------------------------------------ */

/* A change this session made, numbered @modseq by the store, is the only
 * change since the view's when @modseq follows the view's MODSEQ (the
 * store numbers a mailbox's changes one after the other, under its lock):
 * the view then takes it in directly, without listing the mailbox.  Else
 * (another session changed it meanwhile) the caller synchronises. */
gboolean
imap_session_view_advance (ImapSession *self, guint64 modseq)
{
	if (self->mbox == NULL || self->syncing || modseq != self->mbox->modseq + 1)
		return FALSE;
	self->mbox->modseq = modseq;
	return TRUE;
}

/* After STORE or FETCH: the flag changes @changes (EpStoreFlagChange) the
 * client was told of; they share one MODSEQ */
void
imap_session_view_flags_changed (ImapSession *self, GPtrArray *changes)
{
	guint64 modseq = 0;

	for (guint i = 0; changes != NULL && i < changes->len; i++) {
		const EpStoreFlagChange *c = g_ptr_array_index (changes, i);

		if (c->failed)
			continue;
		if (modseq != 0 && c->modseq != modseq)
			return;
		modseq = c->modseq;
	}
	if (modseq != 0)
		imap_session_view_advance (self, modseq);
}

/* After APPEND into the selected mailbox: the message @uid, @modseq
 * (with @keywords) joins the view when nothing else changed the mailbox
 * meanwhile (its UID is the next one the view expects): its keywords are
 * announced if new, `* n EXISTS` is sent, and a rev1 session claims and
 * tells RECENT as a synchronisation would; then @done.  Returns %FALSE
 * when the caller must synchronise instead. */
gboolean
imap_session_view_appended (ImapSession *self, guint32 uid, guint64 modseq, const char *const *keywords,
			    ImapSyncDone done)
{
	ImapSyncOp *op;
	gboolean changed = self->changed;

	if (self->mbox == NULL || self->syncing || uid != self->mbox->uidnext || modseq != self->mbox->modseq + 1)
		return FALSE;
	op = imap_sync_op_new (self, done);
	/* a notice of a later change still wants its synchronisation */
	self->changed = changed;
	op->max_modseq = modseq;
	imap_session_announce_keywords (self, keywords);
	g_array_append_val (self->mbox->uids, uid);
	self->mbox->uidnext = uid + 1;
	imap_session_untagged (self, "%u EXISTS", self->mbox->uids->len);
	op->grew = TRUE;
	imap_sync_finish (op);
	return TRUE;
}

/* After EXPUNGE: the session's own expunge @gone (EpStoreTombstone, one
 * MODSEQ) leaves the view and is told (EXPUNGE, or VANISHED with QRESYNC)
 * when nothing else changed the mailbox meanwhile.  Returns %FALSE when
 * the caller must synchronise instead. */
gboolean
imap_session_view_expunged (ImapSession *self, GArray *gone)
{
	ImapSyncOp op = {.self = self};
	guint64 modseq = 0;

	for (guint i = 0; i < gone->len; i++) {
		const EpStoreTombstone *t = &g_array_index (gone, EpStoreTombstone, i);

		if (modseq != 0 && t->modseq != modseq)
			return FALSE;
		modseq = t->modseq;
	}
	if (modseq == 0 || !imap_session_view_advance (self, modseq))
		return FALSE;
	imap_sync_apply_tombstones (&op, gone);
	return TRUE;
}

static void
imap_sync_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSyncOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_list_tombstones_finish (EP_STORE (source), res, &error);

	if (gone == NULL || self->closing || self->mbox == NULL) {
		if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (IMAP_MODULE, self->id, "synchronising the mailbox: %s", error->message);
		imap_sync_finish (op);
		return;
	}
	imap_sync_apply_tombstones (op, gone);
	if (op->rechecked) {
		imap_sync_finish (op);
		return;
	}
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, 1, G_MAXUINT32, op->since,
				      IMAP_LIST_PAGE, self->cancellable, imap_sync_on_messages, op);
}

static ImapSyncOp *
imap_sync_op_new (ImapSession *self, ImapSyncDone done)
{
	ImapSyncOp *op = g_new0 (ImapSyncOp, 1);

	self->syncing = TRUE;
	self->changed = FALSE;
	op->self = g_object_ref (self);
	op->done = done;
	op->since = self->mbox->modseq;
	op->max_modseq = self->mbox->modseq;
	return op;
}

/* Expunges, flag changes and new messages since the view's MODSEQ, told
 * to the client as untagged EXPUNGE (VANISHED with QRESYNC), FETCH and
 * EXISTS; then @done. */
void
imap_session_sync (ImapSession *self, ImapSyncDone done)
{
	ImapSyncOp *op;

	if (self->mbox == NULL || self->syncing) {
		if (done != NULL)
			done (self);
		return;
	}
	op = imap_sync_op_new (self, done);
	ep_store_list_tombstones_async (self->server->store, self->account, self->mbox->name, op->since,
					self->cancellable, imap_sync_on_tombstones, op);
}

gint
imap_uid_cmp (gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

/* CONDSTORE is on from now on (RFC 7162 §3.1): the first command that
 * enables it in the selected state tells the mailbox's HIGHESTMODSEQ */
void
imap_session_enable_condstore (ImapSession *self)
{
	if (self->condstore)
		return;
	self->condstore = TRUE;
	if (self->mbox != NULL)
		imap_session_untagged (self, "OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest", self->mbox->modseq);
}

void
imap_session_tagged_ok_done (ImapSession *self)
{
	const char *name = self->cmd != NULL ? self->cmd->name : "";
	g_autofree char *text = g_strdup_printf ("%s completed", name);

	imap_session_tagged (self, "OK", NULL, text);
	imap_session_done (self);
}

/* ---- one listing for every idling session of a changed mailbox ----------------------------- */

/* The sessions that idle on the changed mailbox at the same MODSEQ when
 * mailbox.changed arrives share one listing: the same three store queries
 * a session's own synchronisation makes (tombstones, changed messages,
 * tombstones again when messages changed), made once, then applied to each
 * session's view in that order.  Only sessions of one event join, so no
 * session is handed a listing made before the change it was told of. */
typedef struct {
	ImapServer *server;
	char *account;
	char *mailbox;
	guint64 since;
	GPtrArray *sessions; /* ImapSyncOp, one per session */
	GArray *gone;	     /* the tombstones */
	GPtrArray *msgs;     /* the changed messages, every page */
	GArray *gone_again;  /* the tombstones listed after the messages */
} ImapSharedSync;

static void imap_shared_sync_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data);

static void
imap_shared_sync_free (ImapSharedSync *shared)
{
	g_free (shared->account);
	g_free (shared->mailbox);
	g_ptr_array_unref (shared->sessions);
	g_clear_pointer (&shared->gone, g_array_unref);
	g_clear_pointer (&shared->msgs, g_ptr_array_unref);
	g_clear_pointer (&shared->gone_again, g_array_unref);
	g_free (shared);
}

/* Hands the listing (or, on failure, nothing) to every session */
static void
imap_shared_sync_deliver (ImapSharedSync *shared, gboolean complete)
{
	gboolean claiming = FALSE;

	for (guint i = 0; i < shared->sessions->len; i++) {
		ImapSyncOp *op = g_ptr_array_index (shared->sessions, i);
		ImapSession *self = op->self;

		/* the view stays where it was: the next synchronisation lists it all again */
		if (complete && !self->closing && self->mbox != NULL && self->mbox->modseq == shared->since) {
			imap_sync_apply_tombstones (op, shared->gone);
			imap_sync_apply_messages (op, shared->msgs);
			if (shared->gone_again != NULL) {
				op->rechecked = TRUE;
				imap_sync_apply_tombstones (op, shared->gone_again);
			}
			/* \Recent: the first rev1 SELECT session claims after the
			 * listing, so it takes every new message listed; the others
			 * would claim nothing of their views and do not ask */
			if (op->grew && !self->rev2 && self->mbox->recent != NULL) {
				op->claimed_by_other = claiming;
				claiming = TRUE;
			}
		}
		imap_sync_finish (op);
	}
	imap_shared_sync_free (shared);
}

static gboolean
imap_shared_sync_failed (ImapSharedSync *shared, GError *error)
{
	if (error == NULL)
		return FALSE;
	ep_log_warning (IMAP_MODULE, NULL, "synchronising the mailbox %s of %s: %s", shared->mailbox, shared->account,
			error->message);
	imap_shared_sync_deliver (shared, FALSE);
	return TRUE;
}

static void
imap_shared_sync_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSharedSync *shared = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint len;
	guint32 last_uid;

	if (msgs == NULL && imap_shared_sync_failed (shared, error))
		return;
	len = msgs->len;
	last_uid = len > 0 ? ((EpStoreMessage *)g_ptr_array_index (msgs, len - 1))->uid : 0;
	if (shared->msgs == NULL)
		shared->msgs = g_steal_pointer (&msgs);
	else
		g_ptr_array_extend_and_steal (shared->msgs, g_steal_pointer (&msgs));
	if (len == IMAP_LIST_PAGE && last_uid < G_MAXUINT32) {
		ep_store_list_messages_async (shared->server->store, shared->account, shared->mailbox, last_uid + 1,
					      G_MAXUINT32, shared->since, IMAP_LIST_PAGE, NULL,
					      imap_shared_sync_on_messages, shared);
		return;
	}
	/* as imap_sync_on_messages(): the expunges committed meanwhile */
	if (shared->msgs->len > 0) {
		ep_store_list_tombstones_async (shared->server->store, shared->account, shared->mailbox, shared->since,
						NULL, imap_shared_sync_on_tombstones, shared);
		return;
	}
	imap_shared_sync_deliver (shared, TRUE);
}

static void
imap_shared_sync_on_tombstones (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSharedSync *shared = user_data;
	g_autoptr (GError) error = NULL;
	GArray *gone = ep_store_list_tombstones_finish (EP_STORE (source), res, &error);

	if (gone == NULL && imap_shared_sync_failed (shared, error))
		return;
	if (shared->gone == NULL) {
		shared->gone = gone;
		ep_store_list_messages_async (shared->server->store, shared->account, shared->mailbox, 1, G_MAXUINT32,
					      shared->since, IMAP_LIST_PAGE, NULL, imap_shared_sync_on_messages,
					      shared);
		return;
	}
	shared->gone_again = gone;
	imap_shared_sync_deliver (shared, TRUE);
}

void
imap_server_mailbox_changed (ImapServer *server, const EpMailboxChangedEvent *event)
{
	GHashTableIter iter;
	gpointer key;
	/* since (a pointer into the ImapSharedSync) -> ImapSharedSync */
	g_autoptr (GHashTable) shared_by_since = g_hash_table_new (g_int64_hash, g_int64_equal);
	ImapSharedSync *shared;

	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL)) {
		ImapSession *self = key;

		if (self->closing || self->mbox == NULL || self->account == NULL ||
		    g_strcmp0 (self->account, event->account) != 0 || self->mbox->id != event->mailbox_id)
			continue;
		self->changed = TRUE;
		if (!self->idling || self->syncing || self->idle_done_pending)
			continue;
		shared = g_hash_table_lookup (shared_by_since, &self->mbox->modseq);
		if (shared == NULL) {
			shared = g_new0 (ImapSharedSync, 1);
			shared->server = server;
			shared->account = g_strdup (self->account);
			shared->mailbox = g_strdup (self->mbox->name);
			shared->since = self->mbox->modseq;
			shared->sessions = g_ptr_array_new ();
			g_hash_table_insert (shared_by_since, &shared->since, shared);
		}
		g_ptr_array_add (shared->sessions, imap_sync_op_new (self, NULL));
	}
	g_hash_table_iter_init (&iter, shared_by_since);
	while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&shared))
		ep_store_list_tombstones_async (server->store, shared->account, shared->mailbox, shared->since, NULL,
						imap_shared_sync_on_tombstones, shared);
}

/* ---- simple commands ------------------------------------------------------------------------ */

static void
imap_cmd_capability (ImapSession *self, GPtrArray *args)
{
	g_autofree char *caps = imap_session_capabilities (self);

	imap_session_untagged (self, "CAPABILITY %s", caps);
	imap_session_tagged (self, "OK", NULL, "CAPABILITY completed");
	imap_session_done (self);
}

static void
imap_cmd_noop (ImapSession *self, GPtrArray *args)
{
	imap_session_suspend (self);
	imap_session_sync (self, imap_session_tagged_ok_done);
}

static void
imap_cmd_logout (ImapSession *self, GPtrArray *args)
{
	imap_session_untagged (self, "BYE Logging out");
	imap_session_tagged (self, "OK", NULL, "LOGOUT completed");
	self->state = IMAP_STATE_LOGOUT;
	imap_session_close (self);
}

static void
imap_cmd_id (ImapSession *self, GPtrArray *args)
{
	const ImapArg *a = g_ptr_array_index (args, 0);

	if (a->type != IMAP_ARG_NIL && a->type != IMAP_ARG_LIST) {
		imap_session_bad (self, "ID takes a list or NIL");
		imap_session_done (self);
		return;
	}
	imap_session_untagged (self, "ID (\"name\" \"epistle\" \"version\" \"%s\")", PACKAGE_VERSION);
	imap_session_tagged (self, "OK", NULL, "ID completed");
	imap_session_done (self);
}

static void
imap_cmd_namespace (ImapSession *self, GPtrArray *args)
{
	imap_session_untagged (self, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_session_tagged (self, "OK", NULL, "NAMESPACE completed");
	imap_session_done (self);
}

static void
imap_cmd_enable (ImapSession *self, GPtrArray *args)
{
	g_autoptr (GString) enabled = g_string_new ("ENABLED");

	for (guint i = 0; i < args->len; i++) {
		const char *cap = imap_arg_get_atom (g_ptr_array_index (args, i));
		if (cap == NULL) {
			imap_session_bad (self, "ENABLE takes capability names");
			imap_session_done (self);
			return;
		}
		/* only what changes how the server speaks, once */
		if (g_ascii_strcasecmp (cap, "IMAP4rev2") == 0 && !self->rev2) {
			self->rev2 = TRUE;
			g_string_append (enabled, " IMAP4rev2");
		} else if (g_ascii_strcasecmp (cap, "CONDSTORE") == 0 && !self->condstore) {
			imap_session_enable_condstore (self);
			g_string_append (enabled, " CONDSTORE");
		} else if (g_ascii_strcasecmp (cap, "QRESYNC") == 0 && !self->qresync) {
			/* QRESYNC implies CONDSTORE (RFC 7162 §3.2.3) */
			imap_session_enable_condstore (self);
			self->qresync = TRUE;
			g_string_append (enabled, " QRESYNC");
		} else if (g_ascii_strcasecmp (cap, "UTF8=ACCEPT") == 0 && !self->utf8_accept) {
			self->utf8_accept = TRUE;
			g_string_append (enabled, " UTF8=ACCEPT");
		}
	}
	imap_session_untagged (self, "%s", enabled->str);
	imap_session_tagged (self, "OK", NULL, "ENABLE completed");
	imap_session_done (self);
}

/* ---- STARTTLS ------------------------------------------------------------------------------- */

static void
imap_session_on_starttls (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;

	if (!ep_connection_start_tls_finish (EP_CONNECTION (source), res, &error)) {
		ep_log_info (IMAP_MODULE, self->id, "STARTTLS failed: %s", error->message);
		self->closing = TRUE;
		return;
	}
	ep_log_debug (IMAP_MODULE, self->id, "STARTTLS: %s %s", ep_connection_get_tls_version (self->conn),
		      ep_connection_get_tls_cipher (self->conn));
	/* nothing the client sent before the handshake counts */
	imap_parser_reset (self->parser);
	imap_session_done (self);
}

static void
imap_cmd_starttls (ImapSession *self, GPtrArray *args)
{
	EpTlsContext *tls = ep_context_get_tls (self->server->ctx);

	if (ep_connection_is_tls (self->conn)) {
		imap_session_bad (self, "TLS is active already");
		imap_session_done (self);
		return;
	}
	if (tls == NULL) {
		imap_session_tagged (self, "NO", NULL, "STARTTLS is not available");
		imap_session_done (self);
		return;
	}
	imap_session_tagged (self, "OK", NULL, "Begin TLS negotiation now");
	imap_session_suspend (self);
	ep_connection_start_tls_async (self->conn, tls, NULL, imap_session_on_starttls, g_object_ref (self));
}

/* ---- IDLE ----------------------------------------------------------------------------------- */

static void
imap_cmd_idle (ImapSession *self, GPtrArray *args)
{
	imap_session_write (self, "+ idling\r\n");
	self->idling = TRUE;
	/* the command goes on, but its DONE line is to be read */
	self->busy = FALSE;
	self->idle_done_pending = FALSE;
	/* changes seen since the last command are told at once */
	if (self->changed || self->mbox != NULL)
		imap_session_sync (self, NULL);
}

static void
imap_session_idle_finish (ImapSession *self)
{
	self->idle_done_pending = FALSE;
	imap_session_tagged (self, "OK", NULL, "IDLE terminated");
	imap_session_done (self);
}

static void
imap_session_idle_line (ImapSession *self, const char *line, gsize len)
{
	self->idling = FALSE;
	if (g_ascii_strcasecmp (line, "DONE") != 0) {
		imap_session_bad (self, "Expected DONE");
		imap_session_done (self);
		return;
	}
	if (self->syncing) {
		/* the synchronisation's untagged answers come before OK */
		self->idle_done_pending = TRUE;
		imap_session_suspend (self);
		return;
	}
	imap_session_idle_finish (self);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

typedef void (*ImapCommandFunc) (ImapSession *self, GPtrArray *args);

typedef struct {
	const char *name;
	ImapCommandFunc func;
	guint states;
	gint min_args; /* -1: any */
	gint max_args;
	gboolean uid_ok;
} ImapCommandDef;

static const ImapCommandDef imap_commands[] = {
    {"CAPABILITY", imap_cmd_capability, IMAP_STATES_ANY, 0, 0, FALSE},
    {"NOOP", imap_cmd_noop, IMAP_STATES_ANY, 0, 0, FALSE},
    {"LOGOUT", imap_cmd_logout, IMAP_STATES_ANY, 0, 0, FALSE},
    {"ID", imap_cmd_id, IMAP_STATES_ANY, 1, 1, FALSE},
    {"STARTTLS", imap_cmd_starttls, IMAP_STATE_NOT_AUTH, 0, 0, FALSE},
    {"LOGIN", imap_cmd_login, IMAP_STATE_NOT_AUTH, 2, 2, FALSE},
    {"AUTHENTICATE", imap_cmd_authenticate, IMAP_STATE_NOT_AUTH, 1, 2, FALSE},
    {"ENABLE", imap_cmd_enable, IMAP_STATES_AUTHED, 1, -1, FALSE},
    {"NAMESPACE", imap_cmd_namespace, IMAP_STATES_AUTHED, 0, 0, FALSE},
    {"SELECT", imap_cmd_select, IMAP_STATES_AUTHED, 1, -1, FALSE},
    {"EXAMINE", imap_cmd_select, IMAP_STATES_AUTHED, 1, -1, FALSE},
    {"LIST", imap_cmd_list, IMAP_STATES_AUTHED, 2, -1, FALSE},
    {"LSUB", imap_cmd_list, IMAP_STATES_AUTHED, 2, 2, FALSE},
    {"STATUS", imap_cmd_status, IMAP_STATES_AUTHED, 2, 2, FALSE},
    {"CREATE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 2, FALSE},
    {"DELETE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"RENAME", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 2, 2, FALSE},
    {"SUBSCRIBE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"UNSUBSCRIBE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"APPEND", imap_cmd_append, IMAP_STATES_AUTHED, 2, -1, FALSE},
    {"IDLE", imap_cmd_idle, IMAP_STATES_AUTHED, 0, 0, FALSE},
    {"GETQUOTAROOT", imap_cmd_getquotaroot, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"GETQUOTA", imap_cmd_getquota, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"SETQUOTA", imap_cmd_setquota, IMAP_STATES_AUTHED, 2, 2, FALSE},
    {"FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, 2, -1, TRUE},
    {"SEARCH", imap_cmd_search, IMAP_STATE_SELECTED, 1, -1, TRUE},
    {"SORT", imap_cmd_sort, IMAP_STATE_SELECTED, 3, -1, TRUE},
    {"THREAD", imap_cmd_thread, IMAP_STATE_SELECTED, 3, -1, TRUE},
    {"STORE", imap_cmd_store, IMAP_STATE_SELECTED, 3, -1, TRUE},
    {"COPY", imap_cmd_copy, IMAP_STATE_SELECTED, 2, 2, TRUE},
    {"MOVE", imap_cmd_copy, IMAP_STATE_SELECTED, 2, 2, TRUE},
    {"EXPUNGE", imap_cmd_expunge, IMAP_STATE_SELECTED, 0, 1, TRUE},
    {"CLOSE", imap_cmd_close, IMAP_STATE_SELECTED, 0, 0, FALSE},
    /* RFC 3501 §6.4.1 (gone from IMAP4rev2; mbsync sends it): no housekeeping to do, a NOOP */
    {"CHECK", imap_cmd_noop, IMAP_STATE_SELECTED, 0, 0, FALSE},
    {"UNSELECT", imap_cmd_unselect, IMAP_STATE_SELECTED, 0, 0, FALSE},
};

static void
imap_session_execute (ImapSession *self, ImapCommand *cmd)
{
	const char *name = cmd->name;
	g_autoptr (GPtrArray) args = g_ptr_array_new ();
	const ImapCommandDef *def = NULL;
	guint first = 0;

	self->cmd = cmd;
	if (strcmp (name, "UID") == 0) {
		const char *sub = cmd->args->len > 0 ? imap_arg_get_atom (g_ptr_array_index (cmd->args, 0)) : NULL;
		if (sub == NULL) {
			imap_session_bad (self, "UID takes a command");
			imap_session_done (self);
			return;
		}
		self->uid = TRUE;
		g_free (cmd->name);
		cmd->name = g_ascii_strup (sub, -1);
		name = cmd->name;
		first = 1;
	}
	for (guint i = first; i < cmd->args->len; i++)
		g_ptr_array_add (args, g_ptr_array_index (cmd->args, i));
	for (guint i = 0; i < G_N_ELEMENTS (imap_commands); i++)
		if (strcmp (imap_commands[i].name, name) == 0)
			def = &imap_commands[i];
	if (def == NULL || (self->uid && !def->uid_ok)) {
		imap_session_bad (self, "Unknown command");
		imap_session_done (self);
		return;
	}
	if ((def->states & self->state) == 0) {
		imap_session_bad (self, self->state == IMAP_STATE_NOT_AUTH ? "Log in first"
									   : "Command not allowed in this state");
		imap_session_done (self);
		return;
	}
	if ((gint)args->len < def->min_args || (def->max_args >= 0 && (gint)args->len > def->max_args)) {
		g_autofree char *text = g_strdup_printf ("Wrong number of arguments for %s", name);
		imap_session_bad (self, text);
		imap_session_done (self);
		return;
	}
	self->busy = TRUE; /* until the command calls imap_session_done() */
	def->func (self, args);
}

/* ---- input ---------------------------------------------------------------------------------- */

static void
imap_session_parse_error (ImapSession *self)
{
	const char *tag = imap_parser_get_error_tag (self->parser);
	const char *text = imap_parser_get_error (self->parser);
	ImapParseErrorKind kind = imap_parser_get_error_kind (self->parser);
	g_autofree char *line = NULL;

	/* APPEND of a message over APPENDLIMIT is refused, not malformed (RFC 7889) */
	if (kind == IMAP_PARSE_ERROR_TOO_BIG && tag != NULL && imap_parser_get_error_append (self->parser) &&
	    self->state != IMAP_STATE_NOT_AUTH) {
		line = g_strdup_printf ("%s NO [TOOBIG] %s\r\n", tag, text);
		imap_session_write (self, line);
		return;
	}
	line = g_strdup_printf ("%s BAD %s%s\r\n", tag != NULL ? tag : "*",
				kind == IMAP_PARSE_ERROR_TOO_BIG ? "[TOOBIG] " : "", text);
	imap_session_write (self, line);
	if (++self->n_errors >= self->server->limits.max_errors)
		imap_session_bye (self, "Too many invalid commands");
}

static void
imap_session_feed (ImapSession *self, const char *data, gsize len)
{
	gsize off = 0;

	while (off < len && !self->closing) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (self->parser, data + off, len - off, &used);
		guint64 size;
		gboolean nonsync;

		off += used;
		switch (st) {
		case IMAP_PARSE_NEED_MORE:
			break;
		case IMAP_PARSE_LITERAL:
			imap_parser_get_literal (self->parser, &size, &nonsync, NULL);
			/* {0} too: the client waits for it all the same */
			if (!nonsync)
				imap_session_write (self, "+ Ready for literal data\r\n");
			break;
		case IMAP_PARSE_DONE:
			imap_session_execute (self, imap_parser_take_command (self->parser));
			break;
		case IMAP_PARSE_ERROR:
			imap_session_parse_error (self);
			/* a {n+} literal too big is on its way: its octets would be
			 * taken for commands (RFC 7888 §4) */
			if (imap_parser_get_error_kind (self->parser) == IMAP_PARSE_ERROR_TOO_BIG &&
			    imap_parser_get_error_nonsync (self->parser) && !self->closing)
				imap_session_bye (self, "Literal too big");
			break;
		}
	}
}

static void
imap_session_input (ImapSession *self)
{
	while (!self->busy && !self->closing) {
		guint64 remaining = imap_parser_get_literal_remaining (self->parser);
		const char *line = NULL;
		gsize len = 0;
		EpLineStatus st;

		if (remaining > 0) {
			g_autoptr (GBytes) b = ep_connection_read_bytes (self->conn, (gsize)MIN (remaining, 65536));
			if (b == NULL)
				return;
			imap_session_feed (self, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
			continue;
		}
		st = ep_connection_read_line (self->conn, &line, &len);
		switch (st) {
		case EP_LINE_NEED_MORE:
			return;
		case EP_LINE_OK:
			if (self->idling) {
				imap_session_idle_line (self, line, len);
			} else if (self->auth_op != NULL && self->auth_op->awaiting) {
				imap_session_auth_line (self, line, len);
			} else {
				g_autofree char *buf = g_malloc (len + 2);
				memcpy (buf, line, len);
				buf[len] = '\r';
				buf[len + 1] = '\n';
				imap_session_feed (self, buf, len + 2);
			}
			break;
		case EP_LINE_TOO_LONG:
			imap_session_bye (self, "Command line too long");
			return;
		default:
			imap_session_bye (self, "Protocol violation: lines end in CRLF, without NUL");
			return;
		}
	}
}

/* The greeting's capabilities are those of the connection the client
 * will use: with implicit TLS it is sent once the handshake is over (so it
 * lists SASL-IR and AUTH=, not LOGINDISABLED), from the drain function that
 * the connection calls then, or before the first input is read if that
 * comes first. */
static void
imap_session_greet (ImapSession *self)
{
	g_autofree char *caps = NULL;

	if (self->greeted)
		return;
	self->greeted = TRUE;
	ep_connection_set_drain_func (self->conn, 0, NULL, NULL);
	caps = imap_session_capabilities (self);
	imap_session_untagged (self, "OK [CAPABILITY %s] epistle ready", caps);
}

static void
imap_session_on_handshake_done (EpConnection *conn, gpointer user_data)
{
	imap_session_greet (IMAP_SESSION (user_data));
}

static void
imap_session_on_input (EpConnection *conn, gpointer user_data)
{
	g_autoptr (ImapSession) self = g_object_ref (IMAP_SESSION (user_data));

	imap_session_greet (self);
	imap_session_input (self);
}

static void
imap_session_on_timeout (EpConnection *conn, gboolean total, gpointer user_data)
{
	ImapSession *self = IMAP_SESSION (user_data);

	ep_log_info (IMAP_MODULE, self->id, "%s timeout; closing", total ? "session" : "idle");
	imap_session_bye (self, "Autologout; idle for too long");
}

static void
imap_session_on_closed (EpConnection *conn, const GError *error, gpointer user_data)
{
	g_autoptr (ImapSession) self = g_object_ref (IMAP_SESSION (user_data));

	self->closing = TRUE;
	g_cancellable_cancel (self->cancellable);
	/* a FETCH that waits for the client to read never hears again */
	imap_fetch_abandon_drained (self);
	if (error != NULL)
		ep_log_info (IMAP_MODULE, self->id, "disconnect from %s: %s", ep_connection_get_peer_ip (conn),
			     error->message);
	else
		ep_log_info (IMAP_MODULE, self->id, "disconnect from %s", ep_connection_get_peer_ip (conn));
	g_hash_table_remove (self->server->sessions, self);
}

/* ---- life ----------------------------------------------------------------------------------- */

static void
imap_session_dispose (GObject *object)
{
	ImapSession *self = IMAP_SESSION (object);

	if (self->conn != NULL) {
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		ep_connection_set_drain_func (self->conn, 0, NULL, NULL);
		if (!ep_connection_is_closed (self->conn))
			ep_connection_close (self->conn);
		g_clear_object (&self->conn);
	}
	G_OBJECT_CLASS (imap_session_parent_class)->dispose (object);
}

static void
imap_session_finalize (GObject *object)
{
	ImapSession *self = IMAP_SESSION (object);

	g_clear_pointer (&self->auth_op, imap_auth_op_free);
	g_clear_pointer (&self->mbox, imap_mailbox_free);
	g_clear_pointer (&self->cmd, imap_command_free);
	g_clear_pointer (&self->parser, imap_parser_free);
	g_free (self->account);
	g_free (self->appenduid);
	g_strfreev (self->append_keywords);
	g_clear_pointer (&self->saved, g_array_unref);
	g_free (self->listener_kind);
	g_clear_object (&self->cancellable);
	G_OBJECT_CLASS (imap_session_parent_class)->finalize (object);
}

static void
imap_session_class_init (ImapSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = imap_session_dispose;
	object_class->finalize = imap_session_finalize;
}

static void
imap_session_init (ImapSession *self)
{
	ImapParserLimits limits = {IMAP_PARSER_MAX_LINE, IMAP_PARSER_MAX_LITERAL, 0};

	self->cancellable = g_cancellable_new ();
	self->state = IMAP_STATE_NOT_AUTH;
	self->parser = imap_parser_new (&limits);
}

void
imap_session_accept (ImapServer *server, GSocketConnection *connection, const char *listener_kind)
{
	g_autoptr (ImapSession) self = g_object_new (IMAP_TYPE_SESSION, NULL);
	gboolean implicit_tls = g_strcmp0 (listener_kind, "imaps") == 0;
	EpTlsContext *tls = ep_context_get_tls (server->ctx);
	guint n_peer;

	self->server = server;
	self->listener_kind = g_strdup (listener_kind);
	self->conn = ep_connection_new (connection, "imap");
	self->id = ep_connection_get_session_id (self->conn);
	g_hash_table_add (server->sessions, g_object_ref (self));
	ep_connection_set_handlers (self->conn, imap_session_on_input, imap_session_on_timeout, imap_session_on_closed,
				    self);
	ep_connection_set_max_line (self->conn, IMAP_PARSER_MAX_LINE);
	ep_connection_set_idle_timeout (self->conn, server->limits.idle_timeout);
	if (implicit_tls) {
		if (tls == NULL) {
			ep_log_warning (IMAP_MODULE, self->id, "imaps listener without TLS; closing");
			self->closing = TRUE;
			ep_connection_abort (self->conn);
			return;
		}
		ep_connection_set_implicit_tls (self->conn, tls);
	}
	ep_log_info (IMAP_MODULE, self->id, "connect from %s on %s listener", ep_connection_get_peer_ip (self->conn),
		     listener_kind);
	ep_connection_start (self->conn);
	n_peer = ep_connection_count_peer (self->conn);
	if (server->limits.max_connections_per_ip > 0 && n_peer > server->limits.max_connections_per_ip) {
		ep_log_info (IMAP_MODULE, self->id, "%u connections from %s; refused", n_peer,
			     ep_connection_get_peer_ip (self->conn));
		imap_session_bye (self, "Too many connections from your address");
		return;
	}
	if (implicit_tls)
		ep_connection_set_drain_func (self->conn, G_MAXSIZE, imap_session_on_handshake_done, self);
	else
		imap_session_greet (self);
}

void
imap_server_close_all (ImapServer *server)
{
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL)) {
		ImapSession *self = key;
		if (!self->closing) {
			imap_session_untagged (self, "BYE Server shutting down");
			self->closing = TRUE;
			g_cancellable_cancel (self->cancellable);
		}
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		ep_connection_close (self->conn);
	}
	g_hash_table_remove_all (server->sessions);
}
