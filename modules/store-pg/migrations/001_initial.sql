-- SPDX-License-Identifier: GPL-2.0-or-later
-- The mailbox store: accounts, addresses, mailboxes, content-addressed
-- blobs, messages, tombstones of expunged UIDs, threads.  Every counter
-- that must not go backwards (UIDNEXT, HIGHESTMODSEQ, quota usage) moves
-- inside the transaction that stores or removes the message, under the
-- row lock of its mailbox or account.

CREATE TABLE store_accounts (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9-]{1,64}$'),
	source text NOT NULL CHECK (source IN ('config', 'db')),
	password_hash text,
	catch_all boolean NOT NULL DEFAULT false,
	quota_bytes bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
	used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
	message_count bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE store_addresses (
	address text PRIMARY KEY CHECK (address = lower(address) AND address LIKE '_%@_%'),
	account_id bigint NOT NULL REFERENCES store_accounts (id) ON DELETE CASCADE
);
CREATE INDEX store_addresses_account ON store_addresses (account_id);

CREATE TABLE store_mailboxes (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES store_accounts (id) ON DELETE CASCADE,
	name text NOT NULL CHECK (name <> '' AND name NOT LIKE '/%' AND name NOT LIKE '%/' AND name NOT LIKE '%//%'),
	role text CHECK (role IN ('inbox', 'sent', 'drafts', 'trash', 'junk', 'archive')),
	uidvalidity bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	uidnext bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
	highestmodseq bigint NOT NULL DEFAULT 1,
	subscribed boolean NOT NULL DEFAULT true,
	UNIQUE (account_id, name),
	UNIQUE (account_id, role)
);

-- one copy of a message however many mailboxes hold it
CREATE TABLE store_blobs (
	hash bytea PRIMARY KEY CHECK (length(hash) = 32), -- SHA-256 of data
	size bigint NOT NULL,
	data bytea NOT NULL
);

-- system flags as bits: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft
CREATE TABLE store_messages (
	mailbox_id bigint NOT NULL REFERENCES store_mailboxes (id) ON DELETE CASCADE,
	uid bigint NOT NULL,
	modseq bigint NOT NULL,
	blob_hash bytea NOT NULL REFERENCES store_blobs (hash),
	email_id text NOT NULL,
	thread_id text NOT NULL,
	flags integer NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 31),
	keywords text[] NOT NULL DEFAULT '{}',
	internal_date timestamptz NOT NULL,
	size bigint NOT NULL,
	structure bytea,
	fts tsvector,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX store_messages_modseq ON store_messages (mailbox_id, modseq);
CREATE INDEX store_messages_blob ON store_messages (blob_hash);
CREATE INDEX store_messages_email ON store_messages (email_id);
CREATE INDEX store_messages_thread ON store_messages (thread_id);
CREATE INDEX store_messages_fts ON store_messages USING gin (fts);

-- expunged UIDs with the MODSEQ of their expunge (QRESYNC VANISHED, JMAP changes)
CREATE TABLE store_tombstones (
	mailbox_id bigint NOT NULL REFERENCES store_mailboxes (id) ON DELETE CASCADE,
	uid bigint NOT NULL,
	modseq bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX store_tombstones_modseq ON store_tombstones (mailbox_id, modseq);

-- message-ids and base subjects seen per account, to thread new messages
CREATE TABLE store_thread_ids (
	account_id bigint NOT NULL REFERENCES store_accounts (id) ON DELETE CASCADE,
	message_id text NOT NULL,
	thread_id text NOT NULL,
	PRIMARY KEY (account_id, message_id)
);
CREATE TABLE store_thread_subjects (
	account_id bigint NOT NULL REFERENCES store_accounts (id) ON DELETE CASCADE,
	base_subject text NOT NULL,
	thread_id text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, base_subject)
);

CREATE SEQUENCE store_object_id_seq;

-- The thread of a new message: the thread of a message it refers to
-- (References, In-Reply-To), else of a recent message with the same base
-- subject, else a new thread.
CREATE FUNCTION store_thread_for (p_account bigint, p_message_id text, p_refs text[], p_base_subject text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_thread text;
BEGIN
	IF p_refs IS NOT NULL AND cardinality(p_refs) > 0 THEN
		SELECT t.thread_id INTO v_thread FROM store_thread_ids t
		 WHERE t.account_id = p_account AND t.message_id = ANY (p_refs) LIMIT 1;
	END IF;
	IF v_thread IS NULL AND p_base_subject IS NOT NULL AND p_base_subject <> '' THEN
		SELECT s.thread_id INTO v_thread FROM store_thread_subjects s
		 WHERE s.account_id = p_account AND s.base_subject = p_base_subject
		   AND s.updated_at > now() - interval '30 days';
	END IF;
	IF v_thread IS NULL THEN
		v_thread := 'T' || to_hex(nextval('store_object_id_seq'));
	END IF;
	IF p_message_id IS NOT NULL AND p_message_id <> '' THEN
		INSERT INTO store_thread_ids (account_id, message_id, thread_id)
		VALUES (p_account, p_message_id, v_thread) ON CONFLICT DO NOTHING;
	END IF;
	IF p_base_subject IS NOT NULL AND p_base_subject <> '' THEN
		INSERT INTO store_thread_subjects (account_id, base_subject, thread_id)
		VALUES (p_account, p_base_subject, v_thread)
		ON CONFLICT (account_id, base_subject) DO UPDATE SET thread_id = EXCLUDED.thread_id, updated_at = now();
	END IF;
	RETURN v_thread;
END $$;

-- Stores one message into several mailboxes (one per recipient account, or
-- an APPEND into one) in one round trip: the blob once, then for each
-- mailbox the next UID and MODSEQ, the quota, the thread.  A quota that
-- would be exceeded raises SQLSTATE EPQ01 and stores nothing.
CREATE FUNCTION store_deliver (p_hash bytea, p_data bytea, p_mailboxes bigint[], p_flags integer, p_keywords text[],
			       p_internal_date timestamptz, p_structure bytea, p_fts tsvector, p_message_id text,
			       p_refs text[], p_base_subject text)
RETURNS TABLE (mailbox_id bigint, uid bigint, modseq bigint, email_id text, thread_id text)
LANGUAGE plpgsql AS $$
DECLARE
	v_size bigint := length(p_data);
	v_mbox bigint;
	v_account bigint;
	v_uid bigint;
	v_modseq bigint;
	v_thread text;
	v_email text;
BEGIN
	INSERT INTO store_blobs (hash, size, data) VALUES (p_hash, v_size, p_data) ON CONFLICT (hash) DO NOTHING;
	-- lock mailboxes in id order, so concurrent deliveries cannot deadlock
	FOR v_mbox IN SELECT DISTINCT unnest(p_mailboxes) ORDER BY 1 LOOP
		UPDATE store_mailboxes m SET uidnext = m.uidnext + 1, highestmodseq = m.highestmodseq + 1
		 WHERE m.id = v_mbox
		 RETURNING m.account_id, m.uidnext - 1, m.highestmodseq INTO v_account, v_uid, v_modseq;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'mailbox % does not exist', v_mbox USING ERRCODE = 'EPN01';
		END IF;
		IF v_uid > 4294967295 THEN
			RAISE EXCEPTION 'mailbox % has used every UID', v_mbox USING ERRCODE = 'EPL01';
		END IF;
		UPDATE store_accounts a SET used_bytes = a.used_bytes + v_size, message_count = a.message_count + 1
		 WHERE a.id = v_account AND (a.quota_bytes = 0 OR a.used_bytes + v_size <= a.quota_bytes);
		IF NOT FOUND THEN
			RAISE EXCEPTION 'quota of account % exceeded', v_account USING ERRCODE = 'EPQ01';
		END IF;
		v_thread := store_thread_for(v_account, p_message_id, p_refs, p_base_subject);
		v_email := 'M' || to_hex(nextval('store_object_id_seq'));
		INSERT INTO store_messages (mailbox_id, uid, modseq, blob_hash, email_id, thread_id, flags, keywords,
					    internal_date, size, structure, fts)
		VALUES (v_mbox, v_uid, v_modseq, p_hash, v_email, v_thread, p_flags, COALESCE(p_keywords, '{}'),
			p_internal_date, v_size, p_structure, p_fts);
		PERFORM pg_notify('epistle_mailbox', v_account || ' ' || v_mbox || ' ' || v_modseq);
		mailbox_id := v_mbox;
		uid := v_uid;
		modseq := v_modseq;
		email_id := v_email;
		thread_id := v_thread;
		RETURN NEXT;
	END LOOP;
END $$;

-- Expunges UIDs of one mailbox: one new MODSEQ for all of them, recorded
-- in tombstones; quota given back; blobs nobody holds any more removed.
CREATE FUNCTION store_expunge (p_mailbox bigint, p_uids bigint[])
RETURNS TABLE (uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_modseq bigint;
	v_uids bigint[];
	v_hashes bytea[];
	v_bytes bigint;
	v_count bigint;
BEGIN
	SELECT m.account_id INTO v_account FROM store_mailboxes m WHERE m.id = p_mailbox FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mailbox % does not exist', p_mailbox USING ERRCODE = 'EPN01';
	END IF;
	WITH gone AS (
		DELETE FROM store_messages s WHERE s.mailbox_id = p_mailbox AND s.uid = ANY (p_uids)
		RETURNING s.uid, s.size, s.blob_hash)
	SELECT array_agg(g.uid ORDER BY g.uid), array_agg(DISTINCT g.blob_hash), COALESCE(sum(g.size), 0), count(*)
	  INTO v_uids, v_hashes, v_bytes, v_count FROM gone g;
	IF v_count = 0 THEN
		RETURN;
	END IF;
	UPDATE store_mailboxes m SET highestmodseq = m.highestmodseq + 1 WHERE m.id = p_mailbox
	 RETURNING m.highestmodseq INTO v_modseq;
	INSERT INTO store_tombstones (mailbox_id, uid, modseq)
	SELECT p_mailbox, u, v_modseq FROM unnest(v_uids) u
	ON CONFLICT ON CONSTRAINT store_tombstones_pkey DO UPDATE SET modseq = EXCLUDED.modseq;
	UPDATE store_accounts a SET used_bytes = a.used_bytes - v_bytes, message_count = a.message_count - v_count
	 WHERE a.id = v_account;
	DELETE FROM store_blobs b WHERE b.hash = ANY (v_hashes)
	   AND NOT EXISTS (SELECT 1 FROM store_messages s WHERE s.blob_hash = b.hash);
	PERFORM pg_notify('epistle_mailbox', v_account || ' ' || p_mailbox || ' ' || v_modseq);
	RETURN QUERY SELECT u, v_modseq FROM unnest(v_uids) u;
END $$;
