/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep-connection.h"
#include "ep-error.h"

/*
 * EpConnection over real loopback sockets.  The server side is a small
 * line protocol run by EpConnection on the main loop; plain-text clients
 * are non-blocking sockets driven from the test, TLS clients are GnuTLS
 * client sessions in a thread (blocking, like a real client).
 */

/* ---- the server side ---------------------------------------------------- */

typedef struct _Fixture Fixture;

typedef struct {
	Fixture *f;
	EpConnection *conn; /* the owner's reference; NULL once dropped */
	EpConnection *weak; /* for looking at it after the owner let go */
	GPtrArray *lines;   /* what the input function read, errors as "!<status>" */
	guint input_calls;
	guint closed_count;
	GError *closed_error;
	guint timeouts;
	gboolean timeout_total;
	gint64 timeout_at;
	gsize bytes_wanted;
	GString *bytes;
	gboolean starttls_done;
	GError *starttls_error;
	guint resume_id;
} Server;

struct _Fixture {
	GSocketListener *listener;
	guint16 port;
	GCancellable *cancellable;
	GPtrArray *servers; /* of Server */
	EpTlsContext *tls;
	gboolean implicit_tls;
	gsize output_limit;
	guint idle_timeout;
	guint total_timeout;
	const char *greeting; /* written by the server right after start */
	char *dir;            /* certificates */
};

#define WAIT_FOR(cond)                                                                     \
	G_STMT_START                                                                       \
	{                                                                                  \
		gint64 _end = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;               \
		while (!(cond)) {                                                          \
			if (g_get_monotonic_time () > _end)                                \
				g_error ("timed out waiting for %s", #cond);               \
			if (!g_main_context_iteration (NULL, FALSE))                       \
				g_usleep (200);                                            \
		}                                                                          \
	}                                                                                  \
	G_STMT_END

static void
spin (guint ms)
{
	gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
	while (g_get_monotonic_time () < end) {
		if (!g_main_context_iteration (NULL, FALSE))
			g_usleep (200);
	}
}

static void
server_free (Server *s)
{
	g_clear_handle_id (&s->resume_id, g_source_remove);
	g_clear_object (&s->conn);
	if (s->weak != NULL)
		g_object_remove_weak_pointer (G_OBJECT (s->weak), (gpointer *) &s->weak);
	g_ptr_array_unref (s->lines);
	g_clear_error (&s->closed_error);
	g_clear_error (&s->starttls_error);
	g_string_free (s->bytes, TRUE);
	g_free (s);
}

static gboolean
server_resume_cb (gpointer data)
{
	Server *s = data;
	s->resume_id = 0;
	g_ptr_array_add (s->lines, g_strdup ("(resumed)"));
	ep_connection_resume_input (s->conn);
	return G_SOURCE_REMOVE;
}

static void
server_starttls_cb (GObject *source, GAsyncResult *result, gpointer data)
{
	Server *s = data;
	s->starttls_done = TRUE;
	if (!ep_connection_start_tls_finish (EP_CONNECTION (source), result, &s->starttls_error))
		return;
	ep_connection_resume_input (EP_CONNECTION (source));
}

static char *
hex (GBytes *bytes)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data (bytes, &len);
	GString *s = g_string_new (NULL);
	for (gsize i = 0; i < len; i++)
		g_string_append_printf (s, "%02x", p[i]);
	return g_string_free (s, FALSE);
}

static void
server_command (Server *s, EpConnection *conn, const char *line)
{
	if (g_str_equal (line, "PAUSE")) {
		ep_connection_pause_input (conn);
		s->resume_id = g_timeout_add (500, server_resume_cb, s);
	} else if (g_str_has_prefix (line, "BYTES ")) {
		s->bytes_wanted = (gsize) g_ascii_strtoull (line + 6, NULL, 10);
	} else if (g_str_has_prefix (line, "BIG ")) {
		gsize n = (gsize) g_ascii_strtoull (line + 4, NULL, 10);
		g_autofree char *big = g_malloc (n);
		memset (big, 'x', n);
		ep_connection_write (conn, big, n);
		ep_connection_write (conn, "\r\n", 2);
	} else if (g_str_has_prefix (line, "BIGCLOSE ")) {
		gsize n = (gsize) g_ascii_strtoull (line + 9, NULL, 10);
		g_autofree char *big = g_malloc (n);
		memset (big, 'y', n);
		ep_connection_write (conn, big, n);
		ep_connection_close (conn);
	} else if (g_str_equal (line, "STARTTLS")) {
		ep_connection_printf (conn, "220 go ahead\r\n");
		ep_connection_start_tls_async (conn, s->f->tls, NULL, server_starttls_cb, s);
	} else if (g_str_equal (line, "INFO")) {
		ep_connection_printf (conn, "info: %s %s %s %s\r\n", ep_connection_get_tls_version (conn),
				      ep_connection_get_tls_cipher (conn),
				      ep_connection_get_tls_server_name (conn) != NULL
					      ? ep_connection_get_tls_server_name (conn)
					      : "-",
				      ep_connection_is_tls_resumed (conn) ? "resumed" : "full");
	} else if (g_str_equal (line, "CB")) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) cb = ep_connection_get_channel_binding (conn, "tls-exporter", &error);
		g_autoptr(GBytes) ep = ep_connection_get_channel_binding (conn, "tls-server-end-point", NULL);
		g_autofree char *cb_hex = cb != NULL ? hex (cb) : g_strdup (error->message);
		g_autofree char *ep_hex = ep != NULL ? hex (ep) : g_strdup ("-");
		ep_connection_printf (conn, "cb: %s %s\r\n", cb_hex, ep_hex);
	} else if (g_str_equal (line, "QUIT")) {
		ep_connection_printf (conn, "bye\r\n");
		ep_connection_close (conn);
	} else if (g_str_equal (line, "DROP")) {
		/* the owner lets go inside its own callback */
		ep_connection_printf (conn, "dropping\r\n");
		ep_connection_close (conn);
		g_clear_object (&s->conn);
	} else {
		ep_connection_printf (conn, "echo: %s\r\n", line);
	}
}

static void
server_input (EpConnection *conn, gpointer data)
{
	Server *s = data;

	s->input_calls++;
	for (;;) {
		const char *line = NULL;
		gsize len = 0;
		EpLineStatus status;

		if (s->bytes_wanted > 0) {
			g_autoptr(GBytes) bytes = ep_connection_read_bytes (conn, s->bytes_wanted);
			if (bytes == NULL)
				return;
			g_assert_cmpuint (g_bytes_get_size (bytes), <=, s->bytes_wanted);
			g_string_append_len (s->bytes, g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes));
			s->bytes_wanted -= g_bytes_get_size (bytes);
			if (s->bytes_wanted == 0)
				ep_connection_printf (conn, "got %" G_GSIZE_FORMAT "\r\n", s->bytes->len);
			continue;
		}
		status = ep_connection_read_line (conn, &line, &len);
		if (status == EP_LINE_NEED_MORE)
			return;
		if (status != EP_LINE_OK) {
			g_ptr_array_add (s->lines, g_strdup_printf ("!%s", ep_line_status_to_string (status)));
			ep_connection_printf (conn, "500 %s\r\n", ep_line_status_to_string (status));
			ep_connection_close (conn);
			return;
		}
		g_assert_cmpuint (strlen (line), ==, len);
		g_ptr_array_add (s->lines, g_strdup (line));
		server_command (s, conn, line);
		if (s->conn == NULL || ep_connection_is_closed (conn))
			return;
		/* STARTTLS and PAUSE stop here; so does anything that paused */
		if (g_str_equal (line, "STARTTLS") || g_str_equal (line, "PAUSE"))
			return;
	}
}

static void
server_timeout (EpConnection *conn, gboolean total, gpointer data)
{
	Server *s = data;
	s->timeouts++;
	s->timeout_total = total;
	s->timeout_at = g_get_monotonic_time ();
	ep_connection_printf (conn, "421 timeout\r\n");
	ep_connection_close (conn);
}

static void
server_closed (EpConnection *conn, const GError *error, gpointer data)
{
	Server *s = data;
	s->closed_count++;
	g_assert_true (ep_connection_is_closed (conn));
	if (error != NULL && s->closed_error == NULL)
		s->closed_error = g_error_copy (error);
}

static void
on_accept (GObject *source, GAsyncResult *result, gpointer data)
{
	Fixture *f = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) sc = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result, NULL,
									 &error);
	Server *s;

	if (sc == NULL) {
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
		return;
	}
	s = g_new0 (Server, 1);
	s->f = f;
	s->lines = g_ptr_array_new_with_free_func (g_free);
	s->bytes = g_string_new (NULL);
	s->conn = ep_connection_new (sc, "test");
	s->weak = s->conn;
	g_object_add_weak_pointer (G_OBJECT (s->weak), (gpointer *) &s->weak);
	ep_connection_set_handlers (s->conn, server_input, server_timeout, server_closed, s);
	if (f->output_limit > 0)
		ep_connection_set_output_limit (s->conn, f->output_limit);
	ep_connection_set_idle_timeout (s->conn, f->idle_timeout);
	ep_connection_set_total_timeout (s->conn, f->total_timeout);
	if (f->implicit_tls)
		ep_connection_set_implicit_tls (s->conn, f->tls);
	g_ptr_array_add (f->servers, s);
	ep_connection_start (s->conn);
	if (f->greeting != NULL)
		ep_connection_printf (s->conn, "%s", f->greeting);
	g_socket_listener_accept_async (G_SOCKET_LISTENER (source), f->cancellable, on_accept, f);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
	g_autoptr(GSocketAddress) effective = NULL;
	g_autoptr(GError) error = NULL;

	f->listener = g_socket_listener_new ();
	g_assert_true (g_socket_listener_add_address (f->listener, addr, G_SOCKET_TYPE_STREAM,
						      G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error));
	g_assert_no_error (error);
	f->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
	f->cancellable = g_cancellable_new ();
	f->servers = g_ptr_array_new_with_free_func ((GDestroyNotify) server_free);
	g_socket_listener_accept_async (f->listener, f->cancellable, on_accept, f);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
	g_cancellable_cancel (f->cancellable);
	g_socket_listener_close (f->listener);
	/* let pending callbacks (the cancelled accept, closed idles) run */
	spin (20);
	g_ptr_array_unref (f->servers);
	g_object_unref (f->listener);
	g_object_unref (f->cancellable);
	g_clear_object (&f->tls);
	if (f->dir != NULL) {
		g_autoptr(GDir) d = g_dir_open (f->dir, 0, NULL);
		const char *name;
		while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
			g_autofree char *path = g_build_filename (f->dir, name, NULL);
			g_unlink (path);
		}
		g_rmdir (f->dir);
		g_free (f->dir);
	}
	spin (5);
}

/* ---- the plain-text client ---------------------------------------------- */

typedef struct {
	Fixture *f;
	GSocketConnection *sc;
	GSocket *socket;
	GString *in;
	gboolean eof;
	gboolean reset;
	Server *server;
} Client;

static Client *
client_new (Fixture *f)
{
	g_autoptr(GSocketClient) gclient = g_socket_client_new ();
	g_autoptr(GError) error = NULL;
	Client *c = g_new0 (Client, 1);
	guint before = f->servers->len;

	c->f = f;
	c->sc = g_socket_client_connect_to_host (gclient, "127.0.0.1", f->port, NULL, &error);
	g_assert_no_error (error);
	c->socket = g_socket_connection_get_socket (c->sc);
	g_socket_set_blocking (c->socket, FALSE);
	c->in = g_string_new (NULL);
	WAIT_FOR (f->servers->len > before);
	c->server = g_ptr_array_index (f->servers, before);
	return c;
}

static void
client_free (Client *c)
{
	g_object_unref (c->sc);
	g_string_free (c->in, TRUE);
	g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static void
client_send (Client *c, const char *data, gssize len)
{
	gsize n = len < 0 ? strlen (data) : (gsize) len;
	gsize done = 0;
	while (done < n) {
		g_autoptr(GError) error = NULL;
		gssize r = g_socket_send (c->socket, data + done, n - done, NULL, &error);
		if (r < 0) {
			g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			spin (1);
			continue;
		}
		done += (gsize) r;
	}
}

/* Reads what is there; returns TRUE if anything came. */
static gboolean
client_poll (Client *c)
{
	gboolean got = FALSE;
	while (!c->eof) {
		char buf[65536];
		g_autoptr(GError) error = NULL;
		gssize r = g_socket_receive (c->socket, buf, sizeof (buf), NULL, &error);
		if (r > 0) {
			g_string_append_len (c->in, buf, r);
			got = TRUE;
			continue;
		}
		if (r == 0) {
			c->eof = TRUE;
			break;
		}
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		c->reset = TRUE;
		c->eof = TRUE;
		break;
	}
	return got;
}

static void
client_wait_for (Client *c, const char *text)
{
	WAIT_FOR ((client_poll (c), strstr (c->in->str, text) != NULL || c->eof));
	if (strstr (c->in->str, text) == NULL)
		g_error ("connection ended before '%s' came; got '%s'", text, c->in->str);
}

static void
client_wait_eof (Client *c)
{
	WAIT_FOR ((client_poll (c), c->eof));
}

/* ---- plain-text tests --------------------------------------------------- */

static void
test_connection_pipelined (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	g_assert_nonnull (ep_connection_get_session_id (s->conn));
	g_assert_cmpuint (strlen (ep_connection_get_session_id (s->conn)), ==, 12);
	g_assert_cmpstr (ep_connection_get_peer_ip (s->conn), ==, "127.0.0.1");
	g_assert_cmpstr (ep_connection_get_protocol (s->conn), ==, "test");
	g_assert_nonnull (ep_connection_get_local_address (s->conn));
	g_assert_false (ep_connection_is_tls (s->conn));

	client_send (c, "A\r\nB\r\nC\r\n", -1);
	client_wait_for (c, "echo: C\r\n");
	g_assert_cmpstr (c->in->str, ==, "echo: A\r\necho: B\r\necho: C\r\n");
	g_assert_cmpuint (s->lines->len, ==, 3);
	g_assert_cmpstr (g_ptr_array_index (s->lines, 0), ==, "A");
	g_assert_cmpstr (g_ptr_array_index (s->lines, 1), ==, "B");
	g_assert_cmpstr (g_ptr_array_index (s->lines, 2), ==, "C");
	/* one read, one call */
	g_assert_cmpuint (s->input_calls, ==, 1);

	client_send (c, "QUIT\r\n", -1);
	client_wait_eof (c);
	g_assert_true (g_str_has_suffix (c->in->str, "bye\r\n"));
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
	spin (50);
	g_assert_cmpuint (s->closed_count, ==, 1);
}

static void
test_connection_split_line (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	client_send (c, "HEL", -1);
	WAIT_FOR (s->input_calls == 1);
	g_assert_cmpuint (s->lines->len, ==, 0);
	client_send (c, "LO\r", -1);
	WAIT_FOR (s->input_calls == 2);
	g_assert_cmpuint (s->lines->len, ==, 0);
	client_send (c, "\nX", -1);
	client_wait_for (c, "echo: HELLO\r\n");
	g_assert_cmpuint (s->lines->len, ==, 1);
	g_assert_cmpuint (ep_connection_get_input_buffered (s->conn), ==, 1);
}

static void
test_connection_bare_lf (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	client_send (c, "OK\r\nbad\nline\r\n", -1);
	client_wait_eof (c);
	g_assert_cmpstr (c->in->str, ==, "echo: OK\r\n500 bare LF\r\n");
	g_assert_cmpuint (s->lines->len, ==, 2);
	g_assert_cmpstr (g_ptr_array_index (s->lines, 1), ==, "!bare LF");
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
}

static void
test_connection_long_line (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;
	g_autofree char *line = g_strnfill (2000, 'z');

	ep_connection_set_max_line (s->conn, 100);
	client_send (c, line, -1);
	client_wait_eof (c);
	g_assert_cmpstr (c->in->str, ==, "500 line too long\r\n");
}

static void
test_connection_read_bytes (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;
	g_autofree char *payload = g_strnfill (100000, 'p');

	/* a literal split over many reads, with a line after it in the last */
	client_send (c, "BYTES 100005\r\n", -1);
	client_send (c, payload, -1);
	client_send (c, "ab\r\nc", -1);
	client_send (c, "NEXT\r\n", -1);
	client_wait_for (c, "echo: NEXT\r\n");
	g_assert_cmpuint (s->bytes->len, ==, 100005);
	g_assert_true (g_str_has_suffix (s->bytes->str, "pppab\r\nc"));
	g_assert_cmpstr (c->in->str, ==, "got 100005\r\necho: NEXT\r\n");
	g_assert_null (ep_connection_read_bytes (s->conn, 10));
}

static void
test_connection_pause_resume (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	client_send (c, "PAUSE\r\nX\r\nY\r\n", -1);
	WAIT_FOR (s->lines->len >= 1);
	/* paused: X and Y wait in the buffer */
	spin (100);
	g_assert_cmpuint (s->lines->len, ==, 1);
	g_assert_cmpuint (ep_connection_get_input_buffered (s->conn), ==, 6);
	/* resuming hands them over without the client sending anything */
	client_wait_for (c, "echo: Y\r\n");
	g_assert_cmpuint (s->lines->len, ==, 4);
	g_assert_cmpstr (g_ptr_array_index (s->lines, 1), ==, "(resumed)");
	g_assert_cmpstr (g_ptr_array_index (s->lines, 2), ==, "X");
	g_assert_cmpstr (g_ptr_array_index (s->lines, 3), ==, "Y");
	g_assert_cmpstr (c->in->str, ==, "echo: X\r\necho: Y\r\n");
}

static void
test_connection_output_limit (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = NULL;
	Server *s;
	gsize big = 32 * 1024 * 1024;
	g_autofree char *cmd = g_strdup_printf ("BIG %" G_GSIZE_FORMAT "\r\n", big);

	f->output_limit = 64 * 1024;
	c = client_new (f);
	s = c->server;
	/* the client asks for a lot and does not read it, then pipelines */
	client_send (c, cmd, -1);
	WAIT_FOR (s->lines->len == 1);
	client_send (c, "AFTER\r\n", -1);
	spin (300);
	g_assert_cmpuint (ep_connection_get_output_queued (s->conn), >, f->output_limit);
	/* input is paused while the answers pile up */
	g_assert_cmpuint (s->lines->len, ==, 1);
	client_wait_for (c, "echo: AFTER\r\n");
	g_assert_cmpuint (c->in->len, ==, big + 2 + strlen ("echo: AFTER\r\n"));
	g_assert_cmpuint (s->lines->len, ==, 2);
}

static void
test_connection_idle_timeout (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = NULL;
	Server *s;
	gint64 start;

	f->idle_timeout = 1;
	c = client_new (f);
	s = c->server;
	start = g_get_monotonic_time ();
	/* octets received reset the idle clock */
	spin (600);
	client_send (c, "PING\r\n", -1);
	client_wait_for (c, "echo: PING\r\n");
	client_wait_eof (c);
	g_assert_cmpuint (s->timeouts, ==, 1);
	g_assert_false (s->timeout_total);
	g_assert_cmpint (s->timeout_at - start, >=, 1500 * 1000);
	g_assert_cmpstr (c->in->str, ==, "echo: PING\r\n421 timeout\r\n");
	WAIT_FOR (s->closed_count == 1);
}

static void
test_connection_total_timeout (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = NULL;
	Server *s;
	gint64 start;

	f->total_timeout = 1;
	f->idle_timeout = 10;
	c = client_new (f);
	s = c->server;
	start = g_get_monotonic_time ();
	for (guint i = 0; i < 5 && !c->eof; i++) {
		client_send (c, "PING\r\n", -1);
		spin (300);
		client_poll (c);
	}
	client_wait_eof (c);
	g_assert_cmpuint (s->timeouts, ==, 1);
	g_assert_true (s->timeout_total);
	/* well before the idle timeout could have fired */
	g_assert_cmpint (s->timeout_at - start, <, 5 * G_USEC_PER_SEC);
	g_assert_true (g_str_has_suffix (c->in->str, "421 timeout\r\n"));
}

static void
test_connection_close_flushes (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;
	gsize big = 8 * 1024 * 1024;
	g_autofree char *cmd = g_strdup_printf ("BIGCLOSE %" G_GSIZE_FORMAT "\r\n", big);

	client_send (c, cmd, -1);
	/* the client is slow to read: close() must still deliver it all */
	spin (200);
	g_assert_cmpuint (s->closed_count, ==, 0);
	client_wait_eof (c);
	g_assert_false (c->reset);
	g_assert_cmpuint (c->in->len, ==, big);
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
	/* writes after close are ignored */
	ep_connection_write (s->conn, "x", 1);
	g_assert_cmpuint (ep_connection_get_output_queued (s->conn), ==, 0);
}

static void
test_connection_peer_close (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	g_assert_cmpuint (ep_connection_count_peer (s->conn), ==, 1);
	client_send (c, "LAST\r\n", -1);
	g_socket_shutdown (c->socket, FALSE, TRUE, NULL);
	/* the command sent before closing is still served */
	client_wait_eof (c);
	g_assert_cmpstr (c->in->str, ==, "echo: LAST\r\n");
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
	g_assert_true (ep_connection_is_closed (s->conn));
	g_assert_cmpuint (ep_connection_count_peer (s->conn), ==, 0);
	spin (50);
	g_assert_cmpuint (s->closed_count, ==, 1);
	/* everything is a no-op now */
	ep_connection_close (s->conn);
	ep_connection_abort (s->conn);
	ep_connection_resume_input (s->conn);
	spin (20);
	g_assert_cmpuint (s->closed_count, ==, 1);
}

static void
test_connection_peer_vanishes (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	/* the server writes more than the socket holds, the client goes away
	 * without reading: no SIGPIPE, one closed call */
	client_send (c, "BIG 20000000\r\n", -1);
	WAIT_FOR (s->lines->len == 1);
	spin (50);
	g_socket_close (c->socket, NULL);
	WAIT_FOR (s->closed_count == 1);
	spin (50);
	g_assert_cmpuint (s->closed_count, ==, 1);
}

static void
test_connection_count_peer (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) a = client_new (f);
	g_autoptr(Client) b = client_new (f);

	g_assert_cmpuint (ep_connection_count_peer (a->server->conn), ==, 2);
	g_assert_cmpuint (ep_connection_count_peer (b->server->conn), ==, 2);
	client_send (a, "QUIT\r\n", -1);
	client_wait_eof (a);
	WAIT_FOR (a->server->closed_count == 1);
	g_assert_cmpuint (ep_connection_count_peer (b->server->conn), ==, 1);
	/* dropping an open connection stops counting it too */
	g_clear_object (&b->server->conn);
	client_wait_eof (b);
	g_assert_null (b->server->weak);
	g_assert_cmpuint (b->server->closed_count, ==, 0);
}

static void
test_connection_drop_in_callback (Fixture *f, gconstpointer data)
{
	g_autoptr(Client) c = client_new (f);
	Server *s = c->server;

	client_send (c, "DROP\r\nIGNORED\r\n", -1);
	client_wait_eof (c);
	g_assert_cmpstr (c->in->str, ==, "dropping\r\n");
	WAIT_FOR (s->closed_count == 1);
	g_assert_null (s->conn);
	/* the connection went away after its closed function */
	WAIT_FOR (s->weak == NULL);
	g_assert_cmpuint (s->lines->len, ==, 1);
}

/* ---- certificates ------------------------------------------------------- */

typedef struct {
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
} Cert;

static void
cert_clear (Cert *c)
{
	if (c->crt != NULL)
		gnutls_x509_crt_deinit (c->crt);
	if (c->key != NULL)
		gnutls_x509_privkey_deinit (c->key);
}

static void
make_key (Cert *c)
{
	g_assert_cmpint (gnutls_x509_privkey_init (&c->key), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_generate (c->key, GNUTLS_PK_ECDSA,
						       GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
			 ==, 0);
}

/* @issuer NULL: self-signed CA */
static void
make_cert (Cert *c, const char *cn, const char *const *dns_names, Cert *issuer, time_t not_before,
	   time_t not_after)
{
	g_autofree char *dn = g_strdup_printf ("CN=%s", cn);
	guint8 serial[8];
	const char *err = NULL;

	if (c->key == NULL)
		make_key (c);
	for (guint i = 0; i < sizeof (serial); i++)
		serial[i] = (guint8) g_random_int_range (1, 256);
	serial[0] &= 0x7f;
	g_assert_cmpint (gnutls_x509_crt_init (&c->crt), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_version (c->crt, 3), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_serial (c->crt, serial, sizeof (serial)), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_dn (c->crt, dn, &err), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_activation_time (c->crt, not_before), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_expiration_time (c->crt, not_after), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key (c->crt, c->key), ==, 0);
	if (issuer == NULL) {
		g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (c->crt, 1, -1), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_set_key_usage (c->crt, GNUTLS_KEY_KEY_CERT_SIGN), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_sign2 (c->crt, c->crt, c->key, GNUTLS_DIG_SHA256, 0), ==, 0);
		return;
	}
	g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (c->crt, 0, -1), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key_usage (c->crt, GNUTLS_KEY_DIGITAL_SIGNATURE), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key_purpose_oid (c->crt, GNUTLS_KP_TLS_WWW_SERVER, 0), ==, 0);
	for (guint i = 0; dns_names != NULL && dns_names[i] != NULL; i++)
		g_assert_cmpint (gnutls_x509_crt_set_subject_alt_name (c->crt, GNUTLS_SAN_DNSNAME, dns_names[i],
								       (unsigned) strlen (dns_names[i]),
								       GNUTLS_FSAN_APPEND),
				 ==, 0);
	g_assert_cmpint (gnutls_x509_crt_sign2 (c->crt, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0), ==, 0);
}

static char *
write_pem (Fixture *f, const char *name, gnutls_x509_crt_t crt, gnutls_x509_crt_t chain,
	   gnutls_x509_privkey_t key)
{
	char *path = g_build_filename (f->dir, name, NULL);
	g_autoptr(GString) pem = g_string_new (NULL);
	gnutls_datum_t out = { NULL, 0 };
	g_autoptr(GError) error = NULL;

	if (crt != NULL) {
		g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), ==, 0);
		g_string_append_len (pem, (const char *) out.data, out.size);
		gnutls_free (out.data);
	}
	if (chain != NULL) {
		g_assert_cmpint (gnutls_x509_crt_export2 (chain, GNUTLS_X509_FMT_PEM, &out), ==, 0);
		g_string_append_len (pem, (const char *) out.data, out.size);
		gnutls_free (out.data);
	}
	if (key != NULL) {
		g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, 0, &out), ==, 0);
		g_string_append_len (pem, (const char *) out.data, out.size);
		gnutls_free (out.data);
	}
	g_file_set_contents (path, pem->str, (gssize) pem->len, &error);
	g_assert_no_error (error);
	return path;
}

typedef struct {
	char *ca;
	char *cert, *key;         /* default.test, with the CA in the chain */
	char *sni_cert, *sni_key; /* sni.test */
	char *wild_cert, *wild_key; /* *.wild.test */
	char *expired_cert, *expired_key;
	char *future_cert, *future_key;
	char *other_key;
} Material;

static void
material_clear (Material *m)
{
	g_free (m->ca);
	g_free (m->cert);
	g_free (m->key);
	g_free (m->sni_cert);
	g_free (m->sni_key);
	g_free (m->wild_cert);
	g_free (m->wild_key);
	g_free (m->expired_cert);
	g_free (m->expired_key);
	g_free (m->future_cert);
	g_free (m->future_key);
	g_free (m->other_key);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Material, material_clear)

static void
make_material (Fixture *f, Material *m)
{
	Cert ca = { 0 }, def = { 0 }, sni = { 0 }, wild = { 0 }, expired = { 0 }, future = { 0 }, other = { 0 };
	time_t now = time (NULL);
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp ("ep-connection-test-XXXXXX", &error);
	g_assert_no_error (error);
	make_cert (&ca, "Test CA", NULL, NULL, now - 3600, now + 86400);
	make_cert (&def, "default.test", (const char *[]){ "default.test", NULL }, &ca, now - 3600, now + 86400);
	make_cert (&sni, "sni.test", (const char *[]){ "sni.test", NULL }, &ca, now - 3600, now + 86400);
	make_cert (&wild, "wild.test", (const char *[]){ "*.wild.test", NULL }, &ca, now - 3600, now + 86400);
	make_cert (&expired, "expired.test", NULL, &ca, now - 7 * 86400, now - 86400);
	make_cert (&future, "future.test", NULL, &ca, now + 86400, now + 7 * 86400);
	make_key (&other);
	m->ca = write_pem (f, "ca.pem", ca.crt, NULL, NULL);
	m->cert = write_pem (f, "cert.pem", def.crt, ca.crt, NULL);
	m->key = write_pem (f, "key.pem", NULL, NULL, def.key);
	m->sni_cert = write_pem (f, "sni-cert.pem", sni.crt, NULL, NULL);
	m->sni_key = write_pem (f, "sni-key.pem", NULL, NULL, sni.key);
	m->wild_cert = write_pem (f, "wild-cert.pem", wild.crt, NULL, NULL);
	m->wild_key = write_pem (f, "wild-key.pem", NULL, NULL, wild.key);
	m->expired_cert = write_pem (f, "expired-cert.pem", expired.crt, NULL, NULL);
	m->expired_key = write_pem (f, "expired-key.pem", NULL, NULL, expired.key);
	m->future_cert = write_pem (f, "future-cert.pem", future.crt, NULL, NULL);
	m->future_key = write_pem (f, "future-key.pem", NULL, NULL, future.key);
	m->other_key = write_pem (f, "other-key.pem", NULL, NULL, other.key);
	cert_clear (&ca);
	cert_clear (&def);
	cert_clear (&sni);
	cert_clear (&wild);
	cert_clear (&expired);
	cert_clear (&future);
	cert_clear (&other);
}

static void
setup_tls (Fixture *f, Material *m)
{
	g_autoptr(GError) error = NULL;

	make_material (f, m);
	f->tls = ep_tls_context_new (m->cert, m->key, &error);
	g_assert_no_error (error);
	g_assert_true (ep_tls_context_add_sni (f->tls, (const char *const[]){ "sni.test", "SNI2.test", NULL },
					       m->sni_cert, m->sni_key, &error));
	g_assert_no_error (error);
	g_assert_true (ep_tls_context_add_sni (f->tls, (const char *const[]){ "*.wild.test", NULL }, m->wild_cert,
					       m->wild_key, &error));
	g_assert_no_error (error);
}

/* ---- the TLS client (GnuTLS, in a thread) ------------------------------- */

typedef struct {
	/* in */
	guint16 port;
	const char *ca_file;
	const char *priority;
	const char *server_name;
	gboolean no_verify;
	gboolean starttls;
	gboolean greeting_first; /* implicit TLS: a greeting line comes first */
	gsize bulk;              /* instead of the usual exchange: download and upload this much */
	const char *inject; /* sent right after STARTTLS, before the handshake */
	gnutls_datum_t session_in;
	/* out */
	gboolean handshake_ok;
	char *error;
	char *greeting; /* the answer to STARTTLS */
	char *version;
	char *peer_cn;
	gboolean resumed;
	char *exporter;
	char *end_point;
	char *transcript; /* the answers to HELLO, INFO, CB, QUIT */
	gnutls_datum_t session_out;
	gint done;
} TlsClient;

static void
tls_client_clear (TlsClient *tc)
{
	g_free (tc->error);
	g_free (tc->greeting);
	g_free (tc->version);
	g_free (tc->peer_cn);
	g_free (tc->exporter);
	g_free (tc->end_point);
	g_free (tc->transcript);
	if (tc->session_out.data != NULL)
		gnutls_free (tc->session_out.data);
}

static char *
datum_hex (const gnutls_datum_t *d)
{
	GString *s = g_string_new (NULL);
	for (unsigned i = 0; i < d->size; i++)
		g_string_append_printf (s, "%02x", d->data[i]);
	return g_string_free (s, FALSE);
}

/* reads from the TLS session up to and including the next CRLF */
static gboolean
tls_read_line (gnutls_session_t session, GString *out)
{
	for (;;) {
		char ch;
		ssize_t r = gnutls_record_recv (session, &ch, 1);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0)
			return FALSE;
		g_string_append_c (out, ch);
		if (ch == '\n')
			return TRUE;
	}
}

static gboolean
tls_send (gnutls_session_t session, const char *text)
{
	gsize len = strlen (text);
	gsize done = 0;
	while (done < len) {
		ssize_t r = gnutls_record_send (session, text + done, len - done);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r < 0)
			return FALSE;
		done += (gsize) r;
	}
	return TRUE;
}

static gpointer
tls_client_thread (gpointer data)
{
	TlsClient *tc = data;
	struct sockaddr_in sin = { 0 };
	gnutls_certificate_credentials_t creds = NULL;
	gnutls_session_t session = NULL;
	g_autoptr(GString) transcript = g_string_new (NULL);
	int fd;
	int r;

	fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_family = AF_INET;
	sin.sin_port = g_htons (tc->port);
	sin.sin_addr.s_addr = g_htonl (INADDR_LOOPBACK);
	if (connect (fd, (struct sockaddr *) &sin, sizeof (sin)) != 0) {
		tc->error = g_strdup_printf ("connect: %s", g_strerror (errno));
		goto out;
	}
	if (tc->starttls) {
		g_autofree char *cmd = g_strdup_printf ("STARTTLS\r\n%s", tc->inject != NULL ? tc->inject : "");
		GString *line = g_string_new (NULL);
		char ch;
		/* the command and the injected text in one segment */
		g_assert_cmpint (send (fd, cmd, strlen (cmd), 0), ==, (gssize) strlen (cmd));
		while (recv (fd, &ch, 1, 0) == 1) {
			g_string_append_c (line, ch);
			if (ch == '\n')
				break;
		}
		tc->greeting = g_string_free (line, FALSE);
	}
	gnutls_certificate_allocate_credentials (&creds);
	gnutls_certificate_set_x509_trust_file (creds, tc->ca_file, GNUTLS_X509_FMT_PEM);
	gnutls_init (&session, GNUTLS_CLIENT);
	r = gnutls_priority_set_direct (session, tc->priority != NULL ? tc->priority : "NORMAL", NULL);
	if (r < 0) {
		tc->error = g_strdup_printf ("priority: %s", gnutls_strerror (r));
		goto out;
	}
	gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, creds);
	if (tc->server_name != NULL) {
		gnutls_server_name_set (session, GNUTLS_NAME_DNS, tc->server_name, strlen (tc->server_name));
		if (!tc->no_verify)
			gnutls_session_set_verify_cert (session, tc->server_name, 0);
	}
	if (tc->session_in.data != NULL)
		gnutls_session_set_data (session, tc->session_in.data, tc->session_in.size);
	gnutls_transport_set_int (session, fd);
	gnutls_handshake_set_timeout (session, 10000);
	do
		r = gnutls_handshake (session);
	while (r < 0 && !gnutls_error_is_fatal (r));
	if (r < 0) {
		tc->error = g_strdup_printf ("handshake: %s%s%s", gnutls_strerror (r),
					     r == GNUTLS_E_FATAL_ALERT_RECEIVED ? " " : "",
					     r == GNUTLS_E_FATAL_ALERT_RECEIVED
						     ? gnutls_alert_get_name (gnutls_alert_get (session))
						     : "");
		goto out;
	}
	tc->handshake_ok = TRUE;
	tc->version = g_strdup (gnutls_protocol_get_name (gnutls_protocol_get_version (session)));
	tc->resumed = gnutls_session_is_resumed (session) != 0;
	{
		unsigned n = 0;
		const gnutls_datum_t *peers = gnutls_certificate_get_peers (session, &n);
		if (peers != NULL && n > 0) {
			gnutls_x509_crt_t crt;
			char cn[256];
			size_t cn_len = sizeof (cn);
			gnutls_x509_crt_init (&crt);
			gnutls_x509_crt_import (crt, &peers[0], GNUTLS_X509_FMT_DER);
			if (gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) == 0)
				tc->peer_cn = g_strdup (cn);
			gnutls_x509_crt_deinit (crt);
		}
	}
	{
		gnutls_datum_t cb = { NULL, 0 };
		if (gnutls_session_channel_binding (session, GNUTLS_CB_TLS_EXPORTER, &cb) == 0) {
			tc->exporter = datum_hex (&cb);
			gnutls_free (cb.data);
		}
		if (gnutls_session_channel_binding (session, GNUTLS_CB_TLS_SERVER_END_POINT, &cb) == 0) {
			tc->end_point = datum_hex (&cb);
			gnutls_free (cb.data);
		}
	}
	if (tc->bulk > 0) {
		g_autofree char *cmd = g_strdup_printf ("BIG %" G_GSIZE_FORMAT "\r\n", tc->bulk);
		g_autofree char *upload = g_strnfill (tc->bulk, 'u');
		g_autofree char *bytes_cmd = g_strdup_printf ("BYTES %" G_GSIZE_FORMAT "\r\n", tc->bulk);
		g_autofree char *buf = g_malloc (65536);
		gsize got = 0;

		tls_send (session, cmd);
		/* slowly at first, so that the server finds the socket full */
		g_usleep (200 * 1000);
		while (got < tc->bulk + 2) {
			ssize_t n = gnutls_record_recv (session, buf, MIN (65536, tc->bulk + 2 - got));
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != (got + (gsize) i < tc->bulk ? 'x' : (got + (gsize) i == tc->bulk ? '\r' : '\n')))
					tc->error = g_strdup ("download corrupted");
			got += (gsize) n;
		}
		g_string_append_printf (transcript, "downloaded %" G_GSIZE_FORMAT "\r\n", got);
		tls_send (session, bytes_cmd);
		tls_send (session, upload);
		tls_read_line (session, transcript);
		tls_send (session, "QUIT\r\n");
		tls_read_line (session, transcript);
		gnutls_bye (session, GNUTLS_SHUT_WR);
		goto out;
	}
	if (tc->greeting_first && !tls_read_line (session, transcript)) {
		tc->error = g_strdup ("no greeting");
		goto out;
	}
	if (!tls_send (session, "HELLO\r\nINFO\r\nCB\r\n") || !tls_read_line (session, transcript) ||
	    !tls_read_line (session, transcript) || !tls_read_line (session, transcript)) {
		tc->error = g_strdup ("exchange failed");
		goto out;
	}
	/* the TLS 1.3 tickets came with the answers */
	gnutls_session_get_data2 (session, &tc->session_out);
	tls_send (session, "QUIT\r\n");
	tls_read_line (session, transcript);
	/* then the server's close_notify */
	{
		char buf[64];
		r = (int) gnutls_record_recv (session, buf, sizeof (buf));
		if (r != 0)
			g_string_append_printf (transcript, "(no close_notify: %s)", gnutls_strerror (r));
	}
	gnutls_bye (session, GNUTLS_SHUT_WR);
out:
	tc->transcript = g_strdup (transcript->str);
	if (session != NULL)
		gnutls_deinit (session);
	if (creds != NULL)
		gnutls_certificate_free_credentials (creds);
	close (fd);
	g_atomic_int_set (&tc->done, 1);
	g_main_context_wakeup (NULL);
	return NULL;
}

static void
run_tls_client (Fixture *f, TlsClient *tc)
{
	GThread *thread;

	tc->port = f->port;
	thread = g_thread_new ("tls-client", tls_client_thread, tc);
	WAIT_FOR (g_atomic_int_get (&tc->done));
	g_thread_join (thread);
}

static Server *
last_server (Fixture *f)
{
	g_assert_cmpuint (f->servers->len, >, 0);
	return g_ptr_array_index (f->servers, f->servers->len - 1);
}

/* ---- TLS tests ---------------------------------------------------------- */

static void
test_tls_implicit (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	TlsClient tc = { 0 };
	Server *s;
	g_autofree char *expect_cb = NULL;

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	/* written before the handshake is done, it goes out encrypted after it */
	f->greeting = "220 welcome\r\n";
	tc.ca_file = m.ca;
	tc.server_name = "default.test";
	tc.greeting_first = TRUE;
	run_tls_client (f, &tc);
	g_assert_cmpstr (tc.error, ==, NULL);
	g_assert_true (tc.handshake_ok);
	g_assert_true (g_str_has_prefix (tc.transcript, "220 welcome\r\necho: HELLO\r\n"));
	g_assert_cmpstr (tc.version, ==, "TLS1.3");
	g_assert_cmpstr (tc.peer_cn, ==, "default.test");
	s = last_server (f);
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
	g_assert_cmpstr (g_ptr_array_index (s->lines, 0), ==, "HELLO");
	/* what the server says about the session */
	g_assert_nonnull (strstr (tc.transcript, "echo: HELLO\r\n"));
	g_assert_nonnull (strstr (tc.transcript, "info: TLSv1.3 TLS_AES_256_GCM_SHA384 "));
	g_assert_nonnull (strstr (tc.transcript, " default.test full\r\n"));
	/* channel binding: both ends agree */
	g_assert_nonnull (tc.exporter);
	g_assert_cmpuint (strlen (tc.exporter), ==, 64);
	expect_cb = g_strdup_printf ("cb: %s %s\r\n", tc.exporter, tc.end_point != NULL ? tc.end_point : "-");
	g_assert_nonnull (strstr (tc.transcript, expect_cb));
	g_assert_true (g_str_has_suffix (tc.transcript, "bye\r\n"));
	g_assert_true (ep_connection_is_tls (s->weak));
	tls_client_clear (&tc);
}

static void
test_tls_starttls (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	TlsClient tc = { 0 };
	Server *s;

	setup_tls (f, &m);
	tc.ca_file = m.ca;
	tc.server_name = "default.test";
	tc.starttls = TRUE;
	tc.inject = "INJECTED\r\n";
	run_tls_client (f, &tc);
	g_assert_cmpstr (tc.error, ==, NULL);
	g_assert_cmpstr (tc.greeting, ==, "220 go ahead\r\n");
	s = last_server (f);
	WAIT_FOR (s->closed_count == 1);
	g_assert_true (s->starttls_done);
	g_assert_no_error (s->starttls_error);
	/* the command pipelined before the handshake was dropped */
	g_assert_cmpuint (s->lines->len, >=, 2);
	g_assert_cmpstr (g_ptr_array_index (s->lines, 0), ==, "STARTTLS");
	g_assert_cmpstr (g_ptr_array_index (s->lines, 1), ==, "HELLO");
	for (guint i = 0; i < s->lines->len; i++)
		g_assert_cmpstr (g_ptr_array_index (s->lines, i), !=, "INJECTED");
	g_assert_null (strstr (tc.transcript, "INJECTED"));
	g_assert_nonnull (strstr (tc.transcript, "echo: HELLO\r\n"));
	g_assert_nonnull (strstr (tc.transcript, "info: TLSv1.3 "));
	tls_client_clear (&tc);
}

static void
test_tls_versions (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	static const char *const old[] = {
		"NORMAL:-VERS-ALL:+VERS-TLS1.1",
		"NORMAL:-VERS-ALL:+VERS-TLS1.0",
		"NORMAL:-VERS-ALL:+VERS-SSL3.0",
	};

	setup_tls (f, &m);
	f->implicit_tls = TRUE;

	/* TLS 1.2 works, with an IANA cipher suite name */
	{
		TlsClient tc = { 0 };
		Server *s;
		tc.ca_file = m.ca;
		tc.server_name = "default.test";
		tc.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
		run_tls_client (f, &tc);
		g_assert_cmpstr (tc.error, ==, NULL);
		g_assert_cmpstr (tc.version, ==, "TLS1.2");
		g_assert_nonnull (strstr (tc.transcript, "info: TLSv1.2 TLS_ECDHE_ECDSA_WITH_"));
		/* tls-exporter with TLS 1.2 and the extended master secret */
		{
			g_autofree char *expect_cb = g_strdup_printf ("cb: %s ", tc.exporter);
			g_assert_nonnull (tc.exporter);
			g_assert_nonnull (strstr (tc.transcript, expect_cb));
		}
		s = last_server (f);
		WAIT_FOR (s->closed_count == 1);
		tls_client_clear (&tc);
	}
	/* older versions are refused by the server */
	for (guint i = 0; i < G_N_ELEMENTS (old); i++) {
		TlsClient tc = { 0 };
		guint before = f->servers->len;
		Server *s;

		tc.ca_file = m.ca;
		tc.server_name = "default.test";
		tc.priority = old[i];
		run_tls_client (f, &tc);
		g_assert_false (tc.handshake_ok);
		g_assert_nonnull (tc.error);
		if (g_str_has_prefix (tc.error, "priority:")) {
			/* this GnuTLS cannot even offer it */
			g_test_message ("client cannot use %s: %s", old[i], tc.error);
			tls_client_clear (&tc);
			WAIT_FOR (f->servers->len > before);
			WAIT_FOR (last_server (f)->closed_count == 1);
			continue;
		}
		g_test_message ("%s: client says %s", old[i], tc.error);
		/* the server says why, with an alert */
		g_assert_nonnull (strstr (tc.error, "alert has been received. Error in protocol version"));
		WAIT_FOR (f->servers->len > before);
		s = last_server (f);
		WAIT_FOR (s->closed_count == 1);
		g_assert_error (s->closed_error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_nonnull (strstr (s->closed_error->message, "TLS handshake failed"));
		g_assert_cmpuint (s->lines->len, ==, 0);
		tls_client_clear (&tc);
	}
}

static void
test_tls_sni (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	static const struct {
		const char *name;
		const char *cn;
	} cases[] = {
		{ "sni.test", "sni.test" },
		{ "SNI2.test", "sni.test" },
		{ "a.wild.test", "wild.test" },
		{ "a.b.wild.test", "default.test" },
		{ "default.test", "default.test" },
		{ "unknown.test", "default.test" },
		{ NULL, "default.test" },
	};

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		TlsClient tc = { 0 };
		g_autofree char *info = NULL;

		tc.ca_file = m.ca;
		tc.server_name = cases[i].name;
		/* some names are on no certificate: look at which one came */
		tc.no_verify = TRUE;
		run_tls_client (f, &tc);
		g_assert_cmpstr (tc.error, ==, NULL);
		g_assert_cmpstr (tc.peer_cn, ==, cases[i].cn);
		/* the server name as the connection reports it */
		info = g_strdup_printf (" %s full\r\n", cases[i].name != NULL ? cases[i].name : "-");
		g_assert_nonnull (strstr (tc.transcript, info));
		tls_client_clear (&tc);
	}
}

static void
test_tls_resumption (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	TlsClient first = { 0 };
	TlsClient second = { 0 };

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	first.ca_file = m.ca;
	first.server_name = "default.test";
	run_tls_client (f, &first);
	g_assert_cmpstr (first.error, ==, NULL);
	g_assert_false (first.resumed);
	g_assert_cmpuint (first.session_out.size, >, 0);

	second.ca_file = m.ca;
	second.server_name = "default.test";
	second.session_in = first.session_out;
	run_tls_client (f, &second);
	g_assert_cmpstr (second.error, ==, NULL);
	g_assert_true (second.resumed);
	g_assert_nonnull (strstr (second.transcript, " default.test resumed\r\n"));
	tls_client_clear (&first);
	tls_client_clear (&second);
}

static void
test_tls_bulk (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	TlsClient tc = { 0 };
	Server *s;
	g_autofree char *expect = NULL;

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	f->output_limit = 64 * 1024;
	tc.ca_file = m.ca;
	tc.server_name = "default.test";
	tc.bulk = 6 * 1024 * 1024;
	run_tls_client (f, &tc);
	g_assert_cmpstr (tc.error, ==, NULL);
	expect = g_strdup_printf ("downloaded %" G_GSIZE_FORMAT "\r\ngot %" G_GSIZE_FORMAT "\r\nbye\r\n", tc.bulk + 2,
				  tc.bulk);
	g_assert_cmpstr (tc.transcript, ==, expect);
	s = last_server (f);
	WAIT_FOR (s->closed_count == 1);
	g_assert_no_error (s->closed_error);
	g_assert_cmpuint (s->bytes->len, ==, tc.bulk);
	tls_client_clear (&tc);
}

static void
test_tls_not_tls (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	g_autoptr(Client) c = NULL;
	Server *s;

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	c = client_new (f);
	s = c->server;
	/* a plain-text client on a TLS port */
	client_send (c, "EHLO x\r\n", -1);
	client_wait_eof (c);
	WAIT_FOR (s->closed_count == 1);
	g_assert_error (s->closed_error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_cmpuint (s->lines->len, ==, 0);
	/* no TLS, no channel binding */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) cb = ep_connection_get_channel_binding (s->weak, "tls-exporter", &error);
		g_assert_null (cb);
		g_assert_error (error, EP_ERROR, EP_ERROR_UNAVAILABLE);
	}
}

static void
test_tls_handshake_timeout (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	g_autoptr(Client) c = NULL;
	Server *s;

	setup_tls (f, &m);
	f->implicit_tls = TRUE;
	f->idle_timeout = 1;
	c = client_new (f);
	s = c->server;
	/* a client that connects and says nothing */
	client_wait_eof (c);
	WAIT_FOR (s->closed_count == 1);
	g_assert_error (s->closed_error, EP_ERROR, EP_ERROR_TIMEOUT);
	g_assert_cmpuint (s->timeouts, ==, 0);
}

/* ---- EpTlsContext loading ----------------------------------------------- */

static void
assert_load_error (const char *cert, const char *key, const char *file, const char *what)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpTlsContext) tls = ep_tls_context_new (cert, key, &error);

	g_assert_null (tls);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_test_message ("%s", error->message);
	g_assert_true (g_str_has_prefix (error->message, file));
	g_assert_nonnull (strstr (error->message, what));
}

static void
test_tls_context_errors (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	g_autofree char *garbage = NULL;
	g_autofree char *missing = NULL;
	g_autofree char *unsorted = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	g_autofree char *ca_contents = NULL;

	make_material (f, &m);
	garbage = g_build_filename (f->dir, "garbage.pem", NULL);
	g_file_set_contents (garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
			     -1, NULL);
	missing = g_build_filename (f->dir, "missing.pem", NULL);

	/* the good one loads */
	{
		g_autoptr(EpTlsContext) tls = ep_tls_context_new (m.cert, m.key, &error);
		g_assert_no_error (error);
		g_assert_nonnull (tls);
	}
	assert_load_error (m.cert, m.other_key, m.other_key, "does not belong to the certificate");
	assert_load_error (m.cert, m.sni_key, m.sni_key, "does not belong to the certificate");
	assert_load_error (m.expired_cert, m.expired_key, m.expired_cert, "expired on");
	assert_load_error (m.future_cert, m.future_key, m.future_cert, "not valid before");
	assert_load_error (missing, m.key, missing, "cannot read: No such file");
	assert_load_error (m.cert, missing, missing, "cannot read: No such file");
	assert_load_error (f->dir, m.key, f->dir, "not a regular file");
	assert_load_error (garbage, m.key, garbage, "cannot parse the certificate");
	assert_load_error (m.cert, garbage, garbage, "no PEM private key");
	assert_load_error (m.key, m.key, m.key, "no PEM certificate");
	/* the chain in the wrong order */
	unsorted = g_build_filename (f->dir, "unsorted.pem", NULL);
	g_file_get_contents (m.cert, &contents, NULL, NULL);
	g_file_get_contents (m.ca, &ca_contents, NULL, NULL);
	{
		g_autofree char *leaf = g_strndup (contents, (gsize) (strstr (contents + 1, "-----BEGIN") - contents));
		g_autofree char *swapped = g_strconcat (ca_contents, leaf, NULL);
		g_file_set_contents (unsorted, swapped, -1, NULL);
	}
	assert_load_error (unsorted, m.key, unsorted, "out of order");

	/* an SNI certificate is checked the same way */
	{
		g_autoptr(EpTlsContext) tls = ep_tls_context_new (m.cert, m.key, NULL);
		g_assert_false (ep_tls_context_add_sni (tls, (const char *const[]){ "x.test", NULL }, m.expired_cert,
							m.expired_key, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_assert_true (g_str_has_prefix (error->message, m.expired_cert));
	}
}

static void
test_tls_context_from_config (Fixture *f, gconstpointer data)
{
	g_auto (Material) m = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	g_autoptr(EpConfig) config = NULL;
	g_autoptr(EpTlsContext) tls = NULL;
	const char *names[] = { "mail.toml", NULL };
	const char *texts[] = { NULL, NULL };

	make_material (f, &m);
	text = g_strdup_printf ("hostname = \"mail.example.org\"\n"
				"data_dir = \"/var/lib/epistle\"\n"
				"[tls]\ncert_file = \"%s\"\nkey_file = \"%s\"\n"
				"[[tls.sni]]\nnames = [\"sni.test\"]\ncert_file = \"%s\"\nkey_file = \"%s\"\n"
				"[[tls.sni]]\nnames = [\"old.test\"]\ncert_file = \"%s\"\nkey_file = \"%s\"\n",
				m.cert, m.key, m.sni_cert, m.sni_key, m.expired_cert, m.expired_key);
	texts[0] = text;
	config = ep_config_load_from_data (names, texts, &error);
	g_assert_no_error (error);
	g_assert_true (ep_config_validate (config, &error));
	g_assert_no_error (error);
	tls = ep_tls_context_new_from_config (config, &error);
	g_assert_null (tls);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_test_message ("%s", error->message);
	g_assert_true (g_str_has_prefix (error->message, "mail.toml:10: tls.sni[2]: "));
	g_assert_nonnull (strstr (error->message, m.expired_cert));
	g_assert_nonnull (strstr (error->message, "expired on"));
	g_clear_object (&config);
	g_clear_error (&error);

	/* no [tls]: no context, no error */
	texts[0] = "hostname = \"mail.example.org\"\ndata_dir = \"/var/lib/epistle\"\n";
	config = ep_config_load_from_data (names, texts, &error);
	g_assert_true (ep_config_validate (config, &error));
	g_assert_null (ep_tls_context_new_from_config (config, &error));
	g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD ("/connection/pipelined", test_connection_pipelined);
	ADD ("/connection/split-line", test_connection_split_line);
	ADD ("/connection/bare-lf", test_connection_bare_lf);
	ADD ("/connection/long-line", test_connection_long_line);
	ADD ("/connection/read-bytes", test_connection_read_bytes);
	ADD ("/connection/pause-resume", test_connection_pause_resume);
	ADD ("/connection/output-limit", test_connection_output_limit);
	ADD ("/connection/idle-timeout", test_connection_idle_timeout);
	ADD ("/connection/total-timeout", test_connection_total_timeout);
	ADD ("/connection/close-flushes", test_connection_close_flushes);
	ADD ("/connection/peer-close", test_connection_peer_close);
	ADD ("/connection/peer-vanishes", test_connection_peer_vanishes);
	ADD ("/connection/count-peer", test_connection_count_peer);
	ADD ("/connection/drop-in-callback", test_connection_drop_in_callback);
	ADD ("/tls/implicit", test_tls_implicit);
	ADD ("/tls/starttls", test_tls_starttls);
	ADD ("/tls/versions", test_tls_versions);
	ADD ("/tls/sni", test_tls_sni);
	ADD ("/tls/resumption", test_tls_resumption);
	ADD ("/tls/bulk", test_tls_bulk);
	ADD ("/tls/not-tls", test_tls_not_tls);
	ADD ("/tls/handshake-timeout", test_tls_handshake_timeout);
	ADD ("/tls/context-errors", test_tls_context_errors);
	ADD ("/tls/context-from-config", test_tls_context_from_config);
#undef ADD
	return g_test_run ();
}
