/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "ep-daemon.h"
#include "ep-db.h"
#include "ep-error.h"
#include "ep-log-writer.h"
#include "ep-password.h"

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

static char **ep_opt_addresses = NULL;

static const GOptionEntry ep_account_add_entries[] = {
	{ "address", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &ep_opt_addresses, N_("An address of the account (repeat)"),
	  N_("ADDRESS") },
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

static char *
ep_cli_hash_password (GError **error)
{
	g_autofree char *password = ep_cli_read_password (error);
	char *hash;

	if (password == NULL)
		return NULL;
	hash = ep_password_hash (password, NULL, error);
	memset (password, 0, strlen (password));
	return hash;
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
	hash = ep_cli_hash_password (&error);
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
	int exit_code = EX_OK;

	if (!ep_verb_parse_n (ep_verb_find ("passwd"), &argc, &argv, 1, &exit_code))
		return exit_code;
	daemon = ep_cli_open (&exit_code);
	if (daemon == NULL)
		return exit_code;
	hash = ep_cli_hash_password (&error);
	if (hash == NULL)
		return ep_cli_fail (daemon, error);
	ep_store_set_password_hash_async (ep_daemon_get_store (daemon), argv[2], hash, NULL, ep_cli_store_done,
					  &result);
	if (!ep_store_set_password_hash_finish (ep_daemon_get_store (daemon), ep_cli_wait (&result), &error))
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
	int exit_code = EX_OK;

	if (!ep_verb_parse (ep_verb_find ("token-hash"), &argc, &argv, &exit_code))
		return exit_code;
	hash = ep_cli_hash_password (&error);
	if (hash == NULL) {
		ep_print_error (error);
		return ep_error_to_exit_code (error);
	}
	g_print ("%s\n", hash);
	return EX_OK;
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
