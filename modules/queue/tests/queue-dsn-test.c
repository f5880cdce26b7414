/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ep-mime.h"
#include "queue-dsn.h"

/*
 * Every report is read back with the project's MIME parser; the
 * delivery-status fields are read here, field group by field group.
 */

#define HOST "mail.example.org"

/* ---- reading a report ------------------------------------------------------- */

typedef struct {
	GBytes *bytes;
	const char *raw;
	gsize len;
	EpMimeMessage *msg;
	char *header; /* the report's header block */
	GPtrArray *groups; /* of GHashTable: lower-case field name -> unfolded value */
	char *text; /* the body of part 1 */
	char *part3; /* the body of part 3, or NULL */
	gboolean eight_bit;
} Report;

static void
report_free (Report *r)
{
	g_clear_pointer (&r->bytes, g_bytes_unref);
	g_clear_pointer (&r->msg, ep_mime_message_unref);
	g_clear_pointer (&r->header, g_free);
	g_clear_pointer (&r->groups, g_ptr_array_unref);
	g_clear_pointer (&r->text, g_free);
	g_clear_pointer (&r->part3, g_free);
	g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Report, report_free)

/* CRLF only, no NUL, no line over 998 octets; returns the longest line */
static gsize
assert_wire_safe (const char *raw, gsize len)
{
	gsize line = 0;
	gsize longest = 0;

	g_assert_cmpuint (len, >, 2);
	g_assert_true (raw[len - 2] == '\r' && raw[len - 1] == '\n');
	for (gsize i = 0; i < len; i++) {
		g_assert_cmpint (raw[i], !=, '\0');
		if (raw[i] == '\r') {
			g_assert_true (i + 1 < len && raw[i + 1] == '\n');
			longest = MAX (longest, line);
			line = 0;
			i++;
			continue;
		}
		g_assert_cmpint (raw[i], !=, '\n');
		line++;
	}
	g_assert_cmpuint (longest, <=, 998);
	return longest;
}

/* RFC 3464 field groups: "Name: value" lines, continuation lines start with
 * white space, groups are separated by empty lines */
static GPtrArray *
parse_groups (const char *body, gsize len)
{
	GPtrArray *groups = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
	g_autofree char *copy = g_strndup (body, len);
	g_auto (GStrv) lines = g_strsplit (copy, "\r\n", -1);
	GHashTable *group = NULL;
	g_autofree char *name = NULL;
	GString *value = NULL;

	for (guint i = 0; lines[i] != NULL; i++) {
		const char *l = lines[i];

		if ((l[0] == ' ' || l[0] == '\t') && value != NULL) {
			g_string_append (value, l);
			continue;
		}
		if (value != NULL) {
			g_hash_table_replace (group, g_steal_pointer (&name), g_string_free (value, FALSE));
			value = NULL;
		}
		if (l[0] == '\0') {
			group = NULL;
			continue;
		}
		{
			const char *colon = strchr (l, ':');
			g_assert_nonnull (colon);
			if (group == NULL) {
				group = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
				g_ptr_array_add (groups, group);
			}
			name = g_ascii_strdown (l, colon - l);
			/* a field appears once per group */
			g_assert_false (g_hash_table_contains (group, name));
			colon++;
			while (*colon == ' ')
				colon++;
			value = g_string_new (colon);
		}
	}
	if (value != NULL)
		g_hash_table_replace (group, g_steal_pointer (&name), g_string_free (value, FALSE));
	return groups;
}

static char *
part_body (const Report *r, const EpMimePart *part)
{
	return g_strndup (r->raw + ep_mime_part_get_body_offset (part), ep_mime_part_get_body_length (part));
}

static void
assert_content_type (const EpMimePart *part, const char *type)
{
	g_autofree char *got =
	    g_strdup_printf ("%s/%s", ep_mime_part_get_content_type (part), ep_mime_part_get_content_subtype (part));
	g_assert_cmpstr (got, ==, type);
}

static void
assert_well_formed (EpMimeMessage *msg)
{
	g_assert_cmpuint (ep_mime_message_get_flags (msg) &
			      (EP_MIME_MESSAGE_FLAG_MISSING_BOUNDARY | EP_MIME_MESSAGE_FLAG_BROKEN_HEADER |
			       EP_MIME_MESSAGE_FLAG_NO_BODY | EP_MIME_MESSAGE_FLAG_LIMIT_PARTS |
			       EP_MIME_MESSAGE_FLAG_NUL | EP_MIME_MESSAGE_FLAG_LIMIT_DEPTH),
			  ==, 0);
}

/* parses @bytes and checks the shape every report has */
static Report *
report_read (GBytes *bytes, gboolean eight_bit, guint n_parts, gboolean global)
{
	Report *r = g_new0 (Report, 1);
	EpMimePart *root;
	EpMimePart *status;
	g_autofree char *status_body = NULL;

	g_assert_nonnull (bytes);
	r->bytes = bytes;
	r->raw = g_bytes_get_data (bytes, &r->len);
	r->eight_bit = eight_bit;
	assert_wire_safe (r->raw, r->len);
	/* the flag says exactly whether there are 8-bit octets */
	{
		gboolean any = FALSE;
		for (gsize i = 0; i < r->len; i++)
			any = any || (guchar) r->raw[i] >= 0x80;
		g_assert_cmpint (any, ==, eight_bit);
	}

	r->msg = ep_mime_message_parse (r->raw, r->len);
	root = ep_mime_message_get_root (r->msg);
	/* a returned message may be broken itself; the report around it never is */
	if (n_parts == 2 || ep_mime_part_get_message (ep_mime_part_get_child (root, 2)) == NULL)
		assert_well_formed (r->msg);
	r->header = g_strndup (r->raw + ep_mime_part_get_header_offset (root), ep_mime_part_get_header_length (root));
	assert_content_type (root, "multipart/report");
	g_assert_cmpstr (ep_mime_part_get_param (root, "report-type"), ==,
			 global ? "global-delivery-status" : "delivery-status");
	g_assert_cmpuint (ep_mime_part_get_n_children (root), ==, n_parts);

	assert_content_type (ep_mime_part_get_child (root, 0), "text/plain");
	g_assert_cmpstr (ep_mime_part_get_param (ep_mime_part_get_child (root, 0), "charset"), ==, "utf-8");
	r->text = part_body (r, ep_mime_part_get_child (root, 0));

	status = ep_mime_part_get_child (root, 1);
	assert_content_type (status, global ? "message/global-delivery-status" : "message/delivery-status");
	status_body = part_body (r, status);
	r->groups = parse_groups (status_body, strlen (status_body));
	g_assert_cmpuint (r->groups->len, >=, 2);
	g_assert_cmpstr (g_hash_table_lookup (r->groups->pdata[0], "reporting-mta"), ==, "dns; " HOST);

	if (n_parts == 3)
		r->part3 = part_body (r, ep_mime_part_get_child (root, 2));
	return r;
}

static char *
report_header (const Report *r, const char *name)
{
	g_autofree char *raw = ep_mime_headers_get_first (r->header, strlen (r->header), name);
	return raw != NULL ? ep_mime_header_unfold (raw, strlen (raw)) : NULL;
}

static const char *
field (const Report *r, guint group, const char *name)
{
	g_assert_cmpuint (group, <, r->groups->len);
	return g_hash_table_lookup (r->groups->pdata[group], name);
}

static const char *
part3_type (const Report *r, char **out)
{
	EpMimePart *p = ep_mime_part_get_child (ep_mime_message_get_root (r->msg), 2);
	*out = g_strdup_printf ("%s/%s", ep_mime_part_get_content_type (p), ep_mime_part_get_content_subtype (p));
	return *out;
}

/* a line of @text that starts with @prefix */
static gboolean
has_line_starting (const char *text, const char *prefix)
{
	gsize n = strlen (prefix);

	if (strncmp (text, prefix, n) == 0)
		return TRUE;
	for (const char *p = strstr (text, "\n"); p != NULL; p = strstr (p + 1, "\n")) {
		if (g_ascii_strncasecmp (p + 1, prefix, n) == 0)
			return TRUE;
	}
	return FALSE;
}

/* ---- building --------------------------------------------------------------- */

static GDateTime *
date (int day, int hour)
{
	g_autoptr (GTimeZone) tz = g_time_zone_new_offset (2 * 3600);
	return g_date_time_new (tz, 2025, 7, day, hour, 0, 0);
}

static const char ORIGINAL[] = "From: Alice <alice@example.org>\r\n"
			       "To: bob@example.com\r\n"
			       "Subject: hello\r\n"
			       "Message-ID: <m1@example.org>\r\n"
			       "\r\n"
			       "the secret body line\r\n";

typedef struct {
	const char *reporting_mta;
	const char *dsn_to;
	const char *envid;
	const char *original; /* NULL: none */
	gssize original_len;  /* -1: strlen */
	gboolean headers_only;
	gsize max_original;
} Build;

static Report *
build_read (const Build *b, const QueueDsnRecipient *rs, guint n, guint n_parts, gboolean global)
{
	g_autoptr (GDateTime) arrival = date (1, 9);
	g_autoptr (GDateTime) now = date (3, 9);
	g_autoptr (GBytes) original = NULL;
	gboolean eight_bit = 99;
	GBytes *dsn;

	if (b->original != NULL)
		original = g_bytes_new (b->original, b->original_len >= 0 ? (gsize) b->original_len
									  : strlen (b->original));
	dsn = queue_dsn_build (b->reporting_mta != NULL ? b->reporting_mta : HOST,
			       b->dsn_to != NULL ? b->dsn_to : "alice@example.org", "0123456789abcdef", b->envid,
			       arrival, rs, n, original, b->headers_only, b->max_original != 0 ? b->max_original : 1 << 20,
			       now, &eight_bit);
	g_assert_true (eight_bit == TRUE || eight_bit == FALSE);
	return report_read (dsn, eight_bit, n_parts, global);
}

/* ---- the table -------------------------------------------------------------- */

typedef struct {
	const char *name;
	QueueDsnRecipient rcpt;
	Build build;
	/* expected */
	const char *subject;
	const char *part3_type; /* NULL: no part 3 */
	gboolean eight_bit;
	const char *final_recipient;
	const char *status;
	const char *remote_mta;	     /* NULL: no field */
	const char *diagnostic_code; /* NULL: no field */
	gboolean will_retry;	     /* a Will-Retry-Until field */
	const char *in_text;	     /* the explanation says this */
} Case;

static const Case cases[] = {
	{
	    .name = "failed, whole original",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", "mx.example.com", "550 5.1.1 No such user" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	    .remote_mta = "dns; mx.example.com",
	    .diagnostic_code = "smtp; 550 5.1.1 No such user",
	    .in_text = "The server mx.example.com answered: 550 5.1.1 No such user",
	},
	{
	    .name = "delayed: the header only",
	    .rcpt = { "bob@example.com", NULL, "delayed", "4.4.1", NULL, "connection refused" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Delayed Mail (still being retried)",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "4.4.1",
	    .diagnostic_code = "X-Epistle; connection refused",
	    .will_retry = TRUE,
	    .in_text = "The mail system will keep trying until Sat, 5 Jul 2025 09:00:00 +0200.",
	},
	{
	    .name = "delivered",
	    .rcpt = { "bob@example.com", NULL, "delivered", "2.0.0", "mx.example.com", "250 2.0.0 Ok: queued" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Successful Mail Delivery Report",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "2.0.0",
	    .remote_mta = "dns; mx.example.com",
	    .diagnostic_code = "smtp; 250 2.0.0 Ok: queued",
	    .in_text = "Your message was delivered to the recipients below.",
	},
	{
	    .name = "relayed",
	    .rcpt = { "bob@example.com", NULL, "relayed", NULL, "mx.example.com", NULL },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Successful Mail Delivery Report",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "2.0.0",
	    .remote_mta = "dns; mx.example.com",
	    .in_text = "which may not send further reports",
	},
	{
	    .name = "RET=HDRS",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.2.2", "mx.example.com", "552 5.2.2 Mailbox full" },
	    .build = { .original = ORIGINAL, .original_len = -1, .headers_only = TRUE },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.2.2",
	    .remote_mta = "dns; mx.example.com",
	    .diagnostic_code = "smtp; 552 5.2.2 Mailbox full",
	    .in_text = "Reason: the mailbox is full (status 5.2.2).",
	},
	{
	    .name = "size: exactly the limit",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = ORIGINAL, .original_len = -1, .max_original = sizeof (ORIGINAL) - 1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	    .in_text = "Reason: the mailbox does not exist (status 5.1.1).",
	},
	{
	    .name = "size: one octet over the limit",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = ORIGINAL, .original_len = -1, .max_original = sizeof (ORIGINAL) - 2 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	    .in_text = "Its header is attached below.",
	},
	{
	    .name = "no original",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .subject = "Undelivered Mail Returned to Sender",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "status derived from a 5xx reply",
	    .rcpt = { "bob@example.com", NULL, "failed", NULL, "mx.example.com", "554 go away" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.0.0",
	    .remote_mta = "dns; mx.example.com",
	    .diagnostic_code = "smtp; 554 go away",
	},
	{
	    .name = "status derived from a 4xx reply",
	    .rcpt = { "bob@example.com", NULL, "delayed", "", "mx.example.com", "421 try later" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Delayed Mail (still being retried)",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "4.0.0",
	    .remote_mta = "dns; mx.example.com",
	    .diagnostic_code = "smtp; 421 try later",
	    .will_retry = TRUE,
	},
	{
	    .name = "malformed status, no reply: from the action",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1\r\nX: y", NULL, "no server" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.0.0",
	    .diagnostic_code = "X-Epistle; no server",
	},
	{
	    .name = "CRLF injection in the reply and the host",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.0.0", "mx.example.com\r\nX-Evil: 1",
		      "550 ok\r\nBcc: x\r\n\r\nInjected: y\x01\x7f\xff\tz" },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.0.0",
	    .remote_mta = "dns; mx.example.com X-Evil: 1",
	    .diagnostic_code = "smtp; 550 ok Bcc: x Injected: y ? z",
	},
	{
	    .name = "8-bit body, returned whole",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n", .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .eight_bit = TRUE,
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "8-bit body, header only",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n", .original_len = -1,
		       .headers_only = TRUE },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "8-bit header: message/global",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nbody\r\n", .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/global",
	    .eight_bit = TRUE,
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "8-bit header only: message/global-headers",
	    .rcpt = { "bob@example.com", NULL, "delayed", "4.4.1", NULL, NULL },
	    .build = { .original = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nbody\r\n", .original_len = -1 },
	    .subject = "Delayed Mail (still being retried)",
	    .part3_type = "message/global-headers",
	    .eight_bit = TRUE,
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "4.4.1",
	    .will_retry = TRUE,
	},
	{
	    .name = "bare LF original",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: lf\n\nline one\nline two\n", .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "NUL in the body: the header only",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: nul\r\n\r\na\0b\r\n", .original_len = 22 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "no header/body separator",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "Subject: x\r\nFrom: y", .original_len = -1, .headers_only = TRUE },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "text/rfc822-headers",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "empty original",
	    .rcpt = { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = "", .original_len = 0 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "ORCPT and ENVID",
	    .rcpt = { "bob@example.com", "rfc822;Bob@Example.COM", "failed", "5.1.1", NULL, NULL },
	    .build = { .original = ORIGINAL, .original_len = -1, .envid = "QQ314159" },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .final_recipient = "rfc822; bob@example.com",
	    .status = "5.1.1",
	},
	{
	    .name = "UTF-8 recipient",
	    .rcpt = { "j\xc3\xbcrgen+tag@b\xc3\xbc" "cher.example", NULL, "failed", "5.1.1", NULL, NULL },
	    .build = { .original = ORIGINAL, .original_len = -1 },
	    .subject = "Undelivered Mail Returned to Sender",
	    .part3_type = "message/rfc822",
	    .eight_bit = TRUE,
	    .final_recipient = "utf-8; j\xc3\xbcrgen\\x{2B}tag@b\xc3\xbc" "cher.example",
	    .status = "5.1.1",
	    .in_text = "<j\xc3\xbcrgen+tag@b\xc3\xbc" "cher.example>",
	},
};

static void
test_case (gconstpointer data)
{
	const Case *c = data;
	gboolean global = !g_str_is_ascii (c->rcpt.recipient);
	g_autoptr (GDateTime) last = date (3, 8);
	g_autoptr (GDateTime) until = date (5, 9);
	QueueDsnRecipient rcpt = c->rcpt;
	g_autoptr (Report) r = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *to = NULL;
	g_autofree char *from = NULL;
	g_autofree char *date_field = NULL;
	g_autofree char *last_str = ep_mime_format_date (last);
	g_autofree char *until_str = ep_mime_format_date (until);
	g_autofree char *type = NULL;

	g_test_message ("%s", c->name);
	rcpt.last_attempt = last;
	rcpt.will_retry_until = until;
	r = build_read (&c->build, &rcpt, 1, c->part3_type != NULL ? 3 : 2, global);
	if (c->build.original == ORIGINAL || c->build.original == NULL)
		assert_well_formed (r->msg);

	subject = report_header (r, "Subject");
	g_assert_cmpstr (subject, ==, c->subject);
	from = report_header (r, "From");
	g_assert_cmpstr (from, ==, "Mail Delivery System <MAILER-DAEMON@" HOST ">");
	to = report_header (r, "To");
	g_assert_cmpstr (to, ==, "<alice@example.org>");
	date_field = report_header (r, "Date");
	g_assert_cmpstr (date_field, ==, "Thu, 3 Jul 2025 09:00:00 +0200");
	{
		g_autofree char *auto_submitted = report_header (r, "Auto-Submitted");
		g_autofree char *mime = report_header (r, "MIME-Version");
		g_autofree char *mid = report_header (r, "Message-ID");
		g_assert_cmpstr (auto_submitted, ==, "auto-replied");
		g_assert_cmpstr (mime, ==, "1.0");
		g_assert_true (g_str_has_prefix (mid, "<") && g_str_has_suffix (mid, "@" HOST ">"));
	}
	g_assert_cmpint (r->eight_bit, ==, c->eight_bit);

	/* per message */
	g_assert_cmpuint (r->groups->len, ==, 2);
	g_assert_cmpstr (field (r, 0, "arrival-date"), ==, "Tue, 1 Jul 2025 09:00:00 +0200");
	g_assert_cmpstr (field (r, 0, "original-envelope-id"), ==, c->build.envid);
	/* per recipient */
	g_assert_cmpstr (field (r, 1, "final-recipient"), ==, c->final_recipient);
	g_assert_cmpstr (field (r, 1, "action"), ==, c->rcpt.action);
	g_assert_cmpstr (field (r, 1, "status"), ==, c->status);
	g_assert_cmpstr (field (r, 1, "remote-mta"), ==, c->remote_mta);
	g_assert_cmpstr (field (r, 1, "diagnostic-code"), ==, c->diagnostic_code);
	g_assert_cmpstr (field (r, 1, "last-attempt-date"), ==, last_str);
	g_assert_cmpstr (field (r, 1, "will-retry-until"), ==, c->will_retry ? until_str : NULL);
	if (c->rcpt.orcpt != NULL)
		g_assert_cmpstr (field (r, 1, "original-recipient"), ==, "rfc822; Bob@Example.COM");
	else
		g_assert_null (field (r, 1, "original-recipient"));

	/* the explanation names the recipient */
	g_assert_nonnull (strstr (r->text, c->rcpt.recipient));
	if (c->in_text != NULL) {
		/* unwrapped */
		g_autoptr (GString) flat = g_string_new (NULL);
		g_auto (GStrv) lines = g_strsplit (r->text, "\r\n", -1);
		for (guint i = 0; lines[i] != NULL; i++) {
			g_string_append (flat, g_strstrip (lines[i]));
			g_string_append_c (flat, ' ');
		}
		if (strstr (flat->str, c->in_text) == NULL)
			g_error ("'%s' not in the text:\n%s", c->in_text, r->text);
	}

	/* no forged field anywhere */
	g_assert_false (has_line_starting (r->raw, "Bcc:"));
	g_assert_false (has_line_starting (r->raw, "Injected:"));
	g_assert_false (has_line_starting (r->raw, "X-Evil:"));
	g_assert_false (has_line_starting (r->raw, "X:"));

	if (c->part3_type == NULL) {
		g_assert_null (r->part3);
		return;
	}
	g_assert_cmpstr (part3_type (r, &type), ==, c->part3_type);
	if (g_str_has_prefix (c->part3_type, "message/global") || g_str_has_prefix (c->part3_type, "message/rfc822")) {
		/* whole: the original, with CRLF line ends */
		if (c->build.original == ORIGINAL)
			g_assert_cmpstr (r->part3, ==, ORIGINAL);
		if (g_str_has_prefix (c->build.original, "Subject: lf"))
			g_assert_cmpstr (r->part3, ==, "Subject: lf\r\n\r\nline one\r\nline two\r\n");
		if (strcmp (c->part3_type, "message/global-headers") != 0) {
			EpMimePart *p = ep_mime_part_get_child (ep_mime_message_get_root (r->msg), 2);
			if (c->build.original[0] != '\0')
				g_assert_nonnull (ep_mime_part_get_message (p));
		}
	}
	if (strcmp (c->part3_type, "text/rfc822-headers") == 0 || strcmp (c->part3_type, "message/global-headers") == 0) {
		/* the header only: never the body */
		const char *body = strstr (c->build.original, "\r\n\r\n");
		if (body != NULL && strlen (body) > 6)
			g_assert_null (strstr (r->raw, body + 4));
		g_assert_true (g_str_has_prefix (r->part3, "Subject:") || g_str_has_prefix (r->part3, "From:"));
		if (c->build.original == ORIGINAL)
			g_assert_cmpstr (r->part3, ==,
					 "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hello\r\n"
					 "Message-ID: <m1@example.org>\r\n");
		if (g_str_has_prefix (c->build.original, "Subject: x\r\nFrom: y"))
			g_assert_cmpstr (r->part3, ==, "Subject: x\r\nFrom: y\r\n");
		if (g_str_has_prefix (c->build.original, "Subject: nul"))
			g_assert_cmpstr (r->part3, ==, "Subject: nul\r\n");
	}
}

/* ---- the other tests -------------------------------------------------------- */

static void
test_several_recipients (void)
{
	g_autoptr (GDateTime) until = date (5, 9);
	QueueDsnRecipient rs[] = {
		{ "ok@example.com", NULL, "delivered", "2.0.0", "mx1.example.com", "250 ok" },
		{ "late@example.net", "rfc822;late@example.net", "delayed", "4.4.1", NULL, "connection timed out",
		  NULL, until },
		{ "gone@example.com", NULL, "failed", "5.1.1", "mx1.example.com", "550 5.1.1 gone" },
	};
	Build b = { .original = ORIGINAL, .original_len = -1, .envid = "env-1" };
	g_autoptr (Report) r = build_read (&b, rs, G_N_ELEMENTS (rs), 3, FALSE);
	g_autofree char *subject = report_header (r, "Subject");
	g_autofree char *type = NULL;

	/* any failure makes it a bounce, and the whole message comes back */
	g_assert_cmpstr (subject, ==, "Undelivered Mail Returned to Sender");
	g_assert_cmpstr (part3_type (r, &type), ==, "message/rfc822");
	g_assert_cmpuint (r->groups->len, ==, 4);
	g_assert_cmpstr (field (r, 0, "original-envelope-id"), ==, "env-1");
	for (guint i = 0; i < G_N_ELEMENTS (rs); i++) {
		g_autofree char *final = g_strdup_printf ("rfc822; %s", rs[i].recipient);
		g_assert_cmpstr (field (r, i + 1, "final-recipient"), ==, final);
		g_assert_cmpstr (field (r, i + 1, "action"), ==, rs[i].action);
		g_assert_cmpstr (field (r, i + 1, "status"), ==, rs[i].status);
		g_assert_nonnull (strstr (r->text, rs[i].recipient));
	}
	g_assert_cmpstr (field (r, 2, "original-recipient"), ==, "rfc822; late@example.net");
	g_assert_nonnull (field (r, 2, "will-retry-until"));
	g_assert_null (field (r, 1, "will-retry-until"));
	g_assert_null (field (r, 3, "will-retry-until"));
	/* the failure is explained before the delay */
	g_assert_true (strstr (r->text, "gone@example.com") < strstr (r->text, "late@example.net"));
}

static void
test_long_diagnostic (void)
{
	g_autoptr (GString) diag = g_string_new ("550 5.7.1");
	g_autoptr (GString) token = g_string_new ("554 ");
	g_autofree char *expected = NULL;
	const char *value;
	gsize longest;

	while (diag->len < 3000)
		g_string_append_printf (diag, " word%u", (guint) diag->len);
	while (token->len < 1500)
		g_string_append_c (token, 'x');

	{
		QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", "5.7.1", "mx.example.com", diag->str } };
		Build b = { .original = ORIGINAL, .original_len = -1 };
		g_autoptr (Report) r = build_read (&b, rs, 1, 3, FALSE);
		g_auto (GStrv) lines = g_strsplit (r->raw, "\r\n", -1);

		/* folded at white space: every line fits in 78 columns */
		for (guint i = 0; lines[i] != NULL; i++) {
			if (strlen (lines[i]) > 78)
				g_error ("line %u is %zu long: %s", i, strlen (lines[i]), lines[i]);
		}
		/* unfolded, the reply is whole up to the limit, then "..." */
		value = field (r, 1, "diagnostic-code");
		g_assert_true (g_str_has_prefix (value, "smtp; 550 5.7.1 word9 word15"));
		g_assert_true (g_str_has_suffix (value, "..."));
		g_assert_cmpuint (strlen (value), <=, strlen ("smtp; ") + QUEUE_DSN_MAX_DIAGNOSTIC + 3);
		g_assert_cmpuint (strlen (value), >=, strlen ("smtp; ") + QUEUE_DSN_MAX_DIAGNOSTIC - 16);
		expected = g_strndup (diag->str, strlen (value) - strlen ("smtp; ") - 3);
		{
			g_autofree char *want = g_strconcat (expected, "...", NULL);
			g_assert_cmpstr (value + strlen ("smtp; "), ==, want);
		}
	}
	{
		/* one word longer than a line may be: cut, never over 998 */
		QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", NULL, "mx.example.com", token->str } };
		Build b = { .original = ORIGINAL, .original_len = -1 };
		g_autoptr (Report) r = build_read (&b, rs, 1, 3, FALSE);
		g_autoptr (GString) joined = g_string_new (NULL);

		longest = assert_wire_safe (r->raw, r->len);
		g_assert_cmpuint (longest, >, 78);
		g_assert_cmpuint (longest, <=, 998);
		value = field (r, 1, "diagnostic-code");
		/* unfolding gives the token back, with the space the cut made */
		for (const char *p = value + strlen ("smtp; "); *p != '\0'; p++) {
			if (*p != ' ')
				g_string_append_c (joined, *p);
		}
		g_string_insert_c (joined, 3, ' ');
		g_assert_cmpstr (joined->str, ==, token->str);
		g_assert_cmpstr (field (r, 1, "status"), ==, "5.0.0");
	}
}

static void
test_malformed_originals (void)
{
	static const struct {
		const char *name;
		const char *data;
		gsize len;
		const char *part3_type;
		const char *part3; /* NULL: not checked */
	} originals[] = {
		{ "bare CR", "Subject: cr\rX: y\r\rbody\r", 0, "message/rfc822", "Subject: cr\r\nX: y\r\n\r\nbody\r\n" },
		{ "mixed line ends", "A: 1\r\nB: 2\nC: 3\r\rbody", 0, "message/rfc822", "A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n" },
		{ "only a blank line", "\r\n", 0, "message/rfc822", "\r\n" },
		{ "no header", "\r\nbody only\r\n", 0, "message/rfc822", "\r\nbody only\r\n" },
		{ "a body line of 999 octets", NULL, 0, "text/rfc822-headers", "Subject: long\r\n" },
		{ "NUL in the header", "Sub\0ject: z\r\n\r\nbody\0\r\n", 22, "text/rfc822-headers", "Subject: z\r\n" },
		{ "boundary-like lines", "Subject: b\r\n\r\n--=_dsn_\r\n--=_dsn_00000000--\r\n--\r\n", 0, "message/rfc822", NULL },
		{ "inner multipart without its end",
		  "Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nx\r\n", 0,
		  "message/rfc822", NULL },
		{ "binary junk", "\x01\x02\xff\xfe: \x80\r\n\r\n\xc3", 0, "message/global", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS (originals); i++) {
		QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL } };
		g_autoptr (GString) data = g_string_new (NULL);
		g_autoptr (Report) r = NULL;
		g_autofree char *type = NULL;
		Build b = { 0 };

		g_test_message ("%s", originals[i].name);
		if (originals[i].data != NULL) {
			g_string_append_len (data, originals[i].data,
					     originals[i].len ? (gssize) originals[i].len : (gssize) strlen (originals[i].data));
		} else {
			g_string_append (data, "Subject: long\r\n\r\n");
			for (guint k = 0; k < 999; k++)
				g_string_append_c (data, 'a');
			g_string_append (data, "\r\n");
		}
		b.original = data->str;
		b.original_len = (gssize) data->len;
		r = build_read (&b, rs, 1, 3, FALSE);
		g_assert_cmpstr (part3_type (r, &type), ==, originals[i].part3_type);
		if (originals[i].part3 != NULL)
			g_assert_cmpstr (r->part3, ==, originals[i].part3);
	}
}

static void
test_endless_header (void)
{
	QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL } };
	g_autoptr (GString) data = g_string_new (NULL);
	g_autoptr (Report) r = NULL;
	g_autofree char *type = NULL;
	Build b = { .headers_only = TRUE };

	/* a header block without an end, far larger than the bound */
	for (guint i = 0; data->len < 4 * QUEUE_DSN_MAX_HEADER_BYTES; i++)
		g_string_append_printf (data, "X-Field-%u: some value\r\n", i);
	b.original = data->str;
	b.original_len = (gssize) data->len;
	r = build_read (&b, rs, 1, 3, FALSE);
	g_assert_cmpstr (part3_type (r, &type), ==, "text/rfc822-headers");
	g_assert_cmpuint (strlen (r->part3), <=, QUEUE_DSN_MAX_HEADER_BYTES);
	g_assert_cmpuint (strlen (r->part3), >, QUEUE_DSN_MAX_HEADER_BYTES - 64);
	/* cut at a line end */
	g_assert_true (g_str_has_suffix (r->part3, " some value\r\n"));
	g_assert_true (g_str_has_prefix (data->str, r->part3));

	/* a header line longer than 998 octets is cut to 998 */
	g_string_assign (data, "Subject: ");
	while (data->len < 5000)
		g_string_append_c (data, 'y');
	g_string_append (data, "\r\nTo: z\r\n\r\nbody\r\n");
	b.original = data->str;
	b.original_len = (gssize) data->len;
	{
		g_autoptr (Report) r2 = build_read (&b, rs, 1, 3, FALSE);
		g_auto (GStrv) lines = g_strsplit (r2->part3, "\r\n", -1);
		g_assert_cmpuint (strlen (lines[0]), ==, 998);
		g_assert_cmpstr (lines[1], ==, "To: z");
	}
}

static void
test_boundary_unique (void)
{
	/* the report's boundary never occurs in what it encloses */
	QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL } };
	Build b = { .original = ORIGINAL, .original_len = -1 };
	g_autoptr (Report) r = build_read (&b, rs, 1, 3, FALSE);
	const char *boundary = ep_mime_part_get_param (ep_mime_message_get_root (r->msg), "boundary");
	g_autofree char *delimiter = g_strdup_printf ("--%s", boundary);
	g_autoptr (GString) original = g_string_new ("Subject: trap\r\n\r\n");
	guint n = 0;

	g_assert_nonnull (boundary);
	g_assert_cmpuint (strlen (boundary), <=, 70);
	for (const char *p = strstr (r->raw, delimiter); p != NULL; p = strstr (p + 1, delimiter))
		n++;
	g_assert_cmpuint (n, ==, 4);

	/* an original that holds the delimiter of a previous report */
	g_string_append_printf (original, "%s\r\nContent-Type: text/plain\r\n\r\n%s--\r\n", delimiter, delimiter);
	b.original = original->str;
	{
		g_autoptr (Report) r2 = build_read (&b, rs, 1, 3, FALSE);
		g_assert_cmpstr (r2->part3, ==, original->str);
	}
}

static void
test_no_part3_when_null (void)
{
	QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "failed", "5.1.1", NULL, NULL } };
	gboolean eight_bit = TRUE;
	g_autoptr (GBytes) dsn = queue_dsn_build (HOST, "alice@example.org", "0123456789abcdef", NULL, NULL, rs, 1,
						  NULL, FALSE, 0, NULL, &eight_bit);
	g_autoptr (Report) r = report_read (g_bytes_ref (dsn), eight_bit, 2, FALSE);

	/* no arrival given: no Arrival-Date; no date given: now */
	g_assert_null (field (r, 0, "arrival-date"));
	g_assert_false (eight_bit);
}

static void
test_programming_errors (void)
{
	if (g_test_subprocess ()) {
		QueueDsnRecipient rs[] = { { "bob@example.com", NULL, "exploded", NULL, NULL, NULL } };
		GBytes *dsn = queue_dsn_build (HOST, "a@example.org", "0123456789abcdef", NULL, NULL, rs, 1, NULL, FALSE,
					       0, NULL, NULL);
		g_assert_null (dsn);
		return;
	}
	g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_failed ();
	g_test_trap_assert_stderr ("*CRITICAL*dsn_action_parse*");
}

/* ---- random originals ------------------------------------------------------- */

static void
test_random_originals (void)
{
	static const char *const pieces[] = {
		"\r\n", "\n", "\r", "\r\n\r\n", ": ", "Subject", "Content-Type: multipart/mixed; boundary=", "\"b\"",
		"--", "--b", "--b--", "=_dsn_", " ", "\t", "\0", "\xc3\xbc", "\xff", "x", "From: a@b", "\r\n ",
		"Content-Type: message/rfc822", "Content-Transfer-Encoding: base64", "..", ".",
	};
	g_autoptr (GRand) rand = g_rand_new_with_seed (0x64736e);
	g_autoptr (GDateTime) until = date (5, 9);
	g_autofree char *long_line = g_strnfill (1200, 'L');

	for (guint round = 0; round < 400; round++) {
		g_autoptr (GString) data = g_string_new (NULL);
		guint n_pieces = (guint) g_rand_int_range (rand, 0, 200);
		QueueDsnRecipient rs[2] = {
			{ "bob@example.com", NULL, round % 3 == 0 ? "delayed" : "failed", NULL, "mx.example.com", NULL,
			  NULL, until },
			{ "carol@example.net", "rfc822;carol@example.net", "delivered", "2.0.0", NULL, NULL },
		};
		g_autoptr (GString) diag = g_string_new (NULL);
		g_autoptr (Report) r = NULL;
		g_autofree char *type = NULL;
		Build b = { 0 };

		for (guint i = 0; i < n_pieces; i++) {
			guint k = (guint) g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces));
			if (pieces[k][0] == '\0')
				g_string_append_c (data, '\0');
			else if (g_rand_int_range (rand, 0, 40) == 0)
				g_string_append (data, long_line);
			else
				g_string_append (data, pieces[k]);
		}
		/* a hostile reply made of the same pieces */
		g_string_append (diag, round % 3 == 0 ? "450 " : "550 ");
		for (guint i = 0; i < 20; i++) {
			guint k = (guint) g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces));
			g_string_append (diag, pieces[k][0] != '\0' ? pieces[k] : "?");
		}
		rs[0].diagnostic = diag->str;

		b.original = data->str;
		b.original_len = (gssize) data->len;
		b.headers_only = g_rand_int_range (rand, 0, 4) == 0;
		b.max_original = (gsize) g_rand_int_range (rand, 1, 2000);
		r = build_read (&b, rs, 2, 3, FALSE);
		g_assert_cmpuint (r->groups->len, ==, 3);
		g_assert_cmpstr (field (r, 2, "final-recipient"), ==, "rfc822; carol@example.net");
		g_assert_cmpstr (field (r, 1, "status"), ==, round % 3 == 0 ? "4.0.0" : "5.0.0");
		g_assert_true (g_str_has_prefix (field (r, 1, "diagnostic-code"), round % 3 == 0 ? "smtp; 450" : "smtp; 550"));
		part3_type (r, &type);
		g_assert_true (g_strv_contains ((const char *const[]) { "message/rfc822", "message/global",
									"text/rfc822-headers", "message/global-headers",
									NULL },
						type));
		/* the whole message only in a failure report, within the limit */
		if (g_str_has_prefix (type, "message/global") && !g_str_has_suffix (type, "-headers"))
			g_assert_true (round % 3 != 0 && !b.headers_only && data->len <= b.max_original);
		if (strcmp (type, "message/rfc822") == 0)
			g_assert_true (round % 3 != 0 && !b.headers_only && data->len <= b.max_original);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *path = g_strdup_printf ("/queue-dsn/case/%u", i);
		g_test_add_data_func (path, &cases[i], test_case);
	}
	g_test_add_func ("/queue-dsn/several-recipients", test_several_recipients);
	g_test_add_func ("/queue-dsn/long-diagnostic", test_long_diagnostic);
	g_test_add_func ("/queue-dsn/malformed-originals", test_malformed_originals);
	g_test_add_func ("/queue-dsn/endless-header", test_endless_header);
	g_test_add_func ("/queue-dsn/boundary", test_boundary_unique);
	g_test_add_func ("/queue-dsn/no-original", test_no_part3_when_null);
	g_test_add_func ("/queue-dsn/programming-errors", test_programming_errors);
	g_test_add_func ("/queue-dsn/random-originals", test_random_originals);
	return g_test_run ();
}
