-- store-pg 005: cheaper deliveries.
--
-- Blobs are compressed with lz4 where the server has it (Debian's does):
-- several times cheaper than pglz for the same ratio on mail text, and
-- deliveries compress every message.  Blobs stored before stay as they
-- are; both read back alike.
--
-- The subject of a thread is refreshed at most once a day rather than on
-- every message: a flood of messages with one subject wrote the same row
-- each time (heap, index and WAL) while holding its lock.  A thread by
-- subject still lasts 30 days after its last refresh, so 29 to 30 days
-- after its last message.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
		ALTER TABLE store_blobs ALTER COLUMN data SET COMPRESSION lz4;
	END IF;
END $$;

CREATE OR REPLACE FUNCTION store_thread_for (p_account bigint, p_message_id text, p_refs text[], p_base_subject text)
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
		ON CONFLICT (account_id, base_subject) DO UPDATE SET thread_id = EXCLUDED.thread_id, updated_at = now()
		WHERE store_thread_subjects.thread_id <> EXCLUDED.thread_id
		   OR store_thread_subjects.updated_at < now() - interval '1 day';
	END IF;
	RETURN v_thread;
END $$;
