/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fails init without setting an error: the daemon must report an internal
 * error naming the module, and not crash. */
#include "epistle.h"

static gboolean
init_fails_init (EpContext *ctx, GError **error)
{
	return FALSE;
}

EP_MODULE_DEFINE (
	.name = "test-init-fails",
	.version = "0",
	.description = "init fails without saying why",
	.init = init_fails_init,
);
