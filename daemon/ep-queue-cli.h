/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * `mail queue`: the operator's view of the outbound queue (the queue
 * module's tables, modules/queue/migrations), with plain blocking SQL on
 * the database the command opens (the running daemon's embedded cluster
 * when there is one).
 *
 *   mail queue              every queued message and its queued recipients
 *   mail queue show ID      one message: envelope, recipients, header
 *   mail queue retry ID     its recipients are due now
 *   mail queue delete ID    removes it, without a bounce
 *   mail queue flush        every recipient is due now
 */

/* the usage line's parameters, for `mail help` */
#define EP_QUEUE_CLI_PARAMETERS "[show ID | retry ID | delete ID | flush]"

/* whether @id is a queue id: 16 lower-case hex digits */
gboolean ep_queue_cli_id_is_valid (const char *id);

/*
 * Runs the command.  @argc and @argv are the arguments after "queue", once
 * the common options (--config, --verbose) are taken out.  Returns a
 * sysexits.h code.
 */
int ep_queue_cli_run (const char *config_path, gboolean verbose, int argc, char **argv);

G_END_DECLS
