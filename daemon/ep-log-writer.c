/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "ep-log-writer.h"

static gboolean ep_log_verbose = FALSE;
static gboolean ep_log_journal = FALSE;
static gboolean ep_log_quiet = FALSE;

static const char *
ep_log_field (const GLogField *fields, gsize n_fields, const char *key)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0 (fields[i].key, key) == 0 && fields[i].length < 0)
			return fields[i].value;
	}
	return NULL;
}

static const char *
ep_log_level_name (GLogLevelFlags level)
{
	switch (level & G_LOG_LEVEL_MASK) {
	case G_LOG_LEVEL_ERROR:
		return "error";
	case G_LOG_LEVEL_CRITICAL:
		return "critical";
	case G_LOG_LEVEL_WARNING:
		return "warning";
	case G_LOG_LEVEL_MESSAGE:
		return "notice";
	case G_LOG_LEVEL_INFO:
		return "info";
	default:
		return "debug";
	}
}

static GLogWriterOutput
ep_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	const char *message;
	const char *module;
	const char *session;
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *stamp = NULL;
	g_autoptr(GString) line = NULL;

	if ((level & G_LOG_LEVEL_DEBUG) && !ep_log_verbose)
		return G_LOG_WRITER_HANDLED;
	if (ep_log_quiet && !ep_log_verbose &&
	    (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
		return G_LOG_WRITER_HANDLED;
	if (ep_log_journal && g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;

	message = ep_log_field (fields, n_fields, "MESSAGE");
	module = ep_log_field (fields, n_fields, "EPISTLE_MODULE");
	session = ep_log_field (fields, n_fields, "EPISTLE_SESSION");
	now = g_date_time_new_now_utc ();
	stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");
	line = g_string_new (NULL);
	g_string_append_printf (line, "%s.%03dZ %s", stamp, g_date_time_get_microsecond (now) / 1000,
				ep_log_level_name (level));
	g_string_append_printf (line, " [%s]", module != NULL ? module : "core");
	if (session != NULL)
		g_string_append_printf (line, " (%s)", session);
	g_string_append_printf (line, " %s\n", message != NULL ? message : "");
	fputs (line->str, stderr);
	fflush (stderr);
	return G_LOG_WRITER_HANDLED;
}

/**
 * ep_log_writer_install:
 * @quiet: keep only warnings and worse (commands print their own results)
 */
void
ep_log_writer_install (gboolean verbose, gboolean quiet)
{
	ep_log_quiet = quiet;
	const char *debug = g_getenv ("G_MESSAGES_DEBUG");
	ep_log_verbose = verbose || (debug != NULL && debug[0] != '\0');
	ep_log_journal = g_log_writer_is_journald (fileno (stderr));
	g_log_set_writer_func (ep_log_writer, NULL, NULL);
}
