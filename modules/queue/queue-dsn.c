/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "queue-dsn.h"
#include "ep-mime.h"

/*
 * The report is built in three bodies (text, status fields, original),
 * then a boundary is drawn that none of them contains, and the whole is
 * put together.  Every line ends with CRLF and none is longer than
 * DSN_HARD_LINE octets: header fields and the text fold at white space
 * near DSN_FOLD_LINE, and a word too long for a line is cut.
 */

#define DSN_FOLD_LINE 78
#define DSN_HARD_LINE 990
#define DSN_MAX_LINE  998 /* RFC 5322 §2.1.1, without CRLF */

/* ---- dates ------------------------------------------------------------------ */

/* ---- values ----------------------------------------------------------------- */

static gboolean
dsn_is_ascii (const char *s, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if ((guchar) s[i] >= 0x80)
			return FALSE;
	}
	return TRUE;
}

/*
 * One line of text out of anything: NUL removed; CR, LF, tabs and other
 * controls become spaces; runs of spaces become one; no space at either
 * end.  With @utf8, valid UTF-8 stays (C1 controls become spaces);
 * otherwise each 8-bit character, or invalid octet, becomes "?".  Cut
 * after @max octets (at a character), with "..." appended.
 */
static char *
dsn_clean (const char *in, gsize max, gboolean utf8)
{
	GString *out = g_string_new (NULL);
	gsize len = in != NULL ? strlen (in) : 0;
	gsize i = 0;
	gboolean space = FALSE;

	while (i < len) {
		guchar c = (guchar) in[i];
		gsize n = 1;
		gboolean blank = FALSE;
		gboolean bad = FALSE;

		if (c < 0x80) {
			blank = c < 0x20 || c == 0x7f || c == ' ';
		} else {
			gunichar u = g_utf8_get_char_validated (in + i, (gssize) (len - i));
			if (u == (gunichar) -1 || u == (gunichar) -2) {
				bad = TRUE;
			} else {
				n = (gsize) (g_utf8_next_char (in + i) - (in + i));
				blank = u >= 0x80 && u < 0xa0;
				bad = !utf8 && !blank;
			}
		}
		if (blank) {
			space = out->len > 0;
			i += n;
			continue;
		}
		if (out->len + (space ? 1 : 0) + n > max) {
			g_string_append (out, "...");
			break;
		}
		if (space)
			g_string_append_c (out, ' ');
		space = FALSE;
		if (bad)
			g_string_append_c (out, '?');
		else
			g_string_append_len (out, in + i, (gssize) n);
		i += n;
	}
	return g_string_free (out, FALSE);
}

/* RFC 6533 utf-8-addr-unitext: UTF-8 stays, ASCII controls, space, "\", "+"
 * and "=" become \x{HH} */
static char *
dsn_unitext (const char *address)
{
	GString *out = g_string_new (NULL);

	for (const char *p = address; *p != '\0'; p++) {
		guchar c = (guchar) *p;
		if (c <= 0x20 || c == 0x7f || c == '\\' || c == '+' || c == '=')
			g_string_append_printf (out, "\\x{%02X}", c);
		else
			g_string_append_c (out, (char) c);
	}
	return g_string_free (out, FALSE);
}

/* "rfc822; a@b", or "utf-8; ..." for a non-ASCII address */
static char *
dsn_typed_address (const char *type, const char *address)
{
	g_autofree char *clean = dsn_clean (address, 1024, TRUE);
	g_autofree char *clean_type = dsn_clean (type, 32, FALSE);

	if (!dsn_is_ascii (clean, strlen (clean))) {
		/* an ORCPT of type utf-8 is already in one of its encoded forms */
		g_autofree char *encoded = g_ascii_strcasecmp (clean_type, "utf-8") == 0 ? g_strdup (clean)
											: dsn_unitext (clean);
		return g_strdup_printf ("utf-8; %s", encoded);
	}
	return g_strdup_printf ("%s; %s", clean_type[0] != '\0' ? clean_type : "rfc822", clean);
}

/* ---- folding ---------------------------------------------------------------- */

/*
 * Appends @text (single spaces between words, from dsn_clean) after
 * @first: lines break at a space once past DSN_FOLD_LINE and go on after
 * @cont; a word that does not fit before DSN_HARD_LINE is cut.  With
 * @cont " ", this is header folding: the space that was broken at is the
 * fold's white space, and unfolding gives back @text (a cut word gains a
 * space).
 */
static void
dsn_append_folded (GString *out, const char *first, const char *cont, const char *text)
{
	gsize line = strlen (first);
	gsize cont_len = strlen (cont);
	gboolean empty = TRUE;
	const char *p = text;

	g_string_append (out, first);
	while (*p != '\0') {
		const char *sp = strchr (p, ' ');
		gsize word = sp != NULL ? (gsize) (sp - p) : strlen (p);

		if (!empty && line + 1 + word > DSN_FOLD_LINE) {
			g_string_append (out, "\r\n");
			g_string_append (out, cont);
			line = cont_len;
			empty = TRUE;
		}
		if (!empty) {
			g_string_append_c (out, ' ');
			line++;
		}
		while (line + word > DSN_HARD_LINE) {
			gsize room = DSN_HARD_LINE - line;
			gsize cut = room;

			/* not inside a UTF-8 sequence */
			while (cut > 0 && ((guchar) p[cut] & 0xc0) == 0x80)
				cut--;
			if (cut == 0)
				cut = room;
			g_string_append_len (out, p, (gssize) cut);
			g_string_append (out, "\r\n");
			g_string_append (out, cont);
			line = cont_len;
			p += cut;
			word -= cut;
		}
		g_string_append_len (out, p, (gssize) word);
		line += word;
		empty = FALSE;
		p += word;
		if (*p == ' ')
			p++;
	}
	g_string_append (out, "\r\n");
}

static void
dsn_append_field (GString *out, const char *name, const char *value)
{
	g_autofree char *first = g_strdup_printf ("%s: ", name);

	dsn_append_folded (out, first, " ", value);
}

static void
dsn_append_date_field (GString *out, const char *name, GDateTime *dt)
{
	g_autofree char *date = ep_mime_format_date (dt);

	dsn_append_field (out, name, date);
}

/* a paragraph of the explanation, wrapped */
static void
dsn_append_text (GString *out, const char *indent, const char *text)
{
	g_autofree char *clean = dsn_clean (text, G_MAXSIZE, TRUE);

	dsn_append_folded (out, indent, indent, clean);
}

/* ---- status codes ----------------------------------------------------------- */

typedef enum {
	DSN_FAILED,
	DSN_DELAYED,
	DSN_DELIVERED,
	DSN_RELAYED,
	DSN_EXPANDED,
	DSN_N_ACTIONS,
} DsnAction;

static const char *const dsn_action_names[DSN_N_ACTIONS] = { "failed", "delayed", "delivered", "relayed",
							     "expanded" };

static gboolean
dsn_action_parse (const char *name, DsnAction *action)
{
	for (guint i = 0; i < DSN_N_ACTIONS; i++) {
		if (g_strcmp0 (name, dsn_action_names[i]) == 0) {
			*action = (DsnAction) i;
			return TRUE;
		}
	}
	return FALSE;
}

/* class "." subject "." detail, RFC 3463: [245] "." 1*3digit "." 1*3digit */
static gboolean
dsn_status_is_valid (const char *s)
{
	const char *p = s;

	if (s == NULL || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return FALSE;
	p += 2;
	for (guint part = 0; part < 2; part++) {
		guint digits = 0;
		while (g_ascii_isdigit (*p) && digits < 4) {
			p++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return FALSE;
		if (part == 0 && *p++ != '.')
			return FALSE;
	}
	return *p == '\0';
}

/* the reply code a diagnostic starts with ("550 ..."), or 0 */
static guint
dsn_reply_code (const char *diagnostic)
{
	if (diagnostic == NULL || !g_ascii_isdigit (diagnostic[0]) || !g_ascii_isdigit (diagnostic[1]) ||
	    !g_ascii_isdigit (diagnostic[2]) || (diagnostic[3] != '\0' && diagnostic[3] != ' ' && diagnostic[3] != '-'))
		return 0;
	if (diagnostic[0] < '2' || diagnostic[0] > '5')
		return 0;
	return (guint) ((diagnostic[0] - '0') * 100 + (diagnostic[1] - '0') * 10 + (diagnostic[2] - '0'));
}

static char *
dsn_status (const QueueDsnRecipient *r, DsnAction action, const char *diagnostic)
{
	guint code = dsn_reply_code (diagnostic);

	if (dsn_status_is_valid (r->status))
		return g_strdup (r->status);
	if (code >= 500)
		return g_strdup ("5.0.0");
	if (code >= 400)
		return g_strdup ("4.0.0");
	if (code >= 200 && code < 300)
		return g_strdup ("2.0.0");
	switch (action) {
	case DSN_FAILED:
		return g_strdup ("5.0.0");
	case DSN_DELAYED:
		return g_strdup ("4.0.0");
	case DSN_DELIVERED:
	case DSN_RELAYED:
	case DSN_EXPANDED:
	case DSN_N_ACTIONS:
	default:
		return g_strdup ("2.0.0");
	}
}

/* what a status code means, in plain words (RFC 3463, RFC 7505, RFC 6531) */
static const char *
dsn_status_words (const char *status)
{
	static const struct {
		const char *code; /* subject.detail */
		const char *words;
	} known[] = {
		{ "1.1", "the mailbox does not exist" },
		{ "1.2", "the destination domain does not exist or takes no mail" },
		{ "1.3", "the address is not valid" },
		{ "1.6", "the mailbox has moved" },
		{ "1.10", "the destination domain takes no mail (null MX)" },
		{ "2.1", "the mailbox is disabled" },
		{ "2.2", "the mailbox is full" },
		{ "2.3", "the message is larger than the mailbox accepts" },
		{ "3.4", "the message is larger than the receiving system accepts" },
		{ "4.1", "the receiving server did not answer" },
		{ "4.2", "the connection to the receiving server broke off" },
		{ "4.3", "the destination could not be looked up in the DNS" },
		{ "4.4", "no way to the destination was found" },
		{ "4.7", "the message was too old: the time for delivery ran out" },
		{ "5.3", "the message had too many recipients" },
		{ "6.7", "the address needs SMTPUTF8, which the receiving server lacks" },
		{ "7.1", "the receiving system refused it" },
	};
	static const char *const subjects[] = {
		"the receiving system gave no details",
		"there is a problem with the address",
		"there is a problem with the mailbox",
		"there is a problem at the receiving mail system",
		"there is a network or routing problem",
		"the receiving server reported a protocol problem",
		"there is a problem with the message's content",
		"the message was refused for security or policy reasons",
	};
	const char *rest = status + 2;
	guint subject = (guint) (rest[0] - '0');

	for (guint i = 0; i < G_N_ELEMENTS (known); i++) {
		if (strcmp (rest, known[i].code) == 0)
			return known[i].words;
	}
	if (rest[1] == '.' && subject < G_N_ELEMENTS (subjects))
		return subjects[subject];
	return subjects[0];
}

/* ---- the original ----------------------------------------------------------- */

/* the next line of @data, ended by CRLF, LF or CR (or the end) */
static gboolean
dsn_next_line (const char *data, gsize len, gsize *pos, const char **line, gsize *line_len)
{
	gsize start = *pos;
	gsize i = start;

	if (start >= len)
		return FALSE;
	while (i < len && data[i] != '\r' && data[i] != '\n')
		i++;
	*line = data + start;
	*line_len = i - start;
	if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
		i += 2;
	else if (i < len)
		i++;
	*pos = i;
	return TRUE;
}

/* the whole original with CRLF line ends; FALSE when it cannot travel as
 * it is (a NUL, a line over 998 octets) */
static gboolean
dsn_original_whole (const char *data, gsize len, GString *out, gboolean *header_8bit)
{
	const char *line;
	gsize line_len;
	gsize pos = 0;
	gboolean in_header = TRUE;

	*header_8bit = FALSE;
	if (memchr (data, '\0', len) != NULL)
		return FALSE;
	while (dsn_next_line (data, len, &pos, &line, &line_len)) {
		if (line_len > DSN_MAX_LINE)
			return FALSE;
		if (line_len == 0)
			in_header = FALSE;
		if (in_header && !dsn_is_ascii (line, line_len))
			*header_8bit = TRUE;
		g_string_append_len (out, line, (gssize) line_len);
		g_string_append (out, "\r\n");
	}
	return TRUE;
}

/* the header block of the original with CRLF line ends: up to its first
 * empty line, or as many lines as fit in QUEUE_DSN_MAX_HEADER_BYTES when it
 * has none; NULs removed, lines cut at 998 octets */
static void
dsn_original_header (const char *data, gsize len, GString *out, gboolean *header_8bit)
{
	const char *line;
	gsize line_len;
	gsize pos = 0;

	*header_8bit = FALSE;
	while (dsn_next_line (data, len, &pos, &line, &line_len) && line_len > 0) {
		gsize start = out->len;
		gsize kept;

		for (gsize i = 0; i < line_len; i++) {
			if (line[i] != '\0')
				g_string_append_c (out, line[i]);
		}
		kept = out->len - start;
		if (kept > DSN_MAX_LINE) {
			kept = DSN_MAX_LINE;
			while (kept > 0 && ((guchar) out->str[start + kept] & 0xc0) == 0x80)
				kept--;
			g_string_truncate (out, start + kept);
		}
		if (out->len + 2 > QUEUE_DSN_MAX_HEADER_BYTES) {
			g_string_truncate (out, start);
			break;
		}
		g_string_append (out, "\r\n");
		if (!dsn_is_ascii (out->str + start, kept))
			*header_8bit = TRUE;
	}
}

/* ---- the parts -------------------------------------------------------------- */

typedef struct {
	const QueueDsnRecipient *r;
	DsnAction action;
	char *status;
	char *diagnostic; /* cleaned, nullable */
	char *remote_mta; /* cleaned, nullable */
} DsnRecipient;

static void
dsn_append_recipient_text (GString *out, const DsnRecipient *d)
{
	g_autofree char *address = dsn_clean (d->r->recipient, 1024, TRUE);
	g_autofree char *line = g_strdup_printf ("<%s>", address);

	dsn_append_text (out, "  ", line);
	if (d->status[0] != '2') {
		g_autofree char *reason =
		    g_strdup_printf ("Reason: %s (status %s).", dsn_status_words (d->status), d->status);
		dsn_append_text (out, "    ", reason);
	}
	if (d->diagnostic != NULL) {
		g_autofree char *said = d->remote_mta != NULL
					    ? g_strdup_printf ("The server %s answered: %s", d->remote_mta, d->diagnostic)
					    : g_strdup_printf ("Details: %s", d->diagnostic);
		dsn_append_text (out, "    ", said);
	} else if (d->remote_mta != NULL) {
		g_autofree char *server = g_strdup_printf ("Server: %s", d->remote_mta);
		dsn_append_text (out, "    ", server);
	}
	if (d->action == DSN_DELAYED && d->r->will_retry_until != NULL) {
		g_autofree char *until = ep_mime_format_date (d->r->will_retry_until);
		g_autofree char *retry = g_strdup_printf ("The mail system will keep trying until %s.", until);
		dsn_append_text (out, "    ", retry);
	}
}

static void
dsn_build_text (GString *out, const char *host, const char *queue_id, GDateTime *arrival, const DsnRecipient *rs,
		guint n, const char *returned)
{
	static const char *const intros[DSN_N_ACTIONS] = {
		[DSN_FAILED] = "Your message could not be delivered to the recipients below. The mail system "
			       "has given up on them and will not try again.",
		[DSN_DELAYED] = "Your message has not yet been delivered to the recipients below. The mail system "
				"is still trying; you do not need to send it again.",
		[DSN_DELIVERED] = "Your message was delivered to the recipients below.",
		[DSN_RELAYED] = "Your message was handed on to the mail systems of the recipients below, which may "
				"not send further reports.",
		[DSN_EXPANDED] = "Your message was delivered to the recipients below, which are lists or aliases "
				 "that forward it to others.",
	};
	g_autofree char *hello = g_strdup_printf ("This is the mail delivery system at %s.", host);
	g_autofree char *about = NULL;

	dsn_append_text (out, "", hello);
	for (guint a = 0; a < DSN_N_ACTIONS; a++) {
		gboolean any = FALSE;

		for (guint i = 0; i < n; i++)
			any = any || rs[i].action == (DsnAction) a;
		if (!any)
			continue;
		g_string_append (out, "\r\n");
		dsn_append_text (out, "", intros[a]);
		for (guint i = 0; i < n; i++) {
			if (rs[i].action != (DsnAction) a)
				continue;
			g_string_append (out, "\r\n");
			dsn_append_recipient_text (out, &rs[i]);
		}
	}
	g_string_append (out, "\r\n");
	if (arrival != NULL) {
		g_autofree char *date = ep_mime_format_date (arrival);
		about = g_strdup_printf ("The message was received on %s with the queue id %s. %s", date, queue_id,
					 returned);
	} else {
		about = g_strdup_printf ("The message has the queue id %s. %s", queue_id, returned);
	}
	dsn_append_text (out, "", about);
}

static void
dsn_build_status (GString *out, const char *host, const char *envid, GDateTime *arrival, const DsnRecipient *rs,
		  guint n)
{
	g_autofree char *reporting = g_strdup_printf ("dns; %s", host);

	if (envid != NULL) {
		g_autofree char *clean = dsn_clean (envid, 512, FALSE);
		if (clean[0] != '\0')
			dsn_append_field (out, "Original-Envelope-Id", clean);
	}
	dsn_append_field (out, "Reporting-MTA", reporting);
	if (arrival != NULL)
		dsn_append_date_field (out, "Arrival-Date", arrival);
	for (guint i = 0; i < n; i++) {
		const DsnRecipient *d = &rs[i];

		g_string_append (out, "\r\n");
		if (d->r->orcpt != NULL && d->r->orcpt[0] != '\0') {
			const char *semi = strchr (d->r->orcpt, ';');
			g_autofree char *type = semi != NULL ? g_strndup (d->r->orcpt, (gsize) (semi - d->r->orcpt))
							     : g_strdup ("rfc822");
			g_autofree char *value = dsn_typed_address (type, semi != NULL ? semi + 1 : d->r->orcpt);
			dsn_append_field (out, "Original-Recipient", value);
		}
		{
			g_autofree char *value = dsn_typed_address ("rfc822", d->r->recipient);
			dsn_append_field (out, "Final-Recipient", value);
		}
		dsn_append_field (out, "Action", dsn_action_names[d->action]);
		dsn_append_field (out, "Status", d->status);
		if (d->remote_mta != NULL) {
			g_autofree char *value = g_strdup_printf ("dns; %s", d->remote_mta);
			dsn_append_field (out, "Remote-MTA", value);
		}
		if (d->diagnostic != NULL) {
			/* "smtp" is for a server's reply; the mail system's own
			 * explanation (no server answered) gets a type of its own */
			g_autofree char *value = g_strdup_printf (
			    "%s; %s", dsn_reply_code (d->diagnostic) != 0 ? "smtp" : "X-Epistle", d->diagnostic);
			dsn_append_field (out, "Diagnostic-Code", value);
		}
		if (d->r->last_attempt != NULL)
			dsn_append_date_field (out, "Last-Attempt-Date", d->r->last_attempt);
		if (d->action == DSN_DELAYED && d->r->will_retry_until != NULL)
			dsn_append_date_field (out, "Will-Retry-Until", d->r->will_retry_until);
	}
}

/* ---- the report ------------------------------------------------------------- */

static char *
dsn_random_hex (guint n_words)
{
	GString *out = g_string_new (NULL);

	for (guint i = 0; i < n_words; i++)
		g_string_append_printf (out, "%08x", g_random_int ());
	return g_string_free (out, FALSE);
}

static gboolean
dsn_contains (const GString *body, const char *needle)
{
	gsize n = strlen (needle);

	if (body->len < n)
		return FALSE;
	for (gsize i = 0; i + n <= body->len; i++) {
		if (body->str[i] == needle[0] && memcmp (body->str + i, needle, n) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
dsn_recipient_clear (DsnRecipient *d)
{
	g_free (d->status);
	g_free (d->diagnostic);
	g_free (d->remote_mta);
}

GBytes *
queue_dsn_build (const char *reporting_mta, const char *dsn_to, const char *queue_id, const char *envid,
		 GDateTime *arrival, const QueueDsnRecipient *recipients, guint n_recipients, GBytes *original,
		 gboolean headers_only, gsize max_original, GDateTime *now, gboolean *body_8bit)
{
	g_autofree DsnRecipient *rs = NULL;
	g_autoptr(GString) text = g_string_new (NULL);
	g_autoptr(GString) status = g_string_new (NULL);
	g_autoptr(GString) orig = g_string_new (NULL);
	g_autoptr(GString) out = g_string_new (NULL);
	g_autoptr(GDateTime) now_local = NULL;
	g_autofree char *host = NULL;
	g_autofree char *to = NULL;
	g_autofree char *qid = NULL;
	g_autofree char *boundary = NULL;
	g_autofree char *message_id = NULL;
	g_autofree char *content_type = NULL;
	const char *orig_type = NULL;
	const char *subject;
	const char *returned;
	gboolean any_failed = FALSE;
	gboolean any_delayed = FALSE;
	gboolean global = FALSE;
	gboolean header_8bit = FALSE;
	gboolean whole = FALSE;

	g_return_val_if_fail (reporting_mta != NULL, NULL);
	g_return_val_if_fail (dsn_to != NULL && dsn_to[0] != '\0', NULL);
	g_return_val_if_fail (queue_id != NULL, NULL);
	g_return_val_if_fail (recipients != NULL && n_recipients > 0, NULL);
	for (guint i = 0; i < n_recipients; i++) {
		DsnAction action;
		g_return_val_if_fail (recipients[i].recipient != NULL, NULL);
		g_return_val_if_fail (dsn_action_parse (recipients[i].action, &action), NULL);
	}

	host = dsn_clean (reporting_mta, 255, FALSE);
	if (host[0] == '\0') {
		g_free (host);
		host = g_strdup ("localhost");
	}
	to = dsn_clean (dsn_to, 1024, TRUE);
	qid = dsn_clean (queue_id, 64, FALSE);
	if (now == NULL)
		now = now_local = g_date_time_new_now_local ();

	rs = g_new0 (DsnRecipient, n_recipients);
	for (guint i = 0; i < n_recipients; i++) {
		DsnRecipient *d = &rs[i];

		d->r = &recipients[i];
		(void) dsn_action_parse (d->r->action, &d->action);
		if (d->r->diagnostic != NULL) {
			d->diagnostic = dsn_clean (d->r->diagnostic, QUEUE_DSN_MAX_DIAGNOSTIC, FALSE);
			if (d->diagnostic[0] == '\0')
				g_clear_pointer (&d->diagnostic, g_free);
		}
		if (d->r->remote_mta != NULL) {
			d->remote_mta = dsn_clean (d->r->remote_mta, 255, FALSE);
			if (d->remote_mta[0] == '\0')
				g_clear_pointer (&d->remote_mta, g_free);
		}
		d->status = dsn_status (d->r, d->action, d->diagnostic);
		any_failed = any_failed || d->action == DSN_FAILED;
		any_delayed = any_delayed || d->action == DSN_DELAYED;
		global = global || !dsn_is_ascii (d->r->recipient, strlen (d->r->recipient)) ||
			 (d->r->orcpt != NULL && !dsn_is_ascii (d->r->orcpt, strlen (d->r->orcpt)));
	}
	subject = any_failed ? "Undelivered Mail Returned to Sender"
		  : any_delayed ? "Delayed Mail (still being retried)"
				: "Successful Mail Delivery Report";

	/* part 3 */
	if (original != NULL) {
		gsize len = 0;
		const char *data = g_bytes_get_data (original, &len);

		if (data == NULL)
			data = "";
		if (any_failed && !headers_only && len <= max_original) {
			whole = dsn_original_whole (data, len, orig, &header_8bit);
			if (!whole)
				g_string_truncate (orig, 0);
		}
		if (!whole)
			dsn_original_header (data, len, orig, &header_8bit);
		if (whole)
			orig_type = header_8bit ? "message/global" : "message/rfc822";
		else
			orig_type = header_8bit ? "message/global-headers" : "text/rfc822-headers";
	}
	returned = orig_type == NULL ? ""
		   : whole	     ? "It is attached below."
				     : "Its header is attached below.";

	dsn_build_text (text, host, qid, arrival, rs, n_recipients, returned);
	dsn_build_status (status, host, envid, arrival, rs, n_recipients);

	/* a boundary that none of the parts contains ("=_" cannot appear in
	 * quoted-printable or base64 either) */
	do {
		g_autofree char *random = dsn_random_hex (4);
		g_free (boundary);
		boundary = g_strdup_printf ("=_dsn_%s", random);
	} while (dsn_contains (text, boundary) || dsn_contains (status, boundary) || dsn_contains (orig, boundary));

	/* the report's own header */
	{
		g_autofree char *from = g_strdup_printf ("Mail Delivery System <MAILER-DAEMON@%s>", host);
		g_autofree char *to_field = g_strdup_printf ("<%s>", to);
		g_autofree char *random = dsn_random_hex (3);

		message_id = g_strdup_printf ("<%s.%s@%s>", random, qid, host);
		dsn_append_field (out, "From", from);
		dsn_append_field (out, "To", to_field);
		dsn_append_field (out, "Subject", subject);
		dsn_append_date_field (out, "Date", now);
		dsn_append_field (out, "Message-ID", message_id);
		dsn_append_field (out, "Auto-Submitted", "auto-replied");
		dsn_append_field (out, "MIME-Version", "1.0");
		content_type = g_strdup_printf ("multipart/report; report-type=%s; boundary=\"%s\"",
						global ? "global-delivery-status" : "delivery-status", boundary);
		dsn_append_field (out, "Content-Type", content_type);
		g_string_append (out, "\r\nThis is a MIME-encapsulated message.\r\n");
	}

	g_string_append_printf (out, "\r\n--%s\r\n", boundary);
	g_string_append (out, "Content-Description: Notification\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n");
	g_string_append_printf (out, "Content-Transfer-Encoding: %s\r\n\r\n",
				dsn_is_ascii (text->str, text->len) ? "7bit" : "8bit");
	g_string_append_len (out, text->str, (gssize) text->len);

	g_string_append_printf (out, "\r\n--%s\r\n", boundary);
	g_string_append_printf (out, "Content-Description: Delivery report\r\nContent-Type: %s\r\n",
				global ? "message/global-delivery-status" : "message/delivery-status");
	if (!dsn_is_ascii (status->str, status->len))
		g_string_append (out, "Content-Transfer-Encoding: 8bit\r\n");
	g_string_append (out, "\r\n");
	g_string_append_len (out, status->str, (gssize) status->len);

	if (orig_type != NULL) {
		g_string_append_printf (out, "\r\n--%s\r\n", boundary);
		g_string_append_printf (out, "Content-Description: %s\r\nContent-Type: %s\r\n",
					whole ? "Undelivered message" : "Undelivered message header", orig_type);
		if (!dsn_is_ascii (orig->str, orig->len))
			g_string_append (out, "Content-Transfer-Encoding: 8bit\r\n");
		g_string_append (out, "\r\n");
		g_string_append_len (out, orig->str, (gssize) orig->len);
	}
	g_string_append_printf (out, "\r\n--%s--\r\n", boundary);

	for (guint i = 0; i < n_recipients; i++)
		dsn_recipient_clear (&rs[i]);
	if (body_8bit != NULL)
		*body_8bit = !dsn_is_ascii (out->str, out->len);
	return g_string_free_to_bytes (g_steal_pointer (&out));
}
