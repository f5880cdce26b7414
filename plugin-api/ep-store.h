/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-config.h"

G_BEGIN_DECLS

/*
 * The mailbox store: accounts, their addresses, mailboxes and messages.
 * Exactly one module provides it (store-pg); SMTP delivery, IMAP, POP3,
 * JMAP and the CLI look it up in the service registry:
 *
 *   EpStore *store = EP_STORE (ep_service_registry_lookup (services, EP_TYPE_STORE));
 *
 * Every method is asynchronous and answers on the main context it was
 * called from.  A write has committed before its _finish reports success,
 * so a caller may acknowledge it (SMTP 250, IMAP OK) at once.
 *
 * Accounts and mailboxes are named: an account by its name, a mailbox by
 * its full name with '/' as the hierarchy separator ("Lists/epistle").
 * "INBOX" is case-insensitive, as in IMAP: "inbox/x" is "INBOX/x".
 *
 * Errors (domain %EP_ERROR):
 *  %EP_ERROR_NOT_FOUND  no such account, address, mailbox or message
 *  %EP_ERROR_EXISTS     the account, address or mailbox exists already
 *  %EP_ERROR_LIMIT      the quota would be exceeded (nothing was stored),
 *                       or the mailbox has used every UID
 *  %EP_ERROR_INVALID    a malformed name, address or argument
 *  %EP_ERROR_PERM       not allowed: deleting or renaming INBOX, changing
 *                       an account that the configuration defines
 *  %EP_ERROR_TEMP       the database cannot answer now: nothing was
 *                       acknowledged, try again later (SMTP 4xx)
 *  %EP_ERROR_TIMEOUT    the database did not answer in time: the write
 *                       may or may not have happened
 *  %EP_ERROR_INTERNAL   anything else; for the log, never for a client
 *
 * Every change of a mailbox (messages stored or expunged, flags changed,
 * the mailbox created, renamed or deleted), whichever process made it,
 * is announced with the `mailbox.changed` event.
 */

/* system flags, as bits */
typedef enum {
	EP_STORE_FLAG_NONE = 0,
	EP_STORE_FLAG_SEEN = 1 << 0,
	EP_STORE_FLAG_ANSWERED = 1 << 1,
	EP_STORE_FLAG_FLAGGED = 1 << 2,
	EP_STORE_FLAG_DELETED = 1 << 3,
	EP_STORE_FLAG_DRAFT = 1 << 4,
} EpStoreFlags;
#define EP_STORE_FLAGS_ALL 0x1f

typedef enum {
	EP_STORE_FLAGS_REPLACE,
	EP_STORE_FLAGS_ADD,
	EP_STORE_FLAGS_REMOVE,
} EpStoreFlagsMode;

typedef enum {
	EP_STORE_ACCOUNT_SOURCE_CONFIG, /* mirrored from [[accounts]] */
	EP_STORE_ACCOUNT_SOURCE_DB,	/* created at run time (CLI, API) */
} EpStoreAccountSource;

typedef struct {
	char *name;
	EpStoreAccountSource source;
	char **addresses;    /* lower case, sorted */
	char *password_hash; /* (nullable) */
	gboolean catch_all;
	gint64 quota_bytes; /* 0: no quota */
	gint64 used_bytes;
	gint64 message_count;
} EpStoreAccount;

typedef struct {
	gint64 id;
	char *name;
	char *role; /* (nullable): "inbox", "sent", "drafts", "trash", "junk", "archive" */
	guint32 uidvalidity;
	guint64 uidnext; /* 2^32 once every UID was used */
	guint64 highest_modseq;
	guint64 n_messages;
	guint64 n_unseen;
	guint64 size; /* octets */
	gboolean subscribed;
	/* messages no session has claimed as \Recent yet (RFC 3501 §2.3.2,
	 * see ep_store_claim_recent_async()); counting them claims nothing */
	guint64 n_recent;
} EpStoreMailbox;

typedef struct {
	guint32 uid;
	guint64 modseq;
	EpStoreFlags flags;
	char **keywords;
	gint64 internal_date; /* seconds since the epoch */
	guint64 size;
	char *email_id;
	char *thread_id;
} EpStoreMessage;

/* where a message goes: one mailbox of one account */
typedef struct {
	const char *account;
	const char *mailbox;
} EpStoreTarget;

/* where a message went */
typedef struct {
	char *account;
	char *mailbox;
	gint64 mailbox_id;
	guint32 uidvalidity;
	guint32 uid;
	guint64 modseq;
	char *email_id;
	char *thread_id;
} EpStoreDelivery;

/* a flag change: the new state, or with @failed the message's state when
 * UNCHANGEDSINCE refused to change it */
typedef struct {
	guint32 uid;
	guint64 modseq;
	EpStoreFlags flags;
	char **keywords;
	gboolean failed;
} EpStoreFlagChange;

/* an expunged UID and the MODSEQ of its expunge */
typedef struct {
	guint32 uid;
	guint64 modseq;
} EpStoreTombstone;

/* what a copy (or move) of messages did */
typedef struct {
	char *mailbox; /* the destination */
	gint64 mailbox_id;
	guint32 uidvalidity;
	GArray *source_uids;	/* (element-type guint32): the UIDs copied, ascending */
	GArray *uids;		/* (element-type guint32): the copies' UIDs, in the same order */
	guint64 modseq;		/* the copies' MODSEQ; 0 when nothing was copied */
	guint64 expunge_modseq; /* a move: the MODSEQ of the originals' expunge; else 0 */
} EpStoreCopy;

/* one message of ep_store_append_many_async() */
typedef struct {
	GBytes *data;
	EpStoreFlags flags;
	const char *const *keywords; /* (nullable) */
	gint64 internal_date;	     /* seconds since the epoch, 0 for now */
} EpStoreAppendItem;

/* what ep_store_read_messages_full_async() reads of each message */
typedef enum {
	EP_STORE_READ_DATA = 1 << 0,	  /* the message as it was stored */
	EP_STORE_READ_STRUCTURE = 1 << 1, /* its serialized MIME tree */
} EpStoreReadFlags;

/* one message of ep_store_read_messages_full_async() */
typedef struct {
	GBytes *data;	   /* (nullable): %NULL unless EP_STORE_READ_DATA */
	GBytes *structure; /* (nullable): %NULL unless EP_STORE_READ_STRUCTURE; empty: stored without one */
} EpStoreMessageData;

EP_API void ep_store_account_free (EpStoreAccount *account);
EP_API void ep_store_mailbox_free (EpStoreMailbox *mailbox);
EP_API void ep_store_message_free (EpStoreMessage *message);
EP_API void ep_store_delivery_free (EpStoreDelivery *delivery);
EP_API void ep_store_flag_change_free (EpStoreFlagChange *change);
EP_API void ep_store_copy_free (EpStoreCopy *copy);
EP_API void ep_store_message_data_free (EpStoreMessageData *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreAccount, ep_store_account_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreMailbox, ep_store_mailbox_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreMessage, ep_store_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreDelivery, ep_store_delivery_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreFlagChange, ep_store_flag_change_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreCopy, ep_store_copy_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpStoreMessageData, ep_store_message_data_free)

EP_API const char *ep_store_account_source_to_string (EpStoreAccountSource source);

/* mailbox names: "inbox/x" becomes "INBOX/x"; %NULL with
 * %EP_ERROR_INVALID for "", "/x", "x/", "a//b" or control characters */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_store_normalize_mailbox_name (const char *name, GError **error);

#define EP_TYPE_STORE (ep_store_get_type ())
EP_API
G_DECLARE_INTERFACE (EpStore, ep_store, EP, STORE, GObject)

struct _EpStoreInterface {
	GTypeInterface parent_iface;

	/* accounts */
	void (*list_accounts_async) (EpStore *self, const char *name, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data);
	GPtrArray *(*list_accounts_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*create_account_async) (EpStore *self, const char *name, const char *const *addresses,
				      const char *password_hash, gboolean catch_all, gint64 quota_bytes,
				      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*create_account_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*delete_account_async) (EpStore *self, const char *name, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*delete_account_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*set_password_hash_async) (EpStore *self, const char *name, const char *password_hash,
					 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*set_password_hash_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*sync_config_accounts_async) (EpStore *self, GPtrArray *accounts, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*sync_config_accounts_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*resolve_address_async) (EpStore *self, const char *address, GCancellable *cancellable,
				       GAsyncReadyCallback callback, gpointer user_data);
	char *(*resolve_address_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*get_quota_async) (EpStore *self, const char *account, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*get_quota_finish) (EpStore *self, GAsyncResult *result, gint64 *used_bytes, gint64 *quota_bytes,
				      gint64 *message_count, GError **error);

	/* mailboxes */
	void (*list_mailboxes_async) (EpStore *self, const char *account, const char *name, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data);
	GPtrArray *(*list_mailboxes_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*create_mailbox_async) (EpStore *self, const char *account, const char *name, const char *role,
				      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	EpStoreMailbox *(*create_mailbox_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*delete_mailbox_async) (EpStore *self, const char *account, const char *name, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*delete_mailbox_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*rename_mailbox_async) (EpStore *self, const char *account, const char *name, const char *new_name,
				      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*rename_mailbox_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*set_subscribed_async) (EpStore *self, const char *account, const char *name, gboolean subscribed,
				      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*set_subscribed_finish) (EpStore *self, GAsyncResult *result, GError **error);

	/* messages */
	void (*append_async) (EpStore *self, const char *account, const char *mailbox, GBytes *data, EpStoreFlags flags,
			      const char *const *keywords, gint64 internal_date, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data);
	EpStoreDelivery *(*append_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*deliver_async) (EpStore *self, const EpStoreTarget *targets, guint n_targets, GBytes *data,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	GPtrArray *(*deliver_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*list_messages_async) (EpStore *self, const char *account, const char *mailbox, guint32 first_uid,
				     guint32 last_uid, guint64 changed_since, guint limit, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data);
	GPtrArray *(*list_messages_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*read_message_async) (EpStore *self, const char *account, const char *mailbox, guint32 uid,
				    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	GBytes *(*read_message_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*store_flags_async) (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
				   guint n_uids, EpStoreFlagsMode mode, EpStoreFlags flags, const char *const *keywords,
				   guint64 unchanged_since, GCancellable *cancellable, GAsyncReadyCallback callback,
				   gpointer user_data);
	GPtrArray *(*store_flags_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*expunge_async) (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
			       guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data);
	GArray *(*expunge_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*list_tombstones_async) (EpStore *self, const char *account, const char *mailbox, guint64 since_modseq,
				       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	GArray *(*list_tombstones_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*search_text_async) (EpStore *self, const char *account, const char *mailbox, const char *query,
				   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	GArray *(*search_text_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*copy_messages_async) (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
				     guint n_uids, const char *dest_mailbox, gboolean move, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data);
	EpStoreCopy *(*copy_messages_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*append_many_async) (EpStore *self, const char *account, const char *mailbox,
				   const EpStoreAppendItem *items, guint n_items, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data);
	GPtrArray *(*append_many_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*read_structure_async) (EpStore *self, const char *account, const char *mailbox, guint32 uid,
				      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	GBytes *(*read_structure_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*list_subscriptions_async) (EpStore *self, const char *account, GCancellable *cancellable,
					  GAsyncReadyCallback callback, gpointer user_data);
	char **(*list_subscriptions_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*claim_recent_async) (EpStore *self, const char *account, const char *mailbox, GCancellable *cancellable,
				    GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*claim_recent_finish) (EpStore *self, GAsyncResult *result, guint32 *first_uid, guint64 *uidnext,
					 GError **error);
	void (*read_messages_async) (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
				     guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback,
				     gpointer user_data);
	GHashTable *(*read_messages_finish) (EpStore *self, GAsyncResult *result, GError **error);
	void (*read_messages_full_async) (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
					  guint n_uids, EpStoreReadFlags flags, GCancellable *cancellable,
					  GAsyncReadyCallback callback, gpointer user_data);
	GHashTable *(*read_messages_full_finish) (EpStore *self, GAsyncResult *result, GError **error);

	gpointer padding[8];
};

/* ---- accounts ------------------------------------------------------------ */

/* @name: (nullable): one account, or %NULL for all.
 * Returns: (transfer container) (element-type EpStoreAccount): by name */
EP_API void ep_store_list_accounts_async (EpStore *self, const char *name, GCancellable *cancellable,
					  GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_list_accounts_finish (EpStore *self, GAsyncResult *result,
									   GError **error);

/* An account with source "db", its addresses and the six special-use
 * mailboxes.  @password_hash: (nullable); @quota_bytes: 0 for none. */
EP_API void ep_store_create_account_async (EpStore *self, const char *name, const char *const *addresses,
					   const char *password_hash, gboolean catch_all, gint64 quota_bytes,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_create_account_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* Deletes a "db" account with everything it holds; a "config" account is
 * %EP_ERROR_PERM (remove it from the configuration instead). */
EP_API void ep_store_delete_account_async (EpStore *self, const char *name, GCancellable *cancellable,
					   GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_delete_account_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* @password_hash: (nullable): %NULL disables password logins.  A
 * "config" account is %EP_ERROR_PERM. */
EP_API void ep_store_set_password_hash_async (EpStore *self, const char *name, const char *password_hash,
					      GCancellable *cancellable, GAsyncReadyCallback callback,
					      gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_set_password_hash_finish (EpStore *self, GAsyncResult *result,
									     GError **error);

/* Mirrors @accounts (element-type EpConfigAccount) into the accounts with
 * source "config": creates, updates, and deletes those no longer
 * configured.  "db" accounts are never touched; a configured account whose
 * name or address a "db" account has is skipped with a warning. */
EP_API void ep_store_sync_config_accounts_async (EpStore *self, GPtrArray *accounts, GCancellable *cancellable,
						 GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_sync_config_accounts_finish (EpStore *self, GAsyncResult *result,
										GError **error);

/* The account @address delivers to, case-insensitively: the address, else
 * "user@domain" for "user+tag@domain", else the catch-all account of the
 * domain.  Returns: (transfer full): the account name, or %NULL with
 * %EP_ERROR_NOT_FOUND (%EP_ERROR_INVALID for a malformed address). */
EP_API void ep_store_resolve_address_async (EpStore *self, const char *address, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_store_resolve_address_finish (EpStore *self, GAsyncResult *result,
									GError **error);

/* @used_bytes, @quota_bytes (0: none), @message_count: (out) (optional) */
EP_API void ep_store_get_quota_async (EpStore *self, const char *account, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_get_quota_finish (EpStore *self, GAsyncResult *result,
								     gint64 *used_bytes, gint64 *quota_bytes,
								     gint64 *message_count, GError **error);

/* ---- mailboxes ----------------------------------------------------------- */

/* @name: (nullable): one mailbox, or %NULL for all of the account.
 * Returns: (transfer container) (element-type EpStoreMailbox): by name;
 * %EP_ERROR_NOT_FOUND for an unknown account, or an unknown @name */
EP_API void ep_store_list_mailboxes_async (EpStore *self, const char *account, const char *name,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_list_mailboxes_finish (EpStore *self, GAsyncResult *result,
									    GError **error);

/* Creates @name and the parents it lacks.  @role: (nullable). */
EP_API void ep_store_create_mailbox_async (EpStore *self, const char *account, const char *name, const char *role,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpStoreMailbox *ep_store_create_mailbox_finish (EpStore *self, GAsyncResult *result,
										 GError **error);

/* Expunges its messages and deletes the mailbox; its children stay. */
EP_API void ep_store_delete_mailbox_async (EpStore *self, const char *account, const char *name,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_delete_mailbox_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* Renames @name and its children, keeping UIDVALIDITY; creates the
 * parents @new_name lacks.  INBOX is special (RFC 9051 §6.3.6): a new
 * mailbox @new_name (new UIDVALIDITY) receives every message of INBOX, as
 * a move would, in one transaction; INBOX stays, empty, and the mailboxes
 * below it stay where they are.  %EP_ERROR_EXISTS when @new_name exists. */
EP_API void ep_store_rename_mailbox_async (EpStore *self, const char *account, const char *name, const char *new_name,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_rename_mailbox_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

EP_API void ep_store_set_subscribed_async (EpStore *self, const char *account, const char *name, gboolean subscribed,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_set_subscribed_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* ---- messages ------------------------------------------------------------ */

/* Stores @data in one mailbox.  @keywords: (nullable); @internal_date:
 * seconds since the epoch, 0 for now. */
EP_API void ep_store_append_async (EpStore *self, const char *account, const char *mailbox, GBytes *data,
				   EpStoreFlags flags, const char *const *keywords, gint64 internal_date,
				   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpStoreDelivery *ep_store_append_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* Stores @data once and files it into every target, in one transaction:
 * all of them or none (one target over quota fails the whole delivery
 * with %EP_ERROR_LIMIT; deliver to the others again without it).
 * Returns: (transfer container) (element-type EpStoreDelivery) */
EP_API void ep_store_deliver_async (EpStore *self, const EpStoreTarget *targets, guint n_targets, GBytes *data,
				    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_deliver_finish (EpStore *self, GAsyncResult *result,
								     GError **error);

/* At most @limit messages with @first_uid <= UID <= @last_uid (and MODSEQ
 * > @changed_since unless it is 0), by UID: page by asking again from the
 * last UID + 1.  Returns: (transfer container) (element-type EpStoreMessage) */
EP_API void ep_store_list_messages_async (EpStore *self, const char *account, const char *mailbox, guint32 first_uid,
					  guint32 last_uid, guint64 changed_since, guint limit,
					  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_list_messages_finish (EpStore *self, GAsyncResult *result,
									   GError **error);

/* Returns: (transfer full): the message as it was stored */
EP_API void ep_store_read_message_async (EpStore *self, const char *account, const char *mailbox, guint32 uid,
					 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *ep_store_read_message_finish (EpStore *self, GAsyncResult *result,
								       GError **error);

/* Reads several messages of one mailbox at once (one round trip); UIDs
 * that do not exist are absent from the result.  %EP_ERROR_NOT_FOUND when
 * the mailbox does not exist.
 * Returns: (transfer container) (element-type guint32 GBytes): UID
 * (GUINT_TO_POINTER) → the message as it was stored */
EP_API void ep_store_read_messages_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
					  guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback,
					  gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GHashTable *ep_store_read_messages_finish (EpStore *self, GAsyncResult *result,
									    GError **error);

/* As ep_store_read_messages_async(), in one round trip too, but reads of
 * each message what @flags asks (at least one of them): its octets, its
 * serialized MIME tree (as ep_store_read_structure_async() gives it), or
 * both, so that a caller needing the tree gets it with the octets, and
 * the trees of many messages in one read.
 * Returns: (transfer container) (element-type guint32 EpStoreMessageData):
 * UID (GUINT_TO_POINTER) → what was read of it */
EP_API void ep_store_read_messages_full_async (EpStore *self, const char *account, const char *mailbox,
					       const guint32 *uids, guint n_uids, EpStoreReadFlags flags,
					       GCancellable *cancellable, GAsyncReadyCallback callback,
					       gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GHashTable *ep_store_read_messages_full_finish (EpStore *self, GAsyncResult *result,
										 GError **error);

/* The message's MIME structure as the store keeps it, computed once at
 * delivery: ep_mime_message_deserialize() rebuilds the tree, whose offsets
 * are those of what ep_store_read_message_async() gives.
 * Returns: (transfer full): the serialized tree, or an empty GBytes for a
 * message stored without one (parse the message then) */
EP_API void ep_store_read_structure_async (EpStore *self, const char *account, const char *mailbox, guint32 uid,
					   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *ep_store_read_structure_finish (EpStore *self, GAsyncResult *result,
									 GError **error);

/* The names @account is subscribed to, mailboxes or not (RFC 9051
 * §6.3.7: a subscription outlives DELETE, and SUBSCRIBE of a name without
 * mailbox is kept).  A new mailbox is subscribed; RENAME moves the
 * subscriptions of the renamed mailboxes.
 * Returns: (transfer full): the names, sorted; an empty array for none */
EP_API void ep_store_list_subscriptions_async (EpStore *self, const char *account, GCancellable *cancellable,
					       GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT char **ep_store_list_subscriptions_finish (EpStore *self, GAsyncResult *result,
									    GError **error);

/* Claims the messages of @mailbox that no session has seen as \Recent
 * (RFC 3501 §2.3.2): the UIDs from @first_uid up to @uidnext (excluded),
 * empty when they are equal.  The mailbox's mark moves to @uidnext in the
 * same statement, so a message is claimed once, by one caller. */
EP_API void ep_store_claim_recent_async (EpStore *self, const char *account, const char *mailbox,
					 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_store_claim_recent_finish (EpStore *self, GAsyncResult *result,
									guint32 *first_uid, guint64 *uidnext,
									GError **error);

/* Changes flags and keywords.  @unchanged_since: 0, or the CONDSTORE
 * UNCHANGEDSINCE: messages with a greater MODSEQ are not changed and come
 * back with failed set.  The changed messages share one new MODSEQ, the
 * mailbox's new HIGHESTMODSEQ; messages the change leaves as they were are
 * not returned.  Returns: (transfer container) (element-type EpStoreFlagChange) */
EP_API void ep_store_store_flags_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
					guint n_uids, EpStoreFlagsMode mode, EpStoreFlags flags,
					const char *const *keywords, guint64 unchanged_since, GCancellable *cancellable,
					GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_store_flags_finish (EpStore *self, GAsyncResult *result,
									 GError **error);

/* Stores several messages in one mailbox in one transaction: all of them
 * or none (%EP_ERROR_LIMIT when the quota would be exceeded by them
 * together).  They get ascending UIDs in the order of @items; at most
 * 1000.  Returns: (transfer container) (element-type EpStoreDelivery): in
 * the order of @items */
EP_API void ep_store_append_many_async (EpStore *self, const char *account, const char *mailbox,
					const EpStoreAppendItem *items, guint n_items, GCancellable *cancellable,
					GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GPtrArray *ep_store_append_many_finish (EpStore *self, GAsyncResult *result,
									 GError **error);

/* Copies the messages @uids of @mailbox (those that exist) into
 * @dest_mailbox of the same account, in one transaction: all or none.
 * A copy keeps the flags, keywords, internal date and email and thread
 * ids, and shares the stored octets; the copies get ascending UIDs in the
 * order of the originals' UIDs and one new MODSEQ.  Copies count against
 * the quota (%EP_ERROR_LIMIT: nothing copied).  With @move the originals
 * are expunged in the same transaction (tombstones with one new MODSEQ),
 * and the account's usage does not change.  %EP_ERROR_NOT_FOUND when
 * either mailbox does not exist.  @mailbox may be @dest_mailbox.
 * Returns: (transfer full) */
EP_API void ep_store_copy_messages_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
					  guint n_uids, const char *dest_mailbox, gboolean move,
					  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT EpStoreCopy *ep_store_copy_messages_finish (EpStore *self, GAsyncResult *result,
									     GError **error);

/* Expunges @uids (those that exist); they become tombstones with one new
 * MODSEQ.  Returns: (transfer full) (element-type EpStoreTombstone) */
EP_API void ep_store_expunge_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
				    guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback,
				    gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GArray *ep_store_expunge_finish (EpStore *self, GAsyncResult *result, GError **error);

/* Tombstones with MODSEQ > @since_modseq, by MODSEQ then UID.
 * Returns: (transfer full) (element-type EpStoreTombstone) */
EP_API void ep_store_list_tombstones_async (EpStore *self, const char *account, const char *mailbox,
					    guint64 since_modseq, GCancellable *cancellable,
					    GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GArray *ep_store_list_tombstones_finish (EpStore *self, GAsyncResult *result,
									  GError **error);

/* Full-text search (IMAP SEARCH TEXT/BODY, JMAP text filters): the UIDs of
 * the messages whose decoded headers and text parts hold every word of
 * @query, in any case, ascending.  Words are matched whole, without
 * stemming, so that any language works alike.
 * Returns: (transfer full) (element-type guint32) */
EP_API void ep_store_search_text_async (EpStore *self, const char *account, const char *mailbox, const char *query,
					GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT GArray *ep_store_search_text_finish (EpStore *self, GAsyncResult *result,
								      GError **error);

G_END_DECLS
