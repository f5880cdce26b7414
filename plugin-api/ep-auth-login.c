/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ep-auth-login.h"

#include "ep-events.h"
#include "ep-log.h"
#include "ep-service-registry.h"

EpAuthGuard *
ep_auth_login_get_guard (EpContext *ctx)
{
	GObject *guard = ep_service_registry_lookup (ep_context_get_services (ctx), EP_TYPE_AUTH_GUARD);

	return guard != NULL ? EP_AUTH_GUARD (guard) : NULL;
}

void
ep_auth_login_emit_failed (const EpAuthLogin *login, const char *reason)
{
	EpAuthFailedEvent ev = {
	    .session_id = login->session_id,
	    .protocol = login->protocol,
	    .mechanism = login->mechanism,
	    .peer = login->peer,
	    .username = login->username,
	    .reason = reason,
	};

	ep_event_auth_failed_emit (ep_context_get_event_bus (login->ctx), &ev);
}

gboolean
ep_auth_login_failed (const EpAuthLogin *login, const char *reason, gboolean record, EpConnection *conn, GObject *owner,
		      GAsyncReadyCallback callback)
{
	EpAuthGuard *guard = record ? ep_auth_login_get_guard (login->ctx) : NULL;

	ep_auth_login_emit_failed (login, reason);
	if (guard == NULL)
		return FALSE;
	ep_connection_pause_input (conn);
	ep_auth_guard_record_async (guard, login->peer, login->username, FALSE, NULL, callback, g_object_ref (owner));
	return TRUE;
}

void
ep_auth_login_record_finish (GObject *source, GAsyncResult *res, const char *module, const char *session_id)
{
	g_autoptr (GError) error = NULL;

	if (!ep_auth_guard_record_finish (EP_AUTH_GUARD (source), res, &error))
		ep_log_warning (module, session_id, "the auth guard could not record a failure: %s", error->message);
}

static void
ep_auth_login_on_success_recorded (GObject *source, GAsyncResult *res, gpointer user_data)
{
	const char *module = user_data;
	g_autoptr (GError) error = NULL;

	if (!ep_auth_guard_record_finish (EP_AUTH_GUARD (source), res, &error))
		ep_log_warning (module, NULL, "the auth guard could not record an outcome: %s", error->message);
}

void
ep_auth_login_succeeded (const EpAuthLogin *login, const char *account)
{
	EpAuthGuard *guard = ep_auth_login_get_guard (login->ctx);
	EpAuthSucceededEvent ev = {
	    .session_id = login->session_id,
	    .protocol = login->protocol,
	    .mechanism = login->mechanism,
	    .peer = login->peer,
	    .username = login->username,
	    .account = account,
	};

	/* the module name outlives the record: modules stay resident */
	if (guard != NULL)
		ep_auth_guard_record_async (guard, login->peer, login->username, TRUE, NULL,
					    ep_auth_login_on_success_recorded, (gpointer)login->module);
	ep_event_auth_succeeded_emit (ep_context_get_event_bus (login->ctx), &ev);
}
