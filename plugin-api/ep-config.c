/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep-config.h"
#include "ep-error.h"
#include "ep-sasl.h"

#define EP_CONFIG_DROPIN_DIR	"mail.conf.d"
#define EP_CONFIG_MAX_FILE_SIZE (4 * 1024 * 1024)

struct _EpConfig {
	GObject parent_instance;

	GPtrArray *files; /* char*, main file first */
	EpTomlValue *root;
	GHashTable *sections;      /* section name -> const EpConfigKey * */
	GHashTable *known_modules; /* installed module names */

	/* typed core settings, filled in by ep_config_validate() */
	char *hostname;
	char *data_dir;
	GStrv domains;
	GPtrArray *accounts;
	GPtrArray *listeners;
	char *tls_cert_file;
	char *tls_key_file;
	GPtrArray *tls_sni;
	char *database_url;
	guint database_max_connections;
	GStrv dns_nameservers;
	gboolean dns_dnssec;
	char *dns_trust_anchor_file;
	char *privileges_user;
	char *privileges_group;
};

G_DEFINE_TYPE (EpConfig, ep_config, G_TYPE_OBJECT)

/* ---- the core schema ---------------------------------------------------- */

static gboolean
ep_config_check_account_name (const EpTomlValue *value, GError **error)
{
	const char *name = ep_toml_value_get_string (value);
	for (const char *p = name; *p != '\0'; p++) {
		if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-')) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s' is not a valid account name (use a-z, 0-9 and -)", name);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
ep_config_check_module_name (const EpTomlValue *value, GError **error)
{
	const char *name = ep_toml_value_get_string (value);
	for (const char *p = name; *p != '\0'; p++) {
		if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-')) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s' is not a valid module name (use a-z, 0-9 and -)", name);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
ep_config_check_address (const EpTomlValue *value, GError **error)
{
	const char *addr = ep_toml_value_get_string (value);
	const char *at = strrchr (addr, '@');
	g_autoptr(EpTomlValue) domain = NULL;
	g_autoptr(GError) error_local = NULL;

	if (at == NULL || at == addr || at[1] == '\0') {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s' is not an e-mail address (local-part@domain)", addr);
		return FALSE;
	}
	for (const char *p = addr; p < at; p++) {
		if ((guchar) *p <= ' ' || *p == '"' || *p == '\\' || *p == '(' || *p == ')' || *p == ',' ||
		    *p == ':' || *p == ';' || *p == '<' || *p == '>' || *p == '@' || *p == '[' || *p == ']') {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "'%s': the local part has a character that needs quoting", addr);
			return FALSE;
		}
	}
	domain = ep_toml_value_new_string (at + 1, NULL, 0);
	if (!ep_config_check_domain (domain, &error_local)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s': %s", addr, error_local->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_config_check_password_hash (const EpTomlValue *value, GError **error)
{
	const char *hash = ep_toml_value_get_string (value);
	if (hash[0] != '$' || strchr (hash + 1, '$') == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG,
				     "not a password hash in PHC format ($argon2id$...); "
				     "make one with 'mail token-hash'");
		return FALSE;
	}
	return TRUE;
}

/* the form ep_scram_sha256_credentials_format() writes and `mail token-hash
 * --scram` prints */
static gboolean
ep_config_check_scram (const EpTomlValue *value, GError **error)
{
	g_autoptr (GBytes) salt = NULL;
	g_autoptr (GBytes) stored_key = NULL;
	g_autoptr (GBytes) server_key = NULL;
	g_autoptr (GError) local_error = NULL;
	guint iterations = 0;

	if (!ep_scram_sha256_credentials_parse (ep_toml_value_get_string (value), &iterations, &salt, &stored_key,
						&server_key, &local_error)) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "not SCRAM-SHA-256 credentials (%s); make them with 'mail token-hash --scram'",
			     local_error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_config_check_database_url (const EpTomlValue *value, GError **error)
{
	const char *url = ep_toml_value_get_string (value);
	if (!g_str_has_prefix (url, "postgresql://") && !g_str_has_prefix (url, "postgres://") &&
	    strchr (url, '=') == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "not a PostgreSQL connection string (postgresql://user@host/db or key=value pairs)");
		return FALSE;
	}
	return TRUE;
}

static const EpConfigKey ep_config_account_keys[] = {
	{ "name", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 64, ep_config_check_account_name },
	{ "addresses", EP_CONFIG_TYPE_STRING_ARRAY, EP_CONFIG_KEY_REQUIRED | EP_CONFIG_KEY_NON_EMPTY, 1, 1000,
	  ep_config_check_address },
	{ "password_hash", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_SECRET, 0, 0, ep_config_check_password_hash },
	{ "scram_sha256", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_SECRET, 0, 0, ep_config_check_scram },
	{ "catch_all", EP_CONFIG_TYPE_BOOLEAN },
	{ "quota_bytes", EP_CONFIG_TYPE_INTEGER, 0, 0, G_MAXINT64 },
	{ NULL }
};

static const EpConfigKey ep_config_listener_keys[] = {
	{ "kind", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 32 },
	{ "addr", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_ip_address },
	{ "port", EP_CONFIG_TYPE_INTEGER, 0, 1, 65535 },
	{ NULL }
};

/* a host name, or "*." and a domain of at least two labels */
static gboolean
ep_config_check_sni_name (const EpTomlValue *value, GError **error)
{
	const char *name = ep_toml_value_get_string (value);
	const char *host = g_str_has_prefix (name, "*.") ? name + 2 : name;
	g_autoptr(EpTomlValue) rest = NULL;

	if (strchr (host, '*') != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s': a wildcard is only allowed as the whole first label (*.example.org)", name);
		return FALSE;
	}
	if (host != name && strchr (host, '.') == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "'%s': a wildcard needs a domain of at least two labels after '*.'", name);
		return FALSE;
	}
	rest = ep_toml_value_new_string (host, NULL, 0);
	return ep_config_check_domain (rest, error);
}

static const EpConfigKey ep_config_tls_sni_keys[] = {
	{ "names", EP_CONFIG_TYPE_STRING_ARRAY, EP_CONFIG_KEY_REQUIRED | EP_CONFIG_KEY_NON_EMPTY, 1, 1000,
	  ep_config_check_sni_name },
	{ "cert_file", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 0, ep_config_check_absolute_path },
	{ "key_file", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 0, ep_config_check_absolute_path },
	{ NULL }
};

static const EpConfigKey ep_config_tls_keys[] = {
	{ "cert_file", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_absolute_path },
	{ "key_file", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_absolute_path },
	{ "sni", EP_CONFIG_TYPE_TABLE_ARRAY, 0, 0, 0, NULL, ep_config_tls_sni_keys },
	{ NULL }
};

static const EpConfigKey ep_config_database_keys[] = {
	{ "url", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_SECRET, 1, 0, ep_config_check_database_url },
	{ "max_connections", EP_CONFIG_TYPE_INTEGER, 0, 1, 1000 },
	{ NULL }
};

static const EpConfigKey ep_config_dns_keys[] = {
	{ "nameservers", EP_CONFIG_TYPE_STRING_ARRAY, 0, 0, 16, ep_config_check_host_at_port },
	{ "dnssec", EP_CONFIG_TYPE_BOOLEAN },
	{ "trust_anchor_file", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_absolute_path },
	{ "timeout", EP_CONFIG_TYPE_INTEGER, 0, 1, 300 }, /* seconds */
	{ NULL }
};

static const EpConfigKey ep_config_privileges_keys[] = {
	{ "user", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 0, 0, ep_config_check_user_name },
	{ "group", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_user_name },
	{ NULL }
};

static gboolean
ep_config_check_transport_domain (const EpTomlValue *value, GError **error)
{
	if (g_strcmp0 (ep_toml_value_get_string (value), "*") == 0)
		return TRUE;
	return ep_config_check_domain (value, error);
}

/* [[transport]]: where the outbound queue sends mail for a domain instead
 * of its MX (a smart host); read by the queue module */
static const EpConfigKey ep_config_transport_keys[] = {
	{ "domain", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 253, ep_config_check_transport_domain, NULL,
	  "the recipient domain this applies to, or \"*\" for every domain" },
	{ "host", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 253, NULL, NULL,
	  "the relay: a host name or an IP address" },
	{ "port", EP_CONFIG_TYPE_INTEGER, 0, 1, 65535, NULL, NULL, "default 25" },
	{ "starttls", EP_CONFIG_TYPE_BOOLEAN, 0, 0, 0, NULL, NULL,
	  "STARTTLS is required and the certificate verified (needed with username)" },
	{ "ca_file", EP_CONFIG_TYPE_STRING, 0, 0, 0, ep_config_check_absolute_path, NULL,
	  "PEM CA certificates to verify the relay with, instead of the system's" },
	{ "username", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_NON_EMPTY, 0, 0, NULL, NULL, "AUTH identity" },
	{ "password", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_SECRET, 0, 0, NULL, NULL, "AUTH password" },
	{ NULL }
};

static const EpConfigKey ep_config_core_keys[] = {
	{ "hostname", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 253, ep_config_check_fqdn },
	{ "data_dir", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 4096, ep_config_check_absolute_path },
	{ "domains", EP_CONFIG_TYPE_STRING_ARRAY, 0, 0, 10000, ep_config_check_domain },
	{ "modules", EP_CONFIG_TYPE_STRING_ARRAY, 0, 0, 256, ep_config_check_module_name },
	{ "accounts", EP_CONFIG_TYPE_TABLE_ARRAY, 0, 0, 0, NULL, ep_config_account_keys },
	{ "listeners", EP_CONFIG_TYPE_TABLE_ARRAY, 0, 0, 0, NULL, ep_config_listener_keys },
	{ "transport", EP_CONFIG_TYPE_TABLE_ARRAY, 0, 0, 0, NULL, ep_config_transport_keys },
	{ "tls", EP_CONFIG_TYPE_TABLE, 0, 0, 0, NULL, ep_config_tls_keys },
	{ "database", EP_CONFIG_TYPE_TABLE, 0, 0, 0, NULL, ep_config_database_keys },
	{ "dns", EP_CONFIG_TYPE_TABLE, 0, 0, 0, NULL, ep_config_dns_keys },
	{ "privileges", EP_CONFIG_TYPE_TABLE, 0, 0, 0, NULL, ep_config_privileges_keys },
	{ NULL }
};

/* ---- object ------------------------------------------------------------- */

static void
ep_config_account_free (EpConfigAccount *account)
{
	g_free (account->name);
	g_strfreev (account->addresses);
	g_free (account->password_hash);
	g_free (account->scram_sha256);
	g_free (account);
}

static void
ep_config_listener_free (EpConfigListener *listener)
{
	g_free (listener->kind);
	g_free (listener->addr);
	g_free (listener->filename);
	g_free (listener);
}

static void
ep_config_tls_sni_free (EpConfigTlsSni *sni)
{
	g_strfreev (sni->names);
	g_free (sni->cert_file);
	g_free (sni->key_file);
	g_free (sni->filename);
	g_free (sni);
}

static void
ep_config_clear_typed (EpConfig *self)
{
	g_clear_pointer (&self->hostname, g_free);
	g_clear_pointer (&self->data_dir, g_free);
	g_clear_pointer (&self->domains, g_strfreev);
	g_ptr_array_set_size (self->accounts, 0);
	g_ptr_array_set_size (self->listeners, 0);
	g_clear_pointer (&self->tls_cert_file, g_free);
	g_clear_pointer (&self->tls_key_file, g_free);
	g_ptr_array_set_size (self->tls_sni, 0);
	g_clear_pointer (&self->database_url, g_free);
	g_clear_pointer (&self->dns_nameservers, g_strfreev);
	g_clear_pointer (&self->dns_trust_anchor_file, g_free);
	g_clear_pointer (&self->privileges_user, g_free);
	g_clear_pointer (&self->privileges_group, g_free);
}

static void
ep_config_finalize (GObject *object)
{
	EpConfig *self = EP_CONFIG (object);

	ep_config_clear_typed (self);
	g_ptr_array_unref (self->accounts);
	g_ptr_array_unref (self->listeners);
	g_ptr_array_unref (self->tls_sni);
	g_ptr_array_unref (self->files);
	g_clear_pointer (&self->root, ep_toml_value_unref);
	g_hash_table_unref (self->sections);
	g_hash_table_unref (self->known_modules);

	G_OBJECT_CLASS (ep_config_parent_class)->finalize (object);
}

static void
ep_config_class_init (EpConfigClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_config_finalize;
}

static void
ep_config_init (EpConfig *self)
{
	self->files = g_ptr_array_new_null_terminated (4, g_free, TRUE);
	self->sections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	self->known_modules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	self->accounts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_config_account_free);
	self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_config_listener_free);
	self->tls_sni = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_config_tls_sni_free);
	self->database_max_connections = 10;
	self->dns_dnssec = TRUE;
}

/* ---- loading ------------------------------------------------------------ */

/* Where the scanner of ep_config_substitute_env() is in the TOML text: a
 * `#` starts a comment only outside strings, and comments are copied as
 * they are. */
typedef enum {
	EP_TOML_LEX_PLAIN,
	EP_TOML_LEX_COMMENT,
	EP_TOML_LEX_BASIC,	/* "..." */
	EP_TOML_LEX_LITERAL,	/* '...' */
	EP_TOML_LEX_ML_BASIC,	/* """...""" */
	EP_TOML_LEX_ML_LITERAL, /* '''...''' */
} EpTomlLex;

/* Advances the lexical state over the text at @p; returns how many octets
 * it took (a three-quote delimiter, an escape). */
static gsize
ep_config_lex_step (EpTomlLex *state, const char *p)
{
	switch (*state) {
	case EP_TOML_LEX_PLAIN:
		if (*p == '#') {
			*state = EP_TOML_LEX_COMMENT;
		} else if (g_str_has_prefix (p, "\"\"\"")) {
			*state = EP_TOML_LEX_ML_BASIC;
			return 3;
		} else if (g_str_has_prefix (p, "'''")) {
			*state = EP_TOML_LEX_ML_LITERAL;
			return 3;
		} else if (*p == '"') {
			*state = EP_TOML_LEX_BASIC;
		} else if (*p == '\'') {
			*state = EP_TOML_LEX_LITERAL;
		}
		return 1;
	case EP_TOML_LEX_COMMENT:
		if (*p == '\n')
			*state = EP_TOML_LEX_PLAIN;
		return 1;
	case EP_TOML_LEX_BASIC:
		if (*p == '\\' && p[1] != '\0' && p[1] != '\n')
			return 2;
		/* a newline ends a broken string: the parser will say so */
		if (*p == '"' || *p == '\n')
			*state = EP_TOML_LEX_PLAIN;
		return 1;
	case EP_TOML_LEX_LITERAL:
		if (*p == '\'' || *p == '\n')
			*state = EP_TOML_LEX_PLAIN;
		return 1;
	case EP_TOML_LEX_ML_BASIC:
		if (*p == '\\' && p[1] != '\0')
			return 2;
		if (g_str_has_prefix (p, "\"\"\"")) {
			*state = EP_TOML_LEX_PLAIN;
			return 3;
		}
		return 1;
	case EP_TOML_LEX_ML_LITERAL:
		if (g_str_has_prefix (p, "'''")) {
			*state = EP_TOML_LEX_PLAIN;
			return 3;
		}
		return 1;
	default:
		g_assert_not_reached ();
	}
}

/**
 * ep_config_substitute_env:
 * @text: the file's text
 * @filename: for messages
 *
 * Replaces every `${NAME}` with the value of the environment variable NAME,
 * in values and strings but not in comments (a commented-out example may
 * name a variable that is not set).  `$${` stands for a literal `${`.  The
 * substitution is textual and happens before parsing.
 *
 * Returns: (transfer full): the new text, or %NULL when a variable is unset
 * or a `${` is not terminated.
 */
char *
ep_config_substitute_env (const char *text, const char *filename, GError **error)
{
	g_autoptr(GString) out = g_string_sized_new (strlen (text) + 64);
	EpTomlLex state = EP_TOML_LEX_PLAIN;
	guint line = 1;
	const char *p = text;

	while (*p != '\0') {
		const char *end;
		const char *value;
		g_autofree char *name = NULL;

		if (state == EP_TOML_LEX_COMMENT || p[0] != '$') {
			gsize n = ep_config_lex_step (&state, p);
			for (gsize i = 0; i < n && *p != '\0'; i++) {
				if (*p == '\n')
					line++;
				g_string_append_c (out, *p++);
			}
			continue;
		}
		if (g_str_has_prefix (p, "$${")) {
			g_string_append (out, "${");
			p += 3;
			continue;
		}
		if (p[1] != '{') {
			g_string_append_c (out, *p++);
			continue;
		}
		end = p + 2;
		while (g_ascii_isalnum (*end) || *end == '_')
			end++;
		if (*end != '}') {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: unterminated or malformed ${...} (expected ${NAME} with NAME of "
				     "letters, digits and _)",
				     filename, line);
			return NULL;
		}
		name = g_strndup (p + 2, (gsize) (end - p - 2));
		if (name[0] == '\0' || g_ascii_isdigit (name[0])) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: '${%s}' is not a valid environment variable name",
				     filename, line, name);
			return NULL;
		}
		value = g_getenv (name);
		if (value == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: environment variable %s is not set", filename, line, name);
			return NULL;
		}
		g_string_append (out, value);
		p = end + 1;
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
ep_config_read_file (const char *path, char **contents, GError **error)
{
	struct stat st;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;
	int fd;
	g_autoptr(GMappedFile) mapped = NULL;

	fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		int saved = errno;
		if (saved == ELOOP) {
			/* a symlink: follow it but check what it points to */
			fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
		}
		if (fd < 0) {
			g_set_error (error, EP_ERROR, saved == ENOENT ? EP_ERROR_NOT_FOUND : EP_ERROR_CONFIG,
				     "%s: cannot open: %s", path, g_strerror (saved));
			return FALSE;
		}
	}
	if (fstat (fd, &st) != 0) {
		int saved = errno;
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: cannot stat: %s", path, g_strerror (saved));
		return FALSE;
	}
	if (!S_ISREG (st.st_mode)) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "%s: not a regular file", path);
		return FALSE;
	}
	if ((st.st_mode & 0077) != 0) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     "%s: the file is accessible by group or others (mode %04o) and may hold secrets; "
			     "run 'chmod 600 %s'",
			     path, (guint) (st.st_mode & 07777), path);
		return FALSE;
	}
	if (st.st_size > EP_CONFIG_MAX_FILE_SIZE) {
		close (fd);
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: the file is larger than %d bytes", path, EP_CONFIG_MAX_FILE_SIZE);
		return FALSE;
	}
	if (st.st_size == 0) {
		close (fd);
		*contents = g_strdup ("");
		return TRUE;
	}
	mapped = g_mapped_file_new_from_fd (fd, FALSE, &error_local);
	close (fd);
	if (mapped == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: cannot read: %s", path, error_local->message);
		return FALSE;
	}
	len = g_mapped_file_get_length (mapped);
	if (memchr (g_mapped_file_get_contents (mapped), '\0', len) != NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: the file contains a NUL byte", path);
		return FALSE;
	}
	*contents = g_strndup (g_mapped_file_get_contents (mapped), len);
	return TRUE;
}

static gint
ep_config_strcmp (gconstpointer a, gconstpointer b)
{
	return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
ep_config_list_dropins (const char *dir, GPtrArray *files, GError **error)
{
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	const char *name;

	d = g_dir_open (dir, 0, &error_local);
	if (d == NULL) {
		if (g_error_matches (error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s: cannot read the drop-in directory: %s", dir, error_local->message);
		return FALSE;
	}
	while ((name = g_dir_read_name (d)) != NULL) {
		if (name[0] == '.' || !g_str_has_suffix (name, ".toml"))
			continue;
		g_ptr_array_add (names, g_strdup (name));
	}
	g_ptr_array_sort (names, ep_config_strcmp);
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add (files, g_build_filename (dir, g_ptr_array_index (names, i), NULL));
	return TRUE;
}

static const char *
ep_config_key_display (const char *key, GString *buf)
{
	/* bare keys print as they are, others quoted */
	gboolean bare = key[0] != '\0';
	for (const char *p = key; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
			bare = FALSE;
	}
	g_string_truncate (buf, 0);
	if (bare)
		g_string_append (buf, key);
	else
		g_string_append_printf (buf, "\"%s\"", key);
	return buf->str;
}

static char *
ep_config_path_join (const char *path, const char *key)
{
	g_autoptr(GString) buf = g_string_new (NULL);
	ep_config_key_display (key, buf);
	if (path == NULL || path[0] == '\0')
		return g_string_free (g_steal_pointer (&buf), FALSE);
	return g_strdup_printf ("%s.%s", path, buf->str);
}

static void
ep_config_add_error (GPtrArray *errors, const EpTomlValue *where, const char *path, const char *fmt, ...)
	G_GNUC_PRINTF (4, 5);

static void
ep_config_add_error (GPtrArray *errors, const EpTomlValue *where, const char *path, const char *fmt, ...)
{
	va_list args;
	g_autofree char *reason = NULL;
	const char *filename = where != NULL ? ep_toml_value_get_filename (where) : NULL;
	guint line = where != NULL ? ep_toml_value_get_line (where) : 0;
	GString *msg = g_string_new (NULL);

	va_start (args, fmt);
	reason = g_strdup_vprintf (fmt, args);
	va_end (args);

	if (filename != NULL && line > 0)
		g_string_append_printf (msg, "%s:%u: ", filename, line);
	else if (filename != NULL)
		g_string_append_printf (msg, "%s: ", filename);
	if (path != NULL && path[0] != '\0')
		g_string_append_printf (msg, "%s: ", path);
	g_string_append (msg, reason);
	g_ptr_array_add (errors, g_string_free (msg, FALSE));
}

static gboolean
ep_config_errors_to_gerror (GPtrArray *errors, GError **error)
{
	g_autoptr(GString) all = NULL;

	if (errors->len == 0)
		return TRUE;
	all = g_string_new (NULL);
	for (guint i = 0; i < errors->len; i++) {
		if (i > 0)
			g_string_append_c (all, '\n');
		g_string_append (all, g_ptr_array_index (errors, i));
	}
	g_set_error_literal (error, EP_ERROR, EP_ERROR_CONFIG, all->str);
	return FALSE;
}

/* TOML allows U+0000 in keys; no configuration key has one, and a C string
 * would cut it short, so such a key is refused wherever keys are read. */
static gboolean
ep_config_key_has_nul (EpTomlValue *table, guint index)
{
	gsize len = 0;
	const char *key = ep_toml_value_table_key_at_len (table, index, &len);
	return memchr (key, '\0', len) != NULL;
}

static gboolean
ep_config_is_table_array (EpTomlValue *value)
{
	guint n;
	if (ep_toml_value_get_kind (value) != EP_TOML_ARRAY)
		return FALSE;
	n = ep_toml_value_array_length (value);
	if (n == 0)
		return FALSE;
	for (guint i = 0; i < n; i++) {
		if (ep_toml_value_get_kind (ep_toml_value_array_index (value, i)) != EP_TOML_TABLE)
			return FALSE;
	}
	return TRUE;
}

/* Merges @src into @dst: tables merge key by key, arrays of tables and the
 * root `modules` list are appended to, and any other key set in two files
 * is an error naming both places. */
static void
ep_config_merge (EpTomlValue *dst, EpTomlValue *src, const char *path, GPtrArray *errors)
{
	for (guint i = 0; i < ep_toml_value_table_size (src); i++) {
		const char *key = ep_toml_value_table_key_at (src, i);
		EpTomlValue *sval = ep_toml_value_table_value_at (src, i);
		EpTomlValue *dval = ep_toml_value_table_lookup (dst, key);
		g_autofree char *kpath = ep_config_path_join (path, key);

		if (ep_config_key_has_nul (src, i)) {
			ep_config_add_error (errors, sval, kpath, "a key must not contain a NUL character (\\u0000)");
			continue;
		}
		if (dval == NULL) {
			ep_toml_value_table_set (dst, key, ep_toml_value_ref (sval));
			continue;
		}
		if (ep_toml_value_get_kind (dval) == EP_TOML_TABLE &&
		    ep_toml_value_get_kind (sval) == EP_TOML_TABLE) {
			ep_config_merge (dval, sval, kpath, errors);
			continue;
		}
		if (ep_config_is_table_array (dval) && ep_config_is_table_array (sval)) {
			for (guint j = 0; j < ep_toml_value_array_length (sval); j++)
				ep_toml_value_array_append (dval,
							    ep_toml_value_ref (ep_toml_value_array_index (sval, j)));
			continue;
		}
		if (path == NULL && g_strcmp0 (key, "modules") == 0 &&
		    ep_toml_value_get_kind (dval) == EP_TOML_ARRAY &&
		    ep_toml_value_get_kind (sval) == EP_TOML_ARRAY) {
			for (guint j = 0; j < ep_toml_value_array_length (sval); j++)
				ep_toml_value_array_append (dval,
							    ep_toml_value_ref (ep_toml_value_array_index (sval, j)));
			continue;
		}
		ep_config_add_error (errors, sval, kpath, "already set in %s:%u",
				     ep_toml_value_get_filename (dval), ep_toml_value_get_line (dval));
	}
}

static EpConfig *
ep_config_new_from_texts (GPtrArray *names, GPtrArray *texts, GError **error)
{
	g_autoptr(EpConfig) self = g_object_new (EP_TYPE_CONFIG, NULL);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);

	self->root = ep_toml_value_new_table (g_ptr_array_index (names, 0), 0);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index (names, i);
		g_autofree char *text = NULL;
		g_autoptr(EpTomlValue) tree = NULL;
		g_autoptr(GError) error_local = NULL;

		g_ptr_array_add (self->files, g_strdup (name));
		text = ep_config_substitute_env (g_ptr_array_index (texts, i), name, &error_local);
		if (text == NULL) {
			g_ptr_array_add (errors, g_strdup (error_local->message));
			continue;
		}
		tree = ep_toml_parse (text, -1, name, &error_local);
		if (tree == NULL) {
			g_ptr_array_add (errors, g_strdup (error_local->message));
			continue;
		}
		ep_config_merge (self->root, tree, NULL, errors);
	}
	if (!ep_config_errors_to_gerror (errors, error))
		return NULL;
	return g_steal_pointer (&self);
}

/**
 * ep_config_load:
 * @path: the main configuration file
 *
 * Reads @path and then every `*.toml` in the `mail.conf.d` directory beside
 * it, in lexical order; each file must be accessible by its owner only.
 *
 * Returns: (transfer full): the merged, not yet validated configuration
 */
EpConfig *
ep_config_load (const char *path, GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
	g_autofree char *dir = g_path_get_dirname (path);
	g_autofree char *dropin_dir = g_build_filename (dir, EP_CONFIG_DROPIN_DIR, NULL);
	g_autoptr(GError) error_local = NULL;

	g_ptr_array_add (names, g_strdup (path));
	if (!ep_config_list_dropins (dropin_dir, names, &error_local)) {
		g_propagate_error (error, g_steal_pointer (&error_local));
		return NULL;
	}
	for (guint i = 0; i < names->len; i++) {
		char *text = NULL;
		g_autoptr(GError) error_read = NULL;
		if (!ep_config_read_file (g_ptr_array_index (names, i), &text, &error_read)) {
			if (i == 0) {
				/* without the main file nothing else is worth reporting */
				g_propagate_error (error, g_steal_pointer (&error_read));
				return NULL;
			}
			g_ptr_array_add (errors, g_strdup (error_read->message));
			text = g_strdup ("");
		}
		g_ptr_array_add (texts, text);
	}
	if (!ep_config_errors_to_gerror (errors, error))
		return NULL;
	return ep_config_new_from_texts (names, texts, error);
}

/**
 * ep_config_load_from_data:
 * @names: file names, for messages
 * @datas: the files' texts, as many as @names
 *
 * Like ep_config_load() on texts already in memory (tests, fuzzing); no
 * permission check is made.
 */
EpConfig *
ep_config_load_from_data (const char *const *names, const char *const *datas, GError **error)
{
	g_autoptr(GPtrArray) n = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) t = g_ptr_array_new_with_free_func (g_free);

	for (guint i = 0; names[i] != NULL && datas[i] != NULL; i++) {
		g_ptr_array_add (n, g_strdup (names[i]));
		g_ptr_array_add (t, g_strdup (datas[i]));
	}
	if (n->len == 0) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INTERNAL, "no configuration given");
		return NULL;
	}
	return ep_config_new_from_texts (n, t, error);
}

/**
 * ep_config_get_module_selection:
 * @modules: (out) (transfer full): the names listed in `modules`, without
 *   duplicates, or %NULL when no file names any
 *
 * Returns: %FALSE when `modules` is not an array of strings.
 */
gboolean
ep_config_get_module_selection (EpConfig *self, char ***modules, GError **error)
{
	EpTomlValue *value = ep_toml_value_table_lookup (self->root, "modules");
	g_autoptr(GPtrArray) names = NULL;

	*modules = NULL;
	if (value == NULL)
		return TRUE;
	if (ep_toml_value_get_kind (value) != EP_TOML_ARRAY) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "%s:%u: modules: expected an array of module names, got %s",
			     ep_toml_value_get_filename (value), ep_toml_value_get_line (value),
			     ep_toml_type_to_string (ep_toml_value_get_kind (value)));
		return FALSE;
	}
	names = g_ptr_array_new_with_free_func (g_free);
	for (guint i = 0; i < ep_toml_value_array_length (value); i++) {
		EpTomlValue *item = ep_toml_value_array_index (value, i);
		const char *name;
		gboolean seen = FALSE;
		if (ep_toml_value_get_kind (item) != EP_TOML_STRING) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "%s:%u: modules: expected an array of module names, found %s",
				     ep_toml_value_get_filename (item), ep_toml_value_get_line (item),
				     ep_toml_type_to_string (ep_toml_value_get_kind (item)));
			return FALSE;
		}
		name = ep_toml_value_get_string (item);
		for (guint j = 0; j < names->len; j++)
			seen |= g_strcmp0 (g_ptr_array_index (names, j), name) == 0;
		if (!seen)
			g_ptr_array_add (names, g_strdup (name));
	}
	g_ptr_array_add (names, NULL);
	*modules = (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
	return TRUE;
}

void
ep_config_add_section_schema (EpConfig *self, const char *section, const EpConfigKey *keys)
{
	g_hash_table_replace (self->sections, g_strdup (section), (gpointer) keys);
}

void
ep_config_add_known_module (EpConfig *self, const char *name)
{
	g_hash_table_add (self->known_modules, g_strdup (name));
}

/* ---- schema validation -------------------------------------------------- */

static guint
ep_config_edit_distance (const char *a, const char *b)
{
	gsize la = strlen (a), lb = strlen (b);
	g_autofree guint *row = NULL;

	if (la > 64 || lb > 64)
		return G_MAXUINT;
	row = g_new (guint, lb + 1);
	for (gsize j = 0; j <= lb; j++)
		row[j] = (guint) j;
	for (gsize i = 1; i <= la; i++) {
		guint prev = row[0];
		row[0] = (guint) i;
		for (gsize j = 1; j <= lb; j++) {
			guint cur = row[j];
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), prev + cost);
			prev = cur;
		}
	}
	return row[lb];
}

static const char *
ep_config_suggest (const char *key, const EpConfigKey *keys, GHashTable *more)
{
	const char *best = NULL;
	guint best_d = 3;

	for (guint i = 0; keys != NULL && keys[i].name != NULL; i++) {
		guint d = ep_config_edit_distance (key, keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	if (more != NULL) {
		GHashTableIter iter;
		gpointer name;
		g_hash_table_iter_init (&iter, more);
		while (g_hash_table_iter_next (&iter, &name, NULL)) {
			guint d = ep_config_edit_distance (key, name);
			if (d < best_d) {
				best_d = d;
				best = name;
			}
		}
	}
	return best;
}

static const char *
ep_config_type_name (EpConfigType type)
{
	switch (type) {
	case EP_CONFIG_TYPE_STRING:
		return "a string";
	case EP_CONFIG_TYPE_INTEGER:
		return "an integer";
	case EP_CONFIG_TYPE_BOOLEAN:
		return "a boolean";
	case EP_CONFIG_TYPE_FLOAT:
		return "a number";
	case EP_CONFIG_TYPE_STRING_ARRAY:
		return "an array of strings";
	case EP_CONFIG_TYPE_TABLE:
		return "a table";
	case EP_CONFIG_TYPE_TABLE_ARRAY:
		return "an array of tables ([[...]])";
	}
	return "?";
}

static void ep_config_validate_table (EpTomlValue *table, const EpConfigKey *keys, const char *path,
				      GPtrArray *errors);

static void
ep_config_run_check (const EpConfigKey *key, EpTomlValue *value, const char *path, GPtrArray *errors)
{
	g_autoptr(GError) error_local = NULL;
	if (key->check == NULL)
		return;
	if (!key->check (value, &error_local))
		ep_config_add_error (errors, value, path, "%s", error_local->message);
}

static void
ep_config_validate_string (const EpConfigKey *key, EpTomlValue *value, const char *path, GPtrArray *errors)
{
	gsize bytes = 0;
	const char *str = ep_toml_value_get_string_len (value, &bytes);
	glong len = g_utf8_strlen (str, -1);

	if (memchr (str, '\0', bytes) != NULL) {
		ep_config_add_error (errors, value, path, "must not contain a NUL character (\\u0000)");
		return;
	}
	if ((key->flags & EP_CONFIG_KEY_NON_EMPTY) && len == 0) {
		ep_config_add_error (errors, value, path, "must not be empty");
		return;
	}
	if (len < key->min) {
		ep_config_add_error (errors, value, path, "must be at least %" G_GINT64_FORMAT " characters",
				     key->min);
		return;
	}
	if (key->max > 0 && len > key->max) {
		ep_config_add_error (errors, value, path, "must be at most %" G_GINT64_FORMAT " characters",
				     key->max);
		return;
	}
	ep_config_run_check (key, value, path, errors);
}

static void
ep_config_validate_value (const EpConfigKey *key, EpTomlValue *value, const char *path, GPtrArray *errors)
{
	EpTomlType kind = ep_toml_value_get_kind (value);
	gboolean type_ok = FALSE;

	switch (key->type) {
	case EP_CONFIG_TYPE_STRING:
		type_ok = kind == EP_TOML_STRING;
		break;
	case EP_CONFIG_TYPE_INTEGER:
		type_ok = kind == EP_TOML_INTEGER;
		break;
	case EP_CONFIG_TYPE_BOOLEAN:
		type_ok = kind == EP_TOML_BOOLEAN;
		break;
	case EP_CONFIG_TYPE_FLOAT:
		type_ok = kind == EP_TOML_FLOAT || kind == EP_TOML_INTEGER;
		break;
	case EP_CONFIG_TYPE_STRING_ARRAY:
		type_ok = kind == EP_TOML_ARRAY;
		for (guint i = 0; type_ok && i < ep_toml_value_array_length (value); i++)
			type_ok = ep_toml_value_get_kind (ep_toml_value_array_index (value, i)) == EP_TOML_STRING;
		break;
	case EP_CONFIG_TYPE_TABLE:
		type_ok = kind == EP_TOML_TABLE;
		break;
	case EP_CONFIG_TYPE_TABLE_ARRAY:
		type_ok = kind == EP_TOML_ARRAY;
		for (guint i = 0; type_ok && i < ep_toml_value_array_length (value); i++)
			type_ok = ep_toml_value_get_kind (ep_toml_value_array_index (value, i)) == EP_TOML_TABLE;
		break;
	}
	if (!type_ok) {
		ep_config_add_error (errors, value, path, "expected %s, got %s", ep_config_type_name (key->type),
				     ep_toml_type_to_string (kind));
		return;
	}

	switch (key->type) {
	case EP_CONFIG_TYPE_STRING:
		ep_config_validate_string (key, value, path, errors);
		break;
	case EP_CONFIG_TYPE_INTEGER: {
		gint64 v = ep_toml_value_get_integer (value);
		gint64 max = key->max != 0 ? key->max : G_MAXINT64;
		if (v < key->min || v > max) {
			ep_config_add_error (errors, value, path,
					     "%" G_GINT64_FORMAT " is out of range (%" G_GINT64_FORMAT
					     " to %" G_GINT64_FORMAT ")",
					     v, key->min, max);
			return;
		}
		ep_config_run_check (key, value, path, errors);
		break;
	}
	case EP_CONFIG_TYPE_BOOLEAN:
	case EP_CONFIG_TYPE_FLOAT:
		ep_config_run_check (key, value, path, errors);
		break;
	case EP_CONFIG_TYPE_STRING_ARRAY: {
		guint n = ep_toml_value_array_length (value);
		if ((key->flags & EP_CONFIG_KEY_NON_EMPTY) && n == 0) {
			ep_config_add_error (errors, value, path, "must not be empty");
			return;
		}
		if (key->max > 0 && n > (guint64) key->max) {
			ep_config_add_error (errors, value, path, "at most %" G_GINT64_FORMAT " entries are allowed",
					     key->max);
			return;
		}
		for (guint i = 0; i < n; i++) {
			EpTomlValue *item = ep_toml_value_array_index (value, i);
			gsize bytes = 0;
			const char *str = ep_toml_value_get_string_len (item, &bytes);
			if (memchr (str, '\0', bytes) != NULL) {
				ep_config_add_error (errors, item, path, "entry %u contains a NUL character", i + 1);
				continue;
			}
			if (str[0] == '\0') {
				ep_config_add_error (errors, item, path, "entry %u is an empty string", i + 1);
				continue;
			}
			ep_config_run_check (key, item, path, errors);
		}
		break;
	}
	case EP_CONFIG_TYPE_TABLE:
		ep_config_validate_table (value, key->children, path, errors);
		ep_config_run_check (key, value, path, errors);
		break;
	case EP_CONFIG_TYPE_TABLE_ARRAY:
		for (guint i = 0; i < ep_toml_value_array_length (value); i++) {
			g_autofree char *ipath = g_strdup_printf ("%s[%u]", path, i + 1);
			EpTomlValue *item = ep_toml_value_array_index (value, i);
			ep_config_validate_table (item, key->children, ipath, errors);
			ep_config_run_check (key, item, ipath, errors);
		}
		break;
	}
}

static void
ep_config_validate_table (EpTomlValue *table, const EpConfigKey *keys, const char *path, GPtrArray *errors)
{
	for (guint i = 0; i < ep_toml_value_table_size (table); i++) {
		const char *name = ep_toml_value_table_key_at (table, i);
		EpTomlValue *value = ep_toml_value_table_value_at (table, i);
		g_autofree char *kpath = ep_config_path_join (path, name);
		const EpConfigKey *key = NULL;

		if (ep_config_key_has_nul (table, i)) {
			ep_config_add_error (errors, value, kpath, "a key must not contain a NUL character (\\u0000)");
			continue;
		}
		for (guint j = 0; keys != NULL && keys[j].name != NULL; j++) {
			if (g_strcmp0 (keys[j].name, name) == 0) {
				key = &keys[j];
				break;
			}
		}
		if (key == NULL) {
			const char *hint = ep_config_suggest (name, keys, NULL);
			if (hint != NULL)
				ep_config_add_error (errors, value, kpath, "unknown key (did you mean '%s'?)", hint);
			else
				ep_config_add_error (errors, value, kpath, "unknown key");
			continue;
		}
		ep_config_validate_value (key, value, kpath, errors);
	}
	for (guint j = 0; keys != NULL && keys[j].name != NULL; j++) {
		g_autofree char *kpath = NULL;
		if ((keys[j].flags & EP_CONFIG_KEY_REQUIRED) == 0)
			continue;
		if (ep_toml_value_table_lookup (table, keys[j].name) != NULL)
			continue;
		kpath = ep_config_path_join (path, keys[j].name);
		ep_config_add_error (errors, table, kpath, "required key is missing");
	}
}

static void
ep_config_validate_root (EpConfig *self, GPtrArray *errors)
{
	EpTomlValue *root = self->root;

	for (guint i = 0; i < ep_toml_value_table_size (root); i++) {
		const char *name = ep_toml_value_table_key_at (root, i);
		EpTomlValue *value = ep_toml_value_table_value_at (root, i);
		g_autofree char *kpath = ep_config_path_join (NULL, name);
		const EpConfigKey *keys = NULL;
		gboolean is_core = FALSE;

		if (ep_config_key_has_nul (root, i)) {
			ep_config_add_error (errors, value, kpath, "a key must not contain a NUL character (\\u0000)");
			continue;
		}
		for (guint j = 0; ep_config_core_keys[j].name != NULL; j++) {
			if (g_strcmp0 (ep_config_core_keys[j].name, name) == 0) {
				ep_config_validate_value (&ep_config_core_keys[j], value, kpath, errors);
				is_core = TRUE;
				break;
			}
		}
		if (is_core)
			continue;
		if (g_hash_table_lookup_extended (self->sections, name, NULL, (gpointer *) &keys)) {
			EpConfigKey section = { name, EP_CONFIG_TYPE_TABLE, 0, 0, 0, NULL, keys };
			ep_config_validate_value (&section, value, kpath, errors);
			continue;
		}
		if (g_hash_table_contains (self->known_modules, name)) {
			ep_config_add_error (errors, value, kpath,
					     "this section configures module '%s', which is not loaded "
					     "(add it to 'modules')",
					     name);
			continue;
		}
		{
			const char *hint = ep_config_suggest (name, ep_config_core_keys, self->sections);
			if (hint != NULL)
				ep_config_add_error (errors, value, kpath, "unknown key (did you mean '%s'?)", hint);
			else
				ep_config_add_error (errors, value, kpath, "unknown key");
		}
	}
	for (guint j = 0; ep_config_core_keys[j].name != NULL; j++) {
		if ((ep_config_core_keys[j].flags & EP_CONFIG_KEY_REQUIRED) == 0)
			continue;
		if (ep_toml_value_table_lookup (root, ep_config_core_keys[j].name) != NULL)
			continue;
		ep_config_add_error (errors, root, ep_config_core_keys[j].name,
				     "required key is missing");
	}
}

/* ---- typed settings and cross-checks ------------------------------------ */

static char **
ep_config_strv_from (EpTomlValue *array, gboolean lowercase)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	for (guint i = 0; array != NULL && i < ep_toml_value_array_length (array); i++) {
		const char *s = ep_toml_value_get_string (ep_toml_value_array_index (array, i));
		g_autofree char *lower = lowercase ? g_ascii_strdown (s, -1) : NULL;
		g_strv_builder_add (builder, lower != NULL ? lower : s);
	}
	return g_strv_builder_end (builder);
}

static const char *
ep_config_lookup_string (EpTomlValue *table, const char *key)
{
	EpTomlValue *value = table != NULL ? ep_toml_value_table_lookup (table, key) : NULL;
	return value != NULL ? ep_toml_value_get_string (value) : NULL;
}

static void
ep_config_fill_typed (EpConfig *self, GPtrArray *errors)
{
	EpTomlValue *root = self->root;
	EpTomlValue *value;
	EpTomlValue *table;
	g_autoptr(GHashTable) owners = g_hash_table_new (g_str_hash, g_str_equal);
	g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
	g_autoptr(GHashTable) sni_names = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

	ep_config_clear_typed (self);
	self->hostname = g_ascii_strdown (ep_config_lookup_string (root, "hostname"), -1);
	self->data_dir = g_strdup (ep_config_lookup_string (root, "data_dir"));
	self->domains = ep_config_strv_from (ep_toml_value_table_lookup (root, "domains"), TRUE);

	for (guint i = 0; self->domains[i] != NULL; i++) {
		for (guint j = 0; j < i; j++) {
			if (g_strcmp0 (self->domains[i], self->domains[j]) == 0) {
				value = ep_toml_value_array_index (ep_toml_value_table_lookup (root, "domains"), i);
				ep_config_add_error (errors, value, "domains", "'%s' is listed twice",
						     self->domains[i]);
			}
		}
	}

	value = ep_toml_value_table_lookup (root, "accounts");
	for (guint i = 0; value != NULL && i < ep_toml_value_array_length (value); i++) {
		EpTomlValue *item = ep_toml_value_array_index (value, i);
		EpConfigAccount *account = g_new0 (EpConfigAccount, 1);
		EpTomlValue *v;
		g_autofree char *ipath = g_strdup_printf ("accounts[%u]", i + 1);

		account->name = g_strdup (ep_config_lookup_string (item, "name"));
		account->addresses = ep_config_strv_from (ep_toml_value_table_lookup (item, "addresses"), TRUE);
		account->password_hash = g_strdup (ep_config_lookup_string (item, "password_hash"));
		account->scram_sha256 = g_strdup (ep_config_lookup_string (item, "scram_sha256"));
		v = ep_toml_value_table_lookup (item, "catch_all");
		account->catch_all = v != NULL && ep_toml_value_get_boolean (v);
		v = ep_toml_value_table_lookup (item, "quota_bytes");
		account->quota_bytes = v != NULL ? ep_toml_value_get_integer (v) : 0;
		account->line = ep_toml_value_get_line (item);
		g_ptr_array_add (self->accounts, account);

		if (g_hash_table_contains (names, account->name)) {
			ep_config_add_error (errors, item, ipath, "account name '%s' is used by another account",
					     account->name);
		}
		g_hash_table_add (names, account->name);

		for (guint j = 0; account->addresses[j] != NULL; j++) {
			const char *addr = account->addresses[j];
			const char *at = strrchr (addr, '@');
			const char *owner;
			EpTomlValue *where = ep_toml_value_array_index (ep_toml_value_table_lookup (item, "addresses"), j);
			g_autofree char *apath = g_strdup_printf ("%s.addresses", ipath);

			if (at != NULL && !ep_config_is_local_domain (self, at + 1)) {
				ep_config_add_error (errors, where, apath,
						     "'%s' is not in a configured domain (add '%s' to 'domains')", addr,
						     at + 1);
			}
			owner = g_hash_table_lookup (owners, addr);
			if (owner != NULL) {
				ep_config_add_error (errors, where, apath,
						     "'%s' already belongs to account '%s'; an address belongs to one account only",
						     addr, owner);
				continue;
			}
			g_hash_table_insert (owners, (gpointer) addr, account->name);
		}
	}

	value = ep_toml_value_table_lookup (root, "listeners");
	for (guint i = 0; value != NULL && i < ep_toml_value_array_length (value); i++) {
		EpTomlValue *item = ep_toml_value_array_index (value, i);
		EpConfigListener *listener = g_new0 (EpConfigListener, 1);
		EpTomlValue *v;
		const char *addr = ep_config_lookup_string (item, "addr");
		g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (addr != NULL ? addr : "127.0.0.1");

		listener->kind = g_strdup (ep_config_lookup_string (item, "kind"));
		listener->addr = inet != NULL ? g_inet_address_to_string (inet) : g_strdup (addr);
		v = ep_toml_value_table_lookup (item, "port");
		listener->port = v != NULL ? (guint16) ep_toml_value_get_integer (v) : 0;
		listener->filename = g_strdup (ep_toml_value_get_filename (item));
		listener->line = ep_toml_value_get_line (item);
		listener->kind_line = ep_toml_value_get_line (ep_toml_value_table_lookup (item, "kind"));
		g_ptr_array_add (self->listeners, listener);
	}

	table = ep_toml_value_table_lookup (root, "tls");
	self->tls_cert_file = g_strdup (ep_config_lookup_string (table, "cert_file"));
	self->tls_key_file = g_strdup (ep_config_lookup_string (table, "key_file"));
	if ((self->tls_cert_file == NULL) != (self->tls_key_file == NULL)) {
		ep_config_add_error (errors, table, "tls",
				     "cert_file and key_file must be given together");
	}
	value = table != NULL ? ep_toml_value_table_lookup (table, "sni") : NULL;
	for (guint i = 0; value != NULL && i < ep_toml_value_array_length (value); i++) {
		EpTomlValue *item = ep_toml_value_array_index (value, i);
		EpTomlValue *item_names = ep_toml_value_table_lookup (item, "names");
		EpConfigTlsSni *sni = g_new0 (EpConfigTlsSni, 1);
		g_autofree char *ipath = g_strdup_printf ("tls.sni[%u]", i + 1);
		g_autofree char *npath = g_strdup_printf ("tls.sni[%u].names", i + 1);

		sni->names = ep_config_strv_from (item_names, TRUE);
		sni->cert_file = g_strdup (ep_config_lookup_string (item, "cert_file"));
		sni->key_file = g_strdup (ep_config_lookup_string (item, "key_file"));
		sni->filename = g_strdup (ep_toml_value_get_filename (item));
		sni->line = ep_toml_value_get_line (item);
		g_ptr_array_add (self->tls_sni, sni);

		if (i == 0 && self->tls_cert_file == NULL) {
			ep_config_add_error (errors, item, ipath,
					     "[[tls.sni]] needs a default certificate: set cert_file and key_file "
					     "in [tls]");
		}
		for (guint j = 0; sni->names[j] != NULL; j++) {
			const char *other = g_hash_table_lookup (sni_names, sni->names[j]);
			if (other != NULL) {
				ep_config_add_error (errors, ep_toml_value_array_index (item_names, j), npath,
						     "'%s' is already listed in %s", sni->names[j], other);
				continue;
			}
			g_hash_table_insert (sni_names, sni->names[j], g_strdup (ipath));
		}
	}

	table = ep_toml_value_table_lookup (root, "database");
	self->database_url = g_strdup (ep_config_lookup_string (table, "url"));
	value = table != NULL ? ep_toml_value_table_lookup (table, "max_connections") : NULL;
	self->database_max_connections = value != NULL ? (guint) ep_toml_value_get_integer (value) : 10;

	table = ep_toml_value_table_lookup (root, "dns");
	self->dns_nameservers = ep_config_strv_from (table != NULL ? ep_toml_value_table_lookup (table, "nameservers")
								   : NULL,
						     FALSE);
	value = table != NULL ? ep_toml_value_table_lookup (table, "dnssec") : NULL;
	self->dns_dnssec = value != NULL ? ep_toml_value_get_boolean (value) : TRUE;
	self->dns_trust_anchor_file = g_strdup (ep_config_lookup_string (table, "trust_anchor_file"));

	table = ep_toml_value_table_lookup (root, "privileges");
	self->privileges_user = g_strdup (ep_config_lookup_string (table, "user"));
	self->privileges_group = g_strdup (ep_config_lookup_string (table, "group"));
}

/**
 * ep_config_validate:
 *
 * Checks the merged tree against the core schema and the schema of every
 * section added with ep_config_add_section_schema(), then the rules that
 * span keys (addresses in configured domains, one owner per address…).
 * Every problem found is reported, one per line, as `file:line: key: reason`.
 */
gboolean
ep_config_validate (EpConfig *self, GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);

	ep_config_validate_root (self, errors);
	if (errors->len > 0)
		return ep_config_errors_to_gerror (errors, error);
	ep_config_fill_typed (self, errors);
	return ep_config_errors_to_gerror (errors, error);
}

/**
 * ep_config_check_listener_kinds:
 * @kinds: the listener kinds that loaded modules provide, NULL-terminated
 * @default_ports: the default port of each kind
 *
 * Refuses a listener whose kind no loaded module provides, applies default
 * ports and refuses two listeners on the same address and port.
 */
gboolean
ep_config_check_listener_kinds (EpConfig *self, const char *const *kinds, const guint16 *default_ports,
				GError **error)
{
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < self->listeners->len; i++) {
		EpConfigListener *l = g_ptr_array_index (self->listeners, i);
		g_autofree char *key = NULL;
		EpConfigListener *other;
		gboolean known = FALSE;

		for (guint j = 0; kinds != NULL && kinds[j] != NULL; j++) {
			if (g_strcmp0 (kinds[j], l->kind) == 0) {
				known = TRUE;
				if (l->port == 0)
					l->port = default_ports[j];
			}
		}
		if (!known) {
			g_autofree char *available = kinds != NULL && kinds[0] != NULL
							     ? g_strjoinv (", ", (char **) kinds)
							     : g_strdup ("none");
			g_ptr_array_add (errors,
					 g_strdup_printf ("%s:%u: listeners[%u].kind: no loaded module provides "
							  "listener kind '%s' (available: %s)",
							  l->filename, l->kind_line, i + 1, l->kind, available));
			continue;
		}
		if (l->port == 0) {
			g_ptr_array_add (errors,
					 g_strdup_printf ("%s:%u: listeners[%u].port: kind '%s' has no default port; "
							  "set one",
							  l->filename, l->line, i + 1, l->kind));
			continue;
		}
		key = g_strdup_printf ("[%s]:%u", l->addr, l->port);
		other = g_hash_table_lookup (seen, key);
		if (other != NULL) {
			g_ptr_array_add (errors,
					 g_strdup_printf ("%s:%u: listeners[%u]: %s port %u is already used by the "
							  "listener at %s:%u",
							  l->filename, l->line, i + 1, l->addr, l->port, other->filename,
							  other->line));
			continue;
		}
		g_hash_table_insert (seen, g_steal_pointer (&key), l);
	}
	return ep_config_errors_to_gerror (errors, error);
}

/* ---- accessors ---------------------------------------------------------- */

const char *const *
ep_config_get_files (EpConfig *self)
{
	g_return_val_if_fail (EP_IS_CONFIG (self), NULL);
	return (const char *const *) self->files->pdata;
}

const char *
ep_config_get_main_file (EpConfig *self)
{
	g_return_val_if_fail (EP_IS_CONFIG (self), NULL);
	return self->files->len > 0 ? g_ptr_array_index (self->files, 0) : NULL;
}

EpTomlValue *
ep_config_get_root (EpConfig *self)
{
	return self->root;
}

EpTomlValue *
ep_config_get_section (EpConfig *self, const char *name)
{
	EpTomlValue *value = ep_toml_value_table_lookup (self->root, name);
	if (value == NULL || ep_toml_value_get_kind (value) != EP_TOML_TABLE)
		return NULL;
	return value;
}

const char *
ep_config_get_hostname (EpConfig *self)
{
	return self->hostname;
}

const char *
ep_config_get_data_dir (EpConfig *self)
{
	return self->data_dir;
}

const char *const *
ep_config_get_domains (EpConfig *self)
{
	return (const char *const *) self->domains;
}

GPtrArray *
ep_config_get_accounts (EpConfig *self)
{
	return self->accounts;
}

GPtrArray *
ep_config_get_listeners (EpConfig *self)
{
	return self->listeners;
}

const char *
ep_config_get_tls_cert_file (EpConfig *self)
{
	return self->tls_cert_file;
}

const char *
ep_config_get_tls_key_file (EpConfig *self)
{
	return self->tls_key_file;
}

/**
 * ep_config_get_tls_sni:
 *
 * Returns: (transfer none) (element-type EpConfigTlsSni): the [[tls.sni]]
 *   entries in the order of the files
 */
GPtrArray *
ep_config_get_tls_sni (EpConfig *self)
{
	return self->tls_sni;
}

const char *
ep_config_get_database_url (EpConfig *self)
{
	return self->database_url;
}

guint
ep_config_get_database_max_connections (EpConfig *self)
{
	return self->database_max_connections;
}

const char *const *
ep_config_get_dns_nameservers (EpConfig *self)
{
	return (const char *const *) self->dns_nameservers;
}

gboolean
ep_config_get_dns_dnssec (EpConfig *self)
{
	return self->dns_dnssec;
}

const char *
ep_config_get_dns_trust_anchor_file (EpConfig *self)
{
	return self->dns_trust_anchor_file;
}

const char *
ep_config_get_privileges_user (EpConfig *self)
{
	return self->privileges_user;
}

const char *
ep_config_get_privileges_group (EpConfig *self)
{
	return self->privileges_group;
}

gboolean
ep_config_is_local_domain (EpConfig *self, const char *domain)
{
	for (guint i = 0; self->domains != NULL && self->domains[i] != NULL; i++) {
		if (g_ascii_strcasecmp (self->domains[i], domain) == 0)
			return TRUE;
	}
	return FALSE;
}

const char *
ep_config_section_get_string (EpTomlValue *section, const char *key, const char *default_value)
{
	EpTomlValue *value = section != NULL ? ep_toml_value_table_lookup (section, key) : NULL;
	if (value == NULL || ep_toml_value_get_kind (value) != EP_TOML_STRING)
		return default_value;
	return ep_toml_value_get_string (value);
}

gint64
ep_config_section_get_integer (EpTomlValue *section, const char *key, gint64 default_value)
{
	EpTomlValue *value = section != NULL ? ep_toml_value_table_lookup (section, key) : NULL;
	if (value == NULL || ep_toml_value_get_kind (value) != EP_TOML_INTEGER)
		return default_value;
	return ep_toml_value_get_integer (value);
}

gboolean
ep_config_section_get_boolean (EpTomlValue *section, const char *key, gboolean default_value)
{
	EpTomlValue *value = section != NULL ? ep_toml_value_table_lookup (section, key) : NULL;
	if (value == NULL || ep_toml_value_get_kind (value) != EP_TOML_BOOLEAN)
		return default_value;
	return ep_toml_value_get_boolean (value);
}
