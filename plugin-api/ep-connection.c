/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <gio/gnetworking.h>
#include <glib-unix.h>
#include <glib/gprintf.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep-connection.h"
#include "ep-error.h"
#include "ep-log.h"
#include "ep-tls-private.h"

/*
 * Life of a connection:
 *
 *   NEW --start()--> OPEN --close()--> CLOSING --> CLOSED
 *                      \---- error, peer gone, abort() ---/
 *
 * CLOSING writes what is queued, sends the TLS close_notify, shuts the
 * write side down and reads (and drops) what the client still sends for a
 * moment, so that the kernel does not answer unread input with a reset that
 * would destroy our last answer in flight.  The whole of CLOSING is bounded.
 *
 * The closed function is always called from its own main-loop dispatch,
 * never from inside a call the owner made (close(), abort(), write()...):
 * an owner that frees its state in the closed function cannot find it gone
 * half-way through its own code.
 *
 * References: the owner's reference keeps the connection alive while it is
 * OPEN; dropping the last one closes the socket silently.  Once close() was
 * called the connection keeps itself alive until the closed function ran,
 * so "close and forget" works.  Every callback runs with a temporary
 * reference, so an owner may drop its reference inside any callback.
 */

#define EP_CONNECTION_READ_CHUNK      (16 * 1024)
#define EP_CONNECTION_INPUT_CAP       (64 * 1024)
#define EP_CONNECTION_TLS_RECORD      (16 * 1024)
#define EP_CONNECTION_MAX_ROUNDS      8
#define EP_CONNECTION_CLOSE_WAIT_USEC (5 * G_USEC_PER_SEC)
#define EP_CONNECTION_LINGER_USEC     (2 * G_USEC_PER_SEC)

typedef enum {
	EP_CONN_NEW,
	EP_CONN_OPEN,
	EP_CONN_CLOSING,
	EP_CONN_CLOSED,
} EpConnState;

typedef enum {
	EP_CLOSE_FLUSH,  /* writing what is queued */
	EP_CLOSE_BYE,    /* TLS close_notify */
	EP_CLOSE_LINGER, /* write side shut, dropping input until EOF */
} EpClosePhase;

typedef enum {
	EP_TLS_NONE,
	EP_TLS_STARTTLS_FLUSH, /* writing the plain-text answer before the handshake */
	EP_TLS_HANDSHAKE,
	EP_TLS_ON,
} EpTlsState;

/* results of the low-level read and write */
#define EP_IO_AGAIN (-1)
#define EP_IO_ERROR (-2)

typedef struct {
	GSource source;
	EpConnection *conn; /* not owned: the connection destroys its sources */
	void (*fire) (EpConnection *conn);
} EpConnSource;

struct _EpConnection {
	GObject parent_instance;

	GSocketConnection *socket_conn;
	GSocket *socket;
	int fd;
	GMainContext *context;
	char *protocol;
	char *session_id;
	char *peer_ip;
	GInetSocketAddress *peer_address;  /* nullable */
	GInetSocketAddress *local_address; /* nullable */
	gboolean counted;
	gboolean client; /* made by ep_connection_new_client() */

	EpConnectionInputFunc input_func;
	EpConnectionTimeoutFunc timeout_func;
	EpConnectionClosedFunc closed_func;
	gpointer user_data;

	EpConnState state;
	EpClosePhase close_phase;
	gboolean closing_ref; /* holds a reference on itself while CLOSING */
	gint64 close_deadline;
	GError *close_error;

	/* input: unread octets are in->data[in_pos .. in->len) */
	GByteArray *in;
	gsize in_pos;
	gsize max_line;
	gboolean user_paused;
	gboolean input_dirty; /* new input or a resume since the input function last ran */
	gboolean eof;
	gboolean in_pump;

	/* output: unsent octets are out->data[out_pos .. out->len) */
	GByteArray *out;
	gsize out_pos;
	gsize output_limit;
	gboolean output_paused;
	EpConnectionDrainFunc drain_func;
	gpointer drain_data;
	gsize drain_low_water;

	/* sources */
	GSource *io_source;
	gpointer io_tag;
	GIOCondition io_events;
	GSource *idle_timer;
	GSource *total_timer;
	GSource *close_timer;
	GSource *pump_source;
	GSource *closed_source;
	guint idle_timeout;
	guint total_timeout;
	gint64 start_time;

	/* TLS */
	EpTlsContext *tls_ctx;
	gboolean implicit_tls;
	gnutls_session_t tls;
	EpTlsState tls_state;
	GTask *starttls_task;
	gsize tls_send_pending; /* a record_send returned AGAIN for this many octets */
	gboolean tls_recv_wants_write;
	gboolean tls_send_wants_read;
	gboolean tls_handshake_wants_write;
	char *tls_version;
	char *tls_cipher;
	char *tls_server_name;
	gboolean tls_resumed;
	char *tls_peer_name; /* client side: SNI and the name to verify */
	gboolean tls_verify;
	GPtrArray *peer_certs; /* of GBytes (DER), nullable */
};

G_DEFINE_TYPE (EpConnection, ep_connection, G_TYPE_OBJECT)

static void ep_connection_update_watch (EpConnection *self);
static void ep_connection_finish (EpConnection *self, GError *error);
static void ep_connection_schedule_pump (EpConnection *self);
static void ep_connection_close_step (EpConnection *self);
static void ep_connection_do_handshake (EpConnection *self);
static void ep_connection_rearm_idle (EpConnection *self);

/* ---- per-peer counting (main thread only) ------------------------------- */

static GHashTable *ep_connection_peers; /* peer IP -> count */

static void
ep_connection_peer_add (EpConnection *self)
{
	guint n;

	if (ep_connection_peers == NULL)
		ep_connection_peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	n = GPOINTER_TO_UINT (g_hash_table_lookup (ep_connection_peers, self->peer_ip));
	g_hash_table_replace (ep_connection_peers, g_strdup (self->peer_ip), GUINT_TO_POINTER (n + 1));
	self->counted = TRUE;
}

static void
ep_connection_peer_remove (EpConnection *self)
{
	guint n;

	if (!self->counted)
		return;
	self->counted = FALSE;
	n = GPOINTER_TO_UINT (g_hash_table_lookup (ep_connection_peers, self->peer_ip));
	if (n <= 1)
		g_hash_table_remove (ep_connection_peers, self->peer_ip);
	else
		g_hash_table_replace (ep_connection_peers, g_strdup (self->peer_ip), GUINT_TO_POINTER (n - 1));
	if (g_hash_table_size (ep_connection_peers) == 0)
		g_clear_pointer (&ep_connection_peers, g_hash_table_unref);
}

/* ---- sources ------------------------------------------------------------ */

static gboolean
ep_conn_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
	EpConnSource *s = (EpConnSource *) source;
	g_autoptr(EpConnection) conn = g_object_ref (s->conn);

	/* timers and idles are one-shot until armed again */
	g_source_set_ready_time (source, -1);
	s->fire (conn);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs ep_conn_source_funcs = {
	.dispatch = ep_conn_source_dispatch,
};

static GSource *
ep_connection_source_new (EpConnection *self, void (*fire) (EpConnection *), const char *name)
{
	GSource *source = g_source_new (&ep_conn_source_funcs, sizeof (EpConnSource));
	EpConnSource *s = (EpConnSource *) source;

	s->conn = self;
	s->fire = fire;
	g_source_set_static_name (source, name);
	g_source_set_ready_time (source, -1);
	g_source_attach (source, self->context);
	return source;
}

static void
ep_connection_destroy_source (GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy (*source);
	g_source_unref (*source);
	*source = NULL;
}

static void
ep_connection_arm (GSource *source, guint seconds)
{
	if (source == NULL)
		return;
	if (seconds == 0)
		g_source_set_ready_time (source, -1);
	else
		g_source_set_ready_time (source, g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC);
}

/* ---- object ------------------------------------------------------------- */

static void
ep_connection_teardown (EpConnection *self)
{
	ep_connection_destroy_source (&self->io_source);
	self->io_tag = NULL;
	ep_connection_destroy_source (&self->idle_timer);
	ep_connection_destroy_source (&self->total_timer);
	ep_connection_destroy_source (&self->close_timer);
	ep_connection_destroy_source (&self->pump_source);
	if (self->tls != NULL) {
		gnutls_deinit (self->tls);
		self->tls = NULL;
	}
	if (self->socket != NULL && !g_socket_is_closed (self->socket))
		g_socket_close (self->socket, NULL);
	self->fd = -1;
	ep_connection_peer_remove (self);
}

static void
ep_connection_dispose (GObject *object)
{
	EpConnection *self = EP_CONNECTION (object);

	if (self->state != EP_CONN_CLOSED) {
		ep_log_debug (self->protocol, self->session_id, "connection dropped by its owner");
		self->state = EP_CONN_CLOSED;
	}
	ep_connection_teardown (self);
	ep_connection_destroy_source (&self->closed_source);
	G_OBJECT_CLASS (ep_connection_parent_class)->dispose (object);
}

static void
ep_connection_finalize (GObject *object)
{
	EpConnection *self = EP_CONNECTION (object);

	g_clear_object (&self->socket_conn);
	g_clear_object (&self->socket);
	g_clear_pointer (&self->context, g_main_context_unref);
	g_free (self->protocol);
	g_free (self->session_id);
	g_free (self->peer_ip);
	g_clear_object (&self->peer_address);
	g_clear_object (&self->local_address);
	g_clear_error (&self->close_error);
	g_byte_array_unref (self->in);
	g_byte_array_unref (self->out);
	g_clear_object (&self->tls_ctx);
	g_free (self->tls_version);
	g_free (self->tls_cipher);
	g_free (self->tls_server_name);
	g_free (self->tls_peer_name);
	g_clear_pointer (&self->peer_certs, g_ptr_array_unref);
	G_OBJECT_CLASS (ep_connection_parent_class)->finalize (object);
}

static void
ep_connection_class_init (EpConnectionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);
	object_class->dispose = ep_connection_dispose;
	object_class->finalize = ep_connection_finalize;
}

static void
ep_connection_init (EpConnection *self)
{
	self->fd = -1;
	self->in = g_byte_array_new ();
	self->out = g_byte_array_new ();
	self->max_line = 1022;
	self->output_limit = 256 * 1024;
}

static char *
ep_connection_address_to_string (GInetAddress *addr)
{
	/* an IPv4 client of a dual-stack socket counts as its IPv4 address */
	if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6) {
		const guint8 *b = g_inet_address_to_bytes (addr);
		static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp (b, mapped, sizeof (mapped)) == 0)
			return g_strdup_printf ("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
	}
	return g_inet_address_to_string (addr);
}

EpConnection *
ep_connection_new (GSocketConnection *socket_conn, const char *protocol)
{
	EpConnection *self;
	g_autoptr(GSocketAddress) remote = NULL;
	g_autoptr(GSocketAddress) local = NULL;

	g_return_val_if_fail (G_IS_SOCKET_CONNECTION (socket_conn), NULL);
	g_return_val_if_fail (protocol != NULL, NULL);

	self = g_object_new (EP_TYPE_CONNECTION, NULL);
	self->socket_conn = g_object_ref (socket_conn);
	self->socket = g_object_ref (g_socket_connection_get_socket (socket_conn));
	self->fd = g_socket_get_fd (self->socket);
	self->protocol = g_strdup (protocol);
	self->session_id = ep_log_new_session_id ();

	/* GSocket keeps its descriptor non-blocking whatever its "blocking" says */
	g_unix_set_fd_nonblocking (self->fd, TRUE, NULL);
	g_socket_set_option (self->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

	remote = g_socket_connection_get_remote_address (socket_conn, NULL);
	if (G_IS_INET_SOCKET_ADDRESS (remote)) {
		self->peer_address = G_INET_SOCKET_ADDRESS (g_object_ref (remote));
		self->peer_ip = ep_connection_address_to_string (
			g_inet_socket_address_get_address (self->peer_address));
	} else {
		self->peer_ip = g_strdup ("local");
	}
	local = g_socket_connection_get_local_address (socket_conn, NULL);
	if (G_IS_INET_SOCKET_ADDRESS (local))
		self->local_address = G_INET_SOCKET_ADDRESS (g_object_ref (local));
	ep_connection_peer_add (self);
	return self;
}

EpConnection *
ep_connection_new_client (GSocketConnection *socket_conn, const char *protocol)
{
	EpConnection *self = ep_connection_new (socket_conn, protocol);

	if (self == NULL)
		return NULL;
	/* the count is about this server's clients */
	ep_connection_peer_remove (self);
	self->client = TRUE;
	return self;
}

void
ep_connection_set_handlers (EpConnection *self, EpConnectionInputFunc input_func,
			    EpConnectionTimeoutFunc timeout_func, EpConnectionClosedFunc closed_func,
			    gpointer user_data)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	if (self->state == EP_CONN_CLOSED && self->closed_source == NULL)
		return;
	self->input_func = input_func;
	self->timeout_func = timeout_func;
	self->closed_func = closed_func;
	self->user_data = user_data;
}

const char *
ep_connection_get_session_id (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->session_id;
}

const char *
ep_connection_get_protocol (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->protocol;
}

GInetSocketAddress *
ep_connection_get_peer_address (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->peer_address;
}

GInetSocketAddress *
ep_connection_get_local_address (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->local_address;
}

const char *
ep_connection_get_peer_ip (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->peer_ip;
}

/**
 * ep_connection_count_peer:
 *
 * Returns: the connections from this peer's IP address that are open in
 * this process, this one included (0 once it is closed)
 */
guint
ep_connection_count_peer (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), 0);
	if (ep_connection_peers == NULL)
		return 0;
	return GPOINTER_TO_UINT (g_hash_table_lookup (ep_connection_peers, self->peer_ip));
}

gboolean
ep_connection_is_closed (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), TRUE);
	return self->state == EP_CONN_CLOSED;
}

/* ---- low-level I/O ------------------------------------------------------ */

static GError *
ep_connection_errno_error (const char *what, int err)
{
	return g_error_new (EP_ERROR, err == ETIMEDOUT ? EP_ERROR_TIMEOUT : EP_ERROR_TEMP, "%s: %s", what,
			    g_strerror (err));
}

static GError *
ep_connection_tls_error (EpConnection *self, const char *what, int ret)
{
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED) {
		const char *alert = gnutls_alert_get_name (gnutls_alert_get (self->tls));
		return g_error_new (EP_ERROR, EP_ERROR_INVALID, "%s: the %s sent the alert '%s'", what,
				    self->client ? "server" : "client", alert != NULL ? alert : "unknown");
	}
	if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t out = { NULL, 0 };
		unsigned int status = gnutls_session_get_verify_cert_status (self->tls);
		GError *error;

		if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &out, 0) < 0)
			out.data = NULL;
		error = g_error_new (EP_ERROR, EP_ERROR_INVALID, "%s: the %s's certificate is not accepted: %s",
				     what, self->client ? "server" : "client",
				     out.data != NULL ? (const char *) out.data : "verification failed");
		gnutls_free (out.data);
		return error;
	}
	return g_error_new (EP_ERROR, EP_ERROR_INVALID, "%s: %s", what, gnutls_strerror (ret));
}

static ssize_t
ep_connection_tls_push (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	EpConnection *self = ptr;
	ssize_t n = send (self->fd, data, len, MSG_NOSIGNAL);
	if (n < 0)
		gnutls_transport_set_errno (self->tls, errno);
	return n;
}

static ssize_t
ep_connection_tls_pull (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	EpConnection *self = ptr;
	ssize_t n = recv (self->fd, data, len, 0);
	if (n < 0)
		gnutls_transport_set_errno (self->tls, errno);
	return n;
}

static int
ep_connection_tls_pull_timeout (gnutls_transport_ptr_t ptr, unsigned int ms)
{
	EpConnection *self = ptr;
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	int r = poll (&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
	if (r < 0)
		gnutls_transport_set_errno (self->tls, errno);
	return r;
}

/* Returns octets read, 0 at the end of input, EP_IO_AGAIN or EP_IO_ERROR. */
static gssize
ep_connection_read_some (EpConnection *self, guint8 *buf, gsize len, GError **error)
{
	if (self->tls_state != EP_TLS_ON) {
		for (;;) {
			ssize_t n = recv (self->fd, buf, len, 0);
			if (n >= 0)
				return n;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return EP_IO_AGAIN;
			g_propagate_error (error, ep_connection_errno_error ("read failed", errno));
			return EP_IO_ERROR;
		}
	}
	for (;;) {
		ssize_t n = gnutls_record_recv (self->tls, buf, len);
		if (n >= 0) {
			self->tls_recv_wants_write = FALSE;
			return n;
		}
		switch (n) {
		case GNUTLS_E_INTERRUPTED:
			continue;
		case GNUTLS_E_AGAIN:
			self->tls_recv_wants_write = gnutls_record_get_direction (self->tls) == 1;
			return EP_IO_AGAIN;
		case GNUTLS_E_PREMATURE_TERMINATION:
			/* TCP closed without close_notify: the end of input all the same */
			return 0;
		case GNUTLS_E_REHANDSHAKE:
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "TLS renegotiation is not supported");
			return EP_IO_ERROR;
		default:
			if (!gnutls_error_is_fatal ((int) n))
				continue;
			g_propagate_error (error, ep_connection_tls_error (self, "TLS read failed", (int) n));
			return EP_IO_ERROR;
		}
	}
}

/* Returns octets written, EP_IO_AGAIN or EP_IO_ERROR. */
static gssize
ep_connection_write_some (EpConnection *self, const guint8 *buf, gsize len, GError **error)
{
	if (self->tls_state != EP_TLS_ON) {
		for (;;) {
			ssize_t n = send (self->fd, buf, len, MSG_NOSIGNAL);
			if (n >= 0)
				return n;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return EP_IO_AGAIN;
			g_propagate_error (error, ep_connection_errno_error ("write failed", errno));
			return EP_IO_ERROR;
		}
	}
	for (;;) {
		ssize_t n;
		if (self->tls_send_pending > 0)
			n = gnutls_record_send (self->tls, NULL, 0);
		else
			n = gnutls_record_send (self->tls, buf, MIN (len, EP_CONNECTION_TLS_RECORD));
		if (n >= 0) {
			self->tls_send_pending = 0;
			self->tls_send_wants_read = FALSE;
			return n;
		}
		if (self->tls_send_pending == 0)
			self->tls_send_pending = MIN (len, EP_CONNECTION_TLS_RECORD);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN) {
			self->tls_send_wants_read = gnutls_record_get_direction (self->tls) == 0;
			return EP_IO_AGAIN;
		}
		g_propagate_error (error, ep_connection_tls_error (self, "TLS write failed", (int) n));
		return EP_IO_ERROR;
	}
}

/* ---- the watch ---------------------------------------------------------- */

static gsize
ep_connection_buffered (EpConnection *self)
{
	return self->in->len - self->in_pos;
}

static gsize
ep_connection_queued (EpConnection *self)
{
	return self->out->len - self->out_pos;
}

static gsize
ep_connection_input_cap (EpConnection *self)
{
	return MAX (EP_CONNECTION_INPUT_CAP, self->max_line + 3);
}

static gboolean
ep_connection_want_read (EpConnection *self)
{
	return self->state == EP_CONN_OPEN && !self->eof &&
	       (self->tls_state == EP_TLS_NONE || self->tls_state == EP_TLS_ON) &&
	       ep_connection_buffered (self) < ep_connection_input_cap (self);
}

/* whether the input function may run and reads may return input */
static gboolean
ep_connection_input_open (EpConnection *self)
{
	return self->state == EP_CONN_OPEN && !self->output_paused &&
	       (self->tls_state == EP_TLS_NONE || self->tls_state == EP_TLS_ON);
}

static void
ep_connection_update_watch (EpConnection *self)
{
	GIOCondition events = 0;
	gboolean tls_wait = self->tls != NULL && self->tls_state != EP_TLS_NONE;

	if (self->io_source == NULL)
		return;
	if (self->state == EP_CONN_OPEN && self->tls_state == EP_TLS_HANDSHAKE) {
		events = self->tls_handshake_wants_write ? G_IO_OUT : G_IO_IN;
	} else if (self->state == EP_CONN_OPEN) {
		if (ep_connection_want_read (self)) {
			events |= tls_wait && self->tls_recv_wants_write ? G_IO_OUT : G_IO_IN;
			/* records GnuTLS has decrypted already: the descriptor
			 * will not announce them */
			if (self->tls_state == EP_TLS_ON && gnutls_record_check_pending (self->tls) > 0)
				ep_connection_schedule_pump (self);
		}
		if (ep_connection_queued (self) > 0)
			events |= tls_wait && self->tls_send_wants_read ? G_IO_IN : G_IO_OUT;
	} else if (self->state == EP_CONN_CLOSING) {
		switch (self->close_phase) {
		case EP_CLOSE_FLUSH:
			if (ep_connection_queued (self) > 0)
				events |= tls_wait && self->tls_send_wants_read ? G_IO_IN : G_IO_OUT;
			break;
		case EP_CLOSE_BYE:
			if (self->tls != NULL)
				events = gnutls_record_get_direction (self->tls) == 1 ? G_IO_OUT : G_IO_IN;
			break;
		case EP_CLOSE_LINGER:
			events = G_IO_IN;
			break;
		}
	}
	if (events != self->io_events) {
		self->io_events = events;
		g_source_modify_unix_fd (self->io_source, self->io_tag, events);
	}
}

static void ep_connection_on_pump (EpConnection *self);

static void
ep_connection_schedule_pump (EpConnection *self)
{
	if (self->state == EP_CONN_CLOSED || self->state == EP_CONN_NEW)
		return;
	if (self->pump_source == NULL)
		self->pump_source = ep_connection_source_new (self, ep_connection_on_pump, "ep-connection pump");
	g_source_set_ready_time (self->pump_source, 0);
}

/* ---- output ------------------------------------------------------------- */

static void ep_connection_start_handshake (EpConnection *self);

/* Writes what it can.  Returns FALSE when the connection ended. */
static gboolean
ep_connection_flush (EpConnection *self)
{
	/* what is queued during a handshake goes out encrypted after it */
	if (self->tls_state == EP_TLS_HANDSHAKE)
		return self->state != EP_CONN_CLOSED;
	while (ep_connection_queued (self) > 0) {
		g_autoptr(GError) error = NULL;
		gssize n = ep_connection_write_some (self, self->out->data + self->out_pos,
						     ep_connection_queued (self), &error);
		if (n == EP_IO_AGAIN)
			break;
		if (n == EP_IO_ERROR) {
			ep_log_debug (self->protocol, self->session_id, "%s", error->message);
			/* the peer is gone: what was queued cannot matter any more */
			ep_connection_finish (self, self->state == EP_CONN_CLOSING ? NULL : g_steal_pointer (&error));
			return FALSE;
		}
		self->out_pos += (gsize) n;
	}
	if (ep_connection_queued (self) == 0) {
		/* an idle connection keeps no output buffer either */
		if (self->out->len > 0) {
			g_byte_array_unref (self->out);
			self->out = g_byte_array_new ();
		}
		self->out_pos = 0;
		if (self->output_paused) {
			self->output_paused = FALSE;
			self->input_dirty = TRUE;
			ep_connection_schedule_pump (self);
		}
		if (self->state == EP_CONN_OPEN && self->tls_state == EP_TLS_STARTTLS_FLUSH)
			ep_connection_start_handshake (self);
	} else if (self->out_pos >= 64 * 1024 && self->out_pos >= self->out->len / 2) {
		g_byte_array_remove_range (self->out, 0, (guint) self->out_pos);
		self->out_pos = 0;
	}
	if (self->drain_func != NULL && self->state == EP_CONN_OPEN &&
	    (self->tls_state == EP_TLS_NONE || self->tls_state == EP_TLS_ON) &&
	    ep_connection_queued (self) <= self->drain_low_water)
		self->drain_func (self, self->drain_data);
	return self->state != EP_CONN_CLOSED;
}

void
ep_connection_write (EpConnection *self, const void *data, gsize len)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	g_return_if_fail (data != NULL || len == 0);

	if (self->state != EP_CONN_OPEN && self->state != EP_CONN_NEW)
		return;
	if (len == 0)
		return;
	g_byte_array_append (self->out, data, (guint) len);
	if (ep_connection_queued (self) > self->output_limit)
		self->output_paused = TRUE;
	ep_connection_update_watch (self);
}

void
ep_connection_write_bytes (EpConnection *self, GBytes *bytes)
{
	gsize len = 0;
	const void *data;

	g_return_if_fail (bytes != NULL);
	data = g_bytes_get_data (bytes, &len);
	ep_connection_write (self, data, len);
}

void
ep_connection_printf (EpConnection *self, const char *format, ...)
{
	va_list args;
	g_autofree char *text = NULL;
	int len;

	va_start (args, format);
	len = g_vasprintf (&text, format, args);
	va_end (args);
	if (len > 0)
		ep_connection_write (self, text, (gsize) len);
}

void
ep_connection_set_drain_func (EpConnection *self, gsize low_water, EpConnectionDrainFunc func, gpointer user_data)
{
	g_return_if_fail (EP_IS_CONNECTION (self));

	self->drain_func = func;
	self->drain_data = user_data;
	self->drain_low_water = low_water;
	/* the pump flushes, and the flush calls it */
	if (func != NULL && self->state == EP_CONN_OPEN)
		ep_connection_schedule_pump (self);
}

gsize
ep_connection_get_output_queued (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), 0);
	return ep_connection_queued (self);
}

void
ep_connection_set_output_limit (EpConnection *self, gsize limit)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	self->output_limit = limit;
}

/* ---- input -------------------------------------------------------------- */

/* Reads what it can.  Returns FALSE when the connection ended. */
static gboolean
ep_connection_fill (EpConnection *self)
{
	while (ep_connection_want_read (self)) {
		g_autoptr(GError) error = NULL;
		guint8 chunk[EP_CONNECTION_READ_CHUNK];
		gssize n;

		/* the lines handed out earlier are gone by now: an idle
		 * connection keeps no input buffer at all, a busy one moves the
		 * rest down */
		if (self->in_pos > 0 && self->in_pos == self->in->len) {
			g_byte_array_unref (self->in);
			self->in = g_byte_array_new ();
			self->in_pos = 0;
		} else if (self->in_pos > 0 && self->in_pos >= self->in->len / 2) {
			g_byte_array_remove_range (self->in, 0, (guint) self->in_pos);
			self->in_pos = 0;
		}
		/* read on the stack, keep only what arrived */
		n = ep_connection_read_some (self, chunk, sizeof (chunk), &error);
		if (n > 0) {
			g_byte_array_append (self->in, chunk, (guint)n);
			self->input_dirty = TRUE;
			ep_connection_rearm_idle (self);
			continue;
		}
		if (n == 0) {
			self->eof = TRUE;
			break;
		}
		if (n == EP_IO_AGAIN)
			break;
		ep_log_debug (self->protocol, self->session_id, "%s", error->message);
		ep_connection_finish (self, g_steal_pointer (&error));
		return FALSE;
	}
	return self->state != EP_CONN_CLOSED;
}

/* Reads and hands input to the input function until neither makes progress. */
static void
ep_connection_pump (EpConnection *self)
{
	guint round;

	if (self->in_pump) {
		ep_connection_schedule_pump (self);
		return;
	}
	/* the input function may drop the owner's reference */
	g_object_ref (self);
	self->in_pump = TRUE;
	for (round = 0; round < EP_CONNECTION_MAX_ROUNDS; round++) {
		gsize before;

		if (!ep_connection_fill (self) || self->state != EP_CONN_OPEN)
			break;
		if (!ep_connection_input_open (self) || self->user_paused || !self->input_dirty)
			break;
		self->input_dirty = FALSE;
		before = ep_connection_buffered (self);
		if (before == 0)
			break;
		if (self->input_func != NULL)
			self->input_func (self, self->user_data);
		if (self->state != EP_CONN_OPEN || ep_connection_buffered (self) >= before)
			break;
	}
	self->in_pump = FALSE;
	if (round == EP_CONNECTION_MAX_ROUNDS) {
		/* let other connections have their turn; TLS may hold records
		 * the descriptor does not announce */
		ep_connection_schedule_pump (self);
	}
	if (self->state == EP_CONN_OPEN && self->eof && !self->user_paused && !self->output_paused &&
	    self->tls_state != EP_TLS_HANDSHAKE && self->tls_state != EP_TLS_STARTTLS_FLUSH) {
		ep_log_debug (self->protocol, self->session_id, "the %s closed the connection",
			      self->client ? "server" : "client");
		ep_connection_close (self);
	}
	g_object_unref (self);
}

static void
ep_connection_on_pump (EpConnection *self)
{
	if (self->state == EP_CONN_OPEN) {
		if (self->tls_state == EP_TLS_HANDSHAKE) {
			ep_connection_do_handshake (self);
		} else {
			ep_connection_pump (self);
			if (self->state == EP_CONN_OPEN)
				ep_connection_flush (self);
		}
	} else if (self->state == EP_CONN_CLOSING) {
		ep_connection_close_step (self);
	}
	ep_connection_update_watch (self);
}

static gboolean
ep_connection_io_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
	EpConnSource *s = (EpConnSource *) source;
	g_autoptr(EpConnection) self = g_object_ref (s->conn);
	GIOCondition revents = g_source_query_unix_fd (source, self->io_tag);

	if (self->state == EP_CONN_OPEN && self->tls_state == EP_TLS_HANDSHAKE) {
		ep_connection_do_handshake (self);
	} else if (self->state == EP_CONN_OPEN) {
		if ((revents & (G_IO_OUT | G_IO_ERR | G_IO_HUP)) != 0 || self->tls_send_wants_read)
			if (!ep_connection_flush (self))
				return G_SOURCE_CONTINUE;
		ep_connection_pump (self);
		if (self->state == EP_CONN_OPEN)
			ep_connection_flush (self);
	} else if (self->state == EP_CONN_CLOSING) {
		ep_connection_close_step (self);
	}
	ep_connection_update_watch (self);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs ep_connection_io_funcs = {
	.dispatch = ep_connection_io_dispatch,
};

void
ep_connection_set_max_line (EpConnection *self, gsize max_line)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	self->max_line = max_line;
}

EpLineStatus
ep_connection_read_line (EpConnection *self, const char **line, gsize *line_len)
{
	EpLineStatus status;
	gsize len = 0;
	gsize consumed = 0;
	guint8 *data;

	g_return_val_if_fail (EP_IS_CONNECTION (self), EP_LINE_NEED_MORE);
	g_return_val_if_fail (line != NULL, EP_LINE_NEED_MORE);

	*line = NULL;
	if (line_len != NULL)
		*line_len = 0;
	if (!ep_connection_input_open (self))
		return EP_LINE_NEED_MORE;
	data = self->in->data + self->in_pos;
	status = ep_line_scan (data, ep_connection_buffered (self), self->max_line, &len, &consumed);
	if (line_len != NULL)
		*line_len = len;
	if (status != EP_LINE_OK)
		return status;
	/* the CR becomes the terminating NUL: the line is consumed anyway */
	data[len] = '\0';
	*line = (const char *) data;
	self->in_pos += consumed;
	return EP_LINE_OK;
}

GBytes *
ep_connection_read_bytes (EpConnection *self, gsize max)
{
	gsize n;
	GBytes *bytes;

	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	if (!ep_connection_input_open (self))
		return NULL;
	n = MIN (max, ep_connection_buffered (self));
	if (n == 0)
		return NULL;
	bytes = g_bytes_new (self->in->data + self->in_pos, n);
	self->in_pos += n;
	return bytes;
}

gsize
ep_connection_get_input_buffered (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), 0);
	return ep_connection_buffered (self);
}

void
ep_connection_pause_input (EpConnection *self)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	self->user_paused = TRUE;
	ep_connection_rearm_idle (self);
	ep_connection_update_watch (self);
}

void
ep_connection_resume_input (EpConnection *self)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	if (!self->user_paused)
		return;
	self->user_paused = FALSE;
	if (self->state != EP_CONN_OPEN)
		return;
	self->input_dirty = TRUE;
	ep_connection_rearm_idle (self);
	ep_connection_schedule_pump (self);
	ep_connection_update_watch (self);
}

/* ---- timeouts ----------------------------------------------------------- */

static gboolean
ep_connection_idle_counts (EpConnection *self)
{
	if (self->state != EP_CONN_OPEN || self->idle_timeout == 0)
		return FALSE;
	/* a handshake is waiting for the client even while input is paused */
	return !self->user_paused || self->tls_state == EP_TLS_HANDSHAKE ||
	       self->tls_state == EP_TLS_STARTTLS_FLUSH;
}

static void
ep_connection_rearm_idle (EpConnection *self)
{
	if (self->idle_timer == NULL)
		return;
	ep_connection_arm (self->idle_timer, ep_connection_idle_counts (self) ? self->idle_timeout : 0);
}

static void
ep_connection_timed_out (EpConnection *self, gboolean total)
{
	if (self->state != EP_CONN_OPEN)
		return;
	if (self->tls_state == EP_TLS_HANDSHAKE || self->tls_state == EP_TLS_STARTTLS_FLUSH) {
		/* nothing sensible can be said to the client mid-handshake */
		ep_connection_finish (self, g_error_new (EP_ERROR, EP_ERROR_TIMEOUT, "TLS handshake timed out"));
		return;
	}
	if (self->timeout_func != NULL) {
		self->timeout_func (self, total, self->user_data);
		return;
	}
	ep_log_debug (self->protocol, self->session_id, "%s timeout", total ? "total" : "idle");
	ep_connection_close (self);
}

static void
ep_connection_on_idle_timer (EpConnection *self)
{
	ep_connection_timed_out (self, FALSE);
}

static void
ep_connection_on_total_timer (EpConnection *self)
{
	ep_connection_timed_out (self, TRUE);
}

void
ep_connection_set_idle_timeout (EpConnection *self, guint seconds)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	self->idle_timeout = seconds;
	ep_connection_rearm_idle (self);
}

void
ep_connection_set_total_timeout (EpConnection *self, guint seconds)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	self->total_timeout = seconds;
	if (self->state != EP_CONN_OPEN || self->total_timer == NULL)
		return;
	if (seconds == 0)
		g_source_set_ready_time (self->total_timer, -1);
	else
		g_source_set_ready_time (self->total_timer, self->start_time + (gint64) seconds * G_USEC_PER_SEC);
}

/* ---- start and end ------------------------------------------------------ */

void
ep_connection_start (EpConnection *self)
{
	EpConnSource *s;

	g_return_if_fail (EP_IS_CONNECTION (self));
	g_return_if_fail (self->state == EP_CONN_NEW);

	self->state = EP_CONN_OPEN;
	self->start_time = g_get_monotonic_time ();
	self->context = g_main_context_ref_thread_default ();

	self->io_source = g_source_new (&ep_connection_io_funcs, sizeof (EpConnSource));
	s = (EpConnSource *) self->io_source;
	s->conn = self;
	g_source_set_static_name (self->io_source, "ep-connection io");
	self->io_tag = g_source_add_unix_fd (self->io_source, self->fd, 0);
	self->io_events = 0;
	g_source_attach (self->io_source, self->context);

	self->idle_timer = ep_connection_source_new (self, ep_connection_on_idle_timer, "ep-connection idle");
	self->total_timer = ep_connection_source_new (self, ep_connection_on_total_timer, "ep-connection total");
	ep_connection_arm (self->total_timer, self->total_timeout);
	ep_connection_rearm_idle (self);

	if (self->implicit_tls)
		ep_connection_start_handshake (self);
	else if (ep_connection_queued (self) > 0)
		ep_connection_schedule_pump (self);
	ep_connection_update_watch (self);
}

static void
ep_connection_on_closed (EpConnection *self)
{
	g_autoptr(GTask) task = g_steal_pointer (&self->starttls_task);
	EpConnectionClosedFunc closed_func = self->closed_func;
	gpointer user_data = self->user_data;

	ep_connection_destroy_source (&self->closed_source);
	if (task != NULL) {
		if (self->close_error != NULL)
			g_task_return_error (task, g_error_copy (self->close_error));
		else
			g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP,
						 "the connection closed during the TLS handshake");
	}
	self->input_func = NULL;
	self->timeout_func = NULL;
	self->closed_func = NULL;
	self->user_data = NULL;
	self->drain_func = NULL;
	self->drain_data = NULL;
	if (closed_func != NULL)
		closed_func (self, self->close_error, user_data);
	/* the reference the closing took */
	g_object_unref (self);
}

/* Ends the connection now; the closed function runs from an idle.  Takes
 * @error. */
static void
ep_connection_finish (EpConnection *self, GError *error)
{
	gboolean had_ref = self->closing_ref;

	if (self->state == EP_CONN_CLOSED) {
		g_clear_error (&error);
		return;
	}
	self->state = EP_CONN_CLOSED;
	self->closing_ref = FALSE;
	ep_connection_teardown (self);
	g_byte_array_set_size (self->out, 0);
	self->out_pos = 0;
	self->close_error = error;
	if (self->context == NULL)
		self->context = g_main_context_ref_thread_default ();
	/* the closing reference passes to the closed idle */
	if (!had_ref)
		g_object_ref (self);
	self->closed_source = ep_connection_source_new (self, ep_connection_on_closed, "ep-connection closed");
	g_source_set_ready_time (self->closed_source, 0);
}

static void
ep_connection_on_close_timer (EpConnection *self)
{
	if (self->state != EP_CONN_CLOSING)
		return;
	if (self->close_phase == EP_CLOSE_FLUSH && ep_connection_queued (self) > 0)
		ep_log_debug (self->protocol, self->session_id,
			      "closing: the client did not read %" G_GSIZE_FORMAT " octets in time",
			      ep_connection_queued (self));
	ep_connection_finish (self, NULL);
}

static void
ep_connection_close_step (EpConnection *self)
{
	if (self->state != EP_CONN_CLOSING)
		return;
	if (self->close_phase == EP_CLOSE_FLUSH) {
		if (!ep_connection_flush (self))
			return;
		if (ep_connection_queued (self) > 0)
			return;
		self->close_phase = EP_CLOSE_BYE;
	}
	if (self->close_phase == EP_CLOSE_BYE) {
		if (self->tls != NULL && self->tls_state == EP_TLS_ON) {
			int r;
			do
				r = gnutls_bye (self->tls, GNUTLS_SHUT_WR);
			while (r == GNUTLS_E_INTERRUPTED);
			if (r == GNUTLS_E_AGAIN)
				return;
		}
		if (self->eof) {
			ep_connection_finish (self, NULL);
			return;
		}
		shutdown (self->fd, SHUT_WR);
		self->close_phase = EP_CLOSE_LINGER;
		g_source_set_ready_time (self->close_timer,
					 MIN (self->close_deadline, g_get_monotonic_time () + EP_CONNECTION_LINGER_USEC));
	}
	/* EP_CLOSE_LINGER: drop what the client still sends until it closes */
	for (;;) {
		guint8 buf[4096];
		ssize_t n = recv (self->fd, buf, sizeof (buf), 0);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		ep_connection_finish (self, NULL);
		return;
	}
}

/**
 * ep_connection_close:
 *
 * Stops reading, writes what is queued (giving up after 5 seconds), shuts
 * TLS down and closes; then calls the closed function with no error.
 * Writes after this are ignored.  The connection keeps itself alive until
 * then: the owner may drop its reference at once.
 */
void
ep_connection_close (EpConnection *self)
{
	g_return_if_fail (EP_IS_CONNECTION (self));

	if (self->state == EP_CONN_CLOSING || self->state == EP_CONN_CLOSED)
		return;
	if (self->state == EP_CONN_NEW || self->tls_state == EP_TLS_HANDSHAKE) {
		ep_connection_finish (self, NULL);
		return;
	}
	self->state = EP_CONN_CLOSING;
	self->close_phase = EP_CLOSE_FLUSH;
	self->closing_ref = TRUE;
	g_object_ref (self);
	self->close_deadline = g_get_monotonic_time () + EP_CONNECTION_CLOSE_WAIT_USEC;
	ep_connection_arm (self->idle_timer, 0);
	ep_connection_arm (self->total_timer, 0);
	self->close_timer = ep_connection_source_new (self, ep_connection_on_close_timer, "ep-connection close");
	g_source_set_ready_time (self->close_timer, self->close_deadline);
	ep_connection_schedule_pump (self);
	ep_connection_update_watch (self);
}

void
ep_connection_abort (EpConnection *self)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	ep_connection_finish (self, NULL);
}

/* ---- TLS ---------------------------------------------------------------- */

void
ep_connection_set_implicit_tls (EpConnection *self, EpTlsContext *tls)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	g_return_if_fail (EP_IS_TLS_CONTEXT (tls));
	g_return_if_fail (self->state == EP_CONN_NEW);
	g_return_if_fail (ep_tls_context_is_client (tls) == self->client);

	g_set_object (&self->tls_ctx, tls);
	self->implicit_tls = TRUE;
}

static void
ep_connection_tls_established (EpConnection *self)
{
	char name[256];
	size_t name_len = sizeof (name) - 1;
	unsigned int type = 0;
	const char *suite;

	self->tls_state = EP_TLS_ON;
	g_free (self->tls_version);
	self->tls_version = g_strdup (ep_tls_version_name (gnutls_protocol_get_version (self->tls)));
	suite = gnutls_ciphersuite_get (self->tls);
	g_free (self->tls_cipher);
	self->tls_cipher = g_strdup (suite != NULL ? suite : "unknown");
	g_clear_pointer (&self->tls_server_name, g_free);
	if (gnutls_server_name_get (self->tls, name, &name_len, &type, 0) == GNUTLS_E_SUCCESS &&
	    type == GNUTLS_NAME_DNS) {
		name[MIN (name_len, sizeof (name) - 1)] = '\0';
		self->tls_server_name = g_strdup (name);
	}
	self->tls_resumed = gnutls_session_is_resumed (self->tls) != 0;
	g_clear_pointer (&self->peer_certs, g_ptr_array_unref);
	{
		unsigned int n = 0;
		const gnutls_datum_t *peers = gnutls_certificate_get_peers (self->tls, &n);
		if (peers != NULL && n > 0) {
			self->peer_certs = g_ptr_array_new_full (n, (GDestroyNotify) g_bytes_unref);
			for (unsigned int i = 0; i < n; i++)
				g_ptr_array_add (self->peer_certs, g_bytes_new (peers[i].data, peers[i].size));
		}
	}
	ep_log_debug (self->protocol, self->session_id, "TLS established: %s %s%s%s%s", self->tls_version,
		      self->tls_cipher, self->tls_server_name != NULL ? " server name " : "",
		      self->tls_server_name != NULL ? self->tls_server_name : "",
		      self->tls_resumed ? " (resumed)" : "");
}

static void
ep_connection_do_handshake (EpConnection *self)
{
	int r;

	if (self->state != EP_CONN_OPEN || self->tls_state != EP_TLS_HANDSHAKE)
		return;
	for (;;) {
		r = gnutls_handshake (self->tls);
		if (r == GNUTLS_E_SUCCESS || r == GNUTLS_E_AGAIN)
			break;
		if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal (r))
			continue;
		{
			GError *error = ep_connection_tls_error (self, "TLS handshake failed", r);
			/* tell the client why, if the socket takes it at once */
			if (r != GNUTLS_E_FATAL_ALERT_RECEIVED && r != GNUTLS_E_PREMATURE_TERMINATION &&
			    r != GNUTLS_E_PUSH_ERROR && r != GNUTLS_E_PULL_ERROR)
				gnutls_alert_send_appropriate (self->tls, r);
			ep_log_info (self->protocol, self->session_id, "%s", error->message);
			ep_connection_finish (self, error);
			return;
		}
	}
	if (r == GNUTLS_E_AGAIN) {
		self->tls_handshake_wants_write = gnutls_record_get_direction (self->tls) == 1;
		ep_connection_update_watch (self);
		return;
	}
	ep_connection_tls_established (self);
	ep_connection_rearm_idle (self);
	if (self->starttls_task != NULL) {
		g_autoptr(GTask) task = g_steal_pointer (&self->starttls_task);
		/* input stays paused until the owner resumes it */
		g_task_return_boolean (task, TRUE);
	} else {
		/* the client may have sent its first command with the handshake */
		self->input_dirty = TRUE;
		ep_connection_schedule_pump (self);
	}
	ep_connection_update_watch (self);
}

static void
ep_connection_start_handshake (EpConnection *self)
{
	g_autoptr(GError) error = NULL;
	int r;

	/* nothing the client sent before the handshake may count after it */
	g_byte_array_set_size (self->in, 0);
	self->in_pos = 0;
	self->input_dirty = FALSE;

	r = gnutls_init (&self->tls, (self->client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_NO_SIGNAL);
	if (r != GNUTLS_E_SUCCESS) {
		self->tls = NULL;
		ep_connection_finish (self, g_error_new (EP_ERROR, EP_ERROR_INTERNAL, "gnutls_init: %s",
							 gnutls_strerror (r)));
		return;
	}
	if (self->client ? !ep_tls_context_setup_client_session (self->tls_ctx, self->tls, self->tls_peer_name,
								   self->tls_verify, &error)
			 : !ep_tls_context_setup_session (self->tls_ctx, self->tls, &error)) {
		ep_log_warning (self->protocol, self->session_id, "%s", error->message);
		ep_connection_finish (self, g_steal_pointer (&error));
		return;
	}
	gnutls_transport_set_ptr (self->tls, self);
	gnutls_transport_set_push_function (self->tls, ep_connection_tls_push);
	gnutls_transport_set_pull_function (self->tls, ep_connection_tls_pull);
	gnutls_transport_set_pull_timeout_function (self->tls, ep_connection_tls_pull_timeout);
	/* the idle timeout bounds the handshake, not GnuTLS's own clock */
	gnutls_handshake_set_timeout (self->tls, 0);
	self->tls_state = EP_TLS_HANDSHAKE;
	ep_connection_rearm_idle (self);
	ep_connection_do_handshake (self);
}

void
ep_connection_start_tls_async (EpConnection *self, EpTlsContext *tls, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail (EP_IS_CONNECTION (self));
	g_return_if_fail (EP_IS_TLS_CONTEXT (tls));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_connection_start_tls_async);
	/* the cancellable is looked at once: a handshake is not left half-way */
	g_task_set_check_cancellable (task, FALSE);
	if (g_task_return_error_if_cancelled (task))
		return;
	if (self->state != EP_CONN_OPEN) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP, "the connection is closed");
		return;
	}
	if (self->tls_state != EP_TLS_NONE || self->starttls_task != NULL) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "TLS is already active");
		return;
	}
	if (ep_tls_context_is_client (tls) != self->client) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "a %s TLS context on a %s connection",
					 self->client ? "server" : "client", self->client ? "client" : "server");
		return;
	}
	g_set_object (&self->tls_ctx, tls);
	self->starttls_task = g_steal_pointer (&task);
	self->user_paused = TRUE;
	self->tls_state = EP_TLS_STARTTLS_FLUSH;
	ep_connection_rearm_idle (self);
	/* the answer to STARTTLS goes out first (from the main loop: the
	 * owner is usually inside its input function now) */
	ep_connection_schedule_pump (self);
	ep_connection_update_watch (self);
}

gboolean
ep_connection_start_tls_finish (EpConnection *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

void
ep_connection_set_tls_client (EpConnection *self, const char *server_name, gboolean verify)
{
	g_return_if_fail (EP_IS_CONNECTION (self));
	g_return_if_fail (self->client);
	g_return_if_fail (self->tls == NULL);

	g_free (self->tls_peer_name);
	self->tls_peer_name = g_strdup (server_name);
	self->tls_verify = verify;
}

GPtrArray *
ep_connection_get_peer_certificates (EpConnection *self)
{
	GPtrArray *copy;

	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	if (self->peer_certs == NULL)
		return NULL;
	copy = g_ptr_array_new_full (self->peer_certs->len, (GDestroyNotify) g_bytes_unref);
	for (guint i = 0; i < self->peer_certs->len; i++)
		g_ptr_array_add (copy, g_bytes_ref (g_ptr_array_index (self->peer_certs, i)));
	return copy;
}

gboolean
ep_connection_is_tls (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), FALSE);
	return self->tls_version != NULL;
}

const char *
ep_connection_get_tls_version (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->tls_version;
}

const char *
ep_connection_get_tls_cipher (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->tls_cipher;
}

const char *
ep_connection_get_tls_server_name (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	return self->tls_server_name;
}

gboolean
ep_connection_is_tls_resumed (EpConnection *self)
{
	g_return_val_if_fail (EP_IS_CONNECTION (self), FALSE);
	return self->tls_resumed;
}

GBytes *
ep_connection_get_channel_binding (EpConnection *self, const char *type, GError **error)
{
	gnutls_channel_binding_t cbtype;
	gnutls_datum_t cb = { NULL, 0 };
	GBytes *bytes;
	int r;

	g_return_val_if_fail (EP_IS_CONNECTION (self), NULL);
	g_return_val_if_fail (type != NULL, NULL);

	if (self->tls == NULL || self->tls_state != EP_TLS_ON || self->state != EP_CONN_OPEN) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "the connection does not use TLS");
		return NULL;
	}
	if (g_strcmp0 (type, "tls-exporter") == 0) {
		/* RFC 9266: without TLS 1.3 or the extended master secret the
		 * exporter is not unique to the connection */
		if (gnutls_protocol_get_version (self->tls) != GNUTLS_TLS1_3 &&
		    !gnutls_session_ext_master_secret_status (self->tls)) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
					     "tls-exporter needs TLS 1.3 or the extended master secret");
			return NULL;
		}
		cbtype = GNUTLS_CB_TLS_EXPORTER;
	} else if (g_strcmp0 (type, "tls-server-end-point") == 0) {
		cbtype = GNUTLS_CB_TLS_SERVER_END_POINT;
	} else {
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "unsupported channel binding type '%s'", type);
		return NULL;
	}
	r = gnutls_session_channel_binding (self->tls, cbtype, &cb);
	if (r != GNUTLS_E_SUCCESS) {
		g_set_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "channel binding %s: %s", type,
			     gnutls_strerror (r));
		return NULL;
	}
	bytes = g_bytes_new (cb.data, cb.size);
	gnutls_free (cb.data);
	return bytes;
}
