/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * smtp: inbound SMTP (RFC 5321).  Provides the listener kinds
 *
 *   smtp         port 25, STARTTLS when [tls] is configured
 *   submission   port 587, the same service for now (RFC 6409 asks for
 *                AUTH, which arrives with the auth modules)
 *   submissions  port 465, implicit TLS (RFC 8314); needs [tls]
 *
 * and delivers accepted mail to local accounts through the store.  No
 * listener relays: a recipient must resolve to a local account through the
 * directory.resolve hook.
 */

#include "config.h"

#include <epistle.h>

#include "smtp-session.h"

#define SMTP_DEFAULT_MAX_MESSAGE_SIZE (50 * 1024 * 1024)

static const EpConfigKey smtp_keys[] = {
    {"max_message_size", EP_CONFIG_TYPE_INTEGER, 0, 1024, 1024 * 1024 * 1024, NULL, NULL,
     "largest message accepted, in octets (advertised as SIZE)"},
    {"max_recipients", EP_CONFIG_TYPE_INTEGER, 0, 1, 100000, NULL, NULL,
     "recipients per message (advertised as LIMITS RCPTMAX)"},
    {"max_errors", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000, NULL, NULL,
     "error replies in a row before the session is dropped"},
    {"max_connections_per_ip", EP_CONFIG_TYPE_INTEGER, 0, 0, 100000, NULL, NULL,
     "simultaneous connections from one address; 0 for no limit"},
    {"command_timeout", EP_CONFIG_TYPE_INTEGER, 0, 30, 3600, NULL, NULL,
     "seconds to wait for a command (RFC 5321 4.5.3.2.7: at least 300)"},
    {"data_timeout", EP_CONFIG_TYPE_INTEGER, 0, 30, 3600, NULL, NULL, "seconds to wait for more message data"},
    {"session_timeout", EP_CONFIG_TYPE_INTEGER, 0, 60, 86400, NULL, NULL, "seconds a whole session may last"},
    {NULL}};

static void
smtp_read_limits (EpContext *ctx, SmtpLimits *limits)
{
	EpTomlValue *section = ep_context_get_section (ctx);

	limits->max_message_size =
	    (guint64)ep_config_section_get_integer (section, "max_message_size", SMTP_DEFAULT_MAX_MESSAGE_SIZE);
	limits->max_recipients = (guint)ep_config_section_get_integer (section, "max_recipients", 100);
	limits->max_errors = (guint)ep_config_section_get_integer (section, "max_errors", 20);
	limits->max_connections_per_ip = (guint)ep_config_section_get_integer (section, "max_connections_per_ip", 20);
	limits->command_timeout = (guint)ep_config_section_get_integer (section, "command_timeout", 300);
	limits->data_timeout = (guint)ep_config_section_get_integer (section, "data_timeout", 180);
	limits->session_timeout = (guint)ep_config_section_get_integer (section, "session_timeout", 1800);
}

/* An implicit-TLS listener without TLS material would have to serve in
 * clear or not at all: refuse the configuration instead. */
static gboolean
smtp_check_listeners (EpContext *ctx, GError **error)
{
	EpConfig *config = ep_context_get_config (ctx);
	GPtrArray *listeners = ep_config_get_listeners (config);

	for (guint i = 0; listeners != NULL && i < listeners->len; i++) {
		const EpConfigListener *l = g_ptr_array_index (listeners, i);
		if (g_strcmp0 (l->kind, "submissions") != 0 || ep_config_get_tls_cert_file (config) != NULL)
			continue;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s:%u: listener kind 'submissions' is implicit TLS and needs a certificate: set "
			     "cert_file and key_file in [tls], or use kind 'submission' (port 587, STARTTLS)",
			     l->filename != NULL ? l->filename : ep_config_get_main_file (config), l->kind_line);
		return FALSE;
	}
	return TRUE;
}

static void
smtp_on_accept (EpContext *ctx, GSocketConnection *connection, const EpConfigListener *listener, gpointer user_data)
{
	SmtpServer *server = ep_context_get_data (ctx);

	smtp_session_accept (server, connection, listener->kind);
}

static void
smtp_server_free (SmtpServer *server)
{
	if (server->stopping_id != 0)
		g_cancellable_disconnect (server->stopping, server->stopping_id);
	g_clear_object (&server->stopping);
	smtp_server_close_all (server);
	g_hash_table_unref (server->sessions);
	g_clear_object (&server->store);
	g_free (server);
}

static gboolean
smtp_init (EpContext *ctx, GError **error)
{
	SmtpServer *server;

	if (!smtp_check_listeners (ctx, error))
		return FALSE;
	server = g_new0 (SmtpServer, 1);
	server->ctx = ctx;
	server->sessions = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
	smtp_read_limits (ctx, &server->limits);
	ep_context_set_data (ctx, server, (GDestroyNotify)smtp_server_free);

	if (!ep_context_add_listener_kind (ctx, "smtp", 25, smtp_on_accept, NULL, error))
		return FALSE;
	if (!ep_context_add_listener_kind (ctx, "submission", 587, smtp_on_accept, NULL, error))
		return FALSE;
	if (!ep_context_add_listener_kind (ctx, "submissions", 465, smtp_on_accept, NULL, error))
		return FALSE;
	return TRUE;
}

static void
smtp_on_stopping (GCancellable *stopping, gpointer user_data)
{
	smtp_server_drain (user_data);
}

static gboolean
smtp_start (EpContext *ctx, GError **error)
{
	SmtpServer *server = ep_context_get_data (ctx);
	GObject *store = ep_service_registry_lookup (ep_context_get_services (ctx), EP_TYPE_STORE);

	if (store == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
				     "no mailbox store to deliver to: load the store-pg module");
		return FALSE;
	}
	g_set_object (&server->store, EP_STORE (store));
	if (server->stopping == NULL) {
		server->stopping = g_object_ref (ep_context_get_stopping (ctx));
		server->stopping_id = g_cancellable_connect (server->stopping, G_CALLBACK (smtp_on_stopping), server, NULL);
	}
	/* a 'submissions' listener without [tls] was refused at init; the
	 * commands of the CLI start modules without loading TLS at all */
	if (ep_config_get_domains (ep_context_get_config (ctx)) == NULL ||
	    ep_config_get_domains (ep_context_get_config (ctx))[0] == NULL)
		ep_log_warning (SMTP_MODULE, NULL, "no domains are configured: every recipient will be refused");
	return TRUE;
}

static gboolean
smtp_reload (EpContext *ctx, GError **error)
{
	SmtpServer *server = ep_context_get_data (ctx);

	if (!smtp_check_listeners (ctx, error))
		return FALSE;
	/* new limits apply to every session from its next command on */
	smtp_read_limits (ctx, &server->limits);
	return TRUE;
}

static void
smtp_shutdown (EpContext *ctx)
{
	SmtpServer *server = ep_context_get_data (ctx);

	if (server != NULL)
		smtp_server_close_all (server);
}

EP_MODULE_DEFINE (.name = SMTP_MODULE, .version = PACKAGE_VERSION,
		  .description = "Inbound SMTP: MX, submission and implicit-TLS submission listeners",
		  .config_schema = smtp_keys,
		  .provides = EP_STRV ("listener:smtp", "listener:submission", "listener:submissions"),
		  .requires = EP_STRV ("service:store"), .init = smtp_init, .start = smtp_start, .reload = smtp_reload,
		  .shutdown = smtp_shutdown, );
