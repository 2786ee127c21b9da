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
WHERE ts >= :since
