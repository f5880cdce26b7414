/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <sysexits.h>

#include "ep-cli-db.h"
#include "ep-db.h"
#include "ep-error.h"
#include "ep-log-writer.h"

void
ep_cli_db_print_error (const char *verb, const GError *error)
{
	g_auto (GStrv) lines = g_strsplit (error->message, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++)
		g_printerr ("mail %s: %s\n", verb, lines[i]);
}

EpDaemon *
ep_cli_db_open (const char *verb, const char *config_path, gboolean verbose, const char *table, const char *module,
		int *exit_code)
{
	g_autoptr (EpDaemon) daemon = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = NULL;
	g_autoptr (EpDbResult) res = NULL;
	EpDb *db;

	ep_log_writer_install (verbose, TRUE);
	daemon = ep_daemon_new (config_path);
	if (!ep_daemon_open (daemon, &error)) {
		ep_cli_db_print_error (verb, error);
		*exit_code = ep_error_to_exit_code (error);
		return NULL;
	}
	db = ep_daemon_get_db (daemon);
	if (db != NULL) {
		params = ep_db_params_new_text (table, NULL);
		res = ep_db_query_sync (db, "SELECT to_regclass($1) IS NOT NULL", params, &error);
	}
	if (res == NULL || !ep_db_result_get_boolean (res, 0, 0)) {
		if (error != NULL)
			ep_cli_db_print_error (verb, error);
		else
			g_printerr (_("mail %s: the module %s is not loaded: add \"%s\" to modules\n"), verb, module,
				    module);
		*exit_code = error != NULL ? ep_error_to_exit_code (error) : EX_CONFIG;
		ep_daemon_close (daemon);
		return NULL;
	}
	return g_steal_pointer (&daemon);
}

int
ep_cli_db_fail (const char *verb, EpDaemon *daemon, const GError *error)
{
	ep_cli_db_print_error (verb, error);
	ep_daemon_close (daemon);
	return ep_error_to_exit_code (error);
}
