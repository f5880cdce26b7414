/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * Time-based one-time passwords (RFC 6238 over HOTP, RFC 4226): HMAC-SHA-1,
 * 6 digits, 30-second steps, one step of tolerance either way.  What
 * authenticator apps do by default.
 *
 * A code is good once: the caller keeps the last step it accepted per
 * account and passes it in; ep_totp_verify() only accepts a later step
 * and says which one matched, for the caller to store.
 */

#define EP_TOTP_SECRET_LEN 20 /* octets: RFC 4226 §4 asks for 128 bits, recommends 160 */
#define EP_TOTP_PERIOD     30
#define EP_TOTP_DIGITS     6
#define EP_TOTP_WINDOW     1 /* steps accepted either side of now */

/* Returns: (transfer full): %EP_TOTP_SECRET_LEN random octets */
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *ep_totp_secret_new (void);

/* RFC 4648 §6 base32, upper case, without padding (as otpauth URIs carry it) */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_totp_base32_encode (const guint8 *data, gsize len);

/**
 * ep_totp_base32_decode:
 *
 * Case is ignored; trailing '=' padding and spaces (as apps display the
 * secret in groups) are accepted.
 *
 * Returns: (transfer full) (nullable): the octets, or %NULL with
 *   EP_ERROR_INVALID
 */
EP_API G_GNUC_WARN_UNUSED_RESULT GBytes *ep_totp_base32_decode (const char *text, GError **error);

/**
 * ep_totp_uri:
 * @issuer: who issues it (the server's name), shown by the app
 * @account: the account name
 *
 * Returns: (transfer full):
 *   otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
 *   with issuer and account percent-encoded
 */
EP_API G_GNUC_WARN_UNUSED_RESULT char *ep_totp_uri (const char *issuer, const char *account, GBytes *secret);

/**
 * ep_totp_code:
 * @step: the counter (HOTP) or time step (TOTP: unix time / period)
 * @digits: 6 to 8
 *
 * Returns: the HOTP value of RFC 4226 §5.3, below 10^@digits
 */
EP_API guint32 ep_totp_code (GBytes *secret, gint64 step, guint digits);

/**
 * ep_totp_verify_full:
 * @code: the code the user typed (exactly @digits ASCII digits)
 * @now: unix time in seconds
 * @last_used_step: the last step accepted for this secret, -1 for none
 * @digits: 6 to 8
 * @period: seconds per step (> 0)
 * @window: steps accepted either side of now
 * @matched_step: (out) (optional): the step the code matched
 *
 * Every step of the window is computed and compared in constant time,
 * whatever matches.
 *
 * Returns: %TRUE when @code is the code of a step within the window that
 *   is later than @last_used_step
 */
EP_API gboolean ep_totp_verify_full (GBytes *secret, const char *code, gint64 now, gint64 last_used_step,
				     guint digits, guint period, guint window, gint64 *matched_step);

/* ep_totp_verify_full() with 6 digits, 30 s and a window of 1 */
EP_API gboolean ep_totp_verify (GBytes *secret, const char *code, gint64 now, gint64 last_used_step,
				gint64 *matched_step);

/**
 * ep_totp_split:
 * @input: what the user typed as the password: the password with the
 *   6-digit code appended ("password123456")
 * @password: (out) (transfer full):
 * @code: (out) (transfer full):
 *
 * Returns: %FALSE when @input is not longer than six characters or does
 *   not end in six ASCII digits
 */
EP_API gboolean ep_totp_split (const char *input, char **password, char **code);

G_END_DECLS
