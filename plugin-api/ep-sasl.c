/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SASL server framework and the simple mechanisms: PLAIN (RFC 4616),
 * LOGIN, OAUTHBEARER (RFC 7628) and XOAUTH2.  SCRAM lives in
 * ep-sasl-scram.c.
 */
#include "config.h"

#include <gcrypt.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl-private.h"

/* ---- helpers shared by the SASL files ---- */

gboolean
ep_sasl_gcrypt_init (GError **error)
{
	static gsize once = 0;
	static gboolean ok = FALSE;

	if (g_once_init_enter (&once)) {
		if (gcry_control (GCRYCTL_INITIALIZATION_FINISHED_P)) {
			ok = TRUE;
		} else if (gcry_check_version ("1.10.0") != NULL) {
			gcry_control (GCRYCTL_DISABLE_SECMEM, 0);
			gcry_control (GCRYCTL_INITIALIZATION_FINISHED, 0);
			ok = TRUE;
		}
		g_once_init_leave (&once, 1);
	}
	if (!ok)
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INTERNAL, "libgcrypt 1.10 or newer is needed");
	return ok;
}

void
ep_sasl_wipe_free (char *s)
{
	if (s == NULL)
		return;
	explicit_bzero (s, strlen (s));
	g_free (s);
}

void
ep_sasl_hmac_sha256 (const guint8 *key, gsize key_len, const void *data, gsize len, guint8 out[EP_SCRAM_KEY_LEN])
{
	gcry_md_hd_t hd = NULL;

	if (!ep_sasl_gcrypt_init (NULL) || gcry_md_open (&hd, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC) != 0 ||
	    gcry_md_setkey (hd, key, key_len) != 0) {
		/* cannot happen with a working libgcrypt: fail closed with
		 * an output nobody can predict */
		if (hd != NULL)
			gcry_md_close (hd);
		gcry_create_nonce (out, EP_SCRAM_KEY_LEN);
		return;
	}
	gcry_md_write (hd, data, len);
	memcpy (out, gcry_md_read (hd, GCRY_MD_SHA256), EP_SCRAM_KEY_LEN);
	gcry_md_close (hd);
}

gboolean
ep_sasl_const_equal (const guint8 *a, const guint8 *b, gsize len)
{
	volatile guint8 diff = 0;

	for (gsize i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static gboolean
ep_sasl_is_b64_char (char c)
{
	return g_ascii_isalnum (c) || c == '+' || c == '/';
}

GBytes *
ep_sasl_base64_decode_strict (const char *s, gsize len)
{
	g_autofree char *copy = NULL;
	guchar *raw;
	gsize pad = 0, out_len = 0;

	if (len % 4 != 0)
		return NULL;
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	for (gsize i = 0; i < len - pad; i++) {
		if (!ep_sasl_is_b64_char (s[i]))
			return NULL;
	}
	if (len == 0)
		return g_bytes_new (NULL, 0);
	copy = g_strndup (s, len);
	raw = g_base64_decode (copy, &out_len);
	return g_bytes_new_take (raw, out_len);
}

gboolean
ep_sasl_identity_valid (const char *s, gsize len)
{
	const char *end = s + len;

	if (len == 0 || len > EP_SASL_MAX_IDENTITY || !g_utf8_validate_len (s, len, NULL))
		return FALSE;
	for (const char *p = s; p < end; p = g_utf8_next_char (p)) {
		gunichar c = g_utf8_get_char (p);
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
			return FALSE;
	}
	return TRUE;
}

char *
ep_sasl_saslname_decode (const char *s, gsize len)
{
	g_autoptr(GString) out = g_string_sized_new (len);

	for (gsize i = 0; i < len; i++) {
		if (s[i] == ',' || s[i] == '\0')
			return NULL;
		if (s[i] != '=') {
			g_string_append_c (out, s[i]);
			continue;
		}
		if (i + 2 >= len)
			return NULL;
		if (s[i + 1] == '2' && s[i + 2] == 'C')
			g_string_append_c (out, ',');
		else if (s[i + 1] == '3' && s[i + 2] == 'D')
			g_string_append_c (out, '=');
		else
			return NULL;
		i += 2;
	}
	if (!ep_sasl_identity_valid (out->str, out->len))
		return NULL;
	return g_string_free (g_steal_pointer (&out), FALSE);
}

gsize
ep_sasl_gs2_header_parse (const char *data, gsize len, char *flag, char **cb_name, char **authzid, GError **error)
{
	const char *comma;
	gsize pos;

	*cb_name = NULL;
	*authzid = NULL;
	if (len < 3) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: too short");
		return 0;
	}
	if (data[0] == 'n' || data[0] == 'y') {
		if (data[1] != ',') {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: bad flag");
			return 0;
		}
		*flag = data[0];
		pos = 2;
	} else if (data[0] == 'p' && data[1] == '=') {
		/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
		comma = memchr (data + 2, ',', len - 2);
		if (comma == NULL || comma == data + 2) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: bad channel-binding name");
			return 0;
		}
		for (const char *p = data + 2; p < comma; p++) {
			if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-') {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
						     "GS2 header: bad channel-binding name");
				return 0;
			}
		}
		*flag = 'p';
		*cb_name = g_strndup (data + 2, comma - (data + 2));
		pos = comma - data + 1;
	} else {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: bad flag");
		return 0;
	}
	/* [ "a=" saslname ] "," */
	if (pos < len && data[pos] == ',')
		return pos + 1;
	if (pos + 2 <= len && data[pos] == 'a' && data[pos + 1] == '=') {
		comma = memchr (data + pos + 2, ',', len - pos - 2);
		if (comma != NULL)
			*authzid = ep_sasl_saslname_decode (data + pos + 2, comma - (data + pos + 2));
		if (*authzid == NULL) {
			g_clear_pointer (cb_name, g_free);
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: bad authzid");
			return 0;
		}
		return comma - data + 1;
	}
	g_clear_pointer (cb_name, g_free);
	g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "GS2 header: bad authzid");
	return 0;
}

/* ---- SASLprep (subset, see ep-sasl.h) ---- */

static gboolean
ep_sasl_prep_is_space (gunichar c)
{
	/* RFC 3454 C.1.2 */
	return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200b) || c == 0x202f || c == 0x205f ||
	       c == 0x3000;
}

static gboolean
ep_sasl_prep_is_nothing (gunichar c)
{
	/* RFC 3454 B.1 */
	return c == 0xad || c == 0x34f || c == 0x1806 || (c >= 0x180b && c <= 0x180d) || c == 0x200b ||
	       c == 0x200c || c == 0x200d || c == 0x2060 || (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff;
}

static gboolean
ep_sasl_prep_is_prohibited (gunichar c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) /* C.2.1, C.2.2 */
		return TRUE;
	if (c == 0x6dd || c == 0x70f || c == 0x180e || c == 0x200c || c == 0x200d || c == 0x2028 || c == 0x2029 ||
	    (c >= 0x2060 && c <= 0x2063) || (c >= 0x206a && c <= 0x206f) || c == 0xfeff ||
	    (c >= 0xfff9 && c <= 0xfffd) || (c >= 0x1d173 && c <= 0x1d17a)) /* C.2.2, C.6 */
		return TRUE;
	if ((c >= 0xe000 && c <= 0xf8ff) || (c >= 0xf0000 && c <= 0xffffd) || (c >= 0x100000 && c <= 0x10fffd))
		return TRUE; /* C.3 */
	if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe) /* C.4 */
		return TRUE;
	if (c >= 0xd800 && c <= 0xdfff) /* C.5 */
		return TRUE;
	if (c >= 0x2ff0 && c <= 0x2ffb) /* C.7 */
		return TRUE;
	if (c == 0x340 || c == 0x341 || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e)) /* C.8 */
		return TRUE;
	if (c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f)) /* C.9 */
		return TRUE;
	return FALSE;
}

char *
ep_sasl_prep (const char *in, GError **error)
{
	g_autoptr(GString) mapped = NULL;
	g_autofree char *norm = NULL;
	gboolean ascii = TRUE;

	if (!g_utf8_validate (in, -1, NULL)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "SASLprep: not valid UTF-8");
		return NULL;
	}
	for (const char *p = in; *p != '\0'; p++) {
		if ((guchar) *p < 0x20 || (guchar) *p >= 0x7f) {
			ascii = FALSE;
			break;
		}
	}
	/* printable ASCII is its own SASLprep */
	if (ascii)
		return g_strdup (in);

	mapped = g_string_sized_new (strlen (in));
	for (const char *p = in; *p != '\0'; p = g_utf8_next_char (p)) {
		gunichar c = g_utf8_get_char (p);
		if (ep_sasl_prep_is_space (c))
			g_string_append_c (mapped, ' ');
		else if (!ep_sasl_prep_is_nothing (c))
			g_string_append_unichar (mapped, c);
	}
	norm = g_utf8_normalize (mapped->str, mapped->len, G_NORMALIZE_NFKC);
	explicit_bzero (mapped->str, mapped->len);
	if (norm == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "SASLprep: cannot normalize");
		return NULL;
	}
	for (const char *p = norm; *p != '\0'; p = g_utf8_next_char (p)) {
		if (ep_sasl_prep_is_prohibited (g_utf8_get_char (p))) {
			explicit_bzero (norm, strlen (norm));
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "SASLprep: prohibited character");
			return NULL;
		}
	}
	return g_steal_pointer (&norm);
}

/* ---- the framework ---- */

static const struct {
	const char *name;
	EpSaslMech mech;
} ep_sasl_mechs[] = {
	{ "PLAIN", EP_SASL_MECH_PLAIN },
	{ "LOGIN", EP_SASL_MECH_LOGIN },
	{ "SCRAM-SHA-256", EP_SASL_MECH_SCRAM_SHA_256 },
	{ "SCRAM-SHA-256-PLUS", EP_SASL_MECH_SCRAM_SHA_256_PLUS },
	{ "OAUTHBEARER", EP_SASL_MECH_OAUTHBEARER },
	{ "XOAUTH2", EP_SASL_MECH_XOAUTH2 },
};

GStrv
ep_sasl_mechanisms_available (gboolean tls_active, gboolean has_channel_binding, gboolean oauth_configured)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

	if (tls_active) {
		g_strv_builder_add_many (b, "PLAIN", "LOGIN", "SCRAM-SHA-256", NULL);
		if (has_channel_binding)
			g_strv_builder_add (b, "SCRAM-SHA-256-PLUS");
		if (oauth_configured)
			g_strv_builder_add_many (b, "OAUTHBEARER", "XOAUTH2", NULL);
	}
	return g_strv_builder_end (b);
}

EpSaslServer *
ep_sasl_server_new (const char *mechanism, const EpSaslServerSettings *settings, GError **error)
{
	g_autoptr(EpSaslServer) self = NULL;
	gsize i;

	g_return_val_if_fail (mechanism != NULL, NULL);
	g_return_val_if_fail (settings != NULL, NULL);

	for (i = 0; i < G_N_ELEMENTS (ep_sasl_mechs); i++) {
		if (g_ascii_strcasecmp (mechanism, ep_sasl_mechs[i].name) == 0)
			break;
	}
	if (i == G_N_ELEMENTS (ep_sasl_mechs)) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "unknown SASL mechanism \"%s\"", mechanism);
		return NULL;
	}
	if (!settings->tls_active && !settings->allow_plaintext) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "%s needs TLS", ep_sasl_mechs[i].name);
		return NULL;
	}
	if (ep_sasl_mechs[i].mech == EP_SASL_MECH_SCRAM_SHA_256_PLUS &&
	    (settings->channel_binding == NULL || g_bytes_get_size (settings->channel_binding) == 0)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
				     "SCRAM-SHA-256-PLUS needs tls-exporter channel-binding data");
		return NULL;
	}
	if (!ep_sasl_gcrypt_init (error))
		return NULL;
	self = g_new0 (EpSaslServer, 1);
	self->mech = ep_sasl_mechs[i].mech;
	self->mech_name = ep_sasl_mechs[i].name;
	self->state = EP_SASL_STATE_START;
	if (settings->channel_binding != NULL && g_bytes_get_size (settings->channel_binding) > 0)
		self->channel_binding = g_bytes_ref (settings->channel_binding);
	self->oauth_scope = g_strdup (settings->oauth_scope);
	self->oauth_openid_configuration = g_strdup (settings->oauth_openid_configuration);
	self->fake_iterations =
		settings->scram_fake_iterations != 0 ? settings->scram_fake_iterations : EP_SCRAM_DEFAULT_ITERATIONS;
	return g_steal_pointer (&self);
}

void
ep_sasl_server_free (EpSaslServer *self)
{
	if (self == NULL)
		return;
	g_clear_pointer (&self->channel_binding, g_bytes_unref);
	g_free (self->oauth_scope);
	g_free (self->oauth_openid_configuration);
	g_free (self->authcid);
	g_free (self->authzid);
	ep_sasl_wipe_free (self->secret);
	g_free (self->account);
	g_free (self->gs2_header);
	g_free (self->client_first_bare);
	g_free (self->server_first);
	g_free (self->nonce);
	g_free (self->test_nonce);
	g_clear_pointer (&self->salt, g_bytes_unref);
	explicit_bzero (self->stored_key, sizeof (self->stored_key));
	explicit_bzero (self->server_key, sizeof (self->server_key));
	g_free (self);
}

const char *
ep_sasl_server_get_mechanism (EpSaslServer *self)
{
	return self->mech_name;
}

EpSaslCredentialKind
ep_sasl_server_get_kind (EpSaslServer *self)
{
	return self->kind;
}

const char *
ep_sasl_server_get_authcid (EpSaslServer *self)
{
	return self->authcid;
}

const char *
ep_sasl_server_get_authzid (EpSaslServer *self)
{
	return self->authzid;
}

const char *
ep_sasl_server_get_secret (EpSaslServer *self)
{
	return self->secret;
}

const char *
ep_sasl_server_get_account (EpSaslServer *self)
{
	return self->account;
}

void
ep_sasl_server_set_nonce_for_testing (EpSaslServer *self, const char *nonce)
{
	g_free (self->test_nonce);
	self->test_nonce = g_strdup (nonce);
}

void
ep_sasl_server_set_verified (EpSaslServer *self, const char *account)
{
	g_return_if_fail (self->state == EP_SASL_STATE_NEED_VERIFY);
	g_free (self->account);
	self->account = g_strdup (account);
	self->state = EP_SASL_STATE_VERIFIED;
}

EpSaslStatus
ep_sasl_server_fail (EpSaslServer *self, GError **error, EpError code, const char *format, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start (ap, format);
	msg = g_strdup_vprintf (format, ap);
	va_end (ap);
	g_set_error (error, EP_ERROR, code, "%s: %s", self->mech_name, msg);
	self->state = EP_SASL_STATE_DONE;
	g_clear_pointer (&self->account, g_free);
	g_clear_pointer (&self->secret, ep_sasl_wipe_free);
	return EP_SASL_FAILURE;
}

/* a password: 1..EP_SASL_MAX_PASSWORD octets of UTF-8 without ASCII
 * control characters (ep_password_check_policy() lets none in either) */
static gboolean
ep_sasl_password_valid (const char *s, gsize len)
{
	if (len == 0 || len > EP_SASL_MAX_PASSWORD || !g_utf8_validate_len (s, len, NULL))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if ((guchar) s[i] < 0x20 || s[i] == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* RFC 4616: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static EpSaslStatus
ep_sasl_plain_parse (EpSaslServer *self, const char *data, gsize len, GError **error)
{
	const char *nul1 = memchr (data, '\0', len);
	const char *nul2 = nul1 != NULL ? memchr (nul1 + 1, '\0', len - (nul1 + 1 - data)) : NULL;
	gsize zid_len, cid_len, pw_len;

	if (nul2 == NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "fewer than three fields");
	zid_len = nul1 - data;
	cid_len = nul2 - (nul1 + 1);
	pw_len = len - (nul2 + 1 - data);
	if (memchr (nul2 + 1, '\0', pw_len) != NULL)
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "more than three fields");
	if (zid_len > 0 && !ep_sasl_identity_valid (data, zid_len))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad authorization identity");
	if (!ep_sasl_identity_valid (nul1 + 1, cid_len))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad authentication identity");
	if (!ep_sasl_password_valid (nul2 + 1, pw_len))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad password");
	self->authzid = zid_len > 0 ? g_strndup (data, zid_len) : NULL;
	self->authcid = g_strndup (nul1 + 1, cid_len);
	self->secret = g_strndup (nul2 + 1, pw_len);
	self->kind = EP_SASL_CREDENTIALS_PASSWORD;
	self->state = EP_SASL_STATE_NEED_VERIFY;
	return EP_SASL_NEED_CREDENTIALS;
}

static EpSaslStatus
ep_sasl_login_step (EpSaslServer *self, const char *data, gsize len, GBytes **output, GError **error)
{
	if (self->state == EP_SASL_STATE_START) {
		if (!ep_sasl_identity_valid (data, len))
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad user name");
		self->authcid = g_strndup (data, len);
		self->state = EP_SASL_STATE_LOGIN_PASSWORD;
		*output = g_bytes_new_static ("Password:", 9);
		return EP_SASL_CONTINUE;
	}
	if (!ep_sasl_password_valid (data, len))
		return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "bad password");
	self->secret = g_strndup (data, len);
	self->kind = EP_SASL_CREDENTIALS_PASSWORD;
	self->state = EP_SASL_STATE_NEED_VERIFY;
	return EP_SASL_NEED_CREDENTIALS;
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static gboolean
ep_sasl_b64token_valid (const char *s, gsize len)
{
	gsize i = 0;

	while (i < len && (g_ascii_isalnum (s[i]) || strchr ("-._~+/", s[i]) != NULL) && s[i] != '\0')
		i++;
	if (i == 0)
		return FALSE;
	while (i < len && s[i] == '=')
		i++;
	return i == len && len <= EP_SASL_MAX_INPUT;
}

/*
 * RFC 7628 §3.1 key/value pairs: *(key "=" value kvsep) kvsep, with
 * key = 1*ALPHA, value = *(VCHAR / SP / HTAB / CR / LF), kvsep = %x01.
 * @data starts at the first pair.  "auth" ("Bearer" 1*SP b64token) is
 * required; "user" (XOAUTH2) is returned when @user is not NULL.
 */
static gboolean
ep_sasl_kvpairs_parse (const char *data, gsize len, char **user, char **token, GError **error)
{
	gsize pos = 0;
	g_autofree char *auth = NULL;
	g_autofree char *who = NULL;

	for (;;) {
		gsize key_start = pos, key_end, value_start;
		if (pos >= len) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "no final separator");
			return FALSE;
		}
		if (data[pos] == 0x01) {
			if (pos + 1 != len) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "data after the end");
				return FALSE;
			}
			break;
		}
		while (pos < len && g_ascii_isalpha (data[pos]))
			pos++;
		key_end = pos;
		if (key_end == key_start || pos >= len || data[pos] != '=') {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "bad key");
			return FALSE;
		}
		value_start = ++pos;
		while (pos < len && data[pos] != 0x01) {
			guchar c = data[pos];
			if (!((c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "bad value");
				return FALSE;
			}
			pos++;
		}
		if (pos >= len) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "unterminated value");
			return FALSE;
		}
		if (key_end - key_start == 4 && memcmp (data + key_start, "auth", 4) == 0) {
			if (auth != NULL) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "auth given twice");
				return FALSE;
			}
			auth = g_strndup (data + value_start, pos - value_start);
		} else if (user != NULL && key_end - key_start == 4 && memcmp (data + key_start, "user", 4) == 0) {
			if (who != NULL) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "user given twice");
				return FALSE;
			}
			who = g_strndup (data + value_start, pos - value_start);
		}
		/* host, port and unknown keys are ignored */
		pos++;
	}
	if (auth == NULL || g_ascii_strncasecmp (auth, "Bearer ", 7) != 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "no Bearer auth");
		return FALSE;
	}
	{
		const char *tok = auth + 7;
		while (*tok == ' ')
			tok++;
		if (!ep_sasl_b64token_valid (tok, strlen (tok))) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "bad bearer token");
			return FALSE;
		}
		*token = g_strdup (tok);
	}
	if (user != NULL) {
		if (who == NULL || !ep_sasl_identity_valid (who, strlen (who))) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "bad or missing user");
			g_clear_pointer (token, g_free);
			return FALSE;
		}
		*user = g_steal_pointer (&who);
	}
	return TRUE;
}

static EpSaslStatus
ep_sasl_bearer_parse (EpSaslServer *self, const char *data, gsize len, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *user = NULL;
	g_autofree char *cb_name = NULL;
	g_autofree char *authzid = NULL;
	char *token = NULL;
	char flag = 0;
	gsize pos = 0;

	if (self->mech == EP_SASL_MECH_OAUTHBEARER) {
		/* gs2-header kvsep *kvpair kvsep */
		pos = ep_sasl_gs2_header_parse (data, len, &flag, &cb_name, &authzid, &local);
		if (pos == 0)
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "%s", local->message);
		if (flag == 'p')
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no channel binding here");
		if (pos >= len || data[pos] != 0x01)
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "no separator after the GS2 header");
		pos++;
		if (!ep_sasl_kvpairs_parse (data + pos, len - pos, NULL, &token, &local))
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "%s", local->message);
		self->authcid = g_steal_pointer (&authzid);
	} else {
		/* "user=" User %x01 "auth=Bearer " token %x01 %x01 */
		if (!ep_sasl_kvpairs_parse (data, len, &user, &token, &local))
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "%s", local->message);
		self->authcid = g_steal_pointer (&user);
	}
	self->secret = token;
	self->kind = EP_SASL_CREDENTIALS_BEARER;
	self->state = EP_SASL_STATE_NEED_VERIFY;
	return EP_SASL_NEED_CREDENTIALS;
}

/* RFC 7628 §3.2.2 error (OAUTHBEARER), or Google's (XOAUTH2) */
static GBytes *
ep_sasl_bearer_error (EpSaslServer *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new ();
	g_autoptr(JsonGenerator) gen = json_generator_new ();
	g_autoptr(JsonNode) root = NULL;
	gsize len = 0;
	char *text;

	json_builder_begin_object (b);
	json_builder_set_member_name (b, "status");
	json_builder_add_string_value (b, self->mech == EP_SASL_MECH_OAUTHBEARER ? "invalid_token" : "401");
	if (self->mech == EP_SASL_MECH_XOAUTH2) {
		json_builder_set_member_name (b, "schemes");
		json_builder_add_string_value (b, "Bearer");
	}
	if (self->oauth_scope != NULL) {
		json_builder_set_member_name (b, "scope");
		json_builder_add_string_value (b, self->oauth_scope);
	}
	if (self->oauth_openid_configuration != NULL && self->mech == EP_SASL_MECH_OAUTHBEARER) {
		json_builder_set_member_name (b, "openid-configuration");
		json_builder_add_string_value (b, self->oauth_openid_configuration);
	}
	json_builder_end_object (b);
	root = json_builder_get_root (b);
	json_generator_set_root (gen, root);
	text = json_generator_to_data (gen, &len);
	return g_bytes_new_take (text, len);
}

static EpSaslStatus
ep_sasl_server_finish_verified (EpSaslServer *self, GBytes **output, GError **error)
{
	g_clear_pointer (&self->secret, ep_sasl_wipe_free);
	if (self->account != NULL) {
		self->state = EP_SASL_STATE_DONE;
		return EP_SASL_SUCCESS;
	}
	if (self->mech == EP_SASL_MECH_OAUTHBEARER || self->mech == EP_SASL_MECH_XOAUTH2) {
		/* the client must answer the error before the failure */
		*output = ep_sasl_bearer_error (self);
		self->state = EP_SASL_STATE_OAUTH_ERROR;
		return EP_SASL_CONTINUE;
	}
	return ep_sasl_server_fail (self, error, EP_ERROR_PERM, "wrong credentials for \"%s\"", self->authcid);
}

EpSaslStatus
ep_sasl_server_step (EpSaslServer *self, GBytes *input, GBytes **output, GError **error)
{
	const char *data = NULL;
	gsize len = 0;

	g_return_val_if_fail (self != NULL, EP_SASL_FAILURE);
	g_return_val_if_fail (output != NULL, EP_SASL_FAILURE);
	*output = NULL;

	if (input != NULL) {
		data = g_bytes_get_data (input, &len);
		if (data == NULL)
			data = "";
		if (len > EP_SASL_MAX_INPUT)
			return ep_sasl_server_fail (self, error, EP_ERROR_INVALID, "message too long (%zu octets)",
						    len);
	}

	switch (self->state) {
	case EP_SASL_STATE_DONE:
		return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "the exchange is over");
	case EP_SASL_STATE_NEED_VERIFY:
	case EP_SASL_STATE_NEED_SCRAM:
		return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "stepped before the credentials were set");
	case EP_SASL_STATE_VERIFIED:
		if (input != NULL)
			return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "input after the verification");
		return ep_sasl_server_finish_verified (self, output, error);
	case EP_SASL_STATE_OAUTH_ERROR:
		if (input == NULL)
			return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "no answer to the error");
		if (self->mech == EP_SASL_MECH_OAUTHBEARER && !(len == 1 && data[0] == 0x01))
			return ep_sasl_server_fail (self, error, EP_ERROR_PERM,
						    "bearer token refused (and the answer to the error is not %%x01)");
		return ep_sasl_server_fail (self, error, EP_ERROR_PERM, "bearer token refused for \"%s\"",
					    self->authcid != NULL ? self->authcid : "");
	case EP_SASL_STATE_START:
		if (input == NULL) {
			if (self->challenged)
				return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "no answer to the challenge");
			self->challenged = TRUE;
			if (self->mech == EP_SASL_MECH_LOGIN)
				*output = g_bytes_new_static ("Username:", 9);
			else
				*output = g_bytes_new_static ("", 0);
			return EP_SASL_CONTINUE;
		}
		break;
	case EP_SASL_STATE_LOGIN_PASSWORD:
	case EP_SASL_STATE_SCRAM_FINAL:
		if (input == NULL)
			return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "no answer to the challenge");
		break;
	case EP_SASL_STATE_SCRAM_READY:
		if (input != NULL)
			return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "input after the credentials");
		break;
	}

	switch (self->mech) {
	case EP_SASL_MECH_PLAIN:
		return ep_sasl_plain_parse (self, data, len, error);
	case EP_SASL_MECH_LOGIN:
		return ep_sasl_login_step (self, data, len, output, error);
	case EP_SASL_MECH_OAUTHBEARER:
	case EP_SASL_MECH_XOAUTH2:
		return ep_sasl_bearer_parse (self, data, len, error);
	case EP_SASL_MECH_SCRAM_SHA_256:
	case EP_SASL_MECH_SCRAM_SHA_256_PLUS:
		return ep_sasl_scram_step (self, input, output, error);
	}
	return ep_sasl_server_fail (self, error, EP_ERROR_INTERNAL, "unknown mechanism");
}
