/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * CONDSTORE and QRESYNC (RFC 7162): the syntax they add to SELECT/EXAMINE,
 * FETCH and STORE, read from the command's parsed arguments, and the
 * QRESYNC computations that need no store.  Pure: no I/O, so that unit
 * tests and the fuzzer drive them directly.
 */

/* the largest mod-sequence (RFC 7162 §7: 63 bits) */
#define IMAP_MODSEQ_MAX G_GUINT64_CONSTANT (9223372036854775807)

/* A mod-sequence-value (1 .. 2^63-1) or, with @allow_zero, a
 * mod-sequence-valzer (0 too); %FALSE when @text is not one. */
gboolean imap_modseq_parse (const char *text, gboolean allow_zero, guint64 *out);

/* FETCH modifiers: "(CHANGEDSINCE n [VANISHED])" in any order */
typedef struct {
	gboolean changedsince_set;
	guint64 changedsince;
	gboolean vanished;
} ImapFetchModifiers;

/* @arg: the list after the fetch items.  On failure @error_text is the
 * text for BAD. */
gboolean imap_fetch_modifiers_parse (const ImapArg *arg, ImapFetchModifiers *out, const char **error_text);

/* STORE modifiers: "(UNCHANGEDSINCE n)" (0 is allowed and always fails) */
gboolean imap_store_modifiers_parse (const ImapArg *arg, guint64 *unchangedsince, const char **error_text);

/* SELECT / EXAMINE parameters: "(CONDSTORE)", "(QRESYNC (uidvalidity
 * modseq [known-uids] [(seq-set uid-set)]))" or both */
typedef struct {
	gboolean condstore;
	gboolean qresync;
	guint32 uidvalidity;
	guint64 modseq;
	GArray *known_uids; /* (nullable): ImapSeqRange, sorted and merged; no "*" */
	GArray *match_seqs; /* (nullable): ImapSeqRange as written, ascending */
	GArray *match_uids; /* (nullable): as many numbers as match_seqs, ascending */
} ImapSelectParams;

gboolean imap_select_params_parse (const ImapArg *arg, ImapSelectParams *out, const char **error_text);
void imap_select_params_clear (ImapSelectParams *params);

/* Whether @uid is in the known UIDs (every UID when none were given). */
gboolean imap_select_params_knows (const ImapSelectParams *params, guint32 uid);

/* The message sequence match data against the mailbox as it is now
 * (@uids ascending, message n is uids[n - 1]): the UID of the last pair
 * that matches, every pair before it matching too; the client knows every
 * expunge up to it (RFC 7162 §3.2.5.2).  0 when the first pair does not
 * match or there is no data. */
guint32 imap_qresync_known_up_to (const ImapSelectParams *params, const guint32 *uids, guint n_uids);

G_END_DECLS
