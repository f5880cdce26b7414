/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-config.h"

G_BEGIN_DECLS

/*
 * The server-side TLS material of the daemon, GnuTLS used directly: the
 * default certificate of [tls], the [[tls.sni]] ones chosen by server name,
 * TLS 1.2 and 1.3 only, session resumption with tickets whose key lives in
 * memory only.  Built once from the configuration before privileges are
 * dropped (the key files are usually readable by root only) and shared by
 * every connection of every protocol module.
 *
 * Loading checks what would otherwise fail at the first client: a file that
 * cannot be read, a certificate or key that does not parse, a key that does
 * not belong to its certificate, a certificate that has expired or is not
 * valid yet.  Each error names the file.
 */

#define EP_TYPE_TLS_CONTEXT (ep_tls_context_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpTlsContext, ep_tls_context, EP, TLS_CONTEXT, GObject)

/**
 * ep_tls_context_new_from_config:
 *
 * Returns: (transfer full) (nullable): the context, or NULL with @error
 *   set (EP_ERROR_CONFIG naming the file and what is wrong with it).  When
 *   the configuration has no [tls] at all, returns NULL with no error.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpTlsContext *ep_tls_context_new_from_config (EpConfig *config, GError **error);

/**
 * ep_tls_context_new:
 * @cert_file: PEM certificate chain, leaf first
 * @key_file: PEM private key
 *
 * A context with one certificate (tests, tools).  Further certificates are
 * added with ep_tls_context_add_sni().
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpTlsContext *ep_tls_context_new (const char *cert_file, const char *key_file,
								  GError **error);
EP_API G_GNUC_WARN_UNUSED_RESULT gboolean ep_tls_context_add_sni (EpTlsContext *self, const char *const *names,
								  const char *cert_file, const char *key_file,
								  GError **error);

/*
 * The client side (outbound SMTP): trust anchors for checking servers'
 * certificates, the same protocol versions and ciphers as the server side.
 * Whether a connection checks the certificate, and against which name, is
 * set on the connection (ep_connection_set_tls_client()).
 */

/**
 * ep_tls_context_new_client:
 * @ca_file: (nullable): PEM file of trust anchors; NULL for the system
 *   trust store
 *
 * Returns: (transfer full): the context, or NULL with EP_ERROR_CONFIG
 *   naming @ca_file when it cannot be read or holds no certificate.
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpTlsContext *ep_tls_context_new_client (const char *ca_file, GError **error);
EP_API gboolean ep_tls_context_is_client (EpTlsContext *self);

G_END_DECLS
