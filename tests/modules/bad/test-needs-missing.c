/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Requires a capability nothing provides: the loader must refuse it. */
#include "epistle.h"

static gboolean
needs_missing_init (EpContext *ctx, GError **error)
{
	g_error ("the loader initialised a module whose requirement is unmet");
	return TRUE;
}

EP_MODULE_DEFINE (
	.name = "test-needs-missing",
	.version = "0",
	.description = "requires a service that no module provides",
	.requires = EP_STRV ("service:test-nonexistent"),
	.init = needs_missing_init,
);
