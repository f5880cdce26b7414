-- SPDX-License-Identifier: GPL-2.0-or-later
-- auth-sql: the second factor, app passwords and SCRAM credentials of the
-- store's accounts, and the brute-force guard's counters.  Accounts are
-- named as in the store (store_accounts.name) but not referenced with a
-- foreign key: the store's tables belong to store-pg.  auth-sql deletes an
-- account's rows when the account is deleted (account.changed).

-- SCRAM-SHA-256 credentials, "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>",
-- set with the password by `mail passwd` and `mail account-add`
CREATE TABLE auth_scram (
	account text PRIMARY KEY,
	credentials text NOT NULL CHECK (credentials LIKE 'SCRAM-SHA-256$%'),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits); last_step is the
-- last time step whose code was accepted: a code is accepted once
CREATE TABLE auth_totp (
	account text PRIMARY KEY,
	secret bytea NOT NULL CHECK (length (secret) >= 16),
	enabled boolean NOT NULL DEFAULT true,
	last_step bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- app passwords: argon2id PHC strings; they bypass the second factor
CREATE TABLE auth_app_passwords (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account text NOT NULL,
	label text NOT NULL CHECK (label <> '' AND length (label) <= 64),
	hash text NOT NULL CHECK (hash LIKE '$argon2id$%'),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_app_passwords_account ON auth_app_passwords (account);

-- the brute-force guard: failures per client address ('ip', IPv6 by /64)
-- and per username ('user', lower case), shared by every process and host
CREATE TABLE auth_failures (
	kind text NOT NULL CHECK (kind IN ('ip', 'user')),
	key text NOT NULL,
	failures integer NOT NULL DEFAULT 0,
	first_at timestamptz NOT NULL DEFAULT now(),
	last_at timestamptz NOT NULL DEFAULT now(),
	banned_until timestamptz,
	PRIMARY KEY (kind, key)
);
CREATE INDEX auth_failures_last_at ON auth_failures (last_at);
