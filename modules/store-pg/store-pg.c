/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * store-pg: the mailbox store (EpStore) on PostgreSQL.  It registers the
 * store service, mirrors the accounts of the configuration into the
 * database at start-up and after every reload, and turns the NOTIFYs of
 * other processes into mailbox.changed events.
 */

#include "config.h"

#include <string.h>

#include <epistle.h>

#include "store-pg-store.h"

#define STORE_PG_MODULE "store-pg"

static void
store_pg_on_synced (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GError) error = NULL;

	if (!ep_store_sync_config_accounts_finish (EP_STORE (source), result, &error)) {
		ep_log_warning (STORE_PG_MODULE, NULL, "cannot mirror the accounts of the configuration: %s",
				error->message);
		return;
	}
	ep_log_debug (STORE_PG_MODULE, NULL, "accounts of the configuration mirrored");
}

static void
store_pg_sync (EpContext *ctx)
{
	EpStore *store = ep_context_get_data (ctx);
	GPtrArray *accounts = ep_config_get_accounts (ep_context_get_config (ctx));

	ep_store_sync_config_accounts_async (store, accounts, NULL, store_pg_on_synced, NULL);
}

/* ---- directory.resolve ---------------------------------------------------- */

typedef struct {
	EpHookCall *call;
	EpDirectoryResolveCtx *resolve;
} StorePgResolve;

static void
store_pg_on_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	StorePgResolve *r = user_data;
	g_autoptr (GError) error = NULL;
	g_autofree char *account = ep_store_resolve_address_finish (EP_STORE (source), result, &error);

	if (g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND)) {
		/* a local domain, nobody there: the caller answers "no such user" */
		ep_hook_call_continue (r->call);
	} else if (error != NULL) {
		ep_log_warning (STORE_PG_MODULE, NULL, "cannot resolve an address: %s", error->message);
		ep_hook_call_return (r->call, ep_verdict_new_tempfail (451, "4.3.0", "Address lookup failed, try again later"));
	} else if (account == NULL) {
		/* a local domain, nobody there: the caller answers "no such user" */
		ep_hook_call_continue (r->call);
	} else {
		ep_hook_ctx_set_string (&r->resolve->account, account);
		ep_hook_call_return (r->call, ep_verdict_new (EP_VERDICT_ACCEPT));
	}
	ep_hook_call_unref (r->call);
	g_free (r);
}

/* Whether @domain (lower case) is one of `domains`. */
static gboolean
store_pg_is_local_domain (EpContext *ctx, const char *domain)
{
	const char *const *domains = ep_config_get_domains (ep_context_get_config (ctx));

	for (guint i = 0; domains != NULL && domains[i] != NULL; i++) {
		if (g_ascii_strcasecmp (domains[i], domain) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Answers for the addresses of the domains this server serves: ACCEPT with
 * the account (exact address, then user+tag, then the domain's catch-all),
 * CONTINUE with is_local_domain set when nobody has the address, CONTINUE
 * alone for a foreign domain.  A database failure is a temporary failure. */
static void
store_pg_directory_resolve (EpHookCall *call, EpDirectoryResolveCtx *resolve, gpointer user_data)
{
	EpContext *ctx = user_data;
	EpStore *store = ep_context_get_data (ctx);
	const char *at = resolve->address != NULL ? strrchr (resolve->address, '@') : NULL;
	StorePgResolve *r;

	if (at == NULL || at == resolve->address || at[1] == '\0' || !store_pg_is_local_domain (ctx, at + 1)) {
		ep_hook_call_continue (call);
		return;
	}
	resolve->is_local_domain = TRUE;
	if (store == NULL) {
		ep_hook_call_return (call, ep_verdict_new_tempfail (451, "4.3.0", "Mail store not ready, try again later"));
		return;
	}
	r = g_new0 (StorePgResolve, 1);
	r->call = ep_hook_call_ref (call);
	r->resolve = resolve;
	ep_store_resolve_address_async (store, resolve->address, ep_hook_call_get_cancellable (call),
					store_pg_on_resolved, r);
}

static gboolean
store_pg_init (EpContext *ctx, GError **error)
{
	/* the store needs the database, which is there only from start();
	 * until then the directory answers "try again later" */
	ep_hook_directory_resolve_connect (ep_context_get_hook_bus (ctx), STORE_PG_MODULE, 0,
					   store_pg_directory_resolve, ctx, NULL);
	return TRUE;
}

static gboolean
store_pg_start (EpContext *ctx, GError **error)
{
	EpDb *db = ep_context_get_db (ctx);
	g_autoptr (EpStorePg) store = NULL;

	if (db == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE, "no database to store mail in");
		return FALSE;
	}
	store = ep_store_pg_new (db, ep_context_get_event_bus (ctx), ep_context_get_worker_pool (ctx), error);
	if (store == NULL)
		return FALSE;
	if (!ep_service_registry_register (ep_context_get_services (ctx), EP_TYPE_STORE, G_OBJECT (store),
					   STORE_PG_MODULE, error))
		return FALSE;
	ep_context_set_data (ctx, g_object_ref (store), g_object_unref);

	/* the accounts of the configuration exist before anything is served:
	 * start() runs before the main loop, so wait for the mirror here */
	{
		g_autoptr (GAsyncResult) result = NULL;
		GPtrArray *accounts = ep_config_get_accounts (ep_context_get_config (ctx));
		ep_store_sync_config_accounts_async (EP_STORE (store), accounts, NULL, ep_db_sync_callback, &result);
		while (result == NULL)
			g_main_context_iteration (NULL, TRUE);
		if (!ep_store_sync_config_accounts_finish (EP_STORE (store), result, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean
store_pg_reload (EpContext *ctx, GError **error)
{
	if (ep_context_get_data (ctx) != NULL)
		store_pg_sync (ctx);
	return TRUE;
}

EP_MODULE_DEFINE (.name = STORE_PG_MODULE, .version = PACKAGE_VERSION, .description = "Mailbox store on PostgreSQL",
		  .provides = EP_STRV ("service:store"), .init = store_pg_init, .start = store_pg_start,
		  .reload = store_pg_reload, );
