/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include "pop3-dotstuff.h"

void
pop3_dotstuff_init (Pop3DotStuff *ds, gint64 max_body_lines)
{
	*ds = (Pop3DotStuff){
	    .max_body_lines = max_body_lines,
	    .at_line_start = TRUE,
	};
}

static void
pop3_dotstuff_end_of_line (Pop3DotStuff *ds)
{
	/* the line was empty when it held nothing but (at most) its CR */
	gboolean empty = ds->line_len == 0 || (ds->line_len == 1 && ds->last_cr);

	ds->at_line_start = TRUE;
	ds->line_len = 0;
	ds->last_cr = FALSE;
	if (!ds->in_body) {
		if (empty) {
			ds->in_body = TRUE;
			if (ds->max_body_lines == 0)
				ds->done = TRUE;
		}
		return;
	}
	ds->body_lines++;
	if (ds->max_body_lines >= 0 && ds->body_lines >= (guint64)ds->max_body_lines)
		ds->done = TRUE;
}

gboolean
pop3_dotstuff_feed (Pop3DotStuff *ds, const guint8 *data, gsize len, GByteArray *out)
{
	static const guint8 crlf[2] = {'\r', '\n'};
	gsize run = 0; /* octets of @data not yet copied that go out as they are */
	gsize i;

	for (i = 0; i < len && !ds->done; i++) {
		guint8 c = data[i];

		if (c == '\n') {
			if (!ds->last_cr) {
				g_byte_array_append (out, data + i - run, (guint)run);
				run = 0;
				g_byte_array_append (out, crlf, 2);
			} else {
				run++;
			}
			pop3_dotstuff_end_of_line (ds);
			continue;
		}
		if (ds->at_line_start && c == '.') {
			/* the extra "." goes first, then this one with the run */
			g_byte_array_append (out, data + i - run, (guint)run);
			run = 0;
			g_byte_array_append (out, (const guint8 *)".", 1);
		}
		run++;
		ds->at_line_start = FALSE;
		ds->last_cr = c == '\r';
		ds->line_len++;
	}
	g_byte_array_append (out, data + i - run, (guint)run);
	return !ds->done;
}

void
pop3_dotstuff_finish (Pop3DotStuff *ds, GByteArray *out)
{
	if (!ds->at_line_start) {
		/* a CR that ended the message only needs its LF */
		if (ds->last_cr)
			g_byte_array_append (out, (const guint8 *)"\n", 1);
		else
			g_byte_array_append (out, (const guint8 *)"\r\n", 2);
		pop3_dotstuff_end_of_line (ds);
	}
	g_byte_array_append (out, (const guint8 *)".\r\n", 3);
}
