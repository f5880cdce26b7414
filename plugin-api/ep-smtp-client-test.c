/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep-error.h"
#include "ep-smtp-client.h"

/*
 * The outbound SMTP client against a scripted SMTP server on loopback.
 * The server runs in a thread of its own with blocking sockets (GnuTLS
 * for STARTTLS), one script per test, and keeps a log of the dialogue as
 * it saw it: "C: " a line the client sent, "S: " the first line of an
 * answer, and notes in parentheses.  The client runs on the main loop of
 * the test, as in the queue.  The tests compare the log with the dialogue
 * a correct client has, and the results with what the server said.
 */

#define SERVER_WAIT_MS 5000 /* a script gives up on a silent client after this */

#define WAIT_UNTIL(cond)                                                                                               \
	G_STMT_START                                                                                                   \
	{                                                                                                              \
		gint64 _deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;                                      \
		while (!(cond)) {                                                                                      \
			if (g_get_monotonic_time () > _deadline)                                                       \
				g_error ("timed out waiting for %s", #cond);                                           \
			if (!g_main_context_iteration (NULL, FALSE))                                                   \
				g_usleep (1000);                                                                       \
		}                                                                                                      \
	}                                                                                                              \
	G_STMT_END

/* ---- certificates ------------------------------------------------------- */

/* A CA and a certificate for mx.test that it signed, made once (as
 * ep-connection-test makes its own); the CA is the client's trust anchor. */
typedef struct {
	char *dir;
	char *ca_file;
	gnutls_x509_privkey_t ca_key;
	gnutls_x509_crt_t ca;
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	GBytes *der; /* the server certificate as the client should see it */
	gnutls_certificate_credentials_t creds;
} Material;

static Material material;

static gnutls_x509_privkey_t
new_key (void)
{
	gnutls_x509_privkey_t key = NULL;

	g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
	g_assert_cmpint (
	    gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
	    ==, 0);
	return key;
}

/* @issuer NULL: a self-signed CA; else a server certificate for @name */
static gnutls_x509_crt_t
new_cert (const char *name, gnutls_x509_privkey_t key, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key)
{
	g_autofree char *dn = g_strdup_printf ("CN=%s", name);
	const char *dn_error = NULL;
	gnutls_x509_crt_t crt = NULL;
	time_t now = time (NULL);
	guint8 serial[8];

	for (guint i = 0; i < sizeof (serial); i++)
		serial[i] = (guint8)g_random_int_range (1, 128);
	g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof (serial)), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_dn (crt, dn, &dn_error), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now - 3600), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 86400), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), ==, 0);
	if (issuer == NULL) {
		g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, 1, -1), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_KEY_CERT_SIGN), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), ==, 0);
		return crt;
	}
	g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, 0, -1), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen (name),
							       GNUTLS_FSAN_APPEND),
			 ==, 0);
	g_assert_cmpint (gnutls_x509_crt_sign2 (crt, issuer, issuer_key, GNUTLS_DIG_SHA256, 0), ==, 0);
	return crt;
}

static void
material_make (void)
{
	gnutls_datum_t out = {NULL, 0};
	g_autoptr(GError) error = NULL;

	material.dir = g_dir_make_tmp ("ep-smtp-client-test-XXXXXX", &error);
	g_assert_no_error (error);
	material.ca_key = new_key ();
	material.ca = new_cert ("Test CA", material.ca_key, NULL, NULL);
	material.key = new_key ();
	material.crt = new_cert ("mx.test", material.key, material.ca, material.ca_key);

	material.ca_file = g_build_filename (material.dir, "ca.pem", NULL);
	g_assert_cmpint (gnutls_x509_crt_export2 (material.ca, GNUTLS_X509_FMT_PEM, &out), ==, 0);
	g_file_set_contents (material.ca_file, (const char *)out.data, out.size, &error);
	g_assert_no_error (error);
	gnutls_free (out.data);

	g_assert_cmpint (gnutls_x509_crt_export2 (material.crt, GNUTLS_X509_FMT_DER, &out), ==, 0);
	material.der = g_bytes_new (out.data, out.size);
	gnutls_free (out.data);

	g_assert_cmpint (gnutls_certificate_allocate_credentials (&material.creds), ==, 0);
	g_assert_cmpint (gnutls_certificate_set_x509_key (material.creds, &material.crt, 1, material.key), ==, 0);
}

static void
material_clear (void)
{
	gnutls_certificate_free_credentials (material.creds);
	gnutls_x509_crt_deinit (material.crt);
	gnutls_x509_privkey_deinit (material.key);
	gnutls_x509_crt_deinit (material.ca);
	gnutls_x509_privkey_deinit (material.ca_key);
	g_bytes_unref (material.der);
	g_unlink (material.ca_file);
	g_rmdir (material.dir);
	g_free (material.ca_file);
	g_free (material.dir);
}

/* ---- the scripted server ------------------------------------------------ */

typedef struct _Server Server;
typedef void (*Script) (Server *s);

struct _Server {
	Script script;
	const char *arg;  /* the script's: the extensions srv_ehlo() offers (one a line), or a greeting */
	gboolean patient; /* waits before each answer, noting input that came meanwhile */
	int listen_fd;
	guint16 port;
	GThread *thread;
	gint stop;
	gint done;

	/* the thread's; the test reads them once it is done */
	gboolean accepted;
	int fd;
	gnutls_session_t tls;
	GString *in;
	gsize pos; /* consumed octets of @in */
	gboolean eof;
	char *line;
	GPtrArray *log;
	GString *message; /* every message received, as on the wire */
};

static void srv_log (Server *s, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
srv_log (Server *s, const char *format, ...)
{
	va_list args;

	va_start (args, format);
	g_ptr_array_add (s->log, g_strdup_vprintf (format, args));
	va_end (args);
}

/* More input, within SERVER_WAIT_MS; FALSE at the end of it. */
static gboolean
srv_fill (Server *s)
{
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	char buf[65536];
	gssize n;

	if (s->eof)
		return FALSE;
	if (s->pos > 0) {
		g_string_erase (s->in, 0, (gssize)s->pos);
		s->pos = 0;
	}
	if ((s->tls == NULL || gnutls_record_check_pending (s->tls) == 0) && poll (&pfd, 1, SERVER_WAIT_MS) <= 0) {
		srv_log (s, "(silence)");
		s->eof = TRUE;
		return FALSE;
	}
	if (s->tls != NULL) {
		do
			n = gnutls_record_recv (s->tls, buf, sizeof (buf));
		while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	} else {
		n = recv (s->fd, buf, sizeof (buf), 0);
	}
	if (n <= 0) {
		srv_log (s, "(eof)");
		s->eof = TRUE;
		return FALSE;
	}
	g_string_append_len (s->in, buf, n);
	return TRUE;
}

/* The next line without its CRLF ("" at the end of input), valid until
 * the next call; logged as "C: <line>" when @log. */
static const char *
srv_read_line (Server *s, gboolean log)
{
	const char *crlf;

	g_clear_pointer (&s->line, g_free);
	while ((crlf = g_strstr_len (s->in->str + s->pos, (gssize)(s->in->len - s->pos), "\r\n")) == NULL) {
		if (!srv_fill (s))
			return "";
	}
	s->line = g_strndup (s->in->str + s->pos, (gsize)(crlf - (s->in->str + s->pos)));
	s->pos = (gsize)(crlf - s->in->str) + 2;
	if (log)
		srv_log (s, "C: %s", s->line);
	return s->line;
}

static const char *
srv_line (Server *s)
{
	return srv_read_line (s, TRUE);
}

/* The client sent something that does not wait for an answer. */
static gboolean
srv_input_waiting (Server *s)
{
	char c;

	if (s->pos < s->in->len || (s->tls != NULL && gnutls_record_check_pending (s->tls) > 0))
		return TRUE;
	return recv (s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void
srv_say (Server *s, const char *text)
{
	gsize len = strlen (text);
	gsize done = 0;

	if (s->patient) {
		g_usleep (100 * 1000);
		if (srv_input_waiting (s))
			srv_log (s, "(more input before the answer)");
	}
	srv_log (s, "S: %.*s", (int)strcspn (text, "\r\n"), text);
	while (done < len) {
		gssize n;
		if (s->tls != NULL)
			n = gnutls_record_send (s->tls, text + done, len - done);
		else
			n = send (s->fd, text + done, len - done, MSG_NOSIGNAL);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return; /* the log tells what the client did */
		done += (gsize)n;
	}
}

/* Reads a command and gives @text as its answer. */
static void
srv_answer (Server *s, const char *text)
{
	srv_line (s);
	if (!s->eof)
		srv_say (s, text);
}

static void
srv_greet (Server *s)
{
	srv_say (s, "220 mx.test ESMTP\r\n");
}

/* Reads EHLO and offers @extensions ("PIPELINING\nSIZE 1000"). */
static void
srv_ehlo (Server *s, const char *extensions)
{
	g_auto(GStrv) lines = g_strsplit (extensions != NULL ? extensions : "", "\n", 0);
	g_autoptr(GString) answer = g_string_new (NULL);
	guint n = g_strv_length (lines);

	g_string_append_printf (answer, "250%smx.test greets you\r\n", n > 0 ? "-" : " ");
	for (guint i = 0; i < n; i++)
		g_string_append_printf (answer, "250%s%s\r\n", i + 1 < n ? "-" : " ", lines[i]);
	srv_answer (s, answer->str);
}

/* The message after 354, up to and including "." */
static void
srv_data (Server *s)
{
	for (;;) {
		const char *line = srv_read_line (s, FALSE);
		if (s->eof)
			return;
		g_string_append_printf (s->message, "%s\r\n", line);
		if (g_str_equal (line, "."))
			break;
	}
	srv_log (s, "C: (message)");
}

/* The octets of a BDAT @command. */
static void
srv_bdat (Server *s, const char *command)
{
	gsize size = (gsize)g_ascii_strtoull (command + 5, NULL, 10);

	while (s->in->len - s->pos < size) {
		if (!srv_fill (s))
			return;
	}
	g_string_append_len (s->message, s->in->str + s->pos, (gssize)size);
	s->pos += size;
	srv_log (s, "C: (%" G_GSIZE_FORMAT " octets)", size);
}

/* STARTTLS was read: the handshake.  TRUE once TLS is on. */
static gboolean
srv_starttls (Server *s)
{
	int r;

	srv_say (s, "220 2.0.0 ready to start TLS\r\n");
	if (s->pos < s->in->len)
		srv_log (s, "(input after STARTTLS)");
	g_string_truncate (s->in, 0);
	s->pos = 0;
	g_assert_cmpint (gnutls_init (&s->tls, GNUTLS_SERVER), ==, 0);
	g_assert_cmpint (gnutls_set_default_priority (s->tls), ==, 0);
	g_assert_cmpint (gnutls_credentials_set (s->tls, GNUTLS_CRD_CERTIFICATE, material.creds), ==, 0);
	gnutls_transport_set_int (s->tls, s->fd);
	gnutls_handshake_set_timeout (s->tls, SERVER_WAIT_MS);
	do
		r = gnutls_handshake (s->tls);
	while (r < 0 && gnutls_error_is_fatal (r) == 0);
	if (r < 0) {
		srv_log (s, "(handshake failed)");
		s->eof = TRUE;
		return FALSE;
	}
	srv_log (s, "(tls)");
	return TRUE;
}

/* An ordinary server from here on: AUTH, MAIL, RCPT and RSET accepted,
 * messages taken, until QUIT or the end of input. */
static void
srv_serve (Server *s)
{
	for (;;) {
		const char *line = srv_line (s);

		if (s->eof)
			return;
		if (g_str_has_prefix (line, "MAIL ") || g_str_has_prefix (line, "RCPT ") ||
		    g_str_equal (line, "RSET")) {
			srv_say (s, "250 2.0.0 ok\r\n");
		} else if (g_str_equal (line, "DATA")) {
			srv_say (s, "354 go ahead\r\n");
			srv_data (s);
			srv_say (s, "250 2.0.0 queued\r\n");
		} else if (g_str_has_prefix (line, "BDAT ")) {
			srv_bdat (s, line);
			srv_say (s, "250 2.0.0 queued\r\n");
		} else if (g_str_has_prefix (line, "AUTH ")) {
			srv_say (s, "235 2.7.0 authenticated\r\n");
		} else if (g_str_equal (line, "QUIT")) {
			srv_say (s, "221 2.0.0 bye\r\n");
			return;
		} else {
			srv_say (s, "500 5.5.2 what?\r\n");
		}
	}
}

static gpointer
server_thread (gpointer data)
{
	Server *s = data;
	struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};

	/* a connection made before stop is still accepted, and seen */
	for (;;) {
		if (poll (&pfd, 1, 20) > 0) {
			s->fd = accept (s->listen_fd, NULL, NULL);
			break;
		}
		if (g_atomic_int_get (&s->stop))
			break;
	}
	if (s->fd >= 0) {
		s->accepted = TRUE;
		if (s->script != NULL)
			s->script (s);
		g_clear_pointer (&s->tls, gnutls_deinit);
		if (s->fd >= 0)
			close (s->fd);
		s->fd = -1;
	}
	g_atomic_int_set (&s->done, 1);
	return NULL;
}

/* A server on 127.0.0.1, a port of its own, for one connection. */
static Server *
server_new_full (Script script, const char *arg, gboolean patient)
{
	Server *s = g_new0 (Server, 1);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof (sin);

	s->script = script;
	s->arg = arg;
	s->patient = patient;
	s->fd = -1;
	s->in = g_string_new (NULL);
	s->log = g_ptr_array_new_with_free_func (g_free);
	s->message = g_string_new (NULL);
	sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
	s->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint (s->listen_fd, >=, 0);
	g_assert_cmpint (bind (s->listen_fd, (struct sockaddr *)&sin, sizeof (sin)), ==, 0);
	g_assert_cmpint (listen (s->listen_fd, 4), ==, 0);
	g_assert_cmpint (getsockname (s->listen_fd, (struct sockaddr *)&sin, &len), ==, 0);
	s->port = ntohs (sin.sin_port);
	s->thread = g_thread_new ("smtp-server", server_thread, s);
	return s;
}

static Server *
server_new (Script script, const char *arg)
{
	return server_new_full (script, arg, FALSE);
}

/* Runs the main loop (where the client lives) until the script is over. */
static void
server_wait (Server *s)
{
	WAIT_UNTIL (g_atomic_int_get (&s->done));
	g_thread_join (g_steal_pointer (&s->thread));
}

static void
server_free (Server *s)
{
	g_atomic_int_set (&s->stop, 1);
	if (s->thread != NULL)
		server_wait (s);
	close (s->listen_fd);
	g_free (s->line);
	g_string_free (s->in, TRUE);
	g_string_free (s->message, TRUE);
	g_ptr_array_unref (s->log);
	g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Server, server_free)

static void
assert_log (Server *s, const char *const *expected)
{
	g_autoptr(GString) got = g_string_new (NULL);
	g_autofree char *want = g_strjoinv ("\n", (char **)expected);

	for (guint i = 0; i < s->log->len; i++)
		g_string_append_printf (got, "%s%s", i > 0 ? "\n" : "", (const char *)g_ptr_array_index (s->log, i));
	g_assert_cmpstr (got->str, ==, want);
}

/* ---- scripts ------------------------------------------------------------ */

/* greeting, EHLO with the server's extensions, then an ordinary server */
static void
script_serve (Server *s)
{
	srv_greet (s);
	srv_ehlo (s, s->arg);
	srv_serve (s);
}

/* waits for MAIL, every RCPT and DATA before it answers any of them */
static void
script_pipelined (Server *s)
{
	guint n_rcpt = 0;

	srv_greet (s);
	srv_ehlo (s, s->arg);
	srv_line (s);
	while (g_str_has_prefix (srv_line (s), "RCPT "))
		n_rcpt++;
	if (s->eof)
		return;
	srv_say (s, "250 2.1.0 sender ok\r\n");
	for (guint i = 0; i < n_rcpt; i++)
		srv_say (s, "250 2.1.5 recipient ok\r\n");
	srv_say (s, "354 go ahead\r\n");
	srv_data (s);
	srv_say (s, "250 2.0.0 queued as 42\r\n");
	srv_serve (s);
}

/* ---- the client side ---------------------------------------------------- */

static EpSmtpClient *
make_client (EpSmtpClientTls tls)
{
	EpSmtpClient *client = ep_smtp_client_new ("client.test");

	ep_smtp_client_set_tls (client, tls, tls == EP_SMTP_CLIENT_TLS_VERIFY ? "mx.test" : NULL,
				tls == EP_SMTP_CLIENT_TLS_NONE ? NULL : material.ca_file);
	/* a broken test fails in seconds, not minutes */
	ep_smtp_client_set_timeouts (client, 5, 5, 5);
	return client;
}

static void
on_result (GObject *source, GAsyncResult *result, gpointer data)
{
	GAsyncResult **out = data;

	*out = g_object_ref (result);
}

static gboolean
client_connect (EpSmtpClient *client, Server *s, EpSmtpReply **reply, GError **error)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new (lo, s->port);
	g_autoptr(GAsyncResult) result = NULL;

	ep_smtp_client_connect_async (client, G_INET_SOCKET_ADDRESS (address), NULL, on_result, &result);
	WAIT_UNTIL (result != NULL);
	return ep_smtp_client_connect_finish (client, result, reply, error);
}

static void
client_connect_ok (EpSmtpClient *client, Server *s)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = client_connect (client, s, NULL, &error);

	g_assert_no_error (error);
	g_assert_true (ok);
	g_assert_true (ep_smtp_client_is_usable (client));
}

static EpSmtpSendResult *
client_send (EpSmtpClient *client, const char *sender, const char *const *recipients, const char *message,
	     gboolean body_8bit, gboolean smtputf8, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new (message, strlen (message));
	g_autoptr(GAsyncResult) result = NULL;

	ep_smtp_client_send_async (client, sender, recipients, bytes, body_8bit, smtputf8, NULL, on_result, &result);
	WAIT_UNTIL (result != NULL);
	return ep_smtp_client_send_finish (client, result, error);
}

/* an ordinary 7-bit transaction that must succeed */
static EpSmtpSendResult *
client_send_ok (EpSmtpClient *client, const char *const *recipients, const char *message)
{
	g_autoptr(GError) error = NULL;
	EpSmtpSendResult *result = client_send (client, "alice@example.org", recipients, message, FALSE, FALSE, &error);

	g_assert_no_error (error);
	g_assert_nonnull (result);
	return result;
}

static void
assert_reply (const EpSmtpReply *reply, guint code, const char *enhanced, const char *text)
{
	g_assert_nonnull (reply);
	g_assert_cmpuint (reply->code, ==, code);
	g_assert_cmpstr (reply->enhanced, ==, enhanced);
	if (text != NULL)
		g_assert_cmpstr (reply->text, ==, text);
}

/* a refusal decided locally: every recipient has it, nothing was sent */
static void
assert_local_refusal (const EpSmtpSendResult *result, guint n_rcpt, guint code, const char *enhanced)
{
	assert_reply (result->mail, code, enhanced, NULL);
	g_assert_cmpuint (result->rcpt->len, ==, n_rcpt);
	for (guint i = 0; i < n_rcpt; i++)
		assert_reply (ep_smtp_send_result_get_outcome (result, i), code, enhanced, NULL);
	g_assert_null (result->data);
}

static const char *const one_rcpt[] = {"bob@example.net", NULL};
static const char *const two_rcpts[] = {"bob@example.net", "carol@example.net", NULL};
static const char message7[] = "Subject: hello\r\n\r\nHello Bob.\r\n";

/* ---- transactions ------------------------------------------------------- */

static void
test_pipelining (void)
{
	g_autoptr(Server) s = server_new (script_pipelined, "PIPELINING\nSIZE 100000\n8BITMIME");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *mail = NULL;
	const char *message = "Subject: Grüße\r\n\r\n8-bit body\r\n";

	client_connect_ok (client, s);
	g_assert_cmpstr (ep_smtp_client_get_peer_name (client), ==, "mx.test");
	g_assert_true (ep_smtp_client_has_extension (client, "pipelining"));
	g_assert_cmpuint (ep_smtp_client_get_size_limit (client), ==, 100000);

	result = client_send (client, "alice@example.org", two_rcpts, message, TRUE, FALSE, &error);
	g_assert_no_error (error);
	assert_reply (result->mail, 250, "2.1.0", "sender ok");
	assert_reply (g_ptr_array_index (result->rcpt, 0), 250, "2.1.5", "recipient ok");
	assert_reply (g_ptr_array_index (result->rcpt, 1), 250, "2.1.5", "recipient ok");
	assert_reply (result->data, 250, "2.0.0", "queued as 42");
	assert_reply (ep_smtp_send_result_get_outcome (result, 1), 250, "2.0.0", "queued as 42");
	g_assert_true (ep_smtp_client_is_usable (client));

	ep_smtp_client_quit (client);
	server_wait (s);
	/* the server read the whole envelope and DATA before answering any of it */
	mail = g_strdup_printf ("C: MAIL FROM:<alice@example.org> SIZE=%" G_GSIZE_FORMAT " BODY=8BITMIME",
				strlen (message));
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     mail, "C: RCPT TO:<bob@example.net>", "C: RCPT TO:<carol@example.net>",
					     "C: DATA", "S: 250 2.1.0 sender ok", "S: 250 2.1.5 recipient ok",
					     "S: 250 2.1.5 recipient ok", "S: 354 go ahead", "C: (message)",
					     "S: 250 2.0.0 queued as 42", "C: QUIT", "S: 221 2.0.0 bye", NULL});
	g_assert_cmpstr (s->message->str, ==, "Subject: Grüße\r\n\r\n8-bit body\r\n.\r\n");
}

static void
test_no_pipelining (void)
{
	/* waits 100 ms before each answer: anything sent meanwhile is noted */
	g_autoptr(Server) s = server_new_full (script_serve, "8BITMIME", TRUE);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;

	client_connect_ok (client, s);
	g_assert_false (ep_smtp_client_has_extension (client, "PIPELINING"));
	result = client_send_ok (client, two_rcpts, message7);
	assert_reply (result->data, 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "C: MAIL FROM:<alice@example.org>", "S: 250 2.0.0 ok",
					     "C: RCPT TO:<bob@example.net>", "S: 250 2.0.0 ok",
					     "C: RCPT TO:<carol@example.net>", "S: 250 2.0.0 ok", "C: DATA",
					     "S: 354 go ahead", "C: (message)", "S: 250 2.0.0 queued", "C: QUIT",
					     "S: 221 2.0.0 bye", NULL});
}

static void
script_ehlo_refused (Server *s)
{
	srv_greet (s);
	srv_answer (s, "500 5.5.1 command not recognized\r\n");
	srv_answer (s, "250 mx.test\r\n");
	srv_serve (s);
}

static void
test_helo_fallback (void)
{
	g_autoptr(Server) s = server_new (script_ehlo_refused, NULL);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;

	client_connect_ok (client, s);
	g_assert_null (ep_smtp_client_get_extension (client, "8BITMIME"));
	result = client_send_ok (client, one_rcpt, message7);
	assert_reply (ep_smtp_send_result_get_outcome (result, 0), 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test",
					     "S: 500 5.5.1 command not recognized", "C: HELO client.test",
					     "S: 250 mx.test", "C: MAIL FROM:<alice@example.org>", "S: 250 2.0.0 ok",
					     "C: RCPT TO:<bob@example.net>", "S: 250 2.0.0 ok", "C: DATA",
					     "S: 354 go ahead", "C: (message)", "S: 250 2.0.0 queued", "C: QUIT",
					     "S: 221 2.0.0 bye", NULL});
}

static void
script_greeting (Server *s)
{
	srv_say (s, s->arg);
	srv_serve (s);
}

static void
test_greeting_refused (void)
{
	static const struct {
		const char *greeting;
		guint code;
		const char *enhanced;
		EpError error;
		const char *after; /* what the client did then */
	} cases[] = {
	    /* 421: the server is closing anyway, no QUIT */
	    {"421 4.3.2 too busy, try later\r\n", 421, "4.3.2", EP_ERROR_TEMP, "(eof)"},
	    {"554 5.7.1 no mail from you\r\n", 554, "5.7.1", EP_ERROR_PERM, "C: QUIT"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(Server) s = server_new (script_greeting, cases[i].greeting);
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
		g_autoptr(EpSmtpReply) reply = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *said =
		    g_strdup_printf ("S: %.*s", (int)strlen (cases[i].greeting) - 2, cases[i].greeting);

		g_assert_false (client_connect (client, s, &reply, &error));
		g_assert_error (error, EP_ERROR, (gint)cases[i].error);
		assert_reply (reply, cases[i].code, cases[i].enhanced, NULL);
		g_assert_false (ep_smtp_client_is_usable (client));
		server_wait (s);
		g_assert_cmpuint (s->log->len, >=, 2);
		g_assert_cmpstr (g_ptr_array_index (s->log, 0), ==, said);
		/* never an EHLO after a refused greeting */
		g_assert_cmpstr (g_ptr_array_index (s->log, 1), ==, cases[i].after);
	}
}

static void
script_recipients (Server *s)
{
	srv_greet (s);
	srv_ehlo (s, "PIPELINING");
	for (guint i = 0; i < 5; i++) /* MAIL, three RCPT, DATA */
		srv_line (s);
	srv_say (s, "250 2.1.0 ok\r\n");
	srv_say (s, "250 2.1.5 ok\r\n");
	srv_say (s, "550 5.1.1 no such user\r\n");
	srv_say (s, "451 4.7.1 greylisted, try again later\r\n");
	srv_say (s, "354 go ahead\r\n");
	srv_data (s);
	srv_say (s, "250 2.0.0 queued as 7\r\n");
	srv_serve (s);
}

static void
test_recipients (void)
{
	g_autoptr(Server) s = server_new (script_recipients, NULL);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	const char *const rcpts[] = {"ok@example.net", "unknown@example.net", "grey@example.net", NULL};

	client_connect_ok (client, s);
	result = client_send_ok (client, rcpts, message7);
	assert_reply (result->mail, 250, "2.1.0", "ok");
	g_assert_cmpuint (result->rcpt->len, ==, 3);
	assert_reply (g_ptr_array_index (result->rcpt, 0), 250, "2.1.5", "ok");
	assert_reply (result->data, 250, "2.0.0", "queued as 7");
	/* delivered; refused for good; to be tried again */
	assert_reply (ep_smtp_send_result_get_outcome (result, 0), 250, "2.0.0", "queued as 7");
	assert_reply (ep_smtp_send_result_get_outcome (result, 1), 550, "5.1.1", "no such user");
	g_assert_true (ep_smtp_reply_is_permanent (ep_smtp_send_result_get_outcome (result, 1)));
	assert_reply (ep_smtp_send_result_get_outcome (result, 2), 451, "4.7.1", "greylisted, try again later");
	g_assert_true (ep_smtp_reply_is_transient (ep_smtp_send_result_get_outcome (result, 2)));
	g_assert_true (ep_smtp_client_is_usable (client));

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s,
		    (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					  "C: MAIL FROM:<alice@example.org>", "C: RCPT TO:<ok@example.net>",
					  "C: RCPT TO:<unknown@example.net>", "C: RCPT TO:<grey@example.net>",
					  "C: DATA", "S: 250 2.1.0 ok", "S: 250 2.1.5 ok", "S: 550 5.1.1 no such user",
					  "S: 451 4.7.1 greylisted, try again later", "S: 354 go ahead", "C: (message)",
					  "S: 250 2.0.0 queued as 7", "C: QUIT", "S: 221 2.0.0 bye", NULL});
}

static void
test_dot_stuffing (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(GString) message = g_string_new (NULL);
	g_autoptr(GString) wire = g_string_new (NULL);

	/* line ends of every kind, and lines that would end the message early */
	g_string_append (message, "Subject: dots\r\n\r\n.hidden\r\n..two\r\nmid.dot\r\n.\r\nbare LF\nbare CR\r");
	g_string_append (wire, "Subject: dots\r\n\r\n..hidden\r\n...two\r\nmid.dot\r\n..\r\nbare LF\r\nbare CR\r\n");
	/* then enough lines to be written in several pieces */
	for (guint i = 0; i < 20000; i++) {
		g_autofree char *line = NULL;
		if (i % 7 == 0)
			line = g_strdup (".");
		else
			line = g_strdup_printf ("%sline %u of the long part", i % 5 == 0 ? "." : "", i);
		g_string_append_printf (message, "%s%s", i > 0 ? "\r\n" : "", line);
		g_string_append_printf (wire, "%s%s\r\n", line[0] == '.' ? "." : "", line);
	}
	/* the last line has no CRLF: it gets one before the final dot */
	g_string_append (wire, ".\r\n");

	client_connect_ok (client, s);
	result = client_send_ok (client, one_rcpt, message->str);
	assert_reply (result->data, 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	g_assert_cmpuint (s->message->len, ==, wire->len);
	g_assert_true (g_str_equal (s->message->str, wire->str));
}

/* ---- what a server cannot take ------------------------------------------ */

static void
test_size_limit (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING\nSIZE 100");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(EpSmtpSendResult) small = NULL;
	g_autofree char *big = g_strnfill (150, 'x');
	g_autofree char *mail =
	    g_strdup_printf ("C: MAIL FROM:<alice@example.org> SIZE=%" G_GSIZE_FORMAT, strlen (message7));

	client_connect_ok (client, s);
	g_assert_cmpuint (ep_smtp_client_get_size_limit (client), ==, 100);
	result = client_send_ok (client, two_rcpts, big);
	assert_local_refusal (result, 2, 552, "5.3.4");
	g_assert_true (ep_smtp_reply_is_permanent (result->mail));

	/* the connection is still good for a message that fits */
	g_assert_true (ep_smtp_client_is_usable (client));
	small = client_send_ok (client, one_rcpt, message7);
	assert_reply (small->data, 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	g_assert_cmpuint (s->log->len, >=, 4);
	/* the big one never went out: the first MAIL is the small one's */
	g_assert_cmpstr (g_ptr_array_index (s->log, 3), ==, mail);
	g_assert_cmpstr (s->message->str, ==, "Subject: hello\r\n\r\nHello Bob.\r\n.\r\n");
}

static void
test_8bit_refused (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING\nSIZE 1000");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(GError) error = NULL;

	client_connect_ok (client, s);
	result =
	    client_send (client, "alice@example.org", one_rcpt, "Subject: x\r\n\r\nGrüße\r\n", TRUE, FALSE, &error);
	g_assert_no_error (error);
	assert_local_refusal (result, 1, 554, "5.6.3");
	g_assert_true (ep_smtp_reply_is_permanent (ep_smtp_send_result_get_outcome (result, 0)));

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "C: QUIT", "S: 221 2.0.0 bye", NULL});
}

static void
test_smtputf8_refused (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING\n8BITMIME");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(EpSmtpSendResult) none = NULL;
	g_autoptr(GError) error = NULL;
	const char *const rcpts[] = {"zoë@example.net", NULL};

	client_connect_ok (client, s);
	result = client_send (client, "jörg@example.org", rcpts, message7, FALSE, TRUE, &error);
	g_assert_no_error (error);
	assert_local_refusal (result, 1, 553, "5.6.7");

	/* a non-ASCII address without SMTPUTF8 cannot even be asked for */
	none = client_send (client, "jörg@example.org", rcpts, message7, FALSE, FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_null (none);

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "C: QUIT", "S: 221 2.0.0 bye", NULL});
}

static void
test_chunking (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING\nCHUNKING\n8BITMIME\nSMTPUTF8");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(GError) error = NULL;
	const char *const rcpts[] = {"zoë@example.net", NULL};
	/* BDAT sends the message as it is: only line ends are made CRLF */
	const char *message = "Subject: chunks\r\n\r\n.not stuffed\nGrüße";
	const char *wire = "Subject: chunks\r\n\r\n.not stuffed\r\nGrüße\r\n";
	g_autofree char *bdat = g_strdup_printf ("C: BDAT %" G_GSIZE_FORMAT " LAST", strlen (wire));
	g_autofree char *octets = g_strdup_printf ("C: (%" G_GSIZE_FORMAT " octets)", strlen (wire));

	client_connect_ok (client, s);
	result = client_send (client, "jörg@example.org", rcpts, message, TRUE, TRUE, &error);
	g_assert_no_error (error);
	assert_reply (result->mail, 250, "2.0.0", "ok");
	assert_reply (ep_smtp_send_result_get_outcome (result, 0), 250, "2.0.0", "queued");
	g_assert_true (ep_smtp_client_is_usable (client));

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "C: MAIL FROM:<jörg@example.org> BODY=8BITMIME SMTPUTF8",
					     "S: 250 2.0.0 ok", "C: RCPT TO:<zoë@example.net>", "S: 250 2.0.0 ok", bdat,
					     octets, "S: 250 2.0.0 queued", "C: QUIT", "S: 221 2.0.0 bye", NULL});
	g_assert_cmpstr (s->message->str, ==, wire);
}

/* ---- TLS and AUTH ------------------------------------------------------- */

/* offers STARTTLS (and a SIZE that must be forgotten after it) */
static void
script_starttls (Server *s)
{
	srv_greet (s);
	srv_ehlo (s, "SIZE 10\nSTARTTLS");
	if (!g_str_equal (srv_line (s), "STARTTLS") || !srv_starttls (s))
		return;
	srv_ehlo (s, s->arg);
	srv_serve (s);
}

static void
test_starttls (void)
{
	g_autoptr(Server) s = server_new (script_starttls, "PIPELINING\nAUTH PLAIN LOGIN");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_OPPORTUNISTIC);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	g_autofree char *b64 = g_base64_encode ((const guchar *)"\0user\0secret", 12);
	g_autofree char *auth = g_strconcat ("C: AUTH PLAIN ", b64, NULL);

	ep_smtp_client_set_auth (client, "user", "secret");
	client_connect_ok (client, s);
	g_assert_true (ep_smtp_client_is_tls (client));
	g_assert_false (ep_smtp_client_get_tls_failed (client));
	g_assert_true (g_str_has_prefix (ep_smtp_client_get_tls_version (client), "TLSv1."));
	certs = ep_smtp_client_get_peer_certificates (client);
	g_assert_nonnull (certs);
	g_assert_cmpuint (certs->len, ==, 1);
	g_assert_true (g_bytes_equal (g_ptr_array_index (certs, 0), material.der));
	/* what the server said before TLS does not count */
	g_assert_cmpuint (ep_smtp_client_get_size_limit (client), ==, 0);
	g_assert_false (ep_smtp_client_has_extension (client, "STARTTLS"));

	result = client_send_ok (client, one_rcpt, message7);
	assert_reply (result->data, 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	/* everything after "(tls)" was read through the TLS session */
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP",
					     "C: EHLO client.test",
					     "S: 250-mx.test greets you",
					     "C: STARTTLS",
					     "S: 220 2.0.0 ready to start TLS",
					     "(tls)",
					     "C: EHLO client.test",
					     "S: 250-mx.test greets you",
					     auth,
					     "S: 235 2.7.0 authenticated",
					     "C: MAIL FROM:<alice@example.org>",
					     "S: 250 2.0.0 ok",
					     "C: RCPT TO:<bob@example.net>",
					     "S: 250 2.0.0 ok",
					     "C: DATA",
					     "S: 354 go ahead",
					     "C: (message)",
					     "S: 250 2.0.0 queued",
					     "C: QUIT",
					     "S: 221 2.0.0 bye",
					     NULL});
}

static void
test_starttls_verify (void)
{
	/* the certificate is for mx.test and chains to the CA */
	{
		g_autoptr(Server) s = server_new (script_starttls, "PIPELINING");
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_VERIFY);

		client_connect_ok (client, s);
		g_assert_true (ep_smtp_client_is_tls (client));
		ep_smtp_client_quit (client);
		server_wait (s);
	}
	/* ... and not for other.test */
	{
		g_autoptr(Server) s = server_new (script_starttls, "PIPELINING");
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_VERIFY);
		g_autoptr(GError) error = NULL;

		ep_smtp_client_set_tls (client, EP_SMTP_CLIENT_TLS_VERIFY, "other.test", material.ca_file);
		g_assert_false (client_connect (client, s, NULL, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		server_wait (s);
		g_assert_cmpstr (g_ptr_array_index (s->log, s->log->len - 1), ==, "(handshake failed)");
	}
}

static void
test_starttls_required (void)
{
	g_autoptr(Server) s = server_new (script_serve, "PIPELINING\n8BITMIME");
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_REQUIRED);
	g_autoptr(GError) error = NULL;

	g_assert_false (client_connect (client, s, NULL, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_nonnull (strstr (error->message, "STARTTLS"));
	g_assert_false (ep_smtp_client_is_usable (client));
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "(eof)", NULL});
}

static void
test_auth_needs_tls (void)
{
	/* AUTH with TLS switched off is a configuration that cannot work */
	{
		g_autoptr(Server) s = server_new (script_serve, "AUTH PLAIN LOGIN");
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
		g_autoptr(GError) error = NULL;

		ep_smtp_client_set_auth (client, "user", "secret");
		g_assert_false (client_connect (client, s, NULL, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		/* found before connecting */
		g_atomic_int_set (&s->stop, 1);
		server_wait (s);
		g_assert_false (s->accepted);
	}
	/* a server that offers AUTH but not STARTTLS never sees the password */
	{
		g_autoptr(Server) s = server_new (script_serve, "AUTH PLAIN LOGIN");
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_OPPORTUNISTIC);
		g_autoptr(GError) error = NULL;

		ep_smtp_client_set_auth (client, "user", "secret");
		g_assert_false (client_connect (client, s, NULL, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		server_wait (s);
		assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test",
						     "S: 250-mx.test greets you", "(eof)", NULL});
	}
}

/* ---- trouble ------------------------------------------------------------ */

static void
script_close_after_rcpt (Server *s)
{
	srv_greet (s);
	srv_ehlo (s, "8BITMIME");
	srv_answer (s, "250 2.1.0 ok\r\n");
	srv_line (s);
	close (s->fd);
	s->fd = -1;
}

static void
test_server_closes (void)
{
	g_autoptr(Server) s = server_new (script_close_after_rcpt, NULL);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autoptr(EpSmtpSendResult) again = NULL;
	g_autoptr(GError) error = NULL;

	client_connect_ok (client, s);
	result = client_send (client, "alice@example.org", one_rcpt, message7, FALSE, FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_null (result);
	g_assert_false (ep_smtp_client_is_usable (client));
	g_clear_error (&error);

	/* the client is not used again */
	again = client_send (client, "alice@example.org", one_rcpt, message7, FALSE, FALSE, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_null (again);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "S: 250-mx.test greets you",
					     "C: MAIL FROM:<alice@example.org>", "S: 250 2.1.0 ok",
					     "C: RCPT TO:<bob@example.net>", NULL});
}

/* answers nothing after EHLO, or after the message */
static void
script_silent (Server *s)
{
	srv_greet (s);
	if (s->arg == NULL) {
		srv_line (s);
	} else {
		srv_ehlo (s, s->arg);
		srv_answer (s, "250 2.1.0 ok\r\n");
		srv_answer (s, "250 2.1.5 ok\r\n");
		srv_answer (s, "354 go ahead\r\n");
		srv_data (s);
	}
	/* nothing comes until the client gives up */
	srv_line (s);
}

static void
test_timeout (void)
{
	/* the reply to EHLO never comes: the command timeout */
	{
		g_autoptr(Server) s = server_new (script_silent, NULL);
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
		g_autoptr(GError) error = NULL;
		gint64 start = g_get_monotonic_time ();

		ep_smtp_client_set_timeouts (client, 0, 1, 0);
		g_assert_false (client_connect (client, s, NULL, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_assert_nonnull (strstr (error->message, "timed out"));
		g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);
		g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
		server_wait (s);
		/* the client hung up rather than wait for ever */
		assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP", "C: EHLO client.test", "(eof)", NULL});
	}
	/* the final reply never comes: the data timeout */
	{
		g_autoptr(Server) s = server_new (script_silent, "8BITMIME");
		g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
		g_autoptr(EpSmtpSendResult) result = NULL;
		g_autoptr(GError) error = NULL;
		gint64 start;

		ep_smtp_client_set_timeouts (client, 0, 0, 1);
		client_connect_ok (client, s);
		start = g_get_monotonic_time ();
		result = client_send (client, "alice@example.org", one_rcpt, message7, FALSE, FALSE, &error);
		g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
		g_assert_null (result);
		g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
		server_wait (s);
		g_assert_cmpstr (g_ptr_array_index (s->log, s->log->len - 2), ==, "C: (message)");
		g_assert_cmpstr (g_ptr_array_index (s->log, s->log->len - 1), ==, "(eof)");
	}
}

static void
script_multiline (Server *s)
{
	srv_say (s, "220-mx.test ESMTP at your service\r\n220-no UCE\r\n220 really\r\n");
	srv_ehlo (s, "PIPELINING\nSIZE 35882577\nAUTH PLAIN LOGIN\n8BITMIME");
	for (guint i = 0; i < 4; i++) /* MAIL, two RCPT, DATA */
		srv_line (s);
	srv_say (s, "250 2.1.0 ok\r\n");
	srv_say (s, "550-5.1.1 no such user\r\n550-5.1.1 in this domain\r\n550 5.1.1 try another\r\n");
	srv_say (s, "250 2.1.5 ok\r\n");
	srv_say (s, "354 go ahead\r\n");
	srv_data (s);
	srv_say (s, "250-2.0.0 queued as 9\r\n250 2.0.0 have a nice day\r\n");
	srv_serve (s);
}

static void
test_multiline (void)
{
	g_autoptr(Server) s = server_new (script_multiline, NULL);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) result = NULL;
	g_autofree char *line = NULL;

	client_connect_ok (client, s);
	g_assert_cmpstr (ep_smtp_client_get_peer_name (client), ==, "mx.test");
	g_assert_cmpstr (ep_smtp_client_get_extension (client, "auth"), ==, "PLAIN LOGIN");
	g_assert_cmpstr (ep_smtp_client_get_extension (client, "8BITMIME"), ==, "");
	g_assert_cmpuint (ep_smtp_client_get_size_limit (client), ==, 35882577);

	result = client_send_ok (client, two_rcpts, message7);
	assert_reply (ep_smtp_send_result_get_outcome (result, 0), 550, "5.1.1",
		      "no such user\nin this domain\ntry another");
	line = ep_smtp_reply_to_string (ep_smtp_send_result_get_outcome (result, 0));
	g_assert_cmpstr (line, ==, "550 5.1.1 no such user in this domain try another");
	assert_reply (ep_smtp_send_result_get_outcome (result, 1), 250, "2.0.0", "queued as 9\nhave a nice day");
	g_assert_true (ep_smtp_client_is_usable (client));
	ep_smtp_client_quit (client);
	server_wait (s);
}

static void
script_reuse (Server *s)
{
	srv_greet (s);
	srv_ehlo (s, "8BITMIME");
	/* the only recipient refused: no DATA, and RSET */
	srv_answer (s, "250 2.1.0 ok\r\n");
	srv_answer (s, "550 5.1.1 no such user\r\n");
	srv_answer (s, "250 2.0.0 reset\r\n");
	/* the message refused after DATA */
	srv_answer (s, "250 2.1.0 ok\r\n");
	srv_answer (s, "250 2.1.5 ok\r\n");
	srv_answer (s, "354 go ahead\r\n");
	srv_data (s);
	srv_say (s, "554 5.7.1 looks like spam\r\n");
	/* and one that goes through */
	srv_serve (s);
}

static void
test_reuse (void)
{
	g_autoptr(Server) s = server_new (script_reuse, NULL);
	g_autoptr(EpSmtpClient) client = make_client (EP_SMTP_CLIENT_TLS_NONE);
	g_autoptr(EpSmtpSendResult) first = NULL;
	g_autoptr(EpSmtpSendResult) second = NULL;
	g_autoptr(EpSmtpSendResult) third = NULL;

	client_connect_ok (client, s);
	first = client_send_ok (client, one_rcpt, message7);
	assert_reply (ep_smtp_send_result_get_outcome (first, 0), 550, "5.1.1", "no such user");
	g_assert_null (first->data);
	g_assert_true (ep_smtp_client_is_usable (client));

	second = client_send_ok (client, one_rcpt, message7);
	assert_reply (second->data, 554, "5.7.1", "looks like spam");
	assert_reply (ep_smtp_send_result_get_outcome (second, 0), 554, "5.7.1", "looks like spam");
	g_assert_true (ep_smtp_client_is_usable (client));

	third = client_send_ok (client, one_rcpt, message7);
	assert_reply (ep_smtp_send_result_get_outcome (third, 0), 250, "2.0.0", "queued");

	ep_smtp_client_quit (client);
	server_wait (s);
	assert_log (s, (const char *const[]){"S: 220 mx.test ESMTP",
					     "C: EHLO client.test",
					     "S: 250-mx.test greets you",
					     "C: MAIL FROM:<alice@example.org>",
					     "S: 250 2.1.0 ok",
					     "C: RCPT TO:<bob@example.net>",
					     "S: 550 5.1.1 no such user",
					     "C: RSET",
					     "S: 250 2.0.0 reset",
					     "C: MAIL FROM:<alice@example.org>",
					     "S: 250 2.1.0 ok",
					     "C: RCPT TO:<bob@example.net>",
					     "S: 250 2.1.5 ok",
					     "C: DATA",
					     "S: 354 go ahead",
					     "C: (message)",
					     "S: 554 5.7.1 looks like spam",
					     "C: MAIL FROM:<alice@example.org>",
					     "S: 250 2.0.0 ok",
					     "C: RCPT TO:<bob@example.net>",
					     "S: 250 2.0.0 ok",
					     "C: DATA",
					     "S: 354 go ahead",
					     "C: (message)",
					     "S: 250 2.0.0 queued",
					     "C: QUIT",
					     "S: 221 2.0.0 bye",
					     NULL});
}

int
main (int argc, char **argv)
{
	int ret;

	g_test_init (&argc, &argv, NULL);
	/* a peer that hung up must not kill the server thread's writes */
	signal (SIGPIPE, SIG_IGN);
	material_make ();

	g_test_add_func ("/smtp-client/pipelining", test_pipelining);
	g_test_add_func ("/smtp-client/no-pipelining", test_no_pipelining);
	g_test_add_func ("/smtp-client/helo-fallback", test_helo_fallback);
	g_test_add_func ("/smtp-client/greeting-refused", test_greeting_refused);
	g_test_add_func ("/smtp-client/recipients", test_recipients);
	g_test_add_func ("/smtp-client/dot-stuffing", test_dot_stuffing);
	g_test_add_func ("/smtp-client/size-limit", test_size_limit);
	g_test_add_func ("/smtp-client/8bit-refused", test_8bit_refused);
	g_test_add_func ("/smtp-client/smtputf8-refused", test_smtputf8_refused);
	g_test_add_func ("/smtp-client/chunking", test_chunking);
	g_test_add_func ("/smtp-client/starttls", test_starttls);
	g_test_add_func ("/smtp-client/starttls-verify", test_starttls_verify);
	g_test_add_func ("/smtp-client/starttls-required", test_starttls_required);
	g_test_add_func ("/smtp-client/auth-needs-tls", test_auth_needs_tls);
	g_test_add_func ("/smtp-client/server-closes", test_server_closes);
	g_test_add_func ("/smtp-client/timeout", test_timeout);
	g_test_add_func ("/smtp-client/multiline", test_multiline);
	g_test_add_func ("/smtp-client/reuse", test_reuse);

	ret = g_test_run ();
	material_clear ();
	return ret;
}
