/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC 7677),
 * with the "tls-exporter" channel binding (RFC 9266), and the stored
 * credentials helpers.
 */
#include "config.h"

#include <gcrypt.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl-private.h"

#define EP_SCRAM_CB_NAME   "tls-exporter"
#define EP_SCRAM_MAX_NONCE 256
#define EP_SCRAM_PREFIX    "SCRAM-SHA-256$"

/* ---- credentials ---- */

static gboolean
ep_scram_iterations_valid (guint iterations)
{
	return iterations >= EP_SCRAM_MIN_ITERATIONS && iterations <= EP_SCRAM_MAX_ITERATIONS;
}

gboolean
ep_scram_sha256_derive (const char *password, GBytes *salt, guint iterations, GBytes **stored_key,
			GBytes **server_key, GError **error)
{
	g_autofree char *prepped = NULL;
	guint8 salted[EP_SCRAM_KEY_LEN];
	guint8 client_key[EP_SCRAM_KEY_LEN];
	guint8 stored[EP_SCRAM_KEY_LEN];
	guint8 server[EP_SCRAM_KEY_LEN];
	const guint8 *salt_data;
	gsize salt_len = 0;
	gcry_error_t err;

	g_return_val_if_fail (password != NULL && salt != NULL, FALSE);
	if (!ep_sasl_gcrypt_init (error))
		return FALSE;
	salt_data = g_bytes_get_data (salt, &salt_len);
	if (salt_len < 8) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "SCRAM: the salt is shorter than 8 octets");
		return FALSE;
	}
	if (!ep_scram_iterations_valid (iterations)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "SCRAM: %u iterations is out of range (%u to %u)",
			     iterations, EP_SCRAM_MIN_ITERATIONS, EP_SCRAM_MAX_ITERATIONS);
		return FALSE;
	}
	prepped = ep_sasl_prep (password, error);
	if (prepped == NULL)
		return FALSE;
	/* SaltedPassword := Hi(Normalize(password), salt, i) is PBKDF2 */
	err = gcry_kdf_derive (prepped, strlen (prepped), GCRY_KDF_PBKDF2, GCRY_MD_SHA256, salt_data, salt_len,
			       iterations, sizeof (salted), salted);
	explicit_bzero (prepped, strlen (prepped));
	if (err != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "PBKDF2: %s", gcry_strerror (err));
		return FALSE;
	}
	ep_sasl_hmac_sha256 (salted, sizeof (salted), "Client Key", 10, client_key);
	gcry_md_hash_buffer (GCRY_MD_SHA256, stored, client_key, sizeof (client_key));
	ep_sasl_hmac_sha256 (salted, sizeof (salted), "Server Key", 10, server);
	*stored_key = g_bytes_new (stored, sizeof (stored));
	*server_key = g_bytes_new (server, sizeof (server));
	explicit_bzero (salted, sizeof (salted));
	explicit_bzero (client_key, sizeof (client_key));
	explicit_bzero (server, sizeof (server));
	return TRUE;
}

static char *
ep_scram_b64 (GBytes *b)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data (b, &len);
	return g_base64_encode (data, len);
}

char *
ep_scram_sha256_credentials_format (guint iterations, GBytes *salt, GBytes *stored_key, GBytes *server_key)
{
	g_autofree char *s = ep_scram_b64 (salt);
	g_autofree char *st = ep_scram_b64 (stored_key);
	g_autofree char *sv = ep_scram_b64 (server_key);

	return g_strdup_printf (EP_SCRAM_PREFIX "%u:%s$%s:%s", iterations, s, st, sv);
}

char *
ep_scram_sha256_credentials_new (const char *password, guint iterations, GError **error)
{
	guint8 salt_data[EP_SCRAM_SALT_LEN];
	g_autoptr(GBytes) salt = NULL;
	g_autoptr(GBytes) stored = NULL;
	g_autoptr(GBytes) server = NULL;

	if (!ep_sasl_gcrypt_init (error))
		return NULL;
	if (iterations == 0)
		iterations = EP_SCRAM_DEFAULT_ITERATIONS;
	gcry_randomize (salt_data, sizeof (salt_data), GCRY_STRONG_RANDOM);
	salt = g_bytes_new (salt_data, sizeof (salt_data));
	if (!ep_scram_sha256_derive (password, salt, iterations, &stored, &server, error))
		return NULL;
	return ep_scram_sha256_credentials_format (iterations, salt, stored, server);
}

/* "<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>" after the prefix */
static gboolean
ep_scram_credentials_split (const char *p, guint64 *iter, GBytes **salt, GBytes **stored_key, GBytes **server_key)
{
	const char *colon, *dollar, *colon2;
	char *end = NULL;

	if (!g_ascii_isdigit (*p))
		return FALSE;
	*iter = g_ascii_strtoull (p, &end, 10);
	if (end == NULL || *end != ':' || end - p > 9)
		return FALSE;
	colon = end;
	dollar = strchr (colon + 1, '$');
	colon2 = dollar != NULL ? strchr (dollar + 1, ':') : NULL;
	if (colon2 == NULL)
		return FALSE;
	*salt = ep_sasl_base64_decode_strict (colon + 1, dollar - colon - 1);
	*stored_key = ep_sasl_base64_decode_strict (dollar + 1, colon2 - dollar - 1);
	*server_key = ep_sasl_base64_decode_strict (colon2 + 1, strlen (colon2 + 1));
	return *salt != NULL && *stored_key != NULL && *server_key != NULL && g_bytes_get_size (*salt) >= 8 &&
	       g_bytes_get_size (*stored_key) == EP_SCRAM_KEY_LEN && g_bytes_get_size (*server_key) == EP_SCRAM_KEY_LEN;
}

gboolean
ep_scram_sha256_credentials_parse (const char *text, guint *iterations, GBytes **salt, GBytes **stored_key,
				   GBytes **server_key, GError **error)
{
	g_autoptr(GBytes) s = NULL;
	g_autoptr(GBytes) st = NULL;
	g_autoptr(GBytes) sv = NULL;
	guint64 iter = 0;

	if (text == NULL || !g_str_has_prefix (text, EP_SCRAM_PREFIX) ||
	    !ep_scram_credentials_split (text + strlen (EP_SCRAM_PREFIX), &iter, &s, &st, &sv)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     "not SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
		return FALSE;
	}
	if (!ep_scram_iterations_valid ((guint) iter)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "SCRAM credentials: %" G_GUINT64_FORMAT " iterations is out of range (%u to %u)", iter,
			     EP_SCRAM_MIN_ITERATIONS, EP_SCRAM_MAX_ITERATIONS);
		return FALSE;
	}
	*iterations = (guint) iter;
	*salt = g_steal_pointer (&s);
	*stored_key = g_steal_pointer (&st);
	*server_key = g_steal_pointer (&sv);
	return TRUE;
}

/* ---- made-up credentials for unknown users ---- */

static const guint8 *
ep_scram_process_secret (void)
{
	static guint8 secret[32];
	static gsize once = 0;

	if (g_once_init_enter (&once)) {
		ep_sasl_gcrypt_init (NULL);
		gcry_randomize (secret, sizeof (secret), GCRY_STRONG_RANDOM);
		g_once_init_leave (&once, 1);
	}
	return secret;
}

static void
ep_scram_fake_derive (const char *label, const char *user, guint8 out[EP_SCRAM_KEY_LEN])
{
	g_autoptr(GString) msg = g_string_new (label);

	g_string_append_c (msg, '\0');
	g_string_append (msg, user != NULL ? user : "");
	ep_sasl_hmac_sha256 (ep_scram_process_secret (), 32, msg->str, msg->len, out);
}

static void
ep_scram_set_fake (EpSaslServer *self)
{
	guint8 salt[EP_SCRAM_KEY_LEN];

	ep_scram_fake_derive ("salt", self->authcid, salt);
	g_clear_pointer (&self->salt, g_bytes_unref);
	self->salt = g_bytes_new (salt, EP_SCRAM_SALT_LEN);
	self->iterations = self->fake_iterations;
	ep_scram_fake_derive ("stored", self->authcid, self->stored_key);
	ep_scram_fake_derive ("server", self->authcid, self->server_key);
	g_clear_pointer (&self->account, g_free);
	self->scram_fake = TRUE;
	self->state = EP_SASL_STATE_SCRAM_READY;
}

gboolean
ep_sasl_server_set_scram_credentials (EpSaslServer *self, const char *account, GBytes *salt, guint iterations,
				      GBytes *stored_key, GBytes *server_key, GError **error)
{
	g_return_val_if_fail (self->state == EP_SASL_STATE_NEED_SCRAM, FALSE);

	if (account == NULL) {
		ep_scram_set_fake (self);
		return TRUE;
	}
	if (salt == NULL || g_bytes_get_size (salt) < 8 || !ep_scram_iterations_valid (iterations) ||
	    stored_key == NULL || g_bytes_get_size (stored_key) != EP_SCRAM_KEY_LEN || server_key == NULL ||
	    g_bytes_get_size (server_key) != EP_SCRAM_KEY_LEN) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unusable SCRAM credentials for \"%s\"", account);
		ep_scram_set_fake (self);
		return FALSE;
	}
	g_clear_pointer (&self->salt, g_bytes_unref);
	self->salt = g_bytes_ref (salt);
	self->iterations = iterations;
	memcpy (self->stored_key, g_bytes_get_data (stored_key, NULL), EP_SCRAM_KEY_LEN);
	memcpy (self->server_key, g_bytes_get_data (server_key, NULL), EP_SCRAM_KEY_LEN);
	g_free (self->account);
	self->account = g_strdup (account);
	self->scram_fake = FALSE;
	self->state = EP_SASL_STATE_SCRAM_READY;
	return TRUE;
}

gboolean
ep_sasl_server_set_scram_credentials_string (EpSaslServer *self, const char *account, const char *credentials,
					     GError **error)
{
	g_autoptr(GBytes) salt = NULL;
	g_autoptr(GBytes) stored = NULL;
	g_autoptr(GBytes) server = NULL;
	guint iterations = 0;

	g_return_val_if_fail (self->state == EP_SASL_STATE_NEED_SCRAM, FALSE);
	if (account == NULL || credentials == NULL)
		return ep_sasl_server_set_scram_credentials (self, NULL, NULL, 0, NULL, NULL, error);
	if (!ep_scram_sha256_credentials_parse (credentials, &iterations, &salt, &stored, &server, error)) {
		ep_scram_set_fake (self);
		return FALSE;
	}
	return ep_sasl_server_set_scram_credentials (self, account, salt, iterations, stored, server, error);
}

/* ---- the exchange ---- */

/* printable = %x21-2B / %x2D-7E: nonces */
static gboolean
ep_scram_printable (const char *s, gsize len)
{
	if (len == 0 || len > EP_SCRAM_MAX_NONCE)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if ((guchar) s[i] < 0x21 || (guchar) s[i] > 0x7e || s[i] == ',')
			return FALSE;
	}
	return TRUE;
}

/* the length up to the next ',' (or the end) */
static gsize
ep_scram_field_len (const char *s, gsize len)
{
	const char *comma = memchr (s, ',', len);
	return comma != NULL ? (gsize) (comma - s) : len;
}

/*
 * extensions = attr-val *("," attr-val), attr-val = ALPHA "=" value,
 * value = 1*value-char (UTF-8 except NUL and ','): checked and ignored.
 * @s points at the ',' that starts the first one, or at the end.
 * @stop_at_proof: stop before ",p=" and return its offset.
 */
static gboolean
ep_scram_extensions_skip (const char *s, gsize len, gboolean stop_at_proof, gsize *proof_at)
{
	gsize pos = 0;

	while (pos < len) {
		gsize n;
		if (s[pos] != ',' || pos + 3 > len || !g_ascii_isalpha (s[pos + 1]) || s[pos + 2] != '=')
			return FALSE;
		if (stop_at_proof && s[pos + 1] == 'p') {
			*proof_at = pos;
			return TRUE;
		}
		/* a mandatory extension we do not know; "m" is reserved */
		if (s[pos + 1] == 'm')
			return FALSE;
		n = ep_scram_field_len (s + pos + 3, len - pos - 3);
		if (n == 0 || !g_utf8_validate_len (s + pos + 3, n, NULL))
			return FALSE;
		pos += 3 + n;
	}
	return !stop_at_proof;
}

static EpSaslStatus
ep_scram_client_first (EpSaslServer *self, const char *data, gsize len, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *cb_name = NULL;
	g_autofree char *authzid = NULL;
	g_autofree char *user = NULL;
	const char *bare, *p;
	gsize hlen, blen, n, rest;
	char flag = 0;

	if (memchr (data, '\0', len) != NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "NUL in client-first-message");
	hlen = ep_sasl_gs2_header_parse (data, len, &flag, &cb_name, &authzid, &local);
	if (hlen == 0)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "%s", local->message);

	/* channel binding: RFC 5802 §6, RFC 9266 */
	if (self->mech == EP_SASL_MECH_SCRAM_SHA_256_PLUS) {
		if (flag != 'p')
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID,
						    "-PLUS without channel binding (flag '%c')", flag);
		if (g_strcmp0 (cb_name, EP_SCRAM_CB_NAME) != 0)
			return ep_sasl_server_fail (self, error, EP_ERROR_PERM,
						    "unsupported channel-binding type \"%s\"", cb_name);
	} else if (flag == 'p') {
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID,
					    "channel binding asked for without -PLUS");
	} else if (flag == 'y' && self->channel_binding != NULL) {
		/* the client could bind and thinks we cannot: someone
		 * removed -PLUS from our list */
		return ep_sasl_server_fail (self, error, EP_ERROR_PERM,
					    "client supports channel binding that was advertised: downgrade");
	}

	/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
	bare = data + hlen;
	blen = len - hlen;
	if (blen >= 2 && bare[0] == 'm' && bare[1] == '=')
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "mandatory extension not supported");
	if (blen < 2 || bare[0] != 'n' || bare[1] != '=')
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no user name");
	n = ep_scram_field_len (bare + 2, blen - 2);
	user = ep_sasl_saslname_decode (bare + 2, n);
	if (user == NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad user name");
	p = bare + 2 + n;
	rest = blen - 2 - n;
	if (rest < 4 || memcmp (p, ",r=", 3) != 0)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no nonce");
	n = ep_scram_field_len (p + 3, rest - 3);
	if (!ep_scram_printable (p + 3, n))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad nonce");
	self->nonce = g_strndup (p + 3, n);
	if (!ep_scram_extensions_skip (p + 3 + n, rest - 3 - n, FALSE, NULL))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad extension");

	self->gs2_header = g_strndup (data, hlen);
	self->client_first_bare = g_strndup (bare, blen);
	self->authcid = g_steal_pointer (&user);
	self->authzid = g_steal_pointer (&authzid);
	self->kind = EP_SASL_CREDENTIALS_SCRAM;
	self->state = EP_SASL_STATE_NEED_SCRAM;
	return EP_SASL_NEED_CREDENTIALS;
}

static EpSaslStatus
ep_scram_server_first (EpSaslServer *self, GBytes **output)
{
	g_autofree char *snonce = NULL;
	g_autofree char *salt64 = NULL;
	char *full;

	if (self->test_nonce != NULL) {
		snonce = g_strdup (self->test_nonce);
	} else {
		guint8 raw[18];
		gcry_create_nonce (raw, sizeof (raw));
		snonce = g_base64_encode (raw, sizeof (raw));
	}
	full = g_strconcat (self->nonce, snonce, NULL);
	g_free (self->nonce);
	self->nonce = full;
	salt64 = ep_scram_b64 (self->salt);
	self->server_first = g_strdup_printf ("r=%s,s=%s,i=%u", self->nonce, salt64, self->iterations);
	*output = g_bytes_new (self->server_first, strlen (self->server_first));
	self->state = EP_SASL_STATE_SCRAM_FINAL;
	return EP_SASL_CONTINUE;
}

static EpSaslStatus
ep_scram_client_final (EpSaslServer *self, const char *data, gsize len, GBytes **output, GError **error)
{
	g_autoptr(GBytes) cb = NULL;
	g_autoptr(GBytes) proof = NULL;
	g_autoptr(GByteArray) expect_cb = NULL;
	g_autoptr(GString) auth_msg = NULL;
	g_autofree char *v64 = NULL;
	g_autofree char *server_final = NULL;
	guint8 client_sig[EP_SCRAM_KEY_LEN], client_key[EP_SCRAM_KEY_LEN], check[EP_SCRAM_KEY_LEN];
	guint8 server_sig[EP_SCRAM_KEY_LEN];
	const guint8 *proof_data;
	gsize n, pos, proof_at = 0, without_proof;
	gboolean cb_ok, proof_ok;

	if (memchr (data, '\0', len) != NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "NUL in client-final-message");
	/* channel-binding "," nonce ["," extensions] "," proof */
	if (len < 2 || data[0] != 'c' || data[1] != '=')
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no channel binding");
	n = ep_scram_field_len (data + 2, len - 2);
	cb = ep_sasl_base64_decode_strict (data + 2, n);
	if (cb == NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad channel binding base64");
	pos = 2 + n;
	if (len - pos < 4 || memcmp (data + pos, ",r=", 3) != 0)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no nonce");
	n = ep_scram_field_len (data + pos + 3, len - pos - 3);
	if (n != strlen (self->nonce) || memcmp (data + pos + 3, self->nonce, n) != 0)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "nonce mismatch");
	pos += 3 + n;
	if (!ep_scram_extensions_skip (data + pos, len - pos, TRUE, &proof_at))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad extension or no proof");
	without_proof = pos + proof_at;
	n = len - without_proof - 3;
	if (memchr (data + without_proof + 3, ',', n) != NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "the proof is not last");
	proof = ep_sasl_base64_decode_strict (data + without_proof + 3, n);
	if (proof == NULL || g_bytes_get_size (proof) != EP_SCRAM_KEY_LEN)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad proof");

	/* c= is base64 (gs2-header [ cbind-data ]) */
	expect_cb = g_byte_array_new ();
	g_byte_array_append (expect_cb, (const guint8 *) self->gs2_header, strlen (self->gs2_header));
	if (self->gs2_header[0] == 'p') {
		gsize cb_len = 0;
		const guint8 *cb_data = g_bytes_get_data (self->channel_binding, &cb_len);
		g_byte_array_append (expect_cb, cb_data, cb_len);
	}
	cb_ok = g_bytes_get_size (cb) == expect_cb->len &&
		ep_sasl_const_equal (g_bytes_get_data (cb, NULL), expect_cb->data, expect_cb->len);

	/* AuthMessage := client-first-message-bare + "," + server-first-message + "," +
	 *                client-final-message-without-proof */
	auth_msg = g_string_new (self->client_first_bare);
	g_string_append_c (auth_msg, ',');
	g_string_append (auth_msg, self->server_first);
	g_string_append_c (auth_msg, ',');
	g_string_append_len (auth_msg, data, without_proof);

	/* ClientKey := ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey */
	ep_sasl_hmac_sha256 (self->stored_key, EP_SCRAM_KEY_LEN, auth_msg->str, auth_msg->len, client_sig);
	proof_data = g_bytes_get_data (proof, NULL);
	for (gsize i = 0; i < EP_SCRAM_KEY_LEN; i++)
		client_key[i] = proof_data[i] ^ client_sig[i];
	gcry_md_hash_buffer (GCRY_MD_SHA256, check, client_key, sizeof (client_key));
	proof_ok = ep_sasl_const_equal (check, self->stored_key, EP_SCRAM_KEY_LEN);
	explicit_bzero (client_key, sizeof (client_key));
	explicit_bzero (client_sig, sizeof (client_sig));

	if (!cb_ok)
		return ep_sasl_server_fail (self, error, EP_ERROR_PERM, "channel-binding data mismatch");
	/* an unknown user fails here with the same words as a wrong password */
	if (!proof_ok || self->scram_fake || self->account == NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_PERM, "the client proof does not match");

	ep_sasl_hmac_sha256 (self->server_key, EP_SCRAM_KEY_LEN, auth_msg->str, auth_msg->len, server_sig);
	v64 = g_base64_encode (server_sig, sizeof (server_sig));
	server_final = g_strconcat ("v=", v64, NULL);
	*output = g_bytes_new (server_final, strlen (server_final));
	self->state = EP_SASL_STATE_DONE;
	return EP_SASL_SUCCESS;
}

EpSaslStatus
ep_sasl_scram_step (EpSaslServer *self, GBytes *input, GBytes **output, GError **error)
{
	const char *data = NULL;
	gsize len = 0;

	if (input != NULL) {
		data = g_bytes_get_data (input, &len);
		if (data == NULL)
			data = "";
	}
	switch (self->state) {
	case EP_SASL_STATE_START:
		return ep_scram_client_first (self, data, len, error);
	case EP_SASL_STATE_SCRAM_READY:
		return ep_scram_server_first (self, output);
	case EP_SASL_STATE_SCRAM_FINAL:
		return ep_scram_client_final (self, data, len, output, error);
	default:
		return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "unexpected state");
	}
}
