/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends log records to journald when stderr is connected to it, and to
 * stderr as one line per record otherwise. */
void ep_log_writer_install (gboolean verbose, gboolean quiet);

G_END_DECLS
