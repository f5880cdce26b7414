/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

#define POP3_MODULE "pop3"

/* the [pop3] section, read at init and at every reload */
typedef struct {
	guint max_errors;	      /* -ERR answers in a row before the session is dropped */
	guint max_auth_failures;      /* failed logins before the session is dropped */
	guint max_connections_per_ip; /* 0: no limit */
	guint idle_timeout;	      /* seconds awaiting a command (RFC 1939 §3: at least 600) */
	guint session_timeout;	      /* seconds a whole session may last */
	guint lock_lease;	      /* seconds a maildrop lock lives without renewal */
} Pop3Limits;

/* What the sessions share: owned by the module's context. */
typedef struct {
	EpContext *ctx;
	Pop3Limits limits;
	EpStore *store;	      /* (nullable): looked up at start() */
	GHashTable *sessions; /* Pop3Session, owned */
	gboolean draining;
	GCancellable *stopping; /* ep_context_get_stopping(), owned */
	gulong stopping_id;
} Pop3Server;

#define POP3_TYPE_SESSION (pop3_session_get_type ())
G_DECLARE_FINAL_TYPE (Pop3Session, pop3_session, POP3, SESSION, GObject)

/* @listener_kind: "pop3" (STLS) or "pop3s" (implicit TLS) */
void pop3_session_accept (Pop3Server *server, GSocketConnection *connection, const char *listener_kind);

/* The daemon is stopping: sessions waiting for a command are closed now
 * (without entering the UPDATE state: nothing is deleted), the others at
 * their next command. */
void pop3_server_drain (Pop3Server *server);

/* Closes every session at once (daemon shutdown). */
void pop3_server_close_all (Pop3Server *server);

G_END_DECLS
