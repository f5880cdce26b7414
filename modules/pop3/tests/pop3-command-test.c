/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <string.h>

#include "pop3-command.h"

static gboolean
parse (const char *line, Pop3Command *cmd, const char **error)
{
	return pop3_command_parse (line, strlen (line), cmd, error);
}

static void
test_simple_verbs (void)
{
	static const struct {
		const char *line;
		Pop3Verb verb;
	} cases[] = {
	    {"STAT", POP3_VERB_STAT}, {"stat", POP3_VERB_STAT}, {"NoOp", POP3_VERB_NOOP},     {"RSET", POP3_VERB_RSET},
	    {"QUIT", POP3_VERB_QUIT}, {"CAPA", POP3_VERB_CAPA}, {"STLS", POP3_VERB_STLS},     {"LIST", POP3_VERB_LIST},
	    {"UIDL", POP3_VERB_UIDL}, {"AUTH", POP3_VERB_AUTH}, {"APOP x y", POP3_VERB_APOP},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		Pop3Command cmd;
		const char *error = NULL;
		g_assert_true (parse (cases[i].line, &cmd, &error));
		g_assert_null (error);
		g_assert_cmpint (cmd.verb, ==, cases[i].verb);
		g_assert_false (cmd.has_msg);
		g_assert_null (cmd.arg);
		pop3_command_clear (&cmd);
	}
}

static void
test_numbers (void)
{
	Pop3Command cmd;
	const char *error = NULL;

	g_assert_true (parse ("RETR 1", &cmd, &error));
	g_assert_cmpint (cmd.verb, ==, POP3_VERB_RETR);
	g_assert_true (cmd.has_msg);
	g_assert_cmpuint (cmd.msg, ==, 1);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("list 4294967295", &cmd, &error));
	g_assert_cmpuint (cmd.msg, ==, G_MAXUINT32);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("TOP 3 0", &cmd, &error));
	g_assert_cmpint (cmd.verb, ==, POP3_VERB_TOP);
	g_assert_cmpuint (cmd.msg, ==, 3);
	g_assert_cmpuint (cmd.lines, ==, 0);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("UIDL 007", &cmd, &error));
	g_assert_cmpuint (cmd.msg, ==, 7);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("DELE 12", &cmd, &error));
	g_assert_cmpuint (cmd.msg, ==, 12);
	pop3_command_clear (&cmd);
}

static void
test_errors (void)
{
	static const char *const bad[] = {
	    "",
	    "ST",
	    "STATS",
	    "FOO",
	    "STAT ",
	    "STAT 1",
	    "RETR",
	    "RETR ",
	    "RETR 0",
	    "RETR -1",
	    "RETR +1",
	    "RETR 1 2",
	    "RETR a",
	    "RETR  1",
	    "DELE 4294967296",
	    "LIST 1 2",
	    "LIST 0",
	    "LIST x",
	    "TOP 1",
	    "TOP 1 -1",
	    "TOP 1 2 3",
	    "TOP 0 1",
	    "TOP 1 x",
	    "USER",
	    "USER a b",
	    "PASS",
	    "QUIT now",
	    "AUTH PL@IN",
	    "AUTH PLAIN !!!!",
	    "AUTH PLAIN AAA",
	    "AUTH PLAIN AA=A",
	    "AUTH A B C",
	    "AUTH ABCDEFGHIJKLMNOPQRSTU",
	    "NOOP\t",
	    " STAT",
	    "STAT\x7f",
	    "USER \x01",
	    "RETR 12345678901",
	};

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		Pop3Command cmd;
		const char *error = NULL;
		g_assert_false (parse (bad[i], &cmd, &error));
		g_assert_nonnull (error);
		g_assert_null (cmd.arg);
		g_assert_null (cmd.initial);
		pop3_command_clear (&cmd);
	}
}

static void
test_user_pass (void)
{
	Pop3Command cmd;
	const char *error = NULL;

	g_assert_true (parse ("USER alice", &cmd, &error));
	g_assert_cmpint (cmd.verb, ==, POP3_VERB_USER);
	g_assert_cmpstr (cmd.arg, ==, "alice");
	pop3_command_clear (&cmd);

	g_assert_true (parse ("user jos\xc3\xa9@example.org", &cmd, &error));
	g_assert_cmpstr (cmd.arg, ==, "jos\xc3\xa9@example.org");
	pop3_command_clear (&cmd);

	/* RFC 1939 §7: the password may hold spaces, even at the ends */
	g_assert_true (parse ("PASS  a long  password ", &cmd, &error));
	g_assert_cmpint (cmd.verb, ==, POP3_VERB_PASS);
	g_assert_cmpstr (cmd.arg, ==, " a long  password ");
	pop3_command_clear (&cmd);

	/* not UTF-8 */
	g_assert_false (parse ("PASS \xff\xfe", &cmd, &error));
	pop3_command_clear (&cmd);
	g_assert_false (parse ("USER \xc3", &cmd, &error));
	pop3_command_clear (&cmd);
}

static void
test_auth (void)
{
	Pop3Command cmd;
	const char *error = NULL;
	g_autoptr (GBytes) b = NULL;

	g_assert_true (parse ("AUTH", &cmd, &error));
	g_assert_null (cmd.arg);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("auth scram-sha-256", &cmd, &error));
	g_assert_cmpstr (cmd.arg, ==, "SCRAM-SHA-256");
	g_assert_null (cmd.initial);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", &cmd, &error));
	g_assert_cmpstr (cmd.arg, ==, "PLAIN");
	g_assert_cmpstr (cmd.initial, ==, "AGFsaWNlAHNlY3JldA==");
	b = pop3_base64_decode (cmd.initial, strlen (cmd.initial), TRUE);
	g_assert_nonnull (b);
	g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), "\0alice\0secret", 13);
	pop3_command_clear (&cmd);

	g_assert_true (parse ("AUTH EXTERNAL =", &cmd, &error));
	g_assert_cmpstr (cmd.initial, ==, "=");
	pop3_command_clear (&cmd);
}

static void
test_base64 (void)
{
	g_autoptr (GBytes) empty = pop3_base64_decode ("", 0, FALSE);
	g_autoptr (GBytes) eq = pop3_base64_decode ("=", 1, TRUE);
	g_autoptr (GBytes) ok = pop3_base64_decode ("YWI=", 4, FALSE);

	g_assert_cmpuint (g_bytes_get_size (empty), ==, 0);
	g_assert_cmpuint (g_bytes_get_size (eq), ==, 0);
	g_assert_cmpmem (g_bytes_get_data (ok, NULL), g_bytes_get_size (ok), "ab", 2);
	g_assert_null (pop3_base64_decode ("=", 1, FALSE));
	g_assert_null (pop3_base64_decode ("YWI", 3, FALSE));
	g_assert_null (pop3_base64_decode ("Y=I=", 4, FALSE));
	g_assert_null (pop3_base64_decode ("YW I", 4, FALSE));
	g_assert_null (pop3_base64_decode ("*", 1, FALSE));
}

static void
test_line_limit (void)
{
	g_autofree char *ok = g_strnfill (POP3_COMMAND_MAX_LINE - 5, 'a');
	g_autofree char *line = g_strconcat ("PASS ", ok, NULL);
	g_autofree char *long_line = g_strconcat ("PASS a", ok, NULL);
	Pop3Command cmd;
	const char *error = NULL;

	/* RFC 2449 §4: 255 octets with CRLF */
	g_assert_cmpuint (strlen (line), ==, POP3_COMMAND_MAX_LINE);
	g_assert_true (parse (line, &cmd, &error));
	g_assert_cmpstr (cmd.arg, ==, ok);
	pop3_command_clear (&cmd);
	g_assert_false (parse (long_line, &cmd, &error));
	g_assert_cmpstr (error, ==, "Command line too long");
	pop3_command_clear (&cmd);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/pop3/command/simple", test_simple_verbs);
	g_test_add_func ("/pop3/command/numbers", test_numbers);
	g_test_add_func ("/pop3/command/errors", test_errors);
	g_test_add_func ("/pop3/command/user-pass", test_user_pass);
	g_test_add_func ("/pop3/command/auth", test_auth);
	g_test_add_func ("/pop3/command/base64", test_base64);
	g_test_add_func ("/pop3/command/line-limit", test_line_limit);
	return g_test_run ();
}
