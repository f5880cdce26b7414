/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * One inbound SMTP session (RFC 5321) on an EpConnection.
 *
 * Input is pushed by the connection: the input function reads command
 * lines, DATA lines or BDAT octets until nothing complete is buffered, or
 * until a command needs something asynchronous (a hook chain, the store);
 * input is then paused and resumed once the answer went out, so pipelined
 * commands are answered in order.
 *
 * What closes the connection (always after one last reply):
 *   QUIT                                     221 2.0.0
 *   a bare CR, bare LF or NUL anywhere       500 5.5.2   (never repaired)
 *   a line the framer cannot end             500 5.5.2   (command > 2046
 *     octets, DATA line > 998): the next command boundary is unknown
 *   a BDAT whose size cannot be read         501 5.5.4   (same reason)
 *   too many errors in a row                 421 4.7.0
 *   too many connections from one address    421 4.7.0
 *   idle or total timeout                    421 4.4.2
 *   smtp.connect TEMPFAIL                    421 4.x.x
 *   shutdown                                 421 4.3.2
 * The framing violations take a permanent code so that the client's MTA
 * bounces the message rather than retrying it for days; nothing of that
 * message is ever delivered.
 */

#include "config.h"

#include <string.h>

#include "ep-auth-login.h"
#include "ep-connection.h"
#include "ep-sasl.h"

#include "smtp-auth.h"
#include "smtp-command.h"
#include "smtp-data.h"
#include "smtp-session.h"

#define SMTP_TEMP_TEXT	  "Temporary local problem, please try again later"
#define SMTP_CHUNK_READ	  (64 * 1024)
#define SMTP_JUNK_MAILBOX "Junk"

typedef enum {
	SMTP_STATE_CONNECT, /* smtp.connect running, no greeting yet */
	SMTP_STATE_COMMAND, /* reading commands */
	SMTP_STATE_DATA,    /* reading DATA lines */
	SMTP_STATE_BDAT,    /* reading the octets of a BDAT chunk */
	SMTP_STATE_AUTH,    /* reading the client's response to a 334 challenge */
	SMTP_STATE_CLOSED,
} SmtpState;

typedef struct {
	char *path;    /* the forward path as given ("Postmaster" for <Postmaster>) */
	char *account; /* the local account it resolves to */
	gboolean discard;
	gboolean quarantine;
	SmtpNotify notify;
	char *orcpt_type;
	char *orcpt_address;
} SmtpRecipient;

typedef struct {
	gboolean active; /* MAIL was accepted */
	char *sender;	 /* "" for <> */
	GHashTable *parameters;
	gboolean smtputf8;
	gboolean requiretls;
	SmtpBody body;
	SmtpRet ret;
	char *envid;
	gboolean discard;
	gboolean quarantine;
	GPtrArray *recipients; /* of SmtpRecipient */
	SmtpMessage message;
	gboolean bdat; /* BDAT was used: DATA is refused */
	SmtpOctetValidator validator;
	SmtpReply failed; /* BDAT: the answer every later chunk gets, code 0 while all is well */
	EpAuthResults *auth_results; /* what SPF, DKIM, DMARC… found (smtp.mail_from, smtp.data) */
} SmtpTransaction;

struct _SmtpSession {
	GObject parent_instance;

	SmtpServer *server; /* not owned: outlives every session */
	EpConnection *conn;
	char *listener_kind;
	const char *id; /* the connection's session id */
	EpSmtpSessionInfo info;
	GCancellable *cancellable;

	SmtpState state;
	gboolean busy;	   /* waiting for a hook chain or the store: input paused */
	gboolean auth_recording; /* waiting for the guard to record a failure before answering */
	gboolean closing;  /* the last reply went out, or the connection is gone */
	gboolean rejected; /* 554 greeting given: only QUIT (RFC 5321 §3.1) */
	char *helo;
	gboolean ehlo;
	gboolean discard_all; /* smtp.connect or smtp.helo said DISCARD */
	gboolean quarantine_all;
	guint n_errors; /* error replies in a row */
	guint n_messages;

	/* RFC 4954 */
	char *auth_account;	     /* the account after AUTH (info.authenticated_user) */
	char *auth_username;	     /* the identity it authenticated as */
	guint n_auth_failures;	     /* failed AUTH exchanges in this session */
	struct _SmtpAuthOp *auth_op; /* the exchange in progress */

	SmtpTransaction trans;

	/* the BDAT chunk being read */
	guint64 chunk_remaining;
	gboolean chunk_last;
	gboolean chunk_keep;
	SmtpReply chunk_error;
};

G_DEFINE_TYPE (SmtpSession, smtp_session, G_TYPE_OBJECT)

static void smtp_session_close (SmtpSession *self);
static void smtp_session_auth_reset (SmtpSession *self);
static void smtp_session_auth_line (SmtpSession *self, const char *line, gsize len);
static char *smtp_session_auth_mechanisms (SmtpSession *self);

/* ---- small helpers ------------------------------------------------------------ */

static EpConfig *
smtp_session_config (SmtpSession *self)
{
	return ep_context_get_config (self->server->ctx);
}

static const char *
smtp_session_hostname (SmtpSession *self)
{
	return ep_config_get_hostname (smtp_session_config (self));
}

static EpHookBus *
smtp_session_bus (SmtpSession *self)
{
	return ep_context_get_hook_bus (self->server->ctx);
}

static const SmtpLimits *
smtp_session_limits (SmtpSession *self)
{
	return &self->server->limits;
}

static void
smtp_recipient_free (SmtpRecipient *r)
{
	g_free (r->path);
	g_free (r->account);
	g_free (r->orcpt_type);
	g_free (r->orcpt_address);
	g_free (r);
}

static void
smtp_transaction_reset (SmtpTransaction *t)
{
	g_clear_pointer (&t->sender, g_free);
	g_clear_pointer (&t->parameters, g_hash_table_unref);
	g_clear_pointer (&t->envid, g_free);
	g_clear_pointer (&t->recipients, g_ptr_array_unref);
	g_clear_pointer (&t->auth_results, ep_auth_results_unref);
	smtp_message_clear (&t->message);
	memset (t, 0, sizeof (*t));
}

/* Writes one reply line without counting it. */
static void
smtp_session_send (SmtpSession *self, guint code, const char *enhanced, const char *text)
{
	if (enhanced != NULL)
		ep_connection_printf (self->conn, "%u %s %s\r\n", code, enhanced, text);
	else
		ep_connection_printf (self->conn, "%u %s\r\n", code, text);
}

/* Sends a last reply and closes. */
static void
smtp_session_send_and_close (SmtpSession *self, guint code, const char *enhanced, const char *text)
{
	g_autofree char *line = g_strdup_printf ("%s %s", smtp_session_hostname (self), text);

	if (self->closing)
		return;
	smtp_session_send (self, code, enhanced, line);
	smtp_session_close (self);
}

/* While the daemon drains: a session between transactions is told and
 * closed.  Returns TRUE when it was. */
static gboolean
smtp_session_drain_if_idle (SmtpSession *self)
{
	if (!self->server->draining || self->closing || self->busy || self->state != SMTP_STATE_COMMAND ||
	    self->trans.active)
		return FALSE;
	smtp_session_send_and_close (self, 421, "4.3.2", "Service shutting down, closing connection");
	return TRUE;
}

/*
 * Answers a command.  Error replies in a row are counted: the one that
 * reaches max_errors is replaced by 421 and the session ends.
 */
static void smtp_session_reply (SmtpSession *self, guint code, const char *enhanced, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static void
smtp_session_reply (SmtpSession *self, guint code, const char *enhanced, const char *format, ...)
{
	g_autofree char *text = NULL;
	va_list args;

	if (self->closing)
		return;
	if (code >= 400) {
		if (++self->n_errors >= smtp_session_limits (self)->max_errors) {
			ep_log_info (SMTP_MODULE, self->id, "%u errors in a row, closing the connection",
				     self->n_errors);
			smtp_session_send_and_close (self, 421, "4.7.0", "Too many errors, closing connection");
			return;
		}
	} else {
		self->n_errors = 0;
	}
	va_start (args, format);
	text = g_strdup_vprintf (format, args);
	va_end (args);
	smtp_session_send (self, code, enhanced, text);
}

static void
smtp_session_reply_static (SmtpSession *self, const SmtpReply *reply)
{
	smtp_session_reply (self, reply->code, reply->enhanced, "%s", reply->text);
}

static void
smtp_session_emit_rejected (SmtpSession *self, const char *stage, const char *module, const char *recipient, guint code,
			    const char *enhanced, const char *reason)
{
	EpMessageRejectedEvent ev = {
	    .session_id = self->id,
	    .peer = ep_connection_get_peer_ip (self->conn),
	    .sender = self->trans.active ? self->trans.sender : NULL,
	    .recipient = recipient,
	    .stage = stage,
	    .module = module,
	    .code = code,
	    .enhanced = enhanced,
	    .reason = reason,
	};

	ep_event_message_rejected_emit (ep_context_get_event_bus (self->server->ctx), &ev);
}

static gboolean smtp_session_auth_offered (SmtpSession *self);

static void
smtp_session_set_command_mode (SmtpSession *self)
{
	self->state = SMTP_STATE_COMMAND;
	/* RFC 4954 §4: AUTH with an initial response may be longer */
	ep_connection_set_max_line (self->conn, smtp_session_auth_offered (self) ? SMTP_COMMAND_MAX_LINE_AUTH
										 : SMTP_COMMAND_MAX_LINE_PATH);
	ep_connection_set_idle_timeout (self->conn, smtp_session_limits (self)->command_timeout);
}

/* Waits for something asynchronous: no input is read meanwhile. */
static void
smtp_session_suspend (SmtpSession *self)
{
	self->busy = TRUE;
	ep_connection_pause_input (self->conn);
}

static void
smtp_session_resume (SmtpSession *self)
{
	self->busy = FALSE;
	if (!self->closing && !self->auth_recording)
		ep_connection_resume_input (self->conn);
}

static void
smtp_session_close (SmtpSession *self)
{
	if (self->closing)
		return;
	self->closing = TRUE;
	g_cancellable_cancel (self->cancellable);
	ep_connection_close (self->conn);
}

/* A listener for mail submission (RFC 6409, RFC 8314). */
static gboolean
smtp_session_is_submission (SmtpSession *self)
{
	return g_strcmp0 (self->listener_kind, "submission") == 0 ||
	       g_strcmp0 (self->listener_kind, "submissions") == 0;
}

/*
 * Submission with a credential backend (a module answers auth.verify):
 * AUTH is offered over TLS and every transaction needs it.  Without one,
 * nobody could ever authenticate, and a submission listener accepts what
 * the MX accepts: mail for local accounts, never relay.
 */
static gboolean
smtp_session_auth_enforced (SmtpSession *self)
{
	return smtp_session_is_submission (self) &&
	       ep_hook_bus_get_n_handlers (smtp_session_bus (self), EP_HOOK_POINT_AUTH_VERIFY) > 0;
}

/* AUTH is advertised and accepted: submission with a backend, over TLS
 * (never in clear: RFC 4954 §4, RFC 8314) */
static gboolean
smtp_session_auth_offered (SmtpSession *self)
{
	return self->info.tls_active && smtp_session_auth_enforced (self);
}

/* ---- hook results ----------------------------------------------------------------- */

typedef enum {
	SMTP_HOOK_PASS,	      /* CONTINUE or ACCEPT: go on */
	SMTP_HOOK_DISCARD,    /* go on, then drop silently */
	SMTP_HOOK_QUARANTINE, /* go on, then hold for review */
	SMTP_HOOK_STOPPED,    /* refused: the reply went out (or the session is closing) */
} SmtpHookOutcome;

/*
 * Turns the end of a chain into an outcome, answering REJECT and TEMPFAIL
 * with the verdict's reply.  A chain that could not run at all, or a
 * verdict that cannot go on the wire, is a temporary failure (fail closed).
 */
static SmtpHookOutcome
smtp_session_hook_outcome (SmtpSession *self, EpHookResult *result, const GError *error, const char *stage,
			   const char *recipient)
{
	const EpVerdict *v;
	g_autoptr (GError) invalid = NULL;

	if (self->closing)
		return SMTP_HOOK_STOPPED;
	if (result == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "%s did not run: %s", stage,
				error != NULL ? error->message : "unknown error");
		smtp_session_reply (self, 451, "4.3.0", SMTP_TEMP_TEXT);
		return SMTP_HOOK_STOPPED;
	}
	v = result->verdict;
	if (result->reason != NULL)
		ep_log_warning (SMTP_MODULE, self->id, "%s failed closed: %s", stage, result->reason->message);
	switch (v->kind) {
	case EP_VERDICT_CONTINUE:
	case EP_VERDICT_ACCEPT:
		return SMTP_HOOK_PASS;
	case EP_VERDICT_DISCARD:
		ep_log_info (SMTP_MODULE, self->id, "%s: %s says discard%s%s", stage,
			     result->module != NULL ? result->module : "?", v->text != NULL ? ": " : "",
			     v->text != NULL ? v->text : "");
		return SMTP_HOOK_DISCARD;
	case EP_VERDICT_QUARANTINE:
		ep_log_info (SMTP_MODULE, self->id, "%s: %s says quarantine%s%s", stage,
			     result->module != NULL ? result->module : "?", v->text != NULL ? ": " : "",
			     v->text != NULL ? v->text : "");
		return SMTP_HOOK_QUARANTINE;
	case EP_VERDICT_REJECT:
	case EP_VERDICT_TEMPFAIL:
		break;
	}
	if (!ep_verdict_validate (v, &invalid)) {
		ep_log_warning (SMTP_MODULE, self->id, "%s: %s answered a malformed verdict: %s", stage,
				result->module != NULL ? result->module : "?", invalid->message);
		smtp_session_reply (self, 451, "4.3.0", SMTP_TEMP_TEXT);
		return SMTP_HOOK_STOPPED;
	}
	{
		const char *text = v->text != NULL && v->text[0] != '\0'
				       ? v->text
				       : (v->kind == EP_VERDICT_REJECT ? "Rejected" : SMTP_TEMP_TEXT);
		ep_log_info (SMTP_MODULE, self->id, "%s: %s answered %u %s %s", stage,
			     result->module != NULL ? result->module : "?", v->code, v->enhanced, text);
		smtp_session_emit_rejected (self, stage, result->module, recipient, v->code, v->enhanced, text);
		smtp_session_reply (self, v->code, v->enhanced, "%s", text);
	}
	return SMTP_HOOK_STOPPED;
}

/* One asynchronous step of a command: the command and the hook contexts,
 * which must outlive their chain. */
typedef struct {
	SmtpSession *self;
	SmtpCommand cmd;
	char *address; /* RCPT: what the directory is asked */
	EpSmtpConnectCtx connect;
	EpSmtpHeloCtx helo;
	EpSmtpMailFromCtx mail;
	EpDirectoryResolveCtx resolve;
	EpSmtpRcptToCtx rcpt;
	gboolean rcpt_discard;
	gboolean rcpt_quarantine;
} SmtpOp;

static SmtpOp *
smtp_op_new (SmtpSession *self, SmtpCommand *cmd)
{
	SmtpOp *op = g_new0 (SmtpOp, 1);

	op->self = g_object_ref (self);
	if (cmd != NULL) {
		op->cmd = *cmd;
		memset (cmd, 0, sizeof (*cmd));
	}
	return op;
}

static void
smtp_op_free (SmtpOp *op)
{
	smtp_command_clear (&op->cmd);
	g_free (op->address);
	g_free (op->resolve.account);
	g_free (op->rcpt.account);
	g_clear_pointer (&op->mail.auth_results, ep_auth_results_unref);
	g_clear_object (&op->self);
	g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpOp, smtp_op_free)

/* ---- greeting ------------------------------------------------------------------------ */

static void
smtp_session_on_connect_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_smtp_connect_run_finish (EP_HOOK_BUS (source), res, &error);
	const EpVerdict *v;
	g_autoptr (GError) invalid = NULL;

	if (self->closing)
		return;
	if (result == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "smtp.connect did not run: %s", error->message);
		smtp_session_send_and_close (self, 421, "4.3.0", "Service not available, closing connection");
		return;
	}
	v = result->verdict;
	if ((v->kind == EP_VERDICT_REJECT || v->kind == EP_VERDICT_TEMPFAIL) && !ep_verdict_validate (v, &invalid)) {
		ep_log_warning (SMTP_MODULE, self->id, "smtp.connect: malformed verdict: %s", invalid->message);
		smtp_session_send_and_close (self, 421, "4.3.0", "Service not available, closing connection");
		return;
	}
	if (v->kind == EP_VERDICT_TEMPFAIL) {
		g_autofree char *text =
		    g_strdup_printf ("%s, closing connection", v->text != NULL ? v->text : "Service not available");
		ep_log_info (SMTP_MODULE, self->id, "smtp.connect: %s answered tempfail",
			     result->module != NULL ? result->module : "?");
		smtp_session_emit_rejected (self, "smtp.connect", result->module, NULL, 421, v->enhanced, text);
		smtp_session_send_and_close (self, 421, v->enhanced, text);
		return;
	}
	if (v->kind == EP_VERDICT_REJECT) {
		/* RFC 5321 §3.1: a 554 greeting, then wait for QUIT */
		g_autofree char *text = g_strdup_printf ("%s %s", smtp_session_hostname (self),
							 v->text != NULL ? v->text : "No SMTP service here");
		ep_log_info (SMTP_MODULE, self->id, "smtp.connect: %s answered reject",
			     result->module != NULL ? result->module : "?");
		smtp_session_emit_rejected (self, "smtp.connect", result->module, NULL, 554, v->enhanced, text);
		smtp_session_send (self, 554, v->enhanced, text);
		self->rejected = TRUE;
		smtp_session_set_command_mode (self);
		smtp_session_resume (self);
		return;
	}
	self->discard_all = v->kind == EP_VERDICT_DISCARD;
	self->quarantine_all = v->kind == EP_VERDICT_QUARANTINE;
	/* no software name or version: only the host name */
	ep_connection_printf (self->conn, "220 %s ESMTP\r\n", smtp_session_hostname (self));
	smtp_session_set_command_mode (self);
	smtp_session_resume (self);
}

/* ---- HELO / EHLO ------------------------------------------------------------------------ */

static void
smtp_session_send_ehlo (SmtpSession *self)
{
	EpContext *ctx = self->server->ctx;
	const SmtpLimits *limits = smtp_session_limits (self);
	gboolean tls = ep_connection_is_tls (self->conn);
	g_autoptr (GString) r = g_string_new (NULL);

	g_string_append_printf (r, "250-%s\r\n", smtp_session_hostname (self));
	g_string_append (r, "250-PIPELINING\r\n");
	g_string_append_printf (r, "250-SIZE %" G_GUINT64_FORMAT "\r\n", limits->max_message_size);
	g_string_append (r, "250-8BITMIME\r\n");
	g_string_append (r, "250-SMTPUTF8\r\n");
	g_string_append (r, "250-ENHANCEDSTATUSCODES\r\n");
	if (!tls && ep_context_get_tls (ctx) != NULL)
		g_string_append (r, "250-STARTTLS\r\n");
	if (smtp_session_auth_offered (self)) {
		g_autofree char *mechs = smtp_session_auth_mechanisms (self);
		if (mechs != NULL)
			g_string_append_printf (r, "250-AUTH %s\r\n", mechs);
	}
	g_string_append (r, "250-CHUNKING\r\n");
	g_string_append (r, "250-DSN\r\n");
	if (tls)
		g_string_append (r, "250-REQUIRETLS\r\n");
	g_string_append_printf (r, "250 LIMITS RCPTMAX=%u\r\n", limits->max_recipients);
	self->n_errors = 0;
	ep_connection_write (self->conn, r->str, r->len);
}

static void
smtp_session_on_helo_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_smtp_helo_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "smtp.helo", NULL);

	if (outcome != SMTP_HOOK_STOPPED) {
		/* RFC 5321 §4.1.4: EHLO/HELO in the middle of a transaction resets it */
		smtp_transaction_reset (&self->trans);
		g_free (self->helo);
		self->helo = g_steal_pointer (&op->cmd.argument);
		self->info.helo = self->helo;
		self->ehlo = op->cmd.verb == SMTP_VERB_EHLO;
		self->discard_all |= outcome == SMTP_HOOK_DISCARD;
		self->quarantine_all |= outcome == SMTP_HOOK_QUARANTINE;
		if (self->ehlo)
			smtp_session_send_ehlo (self);
		else
			smtp_session_reply (self, 250, NULL, "%s", smtp_session_hostname (self));
	}
	smtp_session_resume (self);
}

static void
smtp_session_cmd_helo (SmtpSession *self, SmtpCommand *cmd)
{
	SmtpOp *op = smtp_op_new (self, cmd);

	op->helo.session = &self->info;
	op->helo.helo = op->cmd.argument;
	op->helo.is_ehlo = op->cmd.verb == SMTP_VERB_EHLO;
	smtp_session_suspend (self);
	ep_hook_smtp_helo_run_async (smtp_session_bus (self), &op->helo, 0, self->cancellable,
				     smtp_session_on_helo_done, op);
}

/* ---- MAIL ---------------------------------------------------------------------------- */

static void
smtp_session_on_mail_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_smtp_mail_from_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "smtp.mail_from", NULL);
	SmtpTransaction *t = &self->trans;

	if (outcome != SMTP_HOOK_STOPPED) {
		smtp_transaction_reset (t);
		t->active = TRUE;
		t->sender = g_steal_pointer (&op->cmd.path);
		t->parameters = g_steal_pointer (&op->cmd.parameters);
		t->smtputf8 = op->cmd.smtputf8;
		t->requiretls = op->cmd.requiretls;
		t->body = op->cmd.body;
		t->ret = op->cmd.ret;
		t->envid = g_steal_pointer (&op->cmd.envid);
		t->discard = outcome == SMTP_HOOK_DISCARD;
		t->quarantine = outcome == SMTP_HOOK_QUARANTINE;
		t->recipients = g_ptr_array_new_with_free_func ((GDestroyNotify)smtp_recipient_free);
		t->auth_results = g_steal_pointer (&op->mail.auth_results);
		smtp_message_init (&t->message, smtp_session_limits (self)->max_message_size);
		smtp_octet_validator_init (&t->validator, SMTP_DATA_MAX_LINE);
		smtp_session_reply (self, 250, "2.1.0", "OK");
	}
	smtp_session_resume (self);
}

static void
smtp_session_run_mail_from (SmtpSession *self, SmtpOp *op)
{
	op->mail.session = &self->info;
	op->mail.reverse_path = op->cmd.path;
	op->mail.parameters = op->cmd.parameters;
	op->mail.auth_results = ep_auth_results_new (smtp_session_hostname (self));
	ep_hook_smtp_mail_from_run_async (smtp_session_bus (self), &op->mail, 0, self->cancellable,
					  smtp_session_on_mail_done, op);
}

/* The sender of an authenticated transaction must be an address of the
 * account that authenticated (RFC 6409 §6.1). */
static void
smtp_session_on_sender_resolved (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_directory_resolve_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "directory.resolve", NULL);

	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_session_resume (self);
		return;
	}
	if (op->resolve.account == NULL || g_strcmp0 (op->resolve.account, self->auth_account) != 0) {
		ep_log_info (SMTP_MODULE, self->id, "sender <%s> is not an address of %s", op->cmd.path,
			     self->auth_account);
		smtp_session_emit_rejected (self, "submission", NULL, NULL, 553, "5.7.1",
					    "Sender address not owned by the authenticated user");
		smtp_session_reply (self, 553, "5.7.1", "Sender address not owned by the authenticated user");
		smtp_session_resume (self);
		return;
	}
	smtp_session_run_mail_from (self, g_steal_pointer (&op));
}

static void
smtp_session_cmd_mail (SmtpSession *self, SmtpCommand *cmd)
{
	const SmtpLimits *limits = smtp_session_limits (self);
	SmtpOp *op;
	const char *at;

	if (self->helo == NULL) {
		smtp_session_reply (self, 503, "5.5.1", "Send HELO or EHLO first");
		return;
	}
	if (self->trans.active) {
		smtp_session_reply (self, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	if (!self->ehlo && cmd->parameters != NULL) {
		smtp_session_reply (self, 555, "5.5.4", "Parameters need EHLO");
		return;
	}
	if (cmd->has_size && cmd->size > limits->max_message_size) {
		smtp_session_reply (self, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		return;
	}
	if (cmd->requiretls && !ep_connection_is_tls (self->conn)) {
		smtp_session_reply (self, 530, "5.7.10", "REQUIRETLS needs a TLS connection");
		return;
	}
	if (self->auth_account == NULL && smtp_session_auth_enforced (self)) {
		/* RFC 6409 §4.3 */
		smtp_session_reply (self, 530, "5.7.0", "Authentication required");
		return;
	}
	if (self->auth_account == NULL) {
		op = smtp_op_new (self, cmd);
		smtp_session_suspend (self);
		smtp_session_run_mail_from (self, op);
		return;
	}
	/* authenticated: the sender must be one of the account's addresses */
	at = strrchr (cmd->path, '@');
	if (cmd->path[0] == '\0') {
		ep_log_info (SMTP_MODULE, self->id, "null sender refused for %s", self->auth_account);
		smtp_session_reply (self, 553, "5.7.1", "Null sender not allowed for authenticated submission");
		return;
	}
	if (at == NULL || at[1] == '[') {
		smtp_session_reply (self, 553, "5.7.1", "Sender address not owned by the authenticated user");
		return;
	}
	op = smtp_op_new (self, cmd);
	op->address = g_strdup (op->cmd.path);
	op->resolve.address = op->address;
	smtp_session_suspend (self);
	ep_hook_directory_resolve_run_async (smtp_session_bus (self), &op->resolve, 0, self->cancellable,
					     smtp_session_on_sender_resolved, op);
}

/* ---- RCPT ---------------------------------------------------------------------------- */

static EpQueue *
smtp_session_queue (SmtpSession *self)
{
	return EP_QUEUE (ep_service_registry_lookup (ep_context_get_services (self->server->ctx), EP_TYPE_QUEUE));
}

/* An authenticated user's mail for another domain goes to the outbound
 * queue; without a queue module, "try later" so the client keeps it. */
static void
smtp_session_accept_outbound (SmtpSession *self, SmtpCommand *cmd, const char *stage)
{
	SmtpRecipient *r;

	if (smtp_session_queue (self) == NULL) {
		ep_log_info (SMTP_MODULE, self->id, "outbound delivery to <%s> is not available (no queue module)",
			     cmd->path);
		smtp_session_emit_rejected (self, stage, NULL, cmd->path, 451, "4.3.0",
					    "Outbound delivery is not available");
		smtp_session_reply (self, 451, "4.3.0", "Outbound delivery is not available");
		return;
	}
	r = g_new0 (SmtpRecipient, 1);
	r->path = g_steal_pointer (&cmd->path);
	r->account = NULL; /* remote */
	r->notify = cmd->notify;
	r->orcpt_type = g_steal_pointer (&cmd->orcpt_type);
	r->orcpt_address = g_steal_pointer (&cmd->orcpt_address);
	g_ptr_array_add (self->trans.recipients, r);
	smtp_session_reply (self, 250, "2.1.5", "OK");
}

/* mail for an address literal is never routed */
static void
smtp_session_refuse_literal (SmtpSession *self, const char *recipient, const char *stage)
{
	smtp_session_emit_rejected (self, stage, NULL, recipient, 550, "5.7.1",
				    "Mail for address literals is not relayed");
	smtp_session_reply (self, 550, "5.7.1", "Mail for address literals is not relayed");
}

static void
smtp_session_on_rcpt_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_smtp_rcpt_to_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "smtp.rcpt_to", op->cmd.path);
	SmtpTransaction *t = &self->trans;

	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_session_resume (self);
		return;
	}
	/* a handler may have re-routed the recipient, or taken it away */
	if (!op->rcpt.is_local && self->auth_account != NULL) {
		smtp_session_accept_outbound (self, &op->cmd, "smtp.rcpt_to");
	} else if (!op->rcpt.is_local || op->rcpt.account == NULL || op->rcpt.account[0] == '\0') {
		smtp_session_emit_rejected (self, "smtp.rcpt_to", NULL, op->cmd.path, 550, "5.7.1", "Relaying denied");
		smtp_session_reply (self, 550, "5.7.1", "Relaying denied");
	} else {
		SmtpRecipient *r = g_new0 (SmtpRecipient, 1);
		r->path = g_steal_pointer (&op->cmd.path);
		r->account = g_steal_pointer (&op->rcpt.account);
		r->discard = op->rcpt_discard || outcome == SMTP_HOOK_DISCARD;
		r->quarantine = op->rcpt_quarantine || outcome == SMTP_HOOK_QUARANTINE;
		r->notify = op->cmd.notify;
		r->orcpt_type = g_steal_pointer (&op->cmd.orcpt_type);
		r->orcpt_address = g_steal_pointer (&op->cmd.orcpt_address);
		g_ptr_array_add (t->recipients, r);
		smtp_session_reply (self, 250, "2.1.5", "OK");
	}
	smtp_session_resume (self);
}

static void
smtp_session_on_resolve_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpOp) op = user_data;
	SmtpSession *self = op->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_directory_resolve_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "directory.resolve", op->cmd.path);
	SmtpTransaction *t = &self->trans;
	EpSmtpRcptToCtx *ctx;

	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_session_resume (self);
		return;
	}
	if (!op->resolve.is_local_domain && self->auth_account != NULL) {
		smtp_session_accept_outbound (self, &op->cmd, "directory.resolve");
		smtp_session_resume (self);
		return;
	}
	if (!op->resolve.is_local_domain) {
		ep_log_info (SMTP_MODULE, self->id, "relaying denied for <%s>", op->cmd.path);
		smtp_session_emit_rejected (self, "directory.resolve", NULL, op->cmd.path, 550, "5.7.1",
					    "Relaying denied");
		smtp_session_reply (self, 550, "5.7.1", "Relaying denied");
		smtp_session_resume (self);
		return;
	}
	if (op->resolve.account == NULL || op->resolve.account[0] == '\0') {
		ep_log_info (SMTP_MODULE, self->id, "no such user <%s>", op->cmd.path);
		smtp_session_emit_rejected (self, "directory.resolve", NULL, op->cmd.path, 550, "5.1.1",
					    "No such user here");
		smtp_session_reply (self, 550, "5.1.1", "No such user here");
		smtp_session_resume (self);
		return;
	}
	op->rcpt_discard = outcome == SMTP_HOOK_DISCARD;
	op->rcpt_quarantine = outcome == SMTP_HOOK_QUARANTINE;
	op->rcpt.session = &self->info;
	op->rcpt.reverse_path = t->sender;
	op->rcpt.recipient = op->cmd.path;
	op->rcpt.parameters = op->cmd.parameters;
	op->rcpt.n_accepted = t->recipients->len;
	op->rcpt.account = g_strdup (op->resolve.account);
	op->rcpt.is_local = TRUE;
	ctx = &op->rcpt;
	ep_hook_smtp_rcpt_to_run_async (smtp_session_bus (self), ctx, 0, self->cancellable, smtp_session_on_rcpt_done,
					g_steal_pointer (&op));
}

static void
smtp_session_cmd_rcpt (SmtpSession *self, SmtpCommand *cmd)
{
	SmtpTransaction *t = &self->trans;
	const char *const *domains = ep_config_get_domains (smtp_session_config (self));
	const char *at;
	SmtpOp *op;

	if (!t->active) {
		smtp_session_reply (self, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (t->bdat) {
		smtp_session_reply (self, 503, "5.5.1", "RCPT not allowed after BDAT");
		return;
	}
	if (!self->ehlo && cmd->parameters != NULL) {
		smtp_session_reply (self, 555, "5.5.4", "Parameters need EHLO");
		return;
	}
	if (t->recipients->len >= smtp_session_limits (self)->max_recipients) {
		smtp_session_reply (self, 452, "4.5.3", "Too many recipients");
		return;
	}
	/* fail closed: a server that serves no domain accepts nothing */
	if ((domains == NULL || domains[0] == NULL) && self->auth_account != NULL && !cmd->postmaster &&
	    strrchr (cmd->path, '@') != NULL && strrchr (cmd->path, '@')[1] != '[') {
		smtp_session_accept_outbound (self, cmd, "smtp.rcpt_to");
		return;
	}
	if (domains == NULL || domains[0] == NULL) {
		ep_log_info (SMTP_MODULE, self->id, "no domains configured: refusing <%s>", cmd->path);
		smtp_session_reply (self, 550, "5.7.1", "Relaying denied");
		return;
	}
	op = smtp_op_new (self, cmd);
	if (op->cmd.postmaster) {
		/* RFC 5321 §4.5.1: <Postmaster> without a domain is ours */
		op->address = g_strconcat ("postmaster@", domains[0], NULL);
	} else {
		at = strrchr (op->cmd.path, '@');
		if (at != NULL && at[1] == '[' && self->auth_account != NULL) {
			smtp_session_refuse_literal (self, op->cmd.path, "smtp.rcpt_to");
			smtp_op_free (op);
			return;
		}
		if (at == NULL || at[1] == '[') {
			/* mail for an address literal is never ours to take */
			smtp_session_reply (self, 550, "5.7.1", "Relaying denied");
			smtp_op_free (op);
			return;
		}
		op->address = g_strdup (op->cmd.path);
	}
	op->resolve.address = op->address;
	smtp_session_suspend (self);
	ep_hook_directory_resolve_run_async (smtp_session_bus (self), &op->resolve, 0, self->cancellable,
					     smtp_session_on_resolve_done, op);
}

/* ---- delivery ---------------------------------------------------------------------------- */

/* A received message on its way: smtp.data, then delivery.local for each
 * account, then the store; the one reply comes at the end. */
typedef struct {
	SmtpSession *self;
	GBytes *message;	    /* as received */
	GBytes *final;		    /* with Return-Path, the hooks' fields and Received */
	GPtrArray *recipient_paths; /* of const char*, NULL-terminated */
	EpSmtpDataCtx data;
	gboolean quarantine_all;
	GPtrArray *accounts; /* of SmtpRecipient (borrowed), one per account, in order */
	guint next;
	EpDeliveryLocalCtx local;
	GArray *targets;  /* of EpStoreTarget, strings in names */
	GPtrArray *names; /* owns the strings of targets */
	guint n_discarded;
	guint n_rejected;
	gboolean to_inbox; /* a chosen mailbox did not exist: everything went to INBOX */
	/* authenticated submission */
	GPtrArray *from; /* of char*, the From: addresses to check */
	guint from_next;
	EpDirectoryResolveCtx resolve;
	EpSubmissionMessageCtx submission;
	gboolean submission_quarantine;
	/* remote recipients: the outbound queue's id once queued */
	char *queued_id;
	gsize return_path_len; /* the Return-Path line on top of final, which a relayed copy has not */
} SmtpDelivery;

static void
smtp_delivery_free (SmtpDelivery *d)
{
	g_clear_pointer (&d->message, g_bytes_unref);
	g_clear_pointer (&d->final, g_bytes_unref);
	g_clear_pointer (&d->recipient_paths, g_ptr_array_unref);
	g_clear_pointer (&d->accounts, g_ptr_array_unref);
	g_clear_pointer (&d->local.mailbox, g_free);
	g_clear_pointer (&d->local.flags, g_ptr_array_unref);
	g_clear_pointer (&d->targets, g_array_unref);
	g_clear_pointer (&d->names, g_ptr_array_unref);
	g_clear_pointer (&d->from, g_ptr_array_unref);
	g_clear_pointer (&d->resolve.account, g_free);
	g_free (d->queued_id);
	g_clear_object (&d->self);
	g_free (d);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpDelivery, smtp_delivery_free)

static void
smtp_session_log_message (SmtpSession *self, const char *result)
{
	SmtpTransaction *t = &self->trans;

	ep_log_info (SMTP_MODULE, self->id, "message from=<%s> rcpts=%u size=%" G_GUINT64_FORMAT " result=%s",
		     t->sender != NULL ? t->sender : "", t->recipients != NULL ? t->recipients->len : 0,
		     t->message.total, result);
}

/* Ends the transaction after its one reply and reads on. */
static void
smtp_session_end_transaction (SmtpSession *self)
{
	smtp_transaction_reset (&self->trans);
	smtp_session_resume (self);
}

static void
smtp_delivery_add_target (SmtpDelivery *d, const char *account, const char *mailbox)
{
	EpStoreTarget target;

	for (guint i = 0; i < d->targets->len; i++) {
		EpStoreTarget *t = &g_array_index (d->targets, EpStoreTarget, i);
		if (strcmp (t->account, account) == 0 && strcmp (t->mailbox, mailbox) == 0)
			return;
	}
	target.account = g_strdup (account);
	target.mailbox = g_strdup (mailbox);
	g_ptr_array_add (d->names, (gpointer)target.account);
	g_ptr_array_add (d->names, (gpointer)target.mailbox);
	g_array_append_val (d->targets, target);
}

static void smtp_delivery_store (SmtpDelivery *d);

/* A mailbox that delivery.local chose (or Junk) may not exist: the
 * message then goes to INBOX rather than nowhere (RFC 5228 §4.1 allows
 * either).  Returns FALSE when every target was INBOX already. */
static gboolean
smtp_delivery_fall_back_to_inbox (SmtpDelivery *d)
{
	g_autoptr (GArray) old_targets = g_steal_pointer (&d->targets);
	g_autoptr (GPtrArray) old_names = g_steal_pointer (&d->names);
	gboolean changed = FALSE;

	d->targets = g_array_new (FALSE, FALSE, sizeof (EpStoreTarget));
	d->names = g_ptr_array_new_with_free_func (g_free);
	for (guint i = 0; i < old_targets->len; i++) {
		EpStoreTarget *t = &g_array_index (old_targets, EpStoreTarget, i);
		changed |= strcmp (t->mailbox, "INBOX") != 0;
		smtp_delivery_add_target (d, t->account, "INBOX");
	}
	d->to_inbox = TRUE;
	return changed;
}

static void
smtp_delivery_on_stored (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpDelivery) d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) deliveries = ep_store_deliver_finish (EP_STORE (source), res, &error);
	g_autofree char *message_id = NULL;

	if (self->closing)
		return;
	if (deliveries == NULL && !d->to_inbox && g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND) &&
	    smtp_delivery_fall_back_to_inbox (d)) {
		ep_log_warning (SMTP_MODULE, self->id, "%s; delivering to INBOX instead", error->message);
		smtp_delivery_store (g_steal_pointer (&d));
		return;
	}
	if (deliveries == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "cannot store the message: %s", error->message);
		if (g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT)) {
			smtp_session_log_message (self, "over quota");
			smtp_session_reply (self, 452, "4.2.2", "Mailbox full, try again later");
		} else {
			smtp_session_log_message (self, "store failed");
			smtp_session_reply (self, 451, "4.3.0", SMTP_TEMP_TEXT);
		}
		smtp_session_end_transaction (self);
		return;
	}
	self->n_messages++;
	{
		gsize len;
		const guint8 *data = g_bytes_get_data (d->message, &len);
		message_id = smtp_data_find_header (data, len, "Message-ID");
	}
	for (guint i = 0; i < deliveries->len; i++) {
		EpStoreDelivery *sd = g_ptr_array_index (deliveries, i);
		EpMessageDeliveredEvent ev = {
		    .session_id = self->id,
		    .message_id = message_id,
		    .sender = self->trans.sender,
		    .account = sd->account,
		    .mailbox = sd->mailbox,
		    .mailbox_id = sd->mailbox_id,
		    .uid = sd->uid,
		    .size = g_bytes_get_size (d->final),
		    .protocol = g_str_has_prefix (self->listener_kind, "submission") ? "submission" : "smtp",
		};
		ep_log_debug (SMTP_MODULE, self->id, "stored in %s/%s uid %u", sd->account, sd->mailbox, sd->uid);
		ep_event_message_delivered_emit (ep_context_get_event_bus (self->server->ctx), &ev);
	}
	smtp_session_log_message (self, "delivered");
	smtp_session_reply (self, 250, "2.0.0", "OK, message stored (id %s)", self->id);
	smtp_session_end_transaction (self);
}

static void
smtp_delivery_store (SmtpDelivery *d)
{
	g_autoptr (SmtpSession) self = g_object_ref (d->self);

	if (d->targets->len == 0 && d->queued_id != NULL && d->accounts->len == 0) {
		/* remote recipients only */
		smtp_session_log_message (self, "queued");
		self->n_messages++;
		smtp_session_reply (self, 250, "2.0.0", "OK, queued as %s", d->queued_id);
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	if (d->targets->len == 0) {
		/* every recipient discarded it: accepted, silently dropped */
		smtp_session_log_message (self, d->n_rejected > 0 ? "rejected by delivery.local" : "discarded");
		smtp_session_reply (self, 250, "2.0.0", "OK, message stored (id %s)", self->id);
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	if (self->server->store == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "no store to deliver to");
		smtp_session_log_message (self, "no store");
		smtp_session_reply (self, 451, "4.3.0", SMTP_TEMP_TEXT);
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	/* one transaction: every target or none; the reply waits for the commit */
	ep_store_deliver_async (self->server->store, (const EpStoreTarget *)(gpointer)d->targets->data, d->targets->len,
				d->final, self->cancellable, smtp_delivery_on_stored, d);
}

static void smtp_delivery_next_local (SmtpDelivery *d);

static void
smtp_delivery_on_local_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmtpDelivery *d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_delivery_local_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpRecipient *r = g_ptr_array_index (d->accounts, d->next);
	const EpVerdict *v = result != NULL ? result->verdict : NULL;
	g_autofree char *mailbox = NULL;

	if (self->closing) {
		smtp_delivery_free (d);
		return;
	}
	if (v != NULL && v->kind == EP_VERDICT_REJECT && d->accounts->len > 1) {
		/* one status for all: the others still get it (no bounce yet) */
		ep_log_info (SMTP_MODULE, self->id, "delivery.local: %s refused the message for %s",
			     result->module != NULL ? result->module : "?", r->account);
		d->n_rejected++;
	} else {
		switch (smtp_session_hook_outcome (self, result, error, "delivery.local", r->path)) {
		case SMTP_HOOK_STOPPED:
			smtp_session_log_message (self, "refused by delivery.local");
			smtp_delivery_free (d);
			smtp_session_end_transaction (self);
			return;
		case SMTP_HOOK_DISCARD:
			d->n_discarded++;
			break;
		case SMTP_HOOK_QUARANTINE:
			smtp_delivery_add_target (d, r->account, SMTP_JUNK_MAILBOX);
			break;
		case SMTP_HOOK_PASS:
			if (r->quarantine || d->quarantine_all) {
				smtp_delivery_add_target (d, r->account, SMTP_JUNK_MAILBOX);
				break;
			}
			mailbox = ep_store_normalize_mailbox_name (d->local.mailbox, NULL);
			if (mailbox == NULL) {
				ep_log_warning (SMTP_MODULE, self->id,
						"delivery.local chose an invalid mailbox for %s; using INBOX",
						r->account);
				mailbox = g_strdup ("INBOX");
			}
			if (d->local.flags != NULL && d->local.flags->len > 0)
				ep_log_debug (
				    SMTP_MODULE, self->id,
				    "delivery.local flags for %s not applied: the store takes none on delivery",
				    r->account);
			smtp_delivery_add_target (d, r->account, mailbox);
			break;
		}
	}
	d->next++;
	smtp_delivery_next_local (d);
}

static void
smtp_delivery_next_local (SmtpDelivery *d)
{
	SmtpSession *self = d->self;
	SmtpRecipient *r;

	/* skip the recipients a hook discarded before the message came */
	while (d->next < d->accounts->len && ((SmtpRecipient *)g_ptr_array_index (d->accounts, d->next))->discard) {
		d->n_discarded++;
		d->next++;
	}
	if (d->next >= d->accounts->len) {
		smtp_delivery_store (d);
		return;
	}
	r = g_ptr_array_index (d->accounts, d->next);
	g_clear_pointer (&d->local.mailbox, g_free);
	g_clear_pointer (&d->local.flags, g_ptr_array_unref);
	d->local.session_id = self->id;
	d->local.sender = self->trans.sender;
	d->local.recipient = r->path;
	d->local.account = r->account;
	d->local.message = d->final;
	d->local.mailbox = g_strdup ("INBOX");
	d->local.flags = g_ptr_array_new_with_free_func (g_free);
	ep_hook_delivery_local_run_async (smtp_session_bus (self), &d->local, 0, self->cancellable,
					  smtp_delivery_on_local_done, d);
}

static char *
smtp_session_return_path (const char *sender)
{
	return g_strdup_printf ("Return-Path: <%s>\r\n", sender);
}

/* Return-Path, the fields the smtp.data handlers added, Received, then the message. */
static GBytes *
smtp_session_build_final (SmtpSession *self, GBytes *message, EpHookResult *result)
{
	SmtpTransaction *t = &self->trans;
	g_autoptr (GDateTime) now = g_date_time_new_now_local ();
	gboolean tls = ep_connection_is_tls (self->conn);
	SmtpReceivedInfo info = {
	    .helo = self->helo,
	    .peer_ip = ep_connection_get_peer_ip (self->conn),
	    .hostname = smtp_session_hostname (self),
	    .protocol = smtp_data_protocol (self->ehlo, t->smtputf8, tls, self->info.authenticated_user != NULL),
	    .id = self->id,
	    .tls_version = ep_connection_get_tls_version (self->conn),
	    .tls_cipher = ep_connection_get_tls_cipher (self->conn),
	    .recipient = t->recipients->len == 1 ? ((SmtpRecipient *)g_ptr_array_index (t->recipients, 0))->path : NULL,
	    .date = now,
	};
	g_autofree char *received = smtp_data_received_header (&info);
	guint n_forged = 0;
	/* fields that claim to be ours were not written here: they go (RFC 8601 §5) */
	g_autoptr (GBytes) stripped = smtp_data_strip_auth_results (message, smtp_session_hostname (self), &n_forged);
	gsize len;
	const guint8 *data = g_bytes_get_data (stripped, &len);
	GByteArray *out = g_byte_array_sized_new ((guint)(len + 1024));
	g_autofree char *return_path = smtp_session_return_path (t->sender);

	if (n_forged > 0)
		ep_log_info (SMTP_MODULE, self->id, "removed %u Authentication-Results field(s) naming this host", n_forged);
	g_byte_array_append (out, (const guint8 *)return_path, (guint)strlen (return_path));
	/* what the inbound checks found; authenticated submission is not checked */
	if (self->info.authenticated_user == NULL && t->auth_results != NULL) {
		g_autofree char *value = ep_auth_results_to_header_value (t->auth_results);
		g_autofree char *field = g_strdup_printf ("Authentication-Results: %s\r\n", value);
		g_byte_array_append (out, (const guint8 *)field, (guint)strlen (field));
	}
	for (guint i = 0; result != NULL && i < result->headers->len; i++) {
		EpHookHeader *h = g_ptr_array_index (result->headers, i);
		g_autofree char *field = g_strdup_printf ("%s: %s\r\n", h->name, h->value);
		g_byte_array_append (out, (const guint8 *)field, (guint)strlen (field));
	}
	g_byte_array_append (out, (const guint8 *)received, (guint)strlen (received));
	g_byte_array_append (out, data, (guint)len);
	return g_byte_array_free_to_bytes (out);
}

static gboolean
smtp_bytes_have_8bit (GBytes *bytes)
{
	gsize len;
	const guint8 *data = g_bytes_get_data (bytes, &len);

	for (gsize i = 0; i < len; i++) {
		if (data[i] >= 0x80)
			return TRUE;
	}
	return FALSE;
}

static void
smtp_delivery_on_enqueued (GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmtpDelivery *d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	g_autoptr (GError) error = NULL;

	d->queued_id = ep_queue_enqueue_finish (EP_QUEUE (source), res, &error);
	if (self->closing) {
		smtp_delivery_free (d);
		return;
	}
	if (d->queued_id == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "cannot queue the message: %s", error->message);
		if (g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT)) {
			smtp_session_log_message (self, "loop");
			smtp_session_reply (self, 554, "5.4.6", "Too many hops: a mail loop");
		} else {
			smtp_session_log_message (self, "queue failed");
			smtp_session_reply (self, 451, "4.3.0", SMTP_TEMP_TEXT);
		}
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	ep_log_info (SMTP_MODULE, self->id, "queued as %s", d->queued_id);
	smtp_delivery_next_local (d);
}

/* the remote recipients go to the outbound queue, committed before the
 * local ones are stored; the one reply comes after both */
static void
smtp_delivery_enqueue (SmtpDelivery *d)
{
	SmtpSession *self = d->self;
	SmtpTransaction *t = &self->trans;
	g_autoptr (GArray) rcpts = g_array_new (FALSE, TRUE, sizeof (EpQueueRecipient));
	g_autoptr (GPtrArray) orcpts = g_ptr_array_new_with_free_func (g_free);
	g_autoptr (GBytes) relayed = g_bytes_new_from_bytes (d->final, d->return_path_len,
							     g_bytes_get_size (d->final) - d->return_path_len);
	EpQueueSubmission s = { 0 };

	for (guint i = 0; i < t->recipients->len; i++) {
		SmtpRecipient *r = g_ptr_array_index (t->recipients, i);
		EpQueueRecipient q = { 0 };
		if (r->account != NULL)
			continue;
		q.address = r->path;
		if (r->orcpt_type != NULL && r->orcpt_address != NULL) {
			char *orcpt = g_strdup_printf ("%s;%s", r->orcpt_type, r->orcpt_address);
			g_ptr_array_add (orcpts, orcpt);
			q.orcpt = orcpt;
		}
		q.notify = (EpQueueNotify)r->notify;
		g_array_append_val (rcpts, q);
	}
	s.session_id = self->id;
	s.sender = t->sender;
	s.recipients = (const EpQueueRecipient *)(gpointer)rcpts->data;
	s.n_recipients = rcpts->len;
	s.message = relayed;
	s.body_8bit = t->body == SMTP_BODY_8BITMIME || smtp_bytes_have_8bit (relayed);
	s.smtputf8 = t->smtputf8;
	s.envid = t->envid;
	s.ret_headers_only = t->ret == SMTP_RET_HDRS;
	s.submitted_by = self->auth_account;
	ep_queue_enqueue_async (smtp_session_queue (self), &s, self->cancellable, smtp_delivery_on_enqueued, d);
}

static void
smtp_delivery_on_data_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmtpDelivery *d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	SmtpTransaction *t = &self->trans;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_smtp_data_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "smtp.data", NULL);
	guint n_remote = 0;

	if (self->closing) {
		smtp_delivery_free (d);
		return;
	}
	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_session_log_message (self, "refused by smtp.data");
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	if (outcome == SMTP_HOOK_DISCARD || t->discard || self->discard_all) {
		smtp_session_log_message (self, "discarded");
		smtp_session_reply (self, 250, "2.0.0", "OK, message stored (id %s)", self->id);
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	d->quarantine_all =
	    outcome == SMTP_HOOK_QUARANTINE || t->quarantine || self->quarantine_all || d->submission_quarantine;
	d->final = smtp_session_build_final (self, d->message, result);
	{
		g_autofree char *return_path = smtp_session_return_path (t->sender);
		d->return_path_len = strlen (return_path);
	}

	/* delivery.local once per account, for its first recipient */
	d->accounts = g_ptr_array_new ();
	for (guint i = 0; i < t->recipients->len; i++) {
		SmtpRecipient *r = g_ptr_array_index (t->recipients, i);
		gboolean seen = FALSE;
		if (r->account == NULL) {
			n_remote++; /* the queue's */
			continue;
		}
		for (guint j = 0; j < d->accounts->len && !seen; j++)
			seen = strcmp (((SmtpRecipient *)g_ptr_array_index (d->accounts, j))->account, r->account) == 0;
		if (!seen)
			g_ptr_array_add (d->accounts, r);
	}
	d->targets = g_array_new (FALSE, FALSE, sizeof (EpStoreTarget));
	d->names = g_ptr_array_new_with_free_func (g_free);
	d->next = 0;
	if (n_remote > 0 && !d->quarantine_all) {
		smtp_delivery_enqueue (d);
		return;
	}
	if (n_remote > 0) {
		/* a quarantined submission is not sent on */
		ep_log_info (SMTP_MODULE, self->id, "quarantined: the remote recipients do not get it");
	}
	smtp_delivery_next_local (d);
}

static void
smtp_delivery_run_data (SmtpDelivery *d)
{
	SmtpSession *self = d->self;

	d->data.session = &self->info;
	d->data.sender = self->trans.sender;
	d->data.recipients = (const char *const *)d->recipient_paths->pdata;
	d->data.message = d->message;
	d->data.auth_results = self->trans.auth_results;
	ep_hook_smtp_data_run_async (smtp_session_bus (self), &d->data, 0, self->cancellable,
				     smtp_delivery_on_data_done, d);
}

/* A submitted message refused before delivery: the reply went out. */
static void
smtp_delivery_refused (SmtpDelivery *d, const char *why)
{
	g_autoptr (SmtpSession) self = g_object_ref (d->self);

	smtp_session_log_message (self, why);
	smtp_delivery_free (d);
	smtp_session_end_transaction (self);
}

/* @fields in front of the message */
static void
smtp_delivery_prepend (SmtpDelivery *d, const char *fields)
{
	gsize len;
	const guint8 *data;
	GByteArray *out;

	if (fields == NULL || fields[0] == '\0')
		return;
	data = g_bytes_get_data (d->message, &len);
	out = g_byte_array_sized_new ((guint)(len + strlen (fields)));
	g_byte_array_append (out, (const guint8 *)fields, (guint)strlen (fields));
	g_byte_array_append (out, data, (guint)len);
	g_bytes_unref (d->message);
	d->message = g_byte_array_free_to_bytes (out);
}

static void
smtp_delivery_on_submission_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmtpDelivery *d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_submission_message_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "submission.message", NULL);
	g_autoptr (GString) fields = g_string_new (NULL);

	if (self->closing) {
		smtp_delivery_free (d);
		return;
	}
	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_delivery_refused (d, "refused by submission.message");
		return;
	}
	if (outcome == SMTP_HOOK_DISCARD) {
		smtp_session_log_message (self, "discarded by submission.message");
		smtp_session_reply (self, 250, "2.0.0", "OK, message stored (id %s)", self->id);
		smtp_delivery_free (d);
		smtp_session_end_transaction (self);
		return;
	}
	d->submission_quarantine = outcome == SMTP_HOOK_QUARANTINE;
	/* the fields the handlers added (a DKIM signature) go on top, in order */
	for (guint i = 0; i < result->headers->len; i++) {
		EpHookHeader *h = g_ptr_array_index (result->headers, i);
		g_string_append_printf (fields, "%s: %s\r\n", h->name, h->value);
	}
	smtp_delivery_prepend (d, fields->str);
	smtp_delivery_run_data (d);
}

/* RFC 6409 §8: Message-ID and Date when missing, then submission.message. */
static void
smtp_delivery_submit (SmtpDelivery *d)
{
	SmtpSession *self = d->self;
	g_autoptr (GDateTime) now = g_date_time_new_now_local ();
	gsize len;
	const guint8 *data = g_bytes_get_data (d->message, &len);
	g_autofree char *missing = smtp_auth_missing_fields (data, len, smtp_session_hostname (self), now);

	if (missing[0] != '\0')
		ep_log_debug (SMTP_MODULE, self->id, "adding %s%s", strstr (missing, "Message-ID") ? "Message-ID " : "",
			      strstr (missing, "Date:") ? "Date" : "");
	smtp_delivery_prepend (d, missing);
	d->submission.session = &self->info;
	d->submission.authenticated_user = self->auth_account;
	d->submission.sender = self->trans.sender;
	d->submission.recipients = (const char *const *)d->recipient_paths->pdata;
	d->submission.message = d->message;
	ep_hook_submission_message_run_async (smtp_session_bus (self), &d->submission, 0, self->cancellable,
					      smtp_delivery_on_submission_done, d);
}

static void smtp_delivery_next_from (SmtpDelivery *d);

static void
smtp_delivery_on_from_resolved (GObject *source, GAsyncResult *res, gpointer user_data)
{
	SmtpDelivery *d = user_data;
	g_autoptr (SmtpSession) self = g_object_ref (d->self);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_directory_resolve_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpHookOutcome outcome = smtp_session_hook_outcome (self, result, error, "directory.resolve", NULL);
	const char *address = g_ptr_array_index (d->from, d->from_next);

	if (self->closing) {
		smtp_delivery_free (d);
		return;
	}
	if (outcome == SMTP_HOOK_STOPPED) {
		smtp_delivery_refused (d, "refused (From: address not resolved)");
		return;
	}
	if (d->resolve.account == NULL || g_strcmp0 (d->resolve.account, self->auth_account) != 0) {
		ep_log_info (SMTP_MODULE, self->id, "From: <%s> is not an address of %s", address, self->auth_account);
		smtp_session_emit_rejected (self, "submission", NULL, NULL, 553, "5.7.1",
					    "Sender address not owned by the authenticated user");
		smtp_session_reply (self, 553, "5.7.1", "Sender address not owned by the authenticated user");
		smtp_delivery_refused (d, "refused (From: address not owned)");
		return;
	}
	d->from_next++;
	smtp_delivery_next_from (d);
}

static void
smtp_delivery_next_from (SmtpDelivery *d)
{
	SmtpSession *self = d->self;

	if (d->from_next >= d->from->len) {
		smtp_delivery_submit (d);
		return;
	}
	g_clear_pointer (&d->resolve.account, g_free);
	d->resolve.is_local_domain = FALSE;
	d->resolve.address = g_ptr_array_index (d->from, d->from_next);
	ep_hook_directory_resolve_run_async (smtp_session_bus (self), &d->resolve, 0, self->cancellable,
					     smtp_delivery_on_from_resolved, d);
}

/* RFC 6409 §6.1: the From: addresses must be the account's own. */
static void
smtp_delivery_check_from (SmtpDelivery *d)
{
	SmtpSession *self = d->self;
	gsize len;
	const guint8 *data = g_bytes_get_data (d->message, &len);

	d->from = smtp_auth_from_addresses (data, len);
	if (d->from == NULL) {
		gboolean has_from = smtp_auth_has_field (data, len, "From");
		ep_log_info (SMTP_MODULE, self->id, "submitted message %s",
			     has_from ? "has an unusable From: field" : "has no From: field");
		if (has_from) {
			smtp_session_emit_rejected (self, "submission", NULL, NULL, 553, "5.7.1",
						    "Sender address not owned by the authenticated user");
			smtp_session_reply (self, 553, "5.7.1", "Sender address not owned by the authenticated user");
		} else {
			smtp_session_emit_rejected (self, "submission", NULL, NULL, 550, "5.6.0",
						    "Message has no From: header field");
			smtp_session_reply (self, 550, "5.6.0", "Message has no From: header field");
		}
		smtp_delivery_refused (d, "refused (From:)");
		return;
	}
	/* the same address twice is asked once */
	for (guint i = 0; i < d->from->len; i++) {
		for (guint j = d->from->len - 1; j > i; j--) {
			if (g_ascii_strcasecmp (g_ptr_array_index (d->from, i), g_ptr_array_index (d->from, j)) == 0)
				g_ptr_array_remove_index (d->from, j);
		}
	}
	d->from_next = 0;
	smtp_delivery_next_from (d);
}

/* The message is complete (the "." of DATA, or BDAT LAST). */
static void
smtp_session_message_received (SmtpSession *self)
{
	SmtpTransaction *t = &self->trans;
	SmtpDelivery *d;

	if (t->message.overflow) {
		smtp_session_log_message (self, "too big");
		smtp_session_emit_rejected (self, "smtp.data", NULL, NULL, 552, "5.3.4", "Message too big");
		smtp_session_reply (self, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		smtp_transaction_reset (t);
		return;
	}
	d = g_new0 (SmtpDelivery, 1);
	d->self = g_object_ref (self);
	{
		/* keep the total for the log: stealing resets the counter */
		guint64 total = t->message.total;
		d->message = smtp_message_steal (&t->message);
		t->message.total = total;
	}
	d->recipient_paths = g_ptr_array_new ();
	for (guint i = 0; i < t->recipients->len; i++)
		g_ptr_array_add (d->recipient_paths, ((SmtpRecipient *)g_ptr_array_index (t->recipients, i))->path);
	g_ptr_array_add (d->recipient_paths, NULL);
	smtp_session_suspend (self);
	if (self->auth_account != NULL)
		smtp_delivery_check_from (d);
	else
		smtp_delivery_run_data (d);
}

/* ---- DATA and BDAT ---------------------------------------------------------------------- */

static void
smtp_session_cmd_data (SmtpSession *self)
{
	SmtpTransaction *t = &self->trans;

	if (!t->active) {
		smtp_session_reply (self, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (t->bdat) {
		smtp_session_reply (self, 503, "5.5.1", "DATA not allowed after BDAT");
		return;
	}
	if (t->recipients->len == 0) {
		smtp_session_reply (self, 554, "5.5.1", "No valid recipients");
		return;
	}
	smtp_session_reply (self, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	self->state = SMTP_STATE_DATA;
	ep_connection_set_max_line (self->conn, SMTP_DATA_MAX_LINE);
	ep_connection_set_idle_timeout (self->conn, smtp_session_limits (self)->data_timeout);
}

static void
smtp_session_data_line (SmtpSession *self, const char *line, gsize len)
{
	if (smtp_data_line (&self->trans.message, line, len) == SMTP_DATA_END) {
		smtp_session_set_command_mode (self);
		smtp_session_message_received (self);
	}
}

/* A bare CR, bare LF or NUL, or a line too long to find its end. */
static void
smtp_session_protocol_violation (SmtpSession *self, const char *what, gboolean too_long)
{
	ep_log_info (SMTP_MODULE, self->id, "protocol violation from %s: %s%s; closing",
		     ep_connection_get_peer_ip (self->conn), what,
		     self->state == SMTP_STATE_DATA || self->state == SMTP_STATE_BDAT ? " in message data" : "");
	if (self->trans.active && (self->state == SMTP_STATE_DATA || self->state == SMTP_STATE_BDAT))
		smtp_session_log_message (self, "refused (protocol violation)");
	if (too_long && self->state == SMTP_STATE_AUTH)
		smtp_session_send_and_close (self, 500, "5.5.6",
					     "Authentication exchange line is too long, closing connection");
	else if (too_long)
		smtp_session_send_and_close (self, 500, "5.5.2", "Line too long, closing connection");
	else
		smtp_session_send_and_close (self, 500, "5.5.2",
					     "Bare CR, bare LF or NUL received, closing connection");
}

static void
smtp_session_chunk_done (SmtpSession *self)
{
	SmtpTransaction *t = &self->trans;
	gboolean last = self->chunk_last;
	SmtpReply error = self->chunk_error;

	smtp_session_set_command_mode (self);
	if (self->chunk_keep && t->message.overflow && t->failed.code == 0) {
		t->failed = (SmtpReply){552, "5.3.4", "Message size exceeds fixed maximum message size"};
		error = t->failed;
	}
	if (error.code != 0) {
		if (last && t->active) {
			smtp_session_log_message (self, "refused");
			smtp_transaction_reset (t);
		}
		smtp_session_reply_static (self, &error);
		return;
	}
	if (!last) {
		smtp_session_reply (self, 250, "2.0.0", "%" G_GUINT64_FORMAT " octets received", t->message.total);
		return;
	}
	switch (smtp_octet_validator_finish (&t->validator)) {
	case SMTP_OCTETS_OK:
		break;
	case SMTP_OCTETS_LINE_TOO_LONG:
		/* taken care of as the octets came */
		break;
	case SMTP_OCTETS_BARE_CR:
	case SMTP_OCTETS_BARE_LF:
	case SMTP_OCTETS_NUL:
		self->state = SMTP_STATE_BDAT;
		smtp_session_protocol_violation (self, "bare CR at the end of the message", FALSE);
		return;
	}
	smtp_session_message_received (self);
}

/* Reads the octets of the current chunk.  Returns FALSE when it needs more
 * input or the session ended. */
static gboolean
smtp_session_read_chunk (SmtpSession *self)
{
	SmtpTransaction *t = &self->trans;

	while (self->chunk_remaining > 0) {
		g_autoptr (GBytes) bytes =
		    ep_connection_read_bytes (self->conn, (gsize)MIN (self->chunk_remaining, SMTP_CHUNK_READ));
		const guint8 *data;
		gsize len;

		if (bytes == NULL)
			return FALSE;
		data = g_bytes_get_data (bytes, &len);
		self->chunk_remaining -= len;
		if (!self->chunk_keep)
			continue;
		switch (smtp_octet_validator_feed (&t->validator, data, len)) {
		case SMTP_OCTETS_OK:
			smtp_message_append (&t->message, data, len);
			break;
		case SMTP_OCTETS_LINE_TOO_LONG:
			/* the chunk sizes keep us in step: refuse, read on */
			t->failed = (SmtpReply){500, "5.5.2", "Line too long"};
			self->chunk_error = t->failed;
			self->chunk_keep = FALSE;
			break;
		case SMTP_OCTETS_BARE_CR:
		case SMTP_OCTETS_BARE_LF:
		case SMTP_OCTETS_NUL:
			smtp_session_protocol_violation (self, smtp_octets_status_to_string (t->validator.status),
							 FALSE);
			return FALSE;
		}
	}
	smtp_session_chunk_done (self);
	return !self->closing;
}

static void
smtp_session_cmd_bdat (SmtpSession *self, const SmtpCommand *cmd)
{
	SmtpTransaction *t = &self->trans;

	self->chunk_remaining = cmd->chunk_size;
	self->chunk_last = cmd->last;
	self->chunk_keep = FALSE;
	self->chunk_error = (SmtpReply){0, NULL, NULL};
	/* whatever the answer, the chunk's octets are read (RFC 3030 §2) */
	if (self->rejected || self->helo == NULL || !t->active)
		self->chunk_error = (SmtpReply){503, "5.5.1", "Need MAIL command"};
	else if (t->recipients->len == 0)
		self->chunk_error = (SmtpReply){554, "5.5.1", "No valid recipients"};
	else if (t->failed.code != 0)
		self->chunk_error = t->failed;
	else
		self->chunk_keep = TRUE;
	if (t->active)
		t->bdat = TRUE;
	self->state = SMTP_STATE_BDAT;
	ep_connection_set_idle_timeout (self->conn, smtp_session_limits (self)->data_timeout);
}

/* ---- STARTTLS ------------------------------------------------------------------------------ */

static void
smtp_session_on_starttls_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpSession) self = user_data;
	g_autoptr (GError) error = NULL;

	if (!ep_connection_start_tls_finish (EP_CONNECTION (source), res, &error)) {
		ep_log_info (SMTP_MODULE, self->id, "STARTTLS failed: %s", error->message);
		if (!self->closing) {
			self->closing = TRUE;
			g_cancellable_cancel (self->cancellable);
			ep_connection_abort (self->conn);
		}
		return;
	}
	if (self->closing)
		return;
	/* RFC 3207 §4.2: forget everything learnt before the handshake
	 * (authentication is never accepted in clear, but all the same) */
	smtp_transaction_reset (&self->trans);
	smtp_session_auth_reset (self);
	g_clear_pointer (&self->helo, g_free);
	self->info.helo = NULL;
	self->ehlo = FALSE;
	self->info.tls_active = TRUE;
	ep_log_debug (SMTP_MODULE, self->id, "STARTTLS: %s %s", ep_connection_get_tls_version (self->conn),
		      ep_connection_get_tls_cipher (self->conn));
	smtp_session_set_command_mode (self);
	smtp_session_resume (self);
}

static void
smtp_session_cmd_starttls (SmtpSession *self)
{
	EpTlsContext *tls = ep_context_get_tls (self->server->ctx);

	if (ep_connection_is_tls (self->conn)) {
		smtp_session_reply (self, 503, "5.5.1", "TLS already active");
		return;
	}
	if (tls == NULL) {
		smtp_session_reply (self, 502, "5.5.1", "STARTTLS not available");
		return;
	}
	if (self->trans.active) {
		smtp_session_reply (self, 503, "5.5.1", "STARTTLS not allowed during a mail transaction");
		return;
	}
	smtp_session_reply (self, 220, "2.0.0", "Ready to start TLS");
	smtp_session_suspend (self);
	ep_connection_start_tls_async (self->conn, tls, NULL, smtp_session_on_starttls_done, g_object_ref (self));
}

/* ---- AUTH (RFC 4954) ----------------------------------------------------------------------- */

/* after this many failed exchanges the session ends */
#define SMTP_AUTH_MAX_FAILURES 3
#define SMTP_AUTH_INVALID      "Authentication credentials invalid"
#define SMTP_AUTH_TEMPFAIL     "Temporary authentication failure"

/* One AUTH exchange: from the command to 235 / 535. */
typedef struct _SmtpAuthOp {
	char *mechanism;
	EpSaslServer *sasl;
	EpAuthVerifyCtx verify;
	gboolean success_pending; /* SUCCESS with data: the client's empty response is awaited */
	guint delay_id;
} SmtpAuthOp;

static void
smtp_auth_op_free (SmtpAuthOp *op)
{
	g_clear_handle_id (&op->delay_id, g_source_remove);
	g_free (op->mechanism);
	g_clear_pointer (&op->sasl, ep_sasl_server_free);
	g_free (op->verify.account);
	g_free (op->verify.scram_credentials);
	g_free (op);
}

/* Forgets who authenticated and any exchange in progress. */
static void
smtp_session_auth_reset (SmtpSession *self)
{
	g_clear_pointer (&self->auth_op, smtp_auth_op_free);
	g_clear_pointer (&self->auth_account, g_free);
	g_clear_pointer (&self->auth_username, g_free);
	self->info.authenticated_user = NULL;
	self->n_auth_failures = 0;
}

static void smtp_session_auth_failed_answer (SmtpSession *self);

static void
smtp_session_on_failure_recorded (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpSession) self = user_data;

	ep_auth_login_record_finish (source, res, SMTP_MODULE, self->id);
	self->auth_recording = FALSE;
	if (self->closing)
		return;
	smtp_session_auth_failed_answer (self);
	if (!self->busy && !self->closing)
		ep_connection_resume_input (self->conn);
}

static const char *
smtp_session_auth_username (SmtpAuthOp *op)
{
	return op->sasl != NULL ? ep_sasl_server_get_authcid (op->sasl) : NULL;
}

/* The attempt in progress, as the guard and the events see it. */
static EpAuthLogin
smtp_session_auth_login (SmtpSession *self)
{
	EpAuthLogin login = {
	    .ctx = self->server->ctx,
	    .module = SMTP_MODULE,
	    .session_id = self->id,
	    .protocol = "smtp",
	    .mechanism = self->auth_op->mechanism,
	    .peer = ep_connection_get_peer_ip (self->conn),
	    .username = smtp_session_auth_username (self->auth_op),
	};

	return login;
}

/* Ends the exchange in progress. */
static void
smtp_session_auth_end (SmtpSession *self)
{
	g_clear_pointer (&self->auth_op, smtp_auth_op_free);
	smtp_session_set_command_mode (self);
}

static void
smtp_session_auth_failed (SmtpSession *self, const char *reason, gboolean record)
{
	SmtpAuthOp *op = self->auth_op;
	EpAuthLogin login = smtp_session_auth_login (self);
	const char *username = login.username;

	ep_log_info (SMTP_MODULE, self->id, "AUTH %s failed for %s%s%s: %s", op->mechanism, username != NULL ? "'" : "",
		     username != NULL ? username : "an unnamed user", username != NULL ? "'" : "", reason);
	if (ep_auth_login_failed (&login, reason, record, self->conn, G_OBJECT (self),
				  smtp_session_on_failure_recorded)) {
		/* the failure is counted before the client hears of it, so that
		 * its next attempt already waits the longer delay */
		self->auth_recording = TRUE;
		smtp_session_auth_end (self);
		return;
	}
	smtp_session_auth_end (self);
	smtp_session_auth_failed_answer (self);
}

static void
smtp_session_auth_failed_answer (SmtpSession *self)
{
	if (++self->n_auth_failures >= SMTP_AUTH_MAX_FAILURES) {
		smtp_session_send_and_close (self, 421, "4.7.0",
					     "Too many authentication failures, closing connection");
		return;
	}
	smtp_session_reply (self, 535, "5.7.8", SMTP_AUTH_INVALID);
}

static void
smtp_session_auth_succeeded (SmtpSession *self)
{
	SmtpAuthOp *op = self->auth_op;
	EpAuthLogin login = smtp_session_auth_login (self);
	const char *username = login.username;
	const char *account = ep_sasl_server_get_account (op->sasl);

	ep_log_info (SMTP_MODULE, self->id, "AUTH %s: '%s' authenticated as account %s", op->mechanism, username,
		     account);
	ep_auth_login_succeeded (&login, account);
	self->auth_account = g_strdup (account);
	self->auth_username = g_strdup (username);
	self->info.authenticated_user = self->auth_account;
	smtp_session_auth_end (self);
	smtp_session_reply (self, 235, "2.7.0", "Authentication successful");
}

/* A temporary failure of the machinery: not the client's fault, not counted. */
static void
smtp_session_auth_tempfail (SmtpSession *self, const char *why)
{
	ep_log_warning (SMTP_MODULE, self->id, "AUTH %s: %s", self->auth_op->mechanism, why);
	smtp_session_auth_end (self);
	smtp_session_reply (self, 454, "4.7.0", SMTP_AUTH_TEMPFAIL);
}

static void smtp_session_auth_step (SmtpSession *self, GBytes *input);

static void
smtp_session_on_auth_verified (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpSession) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_auth_verify_run_finish (EP_HOOK_BUS (source), res, &error);
	SmtpAuthOp *op = self->auth_op;
	const EpVerdict *v = result != NULL ? result->verdict : NULL;
	const char *authzid;
	const char *account = NULL;
	g_autoptr (GError) invalid = NULL;

	if (self->closing || op == NULL)
		return;
	if (v == NULL || v->kind == EP_VERDICT_TEMPFAIL) {
		/* the backend could not say: nobody's fault, try later */
		g_autofree char *why = g_strdup_printf (
		    "auth.verify failed: %s",
		    error != NULL ? error->message
				  : (result->reason != NULL ? result->reason->message : "a backend answered tempfail"));
		smtp_session_auth_tempfail (self, why);
		smtp_session_resume (self);
		return;
	}
	/* anything but ACCEPT with an account is "no", whoever said it and
	 * however: the client learns nothing more than that */
	if (v->kind == EP_VERDICT_ACCEPT && op->verify.account != NULL && op->verify.account[0] != '\0')
		account = op->verify.account;
	/* no proxy authorization: an authzid must name the same user */
	authzid = ep_sasl_server_get_authzid (op->sasl);
	if (account != NULL && authzid != NULL && authzid[0] != '\0' &&
	    g_strcmp0 (authzid, ep_sasl_server_get_authcid (op->sasl)) != 0 && g_strcmp0 (authzid, account) != 0) {
		ep_log_info (SMTP_MODULE, self->id, "AUTH %s: authorization identity refused", op->mechanism);
		account = NULL;
	}
	if (!op->verify.want_scram)
		ep_sasl_server_set_verified (op->sasl, account);
	else if (!ep_sasl_server_set_scram_credentials_string (
		     op->sasl, account, account != NULL ? op->verify.scram_credentials : NULL, &invalid))
		ep_log_warning (SMTP_MODULE, self->id, "AUTH %s: unusable SCRAM credentials for %s: %s", op->mechanism,
				account, invalid->message);
	smtp_session_auth_step (self, NULL);
}

static void
smtp_session_auth_verify (SmtpSession *self)
{
	SmtpAuthOp *op = self->auth_op;

	op->verify.session_id = self->id;
	op->verify.protocol = "smtp";
	op->verify.mechanism = op->mechanism;
	op->verify.username = ep_sasl_server_get_authcid (op->sasl);
	op->verify.authzid = ep_sasl_server_get_authzid (op->sasl);
	op->verify.peer = ep_connection_get_peer_address (self->conn);
	op->verify.tls_active = ep_connection_is_tls (self->conn);
	op->verify.want_scram = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_SCRAM;
	op->verify.is_bearer = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_BEARER;
	op->verify.secret = op->verify.want_scram ? NULL : ep_sasl_server_get_secret (op->sasl);
	ep_hook_auth_verify_run_async (smtp_session_bus (self), &op->verify, 0, self->cancellable,
				       smtp_session_on_auth_verified, g_object_ref (self));
}

static gboolean
smtp_session_on_auth_delay (gpointer user_data)
{
	SmtpSession *self = user_data;

	if (self->auth_op != NULL)
		self->auth_op->delay_id = 0;
	if (!self->closing && self->auth_op != NULL)
		smtp_session_auth_verify (self);
	return G_SOURCE_REMOVE;
}

static void
smtp_session_on_guard_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (SmtpSession) self = user_data;
	g_autoptr (GError) error = NULL;
	guint delay_ms = 0;
	gboolean ok = ep_auth_guard_check_finish (EP_AUTH_GUARD (source), res, &delay_ms, &error);
	SmtpAuthOp *op = self->auth_op;

	if (self->closing || op == NULL)
		return;
	if (!ok && g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT)) {
		EpAuthLogin login = smtp_session_auth_login (self);

		ep_log_info (SMTP_MODULE, self->id, "AUTH refused: %s", error->message);
		ep_auth_login_emit_failed (&login, EP_AUTH_LOGIN_BANNED_REASON);
		smtp_session_send (self, 454, "4.7.0", SMTP_AUTH_TEMPFAIL);
		smtp_session_close (self);
		return;
	}
	if (!ok) {
		g_autofree char *why = g_strdup_printf ("the auth guard failed: %s", error->message);
		smtp_session_auth_tempfail (self, why);
		smtp_session_resume (self);
		return;
	}
	if (delay_ms == 0) {
		smtp_session_auth_verify (self);
		return;
	}
	/* the session holds the op, the source holds the session */
	op->delay_id = g_timeout_add_full (G_PRIORITY_DEFAULT, delay_ms, smtp_session_on_auth_delay,
					   g_object_ref (self), g_object_unref);
}

/* The mechanism knows who: ask the guard, wait as long as it says, then
 * auth.verify. */
static void
smtp_session_auth_need_credentials (SmtpSession *self)
{
	EpAuthGuard *guard = ep_auth_login_get_guard (self->server->ctx);

	smtp_session_suspend (self);
	if (guard == NULL) {
		smtp_session_auth_verify (self);
		return;
	}
	ep_auth_guard_check_async (guard, ep_connection_get_peer_ip (self->conn),
				   smtp_session_auth_username (self->auth_op), self->cancellable,
				   smtp_session_on_guard_checked, g_object_ref (self));
}

/* Sends a 334 challenge and reads the response. */
static void
smtp_session_auth_challenge (SmtpSession *self, GBytes *challenge)
{
	g_autofree char *line = smtp_auth_challenge_line (challenge);

	ep_connection_write (self->conn, line, strlen (line));
	self->state = SMTP_STATE_AUTH;
	ep_connection_set_max_line (self->conn, SMTP_AUTH_MAX_LINE);
	ep_connection_set_idle_timeout (self->conn, smtp_session_limits (self)->command_timeout);
}

/* Feeds the mechanism and acts on what it says.  The session may be
 * suspended or not: it is running afterwards unless it waits for the
 * guard or auth.verify. */
static void
smtp_session_auth_step (SmtpSession *self, GBytes *input)
{
	SmtpAuthOp *op = self->auth_op;
	g_autoptr (GBytes) output = NULL;
	g_autoptr (GError) error = NULL;
	EpSaslStatus status = ep_sasl_server_step (op->sasl, input, &output, &error);

	switch (status) {
	case EP_SASL_CONTINUE:
		smtp_session_auth_challenge (self, output);
		break;
	case EP_SASL_NEED_CREDENTIALS:
		smtp_session_auth_need_credentials (self);
		return;
	case EP_SASL_SUCCESS:
		if (output != NULL && g_bytes_get_size (output) > 0) {
			/* RFC 4954 §4: additional data with success goes in a
			 * challenge the client answers empty */
			op->success_pending = TRUE;
			smtp_session_auth_challenge (self, output);
			break;
		}
		smtp_session_auth_succeeded (self);
		break;
	case EP_SASL_FAILURE:
	default:
		smtp_session_auth_failed (self, error != NULL ? error->message : "bad credentials", TRUE);
		break;
	}
	if (self->busy)
		smtp_session_resume (self);
}

/* A line of the exchange: the client's response to a 334 challenge. */
static void
smtp_session_auth_line (SmtpSession *self, const char *line, gsize len)
{
	SmtpAuthOp *op = self->auth_op;
	g_autoptr (GBytes) input = NULL;

	if (op == NULL) {
		/* cannot happen: the AUTH state comes with an exchange */
		smtp_session_set_command_mode (self);
		smtp_session_reply (self, 503, "5.5.1", "Bad sequence of commands");
		return;
	}
	switch (smtp_auth_decode_line (line, len, &input)) {
	case SMTP_AUTH_LINE_CANCEL:
		ep_log_info (SMTP_MODULE, self->id, "AUTH %s cancelled by the client", op->mechanism);
		smtp_session_auth_end (self);
		smtp_session_reply (self, 501, "5.0.0", "Authentication cancelled");
		return;
	case SMTP_AUTH_LINE_MALFORMED:
		ep_log_info (SMTP_MODULE, self->id, "AUTH %s: response is not base64", op->mechanism);
		smtp_session_auth_end (self);
		smtp_session_reply (self, 501, "5.5.2", "Cannot decode the response");
		return;
	case SMTP_AUTH_LINE_OK:
		break;
	}
	if (op->success_pending) {
		if (g_bytes_get_size (input) == 0)
			smtp_session_auth_succeeded (self);
		else
			smtp_session_auth_failed (self, "data after the final challenge", TRUE);
		return;
	}
	smtp_session_auth_step (self, input);
}

/* "PLAIN LOGIN ..." for this connection; NULL when none */
static char *
smtp_session_auth_mechanisms (SmtpSession *self)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	/* bearer tokens only when the auth-oauth module has an issuer to check them against */
	EpTomlValue *oauth = ep_config_get_section (ep_context_get_config (self->server->ctx), "auth-oauth");
	gboolean has_oauth = oauth != NULL && ep_config_section_get_string (oauth, "issuer", NULL) != NULL;
	g_auto (GStrv) mechs = ep_sasl_mechanisms_available (ep_connection_is_tls (self->conn), cb != NULL, has_oauth);

	if (mechs == NULL || mechs[0] == NULL)
		return NULL;
	return g_strjoinv (" ", mechs);
}

static gboolean
smtp_session_auth_mechanism_offered (SmtpSession *self, const char *mechanism)
{
	g_autofree char *mechs = smtp_session_auth_mechanisms (self);
	g_auto (GStrv) list = mechs != NULL ? g_strsplit (mechs, " ", -1) : NULL;

	return list != NULL && g_strv_contains ((const char *const *)list, mechanism);
}

static EpSaslServer *
smtp_session_auth_server_new (SmtpSession *self, const char *mechanism, GError **error)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	EpSaslServerSettings settings = {
	    .service = "smtp",
	    .tls_active = ep_connection_is_tls (self->conn),
	    .channel_binding = cb,
	};

	return ep_sasl_server_new (mechanism, &settings, error);
}

static void
smtp_session_cmd_auth (SmtpSession *self, SmtpCommand *cmd)
{
	g_autofree char *mechanism = NULL;
	g_autoptr (GBytes) initial = NULL;
	g_autoptr (GError) error = NULL;
	SmtpReply reply;
	SmtpAuthOp *op;

	if (!smtp_session_is_submission (self)) {
		/* the MX takes no authentication: that is submission's (RFC 6409) */
		smtp_session_reply (self, 502, "5.5.1", "AUTH not available");
		return;
	}
	if (!ep_connection_is_tls (self->conn)) {
		smtp_session_reply (self, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	if (!smtp_session_auth_offered (self)) {
		smtp_session_reply (self, 502, "5.5.1", "AUTH not available");
		return;
	}
	if (self->helo == NULL || !self->ehlo) {
		smtp_session_reply (self, 503, "5.5.1", "Send EHLO first");
		return;
	}
	if (self->auth_account != NULL) {
		smtp_session_reply (self, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (self->trans.active) {
		smtp_session_reply (self, 503, "5.5.1", "AUTH not allowed during a mail transaction");
		return;
	}
	if (!smtp_auth_parse_command (cmd->argument, strlen (cmd->argument), &mechanism, &initial, &reply)) {
		smtp_session_reply_static (self, &reply);
		return;
	}
	if (!smtp_session_auth_mechanism_offered (self, mechanism)) {
		smtp_session_reply (self, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	op = g_new0 (SmtpAuthOp, 1);
	op->mechanism = g_steal_pointer (&mechanism);
	op->sasl = smtp_session_auth_server_new (self, op->mechanism, &error);
	if (op->sasl == NULL) {
		ep_log_warning (SMTP_MODULE, self->id, "AUTH %s: %s", op->mechanism, error->message);
		smtp_auth_op_free (op);
		smtp_session_reply (self, 454, "4.7.0", SMTP_AUTH_TEMPFAIL);
		return;
	}
	self->auth_op = op;
	smtp_session_auth_step (self, initial);
}

/* ---- commands ----------------------------------------------------------------------------- */

static void
smtp_session_command (SmtpSession *self, const char *line, gsize len)
{
	SmtpTransaction *t = &self->trans;
	SmtpCommand cmd;
	SmtpReply reply;
	SmtpParseFlags flags = t->active && t->smtputf8 ? SMTP_PARSE_UTF8 : SMTP_PARSE_NONE;

	if (smtp_session_auth_offered (self))
		flags |= SMTP_PARSE_AUTH;

	if (!smtp_command_parse (line, len, flags, &cmd, &reply)) {
		if (cmd.verb == SMTP_VERB_BDAT) {
			/* its octets follow, and their number is unknown */
			ep_log_info (SMTP_MODULE, self->id, "malformed BDAT; closing");
			smtp_session_send_and_close (self, reply.code, reply.enhanced,
						     "Syntax error in BDAT, closing connection");
		} else {
			smtp_session_reply_static (self, &reply);
		}
		smtp_command_clear (&cmd);
		return;
	}

	if (self->rejected && cmd.verb != SMTP_VERB_QUIT && cmd.verb != SMTP_VERB_BDAT) {
		smtp_session_reply (self, 503, "5.5.1", "Bad sequence of commands");
		smtp_command_clear (&cmd);
		return;
	}

	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		smtp_session_cmd_helo (self, &cmd);
		break;
	case SMTP_VERB_MAIL:
		smtp_session_cmd_mail (self, &cmd);
		break;
	case SMTP_VERB_RCPT:
		smtp_session_cmd_rcpt (self, &cmd);
		break;
	case SMTP_VERB_DATA:
		smtp_session_cmd_data (self);
		break;
	case SMTP_VERB_BDAT:
		smtp_session_cmd_bdat (self, &cmd);
		break;
	case SMTP_VERB_RSET:
		smtp_transaction_reset (t);
		smtp_session_reply (self, 250, "2.0.0", "OK");
		break;
	case SMTP_VERB_NOOP:
		smtp_session_reply (self, 250, "2.0.0", "OK");
		break;
	case SMTP_VERB_QUIT:
		smtp_session_send_and_close (self, 221, "2.0.0", "closing connection");
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 §3.5.3: says nothing about the user */
		smtp_session_reply (self, 252, "2.1.5",
				    "Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		smtp_session_reply (self, 502, "5.5.1", "EXPN not available");
		break;
	case SMTP_VERB_HELP:
		smtp_session_reply (self, 214, "2.0.0",
				    "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS");
		break;
	case SMTP_VERB_STARTTLS:
		smtp_session_cmd_starttls (self);
		break;
	case SMTP_VERB_AUTH:
		smtp_session_cmd_auth (self, &cmd);
		break;
	case SMTP_VERB_UNKNOWN:
	default:
		smtp_session_reply (self, 500, "5.5.2", "Command unrecognized");
		break;
	}
	smtp_command_clear (&cmd);
}

static void
smtp_session_on_input (EpConnection *conn, gpointer user_data)
{
	g_autoptr (SmtpSession) self = g_object_ref (SMTP_SESSION (user_data));

	while (!self->busy && !self->closing) {
		const char *line = NULL;
		gsize len = 0;
		EpLineStatus status;

		if (self->state == SMTP_STATE_BDAT) {
			if (!smtp_session_read_chunk (self))
				break;
			continue;
		}
		if (self->state != SMTP_STATE_COMMAND && self->state != SMTP_STATE_DATA &&
		    self->state != SMTP_STATE_AUTH)
			break;
		if (smtp_session_drain_if_idle (self))
			return;
		status = ep_connection_read_line (conn, &line, &len);
		switch (status) {
		case EP_LINE_NEED_MORE:
			return;
		case EP_LINE_OK:
			if (self->state == SMTP_STATE_DATA)
				smtp_session_data_line (self, line, len);
			else if (self->state == SMTP_STATE_AUTH)
				smtp_session_auth_line (self, line, len);
			else
				smtp_session_command (self, line, len);
			break;
		case EP_LINE_TOO_LONG:
			smtp_session_protocol_violation (self, "line too long", TRUE);
			return;
		case EP_LINE_BARE_CR:
		case EP_LINE_BARE_LF:
		case EP_LINE_NUL:
			smtp_session_protocol_violation (self, ep_line_status_to_string (status), FALSE);
			return;
		}
	}
}

static void
smtp_session_on_timeout (EpConnection *conn, gboolean total, gpointer user_data)
{
	SmtpSession *self = SMTP_SESSION (user_data);

	ep_log_info (SMTP_MODULE, self->id, "%s timeout; closing", total ? "session" : "idle");
	if (self->trans.active && (self->state == SMTP_STATE_DATA || self->state == SMTP_STATE_BDAT))
		smtp_session_log_message (self, "timed out");
	smtp_session_send_and_close (self, 421, "4.4.2",
				     total ? "Session time limit exceeded, closing connection"
					   : "Timeout, closing connection");
}

static void
smtp_session_on_closed (EpConnection *conn, const GError *error, gpointer user_data)
{
	g_autoptr (SmtpSession) self = g_object_ref (SMTP_SESSION (user_data));

	self->closing = TRUE;
	self->state = SMTP_STATE_CLOSED;
	g_cancellable_cancel (self->cancellable);
	if (error != NULL)
		ep_log_info (SMTP_MODULE, self->id, "disconnect from %s (%u messages): %s",
			     ep_connection_get_peer_ip (conn), self->n_messages, error->message);
	else
		ep_log_info (SMTP_MODULE, self->id, "disconnect from %s (%u messages)",
			     ep_connection_get_peer_ip (conn), self->n_messages);
	g_hash_table_remove (self->server->sessions, self);
}

/* ---- life ----------------------------------------------------------------------------------- */

static void
smtp_session_dispose (GObject *object)
{
	SmtpSession *self = SMTP_SESSION (object);

	if (self->conn != NULL) {
		/* nothing may call back into a session that is gone */
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		if (!ep_connection_is_closed (self->conn))
			ep_connection_close (self->conn);
		g_clear_object (&self->conn);
	}
	G_OBJECT_CLASS (smtp_session_parent_class)->dispose (object);
}

static void
smtp_session_finalize (GObject *object)
{
	SmtpSession *self = SMTP_SESSION (object);

	smtp_transaction_reset (&self->trans);
	smtp_session_auth_reset (self);
	g_free (self->helo);
	g_free (self->listener_kind);
	g_clear_object (&self->cancellable);
	G_OBJECT_CLASS (smtp_session_parent_class)->finalize (object);
}

static void
smtp_session_class_init (SmtpSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = smtp_session_dispose;
	object_class->finalize = smtp_session_finalize;
}

static void
smtp_session_init (SmtpSession *self)
{
	self->cancellable = g_cancellable_new ();
	self->state = SMTP_STATE_CONNECT;
}

void
smtp_session_accept (SmtpServer *server, GSocketConnection *connection, const char *listener_kind)
{
	g_autoptr (SmtpSession) self = g_object_new (SMTP_TYPE_SESSION, NULL);
	const SmtpLimits *limits = &server->limits;
	gboolean implicit_tls = g_strcmp0 (listener_kind, "submissions") == 0;
	EpTlsContext *tls = ep_context_get_tls (server->ctx);
	guint n_peer;
	SmtpOp *op;

	self->server = server;
	self->listener_kind = g_strdup (listener_kind);
	self->conn = ep_connection_new (connection, "smtp");
	self->id = ep_connection_get_session_id (self->conn);
	self->info.session_id = self->id;
	self->info.peer = ep_connection_get_peer_address (self->conn);
	self->info.local = ep_connection_get_local_address (self->conn);
	self->info.listener_kind = self->listener_kind;
	self->info.tls_active = implicit_tls;
	g_hash_table_add (server->sessions, g_object_ref (self));

	ep_connection_set_handlers (self->conn, smtp_session_on_input, smtp_session_on_timeout, smtp_session_on_closed,
				    self);
	ep_connection_set_max_line (self->conn, SMTP_COMMAND_MAX_LINE_PATH);
	ep_connection_set_idle_timeout (self->conn, limits->command_timeout);
	ep_connection_set_total_timeout (self->conn, limits->session_timeout);
	if (implicit_tls) {
		if (tls == NULL) {
			/* start() refuses this configuration; never serve it in clear */
			ep_log_warning (SMTP_MODULE, self->id, "submissions listener without TLS; closing");
			self->closing = TRUE;
			ep_connection_abort (self->conn);
			return;
		}
		ep_connection_set_implicit_tls (self->conn, tls);
	}
	ep_log_info (SMTP_MODULE, self->id, "connect from %s on %s listener", ep_connection_get_peer_ip (self->conn),
		     listener_kind);
	ep_connection_start (self->conn);
	/* no input is read before the greeting */
	smtp_session_suspend (self);

	n_peer = ep_connection_count_peer (self->conn);
	if (limits->max_connections_per_ip > 0 && n_peer > limits->max_connections_per_ip) {
		ep_log_info (SMTP_MODULE, self->id, "%u connections from %s; refused", n_peer,
			     ep_connection_get_peer_ip (self->conn));
		smtp_session_send_and_close (self, 421, "4.7.0",
					     "Too many connections from your address, try again later");
		return;
	}
	op = smtp_op_new (self, NULL);
	op->connect.session = &self->info;
	ep_hook_smtp_connect_run_async (smtp_session_bus (self), &op->connect, 0, self->cancellable,
					smtp_session_on_connect_done, op);
}

void
smtp_server_drain (SmtpServer *server)
{
	g_autoptr (GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
	GHashTableIter iter;
	gpointer key;

	server->draining = TRUE;
	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL))
		g_ptr_array_add (sessions, g_object_ref (key));
	for (guint i = 0; i < sessions->len; i++)
		smtp_session_drain_if_idle (g_ptr_array_index (sessions, i));
}

void
smtp_server_close_all (SmtpServer *server)
{
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL)) {
		SmtpSession *self = key;
		if (!self->closing) {
			g_autofree char *line = g_strdup_printf ("%s Service shutting down, closing connection",
								 smtp_session_hostname (self));
			smtp_session_send (self, 421, "4.3.2", line);
			self->closing = TRUE;
			g_cancellable_cancel (self->cancellable);
		}
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		ep_connection_close (self->conn);
	}
	g_hash_table_remove_all (server->sessions);
}
