-- name: create_key
INSERT INTO api_keys (name, prefix, key_hash, role)
VALUES (:name, :prefix, :key_hash, :role)
RETURNING id, name, prefix, role, created_at, last_used_at, revoked_at;

-- name: verify_key
-- One round trip both checks a key and notes its use; a process asks at most once per
-- key per auth_cache_seconds, so last_used_at costs no write per request.
UPDATE api_keys SET last_used_at = now()
WHERE prefix = :prefix AND key_hash = :key_hash AND revoked_at IS NULL
RETURNING id, role;

-- name: list_keys
SELECT id, name, prefix, role, created_at, last_used_at, revoked_at
FROM api_keys ORDER BY created_at, id;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now()
WHERE prefix = :prefix AND revoked_at IS NULL
RETURNING id, name, prefix, role, created_at, last_used_at, revoked_at;

-- name: set_identity
-- Run by the engine's "begin" event (auth/isolation.py) through the driver, hence its
-- psycopg-style parameters: who the transaction acts for, as the RLS policies read it.
SELECT set_config('cachefront.user_id', %(uid)s, true),
       set_config('cachefront.role', %(role)s, true);

-- name: set_identity_now
-- The same for a transaction already open (tests, tools), through SQLAlchemy.
SELECT set_config('cachefront.user_id', :uid, true),
       set_config('cachefront.role', :role, true);
