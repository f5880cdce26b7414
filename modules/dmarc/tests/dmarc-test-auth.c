/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dmarc-test-auth: a module for the integration tests of DMARC only.  At
 * smtp.data (default priority, before dmarc) each field
 *
 *   X-Test-Auth: <method> <result> [<ptype>.<property>=<value>]...
 *
 * of an inbound message becomes a result of the transaction's
 * EpAuthResults, e.g. "X-Test-Auth: spf pass smtp.mailfrom=a@example.net"
 * or "X-Test-Auth: dkim pass header.d=example.net", standing in for the
 * spf and dkim modules.
 */
#include "config.h"

#include <string.h>

#include <epistle.h>

static void
test_auth_on_data (EpHookCall *call, EpSmtpDataCtx *data, gpointer user_data)
{
	gsize len = 0;
	const char *message = data->message != NULL ? g_bytes_get_data (data->message, &len) : NULL;
	g_autoptr (GPtrArray) fields = NULL;

	if (message == NULL || data->auth_results == NULL) {
		ep_hook_call_continue (call);
		return;
	}
	fields = ep_mime_headers_get_all (message, len, "X-Test-Auth");
	for (guint i = 0; i < fields->len; i++) {
		g_auto (GStrv) words = g_strsplit_set (g_strstrip ((char *) g_ptr_array_index (fields, i)), " \t", -1);
		EpAuthResult *r;

		if (g_strv_length (words) < 2)
			continue;
		r = ep_auth_results_add (data->auth_results, words[0], words[1], NULL);
		for (guint j = 2; r != NULL && words[j] != NULL; j++) {
			char *dot = strchr (words[j], '.');
			char *eq = strchr (words[j], '=');
			if (dot == NULL || eq == NULL || dot > eq)
				continue;
			*dot = '\0';
			*eq = '\0';
			ep_auth_result_add_property (r, words[j], dot + 1, eq + 1);
		}
	}
	ep_hook_call_continue (call);
}

static gboolean
test_auth_init (EpContext *ctx, GError **error)
{
	ep_hook_smtp_data_connect (ep_context_get_hook_bus (ctx), "dmarc-test-auth", EP_HOOK_PRIORITY_DEFAULT,
				   test_auth_on_data, NULL, NULL);
	return TRUE;
}

EP_MODULE_DEFINE (.name = "dmarc-test-auth", .version = PACKAGE_VERSION,
		  .description = "test only: X-Test-Auth fields become SPF and DKIM results",
		  .init = test_auth_init, );
