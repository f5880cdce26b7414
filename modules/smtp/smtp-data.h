/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The message of an SMTP transaction, as pure code: accumulation up to the
 * size limit, the DATA line filter (dot-unstuffing, end of data), the BDAT
 * octet validator (bare CR, bare LF, NUL and line length across chunk
 * boundaries) and the trace header fields added at final delivery.
 */

/* RFC 5322 §2.1.1: 998 octets per line, CRLF not counted */
#define SMTP_DATA_MAX_LINE 998

/* ---- accumulation ---------------------------------------------------------- */

typedef struct {
	GByteArray *data; /* what was kept; emptied once the limit is passed */
	guint64 max_size;
	guint64 total;	   /* every octet received, kept or not */
	gboolean overflow; /* more than max_size octets came */
} SmtpMessage;

void smtp_message_init (SmtpMessage *msg, guint64 max_size);
void smtp_message_clear (SmtpMessage *msg);
/* Keeps @len octets, or past the limit counts and drops them. */
void smtp_message_append (SmtpMessage *msg, const guint8 *data, gsize len);
/* Returns: (transfer full) (nullable): the message, NULL after an overflow; resets @msg */
GBytes *smtp_message_steal (SmtpMessage *msg);

/* ---- DATA ------------------------------------------------------------------- */

typedef enum {
	SMTP_DATA_MORE, /* the line was part of the message */
	SMTP_DATA_END,	/* the line was the terminating "." */
} SmtpDataLine;

/**
 * smtp_data_line:
 * @line: one text line without its CRLF, as the framer gave it
 *
 * RFC 5321 §4.5.2: a line that is exactly "." ends the data; any other
 * line that starts with "." loses that first dot.  The line is appended
 * with CRLF.
 */
SmtpDataLine smtp_data_line (SmtpMessage *msg, const char *line, gsize len);

/* ---- BDAT ------------------------------------------------------------------- */

typedef enum {
	SMTP_OCTETS_OK,
	SMTP_OCTETS_BARE_CR,
	SMTP_OCTETS_BARE_LF,
	SMTP_OCTETS_NUL,
	SMTP_OCTETS_LINE_TOO_LONG,
} SmtpOctetsStatus;

/*
 * Checks the raw octets of BDAT chunks as they come, in pieces of any
 * size: the first problem is kept and reported from then on.  A CR at the
 * end of one piece may be followed by its LF at the start of the next.
 */
typedef struct {
	SmtpOctetsStatus status;
	gboolean pending_cr; /* the last octet was a CR */
	gsize line_len;	     /* octets of the current line so far, CRLF not counted */
	gsize max_line;
} SmtpOctetValidator;

void smtp_octet_validator_init (SmtpOctetValidator *v, gsize max_line);
SmtpOctetsStatus smtp_octet_validator_feed (SmtpOctetValidator *v, const guint8 *data, gsize len);
/* At the end of the message: a CR left waiting is a bare CR. */
SmtpOctetsStatus smtp_octet_validator_finish (SmtpOctetValidator *v);
const char *smtp_octets_status_to_string (SmtpOctetsStatus status);

/* ---- trace fields ----------------------------------------------------------- */

/* RFC 3848 / RFC 6531 §3.7.3 "with" protocol: SMTP, ESMTP, ESMTPS, ESMTPA,
 * ESMTPSA, UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA */
const char *smtp_data_protocol (gboolean ehlo, gboolean utf8, gboolean tls, gboolean authenticated);

typedef struct {
	const char *helo;	 /* the HELO/EHLO argument */
	const char *peer_ip;	 /* "192.0.2.1" or "2001:db8::1" */
	const char *hostname;	 /* ours */
	const char *protocol;	 /* from smtp_data_protocol() */
	const char *id;		 /* the session id */
	const char *tls_version; /* (nullable) */
	const char *tls_cipher;	 /* (nullable) */
	const char *recipient;	 /* (nullable): for <...>, given only for one recipient */
	GDateTime *date;
} SmtpReceivedInfo;

/* "Received: ...\r\n" per RFC 5321 §4.4, folded */
char *smtp_data_received_header (const SmtpReceivedInfo *info);

/* The body of the first field @name in the header of @msg, unfolded and
 * trimmed; NULL when there is none. */
char *smtp_data_find_header (const guint8 *msg, gsize len, const char *name);

/* @msg without the Authentication-Results fields of its header that carry
 * @authserv_id (RFC 8601 §5: a receiver removes those claiming to be its
 * own before adding its own); @msg itself (a new reference) when there is
 * none.  @n_removed (optional) tells how many went. */
GBytes *smtp_data_strip_auth_results (GBytes *msg, const char *authserv_id, guint *n_removed);

G_END_DECLS
