/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/**
 * EP_ERROR:
 *
 * The one error domain of the project.  Errors from libpq, GnuTLS and GIO
 * are converted to it at the boundary.
 */
#define EP_ERROR (ep_error_quark ())

typedef enum {
	EP_ERROR_INTERNAL,    /* a bug or an impossible state */
	EP_ERROR_NOT_FOUND,   /* no such object */
	EP_ERROR_EXISTS,      /* the object already exists */
	EP_ERROR_PERM,        /* not allowed */
	EP_ERROR_TEMP,        /* temporary failure: try again later */
	EP_ERROR_LIMIT,       /* a limit was reached */
	EP_ERROR_INVALID,     /* malformed input */
	EP_ERROR_UNAVAILABLE, /* a needed service is missing or down */
	EP_ERROR_CONFIG,      /* the configuration is wrong */
	EP_ERROR_TIMEOUT,     /* a deadline passed */
	EP_ERROR_USAGE,       /* the command line is wrong */
} EpError;

EP_API GQuark      ep_error_quark (void);
EP_API const char *ep_error_code_to_string (EpError code);
EP_API int         ep_error_to_exit_code (const GError *error);

G_END_DECLS
