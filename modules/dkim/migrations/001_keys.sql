-- SPDX-License-Identifier: GPL-2.0-or-later
-- dkim: the signing keys that `mail dkim-keygen` stores.  A key is active
-- (it signs), superseded (a newer key of its domain and algorithm took
-- over: still published, no longer signing) or retired (`mail dkim-retire`:
-- kept for the record, never signs again).  One active key per domain and
-- algorithm, so a domain signs at most twice: Ed25519 and RSA.
--
-- The daemon reads the active keys at start and again whenever the table
-- changes: a trigger sends NOTIFY epistle_dkim_keys on every change, by
-- `mail` or by hand.

CREATE TABLE dkim_keys (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain text NOT NULL CHECK (domain = lower(domain)
		AND domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'
		AND length(domain) <= 253),
	selector text NOT NULL CHECK (selector ~ '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$'),
	algorithm text NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	-- unencrypted PKCS#8 PEM: the table is as secret as a key file
	private_key text NOT NULL CHECK (private_key LIKE '-----BEGIN PRIVATE KEY-----%'),
	created timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz,
	active boolean NOT NULL DEFAULT true,
	CHECK (NOT (active AND retired_at IS NOT NULL))
);
-- a selector names one DNS record: never two keys, retired ones included
CREATE UNIQUE INDEX dkim_keys_selector ON dkim_keys (domain, lower(selector));
CREATE UNIQUE INDEX dkim_keys_active ON dkim_keys (domain, algorithm) WHERE active;

-- Adds a key as the active one of its domain and algorithm; the key that
-- was active is superseded.  Returns the new key's id.
CREATE FUNCTION dkim_key_add (p_domain text, p_selector text, p_algorithm text, p_private_key text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	new_id bigint;
BEGIN
	UPDATE dkim_keys SET active = false
		WHERE domain = p_domain AND algorithm = p_algorithm AND active;
	INSERT INTO dkim_keys (domain, selector, algorithm, private_key)
		VALUES (p_domain, p_selector, p_algorithm, p_private_key)
		RETURNING id INTO new_id;
	RETURN new_id;
END;
$$;

CREATE FUNCTION dkim_keys_notify () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('epistle_dkim_keys', '');
	RETURN NULL;
END;
$$;

CREATE TRIGGER dkim_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dkim_keys
	FOR EACH STATEMENT EXECUTE FUNCTION dkim_keys_notify ();
