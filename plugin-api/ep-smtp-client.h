/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-smtp-reply.h"
#include "ep-tls.h"

G_BEGIN_DECLS

/*
 * The outbound SMTP client (RFC 5321) the queue delivers with: one
 * connection to one MX host or smart host, EHLO (HELO when EHLO is
 * refused), STARTTLS (RFC 3207), AUTH PLAIN or LOGIN over TLS only
 * (RFC 4954), then any number of transactions, each with PIPELINING
 * (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531)
 * and CHUNKING (RFC 3030) when the server offers them.
 *
 * Everything runs on the thread-default main context of the thread that
 * made the client, never blocking it.  One operation at a time: connect,
 * then sends one after the other.  A client whose connection failed or
 * broke is not usable again; make a new one.  docs/smtp-client.md has the
 * error mapping, the timeouts and the TLS modes.
 *
 * Errors (GError, EP_ERROR domain):
 *   EP_ERROR_TEMP    network trouble, timeouts, TLS failures, a protocol
 *                    violation by the server, a 4yz refusal during connect
 *   EP_ERROR_PERM    a 5yz refusal during connect (greeting, EHLO and
 *                    HELO, STARTTLS, AUTH)
 *   EP_ERROR_CONFIG  a setting that cannot work (AUTH without a TLS mode,
 *                    TLS_VERIFY without a server name, an unreadable CA file)
 *   EP_ERROR_INVALID a call that cannot be made (not connected, an address
 *                    with control characters)
 *   G_IO_ERROR_CANCELLED  the GCancellable was cancelled
 */

#define EP_TYPE_SMTP_CLIENT (ep_smtp_client_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpSmtpClient, ep_smtp_client, EP, SMTP_CLIENT, GObject)

typedef enum {
	EP_SMTP_CLIENT_TLS_NONE,	  /* never STARTTLS */
	EP_SMTP_CLIENT_TLS_OPPORTUNISTIC, /* STARTTLS when offered, certificate not checked; see get_tls_failed() */
	EP_SMTP_CLIENT_TLS_REQUIRED,	  /* STARTTLS must be offered and succeed, certificate not checked */
	EP_SMTP_CLIENT_TLS_VERIFY,	  /* required, certificate chains to the trust store and matches the name */
	EP_SMTP_CLIENT_TLS_IMPLICIT,	  /* TLS from the first octet (port 465), certificate checked as VERIFY */
} EpSmtpClientTls;

typedef struct {
	EpSmtpReply *mail; /* the MAIL FROM reply (or the local refusal) */
	GPtrArray *rcpt;   /* of EpSmtpReply*, one per recipient in order: the RCPT reply, or a copy
			    * of the MAIL reply when MAIL failed or the transaction was refused locally */
	EpSmtpReply *data; /* (nullable) the reply that decides the accepted recipients: the final reply
			    * (after the end of DATA or BDAT ... LAST), or the refusal of the DATA command;
			    * NULL when MAIL failed or no recipient was accepted */
} EpSmtpSendResult;

EP_API void ep_smtp_send_result_free (EpSmtpSendResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpSmtpSendResult, ep_smtp_send_result_free)

/**
 * ep_smtp_send_result_get_outcome:
 * @index: a recipient's index
 *
 * Returns: (transfer none): what became of the recipient: the final reply
 *   when RCPT accepted it, else its RCPT reply.
 */
EP_API const EpSmtpReply *ep_smtp_send_result_get_outcome (const EpSmtpSendResult *result, guint index);

/* @helo_name: the name given in EHLO/HELO (a domain or an address literal) */
EP_API G_GNUC_WARN_UNUSED_RESULT EpSmtpClient *ep_smtp_client_new (const char *helo_name);

/**
 * ep_smtp_client_set_tls:
 * @server_name: (nullable): sent as SNI (unless an IP address) and, for
 *   VERIFY and IMPLICIT, the name the certificate must match
 * @ca_file: (nullable): PEM trust anchors for VERIFY and IMPLICIT; NULL
 *   for the system trust store
 *
 * Default: EP_SMTP_CLIENT_TLS_OPPORTUNISTIC.  Call before connecting.
 */
EP_API void ep_smtp_client_set_tls (EpSmtpClient *self, EpSmtpClientTls mode, const char *server_name,
				    const char *ca_file);
/* Shares a client TLS context (ep_tls_context_new_client()) instead of
 * loading the trust anchors of set_tls() for this client. */
EP_API void ep_smtp_client_set_tls_context (EpSmtpClient *self, EpTlsContext *tls);

/* AUTH PLAIN (LOGIN when only LOGIN is offered) after EHLO, over TLS only:
 * without TLS the connection fails before any credential is sent. */
EP_API void ep_smtp_client_set_auth (EpSmtpClient *self, const char *username, const char *password);

/**
 * ep_smtp_client_set_timeouts:
 * @connect_s: TCP connect (default 30)
 * @command_s: greeting, EHLO, STARTTLS and the handshake, AUTH, MAIL,
 *   RCPT, RSET, and a stalled write of the message (default 300; the DATA
 *   command's 354 waits at most 120 of them, a stalled write 180)
 * @data_s: the final reply after the message is written (default 600)
 *
 * RFC 5321 §4.5.3.2.  0 keeps the current value.
 */
EP_API void ep_smtp_client_set_timeouts (EpSmtpClient *self, guint connect_s, guint command_s, guint data_s);

/**
 * ep_smtp_client_connect_async:
 * @address: the server's address and port
 *
 * Connects, reads the greeting, EHLO (HELO when EHLO gets 5yz), STARTTLS
 * as set (and EHLO again, forgetting the extensions offered before TLS),
 * AUTH when set.
 */
EP_API void ep_smtp_client_connect_async (EpSmtpClient *self, GInetSocketAddress *address,
					  GCancellable *cancellable, GAsyncReadyCallback callback,
					  gpointer user_data);
/**
 * ep_smtp_client_connect_finish:
 * @reply: (out) (optional) (nullable) (transfer full): the reply the
 *   server refused with, when it did (NULL on success and for failures
 *   that are not a refusal)
 */
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_smtp_client_connect_finish (EpSmtpClient *self, GAsyncResult *result,
									 EpSmtpReply **reply, GError **error);

/**
 * ep_smtp_client_send_async:
 * @sender: the reverse path without <> ("" for the null sender)
 * @recipients: (array zero-terminated=1): forward paths without <>, at least one
 * @message: the message; lines end with CRLF (a bare LF or CR is sent as
 *   CRLF, and a missing final CRLF is added)
 * @body_8bit: the message has 8-bit octets: BODY=8BITMIME
 * @smtputf8: the envelope or headers need SMTPUTF8
 *
 * One transaction: MAIL, RCPT for each recipient, then DATA (or BDAT when
 * the server offers CHUNKING).  With PIPELINING the MAIL, RCPT and DATA
 * commands go out in one write.  When the message cannot go to this server
 * at all, nothing is sent and every recipient gets the same local reply:
 * 552 5.3.4 (larger than the server's SIZE), 554 5.6.3 (8-bit and no
 * 8BITMIME: no down-conversion), 553 5.6.7 (SMTPUTF8 needed but not
 * offered).  Afterwards the client is ready for the next transaction (it
 * sends RSET after one that failed half-way).  An error (network, timeout,
 * protocol) means nothing is known of any recipient.
 */
EP_API void ep_smtp_client_send_async (EpSmtpClient *self, const char *sender, const char *const *recipients,
				       GBytes *message, gboolean body_8bit, gboolean smtputf8,
				       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpSmtpSendResult *ep_smtp_client_send_finish (EpSmtpClient *self,
									       GAsyncResult *result,
									       GError **error);

/* QUIT and close without waiting for the answer; never blocks.  An
 * operation in progress fails with G_IO_ERROR_CANCELLED. */
EP_API void ep_smtp_client_quit (EpSmtpClient *self);

/* Connected, no operation in progress, the server has not closed or said 421. */
EP_API gboolean ep_smtp_client_is_usable (EpSmtpClient *self);

EP_API gboolean	   ep_smtp_client_is_tls (EpSmtpClient *self);
EP_API const char *ep_smtp_client_get_tls_version (EpSmtpClient *self);
EP_API const char *ep_smtp_client_get_tls_cipher (EpSmtpClient *self);
/* OPPORTUNISTIC: STARTTLS was refused or its handshake failed (the
 * connection then fails; a retry in clear text is the caller's choice). */
EP_API gboolean ep_smtp_client_get_tls_failed (EpSmtpClient *self);
/**
 * ep_smtp_client_get_peer_certificates:
 *
 * Returns: (transfer full) (nullable): the server's certificate chain as
 *   DER, leaf first (of GBytes), or NULL without TLS.
 */
EP_API GPtrArray *ep_smtp_client_get_peer_certificates (EpSmtpClient *self);

/* The first word of the greeting (for logs and the DSN's Remote-MTA). */
EP_API const char *ep_smtp_client_get_peer_name (EpSmtpClient *self);
/* The server's SIZE, 0 when unknown or unlimited. */
EP_API gsize	   ep_smtp_client_get_size_limit (EpSmtpClient *self);
/* EHLO keywords, case-insensitive ("PIPELINING"). */
EP_API gboolean	   ep_smtp_client_has_extension (EpSmtpClient *self, const char *keyword);
/* The parameters after the keyword ("PLAIN LOGIN" for AUTH), "" for none,
 * NULL when not offered. */
EP_API const char *ep_smtp_client_get_extension (EpSmtpClient *self, const char *keyword);
/* The session id of this client's log lines. */
EP_API const char *ep_smtp_client_get_session_id (EpSmtpClient *self);

/*
 * The DATA wire form of a message, produced incrementally so that a large
 * message is never copied whole: every line ends with CRLF (a bare LF or
 * a bare CR becomes CRLF), and with @dot_stuff a line starting with "."
 * gets one more "." and the end is CRLF "." CRLF (RFC 5321 §4.5.2).
 * Without @dot_stuff (BDAT) only the line ends are made CRLF.
 */
typedef struct {
	gboolean dot_stuff;
	gboolean line_start; /* the next octet starts a line */
	gboolean cr;	     /* the last octet was a CR */
} EpSmtpDataEncoder;

EP_API void ep_smtp_data_encoder_init (EpSmtpDataEncoder *enc, gboolean dot_stuff);
/* Appends the encoding of @data to @out and returns the octets it takes;
 * with @out NULL only counts them. */
EP_API gsize ep_smtp_data_encoder_feed (EpSmtpDataEncoder *enc, const guint8 *data, gsize len, GByteArray *out);
/* The final CRLF when missing, then (dot_stuff) ".\r\n". */
EP_API gsize ep_smtp_data_encoder_finish (EpSmtpDataEncoder *enc, GByteArray *out);

G_END_DECLS
