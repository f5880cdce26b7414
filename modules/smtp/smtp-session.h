/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

#define SMTP_MODULE "smtp"

/* the [smtp] section, read at init and at every reload */
typedef struct {
	guint64 max_message_size;
	guint max_recipients;
	guint max_errors;
	guint max_connections_per_ip;
	guint command_timeout; /* seconds awaiting a command */
	guint data_timeout;    /* seconds awaiting the next octets of a message */
	guint session_timeout; /* seconds a whole session may last */
} SmtpLimits;

/* What the sessions share: owned by the module's context. */
typedef struct {
	EpContext *ctx;
	SmtpLimits limits;
	EpStore *store;	      /* (nullable): looked up at start() */
	GHashTable *sessions; /* SmtpSession, owned */
	gboolean draining;    /* the daemon is stopping */
	GCancellable *stopping; /* ep_context_get_stopping(), owned */
	gulong stopping_id;
} SmtpServer;

#define SMTP_TYPE_SESSION (smtp_session_get_type ())
G_DECLARE_FINAL_TYPE (SmtpSession, smtp_session, SMTP, SESSION, GObject)

/**
 * smtp_session_accept:
 * @listener_kind: "smtp", "submission" or "submissions" (implicit TLS)
 *
 * Starts a session on an accepted connection; the server keeps it until
 * the connection closed.
 */
void smtp_session_accept (SmtpServer *server, GSocketConnection *connection, const char *listener_kind);

/* The daemon is stopping: every session waiting for a command gets 421
 * and closes now; the others finish what they are doing (a message being
 * received is still stored and answered) and get 421 at their next
 * command. */
void smtp_server_drain (SmtpServer *server);

/* Says 421 to every client and closes every session (daemon shutdown). */
void smtp_server_close_all (SmtpServer *server);

G_END_DECLS
