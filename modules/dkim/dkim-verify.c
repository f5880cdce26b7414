/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "dkim-sign.h"
#include "dkim-verify.h"
#include "ep-error.h"

/* values copied into Authentication-Results are cut here */
#define DKIM_VERIFY_MAX_PROPERTY 253

const char *
dkim_result_to_string (DkimResult result)
{
	switch (result) {
	case DKIM_RESULT_NONE:
		return "none";
	case DKIM_RESULT_PASS:
		return "pass";
	case DKIM_RESULT_FAIL:
		return "fail";
	case DKIM_RESULT_NEUTRAL:
		return "neutral";
	case DKIM_RESULT_POLICY:
		return "policy";
	case DKIM_RESULT_TEMPERROR:
		return "temperror";
	case DKIM_RESULT_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

void
dkim_verify_sig_free (DkimVerifySig *vs)
{
	if (vs == NULL)
		return;
	dkim_signature_free (vs->sig);
	g_free (vs->domain);
	g_free (vs->identity);
	g_free (vs->selector);
	g_free (vs->algorithm);
	g_free (vs->b_prefix);
	g_free (vs->key_name);
	g_clear_pointer (&vs->records, g_ptr_array_unref);
	g_free (vs->reason);
	g_free (vs);
}

void
dkim_verify_sig_set_result (DkimVerifySig *vs, DkimResult result, const char *reason)
{
	vs->done = TRUE;
	vs->result = result;
	g_free (vs->reason);
	vs->reason = g_strdup (reason);
	g_clear_pointer (&vs->key_name, g_free);
}

/* a tag's value for Authentication-Results: white space removed, cut */
static char *
dkim_verify_property (const char *text, GArray *tags, const char *name, gsize max)
{
	const DkimTag *t = dkim_tag_list_find (text, tags, name);
	char *value;

	if (t == NULL)
		return NULL;
	value = dkim_tag_value_compact (text, t);
	if (strlen (value) > max)
		value[max] = '\0';
	if (*value == '\0')
		g_clear_pointer (&value, g_free);
	return value;
}

static DkimVerifySig *
dkim_verify_sig_new (const char *data, const DkimHeaderField *f, guint index, gint64 now)
{
	DkimVerifySig *vs = g_new0 (DkimVerifySig, 1);
	const char *value = data + f->value_offset;
	g_autoptr (GArray) tags = NULL;
	g_autoptr (GError) error = NULL;
	DkimSignature *sig;

	vs->field_index = index;
	/* what can be said of it even when it cannot be read */
	tags = dkim_tag_list_parse (value, f->value_length, NULL);
	if (tags != NULL) {
		char *d = dkim_verify_property (value, tags, "d", DKIM_VERIFY_MAX_PROPERTY);

		vs->domain = d != NULL ? g_ascii_strdown (d, -1) : NULL;
		g_free (d);
		vs->identity = dkim_verify_property (value, tags, "i", DKIM_VERIFY_MAX_PROPERTY);
		vs->selector = dkim_verify_property (value, tags, "s", DKIM_VERIFY_MAX_PROPERTY);
		vs->algorithm = dkim_verify_property (value, tags, "a", 32);
		vs->b_prefix = dkim_verify_property (value, tags, "b", 8);
	}
	sig = dkim_signature_parse (value, f->value_length, &error);
	if (sig == NULL) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, error->message);
		return vs;
	}
	vs->sig = sig;
	if (sig->algorithm == DKIM_SIG_RSA_SHA1) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_FAIL, "rsa-sha1 is not accepted (RFC 8301)");
		return vs;
	}
	if (sig->expiration >= 0 && sig->expiration < now) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_FAIL, "signature expired (x=)");
		return vs;
	}
	if (sig->timestamp >= 0 && sig->timestamp > now + DKIM_VERIFY_CLOCK_SKEW) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, "signed in the future (t=)");
		return vs;
	}
	vs->key_name = g_strdup_printf ("%s._domainkey.%s", sig->selector, sig->domain);
	return vs;
}

GPtrArray *
dkim_verify_prepare (const char *data, GArray *fields, gint64 now, guint *n_ignored)
{
	GPtrArray *sigs = g_ptr_array_new_with_free_func ((GDestroyNotify) dkim_verify_sig_free);
	guint ignored = 0;

	for (guint i = 0; i < fields->len; i++) {
		const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, i);

		if (!dkim_canon_field_has_name (data, f, DKIM_SIGN_FIELD_NAME))
			continue;
		if (sigs->len >= DKIM_VERIFY_MAX_SIGNATURES) {
			ignored++;
			continue;
		}
		g_ptr_array_add (sigs, dkim_verify_sig_new (data, f, i, now));
	}
	if (n_ignored != NULL)
		*n_ignored = ignored;
	return sigs;
}

/* ---- the checks -------------------------------------------------------------- */

/* body hashes already computed: signatures often share c= and l= */
typedef struct {
	DkimCanon canon;
	gint64 limit;
	guint64 length;
	guint8 digest[32];
} DkimBodyHash;

static const DkimBodyHash *
dkim_verify_body_hash (GArray *cache, DkimCanon canon, gint64 limit, const guint8 *body, gsize len)
{
	DkimBodyHash h = { canon, limit, 0, { 0 } };

	for (guint i = 0; i < cache->len; i++) {
		const DkimBodyHash *c = &g_array_index (cache, DkimBodyHash, i);
		if (c->canon == canon && c->limit == limit)
			return c;
	}
	h.length = dkim_canon_body_digest (canon, body, len, limit, h.digest);
	g_array_append_val (cache, h);
	return &g_array_index (cache, DkimBodyHash, cache->len - 1);
}

/* the first record that reads as a key record */
static DkimKeyRecord *
dkim_verify_pick_record (GPtrArray *records, char **why)
{
	g_autoptr (GError) first = NULL;

	for (guint i = 0; records != NULL && i < records->len; i++) {
		const char *text = g_ptr_array_index (records, i);
		g_autoptr (GError) error = NULL;
		DkimKeyRecord *record = dkim_key_record_parse (text, strlen (text), &error);

		if (record != NULL)
			return record;
		if (first == NULL)
			first = g_steal_pointer (&error);
	}
	*why = g_strdup (first != NULL ? first->message : "no key");
	return NULL;
}

/* whether the domain of i= is d= itself */
static gboolean
dkim_verify_identity_is_domain (const DkimSignature *sig)
{
	const char *at;

	if (sig->identity == NULL)
		return TRUE;
	at = strrchr (sig->identity, '@');
	return at != NULL && g_ascii_strcasecmp (at + 1, sig->domain) == 0;
}

static void
dkim_verify_one (const char *data, gsize len, GArray *fields, gsize body_offset, DkimVerifySig *vs, GArray *cache)
{
	const DkimSignature *sig = vs->sig;
	const DkimHeaderField *f = &g_array_index (fields, DkimHeaderField, vs->field_index);
	g_autoptr (DkimKeyRecord) record = NULL;
	g_autoptr (GString) input = NULL;
	g_autoptr (GString) notes = g_string_new (NULL);
	g_autofree char *why = NULL;
	const DkimBodyHash *bh;
	DkimCheck check;

	record = dkim_verify_pick_record (vs->records, &why);
	if (record == NULL) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, why);
		return;
	}
	vs->testing = record->testing;
	if (dkim_key_record_is_revoked (record)) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_FAIL, "key revoked");
		return;
	}
	if (!record->sha256) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, "key does not allow sha256 (h=)");
		return;
	}
	if (!record->email) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR, "key is not for email (s=)");
		return;
	}
	if (record->strict && !dkim_verify_identity_is_domain (sig)) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_PERMERROR,
					    "key forbids subdomains (t=s) but i= is in a subdomain of d=");
		return;
	}

	bh = dkim_verify_body_hash (cache, sig->body_canon, sig->body_length, (const guint8 *) data + body_offset,
				    len - body_offset);
	if (sig->body_length >= 0 && (guint64) sig->body_length > bh->length) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_FAIL, "l= is longer than the body");
		return;
	}
	if (memcmp (bh->digest, g_bytes_get_data (sig->body_hash, NULL), sizeof (bh->digest)) != 0) {
		dkim_verify_sig_set_result (vs, DKIM_RESULT_FAIL, "body hash does not match (bh=)");
		return;
	}

	input = dkim_canon_hash_input (sig->header_canon, data, fields, sig->headers, vs->field_index,
				       data + f->offset, f->value_offset - f->offset, sig->value_without_b,
				       sig->value_without_b_len);
	check = dkim_key_record_verify (record, sig->algorithm, (const guint8 *) input->str, input->len,
					sig->signature, &vs->key_bits, &why);
	if (check != DKIM_CHECK_OK) {
		dkim_verify_sig_set_result (vs, check == DKIM_CHECK_BAD ? DKIM_RESULT_FAIL : DKIM_RESULT_PERMERROR,
					    why);
		return;
	}

	/* it passes; what a reader should still know */
	if (sig->body_length >= 0 && (guint64) sig->body_length < bh->length)
		g_string_append_printf (notes, "only the first %" G_GINT64_FORMAT " of %" G_GUINT64_FORMAT
				       " body octets are signed (l=)",
				       sig->body_length, bh->length);
	if (record->testing)
		g_string_append_printf (notes, "%skey in testing mode (t=y)", notes->len > 0 ? "; " : "");
	dkim_verify_sig_set_result (vs, DKIM_RESULT_PASS, notes->len > 0 ? notes->str : NULL);
}

void
dkim_verify_run (const char *data, gsize len, GArray *fields, gsize body_offset, GPtrArray *sigs)
{
	g_autoptr (GArray) cache = g_array_new (FALSE, TRUE, sizeof (DkimBodyHash));

	g_return_if_fail (body_offset <= len);

	for (guint i = 0; i < sigs->len; i++) {
		DkimVerifySig *vs = g_ptr_array_index (sigs, i);

		if (!vs->done)
			dkim_verify_one (data, len, fields, body_offset, vs, cache);
	}
}
