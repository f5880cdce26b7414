/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gcrypt.h>
#include <string.h>

#include "ep-error.h"
#include "ep-sasl-private.h"
#include "ep-totp.h"

static const char ep_totp_b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

GBytes *
ep_totp_secret_new (void)
{
	guint8 *secret = g_malloc (EP_TOTP_SECRET_LEN);

	ep_sasl_gcrypt_init (NULL);
	gcry_randomize (secret, EP_TOTP_SECRET_LEN, GCRY_STRONG_RANDOM);
	return g_bytes_new_take (secret, EP_TOTP_SECRET_LEN);
}

char *
ep_totp_base32_encode (const guint8 *data, gsize len)
{
	GString *out = g_string_sized_new ((len * 8 + 4) / 5);
	guint32 buffer = 0;
	guint bits = 0;

	for (gsize i = 0; i < len; i++) {
		buffer = (buffer << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			g_string_append_c (out, ep_totp_b32_alphabet[(buffer >> (bits - 5)) & 0x1f]);
			bits -= 5;
		}
	}
	if (bits > 0)
		g_string_append_c (out, ep_totp_b32_alphabet[(buffer << (5 - bits)) & 0x1f]);
	return g_string_free (out, FALSE);
}

GBytes *
ep_totp_base32_decode (const char *text, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new ();
	guint32 buffer = 0;
	guint bits = 0;
	gboolean padding = FALSE;

	for (const char *p = text; *p != '\0'; p++) {
		const char *at;
		guint8 b;
		if (*p == ' ')
			continue;
		if (*p == '=') {
			padding = TRUE;
			continue;
		}
		at = strchr (ep_totp_b32_alphabet, g_ascii_toupper (*p));
		if (padding || at == NULL || *at == '\0') {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "not base32");
			return NULL;
		}
		buffer = (buffer << 5) | (guint32) (at - ep_totp_b32_alphabet);
		bits += 5;
		if (bits >= 8) {
			b = (buffer >> (bits - 8)) & 0xff;
			g_byte_array_append (out, &b, 1);
			bits -= 8;
		}
	}
	/* leftover bits must be fewer than a character's and zero */
	if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "not canonical base32");
		return NULL;
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

char *
ep_totp_uri (const char *issuer, const char *account, GBytes *secret)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data (secret, &len);
	g_autofree char *b32 = ep_totp_base32_encode (data, len);
	g_autofree char *iss = g_uri_escape_string (issuer, NULL, FALSE);
	g_autofree char *acc = g_uri_escape_string (account, NULL, FALSE);

	return g_strdup_printf ("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d", iss,
				acc, b32, iss, EP_TOTP_DIGITS, EP_TOTP_PERIOD);
}

guint32
ep_totp_code (GBytes *secret, gint64 step, guint digits)
{
	gsize key_len = 0;
	const guint8 *key = g_bytes_get_data (secret, &key_len);
	guint8 counter[8];
	guint8 mac[20];
	gcry_md_hd_t hd = NULL;
	guint32 bin, mod = 1;
	guint offset;

	g_return_val_if_fail (digits >= 6 && digits <= 8, 0);
	for (guint i = 0; i < digits; i++)
		mod *= 10;
	for (int i = 7; i >= 0; i--) {
		counter[i] = (guint8) (step & 0xff);
		step >>= 8;
	}
	ep_sasl_gcrypt_init (NULL);
	if (gcry_md_open (&hd, GCRY_MD_SHA1, GCRY_MD_FLAG_HMAC) != 0)
		return mod; /* out of range: matches no code */
	if (gcry_md_setkey (hd, key != NULL ? key : (const guint8 *) "", key_len) != 0) {
		gcry_md_close (hd);
		return mod;
	}
	gcry_md_write (hd, counter, sizeof (counter));
	memcpy (mac, gcry_md_read (hd, GCRY_MD_SHA1), sizeof (mac));
	gcry_md_close (hd);
	/* dynamic truncation, RFC 4226 §5.3 */
	offset = mac[19] & 0x0f;
	bin = ((guint32) (mac[offset] & 0x7f) << 24) | ((guint32) mac[offset + 1] << 16) |
	      ((guint32) mac[offset + 2] << 8) | mac[offset + 3];
	explicit_bzero (mac, sizeof (mac));
	return bin % mod;
}

gboolean
ep_totp_verify_full (GBytes *secret, const char *code, gint64 now, gint64 last_used_step, guint digits,
		     guint period, guint window, gint64 *matched_step)
{
	gint64 now_step, found = -1;
	gsize code_len;

	g_return_val_if_fail (secret != NULL && code != NULL, FALSE);
	g_return_val_if_fail (digits >= 6 && digits <= 8 && period > 0 && window <= 10, FALSE);
	code_len = strlen (code);
	if (code_len != digits || now < 0)
		return FALSE;
	for (gsize i = 0; i < code_len; i++) {
		if (!g_ascii_isdigit (code[i]))
			return FALSE;
	}
	now_step = now / period;
	for (gint64 step = now_step - (gint64) window; step <= now_step + (gint64) window; step++) {
		char expect[16];
		gboolean same;
		if (step < 0)
			continue;
		g_snprintf (expect, sizeof (expect), "%0*u", (int) digits, ep_totp_code (secret, step, digits));
		same = ep_sasl_const_equal ((const guint8 *) expect, (const guint8 *) code, digits);
		explicit_bzero (expect, sizeof (expect));
		/* no early exit: every step of the window costs the same */
		if (same && step > last_used_step && found < 0)
			found = step;
	}
	if (found < 0)
		return FALSE;
	if (matched_step != NULL)
		*matched_step = found;
	return TRUE;
}

gboolean
ep_totp_verify (GBytes *secret, const char *code, gint64 now, gint64 last_used_step, gint64 *matched_step)
{
	return ep_totp_verify_full (secret, code, now, last_used_step, EP_TOTP_DIGITS, EP_TOTP_PERIOD,
				    EP_TOTP_WINDOW, matched_step);
}

gboolean
ep_totp_split (const char *input, char **password, char **code)
{
	gsize len;

	g_return_val_if_fail (input != NULL && password != NULL && code != NULL, FALSE);
	len = strlen (input);
	if (len <= EP_TOTP_DIGITS)
		return FALSE;
	for (gsize i = len - EP_TOTP_DIGITS; i < len; i++) {
		if (!g_ascii_isdigit (input[i]))
			return FALSE;
	}
	*password = g_strndup (input, len - EP_TOTP_DIGITS);
	*code = g_strdup (input + len - EP_TOTP_DIGITS);
	return TRUE;
}
