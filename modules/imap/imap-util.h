/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-store.h"

#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * The pure helpers of the IMAP session: mailbox name encodings, flags,
 * dates, strict base64, LIST patterns, and the quoting of strings.  No
 * I/O, so that unit tests drive them directly.
 */

/* RFC 3501 §5.1.3 modified UTF-7, for IMAP4rev1 clients.  Encode never
 * fails; decode returns %NULL for what is not modified UTF-7 (or does not
 * decode to valid UTF-8 without control characters). */
char *imap_utf7_encode (const char *utf8);
char *imap_utf7_decode (const char *mutf7);

/* @out gets an IMAP string: a quoted string, or a literal when @s holds
 * CR, LF or a character that a quoted string cannot carry. */
void imap_append_string (GString *out, const char *s);
void imap_append_nstring (GString *out, const char *s);

/* "\Seen \Answered $Junk": system flags then keywords (no parentheses) */
void imap_append_flags (GString *out, EpStoreFlags flags, const char *const *keywords);

/* One flag of a STORE/APPEND flag list: a system flag (case ignored) sets
 * *@flag; a keyword (an atom without "\") sets *@keyword.  %FALSE for
 * "\Recent" and unknown "\" flags. */
gboolean imap_parse_flag (const char *text, EpStoreFlags *flag, const char **keyword);

/* "07-Dec-2026 12:00:00 +0100" (the day may be " 7" or "7") to seconds
 * since the epoch; %FALSE when it is not such a date-time. */
gboolean imap_parse_date_time (const char *text, gint64 *out);
/* One message of APPEND (RFC 3502 append-message): [flag-list]
 * [date-time] literal. */
typedef struct {
	EpStoreFlags flags;
	GPtrArray *keywords; /* of const char *, into the command's arguments; NULL-terminated */
	gint64 date;	     /* 0: none given */
	const ImapArg *literal;
	gboolean utf8; /* given as UTF8 (literal8) (RFC 6855) */
} ImapAppendMessage;

/* The messages of an APPEND (MULTIAPPEND: one or more) in @args from
 * @first on.  Returns: (transfer full) (element-type ImapAppendMessage):
 * one at least, or %NULL and *@error, the text for BAD. */
GArray *imap_append_messages_parse (GPtrArray *args, guint first, const char **error);

/* seconds since the epoch to "07-Dec-2026 12:00:00 +0000" */
char *imap_format_date_time (gint64 t);

/* Strict RFC 4648 base64 ("" is empty); %NULL when it is not. */
GBytes *imap_base64_decode (const char *s, gsize len);

/* Whether @name matches the LIST pattern @pattern ("*" matches anything,
 * "%" anything but the delimiter "/"); INBOX case-insensitively. */
gboolean imap_list_match (const char *pattern, const char *name);

/* The special-use attribute of a store role ("\Sent"...), or %NULL. */
const char *imap_role_attribute (const char *role);

/* OBJECTID (RFC 8474): the MAILBOXID of the store's mailbox @id, "F" and
 * its number in lower-case hex, as store-pg forms EMAILIDs ("M…") and
 * THREADIDs ("T…"); stable across RENAME, never reused. */
char *imap_mailbox_object_id (gint64 id);

G_END_DECLS
