-- SPDX-License-Identifier: GPL-2.0-or-later
-- What the EpStore service of store-pg needs beyond 001: UIDVALIDITY
-- values that never repeat, and one function per write so that every
-- write is one statement, one round trip and one transaction.
--
-- Error codes raised here, as in 001: EPN01 no such account or mailbox,
-- EPQ01 quota exceeded, EPL01 out of UIDs, EPE01 already exists,
-- EPP01 not allowed.

-- UIDVALIDITY: seconds since the epoch when the store was created, then
-- one more for every mailbox, so that a mailbox deleted and created again
-- under the same name never gets the UIDVALIDITY it had before.
CREATE SEQUENCE store_uidvalidity_seq MINVALUE 1 MAXVALUE 4294967295;
SELECT setval('store_uidvalidity_seq', GREATEST(extract(epoch FROM now())::bigint, 1));

-- the special-use mailboxes every account has
CREATE FUNCTION store_create_default_mailboxes (p_account bigint)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO store_mailboxes (account_id, name, role, uidvalidity)
	SELECT p_account, r.name, r.role, nextval('store_uidvalidity_seq')
	  FROM (VALUES ('INBOX', 'inbox', 1), ('Sent', 'sent', 2), ('Drafts', 'drafts', 3),
		       ('Trash', 'trash', 4), ('Junk', 'junk', 5), ('Archive', 'archive', 6)) r (name, role, o)
	 ORDER BY r.o
	ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION store_account_create (p_name text, p_source text, p_password_hash text, p_catch_all boolean,
				      p_quota_bytes bigint, p_addresses text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	INSERT INTO store_accounts (name, source, password_hash, catch_all, quota_bytes)
	VALUES (p_name, p_source, p_password_hash, p_catch_all, p_quota_bytes)
	ON CONFLICT (name) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RAISE EXCEPTION 'account % exists', p_name USING ERRCODE = 'EPE01';
	END IF;
	INSERT INTO store_addresses (address, account_id)
	SELECT DISTINCT lower(a), v_id FROM unnest(p_addresses) a;
	PERFORM store_create_default_mailboxes(v_id);
	RETURN v_id;
END $$;

-- Removes an account with its mailboxes, messages and addresses, and the
-- blobs that only it held.
CREATE FUNCTION store_account_delete (p_name text, p_source text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
	v_source text;
	v_hashes bytea[];
BEGIN
	SELECT a.id, a.source INTO v_id, v_source FROM store_accounts a WHERE a.name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account % does not exist', p_name USING ERRCODE = 'EPN01';
	END IF;
	IF p_source IS NOT NULL AND v_source <> p_source THEN
		RAISE EXCEPTION 'account % comes from the %', p_name, v_source USING ERRCODE = 'EPP01';
	END IF;
	SELECT array_agg(DISTINCT s.blob_hash) INTO v_hashes
	  FROM store_messages s JOIN store_mailboxes m ON m.id = s.mailbox_id WHERE m.account_id = v_id;
	DELETE FROM store_accounts a WHERE a.id = v_id;
	IF v_hashes IS NOT NULL THEN
		DELETE FROM store_blobs b WHERE b.hash = ANY (v_hashes)
		   AND NOT EXISTS (SELECT 1 FROM store_messages s WHERE s.blob_hash = b.hash);
	END IF;
END $$;

-- Mirrors the accounts of the configuration: p_accounts is a JSON array of
-- {"name", "password_hash", "catch_all", "quota_bytes", "addresses"}.
-- Accounts with source 'db' are never touched: a configured account whose
-- name or address a 'db' account holds is skipped.  Returns what changed.
CREATE FUNCTION store_sync_config_accounts (p_accounts jsonb)
RETURNS TABLE (name text, change text)
LANGUAGE plpgsql AS $$
DECLARE
	v_acc jsonb;
	v_name text;
	v_id bigint;
	v_source text;
	v_addresses text[];
	v_changed boolean;
	v_n bigint;
BEGIN
	-- one mirror at a time, whichever process runs it
	PERFORM pg_advisory_xact_lock(hashtext('store_sync_config_accounts'));
	FOR v_acc IN SELECT * FROM jsonb_array_elements(p_accounts) LOOP
		v_name := v_acc->>'name';
		SELECT ARRAY(SELECT DISTINCT lower(x) FROM jsonb_array_elements_text(v_acc->'addresses') x ORDER BY 1)
		  INTO v_addresses;
		SELECT a.id, a.source INTO v_id, v_source FROM store_accounts a WHERE a.name = v_name FOR UPDATE;
		IF FOUND AND v_source <> 'config' THEN
			name := v_name;
			change := 'skipped';
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF EXISTS (SELECT 1 FROM store_addresses d JOIN store_accounts a ON a.id = d.account_id
			    WHERE d.address = ANY (v_addresses) AND a.name <> v_name AND a.source <> 'config') THEN
			name := v_name;
			change := 'skipped';
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF v_id IS NULL THEN
			v_id := store_account_create(v_name, 'config', v_acc->>'password_hash',
						     COALESCE((v_acc->>'catch_all')::boolean, false),
						     COALESCE((v_acc->>'quota_bytes')::bigint, 0), '{}');
			change := 'created';
		ELSE
			UPDATE store_accounts a
			   SET password_hash = v_acc->>'password_hash',
			       catch_all = COALESCE((v_acc->>'catch_all')::boolean, false),
			       quota_bytes = COALESCE((v_acc->>'quota_bytes')::bigint, 0)
			 WHERE a.id = v_id
			   AND (a.password_hash IS DISTINCT FROM v_acc->>'password_hash'
				OR a.catch_all IS DISTINCT FROM COALESCE((v_acc->>'catch_all')::boolean, false)
				OR a.quota_bytes IS DISTINCT FROM COALESCE((v_acc->>'quota_bytes')::bigint, 0));
			v_changed := FOUND;
			change := CASE WHEN v_changed THEN 'updated' ELSE 'unchanged' END;
		END IF;
		-- addresses: drop those no longer listed, take over those another
		-- config account had (the configuration moved them)
		DELETE FROM store_addresses d WHERE d.account_id = v_id AND NOT (d.address = ANY (v_addresses));
		GET DIAGNOSTICS v_n = ROW_COUNT;
		IF v_n > 0 AND change = 'unchanged' THEN
			change := 'updated';
		END IF;
		INSERT INTO store_addresses (address, account_id)
		SELECT x, v_id FROM unnest(v_addresses) x
		ON CONFLICT (address) DO UPDATE SET account_id = EXCLUDED.account_id
		 WHERE store_addresses.account_id <> EXCLUDED.account_id;
		GET DIAGNOSTICS v_n = ROW_COUNT;
		IF v_n > 0 AND change = 'unchanged' THEN
			change := 'updated';
		END IF;
		name := v_name;
		RETURN NEXT;
	END LOOP;
	FOR v_name IN SELECT a.name FROM store_accounts a
		       WHERE a.source = 'config'
			 AND NOT a.name IN (SELECT x->>'name' FROM jsonb_array_elements(p_accounts) x)
		       ORDER BY a.name LOOP
		PERFORM store_account_delete(v_name, 'config');
		name := v_name;
		change := 'deleted';
		RETURN NEXT;
	END LOOP;
END $$;

-- The account an address delivers to: the address itself, else the
-- address without its +tag, else the catch-all account of the domain.
-- p_address is lower case already.
CREATE FUNCTION store_resolve_address (p_address text)
RETURNS text LANGUAGE sql STABLE AS $$
	WITH parts AS (
		SELECT split_part(p_address, '@', 1) AS local, substr(p_address, strpos(p_address, '@') + 1) AS domain
	)
	SELECT r.name FROM (
		SELECT 1 AS prio, a.name FROM store_addresses d JOIN store_accounts a ON a.id = d.account_id
		 WHERE d.address = p_address
		UNION ALL
		SELECT 2, a.name FROM store_addresses d JOIN store_accounts a ON a.id = d.account_id, parts p
		 WHERE strpos(p.local, '+') > 1
		   AND d.address = split_part(p.local, '+', 1) || '@' || p.domain
		UNION ALL
		SELECT 3, a.name FROM store_accounts a, parts p
		 WHERE a.catch_all
		   AND EXISTS (SELECT 1 FROM store_addresses d
				WHERE d.account_id = a.id AND substr(d.address, strpos(d.address, '@') + 1) = p.domain)
	) r ORDER BY r.prio, r.name LIMIT 1;
$$;

-- Deletes one mailbox: its messages are expunged first, so that the quota
-- is given back and blobs nobody holds any more go.
CREATE FUNCTION store_mailbox_delete (p_account text, p_name text)
RETURNS TABLE (account_id bigint, mailbox_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_mbox bigint;
	v_role text;
BEGIN
	SELECT m.account_id, m.id, m.role INTO v_account, v_mbox, v_role
	  FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id
	 WHERE a.name = p_account AND m.name = p_name FOR UPDATE OF m;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mailbox % of % does not exist', p_name, p_account USING ERRCODE = 'EPN01';
	END IF;
	IF v_role = 'inbox' THEN
		RAISE EXCEPTION 'INBOX cannot be deleted' USING ERRCODE = 'EPP01';
	END IF;
	PERFORM store_expunge(v_mbox, ARRAY(SELECT s.uid FROM store_messages s WHERE s.mailbox_id = v_mbox));
	DELETE FROM store_mailboxes m WHERE m.id = v_mbox;
	PERFORM pg_notify('epistle_mailbox', v_account || ' ' || v_mbox || ' 0');
	account_id := v_account;
	mailbox_id := v_mbox;
	RETURN NEXT;
END $$;

-- Changes flags and keywords of UIDs of one mailbox.  p_mode: 0 replaces,
-- 1 adds, 2 removes.  Messages whose MODSEQ is above p_unchanged_since
-- (when not NULL) are left alone and returned with failed = true.  All
-- the messages changed get one new MODSEQ, the mailbox's new
-- HIGHESTMODSEQ.  Messages the change would not alter are not returned.
CREATE FUNCTION store_set_flags (p_mailbox bigint, p_uids bigint[], p_mode integer, p_flags integer,
				 p_keywords text[], p_unchanged_since bigint)
RETURNS TABLE (uid bigint, modseq bigint, flags integer, keywords text[], failed boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_modseq bigint;
BEGIN
	SELECT m.account_id, m.highestmodseq + 1 INTO v_account, v_modseq
	  FROM store_mailboxes m WHERE m.id = p_mailbox FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mailbox % does not exist', p_mailbox USING ERRCODE = 'EPN01';
	END IF;
	p_keywords := COALESCE(p_keywords, '{}');
	RETURN QUERY
	WITH wanted AS (
		SELECT s.uid, s.modseq AS old_modseq, s.flags AS old_flags, s.keywords AS old_keywords,
		       CASE p_mode WHEN 0 THEN p_flags WHEN 1 THEN s.flags | p_flags ELSE s.flags & ~p_flags END AS new_flags,
		       CASE p_mode
			WHEN 0 THEN ARRAY(SELECT DISTINCT k FROM unnest(p_keywords) k ORDER BY 1)
			WHEN 1 THEN ARRAY(SELECT DISTINCT k FROM unnest(s.keywords || p_keywords) k ORDER BY 1)
			ELSE ARRAY(SELECT k FROM unnest(s.keywords) k WHERE NOT (k = ANY (p_keywords)) ORDER BY 1)
		       END AS new_keywords
		  FROM store_messages s WHERE s.mailbox_id = p_mailbox AND s.uid = ANY (p_uids)
		   FOR UPDATE
	), todo AS (
		SELECT w.* FROM wanted w
		 WHERE w.new_flags <> w.old_flags
		    OR w.new_keywords IS DISTINCT FROM ARRAY(SELECT k FROM unnest(w.old_keywords) k ORDER BY 1)
	), done AS (
		UPDATE store_messages s SET flags = t.new_flags, keywords = t.new_keywords, modseq = v_modseq
		  FROM todo t
		 WHERE s.mailbox_id = p_mailbox AND s.uid = t.uid
		   AND (p_unchanged_since IS NULL OR t.old_modseq <= p_unchanged_since)
		RETURNING s.uid, s.modseq, s.flags, s.keywords
	)
	SELECT r.* FROM (
		SELECT d.uid, d.modseq, d.flags, d.keywords, false AS failed FROM done d
		UNION ALL
		SELECT t.uid, t.old_modseq, t.old_flags, t.old_keywords, true FROM todo t
		 WHERE p_unchanged_since IS NOT NULL AND t.old_modseq > p_unchanged_since
	) r ORDER BY r.uid;
	-- the mailbox is locked: a message with the new MODSEQ is one changed here
	IF EXISTS (SELECT 1 FROM store_messages s WHERE s.mailbox_id = p_mailbox AND s.modseq = v_modseq) THEN
		UPDATE store_mailboxes m SET highestmodseq = v_modseq WHERE m.id = p_mailbox;
		PERFORM pg_notify('epistle_mailbox', v_account || ' ' || p_mailbox || ' ' || v_modseq);
	END IF;
END $$;

-- Delivers one message to (account, mailbox) pairs given by name: the
-- names of 001's store_deliver() results, and EPN01 when one is unknown.
CREATE FUNCTION store_deliver_named (p_hash bytea, p_data bytea, p_accounts text[], p_mailboxes text[],
				     p_flags integer, p_keywords text[], p_internal_date timestamptz,
				     p_structure bytea, p_fts tsvector, p_message_id text, p_refs text[],
				     p_base_subject text)
RETURNS TABLE (account text, mailbox text, mailbox_id bigint, uidvalidity bigint, uid bigint, modseq bigint,
	       email_id text, thread_id text)
LANGUAGE plpgsql AS $$
DECLARE
	v_ids bigint[];
BEGIN
	SELECT array_agg(m.id) INTO v_ids
	  FROM unnest(p_accounts, p_mailboxes) t (acc, mbox)
	  JOIN store_accounts a ON a.name = t.acc
	  JOIN store_mailboxes m ON m.account_id = a.id AND m.name = t.mbox;
	IF v_ids IS NULL OR cardinality(v_ids) <> cardinality(p_accounts) THEN
		RAISE EXCEPTION 'unknown account or mailbox' USING ERRCODE = 'EPN01';
	END IF;
	RETURN QUERY
	SELECT a.name, m.name, d.mailbox_id, m.uidvalidity, d.uid, d.modseq, d.email_id, d.thread_id
	  FROM store_deliver(p_hash, p_data, v_ids, p_flags, p_keywords, p_internal_date, p_structure, p_fts,
			     p_message_id, p_refs, p_base_subject) d
	  JOIN store_mailboxes m ON m.id = d.mailbox_id
	  JOIN store_accounts a ON a.id = m.account_id;
END $$;
