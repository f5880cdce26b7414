/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The toml-test "decoder": TOML on stdin, tagged JSON on stdout.  Invalid
 * input: the parser's message on stderr and exit status 1.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "ep-toml.h"
#include "toml-json.h"

int
main (int argc, char **argv)
{
	g_autoptr(GByteArray) input = g_byte_array_new ();
	g_autoptr(EpTomlValue) root = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = NULL;
	guint8 buf[65536];
	size_t n;

	if (argc > 1) {
		g_printerr ("usage: %s < document.toml\n", argv[0]);
		return 2;
	}
	while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
		g_byte_array_append (input, buf, (guint) n);
	if (ferror (stdin)) {
		g_printerr ("%s: cannot read standard input\n", argv[0]);
		return 2;
	}
	root = ep_toml_parse ((const char *) input->data, (gssize) input->len, "<stdin>", &error);
	if (root == NULL) {
		g_printerr ("%s\n", error->message);
		return 1;
	}
	json = ep_toml_json_write (root, TRUE);
	fputs (json, stdout);
	return fflush (stdout) == 0 ? EXIT_SUCCESS : 2;
}
