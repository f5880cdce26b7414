/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include "ep-error.h"
#include "ep-store.h"

/*
 * The EpStore interface: its data types and the public wrappers that
 * dispatch to the implementation (store-pg).
 */

G_DEFINE_INTERFACE (EpStore, ep_store, G_TYPE_OBJECT)

static void
ep_store_default_init (EpStoreInterface *iface)
{
}

void
ep_store_account_free (EpStoreAccount *account)
{
	if (account == NULL)
		return;
	g_free (account->name);
	g_strfreev (account->addresses);
	g_free (account->password_hash);
	g_free (account);
}

void
ep_store_mailbox_free (EpStoreMailbox *mailbox)
{
	if (mailbox == NULL)
		return;
	g_free (mailbox->name);
	g_free (mailbox->role);
	g_free (mailbox);
}

void
ep_store_message_free (EpStoreMessage *message)
{
	if (message == NULL)
		return;
	g_strfreev (message->keywords);
	g_free (message->email_id);
	g_free (message->thread_id);
	g_free (message);
}

void
ep_store_delivery_free (EpStoreDelivery *delivery)
{
	if (delivery == NULL)
		return;
	g_free (delivery->account);
	g_free (delivery->mailbox);
	g_free (delivery->email_id);
	g_free (delivery->thread_id);
	g_free (delivery);
}

void
ep_store_flag_change_free (EpStoreFlagChange *change)
{
	if (change == NULL)
		return;
	g_strfreev (change->keywords);
	g_free (change);
}

void
ep_store_copy_free (EpStoreCopy *copy)
{
	if (copy == NULL)
		return;
	g_free (copy->mailbox);
	g_clear_pointer (&copy->source_uids, g_array_unref);
	g_clear_pointer (&copy->uids, g_array_unref);
	g_free (copy);
}

void
ep_store_message_data_free (EpStoreMessageData *message)
{
	if (message == NULL)
		return;
	g_clear_pointer (&message->data, g_bytes_unref);
	g_clear_pointer (&message->structure, g_bytes_unref);
	g_free (message);
}

const char *
ep_store_account_source_to_string (EpStoreAccountSource source)
{
	return source == EP_STORE_ACCOUNT_SOURCE_CONFIG ? "config" : "db";
}

/**
 * ep_store_normalize_mailbox_name:
 * @name: a mailbox name, '/' separating the levels
 *
 * Returns: (transfer full): @name with a first level of any case spelling
 * "INBOX" written "INBOX", or %NULL with %EP_ERROR_INVALID when @name is
 * empty, starts or ends with '/', has an empty level, control characters
 * or is not UTF-8.
 */
char *
ep_store_normalize_mailbox_name (const char *name, GError **error)
{
	gsize len;

	g_return_val_if_fail (name != NULL, NULL);

	len = strlen (name);
	if (len == 0 || len > 1024 || !g_utf8_validate (name, -1, NULL) || name[0] == '/' || name[len - 1] == '/' ||
	    strstr (name, "//") != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid mailbox name");
		return NULL;
	}
	for (const char *p = name; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid mailbox name");
			return NULL;
		}
	}
	if (g_ascii_strncasecmp (name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		return g_strconcat ("INBOX", name + 5, NULL);
	return g_strdup (name);
}

void
ep_store_list_accounts_async (EpStore *self, const char *name, GCancellable *cancellable, GAsyncReadyCallback callback,
			      gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->list_accounts_async != NULL);
	iface->list_accounts_async (self, name, cancellable, callback, user_data);
}

GPtrArray *
ep_store_list_accounts_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->list_accounts_finish != NULL, NULL);
	return iface->list_accounts_finish (self, result, error);
}

void
ep_store_create_account_async (EpStore *self, const char *name, const char *const *addresses, const char *password_hash,
			       gboolean catch_all, gint64 quota_bytes, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->create_account_async != NULL);
	iface->create_account_async (self, name, addresses, password_hash, catch_all, quota_bytes, cancellable,
				     callback, user_data);
}

gboolean
ep_store_create_account_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->create_account_finish != NULL, FALSE);
	return iface->create_account_finish (self, result, error);
}

void
ep_store_delete_account_async (EpStore *self, const char *name, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->delete_account_async != NULL);
	iface->delete_account_async (self, name, cancellable, callback, user_data);
}

gboolean
ep_store_delete_account_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->delete_account_finish != NULL, FALSE);
	return iface->delete_account_finish (self, result, error);
}

void
ep_store_set_password_hash_async (EpStore *self, const char *name, const char *password_hash, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->set_password_hash_async != NULL);
	iface->set_password_hash_async (self, name, password_hash, cancellable, callback, user_data);
}

gboolean
ep_store_set_password_hash_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->set_password_hash_finish != NULL, FALSE);
	return iface->set_password_hash_finish (self, result, error);
}

void
ep_store_sync_config_accounts_async (EpStore *self, GPtrArray *accounts, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->sync_config_accounts_async != NULL);
	iface->sync_config_accounts_async (self, accounts, cancellable, callback, user_data);
}

gboolean
ep_store_sync_config_accounts_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->sync_config_accounts_finish != NULL, FALSE);
	return iface->sync_config_accounts_finish (self, result, error);
}

void
ep_store_resolve_address_async (EpStore *self, const char *address, GCancellable *cancellable,
				GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->resolve_address_async != NULL);
	iface->resolve_address_async (self, address, cancellable, callback, user_data);
}

char *
ep_store_resolve_address_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->resolve_address_finish != NULL, NULL);
	return iface->resolve_address_finish (self, result, error);
}

void
ep_store_get_quota_async (EpStore *self, const char *account, GCancellable *cancellable, GAsyncReadyCallback callback,
			  gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->get_quota_async != NULL);
	iface->get_quota_async (self, account, cancellable, callback, user_data);
}

gboolean
ep_store_get_quota_finish (EpStore *self, GAsyncResult *result, gint64 *used_bytes, gint64 *quota_bytes,
			   gint64 *message_count, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->get_quota_finish != NULL, FALSE);
	return iface->get_quota_finish (self, result, used_bytes, quota_bytes, message_count, error);
}

void
ep_store_list_mailboxes_async (EpStore *self, const char *account, const char *name, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->list_mailboxes_async != NULL);
	iface->list_mailboxes_async (self, account, name, cancellable, callback, user_data);
}

GPtrArray *
ep_store_list_mailboxes_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->list_mailboxes_finish != NULL, NULL);
	return iface->list_mailboxes_finish (self, result, error);
}

void
ep_store_create_mailbox_async (EpStore *self, const char *account, const char *name, const char *role,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->create_mailbox_async != NULL);
	iface->create_mailbox_async (self, account, name, role, cancellable, callback, user_data);
}

EpStoreMailbox *
ep_store_create_mailbox_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->create_mailbox_finish != NULL, NULL);
	return iface->create_mailbox_finish (self, result, error);
}

void
ep_store_delete_mailbox_async (EpStore *self, const char *account, const char *name, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->delete_mailbox_async != NULL);
	iface->delete_mailbox_async (self, account, name, cancellable, callback, user_data);
}

gboolean
ep_store_delete_mailbox_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->delete_mailbox_finish != NULL, FALSE);
	return iface->delete_mailbox_finish (self, result, error);
}

void
ep_store_rename_mailbox_async (EpStore *self, const char *account, const char *name, const char *new_name,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->rename_mailbox_async != NULL);
	iface->rename_mailbox_async (self, account, name, new_name, cancellable, callback, user_data);
}

gboolean
ep_store_rename_mailbox_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->rename_mailbox_finish != NULL, FALSE);
	return iface->rename_mailbox_finish (self, result, error);
}

void
ep_store_set_subscribed_async (EpStore *self, const char *account, const char *name, gboolean subscribed,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->set_subscribed_async != NULL);
	iface->set_subscribed_async (self, account, name, subscribed, cancellable, callback, user_data);
}

gboolean
ep_store_set_subscribed_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->set_subscribed_finish != NULL, FALSE);
	return iface->set_subscribed_finish (self, result, error);
}

void
ep_store_append_async (EpStore *self, const char *account, const char *mailbox, GBytes *data, EpStoreFlags flags,
		       const char *const *keywords, gint64 internal_date, GCancellable *cancellable,
		       GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->append_async != NULL);
	iface->append_async (self, account, mailbox, data, flags, keywords, internal_date, cancellable, callback,
			     user_data);
}

EpStoreDelivery *
ep_store_append_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->append_finish != NULL, NULL);
	return iface->append_finish (self, result, error);
}

void
ep_store_deliver_async (EpStore *self, const EpStoreTarget *targets, guint n_targets, GBytes *data,
			GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->deliver_async != NULL);
	iface->deliver_async (self, targets, n_targets, data, cancellable, callback, user_data);
}

GPtrArray *
ep_store_deliver_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->deliver_finish != NULL, NULL);
	return iface->deliver_finish (self, result, error);
}

void
ep_store_list_messages_async (EpStore *self, const char *account, const char *mailbox, guint32 first_uid,
			      guint32 last_uid, guint64 changed_since, guint limit, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->list_messages_async != NULL);
	iface->list_messages_async (self, account, mailbox, first_uid, last_uid, changed_since, limit, cancellable,
				    callback, user_data);
}

GPtrArray *
ep_store_list_messages_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->list_messages_finish != NULL, NULL);
	return iface->list_messages_finish (self, result, error);
}

void
ep_store_read_message_async (EpStore *self, const char *account, const char *mailbox, guint32 uid,
			     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->read_message_async != NULL);
	iface->read_message_async (self, account, mailbox, uid, cancellable, callback, user_data);
}

GBytes *
ep_store_read_message_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->read_message_finish != NULL, NULL);
	return iface->read_message_finish (self, result, error);
}

void
ep_store_store_flags_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids, guint n_uids,
			    EpStoreFlagsMode mode, EpStoreFlags flags, const char *const *keywords,
			    guint64 unchanged_since, GCancellable *cancellable, GAsyncReadyCallback callback,
			    gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->store_flags_async != NULL);
	iface->store_flags_async (self, account, mailbox, uids, n_uids, mode, flags, keywords, unchanged_since,
				  cancellable, callback, user_data);
}

GPtrArray *
ep_store_store_flags_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->store_flags_finish != NULL, NULL);
	return iface->store_flags_finish (self, result, error);
}

void
ep_store_expunge_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids, guint n_uids,
			GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->expunge_async != NULL);
	iface->expunge_async (self, account, mailbox, uids, n_uids, cancellable, callback, user_data);
}

GArray *
ep_store_expunge_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->expunge_finish != NULL, NULL);
	return iface->expunge_finish (self, result, error);
}

void
ep_store_list_tombstones_async (EpStore *self, const char *account, const char *mailbox, guint64 since_modseq,
				GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->list_tombstones_async != NULL);
	iface->list_tombstones_async (self, account, mailbox, since_modseq, cancellable, callback, user_data);
}

GArray *
ep_store_list_tombstones_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->list_tombstones_finish != NULL, NULL);
	return iface->list_tombstones_finish (self, result, error);
}

void
ep_store_search_text_async (EpStore *self, const char *account, const char *mailbox, const char *query,
			    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	g_return_if_fail (query != NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->search_text_async != NULL);
	iface->search_text_async (self, account, mailbox, query, cancellable, callback, user_data);
}

GArray *
ep_store_search_text_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->search_text_finish != NULL, NULL);
	return iface->search_text_finish (self, result, error);
}

void
ep_store_append_many_async (EpStore *self, const char *account, const char *mailbox, const EpStoreAppendItem *items,
			    guint n_items, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	g_return_if_fail (items != NULL || n_items == 0);
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->append_many_async != NULL);
	iface->append_many_async (self, account, mailbox, items, n_items, cancellable, callback, user_data);
}

GPtrArray *
ep_store_append_many_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->append_many_finish != NULL, NULL);
	return iface->append_many_finish (self, result, error);
}

void
ep_store_copy_messages_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
			      guint n_uids, const char *dest_mailbox, gboolean move, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	g_return_if_fail (uids != NULL || n_uids == 0);
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->copy_messages_async != NULL);
	iface->copy_messages_async (self, account, mailbox, uids, n_uids, dest_mailbox, move, cancellable, callback,
				    user_data);
}

EpStoreCopy *
ep_store_copy_messages_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->copy_messages_finish != NULL, NULL);
	return iface->copy_messages_finish (self, result, error);
}

void
ep_store_read_structure_async (EpStore *self, const char *account, const char *mailbox, guint32 uid,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->read_structure_async != NULL);
	iface->read_structure_async (self, account, mailbox, uid, cancellable, callback, user_data);
}

GBytes *
ep_store_read_structure_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->read_structure_finish != NULL, NULL);
	return iface->read_structure_finish (self, result, error);
}

void
ep_store_list_subscriptions_async (EpStore *self, const char *account, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->list_subscriptions_async != NULL);
	iface->list_subscriptions_async (self, account, cancellable, callback, user_data);
}

char **
ep_store_list_subscriptions_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->list_subscriptions_finish != NULL, NULL);
	return iface->list_subscriptions_finish (self, result, error);
}

void
ep_store_claim_recent_async (EpStore *self, const char *account, const char *mailbox, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->claim_recent_async != NULL);
	iface->claim_recent_async (self, account, mailbox, cancellable, callback, user_data);
}

gboolean
ep_store_claim_recent_finish (EpStore *self, GAsyncResult *result, guint32 *first_uid, guint64 *uidnext, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->claim_recent_finish != NULL, FALSE);
	return iface->claim_recent_finish (self, result, first_uid, uidnext, error);
}

void
ep_store_read_messages_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
			      guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	g_return_if_fail (uids != NULL || n_uids == 0);
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->read_messages_async != NULL);
	iface->read_messages_async (self, account, mailbox, uids, n_uids, cancellable, callback, user_data);
}

GHashTable *
ep_store_read_messages_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->read_messages_finish != NULL, NULL);
	return iface->read_messages_finish (self, result, error);
}

void
ep_store_read_messages_full_async (EpStore *self, const char *account, const char *mailbox, const guint32 *uids,
				   guint n_uids, EpStoreReadFlags flags, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	EpStoreInterface *iface;

	g_return_if_fail (EP_IS_STORE (self));
	g_return_if_fail (uids != NULL || n_uids == 0);
	g_return_if_fail ((flags & (EP_STORE_READ_DATA | EP_STORE_READ_STRUCTURE)) != 0);
	iface = EP_STORE_GET_IFACE (self);
	g_return_if_fail (iface->read_messages_full_async != NULL);
	iface->read_messages_full_async (self, account, mailbox, uids, n_uids, flags, cancellable, callback, user_data);
}

GHashTable *
ep_store_read_messages_full_finish (EpStore *self, GAsyncResult *result, GError **error)
{
	EpStoreInterface *iface;

	g_return_val_if_fail (EP_IS_STORE (self), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);
	iface = EP_STORE_GET_IFACE (self);
	g_return_val_if_fail (iface->read_messages_full_finish != NULL, NULL);
	return iface->read_messages_full_finish (self, result, error);
}
