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
ORDER BY calls DESC
