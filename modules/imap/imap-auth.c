/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "imap-session-private.h"

/* ---- LOGIN and AUTHENTICATE ----------------------------------------------------------------- */

void
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
void
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

void
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

void
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
