/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ep-api.h"
#include "ep-config.h"

G_BEGIN_DECLS

/*
 * The DNS resolver of the daemon: libunbound, asynchronous on the main
 * loop, DNSSEC validation on by default.  One resolver serves every module
 * (the outbound queue, SPF, DKIM, DMARC, DANE, DNSBL, reverse lookups); it
 * keeps a small answer cache of its own so that repeated lookups do not
 * even reach libunbound.  See docs/dns.md.
 */

/* The record types the resolver understands (their values are the DNS
 * RR type numbers). */
enum {
	EP_DNS_TYPE_A = 1,
	EP_DNS_TYPE_NS = 2,
	EP_DNS_TYPE_CNAME = 5,
	EP_DNS_TYPE_PTR = 12,
	EP_DNS_TYPE_MX = 15,
	EP_DNS_TYPE_TXT = 16,
	EP_DNS_TYPE_AAAA = 28,
	EP_DNS_TYPE_TLSA = 52,
};

/* One MX record.  A "null MX" (RFC 7505: preference 0, host ".") has
 * @host "". */
typedef struct {
	guint16 preference;
	char *host; /* lower case, no trailing dot */
} EpDnsMx;

/* One TLSA record (RFC 6698). */
typedef struct {
	guint8 usage;
	guint8 selector;
	guint8 matching_type;
	GBytes *data; /* the certificate association data */
} EpDnsTlsa;

/**
 * EpDnsAnswer:
 * @rrtype: the type asked for (EP_DNS_TYPE_MX ...)
 * @nxdomain: the name does not exist (an answer, not an error)
 * @secure: the answer (or the proof that there is none) was validated
 *   with DNSSEC; always %FALSE when validation is off
 * @ttl: seconds the answer stays valid: the smallest TTL of the records,
 *   or for a negative answer the TTL of its SOA (RFC 2308); from the cache,
 *   what is left of it
 * @canonical_name: (nullable): the name the records belong to after
 *   following CNAMEs (lower case, no trailing dot); %NULL without CNAME
 * @records: never %NULL; empty for NXDOMAIN and NODATA.  Element type by
 *   @rrtype: MX: EpDnsMx* (sorted by preference, equal preferences in the
 *   order received); A, AAAA: GInetAddress*; TXT: char* (the
 *   character-strings of one record concatenated, RFC 7208 §3.3); TLSA:
 *   EpDnsTlsa*; PTR, CNAME, NS: char* (lower case, no trailing dot;
 *   characters other than letters, digits and punctuation, and a dot
 *   inside a label, are escaped as in zone files: "\." and "\DDD")
 *
 * A refcounted boxed type.  Answers are shared with the resolver's cache:
 * treat every field and record as read-only.
 */
typedef struct {
	guint16 rrtype;
	gboolean nxdomain;
	gboolean secure;
	guint32 ttl;
	char *canonical_name;
	GPtrArray *records;
} EpDnsAnswer;

#define EP_TYPE_DNS_ANSWER (ep_dns_answer_get_type ())
EP_API GType        ep_dns_answer_get_type (void) G_GNUC_CONST;
EP_API EpDnsAnswer *ep_dns_answer_ref (EpDnsAnswer *answer);
EP_API void         ep_dns_answer_unref (EpDnsAnswer *answer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDnsAnswer, ep_dns_answer_unref)

EP_API void ep_dns_mx_free (EpDnsMx *mx);
EP_API void ep_dns_tlsa_free (EpDnsTlsa *tlsa);

/* "MX", "TLSA"...; "TYPE<n>" for a type the resolver does not know. */
EP_API const char *ep_dns_type_to_string (guint16 rrtype);

/* Counters, for tests and metrics. */
typedef struct {
	guint64 lookups;      /* ep_resolver_lookup_async() calls with a valid name */
	guint64 cache_hits;   /* answered from the answer cache */
	guint64 queries;      /* handed to libunbound */
	guint64 timeouts;     /* queries that ran out of time */
	guint64 failures;     /* queries that ended in any other error */
	guint cache_entries;  /* answers in the cache now */
} EpResolverStats;

#define EP_TYPE_RESOLVER (ep_resolver_get_type ())
EP_API G_DECLARE_FINAL_TYPE (EpResolver, ep_resolver, EP, RESOLVER, GObject)

/**
 * ep_resolver_new_from_config:
 *
 * The resolver of `[dns]`: `nameservers`, `dnssec`, `trust_anchor_file`,
 * `timeout`.
 *
 * Returns: (transfer full): the resolver, or %NULL with @error
 *   (EP_ERROR_CONFIG) when the trust anchor cannot be read or libunbound
 *   refuses the settings
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpResolver *ep_resolver_new_from_config (EpConfig *config, GError **error);

/**
 * ep_resolver_new:
 * @nameservers: (nullable) (array zero-terminated=1): "ip" or "ip@port" of
 *   resolvers to forward every query to; %NULL or empty: the nameservers of
 *   /etc/resolv.conf, or full recursion from the root when that file does
 *   not exist
 * @dnssec: validate answers
 * @trust_anchor_file: (nullable): DS or DNSKEY records in zone file format;
 *   %NULL: /usr/share/dns/root.key (Debian's dns-root-data).  Ignored
 *   without @dnssec.
 *
 * Lookups time out after 10 s; see ep_resolver_set_timeout().
 *
 * Returns: (transfer full): the resolver, or %NULL with @error
 *   (EP_ERROR_CONFIG)
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpResolver *ep_resolver_new (const char *const *nameservers, gboolean dnssec,
							      const char *trust_anchor_file, GError **error);

/* How long a query may take before it fails with EP_ERROR_TEMP "DNS
 * timeout"; 0 restores the default of 10 s. */
EP_API void ep_resolver_set_timeout (EpResolver *self, guint timeout_ms);

/* The most answers the cache holds (default 10000); the least recently
 * used go first.  0 turns the cache off. */
EP_API void ep_resolver_set_cache_size (EpResolver *self, guint max_entries);
EP_API void ep_resolver_clear_cache (EpResolver *self);
EP_API void ep_resolver_get_stats (EpResolver *self, EpResolverStats *stats);

/**
 * EpResolverObserver:
 * @name: the name asked for, as the caller gave it
 * @answer: (nullable): the answer, when there is one
 * @error: (nullable): why there is none
 *
 * Told of every lookup as its caller takes the outcome (in
 * ep_resolver_lookup_finish()), for `mail trace`, which prints each DNS
 * question and answer of the inbound checks.
 */
typedef void (*EpResolverObserver) (EpResolver *resolver, const char *name, guint16 rrtype,
				    const EpDnsAnswer *answer, const GError *error, gpointer user_data);
/* @func: (nullable): NULL to stop observing */
EP_API void ep_resolver_set_observer (EpResolver *self, EpResolverObserver func, gpointer user_data);

/**
 * ep_resolver_lookup_async:
 * @name: a domain name in ASCII (A-labels), with or without the final dot
 * @rrtype: one of the EP_DNS_TYPE_ values
 *
 * Looks up @name.  Call it from the thread that runs the main context the
 * resolver was created in (the main loop); the callback runs in the
 * caller's thread-default context.  The answer comes from the cache when
 * an unexpired one is there.
 */
EP_API void ep_resolver_lookup_async (EpResolver *self, const char *name, guint16 rrtype, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data);

/**
 * ep_resolver_lookup_finish:
 *
 * NXDOMAIN and NODATA are answers, not errors.
 *
 * Returns: (transfer full): the answer, or %NULL with @error:
 *   EP_ERROR_TEMP for a server failure, a timeout ("DNS timeout"), network
 *   trouble, and for an answer that fails DNSSEC validation ("DNSSEC
 *   validation failed: <why>"); EP_ERROR_INVALID for a malformed name or a
 *   type the resolver does not handle; G_IO_ERROR_CANCELLED when cancelled
 */
EP_API G_GNUC_WARN_UNUSED_RESULT EpDnsAnswer *ep_resolver_lookup_finish (EpResolver *self, GAsyncResult *result,
									 GError **error);

/**
 * ep_resolver_reverse_name:
 *
 * Returns: (transfer full): the PTR name of @address:
 *   "4.3.2.1.in-addr.arpa" for 1.2.3.4, the 32 nibbles under "ip6.arpa"
 *   for IPv6 (an IPv4-mapped IPv6 address gives its in-addr.arpa name)
 */
EP_API char *ep_resolver_reverse_name (GInetAddress *address);

G_END_DECLS
