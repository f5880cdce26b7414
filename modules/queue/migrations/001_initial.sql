-- The outbound queue: a message and its remote recipients, committed
-- before the client hears 250.  Delivery workers claim due recipients
-- with FOR UPDATE SKIP LOCKED and hold them with a lease (lease_owner,
-- next_attempt pushed past the attempt's longest duration) while they
-- deliver, so several processes or hosts share one queue without
-- delivering twice, and a worker that dies leaves work that comes due
-- again when its lease ends (or at once when the same node restarts).

CREATE TABLE queue_messages (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- the id operators see (mail queue, logs, DSNs): 16 lower-case hex digits
	queue_id text NOT NULL UNIQUE CHECK (queue_id ~ '^[0-9a-f]{16}$'),
	sender text NOT NULL,                      -- the reverse path; '' is the null sender
	message bytea NOT NULL,                    -- CRLF lines, no Return-Path
	size bigint NOT NULL,
	body_8bit boolean NOT NULL DEFAULT false,  -- BODY=8BITMIME
	smtputf8 boolean NOT NULL DEFAULT false,   -- SMTPUTF8
	envid text,                                -- DSN ENVID (RFC 3461)
	ret_headers_only boolean NOT NULL DEFAULT false, -- DSN RET=HDRS
	submitted_by text,                         -- the authenticated account, if any
	header_message_id text,                    -- the Message-ID field, for logs and events
	kind text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'dsn')),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queue_recipients (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message_id bigint NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
	recipient text NOT NULL,                   -- local-part@domain as given
	domain text NOT NULL,                      -- lower case, the routing key
	orcpt text,                                -- DSN ORCPT
	notify integer NOT NULL DEFAULT 0,         -- EpQueueNotify bits
	state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL DEFAULT now(),
	last_attempt timestamptz,
	lease_owner text,                          -- the node delivering it now
	last_code integer,                         -- the last SMTP reply code (0: no server answered)
	last_status text,                          -- its enhanced status code, e.g. 4.4.1
	last_reply text,                           -- the reply, or why no server was reached
	remote_host text,                          -- the server that gave it
	delay_notified boolean NOT NULL DEFAULT false
);

CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt) WHERE state = 'queued';
CREATE INDEX queue_recipients_message ON queue_recipients (message_id);
CREATE INDEX queue_recipients_lease ON queue_recipients (lease_owner) WHERE lease_owner IS NOT NULL;
