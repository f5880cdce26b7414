/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gcrypt.h>

#include "ep-error.h"
#include "ep-password.h"

#define EP_PASSWORD_SALT_LEN 16
#define EP_PASSWORD_TAG_LEN  32

static const EpPasswordParams ep_password_defaults = { 65536, 3, 1 };

const EpPasswordParams *
ep_password_default_params (void)
{
	return &ep_password_defaults;
}

static gboolean
ep_password_gcrypt_init (GError **error)
{
	if (!gcry_control (GCRYCTL_INITIALIZATION_FINISHED_P)) {
		if (gcry_check_version ("1.10.0") == NULL) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INTERNAL, "libgcrypt 1.10 or newer is needed");
			return FALSE;
		}
		gcry_control (GCRYCTL_DISABLE_SECMEM, 0);
		gcry_control (GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	return TRUE;
}

static gboolean
ep_password_derive (const char *password, const EpPasswordParams *p, const guint8 *salt, gsize salt_len,
		    guint8 *out, gsize out_len, GError **error)
{
	const unsigned long param[4] = { out_len, p->t_cost, p->m_cost_kib, p->parallelism };
	gcry_kdf_hd_t hd = NULL;
	gcry_error_t err;

	if (!ep_password_gcrypt_init (error))
		return FALSE;
	err = gcry_kdf_open (&hd, GCRY_KDF_ARGON2, GCRY_KDF_ARGON2ID, param, 4, password, strlen (password), salt,
			     salt_len, NULL, 0, NULL, 0);
	if (err == 0)
		err = gcry_kdf_compute (hd, NULL);
	if (err == 0)
		err = gcry_kdf_final (hd, out_len, out);
	if (hd != NULL)
		gcry_kdf_close (hd);
	if (err != 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "argon2id: %s", gcry_strerror (err));
		return FALSE;
	}
	return TRUE;
}

/* PHC strings use base64 without padding */
static char *
ep_password_b64 (const guint8 *data, gsize len)
{
	char *s = g_base64_encode (data, len);
	char *eq = strchr (s, '=');
	if (eq != NULL)
		*eq = '\0';
	return s;
}

static guint8 *
ep_password_unb64 (const char *text, gsize *len)
{
	gsize n = strlen (text);
	g_autofree char *padded = NULL;

	for (const char *p = text; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/')
			return NULL;
	}
	if (n % 4 == 1)
		return NULL;
	padded = g_strnfill (n + (4 - n % 4) % 4, '=');
	memcpy (padded, text, n);
	return g_base64_decode (padded, len);
}

char *
ep_password_hash_with_salt (const char *password, const EpPasswordParams *params, const guint8 *salt,
			    gsize salt_len, GError **error)
{
	guint8 tag[EP_PASSWORD_TAG_LEN];
	g_autofree char *salt64 = NULL;
	g_autofree char *tag64 = NULL;

	if (params == NULL)
		params = &ep_password_defaults;
	if (!ep_password_derive (password, params, salt, salt_len, tag, sizeof (tag), error))
		return NULL;
	salt64 = ep_password_b64 (salt, salt_len);
	tag64 = ep_password_b64 (tag, sizeof (tag));
	return g_strdup_printf ("$argon2id$v=19$m=%u,t=%u,p=%u$%s$%s", params->m_cost_kib, params->t_cost,
				params->parallelism, salt64, tag64);
}

/**
 * ep_password_hash:
 * @params: (nullable): the cost, or %NULL for the defaults
 *
 * Returns: (transfer full): a PHC string with a fresh random salt
 */
char *
ep_password_hash (const char *password, const EpPasswordParams *params, GError **error)
{
	guint8 salt[EP_PASSWORD_SALT_LEN];

	if (!ep_password_gcrypt_init (error))
		return NULL;
	gcry_randomize (salt, sizeof (salt), GCRY_STRONG_RANDOM);
	return ep_password_hash_with_salt (password, params, salt, sizeof (salt), error);
}

gboolean
ep_password_verify (const char *phc, const char *password, GError **error)
{
	g_auto(GStrv) fields = g_strsplit (phc, "$", -1);
	EpPasswordParams p = { 0 };
	g_autofree guint8 *salt = NULL;
	g_autofree guint8 *expect = NULL;
	g_autofree guint8 *got = NULL;
	gsize salt_len = 0, expect_len = 0;
	guint8 diff = 0;

	/* "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash */
	if (g_strv_length (fields) != 6 || fields[0][0] != '\0' || g_strcmp0 (fields[1], "argon2id") != 0 ||
	    g_strcmp0 (fields[2], "v=19") != 0 ||
	    sscanf (fields[3], "m=%u,t=%u,p=%u", &p.m_cost_kib, &p.t_cost, &p.parallelism) != 3) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "not an argon2id PHC string");
		return FALSE;
	}
	/* bounds that keep a hostile hash from costing unbounded memory or time */
	if (p.m_cost_kib < 8 || p.m_cost_kib > 4 * 1024 * 1024 || p.t_cost < 1 || p.t_cost > 64 ||
	    p.parallelism < 1 || p.parallelism > 64) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "argon2id parameters out of range");
		return FALSE;
	}
	salt = ep_password_unb64 (fields[4], &salt_len);
	expect = ep_password_unb64 (fields[5], &expect_len);
	if (salt == NULL || expect == NULL || salt_len < 8 || expect_len < 16 || expect_len > 128) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "malformed salt or hash in the PHC string");
		return FALSE;
	}
	got = g_malloc (expect_len);
	if (!ep_password_derive (password, &p, salt, salt_len, got, expect_len, error))
		return FALSE;
	/* constant time in the hash's length */
	for (gsize i = 0; i < expect_len; i++)
		diff |= got[i] ^ expect[i];
	return diff == 0;
}

/**
 * ep_password_check_policy:
 *
 * A password is 12 to 128 characters of valid UTF-8 with no control
 * characters.
 */
gboolean
ep_password_check_policy (const char *password, GError **error)
{
	glong n;

	if (!g_utf8_validate (password, -1, NULL)) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "the password is not valid UTF-8");
		return FALSE;
	}
	n = g_utf8_strlen (password, -1);
	if (n < EP_PASSWORD_MIN_LENGTH || n > EP_PASSWORD_MAX_LENGTH) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "a password has %d to %d characters (this one has %ld)",
			     EP_PASSWORD_MIN_LENGTH, EP_PASSWORD_MAX_LENGTH, n);
		return FALSE;
	}
	for (const char *p = password; *p != '\0'; p++) {
		if ((guchar) *p < 0x20 || *p == 0x7f) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "the password contains a control character");
			return FALSE;
		}
	}
	return TRUE;
}
