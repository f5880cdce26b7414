/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-line-framer.h"

/*
 * One pass over the octets that can still belong to the first line.  Every
 * verdict at offset i depends on data[0..i+1] only, so scanning a prefix of
 * the input gives either EP_LINE_NEED_MORE or the verdict on the whole
 * input: feeding the input in pieces and rescanning finds the same lines.
 */
EpLineStatus
ep_line_scan (const guint8 *data, gsize len, gsize max_line, gsize *line_len, gsize *consumed)
{
	gsize limit = max_line < G_MAXSIZE ? max_line + 1 : max_line;

	g_return_val_if_fail (data != NULL || len == 0, EP_LINE_NEED_MORE);
	g_return_val_if_fail (line_len != NULL, EP_LINE_NEED_MORE);
	g_return_val_if_fail (consumed != NULL, EP_LINE_NEED_MORE);

	*line_len = 0;
	*consumed = 0;
	for (gsize i = 0; i < len && i < limit; i++) {
		switch (data[i]) {
		case '\r':
			if (i + 1 == len)
				return EP_LINE_NEED_MORE;
			*line_len = i;
			if (data[i + 1] != '\n')
				return EP_LINE_BARE_CR;
			*consumed = i + 2;
			return EP_LINE_OK;
		case '\n':
			*line_len = i;
			return EP_LINE_BARE_LF;
		case '\0':
			*line_len = i;
			return EP_LINE_NUL;
		default:
			break;
		}
	}
	if (len >= limit && max_line < G_MAXSIZE) {
		/* offset max_line holds something other than the CR of a CRLF */
		*line_len = max_line;
		return EP_LINE_TOO_LONG;
	}
	return EP_LINE_NEED_MORE;
}

const char *
ep_line_status_to_string (EpLineStatus status)
{
	switch (status) {
	case EP_LINE_NEED_MORE:
		return "need more input";
	case EP_LINE_OK:
		return "line";
	case EP_LINE_TOO_LONG:
		return "line too long";
	case EP_LINE_BARE_CR:
		return "bare CR";
	case EP_LINE_BARE_LF:
		return "bare LF";
	case EP_LINE_NUL:
		return "NUL octet";
	}
	return "unknown";
}
