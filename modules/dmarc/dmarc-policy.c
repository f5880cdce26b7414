/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DMARC decision once the record is known: see dmarc-policy.h.
 */
#include "config.h"

#include <libpsl.h>
#include <string.h>

#include "dmarc-policy.h"
#include "ep-error.h"
#include "ep-mime.h"

struct _DmarcPsl {
	psl_ctx_t *ctx;
};

DmarcPsl *
dmarc_psl_new (const char *path, GError **error)
{
	psl_ctx_t *ctx = path != NULL ? psl_load_file (path) : psl_latest (NULL);
	DmarcPsl *psl;

	if (ctx == NULL && path == NULL)
		ctx = (psl_ctx_t *) psl_builtin ();
	if (ctx == NULL) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     path != NULL ? "cannot load the Public Suffix List %s" : "no Public Suffix List%s",
			     path != NULL ? path : "");
		return NULL;
	}
	psl = g_new0 (DmarcPsl, 1);
	psl->ctx = ctx;
	return psl;
}

void
dmarc_psl_free (DmarcPsl *psl)
{
	if (psl == NULL)
		return;
	/* psl_free() leaves the built-in list alone */
	psl_free (psl->ctx);
	g_free (psl);
}

char *
dmarc_domain_normalize (const char *domain)
{
	gsize len = strlen (domain);

	while (len > 0 && domain[len - 1] == '.')
		len--;
	return g_ascii_strdown (domain, (gssize) len);
}

char *
dmarc_org_domain (const DmarcPsl *psl, const char *domain)
{
	g_autofree char *norm = dmarc_domain_normalize (domain);
	const char *registrable = psl_registrable_domain (psl->ctx, norm);

	/* NULL: the domain is a public suffix itself (or empty) */
	return g_strdup (registrable != NULL ? registrable : norm);
}

gboolean
dmarc_domain_is_aligned (const DmarcPsl *psl, DmarcAlign mode, const char *from_domain, const char *other_domain)
{
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;

	if (from_domain == NULL || other_domain == NULL)
		return FALSE;
	if (mode == DMARC_ALIGN_STRICT) {
		a = dmarc_domain_normalize (from_domain);
		b = dmarc_domain_normalize (other_domain);
	} else {
		a = dmarc_org_domain (psl, from_domain);
		b = dmarc_org_domain (psl, other_domain);
	}
	return a[0] != '\0' && strcmp (a, b) == 0;
}

/* ---- the author domain ------------------------------------------------------ */

gboolean
dmarc_domain_is_valid (const char *domain)
{
	gsize len = strlen (domain);
	gsize label = 0;

	if (len == 0 || len > 253)
		return FALSE;
	for (gsize i = 0; i <= len; i++) {
		char c = domain[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || domain[i - 1] == '-' || domain[i - label] == '-')
				return FALSE;
			label = 0;
			continue;
		}
		if (!g_ascii_isalnum (c) && c != '-' && c != '_')
			return FALSE;
		label++;
	}
	return TRUE;
}

const char *
dmarc_from_status_to_string (DmarcFromStatus status)
{
	switch (status) {
	case DMARC_FROM_OK:
		return "ok";
	case DMARC_FROM_MISSING:
		return "no author address (no From: field, or no address in it)";
	case DMARC_FROM_MULTIPLE_FIELDS:
		return "more than one From: field";
	case DMARC_FROM_MULTIPLE_DOMAINS:
		return "From: has addresses in more than one domain";
	case DMARC_FROM_BAD_DOMAIN:
		return "From: has an address whose domain is not a domain name";
	default:
		return "?";
	}
}

DmarcFromStatus
dmarc_from_domain (const char *data, gsize len, char **domain_out)
{
	g_autoptr (GPtrArray) fields = ep_mime_headers_get_all (data, len, "From");
	g_autoptr (GPtrArray) addresses = NULL;
	g_autofree char *domain = NULL;
	const char *value;
	guint n_addresses = 0;
	gboolean bad = FALSE;
	gboolean several = FALSE;

	*domain_out = NULL;
	if (fields->len == 0)
		return DMARC_FROM_MISSING;
	if (fields->len > 1)
		return DMARC_FROM_MULTIPLE_FIELDS;
	value = g_ptr_array_index (fields, 0);
	addresses = ep_mime_address_list_parse (value, strlen (value));
	for (guint i = 0; addresses != NULL && i < addresses->len; i++) {
		EpMimeAddress *a = g_ptr_array_index (addresses, i);
		g_autofree char *ascii = NULL;
		g_autofree char *lower = NULL;

		if (a->host == NULL)
			continue; /* a group's start or end */
		n_addresses++;
		ascii = g_utf8_validate (a->host, -1, NULL) ? g_hostname_to_ascii (a->host) : NULL;
		lower = ascii != NULL ? dmarc_domain_normalize (ascii) : NULL;
		if (lower == NULL || !dmarc_domain_is_valid (lower))
			bad = TRUE;
		else if (domain == NULL)
			domain = g_steal_pointer (&lower);
		else if (strcmp (domain, lower) != 0)
			several = TRUE;
	}
	/* an address that is not in a domain beside others counts as
	 * another domain: it must not hide the others from the check */
	if (several || (bad && n_addresses > 1)) {
		*domain_out = g_steal_pointer (&domain);
		return DMARC_FROM_MULTIPLE_DOMAINS;
	}
	if (bad)
		return DMARC_FROM_BAD_DOMAIN;
	if (domain == NULL)
		return DMARC_FROM_MISSING;
	*domain_out = g_steal_pointer (&domain);
	return DMARC_FROM_OK;
}

/* ---- what SPF and DKIM found ---------------------------------------------- */

char *
dmarc_identity_domain (const char *identity)
{
	const char *at;
	g_autofree char *domain = NULL;

	if (identity == NULL)
		return NULL;
	at = strrchr (identity, '@');
	domain = dmarc_domain_normalize (at != NULL ? at + 1 : identity);
	return domain[0] != '\0' ? g_steal_pointer (&domain) : NULL;
}

static DmarcAuthEntry *
dmarc_auth_entry_new (const char *result, const char *domain)
{
	DmarcAuthEntry *entry = g_new0 (DmarcAuthEntry, 1);

	entry->result = g_ascii_strdown (result != NULL ? result : "none", -1);
	entry->domain = domain != NULL ? dmarc_domain_normalize (domain) : NULL;
	return entry;
}

static void
dmarc_auth_entry_free (DmarcAuthEntry *entry)
{
	if (entry == NULL)
		return;
	g_free (entry->result);
	g_free (entry->domain);
	g_free (entry);
}

DmarcAuthInputs *
dmarc_auth_inputs_new (void)
{
	DmarcAuthInputs *inputs = g_new0 (DmarcAuthInputs, 1);

	inputs->dkim = g_ptr_array_new_with_free_func ((GDestroyNotify) dmarc_auth_entry_free);
	return inputs;
}

void
dmarc_auth_inputs_free (DmarcAuthInputs *inputs)
{
	if (inputs == NULL)
		return;
	dmarc_auth_entry_free (inputs->spf);
	g_ptr_array_unref (inputs->dkim);
	g_free (inputs);
}

void
dmarc_auth_inputs_set_spf (DmarcAuthInputs *inputs, const char *result, const char *domain)
{
	dmarc_auth_entry_free (inputs->spf);
	inputs->spf = dmarc_auth_entry_new (result, domain);
}

void
dmarc_auth_inputs_add_dkim (DmarcAuthInputs *inputs, const char *result, const char *domain)
{
	g_ptr_array_add (inputs->dkim, dmarc_auth_entry_new (result, domain));
}

DmarcAuthInputs *
dmarc_auth_inputs_from_results (const EpAuthResults *results)
{
	DmarcAuthInputs *inputs = dmarc_auth_inputs_new ();
	guint n = results != NULL ? ep_auth_results_get_length (results) : 0;

	for (guint i = 0; i < n; i++) {
		const EpAuthResult *r = ep_auth_results_get (results, i);
		const char *method = ep_auth_result_get_method (r);

		if (g_ascii_strcasecmp (method, "spf") == 0 && inputs->spf == NULL) {
			const char *identity = ep_auth_result_get_property (r, "smtp.mailfrom");
			g_autofree char *domain = NULL;

			if (identity == NULL || identity[0] == '\0')
				identity = ep_auth_result_get_property (r, "smtp.helo");
			domain = dmarc_identity_domain (identity);
			dmarc_auth_inputs_set_spf (inputs, ep_auth_result_get_result (r), domain);
		} else if (g_ascii_strcasecmp (method, "dkim") == 0) {
			dmarc_auth_inputs_add_dkim (inputs, ep_auth_result_get_result (r),
						    ep_auth_result_get_property (r, "header.d"));
		}
	}
	return inputs;
}

/* ---- the decision ------------------------------------------------------------ */

const char *
dmarc_result_to_string (DmarcResult result)
{
	switch (result) {
	case DMARC_RESULT_PASS:
		return "pass";
	case DMARC_RESULT_FAIL:
		return "fail";
	case DMARC_RESULT_TEMPERROR:
		return "temperror";
	case DMARC_RESULT_PERMERROR:
		return "permerror";
	case DMARC_RESULT_NONE:
	default:
		return "none";
	}
}

DmarcPolicy
dmarc_select_policy (const DmarcRecord *record, const char *from_domain, const char *record_domain)
{
	g_autofree char *from = dmarc_domain_normalize (from_domain);
	g_autofree char *at = dmarc_domain_normalize (record_domain);

	if (record->sp != DMARC_POLICY_UNSET && strcmp (from, at) != 0)
		return record->sp;
	return record->p;
}

DmarcPolicy
dmarc_apply_pct (DmarcPolicy policy, guint pct, guint sample, gboolean *sampled_out)
{
	gboolean out = sample >= pct && (policy == DMARC_POLICY_REJECT || policy == DMARC_POLICY_QUARANTINE);

	if (sampled_out != NULL)
		*sampled_out = out;
	if (!out)
		return policy;
	return policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

void
dmarc_evaluate (const DmarcPsl *psl, const DmarcRecord *record, const char *from_domain, const char *record_domain,
		const DmarcAuthInputs *inputs, guint sample, DmarcOutcome *outcome)
{
	memset (outcome, 0, sizeof (*outcome));
	if (inputs->spf != NULL && strcmp (inputs->spf->result, "pass") == 0)
		outcome->spf_aligned = dmarc_domain_is_aligned (psl, record->aspf, from_domain, inputs->spf->domain);
	for (guint i = 0; i < inputs->dkim->len && !outcome->dkim_aligned; i++) {
		const DmarcAuthEntry *d = g_ptr_array_index (inputs->dkim, i);
		if (strcmp (d->result, "pass") == 0)
			outcome->dkim_aligned = dmarc_domain_is_aligned (psl, record->adkim, from_domain, d->domain);
	}
	outcome->policy = dmarc_select_policy (record, from_domain, record_domain);
	if (outcome->spf_aligned || outcome->dkim_aligned) {
		outcome->result = DMARC_RESULT_PASS;
		outcome->disposition = DMARC_POLICY_NONE;
		return;
	}
	outcome->result = DMARC_RESULT_FAIL;
	outcome->disposition = dmarc_apply_pct (outcome->policy, record->pct, sample, &outcome->sampled_out);
}
