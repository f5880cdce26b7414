/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The SASL server (RFC 4422) behind SMTP AUTH, IMAP AUTHENTICATE and POP3
 * AUTH.  Pure and I/O-free: a protocol module decodes the client's base64,
 * feeds the octets to ep_sasl_server_step() and base64-encodes what comes
 * back.  Credentials are looked up by the caller (the auth.verify hook,
 * usually asynchronous); the exchange pauses with
 * %EP_SASL_NEED_CREDENTIALS meanwhile.
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
 * SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, channel
 * binding "tls-exporter" of RFC 9266), OAUTHBEARER (RFC 7628) and XOAUTH2
 * (Google's variant).
 *
 * A typical exchange:
 *
 *   s = ep_sasl_server_new ("PLAIN", &settings, &error);
 *   status = ep_sasl_server_step (s, initial_response, &out, &error);
 *   loop:
 *     CONTINUE          send @out as a challenge ("334", "+"), feed the
 *                       decoded answer to ep_sasl_server_step()
 *     NEED_CREDENTIALS  ask the backends (see ep_sasl_server_get_kind()),
 *                       then ep_sasl_server_set_verified() or
 *                       ep_sasl_server_set_scram_credentials(), then
 *                       ep_sasl_server_step (s, NULL, ...)
 *     SUCCESS           authenticated as ep_sasl_server_get_account(); a
 *                       non-NULL @out is the SCRAM server-final message,
 *                       sent as additional data (SMTP 235 after a last
 *                       "334", IMAP "+" then OK, POP3 "+" then +OK)
 *     FAILURE           @error says why, for the log only: EP_ERROR_PERM
 *                       for wrong credentials, EP_ERROR_INVALID for a
 *                       malformed message, EP_ERROR_INTERNAL for a misuse
 *                       of this API.  The client gets the protocol's
 *                       generic failure answer, never the message.
 *
 * A client cancelling ("*") is the protocol's business: drop the server.
 *
 * PLAIN and LOGIN hand the authorization identity over as is; whether the
 * authentication identity may act for it is the caller's decision (refuse
 * by default).
 *
 * Identities are checked (UTF-8, no control characters, at most
 * %EP_SASL_MAX_IDENTITY octets) but not SASLprep'd: SCRAM clients prepare
 * the user name themselves, and the directory compares what it stores.
 * PLAIN and LOGIN passwords are handed over as sent (UTF-8 without ASCII
 * control characters) because they are checked against argon2id hashes of
 * the password as it was set; SCRAM passwords go through ep_sasl_prep()
 * in ep_scram_sha256_derive().
 */

/* the longest message a client may send in one step */
#define EP_SASL_MAX_INPUT 16384
/* identities (authcid, authzid): RFC 4616 asks for at least 255 octets */
#define EP_SASL_MAX_IDENTITY 255
/* passwords */
#define EP_SASL_MAX_PASSWORD 1024
/* SCRAM iteration counts this server accepts in stored credentials:
 * RFC 7677 §4 asks for at least 4096 */
#define EP_SCRAM_MIN_ITERATIONS     4096
#define EP_SCRAM_MAX_ITERATIONS     10000000
#define EP_SCRAM_DEFAULT_ITERATIONS 4096
#define EP_SCRAM_SALT_LEN           16
#define EP_SCRAM_KEY_LEN            32

typedef enum {
	EP_SASL_CONTINUE,         /* send the output as a challenge, step with the answer */
	EP_SASL_NEED_CREDENTIALS, /* look credentials up, set them, step with NULL */
	EP_SASL_SUCCESS,          /* authenticated; output may carry server-final data */
	EP_SASL_FAILURE,          /* not authenticated; @error says why (log only) */
} EpSaslStatus;

typedef enum {
	EP_SASL_CREDENTIALS_NONE,     /* nothing is needed (yet) */
	EP_SASL_CREDENTIALS_PASSWORD, /* check get_secret() as @authcid's password */
	EP_SASL_CREDENTIALS_BEARER,   /* check get_secret() as an OAuth 2.0 bearer token */
	EP_SASL_CREDENTIALS_SCRAM,    /* give @authcid's stored SCRAM-SHA-256 credentials */
} EpSaslCredentialKind;

typedef struct {
	/* the protocol: "smtp", "imap", "pop3", "managesieve" (logs only) */
	const char *service;
	/* the connection is under TLS */
	gboolean tls_active;
	/* let mechanisms start without TLS (tests, or a local socket the
	 * operator trusts); off by default: ep_sasl_server_new() refuses */
	gboolean allow_plaintext;
	/* (nullable): the "tls-exporter" channel binding (RFC 9266) of the
	 * connection, from ep_connection_get_channel_binding().  When set,
	 * SCRAM-SHA-256-PLUS is offered and a SCRAM-SHA-256 client that says
	 * it could bind ("y") is refused as a downgrade.  When %NULL,
	 * SCRAM-SHA-256-PLUS cannot start. */
	GBytes *channel_binding;
	/* (nullable): OAUTHBEARER / XOAUTH2 failure details for the client
	 * (RFC 7628 §3.2.2): the scope a token needs and the discovery URL */
	const char *oauth_scope;
	const char *oauth_openid_configuration;
	/* the iteration count made-up SCRAM credentials of unknown users
	 * show; 0 for %EP_SCRAM_DEFAULT_ITERATIONS.  Set it to what
	 * ep_scram_sha256_credentials_new() is given, so that unknown users
	 * do not stand out. */
	guint scram_fake_iterations;
} EpSaslServerSettings;

typedef struct _EpSaslServer EpSaslServer;

/**
 * ep_sasl_mechanisms_available:
 * @tls_active: the connection is under TLS
 * @has_channel_binding: tls-exporter channel-binding data is available
 * @oauth_configured: a bearer-token backend is configured
 *
 * The mechanisms to advertise, in this order: PLAIN LOGIN SCRAM-SHA-256
 * [SCRAM-SHA-256-PLUS] [OAUTHBEARER XOAUTH2].  Nothing without TLS.
 *
 * Returns: (transfer full): a %NULL-terminated list, possibly empty
 */
EP_API G_GNUC_WARN_UNUSED_RESULT GStrv ep_sasl_mechanisms_available (gboolean tls_active, gboolean has_channel_binding,
								    gboolean oauth_configured);

/**
 * ep_sasl_server_new:
 * @mechanism: the mechanism the client asked for (case ignored)
 *
 * Returns: (transfer full) (nullable): a server for one exchange, or
 *   %NULL with EP_ERROR_NOT_FOUND (unknown mechanism), EP_ERROR_PERM (no
 *   TLS and plaintext not allowed) or EP_ERROR_UNAVAILABLE (-PLUS without
 *   channel-binding data)
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpSaslServer *ep_sasl_server_new (const char *mechanism,
								   const EpSaslServerSettings *settings, GError **error);
EP_API void ep_sasl_server_free (EpSaslServer *self);

/* the canonical (upper-case) mechanism name */
EP_API const char *ep_sasl_server_get_mechanism (EpSaslServer *self);

/**
 * ep_sasl_server_step:
 * @input: (nullable): the client's decoded response; %NULL when the client
 *   sent no initial response, and when resuming after NEED_CREDENTIALS.
 *   An empty initial response (SMTP "=") is an empty #GBytes, not %NULL.
 * @output: (out) (transfer full) (nullable): the challenge (CONTINUE) or
 *   the additional data (SUCCESS); may be empty, %NULL when there is none
 *
 * Stepping after SUCCESS or FAILURE is a FAILURE (EP_ERROR_INTERNAL).
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpSaslStatus ep_sasl_server_step (EpSaslServer *self, GBytes *input, GBytes **output,
								   GError **error);

/* what NEED_CREDENTIALS asks for */
EP_API EpSaslCredentialKind ep_sasl_server_get_kind (EpSaslServer *self);

/**
 * ep_sasl_server_get_authcid:
 *
 * The authentication identity (PLAIN, LOGIN, SCRAM "n="); for the bearer
 * mechanisms the user the client names (XOAUTH2 "user=", OAUTHBEARER
 * "a="), which the caller must check against the token's subject.
 *
 * Returns: (nullable): the identity, valid UTF-8 without NUL or control
 *   characters, SCRAM's =2C/=3D escapes undone
 */
EP_API const char *ep_sasl_server_get_authcid (EpSaslServer *self);
/* Returns: (nullable): the authorization identity asked for (PLAIN, SCRAM "a=") */
EP_API const char *ep_sasl_server_get_authzid (EpSaslServer *self);
/* Returns: (nullable): the password (PASSWORD) or the bearer token
 * (BEARER), valid UTF-8; never log it.  Wiped when the server is freed. */
EP_API const char *ep_sasl_server_get_secret (EpSaslServer *self);
/* Returns: (nullable): the account after SUCCESS */
EP_API const char *ep_sasl_server_get_account (EpSaslServer *self);

/**
 * ep_sasl_server_set_verified:
 * @account: (nullable): the account the credentials open; %NULL when they
 *   do not
 *
 * Answers NEED_CREDENTIALS for PASSWORD and BEARER; then step with %NULL.
 */
EP_API void ep_sasl_server_set_verified (EpSaslServer *self, const char *account);

/**
 * ep_sasl_server_set_scram_credentials:
 * @account: (nullable): the account; %NULL when the user is unknown (or
 *   has no SCRAM credentials): the exchange goes on with made-up
 *   credentials, deterministic per user name, and fails at the end exactly
 *   like a wrong password does
 * @salt: (nullable): with @account
 * @stored_key: (nullable): with @account, %EP_SCRAM_KEY_LEN octets
 * @server_key: (nullable): with @account, %EP_SCRAM_KEY_LEN octets
 *
 * Answers NEED_CREDENTIALS for SCRAM; then step with %NULL to get the
 * server-first message.
 *
 * Returns: %FALSE with EP_ERROR_INVALID when the credentials are not
 *   usable (iteration count out of range, wrong key length); the exchange
 *   then goes on as for an unknown user
 */
EP_API gboolean ep_sasl_server_set_scram_credentials (EpSaslServer *self, const char *account, GBytes *salt,
						      guint iterations, GBytes *stored_key, GBytes *server_key,
						      GError **error);

/* The same with the string form of ep_scram_sha256_credentials_parse();
 * @credentials %NULL or @account %NULL means an unknown user. */
EP_API gboolean ep_sasl_server_set_scram_credentials_string (EpSaslServer *self, const char *account,
							     const char *credentials, GError **error);

/* For tests only: use @nonce as the server's part of the SCRAM nonce
 * instead of a random one.  Printable ASCII without ','. */
EP_API void ep_sasl_server_set_nonce_for_testing (EpSaslServer *self, const char *nonce);

/**
 * ep_sasl_prep:
 *
 * A subset of SASLprep (RFC 4013) for SCRAM passwords and user names:
 * valid UTF-8 required; non-ASCII spaces (C.1.2) mapped to U+0020; the
 * "commonly mapped to nothing" characters (B.1) removed; NFKC; then
 * control characters (ASCII C0 and DEL, C1, and the C.2.2 formatting
 * controls), private-use, non-character, surrogate, tagging, inappropriate
 * for plain text / canonical representation (C.6, C.7) and directionality
 * change characters (C.8) refused.  Not done: the bidirectional checks of
 * RFC 3454 §6 and unassigned code points (a string with them is taken as
 * the "query" profile would).  An ASCII string without controls comes
 * back unchanged.
 *
 * Returns: (transfer full) (nullable): the prepared string, or %NULL with
 *   EP_ERROR_INVALID
 */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_sasl_prep (const char *in, GError **error);

/**
 * ep_scram_sha256_derive:
 * @salt: at least 8 octets
 * @iterations: %EP_SCRAM_MIN_ITERATIONS to %EP_SCRAM_MAX_ITERATIONS
 * @stored_key: (out) (transfer full): H(HMAC(SaltedPassword, "Client Key"))
 * @server_key: (out) (transfer full): HMAC(SaltedPassword, "Server Key")
 *
 * PBKDF2-HMAC-SHA-256 of the SASLprep'd @password (RFC 5802 §3).
 * CPU-heavy: call it from the worker pool.
 */
EP_API gboolean ep_scram_sha256_derive (const char *password, GBytes *salt, guint iterations, GBytes **stored_key,
					GBytes **server_key, GError **error);

/**
 * ep_scram_sha256_credentials_new:
 * @iterations: 0 for %EP_SCRAM_DEFAULT_ITERATIONS
 *
 * A fresh random salt, then ep_scram_sha256_derive() and
 * ep_scram_sha256_credentials_format().  CPU-heavy.
 *
 * Returns: (transfer full): "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>"
 */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_scram_sha256_credentials_new (const char *password, guint iterations,
									GError **error);

/* Returns: (transfer full): the stored form, standard base64 with padding */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_scram_sha256_credentials_format (guint iterations, GBytes *salt,
									   GBytes *stored_key, GBytes *server_key);

/**
 * ep_scram_sha256_credentials_parse:
 * @salt: (out) (transfer full):
 * @stored_key: (out) (transfer full):
 * @server_key: (out) (transfer full):
 *
 * Returns: %FALSE with EP_ERROR_INVALID when @text is not that form, the
 *   iteration count is out of range or a key is not 32 octets
 */
EP_API gboolean ep_scram_sha256_credentials_parse (const char *text, guint *iterations, GBytes **salt,
						   GBytes **stored_key, GBytes **server_key, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpSaslServer, ep_sasl_server_free)

G_END_DECLS
