/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_host() (RFC 7208 §4-§6), asynchronous.
 *
 * The evaluation itself is a synchronous walk over the records that reads
 * DNS answers from a cache of its own.  When it needs an answer the cache
 * lacks, the walk stops ("suspends"), the answer is looked up, and the walk
 * starts again from the top.  Every pass is deterministic, so it gets as
 * far as the one before and one lookup further; the limits (10 DNS terms,
 * 2 void lookups) are counted afresh by each pass, and the trace of the
 * last pass is the evaluation's.  Re-walking costs microseconds per pass;
 * the lookups dominate.
 */
#include "config.h"

#include <string.h>

#include "spf-eval.h"
#include "spf-macro.h"
#include "spf-record.h"

#define SPF_SUSPEND ((SpfResult)100) /* an answer is missing: look it up and walk again */

const char *
spf_result_to_string (SpfResult result)
{
	switch (result) {
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	default:
		return "?";
	}
}

void
spf_outcome_free (SpfOutcome *outcome)
{
	if (outcome == NULL)
		return;
	g_free (outcome->domain);
	g_free (outcome->sender);
	g_free (outcome->explanation);
	g_free (outcome->reason);
	g_clear_pointer (&outcome->trace, g_ptr_array_unref);
	g_free (outcome);
}

gboolean
spf_domain_is_valid (const char *domain)
{
	gsize len;
	guint labels = 0;
	const char *label;
	gboolean numeric_top = TRUE;

	if (domain == NULL || domain[0] == '[')
		return FALSE;
	len = strlen (domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX)
		return FALSE;
	label = domain;
	for (gsize i = 0; i <= len; i++) {
		if (i == len || domain[i] == '.') {
			gsize n = (gsize)(domain + i - label);
			if (n == 0 || n > 63)
				return FALSE;
			labels++;
			numeric_top = TRUE;
			for (gsize k = 0; k < n; k++)
				if (!g_ascii_isdigit (label[k]))
					numeric_top = FALSE;
			label = domain + i + 1;
		}
	}
	return labels >= 2 && !numeric_top;
}

/* ---- one pass ------------------------------------------------------------- */

typedef struct {
	SpfDnsAnswer *answer; /* (nullable) */
	GError *error;	      /* (nullable) */
} SpfCacheEntry;

static void
spf_cache_entry_free (SpfCacheEntry *entry)
{
	spf_dns_answer_free (entry->answer);
	g_clear_error (&entry->error);
	g_free (entry);
}

typedef struct {
	/* the query */
	GInetAddress *ip; /* IPv4 for an IPv4-mapped client */
	char *sender;
	char *local_part;
	char *sender_domain;
	char *helo;
	char *receiver;
	gint64 timestamp;
	GHashTable *cache; /* "type/name" -> SpfCacheEntry */

	/* one pass */
	guint n_dns_terms;
	guint n_void;
	guint depth;
	GPtrArray *trace;
	char *need_name;
	guint16 need_type;
	char *explanation;
	char *reason;
} SpfEval;

static void
spf_eval_reset (SpfEval *ev)
{
	ev->n_dns_terms = 0;
	ev->n_void = 0;
	ev->depth = 0;
	g_clear_pointer (&ev->trace, g_ptr_array_unref);
	ev->trace = g_ptr_array_new_with_free_func (g_free);
	g_clear_pointer (&ev->need_name, g_free);
	g_clear_pointer (&ev->explanation, g_free);
	g_clear_pointer (&ev->reason, g_free);
}

static void
spf_eval_free (SpfEval *ev)
{
	g_clear_object (&ev->ip);
	g_free (ev->sender);
	g_free (ev->local_part);
	g_free (ev->sender_domain);
	g_free (ev->helo);
	g_free (ev->receiver);
	g_clear_pointer (&ev->cache, g_hash_table_unref);
	g_clear_pointer (&ev->trace, g_ptr_array_unref);
	g_free (ev->need_name);
	g_free (ev->explanation);
	g_free (ev->reason);
	g_free (ev);
}

G_GNUC_PRINTF (2, 3)
static void
spf_trace (SpfEval *ev, const char *format, ...)
{
	va_list args;
	g_autofree char *text = NULL;

	va_start (args, format);
	text = g_strdup_vprintf (format, args);
	va_end (args);
	g_ptr_array_add (ev->trace, g_strdup_printf ("%*s%s", (int)ev->depth * 2, "", text));
}

/* The reason of the outcome: the first one set wins (the innermost cause). */
G_GNUC_PRINTF (2, 3)
static void
spf_set_reason (SpfEval *ev, const char *format, ...)
{
	va_list args;

	if (ev->reason != NULL)
		return;
	va_start (args, format);
	ev->reason = g_strdup_vprintf (format, args);
	va_end (args);
	spf_trace (ev, "%s", ev->reason);
}

static const char *
spf_type_name (guint16 rrtype)
{
	return ep_dns_type_to_string (rrtype);
}

static char *
spf_cache_key (const char *name, guint16 rrtype)
{
	g_autofree char *lower = g_ascii_strdown (name, -1);
	gsize len = strlen (lower);

	if (len > 0 && lower[len - 1] == '.')
		lower[len - 1] = '\0';
	return g_strdup_printf ("%u/%s", rrtype, lower);
}

/* The cached answer to @name @rrtype, or FALSE (and the need recorded)
 * when there is none yet. */
static gboolean
spf_lookup (SpfEval *ev, const char *name, guint16 rrtype, const SpfCacheEntry **entry)
{
	g_autofree char *key = spf_cache_key (name, rrtype);
	const SpfCacheEntry *found = g_hash_table_lookup (ev->cache, key);

	if (found == NULL) {
		g_free (ev->need_name);
		ev->need_name = g_strdup (name);
		ev->need_type = rrtype;
		return FALSE;
	}
	*entry = found;
	return TRUE;
}

/* An error that means "no such name" rather than "try later": a name DNS
 * cannot carry. */
static gboolean
spf_entry_is_empty (const SpfCacheEntry *entry)
{
	if (entry->error != NULL)
		return g_error_matches (entry->error, EP_ERROR, EP_ERROR_INVALID);
	return entry->answer->records->len == 0;
}

static gboolean
spf_entry_is_temp (const SpfCacheEntry *entry)
{
	return entry->error != NULL && !g_error_matches (entry->error, EP_ERROR, EP_ERROR_INVALID);
}

static guint16
spf_address_type (SpfEval *ev)
{
	return g_inet_address_get_family (ev->ip) == G_SOCKET_FAMILY_IPV4 ? EP_DNS_TYPE_A : EP_DNS_TYPE_AAAA;
}

static gboolean
spf_prefix_match (const guint8 *a, const guint8 *b, guint bits)
{
	guint bytes = bits / 8;
	guint rest = bits % 8;

	if (memcmp (a, b, bytes) != 0)
		return FALSE;
	if (rest == 0)
		return TRUE;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Whether @addr (same family as the client) is in the client's network of
 * @mech's prefix length. */
static gboolean
spf_address_match (SpfEval *ev, GInetAddress *addr, const SpfMechanism *mech)
{
	gboolean v4 = g_inet_address_get_family (ev->ip) == G_SOCKET_FAMILY_IPV4;

	if (g_inet_address_get_family (addr) != g_inet_address_get_family (ev->ip))
		return FALSE;
	return spf_prefix_match (g_inet_address_to_bytes (addr), g_inet_address_to_bytes (ev->ip),
				 v4 ? mech->cidr4 : mech->cidr6);
}

static gboolean
spf_name_equal (const char *a, const char *b)
{
	gsize la = strlen (a), lb = strlen (b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && g_ascii_strncasecmp (a, b, la) == 0;
}

/* @name equals @domain or is under it */
static gboolean
spf_name_in (const char *name, const char *domain)
{
	gsize ln = strlen (name), ld = strlen (domain);

	if (ln > 0 && name[ln - 1] == '.')
		ln--;
	if (ld > 0 && domain[ld - 1] == '.')
		ld--;
	if (ln == ld)
		return g_ascii_strncasecmp (name, domain, ln) == 0;
	return ln > ld && name[ln - ld - 1] == '.' && g_ascii_strncasecmp (name + ln - ld, domain, ld) == 0;
}

/* A lookup that found nothing: counted, and past the limit a permerror. */
static gboolean
spf_count_void (SpfEval *ev, const char *name, guint16 rrtype)
{
	ev->n_void++;
	spf_trace (ev, "void lookup %u: %s %s", ev->n_void, name, spf_type_name (rrtype));
	if (ev->n_void > SPF_MAX_VOID) {
		spf_set_reason (ev, "more than %u void DNS lookups", SPF_MAX_VOID);
		return FALSE;
	}
	return TRUE;
}

typedef enum {
	SPF_VALIDATE_YES,
	SPF_VALIDATE_NO,
	SPF_VALIDATE_SUSPEND,
} SpfValidate;

/* Whether one of @name's addresses is the client (errors: no). */
static SpfValidate
spf_validate_name (SpfEval *ev, const char *name)
{
	const SpfCacheEntry *entry;

	if (!spf_domain_is_valid (name))
		return SPF_VALIDATE_NO;
	if (!spf_lookup (ev, name, spf_address_type (ev), &entry))
		return SPF_VALIDATE_SUSPEND;
	if (entry->error != NULL)
		return SPF_VALIDATE_NO;
	for (guint i = 0; i < entry->answer->records->len; i++)
		if (g_inet_address_equal (g_ptr_array_index (entry->answer->records, i), ev->ip))
			return SPF_VALIDATE_YES;
	return SPF_VALIDATE_NO;
}

/* The client's PTR names, the first SPF_MAX_PTR_NAMES; NULL answer and TRUE
 * when the lookup failed or found nothing (@is_void then says which). */
static gboolean
spf_ptr_names (SpfEval *ev, const SpfCacheEntry **entry)
{
	g_autofree char *rev = ep_resolver_reverse_name (ev->ip);

	return spf_lookup (ev, rev, EP_DNS_TYPE_PTR, entry);
}

/* %{p}: the client's validated name, preferably @domain or under it;
 * "unknown" when there is none.  FALSE: suspended. */
static gboolean
spf_validated_domain (SpfEval *ev, const char *domain, char **out)
{
	const SpfCacheEntry *entry;
	guint n;

	*out = NULL;
	if (!spf_ptr_names (ev, &entry))
		return FALSE;
	if (entry->error != NULL || entry->answer->records->len == 0) {
		*out = g_strdup ("unknown");
		return TRUE;
	}
	n = MIN (entry->answer->records->len, SPF_MAX_PTR_NAMES);
	/* pass 0: the domain itself, 1: names under it, 2: any */
	for (guint pass = 0; pass < 3; pass++) {
		for (guint i = 0; i < n; i++) {
			const char *name = g_ptr_array_index (entry->answer->records, i);
			gboolean equal = spf_name_equal (name, domain);
			gboolean under = !equal && spf_name_in (name, domain);
			if ((pass == 0 && !equal) || (pass == 1 && !under) || (pass == 2 && (equal || under)))
				continue;
			switch (spf_validate_name (ev, name)) {
			case SPF_VALIDATE_SUSPEND:
				return FALSE;
			case SPF_VALIDATE_YES:
				*out = g_strdup (name);
				return TRUE;
			case SPF_VALIDATE_NO:
				break;
			}
		}
	}
	*out = g_strdup ("unknown");
	return TRUE;
}

typedef enum {
	SPF_EXPAND_OK,
	SPF_EXPAND_SUSPEND,
	SPF_EXPAND_ERROR,
} SpfExpand;

static SpfExpand
spf_expand (SpfEval *ev, const char *spec, SpfMacroKind kind, const char *domain, char **out)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *validated = NULL;
	gboolean uses_p = FALSE;
	SpfMacroVars vars = {
	    .sender = ev->sender,
	    .local_part = ev->local_part,
	    .sender_domain = ev->sender_domain,
	    .domain = domain,
	    .ip = ev->ip,
	    .helo = ev->helo,
	    .receiver = ev->receiver,
	    .timestamp = ev->timestamp,
	};

	*out = NULL;
	if (!spf_macro_check (spec, strlen (spec), kind, &uses_p, &error)) {
		spf_trace (ev, "macro error: %s", error->message);
		return SPF_EXPAND_ERROR;
	}
	if (uses_p) {
		if (!spf_validated_domain (ev, domain, &validated))
			return SPF_EXPAND_SUSPEND;
		vars.validated_domain = validated;
	}
	*out = spf_macro_expand (spec, strlen (spec), kind, &vars, &error);
	if (*out == NULL) {
		spf_trace (ev, "macro error: %s", error->message);
		return SPF_EXPAND_ERROR;
	}
	return SPF_EXPAND_OK;
}

/* The target of a mechanism or modifier: its domain-spec expanded, or the
 * current domain. */
static SpfExpand
spf_target (SpfEval *ev, const char *spec, const char *domain, char **out)
{
	if (spec == NULL) {
		*out = g_strdup (domain);
		return SPF_EXPAND_OK;
	}
	return spf_expand (ev, spec, SPF_MACRO_DOMAIN_SPEC, domain, out);
}

/* exp= (RFC 7208 §6.2): any problem means no explanation.  FALSE: suspended. */
static gboolean
spf_explain (SpfEval *ev, const SpfRecord *record, const char *domain)
{
	g_autofree char *name = NULL;
	g_autofree char *text = NULL;
	const SpfCacheEntry *entry;
	const char *found = NULL;
	gsize found_len = 0;
	g_autofree char *found_text = NULL;

	switch (spf_expand (ev, record->exp, SPF_MACRO_DOMAIN_SPEC, domain, &name)) {
	case SPF_EXPAND_SUSPEND:
		return FALSE;
	case SPF_EXPAND_ERROR:
		return TRUE;
	case SPF_EXPAND_OK:
		break;
	}
	if (!spf_domain_is_valid (name)) {
		spf_trace (ev, "exp=%s: not a valid domain", name);
		return TRUE;
	}
	if (!spf_lookup (ev, name, EP_DNS_TYPE_TXT, &entry))
		return FALSE;
	if (entry->error != NULL || entry->answer->records->len != 1) {
		spf_trace (ev, "exp=%s: %s", name,
			   entry->error != NULL ? entry->error->message : "not exactly one TXT record");
		return TRUE;
	}
	found = g_bytes_get_data (g_ptr_array_index (entry->answer->records, 0), &found_len);
	if (found == NULL || memchr (found, '\0', found_len) != NULL) {
		spf_trace (ev, "exp=%s: the TXT record is empty or has a NUL octet", name);
		return TRUE;
	}
	found_text = g_strndup (found, found_len);
	switch (spf_expand (ev, found_text, SPF_MACRO_EXPLANATION, domain, &text)) {
	case SPF_EXPAND_SUSPEND:
		return FALSE;
	case SPF_EXPAND_ERROR:
		return TRUE;
	case SPF_EXPAND_OK:
		break;
	}
	spf_trace (ev, "explanation: %s", text);
	g_free (ev->explanation);
	ev->explanation = g_steal_pointer (&text);
	return TRUE;
}

typedef enum {
	SPF_MATCH_NO,
	SPF_MATCH_YES,
	SPF_MATCH_TEMPERROR,
	SPF_MATCH_PERMERROR,
	SPF_MATCH_SUSPEND,
} SpfMatch;

static SpfResult spf_check_host (SpfEval *ev, const char *domain, gboolean want_exp);

static SpfMatch
spf_match_addresses (SpfEval *ev, const char *name, const SpfMechanism *mech, gboolean count_void)
{
	guint16 rrtype = spf_address_type (ev);
	const SpfCacheEntry *entry;

	if (!spf_lookup (ev, name, rrtype, &entry))
		return SPF_MATCH_SUSPEND;
	if (spf_entry_is_temp (entry)) {
		spf_set_reason (ev, "DNS error for %s %s: %s", name, spf_type_name (rrtype), entry->error->message);
		return SPF_MATCH_TEMPERROR;
	}
	if (spf_entry_is_empty (entry)) {
		if (count_void && !spf_count_void (ev, name, rrtype))
			return SPF_MATCH_PERMERROR;
		return SPF_MATCH_NO;
	}
	for (guint i = 0; i < entry->answer->records->len; i++)
		if (spf_address_match (ev, g_ptr_array_index (entry->answer->records, i), mech))
			return SPF_MATCH_YES;
	return SPF_MATCH_NO;
}

static SpfMatch
spf_match_mx (SpfEval *ev, const char *target, const SpfMechanism *mech)
{
	const SpfCacheEntry *entry;
	GPtrArray *hosts;

	if (!spf_lookup (ev, target, EP_DNS_TYPE_MX, &entry))
		return SPF_MATCH_SUSPEND;
	if (spf_entry_is_temp (entry)) {
		spf_set_reason (ev, "DNS error for %s MX: %s", target, entry->error->message);
		return SPF_MATCH_TEMPERROR;
	}
	if (spf_entry_is_empty (entry))
		return spf_count_void (ev, target, EP_DNS_TYPE_MX) ? SPF_MATCH_NO : SPF_MATCH_PERMERROR;
	hosts = entry->answer->records;
	if (hosts->len > SPF_MAX_MX_NAMES) {
		spf_set_reason (ev, "%s has more than %u MX records", target, SPF_MAX_MX_NAMES);
		return SPF_MATCH_PERMERROR;
	}
	for (guint i = 0; i < hosts->len; i++) {
		const char *host = g_ptr_array_index (hosts, i);
		SpfMatch m;

		if (host[0] == '\0' || !spf_domain_is_valid (host))
			continue; /* a null MX, or a name no address can have */
		m = spf_match_addresses (ev, host, mech, FALSE);
		if (m != SPF_MATCH_NO)
			return m;
	}
	return SPF_MATCH_NO;
}

static SpfMatch
spf_match_ptr (SpfEval *ev, const char *target)
{
	const SpfCacheEntry *entry;
	guint n;

	if (!spf_ptr_names (ev, &entry))
		return SPF_MATCH_SUSPEND;
	if (spf_entry_is_temp (entry)) {
		spf_trace (ev, "PTR lookup failed: %s (no match)", entry->error->message);
		return SPF_MATCH_NO;
	}
	if (spf_entry_is_empty (entry))
		return spf_count_void (ev, "reverse name", EP_DNS_TYPE_PTR) ? SPF_MATCH_NO : SPF_MATCH_PERMERROR;
	n = MIN (entry->answer->records->len, SPF_MAX_PTR_NAMES);
	for (guint i = 0; i < n; i++) {
		const char *name = g_ptr_array_index (entry->answer->records, i);
		if (!spf_name_in (name, target))
			continue;
		switch (spf_validate_name (ev, name)) {
		case SPF_VALIDATE_SUSPEND:
			return SPF_MATCH_SUSPEND;
		case SPF_VALIDATE_YES:
			spf_trace (ev, "validated name %s", name);
			return SPF_MATCH_YES;
		case SPF_VALIDATE_NO:
			break;
		}
	}
	return SPF_MATCH_NO;
}

static SpfMatch
spf_match_exists (SpfEval *ev, const char *target)
{
	const SpfCacheEntry *entry;

	if (!spf_lookup (ev, target, EP_DNS_TYPE_A, &entry))
		return SPF_MATCH_SUSPEND;
	if (spf_entry_is_temp (entry)) {
		spf_set_reason (ev, "DNS error for %s A: %s", target, entry->error->message);
		return SPF_MATCH_TEMPERROR;
	}
	if (spf_entry_is_empty (entry))
		return spf_count_void (ev, target, EP_DNS_TYPE_A) ? SPF_MATCH_NO : SPF_MATCH_PERMERROR;
	return SPF_MATCH_YES;
}

static SpfMatch
spf_match_include (SpfEval *ev, const char *target)
{
	SpfResult r;

	ev->depth++;
	r = spf_check_host (ev, target, FALSE);
	ev->depth--;
	if (r == SPF_SUSPEND)
		return SPF_MATCH_SUSPEND;
	switch (r) {
	case SPF_RESULT_PASS:
		return SPF_MATCH_YES;
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
	case SPF_RESULT_NEUTRAL:
		return SPF_MATCH_NO;
	case SPF_RESULT_TEMPERROR:
		return SPF_MATCH_TEMPERROR;
	case SPF_RESULT_NONE:
		spf_set_reason (ev, "include:%s has no SPF record", target);
		return SPF_MATCH_PERMERROR;
	case SPF_RESULT_PERMERROR:
	default:
		return SPF_MATCH_PERMERROR;
	}
}

static SpfMatch
spf_match (SpfEval *ev, const char *domain, const SpfMechanism *mech)
{
	g_autofree char *target = NULL;
	guint8 client[16];

	switch (mech->kind) {
	case SPF_MECH_ALL:
		return SPF_MATCH_YES;
	case SPF_MECH_IP4:
		if (g_inet_address_get_family (ev->ip) != G_SOCKET_FAMILY_IPV4)
			return SPF_MATCH_NO;
		memcpy (client, g_inet_address_to_bytes (ev->ip), 4);
		return spf_prefix_match (client, mech->network, mech->cidr4) ? SPF_MATCH_YES : SPF_MATCH_NO;
	case SPF_MECH_IP6:
		if (g_inet_address_get_family (ev->ip) != G_SOCKET_FAMILY_IPV6)
			return SPF_MATCH_NO;
		memcpy (client, g_inet_address_to_bytes (ev->ip), 16);
		return spf_prefix_match (client, mech->network, mech->cidr6) ? SPF_MATCH_YES : SPF_MATCH_NO;
	default:
		break;
	}

	switch (spf_target (ev, mech->domain_spec, domain, &target)) {
	case SPF_EXPAND_SUSPEND:
		return SPF_MATCH_SUSPEND;
	case SPF_EXPAND_ERROR:
		spf_set_reason (ev, "%s: macro expansion failed", spf_mech_kind_to_string (mech->kind));
		return SPF_MATCH_PERMERROR;
	case SPF_EXPAND_OK:
		break;
	}
	if (!spf_domain_is_valid (target)) {
		spf_trace (ev, "%s:%s: not a valid domain name", spf_mech_kind_to_string (mech->kind), target);
		if (mech->kind == SPF_MECH_INCLUDE) {
			spf_set_reason (ev, "include:%s is not a valid domain name", target);
			return SPF_MATCH_PERMERROR;
		}
		return SPF_MATCH_NO;
	}
	switch (mech->kind) {
	case SPF_MECH_A:
		return spf_match_addresses (ev, target, mech, TRUE);
	case SPF_MECH_MX:
		return spf_match_mx (ev, target, mech);
	case SPF_MECH_PTR:
		return spf_match_ptr (ev, target);
	case SPF_MECH_EXISTS:
		return spf_match_exists (ev, target);
	case SPF_MECH_INCLUDE:
		return spf_match_include (ev, target);
	default:
		g_assert_not_reached ();
	}
}

static SpfResult
spf_qualifier_result (SpfQualifier q)
{
	switch (q) {
	case SPF_QUALIFIER_FAIL:
		return SPF_RESULT_FAIL;
	case SPF_QUALIFIER_SOFTFAIL:
		return SPF_RESULT_SOFTFAIL;
	case SPF_QUALIFIER_NEUTRAL:
		return SPF_RESULT_NEUTRAL;
	case SPF_QUALIFIER_PASS:
	default:
		return SPF_RESULT_PASS;
	}
}

/* Counts a term that makes DNS queries; FALSE past the limit. */
static gboolean
spf_count_dns_term (SpfEval *ev, const char *what)
{
	ev->n_dns_terms++;
	if (ev->n_dns_terms > SPF_MAX_DNS_TERMS) {
		spf_set_reason (ev, "more than %u DNS-querying terms (at %s)", SPF_MAX_DNS_TERMS, what);
		return FALSE;
	}
	return TRUE;
}

/* The one SPF record of @domain, or a result: none, permerror, temperror, suspend. */
static SpfResult
spf_fetch_record (SpfEval *ev, const char *domain, SpfRecord **out)
{
	const SpfCacheEntry *entry;
	const char *text = NULL;
	gsize text_len = 0;
	guint n = 0;
	g_autoptr (GError) error = NULL;

	*out = NULL;
	if (!spf_lookup (ev, domain, EP_DNS_TYPE_TXT, &entry))
		return SPF_SUSPEND;
	if (spf_entry_is_temp (entry)) {
		spf_set_reason (ev, "DNS error for %s TXT: %s", domain, entry->error->message);
		return SPF_RESULT_TEMPERROR;
	}
	if (entry->error == NULL) {
		for (guint i = 0; i < entry->answer->records->len; i++) {
			gsize len = 0;
			const char *rec = g_bytes_get_data (g_ptr_array_index (entry->answer->records, i), &len);
			if (rec != NULL && spf_record_is_spf (rec, len)) {
				text = rec;
				text_len = len;
				n++;
			}
		}
	}
	if (n == 0) {
		spf_set_reason (ev, "%s has no SPF record", domain);
		return SPF_RESULT_NONE;
	}
	if (n > 1) {
		spf_set_reason (ev, "%s has %u SPF records", domain, n);
		return SPF_RESULT_PERMERROR;
	}
	spf_trace (ev, "%s: \"%.*s\"", domain, (int)MIN (text_len, 1024), text);
	*out = spf_record_parse (text, text_len, &error);
	if (*out == NULL) {
		spf_set_reason (ev, "the SPF record of %s is malformed: %s", domain, error->message);
		return SPF_RESULT_PERMERROR;
	}
	return SPF_RESULT_NONE;
}

static SpfResult
spf_check_host (SpfEval *ev, const char *domain, gboolean want_exp)
{
	g_autoptr (SpfRecord) record = NULL;
	g_autofree char *target = NULL;
	SpfResult r;

	spf_trace (ev, "check_host %s", domain);
	if (!spf_domain_is_valid (domain)) {
		spf_set_reason (ev, "'%s' is not a domain SPF can check", domain);
		return SPF_RESULT_NONE;
	}
	r = spf_fetch_record (ev, domain, &record);
	if (record == NULL)
		return r;

	for (guint i = 0; i < record->mechanisms->len; i++) {
		const SpfMechanism *mech = g_ptr_array_index (record->mechanisms, i);
		SpfMatch m;

		if (spf_mech_kind_does_dns (mech->kind) &&
		    !spf_count_dns_term (ev, spf_mech_kind_to_string (mech->kind)))
			return SPF_RESULT_PERMERROR;
		m = spf_match (ev, domain, mech);
		switch (m) {
		case SPF_MATCH_SUSPEND:
			return SPF_SUSPEND;
		case SPF_MATCH_TEMPERROR:
			spf_set_reason (ev, "temporary DNS error at %s", spf_mech_kind_to_string (mech->kind));
			return SPF_RESULT_TEMPERROR;
		case SPF_MATCH_PERMERROR:
			spf_set_reason (ev, "error at %s", spf_mech_kind_to_string (mech->kind));
			return SPF_RESULT_PERMERROR;
		case SPF_MATCH_NO:
			spf_trace (ev, "%c%s%s%s: no match", mech->qualifier, spf_mech_kind_to_string (mech->kind),
				   mech->domain_spec != NULL ? ":" : "",
				   mech->domain_spec != NULL ? mech->domain_spec : "");
			continue;
		case SPF_MATCH_YES:
			break;
		}
		r = spf_qualifier_result (mech->qualifier);
		spf_trace (ev, "%c%s%s%s: match: %s", mech->qualifier, spf_mech_kind_to_string (mech->kind),
			   mech->domain_spec != NULL ? ":" : "", mech->domain_spec != NULL ? mech->domain_spec : "",
			   spf_result_to_string (r));
		if (ev->depth == 0)
			spf_set_reason (ev, "%s matched %c%s in the record of %s", spf_result_to_string (r),
					mech->qualifier, spf_mech_kind_to_string (mech->kind), domain);
		if (r == SPF_RESULT_FAIL && want_exp && record->exp != NULL && !spf_explain (ev, record, domain))
			return SPF_SUSPEND;
		return r;
	}

	if (record->redirect != NULL && !record->has_all) {
		if (!spf_count_dns_term (ev, "redirect"))
			return SPF_RESULT_PERMERROR;
		switch (spf_target (ev, record->redirect, domain, &target)) {
		case SPF_EXPAND_SUSPEND:
			return SPF_SUSPEND;
		case SPF_EXPAND_ERROR:
			spf_set_reason (ev, "redirect: macro expansion failed");
			return SPF_RESULT_PERMERROR;
		case SPF_EXPAND_OK:
			break;
		}
		spf_trace (ev, "redirect=%s", target);
		r = spf_check_host (ev, target, want_exp);
		if (r == SPF_RESULT_NONE) {
			spf_set_reason (ev, "redirect=%s has no SPF record", target);
			return SPF_RESULT_PERMERROR;
		}
		return r;
	}
	if (ev->depth == 0)
		spf_set_reason (ev, "no mechanism matched in the record of %s", domain);
	return SPF_RESULT_NEUTRAL;
}

/* ---- the asynchronous driver --------------------------------------------- */

typedef struct {
	SpfDns *dns; /* borrowed: the caller keeps it alive until the end */
	SpfEval *ev;
	char *domain; /* (nullable) */
	char *session_id;
	GCancellable *cancel; /* for the lookups: cancelled at the end and by the caller's */
	GCancellable *caller;
	gulong caller_handler;
	GSource *timeout;
	guint n_queries;
	gboolean done;
} SpfRun;

static void
spf_run_free (SpfRun *run)
{
	if (run->caller_handler != 0)
		g_cancellable_disconnect (run->caller, run->caller_handler);
	g_clear_object (&run->caller);
	if (run->timeout != NULL) {
		g_source_destroy (run->timeout);
		g_source_unref (run->timeout);
	}
	g_clear_object (&run->cancel);
	g_clear_pointer (&run->ev, spf_eval_free);
	g_free (run->domain);
	g_free (run->session_id);
	g_free (run);
}

static void
spf_run_finish (GTask *task, SpfResult result, const char *reason)
{
	SpfRun *run = g_task_get_task_data (task);
	SpfOutcome *outcome;

	if (run->done)
		return;
	run->done = TRUE;
	if (run->timeout != NULL) {
		g_source_destroy (run->timeout);
		g_clear_pointer (&run->timeout, g_source_unref);
	}
	outcome = g_new0 (SpfOutcome, 1);
	outcome->result = result;
	outcome->domain = g_strdup (run->domain);
	outcome->sender = g_strdup (run->ev->sender);
	outcome->n_queries = run->n_queries;
	outcome->trace = g_steal_pointer (&run->ev->trace);
	if (outcome->trace == NULL)
		outcome->trace = g_ptr_array_new_with_free_func (g_free);
	if (result == SPF_RESULT_FAIL)
		outcome->explanation = g_steal_pointer (&run->ev->explanation);
	outcome->reason = g_strdup (reason != NULL ? reason : run->ev->reason);
	if (outcome->reason == NULL)
		outcome->reason = g_strdup (spf_result_to_string (result));
	ep_log_debug ("spf", run->session_id, "%s: %s (%s) after %u DNS queries", outcome->sender,
		      spf_result_to_string (result), outcome->reason, run->n_queries);
	g_cancellable_cancel (run->cancel);
	g_task_return_pointer (task, outcome, (GDestroyNotify)spf_outcome_free);
}

static void spf_run_step (GTask *task);

static void
spf_run_on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	SpfRun *run = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	SpfDnsAnswer *answer;
	SpfCacheEntry *entry;

	(void)source;
	answer = run->dns->klass->lookup_finish (run->dns, result, &error);
	if (run->done)
		goto out;
	if (answer == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		run->done = TRUE;
		g_task_return_error (task, g_steal_pointer (&error));
		goto out;
	}
	ep_log_debug ("spf", run->session_id, "DNS %s %s: %s", run->ev->need_name, spf_type_name (run->ev->need_type),
		      answer != NULL ? (answer->records->len > 0 ? "answer"
					: answer->nxdomain	 ? "NXDOMAIN"
								 : "no records")
				     : error->message);
	entry = g_new0 (SpfCacheEntry, 1);
	entry->answer = g_steal_pointer (&answer);
	entry->error = g_steal_pointer (&error);
	g_hash_table_replace (run->ev->cache, spf_cache_key (run->ev->need_name, run->ev->need_type), entry);
	spf_run_step (task);
out:
	spf_dns_answer_free (answer);
}

static void
spf_run_step (GTask *task)
{
	SpfRun *run = g_task_get_task_data (task);
	SpfResult r;

	spf_eval_reset (run->ev);
	r = spf_check_host (run->ev, run->domain, TRUE);
	if (r != SPF_SUSPEND) {
		spf_run_finish (task, r, NULL);
		return;
	}
	if (run->n_queries >= SPF_MAX_LOOKUPS) {
		spf_run_finish (task, SPF_RESULT_PERMERROR, "too many DNS queries");
		return;
	}
	run->n_queries++;
	run->dns->klass->lookup_async (run->dns, run->ev->need_name, run->ev->need_type, run->cancel, spf_run_on_answer,
				       g_object_ref (task));
}

static gboolean
spf_run_on_timeout (gpointer user_data)
{
	GTask *task = user_data;
	SpfRun *run = g_task_get_task_data (task);

	g_clear_pointer (&run->timeout, g_source_unref);
	spf_run_finish (task, SPF_RESULT_TEMPERROR, "SPF evaluation timed out");
	return G_SOURCE_REMOVE;
}

static gboolean
spf_run_cancel_lookups (gpointer user_data)
{
	g_cancellable_cancel (user_data);
	return G_SOURCE_REMOVE;
}

/* Not synchronously: what the cancellation ends would disconnect this
 * handler from within the emission, which GCancellable does not allow. */
static void
spf_run_on_caller_cancelled (GCancellable *caller, gpointer user_data)
{
	g_autoptr (GSource) idle = g_idle_source_new ();

	(void)caller;
	g_source_set_callback (idle, spf_run_cancel_lookups, g_object_ref (user_data), g_object_unref);
	g_source_attach (idle, g_main_context_get_thread_default ());
}

static gboolean
spf_is_ipv4_mapped (GInetAddress *ip)
{
	static const guint8 prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV6 &&
	       memcmp (g_inet_address_to_bytes (ip), prefix, sizeof prefix) == 0;
}

void
spf_check_async (SpfDns *dns, const SpfQuery *query, guint timeout_ms, GCancellable *cancellable,
		 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
	SpfRun *run = g_new0 (SpfRun, 1);
	SpfEval *ev = g_new0 (SpfEval, 1);
	const char *at;

	g_task_set_source_tag (task, spf_check_async);
	g_task_set_task_data (task, run, (GDestroyNotify)spf_run_free);
	run->dns = dns;
	run->ev = ev;
	run->session_id = g_strdup (query->session_id);
	run->cancel = g_cancellable_new ();

	/* an IPv4-mapped IPv6 client is an IPv4 client */
	if (spf_is_ipv4_mapped (query->ip))
		ev->ip = g_inet_address_new_from_bytes (g_inet_address_to_bytes (query->ip) + 12, G_SOCKET_FAMILY_IPV4);
	else
		ev->ip = g_object_ref (query->ip);
	ev->helo = g_strdup (query->helo);
	ev->receiver = g_strdup (query->receiver);
	ev->timestamp = query->timestamp != 0 ? query->timestamp : g_get_real_time () / G_USEC_PER_SEC;
	ev->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)spf_cache_entry_free);

	/* the identity (RFC 7208 §2.3, §2.4, §4.3): MAIL FROM, or
	 * postmaster@<HELO> for the null sender */
	if (query->mail_from != NULL && query->mail_from[0] != '\0') {
		at = strrchr (query->mail_from, '@');
		if (at != NULL) {
			ev->local_part = g_strndup (query->mail_from, (gsize)(at - query->mail_from));
			ev->sender_domain = g_strdup (at + 1);
		} else {
			ev->sender_domain = g_strdup (query->mail_from);
		}
	} else {
		ev->sender_domain = g_strdup (query->helo != NULL ? query->helo : "");
	}
	if (ev->local_part == NULL || ev->local_part[0] == '\0') {
		g_free (ev->local_part);
		ev->local_part = g_strdup ("postmaster");
	}
	{
		gsize n = strlen (ev->sender_domain);
		if (n > 0 && ev->sender_domain[n - 1] == '.')
			ev->sender_domain[n - 1] = '\0';
	}
	ev->sender = g_strdup_printf ("%s@%s", ev->local_part, ev->sender_domain);
	run->domain = g_strdup (ev->sender_domain);

	if (cancellable != NULL) {
		run->caller = g_object_ref (cancellable);
		run->caller_handler = g_cancellable_connect (cancellable, G_CALLBACK (spf_run_on_caller_cancelled),
							     g_object_ref (run->cancel), g_object_unref);
	}
	if (timeout_ms > 0) {
		run->timeout = g_timeout_source_new (timeout_ms);
		g_source_set_callback (run->timeout, spf_run_on_timeout, g_object_ref (task), g_object_unref);
		g_source_attach (run->timeout, g_main_context_get_thread_default ());
	}
	{
		g_autofree char *ip = g_inet_address_to_string (ev->ip);
		ep_log_debug ("spf", run->session_id, "checking %s for client %s", ev->sender, ip);
	}
	spf_run_step (task);
}

SpfOutcome *
spf_check_finish (GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer (G_TASK (result), error);
}
