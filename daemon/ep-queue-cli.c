/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>
#include <sysexits.h>

#include "ep-cli-db.h"
#include "ep-daemon.h"
#include "ep-db.h"
#include "ep-error.h"
#include "ep-queue-cli.h"
#include "queue-private.h"

/*
 * A recipient is being delivered while a worker holds its lease: the
 * claim set lease_owner and moved next_attempt past the longest an attempt
 * can take, and the outcome clears lease_owner.  A lease whose end has
 * passed belongs to a worker that died: the recipient is due again and
 * any worker may claim it.  retry and flush leave leased recipients alone
 * (moving next_attempt would let a second worker take them while the
 * first still delivers, and the first one's outcome would be lost);
 * delete waits a little for the attempt to end.  Rows locked at that
 * moment are being claimed or getting their outcome: they are skipped
 * (SKIP LOCKED) and count as being delivered, so that these statements
 * never wait on a worker's row locks, nor a worker on theirs.
 */
#define EP_QUEUE_CLI_LEASED "(r.lease_owner IS NOT NULL AND r.next_attempt > now())"
/* "to_char(column" EP_QUEUE_CLI_UTC: the time in UTC, as 2024-05-01T10:00:00Z */
#define EP_QUEUE_CLI_UTC " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* how long delete waits for an attempt under way to end, and how often it looks */
#define EP_QUEUE_CLI_DELETE_WAIT_US (10 * G_USEC_PER_SEC)
#define EP_QUEUE_CLI_DELETE_POLL_US (200 * 1000)

/* the column of the list where recipients start: under the sender, two further in */
#define EP_QUEUE_CLI_RCPT_INDENT 51

gboolean
ep_queue_cli_id_is_valid (const char *id)
{
	if (id == NULL)
		return FALSE;
	for (guint i = 0; i < 16; i++) {
		if (!g_ascii_isdigit (id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
			return FALSE;
	}
	return id[16] == '\0';
}

/* @text, @len bytes (-1: NUL-terminated), safe to print on a terminal:
 * invalid UTF-8 and control characters (but tabs) become '?' */
static char *
ep_queue_cli_printable (const char *text, gssize len)
{
	g_autofree char *valid = NULL;
	GString *out;

	if (text == NULL)
		return g_strdup ("");
	valid = g_utf8_make_valid (text, len);
	out = g_string_sized_new (strlen (valid));
	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p)) {
		gunichar c = g_utf8_get_char (p);

		if (c == 0xfffd || (c != '\t' && g_unichar_iscntrl (c)))
			g_string_append_c (out, '?');
		else
			g_string_append_unichar (out, c);
	}
	return g_string_free (out, FALSE);
}

static void
ep_queue_cli_not_found (const char *id)
{
	g_printerr (_("mail queue: no message %s in the queue (a message leaves it once each of its recipients is "
		      "delivered or has failed)\n"),
		    id);
}

/* The queue module's listener looks at the queue at once.  The change is
 * committed before: without the notification a running daemon still sees
 * it, within [queue] poll_interval. */
static void
ep_queue_cli_wake (EpDb *db)
{
	g_autoptr (GAsyncResult) result = NULL;
	g_autoptr (GError) error = NULL;

	ep_db_notify_async (db, QUEUE_CHANNEL, "wakeup", NULL, ep_db_sync_callback, &result);
	ep_db_run_sync (db, &result);
	if (!ep_db_notify_finish (db, result, &error))
		g_printerr (_("mail queue: warning: a running daemon was not woken (%s); it finds the work within its "
			      "poll_interval\n"),
			    error->message);
}

/* ", N being delivered now (left alone)" or "" */
static char *
ep_queue_cli_leased_note (guint n_leased)
{
	if (n_leased == 0)
		return g_strdup ("");
	return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, ", %u being delivered now (left alone)",
					     ", %u being delivered now (left alone)", n_leased),
				n_leased);
}

/* ---- list -------------------------------------------------------------------- */

#define EP_QUEUE_CLI_SQL_LIST                                                                                          \
	"WITH q AS (SELECT m.id AS mid, m.created_at, m.queue_id, m.sender, r.id AS rid, r.recipient, r.attempts,"     \
	" r.next_attempt, " EP_QUEUE_CLI_LEASED " AS leased, r.last_code, r.last_status"                               \
	" FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id WHERE r.state = 'queued')"              \
	" SELECT queue_id, sender, recipient, leased, last_code, last_status, max(attempts) OVER w,"                   \
	" to_char(min(next_attempt) FILTER (WHERE NOT leased) OVER w" EP_QUEUE_CLI_UTC                                 \
	" FROM q WINDOW w AS (PARTITION BY mid) ORDER BY created_at, mid, rid"

static int
ep_queue_cli_list (EpDaemon *daemon)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = NULL;
	const char *previous = NULL;
	guint n_messages = 0;

	res = ep_db_query_sync (ep_daemon_get_db (daemon), EP_QUEUE_CLI_SQL_LIST, NULL, &error);
	if (res == NULL)
		return ep_cli_db_fail ("queue", daemon, error);
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		const char *id = ep_db_result_get_text (res, i, 0);
		g_autofree char *recipient = ep_queue_cli_printable (ep_db_result_get_text (res, i, 2), -1);
		g_autofree char *note = NULL;

		if (g_strcmp0 (id, previous) != 0) {
			g_autofree char *sender = ep_queue_cli_printable (ep_db_result_get_text (res, i, 1), -1);

			if (n_messages == 0)
				g_print ("%-16s %8s  %-20s  %s\n", _("ID"), _("ATTEMPTS"), _("NEXT ATTEMPT"),
					 _("SENDER / RECIPIENTS"));
			/* no next attempt: every queued recipient is being delivered */
			g_print ("%-16s %8s  %-20s  <%s>\n", id, ep_db_result_get_text (res, i, 6),
				 ep_db_result_is_null (res, i, 7) ? _("being delivered")
								  : ep_db_result_get_text (res, i, 7),
				 sender);
			previous = id;
			n_messages++;
		}
		if (ep_db_result_get_boolean (res, i, 3))
			note = g_strdup (_(" (being delivered)"));
		else if (!ep_db_result_is_null (res, i, 4) && ep_db_result_get_int64 (res, i, 4) > 0)
			note =
			    g_strdup_printf (_(" (last reply %s%s%s)"), ep_db_result_get_text (res, i, 4),
					     ep_db_result_is_null (res, i, 5) ? "" : " ",
					     ep_db_result_is_null (res, i, 5) ? "" : ep_db_result_get_text (res, i, 5));
		else if (!ep_db_result_is_null (res, i, 4))
			note = g_strdup (_(" (no server answered)"));
		g_print ("%*s%s%s\n", EP_QUEUE_CLI_RCPT_INDENT, "", recipient, note != NULL ? note : "");
	}
	g_print (g_dngettext (GETTEXT_PACKAGE, "%u queued\n", "%u queued\n", n_messages), n_messages);
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- show -------------------------------------------------------------------- */

/* the header block only: up to the first empty line */
#define EP_QUEUE_CLI_SQL_MESSAGE                                                                                       \
	"SELECT id, sender, size, to_char(created_at" EP_QUEUE_CLI_UTC ", envid, ret_headers_only, body_8bit,"         \
	" smtputf8, kind, submitted_by,"                                                                               \
	" CASE WHEN position(decode('0d0a0d0a', 'hex') IN message) > 0"                                                \
	"  THEN substring(message FROM 1 FOR position(decode('0d0a0d0a', 'hex') IN message) + 1)"                      \
	"  ELSE message END"                                                                                           \
	" FROM queue_messages WHERE queue_id = $1"

#define EP_QUEUE_CLI_SQL_RECIPIENTS                                                                                    \
	"SELECT recipient, state, attempts, to_char(next_attempt" EP_QUEUE_CLI_UTC ", " EP_QUEUE_CLI_LEASED ","        \
	" lease_owner, to_char(last_attempt" EP_QUEUE_CLI_UTC ", last_reply, remote_host, orcpt"                       \
	" FROM queue_recipients r WHERE message_id = $1 ORDER BY id"

static void
ep_queue_cli_print_recipient (EpDbResult *res, guint i)
{
	g_autofree char *recipient = ep_queue_cli_printable (ep_db_result_get_text (res, i, 0), -1);
	const char *state = ep_db_result_get_text (res, i, 1);
	gint64 attempts = ep_db_result_get_int64 (res, i, 2);
	g_autofree char *attempts_text =
	    g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%" G_GINT64_FORMAT " attempt",
					  "%" G_GINT64_FORMAT " attempts", (gulong)attempts),
			     attempts);

	g_print ("  %s\n", recipient);
	if (!ep_db_result_is_null (res, i, 9)) {
		g_autofree char *orcpt = ep_queue_cli_printable (ep_db_result_get_text (res, i, 9), -1);
		g_print (_("    original recipient: %s\n"), orcpt);
	}
	if (g_strcmp0 (state, "queued") != 0) {
		g_print ("    %s, %s\n", state, attempts_text);
	} else if (ep_db_result_get_boolean (res, i, 4)) {
		g_autofree char *node = ep_queue_cli_printable (ep_db_result_get_text (res, i, 5), -1);
		g_print (_("    %s, %s, being delivered by %s (its lease ends %s)\n"), state, attempts_text, node,
			 ep_db_result_get_text (res, i, 3));
	} else {
		g_print (_("    %s, %s, next attempt %s\n"), state, attempts_text, ep_db_result_get_text (res, i, 3));
	}
	if (!ep_db_result_is_null (res, i, 7)) {
		g_autofree char *reply = ep_queue_cli_printable (ep_db_result_get_text (res, i, 7), -1);
		g_autofree char *host = ep_queue_cli_printable (ep_db_result_get_text (res, i, 8), -1);

		if (ep_db_result_is_null (res, i, 8))
			g_print (_("    last attempt %s: %s\n"), ep_db_result_get_text (res, i, 6), reply);
		else
			g_print (_("    last attempt %s, %s: %s\n"), ep_db_result_get_text (res, i, 6), host, reply);
	}
}

static void
ep_queue_cli_print_header (GBytes *bytes)
{
	gsize len = 0;
	const char *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
	gsize start = 0;

	while (start < len) {
		const char *nl = memchr (data + start, '\n', len - start);
		gsize end = nl != NULL ? (gsize)(nl - data) : len;
		gsize line_len = end - start;
		g_autofree char *line = NULL;

		if (line_len > 0 && data[start + line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			break;
		line = ep_queue_cli_printable (data + start, (gssize)line_len);
		g_print ("  %s\n", line);
		start = end + 1;
	}
}

static int
ep_queue_cli_show (EpDaemon *daemon, const char *id)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = ep_db_params_new_text (id, NULL);
	g_autoptr (EpDbParams) rcpt_params = NULL;
	g_autoptr (EpDbResult) message = NULL;
	g_autoptr (EpDbResult) rcpts = NULL;
	g_autoptr (GBytes) header = NULL;
	g_autofree char *sender = NULL;
	EpDb *db = ep_daemon_get_db (daemon);
	gint64 size;

	message = ep_db_query_sync (db, EP_QUEUE_CLI_SQL_MESSAGE, params, &error);
	if (message == NULL)
		return ep_cli_db_fail ("queue", daemon, error);
	if (ep_db_result_get_n_rows (message) == 0) {
		ep_queue_cli_not_found (id);
		ep_daemon_close (daemon);
		return EX_NOINPUT;
	}
	rcpt_params = ep_db_params_new ();
	ep_db_params_add_int64 (rcpt_params, ep_db_result_get_int64 (message, 0, 0));
	rcpts = ep_db_query_sync (db, EP_QUEUE_CLI_SQL_RECIPIENTS, rcpt_params, &error);
	if (rcpts == NULL)
		return ep_cli_db_fail ("queue", daemon, error);

	sender = ep_queue_cli_printable (ep_db_result_get_text (message, 0, 1), -1);
	g_print ("%-14s %s\n", _("Queue ID:"), id);
	g_print ("%-14s <%s>\n", _("Sender:"), sender);
	if (!ep_db_result_is_null (message, 0, 9)) {
		g_autofree char *account = ep_queue_cli_printable (ep_db_result_get_text (message, 0, 9), -1);
		g_print ("%-14s %s\n", _("Submitted by:"), account);
	}
	if (g_strcmp0 (ep_db_result_get_text (message, 0, 8), "dsn") == 0)
		g_print ("%-14s %s\n", _("Kind:"), _("delivery status notification"));
	size = ep_db_result_get_int64 (message, 0, 2);
	g_print ("%-14s ", _("Size:"));
	g_print (
	    g_dngettext (GETTEXT_PACKAGE, "%" G_GINT64_FORMAT " byte\n", "%" G_GINT64_FORMAT " bytes\n", (gulong)size),
	    size);
	g_print ("%-14s %s\n", _("Arrival:"), ep_db_result_get_text (message, 0, 3));
	if (ep_db_result_get_boolean (message, 0, 6) || ep_db_result_get_boolean (message, 0, 7))
		g_print ("%-14s %s%s%s\n", _("Body:"), ep_db_result_get_boolean (message, 0, 6) ? "8BITMIME" : "",
			 ep_db_result_get_boolean (message, 0, 6) && ep_db_result_get_boolean (message, 0, 7) ? ", "
													      : "",
			 ep_db_result_get_boolean (message, 0, 7) ? "SMTPUTF8" : "");
	if (!ep_db_result_is_null (message, 0, 4)) {
		g_autofree char *envid = ep_queue_cli_printable (ep_db_result_get_text (message, 0, 4), -1);
		g_print ("%-14s %s\n", "ENVID:", envid);
	}
	if (ep_db_result_get_boolean (message, 0, 5))
		g_print ("%-14s %s\n", "RET:", "HDRS");

	g_print ("\n%s\n", _("Recipients:"));
	for (guint i = 0; i < ep_db_result_get_n_rows (rcpts); i++)
		ep_queue_cli_print_recipient (rcpts, i);

	g_print ("\n%s\n", _("Header:"));
	header = ep_db_result_get_bytes (message, 0, 10);
	ep_queue_cli_print_header (header);
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- retry and flush --------------------------------------------------------- */

/* $1: the queue id.  Columns: the message exists, recipients made due,
 * queued recipients left alone (being delivered). */
#define EP_QUEUE_CLI_SQL_RETRY                                                                                         \
	"WITH m AS (SELECT id FROM queue_messages WHERE queue_id = $1),"                                               \
	" c AS (SELECT r.id FROM queue_recipients r, m WHERE r.message_id = m.id AND r.state = 'queued'"               \
	"  AND NOT " EP_QUEUE_CLI_LEASED " FOR UPDATE OF r SKIP LOCKED),"                                              \
	" u AS (UPDATE queue_recipients r SET next_attempt = LEAST(r.next_attempt, now())"                             \
	"  FROM c WHERE r.id = c.id RETURNING r.id)"                                                                   \
	" SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM u),"                                                  \
	" (SELECT count(*) FROM queue_recipients r, m WHERE r.message_id = m.id AND r.state = 'queued')"               \
	"  - (SELECT count(*) FROM u)"

#define EP_QUEUE_CLI_SQL_FLUSH                                                                                         \
	"WITH c AS (SELECT r.id FROM queue_recipients r WHERE r.state = 'queued'"                                      \
	"  AND NOT " EP_QUEUE_CLI_LEASED " FOR UPDATE SKIP LOCKED),"                                                   \
	" u AS (UPDATE queue_recipients r SET next_attempt = LEAST(r.next_attempt, now())"                             \
	"  FROM c WHERE r.id = c.id RETURNING r.message_id)"                                                           \
	" SELECT 1, (SELECT count(*) FROM u),"                                                                         \
	" (SELECT count(*) FROM queue_recipients WHERE state = 'queued') - (SELECT count(*) FROM u),"                  \
	" (SELECT count(DISTINCT message_id) FROM u)"

static int
ep_queue_cli_make_due (EpDaemon *daemon, const char *id)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbParams) params = id != NULL ? ep_db_params_new_text (id, NULL) : NULL;
	g_autoptr (EpDbResult) res = NULL;
	g_autofree char *leased = NULL;
	EpDb *db = ep_daemon_get_db (daemon);
	guint n_due;

	res = ep_db_query_sync (db, id != NULL ? EP_QUEUE_CLI_SQL_RETRY : EP_QUEUE_CLI_SQL_FLUSH, params, &error);
	if (res == NULL)
		return ep_cli_db_fail ("queue", daemon, error);
	if (ep_db_result_get_int64 (res, 0, 0) == 0) {
		ep_queue_cli_not_found (id);
		ep_daemon_close (daemon);
		return EX_NOINPUT;
	}
	n_due = (guint)ep_db_result_get_int64 (res, 0, 1);
	leased = ep_queue_cli_leased_note ((guint)ep_db_result_get_int64 (res, 0, 2));
	ep_queue_cli_wake (db);
	if (id != NULL) {
		g_print (g_dngettext (GETTEXT_PACKAGE, "%s: %u recipient due now%s\n", "%s: %u recipients due now%s\n",
				      n_due),
			 id, n_due, leased);
	} else {
		guint n_messages = (guint)ep_db_result_get_int64 (res, 0, 3);
		g_autofree char *of = g_strdup_printf (
		    g_dngettext (GETTEXT_PACKAGE, "%u message", "%u messages", n_messages), n_messages);
		g_print (g_dngettext (GETTEXT_PACKAGE, "%u recipient of %s due now%s\n",
				      "%u recipients of %s due now%s\n", n_due),
			 n_due, of, leased);
	}
	ep_daemon_close (daemon);
	return EX_OK;
}

/* ---- delete ------------------------------------------------------------------ */

/* $1: the queue id.  The message row is locked first (a worker removing
 * it once its last recipient is done is waited for), then its recipients:
 * no claim can take one between the look at the leases and the delete.
 * Columns: the message exists, recipients being delivered (or locked by a
 * worker now), one of their nodes, when their leases end, deleted. */
#define EP_QUEUE_CLI_SQL_DELETE                                                                                        \
	"WITH m AS (SELECT id FROM queue_messages WHERE queue_id = $1 FOR UPDATE),"                                    \
	" r AS (SELECT q.state, q.lease_owner, q.next_attempt FROM queue_recipients q, m"                              \
	"  WHERE q.message_id = m.id FOR UPDATE OF q SKIP LOCKED),"                                                    \
	" busy AS (SELECT (SELECT count(*) FROM queue_recipients q, m WHERE q.message_id = m.id) - count(*)"           \
	"  + count(*) FILTER (WHERE r.state = 'queued' AND " EP_QUEUE_CLI_LEASED ") AS n,"                             \
	"  min(r.lease_owner) FILTER (WHERE r.state = 'queued' AND " EP_QUEUE_CLI_LEASED ") AS node,"                  \
	"  max(r.next_attempt) FILTER (WHERE r.state = 'queued' AND " EP_QUEUE_CLI_LEASED ") AS until FROM r),"        \
	" d AS (DELETE FROM queue_messages x USING m, busy WHERE x.id = m.id AND busy.n = 0 RETURNING x.id)"           \
	" SELECT (SELECT count(*) FROM m), busy.n, busy.node, to_char(busy.until" EP_QUEUE_CLI_UTC ","                 \
	" (SELECT count(*) FROM d) FROM busy"

static int
ep_queue_cli_delete (EpDaemon *daemon, const char *id)
{
	g_autoptr (EpDbParams) params = ep_db_params_new_text (id, NULL);
	EpDb *db = ep_daemon_get_db (daemon);
	gint64 deadline = g_get_monotonic_time () + EP_QUEUE_CLI_DELETE_WAIT_US;
	gboolean said = FALSE;

	for (;;) {
		g_autoptr (GError) error = NULL;
		g_autoptr (EpDbResult) res = ep_db_query_sync (db, EP_QUEUE_CLI_SQL_DELETE, params, &error);
		g_autofree char *node = NULL;

		if (res == NULL)
			return ep_cli_db_fail ("queue", daemon, error);
		if (ep_db_result_get_int64 (res, 0, 4) > 0) {
			g_print (_("%s deleted, without a bounce\n"), id);
			ep_daemon_close (daemon);
			return EX_OK;
		}
		/* gone, or gone meanwhile: every recipient was done */
		if (ep_db_result_get_int64 (res, 0, 0) == 0 || ep_db_result_get_int64 (res, 0, 1) == 0) {
			ep_queue_cli_not_found (id);
			ep_daemon_close (daemon);
			return EX_NOINPUT;
		}
		/* no node: its rows are locked by a claim in progress */
		node = ep_db_result_is_null (res, 0, 2)
			   ? g_strdup (_("a worker"))
			   : ep_queue_cli_printable (ep_db_result_get_text (res, 0, 2), -1);
		if (g_get_monotonic_time () >= deadline && ep_db_result_is_null (res, 0, 3)) {
			g_printerr (_("mail queue: %s is still being delivered by %s; try again later\n"), id, node);
			ep_daemon_close (daemon);
			return EX_TEMPFAIL;
		}
		if (g_get_monotonic_time () >= deadline) {
			g_printerr (_("mail queue: %s is still being delivered by %s (its lease ends %s); try again "
				      "later\n"),
				    id, node, ep_db_result_get_text (res, 0, 3));
			ep_daemon_close (daemon);
			return EX_TEMPFAIL;
		}
		if (!said) {
			g_printerr (_("mail queue: %s is being delivered by %s; waiting for the attempt to end\n"), id,
				    node);
			said = TRUE;
		}
		g_usleep (EP_QUEUE_CLI_DELETE_POLL_US);
	}
}

/* ---- the command ------------------------------------------------------------- */

static int
ep_queue_cli_usage (void)
{
	g_printerr (_("mail queue: usage: mail queue %s\n"), EP_QUEUE_CLI_PARAMETERS);
	return EX_USAGE;
}

int
ep_queue_cli_run (const char *config_path, gboolean verbose, int argc, char **argv)
{
	g_autoptr (EpDaemon) daemon = NULL;
	const char *command = argc > 0 ? argv[0] : NULL;
	const char *id = NULL;
	int exit_code = EX_OK;

	if (command == NULL) {
		/* the list */
	} else if (g_strcmp0 (command, "show") == 0 || g_strcmp0 (command, "retry") == 0 ||
		   g_strcmp0 (command, "delete") == 0) {
		if (argc != 2) {
			g_printerr (_("mail queue: %s takes a queue id\n"), command);
			return ep_queue_cli_usage ();
		}
		id = argv[1];
		if (!ep_queue_cli_id_is_valid (id)) {
			g_autofree char *shown = ep_queue_cli_printable (id, -1);
			g_printerr (
			    _("mail queue: '%s' is not a queue id (16 lower-case hex digits, as mail queue lists "
			      "them)\n"),
			    shown);
			return EX_DATAERR;
		}
	} else if (g_strcmp0 (command, "flush") == 0) {
		if (argc != 1) {
			g_printerr (_("mail queue: flush takes no argument\n"));
			return ep_queue_cli_usage ();
		}
	} else {
		g_autofree char *shown = ep_queue_cli_printable (command, -1);
		g_printerr (_("mail queue: unknown command '%s'\n"), shown);
		return ep_queue_cli_usage ();
	}

	daemon = ep_cli_db_open ("queue", config_path, verbose, "queue_messages", "queue", &exit_code);
	if (daemon == NULL)
		return exit_code;
	if (command == NULL)
		return ep_queue_cli_list (daemon);
	if (g_strcmp0 (command, "show") == 0)
		return ep_queue_cli_show (daemon, id);
	if (g_strcmp0 (command, "delete") == 0)
		return ep_queue_cli_delete (daemon, id);
	/* retry ID, flush */
	return ep_queue_cli_make_due (daemon, id);
}
