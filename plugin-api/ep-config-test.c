/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "ep-config.h"
#include "ep-error.h"

static const char quickstart[] = "hostname = \"mail.example.org\"\n"
				 "data_dir = \"/var/lib/epistle\"\n"
				 "domains = [\"example.org\"]\n"
				 "\n"
				 "[[accounts]]\n"
				 "name = \"alice\"\n"
				 "addresses = [\"alice@example.org\", \"a.smith@example.org\"]\n"
				 "\n"
				 "[[listeners]]\n"
				 "kind = \"smtp\"\n";

static const char *const smtp_kinds[] = { "smtp", "submission", NULL };
static const guint16 smtp_ports[] = { 25, 587 };

static EpConfig *
load_texts (const char *main_text, const char *dropin_text, GError **error)
{
	const char *names[] = { "mail.toml", "mail.conf.d/20-x.toml", NULL };
	const char *texts[] = { main_text, dropin_text, NULL };
	return ep_config_load_from_data (names, texts, error);
}

static EpConfig *
load_and_validate (const char *main_text, const char *dropin_text, GError **error)
{
	g_autoptr(EpConfig) config = load_texts (main_text, dropin_text, error);
	if (config == NULL)
		return NULL;
	if (!ep_config_validate (config, error))
		return NULL;
	return g_steal_pointer (&config);
}

static void
test_config_quickstart (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = load_and_validate (quickstart, NULL, &error);
	EpConfigAccount *alice;
	EpConfigListener *listener;

	g_assert_no_error (error);
	g_assert_nonnull (config);
	g_assert_cmpstr (ep_config_get_hostname (config), ==, "mail.example.org");
	g_assert_cmpstr (ep_config_get_data_dir (config), ==, "/var/lib/epistle");
	g_assert_cmpstrv (ep_config_get_domains (config), ((const char *[]){ "example.org", NULL }));
	g_assert_cmpuint (ep_config_get_accounts (config)->len, ==, 1);
	alice = g_ptr_array_index (ep_config_get_accounts (config), 0);
	g_assert_cmpstr (alice->name, ==, "alice");
	g_assert_cmpstrv (alice->addresses, ((const char *[]){ "alice@example.org", "a.smith@example.org", NULL }));
	g_assert_cmpuint (alice->line, ==, 5);
	g_assert_true (ep_config_get_dns_dnssec (config));
	g_assert_cmpuint (ep_config_get_database_max_connections (config), ==, 10);

	g_assert_true (ep_config_check_listener_kinds (config, smtp_kinds, smtp_ports, &error));
	g_assert_no_error (error);
	listener = g_ptr_array_index (ep_config_get_listeners (config), 0);
	g_assert_cmpstr (listener->addr, ==, "127.0.0.1");
	g_assert_cmpuint (listener->port, ==, 25);
}

static void
test_config_unknown_key (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = g_strconcat (quickstart, "[database]\nmax_conections = 5\n", NULL);
	g_autoptr(EpConfig) config = load_and_validate (text, NULL, &error);

	g_assert_null (config);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_cmpstr (error->message, ==,
			 "mail.toml:12: database.max_conections: unknown key (did you mean 'max_connections'?)");
}

static void
test_config_unknown_top_level (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = g_strconcat ("hostnme = \"x.example.org\"\n", quickstart, NULL);
	g_autoptr(EpConfig) config = load_and_validate (text, NULL, &error);

	g_assert_null (config);
	g_assert_nonnull (strstr (error->message, "mail.toml:1: hostnme: unknown key (did you mean 'hostname'?)"));
}

static void
test_config_env (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = NULL;
	g_autofree char *out = NULL;

	g_setenv ("EP_TEST_DB_PASSWORD", "s3cret", TRUE);
	out = ep_config_substitute_env ("url = \"postgresql://mail:${EP_TEST_DB_PASSWORD}@db/mail\"\n", "f", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (out, ==, "url = \"postgresql://mail:s3cret@db/mail\"\n");

	g_unsetenv ("EP_TEST_UNSET_VARIABLE");
	config = load_texts ("hostname = \"a.example.org\"\n\ndata_dir = \"${EP_TEST_UNSET_VARIABLE}\"\n", NULL, &error);
	g_assert_null (config);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_cmpstr (error->message, ==, "mail.toml:3: environment variable EP_TEST_UNSET_VARIABLE is not set");
	g_clear_error (&error);

	g_clear_pointer (&out, g_free);
	out = ep_config_substitute_env ("a = 1\nb = \"${OOPS\"\n", "f.toml", &error);
	g_assert_null (out);
	g_assert_nonnull (strstr (error->message, "f.toml:2: unterminated"));
	g_clear_error (&error);

	/* comments are left alone wherever they start; a `#` inside a string is not one */
	g_clear_pointer (&out, g_free);
	out = ep_config_substitute_env ("# password = \"${EP_TEST_UNSET_VARIABLE}\"\n"
					"a = \"x#${EP_TEST_DB_PASSWORD}\" # ${EP_TEST_UNSET_VARIABLE}\n"
					"b = 'y#${EP_TEST_DB_PASSWORD}' # ${NOPE\n"
					"c = \"q\\\"#${EP_TEST_DB_PASSWORD}\"\n"
					"d = \"\"\"\n# ${EP_TEST_DB_PASSWORD}\"\"\"\n"
					"e = '''\n#${EP_TEST_DB_PASSWORD}'''\n"
					"f = \"$${EP_TEST_DB_PASSWORD} $5\"\n",
					"f.toml", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (out, ==,
			 "# password = \"${EP_TEST_UNSET_VARIABLE}\"\n"
			 "a = \"x#s3cret\" # ${EP_TEST_UNSET_VARIABLE}\n"
			 "b = 'y#s3cret' # ${NOPE\n"
			 "c = \"q\\\"#s3cret\"\n"
			 "d = \"\"\"\n# s3cret\"\"\"\n"
			 "e = '''\n#s3cret'''\n"
			 "f = \"${EP_TEST_DB_PASSWORD} $5\"\n");

	/* lines are still counted through comments */
	g_clear_pointer (&out, g_free);
	out = ep_config_substitute_env ("# ${A}\n# ${B}\nx = \"${EP_TEST_UNSET_VARIABLE}\"\n", "g.toml", &error);
	g_assert_null (out);
	g_assert_cmpstr (error->message, ==, "g.toml:3: environment variable EP_TEST_UNSET_VARIABLE is not set");
}

static void
test_config_duplicate_address (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = load_and_validate (quickstart,
							"[[accounts]]\nname = \"mallory\"\n"
							"addresses = [\"Alice@example.org\"]\n",
							&error);

	g_assert_null (config);
	g_assert_cmpstr (error->message, ==,
			 "mail.conf.d/20-x.toml:3: accounts[2].addresses: 'alice@example.org' already belongs to "
			 "account 'alice'; an address belongs to one account only");
}

static void
test_config_rules (void)
{
	struct {
		const char *extra;
		const char *expect;
	} cases[] = {
		{ "[[accounts]]\nname = \"bob\"\naddresses = [\"bob@example.net\"]\n",
		  "'bob@example.net' is not in a configured domain (add 'example.net' to 'domains')" },
		{ "[[accounts]]\nname = \"Bob\"\naddresses = [\"bob@example.org\"]\n",
		  "accounts[2].name: 'Bob' is not a valid account name (use a-z, 0-9 and -)" },
		{ "[[accounts]]\nname = \"alice\"\naddresses = [\"bob@example.org\"]\n",
		  "account name 'alice' is used by another account" },
		{ "[[accounts]]\nname = \"bob\"\naddresses = []\n", "accounts[2].addresses: must not be empty" },
		{ "[[accounts]]\nname = \"bob\"\naddresses = [\"bob\"]\n", "'bob' is not an e-mail address" },
		{ "[[accounts]]\nname = \"bob\"\naddresses = [\"bob@example.org\"]\nscram_sha256 = \"SCRAM-SHA-256$1:AA==$AA==:AA==\"\n",
		  "accounts[2].scram_sha256: not SCRAM-SHA-256 credentials" },
		{ "[[accounts]]\nname = \"bob\"\naddresses = [\"bob@example.org\"]\nquota_bytes = -1\n",
		  "accounts[2].quota_bytes: -1 is out of range" },
		{ "[[listeners]]\nkind = \"smtp\"\nport = 70000\n", "listeners[2].port: 70000 is out of range (1 to 65535)" },
		{ "[[listeners]]\nkind = \"smtp\"\naddr = \"localhost\"\n",
		  "listeners[2].addr: 'localhost' is not an IPv4 or IPv6 address" },
		{ "[[listeners]]\nkind = 25\n", "listeners[2].kind: expected a string, got integer" },
		{ "[tls]\ncert_file = \"/etc/ssl/cert.pem\"\n", "cert_file and key_file must be given together" },
		{ "[tls]\ncert_file = \"cert.pem\"\nkey_file = \"/k\"\n", "'cert.pem' is not an absolute path" },
		{ "[dns]\nnameservers = [\"127.0.0.1@99999\"]\n", "the port after @ must be a number from 1 to 65535" },
		{ "[database]\nmax_connections = 0\n", "database.max_connections: 0 is out of range" },
		{ "[privileges]\ngroup = \"mail\"\n", "privileges.user: required key is missing" },
		{ "[[listeners]]\nkind = \"smtp\"\nbacklog = 5\n", "listeners[2].backlog: unknown key" },
		{ "\"hostname\\u0000x\" = \"a.example.org\"\n", "a key must not contain a NUL character" },
		{ "[privileges]\nuser = \"root\\u0000x\"\n", "privileges.user: must not contain a NUL character" },
		{ "[dns]\nnameservers = [\"1.1.1.1\\u0000\"]\n", "dns.nameservers: entry 1 contains a NUL character" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *text = g_strconcat (quickstart, cases[i].extra, NULL);
		g_autoptr(EpConfig) config = load_and_validate (text, NULL, &error);

		g_test_message ("case %u: %s", i, cases[i].expect);
		g_assert_null (config);
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %u: expected '%s' in '%s'", i, cases[i].expect, error->message);
	}
}

static void
test_config_tls_sni (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = NULL;
	GPtrArray *sni;
	EpConfigTlsSni *entry;

	config = load_and_validate (quickstart,
				    "[tls]\ncert_file = \"/etc/epistle/cert.pem\"\nkey_file = \"/etc/epistle/key.pem\"\n"
				    "[[tls.sni]]\nnames = [\"Mail.Example.NET\", \"*.example.net\"]\n"
				    "cert_file = \"/etc/epistle/net.pem\"\nkey_file = \"/etc/epistle/net.key\"\n"
				    "[[tls.sni]]\nnames = [\"mail.example.com\"]\n"
				    "cert_file = \"/etc/epistle/com.pem\"\nkey_file = \"/etc/epistle/com.key\"\n",
				    &error);
	g_assert_no_error (error);
	g_assert_cmpstr (ep_config_get_tls_cert_file (config), ==, "/etc/epistle/cert.pem");
	g_assert_cmpstr (ep_config_get_tls_key_file (config), ==, "/etc/epistle/key.pem");
	sni = ep_config_get_tls_sni (config);
	g_assert_cmpuint (sni->len, ==, 2);
	entry = g_ptr_array_index (sni, 0);
	g_assert_cmpstrv (entry->names, ((const char *[]){ "mail.example.net", "*.example.net", NULL }));
	g_assert_cmpstr (entry->cert_file, ==, "/etc/epistle/net.pem");
	g_assert_cmpstr (entry->key_file, ==, "/etc/epistle/net.key");
	g_assert_cmpstr (entry->filename, ==, "mail.conf.d/20-x.toml");
	g_assert_cmpuint (entry->line, ==, 4);
	entry = g_ptr_array_index (sni, 1);
	g_assert_cmpstrv (entry->names, ((const char *[]){ "mail.example.com", NULL }));
	g_assert_cmpuint (entry->line, ==, 8);
	g_clear_object (&config);

	/* a drop-in adds to the main file's list */
	config = load_and_validate ("hostname = \"mail.example.org\"\ndata_dir = \"/var/lib/epistle\"\n"
				    "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n"
				    "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
				    "[[tls.sni]]\nnames = [\"b.example.org\"]\ncert_file = \"/b.pem\"\nkey_file = \"/b.key\"\n",
				    &error);
	g_assert_no_error (error);
	sni = ep_config_get_tls_sni (config);
	g_assert_cmpuint (sni->len, ==, 2);
	entry = g_ptr_array_index (sni, 1);
	g_assert_cmpstr (entry->names[0], ==, "b.example.org");
	g_assert_cmpstr (entry->filename, ==, "mail.conf.d/20-x.toml");
	g_clear_object (&config);

	/* no [tls]: nothing */
	config = load_and_validate (quickstart, NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_config_get_tls_sni (config)->len, ==, 0);
	g_assert_null (ep_config_get_tls_cert_file (config));
}

static void
test_config_tls_sni_errors (void)
{
	static const char tls[] = "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n";
	struct {
		gboolean with_tls;
		const char *extra;
		const char *expect;
	} cases[] = {
		{ FALSE, "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "mail.conf.d/20-x.toml:1: tls.sni[1]: [[tls.sni]] needs a default certificate: set cert_file and "
		  "key_file in [tls]" },
		{ TRUE, "[[tls.sni]]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "mail.conf.d/20-x.toml:1: tls.sni[1].names: required key is missing" },
		{ TRUE, "[[tls.sni]]\nnames = []\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "mail.conf.d/20-x.toml:2: tls.sni[1].names: must not be empty" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\"]\nkey_file = \"/a.key\"\n",
		  "tls.sni[1].cert_file: required key is missing" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"/a.pem\"\n",
		  "tls.sni[1].key_file: required key is missing" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"a.pem\"\nkey_file = \"/a.key\"\n",
		  "mail.conf.d/20-x.toml:3: tls.sni[1].cert_file: 'a.pem' is not an absolute path" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a..org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "tls.sni[1].names: 'a..org' is not a valid domain name" },
		{ TRUE, "[[tls.sni]]\nnames = [\"mail.*.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "tls.sni[1].names: 'mail.*.org': a wildcard is only allowed as the whole first label" },
		{ TRUE, "[[tls.sni]]\nnames = [\"*.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "tls.sni[1].names: '*.org': a wildcard needs a domain of at least two labels" },
		{ TRUE, "[[tls.sni]]\nnames = [\"*\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "a wildcard is only allowed as the whole first label" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\", 5]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n",
		  "tls.sni[1].names: expected an array of strings" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n"
			"ocsp = true\n",
		  "mail.conf.d/20-x.toml:5: tls.sni[1].ocsp: unknown key" },
		{ TRUE, "[[tls.sni]]\nnames = [\"a.example.org\"]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n"
			"[[tls.sni]]\nnames = [\"A.example.org\"]\ncert_file = \"/b.pem\"\nkey_file = \"/b.key\"\n",
		  "mail.conf.d/20-x.toml:6: tls.sni[2].names: 'a.example.org' is already listed in tls.sni[1]" },
		{ TRUE, "[tls.sni]\nnames = [\"a.example.org\"]\n", "tls.sni: expected an array of tables" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *main_text = g_strconcat (quickstart, cases[i].with_tls ? tls : "", NULL);
		g_autoptr(EpConfig) config = load_and_validate (main_text, cases[i].extra, &error);

		g_test_message ("case %u: %s", i, cases[i].expect);
		g_assert_null (config);
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %u: expected '%s' in '%s'", i, cases[i].expect, error->message);
	}
}

static void
test_config_missing_required (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = load_and_validate ("domains = []\n", NULL, &error);

	g_assert_null (config);
	g_assert_nonnull (strstr (error->message, "mail.toml: hostname: required key is missing"));
	g_assert_nonnull (strstr (error->message, "mail.toml: data_dir: required key is missing"));
}

static void
test_config_merge (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = NULL;
	g_auto(GStrv) modules = NULL;

	config = load_and_validate (quickstart,
				    "modules = []\n"
				    "[[accounts]]\nname = \"bob\"\naddresses = [\"bob@example.org\"]\n"
				    "[[listeners]]\nkind = \"submission\"\n",
				    &error);
	g_assert_no_error (error);
	g_assert_cmpuint (ep_config_get_accounts (config)->len, ==, 2);
	g_assert_cmpuint (ep_config_get_listeners (config)->len, ==, 2);
	g_assert_true (ep_config_get_module_selection (config, &modules, &error));
	g_assert_nonnull (modules);
	g_assert_cmpuint (g_strv_length (modules), ==, 0);
	g_clear_object (&config);

	/* a scalar set twice is an error naming both places */
	config = load_and_validate (quickstart, "\nhostname = \"other.example.org\"\n", &error);
	g_assert_null (config);
	g_assert_cmpstr (error->message, ==, "mail.conf.d/20-x.toml:2: hostname: already set in mail.toml:1");
	g_clear_error (&error);

	/* modules lists from several files add up */
	config = load_texts ("modules = [\"a\", \"b\"]\n", "modules = [\"b\", \"c\"]\n", &error);
	g_assert_no_error (error);
	g_clear_pointer (&modules, g_strfreev);
	g_assert_true (ep_config_get_module_selection (config, &modules, &error));
	g_assert_cmpstrv (modules, ((const char *[]){ "a", "b", "c", NULL }));
}

static const EpConfigKey test_module_keys[] = {
	{ "greeting", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 10 },
	{ "limit", EP_CONFIG_TYPE_INTEGER, 0, 1, 100 },
	{ NULL }
};

static void
test_config_module_sections (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EpConfig) config = NULL;
	g_autofree char *good = g_strconcat (quickstart, "[test-mod]\ngreeting = \"hi\"\nlimit = 7\n", NULL);
	g_autofree char *bad = g_strconcat (quickstart, "[test-mod]\ngreeting = \"a greeting too long\"\n", NULL);
	g_autofree char *other = g_strconcat (quickstart, "[greylist]\ndelay = 5\n", NULL);

	config = load_texts (good, NULL, &error);
	ep_config_add_section_schema (config, "test-mod", test_module_keys);
	g_assert_true (ep_config_validate (config, &error));
	g_assert_no_error (error);
	g_assert_cmpint (ep_config_section_get_integer (ep_config_get_section (config, "test-mod"), "limit", 0), ==, 7);
	g_assert_cmpstr (ep_config_section_get_string (ep_config_get_section (config, "test-mod"), "greeting", NULL), ==,
			 "hi");
	g_clear_object (&config);

	config = load_texts (bad, NULL, &error);
	ep_config_add_section_schema (config, "test-mod", test_module_keys);
	g_assert_false (ep_config_validate (config, &error));
	g_assert_cmpstr (error->message, ==, "mail.toml:12: test-mod.greeting: must be at most 10 characters");
	g_clear_error (&error);
	g_clear_object (&config);

	config = load_texts (other, NULL, &error);
	ep_config_add_known_module (config, "greylist");
	g_assert_false (ep_config_validate (config, &error));
	g_assert_nonnull (strstr (error->message, "module 'greylist', which is not loaded"));
}

static void
test_config_listener_kinds (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = g_strconcat (quickstart,
					     "[[listeners]]\nkind = \"imap\"\n"
					     "[[listeners]]\nkind = \"submission\"\nport = 25\n",
					     NULL);
	g_autoptr(EpConfig) config = load_and_validate (text, NULL, &error);

	g_assert_no_error (error);
	g_assert_false (ep_config_check_listener_kinds (config, smtp_kinds, smtp_ports, &error));
	g_assert_nonnull (strstr (error->message, "mail.toml:12: listeners[2].kind: no loaded module provides "
						  "listener kind 'imap' (available: smtp, submission)"));
	g_assert_nonnull (strstr (error->message, "listeners[3]: 127.0.0.1 port 25 is already used by the listener "
						  "at mail.toml:9"));
}

static void
test_config_file_permissions (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp ("ep-config-test-XXXXXX", &error);
	g_autofree char *path = g_build_filename (dir, "mail.toml", NULL);
	g_autofree char *dropins = g_build_filename (dir, "mail.conf.d", NULL);
	g_autofree char *d1 = g_build_filename (dropins, "20-b.toml", NULL);
	g_autofree char *d2 = g_build_filename (dropins, "10-a.toml", NULL);
	g_autoptr(EpConfig) config = NULL;
	const char *const *files;

	g_assert_no_error (error);
	g_assert_true (g_file_set_contents_full (path, quickstart, -1, G_FILE_SET_CONTENTS_NONE, 0644, &error));
	config = ep_config_load (path, &error);
	g_assert_null (config);
	g_assert_error (error, EP_ERROR, EP_ERROR_PERM);
	g_assert_nonnull (strstr (error->message, "mode 0644"));
	g_assert_nonnull (strstr (error->message, "chmod 600"));
	g_clear_error (&error);

	g_assert_cmpint (g_chmod (path, 0600), ==, 0);
	g_assert_cmpint (g_mkdir (dropins, 0700), ==, 0);
	g_assert_true (g_file_set_contents_full (d1, "[[accounts]]\nname = \"b\"\naddresses = [\"b@example.org\"]\n",
						 -1, G_FILE_SET_CONTENTS_NONE, 0600, &error));
	g_assert_true (g_file_set_contents_full (d2, "[[accounts]]\nname = \"a\"\naddresses = [\"a@example.org\"]\n",
						 -1, G_FILE_SET_CONTENTS_NONE, 0600, &error));
	config = ep_config_load (path, &error);
	g_assert_no_error (error);
	files = ep_config_get_files (config);
	g_assert_cmpstr (files[0], ==, path);
	g_assert_cmpstr (files[1], ==, d2);
	g_assert_cmpstr (files[2], ==, d1);
	g_assert_null (files[3]);
	g_assert_true (ep_config_validate (config, &error));
	g_assert_cmpstr (((EpConfigAccount *) g_ptr_array_index (ep_config_get_accounts (config), 1))->name, ==, "a");
	g_clear_object (&config);

	/* a drop-in readable by others is refused too */
	g_assert_cmpint (g_chmod (d1, 0640), ==, 0);
	config = ep_config_load (path, &error);
	g_assert_null (config);
	g_assert_nonnull (strstr (error->message, "20-b.toml"));
	g_assert_nonnull (strstr (error->message, "chmod 600"));

	g_unlink (d1);
	g_unlink (d2);
	g_rmdir (dropins);
	g_unlink (path);
	g_rmdir (dir);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/config/quickstart", test_config_quickstart);
	g_test_add_func ("/config/unknown-key", test_config_unknown_key);
	g_test_add_func ("/config/unknown-top-level", test_config_unknown_top_level);
	g_test_add_func ("/config/env", test_config_env);
	g_test_add_func ("/config/duplicate-address", test_config_duplicate_address);
	g_test_add_func ("/config/rules", test_config_rules);
	g_test_add_func ("/config/tls-sni", test_config_tls_sni);
	g_test_add_func ("/config/tls-sni-errors", test_config_tls_sni_errors);
	g_test_add_func ("/config/missing-required", test_config_missing_required);
	g_test_add_func ("/config/merge", test_config_merge);
	g_test_add_func ("/config/module-sections", test_config_module_sections);
	g_test_add_func ("/config/listener-kinds", test_config_listener_kinds);
	g_test_add_func ("/config/file-permissions", test_config_file_permissions);
	return g_test_run ();
}
