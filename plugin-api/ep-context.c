/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-core-private.h"
#include "ep-error.h"

struct _EpContext {
	EpCore *core; /* not owned */
	const EpModuleDesc *desc;
	gpointer data;
	GDestroyNotify data_destroy;
};

static void
ep_listener_kind_free (EpListenerKind *kind)
{
	g_free (kind->kind);
	g_free (kind);
}

EpCore *
ep_core_new (EpConfig *config)
{
	EpCore *core = g_new0 (EpCore, 1);

	core->config = g_object_ref (config);
	core->hooks = ep_hook_bus_new ();
	core->events = ep_event_bus_new ();
	core->services = ep_service_registry_new ();
	core->workers = ep_worker_pool_new (0, 10000);
	core->listener_kinds = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_listener_kind_free);
	core->stopping = g_cancellable_new ();
	return core;
}

void
ep_core_free (EpCore *core)
{
	if (core == NULL)
		return;
	g_ptr_array_unref (core->listener_kinds);
	g_clear_object (&core->stopping);
	g_clear_object (&core->db);
	g_clear_object (&core->tls);
	g_clear_object (&core->resolver);
	g_clear_object (&core->workers);
	g_clear_object (&core->services);
	g_clear_object (&core->events);
	g_clear_object (&core->hooks);
	g_clear_object (&core->config);
	g_free (core);
}

void
ep_core_set_config (EpCore *core, EpConfig *config)
{
	g_set_object (&core->config, config);
}

EpListenerKind *
ep_core_find_listener_kind (EpCore *core, const char *kind)
{
	for (guint i = 0; i < core->listener_kinds->len; i++) {
		EpListenerKind *k = g_ptr_array_index (core->listener_kinds, i);
		if (g_strcmp0 (k->kind, kind) == 0)
			return k;
	}
	return NULL;
}

EpContext *
ep_context_new (EpCore *core, const EpModuleDesc *desc)
{
	EpContext *ctx = g_new0 (EpContext, 1);
	ctx->core = core;
	ctx->desc = desc;
	return ctx;
}

void
ep_context_free (EpContext *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->data_destroy != NULL && ctx->data != NULL)
		ctx->data_destroy (ctx->data);
	g_free (ctx);
}

const EpModuleDesc *
ep_context_get_desc (EpContext *ctx)
{
	return ctx->desc;
}

const char *
ep_context_get_module_name (EpContext *ctx)
{
	return ctx->desc->name;
}

EpConfig *
ep_context_get_config (EpContext *ctx)
{
	return ctx->core->config;
}

/**
 * ep_context_get_section:
 *
 * Returns: (nullable): the module's `[<name>]` table, already validated
 * against the schema the module declared, or %NULL when absent
 */
EpTomlValue *
ep_context_get_section (EpContext *ctx)
{
	return ep_config_get_section (ctx->core->config, ctx->desc->name);
}

EpHookBus *
ep_context_get_hook_bus (EpContext *ctx)
{
	return ctx->core->hooks;
}

EpEventBus *
ep_context_get_event_bus (EpContext *ctx)
{
	return ctx->core->events;
}

EpServiceRegistry *
ep_context_get_services (EpContext *ctx)
{
	return ctx->core->services;
}

EpWorkerPool *
ep_context_get_worker_pool (EpContext *ctx)
{
	return ctx->core->workers;
}

/**
 * ep_context_get_db:
 *
 * Returns: (nullable): the PostgreSQL database (the embedded cluster or
 * `[database] url`), whose schema migrations have been applied; %NULL only
 * in `config-check`, which connects to nothing
 */
EpDb *
ep_context_get_db (EpContext *ctx)
{
	return ctx->core->db;
}

/**
 * ep_context_get_tls:
 *
 * Returns: (nullable) (transfer none): the server TLS material of `[tls]`
 * and `[[tls.sni]]`, for ep_connection_set_implicit_tls() and
 * ep_connection_start_tls_async(); %NULL when no certificate is configured
 */
EpTlsContext *
ep_context_get_tls (EpContext *ctx)
{
	return ctx->core->tls;
}

/**
 * ep_context_get_resolver:
 *
 * Returns: (nullable) (transfer none): the DNS resolver of `[dns]`
 *   (libunbound, DNSSEC-validating unless `dnssec = false`), shared by
 *   every module; %NULL only before the daemon has created it
 */
EpResolver *
ep_context_get_resolver (EpContext *ctx)
{
	return ctx->core->resolver;
}

/**
 * ep_context_get_stopping:
 *
 * Returns: (transfer none): a cancellable the daemon cancels when it starts
 *   to stop (SIGTERM): listeners are closed and open sessions have a grace
 *   period before they are cut.  Protocol modules connect to its
 *   "cancelled" signal to finish their sessions politely: the command under
 *   way completes, then the client gets the protocol's "shutting down"
 *   answer (SMTP 421 4.3.2, IMAP BYE) and the connection closes.
 */
GCancellable *
ep_context_get_stopping (EpContext *ctx)
{
	return ctx->core->stopping;
}

gboolean
ep_context_is_serving (EpContext *ctx)
{
	return ctx->core->serving;
}

/**
 * ep_context_set_data:
 *
 * Attaches the module's state; @destroy runs after the module's shutdown().
 */
void
ep_context_set_data (EpContext *ctx, gpointer data, GDestroyNotify destroy)
{
	if (ctx->data_destroy != NULL && ctx->data != NULL)
		ctx->data_destroy (ctx->data);
	ctx->data = data;
	ctx->data_destroy = destroy;
}

gpointer
ep_context_get_data (EpContext *ctx)
{
	return ctx->data;
}

/**
 * ep_context_add_listener_kind:
 * @kind: e.g. "smtp"; `[[listeners]] kind = "smtp"` then reaches @func
 * @default_port: the port used when a listener does not set one
 *
 * Returns: %FALSE when another module already provides @kind
 */
gboolean
ep_context_add_listener_kind (EpContext *ctx, const char *kind, guint16 default_port, EpListenerAcceptFunc func,
			      gpointer user_data, GError **error)
{
	EpListenerKind *k = ep_core_find_listener_kind (ctx->core, kind);

	g_return_val_if_fail (func != NULL, FALSE);
	if (k != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_EXISTS,
			     "listener kind '%s' is already provided by module '%s'", kind,
			     ep_context_get_module_name (k->ctx));
		return FALSE;
	}
	k = g_new0 (EpListenerKind, 1);
	k->kind = g_strdup (kind);
	k->default_port = default_port;
	k->ctx = ctx;
	k->func = func;
	k->user_data = user_data;
	g_ptr_array_add (ctx->core->listener_kinds, k);
	return TRUE;
}
