/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "dmarc-record.h"
#include "ep-auth-results.h"

G_BEGIN_DECLS

/*
 * The DMARC decision once the record is known (RFC 7489 §3.1, §6.6): the
 * author domain of a message, organizational domains from the Public
 * Suffix List, identifier alignment, and the policy to apply.  Everything
 * here is pure: no I/O past loading the list, no randomness (the caller
 * draws the pct= sample).
 */

/* ---- the Public Suffix List ---------------------------------------------- */

typedef struct _DmarcPsl DmarcPsl;

/**
 * dmarc_psl_new:
 * @path: (nullable): a public_suffix_list.dat (or a DAFSA file made with
 *   psl-make-dafsa); %NULL: the newer of libpsl's built-in list and the
 *   distribution's (Debian's publicsuffix package)
 *
 * Returns: (transfer full): the list, or %NULL with %EP_ERROR_CONFIG
 */
DmarcPsl *dmarc_psl_new (const char *path, GError **error);
void      dmarc_psl_free (DmarcPsl *psl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DmarcPsl, dmarc_psl_free)

/**
 * dmarc_org_domain:
 * @domain: a domain in ASCII (A-labels), any case, with or without the
 *   final dot
 *
 * The organizational domain (RFC 7489 §3.2): the public suffix of @domain
 * and one label more; @domain itself when it is a public suffix.
 *
 * Returns: (transfer full): lower case, without the final dot
 */
char *dmarc_org_domain (const DmarcPsl *psl, const char *domain);

/* lower case, without the final dot */
char *dmarc_domain_normalize (const char *domain);

/**
 * dmarc_domain_is_aligned:
 *
 * Strict: the same domain; relaxed: the same organizational domain.
 * Both without case and ignoring a final dot.
 */
gboolean dmarc_domain_is_aligned (const DmarcPsl *psl, DmarcAlign mode, const char *from_domain,
				  const char *other_domain);

/* ---- the author domain ------------------------------------------------------ */

typedef enum {
	DMARC_FROM_OK,
	DMARC_FROM_MISSING,          /* no From: field, or one without any address */
	DMARC_FROM_MULTIPLE_FIELDS,  /* more than one From: field */
	DMARC_FROM_MULTIPLE_DOMAINS, /* one From: field with addresses in several domains */
	DMARC_FROM_BAD_DOMAIN,       /* an address whose domain is not a domain name */
} DmarcFromStatus;

/**
 * dmarc_from_domain:
 * @data: the message (its header is enough)
 * @domain: (out) (transfer full) (nullable): the author domain, lower case,
 *   IDNs as A-labels; with %DMARC_FROM_MULTIPLE_DOMAINS the first of them
 *
 * The RFC5322.From domain (RFC 7489 §6.6.1).
 */
DmarcFromStatus dmarc_from_domain (const char *data, gsize len, char **domain);
const char     *dmarc_from_status_to_string (DmarcFromStatus status);

/* letters, digits, hyphens and underscores in dot-separated labels of 1-63,
 * 253 at most in all */
gboolean dmarc_domain_is_valid (const char *domain);

/* ---- what SPF and DKIM found ---------------------------------------------- */

typedef struct {
	char *result; /* "pass", "fail"…, lower case */
	char *domain; /* (nullable): lower case */
} DmarcAuthEntry;

typedef struct {
	DmarcAuthEntry *spf; /* (nullable): the first "spf" result */
	GPtrArray *dkim;     /* of DmarcAuthEntry*: every "dkim" result, never NULL */
} DmarcAuthInputs;

/**
 * dmarc_auth_inputs_from_results:
 *
 * SPF: the first result of method "spf", its domain from smtp.mailfrom (an
 * address or a domain), or from smtp.helo without smtp.mailfrom.  DKIM:
 * every result of method "dkim", its domain from header.d.
 */
DmarcAuthInputs *dmarc_auth_inputs_from_results (const EpAuthResults *results);
DmarcAuthInputs *dmarc_auth_inputs_new (void);
void             dmarc_auth_inputs_add_dkim (DmarcAuthInputs *inputs, const char *result, const char *domain);
void             dmarc_auth_inputs_set_spf (DmarcAuthInputs *inputs, const char *result, const char *domain);
void             dmarc_auth_inputs_free (DmarcAuthInputs *inputs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DmarcAuthInputs, dmarc_auth_inputs_free)

/* the domain of "local@domain" or of "domain"; NULL when empty */
char *dmarc_identity_domain (const char *identity);

/* ---- the decision ------------------------------------------------------------ */

typedef enum {
	DMARC_RESULT_NONE,
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR,
} DmarcResult;

const char *dmarc_result_to_string (DmarcResult result);

typedef struct {
	DmarcResult result;      /* PASS or FAIL */
	gboolean spf_aligned;    /* an SPF pass aligned with the From domain */
	gboolean dkim_aligned;   /* a DKIM pass aligned with the From domain */
	DmarcPolicy policy;      /* p= or sp=, as published for the From domain */
	DmarcPolicy disposition; /* what the record asks for this message: policy on FAIL after pct=, else none */
	gboolean sampled_out;    /* pct= left this message out: disposition is one step milder */
} DmarcOutcome;

/**
 * dmarc_select_policy:
 * @record_domain: the domain the record was found at: the From domain or
 *   its organizational domain
 *
 * sp= when the record is the organizational domain's and the From domain
 * is another (a subdomain), and sp= is given; p= otherwise.
 */
DmarcPolicy dmarc_select_policy (const DmarcRecord *record, const char *from_domain, const char *record_domain);

/**
 * dmarc_apply_pct:
 * @sample: a number from 0 to 99, drawn at random for each message
 * @sampled_out: (out) (optional): set when pct= left the message out
 *
 * The policy when @sample < @pct; otherwise the next milder one: reject
 * becomes quarantine, quarantine becomes none (RFC 7489 §6.6.4).
 */
DmarcPolicy dmarc_apply_pct (DmarcPolicy policy, guint pct, guint sample, gboolean *sampled_out);

/**
 * dmarc_evaluate:
 *
 * Identifier alignment (RFC 7489 §3.1) of the SPF identity and of every
 * DKIM d= with @from_domain, the DMARC result and the disposition.
 */
void dmarc_evaluate (const DmarcPsl *psl, const DmarcRecord *record, const char *from_domain,
		     const char *record_domain, const DmarcAuthInputs *inputs, guint sample, DmarcOutcome *outcome);

G_END_DECLS
