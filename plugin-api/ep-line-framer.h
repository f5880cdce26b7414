/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The strict line framer every text protocol uses: a line ends with CRLF
 * and with nothing else.  A bare CR, a bare LF or a NUL is reported, never
 * repaired; what the protocol does about it is its own business (SMTP
 * closes the connection).  A pure function over a buffer, so unit tests and
 * the fuzzer drive it without sockets.
 */

typedef enum {
	EP_LINE_NEED_MORE, /* no complete line in the buffer yet */
	EP_LINE_OK,        /* a line: *line_len octets, then CRLF */
	EP_LINE_TOO_LONG,  /* more than max_line octets before the CRLF */
	EP_LINE_BARE_CR,   /* a CR not followed by LF */
	EP_LINE_BARE_LF,   /* an LF not preceded by CR */
	EP_LINE_NUL,       /* a NUL octet */
} EpLineStatus;

/**
 * ep_line_scan:
 * @data: the buffered input, starting at the beginning of a line
 * @len: its length
 * @max_line: the longest line accepted, CRLF not counted
 * @line_len: (out): on EP_LINE_OK, the length of the line without CRLF;
 *   on an error, the offset of the offending octet (for TOO_LONG, max_line)
 * @consumed: (out): on EP_LINE_OK, the octets the line takes with its CRLF;
 *   otherwise 0
 *
 * Looks for the first line in @data.  A CR as the very last octet of @data
 * is EP_LINE_NEED_MORE (its LF may come in the next read).  TOO_LONG is
 * reported as soon as the octet at offset max_line is anything but a CR
 * (so at most max_line + 1 octets are looked at), without waiting for the
 * end of the line.  The first problem in the buffer wins: a bare LF before
 * offset max_line is reported as such, not as TOO_LONG.
 *
 * Every verdict depends only on the octets up to the one after the
 * offending octet, so scanning input as it arrives and rescanning the
 * whole buffer gives the same lines and the same statuses.
 */
EP_API EpLineStatus ep_line_scan (const guint8 *data, gsize len, gsize max_line, gsize *line_len, gsize *consumed);

EP_API const char *ep_line_status_to_string (EpLineStatus status);

G_END_DECLS
