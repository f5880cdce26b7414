-- SPDX-License-Identifier: GPL-2.0-or-later
-- dmarc: one row per DMARC evaluation of an inbound message, the raw
-- material of the aggregate reports (RFC 7489 §7.2): the reporter groups
-- the rows of a policy domain by source IP, identifiers and results over
-- the report interval and sends them to the record's rua= addresses.
-- Rows are written in the background after the message was decided on;
-- a row that cannot be written is logged and lost, the message is not.

CREATE TABLE dmarc_evaluations (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	evaluated_at timestamptz NOT NULL DEFAULT now(),
	session_id text,                         -- the SMTP session, as the log names it
	source_ip inet,                          -- the client that sent the message
	header_from text,                        -- the RFC5322.From domain; NULL when there was none
	envelope_from text,                      -- the RFC5321.MailFrom domain; NULL for <>
	spf_domain text,                         -- the domain SPF checked (MAIL FROM, else HELO)
	spf_result text,                         -- its result: pass, fail, softfail, neutral, none…; NULL: no SPF result
	dkim_domains text[] NOT NULL DEFAULT '{}', -- d= of every DKIM signature checked …
	dkim_results text[] NOT NULL DEFAULT '{}', -- … and its result, in the same order
	spf_aligned boolean NOT NULL DEFAULT false,  -- an SPF pass aligned with header_from
	dkim_aligned boolean NOT NULL DEFAULT false, -- a DKIM pass aligned with header_from
	dmarc_result text NOT NULL CHECK (dmarc_result IN ('pass', 'fail', 'none', 'temperror', 'permerror')),
	-- the policy published: the domain whose record applied (header_from or
	-- its organizational domain) and its tags; NULL without a record
	policy_domain text,
	policy_p text CHECK (policy_p IN ('none', 'quarantine', 'reject')),
	policy_sp text CHECK (policy_sp IN ('none', 'quarantine', 'reject')),
	policy_pct smallint CHECK (policy_pct BETWEEN 0 AND 100),
	policy_adkim text CHECK (policy_adkim IN ('r', 's')),
	policy_aspf text CHECK (policy_aspf IN ('r', 's')),
	-- what was done with the message, and why it is not what the policy
	-- asks for (the report's PolicyOverrideType): 'sampled_out' (pct=),
	-- 'local_policy' ([dmarc] enforce = false)
	disposition text NOT NULL CHECK (disposition IN ('none', 'quarantine', 'reject')),
	override_reason text,
	rua text[] NOT NULL DEFAULT '{}'         -- the record's rua= URIs ("uri" or "uri!size")
);

-- the reporter reads a domain's rows of an interval, and prunes by age
CREATE INDEX dmarc_evaluations_policy_domain ON dmarc_evaluations (policy_domain, evaluated_at);
CREATE INDEX dmarc_evaluations_evaluated_at ON dmarc_evaluations (evaluated_at);
