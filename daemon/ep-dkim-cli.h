/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The `mail` commands for DKIM signing keys (the dkim module's table
 * dkim_keys and the [[dkim.keys]] files of the configuration).  Each
 * returns a sysexits.h code; main.c parses the options.
 */

typedef struct {
	const char *domain;
	const char *selector;
	const char *algorithm; /* (nullable): "ed25519" (default) or "rsa" */
	gint bits;	       /* 0: the default (RSA 2048) */
	const char *out;       /* (nullable): write a key file instead of the database */
} EpDkimKeygenOptions;

/* creates a key and prints the DNS TXT record to publish */
int ep_dkim_cli_keygen (const char *config_path, gboolean verbose, const EpDkimKeygenOptions *options);
/* lists the keys of the configuration and of the database */
int ep_dkim_cli_keys (const char *config_path, gboolean verbose);
/* marks a key of the database retired: it never signs again */
int ep_dkim_cli_retire (const char *config_path, gboolean verbose, const char *domain, const char *selector);

G_END_DECLS
