/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * auth-oauth: OAuth 2.0 bearer tokens (SASL OAUTHBEARER, RFC 7628, and
 * XOAUTH2) for the accounts of the store.  A token is a JWT signed by the
 * configured issuer with one pinned algorithm and a public key from a PEM
 * file or from the issuer's key set (JWKS, fetched over https and cached:
 * auth-oauth-jwks.c); it must name this server's audience and must not
 * have expired.
 * Its subject (an address, or an account name) must be the user the client
 * logs in as, and opens that user's account.  Without an `issuer` the
 * module does nothing, and protocols do not offer the mechanisms.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

#include "auth-oauth-jwks.h"

#define AUTH_OAUTH_MODULE "auth-oauth"

typedef struct {
	char *issuer;
	char *audience;
	char *subject_claim;
	EpJwtPolicy policy;
	GPtrArray *keys;     /* of EpJwtKey: the public_key one */
	AuthOAuthJwks *jwks; /* or the issuer's key set */
	EpStore *store;
} AuthOAuth;

static gboolean
auth_oauth_check_jwks_url (const EpTomlValue *value, GError **error)
{
	return auth_oauth_jwks_check_url (ep_toml_value_get_string (value), error);
}

static const EpConfigKey auth_oauth_keys[] = {
    {"issuer", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 0, NULL, NULL,
     "the \"iss\" tokens must carry; without it the module is off"},
    {"audience", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 0, NULL, NULL,
     "the \"aud\" tokens must carry (this server)"},
    {"public_key", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 0, ep_config_check_absolute_path, NULL,
     "PEM file with the issuer's public key (RSA 2048+, P-256 or Ed25519); or jwks_url"},
    {"jwks_url", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 2048, auth_oauth_check_jwks_url, NULL,
     "https URL of the issuer's key set (JWKS), fetched and refreshed; or public_key"},
    {"jwks_ca_file", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 0, ep_config_check_absolute_path, NULL,
     "PEM CA certificates to trust for jwks_url instead of the system's"},
    {"algorithm", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "the one signature algorithm accepted: RS256 (default), ES256 or EdDSA"},
    {"subject_claim", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NONE, 0, 0, NULL, NULL,
     "the claim naming the user: email (default) or sub"},
    {NULL}};

static void
auth_oauth_free (AuthOAuth *self)
{
	g_free (self->issuer);
	g_free (self->audience);
	g_free (self->subject_claim);
	g_clear_pointer (&self->keys, g_ptr_array_unref);
	if (self->jwks != NULL)
		auth_oauth_jwks_stop (self->jwks);
	g_clear_object (&self->jwks);
	g_clear_object (&self->store);
	g_free (self);
}

/* ---- auth.verify --------------------------------------------------------- */

typedef struct {
	EpHookCall *call;
	EpAuthVerifyCtx *verify;
	char *subject;
} AuthOAuthCall;

static void
auth_oauth_call_free (AuthOAuthCall *c)
{
	ep_hook_call_unref (c->call);
	g_free (c->subject);
	g_free (c);
}

static void
auth_oauth_reject (EpHookCall *call)
{
	ep_hook_call_return (call, ep_verdict_new_reject (535, "5.7.8", "Authentication credentials invalid"));
}

static void
auth_oauth_on_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
	AuthOAuthCall *c = user_data;
	g_autoptr (GError) error = NULL;
	g_autofree char *account = ep_store_resolve_address_finish (EP_STORE (source), result, &error);

	if (g_cancellable_is_cancelled (ep_hook_call_get_cancellable (c->call))) {
		/* the chain is over */
	} else if (error != NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND)) {
		ep_log_warning (AUTH_OAUTH_MODULE, c->verify->session_id, "cannot resolve a token's subject: %s",
				error->message);
		ep_hook_call_return (c->call,
				     ep_verdict_new_tempfail (454, "4.7.0", "Temporary authentication failure"));
	} else if (account == NULL) {
		ep_log_info (AUTH_OAUTH_MODULE, c->verify->session_id, "token for %s: no such account here",
			     c->subject);
		auth_oauth_reject (c->call);
	} else {
		ep_hook_ctx_set_string (&c->verify->account, account);
		ep_hook_call_return (c->call, ep_verdict_new (EP_VERDICT_ACCEPT));
	}
	auth_oauth_call_free (c);
}

/* The user the client names must be the token's subject: the same address
 * (in any case), or, for a subject without '@', the same account name. */
static gboolean
auth_oauth_user_matches (const char *username, const char *subject)
{
	return username != NULL && subject != NULL && g_ascii_strcasecmp (username, subject) == 0;
}

static void
auth_oauth_tempfail (EpHookCall *call)
{
	ep_hook_call_return (call, ep_verdict_new_tempfail (454, "4.7.0", "Temporary authentication failure"));
}

/* Checks the token with @keys, then looks its subject up in the store. */
static void
auth_oauth_check_token (AuthOAuth *self, EpHookCall *call, EpAuthVerifyCtx *verify, GPtrArray *keys)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *subject = NULL;
	EpJwtPolicy policy = self->policy;
	AuthOAuthCall *c;

	policy.keys = keys;
	if (!ep_jwt_verify (verify->secret, &policy, g_get_real_time () / G_USEC_PER_SEC, &subject, &error)) {
		ep_log_info (AUTH_OAUTH_MODULE, verify->session_id, "bearer token refused: %s", error->message);
		auth_oauth_reject (call);
		return;
	}
	/* OAUTHBEARER's a= / XOAUTH2's user= may be left out: the token says */
	if (verify->username != NULL && verify->username[0] != '\0' &&
	    !auth_oauth_user_matches (verify->username, subject)) {
		ep_log_info (AUTH_OAUTH_MODULE, verify->session_id, "bearer token for %s used as %s", subject,
			     verify->username);
		auth_oauth_reject (call);
		return;
	}
	if (strchr (subject, '@') == NULL) {
		/* an account name: it must exist, which resolving its own
		 * name cannot tell; accept only addresses for now */
		ep_log_info (AUTH_OAUTH_MODULE, verify->session_id, "token subject %s is not an address", subject);
		auth_oauth_reject (call);
		return;
	}
	if (self->store == NULL) {
		auth_oauth_tempfail (call);
		return;
	}
	c = g_new0 (AuthOAuthCall, 1);
	c->call = ep_hook_call_ref (call);
	c->verify = verify;
	c->subject = g_steal_pointer (&subject);
	ep_store_resolve_address_async (self->store, c->subject, ep_hook_call_get_cancellable (call),
					auth_oauth_on_resolved, c);
}

/* ---- keys from the issuer's key set -------------------------------------- */

typedef struct {
	AuthOAuth *self; /* valid while jwks is not stopped */
	AuthOAuthJwks *jwks;
	EpHookCall *call;
	EpAuthVerifyCtx *verify;
} AuthOAuthWait;

static void
auth_oauth_wait_free (AuthOAuthWait *w)
{
	g_object_unref (w->jwks);
	ep_hook_call_unref (w->call);
	g_free (w);
}

/* A fetch the login waited for is over: decide with the keys known now. */
static void
auth_oauth_on_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	AuthOAuthWait *w = user_data;
	g_autoptr (GError) error = NULL;
	GPtrArray *keys;

	/* a failed fetch leaves the keys known before: decide with them */
	(void) auth_oauth_jwks_refresh_finish (AUTH_OAUTH_JWKS (source), result, &error);
	if (g_cancellable_is_cancelled (ep_hook_call_get_cancellable (w->call))) {
		/* the chain is over */
		auth_oauth_wait_free (w);
		return;
	}
	if (auth_oauth_jwks_is_stopped (w->jwks)) {
		/* the daemon is stopping (and w->self going) */
		auth_oauth_tempfail (w->call);
		auth_oauth_wait_free (w);
		return;
	}
	keys = auth_oauth_jwks_get_keys (w->jwks);
	if (keys == NULL) {
		ep_log_info (AUTH_OAUTH_MODULE, w->verify->session_id, "no keys from %s yet: try later",
			     auth_oauth_jwks_get_url (w->jwks));
		auth_oauth_tempfail (w->call);
	} else {
		auth_oauth_check_token (w->self, w->call, w->verify, keys);
	}
	auth_oauth_wait_free (w);
}

static void
auth_oauth_wait_for_keys (AuthOAuth *self, EpHookCall *call, EpAuthVerifyCtx *verify, AuthOAuthJwksRefresh how)
{
	AuthOAuthWait *w = g_new0 (AuthOAuthWait, 1);

	w->self = self;
	w->jwks = g_object_ref (self->jwks);
	w->call = ep_hook_call_ref (call);
	w->verify = verify;
	auth_oauth_jwks_refresh_async (self->jwks, how, ep_hook_call_get_cancellable (call), auth_oauth_on_refreshed,
				       w);
}

static void
auth_oauth_verify_jwks (AuthOAuth *self, EpHookCall *call, EpAuthVerifyCtx *verify)
{
	GPtrArray *keys = auth_oauth_jwks_get_keys (self->jwks);
	g_autofree char *kid = NULL;

	if (keys == NULL) {
		/* the first fetch is under way, or failed: wait for the one
		 * running, else try later (a retry is scheduled) */
		if (auth_oauth_jwks_is_fetching (self->jwks)) {
			auth_oauth_wait_for_keys (self, call, verify, AUTH_OAUTH_JWKS_JOIN);
		} else {
			ep_log_info (AUTH_OAUTH_MODULE, verify->session_id, "no keys from %s yet: try later",
				     auth_oauth_jwks_get_url (self->jwks));
			auth_oauth_tempfail (call);
		}
		return;
	}
	/* a kid the set lacks: the issuer may have rotated its keys */
	if (ep_jwt_peek_kid (verify->secret, &kid, NULL) && kid != NULL && !auth_oauth_jwks_has_kid (self->jwks, kid)) {
		auth_oauth_wait_for_keys (self, call, verify, AUTH_OAUTH_JWKS_UNKNOWN_KID);
		return;
	}
	auth_oauth_check_token (self, call, verify, keys);
}

static void
auth_oauth_verify (EpHookCall *call, EpAuthVerifyCtx *verify, gpointer user_data)
{
	EpContext *ctx = user_data;
	AuthOAuth *self = ep_context_get_data (ctx);

	if (!verify->is_bearer || self == NULL || self->issuer == NULL) {
		ep_hook_call_continue (call);
		return;
	}
	if (verify->secret == NULL) {
		ep_log_info (AUTH_OAUTH_MODULE, verify->session_id, "bearer token refused: no token");
		auth_oauth_reject (call);
		return;
	}
	if (self->jwks != NULL)
		auth_oauth_verify_jwks (self, call, verify);
	else
		auth_oauth_check_token (self, call, verify, self->keys);
}

/* ---- lifecycle ------------------------------------------------------------ */

static gboolean
auth_oauth_init (EpContext *ctx, GError **error)
{
	EpTomlValue *section = ep_context_get_section (ctx);
	const char *issuer = section != NULL ? ep_config_section_get_string (section, "issuer", NULL) : NULL;
	const char *audience = section != NULL ? ep_config_section_get_string (section, "audience", NULL) : NULL;
	const char *key_file = section != NULL ? ep_config_section_get_string (section, "public_key", NULL) : NULL;
	const char *jwks_url = section != NULL ? ep_config_section_get_string (section, "jwks_url", NULL) : NULL;
	const char *ca_file = section != NULL ? ep_config_section_get_string (section, "jwks_ca_file", NULL) : NULL;
	const char *alg = section != NULL ? ep_config_section_get_string (section, "algorithm", "RS256") : "RS256";
	const char *claim = section != NULL ? ep_config_section_get_string (section, "subject_claim", "email") : "email";
	AuthOAuth *self = g_new0 (AuthOAuth, 1);

	ep_context_set_data (ctx, self, (GDestroyNotify)auth_oauth_free);
	ep_hook_auth_verify_connect (ep_context_get_hook_bus (ctx), AUTH_OAUTH_MODULE, 0, auth_oauth_verify, ctx, NULL);
	if (issuer == NULL && audience == NULL && key_file == NULL && jwks_url == NULL && ca_file == NULL)
		return TRUE; /* off */
	if (issuer == NULL || audience == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "[auth-oauth] needs issuer and audience together, with public_key or jwks_url");
		return FALSE;
	}
	if ((key_file == NULL) == (jwks_url == NULL)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     key_file == NULL
					 ? "[auth-oauth] needs the issuer's keys: public_key (a PEM file) or jwks_url"
					 : "[auth-oauth] public_key and jwks_url are alternatives: set only one");
		return FALSE;
	}
	if (ca_file != NULL && jwks_url == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "[auth-oauth] jwks_ca_file is for jwks_url, which is not set");
		return FALSE;
	}
	if (g_strcmp0 (alg, "RS256") == 0) {
		self->policy.alg = EP_JWT_ALG_RS256;
	} else if (g_strcmp0 (alg, "ES256") == 0) {
		self->policy.alg = EP_JWT_ALG_ES256;
	} else if (g_strcmp0 (alg, "EdDSA") == 0) {
		self->policy.alg = EP_JWT_ALG_EDDSA;
	} else {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "[auth-oauth] algorithm: '%s' is not one of RS256, ES256, EdDSA", alg);
		return FALSE;
	}
	if (g_strcmp0 (claim, "email") != 0 && g_strcmp0 (claim, "sub") != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "[auth-oauth] subject_claim: '%s' is not email or sub",
			     claim);
		return FALSE;
	}
	if (key_file != NULL) {
		g_autoptr (GError) local = NULL;
		EpJwtKey *key = ep_jwt_key_load_pem_file (key_file, NULL, &local);
		if (key == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "[auth-oauth] public_key: %s: %s", key_file,
				     local->message);
			return FALSE;
		}
		self->keys = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_jwt_key_unref);
		g_ptr_array_add (self->keys, key);
	} else {
		/* read the CA file now, while the daemon may still read what
		 * only root can; the first fetch waits for start() */
		g_autoptr (GError) local = NULL;
		self->jwks = auth_oauth_jwks_new (jwks_url, self->policy.alg, ca_file, &local);
		if (self->jwks == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "[auth-oauth] %s", local->message);
			return FALSE;
		}
	}
	self->issuer = g_strdup (issuer);
	self->audience = g_strdup (audience);
	self->subject_claim = g_strdup (claim);
	self->policy.issuer = self->issuer;
	self->policy.audience = self->audience;
	self->policy.subject_claim = self->subject_claim;
	self->policy.keys = self->keys;
	return TRUE;
}

static gboolean
auth_oauth_start (EpContext *ctx, GError **error)
{
	AuthOAuth *self = ep_context_get_data (ctx);
	GObject *store = ep_service_registry_lookup (ep_context_get_services (ctx), EP_TYPE_STORE);

	if (store != NULL)
		g_set_object (&self->store, EP_STORE (store));
	/* the provider may be down: start anyway, logins wait for its keys */
	if (self->jwks != NULL)
		auth_oauth_jwks_start (self->jwks);
	return TRUE;
}

static void
auth_oauth_shutdown (EpContext *ctx)
{
	AuthOAuth *self = ep_context_get_data (ctx);

	if (self != NULL && self->jwks != NULL)
		auth_oauth_jwks_stop (self->jwks);
}

EP_MODULE_DEFINE (.name = AUTH_OAUTH_MODULE, .version = PACKAGE_VERSION,
		  .description = "OAuth 2.0 bearer tokens (OAUTHBEARER, XOAUTH2) checked as JWTs",
		  .config_schema = auth_oauth_keys, .provides = EP_STRV ("hook:auth.verify"),
		  .requires = EP_STRV ("service:store"), .run_after = EP_STRV ("store-pg"), .init = auth_oauth_init,
		  .start = auth_oauth_start, .shutdown = auth_oauth_shutdown, );
