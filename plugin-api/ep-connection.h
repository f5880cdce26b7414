/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-line-framer.h"
#include "ep-tls.h"

G_BEGIN_DECLS

/*
 * One client connection of a text protocol (SMTP, IMAP, POP3, ManageSieve)
 * on the main loop: non-blocking socket, buffered input read by lines (the
 * strict framer of ep-line-framer.h) or by counts of octets (literals,
 * BDAT), a write queue with back-pressure, idle and total timeouts, TLS
 * (implicit or STARTTLS) with GnuTLS, and a session id for the log.
 *
 * Input is pushed: whenever input is buffered and input is not paused, the
 * input function is called; it takes lines and octets with
 * ep_connection_read_line() / ep_connection_read_bytes() until they report
 * nothing more, or pauses input while it waits for something asynchronous
 * (a hook chain, the database) and resumes it afterwards — resuming calls
 * the input function again (from an idle source) if input is buffered, so
 * pipelined commands are served in order.  When more than the output limit
 * is queued for writing, input is paused until the client has read its
 * answers: a client that pipelines without reading cannot grow memory.
 *
 * The closed function is called exactly once, whatever ends the
 * connection (peer closed, error, timeout handled, ep_connection_close(),
 * ep_connection_abort()), always from its own main-loop dispatch, never
 * from inside a call the owner makes on the connection.  After it the
 * object still exists until its last reference goes; every call on it is
 * then a no-op.
 *
 * References: the owner's reference keeps an open connection alive.  Once
 * ep_connection_close() is called the connection keeps itself alive until
 * its closed function has run, so the owner may drop its reference at
 * once.  Dropping the last reference of a connection that is still open
 * closes the socket at once, without calling the closed function.  Every
 * callback runs with a temporary reference: the owner may drop its
 * reference inside any of them.
 *
 * A peer that closes its side is not an error: what it sent before is
 * still handed to the input function, then the connection closes (queued
 * output is written first) and the closed function gets no error.
 *
 * Main thread (the thread-default main context at ep_connection_start())
 * only.
 */

#define EP_TYPE_CONNECTION (ep_connection_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpConnection, ep_connection, EP, CONNECTION, GObject)

typedef void (*EpConnectionInputFunc) (EpConnection *conn, gpointer user_data);
/* @total: TRUE when the total time ran out, FALSE for the idle timeout.
 * The function usually writes a last answer and calls ep_connection_close(). */
typedef void (*EpConnectionTimeoutFunc) (EpConnection *conn, gboolean total, gpointer user_data);
/* @error: (nullable): NULL when the peer closed or ep_connection_close() was called */
typedef void (*EpConnectionClosedFunc) (EpConnection *conn, const GError *error, gpointer user_data);

/**
 * ep_connection_new:
 * @socket_conn: an accepted connection (a reference is taken)
 * @protocol: "smtp", "imap"... for the log
 *
 * Nothing is read until ep_connection_start().  The connection counts
 * towards its peer's address in ep_connection_count_peer() from now on.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpConnection *ep_connection_new (GSocketConnection *socket_conn, const char *protocol);

/**
 * ep_connection_new_client:
 * @socket_conn: a connection this process made to a server
 * @protocol: "smtp-client"... for the log
 *
 * As ep_connection_new(), for the client side of a protocol: the
 * connection does not count towards its peer in ep_connection_count_peer()
 * (that count is about clients of this server), and TLS (implicit or
 * STARTTLS) is the client side of the handshake, with a client context
 * (ep_tls_context_new_client()) and the settings of
 * ep_connection_set_tls_client().
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpConnection *ep_connection_new_client (GSocketConnection *socket_conn,
									const char *protocol);

EP_API void ep_connection_set_handlers (EpConnection *self, EpConnectionInputFunc input_func,
					EpConnectionTimeoutFunc timeout_func, EpConnectionClosedFunc closed_func,
					gpointer user_data);
/* Starts reading (and with implicit TLS, the handshake first, see below). */
EP_API void ep_connection_start (EpConnection *self);

EP_API const char         *ep_connection_get_session_id (EpConnection *self);
EP_API const char         *ep_connection_get_protocol (EpConnection *self);
EP_API GInetSocketAddress *ep_connection_get_peer_address (EpConnection *self);
EP_API GInetSocketAddress *ep_connection_get_local_address (EpConnection *self);
/* The peer's IP address as text, "192.0.2.1" or "2001:db8::1". */
EP_API const char         *ep_connection_get_peer_ip (EpConnection *self);
/* Open connections (this one included) from the same peer IP address in this process. */
EP_API guint               ep_connection_count_peer (EpConnection *self);
EP_API gboolean            ep_connection_is_closed (EpConnection *self);

/* ---- input ---- */

/* The longest line ep_connection_read_line() accepts, CRLF not counted (default 1022). */
EP_API void ep_connection_set_max_line (EpConnection *self, gsize max_line);

/**
 * ep_connection_read_line:
 * @line: (out) (transfer none): the line without CRLF, NUL-terminated,
 *   valid until the input function returns; NULL unless EP_LINE_OK
 * @line_len: (out) (optional): its length; with an error status, the
 *   offset of the offending octet in the line
 *
 * Returns EP_LINE_OK with a line, EP_LINE_NEED_MORE when no complete line
 * is buffered (the input function is called again when more arrives), or
 * an error status; after an error status the offending input stays
 * buffered and the caller is expected to answer and close.
 *
 * Also EP_LINE_NEED_MORE, whatever is buffered, while input is held back
 * by the output limit or by STARTTLS, and once the connection is closing:
 * a loop reading line after line stops by itself then.
 */
EP_API EpLineStatus ep_connection_read_line (EpConnection *self, const char **line, gsize *line_len);

/**
 * ep_connection_read_bytes:
 * @max: the most octets wanted
 *
 * Returns: (transfer full) (nullable): up to @max buffered octets (at
 *   least one), or NULL when nothing is buffered (or input is held back,
 *   as for ep_connection_read_line()).
 */
EP_API GBytes *ep_connection_read_bytes (EpConnection *self, gsize max);
EP_API gsize   ep_connection_get_input_buffered (EpConnection *self);

/* While paused the input function is not called; the connection goes on
 * reading into its buffer up to 64 KiB (or max_line), then stops.  The idle
 * timeout does not run while paused. */
EP_API void ep_connection_pause_input (EpConnection *self);
EP_API void ep_connection_resume_input (EpConnection *self);

/* ---- output ---- */

EP_API void  ep_connection_write (EpConnection *self, const void *data, gsize len);
EP_API void  ep_connection_write_bytes (EpConnection *self, GBytes *bytes);
EP_API void  ep_connection_printf (EpConnection *self, const char *format, ...) G_GNUC_PRINTF (2, 3);
EP_API gsize ep_connection_get_output_queued (EpConnection *self);

/**
 * ep_connection_set_drain_func:
 * @low_water: the queued octets at or below which @func is called
 * @func: (nullable): NULL to stop
 *
 * Lets the owner write a large body piece by piece: @func is called from
 * the main loop whenever output was written (or at once, from an idle,
 * when it is set) and at most @low_water octets are still queued, until it
 * is unset.  It may write more; it is not called while a TLS handshake is
 * under way or once the connection closes.
 */
typedef void (*EpConnectionDrainFunc) (EpConnection *conn, gpointer user_data);
EP_API void ep_connection_set_drain_func (EpConnection *self, gsize low_water, EpConnectionDrainFunc func,
					  gpointer user_data);
/* Above @limit octets queued, input is paused until the queue is drained (default 256 KiB). */
EP_API void  ep_connection_set_output_limit (EpConnection *self, gsize limit);

/**
 * ep_connection_close:
 *
 * Stops reading, writes what is queued (giving up after a few seconds),
 * shuts TLS down and closes; then calls the closed function with no error.
 */
EP_API void ep_connection_close (EpConnection *self);
/* Closes at once, dropping what is queued. */
EP_API void ep_connection_abort (EpConnection *self);

/* ---- timeouts (seconds, 0 for none) ----
 *
 * Each fires once and calls the timeout function (without one, the
 * connection closes); the idle timeout is armed again by the next octet
 * received.  During a TLS handshake a timeout ends the connection at once,
 * with EP_ERROR_TIMEOUT for the closed function, without calling the
 * timeout function. */

/* Reset by every octet received; not counted while input is paused. */
EP_API void ep_connection_set_idle_timeout (EpConnection *self, guint seconds);
/* Counted from ep_connection_start(). */
EP_API void ep_connection_set_total_timeout (EpConnection *self, guint seconds);

/* ---- TLS ---- */

/* Implicit TLS (port 465, 993, 995): call before ep_connection_start(); the
 * handshake runs first and a failed one closes the connection (closed
 * function with the error).  What is written before the handshake ends
 * (the greeting) goes out encrypted after it. */
EP_API void ep_connection_set_implicit_tls (EpConnection *self, EpTlsContext *tls);

/**
 * ep_connection_start_tls_async:
 *
 * STARTTLS: writes what is queued (the "ready to start TLS" answer), then
 * discards every octet the client sent before the handshake (no command
 * injection across the upgrade) and runs the handshake.  Input is paused
 * meanwhile (as by ep_connection_pause_input()); the caller resumes it
 * after finish.  A failed handshake fails the task and closes the
 * connection (the closed function gets the same error).  @cancellable is
 * looked at when the call is made only.
 */
EP_API void     ep_connection_start_tls_async (EpConnection *self, EpTlsContext *tls, GCancellable *cancellable,
					       GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_connection_start_tls_finish (EpConnection *self,
									   GAsyncResult *result, GError **error);

/**
 * ep_connection_set_tls_client:
 * @server_name: (nullable): sent as SNI (unless it is an IP address)
 * @verify: check during the handshake that the server's certificate chains
 *   to the context's trust anchors and is valid for @server_name (needed
 *   then); a certificate that is not fails the handshake
 *
 * Client connections only, before the handshake starts.  STARTTLS on a
 * client connection is ep_connection_start_tls_async() once the server
 * has answered 220: whatever the server sent after that answer is
 * discarded like a client's input on the server side.
 */
EP_API void ep_connection_set_tls_client (EpConnection *self, const char *server_name, gboolean verify);

/**
 * ep_connection_get_peer_certificates:
 *
 * Returns: (transfer full) (nullable): the certificate chain the peer
 *   presented in the TLS handshake, DER, leaf first (of GBytes); NULL
 *   without TLS or when the peer sent none (a server's clients usually).
 */
EP_API GPtrArray *ep_connection_get_peer_certificates (EpConnection *self);

EP_API gboolean    ep_connection_is_tls (EpConnection *self);
/* "TLSv1.3", "TLSv1.2"; NULL without TLS. */
EP_API const char *ep_connection_get_tls_version (EpConnection *self);
/* The cipher suite, e.g. "TLS_AES_256_GCM_SHA384"; NULL without TLS. */
EP_API const char *ep_connection_get_tls_cipher (EpConnection *self);
/* The server name the client asked for (SNI); NULL if none. */
EP_API const char *ep_connection_get_tls_server_name (EpConnection *self);
EP_API gboolean    ep_connection_is_tls_resumed (EpConnection *self);

/**
 * ep_connection_get_channel_binding:
 * @type: "tls-exporter" (RFC 9266) or "tls-server-end-point" (RFC 5929)
 *
 * Returns: (transfer full) (nullable): the channel-binding data for
 *   SCRAM-PLUS, or NULL with @error (no TLS, or a type the session cannot
 *   give: tls-exporter needs TLS 1.3 or extended master secret).
 */
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *ep_connection_get_channel_binding (EpConnection *self, const char *type,
									   GError **error);

G_END_DECLS
