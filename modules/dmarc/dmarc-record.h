/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * DMARC policy records (RFC 7489 §6.3, §6.4): the TXT record a Domain
 * Owner publishes at _dmarc.<domain>.  Parsing is a pure function over a
 * buffer (the character-strings of one TXT record, concatenated).
 *
 * What the parser accepts:
 *  - a tag list in the syntax of RFC 6376 §3.2 (tag names are matched
 *    without case; a tag given twice makes the record invalid; empty specs
 *    between semicolons are tolerated, as published records often have
 *    them);
 *  - v=DMARC1 as the first tag (DMARC1 in upper case, as the ABNF says);
 *  - p= is required: none, quarantine or reject (without case);
 *  - sp=, pct= (0-100), adkim=/aspf= (r or s), ri= (32-bit seconds),
 *    fo= (colon-separated 0, 1, d, s), rf= (colon-separated format names),
 *    rua=/ruf= (comma-separated DMARC URIs, each "scheme:rest" with an
 *    optional "!size[kmgt]" limit; a malformed URI is dropped, the rest
 *    are kept);
 *  - any other tag is ignored (its value must still be tag-value syntax).
 *
 * A malformed tag list, a missing or misplaced v=, or a malformed value
 * of a known tag other than p= and sp= make the record invalid: no policy.
 * A missing or invalid p=, or an invalid sp=, leave the record valid with
 * p=none when rua= holds at least one valid URI (RFC 7489 §6.6.3, step
 * 6), and make it invalid otherwise.
 */

typedef enum {
	DMARC_POLICY_UNSET = 0, /* sp= absent */
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
} DmarcPolicy;

typedef enum {
	DMARC_ALIGN_RELAXED = 0,
	DMARC_ALIGN_STRICT,
} DmarcAlign;

/* fo= options */
typedef enum {
	DMARC_FO_0 = 1 << 0, /* report when nothing passed aligned (the default) */
	DMARC_FO_1 = 1 << 1, /* report when anything failed */
	DMARC_FO_D = 1 << 2, /* report failed DKIM signatures */
	DMARC_FO_S = 1 << 3, /* report failed SPF */
} DmarcFailureOptions;

typedef struct {
	char *uri;         /* as published, without the "!size" suffix */
	guint64 max_size;  /* octets; 0 for no limit */
} DmarcUri;

#define DMARC_RI_DEFAULT 86400

typedef struct {
	DmarcPolicy p;
	DmarcPolicy sp;       /* DMARC_POLICY_UNSET when absent: p applies to subdomains */
	guint pct;            /* 0-100, default 100 */
	DmarcAlign adkim;
	DmarcAlign aspf;
	guint32 ri;           /* seconds, default 86400 */
	guint fo;             /* DmarcFailureOptions, default DMARC_FO_0 */
	GPtrArray *rf;        /* of char*, lower case; default { "afrf" } */
	GPtrArray *rua;       /* of DmarcUri*, never NULL */
	GPtrArray *ruf;       /* of DmarcUri*, never NULL */
	gboolean p_fallback;  /* p= (or sp=) was missing or invalid: p=none for the sake of rua= */
} DmarcRecord;

/**
 * dmarc_record_is_dmarc:
 *
 * Whether a TXT record starts with the v=DMARC1 tag (RFC 7489 §6.6.3 step
 * 3: other TXT records at _dmarc.<domain> are discarded before counting).
 */
gboolean dmarc_record_is_dmarc (const char *text, gsize len);

/**
 * dmarc_record_parse:
 *
 * Returns: (transfer full): the record, or %NULL with %EP_ERROR_INVALID
 *   and a message that says what is wrong (for the log)
 */
DmarcRecord *dmarc_record_parse (const char *text, gsize len, GError **error);
void         dmarc_record_free (DmarcRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DmarcRecord, dmarc_record_free)

/* "none", "quarantine", "reject"; NULL for DMARC_POLICY_UNSET */
const char *dmarc_policy_to_string (DmarcPolicy policy);
/* "r" or "s" */
const char *dmarc_align_to_string (DmarcAlign align);

/**
 * dmarc_uri_is_valid:
 *
 * A DMARC URI without its size suffix: an RFC 3986 scheme, a colon and a
 * non-empty rest of printable ASCII without white space, commas or "!";
 * a mailto: URI names an address with an "@".
 */
gboolean dmarc_uri_is_valid (const char *uri, gsize len);

G_END_DECLS
