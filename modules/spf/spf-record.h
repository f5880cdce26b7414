/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * SPF records (RFC 7208 §4.5, §4.6, §5, §6): selection among the TXT
 * records of a domain and parsing of the one selected, pure functions over
 * buffers.  A record that parses is syntactically valid throughout: every
 * domain-spec and modifier value has been checked as a macro-string, so
 * that a syntax error anywhere is a permerror before any mechanism runs.
 */

typedef enum {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
} SpfMechKind;

typedef enum {
	SPF_QUALIFIER_PASS = '+',
	SPF_QUALIFIER_FAIL = '-',
	SPF_QUALIFIER_SOFTFAIL = '~',
	SPF_QUALIFIER_NEUTRAL = '?',
} SpfQualifier;

typedef struct {
	SpfMechKind kind;
	SpfQualifier qualifier;
	char *domain_spec;  /* (nullable): unexpanded; NULL: the current domain */
	guint cidr4;	    /* a, mx, ip4: prefix length, 32 when not given */
	guint cidr6;	    /* a, mx, ip6: prefix length, 128 when not given */
	guint8 network[16]; /* ip4 (first 4 octets), ip6 */
} SpfMechanism;

typedef struct {
	GPtrArray *mechanisms; /* of SpfMechanism, in record order */
	char *redirect;	       /* (nullable): domain-spec of redirect= */
	char *exp;	       /* (nullable): domain-spec of exp= */
	gboolean has_all;      /* an "all" mechanism is there (redirect= is then ignored) */
	guint n_unknown;       /* unknown modifiers, ignored */
} SpfRecord;

void spf_record_free (SpfRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpfRecord, spf_record_free)

/* Whether @text begins with "v=spf1" (any case) followed by a space or its end. */
gboolean spf_record_is_spf (const char *text, gsize len);

/**
 * spf_record_parse:
 *
 * Returns: (transfer full): the record, or %NULL with @error
 *   (EP_ERROR_INVALID, the message says what is wrong) for a record that
 *   is not "v=spf1 ..." or has any syntax error (a permerror)
 */
SpfRecord *spf_record_parse (const char *text, gsize len, GError **error);

const char *spf_mech_kind_to_string (SpfMechKind kind);

/* Whether the mechanism needs DNS (counts against the limit of 10). */
gboolean spf_mech_kind_does_dns (SpfMechKind kind);

/* Parses a dotted-quad IPv4 address (four decimal octets 0-255 without
 * leading zeros) of exactly @len characters into @out. */
gboolean spf_parse_ip4 (const char *s, gsize len, guint8 out[4]);

G_END_DECLS
