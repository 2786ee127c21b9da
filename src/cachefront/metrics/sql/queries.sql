-- The metrics' statements: the recorder's flush (metrics/recorder.py), the stats of
-- GET /v1/admin/stats (metrics/stats.py), partitions and retention
-- (metrics/partitions.py) and the readiness check (metrics/routes.py).

-- name: stage_requests
-- The recorder COPYs a batch into a temporary table of its connection (made once per
-- connection, emptied at each commit), then flush_requests moves it into the raw table
-- and the rollups in one statement. COPY, not INSERT: at tens of thousands of requests
-- a second per process, binding the batch as parameters would cost the event loop
-- more than answering the requests did.
-- A row is either one request (n = 1, raw: also kept in request_metrics) or the
-- recorder's fold of n hot-path hits of one minute, route, status and latency bucket
-- (latency_ms: the bucket's middle; latency_sum: their total).
-- The table's name is new with that shape: a connection made before it keeps its own.
CREATE TEMPORARY TABLE IF NOT EXISTS request_batch_n (
    ts float8, method text, route text, status int2, latency_ms float8, cache_tier text,
    upstream_calls int4, n int8, latency_sum float8, raw bool
) ON COMMIT DELETE ROWS;

-- name: copy_staged_requests
COPY request_batch_n (ts, method, route, status, latency_ms, cache_tier, upstream_calls, n,
                      latency_sum, raw)
FROM STDIN;

-- name: flush_requests
-- The raw rows and the rollups never disagree, whichever process flushed and however
-- late (a batch kept through a database outage lands in the minutes it was recorded
-- in). Keys are upserted in order, so two processes flushing the same minutes lock
-- rows in the same order and cannot deadlock.
WITH batch AS (
    SELECT to_timestamp(ts) AS ts, method, route, status, latency_ms, cache_tier,
           upstream_calls, n, latency_sum, raw
    FROM request_batch_n
), raw AS (
    INSERT INTO request_metrics (ts, method, route, status, latency_ms, cache_tier,
                                 upstream_calls)
    SELECT ts, method, route, status, latency_ms, cache_tier, upstream_calls FROM batch
    WHERE raw
), minutes AS (
    INSERT INTO request_rollups AS r (minute, route, method, tier, status_class, requests,
                                      upstream_calls, latency_ms_sum)
    SELECT date_trunc('minute', ts, 'UTC'), route, method, coalesce(cache_tier, ''),
           status / 100, sum(n), sum(upstream_calls), sum(latency_sum)
    FROM batch
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (minute, route, method, tier, status_class) DO UPDATE
    SET requests = r.requests + excluded.requests,
        upstream_calls = r.upstream_calls + excluded.upstream_calls,
        latency_ms_sum = r.latency_ms_sum + excluded.latency_ms_sum
), hours AS (
    INSERT INTO request_hours AS r (hour, route, method, tier, status_class, requests,
                                    upstream_calls, latency_ms_sum)
    SELECT date_trunc('hour', ts, 'UTC'), route, method, coalesce(cache_tier, ''),
           status / 100, sum(n), sum(upstream_calls), sum(latency_sum)
    FROM batch
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, route, method, tier, status_class) DO UPDATE
    SET requests = r.requests + excluded.requests,
        upstream_calls = r.upstream_calls + excluded.upstream_calls,
        latency_ms_sum = r.latency_ms_sum + excluded.latency_ms_sum
), bucketed AS (
    -- The bucket formula is metrics/buckets.py's bucket_of.
    SELECT date_trunc('minute', ts, 'UTC') AS minute, route, coalesce(cache_tier, '') AS tier,
           least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::int2 AS bucket,
           sum(n) AS n
    FROM batch
    GROUP BY 1, 2, 3, 4
), hour_buckets AS (
    INSERT INTO latency_buckets AS h (hour, kind, name, tier, bucket, n)
    SELECT date_trunc('hour', minute, 'UTC'), 'request', route, tier, bucket, sum(n)
    FROM bucketed
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, kind, name, tier, bucket) DO UPDATE SET n = h.n + excluded.n
)
INSERT INTO latency_minutes AS h (minute, kind, name, tier, bucket, n)
SELECT minute, 'request', route, tier, bucket, n
FROM bucketed
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (minute, kind, name, tier, bucket) DO UPDATE SET n = h.n + excluded.n;

-- name: stage_upstream_calls
-- As stage_requests, for upstream calls.
CREATE TEMPORARY TABLE IF NOT EXISTS upstream_batch (
    ts float8, provider text, method text, url text, status int2, latency_ms float8,
    attempts int2, outcome text, priority text, error text
) ON COMMIT DELETE ROWS;

-- name: copy_staged_upstream_calls
COPY upstream_batch (ts, provider, method, url, status, latency_ms, attempts, outcome,
                     priority, error)
FROM STDIN;

-- name: flush_upstream_calls
-- As flush_requests, for upstream calls.
WITH batch AS (
    SELECT to_timestamp(ts) AS ts, provider, method, url, status, latency_ms, attempts,
           outcome, priority, error
    FROM upstream_batch
), raw AS (
    INSERT INTO upstream_calls (ts, provider, method, url, status, latency_ms, attempts,
                                outcome, priority, error)
    SELECT ts, provider, method, url, status, latency_ms, attempts, outcome, priority, error
    FROM batch
), minutes AS (
    INSERT INTO upstream_rollups AS r (minute, provider, outcome, calls, attempts,
                                       latency_ms_sum)
    SELECT date_trunc('minute', ts, 'UTC'), provider, outcome, count(*), sum(attempts),
           sum(latency_ms)
    FROM batch
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (minute, provider, outcome) DO UPDATE
    SET calls = r.calls + excluded.calls,
        attempts = r.attempts + excluded.attempts,
        latency_ms_sum = r.latency_ms_sum + excluded.latency_ms_sum
), bucketed AS (
    SELECT date_trunc('minute', ts, 'UTC') AS minute, provider,
           least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::int2 AS bucket,
           count(*) AS n
    FROM batch
    GROUP BY 1, 2, 3
), hour_buckets AS (
    INSERT INTO latency_buckets AS h (hour, kind, name, tier, bucket, n)
    SELECT date_trunc('hour', minute, 'UTC'), 'upstream', provider, '', bucket, sum(n)
    FROM bucketed
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, kind, name, tier, bucket) DO UPDATE SET n = h.n + excluded.n
)
INSERT INTO latency_minutes AS h (minute, kind, name, tier, bucket, n)
SELECT minute, 'upstream', provider, '', bucket, n
FROM bucketed
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (minute, kind, name, tier, bucket) DO UPDATE SET n = h.n + excluded.n;

-- name: create_partitions
-- Makes the day's partition of every metrics table that lacks one (migration 0006).
SELECT metrics_create_partitions(CAST(:day AS date));

-- name: drop_partitions_before
-- Drops every metrics partition of a day before :cutoff; the rows each held.
SELECT partition, parent, rows FROM metrics_drop_partitions_before(CAST(:cutoff AS date));

-- name: request_figures
-- Per route, tier and status class over [:lo, :hi): the whole hours [:first_hour,
-- :last_hour) from the hourly rollups, the minutes at either edge from the per-minute
-- ones (metrics/stats.py works the bounds out). A day reads 24 rows per key and at
-- most two hours of minutes, never the raw rows.
SELECT route, tier, status_class,
       sum(requests)::bigint       AS requests,
       sum(upstream_calls)::bigint AS upstream_calls,
       sum(latency_ms_sum)         AS latency_ms_sum
FROM (
    SELECT route, tier, status_class, requests, upstream_calls, latency_ms_sum
    FROM request_hours
    WHERE hour >= :first_hour AND hour < :last_hour
    UNION ALL
    SELECT route, tier, status_class, requests, upstream_calls, latency_ms_sum
    FROM request_rollups
    WHERE minute >= :lo AND minute < least(CAST(:first_hour AS timestamptz), :hi)
    UNION ALL
    SELECT route, tier, status_class, requests, upstream_calls, latency_ms_sum
    FROM request_rollups
    WHERE minute >= greatest(CAST(:last_hour AS timestamptz), :first_hour) AND minute < :hi
) AS picked
GROUP BY route, tier, status_class;

-- name: upstream_figures
-- Per provider and outcome over [:since, :until), from the per-minute rollups.
SELECT provider, outcome,
       sum(calls)::bigint    AS calls,
       sum(attempts)::bigint AS attempts,
       sum(latency_ms_sum)   AS latency_ms_sum
FROM upstream_rollups
WHERE minute >= date_trunc('minute', CAST(:since AS timestamptz), 'UTC')
  AND minute < :until
GROUP BY provider, outcome;

-- name: latency_percentiles
-- p50, p95 and p99 over [:lo, :hi), for every request, cached and uncached requests
-- apart, each route, and each provider: the whole hours [:first_hour, :last_hour)
-- from the hourly histograms, the minutes at either edge from the per-minute ones, as
-- request_figures reads the counts (a 15-minute window reads its 15 minutes).
-- The p-quantile is the bucket holding the order statistic at 0-based rank
-- floor(p * (n - 1)): the first whose running count passes that rank. Its value is
-- the bucket's geometric middle (metrics/buckets.py: within 9.1%).
WITH picked AS (
    SELECT kind, name, tier, bucket, n
    FROM latency_buckets
    WHERE hour >= :first_hour AND hour < :last_hour
    UNION ALL
    SELECT kind, name, tier, bucket, n
    FROM latency_minutes
    WHERE minute >= :lo AND minute < least(CAST(:first_hour AS timestamptz), :hi)
    UNION ALL
    SELECT kind, name, tier, bucket, n
    FROM latency_minutes
    WHERE minute >= greatest(CAST(:last_hour AS timestamptz), :first_hour) AND minute < :hi
), scoped AS (
    SELECT 'all' AS scope, '' AS key, bucket, sum(n) AS n
    FROM picked WHERE kind = 'request' GROUP BY bucket
    UNION ALL
    SELECT CASE WHEN tier IN ('memory', 'redis', 'db', 'stale') THEN 'cached'
                ELSE 'uncached' END, '', bucket, sum(n)
    FROM picked WHERE kind = 'request' GROUP BY 1, bucket
    UNION ALL
    SELECT 'route', name, bucket, sum(n) FROM picked WHERE kind = 'request' GROUP BY name, bucket
    UNION ALL
    SELECT 'provider', name, bucket, sum(n) FROM picked WHERE kind = 'upstream'
    GROUP BY name, bucket
), running AS (
    SELECT scope, key, bucket,
           sum(n) OVER (PARTITION BY scope, key ORDER BY bucket) AS upto,
           sum(n) OVER (PARTITION BY scope, key) AS total
    FROM scoped
)
SELECT scope, key,
       min(bucket) FILTER (WHERE upto > floor(0.50 * (total - 1))) AS p50_bucket,
       min(bucket) FILTER (WHERE upto > floor(0.95 * (total - 1))) AS p95_bucket,
       min(bucket) FILTER (WHERE upto > floor(0.99 * (total - 1))) AS p99_bucket
FROM running
GROUP BY scope, key;

-- name: schema_version
-- The Alembic revision the database is at, for /ready.
SELECT version_num FROM alembic_version;
