/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gio/gio.h>

#include "ep-config-schema.h"
#include "ep-error.h"

/* Value checks shared by the core schema and the modules' schemas.  Each
 * sets only the reason: the caller prefixes file, line and key. */

static gboolean
ep_config_check_label (const char *label, gsize len)
{
	if (len == 0 || len > 63)
		return FALSE;
	if (label[0] == '-' || label[len - 1] == '-')
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar) label[i];
		if (!g_ascii_isalnum (c) && c != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean
ep_config_check_hostname_text (const char *name, gboolean need_dot, GError **error)
{
	gsize len = strlen (name);
	const char *p = name;

	if (len == 0 || len > 253) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not a valid domain name (1 to 253 characters)", name);
		return FALSE;
	}
	if (need_dot && strchr (name, '.') == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not a fully qualified domain name (it needs a dot, e.g. mail.example.org)",
			     name);
		return FALSE;
	}
	while (*p != '\0') {
		const char *dot = strchr (p, '.');
		gsize label_len = dot != NULL ? (gsize) (dot - p) : strlen (p);
		if (!ep_config_check_label (p, label_len)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s' is not a valid domain name (labels of letters, digits and inner hyphens, "
				     "separated by single dots)",
				     name);
			return FALSE;
		}
		if (dot == NULL)
			break;
		p = dot + 1;
		if (*p == '\0') {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s' must not end with a dot", name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
ep_config_check_fqdn (const EpTomlValue *value, GError **error)
{
	return ep_config_check_hostname_text (ep_toml_value_get_string (value), TRUE, error);
}

gboolean
ep_config_check_domain (const EpTomlValue *value, GError **error)
{
	return ep_config_check_hostname_text (ep_toml_value_get_string (value), FALSE, error);
}

gboolean
ep_config_check_absolute_path (const EpTomlValue *value, GError **error)
{
	const char *path = ep_toml_value_get_string (value);
	if (!g_path_is_absolute (path)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not an absolute path", path);
		return FALSE;
	}
	return TRUE;
}

gboolean
ep_config_check_ip_address (const EpTomlValue *value, GError **error)
{
	const char *text = ep_toml_value_get_string (value);
	g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (text);
	if (addr == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not an IPv4 or IPv6 address", text);
		return FALSE;
	}
	return TRUE;
}

gboolean
ep_config_check_host_at_port (const EpTomlValue *value, GError **error)
{
	const char *text = ep_toml_value_get_string (value);
	const char *at = strrchr (text, '@');
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) addr = NULL;
	guint64 port = 0;

	host = g_strndup (text, at != NULL ? (gsize) (at - text) : strlen (text));
	addr = g_inet_address_new_from_string (host);
	if (addr == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not an IP address with an optional @port (e.g. 127.0.0.1@53)", text);
		return FALSE;
	}
	if (at != NULL) {
		if (!g_ascii_string_to_unsigned (at + 1, 10, 1, 65535, &port, NULL)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s': the port after @ must be a number from 1 to 65535", text);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
ep_config_check_user_name (const EpTomlValue *value, GError **error)
{
	const char *name = ep_toml_value_get_string (value);
	gsize len = strlen (name);

	if (len == 0 || len > 32 || name[0] == '-') {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not a valid system user or group name", name);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar) name[i];
		if (!g_ascii_isalnum (c) && c != '-' && c != '_' && c != '.') {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s' is not a valid system user or group name", name);
			return FALSE;
		}
	}
	return TRUE;
}
