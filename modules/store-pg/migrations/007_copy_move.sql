-- SPDX-License-Identifier: GPL-2.0-or-later
-- store-pg 007: COPY and MOVE in one transaction, and RENAME of INBOX.
--
-- A copy is a new row for the same blob: flags, keywords, internal date,
-- size, structure, full-text vector, email and thread ids are those of
-- the original.  The copies of one call get consecutive UIDs in the order
-- of the originals' UIDs and one new MODSEQ.  A copy counts against the
-- quota (EPQ01: nothing copied); a move leaves the account's usage as it
-- was, and expunges the originals in the same transaction (tombstones,
-- one new MODSEQ of the source).  Locks are taken in the order of every
-- other write (migration 006): mailboxes by id, their accounts, blobs.

-- Copies (or moves) the messages p_uids of p_src that exist into p_dest.
-- One row per message copied, by source UID; one row with NULL UIDs when
-- none was (the mailboxes' state is in every row).
CREATE FUNCTION store_copy_ids (p_src bigint, p_dest bigint, p_uids bigint[], p_move boolean)
RETURNS TABLE (source_uid bigint, new_uid bigint, dest_id bigint, dest_uidvalidity bigint, dest_uidnext bigint,
	       dest_modseq bigint, src_id bigint, src_uidvalidity bigint, src_uidnext bigint, src_modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_uids bigint[];
	v_hashes bytea[];
	v_bytes bigint;
	v_n bigint;
	v_first bigint;
	v_modseq bigint;
	v_src_modseq bigint;
BEGIN
	PERFORM store_lock_mailboxes(ARRAY[p_src, p_dest]);
	SELECT m.account_id INTO v_account FROM store_mailboxes m WHERE m.id = p_src;
	IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM store_mailboxes m WHERE m.id = p_dest) THEN
		RAISE EXCEPTION 'mailbox % or % does not exist', p_src, p_dest USING ERRCODE = 'EPN01';
	END IF;
	SELECT array_agg(s.uid ORDER BY s.uid), array_agg(DISTINCT s.blob_hash), COALESCE(sum(s.size), 0), count(*)
	  INTO v_uids, v_hashes, v_bytes, v_n
	  FROM store_messages s WHERE s.mailbox_id = p_src AND s.uid = ANY (p_uids);
	IF v_n = 0 THEN
		RETURN QUERY SELECT NULL::bigint, NULL::bigint, d.id, d.uidvalidity, d.uidnext, d.highestmodseq,
				    s.id, s.uidvalidity, s.uidnext, s.highestmodseq
			       FROM store_mailboxes d, store_mailboxes s WHERE d.id = p_dest AND s.id = p_src;
		RETURN;
	END IF;
	SELECT m.uidnext INTO v_first FROM store_mailboxes m WHERE m.id = p_dest;
	IF v_first + v_n - 1 > 4294967295 THEN
		RAISE EXCEPTION 'mailbox % has used every UID', p_dest USING ERRCODE = 'EPL01';
	END IF;
	UPDATE store_mailboxes m SET uidnext = v_first + v_n, highestmodseq = m.highestmodseq + 1
	 WHERE m.id = p_dest
	 RETURNING m.highestmodseq INTO v_modseq;
	IF NOT p_move THEN
		UPDATE store_accounts a SET used_bytes = a.used_bytes + v_bytes, message_count = a.message_count + v_n
		 WHERE a.id = v_account AND (a.quota_bytes = 0 OR a.used_bytes + v_bytes <= a.quota_bytes);
		IF NOT FOUND THEN
			RAISE EXCEPTION 'quota of account % exceeded', v_account USING ERRCODE = 'EPQ01';
		END IF;
	END IF;
	-- the originals hold the blobs (their mailbox is locked); held all the same
	PERFORM 1 FROM store_blobs b WHERE b.hash = ANY (v_hashes) ORDER BY b.hash FOR KEY SHARE;
	INSERT INTO store_messages (mailbox_id, uid, modseq, blob_hash, email_id, thread_id, flags, keywords,
				    internal_date, size, structure, fts)
	SELECT p_dest, v_first + o.n - 1, v_modseq, s.blob_hash, s.email_id, s.thread_id, s.flags, s.keywords,
	       s.internal_date, s.size, s.structure, s.fts
	  FROM unnest(v_uids) WITH ORDINALITY o (u, n)
	  JOIN store_messages s ON s.mailbox_id = p_src AND s.uid = o.u;
	PERFORM pg_notify('epistle_mailbox', v_account || ' ' || p_dest || ' ' || v_modseq);
	IF p_move THEN
		DELETE FROM store_messages s WHERE s.mailbox_id = p_src AND s.uid = ANY (v_uids);
		UPDATE store_mailboxes m SET highestmodseq = m.highestmodseq + 1 WHERE m.id = p_src
		 RETURNING m.highestmodseq INTO v_src_modseq;
		INSERT INTO store_tombstones (mailbox_id, uid, modseq)
		SELECT p_src, u, v_src_modseq FROM unnest(v_uids) u
		ON CONFLICT ON CONSTRAINT store_tombstones_pkey DO UPDATE SET modseq = EXCLUDED.modseq;
		PERFORM pg_notify('epistle_mailbox', v_account || ' ' || p_src || ' ' || v_src_modseq);
	END IF;
	RETURN QUERY SELECT o.u, v_first + o.n - 1, d.id, d.uidvalidity, d.uidnext, v_modseq,
			    s.id, s.uidvalidity, s.uidnext, COALESCE(v_src_modseq, s.highestmodseq)
		       FROM unnest(v_uids) WITH ORDINALITY o (u, n), store_mailboxes d, store_mailboxes s
		      WHERE d.id = p_dest AND s.id = p_src
		      ORDER BY o.n;
END $$;

-- The same by names.
CREATE FUNCTION store_copy (p_account text, p_mailbox text, p_uids bigint[], p_dest text, p_move boolean)
RETURNS TABLE (source_uid bigint, new_uid bigint, dest_id bigint, dest_uidvalidity bigint, dest_uidnext bigint,
	       dest_modseq bigint, src_id bigint, src_uidvalidity bigint, src_uidnext bigint, src_modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_src bigint;
	v_dest bigint;
BEGIN
	SELECT m.id INTO v_src FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id
	 WHERE a.name = p_account AND m.name = p_mailbox;
	SELECT m.id INTO v_dest FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id
	 WHERE a.name = p_account AND m.name = p_dest;
	IF v_src IS NULL OR v_dest IS NULL THEN
		RAISE EXCEPTION 'mailbox % or % of % does not exist', p_mailbox, p_dest, p_account
		      USING ERRCODE = 'EPN01';
	END IF;
	RETURN QUERY SELECT * FROM store_copy_ids(v_src, v_dest, p_uids, p_move);
END $$;

-- RENAME INBOX (RFC 9051 6.3.6): a new mailbox p_new_name (and the parents
-- it lacks, p_parents) receives every message of INBOX, which stays,
-- empty; the mailboxes below INBOX stay where they are.  A p_new_name
-- that exists is a unique violation (23505).
CREATE FUNCTION store_rename_inbox (p_account text, p_new_name text, p_parents text[])
RETURNS TABLE (source_uid bigint, new_uid bigint, dest_id bigint, dest_uidvalidity bigint, dest_uidnext bigint,
	       dest_modseq bigint, src_id bigint, src_uidvalidity bigint, src_uidnext bigint, src_modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_inbox bigint;
	v_dest bigint;
BEGIN
	SELECT a.id, m.id INTO v_account, v_inbox FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id
	 WHERE a.name = p_account AND m.name = 'INBOX';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'INBOX of % does not exist', p_account USING ERRCODE = 'EPN01';
	END IF;
	INSERT INTO store_mailboxes (account_id, name, uidvalidity)
	SELECT v_account, p, nextval('store_uidvalidity_seq') FROM unnest(p_parents) p ON CONFLICT DO NOTHING;
	INSERT INTO store_mailboxes (account_id, name, uidvalidity)
	VALUES (v_account, p_new_name, nextval('store_uidvalidity_seq'))
	RETURNING id INTO v_dest;
	RETURN QUERY SELECT * FROM store_copy_ids(v_inbox, v_dest,
						  ARRAY(SELECT s.uid FROM store_messages s WHERE s.mailbox_id = v_inbox),
						  true);
END $$;
