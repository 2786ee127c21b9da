-- The metrics' statements: the stats of GET /v1/admin/stats (metrics/stats.py), the
-- recorder's COPY (metrics/recorder.py), retention (metrics/retention.py) and the
-- readiness check (metrics/routes.py).

-- name: request_stats
-- Requests, hit rate, latency percentiles and error rate since :since.
-- Hit rate counts only requests to cached routes (cache_tier IS NOT NULL): a hit is
-- any answer that did not wait on an upstream (memory, redis, db, or stale).
SELECT
    count(*)                                                        AS requests,
    count(*) FILTER (WHERE cache_tier IS NOT NULL)                  AS cached_requests,
    count(*) FILTER (WHERE cache_tier IN ('memory', 'redis', 'db', 'stale')) AS hits,
    count(*) FILTER (WHERE status >= 500)                           AS server_errors,
    count(*) FILTER (WHERE status >= 400 AND status < 500)          AS client_errors,
    coalesce(sum(upstream_calls), 0)                                AS upstream_calls,
    percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms)        AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)        AS p95_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)        AS p99_ms
FROM request_metrics
WHERE ts >= :since;

-- name: tier_counts
-- Requests answered by each cache tier since :since.
SELECT cache_tier AS tier, count(*) AS requests
FROM request_metrics
WHERE ts >= :since AND cache_tier IS NOT NULL
GROUP BY cache_tier
ORDER BY requests DESC;

-- name: route_stats
-- Per-route volume, errors and latency since :since.
SELECT
    route,
    count(*)                                                 AS requests,
    count(*) FILTER (WHERE status >= 500)                    AS server_errors,
    percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_ms
FROM request_metrics
WHERE ts >= :since
GROUP BY route
ORDER BY requests DESC
LIMIT 50;

-- name: upstream_stats
-- Upstream calls by provider since :since: volume, failures, attempts and latency.
SELECT
    provider,
    count(*)                                                 AS calls,
    count(*) FILTER (WHERE outcome <> 'ok')                  AS failures,
    coalesce(sum(attempts), 0)                               AS attempts,
    percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_ms
FROM upstream_calls
WHERE ts >= :since
GROUP BY provider
ORDER BY calls DESC;

-- name: copy_request_metrics
-- COPY, not INSERT: at tens of thousands of requests a second per process, an INSERT
-- batch would cost the event loop more than answering the requests did.
COPY request_metrics (ts, method, route, status, latency_ms, cache_tier, upstream_calls)
FROM STDIN;

-- name: copy_upstream_calls
COPY upstream_calls (ts, provider, method, url, status, latency_ms, attempts, outcome,
                     priority, error)
FROM STDIN;

-- name: prune_request_metrics
-- Batched by primary key so each transaction stays short and the recorder's inserts
-- never wait; the BRIN index on ts finds the old block ranges without reading recent
-- ones.
DELETE FROM request_metrics
 WHERE id IN (SELECT id FROM request_metrics WHERE ts < :cutoff LIMIT :batch);

-- name: prune_upstream_calls
DELETE FROM upstream_calls
 WHERE id IN (SELECT id FROM upstream_calls WHERE ts < :cutoff LIMIT :batch);

-- name: schema_version
-- The Alembic revision the database is at, for /ready.
SELECT version_num FROM alembic_version;
