/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * imap: IMAP4rev2 (RFC 9051) with IMAP4rev1 (RFC 3501) behaviour for
 * clients that do not ENABLE IMAP4rev2.  Provides the listener kinds
 *
 *   imap    port 143: STARTTLS; LOGINDISABLED and no AUTH= before TLS
 *   imaps   port 993: implicit TLS (RFC 8314); needs [tls]
 *
 * over the mailbox store, with credentials checked through auth.verify
 * (the auth-sql module) and the brute-force guard.  See docs/imap.md.
 */

#include "config.h"

#include <epistle.h>

#include "imap-session.h"

#define IMAP_DEFAULT_APPEND_LIMIT (50 * 1024 * 1024)

static const EpConfigKey imap_keys[] = {
    {"append_limit", EP_CONFIG_TYPE_INTEGER, 0, 1024, 1024 * 1024 * 1024, NULL, NULL,
     "largest message APPEND accepts, in octets (advertised as APPENDLIMIT)"},
    {"max_errors", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000, NULL, NULL,
     "BAD answers in a session before it is ended with BYE"},
    {"max_connections_per_ip", EP_CONFIG_TYPE_INTEGER, 0, 0, 100000, NULL, NULL,
     "simultaneous connections from one address; 0 for no limit"},
    {"idle_timeout", EP_CONFIG_TYPE_INTEGER, 0, 1800, 86400, NULL, NULL,
     "seconds without a command before the session ends (RFC 9051: at least 30 minutes)"},
    {NULL}};

static void
imap_read_limits (EpContext *ctx, ImapLimits *limits)
{
	EpTomlValue *section = ep_context_get_section (ctx);

	limits->append_limit =
	    (guint64)ep_config_section_get_integer (section, "append_limit", IMAP_DEFAULT_APPEND_LIMIT);
	limits->max_errors = (guint)ep_config_section_get_integer (section, "max_errors", 20);
	limits->max_connections_per_ip = (guint)ep_config_section_get_integer (section, "max_connections_per_ip", 20);
	limits->idle_timeout = (guint)ep_config_section_get_integer (section, "idle_timeout", 1800);
}

/* An implicit-TLS listener without TLS material: refuse the configuration. */
static gboolean
imap_check_listeners (EpContext *ctx, GError **error)
{
	EpConfig *config = ep_context_get_config (ctx);
	GPtrArray *listeners = ep_config_get_listeners (config);

	for (guint i = 0; listeners != NULL && i < listeners->len; i++) {
		const EpConfigListener *l = g_ptr_array_index (listeners, i);
		if (g_strcmp0 (l->kind, "imaps") != 0 || ep_config_get_tls_cert_file (config) != NULL)
			continue;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s:%u: listener kind 'imaps' is implicit TLS and needs a certificate: set "
			     "cert_file and key_file in [tls], or use kind 'imap' (port 143, STARTTLS)",
			     l->filename != NULL ? l->filename : ep_config_get_main_file (config), l->kind_line);
		return FALSE;
	}
	return TRUE;
}

static void
imap_on_accept (EpContext *ctx, GSocketConnection *connection, const EpConfigListener *listener, gpointer user_data)
{
	ImapServer *server = ep_context_get_data (ctx);

	imap_session_accept (server, connection, listener->kind);
}

static void
imap_on_mailbox_changed (const EpMailboxChangedEvent *event, gpointer user_data)
{
	imap_server_mailbox_changed (user_data, event);
}

static void
imap_server_free (ImapServer *server)
{
	if (server->changed_sub != 0)
		(void)ep_event_bus_unsubscribe (ep_context_get_event_bus (server->ctx), server->changed_sub);
	imap_server_close_all (server);
	g_hash_table_unref (server->sessions);
	g_clear_object (&server->store);
	g_free (server);
}

static gboolean
imap_init (EpContext *ctx, GError **error)
{
	ImapServer *server;

	if (!imap_check_listeners (ctx, error))
		return FALSE;
	server = g_new0 (ImapServer, 1);
	server->ctx = ctx;
	server->sessions = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
	imap_read_limits (ctx, &server->limits);
	ep_context_set_data (ctx, server, (GDestroyNotify)imap_server_free);

	if (!ep_context_add_listener_kind (ctx, "imap", 143, imap_on_accept, NULL, error))
		return FALSE;
	if (!ep_context_add_listener_kind (ctx, "imaps", 993, imap_on_accept, NULL, error))
		return FALSE;
	server->changed_sub = ep_event_mailbox_changed_subscribe (ep_context_get_event_bus (ctx), IMAP_MODULE,
								  imap_on_mailbox_changed, server, NULL);
	return TRUE;
}

static gboolean
imap_start (EpContext *ctx, GError **error)
{
	ImapServer *server = ep_context_get_data (ctx);
	GObject *store = ep_service_registry_lookup (ep_context_get_services (ctx), EP_TYPE_STORE);

	if (store == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
				     "no mailbox store to serve: load the store-pg module");
		return FALSE;
	}
	g_set_object (&server->store, EP_STORE (store));
	return TRUE;
}

static gboolean
imap_reload (EpContext *ctx, GError **error)
{
	ImapServer *server = ep_context_get_data (ctx);

	if (!imap_check_listeners (ctx, error))
		return FALSE;
	imap_read_limits (ctx, &server->limits);
	return TRUE;
}

static void
imap_shutdown (EpContext *ctx)
{
	ImapServer *server = ep_context_get_data (ctx);

	if (server != NULL)
		imap_server_close_all (server);
}

EP_MODULE_DEFINE (.name = IMAP_MODULE, .version = PACKAGE_VERSION,
		  .description = "IMAP4rev2 and IMAP4rev1 access to the mailbox store (imap and imaps listeners)",
		  .config_schema = imap_keys, .provides = EP_STRV ("listener:imap", "listener:imaps"),
		  .requires = EP_STRV ("service:store"), .init = imap_init, .start = imap_start, .reload = imap_reload,
		  .shutdown = imap_shutdown, );
