/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the files of one IMAP session share: the session's state and the
 * helpers every command uses (output, errors, the view of the selected
 * mailbox, synchronisation).  imap-session.c owns the session's life and
 * the dispatch; imap-auth.c, imap-mailbox.c, imap-cmd-fetch.c,
 * imap-cmd-search.c and imap-cmd-copy.c hold the commands.
 */

#include "ep-sasl.h"

#include "imap-condstore.h"
#include "imap-fetch.h"
#include "imap-parser.h"
#include "imap-search.h"
#include "imap-session.h"
#include "imap-util.h"

G_BEGIN_DECLS

#define IMAP_MAX_AUTH_FAILURES 3
#define IMAP_LIST_PAGE	       5000
#define IMAP_OUTPUT_HIGH       (1024 * 1024)
#define IMAP_OUTPUT_LOW	       (256 * 1024)
#define IMAP_PARSE_IN_POOL     (64 * 1024) /* larger messages are parsed on the worker pool */

typedef struct _ImapFetchOp ImapFetchOp;

typedef enum {
	IMAP_STATE_NOT_AUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
} ImapState;

#define IMAP_STATES_ANY	   (IMAP_STATE_NOT_AUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define IMAP_STATES_AUTHED (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

/* the selected mailbox as this session sees it */
typedef struct {
	char *name;
	gint64 id;
	guint32 uidvalidity;
	guint32 uidnext;
	guint64 modseq; /* changes up to this one are in the view */
	gboolean read_only;
	GArray *uids; /* guint32, ascending: message n is uids[n - 1] */
	/* \Recent for this session (RFC 3501 §2.3.2): the UIDs it claimed, at
	 * SELECT and at each synchronisation that found new messages, as
	 * ascending disjoint ImapSeqRange; a message of the view is \Recent
	 * when a range holds its UID.  NULL for EXAMINE and rev2 */
	GArray *recent;
	/* the keywords the client was told of in FLAGS (RFC 3501 §7.2.6: the
	 * flags defined in the mailbox), in order, and as a set that ignores
	 * ASCII case (its keys are the array's strings) */
	GPtrArray *keywords;
	GHashTable *keywords_folded;
} ImapMailbox;

typedef struct {
	char *mechanism;
	EpSaslServer *sasl;
	EpAuthVerifyCtx verify;
	gboolean awaiting;	  /* a continuation was sent: the next line is the client's response */
	gboolean success_pending; /* success with data: the client's empty response is awaited */
	guint delay_id;
	gboolean is_login; /* LOGIN, not AUTHENTICATE */
} ImapAuthOp;

struct _ImapSession {
	GObject parent_instance;

	ImapServer *server;
	EpConnection *conn;
	const char *id;
	char *listener_kind;
	GCancellable *cancellable;
	ImapParser *parser;
	ImapState state;
	gboolean busy;
	gboolean closing;
	gboolean greeted; /* imaps: the greeting waits for the TLS handshake */
	gboolean rev2;
	gboolean condstore;   /* CONDSTORE enabled (RFC 7162): FETCH responses carry MODSEQ */
	gboolean qresync;     /* QRESYNC enabled: expunges are told as VANISHED */
	gboolean utf8_accept; /* ENABLE UTF8=ACCEPT (RFC 6855) */
	gboolean auth_recording;
	guint n_errors;
	guint n_auth_failures;
	char *account;
	ImapCommand *cmd; /* the command being executed */
	gboolean uid;	  /* it is UID FETCH/STORE/... */
	ImapAuthOp *auth_op;
	ImapMailbox *mbox;
	gboolean idling;
	gboolean idle_done_pending; /* DONE arrived during a synchronisation */
	gboolean changed;	    /* mailbox.changed seen, not synchronised yet */
	gboolean syncing;
	/* FETCH in progress */
	ImapFetchOp *fetch;
	char *appenduid;	/* APPEND's or COPY's response code (UIDPLUS) */
	char **append_keywords; /* the keywords of the APPEND of one message under way */
	GArray *saved;		/* SEARCHRES (RFC 5182): the saved result, UIDs ascending; NULL: empty */
};

typedef void (*ImapSyncDone) (ImapSession *self);

/* ---- output (imap-session.c) */
void imap_auth_op_free (ImapAuthOp *op);
void imap_session_auth_line (ImapSession *self, const char *line, gsize len);
void imap_cmd_login (ImapSession *self, GPtrArray *args);
void imap_cmd_authenticate (ImapSession *self, GPtrArray *args);
void imap_cmd_expunge (ImapSession *self, GPtrArray *args);
void imap_cmd_close (ImapSession *self, GPtrArray *args);
void imap_cmd_copy (ImapSession *self, GPtrArray *args);
void imap_cmd_append (ImapSession *self, GPtrArray *args);
GArray *imap_session_resolve_set (ImapSession *self, const ImapArg *arg);
void imap_fetch_op_free (ImapFetchOp *op);
void imap_fetch_abandon_drained (ImapSession *self);
void imap_cmd_fetch (ImapSession *self, GPtrArray *args);
void imap_cmd_store (ImapSession *self, GPtrArray *args);
void imap_cmd_search (ImapSession *self, GPtrArray *args);
void imap_cmd_sort (ImapSession *self, GPtrArray *args);
void imap_cmd_thread (ImapSession *self, GPtrArray *args);
void imap_cmd_select (ImapSession *self, GPtrArray *args);
void imap_cmd_unselect (ImapSession *self, GPtrArray *args);
void imap_cmd_list (ImapSession *self, GPtrArray *args);
void imap_cmd_status (ImapSession *self, GPtrArray *args);
void imap_cmd_mailbox_op (ImapSession *self, GPtrArray *args);
void imap_cmd_getquotaroot (ImapSession *self, GPtrArray *args);
void imap_cmd_getquota (ImapSession *self, GPtrArray *args);
void imap_cmd_setquota (ImapSession *self, GPtrArray *args);
void imap_session_write (ImapSession *self, const char *text);
void imap_session_untagged (ImapSession *self, const char *format, ...) G_GNUC_PRINTF (2, 3);
void imap_session_tagged (ImapSession *self, const char *status, const char *code, const char *text);
void imap_session_bye (ImapSession *self, const char *text);
void imap_session_suspend (ImapSession *self);
void imap_session_done (ImapSession *self);
void imap_session_bad (ImapSession *self, const char *text);
void imap_session_store_error (ImapSession *self, const GError *error, const char *what);
char *imap_session_auth_mechanisms (ImapSession *self);
char *imap_session_capabilities (ImapSession *self);
char *imap_session_mailbox_in (ImapSession *self, const ImapArg *arg);
void imap_session_append_mailbox (ImapSession *self, GString *out, const char *name);
void imap_mailbox_free (ImapMailbox *mbox);
guint imap_mailbox_seq (ImapMailbox *mbox, guint32 uid);
gboolean imap_uids_contain (GArray *uids, guint32 uid);
void imap_session_unselect (ImapSession *self);
void imap_session_append_fetch_flags (ImapSession *self, GString *line, const EpStoreMessage *m);
void imap_session_append_flags (ImapSession *self, GString *line, guint32 uid, EpStoreFlags flags,
				const char *const *keywords);
void imap_session_announce_keywords (ImapSession *self, const char *const *keywords);
void imap_session_send_flags (ImapSession *self);
void imap_mailbox_add_recent (ImapMailbox *mbox, guint32 first, guint64 next);
gboolean imap_mailbox_is_recent (ImapMailbox *mbox, guint32 uid);
guint imap_mailbox_n_recent (ImapMailbox *mbox);
void imap_mailbox_learn_keywords (ImapMailbox *mbox, const char *const *keywords);
void imap_session_sync (ImapSession *self, ImapSyncDone done);
gboolean imap_session_view_advance (ImapSession *self, guint64 modseq);
void imap_session_view_flags_changed (ImapSession *self, GPtrArray *changes);
gboolean imap_session_view_appended (ImapSession *self, guint32 uid, guint64 modseq, const char *const *keywords,
				     ImapSyncDone done);
gboolean imap_session_view_expunged (ImapSession *self, GArray *gone);
void imap_session_tagged_ok_done (ImapSession *self);
void imap_session_enable_condstore (ImapSession *self);
gint imap_uid_cmp (gconstpointer a, gconstpointer b);

G_END_DECLS
