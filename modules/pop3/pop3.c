/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * pop3: POP3 (RFC 1939) access to the INBOX of an account.  Provides the
 * listener kinds
 *
 *   pop3    port 110, STLS (RFC 2595) when [tls] is configured; logins
 *           (USER/PASS, AUTH) only after it
 *   pop3s   port 995, implicit TLS (RFC 8314); needs [tls]
 *
 * Logins go through the auth.verify hook and the auth guard, as SMTP AUTH
 * does; the maildrop is locked through PostgreSQL (pop3-lock.c), so that
 * one POP3 session at a time, on any host, holds it.  See docs/pop3.md.
 */

#include "config.h"

#include <epistle.h>

#include "pop3-session.h"

static const EpConfigKey pop3_keys[] = {
    {"max_errors", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000, NULL, NULL,
     "-ERR answers in a row before the session is dropped"},
    {"max_auth_failures", EP_CONFIG_TYPE_INTEGER, 0, 1, 100, NULL, NULL,
     "failed logins in one session before it is dropped"},
    {"max_connections_per_ip", EP_CONFIG_TYPE_INTEGER, 0, 0, 100000, NULL, NULL,
     "simultaneous connections from one address; 0 for no limit"},
    {"idle_timeout", EP_CONFIG_TYPE_INTEGER, 0, 600, 86400, NULL, NULL,
     "seconds to wait for a command (RFC 1939 section 3: at least 600)"},
    {"session_timeout", EP_CONFIG_TYPE_INTEGER, 0, 600, 86400, NULL, NULL, "seconds a whole session may last"},
    {"lock_lease", EP_CONFIG_TYPE_INTEGER, 0, 15, 3600, NULL, NULL,
     "seconds a maildrop lock outlives its holder when that one stops renewing it (a crash)"},
    {NULL}};

static void
pop3_read_limits (EpContext *ctx, Pop3Limits *limits)
{
	EpTomlValue *section = ep_context_get_section (ctx);

	limits->max_errors = (guint)ep_config_section_get_integer (section, "max_errors", 10);
	limits->max_auth_failures = (guint)ep_config_section_get_integer (section, "max_auth_failures", 3);
	limits->max_connections_per_ip = (guint)ep_config_section_get_integer (section, "max_connections_per_ip", 20);
	limits->idle_timeout = (guint)ep_config_section_get_integer (section, "idle_timeout", 600);
	limits->session_timeout = (guint)ep_config_section_get_integer (section, "session_timeout", 7200);
	limits->lock_lease = (guint)ep_config_section_get_integer (section, "lock_lease", 120);
}

/* An implicit-TLS listener without TLS material would have to serve in
 * clear or not at all: refuse the configuration instead. */
static gboolean
pop3_check_listeners (EpContext *ctx, GError **error)
{
	EpConfig *config = ep_context_get_config (ctx);
	GPtrArray *listeners = ep_config_get_listeners (config);

	for (guint i = 0; listeners != NULL && i < listeners->len; i++) {
		const EpConfigListener *l = g_ptr_array_index (listeners, i);
		if (g_strcmp0 (l->kind, "pop3s") != 0 || ep_config_get_tls_cert_file (config) != NULL)
			continue;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s:%u: listener kind 'pop3s' is implicit TLS and needs a certificate: set "
			     "cert_file and key_file in [tls], or use kind 'pop3' (port 110, STLS)",
			     l->filename != NULL ? l->filename : ep_config_get_main_file (config), l->kind_line);
		return FALSE;
	}
	return TRUE;
}

static void
pop3_on_accept (EpContext *ctx, GSocketConnection *connection, const EpConfigListener *listener, gpointer user_data)
{
	Pop3Server *server = ep_context_get_data (ctx);

	pop3_session_accept (server, connection, listener->kind);
}

static void
pop3_server_free (Pop3Server *server)
{
	if (server->stopping_id != 0)
		g_cancellable_disconnect (server->stopping, server->stopping_id);
	g_clear_object (&server->stopping);
	pop3_server_close_all (server);
	g_hash_table_unref (server->sessions);
	g_clear_object (&server->store);
	g_free (server);
}

static gboolean
pop3_init (EpContext *ctx, GError **error)
{
	Pop3Server *server;

	if (!pop3_check_listeners (ctx, error))
		return FALSE;
	server = g_new0 (Pop3Server, 1);
	server->ctx = ctx;
	server->sessions = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
	pop3_read_limits (ctx, &server->limits);
	ep_context_set_data (ctx, server, (GDestroyNotify)pop3_server_free);

	if (!ep_context_add_listener_kind (ctx, "pop3", 110, pop3_on_accept, NULL, error))
		return FALSE;
	if (!ep_context_add_listener_kind (ctx, "pop3s", 995, pop3_on_accept, NULL, error))
		return FALSE;
	return TRUE;
}

static void
pop3_on_stopping (GCancellable *stopping, gpointer user_data)
{
	pop3_server_drain (user_data);
}

static gboolean
pop3_start (EpContext *ctx, GError **error)
{
	Pop3Server *server = ep_context_get_data (ctx);
	GObject *store = ep_service_registry_lookup (ep_context_get_services (ctx), EP_TYPE_STORE);

	if (store == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
				     "no mailbox store to serve: load the store-pg module");
		return FALSE;
	}
	g_set_object (&server->store, EP_STORE (store));
	if (server->stopping == NULL) {
		server->stopping = g_object_ref (ep_context_get_stopping (ctx));
		server->stopping_id =
		    g_cancellable_connect (server->stopping, G_CALLBACK (pop3_on_stopping), server, NULL);
	}
	return TRUE;
}

static gboolean
pop3_reload (EpContext *ctx, GError **error)
{
	Pop3Server *server = ep_context_get_data (ctx);

	if (!pop3_check_listeners (ctx, error))
		return FALSE;
	pop3_read_limits (ctx, &server->limits);
	return TRUE;
}

static void
pop3_shutdown (EpContext *ctx)
{
	Pop3Server *server = ep_context_get_data (ctx);

	if (server != NULL)
		pop3_server_close_all (server);
}

EP_MODULE_DEFINE (.name = POP3_MODULE, .version = PACKAGE_VERSION,
		  .description = "POP3 access to the INBOX: pop3 (STLS) and pop3s listeners",
		  .config_schema = pop3_keys, .provides = EP_STRV ("listener:pop3", "listener:pop3s"),
		  .requires = EP_STRV ("service:store"), .init = pop3_init, .start = pop3_start, .reload = pop3_reload,
		  .shutdown = pop3_shutdown, );
