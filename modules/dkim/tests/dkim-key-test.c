/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim-key.h"
#include "ep-error.h"

/* One key of each kind, made once: RSA generation takes a while. */
static char *ed_pem;
static char *rsa_pem;

static void
make_keys (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (DkimKey) ed = NULL;
	g_autoptr (DkimKey) rsa = NULL;

	ed = dkim_key_generate ("example.org", "ed1", DKIM_ALG_ED25519_SHA256, 0, &ed_pem, &error);
	g_assert_no_error (error);
	rsa = dkim_key_generate ("example.org", "rsa1", DKIM_ALG_RSA_SHA256, 1024, &rsa_pem, &error);
	g_assert_no_error (error);
}

/* The public key of a TXT record's p=, imported with GnuTLS. */
static gnutls_pubkey_t
record_pubkey (const char *record, DkimAlgorithm alg)
{
	const char *p = strstr (record, "; p=");
	gsize len = 0;
	g_autofree guchar *raw = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t datum;
	int rc;

	g_assert_nonnull (p);
	raw = g_base64_decode (p + 4, &len);
	datum.data = raw;
	datum.size = (unsigned int) len;
	g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
	if (alg == DKIM_ALG_ED25519_SHA256) {
		g_assert_cmpuint (len, ==, 32);
		rc = gnutls_pubkey_import_ecc_raw (pub, GNUTLS_ECC_CURVE_ED25519, &datum, NULL);
	} else {
		rc = gnutls_pubkey_import (pub, &datum, GNUTLS_X509_FMT_DER);
	}
	g_assert_cmpint (rc, ==, 0);
	return pub;
}

static void
test_generate_and_record (void)
{
	struct {
		const char *pem;
		DkimAlgorithm alg;
		const char *prefix;
	} cases[] = {
		{ ed_pem, DKIM_ALG_ED25519_SHA256, "v=DKIM1; k=ed25519; p=" },
		{ rsa_pem, DKIM_ALG_RSA_SHA256, "v=DKIM1; k=rsa; p=" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GError) error = NULL;
		g_autoptr (DkimKey) key = NULL;
		g_autofree char *record = NULL;
		gnutls_pubkey_t pub;
		unsigned int bits = 0;

		g_assert_true (g_str_has_prefix (cases[i].pem, "-----BEGIN PRIVATE KEY-----\n"));
		key = dkim_key_new_from_pem ("Example.ORG", "s1", cases[i].pem, strlen (cases[i].pem), "test", &error);
		g_assert_no_error (error);
		g_assert_cmpstr (dkim_key_get_domain (key), ==, "example.org");
		g_assert_cmpstr (dkim_key_get_selector (key), ==, "s1");
		g_assert_cmpint (dkim_key_get_algorithm (key), ==, cases[i].alg);
		record = dkim_key_get_dns_record (key, &error);
		g_assert_no_error (error);
		g_assert_true (g_str_has_prefix (record, cases[i].prefix));
		pub = record_pubkey (record, cases[i].alg);
		if (cases[i].alg == DKIM_ALG_RSA_SHA256) {
			g_assert_cmpint (gnutls_pubkey_get_pk_algorithm (pub, &bits), ==, GNUTLS_PK_RSA);
			g_assert_cmpuint (bits, ==, 1024);
			g_assert_cmpuint (dkim_key_get_bits (key), ==, 1024);
		}
		gnutls_pubkey_deinit (pub);
	}
}

/* Signatures check out against the published key: RSA over the data,
 * Ed25519 over the SHA-256 of the data (RFC 8463). */
static void
test_sign (void)
{
	const char *data = "from:Alice <alice@example.org>\r\ndkim-signature:v=1; b=";
	struct {
		const char *pem;
		DkimAlgorithm alg;
	} cases[] = {
		{ ed_pem, DKIM_ALG_ED25519_SHA256 },
		{ rsa_pem, DKIM_ALG_RSA_SHA256 },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (GError) error = NULL;
		g_autoptr (DkimKey) key =
		    dkim_key_new_from_pem ("example.org", "s1", cases[i].pem, strlen (cases[i].pem), "test", &error);
		g_autofree char *record = dkim_key_get_dns_record (key, &error);
		g_autoptr (GBytes) sig = dkim_key_sign (key, (const guint8 *) data, strlen (data), &error);
		gnutls_pubkey_t pub = record_pubkey (record, cases[i].alg);
		gnutls_datum_t s = { (unsigned char *) g_bytes_get_data (sig, NULL), (unsigned int) g_bytes_get_size (sig) };
		guint8 digest[32];
		gnutls_datum_t in = { (unsigned char *) data, (unsigned int) strlen (data) };
		int rc;

		g_assert_no_error (error);
		if (cases[i].alg == DKIM_ALG_ED25519_SHA256) {
			g_assert_cmpuint (g_bytes_get_size (sig), ==, 64);
			g_assert_cmpint (gnutls_hash_fast (GNUTLS_DIG_SHA256, data, strlen (data), digest), ==, 0);
			in.data = digest;
			in.size = sizeof (digest);
			rc = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &s);
			g_assert_cmpint (rc, >=, 0);
			/* not over the data itself */
			in.data = (unsigned char *) data;
			in.size = (unsigned int) strlen (data);
			rc = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &s);
			g_assert_cmpint (rc, <, 0);
		} else {
			g_assert_cmpuint (g_bytes_get_size (sig), ==, 128);
			rc = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_RSA_SHA256, 0, &in, &s);
			g_assert_cmpint (rc, >=, 0);
			in.size--;
			rc = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_RSA_SHA256, 0, &in, &s);
			g_assert_cmpint (rc, <, 0);
		}
		gnutls_pubkey_deinit (pub);
	}
}

static char *
export_pem (gnutls_x509_privkey_t x509, const char *password)
{
	gnutls_datum_t out = { NULL, 0 };
	char *pem;

	g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (x509, GNUTLS_X509_FMT_PEM, password,
							    password != NULL ? GNUTLS_PKCS_PBES2_AES_256
									     : GNUTLS_PKCS_PLAIN,
							    &out),
			 ==, 0);
	pem = g_strndup ((const char *) out.data, out.size);
	gnutls_free (out.data);
	return pem;
}

static char *
make_pem (gnutls_pk_algorithm_t pk, unsigned int bits, const char *password)
{
	gnutls_x509_privkey_t x509;
	char *pem;

	g_assert_cmpint (gnutls_x509_privkey_init (&x509), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_generate2 (x509, pk, bits, 0, NULL, 0), ==, 0);
	pem = export_pem (x509, password);
	gnutls_x509_privkey_deinit (x509);
	return pem;
}

static void
assert_refused (const char *pem, gsize len, const char *what)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (DkimKey) key = dkim_key_new_from_pem ("example.org", "s1", pem, len, "bad.pem", &error);

	g_assert_null (key);
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_true (g_str_has_prefix (error->message, "bad.pem: "));
	if (what != NULL && strstr (error->message, what) == NULL)
		g_error ("'%s' does not say '%s'", error->message, what);
}

static void
test_refused_keys (void)
{
	g_autofree char *rsa512 = make_pem (GNUTLS_PK_RSA, 512, NULL);
	g_autofree char *p256 = make_pem (GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), NULL);
	g_autofree char *encrypted = make_pem (GNUTLS_PK_EDDSA_ED25519,
					       GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519), "secret");
	g_autofree char *truncated = g_strndup (rsa_pem, strlen (rsa_pem) / 2);
	g_autofree char *garbled = g_strdup (rsa_pem);
	g_autoptr (GError) error = NULL;

	garbled[100] = garbled[100] == 'A' ? 'B' : 'A';
	garbled[101] = garbled[101] == 'A' ? 'B' : 'A';
	assert_refused (rsa512, strlen (rsa512), "512 bits");
	assert_refused (p256, strlen (p256), "DKIM signs with RSA");
	assert_refused (encrypted, strlen (encrypted), NULL);
	assert_refused (truncated, strlen (truncated), NULL);
	assert_refused (garbled, strlen (garbled), NULL);
	assert_refused ("", 0, NULL);
	assert_refused ("not a key at all\n", 17, NULL);
	assert_refused ("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
		strlen ("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), NULL);

	/* generation refuses sizes out of range */
	g_assert_null (dkim_key_generate ("example.org", "s", DKIM_ALG_RSA_SHA256, 512, NULL, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_USAGE);
	g_clear_error (&error);
	g_assert_null (dkim_key_generate ("example.org", "s", DKIM_ALG_RSA_SHA256, 16384, NULL, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_USAGE);
}

static char *
write_key (const char *dir, const char *name, const char *pem, mode_t mode)
{
	char *path = g_build_filename (dir, name, NULL);
	g_autoptr (GError) error = NULL;

	g_file_set_contents_full (path, pem, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
	g_assert_no_error (error);
	g_assert_cmpint (g_chmod (path, mode), ==, 0);
	return path;
}

static void
assert_load_fails (const char *path, const uid_t *owners, guint n, EpError code, const char *what)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (DkimKey) key = dkim_key_load_file ("example.org", "s1", path, owners, n, &error);

	g_assert_null (key);
	g_assert_error (error, EP_ERROR, (gint) code);
	/* the message names the file */
	g_assert_true (g_str_has_prefix (error->message, path));
	if (what != NULL && strstr (error->message, what) == NULL)
		g_error ("'%s' does not say '%s'", error->message, what);
}

static void
test_load_file (void)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp ("dkim-key-test-XXXXXX", &error);
	g_autofree char *good = NULL;
	g_autofree char *readonly = NULL;
	g_autofree char *open_to_group = NULL;
	g_autofree char *open_to_all = NULL;
	g_autofree char *link = NULL;
	g_autofree char *missing = NULL;
	g_autofree char *big = NULL;
	g_autofree char *filler = NULL;
	uid_t me[] = { geteuid () };
	uid_t someone_else[] = { geteuid () + 4242 };
	g_autoptr (DkimKey) key = NULL;

	g_assert_no_error (error);
	good = write_key (dir, "good.pem", ed_pem, 0600);
	readonly = write_key (dir, "readonly.pem", rsa_pem, 0400);
	open_to_group = write_key (dir, "group.pem", ed_pem, 0640);
	open_to_all = write_key (dir, "all.pem", ed_pem, 0644);
	filler = g_strnfill (DKIM_KEY_FILE_MAX + 10, 'A');
	big = write_key (dir, "big.pem", filler, 0600);
	link = g_build_filename (dir, "link.pem", NULL);
	g_assert_cmpint (symlink (good, link), ==, 0);
	missing = g_build_filename (dir, "missing.pem", NULL);

	key = dkim_key_load_file ("example.org", "s1", good, me, 1, &error);
	g_assert_no_error (error);
	g_assert_cmpint (dkim_key_get_algorithm (key), ==, DKIM_ALG_ED25519_SHA256);
	g_assert_cmpstr (dkim_key_get_origin (key), ==, good);
	g_clear_pointer (&key, dkim_key_unref);
	key = dkim_key_load_file ("example.org", "s1", readonly, me, 1, &error);
	g_assert_no_error (error);
	g_assert_cmpint (dkim_key_get_algorithm (key), ==, DKIM_ALG_RSA_SHA256);

	assert_load_fails (open_to_group, me, 1, EP_ERROR_CONFIG, "mode 0640");
	assert_load_fails (open_to_all, me, 1, EP_ERROR_CONFIG, "chmod 600");
	assert_load_fails (good, someone_else, 1, EP_ERROR_CONFIG, "owned by uid");
	assert_load_fails (link, me, 1, EP_ERROR_CONFIG, "symbolic link");
	assert_load_fails (dir, me, 1, EP_ERROR_CONFIG, "not a regular file");
	assert_load_fails (missing, me, 1, EP_ERROR_NOT_FOUND, NULL);
	assert_load_fails (big, me, 1, EP_ERROR_INVALID, "larger than");

	for (const char *const *p = (const char *const[]){ good, readonly, open_to_group, open_to_all, big, link, NULL };
	     *p != NULL; p++)
		g_unlink (*p);
	g_rmdir (dir);
}

static void
test_zone_line (void)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *pem = NULL;
	g_autoptr (DkimKey) key = dkim_key_generate ("example.org", "big", DKIM_ALG_RSA_SHA256, 3072, &pem, &error);
	g_autofree char *record = dkim_key_get_dns_record (key, &error);
	g_autofree char *line = NULL;
	g_autofree char *short_line = dkim_dns_zone_line ("ed1", "example.org", "v=DKIM1; k=ed25519; p=abc");
	g_autoptr (GString) joined = g_string_new (NULL);
	g_auto (GStrv) parts = NULL;
	guint n_strings = 0;

	g_assert_no_error (error);
	g_assert_cmpuint (strlen (record), >, 510);
	line = dkim_dns_zone_line ("big", "example.org", record);
	g_assert_true (g_str_has_prefix (line, "big._domainkey.example.org. IN TXT \""));
	g_assert_null (strchr (line, '\n'));
	/* the quoted strings: at most 255 characters each, the record once joined */
	parts = g_strsplit (strchr (line, '"'), "\"", -1);
	for (guint i = 1; parts[i] != NULL; i += 2) {
		g_assert_cmpuint (strlen (parts[i]), <=, 255);
		g_string_append (joined, parts[i]);
		n_strings++;
		if (parts[i + 1] != NULL && parts[i + 2] != NULL)
			g_assert_cmpstr (parts[i + 1], ==, " ");
	}
	g_assert_cmpuint (n_strings, ==, (strlen (record) + 254) / 255);
	g_assert_cmpstr (joined->str, ==, record);
	g_assert_cmpstr (short_line, ==, "ed1._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p=abc\"");
}

static void
test_names (void)
{
	const char *good_domains[] = { "example.org", "mail.example.org", "x-1.example.co.uk", "1.example", NULL };
	const char *bad_domains[] = { "", "example", "-x.example.org", "x-.example.org", "exa mple.org", "example..org",
				      "example.org.", ".example.org", "ex_ample.org", "\xc3\xa9xample.org", NULL };
	const char *good_selectors[] = { "s1", "2024-01", "a.b", "Ed25519", NULL };
	const char *bad_selectors[] = { "", "-s", "s-", "s_1", "a..b", "a.", "s 1", "s;1", NULL };
	g_autofree char *long_label = g_strnfill (64, 'a');
	g_autofree char *long_domain = g_strdup_printf ("%s.org", long_label);

	for (guint i = 0; good_domains[i] != NULL; i++)
		g_assert_true (dkim_domain_is_valid (good_domains[i]));
	for (guint i = 0; bad_domains[i] != NULL; i++)
		g_assert_false (dkim_domain_is_valid (bad_domains[i]));
	g_assert_false (dkim_domain_is_valid (long_domain));
	for (guint i = 0; good_selectors[i] != NULL; i++)
		g_assert_true (dkim_selector_is_valid (good_selectors[i]));
	for (guint i = 0; bad_selectors[i] != NULL; i++)
		g_assert_false (dkim_selector_is_valid (bad_selectors[i]));
}

static void
test_algorithm_names (void)
{
	DkimAlgorithm alg;

	g_assert_true (dkim_algorithm_from_string ("rsa-sha256", &alg));
	g_assert_cmpint (alg, ==, DKIM_ALG_RSA_SHA256);
	g_assert_true (dkim_algorithm_from_string ("ed25519-sha256", &alg));
	g_assert_cmpint (alg, ==, DKIM_ALG_ED25519_SHA256);
	g_assert_false (dkim_algorithm_from_string ("rsa-sha1", &alg));
	g_assert_cmpstr (dkim_algorithm_to_string (DKIM_ALG_ED25519_SHA256), ==, "ed25519-sha256");
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	make_keys ();
	g_test_add_func ("/dkim/key/generate-and-record", test_generate_and_record);
	g_test_add_func ("/dkim/key/sign", test_sign);
	g_test_add_func ("/dkim/key/refused", test_refused_keys);
	g_test_add_func ("/dkim/key/load-file", test_load_file);
	g_test_add_func ("/dkim/key/zone-line", test_zone_line);
	g_test_add_func ("/dkim/key/names", test_names);
	g_test_add_func ("/dkim/key/algorithm-names", test_algorithm_names);
	rc = g_test_run ();
	g_free (ed_pem);
	g_free (rsa_pem);
	return rc;
}
