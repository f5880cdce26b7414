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

EpJwtKey *
ep_jwt_key_new_from_pem (const char *pem, gsize len, const char *kid, GError **error)
{
	g_autoptr(EpJwtKey) key = g_new0 (EpJwtKey, 1);
	gnutls_datum_t datum = { (unsigned char *) pem, (unsigned int) len };
	int rc;

	g_atomic_ref_count_init (&key->ref);
	key->kid = g_strdup (kid);
	if (len > G_MAXINT) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "JWT key: too large");
		return NULL;
	}
	rc = gnutls_pubkey_init (&key->pubkey);
	if (rc >= 0)
		rc = gnutls_pubkey_import (key->pubkey, &datum, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWT key: not a PEM public key: %s",
			     gnutls_strerror (rc));
		return NULL;
	}
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
		return NULL;
	}
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

static const char *
ep_jwt_alg_name (EpJwtAlg alg)
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

static JsonObject *
ep_jwt_parse_object (const char *data, gsize len, const char *what, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable ();
	g_autoptr(GError) local = NULL;
	JsonNode *root;

	if (len == 0 || !g_utf8_validate_len (data, len, NULL)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWT %s: not UTF-8", what);
		return NULL;
	}
	if (!json_parser_load_from_data (parser, data, (gssize) len, &local)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWT %s: %s", what, local->message);
		return NULL;
	}
	root = json_parser_get_root (parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "JWT %s: not a JSON object", what);
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
	g_autoptr(JsonObject) obj = ep_jwt_parse_object (claims, len, "claims", error);

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
	if (strcmp (alg, ep_jwt_alg_name (policy->alg)) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "JWT: algorithm \"%s\" is not the configured %s", alg,
			     ep_jwt_alg_name (policy->alg));
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
	header = ep_jwt_parse_object (data, data_len, "header", error);
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
	claims = ep_jwt_parse_object (data, data_len, "claims", error);
	if (claims == NULL)
		return FALSE;
	return ep_jwt_check_claims_object (claims, policy, now, subject, error);
}
