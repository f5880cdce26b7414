/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * One POP3 session (RFC 1939) on an EpConnection, with CAPA (RFC 2449),
 * STLS (RFC 2595), AUTH (RFC 5034) and the response codes of RFC 2449 and
 * RFC 3206.
 *
 * States: AUTHORIZATION until a login opened the maildrop (the account's
 * INBOX, locked through PostgreSQL: pop3-lock.c), then TRANSACTION; QUIT
 * there is the UPDATE state: the messages marked with DELE are expunged
 * through the store, and only then.  Any other end of the session (the
 * client going away, a timeout, too many errors, shutdown) deletes
 * nothing.
 *
 * Input is pushed by the connection; a command that needs the database
 * (a login, RETR, TOP, QUIT) pauses input until it is answered, so
 * pipelined commands (RFC 2449 PIPELINING) are answered in order.
 *
 * What closes the connection:
 *   QUIT                                      +OK (after the UPDATE state)
 *   a line longer than 255 octets with CRLF   -ERR
 *   a bare CR, bare LF or NUL                 -ERR
 *   max_errors -ERR answers in a row          -ERR
 *   max_auth_failures failed logins           -ERR [AUTH]
 *   the auth guard's ban                      -ERR [SYS/TEMP]
 *   too many connections from one address     -ERR [SYS/TEMP]
 *   the idle or total timeout                 nothing (RFC 1939 §3)
 *   shutdown                                  -ERR [SYS/TEMP]
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "ep-auth-login.h"
#include "ep-connection.h"
#include "ep-sasl.h"

#include "pop3-command.h"
#include "pop3-dotstuff.h"
#include "pop3-lock.h"
#include "pop3-session.h"

#define POP3_INBOX	    "INBOX"
#define POP3_LIST_PAGE	    5000
#define POP3_TEMP_TEXT	    "[SYS/TEMP] Temporary problem, please try again later"
#define POP3_AUTH_FAILED    "[AUTH] Authentication failed"
#define POP3_AUTH_NEEDS_TLS "[AUTH] Authentication requires TLS: use STLS first"
#define POP3_SASL_MAX_LINE  ((EP_SASL_MAX_INPUT + 2) / 3 * 4)

typedef enum {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
	POP3_STATE_CLOSED,
} Pop3State;

typedef struct {
	guint32 uid;
	guint64 size;
	gboolean deleted;
} Pop3Message;

/* One login: USER/PASS (fed to the PLAIN mechanism) or AUTH. */
typedef struct _Pop3AuthOp {
	char *mechanism; /* "USER" for USER/PASS, else the SASL mechanism */
	EpSaslServer *sasl;
	EpAuthVerifyCtx verify;
	gboolean success_pending; /* SUCCESS with data: the client's empty line is awaited */
	guint delay_id;
} Pop3AuthOp;

struct _Pop3Session {
	GObject parent_instance;

	Pop3Server *server; /* not owned: outlives every session */
	EpConnection *conn;
	char *listener_kind;
	const char *id;
	GCancellable *cancellable;

	Pop3State state;
	gboolean busy;		 /* waiting for the database: input paused */
	gboolean auth_recording; /* waiting for the guard to record a failure */
	gboolean closing;
	gboolean sasl_line; /* the next line is a response of an AUTH exchange */
	guint n_errors;
	guint n_auth_failures;

	char *user; /* the name of USER, awaiting PASS */
	Pop3AuthOp *auth_op;

	/* the maildrop, from the login on */
	char *account;
	char *username;
	char *lock_owner; /* (nullable): this session's token while it takes or holds the lock */
	gboolean lock_held;
	EpDb *db;
	guint renew_id;
	gboolean lock_lost;
	gboolean updating; /* QUIT is expunging: the lock is released after it */
	guint32 uidvalidity;
	GArray *messages; /* of Pop3Message, message number - 1 */
};

G_DEFINE_TYPE (Pop3Session, pop3_session, G_TYPE_OBJECT)

static void pop3_session_close (Pop3Session *self);
static void pop3_session_open_maildrop (Pop3Session *self);

/* ---- small helpers ------------------------------------------------------------------------- */

static const Pop3Limits *
pop3_session_limits (Pop3Session *self)
{
	return &self->server->limits;
}

static EpHookBus *
pop3_session_bus (Pop3Session *self)
{
	return ep_context_get_hook_bus (self->server->ctx);
}

static void
pop3_session_suspend (Pop3Session *self)
{
	self->busy = TRUE;
	ep_connection_pause_input (self->conn);
}

static void
pop3_session_resume (Pop3Session *self)
{
	self->busy = FALSE;
	if (!self->closing && !self->auth_recording)
		ep_connection_resume_input (self->conn);
}

static void
pop3_session_close (Pop3Session *self)
{
	if (self->closing)
		return;
	self->closing = TRUE;
	g_cancellable_cancel (self->cancellable);
	ep_connection_close (self->conn);
}

static void
pop3_session_send_and_close (Pop3Session *self, const char *text)
{
	if (self->closing)
		return;
	ep_connection_printf (self->conn, "-ERR %s\r\n", text);
	pop3_session_close (self);
}

static void pop3_session_ok (Pop3Session *self, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
pop3_session_ok (Pop3Session *self, const char *format, ...)
{
	g_autofree char *text = NULL;
	va_list args;

	if (self->closing)
		return;
	self->n_errors = 0;
	va_start (args, format);
	text = g_strdup_vprintf (format, args);
	va_end (args);
	ep_connection_printf (self->conn, "+OK %s\r\n", text);
}

/* -ERR, counted: the one that reaches max_errors closes the session */
static void
pop3_session_err (Pop3Session *self, const char *text)
{
	if (self->closing)
		return;
	if (++self->n_errors >= pop3_session_limits (self)->max_errors) {
		ep_log_info (POP3_MODULE, self->id, "%u errors in a row, closing the connection", self->n_errors);
		pop3_session_send_and_close (self, "Too many errors, closing connection");
		return;
	}
	ep_connection_printf (self->conn, "-ERR %s\r\n", text);
}

static void
pop3_session_set_max_line (Pop3Session *self)
{
	ep_connection_set_max_line (self->conn, self->sasl_line ? POP3_SASL_MAX_LINE : POP3_COMMAND_MAX_LINE);
}

/* A credential backend answers auth.verify: without one nobody can log in. */
static gboolean
pop3_session_has_backend (Pop3Session *self)
{
	return ep_hook_bus_get_n_handlers (pop3_session_bus (self), EP_HOOK_POINT_AUTH_VERIFY) > 0;
}

/* Logins are offered: over TLS only (RFC 2595 §4, RFC 8314), with a backend. */
static gboolean
pop3_session_login_offered (Pop3Session *self)
{
	return ep_connection_is_tls (self->conn) && pop3_session_has_backend (self);
}

static gboolean
pop3_session_stls_offered (Pop3Session *self)
{
	return self->state == POP3_STATE_AUTHORIZATION && !ep_connection_is_tls (self->conn) &&
	       ep_context_get_tls (self->server->ctx) != NULL;
}

/* ---- the maildrop lock ------------------------------------------------------------------- */

static void
pop3_session_release_lock (Pop3Session *self)
{
	g_clear_handle_id (&self->renew_id, g_source_remove);
	if (self->lock_held && self->account != NULL && self->db != NULL)
		pop3_lock_release (self->db, self->account, self->lock_owner);
	self->lock_held = FALSE;
	/* a lock still being taken is released by pop3_session_on_locked() */
}

static void
pop3_session_on_renewed (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	gboolean held = FALSE;

	if (!pop3_lock_renew_finish (EP_DB (source), res, &held, &error)) {
		/* the database may be back before the lease runs out */
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ep_log_warning (POP3_MODULE, self->id, "could not renew the maildrop lock of %s: %s",
					self->account, error->message);
		return;
	}
	if (!held && self->lock_held) {
		ep_log_warning (POP3_MODULE, self->id, "the maildrop lock of %s was lost", self->account);
		self->lock_lost = TRUE;
	}
}

static gboolean
pop3_session_on_renew (gpointer user_data)
{
	Pop3Session *self = user_data;

	if (self->lock_held && !self->closing)
		pop3_lock_renew_async (self->db, self->account, self->lock_owner,
				       pop3_session_limits (self)->lock_lease, self->cancellable,
				       pop3_session_on_renewed, g_object_ref (self));
	return G_SOURCE_CONTINUE;
}

/* ---- the AUTHORIZATION state: logins --------------------------------------------------------- */

static void
pop3_auth_op_free (Pop3AuthOp *op)
{
	g_clear_handle_id (&op->delay_id, g_source_remove);
	g_free (op->mechanism);
	g_clear_pointer (&op->sasl, ep_sasl_server_free);
	g_free (op->verify.account);
	g_free (op->verify.scram_credentials);
	g_free (op);
}

static void
pop3_session_auth_end (Pop3Session *self)
{
	g_clear_pointer (&self->auth_op, pop3_auth_op_free);
	self->sasl_line = FALSE;
	pop3_session_set_max_line (self);
}

static const char *
pop3_session_auth_username (Pop3AuthOp *op)
{
	return op != NULL && op->sasl != NULL ? ep_sasl_server_get_authcid (op->sasl) : NULL;
}

/* The attempt in progress, as the guard and the events see it. */
static EpAuthLogin
pop3_session_auth_login (Pop3Session *self)
{
	EpAuthLogin login = {
	    .ctx = self->server->ctx,
	    .module = POP3_MODULE,
	    .session_id = self->id,
	    .protocol = "pop3",
	    .mechanism = self->auth_op->mechanism,
	    .peer = ep_connection_get_peer_ip (self->conn),
	    .username = pop3_session_auth_username (self->auth_op),
	};

	return login;
}

static void
pop3_session_auth_failed_answer (Pop3Session *self)
{
	if (++self->n_auth_failures >= pop3_session_limits (self)->max_auth_failures) {
		pop3_session_send_and_close (self, "[AUTH] Too many authentication failures, closing connection");
		return;
	}
	if (!self->closing)
		ep_connection_printf (self->conn, "-ERR %s\r\n", POP3_AUTH_FAILED);
}

static void
pop3_session_on_failure_recorded (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;

	ep_auth_login_record_finish (source, res, POP3_MODULE, self->id);
	self->auth_recording = FALSE;
	if (self->closing)
		return;
	pop3_session_auth_failed_answer (self);
	if (!self->busy && !self->closing)
		ep_connection_resume_input (self->conn);
}

static void
pop3_session_auth_failed (Pop3Session *self, const char *reason, gboolean record)
{
	Pop3AuthOp *op = self->auth_op;
	EpAuthLogin login = pop3_session_auth_login (self);
	const char *username = login.username;

	ep_log_info (POP3_MODULE, self->id, "%s login failed for %s%s%s: %s", op->mechanism,
		     username != NULL ? "'" : "", username != NULL ? username : "an unnamed user",
		     username != NULL ? "'" : "", reason);
	if (ep_auth_login_failed (&login, reason, record, self->conn, G_OBJECT (self),
				  pop3_session_on_failure_recorded)) {
		/* counted before the client hears of it, so that its next
		 * attempt already waits the longer delay */
		self->auth_recording = TRUE;
		pop3_session_auth_end (self);
		return;
	}
	pop3_session_auth_end (self);
	pop3_session_auth_failed_answer (self);
}

static void
pop3_session_auth_tempfail (Pop3Session *self, const char *why)
{
	ep_log_warning (POP3_MODULE, self->id, "%s login: %s", self->auth_op->mechanism, why);
	pop3_session_auth_end (self);
	pop3_session_err (self, POP3_TEMP_TEXT);
}

static void
pop3_session_auth_succeeded (Pop3Session *self)
{
	Pop3AuthOp *op = self->auth_op;
	EpAuthLogin login = pop3_session_auth_login (self);
	const char *username = login.username;
	const char *account = ep_sasl_server_get_account (op->sasl);

	ep_log_info (POP3_MODULE, self->id, "%s: '%s' authenticated as account %s", op->mechanism, username, account);
	ep_auth_login_succeeded (&login, account);
	g_free (self->account);
	self->account = g_strdup (account);
	g_free (self->username);
	self->username = g_strdup (username);
	pop3_session_auth_end (self);
	/* the maildrop answers the login: +OK, [IN-USE] or [SYS/TEMP] */
	pop3_session_open_maildrop (self);
}

static void pop3_session_auth_step (Pop3Session *self, GBytes *input);

static void
pop3_session_on_auth_verified (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpHookResult) result = ep_hook_auth_verify_run_finish (EP_HOOK_BUS (source), res, &error);
	Pop3AuthOp *op = self->auth_op;
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
		pop3_session_auth_tempfail (self, why);
		pop3_session_resume (self);
		return;
	}
	/* anything but ACCEPT with an account is "no" */
	if (v->kind == EP_VERDICT_ACCEPT && op->verify.account != NULL && op->verify.account[0] != '\0')
		account = op->verify.account;
	/* no proxy authorization: an authzid must name the same user */
	authzid = ep_sasl_server_get_authzid (op->sasl);
	if (account != NULL && authzid != NULL && authzid[0] != '\0' &&
	    g_strcmp0 (authzid, ep_sasl_server_get_authcid (op->sasl)) != 0 && g_strcmp0 (authzid, account) != 0) {
		ep_log_info (POP3_MODULE, self->id, "%s: authorization identity refused", op->mechanism);
		account = NULL;
	}
	if (!op->verify.want_scram)
		ep_sasl_server_set_verified (op->sasl, account);
	else if (!ep_sasl_server_set_scram_credentials_string (
		     op->sasl, account, account != NULL ? op->verify.scram_credentials : NULL, &invalid))
		ep_log_warning (POP3_MODULE, self->id, "%s: unusable SCRAM credentials for %s: %s", op->mechanism,
				account, invalid->message);
	pop3_session_auth_step (self, NULL);
}

static void
pop3_session_auth_verify (Pop3Session *self)
{
	Pop3AuthOp *op = self->auth_op;

	op->verify.session_id = self->id;
	op->verify.protocol = "pop3";
	op->verify.mechanism = ep_sasl_server_get_mechanism (op->sasl);
	op->verify.username = ep_sasl_server_get_authcid (op->sasl);
	op->verify.authzid = ep_sasl_server_get_authzid (op->sasl);
	op->verify.peer = ep_connection_get_peer_address (self->conn);
	op->verify.tls_active = ep_connection_is_tls (self->conn);
	op->verify.want_scram = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_SCRAM;
	op->verify.is_bearer = ep_sasl_server_get_kind (op->sasl) == EP_SASL_CREDENTIALS_BEARER;
	op->verify.secret = op->verify.want_scram ? NULL : ep_sasl_server_get_secret (op->sasl);
	ep_hook_auth_verify_run_async (pop3_session_bus (self), &op->verify, 0, self->cancellable,
				       pop3_session_on_auth_verified, g_object_ref (self));
}

static gboolean
pop3_session_on_auth_delay (gpointer user_data)
{
	Pop3Session *self = user_data;

	if (self->auth_op != NULL)
		self->auth_op->delay_id = 0;
	if (!self->closing && self->auth_op != NULL)
		pop3_session_auth_verify (self);
	return G_SOURCE_REMOVE;
}

static void
pop3_session_on_guard_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	guint delay_ms = 0;
	gboolean ok = ep_auth_guard_check_finish (EP_AUTH_GUARD (source), res, &delay_ms, &error);
	Pop3AuthOp *op = self->auth_op;

	if (self->closing || op == NULL)
		return;
	if (!ok && g_error_matches (error, EP_ERROR, EP_ERROR_LIMIT)) {
		EpAuthLogin login = pop3_session_auth_login (self);

		ep_log_info (POP3_MODULE, self->id, "login refused: %s", error->message);
		ep_auth_login_emit_failed (&login, EP_AUTH_LOGIN_BANNED_REASON);
		pop3_session_send_and_close (self, "[SYS/TEMP] Too many failed logins, try again later");
		return;
	}
	if (!ok) {
		g_autofree char *why = g_strdup_printf ("the auth guard failed: %s", error->message);
		pop3_session_auth_tempfail (self, why);
		pop3_session_resume (self);
		return;
	}
	if (delay_ms == 0) {
		pop3_session_auth_verify (self);
		return;
	}
	op->delay_id = g_timeout_add_full (G_PRIORITY_DEFAULT, delay_ms, pop3_session_on_auth_delay,
					   g_object_ref (self), g_object_unref);
}

static void
pop3_session_auth_need_credentials (Pop3Session *self)
{
	EpAuthGuard *guard = ep_auth_login_get_guard (self->server->ctx);

	pop3_session_suspend (self);
	if (guard == NULL) {
		pop3_session_auth_verify (self);
		return;
	}
	ep_auth_guard_check_async (guard, ep_connection_get_peer_ip (self->conn),
				   pop3_session_auth_username (self->auth_op), self->cancellable,
				   pop3_session_on_guard_checked, g_object_ref (self));
}

/* RFC 5034 §4: "+ " and the base64 challenge, then the client's line */
static void
pop3_session_auth_challenge (Pop3Session *self, GBytes *challenge)
{
	gsize len = 0;
	const guint8 *data = challenge != NULL ? g_bytes_get_data (challenge, &len) : NULL;
	g_autofree char *b64 = len > 0 ? g_base64_encode (data, len) : NULL;

	ep_connection_printf (self->conn, "+ %s\r\n", b64 != NULL ? b64 : "");
	self->sasl_line = TRUE;
	pop3_session_set_max_line (self);
}

static void
pop3_session_auth_step (Pop3Session *self, GBytes *input)
{
	Pop3AuthOp *op = self->auth_op;
	g_autoptr (GBytes) output = NULL;
	g_autoptr (GError) error = NULL;
	EpSaslStatus status = ep_sasl_server_step (op->sasl, input, &output, &error);

	switch (status) {
	case EP_SASL_CONTINUE:
		pop3_session_auth_challenge (self, output);
		break;
	case EP_SASL_NEED_CREDENTIALS:
		pop3_session_auth_need_credentials (self);
		return;
	case EP_SASL_SUCCESS:
		if (output != NULL && g_bytes_get_size (output) > 0) {
			/* additional data with success: a challenge the client
			 * answers with an empty line (RFC 5034 §4) */
			op->success_pending = TRUE;
			pop3_session_auth_challenge (self, output);
			break;
		}
		pop3_session_auth_succeeded (self);
		return;
	case EP_SASL_FAILURE:
	default:
		pop3_session_auth_failed (self, error != NULL ? error->message : "bad credentials", TRUE);
		break;
	}
	if (self->busy)
		pop3_session_resume (self);
}

static void
pop3_session_auth_line (Pop3Session *self, const char *line, gsize len)
{
	Pop3AuthOp *op = self->auth_op;
	g_autoptr (GBytes) input = NULL;

	self->sasl_line = FALSE;
	pop3_session_set_max_line (self);
	if (op == NULL) {
		pop3_session_err (self, "Bad sequence of commands");
		return;
	}
	if (len == 1 && line[0] == '*') {
		ep_log_info (POP3_MODULE, self->id, "AUTH %s cancelled by the client", op->mechanism);
		pop3_session_auth_end (self);
		pop3_session_err (self, "Authentication cancelled");
		return;
	}
	input = pop3_base64_decode (line, len, FALSE);
	if (input == NULL) {
		ep_log_info (POP3_MODULE, self->id, "AUTH %s: response is not base64", op->mechanism);
		pop3_session_auth_end (self);
		pop3_session_err (self, "Cannot decode the response");
		return;
	}
	if (op->success_pending) {
		if (g_bytes_get_size (input) == 0)
			pop3_session_auth_succeeded (self);
		else
			pop3_session_auth_failed (self, "data after the final challenge", TRUE);
		return;
	}
	pop3_session_auth_step (self, input);
}

/* the mechanisms of this connection; NULL when none */
static GStrv
pop3_session_mechanisms (Pop3Session *self)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	EpTomlValue *oauth = ep_config_get_section (ep_context_get_config (self->server->ctx), "auth-oauth");
	gboolean has_oauth = oauth != NULL && ep_config_section_get_string (oauth, "issuer", NULL) != NULL;

	if (!pop3_session_login_offered (self))
		return NULL;
	return ep_sasl_mechanisms_available (TRUE, cb != NULL, has_oauth);
}

static EpSaslServer *
pop3_session_sasl_new (Pop3Session *self, const char *mechanism, GError **error)
{
	g_autoptr (GBytes) cb = ep_connection_get_channel_binding (self->conn, "tls-exporter", NULL);
	EpSaslServerSettings settings = {
	    .service = "pop3",
	    .tls_active = ep_connection_is_tls (self->conn),
	    .channel_binding = cb,
	};

	return ep_sasl_server_new (mechanism, &settings, error);
}

/* Refuses a login command that cannot be served here; TRUE when it did. */
static gboolean
pop3_session_login_refused (Pop3Session *self)
{
	if (self->state != POP3_STATE_AUTHORIZATION) {
		pop3_session_err (self, "Already authenticated");
		return TRUE;
	}
	if (!ep_connection_is_tls (self->conn)) {
		pop3_session_err (self, pop3_session_stls_offered (self)
					    ? POP3_AUTH_NEEDS_TLS
					    : "[AUTH] Authentication requires TLS, which this listener does not offer");
		return TRUE;
	}
	if (!pop3_session_has_backend (self)) {
		pop3_session_err (self, "[SYS/PERM] No authentication backend is configured");
		return TRUE;
	}
	return FALSE;
}

static void
pop3_session_cmd_user (Pop3Session *self, Pop3Command *cmd)
{
	if (pop3_session_login_refused (self))
		return;
	g_free (self->user);
	self->user = g_steal_pointer (&cmd->arg);
	/* nothing is said about whether the user exists */
	pop3_session_ok (self, "Send PASS");
}

static void
pop3_session_cmd_pass (Pop3Session *self, Pop3Command *cmd)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GByteArray) plain = NULL;
	g_autoptr (GBytes) input = NULL;
	g_autofree char *user = g_steal_pointer (&self->user);
	Pop3AuthOp *op;

	if (pop3_session_login_refused (self))
		return;
	if (user == NULL) {
		pop3_session_err (self, "Send USER first");
		return;
	}
	op = g_new0 (Pop3AuthOp, 1);
	op->mechanism = g_strdup ("USER");
	op->sasl = pop3_session_sasl_new (self, "PLAIN", &error);
	if (op->sasl == NULL) {
		ep_log_warning (POP3_MODULE, self->id, "USER/PASS: %s", error->message);
		pop3_auth_op_free (op);
		pop3_session_err (self, POP3_TEMP_TEXT);
		return;
	}
	/* USER/PASS is PLAIN without an authorization identity (RFC 4616) */
	plain = g_byte_array_new ();
	g_byte_array_append (plain, (const guint8 *)"", 1);
	g_byte_array_append (plain, (const guint8 *)user, (guint)strlen (user));
	g_byte_array_append (plain, (const guint8 *)"", 1);
	g_byte_array_append (plain, (const guint8 *)cmd->arg, (guint)strlen (cmd->arg));
	input = g_bytes_new (plain->data, plain->len);
	memset (plain->data, 0, plain->len);
	self->auth_op = op;
	pop3_session_auth_step (self, input);
}

static void
pop3_session_cmd_auth (Pop3Session *self, Pop3Command *cmd)
{
	g_auto (GStrv) mechs = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) initial = NULL;
	Pop3AuthOp *op;

	if (pop3_session_login_refused (self))
		return;
	mechs = pop3_session_mechanisms (self);
	if (cmd->arg == NULL) {
		/* the list, as many servers give it (RFC 1734 had none) */
		g_autoptr (GString) out = g_string_new ("+OK Supported mechanisms follow\r\n");
		for (guint i = 0; mechs != NULL && mechs[i] != NULL; i++)
			g_string_append_printf (out, "%s\r\n", mechs[i]);
		g_string_append (out, ".\r\n");
		self->n_errors = 0;
		ep_connection_write (self->conn, out->str, out->len);
		return;
	}
	if (mechs == NULL || !g_strv_contains ((const char *const *)mechs, cmd->arg)) {
		pop3_session_err (self, "Unrecognized authentication mechanism");
		return;
	}
	if (cmd->initial != NULL) {
		initial = pop3_base64_decode (cmd->initial, strlen (cmd->initial), TRUE);
		if (initial == NULL) {
			pop3_session_err (self, "Cannot decode the initial response");
			return;
		}
	}
	op = g_new0 (Pop3AuthOp, 1);
	op->mechanism = g_strdup (cmd->arg);
	op->sasl = pop3_session_sasl_new (self, op->mechanism, &error);
	if (op->sasl == NULL) {
		ep_log_warning (POP3_MODULE, self->id, "AUTH %s: %s", op->mechanism, error->message);
		pop3_auth_op_free (op);
		pop3_session_err (self, POP3_TEMP_TEXT);
		return;
	}
	self->auth_op = op;
	pop3_session_auth_step (self, initial);
}

/* ---- opening the maildrop -------------------------------------------------------------------- */

/* The login did not open the maildrop: back to AUTHORIZATION. */
static void
pop3_session_open_failed (Pop3Session *self, const char *text)
{
	pop3_session_release_lock (self);
	g_clear_pointer (&self->account, g_free);
	g_clear_pointer (&self->username, g_free);
	g_clear_pointer (&self->messages, g_array_unref);
	pop3_session_err (self, text);
	pop3_session_resume (self);
}

static void
pop3_session_open_done (Pop3Session *self)
{
	guint64 octets = 0;

	for (guint i = 0; i < self->messages->len; i++)
		octets += g_array_index (self->messages, Pop3Message, i).size;
	self->state = POP3_STATE_TRANSACTION;
	ep_log_info (POP3_MODULE, self->id, "maildrop of %s opened: %u messages, %" G_GUINT64_FORMAT " octets",
		     self->account, self->messages->len, octets);
	self->renew_id =
	    g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, MAX (1, pop3_session_limits (self)->lock_lease / 3),
					pop3_session_on_renew, g_object_ref (self), g_object_unref);
	pop3_session_ok (self, "Maildrop has %u messages (%" G_GUINT64_FORMAT " octets)", self->messages->len, octets);
	pop3_session_resume (self);
}

static void pop3_session_list_page (Pop3Session *self, guint32 first_uid);

static void
pop3_session_on_listed (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) list = ep_store_list_messages_finish (EP_STORE (source), res, &error);
	guint32 last_uid = 0;

	if (self->closing)
		return;
	if (list == NULL) {
		ep_log_warning (POP3_MODULE, self->id, "cannot list the INBOX of %s: %s", self->account,
				error->message);
		pop3_session_open_failed (self, POP3_TEMP_TEXT);
		return;
	}
	for (guint i = 0; i < list->len; i++) {
		EpStoreMessage *m = g_ptr_array_index (list, i);
		Pop3Message pm = {.uid = m->uid, .size = m->size};
		g_array_append_val (self->messages, pm);
		last_uid = m->uid;
	}
	if (list->len == POP3_LIST_PAGE && last_uid < G_MAXUINT32) {
		pop3_session_list_page (self, last_uid + 1);
		return;
	}
	pop3_session_open_done (self);
}

static void
pop3_session_list_page (Pop3Session *self, guint32 first_uid)
{
	ep_store_list_messages_async (self->server->store, self->account, POP3_INBOX, first_uid, G_MAXUINT32, 0,
				      POP3_LIST_PAGE, self->cancellable, pop3_session_on_listed, g_object_ref (self));
}

static void
pop3_session_on_mailbox (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) list = ep_store_list_mailboxes_finish (EP_STORE (source), res, &error);

	if (self->closing)
		return;
	if (list == NULL || list->len == 0) {
		ep_log_warning (POP3_MODULE, self->id, "cannot open the INBOX of %s: %s", self->account,
				error != NULL ? error->message : "no such mailbox");
		pop3_session_open_failed (self, POP3_TEMP_TEXT);
		return;
	}
	self->uidvalidity = ((EpStoreMailbox *)g_ptr_array_index (list, 0))->uidvalidity;
	self->messages = g_array_new (FALSE, TRUE, sizeof (Pop3Message));
	pop3_session_list_page (self, 1);
}

static void
pop3_session_on_locked (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	gboolean acquired = FALSE;

	if (!pop3_lock_acquire_finish (EP_DB (source), res, &acquired, &error)) {
		if (self->closing)
			return;
		ep_log_warning (POP3_MODULE, self->id, "cannot lock the maildrop of %s: %s", self->account,
				error->message);
		/* whether the row was written is unknown: it expires */
		g_clear_pointer (&self->lock_owner, g_free);
		pop3_session_open_failed (self, POP3_TEMP_TEXT);
		return;
	}
	if (!acquired) {
		g_clear_pointer (&self->lock_owner, g_free);
		if (self->closing)
			return;
		ep_log_info (POP3_MODULE, self->id, "the maildrop of %s is locked by another session", self->account);
		pop3_session_open_failed (self, "[IN-USE] Maildrop is locked by another session");
		return;
	}
	self->lock_held = TRUE;
	if (self->closing) {
		/* the session ended meanwhile: let go at once */
		pop3_session_release_lock (self);
		return;
	}
	ep_store_list_mailboxes_async (self->server->store, self->account, POP3_INBOX, self->cancellable,
				       pop3_session_on_mailbox, g_object_ref (self));
}

static void
pop3_session_open_maildrop (Pop3Session *self)
{
	g_autofree char *holder = NULL;
	guint8 token[16];

	pop3_session_suspend (self);
	if (self->server->store == NULL || self->db == NULL) {
		pop3_session_open_failed (self, POP3_TEMP_TEXT);
		return;
	}
	for (guint i = 0; i < sizeof (token); i += 4) {
		guint32 r = g_random_int ();
		memcpy (token + i, &r, 4);
	}
	g_free (self->lock_owner);
	self->lock_owner = g_compute_checksum_for_data (G_CHECKSUM_SHA256, token, sizeof (token));
	holder = g_strdup_printf ("%s %d %s", ep_config_get_hostname (ep_context_get_config (self->server->ctx)),
				  (int)getpid (), self->id);
	pop3_lock_acquire_async (self->db, self->account, self->lock_owner, holder,
				 pop3_session_limits (self)->lock_lease, NULL, pop3_session_on_locked,
				 g_object_ref (self));
}

/* ---- the TRANSACTION state ----------------------------------------------------------------- */

/* The message @n names, or NULL after answering -ERR. */
static Pop3Message *
pop3_session_message (Pop3Session *self, guint32 n)
{
	Pop3Message *m;

	if (n == 0 || n > self->messages->len) {
		pop3_session_err (self, "No such message");
		return NULL;
	}
	m = &g_array_index (self->messages, Pop3Message, n - 1);
	if (m->deleted) {
		pop3_session_err (self, "Message is deleted");
		return NULL;
	}
	return m;
}

static void
pop3_session_cmd_stat (Pop3Session *self)
{
	guint count = 0;
	guint64 octets = 0;

	for (guint i = 0; i < self->messages->len; i++) {
		const Pop3Message *m = &g_array_index (self->messages, Pop3Message, i);
		if (!m->deleted) {
			count++;
			octets += m->size;
		}
	}
	pop3_session_ok (self, "%u %" G_GUINT64_FORMAT, count, octets);
}

/* LIST and UIDL */
static void
pop3_session_cmd_list (Pop3Session *self, Pop3Command *cmd, gboolean uidl)
{
	g_autoptr (GString) out = NULL;

	if (cmd->has_msg) {
		Pop3Message *m = pop3_session_message (self, cmd->msg);
		if (m == NULL)
			return;
		if (uidl)
			pop3_session_ok (self, "%u %u.%u", cmd->msg, self->uidvalidity, m->uid);
		else
			pop3_session_ok (self, "%u %" G_GUINT64_FORMAT, cmd->msg, m->size);
		return;
	}
	out = g_string_new (uidl ? "+OK Unique-ID listing follows\r\n" : "+OK Scan listing follows\r\n");
	for (guint i = 0; i < self->messages->len; i++) {
		const Pop3Message *m = &g_array_index (self->messages, Pop3Message, i);
		if (m->deleted)
			continue;
		if (uidl)
			g_string_append_printf (out, "%u %u.%u\r\n", i + 1, self->uidvalidity, m->uid);
		else
			g_string_append_printf (out, "%u %" G_GUINT64_FORMAT "\r\n", i + 1, m->size);
	}
	g_string_append (out, ".\r\n");
	self->n_errors = 0;
	ep_connection_write (self->conn, out->str, out->len);
}

typedef struct {
	Pop3Session *session;
	guint32 n;
	gint64 lines; /* -1 for RETR */
} Pop3ReadOp;

static void
pop3_session_on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
	Pop3ReadOp *op = user_data;
	g_autoptr (Pop3Session) self = op->session;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) data = ep_store_read_message_finish (EP_STORE (source), res, &error);
	g_autoptr (GByteArray) out = NULL;
	Pop3DotStuff ds;
	gsize len = 0;
	const guint8 *p;
	Pop3Message *m;
	guint32 n = op->n;
	gint64 lines = op->lines;

	g_free (op);
	if (self->closing)
		return;
	m = &g_array_index (self->messages, Pop3Message, n - 1);
	if (data == NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND)) {
			pop3_session_err (self, "Message was removed by another client");
		} else {
			ep_log_warning (POP3_MODULE, self->id, "cannot read message %u (UID %u) of %s: %s", n, m->uid,
					self->account, error->message);
			pop3_session_err (self, POP3_TEMP_TEXT);
		}
		pop3_session_resume (self);
		return;
	}
	p = g_bytes_get_data (data, &len);
	out = g_byte_array_sized_new ((guint)MIN (len + len / 64 + 64, G_MAXUINT));
	pop3_dotstuff_init (&ds, lines);
	(void)pop3_dotstuff_feed (&ds, p, len, out);
	pop3_dotstuff_finish (&ds, out);
	if (lines < 0)
		pop3_session_ok (self, "%" G_GUINT64_FORMAT " octets", m->size);
	else
		pop3_session_ok (self, "Top of message follows");
	ep_connection_write (self->conn, out->data, out->len);
	pop3_session_resume (self);
}

/* RETR (@lines -1) and TOP */
static void
pop3_session_cmd_retr (Pop3Session *self, Pop3Command *cmd, gint64 lines)
{
	Pop3Message *m = pop3_session_message (self, cmd->msg);
	Pop3ReadOp *op;

	if (m == NULL)
		return;
	op = g_new0 (Pop3ReadOp, 1);
	op->session = g_object_ref (self);
	op->n = cmd->msg;
	op->lines = lines;
	pop3_session_suspend (self);
	ep_store_read_message_async (self->server->store, self->account, POP3_INBOX, m->uid, self->cancellable,
				     pop3_session_on_read, op);
}

static void
pop3_session_cmd_dele (Pop3Session *self, Pop3Command *cmd)
{
	Pop3Message *m = pop3_session_message (self, cmd->msg);

	if (m == NULL)
		return;
	m->deleted = TRUE;
	pop3_session_ok (self, "Message %u deleted", cmd->msg);
}

static void
pop3_session_cmd_rset (Pop3Session *self)
{
	for (guint i = 0; i < self->messages->len; i++)
		g_array_index (self->messages, Pop3Message, i).deleted = FALSE;
	pop3_session_ok (self, "Maildrop has %u messages", self->messages->len);
}

/* ---- QUIT and the UPDATE state ------------------------------------------------------------- */

static void
pop3_session_on_expunged (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GArray) gone = ep_store_expunge_finish (EP_STORE (source), res, &error);

	self->updating = FALSE;
	if (gone == NULL) {
		ep_log_warning (POP3_MODULE, self->id, "UPDATE: cannot expunge from the INBOX of %s: %s", self->account,
				error->message);
		if (!self->closing)
			ep_connection_printf (self->conn, "-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
	} else {
		ep_log_info (POP3_MODULE, self->id, "UPDATE: %u messages expunged from the INBOX of %s", gone->len,
			     self->account);
		if (!self->closing)
			ep_connection_printf (self->conn, "+OK Bye\r\n");
	}
	/* the lock goes only once the maildrop is as the session left it */
	pop3_session_release_lock (self);
	pop3_session_close (self);
}

static void
pop3_session_cmd_quit (Pop3Session *self)
{
	g_autoptr (GArray) uids = NULL;

	if (self->state != POP3_STATE_TRANSACTION) {
		pop3_session_ok (self, "Bye");
		pop3_session_close (self);
		return;
	}
	if (self->lock_lost) {
		/* another session may have the maildrop now: touch nothing */
		pop3_session_send_and_close (self, "[SYS/TEMP] The maildrop lock was lost; nothing was deleted");
		return;
	}
	self->state = POP3_STATE_UPDATE;
	uids = g_array_new (FALSE, FALSE, sizeof (guint32));
	for (guint i = 0; i < self->messages->len; i++) {
		const Pop3Message *m = &g_array_index (self->messages, Pop3Message, i);
		if (m->deleted)
			g_array_append_val (uids, m->uid);
	}
	if (uids->len == 0) {
		pop3_session_ok (self, "Bye");
		pop3_session_release_lock (self);
		pop3_session_close (self);
		return;
	}
	pop3_session_suspend (self);
	self->updating = TRUE;
	/* not cancellable: a client that hangs up after QUIT still gets
	 * its deletions (RFC 1939 §6) */
	ep_store_expunge_async (self->server->store, self->account, POP3_INBOX, (const guint32 *)(gpointer)uids->data,
				uids->len, NULL, pop3_session_on_expunged, g_object_ref (self));
}

/* ---- commands ---------------------------------------------------------------------------------- */

static void
pop3_session_cmd_capa (Pop3Session *self)
{
	g_autoptr (GString) out = g_string_new ("+OK Capability list follows\r\n");
	g_auto (GStrv) mechs = pop3_session_mechanisms (self);

	g_string_append (out, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (pop3_session_stls_offered (self))
		g_string_append (out, "STLS\r\n");
	if (self->state == POP3_STATE_AUTHORIZATION && mechs != NULL && mechs[0] != NULL) {
		g_autofree char *list = g_strjoinv (" ", mechs);
		g_string_append (out, "USER\r\n");
		g_string_append_printf (out, "SASL %s\r\n", list);
	}
	g_string_append (out, ".\r\n");
	self->n_errors = 0;
	ep_connection_write (self->conn, out->str, out->len);
}

static void
pop3_session_on_stls_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr (Pop3Session) self = user_data;
	g_autoptr (GError) error = NULL;

	if (!ep_connection_start_tls_finish (EP_CONNECTION (source), res, &error)) {
		ep_log_info (POP3_MODULE, self->id, "STLS failed: %s", error->message);
		if (!self->closing) {
			self->closing = TRUE;
			g_cancellable_cancel (self->cancellable);
			ep_connection_abort (self->conn);
		}
		return;
	}
	if (self->closing)
		return;
	/* forget what was said in clear */
	g_clear_pointer (&self->user, g_free);
	ep_log_debug (POP3_MODULE, self->id, "STLS: %s %s", ep_connection_get_tls_version (self->conn),
		      ep_connection_get_tls_cipher (self->conn));
	pop3_session_resume (self);
}

static void
pop3_session_cmd_stls (Pop3Session *self)
{
	if (!pop3_session_stls_offered (self)) {
		pop3_session_err (self,
				  ep_connection_is_tls (self->conn) ? "TLS already active" : "STLS not available");
		return;
	}
	pop3_session_ok (self, "Begin TLS negotiation");
	pop3_session_suspend (self);
	ep_connection_start_tls_async (self->conn, ep_context_get_tls (self->server->ctx), NULL,
				       pop3_session_on_stls_done, g_object_ref (self));
}

static gboolean
pop3_session_is_transaction_verb (Pop3Verb verb)
{
	switch (verb) {
	case POP3_VERB_STAT:
	case POP3_VERB_LIST:
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
	case POP3_VERB_NOOP:
	case POP3_VERB_RSET:
	case POP3_VERB_TOP:
	case POP3_VERB_UIDL:
		return TRUE;
	default:
		return FALSE;
	}
}

static void
pop3_session_command (Pop3Session *self, const char *line, gsize len)
{
	Pop3Command cmd;
	const char *error = NULL;

	if (!pop3_command_parse (line, len, &cmd, &error)) {
		pop3_session_err (self, error);
		pop3_command_clear (&cmd);
		return;
	}
	if (self->lock_lost && cmd.verb != POP3_VERB_QUIT) {
		pop3_session_send_and_close (self, "[SYS/TEMP] The maildrop lock was lost, closing connection");
		pop3_command_clear (&cmd);
		return;
	}
	if (pop3_session_is_transaction_verb (cmd.verb) && self->state != POP3_STATE_TRANSACTION) {
		pop3_session_err (self, "Not authenticated");
		pop3_command_clear (&cmd);
		return;
	}
	switch (cmd.verb) {
	case POP3_VERB_CAPA:
		pop3_session_cmd_capa (self);
		break;
	case POP3_VERB_STLS:
		pop3_session_cmd_stls (self);
		break;
	case POP3_VERB_USER:
		pop3_session_cmd_user (self, &cmd);
		break;
	case POP3_VERB_PASS:
		pop3_session_cmd_pass (self, &cmd);
		break;
	case POP3_VERB_AUTH:
		pop3_session_cmd_auth (self, &cmd);
		break;
	case POP3_VERB_APOP:
		pop3_session_err (self, "APOP not available");
		break;
	case POP3_VERB_QUIT:
		pop3_session_cmd_quit (self);
		break;
	case POP3_VERB_STAT:
		pop3_session_cmd_stat (self);
		break;
	case POP3_VERB_LIST:
		pop3_session_cmd_list (self, &cmd, FALSE);
		break;
	case POP3_VERB_UIDL:
		pop3_session_cmd_list (self, &cmd, TRUE);
		break;
	case POP3_VERB_RETR:
		pop3_session_cmd_retr (self, &cmd, -1);
		break;
	case POP3_VERB_TOP:
		pop3_session_cmd_retr (self, &cmd, cmd.lines);
		break;
	case POP3_VERB_DELE:
		pop3_session_cmd_dele (self, &cmd);
		break;
	case POP3_VERB_RSET:
		pop3_session_cmd_rset (self);
		break;
	case POP3_VERB_NOOP:
		pop3_session_ok (self, "OK");
		break;
	case POP3_VERB_UNKNOWN:
	default:
		pop3_session_err (self, "Unknown command");
		break;
	}
	pop3_command_clear (&cmd);
}

/* While the daemon drains: a session waiting for a command is closed. */
static gboolean
pop3_session_drain_if_idle (Pop3Session *self)
{
	if (!self->server->draining || self->closing || self->busy || self->auth_op != NULL)
		return FALSE;
	pop3_session_send_and_close (self, "[SYS/TEMP] Server shutting down, closing connection");
	return TRUE;
}

static void
pop3_session_on_input (EpConnection *conn, gpointer user_data)
{
	g_autoptr (Pop3Session) self = g_object_ref (POP3_SESSION (user_data));

	while (!self->busy && !self->closing && !self->auth_recording) {
		const char *line = NULL;
		gsize len = 0;
		EpLineStatus status;

		if (pop3_session_drain_if_idle (self))
			return;
		status = ep_connection_read_line (conn, &line, &len);
		switch (status) {
		case EP_LINE_NEED_MORE:
			return;
		case EP_LINE_OK:
			if (self->sasl_line)
				pop3_session_auth_line (self, line, len);
			else
				pop3_session_command (self, line, len);
			break;
		case EP_LINE_TOO_LONG:
			ep_log_info (POP3_MODULE, self->id, "line too long; closing");
			pop3_session_send_and_close (self, "Line too long, closing connection");
			return;
		case EP_LINE_BARE_CR:
		case EP_LINE_BARE_LF:
		case EP_LINE_NUL:
			ep_log_info (POP3_MODULE, self->id, "%s; closing", ep_line_status_to_string (status));
			pop3_session_send_and_close (self,
						     "Protocol violation: lines end with CRLF, closing connection");
			return;
		}
	}
}

static void
pop3_session_on_timeout (EpConnection *conn, gboolean total, gpointer user_data)
{
	Pop3Session *self = POP3_SESSION (user_data);

	/* RFC 1939 §3: close without a response and without the UPDATE state */
	ep_log_info (POP3_MODULE, self->id, "%s timeout; closing", total ? "session" : "idle");
	pop3_session_close (self);
}

static void
pop3_session_on_closed (EpConnection *conn, const GError *error, gpointer user_data)
{
	g_autoptr (Pop3Session) self = g_object_ref (POP3_SESSION (user_data));

	self->closing = TRUE;
	g_cancellable_cancel (self->cancellable);
	if (!self->updating)
		pop3_session_release_lock (self);
	if (error != NULL)
		ep_log_info (POP3_MODULE, self->id, "disconnect from %s: %s", ep_connection_get_peer_ip (conn),
			     error->message);
	else
		ep_log_info (POP3_MODULE, self->id, "disconnect from %s", ep_connection_get_peer_ip (conn));
	self->state = POP3_STATE_CLOSED;
	g_hash_table_remove (self->server->sessions, self);
}

/* ---- life ------------------------------------------------------------------------------------ */

static void
pop3_session_dispose (GObject *object)
{
	Pop3Session *self = POP3_SESSION (object);

	g_clear_handle_id (&self->renew_id, g_source_remove);
	if (self->conn != NULL) {
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		if (!ep_connection_is_closed (self->conn))
			ep_connection_close (self->conn);
		g_clear_object (&self->conn);
	}
	G_OBJECT_CLASS (pop3_session_parent_class)->dispose (object);
}

static void
pop3_session_finalize (GObject *object)
{
	Pop3Session *self = POP3_SESSION (object);

	/* normally released at close already */
	pop3_session_release_lock (self);
	g_free (self->lock_owner);
	g_clear_pointer (&self->auth_op, pop3_auth_op_free);
	g_free (self->user);
	g_free (self->account);
	g_free (self->username);
	g_clear_pointer (&self->messages, g_array_unref);
	g_clear_object (&self->db);
	g_free (self->listener_kind);
	g_clear_object (&self->cancellable);
	G_OBJECT_CLASS (pop3_session_parent_class)->finalize (object);
}

static void
pop3_session_class_init (Pop3SessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = pop3_session_dispose;
	object_class->finalize = pop3_session_finalize;
}

static void
pop3_session_init (Pop3Session *self)
{
	self->cancellable = g_cancellable_new ();
	self->state = POP3_STATE_AUTHORIZATION;
}

void
pop3_session_accept (Pop3Server *server, GSocketConnection *connection, const char *listener_kind)
{
	g_autoptr (Pop3Session) self = g_object_new (POP3_TYPE_SESSION, NULL);
	const Pop3Limits *limits = &server->limits;
	gboolean implicit_tls = g_strcmp0 (listener_kind, "pop3s") == 0;
	EpTlsContext *tls = ep_context_get_tls (server->ctx);
	EpDb *db = ep_context_get_db (server->ctx);
	guint n_peer;

	self->server = server;
	self->listener_kind = g_strdup (listener_kind);
	self->conn = ep_connection_new (connection, "pop3");
	self->id = ep_connection_get_session_id (self->conn);
	self->db = db != NULL ? g_object_ref (db) : NULL;
	g_hash_table_add (server->sessions, g_object_ref (self));

	ep_connection_set_handlers (self->conn, pop3_session_on_input, pop3_session_on_timeout, pop3_session_on_closed,
				    self);
	ep_connection_set_max_line (self->conn, POP3_COMMAND_MAX_LINE);
	ep_connection_set_idle_timeout (self->conn, limits->idle_timeout);
	ep_connection_set_total_timeout (self->conn, limits->session_timeout);
	if (implicit_tls) {
		if (tls == NULL) {
			ep_log_warning (POP3_MODULE, self->id, "pop3s listener without TLS; closing");
			self->closing = TRUE;
			ep_connection_abort (self->conn);
			return;
		}
		ep_connection_set_implicit_tls (self->conn, tls);
	}
	ep_log_info (POP3_MODULE, self->id, "connect from %s on %s listener", ep_connection_get_peer_ip (self->conn),
		     listener_kind);
	ep_connection_start (self->conn);

	n_peer = ep_connection_count_peer (self->conn);
	if (limits->max_connections_per_ip > 0 && n_peer > limits->max_connections_per_ip) {
		ep_log_info (POP3_MODULE, self->id, "%u connections from %s; refused", n_peer,
			     ep_connection_get_peer_ip (self->conn));
		pop3_session_send_and_close (self, "[SYS/TEMP] Too many connections from your address");
		return;
	}
	if (server->draining) {
		pop3_session_send_and_close (self, "[SYS/TEMP] Server shutting down");
		return;
	}
	/* no version: the greeting tells nothing about the software */
	ep_connection_printf (self->conn, "+OK POP3 server ready\r\n");
}

void
pop3_server_drain (Pop3Server *server)
{
	g_autoptr (GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
	GHashTableIter iter;
	gpointer key;

	server->draining = TRUE;
	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL))
		g_ptr_array_add (sessions, g_object_ref (key));
	for (guint i = 0; i < sessions->len; i++)
		pop3_session_drain_if_idle (g_ptr_array_index (sessions, i));
}

void
pop3_server_close_all (Pop3Server *server)
{
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, server->sessions);
	while (g_hash_table_iter_next (&iter, &key, NULL)) {
		Pop3Session *self = key;
		if (!self->closing) {
			ep_connection_printf (self->conn,
					      "-ERR [SYS/TEMP] Server shutting down, closing connection\r\n");
			self->closing = TRUE;
			g_cancellable_cancel (self->cancellable);
		}
		if (!self->updating)
			pop3_session_release_lock (self);
		ep_connection_set_handlers (self->conn, NULL, NULL, NULL, NULL);
		ep_connection_close (self->conn);
	}
	g_hash_table_remove_all (server->sessions);
}
