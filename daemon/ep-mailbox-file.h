/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-store.h"

G_BEGIN_DECLS

/*
 * Pure helpers for `mail export` and `mail import`: mboxrd quoting, From_
 * lines, and the flag conventions of mbox (Status:, X-Status:) and
 * Maildir (":2,DFRST").  No I/O here, so unit tests drive them directly.
 *
 * mboxrd: a message line matching ^>*From  gets one more '>' on export;
 * a line matching ^>+From  loses one on import.  A line "From ..." that is
 * not quoted starts the next message.
 *
 * Flags in mbox: Status: R (\Seen) O (old); X-Status: A (\Answered)
 * F (\Flagged) T (\Draft) D (\Deleted).  Maildir: D (\Draft) F (\Flagged)
 * R (\Answered) S (\Seen) T (\Deleted), always in ASCII order.
 */

/* TRUE if @line (of @len bytes, without or with its newline) matches ^>*From  */
gboolean ep_mbox_line_needs_quote (const char *line, gsize len);

/* TRUE if @line matches ^From  (a message separator in mboxrd) */
gboolean ep_mbox_is_from_line (const char *line, gsize len);

/* Appends @line to @out, with one more '>' if it matches ^>*From  */
void ep_mbox_quote_line (GString *out, const char *line, gsize len);

/* Appends @line to @out, with one '>' less if it matches ^>+From  */
void ep_mbox_unquote_line (GString *out, const char *line, gsize len);

/* "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n" for @internal_date (UTC) */
char *ep_mbox_from_line (gint64 internal_date);

/* The date of a From_ line ("From SENDER Www Mmm dd hh:mm:ss yyyy", UTC),
 * or 0 if it has none that parses */
gint64 ep_mbox_from_line_parse_date (const char *line, gsize len);

/* A streaming mboxrd unquoter: feed it any chunks of a message body, the
 * output is the same as unquoting it line by line. */
typedef struct _EpMboxUnquoter EpMboxUnquoter;
EpMboxUnquoter *ep_mbox_unquoter_new (void);
void ep_mbox_unquoter_free (EpMboxUnquoter *self);
void ep_mbox_unquoter_feed (EpMboxUnquoter *self, const char *data, gsize len, GString *out);
/* flushes what a last line without a newline left pending */
void ep_mbox_unquoter_finish (EpMboxUnquoter *self, GString *out);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMboxUnquoter, ep_mbox_unquoter_free)

/*
 * The mbox reader of `mail import`: fed the lines of an mboxrd file one at
 * a time (without their LF), it hands each message to @func with its
 * lines unquoted and ending in CRLF, the empty line that separates
 * messages removed, and the Status:, X-Status:, X-Keywords: and X-Mailbox:
 * headers taken out of the header and given as fields.  Memory holds one
 * message at a time, however large the file.
 */
typedef struct {
	GString *data;       /* the message, CRLF line ends */
	char *status;        /* (nullable): Status: */
	char *x_status;      /* (nullable): X-Status: */
	char *keywords;      /* (nullable): X-Keywords: */
	char *mailbox;       /* (nullable): X-Mailbox: */
	gint64 internal_date; /* from the From_ line, 0 if it has none */
	guint64 line_no;     /* the line of its From_ line, counted from 1 */
} EpMboxMessage;

/* Returns FALSE with @error to stop reading. */
typedef gboolean (*EpMboxMessageFunc) (const EpMboxMessage *message, gpointer user_data, GError **error);

typedef struct _EpMboxReader EpMboxReader;
EpMboxReader *ep_mbox_reader_new (EpMboxMessageFunc func, gpointer user_data);
void ep_mbox_reader_free (EpMboxReader *self);
/* @stray: (out) (optional): set when the line is outside any message (no
 * From_ line before it) and not empty, or is the first line; it is ignored */
gboolean ep_mbox_reader_feed_line (EpMboxReader *self, const char *line, gsize len, gboolean *stray,
				   GError **error);
/* hands over the last message */
gboolean ep_mbox_reader_finish (EpMboxReader *self, GError **error);
guint64 ep_mbox_reader_get_line_no (EpMboxReader *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpMboxReader, ep_mbox_reader_free)

/* Status: and X-Status: values for @flags; either may be "" (no header) */
void ep_mbox_flags_to_status (EpStoreFlags flags, char **status, char **x_status);
/* flags from the values of Status: and X-Status: (either nullable) */
EpStoreFlags ep_mbox_flags_from_status (const char *status, const char *x_status);

/* "DFRST" letters (a subset, sorted) for @flags */
char *ep_maildir_flags_to_letters (EpStoreFlags flags);
/* flags from a Maildir file name: the letters after ":2," (0 without) */
EpStoreFlags ep_maildir_flags_from_name (const char *name);

/* Maildir++ folder for a mailbox: "" for INBOX, ".Sub.Folder" for "Sub/Folder";
 * and back (%NULL for a directory that is not a folder) */
char *ep_maildir_folder_for_mailbox (const char *mailbox);
char *ep_maildir_mailbox_for_folder (const char *folder);

/* Appends @data to @out with every CRLF as LF, or every bare LF as CRLF */
void ep_mailbox_file_crlf_to_lf (GString *out, const char *data, gsize len);
void ep_mailbox_file_lf_to_crlf (GString *out, const char *data, gsize len);

G_END_DECLS
