/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "smtp-command.h"

/* One line and what the parser must make of it.  @expect is the path for
 * MAIL/RCPT and the argument for the other verbs (NULL: none). */
typedef struct {
	const char *line;
	SmtpParseFlags flags;
	SmtpVerb verb;
	guint code; /* 0: accepted */
	const char *enhanced;
	const char *expect;
} ParseCase;

static const ParseCase parse_cases[] = {
    /* verbs, case-insensitive, and their argument rules */
    {"EHLO client.example.org", 0, SMTP_VERB_EHLO, 0, NULL, "client.example.org"},
    {"ehlo client.example.org", 0, SMTP_VERB_EHLO, 0, NULL, "client.example.org"},
    {"HeLo localhost", 0, SMTP_VERB_HELO, 0, NULL, "localhost"},
    {"EHLO [192.0.2.1]", 0, SMTP_VERB_EHLO, 0, NULL, "[192.0.2.1]"},
    {"EHLO [IPv6:2001:db8::1]", 0, SMTP_VERB_EHLO, 0, NULL, "[IPv6:2001:db8::1]"},
    {"EHLO xn--bcher-kva.example", 0, SMTP_VERB_EHLO, 0, NULL, "xn--bcher-kva.example"},
    {"EHLO", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO ", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO  client.example", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO client.example ", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO client_1.example", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO -client.example", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO client-.example", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO client..example", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO client.example.", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO [192.0.2.256]", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO [192.0.2]", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO [x-tag:foo]", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO b\xc3\xbc"
     "cher.example",
     0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"EHLO a b", 0, SMTP_VERB_EHLO, 501, "5.5.4", NULL},
    {"DATA", 0, SMTP_VERB_DATA, 0, NULL, NULL},
    {"data", 0, SMTP_VERB_DATA, 0, NULL, NULL},
    {"DATA ", 0, SMTP_VERB_DATA, 501, "5.5.4", NULL},
    {"DATA x", 0, SMTP_VERB_DATA, 501, "5.5.4", NULL},
    {"RSET", 0, SMTP_VERB_RSET, 0, NULL, NULL},
    {"RSET now", 0, SMTP_VERB_RSET, 501, "5.5.4", NULL},
    {"QUIT", 0, SMTP_VERB_QUIT, 0, NULL, NULL},
    {"QUIT please", 0, SMTP_VERB_QUIT, 501, "5.5.4", NULL},
    {"STARTTLS", 0, SMTP_VERB_STARTTLS, 0, NULL, NULL},
    {"STARTTLS x", 0, SMTP_VERB_STARTTLS, 501, "5.5.4", NULL},
    {"NOOP", 0, SMTP_VERB_NOOP, 0, NULL, NULL},
    {"NOOP hello there", 0, SMTP_VERB_NOOP, 0, NULL, "hello there"},
    {"NOOP \x01", 0, SMTP_VERB_NOOP, 501, "5.5.2", NULL},
    {"HELP", 0, SMTP_VERB_HELP, 0, NULL, NULL},
    {"HELP MAIL", 0, SMTP_VERB_HELP, 0, NULL, "MAIL"},
    {"VRFY postmaster", 0, SMTP_VERB_VRFY, 0, NULL, "postmaster"},
    {"VRFY", 0, SMTP_VERB_VRFY, 501, "5.5.4", NULL},
    {"EXPN staff", 0, SMTP_VERB_EXPN, 0, NULL, "staff"},
    {"AUTH PLAIN", 0, SMTP_VERB_AUTH, 0, NULL, "PLAIN"},
    {"AUTH", 0, SMTP_VERB_AUTH, 501, "5.5.4", NULL},
    {"", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},
    {" EHLO x", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},
    {"XYZZY", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},
    {"TURN", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},
    {"MAILFROM:<a@b.example>", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},
    {"EHLO\tclient.example", 0, SMTP_VERB_UNKNOWN, 500, "5.5.2", NULL},

    /* MAIL FROM */
    {"MAIL FROM:<alice@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"mail from:<alice@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"MAIL FROM:<>", 0, SMTP_VERB_MAIL, 0, NULL, ""},
    {"MAIL FROM: <alice@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"MAIL FROM:  <>", 0, SMTP_VERB_MAIL, 0, NULL, ""},
    {"MAIL FROM :<alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:alice@example.org", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL  FROM:<alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL TO:<alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<alice@example.org> ", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<alice@example.org>x", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@example.org", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<al ice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<.alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice.@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<al..ice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@example..org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@-example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@exa_mple.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@example.org >", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<<alice@example.org>>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<a(comment)@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "!#$%&'*+-/=?^_`{|}~@example.org"},
    {"MAIL FROM:<first.last@sub.example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "first.last@sub.example.org"},
    /* quoted local parts: quotes dropped when they are not needed */
    {"MAIL FROM:<\"alice\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"MAIL FROM:<\"a.b\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "a.b@example.org"},
    {"MAIL FROM:<\"al ice\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "\"al ice\"@example.org"},
    {"MAIL FROM:<\"a\\\"b\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "\"a\\\"b\"@example.org"},
    {"MAIL FROM:<\"a\\\\b\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "\"a\\\\b\"@example.org"},
    {"MAIL FROM:<\"\\a\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<\"a..b\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "\"a..b\"@example.org"},
    {"MAIL FROM:<\"\"@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "\"\"@example.org"},
    {"MAIL FROM:<\"a\"b\"@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<\"abc@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<\"a\tb\"@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    /* source routes are dropped */
    {"MAIL FROM:<@relay.example:alice@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"MAIL FROM:<@a.example,@b.example:alice@example.org>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@example.org"},
    {"MAIL FROM:<@a.example,b.example:alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<@a.example:>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<@[192.0.2.1]:alice@example.org>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    /* address literals */
    {"MAIL FROM:<alice@[192.0.2.1]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[192.0.2.1]"},
    {"MAIL FROM:<alice@[IPv6:2001:db8::1]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[IPv6:2001:db8::1]"},
    {"MAIL FROM:<alice@[IPv6:::1]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[IPv6:::1]"},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5:6:7:8]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[IPv6:1:2:3:4:5:6:7:8]"},
    {"MAIL FROM:<alice@[IPv6:::ffff:192.0.2.1]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[IPv6:::ffff:192.0.2.1]"},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5:6:192.0.2.1]>", 0, SMTP_VERB_MAIL, 0, NULL,
     "alice@[IPv6:1:2:3:4:5:6:192.0.2.1]"},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5:6:7]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:1::2::3]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:1:::2]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5:6:7::]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:12345::1]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[IPv6:1:2:3:4:5::192.0.2.1]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[1.2.3.4.5]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[1.2.3.04]>", 0, SMTP_VERB_MAIL, 0, NULL, "alice@[1.2.3.04]"},
    {"MAIL FROM:<alice@[1.2.3.0004]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[example.org]>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<alice@[192.0.2.1>", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},

    /* UTF-8 addresses need SMTPUTF8 and must be valid UTF-8 */
    {"MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", 0, SMTP_VERB_MAIL, 0, NULL, "j\xc3\xb6rg@example.org"},
    {"MAIL FROM:<jorg@b\xc3\xbc"
     "cher.example> SMTPUTF8",
     0, SMTP_VERB_MAIL, 0, NULL,
     "jorg@b\xc3\xbc"
     "cher.example"},
    {"MAIL FROM:<j\xc3\xb6rg@example.org>", 0, SMTP_VERB_MAIL, 553, "5.6.7", NULL},
    {"MAIL FROM:<jorg@b\xc3\xbc"
     "cher.example>",
     0, SMTP_VERB_MAIL, 553, "5.6.7", NULL},
    {"MAIL FROM:<j\xc3rg@example.org> SMTPUTF8", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<jorg@b\xff.example> SMTPUTF8", 0, SMTP_VERB_MAIL, 501, "5.1.7", NULL},
    {"MAIL FROM:<\"j\xc3\xb6 rg\"@example.org> SMTPUTF8", 0, SMTP_VERB_MAIL, 0, NULL, "\"j\xc3\xb6 rg\"@example.org"},
    {"RCPT TO:<j\xc3\xb6rg@example.org>", SMTP_PARSE_UTF8, SMTP_VERB_RCPT, 0, NULL, "j\xc3\xb6rg@example.org"},
    {"RCPT TO:<j\xc3\xb6rg@example.org>", 0, SMTP_VERB_RCPT, 553, "5.6.7", NULL},
    {"RCPT TO:<j\xc0\xafrg@example.org>", SMTP_PARSE_UTF8, SMTP_VERB_RCPT, 501, "5.1.3", NULL},

    /* length limits: local part 64, domain 255, path 256 */
    {"MAIL FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org>", 0, SMTP_VERB_MAIL, 0,
     NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org"},
    {"MAIL FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org>", 0, SMTP_VERB_MAIL,
     501, "5.1.7", NULL},
    {"RCPT TO:<a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example>", 0, SMTP_VERB_RCPT, 501,
     "5.1.3", NULL},

    /* RCPT TO */
    {"RCPT TO:<bob@example.org>", 0, SMTP_VERB_RCPT, 0, NULL, "bob@example.org"},
    {"rcpt to:<bob@example.org>", 0, SMTP_VERB_RCPT, 0, NULL, "bob@example.org"},
    {"RCPT TO: <bob@example.org>", 0, SMTP_VERB_RCPT, 0, NULL, "bob@example.org"},
    {"RCPT TO:<Postmaster>", 0, SMTP_VERB_RCPT, 0, NULL, "Postmaster"},
    {"RCPT TO:<postmaster>", 0, SMTP_VERB_RCPT, 0, NULL, "Postmaster"},
    {"RCPT TO:<Postmaster@example.org>", 0, SMTP_VERB_RCPT, 0, NULL, "Postmaster@example.org"},
    {"RCPT TO:<bob>", 0, SMTP_VERB_RCPT, 501, "5.1.3", NULL},
    {"RCPT TO:<>", 0, SMTP_VERB_RCPT, 501, "5.1.3", NULL},
    {"RCPT TO:bob@example.org", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT FROM:<bob@example.org>", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<@relay.example:bob@example.org>", 0, SMTP_VERB_RCPT, 0, NULL, "bob@example.org"},
    {"RCPT", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},

    /* parameters */
    {"MAIL FROM:<a@example.org> SIZE=1000", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> SIZE=1000  BODY=8BITMIME", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> size=10 size=10", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE=", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE=12a", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE=-1", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE=123456789012345678901", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> BODY=7BIT", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> BODY=BINARYMIME", 0, SMTP_VERB_MAIL, 555, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> BODY=9BIT", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SMTPUTF8", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> SMTPUTF8=yes", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> REQUIRETLS", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> REQUIRETLS=1", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> RET=HDRS", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> RET=ALL", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> ENVID=QQ314159", 0, SMTP_VERB_MAIL, 0, NULL, "a@example.org"},
    {"MAIL FROM:<a@example.org> ENVID=a+2", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> ENVID=a+0a", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> ENVID=a+0A", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> AUTH=<>", 0, SMTP_VERB_MAIL, 555, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> X-FOO=bar", 0, SMTP_VERB_MAIL, 555, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> NOTIFY=NEVER", 0, SMTP_VERB_MAIL, 555, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> -SIZE=1", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"MAIL FROM:<a@example.org> SIZE==1", 0, SMTP_VERB_MAIL, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE", 0, SMTP_VERB_RCPT, 0, NULL, "b@example.org"},
    {"RCPT TO:<b@example.org> NOTIFY=never", 0, SMTP_VERB_RCPT, 0, NULL, "b@example.org"},
    {"RCPT TO:<b@example.org> NOTIFY=NEVER,DELAY", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> NOTIFY=DELAY,DELAY", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> NOTIFY=SUCCESS,", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> NOTIFY=SOMETIMES", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> ORCPT=rfc822;b+40example.org", 0, SMTP_VERB_RCPT, 0, NULL, "b@example.org"},
    {"RCPT TO:<b@example.org> ORCPT=rfc822", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> ORCPT=;b@example.org", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> ORCPT=rfc822;", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> ORCPT=rfc822;b+0D+0Ax", 0, SMTP_VERB_RCPT, 501, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> SIZE=10", 0, SMTP_VERB_RCPT, 555, "5.5.4", NULL},
    {"RCPT TO:<b@example.org> BODY=8BITMIME", 0, SMTP_VERB_RCPT, 555, "5.5.4", NULL},

    /* BDAT */
    {"BDAT 0 LAST", 0, SMTP_VERB_BDAT, 0, NULL, NULL},
    {"BDAT 1000", 0, SMTP_VERB_BDAT, 0, NULL, NULL},
    {"bdat 86 last", 0, SMTP_VERB_BDAT, 0, NULL, NULL},
    {"BDAT", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT x", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT 10 FIRST", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT 10  LAST", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT 10 LAST ", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT -1", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
    {"BDAT 99999999999999999999999", 0, SMTP_VERB_BDAT, 501, "5.5.4", NULL},
};

static void
test_parse_table (void)
{
	for (guint i = 0; i < G_N_ELEMENTS (parse_cases); i++) {
		const ParseCase *c = &parse_cases[i];
		SmtpCommand cmd;
		SmtpReply reply;
		gboolean ok = smtp_command_parse (c->line, strlen (c->line), c->flags, &cmd, &reply);

		g_autofree char *printable = g_strescape (c->line, NULL);

		g_test_message ("case %u: %s", i, printable);
		g_assert_cmpint (cmd.verb, ==, c->verb);
		if (c->code == 0) {
			if (!ok)
				g_error ("'%s' refused: %u %s %s", c->line, reply.code, reply.enhanced, reply.text);
			if (c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT)
				g_assert_cmpstr (cmd.path, ==, c->expect);
			else
				g_assert_cmpstr (cmd.argument, ==, c->expect);
		} else {
			if (ok)
				g_error ("'%s' accepted, expected %u %s", c->line, c->code, c->enhanced);
			g_assert_cmpuint (reply.code, ==, c->code);
			g_assert_cmpstr (reply.enhanced, ==, c->enhanced);
			g_assert_nonnull (reply.text);
			/* the enhanced code is of the same class as the reply */
			g_assert_cmpint (reply.enhanced[0], ==, '0' + (int)(reply.code / 100));
		}
		smtp_command_clear (&cmd);
	}
}

static gboolean
parse_ok (const char *line, SmtpCommand *cmd)
{
	SmtpReply reply;
	return smtp_command_parse (line, strlen (line), SMTP_PARSE_NONE, cmd, &reply);
}

static void
test_parse_mail_parameters (void)
{
	SmtpCommand cmd;

	g_assert_true (parse_ok ("MAIL FROM:<a@example.org> size=52428800 body=8bitmime SMTPUTF8 RET=FULL "
				 "ENVID=QQ+2B314 REQUIRETLS",
				 &cmd));
	g_assert_true (cmd.has_size);
	g_assert_cmpuint (cmd.size, ==, 52428800);
	g_assert_cmpint (cmd.body, ==, SMTP_BODY_8BITMIME);
	g_assert_true (cmd.smtputf8);
	g_assert_true (cmd.requiretls);
	g_assert_cmpint (cmd.ret, ==, SMTP_RET_FULL);
	g_assert_cmpstr (cmd.envid, ==, "QQ+314");
	g_assert_nonnull (cmd.parameters);
	g_assert_cmpuint (g_hash_table_size (cmd.parameters), ==, 6);
	/* keywords upper-cased, values as given, NULL without a value */
	g_assert_cmpstr (g_hash_table_lookup (cmd.parameters, "SIZE"), ==, "52428800");
	g_assert_cmpstr (g_hash_table_lookup (cmd.parameters, "BODY"), ==, "8bitmime");
	g_assert_true (g_hash_table_contains (cmd.parameters, "SMTPUTF8"));
	g_assert_null (g_hash_table_lookup (cmd.parameters, "SMTPUTF8"));
	smtp_command_clear (&cmd);

	/* SIZE beyond 64 bits is still a size: too large, not malformed */
	g_assert_true (parse_ok ("MAIL FROM:<> SIZE=99999999999999999999", &cmd));
	g_assert_cmpuint (cmd.size, ==, G_MAXUINT64);
	g_assert_cmpstr (cmd.path, ==, "");
	smtp_command_clear (&cmd);

	g_assert_true (parse_ok ("MAIL FROM:<a@example.org>", &cmd));
	g_assert_false (cmd.has_size);
	g_assert_null (cmd.parameters);
	g_assert_cmpint (cmd.body, ==, SMTP_BODY_UNSET);
	smtp_command_clear (&cmd);
}

static void
test_parse_rcpt_parameters (void)
{
	SmtpCommand cmd;

	g_assert_true (
	    parse_ok ("RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2Bx+40example.org", &cmd));
	g_assert_cmpint (cmd.notify, ==, SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
	g_assert_cmpstr (cmd.orcpt_type, ==, "rfc822");
	g_assert_cmpstr (cmd.orcpt_address, ==, "b+x@example.org");
	g_assert_false (cmd.postmaster);
	smtp_command_clear (&cmd);

	g_assert_true (parse_ok ("RCPT TO:<Postmaster>", &cmd));
	g_assert_true (cmd.postmaster);
	smtp_command_clear (&cmd);

	g_assert_true (parse_ok ("RCPT TO:<Postmaster@example.org>", &cmd));
	g_assert_false (cmd.postmaster);
	smtp_command_clear (&cmd);
}

static void
test_parse_bdat (void)
{
	SmtpCommand cmd;

	g_assert_true (parse_ok ("BDAT 0 LAST", &cmd));
	g_assert_cmpuint (cmd.chunk_size, ==, 0);
	g_assert_true (cmd.last);
	smtp_command_clear (&cmd);

	g_assert_true (parse_ok ("BDAT 18446744073709551615", &cmd));
	g_assert_cmpuint (cmd.chunk_size, ==, G_MAXUINT64);
	g_assert_false (cmd.last);
	smtp_command_clear (&cmd);
}

static void
test_parse_line_length (void)
{
	SmtpCommand cmd;
	SmtpReply reply;
	g_autoptr (GString) line = g_string_new ("NOOP ");

	/* 510 octets (512 with CRLF) is the most a command may have */
	while (line->len < SMTP_COMMAND_MAX_LINE)
		g_string_append_c (line, 'x');
	g_assert_true (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	smtp_command_clear (&cmd);
	g_string_append_c (line, 'x');
	g_assert_false (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 500);
	g_assert_cmpstr (reply.enhanced, ==, "5.5.2");
	smtp_command_clear (&cmd);

	/* MAIL may be longer: its parameters extend it */
	g_string_assign (line, "MAIL FROM:<a@example.org> ENVID=");
	for (guint i = 0; i < 100 - 1; i++)
		g_string_append_c (line, 'e');
	g_string_append (line, " SIZE=1 RET=HDRS BODY=8BITMIME SMTPUTF8 REQUIRETLS");
	while (line->len <= SMTP_COMMAND_MAX_LINE)
		g_string_insert_c (line, 11, 'a');
	/* ... but the local part limit still holds */
	g_assert_false (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 501);
	smtp_command_clear (&cmd);

	g_string_assign (line, "RCPT TO:<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;");
	while (line->len < 560)
		g_string_append_c (line, 'o');
	g_assert_false (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	/* ORCPT over 500 characters */
	g_assert_cmpuint (reply.code, ==, 501);
	smtp_command_clear (&cmd);
	g_string_assign (line, "RCPT TO:<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;");
	while (line->len < 520)
		g_string_append_c (line, 'o');
	g_assert_true (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	smtp_command_clear (&cmd);

	/* a NUL inside the buffer is not the end of the line */
	g_assert_false (smtp_command_parse ("NOOP a\0b", 8, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 501);
	smtp_command_clear (&cmd);
	g_assert_false (smtp_command_parse ("DATA\0", 5, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 500);
	smtp_command_clear (&cmd);
}

/* RFC 4954: AUTH with an initial response may be 12288 octets with CRLF,
 * and MAIL takes AUTH= once AUTH was advertised */
static void
test_parse_auth (void)
{
	SmtpCommand cmd;
	SmtpReply reply;
	g_autoptr (GString) line = g_string_new ("AUTH XOAUTH2 ");
	static const struct {
		const char *line;
		SmtpParseFlags flags;
		guint code;
	} mail_cases[] = {
	    {"MAIL FROM:<a@example.org> AUTH=<>", SMTP_PARSE_AUTH, 0},
	    {"MAIL FROM:<a@example.org> AUTH=a+40example.org", SMTP_PARSE_AUTH, 0},
	    {"MAIL FROM:<a@example.org> AUTH=<>", SMTP_PARSE_NONE, 555},
	    {"MAIL FROM:<a@example.org> AUTH", SMTP_PARSE_AUTH, 501},
	    {"MAIL FROM:<a@example.org> AUTH=a+0D+0A", SMTP_PARSE_AUTH, 501},
	    {"MAIL FROM:<a@example.org> AUTH=a+4", SMTP_PARSE_AUTH, 501},
	    {"RCPT TO:<a@example.org> AUTH=<>", SMTP_PARSE_AUTH, 555},
	};

	while (line->len < SMTP_COMMAND_MAX_LINE_AUTH)
		g_string_append_c (line, 'A');
	g_assert_true (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	g_assert_cmpint (cmd.verb, ==, SMTP_VERB_AUTH);
	g_assert_cmpuint (strlen (cmd.argument), ==, SMTP_COMMAND_MAX_LINE_AUTH - 5);
	smtp_command_clear (&cmd);
	g_string_append_c (line, 'A');
	g_assert_false (smtp_command_parse (line->str, line->len, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 500);
	g_assert_cmpstr (reply.enhanced, ==, "5.5.2");
	smtp_command_clear (&cmd);
	/* the other commands keep their limits */
	g_string_overwrite (line, 0, "NOOP");
	g_assert_false (smtp_command_parse (line->str, SMTP_COMMAND_MAX_LINE + 1, 0, &cmd, &reply));
	g_assert_cmpuint (reply.code, ==, 500);
	smtp_command_clear (&cmd);

	for (guint i = 0; i < G_N_ELEMENTS (mail_cases); i++) {
		gboolean ok;
		g_test_message ("%s", mail_cases[i].line);
		ok = smtp_command_parse (mail_cases[i].line, strlen (mail_cases[i].line), mail_cases[i].flags, &cmd,
					 &reply);
		if (mail_cases[i].code == 0)
			g_assert_true (ok);
		else
			g_assert_cmpuint (reply.code, ==, mail_cases[i].code);
		smtp_command_clear (&cmd);
	}
}

typedef struct {
	const char *domain;
	gboolean utf8;
	gboolean valid;
} DomainCase;

static void
test_domains (void)
{
	static const DomainCase cases[] = {
	    {"example.org", FALSE, TRUE},
	    {"a", FALSE, TRUE},
	    {"1.2.3", FALSE, TRUE},
	    {"a-b.c", FALSE, TRUE},
	    {"a--b.c", FALSE, TRUE},
	    {"xn--bcher-kva.example", FALSE, TRUE},
	    {"", FALSE, FALSE},
	    {".", FALSE, FALSE},
	    {".a", FALSE, FALSE},
	    {"a.", FALSE, FALSE},
	    {"a..b", FALSE, FALSE},
	    {"-a", FALSE, FALSE},
	    {"a-", FALSE, FALSE},
	    {"a_b", FALSE, FALSE},
	    {"a b", FALSE, FALSE},
	    {"b\xc3\xbc"
	     "cher.example",
	     FALSE, FALSE},
	    {"b\xc3\xbc"
	     "cher.example",
	     TRUE, TRUE},
	    {"b\xc3"
	     "cher.example",
	     TRUE, FALSE},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", FALSE, TRUE},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", FALSE, FALSE},
	};
	g_autoptr (GString) longest = g_string_new (NULL);

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		gboolean valid = smtp_domain_is_valid (cases[i].domain, strlen (cases[i].domain), cases[i].utf8);
		g_autofree char *printable = g_strescape (cases[i].domain, NULL);
		g_test_message ("domain %s", printable);
		g_assert_cmpint (valid, ==, cases[i].valid);
	}
	/* 255 octets in all */
	while (longest->len < 255)
		g_string_append (longest, longest->len + 2 <= 255 ? "a." : "a");
	g_assert_cmpuint (longest->len, ==, 255);
	g_assert_true (smtp_domain_is_valid (longest->str, longest->len, FALSE));
	g_string_prepend (longest, "b");
	g_assert_false (smtp_domain_is_valid (longest->str, longest->len, FALSE));
}

static void
test_address_literals (void)
{
	static const struct {
		const char *literal;
		gboolean valid;
	} cases[] = {
	    {"[0.0.0.0]", TRUE},
	    {"[255.255.255.255]", TRUE},
	    {"[256.1.1.1]", FALSE},
	    {"[1.1.1]", FALSE},
	    {"[1.1.1.1.]", FALSE},
	    {"[]", FALSE},
	    {"[IPv6:::]", TRUE},
	    {"[ipv6:::1]", TRUE},
	    {"[IPv6:fe80::1:2:3:4:5]", TRUE},
	    {"[IPv6:fe80::1:2:3:4:5:6]", FALSE},
	    {"[IPv6:1:2:3:4::5.6.7.8]", TRUE},
	    {"[IPv6:1:2:3:4:5::5.6.7.8]", FALSE},
	    {"[IPv6:::5.6.7.8]", TRUE},
	    {"[IPv6:1:2:3:4:5:6:5.6.7.8]", TRUE},
	    {"[IPv6:1:2:3:4:5:5.6.7.8]", FALSE},
	    {"[IPv6:5.6.7.8::]", FALSE},
	    {"[IPv6:g::1]", FALSE},
	    {"[IPv6:fe80::1%eth0]", FALSE},
	    {"[IPv6::1]", FALSE},
	    {"[IPv6:1:]", FALSE},
	    {"[IPv6:]", FALSE},
	    {"[x:1]", FALSE},
	    {"192.0.2.1", FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_test_message ("literal %s", cases[i].literal);
		g_assert_cmpint (smtp_address_literal_is_valid (cases[i].literal, strlen (cases[i].literal)), ==,
				 cases[i].valid);
	}
}

static void
test_xtext (void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"", ""},	    {"abc", "abc"},  {"a+2Bb", "a+b"},	  {"+3D", "="},	  {"+C3+A9", "\xc3\xa9"},
	    {"a+2b", NULL}, {"a+2", NULL},   {"a+", NULL},	  {"a+00", NULL}, {"a=b", NULL},
	    {"a b", NULL},  {"a\x7f", NULL}, {"a\xc3\xa9", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *out = smtp_xtext_decode (cases[i].in, strlen (cases[i].in));
		g_autofree char *printable = g_strescape (cases[i].in, NULL);
		g_test_message ("xtext %s", printable);
		g_assert_cmpstr (out, ==, cases[i].out);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/smtp-command/table", test_parse_table);
	g_test_add_func ("/smtp-command/mail-parameters", test_parse_mail_parameters);
	g_test_add_func ("/smtp-command/rcpt-parameters", test_parse_rcpt_parameters);
	g_test_add_func ("/smtp-command/bdat", test_parse_bdat);
	g_test_add_func ("/smtp-command/line-length", test_parse_line_length);
	g_test_add_func ("/smtp-command/auth", test_parse_auth);
	g_test_add_func ("/smtp-command/domains", test_domains);
	g_test_add_func ("/smtp-command/address-literals", test_address_literals);
	g_test_add_func ("/smtp-command/xtext", test_xtext);
	return g_test_run ();
}
