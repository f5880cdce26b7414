-- SPDX-License-Identifier: GPL-2.0-or-later
-- pop3: the maildrop locks (RFC 1939 §8: "the POP3 server acquires an
-- exclusive-access lock on the maildrop").  One row per account whose
-- INBOX a POP3 session holds, shared by every process and host on this
-- database.  A lock is a lease: its holder renews it while the session
-- lives and deletes it when the session ends; a holder that dies (crash,
-- kill -9, lost host) stops renewing, and once expires_at is past the
-- next session takes the row over.  See docs/pop3.md.

CREATE TABLE pop3_maildrop_locks (
	account text PRIMARY KEY,
	-- a random token per session: only the holder renews or releases
	owner text NOT NULL,
	-- for the operator: "host pid session-id"
	holder text NOT NULL,
	acquired_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
