/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <sysexits.h>

#include "ep-daemon.h"
#include "ep-error.h"
#include "ep-log-writer.h"

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

static const EpVerb ep_verbs[] = {
	{ "serve", N_("Run the mail server in the foreground"), "", ep_verb_serve },
	{ "config-check", N_("Check the configuration and the modules without starting anything"), "",
	  ep_verb_config_check },
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
	return context;
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
	ep_log_writer_install (ep_opt_verbose);
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
	ep_log_writer_install (ep_opt_verbose);
	daemon = ep_daemon_new (ep_config_path ());
	if (!ep_daemon_check (daemon, &error)) {
		ep_print_error (error);
		/* everything config-check finds wrong is a configuration error */
		return EX_CONFIG;
	}
	g_print ("%s\n", _("configuration is valid"));
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
