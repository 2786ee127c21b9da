-- The observability package's statements: health measures (observability/health.py)
-- and the alert outbox (observability/alerts.py).

-- name: job_figures
-- Jobs waiting past their time, running jobs whose worker stopped beating, and the
-- workers still beating, judged against the stall limit :stall seconds.
SELECT
    (SELECT count(*) FROM procrastinate_jobs
      WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))  AS backlog,
    (SELECT count(*) FROM procrastinate_jobs j
       LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
      WHERE j.status = 'doing'
        AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :stall))) AS stalled,
    (SELECT count(*) FROM procrastinate_workers
      WHERE last_heartbeat >= now() - make_interval(secs => :stall))               AS live_workers;

-- name: publish_process_state
-- This process's breakers and job worker, live for :ttl seconds; rows of processes
-- that died an hour ago are dropped on the way, so the table stays a row per process.
WITH gone AS (
    DELETE FROM process_states
    WHERE expires_at < now() - interval '1 hour' AND process_id <> :process_id
)
INSERT INTO process_states (process_id, breakers, worker_running, published_at, expires_at)
VALUES (:process_id, CAST(:breakers AS jsonb), :worker_running, now(),
        now() + make_interval(secs => :ttl))
ON CONFLICT (process_id) DO UPDATE
SET breakers = excluded.breakers, worker_running = excluded.worker_running,
    published_at = excluded.published_at, expires_at = excluded.expires_at;

-- name: withdraw_process_state
DELETE FROM process_states WHERE process_id = :process_id;

-- name: live_process_states
-- What every live process published: the breakers and workers the checks judge.
SELECT process_id, breakers, worker_running FROM process_states
WHERE expires_at > now()
ORDER BY process_id;

-- name: database_size
SELECT pg_database_size(current_database());

-- name: lock_health_states
-- One process at a time compares the checks with the stored states, for the rest of
-- the transaction: a change is recorded, and so alerted, once.
SELECT pg_advisory_xact_lock(7203114015);

-- name: health_states
SELECT name, status FROM health_states;

-- name: upsert_health_state
INSERT INTO health_states (name, status, value, changed_at)
VALUES (:name, :status, :value, now())
ON CONFLICT (name) DO UPDATE
SET status = excluded.status, value = excluded.value, changed_at = excluded.changed_at;

-- name: insert_alert
INSERT INTO health_alerts (status, payload) VALUES (:status, CAST(:payload AS jsonb))
RETURNING id;

-- name: claim_alert
-- The oldest alert not sent and not claimed by a live sender; a claim lapses after
-- :lease seconds, so an alert a crashed process held is sent by another.
UPDATE health_alerts
SET claimed_until = now() + make_interval(secs => :lease), attempts = attempts + 1
WHERE id = (
    SELECT id FROM health_alerts
    WHERE sent_at IS NULL AND gave_up_at IS NULL
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, payload, attempts;

-- name: mark_alert_sent
UPDATE health_alerts SET sent_at = now(), claimed_until = NULL WHERE id = :id;

-- name: release_alert
-- Sending failed: free the claim, or give up after :max_rounds rounds.
UPDATE health_alerts
SET claimed_until = NULL,
    gave_up_at = CASE WHEN attempts >= :max_rounds THEN now() END,
    last_error = :error
WHERE id = :id;

-- name: queue_depth
-- Jobs of the queue by status, for /metrics.
SELECT status::text AS status, count(*) AS jobs FROM procrastinate_jobs GROUP BY status;

-- name: cache_sizes
-- Entries and bytes of the PostgreSQL cache tier per namespace, for /metrics.
SELECT namespace, count(*) AS entries, coalesce(sum(octet_length(value)), 0) AS bytes
FROM cache_entries GROUP BY namespace;

-- name: insert_dashboard_token
INSERT INTO dashboard_tokens (token_hash, kind, expires_at)
VALUES (:token_hash, :kind, now() + make_interval(secs => :seconds));

-- name: use_login_token
-- Single use: the one UPDATE that marks it used is the only one that returns it.
UPDATE dashboard_tokens SET used_at = now()
WHERE token_hash = :token_hash AND kind = 'login' AND used_at IS NULL AND expires_at > now()
RETURNING token_hash;

-- name: session_valid
SELECT 1 FROM dashboard_tokens
WHERE token_hash = :token_hash AND kind = 'session' AND expires_at > now();

-- name: prune_dashboard_tokens
DELETE FROM dashboard_tokens WHERE expires_at < now() - interval '1 day';

-- name: hourly_trend
-- Requests, hits and 5xx per hour over [:since, :until), for the dashboard's charts.
SELECT hour,
       sum(requests)::bigint                                              AS requests,
       (sum(requests) FILTER (WHERE tier IN ('memory', 'redis', 'db', 'stale')))::bigint AS hits,
       (sum(requests) FILTER (WHERE tier <> ''))::bigint                  AS cached,
       (sum(requests) FILTER (WHERE status_class = 5))::bigint            AS server_errors
FROM request_hours
WHERE hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC') AND hour < :until
GROUP BY hour
ORDER BY hour;

-- name: hourly_percentiles
-- p50, p95 and p99 buckets of every request per hour (see metrics' latency_percentiles).
WITH per_hour AS (
    SELECT hour, bucket, sum(n) AS n
    FROM latency_buckets
    WHERE kind = 'request'
      AND hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC') AND hour < :until
    GROUP BY hour, bucket
), running AS (
    SELECT hour, bucket,
           sum(n) OVER (PARTITION BY hour ORDER BY bucket) AS upto,
           sum(n) OVER (PARTITION BY hour) AS total
    FROM per_hour
)
SELECT hour,
       min(bucket) FILTER (WHERE upto > floor(0.50 * (total - 1))) AS p50_bucket,
       min(bucket) FILTER (WHERE upto > floor(0.95 * (total - 1))) AS p95_bucket,
       min(bucket) FILTER (WHERE upto > floor(0.99 * (total - 1))) AS p99_bucket
FROM running
GROUP BY hour
ORDER BY hour;

-- name: storage_tables
-- Every table's size with its indexes and TOAST (pg_total_relation_size); a partitioned
-- table counts all its partitions, at every level, and they are not listed apart.
-- Read from the catalog and the files' sizes: no table is scanned.
SELECT n.nspname AS schema,
       c.relname AS table_name,
       tree.bytes,
       tree.partitions
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    -- pg_partition_tree has no rows for a table that is not partitioned.
    SELECT CASE WHEN c.relkind = 'p'
                THEN coalesce(sum(pg_total_relation_size(t.relid)), 0)
                ELSE pg_total_relation_size(c.oid) END::bigint            AS bytes,
           (count(t.relid) FILTER (WHERE t.level > 0 AND t.isleaf))::int AS partitions
    FROM (SELECT 1) AS one
    LEFT JOIN pg_partition_tree(c.oid) AS t ON c.relkind = 'p'
) AS tree
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY tree.bytes DESC, n.nspname, c.relname;

-- name: storage_namespaces
-- Per namespace of the PostgreSQL cache tier: entries, bytes of values, the oldest and
-- newest stored_at, and the expiry forecast: entries already past expires_at (cleanup
-- removes them) and entries expiring within 1 h, 24 h and 7 days of :now (cumulative,
-- not counting the past ones). One pass over the table, whatever the namespaces.
SELECT namespace,
       count(*)                                                  AS entries,
       coalesce(sum(octet_length(value)), 0)::bigint             AS bytes,
       min(stored_at)                                            AS oldest_stored_at,
       max(stored_at)                                            AS newest_stored_at,
       count(*) FILTER (WHERE expires_at <= at.t)                AS expired,
       count(*) FILTER (WHERE expires_at > at.t
                          AND expires_at <= at.t + interval '1 hour')   AS expiring_1h,
       count(*) FILTER (WHERE expires_at > at.t
                          AND expires_at <= at.t + interval '24 hours') AS expiring_24h,
       count(*) FILTER (WHERE expires_at > at.t
                          AND expires_at <= at.t + interval '7 days')   AS expiring_7d
FROM cache_entries
CROSS JOIN (SELECT CAST(:now AS timestamptz) AS t) AS at
GROUP BY namespace
ORDER BY namespace;

-- name: cache_size_estimate
-- The cache tier's size from the planner's statistics, without a pass over the table:
-- its estimated rows (reltuples, -1 before the first ANALYZE), its size on disk, and
-- the namespace column's most common values with their shares of the rows.
SELECT c.reltuples::float8                        AS rows,
       pg_total_relation_size(c.oid)::bigint      AS bytes,
       s.most_common_vals::text::text[]           AS names,
       s.most_common_freqs::float8[]              AS shares
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stats s
       ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'namespace'
WHERE c.oid = to_regclass('cache_entries');

-- name: request_error_cutoff
-- The newest minute from which [:since, :until) holds :limit 5xx answers, counted
-- exactly by the rollups; NULL when the window holds fewer. Reading raw rows from there
-- on finds at least the :limit newest errors without reading the window. The hourly
-- rollups narrow it to an hour first, so only that hour's minutes are summed; an hour
-- they do not hold yet only moves the start earlier.
WITH per_hour AS (
    SELECT hour, sum(sum(requests)) OVER (ORDER BY hour DESC) AS upto
    FROM request_hours
    WHERE hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC')
      AND hour < :until AND status_class = 5
    GROUP BY hour
), start AS (
    SELECT greatest(
               coalesce(max(hour) FILTER (WHERE upto >= :limit),
                        date_trunc('hour', CAST(:since AS timestamptz), 'UTC')),
               date_trunc('minute', CAST(:since AS timestamptz), 'UTC')) AS at
    FROM per_hour
)
SELECT max(minute) AS cutoff FROM (
    SELECT minute, sum(sum(requests)) OVER (ORDER BY minute DESC) AS upto
    FROM request_rollups, start
    WHERE minute >= start.at AND minute < :until AND status_class = 5
    GROUP BY minute
) AS m
WHERE upto >= :limit;

-- name: recent_request_errors
-- Failed requests, newest first: 5xx, and 4xx other than those that are a caller's
-- ordinary answer (401, 403, 404, 429).
SELECT ts, method, route, status, latency_ms, cache_tier
FROM request_metrics
WHERE ts >= :lo AND ts < :until
  AND (status >= 500 OR (status >= 400 AND status NOT IN (401, 403, 404, 429)))
ORDER BY ts DESC
LIMIT :limit;

-- name: upstream_error_cutoff
-- As request_error_cutoff, for upstream calls that did not end ok.
SELECT max(minute) AS cutoff FROM (
    SELECT minute, sum(sum(calls)) OVER (ORDER BY minute DESC) AS upto
    FROM upstream_rollups
    WHERE minute >= date_trunc('minute', CAST(:since AS timestamptz), 'UTC')
      AND minute < :until AND outcome <> 'ok'
    GROUP BY minute
) AS m
WHERE upto >= :limit;

-- name: recent_upstream_errors
SELECT ts, provider, method, url, status, latency_ms, attempts, outcome, error
FROM upstream_calls
WHERE ts >= :lo AND ts < :until AND outcome <> 'ok'
ORDER BY ts DESC
LIMIT :limit;

-- name: latency_histogram_by_hour
-- How many requests and upstream calls fell in each latency bucket, per hour the
-- window [:since, :until) touches: where the slowest calls are, without raw rows.
SELECT hour, kind, bucket, sum(n)::bigint AS n
FROM latency_buckets
WHERE hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC') AND hour < :until
GROUP BY hour, kind, bucket;

-- name: slowest_requests
SELECT ts, method, route, status, latency_ms, cache_tier
FROM request_metrics
WHERE ts >= :lo AND ts < :hi AND latency_ms >= :floor
ORDER BY latency_ms DESC
LIMIT :limit;

-- name: slowest_upstream_calls
SELECT ts, provider, method, url, status, latency_ms, attempts, outcome
FROM upstream_calls
WHERE ts >= :lo AND ts < :hi AND latency_ms >= :floor
ORDER BY latency_ms DESC
LIMIT :limit;

-- name: task_runs
-- The :runs newest runs of each task in :names still in the queue's tables (finished
-- jobs are removed after the jobs retention): when its last attempt started, when it
-- ended, and how. The events are looked up for those runs only, not for every job of
-- a task run twice a minute.
SELECT r.task_name, r.id, r.status, r.attempts,
       (SELECT max(e.at) FROM procrastinate_events e
         WHERE e.job_id = r.id AND e.type = 'started')                      AS started_at,
       (SELECT max(e.at) FROM procrastinate_events e
         WHERE e.job_id = r.id
           AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted'))   AS finished_at
FROM (
    SELECT j.task_name, j.id, j.status::text AS status, j.attempts,
           row_number() OVER (PARTITION BY j.task_name ORDER BY j.id DESC) AS n
    FROM procrastinate_jobs j
    WHERE j.task_name = ANY(CAST(:names AS text[]))
) AS r
WHERE r.n <= :runs
ORDER BY r.task_name, r.id DESC;

-- name: last_deferred
-- When each periodic task was last deferred: procrastinate keeps this row after the
-- job itself is removed.
SELECT task_name, max(defer_timestamp) AS at
FROM procrastinate_periodic_defers
GROUP BY task_name;

-- name: cache_namespace_names
-- Every namespace of the cache tier, skipping along the primary key: one index probe
-- per namespace instead of a pass over the entries.
WITH RECURSIVE ns AS (
    (SELECT namespace FROM cache_entries ORDER BY namespace LIMIT 1)
    UNION ALL
    SELECT (SELECT c.namespace FROM cache_entries c
             WHERE c.namespace > ns.namespace ORDER BY c.namespace LIMIT 1)
    FROM ns WHERE ns.namespace IS NOT NULL
)
SELECT namespace FROM ns WHERE namespace IS NOT NULL;

-- name: never_read
-- Entries of the namespaces in :namespaces not read since they were stored, and how
-- old the oldest of them is: the candidates for invalidation.
SELECT namespace,
       count(*)                                                          AS entries,
       count(*) FILTER (WHERE last_read_at IS NULL)                      AS never_read,
       coalesce(sum(octet_length(value)) FILTER (WHERE last_read_at IS NULL), 0)::bigint
                                                                         AS never_read_bytes,
       min(stored_at) FILTER (WHERE last_read_at IS NULL)                AS oldest_never_read
FROM cache_entries
WHERE namespace = ANY(CAST(:namespaces AS text[]))
GROUP BY namespace;
