/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The strict line framer on arbitrary bytes, scanned line after line the
 * way a connection does, with a few line limits.  Every verdict is checked
 * against the octets it is about, and scanning a prefix of the input must
 * give either "need more" or the same verdict.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-line-framer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_prefix (const guint8 *data, gsize len, gsize max_line, gsize prefix, EpLineStatus status,
		   gsize line_len, gsize consumed)
{
	gsize p_line_len = 0, p_consumed = 0;
	EpLineStatus p = ep_line_scan (data, prefix, max_line, &p_line_len, &p_consumed);

	if (p == EP_LINE_NEED_MORE) {
		g_assert (p_consumed == 0);
		return;
	}
	g_assert (p == status);
	g_assert (p_line_len == line_len);
	g_assert (p_consumed == consumed);
}

static void
fuzz_check (const guint8 *data, gsize len, gsize max_line, EpLineStatus status, gsize line_len, gsize consumed)
{
	switch (status) {
	case EP_LINE_OK:
		g_assert (consumed == line_len + 2);
		g_assert (consumed <= len);
		g_assert (line_len <= max_line);
		g_assert (data[line_len] == '\r' && data[line_len + 1] == '\n');
		for (gsize i = 0; i < line_len; i++)
			g_assert (data[i] != '\r' && data[i] != '\n' && data[i] != '\0');
		break;
	case EP_LINE_NEED_MORE:
		g_assert (consumed == 0);
		g_assert (len <= max_line || (len == max_line + 1 && data[max_line] == '\r'));
		for (gsize i = 0; i < len; i++) {
			g_assert (data[i] != '\n' && data[i] != '\0');
			g_assert (data[i] != '\r' || i == len - 1);
		}
		break;
	case EP_LINE_TOO_LONG:
		g_assert (consumed == 0);
		g_assert (line_len == max_line);
		g_assert (len > max_line);
		g_assert (data[max_line] != '\r');
		break;
	case EP_LINE_BARE_CR:
		g_assert (consumed == 0);
		g_assert (line_len + 1 < len);
		g_assert (line_len <= max_line);
		g_assert (data[line_len] == '\r' && data[line_len + 1] != '\n');
		break;
	case EP_LINE_BARE_LF:
		g_assert (consumed == 0);
		g_assert (line_len < len && line_len <= max_line);
		g_assert (data[line_len] == '\n');
		break;
	case EP_LINE_NUL:
		g_assert (consumed == 0);
		g_assert (line_len < len && line_len <= max_line);
		g_assert (data[line_len] == '\0');
		break;
	default:
		g_assert_not_reached ();
	}
	g_assert (ep_line_status_to_string (status) != NULL);
	/* nothing before the offending octet (or the CRLF) is an anomaly */
	for (gsize i = 0; i < line_len && status != EP_LINE_NEED_MORE; i++)
		g_assert (data[i] != '\r' && data[i] != '\n' && data[i] != '\0');
	if (status != EP_LINE_NEED_MORE && len > 0) {
		fuzz_check_prefix (data, len, max_line, len - 1, status, line_len, consumed);
		fuzz_check_prefix (data, len, max_line, len / 2, status, line_len, consumed);
		fuzz_check_prefix (data, len, max_line, MIN (len, line_len + 2), status, line_len, consumed);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const gsize limits[] = { 0, 1, 16, 1022 };

	for (guint l = 0; l < G_N_ELEMENTS (limits); l++) {
		gsize max_line = limits[l];
		gsize pos = 0;

		while (pos <= size) {
			gsize line_len = G_MAXSIZE, consumed = G_MAXSIZE;
			EpLineStatus status = ep_line_scan (data + pos, size - pos, max_line, &line_len, &consumed);

			g_assert (consumed <= size - pos);
			fuzz_check (data + pos, size - pos, max_line, status, line_len, consumed);
			if (status == EP_LINE_NEED_MORE)
				break;
			if (status == EP_LINE_OK) {
				pos += consumed;
				continue;
			}
			/* past the offending octet, as a protocol that resynchronises would */
			pos += line_len + 1;
		}
	}
	return 0;
}
