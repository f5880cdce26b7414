/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-auth-guard.h"
#include "ep-connection.h"
#include "ep-context.h"

G_BEGIN_DECLS

/*
 * What every protocol does around a credential check, apart from the words
 * it answers with: find the auth guard, tell it the outcome, and announce
 * auth.succeeded or auth.failed.  A failure is recorded by the guard before
 * the client hears of it, so that its next attempt already waits the longer
 * delay: ep_auth_login_failed() pauses the connection's input and starts the
 * record; the protocol answers from its callback.
 */

/* One attempt: all borrowed, for the time of the call. */
typedef struct {
	EpContext *ctx;
	const char *module;	/* log domain, e.g. "smtp" */
	const char *session_id; /* (nullable) */
	const char *protocol;	/* event payload, e.g. "smtp" */
	const char *mechanism;
	const char *peer;     /* (nullable): the peer's address */
	const char *username; /* (nullable): the identity given, if any */
} EpAuthLogin;

#define EP_AUTH_LOGIN_BANNED_REASON "banned by the auth guard"

/* Returns: (nullable) (transfer none): the registered auth guard */
EP_API EpAuthGuard *ep_auth_login_get_guard (EpContext *ctx);

/* Emits auth.failed for @login with @reason (nullable); records nothing. */
EP_API void ep_auth_login_emit_failed (const EpAuthLogin *login, const char *reason);

/*
 * Emits auth.failed, then, when @record is TRUE and a guard is registered,
 * pauses @conn's input and has the guard record the failure; @callback gets
 * a new reference to @owner and must finish with
 * ep_auth_login_record_finish() before the client is answered.
 *
 * Returns: TRUE when the record is in flight (answer from @callback), FALSE
 * when the caller answers now.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_auth_login_failed (const EpAuthLogin *login, const char *reason,
								gboolean record, EpConnection *conn, GObject *owner,
								GAsyncReadyCallback callback);

/* Finishes the record started by ep_auth_login_failed(); a failure to record
 * is logged, not returned: the client is answered all the same. */
EP_API void ep_auth_login_record_finish (GObject *source, GAsyncResult *res, const char *module,
					 const char *session_id);

/* Has the guard (if any) record the success, without waiting, then emits
 * auth.succeeded for @account. */
EP_API void ep_auth_login_succeeded (const EpAuthLogin *login, const char *account);

G_END_DECLS
