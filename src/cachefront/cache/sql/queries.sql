-- The cache tier's statements (cache/postgres_store.py, cache/cleanup.py).

-- name: lock_keys
-- Waits for the transaction-scoped advisory lock of every key, taken in the order of
-- their lock ids so that two batches sharing keys can never deadlock. The locks go
-- away with the transaction, whose COMMIT is also what publishes the filled rows.
SELECT count(pg_advisory_xact_lock(lock_id))
FROM (
    SELECT DISTINCT hashtextextended(CAST(:ns AS text) || ':' || key, 0) AS lock_id
    FROM unnest(CAST(:keys AS text[])) AS key
    ORDER BY lock_id
) AS ordered;

-- name: upsert_entries
-- Every entry of a batch in one statement and one round trip, whatever the batch size:
-- the rows travel as parallel arrays. A slow writer must not replace what a faster one
-- fetched later, hence the WHERE on stored_at.
INSERT INTO cache_entries AS c
    (namespace, key, value, etag, negative, stored_at, fresh_until, expires_at)
SELECT CAST(:ns AS text), r.key, r.value, r.etag, r.negative,
       to_timestamp(r.stored_at), to_timestamp(r.fresh_until), to_timestamp(r.expires_at)
FROM unnest(
    CAST(:keys AS text[]), CAST(:values AS bytea[]), CAST(:etags AS text[]),
    CAST(:negatives AS boolean[]), CAST(:stored_at AS float8[]),
    CAST(:fresh_until AS float8[]), CAST(:expires_at AS float8[])
) AS r (key, value, etag, negative, stored_at, fresh_until, expires_at)
ON CONFLICT (namespace, key) DO UPDATE SET
    value = excluded.value,
    etag = excluded.etag,
    negative = excluded.negative,
    stored_at = excluded.stored_at,
    fresh_until = excluded.fresh_until,
    expires_at = excluded.expires_at
WHERE c.stored_at <= excluded.stored_at;

-- name: delete_expired_batch
-- One batch per transaction (db/batches.py). Readers are never blocked (PostgreSQL
-- readers do not wait on row locks), and SKIP LOCKED steps around rows a writer is
-- refreshing right now instead of queueing behind it; the expires_at index finds the
-- batch without a scan.
WITH doomed AS (
    SELECT namespace, key
      FROM cache_entries
     WHERE expires_at < :now
     ORDER BY expires_at
     LIMIT :batch
       FOR UPDATE SKIP LOCKED
)
DELETE FROM cache_entries AS entry
 USING doomed
 WHERE entry.namespace = doomed.namespace AND entry.key = doomed.key;

-- name: notify_invalidation
-- One memory-tier invalidation to every listening process (cache/invalidation_postgres.py);
-- delivered when the transaction commits.
SELECT pg_notify(:channel, :payload);
