/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The resolver's rdata parser on arbitrary bytes: the first octet chooses
 * the record type (A, NS, CNAME, PTR, MX, TXT, AAAA, TLSA, or one not
 * handled), the rest is the rdata.  A parse either fails with
 * EP_ERROR_INVALID or gives a record whose text is printable ASCII.  The
 * same bytes, as a string, go through the lookup-name check, which must be
 * idempotent.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ep-error.h"
#include "ep-resolver-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const guint16 fuzz_types[] = {
	EP_DNS_TYPE_A,	 EP_DNS_TYPE_NS,   EP_DNS_TYPE_CNAME, EP_DNS_TYPE_PTR, EP_DNS_TYPE_MX,
	EP_DNS_TYPE_TXT, EP_DNS_TYPE_AAAA, EP_DNS_TYPE_TLSA,  6 /* SOA: not handled */,
};

/* printable ASCII, lower case, no final dot (an escaped one, "\.", may
 * end the last label) */
static void
fuzz_check_name (const char *text)
{
	gsize len = strlen (text);

	for (const char *p = text; *p != '\0'; p++)
		g_assert (*p > ' ' && *p < 0x7f && !g_ascii_isupper (*p));
	g_assert (len == 0 || text[len - 1] != '.' || (len >= 2 && text[len - 2] == '\\'));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	guint16 rrtype;
	gpointer record = NULL;
	g_autoptr(GError) error = NULL;

	if (size == 0)
		return 0;
	rrtype = fuzz_types[data[0] % G_N_ELEMENTS (fuzz_types)];

	if (ep_dns_rdata_parse (rrtype, data + 1, size - 1, &record, &error)) {
		g_assert_no_error (error);
		switch (rrtype) {
		case EP_DNS_TYPE_A:
		case EP_DNS_TYPE_AAAA:
			g_assert (G_IS_INET_ADDRESS (record));
			break;
		case EP_DNS_TYPE_NS:
		case EP_DNS_TYPE_CNAME:
		case EP_DNS_TYPE_PTR:
			g_assert (record != NULL);
			fuzz_check_name (record);
			break;
		case EP_DNS_TYPE_MX:
			g_assert (record != NULL);
			fuzz_check_name (((EpDnsMx *) record)->host);
			break;
		case EP_DNS_TYPE_TXT:
			/* NULL: a record with a NUL octet, left out */
			if (record != NULL)
				g_assert (strlen (record) <= size);
			break;
		case EP_DNS_TYPE_TLSA:
			g_assert (record != NULL);
			g_assert (g_bytes_get_size (((EpDnsTlsa *) record)->data) == size - 4);
			break;
		default:
			g_assert_not_reached ();
		}
		ep_dns_record_free (rrtype, record);
	} else {
		g_assert (record == NULL);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}

	/* the input as a name to look up */
	{
		g_autofree char *text = g_strndup ((const char *) data + 1, size - 1);
		g_autofree char *name = ep_dns_name_normalize (text, NULL);
		if (name != NULL) {
			g_autofree char *again = ep_dns_name_normalize (name, NULL);
			g_assert (again != NULL && strcmp (again, name) == 0);
			g_assert (strlen (name) <= 253);
			fuzz_check_name (name);
		}
	}
	return 0;
}
