/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Tells the service manager about state changes when NOTIFY_SOCKET is set
 * (READY=1, RELOADING=1, STOPPING=1, STATUS=...); does nothing otherwise. */
void ep_sd_notify (const char *state);

G_END_DECLS
