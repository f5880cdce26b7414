/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib-unix.h>
#include <string.h>
#include <unbound.h>

#include "ep-error.h"
#include "ep-log.h"
#include "ep-resolver-private.h"

/*
 * libunbound runs its resolver in a thread of its own (ub_ctx_async with
 * threads: no fork, so no copy of the daemon's sockets in a child) and
 * hands results back through a pipe, ub_fd(); a GSource on that fd calls
 * ub_process() on the main loop, which runs our callback there.  Every
 * lookup is a GTask; its timeout and its cancellable are GSources on the
 * same context, so everything about a query happens on one thread.
 */

#define EP_RESOLVER_DEFAULT_TIMEOUT_MS	 10000
#define EP_RESOLVER_DEFAULT_CACHE_SIZE	 10000
#define EP_RESOLVER_MAX_TTL		 3600 /* positive answers */
#define EP_RESOLVER_MAX_NEGATIVE_TTL	 300  /* NXDOMAIN, NODATA (RFC 2308 §5) */
#define EP_RESOLVER_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"
#define EP_RESOLVER_RESOLV_CONF		 "/etc/resolv.conf"

/* ---- answers ------------------------------------------------------------ */

typedef struct {
	EpDnsAnswer pub;
	gatomicrefcount refcount;
} EpDnsAnswerReal;

G_DEFINE_BOXED_TYPE (EpDnsAnswer, ep_dns_answer, ep_dns_answer_ref, ep_dns_answer_unref)

void
ep_dns_mx_free (EpDnsMx *mx)
{
	if (mx == NULL)
		return;
	g_free (mx->host);
	g_free (mx);
}

void
ep_dns_tlsa_free (EpDnsTlsa *tlsa)
{
	if (tlsa == NULL)
		return;
	g_clear_pointer (&tlsa->data, g_bytes_unref);
	g_free (tlsa);
}

static GDestroyNotify
ep_dns_record_free_func (guint16 rrtype)
{
	switch (rrtype) {
	case EP_DNS_TYPE_MX:
		return (GDestroyNotify) ep_dns_mx_free;
	case EP_DNS_TYPE_A:
	case EP_DNS_TYPE_AAAA:
		return g_object_unref;
	case EP_DNS_TYPE_TLSA:
		return (GDestroyNotify) ep_dns_tlsa_free;
	default:
		return g_free;
	}
}

void
ep_dns_record_free (guint16 rrtype, gpointer record)
{
	if (record != NULL)
		ep_dns_record_free_func (rrtype) (record);
}

static EpDnsAnswer *
ep_dns_answer_alloc (guint16 rrtype, GPtrArray *records)
{
	EpDnsAnswerReal *real = g_new0 (EpDnsAnswerReal, 1);

	g_atomic_ref_count_init (&real->refcount);
	real->pub.rrtype = rrtype;
	real->pub.records = records;
	return &real->pub;
}

static EpDnsAnswer *
ep_dns_answer_new (guint16 rrtype)
{
	return ep_dns_answer_alloc (rrtype, g_ptr_array_new_with_free_func (ep_dns_record_free_func (rrtype)));
}

/* a new answer sharing the records of @answer, with another TTL */
static EpDnsAnswer *
ep_dns_answer_copy_with_ttl (const EpDnsAnswer *answer, guint32 ttl)
{
	EpDnsAnswer *copy = ep_dns_answer_alloc (answer->rrtype, g_ptr_array_ref (answer->records));

	copy->nxdomain = answer->nxdomain;
	copy->secure = answer->secure;
	copy->ttl = ttl;
	copy->canonical_name = g_strdup (answer->canonical_name);
	return copy;
}

EpDnsAnswer *
ep_dns_answer_ref (EpDnsAnswer *answer)
{
	EpDnsAnswerReal *real = (EpDnsAnswerReal *) answer;

	g_return_val_if_fail (answer != NULL, NULL);
	g_atomic_ref_count_inc (&real->refcount);
	return answer;
}

void
ep_dns_answer_unref (EpDnsAnswer *answer)
{
	EpDnsAnswerReal *real = (EpDnsAnswerReal *) answer;

	if (answer == NULL)
		return;
	if (!g_atomic_ref_count_dec (&real->refcount))
		return;
	g_free (answer->canonical_name);
	g_ptr_array_unref (answer->records);
	g_free (real);
}

const char *
ep_dns_type_to_string (guint16 rrtype)
{
	g_autofree char *unknown = NULL;

	switch (rrtype) {
	case EP_DNS_TYPE_A:
		return "A";
	case EP_DNS_TYPE_NS:
		return "NS";
	case EP_DNS_TYPE_CNAME:
		return "CNAME";
	case EP_DNS_TYPE_PTR:
		return "PTR";
	case EP_DNS_TYPE_MX:
		return "MX";
	case EP_DNS_TYPE_TXT:
		return "TXT";
	case EP_DNS_TYPE_AAAA:
		return "AAAA";
	case EP_DNS_TYPE_TLSA:
		return "TLSA";
	default:
		/* RFC 3597 notation; at most 65536 such strings */
		unknown = g_strdup_printf ("TYPE%u", rrtype);
		return g_intern_string (unknown);
	}
}

static gboolean
ep_dns_type_is_supported (guint16 rrtype)
{
	switch (rrtype) {
	case EP_DNS_TYPE_A:
	case EP_DNS_TYPE_NS:
	case EP_DNS_TYPE_CNAME:
	case EP_DNS_TYPE_PTR:
	case EP_DNS_TYPE_MX:
	case EP_DNS_TYPE_TXT:
	case EP_DNS_TYPE_AAAA:
	case EP_DNS_TYPE_TLSA:
		return TRUE;
	default:
		return FALSE;
	}
}

/* ---- names -------------------------------------------------------------- */

char *
ep_dns_name_normalize (const char *name, GError **error)
{
	g_autoptr(GString) out = NULL;
	gsize len;
	gsize label = 0;

	if (name == NULL || name[0] == '\0') {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "empty DNS name");
		return NULL;
	}
	len = strlen (name);
	if (len == 1 && name[0] == '.') {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "the DNS root is not a name to look up");
		return NULL;
	}
	if (name[len - 1] == '.')
		len--;
	if (len > 253) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
			     "DNS name of %" G_GSIZE_FORMAT " characters: at most 253 are allowed", len);
		return NULL;
	}
	out = g_string_sized_new (len);
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar) name[i];

		if (c == '.') {
			if (label == 0) {
				g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "DNS name '%.*s' has an empty label",
					     (int) len, name);
				return NULL;
			}
			label = 0;
			g_string_append_c (out, '.');
			continue;
		}
		if (c <= ' ' || c >= 0x7f || c == '\\') {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "DNS name has a character not allowed (0x%02x at offset %" G_GSIZE_FORMAT
				     "): names are ASCII (A-labels for IDNs), without spaces or backslashes",
				     c, i);
			return NULL;
		}
		if (++label > 63) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID,
				     "DNS name has a label longer than 63 characters (at offset %" G_GSIZE_FORMAT ")",
				     i - 63);
			return NULL;
		}
		g_string_append_c (out, g_ascii_tolower (c));
	}
	if (label == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "DNS name '%.*s' has an empty label", (int) len,
			     name);
		return NULL;
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
ep_resolver_reverse_name (GInetAddress *address)
{
	const guint8 *b;
	GString *out;
	static const char hex[] = "0123456789abcdef";
	static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	g_return_val_if_fail (G_IS_INET_ADDRESS (address), NULL);

	b = g_inet_address_to_bytes (address);
	if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
		return g_strdup_printf ("%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
	if (memcmp (b, mapped_prefix, sizeof mapped_prefix) == 0)
		return g_strdup_printf ("%u.%u.%u.%u.in-addr.arpa", b[15], b[14], b[13], b[12]);
	out = g_string_sized_new (73);
	for (int i = 15; i >= 0; i--) {
		g_string_append_c (out, hex[b[i] & 0x0f]);
		g_string_append_c (out, '.');
		g_string_append_c (out, hex[b[i] >> 4]);
		g_string_append_c (out, '.');
	}
	g_string_append (out, "ip6.arpa");
	return g_string_free (out, FALSE);
}

/* ---- rdata -------------------------------------------------------------- */

/* A domain name in wire format at @data[*offset] (RFC 1035 §3.1), as text:
 * lower case, no final dot ("" for the root), "\." for a dot inside a
 * label and "\DDD" for octets that are not printable. */
static gboolean
ep_dns_wire_name (const guint8 *data, gsize len, gsize *offset, char **name, GError **error)
{
	g_autoptr(GString) text = g_string_new (NULL);
	gsize pos = *offset;
	gsize wire_len = 0;

	for (;;) {
		guint8 label;

		if (pos >= len) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "a domain name runs past the end of the record");
			return FALSE;
		}
		label = data[pos++];
		if ((label & 0xc0) == 0xc0) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "a compressed domain name inside the record data");
			return FALSE;
		}
		if ((label & 0xc0) != 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unknown label type 0x%02x in a domain name",
				     label);
			return FALSE;
		}
		wire_len += 1 + (gsize) label;
		if (wire_len > 255) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "a domain name longer than 255 octets");
			return FALSE;
		}
		if (label == 0)
			break;
		if (label > len - pos) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
					     "a domain name runs past the end of the record");
			return FALSE;
		}
		if (text->len > 0)
			g_string_append_c (text, '.');
		for (gsize i = 0; i < label; i++) {
			guchar c = data[pos + i];
			if (c == '.' || c == '\\') {
				g_string_append_c (text, '\\');
				g_string_append_c (text, (char) c);
			} else if (c <= ' ' || c >= 0x7f) {
				g_string_append_printf (text, "\\%03u", c);
			} else {
				g_string_append_c (text, g_ascii_tolower (c));
			}
		}
		pos += label;
	}
	*offset = pos;
	*name = g_string_free (g_steal_pointer (&text), FALSE);
	return TRUE;
}

static gboolean
ep_dns_rdata_name_only (const guint8 *data, gsize len, gsize offset, char **name, GError **error)
{
	g_autofree char *text = NULL;

	if (!ep_dns_wire_name (data, len, &offset, &text, error))
		return FALSE;
	if (offset != len) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%" G_GSIZE_FORMAT " stray octets after the name",
			     len - offset);
		return FALSE;
	}
	*name = g_steal_pointer (&text);
	return TRUE;
}

gboolean
ep_dns_rdata_parse (guint16 rrtype, const guint8 *data, gsize len, gpointer *record, GError **error)
{
	g_return_val_if_fail (record != NULL, FALSE);
	g_return_val_if_fail (data != NULL || len == 0, FALSE);

	*record = NULL;
	switch (rrtype) {
	case EP_DNS_TYPE_A:
	case EP_DNS_TYPE_AAAA: {
		gsize want = rrtype == EP_DNS_TYPE_A ? 4 : 16;
		if (len != want) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "%s record of %" G_GSIZE_FORMAT
				     " octets instead of %" G_GSIZE_FORMAT,
				     ep_dns_type_to_string (rrtype), len, want);
			return FALSE;
		}
		*record = g_inet_address_new_from_bytes (
			data, rrtype == EP_DNS_TYPE_A ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
		return TRUE;
	}
	case EP_DNS_TYPE_NS:
	case EP_DNS_TYPE_CNAME:
	case EP_DNS_TYPE_PTR: {
		char *name = NULL;
		if (!ep_dns_rdata_name_only (data, len, 0, &name, error))
			return FALSE;
		*record = name;
		return TRUE;
	}
	case EP_DNS_TYPE_MX: {
		g_autofree char *host = NULL;
		EpDnsMx *mx;
		if (len < 3) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "MX record of %" G_GSIZE_FORMAT " octets",
				     len);
			return FALSE;
		}
		if (!ep_dns_rdata_name_only (data, len, 2, &host, error))
			return FALSE;
		mx = g_new0 (EpDnsMx, 1);
		mx->preference = (guint16) ((data[0] << 8) | data[1]);
		mx->host = g_steal_pointer (&host);
		*record = mx;
		return TRUE;
	}
	case EP_DNS_TYPE_TXT: {
		g_autoptr(GString) text = NULL;
		gsize pos = 0;
		if (len == 0) {
			g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID, "TXT record without any string");
			return FALSE;
		}
		text = g_string_sized_new (len);
		while (pos < len) {
			gsize slen = data[pos++];
			if (slen > len - pos) {
				g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID,
						     "a TXT character-string runs past the end of the record");
				return FALSE;
			}
			g_string_append_len (text, (const char *) data + pos, (gssize) slen);
			pos += slen;
		}
		/* a C string cannot carry a NUL: such a record is left out of
		 * the answer (no SPF, DKIM or DMARC record can contain one) */
		if (memchr (text->str, '\0', text->len) != NULL)
			return TRUE;
		*record = g_string_free (g_steal_pointer (&text), FALSE);
		return TRUE;
	}
	case EP_DNS_TYPE_TLSA: {
		EpDnsTlsa *tlsa;
		if (len < 3) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "TLSA record of %" G_GSIZE_FORMAT " octets",
				     len);
			return FALSE;
		}
		tlsa = g_new0 (EpDnsTlsa, 1);
		tlsa->usage = data[0];
		tlsa->selector = data[1];
		tlsa->matching_type = data[2];
		tlsa->data = g_bytes_new (data + 3, len - 3);
		*record = tlsa;
		return TRUE;
	}
	default:
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "record type %s is not handled",
			     ep_dns_type_to_string (rrtype));
		return FALSE;
	}
}

/* ---- the resolver ------------------------------------------------------- */

typedef struct {
	char *key; /* "<type>:<name>" */
	EpDnsAnswer *answer;
	gint64 expires; /* monotonic µs */
	GList link;     /* in EpResolver.lru, data = the entry */
} EpResolverCacheEntry;

typedef struct {
	EpResolver *resolver; /* not owned: the task holds a reference */
	GTask *task;	      /* (nullable): NULL once the caller has had its answer */
	char *name;	      /* normalized */
	char *key;
	guint16 rrtype;
	int async_id;
	GSource *timeout_source;
	GSource *cancel_source;
} EpResolverQuery;

struct _EpResolver {
	GObject parent_instance;

	struct ub_ctx *ctx;
	GMainContext *context;
	GSource *fd_source;
	guint timeout_ms;
	guint cache_size;
	GHashTable *cache; /* key -> EpResolverCacheEntry* (owned) */
	GQueue lru;	   /* most recently used first */
	GHashTable *pending; /* EpResolverQuery* libunbound still knows */
	EpResolverStats stats;
	EpResolverObserver observer;
	gpointer observer_data;
};

/* what a lookup asked, kept on its task for the observer */
typedef struct {
	char *name;
	guint16 rrtype;
} EpResolverAsked;

static void
ep_resolver_asked_free (EpResolverAsked *asked)
{
	g_free (asked->name);
	g_free (asked);
}

G_DEFINE_TYPE (EpResolver, ep_resolver, G_TYPE_OBJECT)

static void
ep_resolver_cache_entry_free (EpResolverCacheEntry *entry)
{
	g_free (entry->key);
	ep_dns_answer_unref (entry->answer);
	g_free (entry);
}

static void
ep_resolver_cache_remove (EpResolver *self, EpResolverCacheEntry *entry)
{
	g_queue_unlink (&self->lru, &entry->link);
	g_hash_table_remove (self->cache, entry->key);
}

static EpDnsAnswer *
ep_resolver_cache_lookup (EpResolver *self, const char *key)
{
	EpResolverCacheEntry *entry = g_hash_table_lookup (self->cache, key);
	gint64 now = g_get_monotonic_time ();
	gint64 left;

	if (entry == NULL)
		return NULL;
	if (now >= entry->expires) {
		ep_resolver_cache_remove (self, entry);
		return NULL;
	}
	g_queue_unlink (&self->lru, &entry->link);
	g_queue_push_head_link (&self->lru, &entry->link);
	left = (entry->expires - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
	return ep_dns_answer_copy_with_ttl (entry->answer, (guint32) left);
}

static void
ep_resolver_cache_insert (EpResolver *self, const char *key, EpDnsAnswer *answer)
{
	guint32 cap = answer->records->len > 0 ? EP_RESOLVER_MAX_TTL : EP_RESOLVER_MAX_NEGATIVE_TTL;
	guint32 ttl = MIN (answer->ttl, cap);
	EpResolverCacheEntry *entry;

	if (ttl == 0 || self->cache_size == 0)
		return;
	entry = g_hash_table_lookup (self->cache, key);
	if (entry != NULL)
		ep_resolver_cache_remove (self, entry);
	while (g_hash_table_size (self->cache) >= self->cache_size && self->lru.tail != NULL)
		ep_resolver_cache_remove (self, self->lru.tail->data);

	entry = g_new0 (EpResolverCacheEntry, 1);
	entry->key = g_strdup (key);
	entry->answer = ep_dns_answer_ref (answer);
	entry->expires = g_get_monotonic_time () + (gint64) ttl * G_USEC_PER_SEC;
	entry->link.data = entry;
	g_hash_table_insert (self->cache, entry->key, entry);
	g_queue_push_head_link (&self->lru, &entry->link);
}

void
ep_resolver_clear_cache (EpResolver *self)
{
	g_return_if_fail (EP_IS_RESOLVER (self));
	g_queue_init (&self->lru);
	g_hash_table_remove_all (self->cache);
}

void
ep_resolver_set_cache_size (EpResolver *self, guint max_entries)
{
	g_return_if_fail (EP_IS_RESOLVER (self));
	self->cache_size = max_entries;
	while (g_hash_table_size (self->cache) > max_entries && self->lru.tail != NULL)
		ep_resolver_cache_remove (self, self->lru.tail->data);
}

void
ep_resolver_set_timeout (EpResolver *self, guint timeout_ms)
{
	g_return_if_fail (EP_IS_RESOLVER (self));
	self->timeout_ms = timeout_ms > 0 ? timeout_ms : EP_RESOLVER_DEFAULT_TIMEOUT_MS;
}

void
ep_resolver_get_stats (EpResolver *self, EpResolverStats *stats)
{
	g_return_if_fail (EP_IS_RESOLVER (self));
	g_return_if_fail (stats != NULL);
	*stats = self->stats;
	stats->cache_entries = g_hash_table_size (self->cache);
}

static void
ep_resolver_query_free (EpResolverQuery *q)
{
	g_assert (q->task == NULL && q->timeout_source == NULL && q->cancel_source == NULL);
	g_free (q->name);
	g_free (q->key);
	g_free (q);
}

/* Stops the query's timeout and cancellable watch, and hands its task over
 * to the caller, which returns on it.  NULL when that happened before. */
static GTask *
ep_resolver_query_take_task (EpResolverQuery *q)
{
	if (q->timeout_source != NULL) {
		g_source_destroy (q->timeout_source);
		g_clear_pointer (&q->timeout_source, g_source_unref);
	}
	if (q->cancel_source != NULL) {
		g_source_destroy (q->cancel_source);
		g_clear_pointer (&q->cancel_source, g_source_unref);
	}
	return g_steal_pointer (&q->task);
}

/* The caller gives up on @q (timeout, cancellation): libunbound forgets it
 * and never calls back; the task returns @error. */
static void
ep_resolver_query_abort (EpResolverQuery *q, GError *error)
{
	EpResolver *self = q->resolver;
	g_autoptr(GTask) task = ep_resolver_query_take_task (q);

	if (ub_cancel (self->ctx, q->async_id) == UB_NOERROR) {
		g_hash_table_remove (self->pending, q);
		ep_resolver_query_free (q);
	}
	/* otherwise the result is on its way: ep_resolver_on_result() frees
	 * the query when it comes */
	g_task_return_error (task, error);
}

static gboolean
ep_resolver_on_timeout (gpointer user_data)
{
	EpResolverQuery *q = user_data;
	EpResolver *self = q->resolver;

	self->stats.timeouts++;
	ep_resolver_query_abort (q, g_error_new (EP_ERROR, EP_ERROR_TEMP,
						 "DNS timeout: no answer for %s %s within %u.%03u s", q->name,
						 ep_dns_type_to_string (q->rrtype), self->timeout_ms / 1000,
						 self->timeout_ms % 1000));
	return G_SOURCE_REMOVE;
}

static gboolean
ep_resolver_on_cancelled (GCancellable *cancellable, gpointer user_data)
{
	EpResolverQuery *q = user_data;

	ep_resolver_query_abort (q, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "DNS lookup of %s %s cancelled",
						 q->name, ep_dns_type_to_string (q->rrtype)));
	return G_SOURCE_REMOVE;
}

static const char *
ep_dns_rcode_to_string (int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return NULL;
	}
}

static gint
ep_dns_mx_compare (gconstpointer a, gconstpointer b)
{
	const EpDnsMx *ma = *(EpDnsMx *const *) a;
	const EpDnsMx *mb = *(EpDnsMx *const *) b;
	return (gint) ma->preference - (gint) mb->preference;
}

static EpDnsAnswer *
ep_resolver_answer_from_result (EpResolverQuery *q, int err, struct ub_result *result, GError **error)
{
	const char *type = ep_dns_type_to_string (q->rrtype);
	g_autoptr(EpDnsAnswer) answer = NULL;

	if (err != 0 || result == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "DNS lookup of %s %s failed: %s", q->name, type,
			     ub_strerror (err));
		return NULL;
	}
	if (result->bogus) {
		g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "DNSSEC validation failed: %s",
			     result->why_bogus != NULL ? result->why_bogus : "no reason given");
		return NULL;
	}
	if (result->rcode != 0 && result->rcode != 3) {
		const char *rcode = ep_dns_rcode_to_string (result->rcode);
		if (rcode != NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "DNS lookup of %s %s failed: %s", q->name, type,
				     rcode);
		} else {
			g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "DNS lookup of %s %s failed: rcode %d", q->name,
				     type, result->rcode);
		}
		return NULL;
	}

	answer = ep_dns_answer_new (q->rrtype);
	answer->nxdomain = result->rcode == 3 || result->nxdomain;
	answer->secure = result->secure != 0;
	answer->ttl = result->ttl > 0 ? (guint32) result->ttl : 0;
	if (result->canonname != NULL) {
		g_autofree char *canon = g_ascii_strdown (result->canonname, -1);
		gsize len = strlen (canon);
		if (len > 1 && canon[len - 1] == '.')
			canon[len - 1] = '\0';
		if (g_strcmp0 (canon, q->name) != 0)
			answer->canonical_name = g_steal_pointer (&canon);
	}
	for (guint i = 0; !answer->nxdomain && result->havedata && result->data[i] != NULL; i++) {
		gpointer record = NULL;
		g_autoptr(GError) error_local = NULL;

		if (result->len[i] < 0 ||
		    !ep_dns_rdata_parse (q->rrtype, (const guint8 *) result->data[i], (gsize) result->len[i], &record,
					 &error_local)) {
			g_set_error (error, EP_ERROR, EP_ERROR_TEMP, "DNS lookup of %s %s: malformed record: %s",
				     q->name, type, error_local != NULL ? error_local->message : "negative length");
			return NULL;
		}
		if (record != NULL)
			g_ptr_array_add (answer->records, record);
	}
	if (q->rrtype == EP_DNS_TYPE_MX)
		g_ptr_array_sort (answer->records, ep_dns_mx_compare); /* stable */
	return g_steal_pointer (&answer);
}

/* libunbound's callback, from ub_process() on the main loop */
static void
ep_resolver_on_result (void *user_data, int err, struct ub_result *result)
{
	EpResolverQuery *q = user_data;
	EpResolver *self = q->resolver;
	g_autoptr(GTask) task = ep_resolver_query_take_task (q);
	g_autoptr(GError) error = NULL;
	g_autoptr(EpDnsAnswer) answer = NULL;

	g_hash_table_remove (self->pending, q);
	if (task != NULL) {
		answer = ep_resolver_answer_from_result (q, err, result, &error);
		if (answer != NULL)
			ep_resolver_cache_insert (self, q->key, answer);
		else
			self->stats.failures++;
	}
	ub_resolve_free (result);
	ep_resolver_query_free (q);
	if (task == NULL)
		return;
	if (answer == NULL)
		g_task_return_error (task, g_steal_pointer (&error));
	else
		g_task_return_pointer (task, g_steal_pointer (&answer), (GDestroyNotify) ep_dns_answer_unref);
}

static gboolean
ep_resolver_on_readable (gint fd, GIOCondition condition, gpointer user_data)
{
	EpResolver *self = user_data;
	int rc;

	/* a callback may drop the last reference to the resolver */
	g_object_ref (self);
	rc = ub_process (self->ctx);
	if (rc != UB_NOERROR && self->fd_source != NULL) {
		/* libunbound's thread is gone: no answer will come, lookups
		 * time out (a temporary failure) instead of spinning here */
		ep_log_warning (NULL, NULL, "DNS resolver: %s; lookups will time out", ub_strerror (rc));
		g_source_destroy (self->fd_source);
		g_clear_pointer (&self->fd_source, g_source_unref);
	}
	g_object_unref (self);
	return G_SOURCE_CONTINUE;
}

void
ep_resolver_lookup_async (EpResolver *self, const char *name, guint16 rrtype, GCancellable *cancellable,
			  GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *normalized = NULL;
	g_autofree char *key = NULL;
	g_autofree char *absolute = NULL;
	g_autoptr(EpDnsAnswer) cached = NULL;
	EpResolverQuery *q;
	int rc;

	g_return_if_fail (EP_IS_RESOLVER (self));
	g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, ep_resolver_lookup_async);
	if (self->observer != NULL) {
		EpResolverAsked *asked = g_new0 (EpResolverAsked, 1);
		asked->name = g_strdup (name);
		asked->rrtype = rrtype;
		g_task_set_task_data (task, asked, (GDestroyNotify) ep_resolver_asked_free);
	}

	if (!ep_dns_type_is_supported (rrtype)) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "DNS record type %s is not handled",
					 ep_dns_type_to_string (rrtype));
		return;
	}
	normalized = ep_dns_name_normalize (name, &error);
	if (normalized == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	if (g_task_return_error_if_cancelled (task))
		return;
	self->stats.lookups++;

	key = g_strdup_printf ("%u:%s", rrtype, normalized);
	cached = ep_resolver_cache_lookup (self, key);
	if (cached != NULL) {
		self->stats.cache_hits++;
		g_task_return_pointer (task, g_steal_pointer (&cached), (GDestroyNotify) ep_dns_answer_unref);
		return;
	}

	q = g_new0 (EpResolverQuery, 1);
	q->resolver = self;
	q->name = g_steal_pointer (&normalized);
	q->key = g_steal_pointer (&key);
	q->rrtype = rrtype;
	absolute = g_strconcat (q->name, ".", NULL);
	rc = ub_resolve_async (self->ctx, absolute, rrtype, 1 /* IN */, q, ep_resolver_on_result, &q->async_id);
	if (rc != UB_NOERROR) {
		self->stats.failures++;
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_TEMP, "DNS lookup of %s %s failed: %s", q->name,
					 ep_dns_type_to_string (rrtype), ub_strerror (rc));
		ep_resolver_query_free (q);
		return;
	}
	self->stats.queries++;
	g_hash_table_add (self->pending, q);

	q->timeout_source = g_timeout_source_new (self->timeout_ms);
	g_source_set_callback (q->timeout_source, ep_resolver_on_timeout, q, NULL);
	g_source_set_static_name (q->timeout_source, "[epistle] DNS timeout");
	g_source_attach (q->timeout_source, self->context);
	if (cancellable != NULL) {
		q->cancel_source = g_cancellable_source_new (cancellable);
		g_source_set_callback (q->cancel_source, (GSourceFunc) (void (*) (void)) ep_resolver_on_cancelled, q,
				       NULL);
		g_source_set_static_name (q->cancel_source, "[epistle] DNS cancel");
		g_source_attach (q->cancel_source, self->context);
	}
	q->task = g_steal_pointer (&task);
}

EpDnsAnswer *
ep_resolver_lookup_finish (EpResolver *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (EP_IS_RESOLVER (self), NULL);
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	g_return_val_if_fail (g_async_result_is_tagged (result, ep_resolver_lookup_async), NULL);
	{
		EpResolverAsked *asked = g_task_get_task_data (G_TASK (result));
		g_autoptr(GError) local = NULL;
		EpDnsAnswer *answer = g_task_propagate_pointer (G_TASK (result), &local);

		if (asked != NULL && self->observer != NULL)
			self->observer (self, asked->name, asked->rrtype, answer, local, self->observer_data);
		if (local != NULL)
			g_propagate_error (error, g_steal_pointer (&local));
		return answer;
	}
}

void
ep_resolver_set_observer (EpResolver *self, EpResolverObserver func, gpointer user_data)
{
	g_return_if_fail (EP_IS_RESOLVER (self));
	self->observer = func;
	self->observer_data = user_data;
}

/* ---- construction ------------------------------------------------------- */

static gboolean
ep_resolver_check_nameserver (const char *text, GError **error)
{
	const char *at = strrchr (text, '@');
	g_autofree char *host = g_strndup (text, at != NULL ? (gsize) (at - text) : strlen (text));
	g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (host);
	guint64 port = 0;

	if (addr == NULL || (at != NULL && !g_ascii_string_to_unsigned (at + 1, 10, 1, 65535, &port, NULL))) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     "nameserver '%s' is not an IP address with an optional @port (e.g. 127.0.0.1@53)", text);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ep_resolver_set_option (EpResolver *self, const char *option, const char *value, GError **error)
{
	int rc = ub_ctx_set_option (self->ctx, option, value);
	if (rc != UB_NOERROR) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "libunbound refuses '%s %s': %s", option, value,
			     ub_strerror (rc));
		return FALSE;
	}
	return TRUE;
}

/* @bad_key: set to the [dns] key an error is about */
static gboolean
ep_resolver_setup (EpResolver *self, const char *const *nameservers, gboolean dnssec, const char *trust_anchor_file,
		   const char *default_trust_anchor, const char **bad_key, GError **error)
{
	gboolean forwarding = FALSE;
	int rc;

	self->ctx = ub_ctx_create ();
	if (self->ctx == NULL) {
		g_set_error_literal (error, EP_ERROR, EP_ERROR_INTERNAL, "libunbound cannot create a resolver");
		return FALSE;
	}
	/* a thread, not a forked process, works in the background */
	rc = ub_ctx_async (self->ctx, 1);
	if (rc != UB_NOERROR) {
		g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "libunbound: %s", ub_strerror (rc));
		return FALSE;
	}

	*bad_key = "nameservers";
	if (nameservers != NULL && nameservers[0] != NULL) {
		for (guint i = 0; nameservers[i] != NULL; i++) {
			if (!ep_resolver_check_nameserver (nameservers[i], error))
				return FALSE;
			rc = ub_ctx_set_fwd (self->ctx, nameservers[i]);
			if (rc != UB_NOERROR) {
				g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "libunbound refuses nameserver '%s': %s",
					     nameservers[i], ub_strerror (rc));
				return FALSE;
			}
		}
		forwarding = TRUE;
	} else if (g_file_test (EP_RESOLVER_RESOLV_CONF, G_FILE_TEST_EXISTS)) {
		rc = ub_ctx_resolvconf (self->ctx, EP_RESOLVER_RESOLV_CONF);
		if (rc != UB_NOERROR) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "cannot use the nameservers of %s: %s",
				     EP_RESOLVER_RESOLV_CONF, ub_strerror (rc));
			return FALSE;
		}
		forwarding = TRUE;
	}
	/* else: full recursion from libunbound's built-in root hints */

	if (forwarding) {
		/* The configured resolver decides about every name: it may well
		 * be on loopback, and it may serve private reverse zones (RFC
		 * 6303) and test. (RFC 6761) that libunbound would otherwise
		 * answer itself with NXDOMAIN. */
		if (!ep_resolver_set_option (self, "do-not-query-localhost:", "no", error) ||
		    !ep_resolver_set_option (self, "unblock-lan-zones:", "yes", error) ||
		    !ep_resolver_set_option (self, "insecure-lan-zones:", "yes", error) ||
		    !ep_resolver_set_option (self, "local-zone:", "test. transparent", error))
			return FALSE;
	}

	*bad_key = "trust_anchor_file";
	if (dnssec) {
		const char *path = trust_anchor_file != NULL ? trust_anchor_file : default_trust_anchor;
		g_autofree char *contents = NULL;
		g_autoptr(GError) error_local = NULL;

		if (trust_anchor_file == NULL && !g_file_test (path, G_FILE_TEST_EXISTS)) {
			*bad_key = "dnssec";
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "DNSSEC validation is on but the root trust anchor %s does not exist: install "
				     "the package dns-root-data, set [dns] trust_anchor_file, or set [dns] dnssec = "
				     "false",
				     path);
			return FALSE;
		}
		if (!g_file_get_contents (path, &contents, NULL, &error_local)) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "cannot read the DNSSEC trust anchor: %s",
				     error_local->message);
			return FALSE;
		}
		rc = ub_ctx_add_ta_file (self->ctx, path);
		if (rc != UB_NOERROR) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "libunbound refuses the trust anchor %s: %s",
				     path, ub_strerror (rc));
			return FALSE;
		}
	} else {
		if (!ep_resolver_set_option (self, "module-config:", "iterator", error))
			return FALSE;
	}

	/* Load everything now (ub_ctx_zone_remove finalizes the context; the
	 * zone does not exist, so nothing else happens): a trust anchor that
	 * does not parse stops the start, and the file is read while the
	 * daemon may still be root. */
	rc = ub_ctx_zone_remove (self->ctx, "epistle.invalid.");
	if (rc != UB_NOERROR) {
		if (dnssec) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     "libunbound cannot start (%s): is %s a file of DS or DNSKEY records?",
				     ub_strerror (rc),
				     trust_anchor_file != NULL ? trust_anchor_file : default_trust_anchor);
		} else {
			*bad_key = NULL;
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, "libunbound cannot start: %s",
				     ub_strerror (rc));
		}
		return FALSE;
	}

	*bad_key = NULL;
	self->fd_source = g_unix_fd_source_new (ub_fd (self->ctx), G_IO_IN);
	g_source_set_callback (self->fd_source, (GSourceFunc) (void (*) (void)) ep_resolver_on_readable, self, NULL);
	g_source_set_static_name (self->fd_source, "[epistle] libunbound");
	g_source_attach (self->fd_source, self->context);
	return TRUE;
}

EpResolver *
ep_resolver_new_with_default_anchor (const char *const *nameservers, gboolean dnssec, const char *trust_anchor_file,
				     const char *default_trust_anchor, GError **error)
{
	g_autoptr(EpResolver) self = g_object_new (EP_TYPE_RESOLVER, NULL);
	const char *bad_key = NULL;

	g_return_val_if_fail (default_trust_anchor != NULL, NULL);
	if (!ep_resolver_setup (self, nameservers, dnssec, trust_anchor_file, default_trust_anchor, &bad_key, error))
		return NULL;
	return g_steal_pointer (&self);
}

EpResolver *
ep_resolver_new (const char *const *nameservers, gboolean dnssec, const char *trust_anchor_file, GError **error)
{
	return ep_resolver_new_with_default_anchor (nameservers, dnssec, trust_anchor_file,
						    EP_RESOLVER_DEFAULT_TRUST_ANCHOR, error);
}

EpResolver *
ep_resolver_new_from_config (EpConfig *config, GError **error)
{
	EpTomlValue *section = ep_config_get_section (config, "dns");
	g_autoptr(EpResolver) self = g_object_new (EP_TYPE_RESOLVER, NULL);
	g_autoptr(GError) error_local = NULL;
	const char *bad_key = NULL;
	gint64 timeout = ep_config_section_get_integer (section, "timeout", EP_RESOLVER_DEFAULT_TIMEOUT_MS / 1000);

	g_return_val_if_fail (EP_IS_CONFIG (config), NULL);

	if (!ep_resolver_setup (self, ep_config_get_dns_nameservers (config), ep_config_get_dns_dnssec (config),
				ep_config_get_dns_trust_anchor_file (config), EP_RESOLVER_DEFAULT_TRUST_ANCHOR, &bad_key,
				&error_local)) {
		/* point at the line, as the configuration checks do */
		EpTomlValue *where = section != NULL && bad_key != NULL ? ep_toml_value_table_lookup (section, bad_key)
									: NULL;
		if (where == NULL)
			where = section;
		if (where != NULL && ep_toml_value_get_filename (where) != NULL) {
			g_set_error (error, EP_ERROR, error_local->code, "%s:%u: dns%s%s: %s",
				     ep_toml_value_get_filename (where), ep_toml_value_get_line (where),
				     where != section ? "." : "", where != section ? bad_key : "",
				     error_local->message);
		} else {
			g_propagate_error (error, g_steal_pointer (&error_local));
		}
		return NULL;
	}
	ep_resolver_set_timeout (self, (guint) CLAMP (timeout, 1, 3600) * 1000);
	return g_steal_pointer (&self);
}

static void
ep_resolver_finalize (GObject *object)
{
	EpResolver *self = EP_RESOLVER (object);
	GHashTableIter iter;
	gpointer q;

	if (self->fd_source != NULL) {
		g_source_destroy (self->fd_source);
		g_source_unref (self->fd_source);
	}
	/* stops libunbound's thread; it calls back no more */
	if (self->ctx != NULL)
		ub_ctx_delete (self->ctx);
	/* Every lookup's task holds a reference to the resolver, so what is
	 * left are queries whose caller already had an error (timeout,
	 * cancellation) and whose ub_cancel() came too late. */
	g_hash_table_iter_init (&iter, self->pending);
	while (g_hash_table_iter_next (&iter, &q, NULL))
		ep_resolver_query_free (q);
	g_hash_table_unref (self->pending);
	g_queue_init (&self->lru);
	g_hash_table_unref (self->cache);
	g_main_context_unref (self->context);

	G_OBJECT_CLASS (ep_resolver_parent_class)->finalize (object);
}

static void
ep_resolver_class_init (EpResolverClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = ep_resolver_finalize;
}

static void
ep_resolver_init (EpResolver *self)
{
	self->context = g_main_context_ref_thread_default ();
	self->timeout_ms = EP_RESOLVER_DEFAULT_TIMEOUT_MS;
	self->cache_size = EP_RESOLVER_DEFAULT_CACHE_SIZE;
	self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
					     (GDestroyNotify) ep_resolver_cache_entry_free);
	self->pending = g_hash_table_new (g_direct_hash, g_direct_equal);
	g_queue_init (&self->lru);
}
