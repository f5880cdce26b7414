/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "dkim-canon.h"
#include "dkim-record.h"
#include "dkim-signature.h"

G_BEGIN_DECLS

/*
 * Verifying the DKIM signatures of a message (RFC 6376 §6, RFC 8463,
 * RFC 8301), in two halves around the key lookups that the caller does:
 *
 *   sigs = dkim_verify_prepare (...);     every signature read; the key
 *                                         each needs named (key_name)
 *   ... look up key_name (TXT), store the records or the DNS failure ...
 *   dkim_verify_run (...);                hashes and signature checks
 *
 * Pure code: no I/O, no main loop; dkim_verify_run() is the CPU-heavy
 * part and runs on a worker thread.  Every signature ends with a result
 * in the terms of RFC 8601 §2.7.1 and, unless it passed cleanly, a reason.
 */

/* signatures checked per message at most; the rest are ignored (logged) */
#define DKIM_VERIFY_MAX_SIGNATURES 10
/* how far in the future t= may be (clocks differ) */
#define DKIM_VERIFY_CLOCK_SKEW 900

typedef enum {
	DKIM_RESULT_NONE,
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,
	DKIM_RESULT_NEUTRAL,
	DKIM_RESULT_POLICY,
	DKIM_RESULT_TEMPERROR,
	DKIM_RESULT_PERMERROR,
} DkimResult;

/* "none", "pass", "fail"... (RFC 8601 §2.7.1) */
const char *dkim_result_to_string (DkimResult result);

/* One DKIM-Signature field of the message and what became of it. */
typedef struct {
	guint field_index;   /* in the header fields */
	DkimSignature *sig;  /* (nullable): NULL when it could not be read */
	/* for Authentication-Results, as far as they could be read (nullable) */
	char *domain;	     /* d= */
	char *identity;	     /* i= */
	char *selector;	     /* s= */
	char *algorithm;     /* a= */
	char *b_prefix;	     /* the first 8 characters of b= */
	char *key_name;	     /* (nullable): <s>._domainkey.<d>, to look up; NULL once decided */
	GPtrArray *records;  /* (nullable): the TXT records found at key_name */
	gboolean done;	     /* the result is decided */
	DkimResult result;
	char *reason;	     /* (nullable) */
	gboolean testing;    /* the key says t=y */
	guint key_bits;
} DkimVerifySig;

void dkim_verify_sig_free (DkimVerifySig *vs);

/* decides @vs (e.g. on a DNS failure) */
void dkim_verify_sig_set_result (DkimVerifySig *vs, DkimResult result, const char *reason);

/**
 * dkim_verify_prepare:
 * @fields: (element-type DkimHeaderField): the header of @data
 * @now: seconds since the epoch, for t= and x=
 * @n_ignored: (out) (optional): signatures past %DKIM_VERIFY_MAX_SIGNATURES
 *
 * Reads the DKIM-Signature fields, top first.  Those that cannot be read
 * are decided at once (permerror), as are rsa-sha1 and expired ones
 * (fail) and those dated in the future (permerror); the others name
 * their key in key_name.
 *
 * Returns: (transfer full) (element-type DkimVerifySig): one per field,
 *   empty when the message is not signed
 */
GPtrArray *dkim_verify_prepare (const char *data, GArray *fields, gint64 now, guint *n_ignored);

/**
 * dkim_verify_run:
 * @sigs: (element-type DkimVerifySig): from dkim_verify_prepare(), the
 *   records of every undecided one filled in
 *
 * Decides every signature not yet decided: its key record (the first of
 * @records that reads as one; none: permerror "no key"), the body hash
 * and the signature.  Safe on any thread.
 */
void dkim_verify_run (const char *data, gsize len, GArray *fields, gsize body_offset, GPtrArray *sigs);

G_END_DECLS
