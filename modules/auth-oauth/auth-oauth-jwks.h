/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include <epistle.h>

G_BEGIN_DECLS

/*
 * The key set of an OAuth identity provider, fetched from its JWKS URL
 * (https only, TLS verified) and kept up to date on the main loop:
 *
 *  - start() fetches it once; a daemon whose provider is down still
 *    starts, and has no keys until a fetch succeeds (logins answer "try
 *    later" meanwhile);
 *  - a good set is kept until the next one: refreshed after the response's
 *    Cache-Control max-age, clamped to [5 min, 24 h] (1 h without one);
 *  - a failed fetch keeps the keys known (with a warning) and is retried
 *    after 5 s, then 10 s, 20 s… up to 5 min;
 *  - a token naming a kid the set lacks may ask for one fetch at once
 *    (refresh_async with AUTH_OAUTH_JWKS_UNKNOWN_KID), at most once a
 *    minute; every login that asks while a fetch runs waits for that one
 *    fetch.
 *
 * A response must be 200, at most EP_JWT_MAX_JWKS octets, arrive within
 * 10 s and hold at least one key for the pinned algorithm; its
 * Content-Type is not looked at and redirections are not followed.
 */

#define AUTH_OAUTH_JWKS_TIMEOUT_S         10
#define AUTH_OAUTH_JWKS_REFETCH_S         60
#define AUTH_OAUTH_JWKS_MAX_AGE_MIN_S     300
#define AUTH_OAUTH_JWKS_MAX_AGE_MAX_S     86400
#define AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S 3600
#define AUTH_OAUTH_JWKS_RETRY_FIRST_S     5
#define AUTH_OAUTH_JWKS_RETRY_MAX_S       300

typedef enum {
	/* wait for the fetch under way, if any; never start one */
	AUTH_OAUTH_JWKS_JOIN,
	/* a token names a kid the set lacks: fetch now unless an
	 * unknown kid caused a fetch less than a minute ago */
	AUTH_OAUTH_JWKS_UNKNOWN_KID,
} AuthOAuthJwksRefresh;

#define AUTH_OAUTH_TYPE_JWKS (auth_oauth_jwks_get_type ())
G_DECLARE_FINAL_TYPE (AuthOAuthJwks, auth_oauth_jwks, AUTH_OAUTH, JWKS, GObject)

/* The check of the jwks_url key: an absolute https URL with a host and
 * without credentials. */
gboolean auth_oauth_jwks_check_url (const char *url, GError **error);

/**
 * auth_oauth_jwks_new:
 * @ca_file: (nullable): PEM certificates to trust instead of the system's
 *
 * Reads @ca_file now (before privileges are dropped).  Nothing is fetched
 * before auth_oauth_jwks_start().
 *
 * Returns: (transfer full) (nullable): the key set, or %NULL with
 *   EP_ERROR_CONFIG
 */
AuthOAuthJwks *auth_oauth_jwks_new (const char *url, EpJwtAlg alg, const char *ca_file, GError **error);

void auth_oauth_jwks_start (AuthOAuthJwks *self);
/* cancels the fetch under way and the timers; waiting callers fail */
void auth_oauth_jwks_stop (AuthOAuthJwks *self);

/* Returns: (transfer none) (nullable): the keys (EpJwtKey*), %NULL until a
 * fetch has succeeded */
GPtrArray *auth_oauth_jwks_get_keys (AuthOAuthJwks *self);
gboolean   auth_oauth_jwks_has_kid (AuthOAuthJwks *self, const char *kid);
gboolean   auth_oauth_jwks_is_fetching (AuthOAuthJwks *self);
gboolean   auth_oauth_jwks_is_stopped (AuthOAuthJwks *self);
const char *auth_oauth_jwks_get_url (AuthOAuthJwks *self);

/**
 * auth_oauth_jwks_refresh_async:
 *
 * Waits for a fetch as @how says.  The callback runs on the main loop.
 */
void     auth_oauth_jwks_refresh_async (AuthOAuthJwks *self, AuthOAuthJwksRefresh how, GCancellable *cancellable,
					GAsyncReadyCallback callback, gpointer user_data);
/* Returns: %TRUE when a fetch ran and succeeded; %FALSE with an error when
 * it failed, and %FALSE without one when none ran */
gboolean auth_oauth_jwks_refresh_finish (AuthOAuthJwks *self, GAsyncResult *result, GError **error);

/* The seconds a response may be kept, from its Cache-Control header
 * (nullable), clamped as said above. */
guint auth_oauth_jwks_max_age (const char *cache_control);

G_END_DECLS
