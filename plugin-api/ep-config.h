/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"
#include "ep-config-schema.h"
#include "ep-toml.h"

G_BEGIN_DECLS

/*
 * The configuration: the main file, then mail.conf.d/ *.toml beside it in
 * lexical order, merged into one tree.  Loading reads, substitutes ${VAR}
 * and parses; validation checks the tree against the core schema and the
 * schema of every loaded module and fills in the typed core settings.
 */

typedef struct {
	char *name;
	char **addresses;
	char *password_hash; /* nullable */
	char *scram_sha256;  /* nullable: SCRAM-SHA-256 credentials, ep_scram_sha256_credentials_format() */
	gboolean catch_all;
	gint64 quota_bytes; /* 0: no quota */
	guint line;
} EpConfigAccount;

typedef struct {
	char *kind;
	char *addr;
	guint16 port; /* 0 until the kind's default is applied */
	char *filename;
	guint line;      /* the [[listeners]] header */
	guint kind_line; /* the kind = ... line */
} EpConfigListener;

/* One [[tls.sni]] entry: the certificate served to clients asking for one
 * of @names (SNI); the [tls] certificate serves everyone else. */
typedef struct {
	char **names; /* lower case; "*.example.org" matches one label before example.org */
	char *cert_file;
	char *key_file;
	char *filename;
	guint line; /* the [[tls.sni]] header */
} EpConfigTlsSni;

#define EP_TYPE_CONFIG (ep_config_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpConfig, ep_config, EP, CONFIG, GObject)

EP_API G_GNUC_WARN_UNUSED_RESULT EpConfig *
ep_config_load (const char *path, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT EpConfig *
ep_config_load_from_data (const char *const *names, const char *const *datas, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT char *
ep_config_substitute_env (const char *text, const char *filename, GError **error);

EP_API gboolean ep_config_get_module_selection (EpConfig *self, char ***modules, GError **error);

EP_API void ep_config_add_section_schema (EpConfig *self, const char *section, const EpConfigKey *keys);
EP_API void ep_config_add_known_module (EpConfig *self, const char *name);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_config_validate (EpConfig *self, GError **error);

EP_API G_GNUC_WARN_UNUSED_RESULT gboolean
ep_config_check_listener_kinds (EpConfig *self, const char *const *kinds, const guint16 *default_ports, GError **error);

EP_API const char *const *ep_config_get_files (EpConfig *self);
EP_API const char        *ep_config_get_main_file (EpConfig *self);
EP_API EpTomlValue       *ep_config_get_root (EpConfig *self);
EP_API EpTomlValue       *ep_config_get_section (EpConfig *self, const char *name);

EP_API const char        *ep_config_get_hostname (EpConfig *self);
EP_API const char        *ep_config_get_data_dir (EpConfig *self);
EP_API const char *const *ep_config_get_domains (EpConfig *self);
EP_API GPtrArray         *ep_config_get_accounts (EpConfig *self);  /* of EpConfigAccount */
EP_API GPtrArray         *ep_config_get_listeners (EpConfig *self); /* of EpConfigListener */
EP_API const char        *ep_config_get_tls_cert_file (EpConfig *self);
EP_API const char        *ep_config_get_tls_key_file (EpConfig *self);
EP_API GPtrArray         *ep_config_get_tls_sni (EpConfig *self);   /* of EpConfigTlsSni */
EP_API const char        *ep_config_get_database_url (EpConfig *self);
EP_API guint              ep_config_get_database_max_connections (EpConfig *self);
EP_API const char *const *ep_config_get_dns_nameservers (EpConfig *self);
EP_API gboolean           ep_config_get_dns_dnssec (EpConfig *self);
EP_API const char        *ep_config_get_dns_trust_anchor_file (EpConfig *self);
EP_API const char        *ep_config_get_privileges_user (EpConfig *self);
EP_API const char        *ep_config_get_privileges_group (EpConfig *self);

EP_API gboolean           ep_config_is_local_domain (EpConfig *self, const char *domain);

/* typed access to a module's section: returns the default when unset */
EP_API const char *ep_config_section_get_string (EpTomlValue *section, const char *key, const char *default_value);
EP_API gint64      ep_config_section_get_integer (EpTomlValue *section, const char *key, gint64 default_value);
EP_API gboolean    ep_config_section_get_boolean (EpTomlValue *section, const char *key, gboolean default_value);

G_END_DECLS
