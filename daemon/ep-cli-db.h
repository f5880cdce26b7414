/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-daemon.h"

G_BEGIN_DECLS

/*
 * What the `mail` commands on a module's own tables share (dkim-*, queue):
 * the daemon's database opened the way every command on stored data opens
 * it (ep_daemon_open(): the running daemon's embedded cluster when there
 * is one), and errors printed as "mail VERB: ..." lines.
 */

/* prints each line of @error's message after "mail @verb: " */
void ep_cli_db_print_error (const char *verb, const GError *error);

/*
 * Opens the daemon's database and checks that @table exists (the module
 * @module was loaded at least once, so its migrations ran).  On failure,
 * says why on standard error and sets @exit_code (sysexits.h): the code of
 * the error (EX_TEMPFAIL, EX_UNAVAILABLE, EX_CONFIG...), or EX_CONFIG
 * when the table is missing.
 *
 * Returns: (transfer full) (nullable): the opened daemon; ep_daemon_close()
 * it when done
 */
EpDaemon *ep_cli_db_open (const char *verb, const char *config_path, gboolean verbose, const char *table,
			  const char *module, int *exit_code);

/* prints @error, closes @daemon and returns the error's exit code */
int ep_cli_db_fail (const char *verb, EpDaemon *daemon, const GError *error);

G_END_DECLS
