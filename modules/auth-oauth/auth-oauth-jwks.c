/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The identity provider's key set (JWKS), fetched with libsoup on the main
 * loop and cached; see auth-oauth-jwks.h for the rules.  One fetch at a
 * time: whoever needs fresh keys while it runs waits for it.
 */
#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "auth-oauth-jwks.h"

#define AUTH_OAUTH_MODULE     "auth-oauth"
#define AUTH_OAUTH_JWKS_CHUNK 16384

struct _AuthOAuthJwks {
	GObject parent_instance;

	char *url;
	EpJwtAlg alg;
	GTlsDatabase *tls_db; /* (nullable): the system's trust store when NULL */
	SoupSession *session; /* from start() on */
	GPtrArray *keys;      /* (nullable) of EpJwtKey: the last good set */

	/* the fetch under way: cancellable is set while it runs */
	GCancellable *cancellable;
	SoupMessage *msg;
	GInputStream *body_stream;
	GByteArray *body;
	guint deadline_id;
	gboolean timed_out;
	GPtrArray *waiters; /* of GTask: callers waiting for it */

	guint timer_id;        /* the next scheduled fetch */
	guint retry_s;         /* the wait after the next failure */
	gint64 last_kid_fetch; /* monotonic µs of the last unknown-kid fetch; 0 for none */
	gboolean started;
	gboolean stopped;
};

G_DEFINE_FINAL_TYPE (AuthOAuthJwks, auth_oauth_jwks, G_TYPE_OBJECT)

static void auth_oauth_jwks_fetch (AuthOAuthJwks *self);

/* ---- configuration -------------------------------------------------------- */

gboolean
auth_oauth_jwks_check_url (const char *url, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, &local);

	if (uri == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "'%s' is not a URL: %s", url, local->message);
		return FALSE;
	}
	if (g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not an https URL: the key set must come over verified TLS "
			     "(jwks_url = \"https://…\")",
			     url);
		return FALSE;
	}
	if (g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0') {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "'%s' names no host", url);
		return FALSE;
	}
	if (g_uri_get_userinfo (uri) != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' carries credentials: a key set is public, leave them out", url);
		return FALSE;
	}
	return TRUE;
}

AuthOAuthJwks *
auth_oauth_jwks_new (const char *url, EpJwtAlg alg, const char *ca_file, GError **error)
{
	g_autoptr(AuthOAuthJwks) self = NULL;
	GTlsBackend *backend;

	g_return_val_if_fail (url != NULL, NULL);
	if (!auth_oauth_jwks_check_url (url, error))
		return NULL;
	/* libsoup speaks TLS through GIO, whose TLS lives in a module */
	backend = g_tls_backend_get_default ();
	if (backend == NULL || !g_tls_backend_supports_tls (backend)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "jwks_url: GIO has no TLS backend to fetch it with (install glib-networking)");
		return NULL;
	}
	self = g_object_new (AUTH_OAUTH_TYPE_JWKS, NULL);
	self->url = g_strdup (url);
	self->alg = alg;
	if (ca_file != NULL) {
		g_autoptr(GError) local = NULL;
		GList *certs = g_tls_certificate_list_new_from_file (ca_file, &local);
		if (certs == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "jwks_ca_file: %s: %s", ca_file,
				     local != NULL ? local->message : "no PEM certificate in it");
			return NULL;
		}
		g_list_free_full (certs, g_object_unref);
		self->tls_db = g_tls_file_database_new (ca_file, &local);
		if (self->tls_db == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "jwks_ca_file: %s: %s", ca_file,
				     local->message);
			return NULL;
		}
	}
	return g_steal_pointer (&self);
}

/* ---- cache lifetime -------------------------------------------------------- */

guint
auth_oauth_jwks_max_age (const char *cache_control)
{
	GHashTable *params;
	guint64 age = AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S;
	const char *value = NULL;

	if (cache_control == NULL)
		return AUTH_OAUTH_JWKS_MAX_AGE_DEFAULT_S;
	params = soup_header_parse_param_list (cache_control);
	if (g_hash_table_contains (params, "no-store") || g_hash_table_contains (params, "no-cache")) {
		age = 0;
	} else if (g_hash_table_lookup_extended (params, "max-age", NULL, (gpointer *) &value) && value != NULL &&
		   value[0] != '\0' && strspn (value, "0123456789") == strlen (value)) {
		/* RFC 9111 §1.2.2: too many digits is "a very long time" */
		if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &age, NULL))
			age = G_MAXUINT64;
	}
	soup_header_free_param_list (params);
	return (guint) CLAMP (age, AUTH_OAUTH_JWKS_MAX_AGE_MIN_S, AUTH_OAUTH_JWKS_MAX_AGE_MAX_S);
}

/* ---- fetching ---------------------------------------------------------------- */

static gboolean
auth_oauth_jwks_on_timer (gpointer user_data)
{
	AuthOAuthJwks *self = user_data;

	self->timer_id = 0;
	auth_oauth_jwks_fetch (self);
	return G_SOURCE_REMOVE;
}

static void
auth_oauth_jwks_schedule (AuthOAuthJwks *self, guint seconds)
{
	g_clear_handle_id (&self->timer_id, g_source_remove);
	if (!self->stopped)
		self->timer_id = g_timeout_add_seconds (seconds, auth_oauth_jwks_on_timer, self);
}

/* Closes a response body without reading the rest of it: with the fetch's
 * cancellable cancelled, libsoup drops the connection instead of draining
 * (a plain unref would drain it, blocking). */
static void
auth_oauth_jwks_drop_stream (AuthOAuthJwks *self, GInputStream *stream, gboolean at_eof)
{
	if (!at_eof)
		g_cancellable_cancel (self->cancellable);
	g_input_stream_close (stream, self->cancellable, NULL);
}

static char *
auth_oauth_jwks_describe_keys (GPtrArray *keys)
{
	g_autoptr(GString) s = g_string_new (NULL);

	for (guint i = 0; i < keys->len; i++) {
		const char *kid = ep_jwt_key_get_kid (g_ptr_array_index (keys, i));
		g_autofree char *shown = kid != NULL ? g_strescape (kid, NULL) : NULL;
		g_string_append_printf (s, "%s%s%.64s%s", i > 0 ? ", " : "", shown != NULL ? "\"" : "",
					shown != NULL ? shown : "(no kid)", shown != NULL ? "\"" : "");
	}
	return g_string_free (g_steal_pointer (&s), FALSE);
}

/* Ends the fetch under way: with @keys (transfer full) when it succeeded,
 * else with @error; tells the waiters and schedules the next one. */
static void
auth_oauth_jwks_end_fetch (AuthOAuthJwks *self, GPtrArray *keys, guint max_age, const GError *error)
{
	g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);

	self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
	g_clear_handle_id (&self->deadline_id, g_source_remove);
	if (self->body_stream != NULL) {
		auth_oauth_jwks_drop_stream (self, self->body_stream, FALSE);
		g_clear_object (&self->body_stream);
	}
	g_clear_object (&self->cancellable);
	g_clear_object (&self->msg);
	g_clear_pointer (&self->body, g_byte_array_unref);
	self->timed_out = FALSE;

	if (keys != NULL) {
		g_autofree char *kids = auth_oauth_jwks_describe_keys (keys);
		ep_log_info (AUTH_OAUTH_MODULE, NULL, "key set of %s: %u %s key%s (%s); next fetch in %u s", self->url,
			     keys->len, ep_jwt_alg_to_string (self->alg), keys->len == 1 ? "" : "s", kids, max_age);
		g_clear_pointer (&self->keys, g_ptr_array_unref);
		self->keys = keys;
		self->retry_s = AUTH_OAUTH_JWKS_RETRY_FIRST_S;
		auth_oauth_jwks_schedule (self, max_age);
	} else {
		if (self->keys != NULL)
			ep_log_warning (AUTH_OAUTH_MODULE, NULL, "%s; keeping the %u key%s known, next try in %u s",
					error->message, self->keys->len, self->keys->len == 1 ? "" : "s", self->retry_s);
		else
			ep_log_warning (AUTH_OAUTH_MODULE, NULL,
					"%s; bearer logins answer \"try later\" until it works, next try in %u s",
					error->message, self->retry_s);
		auth_oauth_jwks_schedule (self, self->retry_s);
		self->retry_s = MIN (self->retry_s * 2, AUTH_OAUTH_JWKS_RETRY_MAX_S);
	}
	for (guint i = 0; i < waiters->len; i++) {
		GTask *task = g_ptr_array_index (waiters, i);
		if (keys != NULL)
			g_task_return_boolean (task, TRUE);
		else
			g_task_return_error (task, g_error_copy (error));
	}
}

static void
auth_oauth_jwks_fail (AuthOAuthJwks *self, EpError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
auth_oauth_jwks_fail (AuthOAuthJwks *self, EpError code, const char *format, ...)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *why = NULL;
	va_list args;

	va_start (args, format);
	why = g_strdup_vprintf (format, args);
	va_end (args);
	error = g_error_new (EP_ERROR, code, "cannot fetch the key set %s: %s", self->url, why);
	auth_oauth_jwks_end_fetch (self, NULL, 0, error);
}

/* what went wrong with a connection, for the operator */
static void
auth_oauth_jwks_fail_io (AuthOAuthJwks *self, const GError *error)
{
	GTlsCertificateFlags flags = self->msg != NULL ? soup_message_get_tls_peer_certificate_errors (self->msg) : 0;

	if (self->timed_out) {
		auth_oauth_jwks_fail (self, EP_ERROR_TIMEOUT, "no complete answer within %d s",
				      AUTH_OAUTH_JWKS_TIMEOUT_S);
	} else if (error->domain == G_TLS_ERROR || flags != 0) {
		auth_oauth_jwks_fail (self, EP_ERROR_UNAVAILABLE, "TLS: %s%s%s%s%s", error->message,
				      (flags & G_TLS_CERTIFICATE_UNKNOWN_CA) ? " (not signed by a trusted CA: see jwks_ca_file)" : "",
				      (flags & G_TLS_CERTIFICATE_BAD_IDENTITY) ? " (the certificate does not name the host)" : "",
				      (flags & G_TLS_CERTIFICATE_EXPIRED) ? " (the certificate has expired)" : "",
				      (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED) ? " (the certificate is not valid yet)" : "");
	} else {
		auth_oauth_jwks_fail (self, EP_ERROR_UNAVAILABLE, "%s", error->message);
	}
}

static void
auth_oauth_jwks_parse (AuthOAuthJwks *self)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) skipped = NULL;
	SoupMessageHeaders *headers = soup_message_get_response_headers (self->msg);
	guint max_age = auth_oauth_jwks_max_age (soup_message_headers_get_list (headers, "Cache-Control"));
	GPtrArray *keys = ep_jwt_keys_from_jwks ((const char *) self->body->data, self->body->len, self->alg,
						 &skipped, &error);

	for (guint i = 0; skipped != NULL && skipped[i] != NULL; i++)
		ep_log_warning (AUTH_OAUTH_MODULE, NULL, "key set of %s: %s left out", self->url, skipped[i]);
	if (keys == NULL) {
		auth_oauth_jwks_fail (self, error->code == EP_ERROR_LIMIT ? EP_ERROR_LIMIT : EP_ERROR_INVALID, "%s",
				      error->message);
		return;
	}
	auth_oauth_jwks_end_fetch (self, keys, max_age, NULL);
}

static void auth_oauth_jwks_read_more (AuthOAuthJwks *self);

static void
auth_oauth_jwks_on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(AuthOAuthJwks) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
	gsize size;

	if (self->stopped)
		return;
	if (chunk == NULL) {
		auth_oauth_jwks_fail_io (self, error);
		return;
	}
	size = g_bytes_get_size (chunk);
	if (size == 0) {
		auth_oauth_jwks_drop_stream (self, self->body_stream, TRUE);
		g_clear_object (&self->body_stream);
		auth_oauth_jwks_parse (self);
		return;
	}
	if (self->body->len + size > EP_JWT_MAX_JWKS) {
		auth_oauth_jwks_fail (self, EP_ERROR_LIMIT, "the answer is larger than %d octets", EP_JWT_MAX_JWKS);
		return;
	}
	g_byte_array_append (self->body, g_bytes_get_data (chunk, NULL), (guint) size);
	auth_oauth_jwks_read_more (self);
}

static void
auth_oauth_jwks_read_more (AuthOAuthJwks *self)
{
	g_input_stream_read_bytes_async (self->body_stream, AUTH_OAUTH_JWKS_CHUNK, G_PRIORITY_DEFAULT,
					 self->cancellable, auth_oauth_jwks_on_read, g_object_ref (self));
}

static void
auth_oauth_jwks_on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(AuthOAuthJwks) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
	SoupMessageHeaders *headers;
	guint status;

	if (self->stopped) {
		if (stream != NULL)
			auth_oauth_jwks_drop_stream (self, stream, FALSE);
		return;
	}
	if (stream == NULL) {
		auth_oauth_jwks_fail_io (self, error);
		return;
	}
	status = soup_message_get_status (self->msg);
	headers = soup_message_get_response_headers (self->msg);
	if (status != SOUP_STATUS_OK) {
		const char *location = soup_message_headers_get_one (headers, "Location");
		g_autofree char *shown = location != NULL ? g_strescape (location, NULL) : NULL;
		auth_oauth_jwks_drop_stream (self, stream, FALSE);
		if (SOUP_STATUS_IS_REDIRECTION (status) && shown != NULL)
			auth_oauth_jwks_fail (self, EP_ERROR_UNAVAILABLE,
					      "HTTP %u: redirected to \"%.200s\" (redirections are not followed: "
					      "configure that URL if it is the right one)",
					      status, shown);
		else
			auth_oauth_jwks_fail (self, EP_ERROR_UNAVAILABLE, "HTTP %u %s", status,
					      soup_message_get_reason_phrase (self->msg) != NULL
						  ? soup_message_get_reason_phrase (self->msg)
						  : "");
		return;
	}
	if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
	    soup_message_headers_get_content_length (headers) > EP_JWT_MAX_JWKS) {
		auth_oauth_jwks_drop_stream (self, stream, FALSE);
		auth_oauth_jwks_fail (self, EP_ERROR_LIMIT, "the answer is %" G_GOFFSET_FORMAT " octets (at most %d)",
				      soup_message_headers_get_content_length (headers), EP_JWT_MAX_JWKS);
		return;
	}
	self->body_stream = g_steal_pointer (&stream);
	auth_oauth_jwks_read_more (self);
}

static gboolean
auth_oauth_jwks_on_deadline (gpointer user_data)
{
	AuthOAuthJwks *self = user_data;

	self->deadline_id = 0;
	self->timed_out = TRUE;
	g_cancellable_cancel (self->cancellable);
	return G_SOURCE_REMOVE;
}

static void
auth_oauth_jwks_fetch (AuthOAuthJwks *self)
{
	SoupMessage *msg;

	if (self->stopped || !self->started || self->cancellable != NULL)
		return;
	g_clear_handle_id (&self->timer_id, g_source_remove);
	self->cancellable = g_cancellable_new ();
	self->body = g_byte_array_new ();
	msg = soup_message_new ("GET", self->url);
	if (msg == NULL) {
		auth_oauth_jwks_fail (self, EP_ERROR_INTERNAL, "libsoup refuses the URL");
		return;
	}
	self->msg = msg;
	/* the URL configured, over TLS, is the only source of keys */
	soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/jwk-set+json, application/json");
	self->deadline_id = g_timeout_add_seconds (AUTH_OAUTH_JWKS_TIMEOUT_S, auth_oauth_jwks_on_deadline, self);
	ep_log_debug (AUTH_OAUTH_MODULE, NULL, "fetching the key set %s", self->url);
	soup_session_send_async (self->session, msg, G_PRIORITY_DEFAULT, self->cancellable, auth_oauth_jwks_on_sent,
				 g_object_ref (self));
}

/* ---- public ------------------------------------------------------------------ */

void
auth_oauth_jwks_start (AuthOAuthJwks *self)
{
	g_return_if_fail (AUTH_OAUTH_IS_JWKS (self));

	if (self->started || self->stopped)
		return;
	self->started = TRUE;
	self->session = soup_session_new_with_options ("timeout", AUTH_OAUTH_JWKS_TIMEOUT_S, "idle-timeout", 60,
						       "user-agent", "epistle/" PACKAGE_VERSION, NULL);
	if (self->tls_db != NULL)
		soup_session_set_tls_database (self->session, self->tls_db);
	auth_oauth_jwks_fetch (self);
}

void
auth_oauth_jwks_stop (AuthOAuthJwks *self)
{
	g_autoptr(GPtrArray) waiters = NULL;

	g_return_if_fail (AUTH_OAUTH_IS_JWKS (self));

	if (self->stopped)
		return;
	self->stopped = TRUE;
	g_clear_handle_id (&self->timer_id, g_source_remove);
	g_clear_handle_id (&self->deadline_id, g_source_remove);
	if (self->cancellable != NULL) {
		g_cancellable_cancel (self->cancellable);
		if (self->body_stream != NULL)
			g_input_stream_close (self->body_stream, self->cancellable, NULL);
	}
	g_clear_object (&self->body_stream);
	waiters = g_steal_pointer (&self->waiters);
	self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
	for (guint i = 0; i < waiters->len; i++)
		g_task_return_new_error (g_ptr_array_index (waiters, i), EP_ERROR, EP_ERROR_UNAVAILABLE,
					 "the daemon is stopping");
	if (self->session != NULL)
		soup_session_abort (self->session);
}

GPtrArray *
auth_oauth_jwks_get_keys (AuthOAuthJwks *self)
{
	g_return_val_if_fail (AUTH_OAUTH_IS_JWKS (self), NULL);
	return self->keys;
}

gboolean
auth_oauth_jwks_has_kid (AuthOAuthJwks *self, const char *kid)
{
	g_return_val_if_fail (AUTH_OAUTH_IS_JWKS (self), FALSE);

	for (guint i = 0; self->keys != NULL && i < self->keys->len; i++) {
		const char *k = ep_jwt_key_get_kid (g_ptr_array_index (self->keys, i));
		/* a key without a kid is tried for every token */
		if (k == NULL || g_strcmp0 (k, kid) == 0)
			return TRUE;
	}
	return FALSE;
}

gboolean
auth_oauth_jwks_is_fetching (AuthOAuthJwks *self)
{
	g_return_val_if_fail (AUTH_OAUTH_IS_JWKS (self), FALSE);
	return self->cancellable != NULL;
}

gboolean
auth_oauth_jwks_is_stopped (AuthOAuthJwks *self)
{
	g_return_val_if_fail (AUTH_OAUTH_IS_JWKS (self), TRUE);
	return self->stopped;
}

const char *
auth_oauth_jwks_get_url (AuthOAuthJwks *self)
{
	g_return_val_if_fail (AUTH_OAUTH_IS_JWKS (self), NULL);
	return self->url;
}

void
auth_oauth_jwks_refresh_async (AuthOAuthJwks *self, AuthOAuthJwksRefresh how, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	gint64 now = g_get_monotonic_time ();

	g_return_if_fail (AUTH_OAUTH_IS_JWKS (self));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, auth_oauth_jwks_refresh_async);
	if (self->stopped) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_UNAVAILABLE, "the daemon is stopping");
		return;
	}
	if (self->cancellable != NULL) {
		g_ptr_array_add (self->waiters, g_steal_pointer (&task));
		return;
	}
	if (how == AUTH_OAUTH_JWKS_JOIN || !self->started ||
	    (self->last_kid_fetch != 0 && now - self->last_kid_fetch < AUTH_OAUTH_JWKS_REFETCH_S * G_USEC_PER_SEC)) {
		g_task_return_boolean (task, FALSE);
		return;
	}
	self->last_kid_fetch = now;
	ep_log_info (AUTH_OAUTH_MODULE, NULL, "a token names a key that %s lacks: fetching it again", self->url);
	g_ptr_array_add (self->waiters, g_steal_pointer (&task));
	auth_oauth_jwks_fetch (self);
}

gboolean
auth_oauth_jwks_refresh_finish (AuthOAuthJwks *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- GObject ------------------------------------------------------------------- */

static void
auth_oauth_jwks_dispose (GObject *object)
{
	AuthOAuthJwks *self = AUTH_OAUTH_JWKS (object);

	auth_oauth_jwks_stop (self);
	g_clear_object (&self->session);
	G_OBJECT_CLASS (auth_oauth_jwks_parent_class)->dispose (object);
}

static void
auth_oauth_jwks_finalize (GObject *object)
{
	AuthOAuthJwks *self = AUTH_OAUTH_JWKS (object);

	g_free (self->url);
	g_clear_object (&self->tls_db);
	g_clear_pointer (&self->keys, g_ptr_array_unref);
	g_clear_object (&self->cancellable);
	g_clear_object (&self->msg);
	g_clear_pointer (&self->body, g_byte_array_unref);
	g_clear_pointer (&self->waiters, g_ptr_array_unref);
	G_OBJECT_CLASS (auth_oauth_jwks_parent_class)->finalize (object);
}

static void
auth_oauth_jwks_class_init (AuthOAuthJwksClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = auth_oauth_jwks_dispose;
	object_class->finalize = auth_oauth_jwks_finalize;
}

static void
auth_oauth_jwks_init (AuthOAuthJwks *self)
{
	self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
	self->retry_s = AUTH_OAUTH_JWKS_RETRY_FIRST_S;
}
