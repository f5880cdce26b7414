/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <sysexits.h>

#include "ep-error.h"

G_DEFINE_QUARK (ep-error-quark, ep_error)

const char *
ep_error_code_to_string (EpError code)
{
	switch (code) {
	case EP_ERROR_INTERNAL:
		return "internal";
	case EP_ERROR_NOT_FOUND:
		return "not-found";
	case EP_ERROR_EXISTS:
		return "exists";
	case EP_ERROR_PERM:
		return "permission";
	case EP_ERROR_TEMP:
		return "temporary";
	case EP_ERROR_LIMIT:
		return "limit";
	case EP_ERROR_INVALID:
		return "invalid";
	case EP_ERROR_UNAVAILABLE:
		return "unavailable";
	case EP_ERROR_CONFIG:
		return "config";
	case EP_ERROR_TIMEOUT:
		return "timeout";
	case EP_ERROR_USAGE:
		return "usage";
	}
	return "unknown";
}

/**
 * ep_error_to_exit_code:
 * @error: (nullable): the error a command ended with
 *
 * Maps an error to the sysexits.h code a command exits with.
 */
int
ep_error_to_exit_code (const GError *error)
{
	if (error == NULL)
		return EX_OK;
	if (error->domain != EP_ERROR)
		return EX_SOFTWARE;
	switch ((EpError) error->code) {
	case EP_ERROR_USAGE:
		return EX_USAGE;
	case EP_ERROR_INVALID:
		return EX_DATAERR;
	case EP_ERROR_NOT_FOUND:
		return EX_NOINPUT;
	case EP_ERROR_UNAVAILABLE:
		return EX_UNAVAILABLE;
	case EP_ERROR_TEMP:
	case EP_ERROR_TIMEOUT:
		return EX_TEMPFAIL;
	case EP_ERROR_PERM:
		return EX_NOPERM;
	case EP_ERROR_CONFIG:
		return EX_CONFIG;
	case EP_ERROR_EXISTS:
	case EP_ERROR_LIMIT:
		return EX_DATAERR;
	case EP_ERROR_INTERNAL:
		return EX_SOFTWARE;
	}
	return EX_SOFTWARE;
}
