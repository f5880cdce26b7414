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
	rc = g_test_run ();
	test_key_clear (&rsa);
	test_key_clear (&ec);
	test_key_clear (&ed);
	test_key_clear (&ed_other);
	return rc;
}
