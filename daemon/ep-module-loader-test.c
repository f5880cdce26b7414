/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "ep-error.h"
#include "ep-module-loader.h"

static const char *
test_module_dir (void)
{
	const char *dir = g_getenv ("EPISTLE_TEST_MODULE_DIR");
	g_assert_nonnull (dir);
	return dir;
}

static char *
bad_module_dir (void)
{
	return g_build_filename (test_module_dir (), "bad", NULL);
}

static EpConfig *
test_config (void)
{
	const char *names[] = { "mail.toml", NULL };
	const char *texts[] = { "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/x\"\n", NULL };
	g_autoptr(GError) error = NULL;
	EpConfig *config = ep_config_load_from_data (names, texts, &error);
	g_assert_no_error (error);
	return config;
}

static void
test_loader_scan_and_order (void)
{
	g_autoptr(EpModuleLoader) loader = ep_module_loader_new (test_module_dir ());
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ordered = NULL;
	g_autoptr(EpConfig) config = test_config ();
	g_autoptr(EpCore) core = ep_core_new (config);
	const char *const *installed;
	guint provider = G_MAXUINT, consumer = G_MAXUINT;

	g_assert_true (ep_module_loader_scan (loader, &error));
	g_assert_no_error (error);
	installed = ep_module_loader_get_installed (loader);
	g_assert_true (g_strv_contains (installed, "test-provider"));
	g_assert_true (g_strv_contains (installed, "test-consumer"));
	/* subdirectories are not scanned */
	g_assert_false (g_strv_contains (installed, "test-bad-abi"));

	/* no selection: every installed module */
	g_assert_true (ep_module_loader_load (loader, NULL, &error));
	g_assert_no_error (error);
	ordered = ep_module_loader_get_ordered (loader);
	for (guint i = 0; i < ordered->len; i++) {
		const EpModuleDesc *desc = g_ptr_array_index (ordered, i);
		if (g_strcmp0 (desc->name, "test-provider") == 0)
			provider = i;
		if (g_strcmp0 (desc->name, "test-consumer") == 0)
			consumer = i;
	}
	/* "test-consumer" sorts first by name, but requires the provider */
	g_assert_cmpuint (provider, <, consumer);
	g_assert_true (ep_module_loader_init_all (loader, core, &error));
	g_assert_no_error (error);
	ep_module_loader_shutdown_all (loader);
}

static void
test_loader_refusals (void)
{
	g_autofree char *dir = bad_module_dir ();
	/* test-bad-abi declares EP_MODULE_ABI_VERSION + 998 */
	g_autofree char *bad_abi =
		g_strdup_printf ("test-bad-abi.so: the module was built for module ABI %d but this daemon has ABI %d",
				 EP_MODULE_ABI_VERSION + 998, EP_MODULE_ABI_VERSION);
	struct {
		const char *name;
		const char *expect;
	} cases[] = {
		{ "test-bad-abi", bad_abi },
		{ "test-needs-missing", "module 'test-needs-missing' requires 'service:test-nonexistent', which no "
					"loaded module provides" },
		{ "test-wrong-name", "test-wrong-name.so: the module calls itself 'test-something-else'" },
		{ "test-no-descriptor", "test-no-descriptor.so: not an epistle module" },
		{ "no-such-module", "unknown module 'no-such-module'" },
		{ "../test-provider", "module name '../test-provider' must not contain '/'" },
		{ "Test", "module name 'Test' is not valid" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(EpModuleLoader) loader = ep_module_loader_new (dir);
		g_autoptr(GError) error = NULL;
		const char *selection[] = { cases[i].name, NULL };

		g_assert_true (ep_module_loader_scan (loader, &error));
		g_assert_false (ep_module_loader_load (loader, selection, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %s: expected '%s' in '%s'", cases[i].name, cases[i].expect, error->message);
	}
}

static void
test_loader_init_fails_without_error (void)
{
	g_autofree char *dir = bad_module_dir ();
	g_autoptr(EpModuleLoader) loader = ep_module_loader_new (dir);
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = test_config ();
	g_autoptr(EpCore) core = ep_core_new (config);
	const char *selection[] = { "test-init-fails", NULL };

	g_assert_true (ep_module_loader_scan (loader, &error));
	g_assert_true (ep_module_loader_load (loader, selection, &error));
	g_assert_false (ep_module_loader_init_all (loader, core, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INTERNAL);
	g_assert_nonnull (strstr (error->message, "module 'test-init-fails': init failed without saying why"));
}

static void
test_loader_writable_refused (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_dir_make_tmp ("ep-loader-test-XXXXXX", &error);
	g_autofree char *src = g_build_filename (test_module_dir (), "test-provider.so", NULL);
	g_autofree char *dst = g_build_filename (tmp, "test-provider.so", NULL);
	g_autofree char *contents = NULL;
	gsize len = 0;
	const char *selection[] = { "test-provider", NULL };
	g_autoptr(EpModuleLoader) loader = NULL;

	g_assert_true (g_file_get_contents (src, &contents, &len, &error));
	g_assert_true (g_file_set_contents_full (dst, contents, (gssize) len, G_FILE_SET_CONTENTS_NONE, 0775, &error));
	g_assert_cmpint (g_chmod (dst, 0775), ==, 0);

	loader = ep_module_loader_new (tmp);
	g_assert_true (ep_module_loader_scan (loader, &error));
	g_assert_false (ep_module_loader_load (loader, selection, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_nonnull (strstr (error->message, "writable by group or others"));
	g_assert_nonnull (strstr (error->message, "chmod go-w"));
	g_clear_error (&error);
	g_clear_object (&loader);

	/* the same file, made private, loads */
	g_assert_cmpint (g_chmod (dst, 0755), ==, 0);
	loader = ep_module_loader_new (tmp);
	g_assert_true (ep_module_loader_scan (loader, &error));
	g_assert_true (ep_module_loader_load (loader, selection, &error));
	g_assert_no_error (error);
	g_clear_object (&loader);

	g_unlink (dst);
	g_rmdir (tmp);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/module-loader/scan-and-order", test_loader_scan_and_order);
	g_test_add_func ("/module-loader/refusals", test_loader_refusals);
	g_test_add_func ("/module-loader/init-fails-without-error", test_loader_init_fails_without_error);
	g_test_add_func ("/module-loader/writable-refused", test_loader_writable_refused);
	return g_test_run ();
}
