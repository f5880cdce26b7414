/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Requires the service of test-provider and looks it up in init: when the
 * loader orders modules by name instead of by requirement, this fails. */
#include "epistle.h"

static gboolean
consumer_init (EpContext *ctx, GError **error)
{
	GObject *service = ep_service_registry_lookup (ep_context_get_services (ctx), G_TYPE_LIST_MODEL);

	if (service == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_UNAVAILABLE,
				     "the test-greeter service is not registered yet");
		return FALSE;
	}
	return TRUE;
}

EP_MODULE_DEFINE (
	.name = "test-consumer",
	.version = "1.0",
	.description = "test module that requires a service",
	.requires = EP_STRV ("service:test-greeter"),
	.init = consumer_init,
);
