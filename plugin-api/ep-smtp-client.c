/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "ep-connection.h"
#include "ep-error.h"
#include "ep-log.h"
#include "ep-smtp-client.h"

/*
 * The client is a small state machine driven by replies.  Every command
 * sent pushes what it waits for onto a queue (several at once when
 * pipelining); every reply pops the head and is handled by the command it
 * answers.  One timer runs while something is awaited: it measures the
 * wait for the whole reply, so a server trickling octets cannot stretch
 * it.  The message body is written piece by piece as the connection's
 * output drains, so a large message is never copied whole and the
 * server's replies are read while it goes out.
 *
 * Operations complete from an idle of their own: the caller's callback
 * never runs inside a reply handler, so it may start the next operation or
 * drop the client at once.
 */

#define EP_SMTP_CLIENT_LOG	     "smtp-client"
#define EP_SMTP_CLIENT_CHUNK	     (64 * 1024) /* message octets encoded per write */
#define EP_SMTP_CLIENT_LOW_WATER     (64 * 1024) /* more is written below this */
#define EP_SMTP_CLIENT_DATA_INIT_MAX 120	 /* RFC 5321 §4.5.3.2.5 */
#define EP_SMTP_CLIENT_DATA_BLOCK    180	 /* RFC 5321 §4.5.3.2.6 */
#define EP_SMTP_CLIENT_MAX_ADDRESS   998

typedef enum {
	PHASE_IDLE,	  /* not connected yet */
	PHASE_CONNECTING, /* TCP connect */
	PHASE_SESSION,	  /* commands and replies */
	PHASE_TLS,	  /* STARTTLS handshake */
	PHASE_READY,	  /* connected, between transactions */
	PHASE_CLOSED,	  /* failed, quit, or the server went away */
} Phase;

typedef enum {
	CMD_GREETING = 1, /* not 0: EXPECT_PACK (cmd, 0) must never be NULL, the empty queue's head */
	CMD_EHLO,
	CMD_HELO,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_DATA_END,
	CMD_BDAT,
	CMD_RSET,
} Cmd;

typedef enum {
	OP_NONE,
	OP_CONNECT,
	OP_SEND,
} Op;

typedef enum {
	STREAM_NONE,
	STREAM_WRITING,	 /* encoding and writing the message */
	STREAM_FLUSHING, /* all queued, waiting for the queue to drain */
	STREAM_DONE,	 /* all written: waiting for the final reply */
} Stream;

typedef enum {
	AUTH_NONE,
	AUTH_PLAIN,
	AUTH_LOGIN,
} AuthMech;

/* one transaction */
typedef struct {
	char *sender;
	char **recipients;
	guint n_rcpt;
	GBytes *message;
	gsize size; /* encoded without dot-stuffing: SIZE= and BDAT */
	gboolean body_8bit;
	gboolean smtputf8;
	gboolean pipelined;
	gboolean bdat;
	gboolean data_pipelined; /* DATA went out with MAIL and RCPT */
	gboolean mail_ok;
	guint n_accepted;
	EpSmtpSendResult *result;

	Stream stream;
	gsize body_pos;
	EpSmtpDataEncoder enc;
} Send;

struct _EpSmtpClient {
	GObject parent_instance;

	char *session_id;
	char *helo_name;
	EpSmtpClientTls tls_mode;
	char *server_name;
	char *ca_file;
	EpTlsContext *tls_ctx;
	char *username;
	char *password;
	guint connect_s;
	guint command_s;
	guint data_s;

	Phase phase;
	char *peer; /* "[192.0.2.1]:25" for messages */
	GSocketClient *socket_client;
	GCancellable *connect_cancellable;
	EpConnection *conn;
	EpSmtpReplyParser *parser;
	GQueue expect; /* of packed (Cmd, index) */
	GMainContext *context;

	/* the operation in progress */
	Op op;
	GTask *task;
	GSource *timer;
	guint timer_seconds;
	GSource *cancel_source;

	/* what the server said */
	char *peer_name;
	GHashTable *extensions; /* upper-case keyword -> parameters */
	gsize size_limit;
	gboolean after_tls_ehlo;
	gboolean tls_failed;
	gboolean broken; /* 421, an unsolicited reply, lost sync: no further use */
	AuthMech auth_mech;
	guint auth_step;

	Send *send;
};

G_DEFINE_TYPE (EpSmtpClient, ep_smtp_client, G_TYPE_OBJECT)

static void ep_smtp_client_handle_reply (EpSmtpClient *self, EpSmtpReply *reply);
static void ep_smtp_client_arm_timer (EpSmtpClient *self);

/* ---- results ------------------------------------------------------------ */

void
ep_smtp_send_result_free (EpSmtpSendResult *result)
{
	if (result == NULL)
		return;
	ep_smtp_reply_free (result->mail);
	g_clear_pointer (&result->rcpt, g_ptr_array_unref);
	ep_smtp_reply_free (result->data);
	g_free (result);
}

const EpSmtpReply *
ep_smtp_send_result_get_outcome (const EpSmtpSendResult *result, guint index)
{
	const EpSmtpReply *rcpt;

	g_return_val_if_fail (result != NULL && result->rcpt != NULL, NULL);
	g_return_val_if_fail (index < result->rcpt->len, NULL);

	rcpt = g_ptr_array_index (result->rcpt, index);
	if (ep_smtp_reply_is_positive (rcpt) && result->data != NULL)
		return result->data;
	return rcpt;
}

static EpSmtpSendResult *
ep_smtp_send_result_new (void)
{
	EpSmtpSendResult *result = g_new0 (EpSmtpSendResult, 1);

	result->rcpt = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_smtp_reply_free);
	return result;
}

static void
ep_smtp_send_free (Send *send)
{
	if (send == NULL)
		return;
	g_free (send->sender);
	g_strfreev (send->recipients);
	g_clear_pointer (&send->message, g_bytes_unref);
	ep_smtp_send_result_free (send->result);
	g_free (send);
}

/* ---- the DATA encoder --------------------------------------------------- */

void
ep_smtp_data_encoder_init (EpSmtpDataEncoder *enc, gboolean dot_stuff)
{
	g_return_if_fail (enc != NULL);
	enc->dot_stuff = dot_stuff;
	enc->line_start = TRUE;
	enc->cr = FALSE;
}

static inline void
ep_smtp_emit (GByteArray *out, const guint8 *data, gsize len)
{
	if (out != NULL && len > 0)
		g_byte_array_append (out, data, (guint) len);
}

gsize
ep_smtp_data_encoder_feed (EpSmtpDataEncoder *enc, const guint8 *data, gsize len, GByteArray *out)
{
	static const guint8 crlf[2] = { '\r', '\n' };
	gsize written = 0;
	gsize i = 0;

	g_return_val_if_fail (enc != NULL, 0);
	g_return_val_if_fail (data != NULL || len == 0, 0);

	while (i < len) {
		gsize run;

		if (enc->cr) {
			/* CRLF, or a bare CR: a line end either way */
			enc->cr = FALSE;
			enc->line_start = TRUE;
			ep_smtp_emit (out, crlf, 2);
			written += 2;
			if (data[i] == '\n')
				i++;
			continue;
		}
		if (data[i] == '\r') {
			enc->cr = TRUE;
			i++;
			continue;
		}
		if (data[i] == '\n') {
			/* a bare LF */
			enc->line_start = TRUE;
			ep_smtp_emit (out, crlf, 2);
			written += 2;
			i++;
			continue;
		}
		if (enc->line_start && enc->dot_stuff && data[i] == '.') {
			ep_smtp_emit (out, (const guint8 *) ".", 1);
			written++;
		}
		enc->line_start = FALSE;
		/* the rest of the line goes as it is */
		for (run = i + 1; run < len && data[run] != '\r' && data[run] != '\n'; run++)
			;
		ep_smtp_emit (out, data + i, run - i);
		written += run - i;
		i = run;
	}
	return written;
}

gsize
ep_smtp_data_encoder_finish (EpSmtpDataEncoder *enc, GByteArray *out)
{
	static const guint8 crlf[2] = { '\r', '\n' };
	gsize written = 0;

	g_return_val_if_fail (enc != NULL, 0);

	if (enc->cr || !enc->line_start) {
		ep_smtp_emit (out, crlf, 2);
		written += 2;
	}
	enc->cr = FALSE;
	enc->line_start = TRUE;
	if (enc->dot_stuff) {
		ep_smtp_emit (out, (const guint8 *) ".\r\n", 3);
		written += 3;
	}
	return written;
}

/* ---- object ------------------------------------------------------------- */

static void
ep_smtp_client_destroy_source (GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy (*source);
	g_source_unref (*source);
	*source = NULL;
}

/* Lets go of the connection: no callback of it reaches us any more. */
static void
ep_smtp_client_drop_connection (EpSmtpClient *self, gboolean polite)
{
	g_autoptr(EpConnection) conn = g_steal_pointer (&self->conn);

	if (conn == NULL)
		return;
	ep_connection_set_handlers (conn, NULL, NULL, NULL, NULL);
	ep_connection_set_drain_func (conn, 0, NULL, NULL);
	if (polite && !ep_connection_is_closed (conn)) {
		static const char quit[] = "QUIT\r\n";
		ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "C: QUIT");
		ep_connection_write (conn, quit, sizeof (quit) - 1);
		/* writes what is queued and closes, on its own */
		ep_connection_close (conn);
	} else {
		ep_connection_abort (conn);
	}
}

static void
ep_smtp_client_dispose (GObject *object)
{
	EpSmtpClient *self = EP_SMTP_CLIENT (object);

	ep_smtp_client_destroy_source (&self->timer);
	ep_smtp_client_destroy_source (&self->cancel_source);
	if (self->connect_cancellable != NULL)
		g_cancellable_cancel (self->connect_cancellable);
	ep_smtp_client_drop_connection (self, self->phase == PHASE_READY && !self->broken);
	self->phase = PHASE_CLOSED;
	G_OBJECT_CLASS (ep_smtp_client_parent_class)->dispose (object);
}

static void
ep_smtp_client_finalize (GObject *object)
{
	EpSmtpClient *self = EP_SMTP_CLIENT (object);

	g_free (self->session_id);
	g_free (self->helo_name);
	g_free (self->server_name);
	g_free (self->ca_file);
	g_clear_object (&self->tls_ctx);
	g_free (self->username);
	if (self->password != NULL) {
		memset (self->password, 0, strlen (self->password));
		g_free (self->password);
	}
	g_free (self->peer);
	g_clear_object (&self->socket_client);
	g_clear_object (&self->connect_cancellable);
	ep_smtp_reply_parser_free (self->parser);
	g_queue_clear (&self->expect);
	g_clear_pointer (&self->context, g_main_context_unref);
	g_free (self->peer_name);
	g_hash_table_unref (self->extensions);
	ep_smtp_send_free (self->send);
	G_OBJECT_CLASS (ep_smtp_client_parent_class)->finalize (object);
}

static void
ep_smtp_client_class_init (EpSmtpClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = ep_smtp_client_dispose;
	object_class->finalize = ep_smtp_client_finalize;
}

static void
ep_smtp_client_init (EpSmtpClient *self)
{
	self->session_id = ep_log_new_session_id ();
	self->tls_mode = EP_SMTP_CLIENT_TLS_OPPORTUNISTIC;
	self->connect_s = 30;
	self->command_s = 300;
	self->data_s = 600;
	self->parser = ep_smtp_reply_parser_new ();
	g_queue_init (&self->expect);
	self->extensions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

EpSmtpClient *
ep_smtp_client_new (const char *helo_name)
{
	EpSmtpClient *self;

	g_return_val_if_fail (helo_name != NULL, NULL);
	self = g_object_new (EP_TYPE_SMTP_CLIENT, NULL);
	self->helo_name = g_strdup (helo_name);
	return self;
}

void
ep_smtp_client_set_tls (EpSmtpClient *self, EpSmtpClientTls mode, const char *server_name, const char *ca_file)
{
	g_return_if_fail (EP_IS_SMTP_CLIENT (self));
	g_return_if_fail (mode <= EP_SMTP_CLIENT_TLS_IMPLICIT);

	self->tls_mode = mode;
	g_free (self->server_name);
	self->server_name = NULL;
	if (server_name != NULL && server_name[0] != '\0') {
		gsize len = strlen (server_name);
		/* "mx.example.org." is the name the certificate has without the dot */
		if (server_name[len - 1] == '.')
			len--;
		self->server_name = g_ascii_strdown (server_name, (gssize) len);
	}
	g_free (self->ca_file);
	self->ca_file = g_strdup (ca_file);
}

void
ep_smtp_client_set_tls_context (EpSmtpClient *self, EpTlsContext *tls)
{
	g_return_if_fail (EP_IS_SMTP_CLIENT (self));
	g_return_if_fail (tls == NULL || (EP_IS_TLS_CONTEXT (tls) && ep_tls_context_is_client (tls)));
	g_set_object (&self->tls_ctx, tls);
}

void
ep_smtp_client_set_auth (EpSmtpClient *self, const char *username, const char *password)
{
	g_return_if_fail (EP_IS_SMTP_CLIENT (self));

	g_free (self->username);
	self->username = g_strdup (username);
	if (self->password != NULL) {
		memset (self->password, 0, strlen (self->password));
		g_free (self->password);
	}
	self->password = g_strdup (password);
}

void
ep_smtp_client_set_timeouts (EpSmtpClient *self, guint connect_s, guint command_s, guint data_s)
{
	g_return_if_fail (EP_IS_SMTP_CLIENT (self));
	if (connect_s > 0)
		self->connect_s = connect_s;
	if (command_s > 0)
		self->command_s = command_s;
	if (data_s > 0)
		self->data_s = data_s;
}

/* ---- the TLS context ---------------------------------------------------- */

typedef struct {
	EpTlsContext *tls;
	gint64 mtime;
	goffset size;
} CachedTls;

static void
cached_tls_free (CachedTls *c)
{
	g_object_unref (c->tls);
	g_free (c);
}

G_LOCK_DEFINE_STATIC (ep_smtp_client_tls_cache);
static GHashTable *ep_smtp_client_tls_cache; /* ca_file ("" for the system store) -> CachedTls */

/* Trust anchors are loaded once per file (again when the file changes):
 * every client of the queue shares them. */
static EpTlsContext *
ep_smtp_client_get_tls_context (EpSmtpClient *self, GError **error)
{
	const char *key = self->ca_file != NULL ? self->ca_file : "";
	gint64 mtime = 0;
	goffset size = 0;
	CachedTls *cached;
	EpTlsContext *tls;

	if (self->tls_ctx != NULL)
		return g_object_ref (self->tls_ctx);
	if (self->ca_file != NULL) {
		struct stat st;
		if (stat (self->ca_file, &st) == 0) {
			mtime = (gint64) st.st_mtime;
			size = st.st_size;
		}
	}
	G_LOCK (ep_smtp_client_tls_cache);
	if (ep_smtp_client_tls_cache == NULL)
		ep_smtp_client_tls_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
								  (GDestroyNotify) cached_tls_free);
	cached = g_hash_table_lookup (ep_smtp_client_tls_cache, key);
	if (cached != NULL && cached->mtime == mtime && cached->size == size) {
		tls = g_object_ref (cached->tls);
		G_UNLOCK (ep_smtp_client_tls_cache);
		return tls;
	}
	tls = ep_tls_context_new_client (self->ca_file, error);
	if (tls != NULL) {
		cached = g_new0 (CachedTls, 1);
		cached->tls = g_object_ref (tls);
		cached->mtime = mtime;
		cached->size = size;
		g_hash_table_replace (ep_smtp_client_tls_cache, g_strdup (key), cached);
	}
	G_UNLOCK (ep_smtp_client_tls_cache);
	return tls;
}

/* ---- completing operations ---------------------------------------------- */

typedef struct {
	GTask *task;
	GError *error;
	gpointer result;
	GDestroyNotify result_free;
} Completion;

static gboolean
ep_smtp_client_completion_cb (gpointer data)
{
	Completion *c = data;

	if (c->error != NULL)
		g_task_return_error (c->task, c->error);
	else
		g_task_return_pointer (c->task, c->result, c->result_free);
	g_object_unref (c->task);
	g_free (c);
	return G_SOURCE_REMOVE;
}

/* Returns the task from an idle of its own; takes @error and @result. */
static void
ep_smtp_client_return (GTask *task, GError *error, gpointer result, GDestroyNotify result_free)
{
	Completion *c = g_new0 (Completion, 1);
	g_autoptr(GSource) idle = g_idle_source_new ();

	c->task = task;
	c->error = error;
	c->result = result;
	c->result_free = result_free;
	g_source_set_static_name (idle, "ep-smtp-client complete");
	g_source_set_callback (idle, ep_smtp_client_completion_cb, c, NULL);
	g_source_attach (idle, g_task_get_context (task));
}

static GTask *
ep_smtp_client_end_op (EpSmtpClient *self)
{
	ep_smtp_client_destroy_source (&self->timer);
	ep_smtp_client_destroy_source (&self->cancel_source);
	self->op = OP_NONE;
	return g_steal_pointer (&self->task);
}

/*
 * Ends the operation in progress with @error (taken), and the connection
 * with it: politely (QUIT) after a refusal the server made in order,
 * abruptly after anything else.  @reply (taken, nullable) is the refusal.
 */
static void
ep_smtp_client_fail (EpSmtpClient *self, EpSmtpReply *reply, GError *error)
{
	GTask *task;
	gboolean polite = reply != NULL && reply->code != 421 && self->phase == PHASE_SESSION;

	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "%s", error->message);
	g_queue_clear (&self->expect);
	ep_smtp_reply_parser_reset (self->parser);
	if (self->connect_cancellable != NULL)
		g_cancellable_cancel (self->connect_cancellable);
	ep_smtp_client_drop_connection (self, polite);
	self->phase = PHASE_CLOSED;
	g_clear_pointer (&self->send, ep_smtp_send_free);
	task = ep_smtp_client_end_op (self);
	if (task == NULL) {
		ep_smtp_reply_free (reply);
		g_error_free (error);
		return;
	}
	if (reply != NULL)
		g_task_set_task_data (task, reply, (GDestroyNotify) ep_smtp_reply_free);
	ep_smtp_client_return (task, error, NULL, NULL);
}

static void
ep_smtp_client_fail_temp (EpSmtpClient *self, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
ep_smtp_client_fail_temp (EpSmtpClient *self, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	ep_smtp_client_fail (self, NULL, g_error_new (EP_ERROR, EP_ERROR_TEMP, "%s: %s", self->peer, message));
}

/* The server refused: 4yz is EP_ERROR_TEMP, 5yz EP_ERROR_PERM, anything
 * else out of place a protocol error.  Takes @reply. */
static void
ep_smtp_client_fail_reply (EpSmtpClient *self, EpSmtpReply *reply, const char *what)
{
	g_autofree char *text = ep_smtp_reply_to_string (reply);
	EpError code;

	if (ep_smtp_reply_is_permanent (reply))
		code = EP_ERROR_PERM;
	else if (ep_smtp_reply_is_transient (reply))
		code = EP_ERROR_TEMP;
	else {
		ep_smtp_client_fail_temp (self, "unexpected reply to %s: %s", what, text);
		ep_smtp_reply_free (reply);
		return;
	}
	ep_smtp_client_fail (self, reply,
			     g_error_new (EP_ERROR, code, "%s refused %s: %s", self->peer, what, text));
}

/* ---- writing commands --------------------------------------------------- */

#define EXPECT_PACK(cmd, index) GUINT_TO_POINTER (((guint) (index) << 4) | (guint) (cmd))
#define EXPECT_CMD(packed)	((Cmd) (GPOINTER_TO_UINT (packed) & 0xf))
#define EXPECT_INDEX(packed)	(GPOINTER_TO_UINT (packed) >> 4)

static void
ep_smtp_client_expect (EpSmtpClient *self, Cmd cmd, guint index)
{
	gboolean was_empty = g_queue_is_empty (&self->expect);

	g_queue_push_tail (&self->expect, EXPECT_PACK (cmd, index));
	if (was_empty)
		ep_smtp_client_arm_timer (self);
}

/* Appends "@line\r\n" to @out (or writes it) and logs it. */
static void
ep_smtp_client_command (EpSmtpClient *self, GString *out, const char *log_line, const char *line)
{
	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "C: %s", log_line != NULL ? log_line : line);
	if (out != NULL) {
		g_string_append (out, line);
		g_string_append (out, "\r\n");
	} else {
		g_autofree char *full = g_strconcat (line, "\r\n", NULL);
		ep_connection_write (self->conn, full, strlen (full));
	}
}

static void
ep_smtp_client_send_command (EpSmtpClient *self, Cmd cmd, guint index, const char *line)
{
	ep_smtp_client_command (self, NULL, NULL, line);
	ep_smtp_client_expect (self, cmd, index);
}

/* ---- timers and cancellation -------------------------------------------- */

static const char *
ep_smtp_client_cmd_name (Cmd cmd)
{
	switch (cmd) {
	case CMD_GREETING:
		return "the greeting";
	case CMD_EHLO:
		return "EHLO";
	case CMD_HELO:
		return "HELO";
	case CMD_STARTTLS:
		return "STARTTLS";
	case CMD_AUTH:
		return "AUTH";
	case CMD_MAIL:
		return "MAIL FROM";
	case CMD_RCPT:
		return "RCPT TO";
	case CMD_DATA:
		return "DATA";
	case CMD_DATA_END:
		return "the end of the message";
	case CMD_BDAT:
		return "BDAT";
	case CMD_RSET:
		return "RSET";
	}
	return "a command";
}

static gboolean
ep_smtp_client_on_timer (gpointer data)
{
	EpSmtpClient *self = data;
	g_autoptr(EpSmtpClient) ref = g_object_ref (self);
	gpointer head = g_queue_peek_head (&self->expect);
	guint seconds = self->timer_seconds;

	ep_smtp_client_destroy_source (&self->timer);
	switch (self->phase) {
	case PHASE_CONNECTING:
		ep_smtp_client_fail_temp (self, "connecting timed out after %u s", seconds);
		break;
	case PHASE_TLS:
		ep_smtp_client_fail_temp (self, "the TLS handshake timed out after %u s", seconds);
		break;
	case PHASE_SESSION:
		if (self->send != NULL && (self->send->stream == STREAM_WRITING || self->send->stream == STREAM_FLUSHING))
			ep_smtp_client_fail_temp (self,
						  "timed out after %u s writing the message (%" G_GSIZE_FORMAT
						  " of %" G_GSIZE_FORMAT " octets taken)",
						  seconds, self->send->body_pos, g_bytes_get_size (self->send->message));
		else if (head != NULL && EXPECT_CMD (head) == CMD_GREETING)
			ep_smtp_client_fail_temp (self, "timed out after %u s waiting for the greeting", seconds);
		else
			ep_smtp_client_fail_temp (self, "timed out after %u s waiting for the reply to %s", seconds,
						  head != NULL ? ep_smtp_client_cmd_name (EXPECT_CMD (head)) : "?");
		break;
	default:
		break;
	}
	return G_SOURCE_REMOVE;
}

static void
ep_smtp_client_set_timer (EpSmtpClient *self, guint seconds)
{
	ep_smtp_client_destroy_source (&self->timer);
	self->timer_seconds = seconds;
	self->timer = g_timeout_source_new ((guint) MIN ((guint64) seconds * 1000, G_MAXUINT));
	g_source_set_static_name (self->timer, "ep-smtp-client timer");
	g_source_set_callback (self->timer, ep_smtp_client_on_timer, self, NULL);
	g_source_attach (self->timer, self->context);
}

/* The timer for what is awaited now. */
static void
ep_smtp_client_arm_timer (EpSmtpClient *self)
{
	gpointer head = g_queue_peek_head (&self->expect);

	if (head == NULL) {
		ep_smtp_client_destroy_source (&self->timer);
		return;
	}
	switch (EXPECT_CMD (head)) {
	case CMD_DATA:
		ep_smtp_client_set_timer (self, MIN (self->command_s, EP_SMTP_CLIENT_DATA_INIT_MAX));
		break;
	case CMD_DATA_END:
	case CMD_BDAT:
		if (self->send != NULL && self->send->stream != STREAM_DONE && self->send->stream != STREAM_NONE)
			ep_smtp_client_set_timer (self, MIN (self->command_s, EP_SMTP_CLIENT_DATA_BLOCK));
		else
			ep_smtp_client_set_timer (self, self->data_s);
		break;
	default:
		ep_smtp_client_set_timer (self, self->command_s);
		break;
	}
}

static gboolean
ep_smtp_client_on_cancelled (GCancellable *cancellable, gpointer data)
{
	EpSmtpClient *self = data;
	g_autoptr(EpSmtpClient) ref = g_object_ref (self);

	ep_smtp_client_destroy_source (&self->cancel_source);
	if (self->op != OP_NONE)
		ep_smtp_client_fail (self, NULL,
				     g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: cancelled", self->peer));
	return G_SOURCE_REMOVE;
}

static gboolean
ep_smtp_client_begin_op (EpSmtpClient *self, GTask *task, Op op, GCancellable *cancellable)
{
	if (g_task_return_error_if_cancelled (task))
		return FALSE;
	self->op = op;
	self->task = g_object_ref (task);
	if (cancellable != NULL) {
		self->cancel_source = g_cancellable_source_new (cancellable);
		g_source_set_static_name (self->cancel_source, "ep-smtp-client cancel");
		g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (ep_smtp_client_on_cancelled), self, NULL);
		g_source_attach (self->cancel_source, self->context);
	}
	return TRUE;
}

/* ---- connection callbacks ----------------------------------------------- */

static void
ep_smtp_client_on_input (EpConnection *conn, gpointer data)
{
	EpSmtpClient *self = data;
	g_autoptr(EpSmtpClient) ref = g_object_ref (self);

	while (self->conn == conn) {
		g_autoptr(EpSmtpReply) reply = NULL;
		g_autoptr(GError) error = NULL;
		const char *line = NULL;
		gsize len = 0;
		EpLineStatus status = ep_connection_read_line (conn, &line, &len);

		if (status == EP_LINE_NEED_MORE)
			return;
		if (status != EP_LINE_OK) {
			if (self->op == OP_NONE) {
				ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id,
					      "the server sent a malformed line while idle (%s): closing",
					      ep_line_status_to_string (status));
				self->broken = TRUE;
				self->phase = PHASE_CLOSED;
				ep_smtp_client_drop_connection (self, FALSE);
				return;
			}
			ep_smtp_client_fail_temp (self, "protocol error: %s at offset %" G_GSIZE_FORMAT
						  " of a reply line", ep_line_status_to_string (status), len);
			return;
		}
		if (!ep_smtp_reply_parser_feed (self->parser, line, len, &reply, &error)) {
			if (error == NULL)
				continue;
			if (self->op == OP_NONE) {
				ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "while idle: %s: closing",
					      error->message);
				self->broken = TRUE;
				self->phase = PHASE_CLOSED;
				ep_smtp_client_drop_connection (self, FALSE);
				return;
			}
			ep_smtp_client_fail_temp (self, "protocol error: %s", error->message);
			return;
		}
		ep_smtp_client_handle_reply (self, g_steal_pointer (&reply));
	}
}

static void
ep_smtp_client_on_closed (EpConnection *conn, const GError *error, gpointer data)
{
	EpSmtpClient *self = data;
	g_autoptr(EpSmtpClient) ref = g_object_ref (self);
	gpointer head = g_queue_peek_head (&self->expect);
	guint pending = ep_smtp_reply_parser_get_pending_lines (self->parser);
	Phase phase = self->phase;

	if (conn != self->conn)
		return;
	g_clear_object (&self->conn);
	if (phase == PHASE_TLS && self->tls_mode == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC)
		self->tls_failed = TRUE;
	if (self->op == OP_NONE) {
		ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "the connection closed%s%s",
			      error != NULL ? ": " : "", error != NULL ? error->message : "");
		self->phase = PHASE_CLOSED;
		return;
	}
	if (error != NULL && phase == PHASE_TLS)
		ep_smtp_client_fail_temp (self, "%s", error->message);
	else if (error != NULL)
		ep_smtp_client_fail_temp (self, "connection lost: %s", error->message);
	else if (pending > 0)
		ep_smtp_client_fail_temp (self, "the server closed the connection in the middle of a reply "
					  "(after %u line%s)", pending, pending == 1 ? "" : "s");
	else if (self->send != NULL && self->send->stream != STREAM_NONE && self->send->stream != STREAM_DONE)
		ep_smtp_client_fail_temp (self, "the server closed the connection while the message was being "
					  "written");
	else if (head != NULL)
		ep_smtp_client_fail_temp (self, "the server closed the connection before the reply to %s",
					  ep_smtp_client_cmd_name (EXPECT_CMD (head)));
	else
		ep_smtp_client_fail_temp (self, "the server closed the connection");
}

/* ---- connecting --------------------------------------------------------- */

static gboolean
ep_smtp_client_helo_name_valid (const char *name)
{
	gsize len = strlen (name);

	if (len == 0 || len > 255)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++)
		if (!g_ascii_isalnum (*p) && strchr ("-.[]:", *p) == NULL)
			return FALSE;
	return TRUE;
}

static void
ep_smtp_client_ready (EpSmtpClient *self)
{
	GTask *task;

	self->phase = PHASE_READY;
	task = ep_smtp_client_end_op (self);
	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "ready: %s%s%s", self->peer,
		      ep_smtp_client_is_tls (self) ? " over " : "",
		      ep_smtp_client_is_tls (self) ? ep_smtp_client_get_tls_version (self) : "");
	if (task != NULL)
		ep_smtp_client_return (task, NULL, self, NULL);
}

static void
ep_smtp_client_send_ehlo (EpSmtpClient *self)
{
	g_autofree char *line = g_strdup_printf ("EHLO %s", self->helo_name);
	ep_smtp_client_send_command (self, CMD_EHLO, 0, line);
}

static gboolean
ep_smtp_client_keyword_valid (const char *keyword)
{
	if (!g_ascii_isalnum (keyword[0]))
		return FALSE;
	for (const char *p = keyword; *p != '\0'; p++)
		if (!g_ascii_isalnum (*p) && *p != '-')
			return FALSE;
	return TRUE;
}

/* RFC 5321 §4.1.1.1: the first line names the server, each further line
 * is a keyword and its parameters. */
static void
ep_smtp_client_parse_ehlo (EpSmtpClient *self, const EpSmtpReply *reply)
{
	g_auto(GStrv) lines = g_strsplit (reply->text, "\n", 0);
	const char *size;

	g_hash_table_remove_all (self->extensions);
	self->size_limit = 0;
	for (guint i = 1; lines[i] != NULL; i++) {
		char *line = g_strstrip (lines[i]);
		char *space = strpbrk (line, " \t");
		g_autofree char *keyword = NULL;
		const char *params = "";

		if (space != NULL) {
			keyword = g_ascii_strup (line, space - line);
			params = space + 1;
			while (*params == ' ' || *params == '\t')
				params++;
		} else {
			keyword = g_ascii_strup (line, -1);
		}
		if (!ep_smtp_client_keyword_valid (keyword)) {
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "ignoring the EHLO line '%s'", line);
			continue;
		}
		if (!g_hash_table_contains (self->extensions, keyword))
			g_hash_table_insert (self->extensions, g_steal_pointer (&keyword), g_strdup (params));
	}
	size = g_hash_table_lookup (self->extensions, "SIZE");
	if (size != NULL && size[0] != '\0') {
		guint64 value = 0;
		if (g_ascii_string_to_unsigned (size, 10, 0, G_MAXSIZE, &value, NULL))
			self->size_limit = (gsize) value;
		else
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "ignoring SIZE '%s'", size);
	}
}

static gboolean
ep_smtp_client_mech_offered (EpSmtpClient *self, const char *mech)
{
	const char *params = g_hash_table_lookup (self->extensions, "AUTH");
	g_auto(GStrv) mechs = NULL;

	if (params == NULL)
		return FALSE;
	mechs = g_strsplit_set (params, " \t", 0);
	for (guint i = 0; mechs[i] != NULL; i++)
		if (g_ascii_strcasecmp (mechs[i], mech) == 0)
			return TRUE;
	return FALSE;
}

static void
ep_smtp_client_start_auth (EpSmtpClient *self)
{
	if (!ep_smtp_client_is_tls (self)) {
		/* never a credential in clear text, whatever the server offers */
		ep_smtp_client_fail_temp (self, "not sending credentials without TLS%s",
					  self->tls_failed ? " (STARTTLS failed)" : " (the server does not offer STARTTLS)");
		return;
	}
	if (!g_hash_table_contains (self->extensions, "AUTH")) {
		ep_smtp_client_fail_temp (self, "the server does not offer AUTH");
		return;
	}
	if (ep_smtp_client_mech_offered (self, "PLAIN")) {
		g_autoptr(GString) raw = g_string_new (NULL);
		g_autofree char *b64 = NULL;
		g_autofree char *line = NULL;

		/* RFC 4616: authzid NUL authcid NUL passwd */
		g_string_append_c (raw, '\0');
		g_string_append (raw, self->username);
		g_string_append_c (raw, '\0');
		g_string_append (raw, self->password != NULL ? self->password : "");
		b64 = g_base64_encode ((const guchar *) raw->str, raw->len);
		memset (raw->str, 0, raw->len);
		line = g_strdup_printf ("AUTH PLAIN %s", b64);
		self->auth_mech = AUTH_PLAIN;
		self->auth_step = 0;
		ep_smtp_client_command (self, NULL, "AUTH PLAIN (credentials)", line);
		memset (line, 0, strlen (line));
		memset (b64, 0, strlen (b64));
		ep_smtp_client_expect (self, CMD_AUTH, 0);
		return;
	}
	if (ep_smtp_client_mech_offered (self, "LOGIN")) {
		self->auth_mech = AUTH_LOGIN;
		self->auth_step = 0;
		ep_smtp_client_send_command (self, CMD_AUTH, 0, "AUTH LOGIN");
		return;
	}
	ep_smtp_client_fail_temp (self, "the server offers no AUTH mechanism this client has (offered: %s)",
				  (const char *) g_hash_table_lookup (self->extensions, "AUTH"));
}

/* After EHLO or HELO: STARTTLS, AUTH, or ready. */
static void
ep_smtp_client_after_hello (EpSmtpClient *self)
{
	if (!ep_smtp_client_is_tls (self) && self->tls_mode != EP_SMTP_CLIENT_TLS_NONE && !self->tls_failed) {
		if (g_hash_table_contains (self->extensions, "STARTTLS")) {
			ep_smtp_client_send_command (self, CMD_STARTTLS, 0, "STARTTLS");
			return;
		}
		if (self->tls_mode != EP_SMTP_CLIENT_TLS_OPPORTUNISTIC) {
			ep_smtp_client_fail_temp (self, "the server does not offer STARTTLS");
			return;
		}
	}
	if (self->username != NULL) {
		ep_smtp_client_start_auth (self);
		return;
	}
	ep_smtp_client_ready (self);
}

static void
ep_smtp_client_on_tls (GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(EpSmtpClient) self = data;
	g_autoptr(GError) error = NULL;
	EpConnection *conn = EP_CONNECTION (source);

	if (!ep_connection_start_tls_finish (conn, result, &error)) {
		if (conn != self->conn || self->phase != PHASE_TLS)
			return;
		if (self->tls_mode == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC)
			self->tls_failed = TRUE;
		ep_smtp_client_fail_temp (self, "%s", error->message);
		return;
	}
	if (conn != self->conn || self->phase != PHASE_TLS)
		return;
	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "TLS: %s %s", ep_connection_get_tls_version (conn),
		      ep_connection_get_tls_cipher (conn));
	/* RFC 3207 §4.2: nothing learnt before TLS counts after it */
	g_hash_table_remove_all (self->extensions);
	self->size_limit = 0;
	ep_smtp_reply_parser_reset (self->parser);
	self->phase = PHASE_SESSION;
	self->after_tls_ehlo = TRUE;
	ep_smtp_client_send_ehlo (self);
	ep_connection_resume_input (conn);
}

static void
ep_smtp_client_start_tls (EpSmtpClient *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpTlsContext) tls = ep_smtp_client_get_tls_context (self, &error);
	gsize extra;

	if (tls == NULL) {
		ep_smtp_client_fail (self, NULL, g_steal_pointer (&error));
		return;
	}
	/* RFC 3207 §6 (and CVE-2011-0411): what the server sent after its
	 * 220 is no answer to anything; the connection discards it */
	extra = ep_connection_get_input_buffered (self->conn);
	if (extra > 0)
		ep_log_message (EP_SMTP_CLIENT_LOG, self->session_id,
				"%s sent %" G_GSIZE_FORMAT " octets after its answer to STARTTLS: discarded",
				self->peer, extra);
	self->phase = PHASE_TLS;
	ep_smtp_client_set_timer (self, self->command_s);
	ep_connection_set_tls_client (self->conn, self->server_name,
				      self->tls_mode == EP_SMTP_CLIENT_TLS_VERIFY);
	ep_connection_start_tls_async (self->conn, tls, NULL, ep_smtp_client_on_tls, g_object_ref (self));
}

static void
ep_smtp_client_handle_connect_reply (EpSmtpClient *self, Cmd cmd, EpSmtpReply *reply)
{
	switch (cmd) {
	case CMD_GREETING:
		if (reply->code != 220) {
			ep_smtp_client_fail_reply (self, reply, "the connection");
			return;
		}
		{
			const char *text = reply->text;
			gsize len = strcspn (text, " \t\n");
			g_free (self->peer_name);
			self->peer_name = g_strndup (text, MIN (len, 255));
		}
		ep_smtp_reply_free (reply);
		ep_smtp_client_send_ehlo (self);
		return;
	case CMD_EHLO:
		if (ep_smtp_reply_is_positive (reply)) {
			ep_smtp_client_parse_ehlo (self, reply);
			ep_smtp_reply_free (reply);
			ep_smtp_client_after_hello (self);
			return;
		}
		if (ep_smtp_reply_is_permanent (reply) && !self->after_tls_ehlo && reply->code != 421 &&
		    (self->tls_mode == EP_SMTP_CLIENT_TLS_NONE || self->tls_mode == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC ||
		     self->tls_mode == EP_SMTP_CLIENT_TLS_IMPLICIT) &&
		    self->username == NULL) {
			/* RFC 5321 §4.1.4: an old server; no extension then */
			g_autofree char *line = g_strdup_printf ("HELO %s", self->helo_name);
			ep_smtp_reply_free (reply);
			ep_smtp_client_send_command (self, CMD_HELO, 0, line);
			return;
		}
		ep_smtp_client_fail_reply (self, reply, "EHLO");
		return;
	case CMD_HELO:
		if (!ep_smtp_reply_is_positive (reply)) {
			ep_smtp_client_fail_reply (self, reply, "HELO");
			return;
		}
		ep_smtp_reply_free (reply);
		g_hash_table_remove_all (self->extensions);
		self->size_limit = 0;
		ep_smtp_client_after_hello (self);
		return;
	case CMD_STARTTLS:
		if (reply->code == 220) {
			ep_smtp_reply_free (reply);
			ep_smtp_client_start_tls (self);
			return;
		}
		if (self->tls_mode == EP_SMTP_CLIENT_TLS_OPPORTUNISTIC && reply->code != 421 &&
		    (ep_smtp_reply_is_transient (reply) || ep_smtp_reply_is_permanent (reply))) {
			g_autofree char *text = ep_smtp_reply_to_string (reply);
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id,
				      "STARTTLS refused (%s): going on without TLS", text);
			ep_smtp_reply_free (reply);
			self->tls_failed = TRUE;
			ep_smtp_client_after_hello (self);
			return;
		}
		ep_smtp_client_fail_reply (self, reply, "STARTTLS");
		return;
	case CMD_AUTH:
		if (ep_smtp_reply_is_positive (reply)) {
			ep_smtp_reply_free (reply);
			ep_smtp_client_ready (self);
			return;
		}
		if (reply->code == 334 && self->auth_mech == AUTH_LOGIN && self->auth_step < 2) {
			const char *value = self->auth_step == 0 ? self->username
								 : (self->password != NULL ? self->password : "");
			g_autofree char *b64 = g_base64_encode ((const guchar *) value, strlen (value));
			ep_smtp_reply_free (reply);
			ep_smtp_client_command (self, NULL, self->auth_step == 0 ? "(user name)" : "(password)", b64);
			memset (b64, 0, strlen (b64));
			self->auth_step++;
			ep_smtp_client_expect (self, CMD_AUTH, self->auth_step);
			return;
		}
		if (reply->code == 334) {
			ep_smtp_reply_free (reply);
			ep_smtp_client_fail_temp (self, "AUTH: the server asks for more than the mechanism gives");
			return;
		}
		ep_smtp_client_fail_reply (self, reply, "AUTH");
		return;
	default:
		break;
	}
	ep_smtp_client_fail_temp (self, "a reply out of place (%s)", ep_smtp_client_cmd_name (cmd));
	ep_smtp_reply_free (reply);
}

static void
ep_smtp_client_on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(EpSmtpClient) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) sconn = NULL;

	sconn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
	if (self->phase != PHASE_CONNECTING) {
		/* timed out or cancelled meanwhile */
		if (sconn != NULL)
			g_io_stream_close (G_IO_STREAM (sconn), NULL, NULL);
		return;
	}
	g_clear_object (&self->connect_cancellable);
	if (sconn == NULL) {
		ep_smtp_client_fail_temp (self, "cannot connect: %s", error->message);
		return;
	}
	self->conn = ep_connection_new_client (sconn, EP_SMTP_CLIENT_LOG);
	ep_connection_set_max_line (self->conn, EP_SMTP_REPLY_MAX_LINE);
	ep_connection_set_handlers (self->conn, ep_smtp_client_on_input, NULL, ep_smtp_client_on_closed, self);
	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "connected to %s (connection %s)", self->peer,
		      ep_connection_get_session_id (self->conn));
	if (self->tls_mode == EP_SMTP_CLIENT_TLS_IMPLICIT) {
		g_autoptr(EpTlsContext) tls = ep_smtp_client_get_tls_context (self, &error);
		if (tls == NULL) {
			ep_smtp_client_fail (self, NULL, g_steal_pointer (&error));
			return;
		}
		ep_connection_set_tls_client (self->conn, self->server_name, TRUE);
		ep_connection_set_implicit_tls (self->conn, tls);
	}
	self->phase = PHASE_SESSION;
	ep_smtp_client_expect (self, CMD_GREETING, 0);
	ep_connection_start (self->conn);
}

void
ep_smtp_client_connect_async (EpSmtpClient *self, GInetSocketAddress *address, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree char *ip = NULL;
	gboolean verify;

	g_return_if_fail (EP_IS_SMTP_CLIENT (self));
	g_return_if_fail (G_IS_INET_SOCKET_ADDRESS (address));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_smtp_client_connect_async);

	ip = g_inet_address_to_string (g_inet_socket_address_get_address (address));
	g_free (self->peer);
	self->peer = g_strdup_printf ("[%s]:%u", ip, g_inet_socket_address_get_port (address));

	if (self->phase != PHASE_IDLE) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID,
					 "an SMTP client connects once; make a new one");
		return;
	}
	verify = self->tls_mode == EP_SMTP_CLIENT_TLS_VERIFY || self->tls_mode == EP_SMTP_CLIENT_TLS_IMPLICIT;
	if (!ep_smtp_client_helo_name_valid (self->helo_name)) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_CONFIG, "'%s' is not a name for EHLO",
					 self->helo_name);
		return;
	}
	if (self->username != NULL && self->tls_mode == EP_SMTP_CLIENT_TLS_NONE) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_CONFIG,
					 "AUTH needs TLS: credentials are never sent in clear text");
		return;
	}
	if (verify && self->server_name == NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_CONFIG,
					 "checking the server's certificate needs the name it must carry");
		return;
	}
	if (self->tls_mode != EP_SMTP_CLIENT_TLS_NONE) {
		/* a CA file that cannot be read is found before connecting */
		g_autoptr(GError) error = NULL;
		g_autoptr(EpTlsContext) tls = ep_smtp_client_get_tls_context (self, &error);
		if (tls == NULL) {
			g_task_return_error (task, g_steal_pointer (&error));
			return;
		}
	}
	self->context = g_main_context_ref_thread_default ();
	if (!ep_smtp_client_begin_op (self, task, OP_CONNECT, cancellable))
		return;

	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "connecting to %s", self->peer);
	self->phase = PHASE_CONNECTING;
	self->socket_client = g_socket_client_new ();
	/* mail goes straight to the MX, never through a proxy of the environment */
	g_socket_client_set_enable_proxy (self->socket_client, FALSE);
	self->connect_cancellable = g_cancellable_new ();
	ep_smtp_client_set_timer (self, self->connect_s);
	g_socket_client_connect_async (self->socket_client, G_SOCKET_CONNECTABLE (address), self->connect_cancellable,
				       ep_smtp_client_on_connected, g_object_ref (self));
}

gboolean
ep_smtp_client_connect_finish (EpSmtpClient *self, GAsyncResult *result, EpSmtpReply **reply, GError **error)
{
	EpSmtpReply *refusal;

	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), FALSE);
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

	refusal = g_task_get_task_data (G_TASK (result));
	if (reply != NULL)
		*reply = refusal != NULL ? ep_smtp_reply_copy (refusal) : NULL;
	return g_task_propagate_pointer (G_TASK (result), error) != NULL;
}

/* ---- transactions ------------------------------------------------------- */

static void
ep_smtp_client_complete_send (EpSmtpClient *self)
{
	Send *send = self->send;
	EpSmtpSendResult *result = g_steal_pointer (&send->result);
	GTask *task;

	/* when MAIL failed, that is every recipient's answer */
	if (!send->mail_ok) {
		g_ptr_array_set_size (result->rcpt, 0);
		for (guint i = 0; i < send->n_rcpt; i++)
			g_ptr_array_add (result->rcpt, ep_smtp_reply_copy (result->mail));
		g_clear_pointer (&result->data, ep_smtp_reply_free);
	}
	g_clear_pointer (&self->send, ep_smtp_send_free);
	g_queue_clear (&self->expect);
	task = ep_smtp_client_end_op (self);
	if (self->broken) {
		self->phase = PHASE_CLOSED;
		ep_smtp_client_drop_connection (self, FALSE);
	} else {
		self->phase = PHASE_READY;
	}
	if (task != NULL)
		ep_smtp_client_return (task, NULL, result, (GDestroyNotify) ep_smtp_send_result_free);
	else
		ep_smtp_send_result_free (result);
}

/* The transaction is over; RSET first when the server may still hold a
 * part of it. */
static void
ep_smtp_client_end_transaction (EpSmtpClient *self, gboolean rset)
{
	if (rset && !self->broken) {
		ep_smtp_client_send_command (self, CMD_RSET, 0, "RSET");
		return;
	}
	ep_smtp_client_complete_send (self);
}

static void
ep_smtp_client_stop_stream (EpSmtpClient *self)
{
	if (self->send == NULL || self->send->stream == STREAM_NONE)
		return;
	if (self->send->stream == STREAM_WRITING ||
	    (self->send->stream == STREAM_FLUSHING && self->conn != NULL &&
	     ep_connection_get_output_queued (self->conn) > 0))
		/* the server answered before the end: no telling where the
		 * stream stands for it */
		self->broken = TRUE;
	self->send->stream = STREAM_DONE;
	if (self->conn != NULL)
		ep_connection_set_drain_func (self->conn, 0, NULL, NULL);
}

static void
ep_smtp_client_on_drain (EpConnection *conn, gpointer data)
{
	EpSmtpClient *self = data;
	Send *send = self->send;

	if (send == NULL || conn != self->conn)
		return;
	switch (send->stream) {
	case STREAM_WRITING: {
		gsize total = g_bytes_get_size (send->message);
		gsize n = MIN (EP_SMTP_CLIENT_CHUNK, total - send->body_pos);
		const guint8 *data_ptr = g_bytes_get_data (send->message, NULL);
		g_autoptr(GByteArray) buf = g_byte_array_sized_new ((guint) (n + n / 16 + 8));

		ep_smtp_data_encoder_feed (&send->enc, data_ptr + send->body_pos, n, buf);
		send->body_pos += n;
		if (send->body_pos == total) {
			ep_smtp_data_encoder_finish (&send->enc, buf);
			send->stream = STREAM_FLUSHING;
			ep_connection_set_drain_func (conn, 0, ep_smtp_client_on_drain, self);
		}
		ep_connection_write (conn, buf->data, buf->len);
		/* progress: the stall timer starts again */
		ep_smtp_client_arm_timer (self);
		break;
	}
	case STREAM_FLUSHING:
		send->stream = STREAM_DONE;
		ep_connection_set_drain_func (conn, 0, NULL, NULL);
		/* now the final reply's own time */
		ep_smtp_client_arm_timer (self);
		break;
	default:
		ep_connection_set_drain_func (conn, 0, NULL, NULL);
		break;
	}
}

static void
ep_smtp_client_start_body (EpSmtpClient *self, gboolean bdat)
{
	Send *send = self->send;

	ep_smtp_data_encoder_init (&send->enc, !bdat);
	send->body_pos = 0;
	send->stream = STREAM_WRITING;
	if (bdat) {
		g_autofree char *line = g_strdup_printf ("BDAT %" G_GSIZE_FORMAT " LAST", send->size);
		ep_smtp_client_command (self, NULL, NULL, line);
		ep_smtp_client_expect (self, CMD_BDAT, 0);
	} else {
		ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "C: (message, %" G_GSIZE_FORMAT " octets)",
			      send->size);
		ep_smtp_client_expect (self, CMD_DATA_END, 0);
	}
	ep_smtp_client_arm_timer (self);
	ep_connection_set_drain_func (self->conn, EP_SMTP_CLIENT_LOW_WATER, ep_smtp_client_on_drain, self);
}

/* MAIL and RCPT replies are in: the message, or the end. */
static void
ep_smtp_client_after_rcpts (EpSmtpClient *self)
{
	Send *send = self->send;

	if (send->data_pipelined)
		return; /* its reply comes next */
	if (!send->mail_ok) {
		ep_smtp_client_end_transaction (self, FALSE);
		return;
	}
	if (send->n_accepted == 0) {
		ep_smtp_client_end_transaction (self, TRUE);
		return;
	}
	if (send->bdat) {
		ep_smtp_client_start_body (self, TRUE);
		return;
	}
	ep_smtp_client_send_command (self, CMD_DATA, 0, "DATA");
}

static void
ep_smtp_client_send_rcpt (EpSmtpClient *self, GString *out, guint index)
{
	g_autofree char *line = g_strdup_printf ("RCPT TO:<%s>", self->send->recipients[index]);

	ep_smtp_client_command (self, out, NULL, line);
	if (out == NULL)
		ep_smtp_client_expect (self, CMD_RCPT, index);
}

/* 421: the server is going away.  Whatever was not answered yet gets it. */
static void
ep_smtp_client_handle_421 (EpSmtpClient *self, EpSmtpReply *reply)
{
	Send *send = self->send;
	EpSmtpSendResult *result = send->result;

	self->broken = TRUE;
	ep_smtp_client_stop_stream (self);
	if (result->mail == NULL) {
		result->mail = ep_smtp_reply_copy (reply);
		send->mail_ok = FALSE;
	}
	while (result->rcpt->len < send->n_rcpt)
		g_ptr_array_add (result->rcpt, ep_smtp_reply_copy (reply));
	if (send->mail_ok && send->n_accepted > 0 && result->data == NULL)
		result->data = ep_smtp_reply_copy (reply);
	ep_smtp_reply_free (reply);
	ep_smtp_client_complete_send (self);
}

static void
ep_smtp_client_handle_send_reply (EpSmtpClient *self, Cmd cmd, guint index, EpSmtpReply *reply)
{
	Send *send = self->send;
	EpSmtpSendResult *result = send->result;

	if (reply->code == 421 && cmd != CMD_RSET) {
		ep_smtp_client_handle_421 (self, reply);
		return;
	}
	switch (cmd) {
	case CMD_MAIL:
		send->mail_ok = ep_smtp_reply_is_positive (reply);
		result->mail = reply;
		if (!send->pipelined) {
			if (send->mail_ok)
				ep_smtp_client_send_rcpt (self, NULL, 0);
			else
				ep_smtp_client_end_transaction (self, FALSE);
		}
		return;
	case CMD_RCPT:
		if (index != result->rcpt->len) {
			ep_smtp_reply_free (reply);
			break;
		}
		if (send->mail_ok && ep_smtp_reply_is_positive (reply))
			send->n_accepted++;
		g_ptr_array_add (result->rcpt, reply);
		if (index + 1 < send->n_rcpt) {
			if (!send->pipelined)
				ep_smtp_client_send_rcpt (self, NULL, index + 1);
			return;
		}
		ep_smtp_client_after_rcpts (self);
		return;
	case CMD_DATA:
		if (reply->code == 354) {
			ep_smtp_reply_free (reply);
			if (send->mail_ok && send->n_accepted > 0) {
				ep_smtp_client_start_body (self, FALSE);
			} else {
				/* RFC 2920 §3.1: nobody to deliver to, but the
				 * server waits for a message: an empty one */
				ep_smtp_client_command (self, NULL, NULL, ".");
				ep_smtp_client_expect (self, CMD_DATA_END, 0);
			}
			return;
		}
		if (send->mail_ok && send->n_accepted > 0)
			result->data = reply;
		else
			ep_smtp_reply_free (reply);
		ep_smtp_client_end_transaction (self, send->mail_ok);
		return;
	case CMD_DATA_END:
	case CMD_BDAT:
		ep_smtp_client_stop_stream (self);
		if (send->mail_ok && send->n_accepted > 0) {
			gboolean failed = !ep_smtp_reply_is_positive (reply);
			result->data = reply;
			/* RFC 3030 §2: after a refused chunk the transaction is in doubt */
			ep_smtp_client_end_transaction (self, cmd == CMD_BDAT && failed);
		} else {
			ep_smtp_reply_free (reply);
			ep_smtp_client_end_transaction (self, FALSE);
		}
		return;
	case CMD_RSET:
		if (!ep_smtp_reply_is_positive (reply)) {
			g_autofree char *text = ep_smtp_reply_to_string (reply);
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "RSET refused (%s): closing", text);
			self->broken = TRUE;
		}
		ep_smtp_reply_free (reply);
		ep_smtp_client_complete_send (self);
		return;
	default:
		ep_smtp_reply_free (reply);
		break;
	}
	ep_smtp_client_fail_temp (self, "a reply out of place (%s)", ep_smtp_client_cmd_name (cmd));
}

static void
ep_smtp_client_handle_reply (EpSmtpClient *self, EpSmtpReply *reply)
{
	g_autofree char *text = ep_smtp_reply_to_string (reply);
	gpointer head;

	ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "S: %s", text);
	head = g_queue_pop_head (&self->expect);
	if (head == NULL) {
		ep_smtp_reply_free (reply);
		if (self->op == OP_NONE) {
			/* typically 421 on the server's idle timeout */
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "unsolicited reply: closing");
			self->broken = TRUE;
			self->phase = PHASE_CLOSED;
			ep_smtp_client_drop_connection (self, FALSE);
			return;
		}
		ep_smtp_client_fail_temp (self, "a reply to no command: %s", text);
		return;
	}
	ep_smtp_client_arm_timer (self);
	if (self->op == OP_SEND && self->send != NULL)
		ep_smtp_client_handle_send_reply (self, EXPECT_CMD (head), EXPECT_INDEX (head), reply);
	else
		ep_smtp_client_handle_connect_reply (self, EXPECT_CMD (head), reply);
}

/* Control characters would end the command early; non-ASCII needs SMTPUTF8. */
static gboolean
ep_smtp_client_address_valid (const char *address, gboolean smtputf8, GError **error)
{
	gsize len = strlen (address);

	if (len > EP_SMTP_CLIENT_MAX_ADDRESS) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "an address of %" G_GSIZE_FORMAT " octets", len);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar) address[i];
		if (c < 0x20 || c == 0x7f) {
			g_autofree char *escaped = g_strescape (address, NULL);
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "a control character in the address '%s'",
				     escaped);
			return FALSE;
		}
		if (c >= 0x80 && !smtputf8) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "a non-ASCII address needs SMTPUTF8");
			return FALSE;
		}
	}
	if (smtputf8 && !g_utf8_validate (address, (gssize) len, NULL)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "an address that is not UTF-8");
		return FALSE;
	}
	return TRUE;
}

static gsize
ep_smtp_client_message_size (GBytes *message)
{
	EpSmtpDataEncoder enc;
	gsize size = 0;
	const guint8 *data = g_bytes_get_data (message, &size);

	ep_smtp_data_encoder_init (&enc, FALSE);
	size = ep_smtp_data_encoder_feed (&enc, data, size, NULL);
	return size + ep_smtp_data_encoder_finish (&enc, NULL);
}

/* Every recipient gets @reply (taken) without anything sent. */
static EpSmtpSendResult *
ep_smtp_client_local_refusal (guint n_rcpt, EpSmtpReply *reply)
{
	EpSmtpSendResult *result = ep_smtp_send_result_new ();

	for (guint i = 0; i < n_rcpt; i++)
		g_ptr_array_add (result->rcpt, ep_smtp_reply_copy (reply));
	result->mail = reply;
	return result;
}

void
ep_smtp_client_send_async (EpSmtpClient *self, const char *sender, const char *const *recipients, GBytes *message,
			   gboolean body_8bit, gboolean smtputf8, GCancellable *cancellable,
			   GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) mail = NULL;
	g_autoptr(GString) batch = NULL;
	Send *send;
	guint n_rcpt;

	g_return_if_fail (EP_IS_SMTP_CLIENT (self));
	g_return_if_fail (sender != NULL);
	g_return_if_fail (recipients != NULL);
	g_return_if_fail (message != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_smtp_client_send_async);

	if (self->phase != PHASE_READY || self->broken || self->conn == NULL || self->op != OP_NONE) {
		if (self->phase == PHASE_CLOSED || self->broken)
			g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP, "%s: the connection is closed",
						 self->peer != NULL ? self->peer : "smtp");
		else
			g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID,
						 "the SMTP client is not ready for a transaction");
		return;
	}
	n_rcpt = g_strv_length ((char **) recipients);
	if (n_rcpt == 0) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "a transaction needs a recipient");
		return;
	}
	if (!ep_smtp_client_address_valid (sender, smtputf8, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	for (guint i = 0; i < n_rcpt; i++) {
		if (recipients[i][0] == '\0') {
			g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "an empty recipient address");
			return;
		}
		if (!ep_smtp_client_address_valid (recipients[i], smtputf8, &error)) {
			g_task_return_error (task, g_steal_pointer (&error));
			return;
		}
	}
	if (!ep_smtp_client_begin_op (self, task, OP_SEND, cancellable))
		return;

	send = g_new0 (Send, 1);
	send->sender = g_strdup (sender);
	send->recipients = g_strdupv ((char **) recipients);
	send->n_rcpt = n_rcpt;
	send->message = g_bytes_ref (message);
	send->size = ep_smtp_client_message_size (message);
	send->body_8bit = body_8bit;
	send->smtputf8 = smtputf8;
	send->result = ep_smtp_send_result_new ();

	/* what this server cannot take is refused here, for every recipient */
	{
		EpSmtpReply *refusal = NULL;
		if (self->size_limit > 0 && send->size > self->size_limit)
			refusal = ep_smtp_reply_new (552, "5.3.4",
						     "Message size exceeds the fixed maximum message size of the "
						     "receiving server");
		else if (body_8bit && !ep_smtp_client_has_extension (self, "8BITMIME"))
			refusal = ep_smtp_reply_new (554, "5.6.3",
						     "Conversion required but not supported: 8-bit message and the "
						     "receiving server does not offer 8BITMIME");
		else if (smtputf8 && !ep_smtp_client_has_extension (self, "SMTPUTF8"))
			refusal = ep_smtp_reply_new (553, "5.6.7",
						     "The message needs SMTPUTF8 and the receiving server does not "
						     "offer it");
		if (refusal != NULL) {
			g_autofree char *text = ep_smtp_reply_to_string (refusal);
			GTask *own = ep_smtp_client_end_op (self);
			ep_log_debug (EP_SMTP_CLIENT_LOG, self->session_id, "not sent: %s", text);
			ep_smtp_client_return (own, NULL, ep_smtp_client_local_refusal (n_rcpt, refusal),
					       (GDestroyNotify) ep_smtp_send_result_free);
			ep_smtp_send_free (send);
			return;
		}
	}
	self->send = send;
	self->phase = PHASE_SESSION;
	send->pipelined = ep_smtp_client_has_extension (self, "PIPELINING");
	send->bdat = ep_smtp_client_has_extension (self, "CHUNKING");

	mail = g_string_new (NULL);
	g_string_printf (mail, "MAIL FROM:<%s>", sender);
	if (ep_smtp_client_has_extension (self, "SIZE"))
		g_string_append_printf (mail, " SIZE=%" G_GSIZE_FORMAT, send->size);
	if (body_8bit)
		g_string_append (mail, " BODY=8BITMIME");
	if (smtputf8)
		g_string_append (mail, " SMTPUTF8");

	if (!send->pipelined) {
		ep_smtp_client_send_command (self, CMD_MAIL, 0, mail->str);
		return;
	}
	/* RFC 2920: the whole envelope (and DATA) in one write */
	batch = g_string_new (NULL);
	ep_smtp_client_command (self, batch, NULL, mail->str);
	ep_smtp_client_expect (self, CMD_MAIL, 0);
	for (guint i = 0; i < n_rcpt; i++) {
		ep_smtp_client_send_rcpt (self, batch, i);
		ep_smtp_client_expect (self, CMD_RCPT, i);
	}
	if (!send->bdat) {
		ep_smtp_client_command (self, batch, NULL, "DATA");
		ep_smtp_client_expect (self, CMD_DATA, 0);
		send->data_pipelined = TRUE;
	}
	ep_connection_write (self->conn, batch->str, batch->len);
}

EpSmtpSendResult *
ep_smtp_client_send_finish (EpSmtpClient *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- the rest ----------------------------------------------------------- */

void
ep_smtp_client_quit (EpSmtpClient *self)
{
	g_autoptr(EpSmtpClient) ref = NULL;

	g_return_if_fail (EP_IS_SMTP_CLIENT (self));

	ref = g_object_ref (self);
	if (self->op != OP_NONE) {
		ep_smtp_client_fail (self, NULL,
				     g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: the client quit",
						  self->peer != NULL ? self->peer : "smtp"));
		return;
	}
	ep_smtp_client_drop_connection (self, self->phase == PHASE_READY && !self->broken);
	self->phase = PHASE_CLOSED;
}

gboolean
ep_smtp_client_is_usable (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), FALSE);
	return self->phase == PHASE_READY && !self->broken && self->op == OP_NONE && self->conn != NULL &&
	       !ep_connection_is_closed (self->conn);
}

gboolean
ep_smtp_client_is_tls (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), FALSE);
	return self->conn != NULL && ep_connection_is_tls (self->conn);
}

const char *
ep_smtp_client_get_tls_version (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	return self->conn != NULL ? ep_connection_get_tls_version (self->conn) : NULL;
}

const char *
ep_smtp_client_get_tls_cipher (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	return self->conn != NULL ? ep_connection_get_tls_cipher (self->conn) : NULL;
}

gboolean
ep_smtp_client_get_tls_failed (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), FALSE);
	return self->tls_failed;
}

GPtrArray *
ep_smtp_client_get_peer_certificates (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	return self->conn != NULL ? ep_connection_get_peer_certificates (self->conn) : NULL;
}

const char *
ep_smtp_client_get_peer_name (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	return self->peer_name;
}

gsize
ep_smtp_client_get_size_limit (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), 0);
	return self->size_limit;
}

const char *
ep_smtp_client_get_extension (EpSmtpClient *self, const char *keyword)
{
	g_autofree char *upper = NULL;

	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	g_return_val_if_fail (keyword != NULL, NULL);
	upper = g_ascii_strup (keyword, -1);
	return g_hash_table_lookup (self->extensions, upper);
}

gboolean
ep_smtp_client_has_extension (EpSmtpClient *self, const char *keyword)
{
	return ep_smtp_client_get_extension (self, keyword) != NULL;
}

const char *
ep_smtp_client_get_session_id (EpSmtpClient *self)
{
	g_return_val_if_fail (EP_IS_SMTP_CLIENT (self), NULL);
	return self->session_id;
}
