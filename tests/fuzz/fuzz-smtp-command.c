/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SMTP command parser on arbitrary bytes, taken as one command line:
 * it must accept or refuse, never crash or leak.  A refusal carries a reply
 * of the right shape; an accepted MAIL or RCPT path is valid UTF-8 within
 * the RFC 5321 limits, and parses again to itself.  The same bytes also go
 * through the BDAT octet validator, whole and cut in two, which must agree.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtp-command.h"
#include "smtp-data.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_check_reply (const SmtpReply *reply)
{
	g_assert (reply->code >= 500 && reply->code <= 559);
	g_assert (reply->enhanced != NULL && reply->enhanced[0] == '5');
	g_assert (reply->text != NULL && reply->text[0] != '\0');
}

static void
fuzz_check_path (const SmtpCommand *cmd)
{
	g_autofree char *again_line = NULL;
	SmtpCommand again;
	SmtpReply reply;
	gsize len;

	g_assert (cmd->path != NULL);
	len = strlen (cmd->path);
	g_assert (g_utf8_validate (cmd->path, -1, NULL));
	g_assert (len + 2 <= SMTP_MAX_PATH);
	if (cmd->postmaster || len == 0)
		return;
	/* the path as it came out is a path that goes in unchanged */
	again_line = g_strdup_printf ("%s %s:<%s>", cmd->verb == SMTP_VERB_MAIL ? "MAIL" : "RCPT",
				      cmd->verb == SMTP_VERB_MAIL ? "FROM" : "TO", cmd->path);
	g_assert (smtp_command_parse (again_line, strlen (again_line), SMTP_PARSE_UTF8, &again, &reply));
	g_assert_cmpstr (again.path, ==, cmd->path);
	smtp_command_clear (&again);
}

static void
fuzz_one (const uint8_t *data, size_t size, SmtpParseFlags flags)
{
	SmtpCommand cmd;
	SmtpReply reply;

	if (smtp_command_parse ((const char *)data, size, flags, &cmd, &reply)) {
		g_assert (cmd.verb != SMTP_VERB_UNKNOWN);
		if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT)
			fuzz_check_path (&cmd);
		if (cmd.argument != NULL)
			g_assert (g_utf8_validate (cmd.argument, -1, NULL));
		if (cmd.envid != NULL)
			g_assert (strlen (cmd.envid) <= SMTP_MAX_ENVID);
	} else {
		fuzz_check_reply (&reply);
	}
	smtp_command_clear (&cmd);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	SmtpOctetValidator whole, split;
	gsize cut = size > 0 ? data[0] % (size + 1) : 0;

	fuzz_one (data, size, SMTP_PARSE_NONE);
	fuzz_one (data, size, SMTP_PARSE_UTF8);

	smtp_octet_validator_init (&whole, 16);
	smtp_octet_validator_feed (&whole, data, size);
	smtp_octet_validator_init (&split, 16);
	smtp_octet_validator_feed (&split, data, cut);
	smtp_octet_validator_feed (&split, data + cut, size - cut);
	g_assert (smtp_octet_validator_finish (&whole) == smtp_octet_validator_finish (&split));
	return 0;
}
