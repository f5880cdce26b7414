/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays a fuzz target's corpus without libFuzzer: every file under the
 * directories given runs through LLVMFuzzerTestOneInput once, as one TAP
 * test each, so a regression in a seed fails the ordinary test run.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
ep_replay_collect (const char *path, GPtrArray *files)
{
	g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
	const char *name;

	if (dir == NULL) {
		g_ptr_array_add (files, (char *) path);
		return;
	}
	while ((name = g_dir_read_name (dir)) != NULL)
		ep_replay_collect (g_build_filename (path, name, NULL), files);
	g_free ((char *) path);
}

static gint
ep_replay_cmp (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
	guint failed = 0;

	for (int i = 1; i < argc; i++)
		ep_replay_collect (g_strdup (argv[i]), files);
	g_ptr_array_sort (files, ep_replay_cmp);
	if (files->len == 0) {
		printf ("1..0 # SKIP no corpus files\n");
		return 1;
	}
	printf ("1..%u\n", files->len);
	for (guint i = 0; i < files->len; i++) {
		const char *path = g_ptr_array_index (files, i);
		g_autofree char *data = NULL;
		gsize len = 0;
		if (!g_file_get_contents (path, &data, &len, NULL)) {
			printf ("not ok %u - %s (unreadable)\n", i + 1, path);
			failed++;
			continue;
		}
		LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
		printf ("ok %u - %s\n", i + 1, path);
		fflush (stdout);
	}
	return failed > 0 ? 1 : 0;
}
