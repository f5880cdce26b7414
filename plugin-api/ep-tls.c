/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep-error.h"
#include "ep-log.h"
#include "ep-tls-private.h"

/*
 * TLS 1.2 and 1.3 only; AEAD ciphers only; forward secrecy only (ECDHE
 * for TLS 1.2, TLS 1.3 has nothing else).
 */
#define EP_TLS_PRIORITY                                                                            \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                              \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"                                \
	"-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/* the client offers the same; the server's choice wins there anyway */
#define EP_TLS_CLIENT_PRIORITY                                                                     \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                              \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"                                \
	"-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

#define EP_TLS_MAX_FILE_SIZE (1024 * 1024)

typedef struct {
	char **names; /* lower case, "*.example.org" for a wildcard; NULL for the default */
	char *cert_file;
	char *key_file;
	gnutls_certificate_credentials_t creds;
} EpTlsCert;

struct _EpTlsContext {
	GObject parent_instance;

	gnutls_priority_t priority;
	gnutls_datum_t ticket_key;
	GPtrArray *certs; /* of EpTlsCert, the default first */

	/* client side */
	gboolean client;
	gnutls_certificate_credentials_t trust;
};

G_DEFINE_TYPE (EpTlsContext, ep_tls_context, G_TYPE_OBJECT)

static void
ep_tls_cert_free (EpTlsCert *cert)
{
	g_strfreev (cert->names);
	g_free (cert->cert_file);
	g_free (cert->key_file);
	if (cert->creds != NULL)
		gnutls_certificate_free_credentials (cert->creds);
	g_free (cert);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpTlsCert, ep_tls_cert_free)

static void
ep_tls_context_finalize (GObject *object)
{
	EpTlsContext *self = EP_TLS_CONTEXT (object);

	g_ptr_array_unref (self->certs);
	if (self->priority != NULL)
		gnutls_priority_deinit (self->priority);
	if (self->ticket_key.data != NULL) {
		gnutls_memset (self->ticket_key.data, 0, self->ticket_key.size);
		gnutls_free (self->ticket_key.data);
	}
	if (self->trust != NULL)
		gnutls_certificate_free_credentials (self->trust);
	G_OBJECT_CLASS (ep_tls_context_parent_class)->finalize (object);
}

static void
ep_tls_context_class_init (EpTlsContextClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_tls_context_finalize;
}

static void
ep_tls_context_init (EpTlsContext *self)
{
	self->certs = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_tls_cert_free);
}

const char *
ep_tls_version_name (gnutls_protocol_t version)
{
	switch (version) {
	case GNUTLS_TLS1_3:
		return "TLSv1.3";
	case GNUTLS_TLS1_2:
		return "TLSv1.2";
	case GNUTLS_TLS1_1:
		return "TLSv1.1";
	case GNUTLS_TLS1_0:
		return "TLSv1";
	case GNUTLS_SSL3:
		return "SSLv3";
	default:
		return NULL;
	}
}

/* ---- loading and checking ----------------------------------------------- */

/* The file's contents, NUL-terminated, in @out (free with ep_tls_datum_clear) */
static gboolean
ep_tls_read_file (const char *path, gnutls_datum_t *out, GError **error)
{
	struct stat st;
	g_autofree guint8 *buf = NULL;
	gsize done = 0;
	int fd;

	fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot read: %s", path, g_strerror (saved));
		return FALSE;
	}
	if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: not a regular file", path);
		return FALSE;
	}
	if (st.st_size > EP_TLS_MAX_FILE_SIZE) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: larger than %d bytes, not a PEM file", path,
			     EP_TLS_MAX_FILE_SIZE);
		return FALSE;
	}
	buf = g_malloc ((gsize) st.st_size + 1);
	while (done < (gsize) st.st_size) {
		ssize_t n = read (fd, buf + done, (gsize) st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;
			close (fd);
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot read: %s", path,
				     g_strerror (saved));
			return FALSE;
		}
		done += (gsize) n;
	}
	close (fd);
	buf[done] = '\0';
	out->data = g_steal_pointer (&buf);
	out->size = (unsigned int) done;
	return TRUE;
}

static void
ep_tls_datum_clear (gnutls_datum_t *datum)
{
	if (datum->data == NULL)
		return;
	/* key material does not linger in freed memory */
	gnutls_memset (datum->data, 0, datum->size);
	g_free (datum->data);
	datum->data = NULL;
	datum->size = 0;
}

static char *
ep_tls_format_time (time_t t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc ((gint64) t);
	if (dt == NULL)
		return g_strdup ("?");
	return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S UTC");
}

static void
ep_tls_free_crts (gnutls_x509_crt_t *crts, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		gnutls_x509_crt_deinit (crts[i]);
	gnutls_free (crts);
}

/* Parses the chain, checks the leaf's validity period, returns the leaf's key id. */
static gboolean
ep_tls_check_cert (const char *cert_file, const gnutls_datum_t *pem, guint8 *key_id, size_t *key_id_len,
		   GError **error)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;
	time_t now = time (NULL);
	time_t activation, expiration;
	int r;

	if (strstr ((const char *) pem->data, "-----BEGIN CERTIFICATE-----") == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: no PEM certificate in the file", cert_file);
		return FALSE;
	}
	r = gnutls_x509_crt_list_import2 (&crts, &n, pem, GNUTLS_X509_FMT_PEM,
					  GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (r == GNUTLS_E_CERTIFICATE_LIST_UNSORTED) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: the certificates are out of order: the server's certificate comes first, "
			     "each followed by the one that issued it",
			     cert_file);
		return FALSE;
	}
	if (r < 0 || n == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot parse the certificate: %s", cert_file,
			     r < 0 ? gnutls_strerror (r) : "no certificate found");
		if (r >= 0)
			ep_tls_free_crts (crts, n);
		return FALSE;
	}
	activation = gnutls_x509_crt_get_activation_time (crts[0]);
	expiration = gnutls_x509_crt_get_expiration_time (crts[0]);
	if (activation != (time_t) -1 && now < activation) {
		g_autofree char *when = ep_tls_format_time (activation);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: the certificate is not valid before %s",
			     cert_file, when);
		ep_tls_free_crts (crts, n);
		return FALSE;
	}
	if (expiration != (time_t) -1 && now > expiration) {
		g_autofree char *when = ep_tls_format_time (expiration);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: the certificate expired on %s", cert_file,
			     when);
		ep_tls_free_crts (crts, n);
		return FALSE;
	}
	r = gnutls_x509_crt_get_key_id (crts[0], GNUTLS_KEYID_USE_SHA256, key_id, key_id_len);
	ep_tls_free_crts (crts, n);
	if (r < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot read the certificate's public key: %s",
			     cert_file, gnutls_strerror (r));
		return FALSE;
	}
	return TRUE;
}

/* Parses the key and checks it belongs to the certificate whose key id is given. */
static gboolean
ep_tls_check_key (const char *key_file, const gnutls_datum_t *pem, const char *cert_file,
		  const guint8 *cert_key_id, size_t cert_key_id_len, GError **error)
{
	gnutls_privkey_t key = NULL;
	gnutls_pubkey_t pub = NULL;
	guint8 key_id[64];
	size_t key_id_len = sizeof (key_id);
	gboolean ok = FALSE;
	int r;

	if (strstr ((const char *) pem->data, "PRIVATE KEY-----") == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: no PEM private key in the file", key_file);
		return FALSE;
	}
	gnutls_privkey_init (&key);
	gnutls_pubkey_init (&pub);
	r = gnutls_privkey_import_x509_raw (key, pem, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0 && strstr ((const char *) pem->data, "ENCRYPTED") != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: the private key is encrypted; give the key without a passphrase "
			     "(and readable by root only)",
			     key_file);
	} else if (r < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot parse the private key: %s", key_file,
			     gnutls_strerror (r));
	} else if ((r = gnutls_pubkey_import_privkey (pub, key, 0, 0)) < 0 ||
		   (r = gnutls_pubkey_get_key_id (pub, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_len)) < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot read the private key: %s", key_file,
			     gnutls_strerror (r));
	} else if (key_id_len != cert_key_id_len || memcmp (key_id, cert_key_id, key_id_len) != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: the private key does not belong to the certificate in %s", key_file, cert_file);
	} else {
		ok = TRUE;
	}
	gnutls_pubkey_deinit (pub);
	gnutls_privkey_deinit (key);
	return ok;
}

static EpTlsCert *
ep_tls_cert_load (const char *cert_file, const char *key_file, GError **error)
{
	g_autoptr(EpTlsCert) cert = g_new0 (EpTlsCert, 1);
	gnutls_datum_t cert_pem = { NULL, 0 };
	gnutls_datum_t key_pem = { NULL, 0 };
	guint8 key_id[64];
	size_t key_id_len = sizeof (key_id);
	gboolean ok;
	int r;

	if (!ep_tls_read_file (cert_file, &cert_pem, error))
		return NULL;
	if (!ep_tls_read_file (key_file, &key_pem, error)) {
		ep_tls_datum_clear (&cert_pem);
		return NULL;
	}
	ok = ep_tls_check_cert (cert_file, &cert_pem, key_id, &key_id_len, error) &&
	     ep_tls_check_key (key_file, &key_pem, cert_file, key_id, key_id_len, error);
	if (ok) {
		gnutls_certificate_allocate_credentials (&cert->creds);
		r = gnutls_certificate_set_x509_key_mem2 (cert->creds, &cert_pem, &key_pem, GNUTLS_X509_FMT_PEM,
							  NULL, 0);
		if (r < 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s, %s: cannot use the certificate: %s",
				     cert_file, key_file, gnutls_strerror (r));
			ok = FALSE;
		}
	}
	ep_tls_datum_clear (&cert_pem);
	ep_tls_datum_clear (&key_pem);
	if (!ok)
		return NULL;
	cert->cert_file = g_strdup (cert_file);
	cert->key_file = g_strdup (key_file);
	return g_steal_pointer (&cert);
}

/* ---- SNI ---------------------------------------------------------------- */

static gboolean
ep_tls_name_matches (const char *pattern, const char *name)
{
	const char *dot;

	if (g_ascii_strcasecmp (pattern, name) == 0)
		return TRUE;
	if (pattern[0] != '*' || pattern[1] != '.')
		return FALSE;
	/* "*.example.org" stands for exactly one label before example.org */
	dot = strchr (name, '.');
	return dot != NULL && dot != name && g_ascii_strcasecmp (dot + 1, pattern + 2) == 0;
}

static EpTlsCert *
ep_tls_context_lookup (EpTlsContext *self, const char *name)
{
	/* exact names first, then wildcards */
	for (guint pass = 0; pass < 2; pass++) {
		for (guint i = 1; i < self->certs->len; i++) {
			EpTlsCert *cert = g_ptr_array_index (self->certs, i);
			for (guint j = 0; cert->names[j] != NULL; j++) {
				gboolean wildcard = cert->names[j][0] == '*';
				if (wildcard == (pass == 1) && ep_tls_name_matches (cert->names[j], name))
					return cert;
			}
		}
	}
	return NULL;
}

static int
ep_tls_post_client_hello (gnutls_session_t session)
{
	EpTlsContext *self = gnutls_session_get_ptr (session);
	char name[256];
	size_t len = sizeof (name);
	unsigned int type = 0;
	EpTlsCert *cert;

	if (gnutls_server_name_get (session, name, &len, &type, 0) != GNUTLS_E_SUCCESS ||
	    type != GNUTLS_NAME_DNS || len == 0 || len >= sizeof (name))
		return 0;
	name[len] = '\0';
	if (name[len - 1] == '.')
		name[len - 1] = '\0';
	cert = ep_tls_context_lookup (self, name);
	if (cert != NULL)
		gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, cert->creds);
	return 0;
}

gboolean
ep_tls_context_setup_session (EpTlsContext *self, gnutls_session_t session, GError **error)
{
	EpTlsCert *def;
	int r;

	g_return_val_if_fail (EP_IS_TLS_CONTEXT (self), FALSE);
	g_return_val_if_fail (!self->client, FALSE);

	def = g_ptr_array_index (self->certs, 0);
	if ((r = gnutls_priority_set (session, self->priority)) < 0 ||
	    (r = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, def->creds)) < 0 ||
	    (r = gnutls_session_ticket_enable_server (session, &self->ticket_key)) < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "cannot set up the TLS session: %s",
			     gnutls_strerror (r));
		return FALSE;
	}
	gnutls_session_set_ptr (session, self);
	if (self->certs->len > 1)
		gnutls_handshake_set_post_client_hello_function (session, ep_tls_post_client_hello);
	return TRUE;
}

/* ---- public ------------------------------------------------------------- */

/**
 * ep_tls_context_new:
 *
 * Loads and checks the default certificate and key.  Errors are
 * EP_ERROR_CONFIG and start with the name of the file at fault.
 */
EpTlsContext *
ep_tls_context_new (const char *cert_file, const char *key_file, GError **error)
{
	g_autoptr(EpTlsContext) self = NULL;
	EpTlsCert *cert;
	const char *err_pos = NULL;
	int r;

	g_return_val_if_fail (cert_file != NULL, NULL);
	g_return_val_if_fail (key_file != NULL, NULL);

	cert = ep_tls_cert_load (cert_file, key_file, error);
	if (cert == NULL)
		return NULL;
	self = g_object_new (EP_TYPE_TLS_CONTEXT, NULL);
	g_ptr_array_add (self->certs, cert);
	r = gnutls_priority_init2 (&self->priority, EP_TLS_PRIORITY, &err_pos, 0);
	if (r < 0) {
		self->priority = NULL;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "the TLS priority string is refused at '%s': %s",
			     err_pos != NULL ? err_pos : "?", gnutls_strerror (r));
		return NULL;
	}
	/* tickets are encrypted with a key that lives in this process only:
	 * a restart invalidates them, which costs one full handshake */
	r = gnutls_session_ticket_key_generate (&self->ticket_key);
	if (r < 0) {
		self->ticket_key.data = NULL;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "cannot make a session ticket key: %s",
			     gnutls_strerror (r));
		return NULL;
	}
	return g_steal_pointer (&self);
}

/**
 * ep_tls_context_add_sni:
 * @names: host names this certificate serves; "*.example.org" matches one
 *   label in front of example.org.  Exact names win over wildcards, and
 *   earlier certificates over later ones.
 */
gboolean
ep_tls_context_add_sni (EpTlsContext *self, const char *const *names, const char *cert_file,
			const char *key_file, GError **error)
{
	EpTlsCert *cert;
	g_autoptr(GStrvBuilder) builder = NULL;

	g_return_val_if_fail (EP_IS_TLS_CONTEXT (self), FALSE);
	g_return_val_if_fail (cert_file != NULL && key_file != NULL, FALSE);

	if (names == NULL || names[0] == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: no server names given for the certificate",
			     cert_file);
		return FALSE;
	}
	cert = ep_tls_cert_load (cert_file, key_file, error);
	if (cert == NULL)
		return FALSE;
	builder = g_strv_builder_new ();
	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree char *lower = g_ascii_strdown (names[i], -1);
		g_strv_builder_add (builder, lower);
	}
	cert->names = g_strv_builder_end (builder);
	g_ptr_array_add (self->certs, cert);
	return TRUE;
}

static void
ep_tls_prefix_error (GError **error, const char *filename, guint line, const char *key)
{
	if (filename != NULL)
		g_prefix_error (error, "%s:%u: %s: ", filename, line, key);
}

EpTlsContext *
ep_tls_context_new_from_config (EpConfig *config, GError **error)
{
	g_autoptr(EpTlsContext) self = NULL;
	const char *cert_file = ep_config_get_tls_cert_file (config);
	const char *key_file = ep_config_get_tls_key_file (config);
	GPtrArray *sni = ep_config_get_tls_sni (config);

	g_return_val_if_fail (EP_IS_CONFIG (config), NULL);

	if (cert_file == NULL || key_file == NULL) {
		if (sni != NULL && sni->len > 0) {
			EpConfigTlsSni *first = g_ptr_array_index (sni, 0);
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: tls.sni[1]: [[tls.sni]] needs the default certificate "
				     "(cert_file and key_file in [tls])",
				     first->filename, first->line);
		}
		return NULL;
	}
	self = ep_tls_context_new (cert_file, key_file, error);
	if (self == NULL) {
		EpTomlValue *where = ep_config_get_section (config, "tls");
		if (where != NULL)
			ep_tls_prefix_error (error, ep_toml_value_get_filename (where),
					     ep_toml_value_get_line (where), "tls");
		return NULL;
	}
	for (guint i = 0; sni != NULL && i < sni->len; i++) {
		EpConfigTlsSni *entry = g_ptr_array_index (sni, i);
		if (!ep_tls_context_add_sni (self, (const char *const *) entry->names, entry->cert_file,
					     entry->key_file, error)) {
			g_autofree char *key = g_strdup_printf ("tls.sni[%u]", i + 1);
			ep_tls_prefix_error (error, entry->filename, entry->line, key);
			return NULL;
		}
	}
	return g_steal_pointer (&self);
}

/* ---- client side -------------------------------------------------------- */

EpTlsContext *
ep_tls_context_new_client (const char *ca_file, GError **error)
{
	g_autoptr(EpTlsContext) self = g_object_new (EP_TYPE_TLS_CONTEXT, NULL);
	const char *err_pos = NULL;
	int r;

	self->client = TRUE;
	r = gnutls_priority_init2 (&self->priority, EP_TLS_CLIENT_PRIORITY, &err_pos, 0);
	if (r < 0) {
		self->priority = NULL;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "the TLS priority string is refused at '%s': %s",
			     err_pos != NULL ? err_pos : "?", gnutls_strerror (r));
		return NULL;
	}
	r = gnutls_certificate_allocate_credentials (&self->trust);
	if (r < 0) {
		self->trust = NULL;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "cannot allocate TLS credentials: %s",
			     gnutls_strerror (r));
		return NULL;
	}
	if (ca_file != NULL) {
		gnutls_datum_t pem = { NULL, 0 };

		if (!ep_tls_read_file (ca_file, &pem, error))
			return NULL;
		if (strstr ((const char *) pem.data, "-----BEGIN CERTIFICATE-----") == NULL) {
			ep_tls_datum_clear (&pem);
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: no PEM certificate in the file", ca_file);
			return NULL;
		}
		r = gnutls_certificate_set_x509_trust_mem (self->trust, &pem, GNUTLS_X509_FMT_PEM);
		ep_tls_datum_clear (&pem);
		if (r <= 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: cannot use the CA certificates: %s",
				     ca_file, r < 0 ? gnutls_strerror (r) : "none could be read");
			return NULL;
		}
	} else {
		/* a system without trust anchors fails every verification,
		 * which is what it should do: nothing to add here */
		r = gnutls_certificate_set_x509_system_trust (self->trust);
		if (r < 0)
			ep_log_warning ("tls", NULL, "the system trust store cannot be loaded: %s",
					gnutls_strerror (r));
	}
	return g_steal_pointer (&self);
}

gboolean
ep_tls_context_is_client (EpTlsContext *self)
{
	g_return_val_if_fail (EP_IS_TLS_CONTEXT (self), FALSE);
	return self->client;
}

gboolean
ep_tls_context_setup_client_session (EpTlsContext *self, gnutls_session_t session, const char *server_name,
				     gboolean verify, GError **error)
{
	int r;

	g_return_val_if_fail (EP_IS_TLS_CONTEXT (self), FALSE);
	g_return_val_if_fail (self->client, FALSE);

	if (verify && (server_name == NULL || server_name[0] == '\0')) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "checking the server's certificate needs the name it must carry");
		return FALSE;
	}
	if ((r = gnutls_priority_set (session, self->priority)) < 0 ||
	    (r = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, self->trust)) < 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "cannot set up the TLS session: %s",
			     gnutls_strerror (r));
		return FALSE;
	}
	/* RFC 6066 §3: no IP address in SNI */
	if (server_name != NULL && server_name[0] != '\0' && !g_hostname_is_ip_address (server_name)) {
		r = gnutls_server_name_set (session, GNUTLS_NAME_DNS, server_name, strlen (server_name));
		if (r < 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "cannot send the server name '%s': %s",
				     server_name, gnutls_strerror (r));
			return FALSE;
		}
	}
	if (verify)
		gnutls_session_set_verify_cert (session, server_name, 0);
	return TRUE;
}
