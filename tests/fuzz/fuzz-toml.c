/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TOML parser on arbitrary bytes: it must refuse or accept, never
 * crash, hang or leak.  An accepted tree is walked in full so that every
 * value is read once.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-toml.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_toml_walk (const EpTomlValue *value)
{
	switch (ep_toml_value_get_kind (value)) {
	case EP_TOML_TABLE:
		for (guint i = 0; i < ep_toml_value_table_size (value); i++) {
			gsize len = 0;
			const char *key = ep_toml_value_table_key_at_len (value, i, &len);
			g_assert (key[len] == '\0');
			fuzz_toml_walk (ep_toml_value_table_value_at (value, i));
		}
		break;
	case EP_TOML_ARRAY:
		for (guint i = 0; i < ep_toml_value_array_length (value); i++)
			fuzz_toml_walk (ep_toml_value_array_index (value, i));
		break;
	case EP_TOML_INTEGER:
		(void) ep_toml_value_get_integer (value);
		break;
	case EP_TOML_FLOAT:
		(void) ep_toml_value_get_float (value);
		break;
	case EP_TOML_BOOLEAN:
		(void) ep_toml_value_get_boolean (value);
		break;
	case EP_TOML_STRING:
	case EP_TOML_DATETIME:
	case EP_TOML_DATETIME_LOCAL:
	case EP_TOML_DATE_LOCAL:
	case EP_TOML_TIME_LOCAL: {
		gsize len = 0;
		const char *str = ep_toml_value_get_string_len (value, &len);
		g_assert (str[len] == '\0');
		g_assert (g_utf8_validate_len (str, len, NULL) || memchr (str, '\0', len) != NULL);
		break;
	}
	}
	g_assert (ep_toml_value_get_line (value) > 0 || ep_toml_value_get_kind (value) == EP_TOML_TABLE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpTomlValue) root = ep_toml_parse ((const char *) data, (gssize) size, "fuzz.toml", &error);

	if (root == NULL) {
		/* every refusal says where and why */
		g_assert (error != NULL && g_str_has_prefix (error->message, "fuzz.toml:"));
		return 0;
	}
	g_assert (error == NULL);
	fuzz_toml_walk (root);
	return 0;
}
