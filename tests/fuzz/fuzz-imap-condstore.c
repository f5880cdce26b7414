/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CONDSTORE / QRESYNC syntax (RFC 7162) on arbitrary bytes: the input
 * is the rest of a "t X " command line, read by the command parser; each
 * of its arguments goes to the FETCH and STORE modifier parsers and the
 * SELECT parameter parser.  Properties: a failure always has a non-empty
 * text; VANISHED never comes without CHANGEDSINCE; the known UIDs are
 * sorted and merged; the message sequence match data bound is a UID of
 * the mailbox, found at the place the data says.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "imap-condstore.h"
#include "imap-parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const guint32 fuzz_uids[] = {1, 3, 4, 8, 9, 12, 4000000000u};

static void
fuzz_arg (const ImapArg *arg)
{
	ImapFetchModifiers mods;
	ImapSelectParams params;
	guint64 unchangedsince = 0;
	const char *text = NULL;

	if (imap_fetch_modifiers_parse (arg, &mods, &text))
		g_assert (!mods.vanished || mods.changedsince_set);
	else
		g_assert (text != NULL && *text != '\0');
	text = NULL;
	if (imap_store_modifiers_parse (arg, &unchangedsince, &text))
		g_assert (unchangedsince <= IMAP_MODSEQ_MAX);
	else
		g_assert (text != NULL && *text != '\0');
	text = NULL;
	if (!imap_select_params_parse (arg, &params, &text)) {
		g_assert (text != NULL && *text != '\0');
		g_assert (params.known_uids == NULL && params.match_seqs == NULL);
		return;
	}
	if (params.known_uids != NULL) {
		for (guint i = 0; i < params.known_uids->len; i++) {
			ImapSeqRange r = g_array_index (params.known_uids, ImapSeqRange, i);
			g_assert (r.first <= r.last && r.last != IMAP_SEQ_STAR);
			if (i > 0)
				g_assert ((guint64)g_array_index (params.known_uids, ImapSeqRange, i - 1).last + 1 <
					  r.first);
			g_assert (imap_select_params_knows (&params, r.first));
			g_assert (imap_select_params_knows (&params, r.last));
		}
	}
	if (params.qresync) {
		guint32 known = imap_qresync_known_up_to (&params, fuzz_uids, G_N_ELEMENTS (fuzz_uids));
		gboolean found = known == 0;
		for (guint i = 0; i < G_N_ELEMENTS (fuzz_uids); i++)
			found = found || fuzz_uids[i] == known;
		g_assert (found);
		g_assert (params.modseq > 0 && params.uidvalidity > 0);
	}
	imap_select_params_clear (&params);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr (ImapParser) p = imap_parser_new (NULL);
	g_autoptr (GString) line = g_string_new ("t X ");
	gsize off = 0;

	g_string_append_len (line, (const char *)data, (gssize)size);
	if (size < 2 || data[size - 2] != '\r' || data[size - 1] != '\n')
		g_string_append (line, "\r\n");
	while (off < line->len) {
		gsize used = 0;
		ImapParseStatus st = imap_parser_feed (p, line->str + off, line->len - off, &used);

		off += used;
		if (st == IMAP_PARSE_DONE) {
			g_autoptr (ImapCommand) cmd = imap_parser_take_command (p);
			for (guint i = 0; i < cmd->args->len; i++)
				fuzz_arg (g_ptr_array_index (cmd->args, i));
			break;
		}
		if (st != IMAP_PARSE_LITERAL)
			break;
	}
	return 0;
}
