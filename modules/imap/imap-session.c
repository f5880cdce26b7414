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

#include "ep-sasl.h"

#include "imap-fetch.h"
#include "imap-parser.h"
#include "imap-search.h"
#include "imap-session.h"
#include "imap-util.h"

#define IMAP_MAX_AUTH_FAILURES 3
#define IMAP_LIST_PAGE	       5000
#define IMAP_OUTPUT_HIGH       (1024 * 1024)
#define IMAP_OUTPUT_LOW	       (256 * 1024)
#define IMAP_PARSE_IN_POOL     (64 * 1024) /* larger messages are parsed on the worker pool */

typedef enum {
	IMAP_STATE_NOT_AUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
} ImapState;

#define IMAP_STATES_ANY	   (IMAP_STATE_NOT_AUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define IMAP_STATES_AUTHED (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

/* the selected mailbox as this session sees it */
typedef struct {
	char *name;
	gint64 id;
	guint32 uidvalidity;
	guint32 uidnext;
	guint64 modseq; /* changes up to this one are in the view */
	gboolean read_only;
	GArray *uids; /* guint32, ascending: message n is uids[n - 1] */
} ImapMailbox;

typedef struct {
	char *mechanism;
	EpSaslServer *sasl;
	EpAuthVerifyCtx verify;
	gboolean awaiting;	  /* a continuation was sent: the next line is the client's response */
	gboolean success_pending; /* success with data: the client's empty response is awaited */
	guint delay_id;
	gboolean is_login; /* LOGIN, not AUTHENTICATE */
} ImapAuthOp;

struct _ImapSession {
	GObject parent_instance;

	ImapServer *server;
	EpConnection *conn;
	const char *id;
	char *listener_kind;
	GCancellable *cancellable;
	ImapParser *parser;
	ImapState state;
	gboolean busy;
	gboolean closing;
	gboolean rev2;
	gboolean auth_recording;
	guint n_errors;
	guint n_auth_failures;
	char *account;
	ImapCommand *cmd; /* the command being executed */
	gboolean uid;	  /* it is UID FETCH/STORE/... */
	ImapAuthOp *auth_op;
	ImapMailbox *mbox;
	gboolean idling;
	gboolean idle_done_pending; /* DONE arrived during a synchronisation */
	gboolean changed;	    /* mailbox.changed seen, not synchronised yet */
	gboolean syncing;
	/* FETCH in progress */
	struct _ImapFetchOp *fetch;
	char *appenduid; /* APPEND's or COPY's response code (UIDPLUS) */
};

G_DEFINE_FINAL_TYPE (ImapSession, imap_session, G_TYPE_OBJECT)

static void imap_session_input (ImapSession *self);

/* ---- output ------------------------------------------------------------------------------ */

static void
imap_session_write (ImapSession *self, const char *text)
{
	ep_connection_write (self->conn, text, strlen (text));
}

static void imap_session_untagged (ImapSession *self, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
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
static void
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

static void
imap_session_bye (ImapSession *self, const char *text)
{
	imap_session_untagged (self, "BYE %s", text);
	imap_session_close (self);
}

static void
imap_session_suspend (ImapSession *self)
{
	self->busy = TRUE;
	ep_connection_pause_input (self->conn);
}

/* The command is over: the next one may be read. */
static void
imap_session_done (ImapSession *self)
{
	g_clear_pointer (&self->cmd, imap_command_free);
	self->uid = FALSE;
	self->busy = FALSE;
	if (!self->closing && !self->auth_recording)
		ep_connection_resume_input (self->conn);
}

static void
imap_session_bad (ImapSession *self, const char *text)
{
	imap_session_tagged (self, "BAD", NULL, text);
	if (++self->n_errors >= self->server->limits.max_errors)
		imap_session_bye (self, "Too many invalid commands");
}

/* a store error as a client may see it: no internal text ever */
static void
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

static char *
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

static char *
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
		    out, " UNSELECT UIDPLUS MOVE SPECIAL-USE CHILDREN ESEARCH APPENDLIMIT=%" G_GUINT64_FORMAT,
		    self->server->limits.append_limit);
	}
	return g_string_free (out, FALSE);
}

/* ---- mailbox names ------------------------------------------------------------------------ */

/* A client's mailbox name to the store's, or %NULL (with a BAD or NO sent) */
static char *
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
	if (self->rev2) {
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

static void
imap_session_append_mailbox (ImapSession *self, GString *out, const char *name)
{
	if (self->rev2) {
		imap_append_string (out, name);
	} else {
		g_autofree char *m = imap_utf7_encode (name);
		imap_append_string (out, m);
	}
}

/* ---- the selected mailbox ------------------------------------------------------------------ */

static void
imap_mailbox_free (ImapMailbox *mbox)
{
	g_free (mbox->name);
	g_array_unref (mbox->uids);
	g_free (mbox);
}

/* the sequence number (1-based) of @uid, or 0 */
static guint
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
static gboolean
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
static guint imap_mailbox_seq (ImapMailbox *mbox, guint32 uid);

static void
imap_session_unselect (ImapSession *self)
{
	g_clear_pointer (&self->mbox, imap_mailbox_free);
	self->changed = FALSE;
	if (self->state == IMAP_STATE_SELECTED)
		self->state = IMAP_STATE_AUTH;
}

static void
imap_session_append_fetch_flags (GString *line, const EpStoreMessage *m)
{
	g_string_append (line, "FLAGS (");
	imap_append_flags (line, m->flags, (const char *const *)m->keywords);
	g_string_append_c (line, ')');
}

/* ---- synchronisation: bring the view up to date and tell the client ----------------------- */

typedef void (*ImapSyncDone) (ImapSession *self);

typedef struct {
	ImapSession *self; /* owned */
	ImapSyncDone done;
	guint64 since;
	guint64 max_modseq;
} ImapSyncOp;

static void imap_session_sync (ImapSession *self, ImapSyncDone done);
static void imap_session_idle_finish (ImapSession *self);

static void
imap_sync_finish (ImapSyncOp *op)
{
	g_autoptr (ImapSession) self = op->self;
	ImapSyncDone done = op->done;

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

static void
imap_sync_on_messages (GObject *source, GAsyncResult *res, gpointer user_data)
{
	ImapSyncOp *op = user_data;
	ImapSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) msgs = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last_uid = 0;
	gboolean grew = FALSE;

	if (msgs == NULL || self->closing || self->mbox == NULL) {
		if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (IMAP_MODULE, self->id, "synchronising the mailbox: %s", error->message);
		imap_sync_finish (op);
		return;
	}
	for (guint i = 0; i < msgs->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (msgs, i);
		guint seq = imap_mailbox_seq (self->mbox, m->uid);
		GArray *uids = self->mbox->uids;

		last_uid = m->uid;
		op->max_modseq = MAX (op->max_modseq, m->modseq);
		if (seq > 0) {
			g_autoptr (GString) line = g_string_new (NULL);
			g_string_append_printf (line, "%u FETCH (UID %u ", seq, m->uid);
			imap_session_append_fetch_flags (line, m);
			g_string_append_c (line, ')');
			imap_session_untagged (self, "%s", line->str);
		} else if (uids->len == 0 || m->uid > g_array_index (uids, guint32, uids->len - 1)) {
			g_array_append_val (uids, m->uid);
			grew = TRUE;
		}
		if (m->uid >= self->mbox->uidnext)
			self->mbox->uidnext = m->uid + 1;
	}
	if (grew)
		imap_session_untagged (self, "%u EXISTS", self->mbox->uids->len);
	if (msgs->len == IMAP_LIST_PAGE && last_uid < G_MAXUINT32) {
		ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, last_uid + 1,
					      G_MAXUINT32, op->since, IMAP_LIST_PAGE, self->cancellable,
					      imap_sync_on_messages, op);
		return;
	}
	imap_sync_finish (op);
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
	for (guint i = 0; i < gone->len; i++) {
		EpStoreTombstone *t = &g_array_index (gone, EpStoreTombstone, i);
		guint seq = imap_mailbox_seq (self->mbox, t->uid);

		op->max_modseq = MAX (op->max_modseq, t->modseq);
		if (seq == 0)
			continue;
		g_array_remove_index (self->mbox->uids, seq - 1);
		imap_session_untagged (self, "%u EXPUNGE", seq);
	}
	ep_store_list_messages_async (self->server->store, self->account, self->mbox->name, 1, G_MAXUINT32, op->since,
				      IMAP_LIST_PAGE, self->cancellable, imap_sync_on_messages, op);
}

/* Expunges, flag changes and new messages since the view's MODSEQ, told
 * to the client as untagged EXPUNGE, FETCH and EXISTS; then @done. */
static void
imap_session_sync (ImapSession *self, ImapSyncDone done)
{
	ImapSyncOp *op;

	if (self->mbox == NULL || self->syncing) {
		if (done != NULL)
			done (self);
		return;
	}
	self->syncing = TRUE;
	self->changed = FALSE;
	op = g_new0 (ImapSyncOp, 1);
	op->self = g_object_ref (self);
	op->done = done;
	op->since = self->mbox->modseq;
	op->max_modseq = self->mbox->modseq;
	ep_store_list_tombstones_async (self->server->store, self->account, self->mbox->name, op->since,
					self->cancellable, imap_sync_on_tombstones, op);
}

static void
imap_session_tagged_ok_done (ImapSession *self)
{
	const char *name = self->cmd != NULL ? self->cmd->name : "";
	g_autofree char *text = g_strdup_printf ("%s completed", name);

	imap_session_tagged (self, "OK", NULL, text);
	imap_session_done (self);
}

void
imap_server_mailbox_changed (ImapServer *server, const EpMailboxChangedEvent *event)
{
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL)) {
		ImapSession *self = key;

		if (self->closing || self->mbox == NULL || self->account == NULL ||
		    g_strcmp0 (self->account, event->account) != 0 || self->mbox->id != event->mailbox_id)
			continue;
		self->changed = TRUE;
		if (self->idling && !self->syncing && !self->idle_done_pending)
			imap_session_sync (self, NULL);
	}
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

/* ---- LOGIN and AUTHENTICATE ----------------------------------------------------------------- */

static void
imap_auth_op_free (ImapAuthOp *op)
{
	g_clear_handle_id (&op->delay_id, g_source_remove);
	g_free (op->mechanism);
	g_clear_pointer (&op->sasl, ep_sasl_server_free);
	g_free (op->verify.account);
	g_free (op->verify.scram_credentials);
	g_free (op);
}

static const char *
imap_session_auth_username (ImapAuthOp *op)
{
	return op != NULL && op->sasl != NULL ? ep_sasl_server_get_authcid (op->sasl) : NULL;
}

/* The attempt in progress, as the guard and the events see it. */
static EpAuthLogin
imap_session_auth_login (ImapSession *self)
{
	EpAuthLogin login = {
	    .ctx = self->server->ctx,
	    .module = IMAP_MODULE,
	    .session_id = self->id,
	    .protocol = "imap",
	    .mechanism = self->auth_op->mechanism,
	    .peer = ep_connection_get_peer_ip (self->conn),
	    .username = imap_session_auth_username (self->auth_op),
	};

	return login;
}

static void
imap_session_auth_failed_answer (ImapSession *self)
{
	imap_session_tagged (self, "NO", "AUTHENTICATIONFAILED", "Authentication failed");
	if (++self->n_auth_failures >= IMAP_MAX_AUTH_FAILURES) {
		imap_session_bye (self, "Too many authentication failures");
		return;
	}
	imap_session_done (self);
}

static void
imap_session_on_failure_recorded (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;

	ep_auth_login_record_finish (source, res, IMAP_MODULE, self->id);
	self->auth_recording = FALSE;
	if (self->closing)
		return;
	imap_session_auth_failed_answer (self);
}

static void
imap_session_auth_failed (ImapSession *self, const char *reason)
{
	ImapAuthOp *op = self->auth_op;
	EpAuthLogin login = imap_session_auth_login (self);
	const char *username = login.username;

	ep_log_info (IMAP_MODULE, self->id, "%s %s failed for %s%s%s: %s", op->is_login ? "LOGIN" : "AUTHENTICATE",
		     op->mechanism, username != NULL ? "'" : "", username != NULL ? username : "an unnamed user",
		     username != NULL ? "'" : "", reason);
	/* unlike SMTP and POP3, IMAP records only a failure that names a user */
	if (ep_auth_login_failed (&login, reason, username != NULL, self->conn, G_OBJECT (self),
				  imap_session_on_failure_recorded)) {
		/* counted before the client hears of it: its next attempt waits longer */
		self->auth_recording = TRUE;
		g_clear_pointer (&self->auth_op, imap_auth_op_free);
		return;
	}
	g_clear_pointer (&self->auth_op, imap_auth_op_free);
	imap_session_auth_failed_answer (self);
}

static void
imap_session_auth_succeeded (ImapSession *self)
{
	ImapAuthOp *op = self->auth_op;
	EpAuthLogin login = imap_session_auth_login (self);
	const char *username = login.username;
	const char *account = ep_sasl_server_get_account (op->sasl);
	ImapParserLimits limits = {IMAP_PARSER_MAX_LINE, IMAP_PARSER_MAX_LITERAL, self->server->limits.append_limit};
	g_autofree char *caps = NULL;
	g_autofree char *code = NULL;

	ep_log_info (IMAP_MODULE, self->id, "%s %s: '%s' logged in as account %s",
		     op->is_login ? "LOGIN" : "AUTHENTICATE", op->mechanism, username, account);
	ep_auth_login_succeeded (&login, account);
	self->account = g_strdup (account);
	self->state = IMAP_STATE_AUTH;
	imap_parser_set_limits (self->parser, &limits);
	g_clear_pointer (&self->auth_op, imap_auth_op_free);
	caps = imap_session_capabilities (self);
	code = g_strdup_printf ("CAPABILITY %s", caps);
	imap_session_tagged (self, "OK", code, "Logged in");
	imap_session_done (self);
}

static void
imap_session_auth_tempfail (ImapSession *self, const char *why)
{
	ep_log_warning (IMAP_MODULE, self->id, "authentication: %s", why);
	g_clear_pointer (&self->auth_op, imap_auth_op_free);
	imap_session_tagged (self, "NO", "UNAVAILABLE", "Temporary authentication failure");
	imap_session_done (self);
}

static void imap_session_auth_step (ImapSession *self, GBytes *input);

static void
imap_session_on_auth_verified (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_auth_verify_run_finish (EP_HOOK_BUS (source), res, &error);
	ImapAuthOp *op = self->auth_op;
	const EpVerdict *v = result != NULL ? result->verdict : NULL;
	const char *authzid;
	const char *account = NULL;
	g_autoptr (GError) invalid = NULL;

	if (self->closing || op == NULL)
		return;
	if (v == NULL || v->kind == EP_VERDICT_TEMPFAIL) {
		g_autofree char *why = g_strdup_printf (
		    "auth.verify failed: %s",
		    error != NULL ? error->message
				  : (result->reason != NULL ? result->reason->message : "a backend answered tempfail"));
		imap_session_auth_tempfail (self, why);
		return;
	}
	if (v->kind == EP_VERDICT_ACCEPT && op->verify.account != NULL && op->verify.account[0] != '\0')
		account = op->verify.account;
	/* no proxy authorization: an authzid must name the same user */
	authzid = ep_sasl_server_get_authzid (op->sasl);
	if (account != NULL && authzid != NULL && authzid[0] != '\0' &&
	    g_strcmp0 (authzid, ep_sasl_server_get_authcid (op->sasl)) != 0 && g_strcmp0 (authzid, account) != 0) {
		ep_log_info (IMAP_MODULE, self->id, "authorization identity refused");
		account = NULL;
	}
	if (!op->verify.want_scram)
		ep_sasl_server_set_verified (op->sasl, account);
	else if (!ep_sasl_server_set_scram_credentials_string (
		     op->sasl, account, account != NULL ? op->verify.scram_credentials : NULL, &invalid))
		ep_log_warning (IMAP_MODULE, self->id, "unusable SCRAM credentials for %s: %s", account,
				invalid->message);
	imap_session_auth_step (self, NULL);
}

static void
imap_session_auth_verify (ImapSession *self)
{
	ImapAuthOp *op = self->auth_op;

	op->verify.session_id = self->id;
	op->verify.protocol = "imap";
	op->verify.mechanism = op->mechanism;
	op->verify.username = ep_sasl_server_get_authcid (op->sasl);
	op->verify.authzid = ep_sasl_server_get_authzid (op->sasl);
	op->verify.peer = ep_connection_get_peer_address (self->conn);
	op->verify.tls_active = ep_connection_is_tls (self->conn);
	op->verify.want_scram = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_SCRAM;
	op->verify.is_bearer = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_BEARER;
	op->verify.secret = op->verify.want_scram ? NULL : ep_sasl_server_get_secret (op->sasl);
	ep_hook_auth_verify_run_async (ep_context_get_hook_bus (self->server->ctx), &op->verify, 0, self->cancellable,
				       imap_session_on_auth_verified, g_object_ref (self));
}

static gboolean
imap_session_on_auth_delay (gpointer user_data)
{
	ImapSession *self = user_data;

	if (self->auth_op != NULL)
		self->auth_op->delay_id = 0;
	if (!self->closing && self->auth_op != NULL)
		imap_session_auth_verify (self);
	return G_SOURCE_REMOVE;
}

static void
imap_session_on_guard_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (ImapSession) self = user_data;
	g_autoptr (GError) error = NULL;
	guint delay_ms = 0;
	gboolean ok = ep_auth_guard_check_finish (EP_AUTH_GUARD (source), res, &delay_ms, &error);
	ImapAuthOp *op = self->auth_op;

	if (self->closing || op == NULL)
		return;
	if (!ok && g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT)) {
		EpAuthLogin login = imap_session_auth_login (self);

		ep_log_info (IMAP_MODULE, self->id, "authentication refused: %s", error->message);
		ep_auth_login_emit_failed (&login, EP_AUTH_LOGIN_BANNED_REASON);
		imap_session_tagged (self, "NO", "UNAVAILABLE", "Temporary authentication failure");
		imap_session_bye (self, "Try again later");
		return;
	}
	if (!ok) {
		g_autofree char *why = g_strdup_printf ("the auth guard failed: %s", error->message);
		imap_session_auth_tempfail (self, why);
		return;
	}
	if (delay_ms == 0) {
		imap_session_auth_verify (self);
		return;
	}
	op->delay_id = g_timeout_add_full (G_PRIORITY_DEFAULT, delay_ms, imap_session_on_auth_delay,
					   g_object_ref (self), g_object_unref);
}

static void
imap_session_auth_need_credentials (ImapSession *self)
{
	EpAuthGuard *guard = ep_auth_login_get_guard (self->server->ctx);

	if (guard == NULL) {
		imap_session_auth_verify (self);
		return;
	}
	ep_auth_guard_check_async (guard, ep_connection_get_peer_ip (self->conn),
				   imap_session_auth_username (self->auth_op), self->cancellable,
				   imap_session_on_guard_checked, g_object_ref (self));
}

static void
imap_session_auth_challenge (ImapSession *self, GBytes *challenge)
{
	gsize len = 0;
	const guint8 *data = challenge != NULL ? g_bytes_get_data (challenge, &len) : NULL;
	g_autofree char *b64 = len > 0 ? g_base64_encode (data, len) : g_strdup ("");
	g_autofree char *line = g_strdup_printf ("+ %s\r\n", b64);

	imap_session_write (self, line);
	self->auth_op->awaiting = TRUE;
	/* the client's response is read as a line */
	self->busy = FALSE;
	ep_connection_resume_input (self->conn);
}

/* Feeds the mechanism and acts on what it says; the session is suspended
 * while the exchange waits for the backend. */
static void
imap_session_auth_step (ImapSession *self, GBytes *input)
{
	ImapAuthOp *op = self->auth_op;
	g_autoptr (GBytes) output = NULL;
	g_autoptr (GError) error = NULL;
	EpSaslStatus status;

	imap_session_suspend (self);
	op->awaiting = FALSE;
	status = ep_sasl_server_step (op->sasl, input, &output, &error);
	switch (status) {
	case EP_SASL_CONTINUE:
		imap_session_auth_challenge (self, output);
		break;
	case EP_SASL_NEED_CREDENTIALS:
		imap_session_auth_need_credentials (self);
		break;
	case EP_SASL_SUCCESS:
		if (output != NULL && g_bytes_get_size (output) > 0 && !op->is_login) {
			op->success_pending = TRUE;
			imap_session_auth_challenge (self, output);
			break;
		}
		imap_session_auth_succeeded (self);
		break;
	case EP_SASL_FAILURE:
	default:
		imap_session_auth_failed (self, error != NULL ? error->message : "bad credentials");
		break;
	}
}

/* A line of an AUTHENTICATE exchange: the client's response to "+ ". */
static void
imap_session_auth_line (ImapSession *self, const char *line, gsize len)
{
	ImapAuthOp *op = self->auth_op;
	g_autoptr (GBytes) input = NULL;

	op->awaiting = FALSE;
	if (len == 1 && line[0] == '*') {
		g_clear_pointer (&self->auth_op, imap_auth_op_free);
		imap_session_bad (self, "Authentication cancelled");
		imap_session_done (self);
		return;
	}
	input = imap_base64_decode (line, len);
	if (input == NULL) {
		g_clear_pointer (&self->auth_op, imap_auth_op_free);
		imap_session_bad (self, "Invalid base64 in the response");
		imap_session_done (self);
		return;
	}
	if (op->success_pending) {
		if (g_bytes_get_size (input) == 0)
			imap_session_auth_succeeded (self);
		else
			imap_session_auth_failed (self, "data after the final challenge");
		return;
	}
	imap_session_auth_step (self, input);
}

static gboolean
imap_session_auth_start (ImapSession *self, const char *mechanism, gboolean is_login)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	EpSaslServerSettings settings = {
	    .service = "imap",
	    .tls_active = ep_connection_is_tls (self->conn),
	    .channel_binding = cb,
	};
	g_autoptr (GError) error = NULL;
	ImapAuthOp *op = g_new0 (ImapAuthOp, 1);

	op->mechanism = g_ascii_strup (mechanism, -1);
	op->is_login = is_login;
	op->sasl = ep_sasl_server_new (op->mechanism, &settings, &error);
	if (op->sasl == NULL) {
		ep_log_warning (IMAP_MODULE, self->id, "%s: %s", op->mechanism, error->message);
		imap_auth_op_free (op);
		return FALSE;
	}
	self->auth_op = op;
	return TRUE;
}

/* AUTHENTICATE and LOGIN need TLS and a credential backend */
static gboolean
imap_session_auth_allowed (ImapSession *self)
{
	if (!ep_connection_is_tls (self->conn)) {
		imap_session_tagged (self, "NO", "PRIVACYREQUIRED", "Use STARTTLS first");
		imap_session_done (self);
		return FALSE;
	}
	if (ep_hook_bus_get_n_handlers (ep_context_get_hook_bus (self->server->ctx), EP_HOOK_POINT_AUTH_VERIFY) == 0) {
		imap_session_tagged (self, "NO", "UNAVAILABLE", "Authentication is not available");
		imap_session_done (self);
		return FALSE;
	}
	return TRUE;
}

static void
imap_cmd_login (ImapSession *self, GPtrArray *args)
{
	const char *user = imap_arg_get_astring (g_ptr_array_index (args, 0));
	const char *pass = imap_arg_get_astring (g_ptr_array_index (args, 1));
	g_autoptr (GByteArray) plain = NULL;
	g_autoptr (GBytes) input = NULL;

	if (user == NULL || pass == NULL) {
		imap_session_bad (self, "LOGIN takes a user name and a password");
		imap_session_done (self);
		return;
	}
	if (!imap_session_auth_allowed (self))
		return;
	/* LOGIN is PLAIN without an authorization identity */
	if (!imap_session_auth_start (self, "PLAIN", TRUE)) {
		imap_session_tagged (self, "NO", "UNAVAILABLE", "Temporary authentication failure");
		imap_session_done (self);
		return;
	}
	plain = g_byte_array_new ();
	g_byte_array_append (plain, (const guint8 *)"", 1);
	g_byte_array_append (plain, (const guint8 *)user, (guint)strlen (user));
	g_byte_array_append (plain, (const guint8 *)"", 1);
	g_byte_array_append (plain, (const guint8 *)pass, (guint)strlen (pass));
	input = g_byte_array_free_to_bytes (g_steal_pointer (&plain));
	imap_session_auth_step (self, input);
}

static void
imap_cmd_authenticate (ImapSession *self, GPtrArray *args)
{
	const char *mech = imap_arg_get_atom (g_ptr_array_index (args, 0));
	g_autofree char *offered = NULL;
	g_autofree char *want = NULL;
	g_autoptr (GBytes) initial = NULL;

	if (mech == NULL || args->len > 2) {
		imap_session_bad (self, "AUTHENTICATE takes a mechanism and an optional initial response");
		imap_session_done (self);
		return;
	}
	if (args->len == 2) {
		const char *ir = imap_arg_get_atom (g_ptr_array_index (args, 1));
		if (ir == NULL) {
			imap_session_bad (self, "Invalid initial response");
			imap_session_done (self);
			return;
		}
		initial = strcmp (ir, "=") == 0 ? g_bytes_new (NULL, 0) : imap_base64_decode (ir, strlen (ir));
		if (initial == NULL) {
			imap_session_bad (self, "Invalid base64 in the initial response");
			imap_session_done (self);
			return;
		}
	}
	if (!imap_session_auth_allowed (self))
		return;
	offered = imap_session_auth_mechanisms (self);
	want = g_strdup_printf (" AUTH=%s", mech);
	{
		g_autofree char *up = g_ascii_strup (want, -1);
		g_autofree char *hay = g_strconcat (offered, " ", NULL);
		g_autofree char *needle = g_strconcat (up, " ", NULL);
		if (strstr (hay, needle) == NULL) {
			imap_session_tagged (self, "NO", "CANNOT", "Unsupported authentication mechanism");
			imap_session_done (self);
			return;
		}
	}
	if (!imap_session_auth_start (self, mech, FALSE)) {
		imap_session_tagged (self, "NO", "UNAVAILABLE", "Temporary authentication failure");
		imap_session_done (self);
		return;
	}
	imap_session_auth_step (self, initial);
}

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

static void
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

static void imap_cmd_close (ImapSession *self, GPtrArray *args);

static void
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

static void
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

static void
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

static void
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
					       imap_session_on_mailbox_op, g_object_ref (self));
	else
		ep_store_set_subscribed_async (store, self->account, name, strcmp (cmd, "SUBSCRIBE") == 0,
					       self->cancellable, imap_session_on_mailbox_op, g_object_ref (self));
}

/* ---- sequence sets -------------------------------------------------------------------------- */

/* The UIDs of the view that @text names (sequence numbers or, for UID
 * commands, UIDs), ascending; %NULL with a BAD sent. */
static GArray *
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

typedef struct _ImapFetchOp {
	ImapSession *self; /* owned */
	ImapFetchItems items;
	GArray *uids;	      /* requested, in the view, ascending */
	GHashTable *messages; /* uid → EpStoreMessage */
	guint next;	      /* index into uids */
	gboolean draining;    /* waiting for the client to read */
} ImapFetchOp;

static void
imap_fetch_op_free (ImapFetchOp *op)
{
	if (op->self->fetch == op)
		op->self->fetch = NULL;
	imap_fetch_items_clear (&op->items);
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

	if (self->closing) {
		imap_fetch_op_free (op);
		return;
	}
	op->next++;
	if (data == NULL) {
		/* expunged meanwhile: nothing to say of it */
		if (!g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND))
			ep_log_warning (IMAP_MODULE, self->id, "FETCH of UID %u: %s", uid, error->message);
	} else if (op->items.need_mime && g_bytes_get_size (data) > IMAP_PARSE_IN_POOL &&
		   ep_context_get_worker_pool (self->server->ctx) != NULL) {
		/* the MIME tree is parsed for each FETCH (the store does not keep
		 * it yet): a large message is parsed on the worker pool */
		GTask *task = g_task_new (NULL, NULL, imap_fetch_on_parsed, op);
		g_task_set_task_data (task, g_bytes_ref (data), (GDestroyNotify)g_bytes_unref);
		ep_worker_pool_run (ep_context_get_worker_pool (self->server->ctx), task, imap_fetch_parse_thread);
		g_object_unref (task);
		return;
	} else {
		g_autoptr (EpMimeMessage) mime =
		    op->items.need_mime ? ep_mime_message_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data))
					: NULL;
		imap_fetch_write (op, m, data, mime);
	}
	imap_fetch_next (op);
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
		if (op->items.need_data) {
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

static void
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

/* ---- SEARCH --------------------------------------------------------------------------------- */

typedef struct {
	ImapSession *self; /* owned */
	ImapSearchProgram *prog;
	guint next_text;     /* index into prog->text_keys */
	GPtrArray *messages; /* of EpStoreMessage: the view's, ascending */
	guint next;	     /* index into messages */
	GArray *result;	     /* guint32: sequence numbers or UIDs, ascending */
	guint32 first, last; /* UIDs of the view */
} ImapSearchOp;

static void
imap_search_op_free (ImapSearchOp *op)
{
	imap_search_program_free (op->prog);
	g_ptr_array_unref (op->messages);
	g_array_unref (op->result);
	g_object_unref (op->self);
	g_free (op);
}

static void imap_search_next (ImapSearchOp *op);

static void
imap_search_fail (ImapSearchOp *op, const GError *error)
{
	imap_session_store_error (op->self, error, "SEARCH");
	if (!op->self->closing)
		imap_session_done (op->self);
	imap_search_op_free (op);
}

static void
imap_search_complete (ImapSearchOp *op)
{
	ImapSession *self = op->self;
	g_autofree char *answer = imap_search_format (op->prog, self->rev2, self->cmd->tag, self->uid,
						      (const guint32 *)op->result->data, op->result->len);

	imap_session_untagged (self, "%s", answer);
	imap_session_tagged (self, "OK", NULL, self->uid ? "UID SEARCH completed" : "SEARCH completed");
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
	    .header = data != NULL ? (d != NULL ? d : "") : NULL,
	    .header_len = d != NULL ? imap_search_header_length (d, len) : 0,
	    .header_text = header_text,
	    .body_text = body_text,
	};

	if (seq == 0)
		return;
	if (imap_search_match (op->prog->root, &msg, mbox->uids->len, op->last)) {
		guint32 n = op->self->uid ? m->uid : seq;
		g_array_append_val (op->result, n);
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
		if (op->prog->need_header || imap_search_text_candidate (op->prog, m->uid)) {
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

static void
imap_cmd_search (ImapSession *self, GPtrArray *args)
{
	ImapSearchError kind = IMAP_SEARCH_ERROR_SYNTAX;
	const char *error_text = NULL;
	g_autoptr (ImapSearchProgram) prog = imap_search_parse (args, &kind, &error_text);
	GArray *uids = self->mbox->uids;
	ImapSearchOp *op;

	if (prog == NULL) {
		if (kind == IMAP_SEARCH_ERROR_BADCHARSET)
			imap_session_tagged (self, "NO", "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset");
		else
			imap_session_bad (self, error_text);
		imap_session_done (self);
		return;
	}
	op = g_new0 (ImapSearchOp, 1);
	op->self = g_object_ref (self);
	op->prog = g_steal_pointer (&prog);
	op->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_message_free);
	op->result = g_array_new (FALSE, FALSE, sizeof (guint32));
	if (uids->len == 0) {
		imap_search_complete (op);
		return;
	}
	op->first = g_array_index (uids, guint32, 0);
	op->last = g_array_index (uids, guint32, uids->len - 1);
	imap_session_suspend (self);
	imap_search_text_next (op);
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

static void
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

static void
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

static void
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

static void
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

static void
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
    {"CREATE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"DELETE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"RENAME", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 2, 2, FALSE},
    {"SUBSCRIBE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"UNSUBSCRIBE", imap_cmd_mailbox_op, IMAP_STATES_AUTHED, 1, 1, FALSE},
    {"APPEND", imap_cmd_append, IMAP_STATES_AUTHED, 2, 4, FALSE},
    {"IDLE", imap_cmd_idle, IMAP_STATES_AUTHED, 0, 0, FALSE},
    {"FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, 2, -1, TRUE},
    {"SEARCH", imap_cmd_search, IMAP_STATE_SELECTED, 1, -1, TRUE},
    {"STORE", imap_cmd_store, IMAP_STATE_SELECTED, 3, -1, TRUE},
    {"COPY", imap_cmd_copy, IMAP_STATE_SELECTED, 2, 2, TRUE},
    {"MOVE", imap_cmd_copy, IMAP_STATE_SELECTED, 2, 2, TRUE},
    {"EXPUNGE", imap_cmd_expunge, IMAP_STATE_SELECTED, 0, 1, TRUE},
    {"CLOSE", imap_cmd_close, IMAP_STATE_SELECTED, 0, 0, FALSE},
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

static void
imap_session_on_input (EpConnection *conn, gpointer user_data)
{
	g_autoptr (ImapSession) self = g_object_ref (IMAP_SESSION (user_data));

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
	if (self->fetch != NULL && self->fetch->draining)
		imap_fetch_op_free (self->fetch);
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
	{
		g_autofree char *caps = imap_session_capabilities (self);
		imap_session_untagged (self, "OK [CAPABILITY %s] epistle ready", caps);
	}
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
