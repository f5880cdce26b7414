/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

G_BEGIN_DECLS

/*
 * The DNS lookups SPF needs, as a small interface: the daemon's resolver
 * (EpResolver) in production, zone data in tests.
 */

/**
 * SpfDnsAnswer:
 * @nxdomain: the name does not exist
 * @records: never %NULL; empty for NXDOMAIN and NODATA.  A and AAAA:
 *   GInetAddress*; TXT: GBytes* (the strings of one record joined; a
 *   NUL octet is possible on the wire, and is a syntax error in SPF); PTR:
 *   char* (no final dot); MX: char* (the exchange, no final dot, "" for a
 *   null MX)
 */
typedef struct {
	gboolean nxdomain;
	GPtrArray *records;
} SpfDnsAnswer;

SpfDnsAnswer *spf_dns_answer_new (guint16 rrtype);
void spf_dns_answer_free (SpfDnsAnswer *answer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpfDnsAnswer, spf_dns_answer_free)

typedef struct _SpfDns SpfDns;

typedef struct {
	/* Looks @name up (ASCII, no final dot); @callback gets the same
	 * @dns-independent GAsyncResult that lookup_finish takes. */
	void (*lookup_async) (SpfDns *dns, const char *name, guint16 rrtype, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data);
	/* Returns: (transfer full): the answer, or %NULL with @error:
	 * EP_ERROR_TEMP (server failure, timeout), EP_ERROR_INVALID (a name
	 * DNS cannot carry), G_IO_ERROR_CANCELLED */
	SpfDnsAnswer *(*lookup_finish) (SpfDns *dns, GAsyncResult *result, GError **error);
	void (*free) (SpfDns *dns);
} SpfDnsClass;

struct _SpfDns {
	const SpfDnsClass *klass;
};

void spf_dns_free (SpfDns *dns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpfDns, spf_dns_free)

/* (transfer full): lookups through @resolver */
SpfDns *spf_dns_new_resolver (EpResolver *resolver);

G_END_DECLS
