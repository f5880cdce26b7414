/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The resolver against a real DNS server on loopback: Debian's unbound,
 * started for the test with local-data for test. and the reverse zones of
 * 192.0.2.0/24 and 2001:db8::/32, and an auth-zone secure.test. signed at
 * start-up with ldns-signzone (one record tampered with after signing).
 * Never the internet.
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ep-config.h"
#include "ep-error.h"
#include "ep-resolver-private.h"

/* the certificate association data of the TLSA records */
#define TLSA_HEX "0123456789abcdef00112233445566778899aabbccddeeff0f1e2d3c4b5a6978"

typedef struct {
	char *dir;
	GSubprocess *process;
	guint16 port;
	char *nameserver; /* "127.0.0.1@<port>" */
	char *skip_reason;
	char *trust_anchor; /* nullable: no DNSSEC zone without ldnsutils */
	char *dnssec_skip_reason;
	char *long_txt;
} TestServer;

static TestServer server;

/* ---- the server --------------------------------------------------------- */

static char *
find_program (const char *name)
{
	const char *dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	char *path = g_find_program_in_path (name);

	if (path != NULL)
		return path;
	for (guint i = 0; i < G_N_ELEMENTS (dirs); i++) {
		path = g_build_filename (dirs[i], name, NULL);
		if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
			return path;
		g_clear_pointer (&path, g_free);
	}
	return NULL;
}

/* a UDP socket on a loopback port nobody uses; also the "silent server" */
static GSocket *
bind_udp (guint16 *port)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(GSocket) sock = NULL;
	g_autoptr(GError) error = NULL;

	sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
	g_assert_no_error (error);
	g_assert_true (g_socket_bind (sock, any, FALSE, &error));
	g_assert_no_error (error);
	bound = g_socket_get_local_address (sock, &error);
	g_assert_no_error (error);
	*port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
	return g_steal_pointer (&sock);
}

static gboolean
run_tool (const char *const *argv, const char *cwd, char **out)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
									     G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *output = NULL;

	g_subprocess_launcher_set_cwd (launcher, cwd);
	proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
	if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, &output, NULL, &error)) {
		g_test_message ("%s: %s", argv[0], error->message);
		return FALSE;
	}
	if (!g_subprocess_get_successful (proc)) {
		g_test_message ("%s failed: %s", argv[0], output);
		return FALSE;
	}
	if (out != NULL)
		*out = g_strdup (g_strstrip (output));
	return TRUE;
}

/* secure.test., signed with a fresh key; bad.secure.test's address is
 * changed after signing.  Sets server.trust_anchor to the key. */
static gboolean
make_signed_zone (GString *conf)
{
	g_autofree char *keygen = find_program ("ldns-keygen");
	g_autofree char *signzone = find_program ("ldns-signzone");
	g_autofree char *zone_path = g_build_filename (server.dir, "secure.test.zone", NULL);
	g_autofree char *signed_path = g_build_filename (server.dir, "secure.test.zone.signed", NULL);
	g_autofree char *key = NULL;
	g_autofree char *signed_text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GRegex) tamper = NULL;
	g_autofree char *tampered = NULL;
	const char *zone = "$ORIGIN secure.test.\n"
			   "$TTL 300\n"
			   "@ IN SOA ns.secure.test. hostmaster.secure.test. 1 3600 600 86400 60\n"
			   "@ IN NS ns.secure.test.\n"
			   "ns IN A 192.0.2.53\n"
			   "good IN A 192.0.2.50\n"
			   "bad IN A 192.0.2.51\n"
			   "_25._tcp.good IN TLSA 3 1 1 " TLSA_HEX "\n";

	if (keygen == NULL || signzone == NULL) {
		server.dnssec_skip_reason = g_strdup ("ldns-keygen/ldns-signzone (package ldnsutils) not installed");
		return FALSE;
	}
	g_assert_true (g_file_set_contents (zone_path, zone, -1, &error));
	g_assert_no_error (error);
	{
		const char *argv[] = { keygen, "-a", "ECDSAP256SHA256", "-k", "secure.test", NULL };
		if (!run_tool (argv, server.dir, &key)) {
			server.dnssec_skip_reason = g_strdup ("ldns-keygen failed");
			return FALSE;
		}
	}
	{
		const char *argv[] = { signzone, zone_path, key, NULL };
		if (!run_tool (argv, server.dir, NULL)) {
			server.dnssec_skip_reason = g_strdup ("ldns-signzone failed");
			return FALSE;
		}
	}
	g_assert_true (g_file_get_contents (signed_path, &signed_text, NULL, &error));
	g_assert_no_error (error);
	tamper = g_regex_new ("^(bad\\.secure\\.test\\.\\s+\\d+\\s+IN\\s+A\\s+)192\\.0\\.2\\.51$", G_REGEX_MULTILINE, 0,
			      &error);
	g_assert_no_error (error);
	tampered = g_regex_replace (tamper, signed_text, -1, 0, "\\g<1>192.0.2.52", 0, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (tampered, !=, signed_text);
	g_assert_true (g_file_set_contents (signed_path, tampered, -1, &error));

	server.trust_anchor = g_strdup_printf ("%s/%s.key", server.dir, key);
	g_string_append_printf (conf,
				"\tlocal-zone: \"secure.test.\" transparent\n"
				"auth-zone:\n"
				"\tname: \"secure.test.\"\n"
				"\tzonefile: \"%s\"\n"
				"\tfor-downstream: yes\n"
				"\tfor-upstream: no\n"
				"\tfallback-enabled: no\n",
				signed_path);
	return TRUE;
}

static gboolean
server_start_once (const char *unbound)
{
	g_autoptr(GString) conf = g_string_new (NULL);
	g_autofree char *conf_path = g_build_filename (server.dir, "unbound.conf", NULL);
	g_autofree char *log_path = g_build_filename (server.dir, "unbound.log", NULL);
	g_autoptr(GSocket) probe = NULL;
	g_autoptr(GError) error = NULL;
	const char *argv[] = { unbound, "-d", "-c", conf_path, NULL };
	gint64 deadline;

	/* a port that is free now; unbound binds it a moment later */
	probe = bind_udp (&server.port);
	g_socket_close (probe, NULL);

	g_string_append_printf (conf,
				"server:\n"
				"\tinterface: 127.0.0.1\n"
				"\tport: %u\n"
				"\tdo-daemonize: no\n"
				"\tusername: \"\"\n"
				"\tchroot: \"\"\n"
				"\tdirectory: \"%s\"\n"
				"\tpidfile: \"%s/unbound.pid\"\n"
				"\tuse-syslog: no\n"
				"\tlogfile: \"%s\"\n"
				"\tverbosity: 1\n"
				"\tnum-threads: 1\n"
				"\taccess-control: 127.0.0.0/8 allow\n"
				"\tmodule-config: \"iterator\"\n"
				"\tdo-not-query-localhost: no\n"
				"\trrset-roundrobin: no\n"
				"\tlocal-zone: \"test.\" static\n"
				"\tlocal-data: \"test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\"\n"
				"\tlocal-data: \"mx.test. 300 IN MX 20 mx2.test.\"\n"
				"\tlocal-data: \"mx.test. 300 IN MX 10 MX1.Test.\"\n"
				"\tlocal-data: \"mx.test. 300 IN MX 10 mx1b.test.\"\n"
				"\tlocal-data: \"nullmx.test. 300 IN MX 0 .\"\n"
				"\tlocal-data: \"host.test. 300 IN A 192.0.2.10\"\n"
				"\tlocal-data: \"host.test. 300 IN A 192.0.2.11\"\n"
				"\tlocal-data: \"host.test. 300 IN AAAA 2001:db8::10\"\n"
				"\tlocal-data: \"alias.test. 300 IN CNAME host.test.\"\n"
				"\tlocal-data: 'txt.test. 300 IN TXT \"v=spf1 ip4:192.0.2.0/24 \" \"include:_spf.test -all\"'\n"
				"\tlocal-data: 'txt.test. 300 IN TXT \"second record\"'\n"
				"\tlocal-data: 'long.test. 300 IN TXT \"%.*s\" \"%s\"'\n"
				"\tlocal-data: \"_25._tcp.mx1.test. 300 IN TLSA 3 1 1 " TLSA_HEX "\"\n"
				"\tlocal-data: \"short.test. 1 IN A 192.0.2.99\"\n"
				"\tlocal-data: \"other.test. 300 IN A 192.0.2.98\"\n"
				"\tlocal-data: \"nodata.test. 300 IN A 192.0.2.20\"\n"
				"\tlocal-zone: \"2.0.192.in-addr.arpa.\" static\n"
				"\tlocal-data-ptr: \"192.0.2.10 host.test\"\n"
				"\tlocal-zone: \"8.b.d.0.1.0.0.2.ip6.arpa.\" static\n"
				"\tlocal-data-ptr: \"2001:db8::10 host.test\"\n",
				server.port, server.dir, server.dir, log_path, 255, server.long_txt,
				server.long_txt + 255);
	g_clear_pointer (&server.trust_anchor, g_free);
	g_clear_pointer (&server.dnssec_skip_reason, g_free);
	make_signed_zone (conf);
	g_assert_true (g_file_set_contents (conf_path, conf->str, -1, &error));
	g_assert_no_error (error);
	(void) g_unlink (log_path);

	server.process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
					    &error);
	g_assert_no_error (error);

	/* ready when it says so in its log */
	deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
	while (g_get_monotonic_time () < deadline) {
		g_autofree char *log = NULL;
		if (g_file_get_contents (log_path, &log, NULL, NULL) && strstr (log, "start of service") != NULL)
			return TRUE;
		if (g_subprocess_get_identifier (server.process) == NULL)
			break; /* it exited */
		g_usleep (20 * 1000);
		/* reap it if it exited */
		g_main_context_iteration (NULL, FALSE);
	}
	{
		g_autofree char *log = NULL;
		(void) g_file_get_contents (log_path, &log, NULL, NULL);
		g_test_message ("unbound did not start: %s", log != NULL ? log : "(no log)");
	}
	g_subprocess_force_exit (server.process);
	(void) g_subprocess_wait (server.process, NULL, NULL);
	g_clear_object (&server.process);
	return FALSE;
}

static void
server_start (void)
{
	g_autofree char *unbound = find_program ("unbound");
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) txt = g_string_new ("v=DKIM1; k=rsa; p=");

	if (unbound == NULL) {
		server.skip_reason = g_strdup ("the unbound binary is not installed (apt-get install unbound)");
		return;
	}
	/* longer than one character-string: split in two in the zone */
	for (guint i = 0; txt->len < 400; i++)
		g_string_append_c (txt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64]);
	server.long_txt = g_string_free (g_steal_pointer (&txt), FALSE);

	server.dir = g_dir_make_tmp ("ep-resolver-test-XXXXXX", &error);
	g_assert_no_error (error);
	/* unbound may run as another user when the test runs as root */
	g_assert_cmpint (g_chmod (server.dir, 0755), ==, 0);
	for (guint attempt = 0; attempt < 3; attempt++) {
		if (server_start_once (unbound)) {
			server.nameserver = g_strdup_printf ("127.0.0.1@%u", server.port);
			return;
		}
	}
	g_error ("could not start unbound on loopback (see the log above)");
}

static void
server_stop (void)
{
	if (server.process != NULL) {
		g_subprocess_send_signal (server.process, SIGTERM);
		(void) g_subprocess_wait (server.process, NULL, NULL);
		g_clear_object (&server.process);
	}
	if (server.dir != NULL) {
		g_autoptr(GDir) dir = g_dir_open (server.dir, 0, NULL);
		const char *name;
		while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
			g_autofree char *path = g_build_filename (server.dir, name, NULL);
			(void) g_unlink (path);
		}
		(void) g_rmdir (server.dir);
	}
	g_clear_pointer (&server.dir, g_free);
	g_clear_pointer (&server.nameserver, g_free);
	g_clear_pointer (&server.skip_reason, g_free);
	g_clear_pointer (&server.trust_anchor, g_free);
	g_clear_pointer (&server.dnssec_skip_reason, g_free);
	g_clear_pointer (&server.long_txt, g_free);
}

static gboolean
need_server (void)
{
	if (server.skip_reason != NULL) {
		g_test_skip (server.skip_reason);
		return FALSE;
	}
	return TRUE;
}

/* ---- helpers ------------------------------------------------------------ */

static EpResolver *
new_resolver (void)
{
	const char *ns[] = { server.nameserver, NULL };
	g_autoptr(GError) error = NULL;
	EpResolver *resolver = ep_resolver_new (ns, FALSE, NULL, &error);

	g_assert_no_error (error);
	g_assert_nonnull (resolver);
	return resolver;
}

static void
on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;
	*out = g_object_ref (result);
}

static EpDnsAnswer *
lookup (EpResolver *resolver, const char *name, guint16 rrtype, GCancellable *cancellable, GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;

	ep_resolver_lookup_async (resolver, name, rrtype, cancellable, on_result, &result);
	while (result == NULL)
		g_main_context_iteration (NULL, TRUE);
	return ep_resolver_lookup_finish (resolver, result, error);
}

static EpDnsAnswer *
lookup_ok (EpResolver *resolver, const char *name, guint16 rrtype)
{
	g_autoptr(GError) error = NULL;
	EpDnsAnswer *answer = lookup (resolver, name, rrtype, NULL, &error);

	g_assert_no_error (error);
	g_assert_nonnull (answer);
	g_assert_cmpuint (answer->rrtype, ==, rrtype);
	g_assert_nonnull (answer->records);
	return answer;
}

static gboolean
addresses_contain (GPtrArray *records, const char *text)
{
	for (guint i = 0; i < records->len; i++) {
		g_autofree char *s = g_inet_address_to_string (g_ptr_array_index (records, i));
		if (g_strcmp0 (s, text) == 0)
			return TRUE;
	}
	return FALSE;
}

/* ---- lookups ------------------------------------------------------------ */

static void
test_mx (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) answer = NULL;
	g_autoptr(EpDnsAnswer) null_mx = NULL;
	EpDnsMx *mx;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	answer = lookup_ok (resolver, "mx.test", EP_DNS_TYPE_MX);
	g_assert_false (answer->nxdomain);
	g_assert_false (answer->secure);
	g_assert_null (answer->canonical_name);
	g_assert_cmpuint (answer->ttl, >, 0);
	g_assert_cmpuint (answer->ttl, <=, 300);
	g_assert_cmpuint (answer->records->len, ==, 3);
	/* sorted by preference; the two 10s in the order served, which
	 * libunbound's round robin varies */
	{
		EpDnsMx *first = g_ptr_array_index (answer->records, 0);
		EpDnsMx *second = g_ptr_array_index (answer->records, 1);
		g_assert_cmpuint (first->preference, ==, 10);
		g_assert_cmpuint (second->preference, ==, 10);
		/* mx1.test was served as MX1.Test. */
		g_assert_true ((g_str_equal (first->host, "mx1.test") && g_str_equal (second->host, "mx1b.test")) ||
			       (g_str_equal (first->host, "mx1b.test") && g_str_equal (second->host, "mx1.test")));
	}
	mx = g_ptr_array_index (answer->records, 2);
	g_assert_cmpuint (mx->preference, ==, 20);
	g_assert_cmpstr (mx->host, ==, "mx2.test");

	/* RFC 7505 */
	null_mx = lookup_ok (resolver, "nullmx.test.", EP_DNS_TYPE_MX);
	g_assert_cmpuint (null_mx->records->len, ==, 1);
	mx = g_ptr_array_index (null_mx->records, 0);
	g_assert_cmpuint (mx->preference, ==, 0);
	g_assert_cmpstr (mx->host, ==, "");
}

static void
test_a_aaaa (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) a = NULL;
	g_autoptr(EpDnsAnswer) aaaa = NULL;
	g_autofree char *v6 = NULL;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	a = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	g_assert_cmpuint (a->records->len, ==, 2);
	g_assert_true (addresses_contain (a->records, "192.0.2.10"));
	g_assert_true (addresses_contain (a->records, "192.0.2.11"));
	g_assert_cmpint (g_inet_address_get_family (g_ptr_array_index (a->records, 0)), ==, G_SOCKET_FAMILY_IPV4);

	aaaa = lookup_ok (resolver, "HOST.test.", EP_DNS_TYPE_AAAA);
	g_assert_cmpuint (aaaa->records->len, ==, 1);
	g_assert_cmpint (g_inet_address_get_family (g_ptr_array_index (aaaa->records, 0)), ==, G_SOCKET_FAMILY_IPV6);
	v6 = g_inet_address_to_string (g_ptr_array_index (aaaa->records, 0));
	g_assert_cmpstr (v6, ==, "2001:db8::10");
}

static void
test_txt (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) answer = NULL;
	g_autoptr(EpDnsAnswer) longer = NULL;
	gboolean seen_spf = FALSE, seen_second = FALSE;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	answer = lookup_ok (resolver, "txt.test", EP_DNS_TYPE_TXT);
	g_assert_cmpuint (answer->records->len, ==, 2);
	for (guint i = 0; i < answer->records->len; i++) {
		const char *txt = g_ptr_array_index (answer->records, i);
		if (g_strcmp0 (txt, "v=spf1 ip4:192.0.2.0/24 include:_spf.test -all") == 0)
			seen_spf = TRUE;
		else if (g_strcmp0 (txt, "second record") == 0)
			seen_second = TRUE;
		else
			g_error ("unexpected TXT record '%s'", txt);
	}
	g_assert_true (seen_spf && seen_second);

	/* a record of two character-strings (255 + the rest), joined */
	longer = lookup_ok (resolver, "long.test", EP_DNS_TYPE_TXT);
	g_assert_cmpuint (longer->records->len, ==, 1);
	g_assert_cmpuint (strlen (server.long_txt), >, 255);
	g_assert_cmpstr (g_ptr_array_index (longer->records, 0), ==, server.long_txt);
}

static void
assert_tlsa (EpDnsAnswer *answer)
{
	EpDnsTlsa *tlsa;
	gsize len = 0;
	const guint8 *data;

	g_assert_cmpuint (answer->records->len, ==, 1);
	tlsa = g_ptr_array_index (answer->records, 0);
	g_assert_cmpuint (tlsa->usage, ==, 3);
	g_assert_cmpuint (tlsa->selector, ==, 1);
	g_assert_cmpuint (tlsa->matching_type, ==, 1);
	data = g_bytes_get_data (tlsa->data, &len);
	g_assert_cmpuint (len, ==, 32);
	for (guint i = 0; i < 32; i++) {
		guint8 want = (guint8) (g_ascii_xdigit_value (TLSA_HEX[2 * i]) << 4 |
					g_ascii_xdigit_value (TLSA_HEX[2 * i + 1]));
		g_assert_cmpuint (data[i], ==, want);
	}
}

static void
test_tlsa (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) answer = NULL;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	answer = lookup_ok (resolver, "_25._tcp.mx1.test", EP_DNS_TYPE_TLSA);
	assert_tlsa (answer);
	g_assert_false (answer->secure);
}

static void
test_reverse_name (void)
{
	struct {
		const char *address;
		const char *name;
	} cases[] = {
		{ "192.0.2.10", "10.2.0.192.in-addr.arpa" },
		{ "1.2.3.4", "4.3.2.1.in-addr.arpa" },
		{ "::ffff:198.51.100.7", "7.100.51.198.in-addr.arpa" },
		{ "2001:db8::10", "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "2001:db8:abcd::ef01", "1.0.f.e.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (cases[i].address);
		g_autofree char *name = ep_resolver_reverse_name (addr);
		g_assert_cmpstr (name, ==, cases[i].name);
	}
}

static void
test_ptr (void)
{
	const char *addresses[] = { "192.0.2.10", "2001:db8::10" };
	g_autoptr(EpResolver) resolver = NULL;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	for (guint i = 0; i < G_N_ELEMENTS (addresses); i++) {
		g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (addresses[i]);
		g_autofree char *name = ep_resolver_reverse_name (addr);
		g_autoptr(EpDnsAnswer) answer = lookup_ok (resolver, name, EP_DNS_TYPE_PTR);
		g_assert_cmpuint (answer->records->len, ==, 1);
		g_assert_cmpstr (g_ptr_array_index (answer->records, 0), ==, "host.test");
	}
	/* an address without PTR */
	{
		g_autoptr(GInetAddress) addr = g_inet_address_new_from_string ("192.0.2.200");
		g_autofree char *name = ep_resolver_reverse_name (addr);
		g_autoptr(EpDnsAnswer) answer = lookup_ok (resolver, name, EP_DNS_TYPE_PTR);
		g_assert_true (answer->nxdomain);
		g_assert_cmpuint (answer->records->len, ==, 0);
	}
}

static void
test_nxdomain_nodata (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) nx = NULL;
	g_autoptr(EpDnsAnswer) nodata = NULL;
	g_autoptr(EpDnsAnswer) nodata_mx = NULL;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	nx = lookup_ok (resolver, "no-such-name.test", EP_DNS_TYPE_A);
	g_assert_true (nx->nxdomain);
	g_assert_cmpuint (nx->records->len, ==, 0);
	/* the SOA's negative TTL (its minimum field, 60) */
	g_assert_cmpuint (nx->ttl, >, 0);
	g_assert_cmpuint (nx->ttl, <=, 60);

	nodata = lookup_ok (resolver, "nodata.test", EP_DNS_TYPE_AAAA);
	g_assert_false (nodata->nxdomain);
	g_assert_cmpuint (nodata->records->len, ==, 0);
	g_assert_cmpuint (nodata->ttl, <=, 60);

	nodata_mx = lookup_ok (resolver, "host.test", EP_DNS_TYPE_MX);
	g_assert_false (nodata_mx->nxdomain);
	g_assert_cmpuint (nodata_mx->records->len, ==, 0);
}

static void
test_cname (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) a = NULL;
	g_autoptr(EpDnsAnswer) cname = NULL;
	g_autoptr(EpDnsAnswer) direct = NULL;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	a = lookup_ok (resolver, "alias.test", EP_DNS_TYPE_A);
	g_assert_cmpstr (a->canonical_name, ==, "host.test");
	g_assert_cmpuint (a->records->len, ==, 2);
	g_assert_true (addresses_contain (a->records, "192.0.2.10"));

	cname = lookup_ok (resolver, "alias.test", EP_DNS_TYPE_CNAME);
	g_assert_cmpuint (cname->records->len, ==, 1);
	g_assert_cmpstr (g_ptr_array_index (cname->records, 0), ==, "host.test");

	direct = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	g_assert_null (direct->canonical_name);
}

/* ---- failures ----------------------------------------------------------- */

static void
test_timeout (void)
{
	guint16 port = 0;
	g_autoptr(GSocket) silent = bind_udp (&port); /* bound, never read */
	g_autofree char *ns = g_strdup_printf ("127.0.0.1@%u", port);
	const char *nameservers[] = { ns, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(EpResolver) resolver = ep_resolver_new (nameservers, FALSE, NULL, &error);
	g_autoptr(EpDnsAnswer) answer = NULL;
	EpResolverStats stats;
	gint64 start;

	g_assert_no_error (error);
	g_assert_true (G_IS_SOCKET (silent));
	ep_resolver_set_timeout (resolver, 400);
	start = g_get_monotonic_time ();
	answer = lookup (resolver, "host.test", EP_DNS_TYPE_A, NULL, &error);
	g_assert_null (answer);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_nonnull (strstr (error->message, "DNS timeout"));
	g_assert_cmpint (g_get_monotonic_time () - start, >=, 350 * 1000);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.timeouts, ==, 1);
	g_assert_cmpuint (stats.cache_entries, ==, 0);
}

static gboolean
cancel_later (gpointer user_data)
{
	g_cancellable_cancel (user_data);
	return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
	guint16 port = 0;
	g_autoptr(GSocket) silent = bind_udp (&port);
	g_autofree char *ns = g_strdup_printf ("127.0.0.1@%u", port);
	const char *nameservers[] = { ns, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(EpResolver) resolver = ep_resolver_new (nameservers, FALSE, NULL, &error);
	g_autoptr(GCancellable) cancellable = g_cancellable_new ();
	g_autoptr(GCancellable) cancelled = g_cancellable_new ();
	g_autoptr(EpDnsAnswer) answer = NULL;
	EpResolverStats stats;
	gint64 start;

	g_assert_no_error (error);
	g_assert_true (G_IS_SOCKET (silent));
	/* in flight, then cancelled: the callback comes at once */
	g_timeout_add (50, cancel_later, cancellable);
	start = g_get_monotonic_time ();
	answer = lookup (resolver, "host.test", EP_DNS_TYPE_A, cancellable, &error);
	g_assert_null (answer);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
	g_clear_error (&error);

	/* cancelled before it starts: nothing is sent */
	g_cancellable_cancel (cancelled);
	answer = lookup (resolver, "host.test", EP_DNS_TYPE_A, cancelled, &error);
	g_assert_null (answer);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 1);
	g_assert_cmpuint (stats.timeouts, ==, 0);
}

static void
test_invalid_names (void)
{
	g_autofree char *label64 = g_strnfill (64, 'a');
	g_autofree char *label63 = g_strnfill (63, 'a');
	g_autofree char *name63 = g_strconcat (label63, ".test", NULL);
	g_autofree char *name64 = g_strconcat (label64, ".test", NULL);
	/* 4 * 63 + 3 dots = 255 characters; 253 is the limit */
	g_autofree char *too_long = g_strjoin (".", label63, label63, label63, label63, NULL);
	/* 3 * 63 + 60 + 3 dots = 252, +1 = 253 with a 61-character label */
	g_autofree char *label61 = g_strnfill (61, 'b');
	g_autofree char *longest = g_strjoin (".", label63, label63, label63, label61, NULL);
	g_autofree char *longest_dot = g_strconcat (longest, ".", NULL);
	const char *bad[] = { "", ".", "..", "a..test", ".test", "test..", "h\xc3\xa9llo.test", "a b.test",
			      "a\\.b.test", "tab\t.test", name64, too_long };
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(GError) error = NULL;
	EpResolverStats stats;

	g_assert_cmpuint (strlen (longest), ==, 253);
	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autofree char *n = ep_dns_name_normalize (bad[i], &error);
		g_assert_null (n);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_clear_error (&error);
	}
	{
		g_autofree char *n1 = ep_dns_name_normalize (name63, &error);
		g_autofree char *n2 = ep_dns_name_normalize (longest_dot, &error);
		g_autofree char *n3 = ep_dns_name_normalize ("_25._TCP.Mail.Example.", &error);
		g_assert_no_error (error);
		g_assert_cmpstr (n1, ==, name63);
		g_assert_cmpstr (n2, ==, longest);
		g_assert_cmpstr (n3, ==, "_25._tcp.mail.example");
	}

	if (!need_server ())
		return;
	resolver = new_resolver ();
	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(EpDnsAnswer) answer = lookup (resolver, bad[i], EP_DNS_TYPE_A, NULL, &error);
		g_assert_null (answer);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_clear_error (&error);
	}
	{
		/* a type the resolver does not parse */
		g_autoptr(EpDnsAnswer) answer = lookup (resolver, "host.test", 99 /* SPF */, NULL, &error);
		g_assert_null (answer);
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_clear_error (&error);
	}
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 0);
	g_assert_cmpuint (stats.lookups, ==, 0);
}

/* ---- the cache ---------------------------------------------------------- */

static void
test_cache (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) first = NULL;
	g_autoptr(EpDnsAnswer) second = NULL;
	g_autoptr(EpDnsAnswer) other_case = NULL;
	g_autoptr(EpDnsAnswer) nx1 = NULL;
	g_autoptr(EpDnsAnswer) nx2 = NULL;
	g_autoptr(EpDnsAnswer) aaaa = NULL;
	EpResolverStats stats;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	first = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	second = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	other_case = lookup_ok (resolver, "Host.Test.", EP_DNS_TYPE_A);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.lookups, ==, 3);
	g_assert_cmpuint (stats.queries, ==, 1);
	g_assert_cmpuint (stats.cache_hits, ==, 2);
	g_assert_cmpuint (stats.cache_entries, ==, 1);
	g_assert_cmpuint (second->records->len, ==, 2);
	g_assert_true (addresses_contain (second->records, "192.0.2.10"));
	g_assert_cmpuint (second->ttl, <=, first->ttl);
	g_assert_cmpuint (second->ttl, >, 0);

	/* another type is another entry */
	aaaa = lookup_ok (resolver, "host.test", EP_DNS_TYPE_AAAA);
	/* negative answers are cached too */
	nx1 = lookup_ok (resolver, "nothing-here.test", EP_DNS_TYPE_A);
	nx2 = lookup_ok (resolver, "nothing-here.test", EP_DNS_TYPE_A);
	g_assert_true (nx2->nxdomain);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 3);
	g_assert_cmpuint (stats.cache_hits, ==, 3);
	g_assert_cmpuint (stats.cache_entries, ==, 3);

	ep_resolver_clear_cache (resolver);
	g_clear_pointer (&second, ep_dns_answer_unref);
	second = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 4);
	g_assert_cmpuint (stats.cache_entries, ==, 1);
}

static void
test_cache_expiry (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) first = NULL;
	g_autoptr(EpDnsAnswer) again = NULL;
	g_autoptr(EpDnsAnswer) later = NULL;
	EpResolverStats stats;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	first = lookup_ok (resolver, "short.test", EP_DNS_TYPE_A);
	g_assert_cmpuint (first->ttl, ==, 1);
	again = lookup_ok (resolver, "short.test", EP_DNS_TYPE_A);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 1);
	g_assert_cmpuint (stats.cache_hits, ==, 1);

	g_usleep (1500 * 1000);
	later = lookup_ok (resolver, "short.test", EP_DNS_TYPE_A);
	g_assert_cmpuint (later->records->len, ==, 1);
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 2);
	g_assert_cmpuint (stats.cache_hits, ==, 1);
}

static void
test_cache_size (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	EpResolverStats stats;
	const char *names[] = { "host.test", "other.test", "host.test", "nodata.test" };
	const guint n_records[] = { 2, 1, 2, 1 };

	if (!need_server ())
		return;
	resolver = new_resolver ();
	ep_resolver_set_cache_size (resolver, 2);
	for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
		g_autoptr(EpDnsAnswer) answer = lookup_ok (resolver, names[i], EP_DNS_TYPE_A);
		g_assert_cmpuint (answer->records->len, ==, n_records[i]);
	}
	/* host.test was used last-but-one: other.test went for nodata.test */
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 3);
	g_assert_cmpuint (stats.cache_entries, ==, 2);
	{
		g_autoptr(EpDnsAnswer) a = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
		g_autoptr(EpDnsAnswer) b = lookup_ok (resolver, "other.test", EP_DNS_TYPE_A);
		g_assert_cmpuint (a->records->len + b->records->len, ==, 3);
	}
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 4);

	/* no cache at all */
	ep_resolver_set_cache_size (resolver, 0);
	g_assert_cmpuint ((ep_resolver_get_stats (resolver, &stats), stats.cache_entries), ==, 0);
	{
		g_autoptr(EpDnsAnswer) a = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
		g_autoptr(EpDnsAnswer) b = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
		g_assert_cmpuint (a->records->len + b->records->len, ==, 4);
	}
	ep_resolver_get_stats (resolver, &stats);
	g_assert_cmpuint (stats.queries, ==, 6);
}

/* ---- lifetime ----------------------------------------------------------- */

typedef struct {
	GError *error;
	gboolean done;
} UnrefData;

static void
on_result_after_unref (GObject *source, GAsyncResult *result, gpointer user_data)
{
	UnrefData *data = user_data;
	g_autoptr(EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &data->error);
	g_assert_null (answer);
	data->done = TRUE;
}

static void
test_unref_in_flight (void)
{
	guint16 port = 0;
	g_autoptr(GSocket) silent = bind_udp (&port);
	g_autofree char *ns = g_strdup_printf ("127.0.0.1@%u", port);
	const char *nameservers[] = { ns, NULL };
	g_autoptr(GError) error = NULL;
	EpResolver *resolver = ep_resolver_new (nameservers, FALSE, NULL, &error);
	UnrefData data[2] = { { NULL, FALSE }, { NULL, FALSE } };

	g_assert_no_error (error);
	g_assert_true (G_IS_SOCKET (silent));
	ep_resolver_set_timeout (resolver, 200);
	g_object_add_weak_pointer (G_OBJECT (resolver), (gpointer *) &resolver);
	ep_resolver_lookup_async (resolver, "host.test", EP_DNS_TYPE_A, NULL, on_result_after_unref, &data[0]);
	ep_resolver_lookup_async (resolver, "host.test", EP_DNS_TYPE_MX, NULL, on_result_after_unref, &data[1]);
	/* the caller lets go; the lookups keep the resolver until they end */
	g_object_unref (resolver);
	g_assert_nonnull (resolver);
	while (!data[0].done || !data[1].done)
		g_main_context_iteration (NULL, TRUE);
	for (guint i = 0; i < 2; i++) {
		g_assert_error (data[i].error, EP_ERROR, EP_ERROR_TEMP);
		g_clear_error (&data[i].error);
	}
	while (resolver != NULL)
		g_main_context_iteration (NULL, TRUE);
}

static void
test_many_in_flight (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	GAsyncResult *results[40] = { NULL };
	const char *names[] = { "host.test", "mx.test", "txt.test", "alias.test", "no-such.test" };
	const guint16 types[] = { EP_DNS_TYPE_A, EP_DNS_TYPE_MX, EP_DNS_TYPE_TXT, EP_DNS_TYPE_A, EP_DNS_TYPE_A };
	const guint n_records[] = { 2, 3, 2, 2, 0 };
	guint done = 0;

	if (!need_server ())
		return;
	resolver = new_resolver ();
	ep_resolver_set_cache_size (resolver, 0);
	for (guint i = 0; i < G_N_ELEMENTS (results); i++)
		ep_resolver_lookup_async (resolver, names[i % 5], types[i % 5], NULL, on_result, &results[i]);
	while (done < G_N_ELEMENTS (results)) {
		g_main_context_iteration (NULL, TRUE);
		done = 0;
		for (guint i = 0; i < G_N_ELEMENTS (results); i++)
			done += results[i] != NULL;
	}
	for (guint i = 0; i < G_N_ELEMENTS (results); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(EpDnsAnswer) answer = ep_resolver_lookup_finish (resolver, results[i], &error);
		g_assert_no_error (error);
		g_assert_cmpuint (answer->rrtype, ==, types[i % 5]);
		g_assert_cmpuint (answer->records->len, ==, n_records[i % 5]);
		g_object_unref (results[i]);
	}
}

/* ---- DNSSEC ------------------------------------------------------------- */

static void
test_dnssec (void)
{
	const char *ns[] = { NULL, NULL };
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) good = NULL;
	g_autoptr(EpDnsAnswer) tlsa = NULL;
	g_autoptr(EpDnsAnswer) nx = NULL;
	g_autoptr(EpDnsAnswer) insecure = NULL;
	g_autoptr(EpDnsAnswer) bad = NULL;
	g_autoptr(GError) error = NULL;

	if (!need_server ())
		return;
	if (server.trust_anchor == NULL) {
		g_test_skip (server.dnssec_skip_reason);
		return;
	}
	ns[0] = server.nameserver;
	resolver = ep_resolver_new (ns, TRUE, server.trust_anchor, &error);
	g_assert_no_error (error);

	good = lookup_ok (resolver, "good.secure.test", EP_DNS_TYPE_A);
	g_assert_true (good->secure);
	g_assert_cmpuint (good->records->len, ==, 1);
	g_assert_true (addresses_contain (good->records, "192.0.2.50"));

	tlsa = lookup_ok (resolver, "_25._tcp.good.secure.test", EP_DNS_TYPE_TLSA);
	g_assert_true (tlsa->secure);
	assert_tlsa (tlsa);

	/* a proven non-existence (NSEC) */
	nx = lookup_ok (resolver, "missing.secure.test", EP_DNS_TYPE_A);
	g_assert_true (nx->nxdomain);
	g_assert_true (nx->secure);

	/* outside the trust anchor: an answer, not validated */
	insecure = lookup_ok (resolver, "host.test", EP_DNS_TYPE_A);
	g_assert_false (insecure->secure);
	g_assert_cmpuint (insecure->records->len, ==, 2);

	/* the record changed after signing */
	bad = lookup (resolver, "bad.secure.test", EP_DNS_TYPE_A, NULL, &error);
	g_assert_null (bad);
	g_assert_error (error, EP_ERROR, EP_ERROR_TEMP);
	g_assert_true (g_str_has_prefix (error->message, "DNSSEC validation failed: "));
	g_clear_error (&error);

	/* the same zone without validation: the tampered record comes through */
	{
		g_autoptr(EpResolver) plain = new_resolver ();
		g_autoptr(EpDnsAnswer) unchecked = lookup_ok (plain, "bad.secure.test", EP_DNS_TYPE_A);
		g_autoptr(EpDnsAnswer) good_plain = lookup_ok (plain, "good.secure.test", EP_DNS_TYPE_A);
		g_assert_false (unchecked->secure);
		g_assert_true (addresses_contain (unchecked->records, "192.0.2.52"));
		g_assert_false (good_plain->secure);
	}
}

/* ---- construction ------------------------------------------------------- */

static EpConfig *
load_config (const char *text, GError **error)
{
	const char *names[] = { "/etc/epistle/mail.toml", NULL };
	const char *texts[] = { text, NULL };
	g_autoptr(EpConfig) config = ep_config_load_from_data (names, texts, error);

	if (config == NULL || !ep_config_validate (config, error))
		return NULL;
	return g_steal_pointer (&config);
}

static void
test_config (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *missing = g_build_filename (g_get_tmp_dir (), "ep-resolver-test-no-such-anchor.key", NULL);
	g_autofree char *text = NULL;
	g_autoptr(EpConfig) config = NULL;
	g_autoptr(EpResolver) resolver = NULL;

	/* a trust anchor that does not exist: the error names the line */
	text = g_strdup_printf ("hostname = \"mail.example.org\"\n"
				"data_dir = \"/var/lib/epistle\"\n"
				"\n"
				"[dns]\n"
				"nameservers = [\"127.0.0.1@5353\"]\n"
				"trust_anchor_file = \"%s\"\n",
				missing);
	config = load_config (text, &error);
	g_assert_no_error (error);
	resolver = ep_resolver_new_from_config (config, &error);
	g_assert_null (resolver);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_true (g_str_has_prefix (error->message, "/etc/epistle/mail.toml:6: dns.trust_anchor_file: "));
	g_assert_nonnull (strstr (error->message, missing));
	g_clear_error (&error);
	g_clear_object (&config);

	/* a file that is not a trust anchor */
	{
		g_autofree char *garbage = NULL;
		int fd = g_file_open_tmp ("ep-resolver-test-XXXXXX.key", &garbage, &error);
		g_assert_no_error (error);
		close (fd);
		g_assert_true (g_file_set_contents (garbage, "this is not a DNSKEY\n", -1, &error));
		resolver = ep_resolver_new (NULL, TRUE, garbage, &error);
		(void) g_unlink (garbage);
		g_assert_null (resolver);
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_assert_nonnull (strstr (error->message, garbage));
		g_clear_error (&error);
	}

	/* validation off, a timeout */
	config = load_config ("hostname = \"mail.example.org\"\n"
			      "data_dir = \"/var/lib/epistle\"\n"
			      "[dns]\n"
			      "nameservers = [\"127.0.0.1@5353\", \"::1\"]\n"
			      "dnssec = false\n"
			      "timeout = 3\n",
			      &error);
	g_assert_no_error (error);
	resolver = ep_resolver_new_from_config (config, &error);
	g_assert_no_error (error);
	g_assert_nonnull (resolver);
	g_clear_object (&resolver);
	g_clear_object (&config);

	/* bad values are the configuration checks' business, with file:line */
	config = load_config ("hostname = \"mail.example.org\"\n"
			      "data_dir = \"/var/lib/epistle\"\n"
			      "[dns]\n"
			      "timeout = 0\n",
			      &error);
	g_assert_null (config);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_nonnull (strstr (error->message, "mail.toml:4"));
	g_clear_error (&error);
	config = load_config ("hostname = \"mail.example.org\"\n"
			      "data_dir = \"/var/lib/epistle\"\n"
			      "[dns]\n"
			      "nameservers = [\"dns.example.org\"]\n",
			      &error);
	g_assert_null (config);
	g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
	g_assert_nonnull (strstr (error->message, "mail.toml:4"));
	g_clear_error (&error);

	/* ep_resolver_new() checks on its own too */
	{
		const char *bad[] = { "127.0.0.1@99999", NULL };
		resolver = ep_resolver_new (bad, FALSE, NULL, &error);
		g_assert_null (resolver);
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_clear_error (&error);
	}
	/* without dns-root-data and without trust_anchor_file: refused, with advice */
	{
		const char *ns[] = { "127.0.0.1@5353", NULL };
		resolver = ep_resolver_new_with_default_anchor (ns, TRUE, NULL, missing, &error);
		g_assert_null (resolver);
		g_assert_error (error, EP_ERROR, EP_ERROR_CONFIG);
		g_assert_nonnull (strstr (error->message, "dns-root-data"));
		g_assert_nonnull (strstr (error->message, missing));
		g_clear_error (&error);
		/* ... unless validation is off */
		resolver = ep_resolver_new_with_default_anchor (ns, FALSE, NULL, missing, &error);
		g_assert_no_error (error);
		g_assert_nonnull (resolver);
		g_clear_object (&resolver);
	}
	/* the Debian default trust anchor, when dns-root-data is installed */
	if (g_file_test ("/usr/share/dns/root.key", G_FILE_TEST_EXISTS)) {
		resolver = ep_resolver_new (NULL, TRUE, NULL, &error);
		g_assert_no_error (error);
		g_assert_nonnull (resolver);
		g_clear_object (&resolver);
	}
}

/* ---- rdata -------------------------------------------------------------- */

static void
test_rdata (void)
{
	struct {
		guint16 rrtype;
		const char *hex;
	} bad[] = {
		{ EP_DNS_TYPE_A, "c00002" },
		{ EP_DNS_TYPE_A, "c000020a0b" },
		{ EP_DNS_TYPE_AAAA, "20010db8" },
		{ EP_DNS_TYPE_MX, "000a" },
		{ EP_DNS_TYPE_MX, "000a046d61696c" },           /* name runs past the end */
		{ EP_DNS_TYPE_MX, "000ac00c" },                 /* compression pointer */
		{ EP_DNS_TYPE_MX, "000a4161" },                 /* label type 01 */
		{ EP_DNS_TYPE_MX, "000a016100ff" },             /* a stray octet */
		{ EP_DNS_TYPE_PTR, "" },
		{ EP_DNS_TYPE_PTR, "05616263" },
		{ EP_DNS_TYPE_TXT, "" },
		{ EP_DNS_TYPE_TXT, "0561626364" },              /* string runs past the end */
		{ EP_DNS_TYPE_TLSA, "0301" },
		{ 99, "00" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		gsize len = strlen (bad[i].hex) / 2;
		g_autofree guint8 *data = g_malloc0 (len + 1);
		gpointer record = NULL;
		g_autoptr(GError) error = NULL;

		for (gsize j = 0; j < len; j++)
			data[j] = (guint8) (g_ascii_xdigit_value (bad[i].hex[2 * j]) << 4 |
					    g_ascii_xdigit_value (bad[i].hex[2 * j + 1]));
		g_assert_false (ep_dns_rdata_parse (bad[i].rrtype, data, len, &record, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
		g_assert_null (record);
	}

	/* a name over 255 octets: 5 labels of 63 */
	{
		g_autoptr(GByteArray) wire = g_byte_array_new ();
		gpointer record = NULL;
		g_autoptr(GError) error = NULL;
		for (guint l = 0; l < 5; l++) {
			guint8 len = 63;
			g_byte_array_append (wire, &len, 1);
			for (guint c = 0; c < 63; c++)
				g_byte_array_append (wire, (const guint8 *) "x", 1);
		}
		g_byte_array_append (wire, (const guint8 *) "", 1);
		g_assert_false (ep_dns_rdata_parse (EP_DNS_TYPE_PTR, wire->data, wire->len, &record, &error));
		g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	}

	/* odd octets in a name are escaped, letters lowered */
	{
		static const guint8 wire[] = { 5, 'A', '.', 'b', ' ', '\\', 4, 'T', 'e', 's', 't', 0 };
		gpointer record = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_CNAME, wire, sizeof wire, &record, &error));
		g_assert_no_error (error);
		g_assert_cmpstr (record, ==, "a\\.b\\032\\\\.test");
		ep_dns_record_free (EP_DNS_TYPE_CNAME, record);
	}

	/* TXT: empty strings join to nothing; a NUL leaves the record out */
	{
		static const guint8 empty[] = { 0 };
		static const guint8 joined[] = { 2, 'a', 'b', 0, 1, 'c' };
		static const guint8 nul[] = { 3, 'a', 0, 'b' };
		gpointer record = NULL;
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_TXT, empty, sizeof empty, &record, NULL));
		g_assert_cmpstr (record, ==, "");
		ep_dns_record_free (EP_DNS_TYPE_TXT, record);
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_TXT, joined, sizeof joined, &record, NULL));
		g_assert_cmpstr (record, ==, "abc");
		ep_dns_record_free (EP_DNS_TYPE_TXT, record);
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_TXT, nul, sizeof nul, &record, NULL));
		g_assert_null (record);
	}

	/* MX and TLSA */
	{
		static const guint8 mx_wire[] = { 0x01, 0x02, 4, 'M', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
		static const guint8 tlsa_wire[] = { 2, 0, 1, 0xde, 0xad };
		gpointer record = NULL;
		EpDnsMx *mx;
		EpDnsTlsa *tlsa;
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_MX, mx_wire, sizeof mx_wire, &record, NULL));
		mx = record;
		g_assert_cmpuint (mx->preference, ==, 258);
		g_assert_cmpstr (mx->host, ==, "mail.example");
		ep_dns_record_free (EP_DNS_TYPE_MX, record);
		g_assert_true (ep_dns_rdata_parse (EP_DNS_TYPE_TLSA, tlsa_wire, sizeof tlsa_wire, &record, NULL));
		tlsa = record;
		g_assert_cmpuint (tlsa->usage, ==, 2);
		g_assert_cmpuint (tlsa->selector, ==, 0);
		g_assert_cmpuint (tlsa->matching_type, ==, 1);
		g_assert_cmpuint (g_bytes_get_size (tlsa->data), ==, 2);
		ep_dns_record_free (EP_DNS_TYPE_TLSA, record);
	}
}

/* ---- the observer (mail trace) ----------------------------------------- */

typedef struct {
	GPtrArray *seen; /* "name TYPE records|error" */
} ObserverLog;

static void
observer_cb (EpResolver *resolver, const char *name, guint16 rrtype, const EpDnsAnswer *answer, const GError *error,
	     gpointer user_data)
{
	ObserverLog *log = user_data;

	g_ptr_array_add (log->seen, g_strdup_printf ("%s %s %s", name, ep_dns_type_to_string (rrtype),
						     answer != NULL ? (answer->nxdomain ? "nxdomain" : "answer")
								    : error->message));
}

static void
test_observer (void)
{
	g_autoptr(EpResolver) resolver = NULL;
	g_autoptr(EpDnsAnswer) a = NULL;
	g_autoptr(EpDnsAnswer) again = NULL;
	g_autoptr(EpDnsAnswer) nx = NULL;
	g_autoptr(EpDnsAnswer) unobserved = NULL;
	g_autoptr(GError) error = NULL;
	ObserverLog log = { g_ptr_array_new_with_free_func (g_free) };

	if (!need_server ())
		return;
	resolver = new_resolver ();
	ep_resolver_set_observer (resolver, observer_cb, &log);
	a = lookup_ok (resolver, "txt.test", EP_DNS_TYPE_TXT);
	again = lookup_ok (resolver, "txt.test", EP_DNS_TYPE_TXT); /* from the cache: told too */
	nx = lookup_ok (resolver, "missing.test", EP_DNS_TYPE_A);
	g_assert_null (lookup (resolver, "bad..name", EP_DNS_TYPE_A, NULL, &error));
	g_assert_error (error, EP_ERROR, EP_ERROR_INVALID);
	ep_resolver_set_observer (resolver, NULL, NULL);
	unobserved = lookup_ok (resolver, "txt.test", EP_DNS_TYPE_TXT);

	g_assert_cmpuint (log.seen->len, ==, 4);
	g_assert_cmpstr (g_ptr_array_index (log.seen, 0), ==, "txt.test TXT answer");
	g_assert_cmpstr (g_ptr_array_index (log.seen, 1), ==, "txt.test TXT answer");
	g_assert_cmpstr (g_ptr_array_index (log.seen, 2), ==, "missing.test A nxdomain");
	g_assert_true (g_str_has_prefix (g_ptr_array_index (log.seen, 3), "bad..name A "));
	g_ptr_array_unref (log.seen);
}

int
main (int argc, char **argv)
{
	int ret;

	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/resolver/rdata", test_rdata);
	g_test_add_func ("/resolver/reverse-name", test_reverse_name);
	g_test_add_func ("/resolver/config", test_config);
	g_test_add_func ("/resolver/mx", test_mx);
	g_test_add_func ("/resolver/a-aaaa", test_a_aaaa);
	g_test_add_func ("/resolver/txt", test_txt);
	g_test_add_func ("/resolver/tlsa", test_tlsa);
	g_test_add_func ("/resolver/ptr", test_ptr);
	g_test_add_func ("/resolver/nxdomain-nodata", test_nxdomain_nodata);
	g_test_add_func ("/resolver/cname", test_cname);
	g_test_add_func ("/resolver/many-in-flight", test_many_in_flight);
	g_test_add_func ("/resolver/timeout", test_timeout);
	g_test_add_func ("/resolver/cancel", test_cancel);
	g_test_add_func ("/resolver/invalid-names", test_invalid_names);
	g_test_add_func ("/resolver/cache", test_cache);
	g_test_add_func ("/resolver/cache-expiry", test_cache_expiry);
	g_test_add_func ("/resolver/cache-size", test_cache_size);
	g_test_add_func ("/resolver/unref-in-flight", test_unref_in_flight);
	g_test_add_func ("/resolver/dnssec", test_dnssec);
	g_test_add_func ("/resolver/observer", test_observer);

	server_start ();
	ret = g_test_run ();
	server_stop ();
	return ret;
}
