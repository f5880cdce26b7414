/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration loader on arbitrary input: ${VAR} substitution, the
 * merge of a main file with a drop-in (the input is split at the first
 * line "#---"), schema validation with a module section, and the listener
 * checks.  It must never crash, whatever it is given.
 */
#include "config.h"

#include <stdint.h>

#include "ep-config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const EpConfigKey fuzz_module_keys[] = {
	{ "greeting", EP_CONFIG_TYPE_STRING, 0, 1, 100 },
	{ "limit", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000 },
	{ "enabled", EP_CONFIG_TYPE_BOOLEAN },
	{ "hosts", EP_CONFIG_TYPE_STRING_ARRAY, 0, 0, 4, ep_config_check_domain },
	{ NULL }
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup ((const char *) data, size);
	const char *names[] = { "main.toml", "mail.conf.d/10-test.toml", NULL };
	const char *texts[] = { text, NULL, NULL };
	char *split = strstr (text, "\n#---\n");
	g_autoptr(EpConfig) config = NULL;
	g_auto(GStrv) modules = NULL;
	const char *kinds[] = { "smtp", "imap", NULL };
	const guint16 ports[] = { 25, 143 };

	g_setenv ("EPISTLE_FUZZ_VAR", "value", TRUE);
	if (split != NULL) {
		*split = '\0';
		texts[1] = split + 6;
	}
	config = ep_config_load_from_data (names, texts, NULL);
	if (config == NULL)
		return 0;
	if (!ep_config_get_module_selection (config, &modules, NULL))
		return 0;
	ep_config_add_known_module (config, "other");
	ep_config_add_section_schema (config, "fuzz", fuzz_module_keys);
	if (!ep_config_validate (config, NULL))
		return 0;
	if (!ep_config_check_listener_kinds (config, kinds, ports, NULL))
		return 0;
	return 0;
}
