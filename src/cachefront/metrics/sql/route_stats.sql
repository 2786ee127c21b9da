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
LIMIT 50
