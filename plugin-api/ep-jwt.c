/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ep-error.h"
#include "ep-jwt.h"
#include "ep-sasl-private.h"

struct _EpJwtKey {
	gatomicrefcount ref;
	gnutls_pubkey_t pubkey;
	char *kid;
	gnutls_pk_algorithm_t pk;
	unsigned int bits;
	gnutls_ecc_curve_t curve;
};

/* ---- keys ---- */

/* Reads what the key is and refuses what tokens may not be checked with. */
static gboolean
ep_jwt_key_classify (EpJwtKey *key, GError **error)
{
	key->pk = (gnutls_pk_algorithm_t) gnutls_pubkey_get_pk_algorithm (key->pubkey, &key->bits);
	if (key->pk == GNUTLS_PK_ECDSA) {
		gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
		if (gnutls_pubkey_export_ecc_raw (key->pubkey, &key->curve, &x, &y) < 0)
			key->curve = GNUTLS_ECC_CURVE_INVALID;
		gnutls_free (x.data);
		gnutls_free (y.data);
	}
	if (!(key->pk == GNUTLS_PK_RSA && key->bits >= 2048) &&
	    !(key->pk == GNUTLS_PK_ECDSA && key->curve == GNUTLS_ECC_CURVE_SECP256R1) &&
	    key->pk != GNUTLS_PK_EDDSA_ED25519) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     "JWT key: only RSA (2048 bits or more), ECDSA P-256 and Ed25519 keys are supported");
		return FALSE;
	}
	return TRUE;
}

static EpJwtKey *
ep_jwt_key_new (const char *kid, GError **error)
{
	g_autoptr(EpJwtKey) key = g_new0 (EpJwtKey, 1);
	int rc;

	g_atomic_ref_count_init (&key->ref);
	key->kid = g_strdup (kid);
	rc = gnutls_pubkey_init (&key->pubkey);
	if (rc < 0) {
		key->pubkey = NULL;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "JWT key: %s", gnutls_strerror (rc));
		return NULL;
	}
	return g_steal_pointer (&key);
}

EpJwtKey *
ep_jwt_key_new_from_pem (const char *pem, gsize len, const char *kid, GError **error)
{
	g_autoptr(EpJwtKey) key = NULL;
	gnutls_datum_t datum = { (unsigned char *) pem, (unsigned int) len };
	int rc;

	if (len > G_MAXINT) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT key: too large");
		return NULL;
	}
	key = ep_jwt_key_new (kid, error);
	if (key == NULL)
		return NULL;
	rc = gnutls_pubkey_import (key->pubkey, &datum, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWT key: not a PEM public key: %s",
			     gnutls_strerror (rc));
		return NULL;
	}
	if (!ep_jwt_key_classify (key, error))
		return NULL;
	return g_steal_pointer (&key);
}

EpJwtKey *
ep_jwt_key_load_pem_file (const char *path, const char *kid, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *data = NULL;
	gsize len = 0;
	EpJwtKey *key;

	if (!g_file_get_contents (path, &data, &len, &local)) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "%s", local->message);
		return NULL;
	}
	key = ep_jwt_key_new_from_pem (data, len, kid, &local);
	if (key == NULL)
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: %s", path, local->message);
	return key;
}

EpJwtKey *
ep_jwt_key_ref (EpJwtKey *key)
{
	g_atomic_ref_count_inc (&key->ref);
	return key;
}

const char *
ep_jwt_key_get_kid (const EpJwtKey *key)
{
	return key->kid;
}

void
ep_jwt_key_unref (EpJwtKey *key)
{
	if (key == NULL || !g_atomic_ref_count_dec (&key->ref))
		return;
	if (key->pubkey != NULL)
		gnutls_pubkey_deinit (key->pubkey);
	g_free (key->kid);
	g_free (key);
}

/* ---- decoding ---- */

const char *
ep_jwt_alg_to_string (EpJwtAlg alg)
{
	switch (alg) {
	case EP_JWT_ALG_RS256:
		return "RS256";
	case EP_JWT_ALG_ES256:
		return "ES256";
	case EP_JWT_ALG_EDDSA:
		return "EdDSA";
	}
	return "?";
}

/* RFC 7515 §2: base64url without padding */
static GBytes *
ep_jwt_b64url_decode (const char *s, gsize len)
{
	g_autofree char *std = NULL;
	guchar *raw;
	gsize out_len = 0;

	if (len % 4 == 1)
		return NULL;
	std = g_malloc (len + 4);
	for (gsize i = 0; i < len; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!g_ascii_isalnum (c))
			return NULL;
		std[i] = c;
	}
	memset (std + len, '=', (4 - len % 4) % 4);
	std[len + (4 - len % 4) % 4] = '\0';
	if (len == 0)
		return g_bytes_new (NULL, 0);
	raw = g_base64_decode (std, &out_len);
	return g_bytes_new_take (raw, out_len);
}

#define EP_JWT_MAX_JSON_DEPTH 32

/* JSON nested deeper than anything a token or a key set needs is refused
 * before the (recursive) parser sees it. */
static gboolean
ep_jwt_json_depth_ok (const char *data, gsize len)
{
	gboolean in_string = FALSE;
	guint depth = 0;

	for (gsize i = 0; i < len; i++) {
		char c = data[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
		} else if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > EP_JWT_MAX_JSON_DEPTH)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

/* @what: how errors begin: "JWT header", "JWKS"… */
static JsonObject *
ep_jwt_parse_object (const char *data, gsize len, const char *what, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable ();
	g_autoptr(GError) local = NULL;
	JsonNode *root;

	if (len == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: empty", what);
		return NULL;
	}
	if (!g_utf8_validate_len (data, len, NULL)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: not UTF-8", what);
		return NULL;
	}
	if (!ep_jwt_json_depth_ok (data, len)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: JSON nested more than %d deep", what,
			     EP_JWT_MAX_JSON_DEPTH);
		return NULL;
	}
	if (!json_parser_load_from_data (parser, data, (gssize) len, &local)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: %s", what, local->message);
		return NULL;
	}
	root = json_parser_get_root (parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: not a JSON object", what);
		return NULL;
	}
	return json_object_ref (json_node_get_object (root));
}

/* Returns: (nullable): the member's string value; *@present says whether
 * the member is there at all (with another type when NULL is returned) */
static const char *
ep_jwt_get_string (JsonObject *obj, const char *name, gboolean *present)
{
	JsonNode *node = json_object_get_member (obj, name);

	*present = node != NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string (node);
}

/* a NumericDate (RFC 7519 §2); FALSE when absent or not a finite number */
static gboolean
ep_jwt_get_date (JsonObject *obj, const char *name, gboolean *present, gint64 *out)
{
	JsonNode *node = json_object_get_member (obj, name);
	GType type;

	*present = node != NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
		return FALSE;
	type = json_node_get_value_type (node);
	if (type == G_TYPE_INT64) {
		*out = json_node_get_int (node);
		return TRUE;
	}
	if (type == G_TYPE_DOUBLE) {
		double d = json_node_get_double (node);
		if (!isfinite (d) || d > 1e15 || d < -1e15)
			return FALSE;
		*out = (gint64) d; /* toward zero: fractions of a second do not matter here */
		return TRUE;
	}
	return FALSE;
}

/* ---- JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) ---- */

/* base64url characters of one key parameter: an 8192-bit modulus is 1366 */
#define EP_JWT_MAX_JWK_PARAM 1400

/* a base64url member of @jwk, decoded, of @min to @max octets */
static GBytes *
ep_jwt_jwk_get_octets (JsonObject *jwk, const char *name, gsize min, gsize max, GError **error)
{
	g_autoptr(GBytes) raw = NULL;
	gboolean present;
	const char *text = ep_jwt_get_string (jwk, name, &present);
	gsize len;

	if (text == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     present ? "JWK: \"%s\" is not a string" : "JWK: no \"%s\"", name);
		return NULL;
	}
	len = strlen (text);
	if (len > EP_JWT_MAX_JWK_PARAM) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"%s\" is too long (%zu characters)", name,
			     len);
		return NULL;
	}
	raw = ep_jwt_b64url_decode (text, len);
	if (raw == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"%s\" is not base64url without padding",
			     name);
		return NULL;
	}
	if (g_bytes_get_size (raw) < min || g_bytes_get_size (raw) > max) {
		if (min == max)
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"%s\" is %zu octets, not %zu", name,
				     g_bytes_get_size (raw), min);
		else
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"%s\" is %zu octets, not %zu to %zu",
				     name, g_bytes_get_size (raw), min, max);
		return NULL;
	}
	return g_steal_pointer (&raw);
}

/* an unsigned big-endian integer without its leading zero octets */
static gnutls_datum_t
ep_jwt_unsigned_trim (GBytes *bytes)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data (bytes, &len);

	while (len > 0 && *p == 0) {
		p++;
		len--;
	}
	return (gnutls_datum_t) { (unsigned char *) p, (unsigned int) len };
}

static gboolean
ep_jwt_jwk_import_rsa (EpJwtKey *key, JsonObject *jwk, GError **error)
{
	g_autoptr(GBytes) n = ep_jwt_jwk_get_octets (jwk, "n", 1, 1025, error);
	g_autoptr(GBytes) e = NULL;
	gnutls_datum_t m, x;
	unsigned int bits;
	int rc;

	if (n == NULL)
		return FALSE;
	e = ep_jwt_jwk_get_octets (jwk, "e", 1, 8, error);
	if (e == NULL)
		return FALSE;
	m = ep_jwt_unsigned_trim (n);
	x = ep_jwt_unsigned_trim (e);
	bits = m.size == 0 ? 0 : (m.size - 1) * 8 + (unsigned int) g_bit_storage (m.data[0]);
	if (bits < 2048 || bits > 8192) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "JWK: the RSA modulus \"n\" has %u bits (2048 to 8192 are accepted)", bits);
		return FALSE;
	}
	if ((m.data[m.size - 1] & 1) == 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWK: the RSA modulus \"n\" is even");
		return FALSE;
	}
	if (x.size == 0 || (x.data[x.size - 1] & 1) == 0 || (x.size == 1 && x.data[0] < 3)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     "JWK: the RSA exponent \"e\" is not an odd number of 3 or more");
		return FALSE;
	}
	rc = gnutls_pubkey_import_rsa_raw (key->pubkey, &m, &x);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: unusable RSA key: %s", gnutls_strerror (rc));
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_jwt_jwk_import_curve (EpJwtKey *key, JsonObject *jwk, const char *kty, GError **error)
{
	gboolean is_ec = strcmp (kty, "EC") == 0;
	const char *want = is_ec ? "P-256" : "Ed25519";
	g_autoptr(GBytes) x = NULL;
	g_autoptr(GBytes) y = NULL;
	gnutls_datum_t dx, dy = { NULL, 0 };
	gboolean present;
	const char *crv = ep_jwt_get_string (jwk, "crv", &present);
	int rc;

	if (crv == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     present ? "JWK: \"crv\" is not a string" : "JWK: no \"crv\"");
		return FALSE;
	}
	if (strcmp (crv, want) != 0) {
		g_autofree char *shown = g_strescape (crv, NULL);
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: curve \"%.40s\" is not supported (%s keys: %s)",
			     shown, kty, want);
		return FALSE;
	}
	/* RFC 7518 §6.2.1.2, RFC 8037 §2: coordinates at their full size */
	x = ep_jwt_jwk_get_octets (jwk, "x", 32, 32, error);
	if (x == NULL)
		return FALSE;
	dx = (gnutls_datum_t) { (unsigned char *) g_bytes_get_data (x, NULL), 32 };
	if (is_ec) {
		y = ep_jwt_jwk_get_octets (jwk, "y", 32, 32, error);
		if (y == NULL)
			return FALSE;
		dy = (gnutls_datum_t) { (unsigned char *) g_bytes_get_data (y, NULL), 32 };
		rc = gnutls_pubkey_import_ecc_raw (key->pubkey, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy);
	} else {
		rc = gnutls_pubkey_import_ecc_raw (key->pubkey, GNUTLS_ECC_CURVE_ED25519, &dx, NULL);
	}
	if (rc >= 0)
		rc = gnutls_pubkey_verify_params (key->pubkey);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: unusable %s key: %s", want,
			     gnutls_strerror (rc));
		return FALSE;
	}
	return TRUE;
}

/* "use", "alg" and "key_ops", when present, are of the types RFC 7517 says */
static gboolean
ep_jwt_jwk_check_types (JsonObject *jwk, GError **error)
{
	static const char *const strings[] = { "use", "alg" };
	JsonNode *ops = json_object_get_member (jwk, "key_ops");
	gboolean present;

	for (gsize i = 0; i < G_N_ELEMENTS (strings); i++) {
		if (ep_jwt_get_string (jwk, strings[i], &present) == NULL && present) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"%s\" is not a string", strings[i]);
			return FALSE;
		}
	}
	if (ops != NULL) {
		JsonArray *a = JSON_NODE_HOLDS_ARRAY (ops) ? json_node_get_array (ops) : NULL;
		for (guint i = 0; a != NULL && i < json_array_get_length (a); i++) {
			JsonNode *e = json_array_get_element (a, i);
			if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
				a = NULL;
		}
		if (a == NULL) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "JWK: \"key_ops\" is not an array of strings");
			return FALSE;
		}
	}
	return TRUE;
}

EpJwtKey *
ep_jwt_key_new_from_jwk (JsonObject *jwk, GError **error)
{
	/* RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2 */
	static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth" };
	g_autoptr(EpJwtKey) key = NULL;
	const char *kty, *kid;
	gboolean present, ok;

	g_return_val_if_fail (jwk != NULL, NULL);
	kty = ep_jwt_get_string (jwk, "kty", &present);
	if (kty == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     present ? "JWK: \"kty\" is not a string" : "JWK: no \"kty\"");
		return NULL;
	}
	if (strcmp (kty, "oct") == 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
				     "JWK: symmetric keys (kty \"oct\") are refused: tokens must be signed with a "
				     "public key");
		return NULL;
	}
	if (strcmp (kty, "RSA") != 0 && strcmp (kty, "EC") != 0 && strcmp (kty, "OKP") != 0) {
		g_autofree char *shown = g_strescape (kty, NULL);
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "JWK: key type \"%.40s\" is not supported (RSA, EC, OKP)", shown);
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS (private_members); i++) {
		if (json_object_has_member (jwk, private_members[i])) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "JWK: holds private key material (\"%s\"): only public keys belong in a key set",
				     private_members[i]);
			return NULL;
		}
	}
	kid = ep_jwt_get_string (jwk, "kid", &present);
	if (present && kid == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"kid\" is not a string");
		return NULL;
	}
	if (kid != NULL && strlen (kid) > EP_JWT_MAX_KID) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWK: \"kid\" is longer than %d octets",
			     EP_JWT_MAX_KID);
		return NULL;
	}
	if (!ep_jwt_jwk_check_types (jwk, error))
		return NULL;
	key = ep_jwt_key_new (kid, error);
	if (key == NULL)
		return NULL;
	if (strcmp (kty, "RSA") == 0)
		ok = ep_jwt_jwk_import_rsa (key, jwk, error);
	else
		ok = ep_jwt_jwk_import_curve (key, jwk, kty, error);
	if (!ok || !ep_jwt_key_classify (key, error))
		return NULL;
	return g_steal_pointer (&key);
}

/* Is @jwk meant for @alg tokens?  Keys for something else are no error. */
static gboolean
ep_jwt_jwk_is_for (JsonObject *jwk, EpJwtAlg alg)
{
	gboolean present;
	const char *use = ep_jwt_get_string (jwk, "use", &present);
	const char *jwk_alg = ep_jwt_get_string (jwk, "alg", &present);
	const char *kty = ep_jwt_get_string (jwk, "kty", &present);
	const char *crv = ep_jwt_get_string (jwk, "crv", &present);
	JsonNode *ops = json_object_get_member (jwk, "key_ops");

	/* RFC 7517 §4.2-4.4 */
	if (use != NULL && strcmp (use, "sig") != 0)
		return FALSE;
	if (jwk_alg != NULL && strcmp (jwk_alg, ep_jwt_alg_to_string (alg)) != 0)
		return FALSE;
	if (ops != NULL && JSON_NODE_HOLDS_ARRAY (ops)) {
		JsonArray *a = json_node_get_array (ops);
		gboolean verify = FALSE;
		for (guint i = 0; i < json_array_get_length (a); i++) {
			JsonNode *e = json_array_get_element (a, i);
			if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING &&
			    strcmp (json_node_get_string (e), "verify") == 0)
				verify = TRUE;
		}
		if (!verify)
			return FALSE;
	}
	/* a key of another type (or curve) cannot check these tokens; a
	 * member missing or of the wrong type is the parser's to report */
	if (kty == NULL)
		return TRUE;
	switch (alg) {
	case EP_JWT_ALG_RS256:
		return strcmp (kty, "RSA") == 0;
	case EP_JWT_ALG_ES256:
		return strcmp (kty, "EC") == 0 && (crv == NULL || strcmp (crv, "P-256") == 0);
	case EP_JWT_ALG_EDDSA:
		return strcmp (kty, "OKP") == 0 && (crv == NULL || strcmp (crv, "Ed25519") == 0);
	}
	return FALSE;
}

GPtrArray *
ep_jwt_keys_from_jwks (const char *json, gsize len, EpJwtAlg alg, char ***skipped, GError **error)
{
	g_autoptr(JsonObject) root = NULL;
	g_autoptr(GPtrArray) keys = NULL;
	g_autoptr(GPtrArray) refused = NULL;
	JsonNode *node;
	JsonArray *array;
	guint n;

	g_return_val_if_fail (json != NULL || len == 0, NULL);
	if (skipped != NULL)
		*skipped = NULL;
	if (len > EP_JWT_MAX_JWKS) {
		g_set_error (error, EP_ERROR, EP_ERROR_LIMIT, "JWKS: larger than %d octets", EP_JWT_MAX_JWKS);
		return NULL;
	}
	root = ep_jwt_parse_object (json, len, "JWKS", error);
	if (root == NULL)
		return NULL;
	node = json_object_get_member (root, "keys");
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWKS: no \"keys\" array");
		return NULL;
	}
	array = json_node_get_array (node);
	n = json_array_get_length (array);
	if (n > EP_JWT_MAX_JWKS_KEYS) {
		g_set_error (error, EP_ERROR, EP_ERROR_LIMIT, "JWKS: %u keys (at most %d are accepted)", n,
			     EP_JWT_MAX_JWKS_KEYS);
		return NULL;
	}
	keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_jwt_key_unref);
	refused = g_ptr_array_new_with_free_func (g_free);
	for (guint i = 0; i < n; i++) {
		JsonNode *e = json_array_get_element (array, i);
		g_autoptr(GError) local = NULL;
		JsonObject *jwk;
		EpJwtKey *key;

		if (!JSON_NODE_HOLDS_OBJECT (e)) {
			g_ptr_array_add (refused, g_strdup_printf ("key %u: not a JSON object", i + 1));
			continue;
		}
		jwk = json_node_get_object (e);
		if (!ep_jwt_jwk_is_for (jwk, alg))
			continue;
		key = ep_jwt_key_new_from_jwk (jwk, &local);
		if (key == NULL) {
			gboolean present;
			const char *kid = ep_jwt_get_string (jwk, "kid", &present);
			g_autofree char *shown = kid != NULL ? g_strescape (kid, NULL) : NULL;
			g_ptr_array_add (refused, shown != NULL ? g_strdup_printf ("key %u (kid \"%.64s\"): %s", i + 1,
										   shown, local->message)
								: g_strdup_printf ("key %u: %s", i + 1, local->message));
			continue;
		}
		g_ptr_array_add (keys, key);
	}
	if (keys->len == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "JWKS: none of its %u keys can check %s tokens%s%s",
			     n, ep_jwt_alg_to_string (alg), refused->len > 0 ? "; " : "",
			     refused->len > 0 ? (const char *) g_ptr_array_index (refused, 0) : "");
		if (skipped != NULL && refused->len > 0) {
			g_ptr_array_add (refused, NULL);
			*skipped = (char **) g_ptr_array_free (g_steal_pointer (&refused), FALSE);
		}
		return NULL;
	}
	if (skipped != NULL && refused->len > 0) {
		g_ptr_array_add (refused, NULL);
		*skipped = (char **) g_ptr_array_free (g_steal_pointer (&refused), FALSE);
	}
	return g_steal_pointer (&keys);
}

/* ---- claims ---- */

static gboolean
ep_jwt_check_claims_object (JsonObject *claims, const EpJwtPolicy *policy, gint64 now, char **subject,
			    GError **error)
{
	gint64 skew = policy->skew > 0 ? policy->skew : EP_JWT_DEFAULT_SKEW;
	const char *sub_name = policy->subject_claim != NULL ? policy->subject_claim : "sub";
	const char *iss, *sub;
	gboolean present, aud_ok = FALSE;
	JsonNode *aud;
	gint64 t = 0;

	iss = ep_jwt_get_string (claims, "iss", &present);
	if (iss == NULL || policy->issuer == NULL || strcmp (iss, policy->issuer) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "JWT: issuer \"%s\" is not the expected one",
			     iss != NULL ? iss : "");
		return FALSE;
	}
	aud = json_object_get_member (claims, "aud");
	if (aud != NULL && policy->audience != NULL) {
		if (JSON_NODE_HOLDS_VALUE (aud) && json_node_get_value_type (aud) == G_TYPE_STRING) {
			aud_ok = strcmp (json_node_get_string (aud), policy->audience) == 0;
		} else if (JSON_NODE_HOLDS_ARRAY (aud)) {
			JsonArray *a = json_node_get_array (aud);
			for (guint i = 0; i < json_array_get_length (a); i++) {
				JsonNode *e = json_array_get_element (a, i);
				if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING &&
				    strcmp (json_node_get_string (e), policy->audience) == 0)
					aud_ok = TRUE;
			}
		}
	}
	if (!aud_ok) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: not for this audience");
		return FALSE;
	}
	if (!ep_jwt_get_date (claims, "exp", &present, &t)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: no valid \"exp\"");
		return FALSE;
	}
	if (t <= now - skew) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "JWT: expired %" G_GINT64_FORMAT " s ago", now - t);
		return FALSE;
	}
	if (!ep_jwt_get_date (claims, "nbf", &present, &t) && present) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: bad \"nbf\"");
		return FALSE;
	}
	if (present && t > now + skew) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: not valid yet (nbf)");
		return FALSE;
	}
	if (!ep_jwt_get_date (claims, "iat", &present, &t) && present) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: bad \"iat\"");
		return FALSE;
	}
	if (present && t > now + skew) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: issued in the future (iat)");
		return FALSE;
	}
	sub = ep_jwt_get_string (claims, sub_name, &present);
	if (sub == NULL || !ep_sasl_identity_valid (sub, strlen (sub))) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "JWT: no usable \"%s\"", sub_name);
		return FALSE;
	}
	if (subject != NULL)
		*subject = g_strdup (sub);
	return TRUE;
}

gboolean
ep_jwt_check_claims (const char *claims, gsize len, const EpJwtPolicy *policy, gint64 now, char **subject,
		     GError **error)
{
	g_autoptr(JsonObject) obj = ep_jwt_parse_object (claims, len, "JWT claims", error);

	if (obj == NULL)
		return FALSE;
	return ep_jwt_check_claims_object (obj, policy, now, subject, error);
}

/* ---- signatures ---- */

static gboolean
ep_jwt_key_fits (const EpJwtKey *key, EpJwtAlg alg)
{
	switch (alg) {
	case EP_JWT_ALG_RS256:
		return key->pk == GNUTLS_PK_RSA;
	case EP_JWT_ALG_ES256:
		return key->pk == GNUTLS_PK_ECDSA && key->curve == GNUTLS_ECC_CURVE_SECP256R1;
	case EP_JWT_ALG_EDDSA:
		return key->pk == GNUTLS_PK_EDDSA_ED25519;
	}
	return FALSE;
}

static gboolean
ep_jwt_signature_ok (const EpJwtKey *key, EpJwtAlg alg, const char *input, gsize input_len, GBytes *sig)
{
	gnutls_datum_t data = { (unsigned char *) input, (unsigned int) input_len };
	gnutls_datum_t s = { NULL, 0 };
	gsize sig_len = 0;
	const guint8 *sig_data = g_bytes_get_data (sig, &sig_len);
	int rc;

	switch (alg) {
	case EP_JWT_ALG_RS256:
		s.data = (unsigned char *) sig_data;
		s.size = (unsigned int) sig_len;
		rc = gnutls_pubkey_verify_data2 (key->pubkey, GNUTLS_SIGN_RSA_SHA256, 0, &data, &s);
		return rc >= 0;
	case EP_JWT_ALG_EDDSA:
		s.data = (unsigned char *) sig_data;
		s.size = (unsigned int) sig_len;
		rc = gnutls_pubkey_verify_data2 (key->pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &data, &s);
		return rc >= 0;
	case EP_JWT_ALG_ES256: {
		/* RFC 7518 §3.4: R || S, 32 octets each; GnuTLS wants DER */
		gnutls_datum_t r = { (unsigned char *) sig_data, 32 };
		gnutls_datum_t ss = { (unsigned char *) sig_data + 32, 32 };
		if (sig_len != 64)
			return FALSE;
		if (gnutls_encode_rs_value (&s, &r, &ss) < 0)
			return FALSE;
		rc = gnutls_pubkey_verify_data2 (key->pubkey, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &s);
		gnutls_free (s.data);
		return rc >= 0;
	}
	}
	return FALSE;
}

static gboolean
ep_jwt_check_header (JsonObject *header, const EpJwtPolicy *policy, const char **kid, GError **error)
{
	const char *alg, *typ;
	gboolean present;

	alg = ep_jwt_get_string (header, "alg", &present);
	if (alg == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: no \"alg\"");
		return FALSE;
	}
	if (strcmp (alg, ep_jwt_alg_to_string (policy->alg)) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "JWT: algorithm \"%s\" is not the configured %s", alg,
			     ep_jwt_alg_to_string (policy->alg));
		return FALSE;
	}
	if (json_object_has_member (header, "crit")) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: critical header extensions unsupported");
		return FALSE;
	}
	typ = ep_jwt_get_string (header, "typ", &present);
	if (present && (typ == NULL || (g_ascii_strcasecmp (typ, "JWT") != 0 && g_ascii_strcasecmp (typ, "at+jwt") != 0 &&
					g_ascii_strcasecmp (typ, "application/at+jwt") != 0))) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: \"typ\" is not a JWT");
		return FALSE;
	}
	*kid = ep_jwt_get_string (header, "kid", &present);
	if (present && *kid == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: \"kid\" is not a string");
		return FALSE;
	}
	return TRUE;
}

gboolean
ep_jwt_peek_kid (const char *token, char **kid, GError **error)
{
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(JsonObject) header = NULL;
	const char *dot, *k, *data;
	gsize len, data_len = 0;
	gboolean present;

	g_return_val_if_fail (token != NULL && kid != NULL, FALSE);
	*kid = NULL;
	len = strnlen (token, EP_JWT_MAX_TOKEN + 1);
	if (len > EP_JWT_MAX_TOKEN) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: too long");
		return FALSE;
	}
	dot = memchr (token, '.', len);
	if (dot == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: not three base64url parts");
		return FALSE;
	}
	raw = ep_jwt_b64url_decode (token, dot - token);
	if (raw == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: bad base64url");
		return FALSE;
	}
	data = g_bytes_get_data (raw, &data_len);
	header = ep_jwt_parse_object (data, data_len, "JWT header", error);
	if (header == NULL)
		return FALSE;
	k = ep_jwt_get_string (header, "kid", &present);
	if (present && k == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: \"kid\" is not a string");
		return FALSE;
	}
	*kid = g_strdup (k);
	return TRUE;
}

gboolean
ep_jwt_verify (const char *token, const EpJwtPolicy *policy, gint64 now, char **subject, GError **error)
{
	g_autoptr(GBytes) header_raw = NULL;
	g_autoptr(GBytes) payload_raw = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(JsonObject) header = NULL;
	g_autoptr(JsonObject) claims = NULL;
	const char *dot1, *dot2, *kid = NULL;
	const char *data;
	gsize len, data_len = 0;
	gboolean verified = FALSE;

	g_return_val_if_fail (token != NULL && policy != NULL, FALSE);
	len = strlen (token);
	if (len > EP_JWT_MAX_TOKEN) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: too long");
		return FALSE;
	}
	dot1 = strchr (token, '.');
	dot2 = dot1 != NULL ? strchr (dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr (dot2 + 1, '.') != NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: not three base64url parts");
		return FALSE;
	}
	header_raw = ep_jwt_b64url_decode (token, dot1 - token);
	payload_raw = ep_jwt_b64url_decode (dot1 + 1, dot2 - dot1 - 1);
	sig = ep_jwt_b64url_decode (dot2 + 1, strlen (dot2 + 1));
	if (header_raw == NULL || payload_raw == NULL || sig == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT: bad base64url");
		return FALSE;
	}
	data = g_bytes_get_data (header_raw, &data_len);
	header = ep_jwt_parse_object (data, data_len, "JWT header", error);
	if (header == NULL)
		return FALSE;
	if (!ep_jwt_check_header (header, policy, &kid, error))
		return FALSE;
	if (g_bytes_get_size (sig) == 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: unsigned");
		return FALSE;
	}

	/* the signing input is the first two parts as they were sent */
	for (guint i = 0; policy->keys != NULL && i < policy->keys->len && !verified; i++) {
		const EpJwtKey *key = g_ptr_array_index (policy->keys, i);
		if (kid != NULL && key->kid != NULL && strcmp (kid, key->kid) != 0)
			continue;
		if (!ep_jwt_key_fits (key, policy->alg))
			continue;
		verified = ep_jwt_signature_ok (key, policy->alg, token, dot2 - token, sig);
	}
	if (!verified) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_PERM, "JWT: no configured key verifies the signature");
		return FALSE;
	}

	data = g_bytes_get_data (payload_raw, &data_len);
	claims = ep_jwt_parse_object (data, data_len, "JWT claims", error);
	if (claims == NULL)
		return FALSE;
	return ep_jwt_check_claims_object (claims, policy, now, subject, error);
}
