/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What EpConnection needs from EpTlsContext.  Not installed: modules never
 * see a gnutls_session_t.
 */

#include <gnutls/gnutls.h>

#include "ep-tls.h"

G_BEGIN_DECLS

/* Makes @session (a fresh GNUTLS_SERVER session) use the context: priority,
 * default credentials, SNI selection, session tickets.  The session keeps a
 * pointer to the context, which must outlive it. */
G_GNUC_INTERNAL gboolean ep_tls_context_setup_session (EpTlsContext *self, gnutls_session_t session,
							GError **error);

/* Makes @session (a fresh GNUTLS_CLIENT session) use the client context:
 * priority, trust anchors, SNI with @server_name (unless it is an IP
 * address) and, with @verify, the check of the chain and of @server_name
 * during the handshake. */
G_GNUC_INTERNAL gboolean ep_tls_context_setup_client_session (EpTlsContext *self, gnutls_session_t session,
							       const char *server_name, gboolean verify,
							       GError **error);

/* "TLSv1.3" and the like, for a gnutls protocol value; NULL if unknown. */
G_GNUC_INTERNAL const char *ep_tls_version_name (gnutls_protocol_t version);

G_END_DECLS
