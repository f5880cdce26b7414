/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <utime.h>
#include <errno.h>
#include <termios.h>
#include <unistd.h>

#include "ep-auth-cli.h"
#include "ep-daemon.h"
#include "ep-dkim-cli.h"
#include "ep-trace-cli.h"
#include "ep-db.h"
#include "ep-error.h"
#include "ep-log-writer.h"
#include "ep-mailbox-file.h"
#include "ep-queue-cli.h"
#include "ep-password.h"
#include "ep-sasl.h"
#include "ep-totp.h"

/*
 * `mail`: the operator's command.  Each verb parses its own options and
 * returns a sysexits.h code.
 */

typedef struct {
	const char *name;
	const char *summary;
	const char *parameters;
	int (*run) (int argc, char **argv);
} EpVerb;

static char *ep_opt_config = NULL;
static gboolean ep_opt_verbose = FALSE;

static const GOptionEntry ep_config_entries[] = {
	{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &ep_opt_config,
	  N_("Main configuration file (default: " EP_SYSCONFDIR "/mail.toml)"), N_("FILE") },
	{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &ep_opt_verbose, N_("Log debug messages"), NULL },
	{ NULL }
};

static const char *
ep_config_path (void)
{
	return ep_opt_config != NULL ? ep_opt_config : EP_SYSCONFDIR "/mail.toml";
}

static int ep_verb_serve (int argc, char **argv);
static int ep_verb_config_check (int argc, char **argv);
static int ep_verb_help (int argc, char **argv);
static int ep_verb_accounts (int argc, char **argv);
static int ep_verb_account_add (int argc, char **argv);
static int ep_verb_account_del (int argc, char **argv);
static int ep_verb_passwd (int argc, char **argv);
static int ep_verb_token_hash (int argc, char **argv);
static int ep_verb_export (int argc, char **argv);
static int ep_verb_import (int argc, char **argv);
static int ep_verb_totp_enroll (int argc, char **argv);
static int ep_verb_totp_disable (int argc, char **argv);
static int ep_verb_app_password_create (int argc, char **argv);
static int ep_verb_app_passwords (int argc, char **argv);
static int ep_verb_app_password_revoke (int argc, char **argv);
static int ep_verb_dkim_keygen (int argc, char **argv);
static int ep_verb_trace (int argc, char **argv);
static int ep_verb_dkim_keys (int argc, char **argv);
static int ep_verb_dkim_retire (int argc, char **argv);
static int ep_verb_queue (int argc, char **argv);

static char **ep_opt_addresses = NULL;

static const GOptionEntry ep_account_add_entries[] = {
	{ "address", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &ep_opt_addresses, N_("An address of the account (repeat)"),
	  N_("ADDRESS") },
	{ NULL }
};

static char *ep_opt_format = NULL;
static char *ep_opt_out = NULL;
static char *ep_opt_mailbox = NULL;

static const GOptionEntry ep_export_entries[] = {
	{ "format", 'f', 0, G_OPTION_ARG_STRING, &ep_opt_format, N_("mbox or maildir"), N_("FORMAT") },
	{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &ep_opt_out,
	  N_("Output file (mbox, default: standard output) or directory (maildir)"), N_("PATH") },
	{ NULL }
};

static const GOptionEntry ep_import_entries[] = {
	{ "format", 'f', 0, G_OPTION_ARG_STRING, &ep_opt_format, N_("mbox or maildir"), N_("FORMAT") },
	{ "mailbox", 'm', 0, G_OPTION_ARG_STRING, &ep_opt_mailbox,
	  N_("Put every message into this mailbox (created if missing)"), N_("MAILBOX") },
	{ NULL }
};

static gboolean ep_opt_scram = FALSE;

static const GOptionEntry ep_token_hash_entries[] = {
	{ "scram", 's', 0, G_OPTION_ARG_NONE, &ep_opt_scram,
	  N_("Also print SCRAM-SHA-256 credentials; prints both as configuration lines"), NULL },
	{ NULL }
};

static char *ep_opt_label = NULL;

static const GOptionEntry ep_app_password_entries[] = {
	{ "label", 'l', 0, G_OPTION_ARG_STRING, &ep_opt_label, N_("What the app password is for, e.g. \"phone\""),
	  N_("LABEL") },
	{ NULL }
};

static char *ep_opt_domain = NULL;
static char *ep_opt_selector = NULL;
static char *ep_opt_algorithm = NULL;
static gint ep_opt_bits = 0;

static char *ep_opt_ip = NULL;
static char *ep_opt_helo = NULL;
static char *ep_opt_mail_from = NULL;
static char **ep_opt_rcpt = NULL;

static const GOptionEntry ep_trace_entries[] = {
	{ "ip", 0, 0, G_OPTION_ARG_STRING, &ep_opt_ip, N_("The client's IP address"), N_("ADDR") },
	{ "helo", 0, 0, G_OPTION_ARG_STRING, &ep_opt_helo, N_("The name the client gave in EHLO"), N_("NAME") },
	{ "mail-from", 0, 0, G_OPTION_ARG_STRING, &ep_opt_mail_from, N_("The envelope sender (\"\" for <>)"),
	  N_("ADDR") },
	{ "rcpt", 0, 0, G_OPTION_ARG_STRING_ARRAY, &ep_opt_rcpt,
	  N_("A recipient (repeatable; default postmaster@ the first domain)"), N_("ADDR") },
	{ NULL }
};

static const GOptionEntry ep_dkim_keygen_entries[] = {
	{ "domain", 'd', 0, G_OPTION_ARG_STRING, &ep_opt_domain, N_("The signing domain (d=)"), N_("DOMAIN") },
	{ "selector", 's', 0, G_OPTION_ARG_STRING, &ep_opt_selector, N_("The selector (s=)"), N_("SELECTOR") },
	{ "algorithm", 'a', 0, G_OPTION_ARG_STRING, &ep_opt_algorithm, N_("ed25519 (default) or rsa"),
	  N_("ALGORITHM") },
	{ "bits", 'b', 0, G_OPTION_ARG_INT, &ep_opt_bits, N_("RSA key size (default 2048)"), N_("BITS") },
	{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &ep_opt_out,
	  N_("Write the key to this new file (mode 0600) instead of the database"), N_("FILE") },
	{ NULL }
};

static const EpVerb ep_verbs[] = {
	{ "serve", N_("Run the mail server in the foreground"), "", ep_verb_serve },
	{ "config-check", N_("Check the configuration and the modules without starting anything"), "",
	  ep_verb_config_check },
	{ "accounts", N_("List the accounts, from the configuration and the database"), "", ep_verb_accounts },
	{ "account-add", N_("Create an account; its password is read from standard input"),
	  N_("NAME --address ADDRESS..."), ep_verb_account_add },
	{ "account-del", N_("Delete an account created with account-add, with all its mail"), N_("NAME"),
	  ep_verb_account_del },
	{ "passwd", N_("Set the password of an account; read from standard input"), N_("NAME"), ep_verb_passwd },
	{ "token-hash", N_("Hash a secret read from standard input, for password_hash in the configuration"), "",
	  ep_verb_token_hash },
	{ "export", N_("Export every mailbox of an account, with flags, as mbox or Maildir"),
	  N_("NAME --format mbox|maildir [--out PATH]"), ep_verb_export },
	{ "import", N_("Import messages from an mbox file or a Maildir into an account"),
	  N_("NAME --format mbox|maildir PATH [--mailbox MAILBOX]"), ep_verb_import },
	{ "totp-enroll", N_("Enrol an account in TOTP; prints the otpauth:// URI and the secret"), N_("NAME"),
	  ep_verb_totp_enroll },
	{ "totp-disable", N_("Remove the TOTP second factor of an account"), N_("NAME"), ep_verb_totp_disable },
	{ "app-password-create", N_("Create an app password, which skips the second factor; printed once"),
	  N_("NAME --label LABEL"), ep_verb_app_password_create },
	{ "app-passwords", N_("List the app passwords of an account"), N_("NAME"), ep_verb_app_passwords },
	{ "app-password-revoke", N_("Revoke an app password"), N_("NAME ID"), ep_verb_app_password_revoke },
	{ "dkim-keygen", N_("Create a DKIM signing key; prints the DNS TXT record to publish"),
	  N_("--domain DOMAIN --selector SELECTOR [--algorithm ed25519|rsa] [--bits BITS] [--out FILE]"),
	  ep_verb_dkim_keygen },
	{ "dkim-keys", N_("List the DKIM signing keys"), "", ep_verb_dkim_keys },
	{ "dkim-retire", N_("Retire a DKIM key of the database: it no longer signs"), N_("DOMAIN SELECTOR"),
	  ep_verb_dkim_retire },
	{ "queue", N_("Show the outbound queue, or retry, delete or flush its messages"), EP_QUEUE_CLI_PARAMETERS,
	  ep_verb_queue },
	{ "trace", N_("Run the inbound checks on a message file and print every step"),
	  N_("FILE --ip ADDR --helo NAME --mail-from ADDR [--rcpt ADDR]"), ep_verb_trace },
	{ "help", N_("Show help for a command"), N_("[COMMAND]"), ep_verb_help },
	{ NULL }
};

static const EpVerb *
ep_verb_find (const char *name)
{
	for (guint i = 0; ep_verbs[i].name != NULL; i++) {
		if (g_strcmp0 (ep_verbs[i].name, name) == 0)
			return &ep_verbs[i];
	}
	return NULL;
}

static void
ep_print_error (const GError *error)
{
	g_auto(GStrv) lines = g_strsplit (error->message, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++)
		g_printerr ("mail: %s\n", lines[i]);
}

static GOptionContext *
ep_verb_option_context (const EpVerb *verb)
{
	g_autofree char *usage = g_strdup_printf ("%s %s", verb->name, _(verb->parameters));
	GOptionContext *context = g_option_context_new (usage);

	g_option_context_set_summary (context, _(verb->summary));
	g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
	g_option_context_add_main_entries (context, ep_config_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "account-add") == 0)
		g_option_context_add_main_entries (context, ep_account_add_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "export") == 0)
		g_option_context_add_main_entries (context, ep_export_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "import") == 0)
		g_option_context_add_main_entries (context, ep_import_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "dkim-keygen") == 0)
		g_option_context_add_main_entries (context, ep_dkim_keygen_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "trace") == 0)
		g_option_context_add_main_entries (context, ep_trace_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "app-password-create") == 0)
		g_option_context_add_main_entries (context, ep_app_password_entries, GETTEXT_PACKAGE);
	if (g_strcmp0 (verb->name, "token-hash") == 0)
		g_option_context_add_main_entries (context, ep_token_hash_entries, GETTEXT_PACKAGE);
	return context;
}

static gboolean
ep_verb_parse_n (const EpVerb *verb, int *argc, char ***argv, int n_args, int *exit_code)
{
	g_autoptr(GOptionContext) context = ep_verb_option_context (verb);
	g_autoptr(GError) error = NULL;

	if (!g_option_context_parse (context, argc, argv, &error)) {
		g_printerr ("mail %s: %s\n", verb->name, error->message);
		g_printerr (_("Run 'mail %s --help' for usage.\n"), verb->name);
		*exit_code = EX_USAGE;
		return FALSE;
	}
	if (*argc != 2 + n_args) {
		g_printerr (_("mail %s: expected %d argument(s); usage: mail %s %s\n"), verb->name, n_args, verb->name,
			    _(verb->parameters));
		*exit_code = EX_USAGE;
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_verb_parse (const EpVerb *verb, int *argc, char ***argv, int *exit_code)
{
	g_autoptr(GOptionContext) context = ep_verb_option_context (verb);
	g_autoptr(GError) error = NULL;

	if (!g_option_context_parse (context, argc, argv, &error)) {
		g_printerr ("mail %s: %s\n", verb->name, error->message);
		g_printerr (_("Run 'mail %s --help' for usage.\n"), verb->name);
		*exit_code = EX_USAGE;
		return FALSE;
	}
	if (*argc > 2) {
		g_printerr (_("mail %s: unexpected argument '%s'\n"), verb->name, (*argv)[2]);
		*exit_code = EX_USAGE;
		return FALSE;
	}
	return TRUE;
}

static int
ep_verb_serve (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("serve"), &argc, &argv, &exit_code))
		return exit_code;
	ep_log_writer_install (ep_opt_verbose, FALSE);
	daemon = ep_daemon_new (ep_config_path ());
	if (!ep_daemon_serve (daemon, &error)) {
		ep_print_error (error);
		return ep_error_to_exit_code (error);
	}
	return EX_OK;
}

static int
ep_verb_config_check (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("config-check"), &argc, &argv, &exit_code))
		return exit_code;
	ep_log_writer_install (ep_opt_verbose, FALSE);
	daemon = ep_daemon_new (ep_config_path ());
	if (!ep_daemon_check (daemon, &error)) {
		ep_print_error (error);
		/* everything config-check finds wrong is a configuration error */
		return EX_CONFIG;
	}
	g_print ("%s\n", _("configuration is valid"));
	return EX_OK;
}

/* ---- commands on stored data -------------------------------------------- */

static EpDaemon *
ep_cli_open (int *exit_code)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;

	ep_log_writer_install (ep_opt_verbose, TRUE);
	daemon = ep_daemon_new (ep_config_path ());
	if (!ep_daemon_open (daemon, &error)) {
		ep_print_error (error);
		*exit_code = ep_error_to_exit_code (error);
		return NULL;
	}
	if (ep_daemon_get_store (daemon) == NULL) {
		g_printerr (_("mail: no mailbox store is loaded (add \"store-pg\" to modules)\n"));
		ep_daemon_close (daemon);
		*exit_code = EX_CONFIG;
		return NULL;
	}
	return g_steal_pointer (&daemon);
}

/* waits for an operation started with ep_db_sync_callback */
static GAsyncResult *
ep_cli_wait (GAsyncResult **result)
{
	while (*result == NULL)
		g_main_context_iteration (NULL, TRUE);
	return *result;
}

static void
ep_cli_store_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	*(GAsyncResult **) user_data = g_object_ref (result);
}

static int
ep_cli_fail (EpDaemon *daemon, const GError *error)
{
	ep_print_error (error);
	ep_daemon_close (daemon);
	return ep_error_to_exit_code (error);
}

/* Reads a password: from the terminal without echo (twice), else the
 * first line of standard input. */
static char *
ep_cli_read_password (GError **error)
{
	g_autofree char *first = NULL;
	gboolean tty = isatty (STDIN_FILENO);
	struct termios saved, noecho;
	char buf[1024];

	for (guint round = 0; round < (tty ? 2u : 1u); round++) {
		char *nl;
		if (tty) {
			g_printerr ("%s", round == 0 ? _("Password: ") : _("Again: "));
			tcgetattr (STDIN_FILENO, &saved);
			noecho = saved;
			noecho.c_lflag &= ~(tcflag_t) ECHO;
			tcsetattr (STDIN_FILENO, TCSANOW, &noecho);
		}
		if (fgets (buf, sizeof (buf), stdin) == NULL)
			buf[0] = '\0';
		if (tty) {
			tcsetattr (STDIN_FILENO, TCSANOW, &saved);
			g_printerr ("\n");
		}
		nl = strpbrk (buf, "\r\n");
		if (nl != NULL)
			*nl = '\0';
		if (round == 0) {
			first = g_strdup (buf);
		} else if (g_strcmp0 (first, buf) != 0) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, _("the passwords differ"));
			return NULL;
		}
	}
	memset (buf, 0, sizeof (buf));
	if (!ep_password_check_policy (first, error))
		return NULL;
	return g_steal_pointer (&first);
}

/* @scram: (out) (optional): the SCRAM-SHA-256 credentials of the same password */
static char *
ep_cli_hash_password_scram (char **scram, GError **error)
{
	g_autofree char *password = ep_cli_read_password (error);
	g_autofree char *hash = NULL;

	if (password == NULL)
		return NULL;
	hash = ep_password_hash (password, NULL, error);
	if (hash != NULL && scram != NULL) {
		*scram = ep_scram_sha256_credentials_new (password, EP_SCRAM_DEFAULT_ITERATIONS, error);
		if (*scram == NULL)
			g_clear_pointer (&hash, g_free);
	}
	memset (password, 0, strlen (password));
	return g_steal_pointer (&hash);
}

/* auth-sql's tables when they exist (the module was ever loaded), else
 * NULL without an error: the SCRAM credentials and second factors of
 * accounts live there */
static EpDb *
ep_cli_auth_db_optional (EpDaemon *daemon)
{
	EpDb *db = ep_daemon_get_db (daemon);

	if (db == NULL || !ep_auth_cli_available (db, NULL))
		return NULL;
	return db;
}

/* after a password change: SCRAM credentials of the old password must not
 * keep working */
static gboolean
ep_cli_store_scram (EpDaemon *daemon, const char *name, const char *scram, gboolean fresh, GError **error)
{
	EpDb *db = ep_cli_auth_db_optional (daemon);

	if (db == NULL)
		return TRUE;
	/* a new account inherits nothing from a deleted one of the same name */
	if (fresh && !ep_auth_cli_forget (db, name, error))
		return FALSE;
	return ep_auth_cli_set_scram (db, name, scram, error);
}

static int
ep_verb_accounts (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("accounts"), &argc, &argv, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	ep_store_list_accounts_async (ep_daemon_get_store (daemon), NULL, NULL, ep_cli_store_done, &result);
	accounts = ep_store_list_accounts_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error);
	if (accounts == NULL)
		return ep_cli_fail (daemon, error);
	g_print ("%-24s %-7s %s\n", _("NAME"), _("SOURCE"), _("ADDRESSES"));
	for (guint i = 0; i < accounts->len; i++) {
		EpStoreAccount *a = g_ptr_array_index (accounts, i);
		g_autofree char *addresses = g_strjoinv (", ", a->addresses);
		g_print ("%-24s %-7s %s\n", a->name, ep_store_account_source_to_string (a->source), addresses);
	}
	g_print (g_dngettext (GETTEXT_PACKAGE, "%u account\n", "%u accounts\n", accounts->len), accounts->len);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_account_add (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autofree char *hash = NULL;
	g_autofree char *scram = NULL;
	EpConfig *config;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("account-add"), &argc, &argv, 1, &exit_code))
		return exit_code;
	if (ep_opt_addresses == NULL || ep_opt_addresses[0] == NULL) {
		g_printerr (_("mail account-add: give at least one --address\n"));
		return EX_USAGE;
	}
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	config = ep_daemon_get_config (daemon);
	for (guint i = 0; ep_opt_addresses[i] != NULL; i++) {
		const char *at = strrchr (ep_opt_addresses[i], '@');
		if (at == NULL || at == ep_opt_addresses[i] || !ep_config_is_local_domain (config, at + 1)) {
			g_autofree char *domains = g_strjoinv (", ", (char **) ep_config_get_domains (config));
			g_printerr (_("mail account-add: '%s' is not an address in a configured domain (domains: %s)\n"),
				    ep_opt_addresses[i], domains);
			ep_daemon_close (daemon);
			return EX_DATAERR;
		}
	}
	hash = ep_cli_hash_password_scram (&scram, &error);
	if (hash == NULL)
		return ep_cli_fail (daemon, error);
	ep_store_create_account_async (ep_daemon_get_store (daemon), argv[2], (const char *const *) ep_opt_addresses,
				       hash, FALSE, 0, NULL, ep_cli_store_done, &result);
	if (!ep_store_create_account_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error)) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS)) {
			g_printerr (_("mail account-add: the account %s, or one of its addresses, already exists\n"),
				    argv[2]);
			ep_daemon_close (daemon);
			return EX_DATAERR;
		}
		return ep_cli_fail (daemon, error);
	}
	if (!ep_cli_store_scram (daemon, argv[2], scram, TRUE, &error))
		return ep_cli_fail (daemon, error);
	g_print (_("account %s created\n"), argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_account_del (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("account-del"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	ep_store_delete_account_async (ep_daemon_get_store (daemon), argv[2], NULL, ep_cli_store_done, &result);
	if (!ep_store_delete_account_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error)) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_PERM)) {
			g_printerr (_("mail account-del: account %s comes from the configuration; remove it there\n"),
				    argv[2]);
			ep_daemon_close (daemon);
			return EX_NOPERM;
		}
		return ep_cli_fail (daemon, error);
	}
	if (ep_cli_auth_db_optional (daemon) != NULL && !ep_auth_cli_forget (ep_daemon_get_db (daemon), argv[2], &error))
		return ep_cli_fail (daemon, error);
	g_print (_("account %s deleted\n"), argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_passwd (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autofree char *hash = NULL;
	g_autofree char *scram = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("passwd"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	hash = ep_cli_hash_password_scram (&scram, &error);
	if (hash == NULL)
		return ep_cli_fail (daemon, error);
	ep_store_set_password_hash_async (ep_daemon_get_store (daemon), argv[2], hash, NULL, ep_cli_store_done,
					  &result);
	if (!ep_store_set_password_hash_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error))
		return ep_cli_fail (daemon, error);
	if (!ep_cli_store_scram (daemon, argv[2], scram, FALSE, &error))
		return ep_cli_fail (daemon, error);
	g_print (_("password of %s changed\n"), argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_token_hash (int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *hash = NULL;
	g_autofree char *scram = NULL;
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("token-hash"), &argc, &argv, &exit_code))
		return exit_code;
	hash = ep_cli_hash_password_scram (ep_opt_scram ? &scram : NULL, &error);
	if (hash == NULL) {
		ep_print_error (error);
		return ep_error_to_exit_code (error);
	}
	if (scram == NULL) {
		g_print ("%s\n", hash);
		return EX_OK;
	}
	/* neither string holds a quote or a backslash */
	g_print ("password_hash = \"%s\"\nscram_sha256 = \"%s\"\n", hash, scram);
	return EX_OK;
}

/* ---- second factors and app passwords (auth-sql) ------------------------- */

/* the database with auth-sql's tables, and @name an account of the store */
static EpDb *
ep_cli_auth_db (EpDaemon *daemon, const char *verb, const char *name, int *exit_code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	EpDb *db = ep_daemon_get_db (daemon);

	if (db == NULL || !ep_auth_cli_available (db, &error)) {
		if (error != NULL)
			g_printerr ("mail %s: %s\n", verb, error->message);
		*exit_code = EX_CONFIG;
		return NULL;
	}
	ep_store_list_accounts_async (ep_daemon_get_store (daemon), name, NULL, ep_cli_store_done, &result);
	accounts = ep_store_list_accounts_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error);
	if (accounts == NULL && !g_error_matches (error, EP_ERROR, EP_ERROR_NOT_FOUND) &&
	    !g_error_matches (error, EP_ERROR, EP_ERROR_INVALID)) {
		ep_print_error (error);
		*exit_code = ep_error_to_exit_code (error);
		return NULL;
	}
	if (accounts == NULL || accounts->len == 0) {
		g_printerr (_("mail %s: no account %s\n"), verb, name);
		*exit_code = EX_NOUSER;
		return NULL;
	}
	return db;
}

static int
ep_verb_totp_enroll (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) secret = NULL;
	g_autofree char *base32 = NULL;
	g_autofree char *uri = NULL;
	EpDb *db;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("totp-enroll"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_cli_auth_db (daemon, "totp-enroll", argv[2], &exit_code);
	if (db == NULL) {
		ep_daemon_close (daemon);
		return exit_code;
	}
	secret = ep_totp_secret_new ();
	base32 = ep_totp_base32_encode (g_bytes_get_data (secret, NULL), g_bytes_get_size (secret));
	uri = ep_totp_uri (ep_config_get_hostname (ep_daemon_get_config (daemon)), argv[2], secret);
	if (!ep_auth_cli_totp_enroll (db, argv[2], secret, &error))
		return ep_cli_fail (daemon, error);
	g_print ("%s\n", uri);
	g_print (_("secret: %s\n"), base32);
	g_printerr (_("TOTP enrolled for %s: log in with the password followed by the current 6-digit code; "
		      "app passwords need no code, SCRAM logins are refused\n"),
		    argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_totp_disable (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	EpDb *db;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("totp-disable"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_cli_auth_db (daemon, "totp-disable", argv[2], &exit_code);
	if (db == NULL) {
		ep_daemon_close (daemon);
		return exit_code;
	}
	if (!ep_auth_cli_totp_disable (db, argv[2], &error))
		return ep_cli_fail (daemon, error);
	g_print (_("TOTP of %s removed\n"), argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_app_password_create (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *password = NULL;
	g_autofree char *hash = NULL;
	gint64 id = 0;
	EpDb *db;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("app-password-create"), &argc, &argv, 1, &exit_code))
		return exit_code;
	if (ep_opt_label == NULL || *ep_opt_label == '\0' || g_utf8_strlen (ep_opt_label, -1) > 64 ||
	    !g_utf8_validate (ep_opt_label, -1, NULL)) {
		g_printerr (_("mail app-password-create: give --label LABEL, 1 to 64 characters\n"));
		return EX_USAGE;
	}
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_cli_auth_db (daemon, "app-password-create", argv[2], &exit_code);
	if (db == NULL) {
		ep_daemon_close (daemon);
		return exit_code;
	}
	password = ep_auth_cli_app_password_new ();
	hash = ep_password_hash (password, NULL, &error);
	if (hash == NULL || !ep_auth_cli_app_password_add (db, argv[2], ep_opt_label, hash, &id, &error))
		return ep_cli_fail (daemon, error);
	g_print ("%s\n", password);
	g_printerr (_("app password %" G_GINT64_FORMAT " (%s) created for %s; it is shown only now\n"), id,
		    ep_opt_label, argv[2]);
	memset (password, 0, strlen (password));
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_app_passwords (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDbResult) res = NULL;
	EpDb *db;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("app-passwords"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_cli_auth_db (daemon, "app-passwords", argv[2], &exit_code);
	if (db == NULL) {
		ep_daemon_close (daemon);
		return exit_code;
	}
	res = ep_auth_cli_app_password_list (db, argv[2], &error);
	if (res == NULL)
		return ep_cli_fail (daemon, error);
	g_print ("%-6s %-20s %s\n", _("ID"), _("CREATED"), _("LABEL"));
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++)
		g_print ("%-6s %-20s %s\n", ep_db_result_get_text (res, i, 0), ep_db_result_get_text (res, i, 2),
			 ep_db_result_get_text (res, i, 1));
	ep_daemon_close (daemon);
	return EX_OK;
}

static int
ep_verb_app_password_revoke (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = 0;
	EpDb *db;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("app-password-revoke"), &argc, &argv, 2, &exit_code))
		return exit_code;
	if (!g_ascii_string_to_signed (argv[3], 10, 1, G_MAXINT64, &id, NULL)) {
		g_printerr (_("mail app-password-revoke: '%s' is not an id (see mail app-passwords %s)\n"), argv[3],
			    argv[2]);
		return EX_USAGE;
	}
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	db = ep_cli_auth_db (daemon, "app-password-revoke", argv[2], &exit_code);
	if (db == NULL) {
		ep_daemon_close (daemon);
		return exit_code;
	}
	if (!ep_auth_cli_app_password_revoke (db, argv[2], id, &error))
		return ep_cli_fail (daemon, error);
	g_print (_("app password %" G_GINT64_FORMAT " of %s revoked\n"), id, argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- export and import ---------------------------------------------------- *
 *
 * mbox (mboxrd): every mailbox in one stream, each message after a
 * "From MAILER-DAEMON <asctime of the internal date, UTC>" line and
 * followed by an empty line.  Lines end with LF (the store keeps CRLF; the
 * conversion is undone on import).  Before the message's own header
 * lines, export adds "X-Mailbox:", "Status:", "X-Status:" and
 * "X-Keywords:"; import reads them (anywhere in the header) to restore
 * the mailbox, flags and keywords, and removes them.  The bodies are kept
 * byte for byte.
 *
 * Maildir: Maildir++ under --out (INBOX in DIR itself, "A/B" in DIR/.A.B),
 * files "<internal date>.<uid>.<host>:2,<DFRST>" written in tmp/ then
 * renamed into cur/, with LF line endings and the internal date as mtime.
 * Keywords are not kept in Maildir.
 */

typedef enum {
	EP_FORMAT_MBOX,
	EP_FORMAT_MAILDIR,
} EpFormat;

static gboolean
ep_cli_parse_format (const char *verb, EpFormat *format)
{
	if (g_strcmp0 (ep_opt_format, "mbox") == 0) {
		*format = EP_FORMAT_MBOX;
		return TRUE;
	}
	if (g_strcmp0 (ep_opt_format, "maildir") == 0) {
		*format = EP_FORMAT_MAILDIR;
		return TRUE;
	}
	g_printerr (_("mail %s: give --format mbox or --format maildir\n"), verb);
	return FALSE;
}

/* (element-type EpStoreMailbox) */
static GPtrArray *
ep_cli_list_mailboxes (EpStore *store, const char *account, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	ep_store_list_mailboxes_async (store, account, NULL, NULL, ep_cli_store_done, &result);
	return ep_store_list_mailboxes_finish (store, ep_cli_wait (&result), error);
}

/* ---- export ---- */

typedef struct {
	EpFormat format;
	FILE *out;	     /* mbox */
	const char *dir;     /* maildir */
	char *host;	     /* maildir */
	guint n_messages;
} EpExport;

static gboolean
ep_export_write_mbox (EpExport *ex, const EpStoreMailbox *mailbox, const EpStoreMessage *message, GBytes *bytes,
		      GError **error)
{
	g_autoptr(GString) out = g_string_new (NULL);
	g_autofree char *from = ep_mbox_from_line (message->internal_date);
	g_autofree char *status = NULL;
	g_autofree char *x_status = NULL;
	gsize len = 0;
	const char *data = g_bytes_get_data (bytes, &len);
	gsize start = 0;

	ep_mbox_flags_to_status (message->flags, &status, &x_status);
	g_string_append (out, from);
	g_string_append_printf (out, "X-Mailbox: %s\n", mailbox->name);
	g_string_append_printf (out, "Status: %s\n", status);
	if (x_status[0] != '\0')
		g_string_append_printf (out, "X-Status: %s\n", x_status);
	if (message->keywords != NULL && message->keywords[0] != NULL) {
		g_autofree char *keywords = g_strjoinv (" ", message->keywords);
		g_string_append_printf (out, "X-Keywords: %s\n", keywords);
	}
	while (start < len) {
		const char *nl = memchr (data + start, '\n', len - start);
		gsize end = nl != NULL ? (gsize) (nl - data) : len;
		gsize line_len = end - start;

		if (line_len > 0 && data[end - 1] == '\r' && nl != NULL)
			line_len--;
		ep_mbox_quote_line (out, data + start, line_len);
		g_string_append_c (out, '\n');
		start = nl != NULL ? end + 1 : len;
	}
	g_string_append_c (out, '\n');
	if (fwrite (out->str, 1, out->len, ex->out) != out->len) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, _("cannot write the mbox: %s"), g_strerror (errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_export_write_maildir (EpExport *ex, const char *folder_dir, const EpStoreMessage *message, GBytes *bytes,
			 GError **error)
{
	g_autoptr(GString) out = g_string_new (NULL);
	g_autofree char *letters = ep_maildir_flags_to_letters (message->flags);
	g_autofree char *base = g_strdup_printf ("%" G_GINT64_FORMAT ".%u.%s", message->internal_date, message->uid,
						 ex->host);
	g_autofree char *name = g_strconcat (base, ":2,", letters, NULL);
	g_autofree char *tmp = g_build_filename (folder_dir, "tmp", base, NULL);
	g_autofree char *final = g_build_filename (folder_dir, "cur", name, NULL);
	struct utimbuf times = { .actime = message->internal_date, .modtime = message->internal_date };
	gsize len = 0;
	const char *data = g_bytes_get_data (bytes, &len);

	ep_mailbox_file_crlf_to_lf (out, data, len);
	if (!g_file_set_contents_full (tmp, out->str, out->len, G_FILE_SET_CONTENTS_NONE, 0600, error))
		return FALSE;
	if (g_utime (tmp, &times) != 0 || g_rename (tmp, final) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, _("cannot move %s into cur/: %s"), tmp,
			     g_strerror (saved));
		g_unlink (tmp);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_export_mailbox (EpExport *ex, EpStore *store, const char *account, const EpStoreMailbox *mailbox, GError **error)
{
	g_autofree char *folder_dir = NULL;
	guint32 first_uid = 1;

	if (ex->format == EP_FORMAT_MAILDIR) {
		g_autofree char *folder = ep_maildir_folder_for_mailbox (mailbox->name);
		const char *subs[] = { "cur", "new", "tmp" };

		folder_dir = g_build_filename (ex->dir, folder, NULL);
		for (guint i = 0; i < G_N_ELEMENTS (subs); i++) {
			g_autofree char *sub = g_build_filename (folder_dir, subs[i], NULL);
			if (g_mkdir_with_parents (sub, 0700) != 0) {
				int saved = errno;
				g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, _("cannot create %s: %s"), sub,
					     g_strerror (saved));
				return FALSE;
			}
		}
	}
	for (;;) {
		g_autoptr(GAsyncResult) result = NULL;
		g_autoptr(GPtrArray) page = NULL;
		guint32 last_uid = 0;

		ep_store_list_messages_async (store, account, mailbox->name, first_uid, G_MAXUINT32, 0, 200, NULL,
					      ep_cli_store_done, &result);
		page = ep_store_list_messages_finish (store, ep_cli_wait (&result), error);
		if (page == NULL)
			return FALSE;
		if (page->len == 0)
			return TRUE;
		for (guint i = 0; i < page->len; i++) {
			EpStoreMessage *message = g_ptr_array_index (page, i);
			g_autoptr(GAsyncResult) read_result = NULL;
			g_autoptr(GBytes) bytes = NULL;
			g_autoptr(GError) read_error = NULL;

			last_uid = message->uid;
			ep_store_read_message_async (store, account, mailbox->name, message->uid, NULL,
						     ep_cli_store_done, &read_result);
			bytes = ep_store_read_message_finish (store, ep_cli_wait (&read_result), &read_error);
			if (bytes == NULL) {
				/* expunged meanwhile */
				if (g_error_matches (read_error, EP_ERROR, EP_ERROR_NOT_FOUND))
					continue;
				g_propagate_error (error, g_steal_pointer (&read_error));
				return FALSE;
			}
			if (ex->format == EP_FORMAT_MBOX) {
				if (!ep_export_write_mbox (ex, mailbox, message, bytes, error))
					return FALSE;
			} else if (!ep_export_write_maildir (ex, folder_dir, message, bytes, error)) {
				return FALSE;
			}
			ex->n_messages++;
		}
		if (last_uid == G_MAXUINT32)
			return TRUE;
		first_uid = last_uid + 1;
	}
}

static int
ep_verb_export (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) mailboxes = NULL;
	EpExport ex = { 0 };
	g_autofree char *host = NULL;
	EpStore *store;
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("export"), &argc, &argv, 1, &exit_code))
		return exit_code;
	if (!ep_cli_parse_format ("export", &ex.format))
		return EX_USAGE;
	if (ex.format == EP_FORMAT_MAILDIR && ep_opt_out == NULL) {
		g_printerr (_("mail export: --format maildir needs --out DIR\n"));
		return EX_USAGE;
	}
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	store = ep_daemon_get_store (daemon);
	mailboxes = ep_cli_list_mailboxes (store, argv[2], &error);
	if (mailboxes == NULL)
		return ep_cli_fail (daemon, error);

	host = g_strdup (g_get_host_name ());
	g_strdelimit (host, "/:", '_');
	ex.host = host;
	if (ex.format == EP_FORMAT_MAILDIR) {
		ex.dir = ep_opt_out;
	} else if (ep_opt_out != NULL && g_strcmp0 (ep_opt_out, "-") != 0) {
		ex.out = g_fopen (ep_opt_out, "wb");
		if (ex.out == NULL) {
			g_printerr (_("mail export: cannot create %s: %s\n"), ep_opt_out, g_strerror (errno));
			ep_daemon_close (daemon);
			return EX_CANTCREAT;
		}
	} else {
		ex.out = stdout;
	}

	for (guint i = 0; i < mailboxes->len; i++) {
		if (!ep_export_mailbox (&ex, store, argv[2], g_ptr_array_index (mailboxes, i), &error))
			break;
	}
	if (ex.out != NULL && ex.out != stdout && fclose (ex.out) != 0 && error == NULL)
		g_set_error (&error, EP_ERROR, EP_ERROR_INTERNAL, _("cannot write %s: %s"), ep_opt_out,
			     g_strerror (errno));
	if (ex.out == stdout && fflush (stdout) != 0 && error == NULL)
		g_set_error (&error, EP_ERROR, EP_ERROR_INTERNAL, _("cannot write the mbox: %s"), g_strerror (errno));
	if (error != NULL) {
		if (g_error_matches (error, EP_ERROR, EP_ERROR_INTERNAL) || error->domain != EP_ERROR) {
			ep_print_error (error);
			ep_daemon_close (daemon);
			return EX_IOERR;
		}
		return ep_cli_fail (daemon, error);
	}
	g_printerr (_("exported %u messages from %s\n"), ex.n_messages, argv[2]);
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- import ---- */

typedef struct {
	EpStore *store;
	const char *account;
	GHashTable *mailboxes; /* normalized names that exist */
	guint n_imported;
	guint n_skipped;
	gboolean progress;
	gint64 total_bytes;
} EpImport;

static gboolean
ep_import_ensure_mailbox (EpImport *im, const char *name, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(EpStoreMailbox) created = NULL;
	g_autoptr(GError) local_error = NULL;

	if (g_hash_table_contains (im->mailboxes, name))
		return TRUE;
	ep_store_create_mailbox_async (im->store, im->account, name, NULL, NULL, ep_cli_store_done, &result);
	created = ep_store_create_mailbox_finish (im->store, ep_cli_wait (&result), &local_error);
	if (created == NULL && !g_error_matches (local_error, EP_ERROR, EP_ERROR_EXISTS)) {
		g_propagate_error (error, g_steal_pointer (&local_error));
		return FALSE;
	}
	g_hash_table_add (im->mailboxes, g_strdup (name));
	return TRUE;
}

static void
ep_import_progress (EpImport *im, gint64 done_bytes, gboolean last)
{
	int width = 40;
	int percent;
	g_autofree char *bar = NULL;
	guint n = im->n_imported + im->n_skipped;

	if (!im->progress || (!last && (n == 0 || n % 25 != 0)))
		return;
	if (im->total_bytes <= 0) {
		/* a Maildir: the total is not known */
		g_printerr ("\r%u messages%s", n, last ? "\n" : "");
		return;
	}
	percent = im->total_bytes > 0 ? (int) MIN (100, done_bytes * 100 / im->total_bytes) : 100;
	if (last)
		percent = 100;
	bar = g_strnfill (width * percent / 100, '#');
	g_printerr ("\r[%-*s] %3d%% %u messages", width, bar, percent, im->n_imported + im->n_skipped);
	if (last)
		g_printerr ("\n");
}

/* Stores one message; a message the store refuses is skipped with a
 * warning.  Fails only when importing cannot go on. */
static gboolean
ep_import_message (EpImport *im, const char *mailbox, GString *message, EpStoreFlags flags,
		   const char *const *keywords, gint64 internal_date, const char *where, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	g_autoptr(EpStoreDelivery) delivery = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *name = ep_store_normalize_mailbox_name (mailbox, &local_error);

	if (name == NULL || !ep_import_ensure_mailbox (im, name, &local_error)) {
		if (local_error != NULL && (g_error_matches (local_error, EP_ERROR, EP_ERROR_TEMP) ||
					    g_error_matches (local_error, EP_ERROR, EP_ERROR_TIMEOUT))) {
			g_propagate_error (error, g_steal_pointer (&local_error));
			return FALSE;
		}
		g_printerr (_("mail import: %s: skipped, mailbox '%s': %s\n"), where, mailbox,
			    local_error != NULL ? local_error->message : "?");
		im->n_skipped++;
		return TRUE;
	}
	if (message->len == 0) {
		g_printerr (_("mail import: %s: skipped, the message is empty\n"), where);
		im->n_skipped++;
		return TRUE;
	}
	bytes = g_bytes_new (message->str, message->len);
	ep_store_append_async (im->store, im->account, name, bytes, flags, keywords, internal_date, NULL,
			       ep_cli_store_done, &result);
	delivery = ep_store_append_finish (im->store, ep_cli_wait (&result), &local_error);
	if (delivery == NULL) {
		if (g_error_matches (local_error, EP_ERROR, EP_ERROR_TEMP) ||
		    g_error_matches (local_error, EP_ERROR, EP_ERROR_TIMEOUT) ||
		    g_error_matches (local_error, EP_ERROR, EP_ERROR_INTERNAL)) {
			g_propagate_error (error, g_steal_pointer (&local_error));
			return FALSE;
		}
		g_printerr (_("mail import: %s: skipped: %s\n"), where, local_error->message);
		im->n_skipped++;
		return TRUE;
	}
	im->n_imported++;
	return TRUE;
}

typedef struct {
	EpImport *im;
	const char *path;
	GFileInputStream *input;
	GDataInputStream *data;
} EpImportMbox;

static gboolean
ep_import_mbox_message (const EpMboxMessage *m, gpointer user_data, GError **error)
{
	EpImportMbox *ctx = user_data;
	g_auto(GStrv) keywords = NULL;
	g_autofree char *where = NULL;
	const char *mailbox;

	if (m->keywords != NULL) {
		g_auto(GStrv) words = g_strsplit_set (m->keywords, " \t,", -1);
		g_autoptr(GPtrArray) kept = g_ptr_array_new ();
		for (guint i = 0; words[i] != NULL; i++) {
			if (words[i][0] != '\0')
				g_ptr_array_add (kept, g_strdup (words[i]));
		}
		g_ptr_array_add (kept, NULL);
		keywords = (GStrv) g_ptr_array_free (g_steal_pointer (&kept), FALSE);
	}
	mailbox = ep_opt_mailbox != NULL ? ep_opt_mailbox : m->mailbox != NULL ? m->mailbox : "INBOX";
	where = g_strdup_printf ("%s:%" G_GUINT64_FORMAT, ctx->path, m->line_no);
	if (!ep_import_message (ctx->im, mailbox, m->data, ep_mbox_flags_from_status (m->status, m->x_status),
				(const char *const *) keywords, m->internal_date, where, error))
		return FALSE;
	ep_import_progress (ctx->im,
			    g_seekable_tell (G_SEEKABLE (ctx->input)) -
				    (gint64) g_buffered_input_stream_get_available (G_BUFFERED_INPUT_STREAM (ctx->data)),
			    FALSE);
	return TRUE;
}

static gboolean
ep_import_mbox (EpImport *im, const char *path, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path (path);
	g_autoptr(GFileInputStream) input = g_file_read (file, NULL, error);
	g_autoptr(GDataInputStream) data = NULL;
	g_autoptr(GFileInfo) info = NULL;
	g_autoptr(EpMboxReader) reader = NULL;
	EpImportMbox ctx = { im, path, NULL, NULL };
	gboolean ok = TRUE;

	if (input == NULL)
		return FALSE;
	info = g_file_input_stream_query_info (input, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, NULL);
	if (info != NULL)
		im->total_bytes = g_file_info_get_size (info);
	data = g_data_input_stream_new (G_INPUT_STREAM (input));
	g_data_input_stream_set_newline_type (data, G_DATA_STREAM_NEWLINE_TYPE_LF);
	ctx.input = input;
	ctx.data = data;
	reader = ep_mbox_reader_new (ep_import_mbox_message, &ctx);
	while (ok) {
		gsize len = 0;
		gboolean stray = FALSE;
		g_autoptr(GError) read_error = NULL;
		g_autofree char *line = g_data_input_stream_read_line (data, &len, NULL, &read_error);

		if (line == NULL) {
			if (read_error != NULL) {
				g_propagate_error (error, g_steal_pointer (&read_error));
				ok = FALSE;
			}
			break;
		}
		ok = ep_mbox_reader_feed_line (reader, line, len, &stray, error);
		if (stray)
			g_printerr (_("mail import: %s:%" G_GUINT64_FORMAT ": not in a message (no From_ line "
				      "before it), ignored\n"),
				    path, ep_mbox_reader_get_line_no (reader));
	}
	if (ok)
		ok = ep_mbox_reader_finish (reader, error);
	ep_import_progress (im, im->total_bytes, TRUE);
	return ok;
}

static int
ep_compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* sorted names in @dir; (element-type utf8) */
static GPtrArray *
ep_list_dir (const char *dir)
{
	g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
	GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
	const char *name;

	if (d == NULL)
		return names;
	while ((name = g_dir_read_name (d)) != NULL)
		g_ptr_array_add (names, g_strdup (name));
	g_ptr_array_sort (names, ep_compare_strings);
	return names;
}

static gboolean
ep_import_maildir_folder (EpImport *im, const char *folder_dir, const char *mailbox, GError **error)
{
	const char *subs[] = { "new", "cur" };

	for (guint s = 0; s < G_N_ELEMENTS (subs); s++) {
		g_autofree char *sub = g_build_filename (folder_dir, subs[s], NULL);
		g_autoptr(GPtrArray) names = ep_list_dir (sub);

		for (guint i = 0; i < names->len; i++) {
			const char *name = g_ptr_array_index (names, i);
			g_autofree char *path = g_build_filename (sub, name, NULL);
			g_autofree char *contents = NULL;
			g_autoptr(GError) read_error = NULL;
			g_autoptr(GString) message = g_string_new (NULL);
			GStatBuf st;
			gsize len = 0;

			if (name[0] == '.' || g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
				continue;
			if (!g_file_get_contents (path, &contents, &len, &read_error)) {
				g_printerr (_("mail import: %s: skipped: %s\n"), path, read_error->message);
				im->n_skipped++;
				continue;
			}
			ep_mailbox_file_lf_to_crlf (message, contents, len);
			if (!ep_import_message (im, ep_opt_mailbox != NULL ? ep_opt_mailbox : mailbox, message,
						ep_maildir_flags_from_name (name), NULL, st.st_mtime, path, error))
				return FALSE;
			ep_import_progress (im, 0, FALSE);
		}
	}
	return TRUE;
}

static gboolean
ep_import_maildir (EpImport *im, const char *dir, GError **error)
{
	g_autoptr(GPtrArray) names = NULL;
	g_autofree char *cur = g_build_filename (dir, "cur", NULL);
	g_autofree char *new_dir = g_build_filename (dir, "new", NULL);

	if (!g_file_test (cur, G_FILE_TEST_IS_DIR) && !g_file_test (new_dir, G_FILE_TEST_IS_DIR)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, _("%s is not a Maildir (it has no cur/ or new/)"), dir);
		return FALSE;
	}
	if (!ep_import_maildir_folder (im, dir, "INBOX", error))
		return FALSE;
	names = ep_list_dir (dir);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index (names, i);
		g_autofree char *mailbox = ep_maildir_mailbox_for_folder (name);
		g_autofree char *folder_dir = g_build_filename (dir, name, NULL);

		if (mailbox == NULL || !g_file_test (folder_dir, G_FILE_TEST_IS_DIR))
			continue;
		if (!ep_import_maildir_folder (im, folder_dir, mailbox, error))
			return FALSE;
	}
	ep_import_progress (im, 0, TRUE);
	return TRUE;
}

static int
ep_verb_import (int argc, char **argv)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) mailboxes = NULL;
	g_autoptr(GHashTable) known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	EpImport im = { 0 };
	EpFormat format;
	const char *path;
	int exit_code = EX_OK;
	gboolean ok;

	if (!ep_verb_parse_n (ep_verb_find ("import"), &argc, &argv, 2, &exit_code))
		return exit_code;
	if (!ep_cli_parse_format ("import", &format))
		return EX_USAGE;
	path = argv[3];
	if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
		g_printerr (_("mail import: %s: %s\n"), path, g_strerror (ENOENT));
		return EX_NOINPUT;
	}
	if (format == EP_FORMAT_MBOX && g_file_test (path, G_FILE_TEST_IS_DIR)) {
		g_printerr (_("mail import: %s is a directory; use --format maildir\n"), path);
		return EX_USAGE;
	}
	if (format == EP_FORMAT_MAILDIR && !g_file_test (path, G_FILE_TEST_IS_DIR)) {
		g_printerr (_("mail import: %s is not a directory; use --format mbox\n"), path);
		return EX_USAGE;
	}
	if (ep_opt_mailbox != NULL) {
		g_autofree char *name = ep_store_normalize_mailbox_name (ep_opt_mailbox, &error);
		if (name == NULL) {
			g_printerr (_("mail import: --mailbox: %s\n"), error->message);
			return EX_USAGE;
		}
	}
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	im.store = ep_daemon_get_store (daemon);
	im.account = argv[2];
	im.mailboxes = known;
	im.progress = isatty (STDERR_FILENO);
	mailboxes = ep_cli_list_mailboxes (im.store, im.account, &error);
	if (mailboxes == NULL)
		return ep_cli_fail (daemon, error);
	for (guint i = 0; i < mailboxes->len; i++) {
		EpStoreMailbox *mailbox = g_ptr_array_index (mailboxes, i);
		g_hash_table_add (known, g_strdup (mailbox->name));
	}

	if (format == EP_FORMAT_MBOX)
		ok = ep_import_mbox (&im, path, &error);
	else
		ok = ep_import_maildir (&im, path, &error);
	if (!ok) {
		g_printerr (_("mail import: stopped after %u messages (%u skipped)\n"), im.n_imported, im.n_skipped);
		if (error->domain == G_IO_ERROR) {
			ep_print_error (error);
			ep_daemon_close (daemon);
			return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ? EX_NOINPUT : EX_IOERR;
		}
		if (g_error_matches (error, EP_ERROR, EP_ERROR_INVALID)) {
			ep_print_error (error);
			ep_daemon_close (daemon);
			return EX_DATAERR;
		}
		return ep_cli_fail (daemon, error);
	}
	g_print (_("imported %u messages into %s (%u skipped)\n"), im.n_imported, im.account, im.n_skipped);
	ep_daemon_close (daemon);
	return im.n_skipped > 0 ? EX_DATAERR : EX_OK;
}

/* ---- DKIM keys (ep-dkim-cli.c) -------------------------------------------- */

static int
ep_verb_dkim_keygen (int argc, char **argv)
{
	EpDkimKeygenOptions options;
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("dkim-keygen"), &argc, &argv, &exit_code))
		return exit_code;
	options = (EpDkimKeygenOptions){ ep_opt_domain, ep_opt_selector, ep_opt_algorithm, ep_opt_bits, ep_opt_out };
	return ep_dkim_cli_keygen (ep_config_path (), ep_opt_verbose, &options);
}

static int
ep_verb_trace (int argc, char **argv)
{
	EpTraceOptions options = { 0 };
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("trace"), &argc, &argv, 1, &exit_code))
		return exit_code;
	options.file = argv[2];
	options.ip = ep_opt_ip;
	options.helo = ep_opt_helo;
	options.mail_from = ep_opt_mail_from;
	options.rcpt = (const char *const *) ep_opt_rcpt;
	return ep_trace_cli_run (ep_config_path (), ep_opt_verbose, &options);
}

static int
ep_verb_dkim_keys (int argc, char **argv)
{
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("dkim-keys"), &argc, &argv, &exit_code))
		return exit_code;
	return ep_dkim_cli_keys (ep_config_path (), ep_opt_verbose);
}

static int
ep_verb_dkim_retire (int argc, char **argv)
{
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("dkim-retire"), &argc, &argv, 2, &exit_code))
		return exit_code;
	return ep_dkim_cli_retire (ep_config_path (), ep_opt_verbose, argv[2], argv[3]);
}

/* ---- the outbound queue (ep-queue-cli.c) --------------------------------- */

static int
ep_verb_queue (int argc, char **argv)
{
	g_autoptr(GOptionContext) context = ep_verb_option_context (ep_verb_find ("queue"));
	g_autoptr(GError) error = NULL;

	/* the sub-command and its id are checked by ep_queue_cli_run() */
	if (!g_option_context_parse (context, &argc, &argv, &error)) {
		g_printerr ("mail queue: %s\n", error->message);
		g_printerr (_("Run 'mail %s --help' for usage.\n"), "queue");
		return EX_USAGE;
	}
	return ep_queue_cli_run (ep_config_path (), ep_opt_verbose, argc - 2, argv + 2);
}

static void
ep_print_usage (FILE *out)
{
	fprintf (out, "%s\n\n%s\n", _("Usage: mail COMMAND [OPTIONS]"), _("Commands:"));
	for (guint i = 0; ep_verbs[i].name != NULL; i++)
		fprintf (out, "  %-14s %s\n", ep_verbs[i].name, _(ep_verbs[i].summary));
	fprintf (out, "\n%s\n", _("Run 'mail COMMAND --help' for a command's options."));
}

static int
ep_verb_help (int argc, char **argv)
{
	const EpVerb *verb;
	g_autoptr(GOptionContext) context = NULL;
	g_autofree char *help = NULL;

	if (argc < 3) {
		ep_print_usage (stdout);
		return EX_OK;
	}
	verb = ep_verb_find (argv[2]);
	if (verb == NULL) {
		g_printerr (_("mail: unknown command '%s'\n"), argv[2]);
		ep_print_usage (stderr);
		return EX_USAGE;
	}
	context = ep_verb_option_context (verb);
	help = g_option_context_get_help (context, TRUE, NULL);
	g_print ("%s", help);
	return EX_OK;
}

int
main (int argc, char **argv)
{
	const EpVerb *verb;

	setlocale (LC_ALL, "");
	bindtextdomain (GETTEXT_PACKAGE, EP_LOCALEDIR);
	bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
	textdomain (GETTEXT_PACKAGE);
	g_set_prgname ("mail");

	if (argc < 2) {
		ep_print_usage (stderr);
		return EX_USAGE;
	}
	if (g_strcmp0 (argv[1], "--version") == 0 || g_strcmp0 (argv[1], "version") == 0) {
		g_print ("mail (epistle) %s\n", PACKAGE_VERSION);
		return EX_OK;
	}
	if (g_strcmp0 (argv[1], "--help") == 0 || g_strcmp0 (argv[1], "-h") == 0) {
		ep_print_usage (stdout);
		return EX_OK;
	}
	verb = ep_verb_find (argv[1]);
	if (verb == NULL) {
		g_printerr (_("mail: unknown command '%s'\n"), argv[1]);
		ep_print_usage (stderr);
		return EX_USAGE;
	}
	return verb->run (argc, argv);
}
