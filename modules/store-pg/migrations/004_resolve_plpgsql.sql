-- store-pg 004: store_resolve_address() in PL/pgSQL.
--
-- A LANGUAGE sql function that cannot be inlined is parsed and planned
-- again on every call; it runs for every RCPT TO, and profiles of SMTP
-- delivery showed it as the largest single cost in the server.  PL/pgSQL
-- keeps the plans of its statements for the life of the connection.  The
-- three lookups run one after the other and stop at the first that finds
-- an account: the exact address, the address without its +tag, the
-- catch-all account of the domain.  p_address is lower case already.
CREATE OR REPLACE FUNCTION store_resolve_address (p_address text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_at integer := strpos(p_address, '@');
	v_local text := substr(p_address, 1, v_at - 1);
	v_domain text := substr(p_address, v_at + 1);
	v_name text;
BEGIN
	IF v_at = 0 THEN
		RETURN NULL;
	END IF;
	SELECT a.name INTO v_name FROM store_addresses d JOIN store_accounts a ON a.id = d.account_id
	 WHERE d.address = p_address;
	IF FOUND THEN
		RETURN v_name;
	END IF;
	IF strpos(v_local, '+') > 1 THEN
		SELECT a.name INTO v_name FROM store_addresses d JOIN store_accounts a ON a.id = d.account_id
		 WHERE d.address = split_part(v_local, '+', 1) || '@' || v_domain;
		IF FOUND THEN
			RETURN v_name;
		END IF;
	END IF;
	SELECT a.name INTO v_name FROM store_accounts a
	 WHERE a.catch_all
	   AND EXISTS (SELECT 1 FROM store_addresses d
			WHERE d.account_id = a.id AND substr(d.address, strpos(d.address, '@') + 1) = v_domain)
	 ORDER BY a.name LIMIT 1;
	RETURN v_name;
END $$;
