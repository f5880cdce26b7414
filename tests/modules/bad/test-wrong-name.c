/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Calls itself by another name than its file's. */
#include "epistle.h"

static gboolean
wrong_name_init (EpContext *ctx, GError **error)
{
	return TRUE;
}

EP_MODULE_DEFINE (
	.name = "test-something-else",
	.version = "0",
	.description = "name and file name disagree",
	.init = wrong_name_init,
);
