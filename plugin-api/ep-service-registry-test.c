/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "ep-error.h"
#include "ep-service-registry.h"

/* two service interfaces and objects implementing them */

#define TEST_TYPE_STORE (test_store_get_type ())
G_DECLARE_INTERFACE (TestStore, test_store, TEST, STORE, GObject)

struct _TestStoreInterface {
	GTypeInterface parent_iface;
	const char *(*get_name) (TestStore *self);
};

G_DEFINE_INTERFACE (TestStore, test_store, G_TYPE_OBJECT)

static void
test_store_default_init (TestStoreInterface *iface)
{
}

static const char *
test_store_get_name (TestStore *self)
{
	return TEST_STORE_GET_IFACE (self)->get_name (self);
}

#define TEST_TYPE_DIRECTORY (test_directory_get_type ())
G_DECLARE_INTERFACE (TestDirectory, test_directory, TEST, DIRECTORY, GObject)

struct _TestDirectoryInterface {
	GTypeInterface parent_iface;
};

G_DEFINE_INTERFACE (TestDirectory, test_directory, G_TYPE_OBJECT)

static void
test_directory_default_init (TestDirectoryInterface *iface)
{
}

/* implements TestStore */
#define TEST_TYPE_PG_STORE (test_pg_store_get_type ())
G_DECLARE_FINAL_TYPE (TestPgStore, test_pg_store, TEST, PG_STORE, GObject)

struct _TestPgStore {
	GObject parent_instance;
};

static const char *
test_pg_store_get_name (TestStore *self)
{
	return "pg";
}

static void
test_pg_store_iface_init (TestStoreInterface *iface)
{
	iface->get_name = test_pg_store_get_name;
}

G_DEFINE_TYPE_WITH_CODE (TestPgStore, test_pg_store, G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (TEST_TYPE_STORE, test_pg_store_iface_init))

static void
test_pg_store_class_init (TestPgStoreClass *klass)
{
}

static void
test_pg_store_init (TestPgStore *self)
{
}

/* implements TestDirectory */
#define TEST_TYPE_SQL_DIRECTORY (test_sql_directory_get_type ())
G_DECLARE_FINAL_TYPE (TestSqlDirectory, test_sql_directory, TEST, SQL_DIRECTORY, GObject)

struct _TestSqlDirectory {
	GObject parent_instance;
};

static void
test_sql_directory_iface_init (TestDirectoryInterface *iface)
{
}

G_DEFINE_TYPE_WITH_CODE (TestSqlDirectory, test_sql_directory, G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (TEST_TYPE_DIRECTORY, test_sql_directory_iface_init))

static void
test_sql_directory_class_init (TestSqlDirectoryClass *klass)
{
}

static void
test_sql_directory_init (TestSqlDirectory *self)
{
}

static void
test_registry_lookup_by_interface (void)
{
	g_autoptr(EpServiceRegistry) reg = ep_service_registry_new ();
	g_autoptr(TestPgStore) store = g_object_new (TEST_TYPE_PG_STORE, NULL);
	g_autoptr(TestSqlDirectory) dir = g_object_new (TEST_TYPE_SQL_DIRECTORY, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	GObject *found;

	g_assert_null (ep_service_registry_lookup (reg, TEST_TYPE_STORE));
	g_assert_true (ep_service_registry_register (reg, TEST_TYPE_STORE, G_OBJECT (store), "store-pg", &error));
	g_assert_no_error (error);
	g_assert_true (ep_service_registry_register (reg, TEST_TYPE_DIRECTORY, G_OBJECT (dir), "auth-sql", &error));
	g_assert_no_error (error);

	found = ep_service_registry_lookup (reg, TEST_TYPE_STORE);
	g_assert_true (found == G_OBJECT (store));
	g_assert_cmpstr (test_store_get_name (TEST_STORE (found)), ==, "pg");
	g_assert_true (ep_service_registry_lookup (reg, TEST_TYPE_DIRECTORY) == G_OBJECT (dir));
	g_assert_cmpstr (ep_service_registry_get_provider (reg, TEST_TYPE_STORE, NULL), ==, "store-pg");
	g_assert_cmpstr (ep_service_registry_get_provider (reg, TEST_TYPE_DIRECTORY, G_OBJECT (dir)), ==, "auth-sql");
	g_assert_null (ep_service_registry_get_provider (reg, TEST_TYPE_DIRECTORY, G_OBJECT (store)));

	all = ep_service_registry_lookup_all (reg, TEST_TYPE_STORE);
	g_assert_cmpuint (all->len, ==, 1);
	g_assert_true (g_ptr_array_index (all, 0) == (gpointer) store);

	/* the registry keeps its own reference */
	g_clear_object (&store);
	g_assert_true (TEST_IS_PG_STORE (ep_service_registry_lookup (reg, TEST_TYPE_STORE)));
}

static void
test_registry_single_provider (void)
{
	g_autoptr(EpServiceRegistry) reg = ep_service_registry_new ();
	g_autoptr(TestPgStore) first = g_object_new (TEST_TYPE_PG_STORE, NULL);
	g_autoptr(TestPgStore) second = g_object_new (TEST_TYPE_PG_STORE, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;

	g_assert_false (ep_service_registry_get_allows_multiple (reg, TEST_TYPE_STORE));
	g_assert_true (ep_service_registry_register (reg, TEST_TYPE_STORE, G_OBJECT (first), "store-pg", &error));
	g_assert_no_error (error);
	g_assert_false (ep_service_registry_register (reg, TEST_TYPE_STORE, G_OBJECT (second), "store-other", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);
	g_assert_nonnull (strstr (error->message, "store-other"));
	g_assert_nonnull (strstr (error->message, "store-pg"));
	g_assert_nonnull (strstr (error->message, "TestStore"));

	/* the first one stays */
	g_assert_true (ep_service_registry_lookup (reg, TEST_TYPE_STORE) == G_OBJECT (first));
	all = ep_service_registry_lookup_all (reg, TEST_TYPE_STORE);
	g_assert_cmpuint (all->len, ==, 1);
	g_assert_cmpstr (ep_service_registry_get_provider (reg, TEST_TYPE_STORE, G_OBJECT (second)), ==, NULL);
}

static void
test_registry_wrong_interface (void)
{
	g_autoptr(EpServiceRegistry) reg = ep_service_registry_new ();
	g_autoptr(TestSqlDirectory) dir = g_object_new (TEST_TYPE_SQL_DIRECTORY, NULL);
	g_autoptr(TestPgStore) store = g_object_new (TEST_TYPE_PG_STORE, NULL);
	g_autoptr(GError) error = NULL;

	/* a directory is not a store */
	g_assert_false (ep_service_registry_register (reg, TEST_TYPE_STORE, G_OBJECT (dir), "auth-sql", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "TestSqlDirectory"));
	g_assert_nonnull (strstr (error->message, "TestStore"));
	g_assert_null (ep_service_registry_lookup (reg, TEST_TYPE_STORE));
	g_clear_error (&error);

	/* a class is not an interface */
	g_assert_false (ep_service_registry_register (reg, TEST_TYPE_PG_STORE, G_OBJECT (store), "store-pg", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	g_assert_nonnull (strstr (error->message, "not an interface"));
	g_assert_null (ep_service_registry_lookup (reg, TEST_TYPE_PG_STORE));

	/* a refused object does not keep the interface from its real provider */
	g_clear_error (&error);
	g_assert_true (ep_service_registry_register (reg, TEST_TYPE_STORE, G_OBJECT (store), "store-pg", &error));
	g_assert_no_error (error);
}

static void
test_registry_multiple (void)
{
	g_autoptr(EpServiceRegistry) reg = ep_service_registry_new ();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_object_unref);
	const char *modules[] = { "auth-config", "auth-sql", "auth-ldap" };

	ep_service_registry_allow_multiple (reg, TEST_TYPE_DIRECTORY);
	g_assert_true (ep_service_registry_get_allows_multiple (reg, TEST_TYPE_DIRECTORY));
	for (guint i = 0; i < G_N_ELEMENTS (modules); i++) {
		g_ptr_array_add (dirs, g_object_new (TEST_TYPE_SQL_DIRECTORY, NULL));
		g_assert_true (ep_service_registry_register (reg, TEST_TYPE_DIRECTORY, g_ptr_array_index (dirs, i),
							     modules[i], &error));
		g_assert_no_error (error);
	}
	/* the same object twice is still refused */
	g_assert_false (ep_service_registry_register (reg, TEST_TYPE_DIRECTORY, g_ptr_array_index (dirs, 1),
						      "auth-other", &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_EXISTS);

	all = ep_service_registry_lookup_all (reg, TEST_TYPE_DIRECTORY);
	g_assert_cmpuint (all->len, ==, G_N_ELEMENTS (modules));
	for (guint i = 0; i < G_N_ELEMENTS (modules); i++) {
		GObject *service = g_ptr_array_index (all, i);
		g_assert_true (service == g_ptr_array_index (dirs, i));
		g_assert_cmpstr (ep_service_registry_get_provider (reg, TEST_TYPE_DIRECTORY, service), ==, modules[i]);
	}
	g_assert_true (ep_service_registry_lookup (reg, TEST_TYPE_DIRECTORY) == g_ptr_array_index (dirs, 0));

	/* an interface nobody provides */
	g_clear_pointer (&all, g_ptr_array_unref);
	all = ep_service_registry_lookup_all (reg, TEST_TYPE_STORE);
	g_assert_cmpuint (all->len, ==, 0);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/service-registry/lookup-by-interface", test_registry_lookup_by_interface);
	g_test_add_func ("/service-registry/single-provider", test_registry_single_provider);
	g_test_add_func ("/service-registry/wrong-interface", test_registry_wrong_interface);
	g_test_add_func ("/service-registry/multiple", test_registry_multiple);
	return g_test_run ();
}
