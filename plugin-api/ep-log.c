/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdarg.h>

#include "ep-log.h"

/**
 * ep_log:
 * @module: (nullable): the module writing, or %NULL for the core
 * @session: (nullable): the session the record concerns
 *
 * Writes one structured record.  Warnings are never fatal: a module's
 * complaint must not bring the daemon down.
 */
void
ep_log (GLogLevelFlags level, const char *module, const char *session, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;
	GLogField fields[5];
	gsize n = 0;
	const char *priority = "6";

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);

	switch (level & G_LOG_LEVEL_MASK) {
	case G_LOG_LEVEL_ERROR:
		priority = "3";
		break;
	case G_LOG_LEVEL_CRITICAL:
		priority = "3";
		break;
	case G_LOG_LEVEL_WARNING:
		priority = "4";
		break;
	case G_LOG_LEVEL_MESSAGE:
		priority = "5";
		break;
	case G_LOG_LEVEL_INFO:
		priority = "6";
		break;
	default:
		priority = "7";
		break;
	}
	fields[n++] = (GLogField) { "MESSAGE", message, -1 };
	fields[n++] = (GLogField) { "PRIORITY", priority, -1 };
	fields[n++] = (GLogField) { "GLIB_DOMAIN", EP_LOG_DOMAIN, -1 };
	if (module != NULL)
		fields[n++] = (GLogField) { "EPISTLE_MODULE", module, -1 };
	if (session != NULL)
		fields[n++] = (GLogField) { "EPISTLE_SESSION", session, -1 };
	g_log_structured_array (level & ~G_LOG_FLAG_FATAL, fields, n);
}

char *
ep_log_new_session_id (void)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char id[13];
	for (guint i = 0; i < 12; i++)
		id[i] = alphabet[g_random_int_range (0, (gint32) (sizeof (alphabet) - 1))];
	id[12] = '\0';
	return g_strdup (id);
}
