-- store-pg 003: a delivery and an expunge of the same blob cannot cross.
--
-- Before, store_deliver() found the blob already there (INSERT ... ON
-- CONFLICT DO NOTHING takes no lock) while a concurrent expunge of its
-- last holder deleted it, so the new message could point at a blob that
-- was gone at commit.  Now the delivery holds a KEY SHARE lock on the blob
-- row until it commits, and whoever deletes blobs first locks them FOR
-- UPDATE and only then, in a statement of its own (a fresh snapshot under
-- READ COMMITTED), checks that nobody holds them.  Whichever comes second
-- waits: a delivery that waited for a deletion finds the row gone and
-- stores the blob again; a deletion that waited for a delivery sees the
-- new message and keeps the blob.

-- Makes sure the blob exists and stays until the caller's transaction ends.
CREATE FUNCTION store_hold_blob (p_hash bytea, p_data bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		INSERT INTO store_blobs (hash, size, data) VALUES (p_hash, length(p_data), p_data)
		ON CONFLICT (hash) DO NOTHING;
		PERFORM 1 FROM store_blobs b WHERE b.hash = p_hash FOR KEY SHARE;
		IF FOUND THEN
			RETURN;
		END IF;
		-- deleted by a concurrent expunge between the two statements
	END LOOP;
END $$;

-- Deletes the blobs of p_hashes that no message holds any more.
CREATE FUNCTION store_release_blobs (p_hashes bytea[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_hashes IS NULL THEN
		RETURN;
	END IF;
	-- in hash order, so that two releases cannot deadlock
	PERFORM 1 FROM store_blobs b WHERE b.hash = ANY (p_hashes) ORDER BY b.hash FOR UPDATE;
	DELETE FROM store_blobs b WHERE b.hash = ANY (p_hashes)
	   AND NOT EXISTS (SELECT 1 FROM store_messages s WHERE s.blob_hash = b.hash);
END $$;

CREATE OR REPLACE FUNCTION store_deliver (p_hash bytea, p_data bytea, p_mailboxes bigint[], p_flags integer, p_keywords text[],
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
	PERFORM store_hold_blob(p_hash, p_data);
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

CREATE OR REPLACE FUNCTION store_expunge (p_mailbox bigint, p_uids bigint[])
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
	PERFORM store_release_blobs(v_hashes);
	PERFORM pg_notify('epistle_mailbox', v_account || ' ' || p_mailbox || ' ' || v_modseq);
	RETURN QUERY SELECT u, v_modseq FROM unnest(v_uids) u;
END $$;

CREATE OR REPLACE FUNCTION store_account_delete (p_name text, p_source text)
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
		PERFORM store_release_blobs(v_hashes);
	END IF;
END $$;
