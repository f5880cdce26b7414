/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-store.h"
#include "imap-parser.h"

G_BEGIN_DECLS

/*
 * SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RETURN of RFC 4731 ESEARCH):
 * the search program parsed into a tree of keys, and the test of one
 * message against it.  Pure: no I/O.  The session gathers what the keys
 * need (the message's metadata; its header when a header key is used; the
 * store's full-text answer for BODY/TEXT) and asks imap_search_match().
 */

typedef enum {
	IMAP_SEARCH_AND, /* children: all of them */
	IMAP_SEARCH_OR,	 /* children: two */
	IMAP_SEARCH_NOT, /* children: one */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_NONE,
	IMAP_SEARCH_FLAG,    /* flag; set: whether it must be set */
	IMAP_SEARCH_KEYWORD, /* str; set */
	IMAP_SEARCH_HEADER,  /* field, str (case-folded) */
	IMAP_SEARCH_TEXT,    /* str; body_only (BODY); uids: the store's answer */
	IMAP_SEARCH_BEFORE,  /* day (internal date) */
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE, /* day (Date: header) */
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	IMAP_SEARCH_LARGER, /* size */
	IMAP_SEARCH_SMALLER,
	IMAP_SEARCH_SEQSET, /* set */
	IMAP_SEARCH_UIDSET, /* set */
	IMAP_SEARCH_MODSEQ, /* modseq: MODSEQ >= it (RFC 7162 CONDSTORE) */
	/* OBJECTID (RFC 8474); str: the objectid */
	IMAP_SEARCH_EMAILID,
	IMAP_SEARCH_THREADID,
	IMAP_SEARCH_SAVED,  /* "$" (RFC 5182): uids, filled in by the caller */
	IMAP_SEARCH_RECENT, /* RECENT (set), OLD (not set); NEW is RECENT UNSEEN */
} ImapSearchKeyType;

typedef struct _ImapSearchKey ImapSearchKey;
struct _ImapSearchKey {
	ImapSearchKeyType type;
	GPtrArray *children; /* of ImapSearchKey, owned */
	EpStoreFlags flag;
	gboolean set;
	gboolean body_only;
	char *field;  /* HEADER: the field name */
	char *str;    /* KEYWORD, TEXT, EMAILID, THREADID: as given; HEADER: case-folded */
	char *folded; /* TEXT: case-folded */
	guint32 day;  /* julian day (GDate) */
	guint64 size;
	guint64 modseq;
	GArray *seqset; /* of ImapSeqRange */
	GArray *uids;	/* TEXT, SAVED: ascending guint32, filled in by the caller */
};

typedef enum {
	IMAP_SEARCH_RETURN_MIN = 1 << 0,
	IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2,
	IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	IMAP_SEARCH_RETURN_SAVE = 1 << 4, /* SEARCHRES (RFC 5182) */
} ImapSearchReturn;

typedef struct {
	ImapSearchKey *root;
	gboolean has_return; /* RETURN (...) was given: answer ESEARCH */
	guint returns;	     /* ImapSearchReturn; RETURN () means ALL */
	gboolean need_header;
	GPtrArray *text_keys;  /* of ImapSearchKey, borrowed from the tree */
	gboolean has_modseq;   /* a MODSEQ key: the answer carries MODSEQ */
	guint64 result_modseq; /* set by the caller (imap_search_result_modseq()); 0: none */
	GPtrArray *saved_keys; /* "$" keys, borrowed from the tree: the caller sets their uids */
} ImapSearchProgram;

typedef enum {
	IMAP_SEARCH_ERROR_SYNTAX,     /* BAD */
	IMAP_SEARCH_ERROR_BADCHARSET, /* NO [BADCHARSET (UTF-8 US-ASCII)] */
} ImapSearchError;

/**
 * imap_search_parse:
 * @args: the arguments after SEARCH (of ImapArg)
 * @error_kind: (out): on failure
 * @error_text: (out): on failure, a text for BAD
 *
 * Returns: (transfer full) (nullable): the program
 */
ImapSearchProgram *imap_search_parse (GPtrArray *args, ImapSearchError *error_kind, const char **error_text);
void imap_search_program_free (ImapSearchProgram *prog);

typedef struct {
	guint32 seq;
	guint32 uid;
	EpStoreFlags flags;
	const char *const *keywords;
	gint64 internal_date;
	guint64 size;
	guint64 modseq;
	const char *header; /* (nullable): the header block, when need_header */
	gsize header_len;
	/* (nullable): case-folded decoded text of the header and of the text
	 * parts (imap_search_message_text()); without them BODY and TEXT go by
	 * the store's full-text answer alone */
	const char *header_text;
	const char *body_text;
	const char *email_id; /* (nullable): OBJECTID */
	const char *thread_id;
	gboolean recent; /* \Recent for the session (RFC 3501 §2.3.2): never in IMAP4rev2 */
} ImapSearchMessage;

/* Whether @msg matches; @n_messages and @max_uid stand for "*". */
gboolean imap_search_match (const ImapSearchKey *key, const ImapSearchMessage *msg, guint32 n_messages,
			    guint32 max_uid);

/* The length of the header block of @data (the blank line included). */
gsize imap_search_header_length (const char *data, gsize len);

/* The case-folded UTF-8 text that BODY and TEXT look into: the header
 * with RFC 2047 words decoded, and the text parts (transfer encoding undone,
 * converted from their charset). */
void imap_search_message_text (const char *data, gsize len, char **header_text, char **body_text);

/* Whether the full-text answer of a BODY/TEXT key holds @uid */
gboolean imap_search_text_candidate (const ImapSearchProgram *prog, guint32 uid);

/* The MODSEQ an answer carries (RFC 7162 §3.1.5): the highest of the
 * messages it returns (of all matches with ALL or COUNT, else of those
 * MIN and MAX name); 0 without a MODSEQ key or without matches.
 * @modseqs: of the matches, in the order of the matches. */
guint64 imap_search_result_modseq (const ImapSearchProgram *prog, gboolean esearch, const guint64 *modseqs, guint len);
/* Whether @args (of a SEARCH) ask for RETURN (SAVE), even when they do not
 * parse: a failed SEARCH that asked for it empties the saved result. */
gboolean imap_search_args_want_save (GPtrArray *args);

/* What RETURN (SAVE) saves of the matches @n (ascending): MIN and/or MAX
 * alone save only those, anything else saves all (RFC 5182 §2.4).
 * Returns: (transfer full): ascending */
GArray *imap_search_saved_result (const ImapSearchProgram *prog, const guint32 *n, guint len);

/* "1:3,5,7:9" from ascending numbers */
void imap_search_append_set (GString *out, const guint32 *n, guint len);

/* The untagged answer, without "* " and CRLF: "SEARCH 1 2" or "ESEARCH
 * (TAG "t") UID MIN 1 COUNT 2".  @n: the matches, ascending.  With
 * prog->result_modseq: "SEARCH 1 2 (MODSEQ 9)", "ESEARCH … MODSEQ 9".
 * %NULL when RETURN (SAVE) alone asks for no answer (RFC 5182 §2.4). */
char *imap_search_format (const ImapSearchProgram *prog, gboolean esearch, const char *tag, gboolean uid,
			  const guint32 *n, guint len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapSearchProgram, imap_search_program_free)

G_END_DECLS
