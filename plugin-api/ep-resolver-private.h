/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The pure parts of the resolver, for its unit test and its fuzz target.
 * Not installed.
 */

#include "ep-resolver.h"

G_BEGIN_DECLS

/**
 * ep_dns_rdata_parse:
 * @rrtype: EP_DNS_TYPE_A ... EP_DNS_TYPE_TLSA
 * @data: the rdata of one record, in wire format (names uncompressed)
 * @record: (out) (transfer full): the record, of the element type
 *   EpDnsAnswer.records has for @rrtype; free with ep_dns_record_free()
 *
 * Every byte is bound-checked: a short or overlong rdata, a compressed or
 * overlong name, or a type not handled is an EP_ERROR_INVALID error.
 */
EP_API gboolean ep_dns_rdata_parse (guint16 rrtype, const guint8 *data, gsize len, gpointer *record,
				    GError **error);
EP_API void     ep_dns_record_free (guint16 rrtype, gpointer record);

/**
 * ep_dns_name_normalize:
 *
 * Checks a name given to ep_resolver_lookup_async(): ASCII letters, digits
 * and the other printable characters except backslash, labels of 1 to 63
 * characters, at most 253 characters without the final dot.
 *
 * Returns: (transfer full): the name in lower case without the final dot,
 *   or %NULL with EP_ERROR_INVALID
 */
EP_API char *ep_dns_name_normalize (const char *name, GError **error);

/* ep_resolver_new() with another default trust anchor than Debian's
 * (tests: what happens when dns-root-data is missing) */
EP_API EpResolver *ep_resolver_new_with_default_anchor (const char *const *nameservers, gboolean dnssec,
							const char *trust_anchor_file,
							const char *default_trust_anchor, GError **error);

G_END_DECLS
