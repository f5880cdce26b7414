/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <unistd.h>

#include "ep-error.h"
#include "ep-jwt.h"

#define NOW ((gint64) 1700000000)

typedef struct {
	gnutls_privkey_t priv;
	char *pem;
	EpJwtAlg alg;
} TestKey;

static TestKey rsa, ec, ed, ed_other;

static void
test_key_generate (TestKey *k, gnutls_pk_algorithm_t pk, unsigned int bits, EpJwtAlg alg)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t out = { NULL, 0 };

	g_assert_cmpint (gnutls_privkey_init (&k->priv), ==, 0);
	g_assert_cmpint (gnutls_privkey_generate2 (k->priv, pk, bits, 0, NULL, 0), ==, 0);
	g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
	g_assert_cmpint (gnutls_pubkey_import_privkey (pub, k->priv, 0, 0), ==, 0);
	g_assert_cmpint (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_PEM, &out), ==, 0);
	k->pem = g_strndup ((const char *) out.data, out.size);
	k->alg = alg;
	gnutls_free (out.data);
	gnutls_pubkey_deinit (pub);
}

static void
test_key_clear (TestKey *k)
{
	gnutls_privkey_deinit (k->priv);
	g_free (k->pem);
}

static char *
b64url (const void *data, gsize len)
{
	char *s = g_base64_encode (data, len);
	char *eq = strchr (s, '=');

	if (eq != NULL)
		*eq = '\0';
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return s;
}

/* a big-endian integer of up to 33 octets as exactly 32 */
static void
fixed32 (const gnutls_datum_t *d, guint8 out[32])
{
	const guint8 *p = d->data;
	gsize n = d->size;

	while (n > 32) {
		g_assert_cmpuint (*p, ==, 0);
		p++;
		n--;
	}
	memset (out, 0, 32);
	memcpy (out + 32 - n, p, n);
}

/* header and payload JSON, signed with @k the way @k's algorithm says */
static char *
sign (const TestKey *k, const char *header, const char *payload)
{
	g_autofree char *h = b64url (header, strlen (header));
	g_autofree char *p = b64url (payload, strlen (payload));
	g_autofree char *input = g_strdup_printf ("%s.%s", h, p);
	g_autofree char *s = NULL;
	gnutls_datum_t data = { (unsigned char *) input, strlen (input) };
	gnutls_datum_t sig = { NULL, 0 };
	gnutls_sign_algorithm_t algo = k->alg == EP_JWT_ALG_RS256   ? GNUTLS_SIGN_RSA_SHA256
				       : k->alg == EP_JWT_ALG_ES256 ? GNUTLS_SIGN_ECDSA_SHA256
								    : GNUTLS_SIGN_EDDSA_ED25519;

	g_assert_cmpint (gnutls_privkey_sign_data2 (k->priv, algo, 0, &data, &sig), ==, 0);
	if (k->alg == EP_JWT_ALG_ES256) {
		gnutls_datum_t r = { NULL, 0 }, ss = { NULL, 0 };
		guint8 raw[64];
		g_assert_cmpint (gnutls_decode_rs_value (&sig, &r, &ss), ==, 0);
		fixed32 (&r, raw);
		fixed32 (&ss, raw + 32);
		s = b64url (raw, 64);
		gnutls_free (r.data);
		gnutls_free (ss.data);
	} else {
		s = b64url (sig.data, sig.size);
	}
	gnutls_free (sig.data);
	return g_strdup_printf ("%s.%s", input, s);
}

static const char *
alg_name (EpJwtAlg alg)
{
	return alg == EP_JWT_ALG_RS256 ? "RS256" : alg == EP_JWT_ALG_ES256 ? "ES256" : "EdDSA";
}

static char *
claims (const char *extra)
{
	return g_strdup_printf ("{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\","
				"\"exp\":%" G_GINT64_FORMAT ",\"iat\":%" G_GINT64_FORMAT "%s}",
				NOW + 300, NOW - 10, extra);
}

typedef struct {
	EpJwtPolicy policy;
	GPtrArray *keys;
} Policy;

static void
policy_init (Policy *p, const TestKey *k, const char *kid)
{
	g_autoptr(GError) error = NULL;
	EpJwtKey *key = ep_jwt_key_new_from_pem (k->pem, strlen (k->pem), kid, &error);

	g_assert_no_error (error);
	p->keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_jwt_key_unref);
	g_ptr_array_add (p->keys, key);
	p->policy = (EpJwtPolicy) {
		.alg = k->alg,
		.issuer = "https://id.example.com",
		.audience = "mail",
		.keys = p->keys,
	};
}

static void
policy_clear (Policy *p)
{
	g_ptr_array_unref (p->keys);
}

static void
check (const char *token, const EpJwtPolicy *policy, gint code, const char *subject)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *sub = NULL;
	gboolean ok = ep_jwt_verify (token, policy, NOW, &sub, &error);

	if (code < 0) {
		g_assert_no_error (error);
		g_assert_true (ok);
		g_assert_cmpstr (sub, ==, subject);
	} else {
		g_assert_false (ok);
		g_assert_error (error, EP_ERROR, code);
		g_assert_null (sub);
	}
}

static void
test_jwt_good (gconstpointer data)
{
	const TestKey *k = data;
	g_autofree char *header = g_strdup_printf ("{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg_name (k->alg));
	g_autofree char *payload = claims ("");
	g_autofree char *token = sign (k, header, payload);
	Policy p;

	policy_init (&p, k, NULL);
	check (token, &p.policy, -1, "alice");
	/* the same token under another algorithm's policy */
	p.policy.alg = k->alg == EP_JWT_ALG_EDDSA ? EP_JWT_ALG_RS256 : EP_JWT_ALG_EDDSA;
	check (token, &p.policy, EP_ERROR_PERM, NULL);
	policy_clear (&p);
}

static void
test_jwt_refused (void)
{
	g_autofree char *payload = claims ("");
	g_autofree char *good = sign (&ed, "{\"alg\":\"EdDSA\"}", payload);
	g_autofree char *h_none = b64url ("{\"alg\":\"none\"}", 14);
	g_autofree char *p64 = b64url (payload, strlen (payload));
	g_autofree char *none = g_strdup_printf ("%s.%s.", h_none, p64);
	g_autofree char *rs = sign (&rsa, "{\"alg\":\"RS256\"}", payload);
	g_autofree char *other = sign (&ed_other, "{\"alg\":\"EdDSA\"}", payload);
	Policy p;

	policy_init (&p, &ed, NULL);
	check (good, &p.policy, -1, "alice");
	/* alg none */
	check (none, &p.policy, EP_ERROR_PERM, NULL);
	/* another algorithm than the policy's */
	check (rs, &p.policy, EP_ERROR_PERM, NULL);
	/* signed by another key */
	check (other, &p.policy, EP_ERROR_PERM, NULL);
	/* tampered payload: the signature of another payload */
	{
		g_autofree char *evil = g_strdup ("{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"root\","
						  "\"exp\":9999999999}");
		g_autofree char *e64 = b64url (evil, strlen (evil));
		g_auto(GStrv) parts = g_strsplit (good, ".", -1);
		g_autofree char *tampered = g_strdup_printf ("%s.%s.%s", parts[0], e64, parts[2]);
		check (tampered, &p.policy, EP_ERROR_PERM, NULL);
	}
	/* a flipped signature bit */
	{
		g_autofree char *bad = g_strdup (good);
		char *last = bad + strlen (bad) - 2;
		*last = *last == 'A' ? 'B' : 'A';
		check (bad, &p.policy, EP_ERROR_PERM, NULL);
	}
	/* crit and odd typ */
	{
		g_autofree char *crit = sign (&ed, "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"]}", payload);
		g_autofree char *typ = sign (&ed, "{\"alg\":\"EdDSA\",\"typ\":\"JOSE+JSON\"}", payload);
		g_autofree char *at = sign (&ed, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", payload);
		check (crit, &p.policy, EP_ERROR_PERM, NULL);
		check (typ, &p.policy, EP_ERROR_PERM, NULL);
		check (at, &p.policy, -1, "alice");
	}
	/* no keys at all */
	{
		EpJwtPolicy empty = p.policy;
		empty.keys = NULL;
		check (good, &empty, EP_ERROR_PERM, NULL);
	}
	policy_clear (&p);
}

static void
test_jwt_claims (void)
{
	struct {
		const char *payload;
		gint code;
	} cases[] = {
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300}", -1 },
		/* expired, within and beyond the skew */
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1699999970}", -1 },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1699999900}",
		  EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000000}", -1 },
		/* missing or odd exp */
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\"}", EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":\"1700000300\"}",
		  EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300.5}", -1 },
		/* issuer, audience */
		{ "{\"iss\":\"https://evil.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300}",
		  EP_ERROR_PERM },
		{ "{\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300}", EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"web\",\"sub\":\"alice\",\"exp\":1700000300}",
		  EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"sub\":\"alice\",\"exp\":1700000300}", EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":[\"web\",\"mail\"],\"sub\":\"alice\",\"exp\":1700000300}",
		  -1 },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":[\"web\",3],\"sub\":\"alice\",\"exp\":1700000300}",
		  EP_ERROR_PERM },
		/* nbf and iat in the future */
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300,"
		  "\"nbf\":1700000100}",
		  EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300,"
		  "\"nbf\":1700000030}",
		  -1 },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300,"
		  "\"iat\":1700000100}",
		  EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"alice\",\"exp\":1700000300,"
		  "\"nbf\":\"soon\"}",
		  EP_ERROR_INVALID },
		/* subject */
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"exp\":1700000300}", EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"\",\"exp\":1700000300}", EP_ERROR_PERM },
		{ "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"a\\nb\",\"exp\":1700000300}",
		  EP_ERROR_PERM },
		/* not JSON, not an object */
		{ "{\"iss\":", EP_ERROR_INVALID },
		{ "[1,2]", EP_ERROR_INVALID },
		{ "", EP_ERROR_INVALID },
	};
	Policy p;

	policy_init (&p, &ec, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *token = sign (&ec, "{\"alg\":\"ES256\"}", cases[i].payload);
		g_test_message ("case %zu", i);
		check (token, &p.policy, cases[i].code, "alice");
	}
	/* the subject from another claim */
	{
		g_autofree char *token = sign (&ec, "{\"alg\":\"ES256\"}",
					       "{\"iss\":\"https://id.example.com\",\"aud\":\"mail\",\"sub\":\"1234\","
					       "\"email\":\"alice@example.com\",\"exp\":1700000300}");
		check (token, &p.policy, -1, "1234");
		p.policy.subject_claim = "email";
		check (token, &p.policy, -1, "alice@example.com");
	}
	policy_clear (&p);
}

static void
test_jwt_malformed (void)
{
	g_autofree char *payload = claims ("");
	g_autofree char *good = sign (&rsa, "{\"alg\":\"RS256\"}", payload);
	g_auto(GStrv) parts = g_strsplit (good, ".", -1);
	g_autofree char *h_bad = b64url ("not json", 8);
	g_autofree char *h_arr = b64url ("[\"RS256\"]", 9);
	g_autofree char *h_noalg = b64url ("{\"typ\":\"JWT\"}", 13);
	g_autofree char *h_numalg = b64url ("{\"alg\":256}", 11);
	g_autofree char *t1 = g_strdup_printf ("%s.%s.%s", h_bad, parts[1], parts[2]);
	g_autofree char *t2 = g_strdup_printf ("%s.%s.%s", h_arr, parts[1], parts[2]);
	g_autofree char *t3 = g_strdup_printf ("%s.%s.%s", h_noalg, parts[1], parts[2]);
	g_autofree char *t4 = g_strdup_printf ("%s.%s.%s", h_numalg, parts[1], parts[2]);
	g_autofree char *t5 = g_strdup_printf ("%s=.%s.%s", parts[0], parts[1], parts[2]);
	g_autofree char *t6 = g_strdup_printf ("%s.%s.%s.", parts[0], parts[1], parts[2]);
	g_autofree char *t7 = g_strdup_printf ("%s.%s", parts[0], parts[1]);
	g_autofree char *t8 = g_strdup_printf ("%s.%s.%s+", parts[0], parts[1], parts[2]);
	g_autofree char *huge = g_strnfill (EP_JWT_MAX_TOKEN + 1, 'a');
	const char *bad[] = { "", "abc", "a.b", "..", "!!.e30.c2ln", t1, t2, t3, t4, t5, t6, t7, t8, huge };
	g_autofree char *json_bad = sign (&rsa, "{\"alg\":\"RS256\"}", "{\"iss\": nope}");
	Policy p;

	policy_init (&p, &rsa, NULL);
	check (good, &p.policy, -1, "alice");
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_test_message ("case %zu", i);
		check (bad[i], &p.policy, EP_ERROR_INVALID, NULL);
	}
	/* a correctly signed payload that is not JSON */
	check (json_bad, &p.policy, EP_ERROR_INVALID, NULL);
	policy_clear (&p);
}

static void
test_jwt_kid (void)
{
	g_autofree char *payload = claims ("");
	g_autofree char *k1 = sign (&ed, "{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", payload);
	g_autofree char *k2 = sign (&ed, "{\"alg\":\"EdDSA\",\"kid\":\"k2\"}", payload);
	g_autofree char *nokid = sign (&ed, "{\"alg\":\"EdDSA\"}", payload);
	g_autofree char *other = sign (&ed_other, "{\"alg\":\"EdDSA\",\"kid\":\"k9\"}", payload);
	g_autofree char *badkid = sign (&ed, "{\"alg\":\"EdDSA\",\"kid\":7}", payload);
	g_autoptr(GError) error = NULL;
	Policy p;

	policy_init (&p, &ed, "k1");
	check (k1, &p.policy, -1, "alice");
	check (k2, &p.policy, EP_ERROR_PERM, NULL);
	check (nokid, &p.policy, -1, "alice");
	check (badkid, &p.policy, EP_ERROR_INVALID, NULL);
	/* a second key, tried by kid */
	g_ptr_array_add (p.keys, ep_jwt_key_new_from_pem (ed_other.pem, strlen (ed_other.pem), "k9", &error));
	g_assert_no_error (error);
	check (other, &p.policy, -1, "alice");
	check (k1, &p.policy, -1, "alice");
	policy_clear (&p);
}

static void
test_jwt_keys (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autoptr(EpJwtKey) key = NULL;
	TestKey weak;
	int fd;

	fd = g_file_open_tmp ("ep-jwt-test-XXXXXX.pem", &path, &error);
	g_assert_no_error (error);
	close (fd);
	g_assert_true (g_file_set_contents (path, ec.pem, -1, &error));
	key = ep_jwt_key_load_pem_file (path, NULL, &error);
	g_assert_no_error (error);
	g_assert_nonnull (key);
	g_unlink (path);
	g_clear_pointer (&key, ep_jwt_key_unref);

	key = ep_jwt_key_load_pem_file ("/nonexistent/key.pem", NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_NOT_FOUND);
	g_clear_error (&error);
	key = ep_jwt_key_new_from_pem ("not a key", 9, NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_clear_error (&error);

	/* RSA below 2048 bits is refused */
	test_key_generate (&weak, GNUTLS_PK_RSA, 1024, EP_JWT_ALG_RS256);
	key = ep_jwt_key_new_from_pem (weak.pem, strlen (weak.pem), NULL, &error);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_null (key);
	test_key_clear (&weak);
}

/* ES256 signatures are raw r||s, not DER */
static void
test_jwt_es256_der (void)
{
	g_autofree char *payload = claims ("");
	g_autofree char *h = b64url ("{\"alg\":\"ES256\"}", 15);
	g_autofree char *p64 = b64url (payload, strlen (payload));
	g_autofree char *input = g_strdup_printf ("%s.%s", h, p64);
	g_autofree char *s64 = NULL;
	g_autofree char *token = NULL;
	gnutls_datum_t data = { (unsigned char *) input, strlen (input) };
	gnutls_datum_t sig = { NULL, 0 };
	Policy p;

	g_assert_cmpint (gnutls_privkey_sign_data2 (ec.priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig), ==, 0);
	s64 = b64url (sig.data, sig.size);
	gnutls_free (sig.data);
	token = g_strdup_printf ("%s.%s", input, s64);
	policy_init (&p, &ec, NULL);
	check (token, &p.policy, EP_ERROR_PERM, NULL);
	policy_clear (&p);
}

/* ---- JSON Web Keys ---- */

/* the public half of @k as a JWK, with @extra members ("" or ",\"use\":…") */
static char *
jwk_of (const TestKey *k, const char *kid, const char *extra)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t pem = { (unsigned char *) k->pem, strlen (k->pem) };
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	g_autofree char *kid_member = kid != NULL ? g_strdup_printf (",\"kid\":\"%s\"", kid) : g_strdup ("");
	char *out;

	g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
	g_assert_cmpint (gnutls_pubkey_import (pub, &pem, GNUTLS_X509_FMT_PEM), ==, 0);
	if (k->alg == EP_JWT_ALG_RS256) {
		g_assert_cmpint (gnutls_pubkey_export_rsa_raw2 (pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ), ==, 0);
		g_autofree char *n = b64url (a.data, a.size);
		g_autofree char *e = b64url (b.data, b.size);
		out = g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s%s}", n, e, kid_member, extra);
	} else if (k->alg == EP_JWT_ALG_ES256) {
		guint8 x[32], y[32];
		g_assert_cmpint (gnutls_pubkey_export_ecc_raw2 (pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ), ==, 0);
		fixed32 (&a, x);
		fixed32 (&b, y);
		g_autofree char *x64 = b64url (x, 32);
		g_autofree char *y64 = b64url (y, 32);
		out = g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s%s}", x64, y64,
				       kid_member, extra);
	} else {
		g_assert_cmpint (gnutls_pubkey_export_ecc_raw2 (pub, &curve, &a, NULL, 0), ==, 0);
		g_assert_cmpuint (a.size, ==, 32);
		g_autofree char *x64 = b64url (a.data, a.size);
		out = g_strdup_printf ("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s%s}", x64, kid_member, extra);
	}
	gnutls_free (a.data);
	gnutls_free (b.data);
	gnutls_pubkey_deinit (pub);
	return out;
}

static JsonObject *
json_object_of (const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autoptr(GError) error = NULL;

	g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
	g_assert_no_error (error);
	g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
	return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static EpJwtKey *
key_from_jwk_text (const char *text, GError **error)
{
	g_autoptr(JsonObject) obj = json_object_of (text);

	return ep_jwt_key_new_from_jwk (obj, error);
}

/* a key read from its JWK verifies its tokens, and only its own */
static void
test_jwk_good (gconstpointer data)
{
	const TestKey *k = data;
	const TestKey *other = k == &ed ? &ed_other : &ed;
	g_autofree char *jwk = jwk_of (k, "key-1", ",\"use\":\"sig\"");
	g_autofree char *header = g_strdup_printf ("{\"alg\":\"%s\",\"kid\":\"key-1\"}", alg_name (k->alg));
	g_autofree char *other_header = g_strdup_printf ("{\"alg\":\"%s\",\"kid\":\"key-1\"}", alg_name (other->alg));
	g_autofree char *payload = claims ("");
	g_autofree char *token = sign (k, header, payload);
	g_autofree char *forged = sign (other, other_header, payload);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_jwt_key_unref);
	EpJwtKey *key = key_from_jwk_text (jwk, &error);
	EpJwtPolicy policy = {
		.alg = k->alg,
		.issuer = "https://id.example.com",
		.audience = "mail",
	};

	g_assert_no_error (error);
	g_assert_nonnull (key);
	g_assert_cmpstr (ep_jwt_key_get_kid (key), ==, "key-1");
	g_ptr_array_add (keys, key);
	policy.keys = keys;
	check (token, &policy, -1, "alice");
	policy.alg = other->alg;
	check (forged, &policy, EP_ERROR_PERM, NULL);
}

static void
test_jwk_malformed (void)
{
	g_autofree char *rsa_jwk = jwk_of (&rsa, "r", "");
	g_autofree char *ec_jwk = jwk_of (&ec, "e", "");
	g_autofree char *ed_jwk = jwk_of (&ed, "d", "");
	g_autoptr(JsonObject) rsa_obj = json_object_of (rsa_jwk);
	g_autoptr(JsonObject) ec_obj = json_object_of (ec_jwk);
	g_autoptr(JsonObject) ed_obj = json_object_of (ed_jwk);
	const char *n = json_object_get_string_member (rsa_obj, "n");
	const char *x = json_object_get_string_member (ec_obj, "x");
	const char *y = json_object_get_string_member (ec_obj, "y");
	const char *ed_x = json_object_get_string_member (ed_obj, "x");
	g_autofree char *huge = g_strnfill (2000, 'A');
	g_autofree char *big_n = g_strnfill (1367, '_');      /* 8200 bits */
	g_autofree char *small_n = g_strnfill (171, '_');     /* 1024 bits */
	g_autofree char *even_n = g_strdup_printf ("%.341sA", n); /* ends with a zero bit */
	g_autofree char *padded_n = g_strdup_printf ("%s=", n);
	g_autofree char *std_n = g_strdup_printf ("+%s", n + 1);
	g_autofree char *long_kid = g_strnfill (EP_JWT_MAX_KID + 1, 'k');
	g_autofree char *off_x = b64url ("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
					 "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01", 32);
	g_autofree char *short_x = g_strndup (x, 42); /* 31 octets */
	struct {
		char *jwk;
		const char *message;
	} cases[] = {
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"e\":\"AQAB\"}"), "no \"n\"" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\"}", n), "no \"e\"" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":7,\"e\":\"AQAB\"}"), "\"n\" is not a string" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", padded_n), "\"n\" is not base64url" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", std_n), "\"n\" is not base64url" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ*B\"}", n), "\"e\" is not base64url" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", huge), "\"n\" is too long" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", big_n), "has 8200 bits" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", small_n), "has 1024 bits" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", even_n), "is even" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}", n), "\"e\" is not an odd number" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAA\"}", n), "\"e\" is not an odd number" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AAAA\"}", n), "\"e\" is not an odd number" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQEBAQEBAQEBAQ\"}", n), "\"e\" is 10 octets" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"d\":\"AQAB\"}", n),
		  "private key material (\"d\")" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", x, y),
		  "curve \"P-384\" is not supported" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"%s\",\"y\":\"%s\"}", x, y),
		  "curve \"secp256k1\" is not supported" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y), "no \"crv\"" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", x), "no \"y\"" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", short_x, y),
		  "\"x\" is 31 octets, not 32" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", off_x, y),
		  "unusable P-256 key" },
		{ g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}", x, y, x),
		  "private key material" },
		{ g_strdup_printf ("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"}", ed_x),
		  "curve \"X25519\" is not supported" },
		{ g_strdup_printf ("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", ed_x + 1), "\"x\" is 31 octets" },
		{ g_strdup_printf ("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}"), "no \"x\"" },
		{ g_strdup_printf ("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}"), "symmetric keys" },
		{ g_strdup_printf ("{\"kty\":\"RSA-PSS\",\"n\":\"%s\",\"e\":\"AQAB\"}", n),
		  "key type \"RSA-PSS\" is not supported" },
		{ g_strdup_printf ("{\"n\":\"%s\",\"e\":\"AQAB\"}", n), "no \"kty\"" },
		{ g_strdup_printf ("{\"kty\":[\"RSA\"],\"n\":\"%s\",\"e\":\"AQAB\"}", n), "\"kty\" is not a string" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"kid\":1}", n), "\"kid\" is not a string" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"kid\":\"%s\"}", n, long_kid),
		  "\"kid\" is longer than" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"use\":true}", n), "\"use\" is not a string" },
		{ g_strdup_printf ("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"key_ops\":\"verify\"}", n),
		  "\"key_ops\" is not an array of strings" },
	};

	/* the unbroken keys are fine */
	for (gsize i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpJwtKey) key = key_from_jwk_text (i == 0 ? rsa_jwk : i == 1 ? ec_jwk : ed_jwk, &error);
		g_assert_no_error (error);
		g_assert_nonnull (key);
	}
	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpJwtKey) key = NULL;
		g_test_message ("case %zu: %s", i, cases[i].message);
		key = key_from_jwk_text (cases[i].jwk, &error);
		g_assert_null (key);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		if (strstr (error->message, cases[i].message) == NULL)
			g_error ("case %zu: \"%s\" does not say \"%s\"", i, error->message, cases[i].message);
		g_free (cases[i].jwk);
	}
}

static GPtrArray *
jwks_keys (const char *json, EpJwtAlg alg, char ***skipped, GError **error)
{
	return ep_jwt_keys_from_jwks (json, strlen (json), alg, skipped, error);
}

/* a provider's set: keys for other uses and algorithms are left out, a
 * broken one is reported, the rest verify */
static void
test_jwks_select (void)
{
	g_autofree char *r1 = jwk_of (&rsa, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\"");
	g_autofree char *r_enc = jwk_of (&rsa, "r-enc", ",\"use\":\"enc\"");
	g_autofree char *r_ps = jwk_of (&rsa, "r-ps", ",\"alg\":\"PS256\"");
	g_autofree char *r_ops = jwk_of (&rsa, "r-ops", ",\"key_ops\":[\"encrypt\"]");
	g_autofree char *e1 = jwk_of (&ec, "e1", ",\"key_ops\":[\"verify\"]");
	g_autofree char *d1 = jwk_of (&ed, "d1", ",\"alg\":\"EdDSA\"");
	g_autofree char *d2 = jwk_of (&ed_other, NULL, "");
	g_autofree char *set = g_strdup_printf (
	    "{\"keys\":[%s,%s,%s,%s,%s,%s,%s,{\"kty\":\"RSA\",\"kid\":\"broken\",\"n\":\"AQAB\"},"
	    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"oct\",\"k\":\"AA\"},[1],"
	    "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"broken\"}],\"other\":1}",
	    r1, r_enc, r_ps, r_ops, e1, d1, d2);
	g_autofree char *payload = claims ("");
	struct {
		EpJwtAlg alg;
		const char *kids[3];
		guint n_skipped;
	} cases[] = {
		/* the broken RSA key and the array */
		{ EP_JWT_ALG_RS256, { "r1" }, 2 },
		{ EP_JWT_ALG_ES256, { "e1" }, 1 },
		{ EP_JWT_ALG_EDDSA, { "d1", NULL }, 1 },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		const TestKey *k = cases[i].alg == EP_JWT_ALG_RS256 ? &rsa : cases[i].alg == EP_JWT_ALG_ES256 ? &ec : &ed;
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) skipped = NULL;
		g_autoptr(GPtrArray) keys = jwks_keys (set, cases[i].alg, &skipped, &error);
		g_autofree char *header = g_strdup_printf ("{\"alg\":\"%s\",\"kid\":\"%s\"}", alg_name (k->alg),
							   cases[i].kids[0]);
		g_autofree char *token = sign (k, header, payload);
		guint n_kids = cases[i].alg == EP_JWT_ALG_EDDSA ? 2 : 1;
		EpJwtPolicy policy = {
			.alg = cases[i].alg,
			.issuer = "https://id.example.com",
			.audience = "mail",
		};

		g_test_message ("case %zu", i);
		g_assert_no_error (error);
		g_assert_nonnull (keys);
		g_assert_cmpuint (keys->len, ==, n_kids);
		for (guint j = 0; j < n_kids; j++)
			g_assert_cmpstr (ep_jwt_key_get_kid (g_ptr_array_index (keys, j)), ==, cases[i].kids[j]);
		g_assert_nonnull (skipped);
		g_assert_cmpuint (g_strv_length (skipped), ==, cases[i].n_skipped);
		if (cases[i].alg == EP_JWT_ALG_RS256) {
			g_assert_nonnull (strstr (skipped[0], "key 8 (kid \"broken\")"));
			g_assert_nonnull (strstr (skipped[0], "JWK: no \"e\""));
		}
		g_assert_nonnull (strstr (skipped[cases[i].n_skipped - 1], "key 11: not a JSON object"));
		policy.keys = keys;
		check (token, &policy, -1, "alice");
	}
	/* the Ed25519 key without a kid checks tokens naming any kid */
	{
		g_autoptr(GPtrArray) keys = jwks_keys (set, EP_JWT_ALG_EDDSA, NULL, NULL);
		g_autofree char *token = sign (&ed_other, "{\"alg\":\"EdDSA\",\"kid\":\"new\"}", payload);
		EpJwtPolicy policy = {
			.alg = EP_JWT_ALG_EDDSA,
			.issuer = "https://id.example.com",
			.audience = "mail",
			.keys = keys,
		};
		check (token, &policy, -1, "alice");
	}
}

static void
test_jwks_malformed (void)
{
	g_autofree char *r1 = jwk_of (&rsa, "r1", "");
	g_autoptr(GString) many = g_string_new ("{\"keys\":[");
	g_autoptr(GString) large = g_string_new ("{\"keys\":[");
	g_autofree char *deep = NULL;
	struct {
		const char *json;
		gint code;
		const char *message;
	} cases[] = {
		{ "", EP_ERROR_INVALID, "JWKS: empty" },
		{ "not json", EP_ERROR_INVALID, "JWKS: " },
		{ "[]", EP_ERROR_INVALID, "not a JSON object" },
		{ "{}", EP_ERROR_INVALID, "no \"keys\" array" },
		{ "{\"keys\":{}}", EP_ERROR_INVALID, "no \"keys\" array" },
		{ "{\"keys\":[]}", EP_ERROR_NOT_FOUND, "none of its 0 keys" },
		{ "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", EP_ERROR_NOT_FOUND,
		  "none of its 1 keys can check RS256 tokens; key 1: JWK: the RSA modulus" },
		{ "{\"keys\":[{\"kty\":\"EC\"}]}", EP_ERROR_NOT_FOUND, "none of its 1 keys can check RS256" },
		{ "{\"keys\":[\xff]}", EP_ERROR_INVALID, "not UTF-8" },
		{ NULL, EP_ERROR_LIMIT, "101 keys" },
		{ NULL, EP_ERROR_LIMIT, "larger than" },
		{ NULL, EP_ERROR_INVALID, "nested more than" },
	};

	for (guint i = 0; i <= EP_JWT_MAX_JWKS_KEYS; i++)
		g_string_append_printf (many, "%s%s", i > 0 ? "," : "", r1);
	g_string_append (many, "]}");
	/* within the key count, beyond the size */
	for (guint i = 0; large->len <= EP_JWT_MAX_JWKS; i++)
		g_string_append_printf (large, "%s{\"kty\":\"RSA\",\"x5c\":[\"%04000d\"]}", i > 0 ? "," : "", 0);
	g_string_append (large, "]}");
	{
		g_autofree char *opening = g_strnfill (40, '[');
		g_autofree char *closing = g_strnfill (40, ']');
		deep = g_strdup_printf ("{\"keys\":[%s%s]}", opening, closing);
	}
	cases[9].json = many->str;
	cases[10].json = large->str;
	cases[11].json = deep;

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) skipped = NULL;
		g_autoptr(GPtrArray) keys = NULL;
		g_test_message ("case %zu", i);
		keys = jwks_keys (cases[i].json, EP_JWT_ALG_RS256, &skipped, &error);
		g_assert_null (keys);
		g_assert_error (error, EP_ERROR, cases[i].code);
		if (strstr (error->message, cases[i].message) == NULL)
			g_error ("case %zu: \"%s\" does not say \"%s\"", i, error->message, cases[i].message);
	}
	/* exactly at the limit of keys */
	g_string_truncate (many, 0);
	g_string_append (many, "{\"keys\":[");
	for (guint i = 0; i < EP_JWT_MAX_JWKS_KEYS; i++)
		g_string_append_printf (many, "%s%s", i > 0 ? "," : "", r1);
	g_string_append (many, "]}");
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) keys = jwks_keys (many->str, EP_JWT_ALG_RS256, NULL, &error);
		g_assert_no_error (error);
		g_assert_cmpuint (keys->len, ==, EP_JWT_MAX_JWKS_KEYS);
	}
}

static void
test_jwt_peek_kid (void)
{
	g_autofree char *payload = claims ("");
	g_autofree char *with = sign (&ed, "{\"alg\":\"EdDSA\",\"kid\":\"2024-05\"}", payload);
	g_autofree char *without = sign (&ed, "{\"alg\":\"EdDSA\"}", payload);
	g_autofree char *numeric = sign (&ed, "{\"alg\":\"EdDSA\",\"kid\":5}", payload);
	const char *bad[] = { "", "nodot", "!!.e30.", "e30", "W10.e30.", numeric };
	g_autoptr(GError) error = NULL;
	char *kid = NULL;

	g_assert_true (ep_jwt_peek_kid (with, &kid, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (kid, ==, "2024-05");
	g_clear_pointer (&kid, g_free);
	g_assert_true (ep_jwt_peek_kid (without, &kid, &error));
	g_assert_no_error (error);
	g_assert_null (kid);
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_test_message ("case %zu", i);
		g_assert_false (ep_jwt_peek_kid (bad[i], &kid, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_null (kid);
		g_clear_error (&error);
	}
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	test_key_generate (&rsa, GNUTLS_PK_RSA, 2048, EP_JWT_ALG_RS256);
	test_key_generate (&ec, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), EP_JWT_ALG_ES256);
	test_key_generate (&ed, GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519),
			   EP_JWT_ALG_EDDSA);
	test_key_generate (&ed_other, GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519),
			   EP_JWT_ALG_EDDSA);

	g_test_add_data_func ("/jwt/good/rs256", &rsa, test_jwt_good);
	g_test_add_data_func ("/jwt/good/es256", &ec, test_jwt_good);
	g_test_add_data_func ("/jwt/good/eddsa", &ed, test_jwt_good);
	g_test_add_func ("/jwt/refused", test_jwt_refused);
	g_test_add_func ("/jwt/claims", test_jwt_claims);
	g_test_add_func ("/jwt/malformed", test_jwt_malformed);
	g_test_add_func ("/jwt/kid", test_jwt_kid);
	g_test_add_func ("/jwt/keys", test_jwt_keys);
	g_test_add_func ("/jwt/es256-der", test_jwt_es256_der);
	g_test_add_data_func ("/jwt/jwk/good/rs256", &rsa, test_jwk_good);
	g_test_add_data_func ("/jwt/jwk/good/es256", &ec, test_jwk_good);
	g_test_add_data_func ("/jwt/jwk/good/eddsa", &ed, test_jwk_good);
	g_test_add_func ("/jwt/jwk/malformed", test_jwk_malformed);
	g_test_add_func ("/jwt/jwks/select", test_jwks_select);
	g_test_add_func ("/jwt/jwks/malformed", test_jwks_malformed);
	g_test_add_func ("/jwt/peek-kid", test_jwt_peek_kid);
	rc = g_test_run ();
	test_key_clear (&rsa);
	test_key_clear (&ec);
	test_key_clear (&ed);
	test_key_clear (&ed_other);
	return rc;
}
