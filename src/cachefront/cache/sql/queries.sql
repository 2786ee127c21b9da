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

-- name: record_reads
-- The read log's batch (cache/reads.py): keys read in this process since the last
-- flush, as parallel arrays. A row whose last_read_at is within :resolution seconds
-- is left alone (no new row version), and SKIP LOCKED steps around rows a writer or
-- another process's flush holds, so flushes never wait and never deadlock.
WITH due AS (
    SELECT c.namespace, c.key
      FROM cache_entries AS c
      JOIN unnest(CAST(:namespaces AS text[]), CAST(:keys AS text[])) AS r (namespace, key)
        ON c.namespace = r.namespace AND c.key = r.key
     WHERE c.last_read_at IS NULL
        OR c.last_read_at < now() - make_interval(secs => :resolution)
       FOR UPDATE OF c SKIP LOCKED
)
UPDATE cache_entries AS entry
   SET last_read_at = now()
  FROM due
 WHERE entry.namespace = due.namespace AND entry.key = due.key;

-- name: namespaces_bytes
-- What the values of the namespaces :names take (the figure a quota bounds), in one
-- pass however many namespaces have a quota.
SELECT namespace, coalesce(sum(octet_length(value)), 0)::bigint AS bytes
FROM cache_entries
WHERE namespace = ANY(CAST(:names AS text[]))
GROUP BY namespace;

-- name: evict_lru_batch
-- One eviction step of a namespace over its quota by :excess bytes (cache/quotas.py):
-- its least recently used entries (last read, or stored if never read since) up to
-- :batch rows, found through ix_cache_entries_recency, of which only as many as free
-- :excess bytes are deleted. Rows a writer holds are skipped; one short transaction.
WITH candidates AS (
    SELECT namespace, key, octet_length(value) AS bytes,
           coalesce(last_read_at, stored_at) AS used_at
      FROM cache_entries
     WHERE namespace = :ns
     ORDER BY coalesce(last_read_at, stored_at), key
     LIMIT :batch
       FOR UPDATE SKIP LOCKED
), running AS (
    SELECT namespace, key, bytes,
           sum(bytes) OVER (ORDER BY used_at, key ROWS UNBOUNDED PRECEDING) - bytes AS before
      FROM candidates
), doomed AS (
    SELECT namespace, key FROM running WHERE before < :excess
)
DELETE FROM cache_entries AS entry
 USING doomed
 WHERE entry.namespace = doomed.namespace AND entry.key = doomed.key
RETURNING octet_length(entry.value) AS bytes;

-- name: add_evictions
-- Running totals per namespace, in the eviction's own transaction so they stay exact.
INSERT INTO cache_quota_state AS q (namespace, bytes, checked_at, evicted_entries, evicted_bytes)
VALUES (:ns, 0, now(), :entries, :bytes)
ON CONFLICT (namespace) DO UPDATE
SET evicted_entries = q.evicted_entries + excluded.evicted_entries,
    evicted_bytes = q.evicted_bytes + excluded.evicted_bytes;

-- name: note_quota_checked
-- The bytes a run left a namespace at, for the health check.
INSERT INTO cache_quota_state AS q (namespace, bytes, checked_at, evicted_entries, evicted_bytes)
VALUES (:ns, :bytes, now(), 0, 0)
ON CONFLICT (namespace) DO UPDATE SET bytes = excluded.bytes, checked_at = excluded.checked_at;

-- name: quota_state
SELECT namespace, bytes, checked_at, evicted_entries, evicted_bytes
FROM cache_quota_state
ORDER BY namespace;
