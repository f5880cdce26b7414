/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * Structured logging.  Every record carries the module that wrote it and,
 * when it concerns a client connection, that connection's session id, as
 * the journal fields EPISTLE_MODULE and EPISTLE_SESSION.
 */

#define EP_LOG_DOMAIN "epistle"

EP_API void ep_log (GLogLevelFlags level, const char *module, const char *session, const char *format, ...)
	G_GNUC_PRINTF (4, 5);

#define ep_log_debug(module, session, ...)   ep_log (G_LOG_LEVEL_DEBUG, module, session, __VA_ARGS__)
#define ep_log_info(module, session, ...)    ep_log (G_LOG_LEVEL_INFO, module, session, __VA_ARGS__)
#define ep_log_message(module, session, ...) ep_log (G_LOG_LEVEL_MESSAGE, module, session, __VA_ARGS__)
#define ep_log_warning(module, session, ...) ep_log (G_LOG_LEVEL_WARNING, module, session, __VA_ARGS__)

/* A new random session id: 12 characters of [a-z0-9]. */
EP_API char *ep_log_new_session_id (void);

G_END_DECLS
