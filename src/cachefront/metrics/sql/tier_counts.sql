-- Requests answered by each cache tier since :since.
SELECT cache_tier AS tier, count(*) AS requests
FROM request_metrics
WHERE ts >= :since AND cache_tier IS NOT NULL
GROUP BY cache_tier
ORDER BY requests DESC
