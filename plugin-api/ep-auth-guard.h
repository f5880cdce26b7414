/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The brute-force defence every protocol asks before and tells after a
 * credential check: a service (registered in the service registry) so that
 * one implementation keeps the counters for SMTP, IMAP, POP3 and the rest,
 * in PostgreSQL so that every process and host shares them.
 *
 * Before checking credentials a protocol calls check(): it answers how long
 * to wait before answering the client (the delay grows with the recent
 * failures of the peer's address and of the username) or fails with
 * EP_ERROR_LIMIT while the address or the username is banned (answer "try
 * later" and close, without checking anything).  After the check the
 * protocol calls record() with the outcome.  The delay applies whatever the
 * outcome, so that it tells nothing.
 */

#define EP_TYPE_AUTH_GUARD (ep_auth_guard_get_type ())
EP_API G_DECLARE_INTERFACE (EpAuthGuard, ep_auth_guard, EP, AUTH_GUARD, GObject)

struct _EpAuthGuardInterface {
	GTypeInterface parent_iface;

	void (*check_async) (EpAuthGuard *self, const char *peer_ip, const char *username, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*check_finish) (EpAuthGuard *self, GAsyncResult *result, guint *delay_ms, GError **error);
	void (*record_async) (EpAuthGuard *self, const char *peer_ip, const char *username, gboolean success,
			      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
	gboolean (*record_finish) (EpAuthGuard *self, GAsyncResult *result, GError **error);

	gpointer padding[8];
};

/* @username: (nullable) */
EP_API void ep_auth_guard_check_async (EpAuthGuard *self, const char *peer_ip, const char *username,
				       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
/* Returns FALSE with EP_ERROR_LIMIT while banned; @delay_ms: (out): wait this long before answering */
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_auth_guard_check_finish (EpAuthGuard *self, GAsyncResult *result,
								     guint *delay_ms, GError **error);
EP_API void ep_auth_guard_record_async (EpAuthGuard *self, const char *peer_ip, const char *username,
					gboolean success, GCancellable *cancellable, GAsyncReadyCallback callback,
					gpointer user_data);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_auth_guard_record_finish (EpAuthGuard *self, GAsyncResult *result,
								      GError **error);

G_END_DECLS
