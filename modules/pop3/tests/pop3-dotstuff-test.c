/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "pop3-dotstuff.h"

typedef struct {
	const char *in;
	gint64 lines;
	const char *out;
} DotCase;

static const DotCase cases[] = {
    /* RETR */
    {"", -1, ".\r\n"},
    {"a\r\n", -1, "a\r\n.\r\n"},
    {"a", -1, "a\r\n.\r\n"},
    {"a\r", -1, "a\r\n.\r\n"},
    {".\r\n", -1, "..\r\n.\r\n"},
    {"Subject: x\r\n\r\n.hidden\r\n..two\r\nmid.dle\r\n.\r\n", -1,
     "Subject: x\r\n\r\n..hidden\r\n...two\r\nmid.dle\r\n..\r\n.\r\n"},
    /* bare LF becomes CRLF, a dot after it is stuffed too */
    {"a\n.b\nc", -1, "a\r\n..b\r\nc\r\n.\r\n"},
    /* a CR alone is no line end */
    {"a\r.b\r\n", -1, "a\r.b\r\n.\r\n"},
    {"\r\n.\r\n", -1, "\r\n..\r\n.\r\n"},
    /* TOP: the header, the empty line, then n body lines */
    {"H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n"},
    {"H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n", 2, "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n.\r\n"},
    {"H: 1\r\n\r\n.b1\r\nb2", 5, "H: 1\r\n\r\n..b1\r\nb2\r\n.\r\n"},
    {"H: 1\r\n\r\nb1", 1, "H: 1\r\n\r\nb1\r\n.\r\n"},
    {"H: 1\r\nH: 2", 0, "H: 1\r\nH: 2\r\n.\r\n"},
    {"H: 1\n\nb1\nb2\n", 1, "H: 1\r\n\r\nb1\r\n.\r\n"},
    /* a header line "\r\r\n" is not the empty line */
    {"H: 1\r\n\r\r\nx\r\n\r\nb\r\nc\r\n", 1, "H: 1\r\n\r\r\nx\r\n\r\nb\r\n.\r\n"},
};

/* Feeds @c in chunks of @chunk octets (the last may be shorter). */
static char *
run (const DotCase *c, gsize chunk)
{
	g_autoptr (GByteArray) out = g_byte_array_new ();
	Pop3DotStuff ds;
	gsize len = strlen (c->in);
	gboolean more = TRUE;

	pop3_dotstuff_init (&ds, c->lines);
	for (gsize i = 0; i < len; i += chunk) {
		gboolean r = pop3_dotstuff_feed (&ds, (const guint8 *)c->in + i, MIN (chunk, len - i), out);
		/* once it said "enough" it says so for good */
		if (!more)
			g_assert_false (r);
		more = r;
	}
	pop3_dotstuff_finish (&ds, out);
	g_byte_array_append (out, (const guint8 *)"", 1);
	return (char *)g_byte_array_free (g_steal_pointer (&out), FALSE);
}

static void
test_cases (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gsize len = strlen (cases[i].in);
		/* one octet at a time, then two, ... up to the whole */
		for (gsize chunk = 1; chunk <= MAX (len, 1); chunk++) {
			g_autofree char *got = run (&cases[i], chunk);
			if (g_strcmp0 (got, cases[i].out) != 0)
				g_error ("case %u, chunks of %" G_GSIZE_FORMAT ": got \"%s\"", i, chunk,
					 g_strescape (got, NULL));
		}
	}
}

/* The output of RETR, its final ".\r\n" removed and dots unstuffed, is
 * the input (which has CRLF line ends) */
static void
test_roundtrip (void)
{
	g_autoptr (GString) in = g_string_new (NULL);
	GRand *rand = g_rand_new_with_seed (1939);

	for (guint round = 0; round < 200; round++) {
		g_autoptr (GByteArray) out = g_byte_array_new ();
		g_autoptr (GString) back = g_string_new (NULL);
		Pop3DotStuff ds;
		gsize pos = 0;
		static const char alphabet[] = ".a \r\n";

		g_string_truncate (in, 0);
		for (guint i = g_rand_int_range (rand, 0, 200); i > 0; i--) {
			char c = alphabet[g_rand_int_range (rand, 0, 3)];
			if (g_rand_int_range (rand, 0, 5) == 0)
				g_string_append (in, "\r\n");
			else
				g_string_append_c (in, c);
		}
		g_string_append (in, "\r\n");
		pop3_dotstuff_init (&ds, -1);
		while (pos < in->len) {
			gsize n = MIN ((gsize)g_rand_int_range (rand, 1, 9), in->len - pos);
			g_assert_true (pop3_dotstuff_feed (&ds, (const guint8 *)in->str + pos, n, out));
			pos += n;
		}
		pop3_dotstuff_finish (&ds, out);
		g_assert_cmpuint (out->len, >=, 3);
		g_assert_cmpmem (out->data + out->len - 3, 3, ".\r\n", 3);
		/* unstuff line by line */
		for (gsize i = 0; i < out->len - 3;) {
			gsize eol = i;
			while (!(out->data[eol] == '\r' && out->data[eol + 1] == '\n'))
				eol++;
			if (out->data[i] == '.') {
				g_assert_cmpint (out->data[i + 1], ==, '.');
				i++;
			}
			g_string_append_len (back, (const char *)out->data + i, (gssize)(eol + 2 - i));
			i = eol + 2;
		}
		g_assert_cmpstr (back->str, ==, in->str);
	}
	g_rand_free (rand);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/pop3/dotstuff/cases", test_cases);
	g_test_add_func ("/pop3/dotstuff/roundtrip", test_roundtrip);
	return g_test_run ();
}
