/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

#define IMAP_MODULE "imap"

/* the [imap] section, read at init and at every reload */
typedef struct {
	guint64 append_limit;	      /* APPENDLIMIT, octets */
	guint max_errors;	      /* BAD answers before BYE */
	guint max_connections_per_ip; /* 0: no limit */
	guint idle_timeout;	      /* seconds without a command (RFC 9051 §5.4: at least 30 minutes) */
} ImapLimits;

/* What the sessions share: owned by the module's context. */
typedef struct {
	EpContext *ctx;
	ImapLimits limits;
	EpStore *store;	      /* (nullable): looked up at start() */
	GHashTable *sessions; /* ImapSession, owned */
	guint changed_sub;    /* the mailbox.changed subscription */
} ImapServer;

#define IMAP_TYPE_SESSION (imap_session_get_type ())
G_DECLARE_FINAL_TYPE (ImapSession, imap_session, IMAP, SESSION, GObject)

/* @listener_kind: "imap" (STARTTLS) or "imaps" (implicit TLS) */
void imap_session_accept (ImapServer *server, GSocketConnection *connection, const char *listener_kind);

/* mailbox.changed: sessions that have the mailbox selected learn of it
 * (at once when they IDLE, at their next NOOP otherwise). */
void imap_server_mailbox_changed (ImapServer *server, const EpMailboxChangedEvent *event);

/* Says BYE to every client and closes every session (daemon shutdown). */
void imap_server_close_all (ImapServer *server);

G_END_DECLS
