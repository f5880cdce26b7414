/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-auth-results.h"
#include "ep-hook-bus.h"

G_BEGIN_DECLS

/*
 * The context structs of the hook points.  Whoever runs a chain owns its
 * context and everything the context points to, and keeps it alive until
 * the chain ended.  Fields marked "in" are read-only for handlers; fields
 * marked "out" may be set by a handler before it answers; strings out are
 * set with ep_hook_ctx_set_string() and freed by whoever runs the chain.
 *
 * Changing the layout of any of these structs changes the module ABI:
 * bump EP_MODULE_ABI_VERSION.
 */

/**
 * ep_hook_ctx_set_string:
 * @field: an "out" string of a context
 * @value: (nullable): the new value, copied
 *
 * Replaces an "out" string, freeing what an earlier handler set.
 */
static inline void
ep_hook_ctx_set_string (char **field, const char *value)
{
	char *copy = g_strdup (value);
	g_free (*field);
	*field = copy;
}

/* What every SMTP hook knows about the connection, filled in as the
 * session goes on; owned by the SMTP session. */
typedef struct {
	const char *session_id;         /* the id the log carries */
	GInetSocketAddress *peer;       /* the client */
	GInetSocketAddress *local;      /* the address the client connected to */
	const char *listener_kind;      /* "smtp", "submission", "submissions", "lmtp"... */
	const char *helo;               /* (nullable): the HELO/EHLO name, once given */
	gboolean tls_active;            /* STARTTLS done, or implicit TLS */
	const char *authenticated_user; /* (nullable): the account after AUTH */
} EpSmtpSessionInfo;

/* smtp.connect: a client connected; REJECT/TEMPFAIL refuse the greeting. */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
} EpSmtpConnectCtx;

/* smtp.helo: HELO or EHLO. */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
	const char *helo;                 /* in: the name given */
	gboolean is_ehlo;                 /* in */
} EpSmtpHeloCtx;

/* smtp.mail_from: MAIL FROM. */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
	const char *reverse_path;         /* in: the sender, "" for the null sender <> */
	GHashTable *parameters;           /* in: ESMTP parameters, upper-case keyword -> value (nullable) */
	EpAuthResults *auth_results;      /* in: the transaction's authentication results: SPF adds its own */
} EpSmtpMailFromCtx;

/* smtp.rcpt_to: RCPT TO, once per recipient. */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
	const char *reverse_path;         /* in: the sender of the transaction */
	const char *recipient;            /* in: the forward path */
	GHashTable *parameters;           /* in: ESMTP parameters, upper-case keyword -> value (nullable) */
	guint n_accepted;                 /* in: recipients accepted so far in this transaction */
	char *account;                    /* out: the local account the recipient resolves to */
	gboolean is_local;                /* out: the recipient is delivered here */
} EpSmtpRcptToCtx;

/* smtp.data: the whole message, before it is accepted.  Handlers add
 * trace headers (Authentication-Results, spam scores) to the call. */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
	const char *sender;               /* in: the reverse path, "" for <> */
	const char *const *recipients;    /* in: the accepted forward paths */
	GBytes *message;                  /* in: the message as received, CRLF line ends */
	EpAuthResults *auth_results;      /* in: the transaction's authentication results (SPF's from
					   * MAIL FROM); DKIM and DMARC add theirs; written as the
					   * Authentication-Results field once the chain is over */
} EpSmtpDataCtx;

/* delivery.local: one message for one local account (Sieve lives here). */
typedef struct {
	const char *session_id; /* in: (nullable) */
	const char *sender;     /* in: the reverse path */
	const char *recipient;  /* in: the address the message came for */
	const char *account;    /* in: the account it is delivered to */
	GBytes *message;        /* in */
	char *mailbox;          /* in/out: the target mailbox, "INBOX" unless a handler changes it */
	GPtrArray *flags;       /* in/out: of char*, flags and keywords to set; add with g_strdup() */
} EpDeliveryLocalCtx;

/* submission.message: a message an authenticated user submits, before it is
 * queued (DKIM signing lives here, adding its header to the call). */
typedef struct {
	const EpSmtpSessionInfo *session; /* in */
	const char *authenticated_user;   /* in: the account submitting */
	const char *sender;               /* in: the reverse path */
	const char *const *recipients;    /* in */
	GBytes *message;                  /* in */
} EpSubmissionMessageCtx;

/* auth.verify: a credential check.  A backend that knows the user answers
 * ACCEPT (and sets the account) or REJECT; one that does not, CONTINUE.
 *
 * Two kinds of question:
 * - @secret set (PLAIN, LOGIN, XOAUTH2/OAUTHBEARER tokens): check it.  For
 *   passwords the backend also handles the second factor (a TOTP code
 *   appended to the password, app passwords that bypass it) and does the
 *   same work for an unknown user as for a wrong password.
 * - @want_scram set (SCRAM-SHA-256[-PLUS]), @secret NULL: hand over the
 *   stored SCRAM credentials of @username in @scram_credentials
 *   ("SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>")
 *   with ACCEPT; the SASL exchange then proves the password.  An account
 *   that requires a second factor has no SCRAM credentials to give
 *   (REJECT), except through its app passwords (@username "name" with the
 *   app password's SCRAM credentials is not supported: use PLAIN).
 * - @is_bearer: @secret is an OAuth 2.0 bearer token (OAUTHBEARER/XOAUTH2).
 */
typedef struct {
	const char *session_id;   /* in: (nullable) */
	const char *protocol;     /* in: "smtp", "imap", "pop3", "jmap", "managesieve" */
	const char *mechanism;    /* in: SASL mechanism, e.g. "PLAIN" */
	const char *username;     /* in: the authentication identity */
	const char *authzid;      /* in: (nullable): the authorization identity asked for */
	const char *secret;       /* in: (nullable): the password or token; never log it */
	GInetSocketAddress *peer; /* in: (nullable) */
	gboolean tls_active;      /* in */
	char *account;            /* out: the account the credentials open */
	gboolean want_scram;      /* in: give SCRAM credentials instead of checking @secret */
	gboolean is_bearer;       /* in: @secret is a bearer token */
	char *scram_credentials;  /* out: with @want_scram */
} EpAuthVerifyCtx;

/* directory.resolve: is this address ours, and whose is it.  A directory
 * that knows the address answers ACCEPT and sets the account. */
typedef struct {
	const char *address;      /* in: local-part@domain */
	char *account;            /* out: the account, NULL when there is none */
	gboolean is_local_domain; /* out: the domain is served here */
} EpDirectoryResolveCtx;

typedef enum {
	EP_TLS_POLICY_NONE,             /* plain text is fine */
	EP_TLS_POLICY_OPPORTUNISTIC,    /* STARTTLS when offered, certificate not checked */
	EP_TLS_POLICY_MTA_STS_ENFORCE,  /* TLS required, certificate and MX checked (RFC 8461) */
	EP_TLS_POLICY_DANE,             /* TLS required, checked against TLSA records (RFC 7672) */
} EpTlsPolicy;

/* outbound.tls_policy: how to connect to a destination domain (MTA-STS and
 * DANE decide); the queue starts with OPPORTUNISTIC. */
typedef struct {
	const char *domain;     /* in */
	EpTlsPolicy policy;     /* in/out */
	GPtrArray *mx_patterns; /* out: of char*, the MX names MTA-STS allows; add with g_strdup() */
} EpOutboundTlsPolicyCtx;

EP_HOOK_POINT_DEFINE (smtp_connect, SmtpConnect, EP_HOOK_POINT_SMTP_CONNECT, EpSmtpConnectCtx)
EP_HOOK_POINT_DEFINE (smtp_helo, SmtpHelo, EP_HOOK_POINT_SMTP_HELO, EpSmtpHeloCtx)
EP_HOOK_POINT_DEFINE (smtp_mail_from, SmtpMailFrom, EP_HOOK_POINT_SMTP_MAIL_FROM, EpSmtpMailFromCtx)
EP_HOOK_POINT_DEFINE (smtp_rcpt_to, SmtpRcptTo, EP_HOOK_POINT_SMTP_RCPT_TO, EpSmtpRcptToCtx)
EP_HOOK_POINT_DEFINE (smtp_data, SmtpData, EP_HOOK_POINT_SMTP_DATA, EpSmtpDataCtx)
EP_HOOK_POINT_DEFINE (delivery_local, DeliveryLocal, EP_HOOK_POINT_DELIVERY_LOCAL, EpDeliveryLocalCtx)
EP_HOOK_POINT_DEFINE (submission_message, SubmissionMessage, EP_HOOK_POINT_SUBMISSION_MESSAGE,
		      EpSubmissionMessageCtx)
EP_HOOK_POINT_DEFINE (auth_verify, AuthVerify, EP_HOOK_POINT_AUTH_VERIFY, EpAuthVerifyCtx)
EP_HOOK_POINT_DEFINE (directory_resolve, DirectoryResolve, EP_HOOK_POINT_DIRECTORY_RESOLVE, EpDirectoryResolveCtx)
EP_HOOK_POINT_DEFINE (outbound_tls_policy, OutboundTlsPolicy, EP_HOOK_POINT_OUTBOUND_TLS_POLICY,
		      EpOutboundTlsPolicyCtx)

G_END_DECLS
