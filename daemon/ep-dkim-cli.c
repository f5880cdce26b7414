/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "dkim-key.h"
#include "ep-cli-db.h"
#include "ep-daemon.h"
#include "ep-db.h"
#include "ep-dkim-cli.h"
#include "ep-error.h"
#include "ep-privileges.h"

/* ---- dkim-keygen ------------------------------------------------------------- */

static gboolean
ep_dkim_cli_parse_algorithm (const char *text, DkimAlgorithm *alg)
{
	if (text == NULL || g_ascii_strcasecmp (text, "ed25519") == 0 || g_ascii_strcasecmp (text, "ed25519-sha256") == 0) {
		*alg = DKIM_ALG_ED25519_SHA256;
		return TRUE;
	}
	if (g_ascii_strcasecmp (text, "rsa") == 0 || g_ascii_strcasecmp (text, "rsa-sha256") == 0) {
		*alg = DKIM_ALG_RSA_SHA256;
		return TRUE;
	}
	return FALSE;
}

/* Writes @pem to a new file, mode 0600; an existing file is left alone. */
static gboolean
ep_dkim_cli_write_key (const char *path, const char *pem, GError **error)
{
	gsize len = strlen (pem);
	gsize done = 0;
	int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		int saved = errno;
		if (saved == EEXIST || saved == ELOOP)
			g_set_error (error, EP_ERROR, EP_ERROR_EXISTS, _("%s exists; it is not overwritten"), path);
		else
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot create %s: %s"), path,
				     g_strerror (saved));
		return FALSE;
	}
	while (done < len) {
		ssize_t n = write (fd, pem + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close (fd);
			unlink (path);
			g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"), path, g_strerror (saved));
			return FALSE;
		}
		done += (gsize) n;
	}
	if (fchmod (fd, 0600) != 0 || fsync (fd) != 0 || close (fd) != 0) {
		int saved = errno;
		unlink (path);
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot write %s: %s"), path, g_strerror (saved));
		return FALSE;
	}
	return TRUE;
}

static int
ep_dkim_cli_keygen_file (const EpDkimKeygenOptions *o, const char *domain, DkimAlgorithm alg, guint bits)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *record = NULL;
	g_autofree char *line = NULL;
	g_autofree char *path = g_canonicalize_filename (o->out, NULL);
	g_autoptr (DkimKey) key = NULL;

	/* before the work: the file is checked again when it is created */
	if (g_file_test (path, G_FILE_TEST_EXISTS) || g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
		g_printerr (_("mail dkim-keygen: %s exists; it is not overwritten\n"), path);
		return EX_CANTCREAT;
	}
	key = dkim_key_generate (domain, o->selector, alg, bits, &pem, &error);
	if (key != NULL)
		record = dkim_key_get_dns_record (key, &error);
	if (record == NULL) {
		ep_cli_db_print_error ("dkim-keygen", error);
		return ep_error_to_exit_code (error);
	}
	if (!ep_dkim_cli_write_key (path, pem, &error)) {
		memset (pem, 0, strlen (pem));
		ep_cli_db_print_error ("dkim-keygen", error);
		return g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS) ? EX_CANTCREAT : EX_IOERR;
	}
	memset (pem, 0, strlen (pem));
	line = dkim_dns_zone_line (o->selector, domain, record);
	g_print ("%s\n", line);
	g_printerr (_("%s key written to %s (mode 0600); publish the TXT record above, then sign with it:\n"
		      "[[dkim.keys]]\ndomain = \"%s\"\nselector = \"%s\"\nkey_file = \"%s\"\n"),
		    dkim_algorithm_to_string (alg), path, domain, o->selector, path);
	return EX_OK;
}

static int
ep_dkim_cli_keygen_db (const char *config_path, gboolean verbose, const EpDkimKeygenOptions *o, const char *domain,
		       DkimAlgorithm alg, guint bits)
{
	g_autoptr (EpDaemon) daemon = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = NULL;
	g_autoptr (EpDbResult) res = NULL;
	g_autoptr (DkimKey) key = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *record = NULL;
	g_autofree char *line = NULL;
	int exit_code = EX_OK;
	EpDb *db;

	daemon = ep_cli_db_open ("dkim-keygen", config_path, verbose, "dkim_keys", "dkim", &exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_daemon_get_db (daemon);
	params = ep_db_params_new_text (domain, o->selector, NULL);
	res = ep_db_query_sync (db, "SELECT 1 FROM dkim_keys WHERE domain = $1 AND lower(selector) = lower($2)",
				params, &error);
	if (res == NULL)
		return ep_cli_db_fail ("dkim-keygen", daemon, error);
	if (ep_db_result_get_n_rows (res) > 0) {
		g_printerr (_("mail dkim-keygen: %s already has a key with selector %s (retired keys keep theirs); "
			      "choose another selector\n"),
			    domain, o->selector);
		ep_daemon_close (daemon);
		return EX_DATAERR;
	}
	if (!ep_config_is_local_domain (ep_daemon_get_config (daemon), domain))
		g_printerr (_("mail dkim-keygen: warning: %s is not one of the configured domains\n"), domain);
	key = dkim_key_generate (domain, o->selector, alg, bits, &pem, &error);
	if (key != NULL)
		record = dkim_key_get_dns_record (key, &error);
	if (record == NULL)
		return ep_cli_db_fail ("dkim-keygen", daemon, error);
	g_clear_pointer (&params, ep_db_params_unref);
	g_clear_pointer (&res, ep_db_result_unref);
	params = ep_db_params_new_text (domain, o->selector, dkim_algorithm_to_string (alg), pem, NULL);
	res = ep_db_query_sync (db, "SELECT dkim_key_add ($1, $2, $3, $4)", params, &error);
	memset (pem, 0, strlen (pem));
	if (res == NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS)) {
			g_printerr (_("mail dkim-keygen: %s already has a key with selector %s\n"), domain, o->selector);
			ep_daemon_close (daemon);
			return EX_DATAERR;
		}
		return ep_cli_db_fail ("dkim-keygen", daemon, error);
	}
	line = dkim_dns_zone_line (o->selector, domain, record);
	g_print ("%s\n", line);
	g_printerr (_("%s key %s of %s stored in the database; it signs now, in place of any earlier %s key of "
		      "%s: publish the TXT record above\n"),
		    dkim_algorithm_to_string (alg), o->selector, domain, dkim_algorithm_to_string (alg), domain);
	ep_daemon_close (daemon);
	return EX_OK;
}

int
ep_dkim_cli_keygen (const char *config_path, gboolean verbose, const EpDkimKeygenOptions *o)
{
	g_autofree char *domain = NULL;
	DkimAlgorithm alg;
	guint bits = 0;

	if (o->domain == NULL || o->selector == NULL) {
		g_printerr (_("mail dkim-keygen: give --domain and --selector\n"));
		return EX_USAGE;
	}
	domain = g_ascii_strdown (o->domain, -1);
	if (!dkim_domain_is_valid (domain)) {
		g_printerr (_("mail dkim-keygen: '%s' is not a domain name (IDNs are given in their xn-- form)\n"),
			    o->domain);
		return EX_USAGE;
	}
	if (!dkim_selector_is_valid (o->selector)) {
		g_printerr (_("mail dkim-keygen: '%s' is not a selector (letters, digits and hyphens, labels separated "
			      "by dots)\n"),
			    o->selector);
		return EX_USAGE;
	}
	if (!ep_dkim_cli_parse_algorithm (o->algorithm, &alg)) {
		g_printerr (_("mail dkim-keygen: unknown algorithm '%s'; use ed25519 or rsa\n"), o->algorithm);
		return EX_USAGE;
	}
	if (alg == DKIM_ALG_ED25519_SHA256 && o->bits != 0) {
		g_printerr (_("mail dkim-keygen: --bits is for RSA keys (Ed25519 keys have one size)\n"));
		return EX_USAGE;
	}
	if (alg == DKIM_ALG_RSA_SHA256) {
		bits = o->bits != 0 ? (guint) MAX (o->bits, 0) : DKIM_RSA_DEFAULT_BITS;
		if (o->bits < 0 || bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			g_printerr (_("mail dkim-keygen: RSA keys have %u to %u bits; %d refused\n"), DKIM_RSA_MIN_BITS,
				    DKIM_RSA_MAX_BITS, o->bits);
			return EX_USAGE;
		}
		if (bits < 2048)
			g_printerr (_("mail dkim-keygen: warning: a %u-bit RSA key is weak; 2048 bits or more are "
				      "recommended\n"),
				    bits);
	}
	if (o->out != NULL)
		return ep_dkim_cli_keygen_file (o, domain, alg, bits);
	return ep_dkim_cli_keygen_db (config_path, verbose, o, domain, alg, bits);
}

/* ---- dkim-keys ----------------------------------------------------------------- */

typedef struct {
	char *domain;
	char *selector;
	char *algorithm;
	char *path;
} EpDkimFileKey;

static void
ep_dkim_file_key_free (EpDkimFileKey *k)
{
	g_free (k->domain);
	g_free (k->selector);
	g_free (k->algorithm);
	g_free (k->path);
	g_free (k);
}

/* The keys of [[dkim.keys]], read now: key files may be readable by root
 * only, and opening the database switches to the service user. */
static GPtrArray *
ep_dkim_cli_file_keys (const char *config_path, GError **error)
{
	g_autoptr (EpConfig) config = ep_config_load (config_path, error);
	g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_dkim_file_key_free);
	EpTomlValue *section;
	EpTomlValue *privileges;
	EpTomlValue *entries;
	const char *user;
	struct passwd *pw;
	uid_t owners[3];
	guint n_owners = 0;

	if (config == NULL)
		return NULL;
	section = ep_config_get_section (config, "dkim");
	entries = section != NULL ? ep_toml_value_table_lookup (section, "keys") : NULL;
	privileges = ep_config_get_section (config, "privileges");
	user = privileges != NULL ? ep_config_section_get_string (privileges, "user", NULL) : NULL;
	if (user == NULL && geteuid () == 0)
		user = EP_DEFAULT_SERVICE_USER;
	owners[n_owners++] = 0;
	owners[n_owners++] = geteuid ();
	pw = user != NULL ? getpwnam (user) : NULL;
	if (pw != NULL)
		owners[n_owners++] = pw->pw_uid;
	if (entries == NULL || ep_toml_value_get_kind (entries) != EP_TOML_ARRAY)
		return g_steal_pointer (&keys);
	for (guint i = 0; i < ep_toml_value_array_length (entries); i++) {
		EpTomlValue *entry = ep_toml_value_array_index (entries, i);
		EpDkimFileKey *k;
		g_autoptr (DkimKey) key = NULL;

		if (ep_toml_value_get_kind (entry) != EP_TOML_TABLE)
			continue;
		k = g_new0 (EpDkimFileKey, 1);
		k->domain = g_strdup (ep_config_section_get_string (entry, "domain", "?"));
		k->selector = g_strdup (ep_config_section_get_string (entry, "selector", "?"));
		k->path = g_strdup (ep_config_section_get_string (entry, "key_file", "?"));
		key = dkim_key_load_file (k->domain, k->selector, k->path, owners, n_owners, NULL);
		k->algorithm = g_strdup (key != NULL ? dkim_algorithm_to_string (dkim_key_get_algorithm (key)) : "?");
		g_ptr_array_add (keys, k);
	}
	return g_steal_pointer (&keys);
}

int
ep_dkim_cli_keys (const char *config_path, gboolean verbose)
{
	g_autoptr (EpDaemon) daemon = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = NULL;
	g_autoptr (GPtrArray) files = NULL;
	int exit_code = EX_OK;
	guint n;

	files = ep_dkim_cli_file_keys (config_path, &error);
	if (files == NULL) {
		ep_cli_db_print_error ("dkim-keys", error);
		return EX_CONFIG;
	}
	daemon = ep_cli_db_open ("dkim-keys", config_path, verbose, "dkim_keys", "dkim", &exit_code);
	if (daemon == NULL)
		return exit_code;
	res = ep_db_query_sync (ep_daemon_get_db (daemon),
				"SELECT domain, selector, algorithm,"
				" to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
				" CASE WHEN retired_at IS NOT NULL THEN 'retired ' ||"
				"   to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
				"  WHEN active THEN 'active' ELSE 'superseded' END"
				" FROM dkim_keys ORDER BY domain, created, id",
				NULL, &error);
	if (res == NULL)
		return ep_cli_db_fail ("dkim-keys", daemon, error);
	g_print ("%-24s %-16s %-15s %-20s %s\n", _("DOMAIN"), _("SELECTOR"), _("ALGORITHM"), _("CREATED"), _("STATE"));
	for (guint i = 0; i < files->len; i++) {
		EpDkimFileKey *k = g_ptr_array_index (files, i);
		g_print ("%-24s %-16s %-15s %-20s %s %s\n", k->domain, k->selector, k->algorithm, "-", _("active, file"),
			 k->path);
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++)
		g_print ("%-24s %-16s %-15s %-20s %s\n", ep_db_result_get_text (res, i, 0),
			 ep_db_result_get_text (res, i, 1), ep_db_result_get_text (res, i, 2),
			 ep_db_result_get_text (res, i, 3), ep_db_result_get_text (res, i, 4));
	n = files->len + ep_db_result_get_n_rows (res);
	g_print (g_dngettext (GETTEXT_PACKAGE, "%u key\n", "%u keys\n", n), n);
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- dkim-retire --------------------------------------------------------------- */

int
ep_dkim_cli_retire (const char *config_path, gboolean verbose, const char *domain_arg, const char *selector)
{
	g_autoptr (EpDaemon) daemon = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = NULL;
	g_autoptr (EpDbResult) res = NULL;
	g_autoptr (EpDbResult) done = NULL;
	g_autofree char *domain = g_ascii_strdown (domain_arg, -1);
	g_autofree char *algorithm = NULL;
	g_autofree char *real_selector = NULL;
	int exit_code = EX_OK;
	gboolean was_active;

	if (!dkim_domain_is_valid (domain) || !dkim_selector_is_valid (selector)) {
		g_printerr (_("mail dkim-retire: give a domain and a selector, e.g. mail dkim-retire example.org "
			      "s2024\n"));
		return EX_USAGE;
	}
	daemon = ep_cli_db_open ("dkim-retire", config_path, verbose, "dkim_keys", "dkim", &exit_code);
	if (daemon == NULL)
		return exit_code;
	params = ep_db_params_new_text (domain, selector, NULL);
	res = ep_db_query_sync (ep_daemon_get_db (daemon),
				"SELECT id, selector, algorithm, active,"
				" to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
				" FROM dkim_keys WHERE domain = $1 AND lower(selector) = lower($2)",
				params, &error);
	if (res == NULL)
		return ep_cli_db_fail ("dkim-retire", daemon, error);
	if (ep_db_result_get_n_rows (res) == 0) {
		g_printerr (_("mail dkim-retire: the database has no key %s of %s (keys in files are retired by "
			      "removing their [[dkim.keys]] entry)\n"),
			    selector, domain);
		ep_daemon_close (daemon);
		return EX_NOINPUT;
	}
	real_selector = g_strdup (ep_db_result_get_text (res, 0, 1));
	algorithm = g_strdup (ep_db_result_get_text (res, 0, 2));
	if (!ep_db_result_is_null (res, 0, 4)) {
		g_print (_("key %s of %s (%s) was already retired on %s\n"), real_selector, domain, algorithm,
			 ep_db_result_get_text (res, 0, 4));
		ep_daemon_close (daemon);
		return EX_OK;
	}
	was_active = ep_db_result_get_boolean (res, 0, 3);
	g_clear_pointer (&params, ep_db_params_unref);
	params = ep_db_params_new ();
	ep_db_params_add_int64 (params, ep_db_result_get_int64 (res, 0, 0));
	done = ep_db_query_sync (ep_daemon_get_db (daemon),
				 "UPDATE dkim_keys SET active = false, retired_at = now() WHERE id = $1 AND retired_at IS NULL",
				 params, &error);
	if (done == NULL)
		return ep_cli_db_fail ("dkim-retire", daemon, error);
	g_print (_("key %s of %s (%s) retired: it %s; keep its DNS record %s._domainkey.%s published for a few days "
		   "so that mail already sent still verifies\n"),
		 real_selector, domain, algorithm, was_active ? _("no longer signs") : _("was not signing"),
		 real_selector, domain);
	ep_daemon_close (daemon);
	return EX_OK;
}
