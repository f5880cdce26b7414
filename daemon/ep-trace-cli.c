/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>
#include <sysexits.h>

#include "ep-core-private.h"
#include "ep-daemon.h"
#include "ep-error.h"
#include "ep-hooks.h"
#include "ep-resolver.h"
#include "ep-trace-cli.h"

#define EP_TRACE_MAX_MESSAGE (64 * 1024 * 1024)

/* ---- printing ----------------------------------------------------------- */

/* one line of text from the outside (DNS data, reply texts): no control characters */
static char *
ep_trace_clean (const char *text)
{
	char *out = g_utf8_make_valid (text, -1);

	for (char *p = out; *p != '\0'; p++) {
		if ((guchar) *p < 0x20 || (guchar) *p == 0x7f)
			*p = '?';
	}
	return out;
}

static char *
ep_trace_format_records (const EpDnsAnswer *answer)
{
	g_autoptr(GString) out = g_string_new (NULL);

	if (answer->nxdomain)
		return g_strdup ("NXDOMAIN");
	if (answer->records->len == 0)
		return g_strdup ("no records");
	for (guint i = 0; i < answer->records->len; i++) {
		gpointer r = g_ptr_array_index (answer->records, i);
		g_autofree char *item = NULL;

		switch (answer->rrtype) {
		case EP_DNS_TYPE_A:
		case EP_DNS_TYPE_AAAA:
			item = g_inet_address_to_string (r);
			break;
		case EP_DNS_TYPE_MX: {
			const EpDnsMx *mx = r;
			item = g_strdup_printf ("%u %s", mx->preference, mx->host[0] != '\0' ? mx->host : ".");
			break;
		}
		case EP_DNS_TYPE_TXT: {
			g_autofree char *clean = ep_trace_clean (r);
			item = g_strdup_printf ("\"%s\"", clean);
			break;
		}
		case EP_DNS_TYPE_TLSA: {
			const EpDnsTlsa *t = r;
			item = g_strdup_printf ("%u %u %u", t->usage, t->selector, t->matching_type);
			break;
		}
		default:
			item = ep_trace_clean (r);
			break;
		}
		if (i > 0)
			g_string_append (out, ", ");
		g_string_append (out, item);
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
ep_trace_on_dns (EpResolver *resolver, const char *name, guint16 rrtype, const EpDnsAnswer *answer,
		 const GError *error, gpointer user_data)
{
	g_autofree char *clean_name = ep_trace_clean (name);

	if (answer != NULL) {
		g_autofree char *records = ep_trace_format_records (answer);
		g_print ("    dns %s %s -> %s%s\n", clean_name, ep_dns_type_to_string (rrtype), records,
			 answer->secure ? " (DNSSEC)" : "");
	} else {
		g_print ("    dns %s %s -> %s\n", clean_name, ep_dns_type_to_string (rrtype), error->message);
	}
}

static void
ep_trace_print_result (const EpHookResult *result)
{
	for (guint i = 0; i < result->steps->len; i++) {
		const EpHookStep *step = g_ptr_array_index (result->steps, i);
		g_autofree char *what = NULL;

		if (step->verdict != NULL)
			what = ep_verdict_to_string (step->verdict);
		else
			what = g_strdup_printf ("failed: %s", step->error != NULL ? step->error->message : "?");
		g_print ("  %-14s %s (%.1f ms)\n", step->module, what, step->elapsed_us / 1000.0);
	}
	for (guint i = 0; i < result->headers->len; i++) {
		const EpHookHeader *h = g_ptr_array_index (result->headers, i);
		g_autofree char *value = ep_trace_clean (h->value);
		g_print ("  + %s: %s\n", h->name, value);
	}
	if (result->reason != NULL)
		g_print ("  chain failed closed: %s\n", result->reason->message);
}

/* ---- running the chain ---------------------------------------------------- */

static void
ep_trace_on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;
	*out = g_object_ref (result);
}

/* Runs one hook point to its end and prints what each handler said.
 * Returns (nullable): how the chain ended; NULL when it failed. */
static EpHookResult *
ep_trace_run (EpHookBus *bus, EpHookPoint point, gpointer ctx, const char *what)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) error = NULL;
	EpHookResult *result;

	g_print ("%s%s%s\n", ep_hook_point_to_string (point), what[0] != '\0' ? " " : "", what);
	ep_hook_bus_run_async (bus, point, ctx, 0, NULL, ep_trace_on_done, &res);
	while (res == NULL)
		g_main_context_iteration (NULL, TRUE);
	result = ep_hook_bus_run_finish (bus, res, &error);
	if (result == NULL) {
		g_print ("  failed: %s\n", error->message);
		return NULL;
	}
	if (result->steps->len == 0)
		g_print ("  (no handler)\n");
	ep_trace_print_result (result);
	return result;
}

/* TRUE when the chain refused: the message would not be taken */
static gboolean
ep_trace_refused (const EpHookResult *result, const char *stage)
{
	g_autofree char *text = NULL;

	if (result == NULL) {
		g_print ("\nverdict: refused at %s: 451 4.3.0 (the chain failed)\n", stage);
		return TRUE;
	}
	if (result->verdict->kind != EP_VERDICT_REJECT && result->verdict->kind != EP_VERDICT_TEMPFAIL)
		return FALSE;
	text = ep_verdict_to_string (result->verdict);
	g_print ("\nverdict: refused at %s by %s: %s\n", stage, result->module != NULL ? result->module : "?", text);
	return TRUE;
}

static GBytes *
ep_trace_read_message (const char *path, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	GString *crlf;

	if (!g_file_get_contents (path, &data, &len, error))
		return NULL;
	if (len > EP_TRACE_MAX_MESSAGE) {
		g_set_error (error, EP_ERROR, EP_ERROR_LIMIT, "%s: larger than %u MiB", path,
			     EP_TRACE_MAX_MESSAGE / (1024 * 1024));
		return NULL;
	}
	/* as SMTP carries it: CRLF line ends */
	crlf = g_string_sized_new (len + len / 40 + 2);
	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			g_string_append_c (crlf, '\r');
		g_string_append_c (crlf, data[i]);
	}
	return g_string_free_to_bytes (crlf);
}

typedef struct {
	char *address;
	char *account;
	gboolean quarantine;
	gboolean discard;
} EpTraceRcpt;

static void
ep_trace_rcpt_free (EpTraceRcpt *r)
{
	g_free (r->address);
	g_free (r->account);
	g_free (r);
}

/* The chain as the smtp module runs it; returns where the trace ends. */
static void
ep_trace_chain (EpHookBus *bus, const char *hostname, EpSmtpSessionInfo *info, const EpTraceOptions *o,
		GBytes *message, GPtrArray *paths)
{
	g_autoptr(EpAuthResults) auth_results = NULL;
	g_autoptr(GPtrArray) rcpts = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_trace_rcpt_free);
	g_autoptr(EpHookResult) r_connect = NULL;
	g_autoptr(EpHookResult) r_helo = NULL;
	g_autoptr(EpHookResult) r_mail = NULL;
	g_autoptr(EpHookResult) r_data = NULL;
	g_autofree char *ar_value = NULL;
	EpSmtpConnectCtx c_connect = { 0 };
	EpSmtpHeloCtx c_helo = { 0 };
	EpSmtpMailFromCtx c_mail = { 0 };
	EpSmtpDataCtx c_data = { 0 };
	gboolean quarantine_all = FALSE;

	c_connect.session = info;
	r_connect = ep_trace_run (bus, EP_HOOK_POINT_SMTP_CONNECT, &c_connect, "");
	if (ep_trace_refused (r_connect, "smtp.connect"))
		return;
	c_helo.session = info;
	c_helo.helo = o->helo;
	c_helo.is_ehlo = TRUE;
	r_helo = ep_trace_run (bus, EP_HOOK_POINT_SMTP_HELO, &c_helo, o->helo);
	if (ep_trace_refused (r_helo, "smtp.helo"))
		return;

	auth_results = ep_auth_results_new (hostname);
	c_mail.session = info;
	c_mail.reverse_path = o->mail_from;
	c_mail.auth_results = auth_results;
	r_mail = ep_trace_run (bus, EP_HOOK_POINT_SMTP_MAIL_FROM, &c_mail, o->mail_from);
	if (ep_trace_refused (r_mail, "smtp.mail_from"))
		return;
	quarantine_all = r_mail->verdict->kind == EP_VERDICT_QUARANTINE;

	for (guint i = 0; i < paths->len; i++) {
		const char *path = g_ptr_array_index (paths, i);
		EpDirectoryResolveCtx c_resolve = { 0 };
		EpSmtpRcptToCtx c_rcpt = { 0 };
		g_autoptr(EpHookResult) r_resolve = NULL;
		g_autoptr(EpHookResult) r_rcpt = NULL;
		EpTraceRcpt *rc;

		c_resolve.address = path;
		r_resolve = ep_trace_run (bus, EP_HOOK_POINT_DIRECTORY_RESOLVE, &c_resolve, path);
		if (ep_trace_refused (r_resolve, "directory.resolve")) {
			g_free (c_resolve.account);
			continue;
		}
		if (!c_resolve.is_local_domain || c_resolve.account == NULL || c_resolve.account[0] == '\0') {
			g_print ("  <%s>: %s\n", path,
				 !c_resolve.is_local_domain ? "550 5.7.1 Relaying denied" : "550 5.1.1 No such user here");
			g_free (c_resolve.account);
			continue;
		}
		c_rcpt.session = info;
		c_rcpt.reverse_path = o->mail_from;
		c_rcpt.recipient = path;
		c_rcpt.n_accepted = rcpts->len;
		c_rcpt.account = g_steal_pointer (&c_resolve.account);
		c_rcpt.is_local = TRUE;
		r_rcpt = ep_trace_run (bus, EP_HOOK_POINT_SMTP_RCPT_TO, &c_rcpt, path);
		if (ep_trace_refused (r_rcpt, "smtp.rcpt_to") || !c_rcpt.is_local || c_rcpt.account == NULL) {
			g_free (c_rcpt.account);
			continue;
		}
		rc = g_new0 (EpTraceRcpt, 1);
		rc->address = g_strdup (path);
		rc->account = g_steal_pointer (&c_rcpt.account);
		rc->quarantine = r_rcpt->verdict->kind == EP_VERDICT_QUARANTINE;
		rc->discard = r_rcpt->verdict->kind == EP_VERDICT_DISCARD;
		g_ptr_array_add (rcpts, rc);
	}
	if (rcpts->len == 0) {
		g_print ("\nverdict: refused: no recipient was accepted\n");
		return;
	}

	{
		g_autoptr(GPtrArray) accepted = g_ptr_array_new ();
		for (guint i = 0; i < rcpts->len; i++)
			g_ptr_array_add (accepted, ((EpTraceRcpt *) g_ptr_array_index (rcpts, i))->address);
		g_ptr_array_add (accepted, NULL);
		c_data.session = info;
		c_data.sender = o->mail_from;
		c_data.recipients = (const char *const *) accepted->pdata;
		c_data.message = message;
		c_data.auth_results = auth_results;
		r_data = ep_trace_run (bus, EP_HOOK_POINT_SMTP_DATA, &c_data, "");
	}
	ar_value = ep_auth_results_to_header_value (auth_results);
	g_print ("\nAuthentication-Results: %s\n", ar_value);
	if (ep_trace_refused (r_data, "smtp.data"))
		return;
	if (r_data->verdict->kind == EP_VERDICT_DISCARD) {
		g_print ("\nverdict: accepted, then discarded by %s\n", r_data->module);
		return;
	}
	quarantine_all |= r_data->verdict->kind == EP_VERDICT_QUARANTINE;

	g_print ("\n");
	for (guint i = 0; i < rcpts->len; i++) {
		EpTraceRcpt *rc = g_ptr_array_index (rcpts, i);
		EpDeliveryLocalCtx c_local = { 0 };
		g_autoptr(EpHookResult) r_local = NULL;
		g_autofree char *where = NULL;

		if (rc->discard) {
			g_print ("verdict: <%s> accepted, then discarded\n", rc->address);
			continue;
		}
		c_local.session_id = "trace";
		c_local.sender = o->mail_from;
		c_local.recipient = rc->address;
		c_local.account = rc->account;
		c_local.message = message;
		c_local.mailbox = g_strdup ("INBOX");
		c_local.flags = g_ptr_array_new_with_free_func (g_free);
		r_local = ep_trace_run (bus, EP_HOOK_POINT_DELIVERY_LOCAL, &c_local, rc->account);
		if (r_local == NULL || r_local->verdict->kind == EP_VERDICT_REJECT ||
		    r_local->verdict->kind == EP_VERDICT_TEMPFAIL) {
			g_autofree char *text = r_local != NULL ? ep_verdict_to_string (r_local->verdict) : NULL;
			g_print ("verdict: <%s> refused by delivery.local: %s\n", rc->address,
				 text != NULL ? text : "the chain failed");
		} else if (r_local->verdict->kind == EP_VERDICT_DISCARD) {
			g_print ("verdict: <%s> accepted, then discarded\n", rc->address);
		} else {
			gboolean junk = quarantine_all || rc->quarantine || r_local->verdict->kind == EP_VERDICT_QUARANTINE;
			where = g_strdup (junk ? "Junk" : c_local.mailbox);
			g_print ("verdict: <%s> accepted: filed in %s of %s%s\n", rc->address, where, rc->account,
				 junk ? " (quarantined)" : "");
		}
		g_free (c_local.mailbox);
		g_ptr_array_unref (c_local.flags);
	}

}

int
ep_trace_cli_run (const char *config_path, gboolean verbose, const EpTraceOptions *o)
{
	g_autoptr(EpDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) message = NULL;
	g_autoptr(GInetAddress) ip = NULL;
	g_autoptr(GSocketAddress) peer = NULL;
	g_autoptr(GSocketAddress) local = NULL;
	g_autoptr(GPtrArray) paths = g_ptr_array_new ();
	g_autofree char *default_rcpt = NULL;
	EpSmtpSessionInfo info = { 0 };
	const char *const *rcpt_list = o->rcpt;
	const char *const *domains;
	EpCore *core;
	EpHookBus *bus;

	if (o->file == NULL || o->ip == NULL || o->helo == NULL || o->mail_from == NULL) {
		g_printerr (_("mail trace: give the message file, --ip, --helo and --mail-from\n"));
		return EX_USAGE;
	}
	ip = g_inet_address_new_from_string (o->ip);
	if (ip == NULL) {
		g_printerr (_("mail trace: '%s' is not an IP address\n"), o->ip);
		return EX_USAGE;
	}
	message = ep_trace_read_message (o->file, &error);
	if (message == NULL) {
		g_printerr (_("mail trace: %s\n"), error->message);
		return g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? EX_NOINPUT : EX_DATAERR;
	}

	daemon = ep_daemon_new (config_path);
	if (!ep_daemon_open (daemon, &error)) {
		g_printerr (_("mail trace: %s\n"), error->message);
		return ep_error_to_exit_code (error);
	}
	core = ep_daemon_get_core (daemon);
	bus = core->hooks;
	domains = ep_config_get_domains (ep_daemon_get_config (daemon));
	if (rcpt_list == NULL || rcpt_list[0] == NULL) {
		if (domains == NULL || domains[0] == NULL) {
			g_printerr (_("mail trace: no --rcpt given and no domain configured\n"));
			ep_daemon_close (daemon);
			return EX_USAGE;
		}
		default_rcpt = g_strdup_printf ("postmaster@%s", domains[0]);
		g_ptr_array_add (paths, default_rcpt);
	} else {
		for (guint i = 0; rcpt_list[i] != NULL; i++)
			g_ptr_array_add (paths, (gpointer) rcpt_list[i]);
	}
	if (core->resolver != NULL)
		ep_resolver_set_observer (core->resolver, ep_trace_on_dns, NULL);

	peer = g_inet_socket_address_new (ip, 0);
	{
		g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
		local = g_inet_socket_address_new (lo, 25);
	}
	info.session_id = "trace";
	info.peer = G_INET_SOCKET_ADDRESS (peer);
	info.local = G_INET_SOCKET_ADDRESS (local);
	info.listener_kind = "smtp";
	info.helo = o->helo;
	info.tls_active = FALSE;

	g_print ("message %s (%" G_GSIZE_FORMAT " octets) from %s, HELO %s, MAIL FROM <%s>\n\n", o->file,
		 g_bytes_get_size (message), o->ip, o->helo, o->mail_from);

	ep_trace_chain (bus, ep_config_get_hostname (ep_daemon_get_config (daemon)), &info, o, message, paths);
	if (core->resolver != NULL)
		ep_resolver_set_observer (core->resolver, NULL, NULL);
	ep_daemon_close (daemon);
	(void) verbose;
	return EX_OK;
}
