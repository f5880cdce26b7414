-- SPDX-License-Identifier: GPL-2.0-or-later
-- store-pg 011: the full-text vectors in a table of their own.
--
-- Every flag change writes a new version of the message's row with a new
-- MODSEQ.  With the vector and its GIN index in store_messages, each such
-- version inserted all of the message's words into the GIN index again
-- (in its pending list, merged later): a STORE of \Flagged cost as much
-- index work as the delivery.  The vectors now live in store_message_fts,
-- one row per message written once at delivery (or copy) and removed with
-- the message (ON DELETE CASCADE); flag changes no longer touch them.

CREATE TABLE store_message_fts (
	mailbox_id bigint NOT NULL,
	uid bigint NOT NULL,
	fts tsvector NOT NULL,
	PRIMARY KEY (mailbox_id, uid),
	FOREIGN KEY (mailbox_id, uid) REFERENCES store_messages (mailbox_id, uid) ON DELETE CASCADE
);
INSERT INTO store_message_fts (mailbox_id, uid, fts)
SELECT s.mailbox_id, s.uid, s.fts FROM store_messages s WHERE s.fts IS NOT NULL;
CREATE INDEX store_message_fts_fts ON store_message_fts USING gin (fts);

-- as in 006, the vector to store_message_fts
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
	v_held boolean := false;
BEGIN
	-- one mailbox: the loop locks it, then its account
	IF cardinality(p_mailboxes) > 1 THEN
		PERFORM store_lock_mailboxes(p_mailboxes);
	END IF;
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
		-- last: every mailbox and account of the delivery is locked
		IF NOT v_held THEN
			PERFORM store_hold_blob(p_hash, p_data);
			v_held := true;
		END IF;
		v_thread := store_thread_for(v_account, p_message_id, p_refs, p_base_subject);
		v_email := 'M' || to_hex(nextval('store_object_id_seq'));
		INSERT INTO store_messages (mailbox_id, uid, modseq, blob_hash, email_id, thread_id, flags, keywords,
					    internal_date, size, structure)
		VALUES (v_mbox, v_uid, v_modseq, p_hash, v_email, v_thread, p_flags, COALESCE(p_keywords, '{}'),
			p_internal_date, v_size, p_structure);
		IF p_fts IS NOT NULL THEN
			INSERT INTO store_message_fts (mailbox_id, uid, fts) VALUES (v_mbox, v_uid, p_fts);
		END IF;
		PERFORM pg_notify('epistle_mailbox', v_account || ' ' || v_mbox || ' ' || v_modseq);
		mailbox_id := v_mbox;
		uid := v_uid;
		modseq := v_modseq;
		email_id := v_email;
		thread_id := v_thread;
		RETURN NEXT;
	END LOOP;
END $$;

-- as in 007, the copies' vectors copied too
CREATE OR REPLACE FUNCTION store_copy_ids (p_src bigint, p_dest bigint, p_uids bigint[], p_move boolean)
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
				    internal_date, size, structure)
	SELECT p_dest, v_first + o.n - 1, v_modseq, s.blob_hash, s.email_id, s.thread_id, s.flags, s.keywords,
	       s.internal_date, s.size, s.structure
	  FROM unnest(v_uids) WITH ORDINALITY o (u, n)
	  JOIN store_messages s ON s.mailbox_id = p_src AND s.uid = o.u;
	INSERT INTO store_message_fts (mailbox_id, uid, fts)
	SELECT p_dest, v_first + o.n - 1, f.fts
	  FROM unnest(v_uids) WITH ORDINALITY o (u, n)
	  JOIN store_message_fts f ON f.mailbox_id = p_src AND f.uid = o.u;
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

ALTER TABLE store_messages DROP COLUMN fts;
