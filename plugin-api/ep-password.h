/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * Password hashes: argon2id (RFC 9106) through libgcrypt, kept as PHC
 * strings: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>.
 * Both functions are CPU-heavy by design: call them from the worker pool,
 * never on the main loop.
 */

#define EP_PASSWORD_MIN_LENGTH 12
#define EP_PASSWORD_MAX_LENGTH 128

typedef struct {
	guint32 m_cost_kib;
	guint32 t_cost;
	guint32 parallelism;
} EpPasswordParams;

/* m=65536 (64 MiB), t=3, p=1: RFC 9106's second recommendation */
EP_API const EpPasswordParams *ep_password_default_params (void);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_password_hash (const char *password, const EpPasswordParams *params, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_password_hash_with_salt (const char *password, const EpPasswordParams *params, const guint8 *salt,
			    gsize salt_len, GError **error);

/* TRUE when @password matches; FALSE with no error when it does not; FALSE
 * with an error when @phc is not a hash this code understands */
EP_API gboolean ep_password_verify (const char *phc, const char *password, GError **error);

EP_API gboolean ep_password_check_policy (const char *password, GError **error);

G_END_DECLS
