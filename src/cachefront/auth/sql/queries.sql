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
