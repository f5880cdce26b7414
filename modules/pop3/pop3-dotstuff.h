/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The stream filter of RETR and TOP (RFC 1939 §3): a message in, the
 * multi-line response body out.  Every line that starts with "." gets a
 * second "."; a bare LF becomes CRLF (the store keeps CRLF, so this only
 * guards the framing); with a line limit (TOP) the header, the empty line
 * and that many body lines go out, then nothing.  pop3_dotstuff_finish()
 * ends an unterminated last line and adds the ".\r\n" terminator.
 *
 * The output depends on the octets only, not on how they are cut into
 * chunks: feeding a message one octet at a time gives the same output as
 * feeding it whole.
 */

typedef struct {
	gint64 max_body_lines; /* -1: all of the message */
	gboolean at_line_start;
	gboolean last_cr; /* the last octet written was a CR */
	gsize line_len;	  /* octets of the current line written so far */
	gboolean in_body;
	guint64 body_lines;
	gboolean done; /* the line limit was reached: the rest is dropped */
} Pop3DotStuff;

/* @max_body_lines: -1 for RETR, the TOP argument otherwise */
void pop3_dotstuff_init (Pop3DotStuff *ds, gint64 max_body_lines);

/* Appends the filtered form of @data to @out.  Returns %FALSE once the
 * line limit was reached (more input would be dropped). */
gboolean pop3_dotstuff_feed (Pop3DotStuff *ds, const guint8 *data, gsize len, GByteArray *out);

/* Appends CRLF if the last line lacks one, then ".\r\n". */
void pop3_dotstuff_finish (Pop3DotStuff *ds, GByteArray *out);

G_END_DECLS
