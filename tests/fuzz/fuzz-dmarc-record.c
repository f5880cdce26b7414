/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DMARC record parser on arbitrary bytes.  Checked properties: a
 * record is accepted only when it starts with v=DMARC1; a refusal always
 * says why; an accepted record has a policy, pct= within 0-100, only
 * valid report URIs, and falls back to p=none only with a URI to report
 * to; white space before the record changes nothing.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dmarc-record.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_uris (GPtrArray *uris)
{
	g_assert_nonnull (uris);
	for (guint i = 0; i < uris->len; i++) {
		const DmarcUri *u = g_ptr_array_index (uris, i);
		g_assert_true (dmarc_uri_is_valid (u->uri, strlen (u->uri)));
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	g_autoptr (GError) error = NULL;
	g_autoptr (GError) error2 = NULL;
	g_autoptr (DmarcRecord) record = dmarc_record_parse (text, size, &error);
	g_autofree char *padded = g_malloc (size + 2);
	g_autoptr (DmarcRecord) again = NULL;

	if (record == NULL) {
		g_assert_nonnull (error);
		g_assert_true (error->message != NULL && error->message[0] != '\0');
	} else {
		g_assert_null (error);
		g_assert_true (dmarc_record_is_dmarc (text, size));
		g_assert_true (record->p == DMARC_POLICY_NONE || record->p == DMARC_POLICY_QUARANTINE ||
			       record->p == DMARC_POLICY_REJECT);
		g_assert_nonnull (dmarc_policy_to_string (record->p));
		g_assert_true (record->sp <= DMARC_POLICY_REJECT);
		g_assert_cmpuint (record->pct, <=, 100);
		g_assert_true (record->adkim == DMARC_ALIGN_RELAXED || record->adkim == DMARC_ALIGN_STRICT);
		g_assert_true (record->aspf == DMARC_ALIGN_RELAXED || record->aspf == DMARC_ALIGN_STRICT);
		g_assert_cmpuint (record->fo & ~(guint) (DMARC_FO_0 | DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S), ==, 0);
		g_assert_nonnull (record->rf);
		fuzz_check_uris (record->rua);
		fuzz_check_uris (record->ruf);
		if (record->p_fallback) {
			g_assert_cmpuint (record->rua->len, >, 0);
			g_assert_cmpint (record->p, ==, DMARC_POLICY_NONE);
			g_assert_cmpint (record->sp, ==, DMARC_POLICY_UNSET);
		}
	}
	/* leading white space is skipped */
	padded[0] = ' ';
	padded[1] = '\t';
	if (size > 0)
		memcpy (padded + 2, data, size);
	again = dmarc_record_parse (padded, size + 2, &error2);
	g_assert_true ((again == NULL) == (record == NULL));
	if (again != NULL) {
		g_assert_cmpint (again->p, ==, record->p);
		g_assert_cmpint (again->sp, ==, record->sp);
		g_assert_cmpuint (again->pct, ==, record->pct);
		g_assert_cmpuint (again->rua->len, ==, record->rua->len);
	}
	return 0;
}
