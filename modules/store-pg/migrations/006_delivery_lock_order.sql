-- store-pg 006: deliveries take their locks in one order.
--
-- Deliveries now also go several to a transaction (group commit, see
-- store-pg-store.c).  Every delivery, and every group, takes its locks in
-- the same order: the rows of its mailboxes by id, then of their accounts
-- by id, then its blobs by hash (a group sends its messages in hash
-- order), the order in which expunges lock already (mailbox, account,
-- blobs).  Before, a delivery held its blob first, then each mailbox and
-- its account in turn: a delivery to two mailboxes of an account and an
-- append to the second of them could deadlock, and so could two groups.
-- PostgreSQL breaks a deadlock by failing one of the transactions after
-- deadlock_timeout (1 s); store-pg runs a delivery again when that
-- happens, but better it does not.

-- Locks the rows of mailboxes (by id), then of their accounts (by id).
CREATE FUNCTION store_lock_mailboxes (p_ids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM store_mailboxes m WHERE m.id = ANY (p_ids) ORDER BY m.id FOR NO KEY UPDATE;
	PERFORM 1 FROM store_accounts a
	  WHERE a.id IN (SELECT m.account_id FROM store_mailboxes m WHERE m.id = ANY (p_ids))
	  ORDER BY a.id FOR NO KEY UPDATE;
END $$;

-- The same by names, first in a group of deliveries; unknown names are
-- left to the delivery that names them.
CREATE FUNCTION store_lock_for_delivery (p_accounts text[], p_mailboxes text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_ids bigint[];
BEGIN
	SELECT array_agg(m.id) INTO v_ids
	  FROM unnest(p_accounts, p_mailboxes) t (acc, mbox)
	  JOIN store_accounts a ON a.name = t.acc
	  JOIN store_mailboxes m ON m.account_id = a.id AND m.name = t.mbox;
	IF v_ids IS NOT NULL THEN
		PERFORM store_lock_mailboxes(v_ids);
	END IF;
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
