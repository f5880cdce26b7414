/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-auth-guard.h"

G_DEFINE_INTERFACE (EpAuthGuard, ep_auth_guard, G_TYPE_OBJECT)

static void
ep_auth_guard_default_init (EpAuthGuardInterface *iface)
{
}

void
ep_auth_guard_check_async (EpAuthGuard *self, const char *peer_ip, const char *username, GCancellable *cancellable,
			   GAsyncReadyCallback callback, gpointer user_data)
{
	EpAuthGuardInterface *iface;

	g_return_if_fail (EP_IS_AUTH_GUARD (self));
	iface = EP_AUTH_GUARD_GET_IFACE (self);
	g_return_if_fail (iface->check_async != NULL);
	iface->check_async (self, peer_ip, username, cancellable, callback, user_data);
}

gboolean
ep_auth_guard_check_finish (EpAuthGuard *self, GAsyncResult *result, guint *delay_ms, GError **error)
{
	EpAuthGuardInterface *iface;

	g_return_val_if_fail (EP_IS_AUTH_GUARD (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_AUTH_GUARD_GET_IFACE (self);
	g_return_val_if_fail (iface->check_finish != NULL, FALSE);
	return iface->check_finish (self, result, delay_ms, error);
}

void
ep_auth_guard_record_async (EpAuthGuard *self, const char *peer_ip, const char *username, gboolean success,
			    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpAuthGuardInterface *iface;

	g_return_if_fail (EP_IS_AUTH_GUARD (self));
	iface = EP_AUTH_GUARD_GET_IFACE (self);
	g_return_if_fail (iface->record_async != NULL);
	iface->record_async (self, peer_ip, username, success, cancellable, callback, user_data);
}

gboolean
ep_auth_guard_record_finish (EpAuthGuard *self, GAsyncResult *result, GError **error)
{
	EpAuthGuardInterface *iface;

	g_return_val_if_fail (EP_IS_AUTH_GUARD (self), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
	iface = EP_AUTH_GUARD_GET_IFACE (self);
	g_return_val_if_fail (iface->record_finish != NULL, FALSE);
	return iface->record_finish (self, result, error);
}
