-- SPDX-License-Identifier: GPL-2.0-or-later
-- store-pg 009: the recent high-water mark of a mailbox (RFC 3501 §2.3.2).
--
-- recent_uid is the first UID no session has claimed as \Recent yet.  A
-- claim (store_pg_claim_recent) takes [recent_uid, uidnext) and moves the
-- mark to uidnext under the mailbox's row lock, so that one session only
-- sees a message as \Recent.  Existing mailboxes start with nothing recent.

ALTER TABLE store_mailboxes ADD COLUMN recent_uid bigint NOT NULL DEFAULT 1;
UPDATE store_mailboxes SET recent_uid = uidnext;
