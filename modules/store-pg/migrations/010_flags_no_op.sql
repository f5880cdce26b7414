-- SPDX-License-Identifier: GPL-2.0-or-later
-- store-pg 010: a flag change that alters nothing takes no lock.
--
-- store_set_flags() locked the mailbox row (to number the change with the
-- next MODSEQ) before it knew whether any message would change.  A FETCH
-- BODY[] of a message that already has \Seen, or a client repeating a
-- STORE, then waited behind every APPEND and EXPUNGE of the mailbox for a
-- change of nothing.  Now, without UNCHANGEDSINCE, the messages are first
-- read without a lock; when none of them would change, the call returns
-- no rows at once.  A change committed by another transaction after that
-- read is ordered after this no-op, as if it had come a moment later.

CREATE OR REPLACE FUNCTION store_set_flags (p_mailbox bigint, p_uids bigint[], p_mode integer, p_flags integer,
					    p_keywords text[], p_unchanged_since bigint)
RETURNS TABLE (uid bigint, modseq bigint, flags integer, keywords text[], failed boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_account bigint;
	v_modseq bigint;
BEGIN
	p_keywords := COALESCE(p_keywords, '{}');
	IF p_mailbox IS NOT NULL AND p_unchanged_since IS NULL AND NOT EXISTS (
		SELECT 1 FROM store_messages s
		 WHERE s.mailbox_id = p_mailbox AND s.uid = ANY (p_uids)
		   AND CASE p_mode
			WHEN 0 THEN s.flags <> p_flags OR NOT (s.keywords @> p_keywords AND p_keywords @> s.keywords)
			WHEN 1 THEN (s.flags | p_flags) <> s.flags OR NOT (s.keywords @> p_keywords)
			ELSE (s.flags & p_flags) <> 0 OR s.keywords && p_keywords
		       END) THEN
		RETURN;
	END IF;
	SELECT m.account_id, m.highestmodseq + 1 INTO v_account, v_modseq
	  FROM store_mailboxes m WHERE m.id = p_mailbox FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mailbox % does not exist', p_mailbox USING ERRCODE = 'EPN01';
	END IF;
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
