-- SPDX-License-Identifier: GPL-2.0-or-later
-- store-pg 008: subscriptions are names of their own (RFC 9051 §6.3.7).
--
-- A subscription is a name of an account, whether a mailbox of that name
-- exists or not: SUBSCRIBE of a name without mailbox is kept, DELETE of a
-- mailbox keeps its subscription.  A new mailbox is subscribed, as it was
-- when the flag was a column of the mailbox (the default stays).  RENAME
-- moves the subscription of each renamed mailbox (its children too), as
-- Dovecot does; a subscription of the new name that existed stays.

CREATE TABLE store_subscriptions (
	account_id bigint NOT NULL REFERENCES store_accounts (id) ON DELETE CASCADE,
	name text NOT NULL CHECK (name <> ''),
	PRIMARY KEY (account_id, name)
);

INSERT INTO store_subscriptions (account_id, name)
SELECT account_id, name FROM store_mailboxes WHERE subscribed;

ALTER TABLE store_mailboxes DROP COLUMN subscribed;

CREATE FUNCTION store_subscribe_new_mailbox () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO store_subscriptions (account_id, name) VALUES (NEW.account_id, NEW.name) ON CONFLICT DO NOTHING;
	RETURN NULL;
END;
$$;

CREATE TRIGGER store_mailboxes_subscribe AFTER INSERT ON store_mailboxes
FOR EACH ROW EXECUTE FUNCTION store_subscribe_new_mailbox ();

CREATE FUNCTION store_move_subscription () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM store_subscriptions s WHERE s.account_id = OLD.account_id AND s.name = OLD.name) THEN
		DELETE FROM store_subscriptions s WHERE s.account_id = OLD.account_id AND s.name = OLD.name;
		INSERT INTO store_subscriptions (account_id, name) VALUES (NEW.account_id, NEW.name)
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER store_mailboxes_rename AFTER UPDATE OF name ON store_mailboxes
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION store_move_subscription ();
