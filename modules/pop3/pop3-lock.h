/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

/*
 * The exclusive-access lock on a maildrop (RFC 1939 §8), shared through
 * PostgreSQL: a row of pop3_maildrop_locks per locked account, held for a
 * lease that the holder renews (see migrations/001_maildrop_locks.sql and
 * docs/pop3.md).
 */

/* Takes the lock of @account for @owner (a random token) unless another
 * owner holds an unexpired lease.  _finish: %TRUE with @acquired set or
 * not; %FALSE with @error when the database could not answer. */
void pop3_lock_acquire_async (EpDb *db, const char *account, const char *owner, const char *holder, guint lease,
			      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean pop3_lock_acquire_finish (EpDb *db, GAsyncResult *result, gboolean *acquired, GError **error);

/* Extends the lease; @held is %FALSE when @owner no longer holds it. */
void pop3_lock_renew_async (EpDb *db, const char *account, const char *owner, guint lease, GCancellable *cancellable,
			    GAsyncReadyCallback callback, gpointer user_data);
gboolean pop3_lock_renew_finish (EpDb *db, GAsyncResult *result, gboolean *held, GError **error);

/* Deletes the lock of @owner, in the background (a failure is logged: the
 * lease then expires by itself). */
void pop3_lock_release (EpDb *db, const char *account, const char *owner);

G_END_DECLS
