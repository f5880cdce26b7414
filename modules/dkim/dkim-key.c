/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim-key.h"
#include "ep-error.h"

struct _DkimKey {
	gatomicrefcount ref;
	char *domain;
	char *selector;
	char *origin;
	DkimAlgorithm alg;
	guint bits;
	gnutls_privkey_t priv;
	/* GnuTLS does not promise that one key may sign on several threads
	 * at once */
	GMutex lock;
};

const char *
dkim_algorithm_to_string (DkimAlgorithm alg)
{
	switch (alg) {
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	}
	return "?";
}

gboolean
dkim_algorithm_from_string (const char *text, DkimAlgorithm *alg)
{
	if (g_strcmp0 (text, "rsa-sha256") == 0) {
		*alg = DKIM_ALG_RSA_SHA256;
		return TRUE;
	}
	if (g_strcmp0 (text, "ed25519-sha256") == 0) {
		*alg = DKIM_ALG_ED25519_SHA256;
		return TRUE;
	}
	return FALSE;
}

/* LDH labels separated by dots; returns the number of labels, 0 if invalid */
static guint
dkim_count_ldh_labels (const char *name)
{
	guint n = 0;
	const char *p = name;

	if (name == NULL || *name == '\0' || strlen (name) > 253)
		return 0;
	while (*p != '\0') {
		const char *start = p;
		while (g_ascii_isalnum (*p) || *p == '-')
			p++;
		if (p == start || p - start > 63 || *start == '-' || p[-1] == '-')
			return 0;
		n++;
		if (*p == '\0')
			break;
		if (*p != '.' || p[1] == '\0')
			return 0;
		p++;
	}
	return n;
}

gboolean
dkim_domain_is_valid (const char *domain)
{
	return dkim_count_ldh_labels (domain) >= 2;
}

gboolean
dkim_selector_is_valid (const char *selector)
{
	return dkim_count_ldh_labels (selector) >= 1;
}

static void
dkim_key_free (DkimKey *key)
{
	g_free (key->domain);
	g_free (key->selector);
	g_free (key->origin);
	if (key->priv != NULL)
		gnutls_privkey_deinit (key->priv);
	g_mutex_clear (&key->lock);
	g_free (key);
}

DkimKey *
dkim_key_ref (DkimKey *key)
{
	g_return_val_if_fail (key != NULL, NULL);
	g_atomic_ref_count_inc (&key->ref);
	return key;
}

void
dkim_key_unref (DkimKey *key)
{
	if (key != NULL && g_atomic_ref_count_dec (&key->ref))
		dkim_key_free (key);
}

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)

DkimKey *
dkim_key_new_from_pem (const char *domain, const char *selector, const char *pem, gsize len, const char *origin,
		       GError **error)
{
	g_auto (gnutls_x509_privkey_t) x509 = NULL;
	g_autoptr (DkimKey) key = NULL;
	gnutls_datum_t datum = { (unsigned char *) pem, (unsigned int) len };
	unsigned int bits = 0;
	int pk;
	int rc;

	g_return_val_if_fail (domain != NULL && selector != NULL && origin != NULL, NULL);

	if (len == 0 || len > DKIM_KEY_FILE_MAX) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: not a private key (%" G_GSIZE_FORMAT " bytes)",
			     origin, len);
		return NULL;
	}
	rc = gnutls_x509_privkey_init (&x509);
	if (rc >= 0)
		rc = gnutls_x509_privkey_import2 (x509, &datum, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "%s: not an unencrypted PEM private key (PKCS#8 or PKCS#1): %s", origin,
			     gnutls_strerror (rc));
		return NULL;
	}
	pk = gnutls_x509_privkey_get_pk_algorithm2 (x509, &bits);
	key = g_new0 (DkimKey, 1);
	g_atomic_ref_count_init (&key->ref);
	g_mutex_init (&key->lock);
	key->domain = g_ascii_strdown (domain, -1);
	key->selector = g_strdup (selector);
	key->origin = g_strdup (origin);
	key->bits = bits;
	if (pk == GNUTLS_PK_RSA) {
		key->alg = DKIM_ALG_RSA_SHA256;
		if (bits < DKIM_RSA_MIN_BITS) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "%s: the RSA key has %u bits; DKIM needs at least %u (RFC 8301)", origin, bits,
				     DKIM_RSA_MIN_BITS);
			return NULL;
		}
		if (bits > DKIM_RSA_MAX_BITS) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: the RSA key has %u bits, more than %u",
				     origin, bits, DKIM_RSA_MAX_BITS);
			return NULL;
		}
	} else if (pk == GNUTLS_PK_EDDSA_ED25519) {
		key->alg = DKIM_ALG_ED25519_SHA256;
	} else {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "%s: a %s key; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)", origin,
			     pk < 0 ? "unknown" : gnutls_pk_get_name ((gnutls_pk_algorithm_t) pk));
		return NULL;
	}
	rc = gnutls_x509_privkey_verify_params (x509);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: the key is inconsistent: %s", origin,
			     gnutls_strerror (rc));
		return NULL;
	}
	rc = gnutls_privkey_init (&key->priv);
	if (rc >= 0)
		rc = gnutls_privkey_import_x509 (key->priv, x509, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: %s", origin, gnutls_strerror (rc));
		return NULL;
	}
	x509 = NULL; /* the privkey owns it now */
	return g_steal_pointer (&key);
}

/* Reads at most DKIM_KEY_FILE_MAX bytes of an open file. */
static char *
dkim_key_read_fd (int fd, const char *path, gsize *len, GError **error)
{
	g_autofree char *buf = g_malloc (DKIM_KEY_FILE_MAX + 1);
	gsize n = 0;

	while (n <= DKIM_KEY_FILE_MAX) {
		ssize_t r = read (fd, buf + n, DKIM_KEY_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, "%s: cannot read: %s", path, g_strerror (saved));
			return NULL;
		}
		if (r == 0)
			break;
		n += (gsize) r;
	}
	if (n > DKIM_KEY_FILE_MAX) {
		memset (buf, 0, DKIM_KEY_FILE_MAX + 1);
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s: larger than %u bytes: not a key file", path,
			     DKIM_KEY_FILE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return g_steal_pointer (&buf);
}

DkimKey *
dkim_key_load_file (const char *domain, const char *selector, const char *path, const uid_t *allowed_uids,
		    guint n_allowed, GError **error)
{
	g_autofree char *pem = NULL;
	gsize len = 0;
	struct stat st;
	gboolean owner_ok = FALSE;
	DkimKey *key;
	int fd;

	fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int saved = errno;
		if (saved == ENOENT)
			g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "%s: no such file", path);
		else if (saved == ELOOP)
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s: is a symbolic link; name the key file itself", path);
		else
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, "%s: cannot open: %s", path, g_strerror (saved));
		return NULL;
	}
	if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: not a regular file", path);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: a private key must not be accessible to group or others (mode %04o); "
			     "run 'chmod 600 %s'",
			     path, (guint) (st.st_mode & 07777), path);
		return NULL;
	}
	for (guint i = 0; i < n_allowed; i++)
		owner_ok |= st.st_uid == allowed_uids[i];
	if (!owner_ok) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: owned by uid %u; a key file must belong to root or to the user the daemon runs as",
			     path, (guint) st.st_uid);
		return NULL;
	}
	pem = dkim_key_read_fd (fd, path, &len, error);
	close (fd);
	if (pem == NULL)
		return NULL;
	key = dkim_key_new_from_pem (domain, selector, pem, len, path, error);
	memset (pem, 0, len);
	return key;
}

const char *
dkim_key_get_domain (const DkimKey *key)
{
	return key->domain;
}

const char *
dkim_key_get_selector (const DkimKey *key)
{
	return key->selector;
}

const char *
dkim_key_get_origin (const DkimKey *key)
{
	return key->origin;
}

DkimAlgorithm
dkim_key_get_algorithm (const DkimKey *key)
{
	return key->alg;
}

guint
dkim_key_get_bits (const DkimKey *key)
{
	return key->bits;
}

GBytes *
dkim_key_sign (DkimKey *key, const guint8 *data, gsize len, GError **error)
{
	guint8 digest[32];
	gnutls_datum_t in = { (unsigned char *) data, (unsigned int) len };
	gnutls_datum_t sig = { NULL, 0 };
	gnutls_sign_algorithm_t algo = GNUTLS_SIGN_RSA_SHA256;
	GBytes *out;
	int rc;

	if (len > G_MAXUINT) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_LIMIT, "the header to sign is too large");
		return NULL;
	}
	if (key->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data */
		rc = gnutls_hash_fast (GNUTLS_DIG_SHA256, data, len, digest);
		if (rc < 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "SHA-256: %s", gnutls_strerror (rc));
			return NULL;
		}
		in.data = digest;
		in.size = sizeof (digest);
		algo = GNUTLS_SIGN_EDDSA_ED25519;
	}
	g_mutex_lock (&key->lock);
	rc = gnutls_privkey_sign_data2 (key->priv, algo, 0, &in, &sig);
	g_mutex_unlock (&key->lock);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "signing with %s: %s", key->origin,
			     gnutls_strerror (rc));
		return NULL;
	}
	out = g_bytes_new (sig.data, sig.size);
	gnutls_free (sig.data);
	return out;
}

char *
dkim_key_get_dns_record (DkimKey *key, GError **error)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	g_autofree char *p = NULL;
	int rc;

	rc = gnutls_pubkey_init (&pub);
	if (rc >= 0)
		rc = gnutls_pubkey_import_privkey (pub, key->priv, 0, 0);
	if (rc >= 0) {
		if (key->alg == DKIM_ALG_ED25519_SHA256) {
			rc = gnutls_pubkey_export_ecc_raw2 (pub, &curve, &der, NULL, 0);
			if (rc >= 0 && der.size != 32)
				rc = GNUTLS_E_INVALID_REQUEST;
		} else {
			rc = gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, &der);
		}
	}
	if (pub != NULL)
		gnutls_pubkey_deinit (pub);
	if (rc < 0) {
		gnutls_free (der.data);
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "%s: cannot export the public key: %s", key->origin,
			     gnutls_strerror (rc));
		return NULL;
	}
	p = g_base64_encode (der.data, der.size);
	gnutls_free (der.data);
	return g_strdup_printf ("v=DKIM1; k=%s; p=%s", key->alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa", p);
}

char *
dkim_dns_zone_line (const char *selector, const char *domain, const char *record)
{
	GString *out = g_string_new (NULL);
	gsize len = strlen (record);

	g_string_append_printf (out, "%s._domainkey.%s. IN TXT", selector, domain);
	/* RFC 1035 §3.3: a character-string holds 255 octets at most; the
	 * record has no quote or backslash to escape */
	for (gsize i = 0; i < len; i += 255) {
		g_string_append (out, " \"");
		g_string_append_len (out, record + i, (gssize) MIN (255, len - i));
		g_string_append_c (out, '"');
	}
	if (len == 0)
		g_string_append (out, " \"\"");
	return g_string_free (out, FALSE);
}

DkimKey *
dkim_key_generate (const char *domain, const char *selector, DkimAlgorithm alg, guint bits, char **pem,
		   GError **error)
{
	g_auto (gnutls_x509_privkey_t) x509 = NULL;
	gnutls_datum_t out = { NULL, 0 };
	DkimKey *key;
	int rc;

	if (alg == DKIM_ALG_RSA_SHA256 && (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS)) {
		g_set_error (error, EP_ERROR, EP_ERROR_USAGE, "RSA keys have %u to %u bits, not %u", DKIM_RSA_MIN_BITS,
			     DKIM_RSA_MAX_BITS, bits);
		return NULL;
	}
	rc = gnutls_x509_privkey_init (&x509);
	if (rc >= 0) {
		if (alg == DKIM_ALG_ED25519_SHA256)
			rc = gnutls_x509_privkey_generate2 (x509, GNUTLS_PK_EDDSA_ED25519,
							    GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519), 0, NULL, 0);
		else
			rc = gnutls_x509_privkey_generate2 (x509, GNUTLS_PK_RSA, bits, 0, NULL, 0);
	}
	if (rc >= 0)
		rc = gnutls_x509_privkey_export2_pkcs8 (x509, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out);
	if (rc < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "cannot generate a %s key: %s",
			     dkim_algorithm_to_string (alg), gnutls_strerror (rc));
		return NULL;
	}
	key = dkim_key_new_from_pem (domain, selector, (const char *) out.data, out.size, "new key", error);
	if (key != NULL)
		*pem = g_strndup ((const char *) out.data, out.size);
	memset (out.data, 0, out.size);
	gnutls_free (out.data);
	return key;
}
