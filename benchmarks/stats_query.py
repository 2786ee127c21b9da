"""Stats query time on 30 days of metrics at a million requests a day, and the flush's cost.

Generates ``--days`` days of requests (``--per-day`` each, default 1,000,000: 12 routes,
tiers in production-like shares, log-normal latencies, 2% 5xx and 3% 4xx) and 10% as
many upstream calls, as raw rows in their daily partitions, then builds the rollups
from them day by day with the flush's own grouping. Then times ``load_stats`` over the
app role for the 24-hour dashboard (and 7 and 30 days for comparison), and one flush
of a 20,000-request batch through the recorder (raw rows and rollups together).

    cd benchmarks && ../.venv/bin/python stats_query.py
    ../.venv/bin/python stats_query.py --days 3 --per-day 200000   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from harness import bench_database
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import install_isolation
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.db.replica import ReadEngine
from cachefront.metrics.partitions import create_partitions, days_between
from cachefront.metrics.recorder import MetricsRecorder, RequestRow
from cachefront.metrics.stats import load_stats
from cachefront.observability.dashboard_data import dashboard_data, dashboard_details

ROUTES = [f"/v1/bench{n}/{{item}}" for n in range(10)] + ["/v1/plain/a", "/v1/plain/b"]

# One day of raw requests: [:lo, :hi) spread evenly, tiers and latencies drawn per row.
_REQUESTS = """
INSERT INTO request_metrics (ts, method, route, status, latency_ms, cache_tier, upstream_calls)
SELECT :lo + (i * interval '86400 seconds' / :n), 'GET', r.route,
       CASE WHEN u < 0.02 THEN 502 WHEN u < 0.05 THEN 404 ELSE 200 END,
       CASE r.tier WHEN 'memory' THEN 0.2 WHEN 'redis' THEN 0.8 WHEN 'db' THEN 3
                   WHEN 'stale' THEN 1 WHEN 'upstream' THEN 120 ELSE 15 END
         * exp(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) * 0.6),
       r.tier, CASE WHEN r.tier = 'upstream' THEN 1 ELSE 0 END
FROM generate_series(0, :n - 1) AS i,
     LATERAL (SELECT random() AS u, random() AS t, (i % 12) AS k) AS d,
     LATERAL (SELECT (ARRAY[{routes}])[d.k + 1] AS route,
                     CASE WHEN d.k >= 10 THEN NULL
                          WHEN d.t < 0.70 THEN 'memory' WHEN d.t < 0.80 THEN 'redis'
                          WHEN d.t < 0.88 THEN 'db' WHEN d.t < 0.90 THEN 'stale'
                          ELSE 'upstream' END AS tier) AS r
"""
_CALLS = """
INSERT INTO upstream_calls (ts, provider, method, url, status, latency_ms, attempts, outcome,
                            priority, error)
SELECT :lo + (i * interval '86400 seconds' / :n), 'bench' || (i % 3), 'GET', 'https://u.test/x',
       200, 120 * exp(random()), 1, CASE WHEN random() < 0.03 THEN 'timeout' ELSE 'ok' END,
       'user', NULL
FROM generate_series(0, :n - 1) AS i
"""
_ROLLUP = """
INSERT INTO request_rollups
SELECT date_trunc('minute', ts, 'UTC'), route, method, coalesce(cache_tier, ''), status / 100,
       count(*), sum(upstream_calls), sum(latency_ms)
FROM request_metrics WHERE ts >= :lo AND ts < :hi GROUP BY 1, 2, 3, 4, 5;
INSERT INTO request_hours
SELECT date_trunc('hour', minute, 'UTC'), route, method, tier, status_class, sum(requests),
       sum(upstream_calls), sum(latency_ms_sum)
FROM request_rollups WHERE minute >= :lo AND minute < :hi GROUP BY 1, 2, 3, 4, 5;
INSERT INTO latency_buckets
SELECT date_trunc('hour', ts, 'UTC'), 'request', route, coalesce(cache_tier, ''),
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::int2, count(*)
FROM request_metrics WHERE ts >= :lo AND ts < :hi GROUP BY 1, 2, 3, 4, 5;
INSERT INTO upstream_rollups
SELECT date_trunc('minute', ts, 'UTC'), provider, outcome, count(*), sum(attempts),
       sum(latency_ms)
FROM upstream_calls WHERE ts >= :lo AND ts < :hi GROUP BY 1, 2, 3;
INSERT INTO latency_buckets
SELECT date_trunc('hour', ts, 'UTC'), 'upstream', provider, '',
       least(99, floor(4 * ln(greatest(latency_ms, 0.05) / 0.05) / ln(2)))::int2, count(*)
FROM upstream_calls WHERE ts >= :lo AND ts < :hi GROUP BY 1, 2, 3, 4, 5
"""


# Cache entries in 20 namespaces, a quarter of them in one with a quota (reads tracked).
_ENTRIES = """
INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at, fresh_until,
                           expires_at, last_read_at)
SELECT 'bench.ns' || (i % 20), 'k' || i, convert_to(repeat('v', 32 + (i % 29) * 32), 'UTF8'),
       'e', false, now() - (i % 1440) * interval '1 minute', now(), now() + interval '1 day',
       CASE WHEN i % 3 = 0 THEN now() END
FROM generate_series(1, :n) AS i
"""


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms (n={len(ordered)})"


async def _dashboard(url: str, app: AsyncEngine, cache_entries: int, repeats: int) -> None:
    owner = create_engine(url, pool_size=1)
    async with owner.begin() as conn:
        await conn.execute(text(_ENTRIES), {"n": cache_entries})
        await conn.execute(text("ANALYZE cache_entries"))
    await owner.dispose()
    settings = Settings(database_url=url, cache_quotas={"bench.ns0": "1GB"})
    reads = ReadEngine(app)
    for name, build in (
        ("/dashboard/data (24 h)", lambda: dashboard_data(reads, settings, None, {})),
        ("/dashboard/details (24 h)", lambda: dashboard_details(reads, settings)),
    ):
        await build()  # warm
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            await build()
            samples.append((time.perf_counter() - t0) * 1000)
        print(f"{name} with {cache_entries:,} cache entries: {_summary(samples)}")


async def run(url: str, days: int, per_day: int, repeats: int, cache_entries: int) -> None:
    upgrade(url)
    owner = create_engine(url, pool_size=2)
    now = datetime.now(UTC)
    first = (now - timedelta(days=days - 1)).date()
    await create_partitions(owner, days_between(first, now.date()))
    routes = ", ".join(f"'{r}'" for r in ROUTES)
    started = time.perf_counter()
    for day in days_between(first, now.date()):
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        bounds = {"lo": lo, "hi": lo + timedelta(days=1)}
        async with owner.begin() as conn:
            await conn.execute(text(_REQUESTS.format(routes=routes)), {**bounds, "n": per_day})
            await conn.execute(text(_CALLS), {**bounds, "n": per_day // 10})
            for statement in _ROLLUP.split(";"):
                await conn.execute(text(statement), bounds)
        print(f"  {day}: generated and rolled up", flush=True)
    async with owner.begin() as conn:
        await conn.execute(text("ANALYZE"))
        raw = await conn.scalar(text("SELECT count(*) FROM request_metrics"))
        rollup_rows = await conn.scalar(text("SELECT count(*) FROM request_rollups"))
        hour_rows = await conn.scalar(text("SELECT count(*) FROM request_hours"))
        buckets = await conn.scalar(text("SELECT count(*) FROM latency_buckets"))
        size = await conn.scalar(
            text(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                "WHERE c.relnamespace = 'metrics_partitions'::regnamespace AND c.relkind = 'r'"
            )
        )
    print(
        f"data: {raw:,} raw requests over {days} days, {rollup_rows:,} minute and "
        f"{hour_rows:,} hour rollups, "
        f"{buckets:,} histogram rows, {size} in partitions "
        f"(generated in {time.perf_counter() - started:.0f} s)"
    )

    app = create_engine(url, pool_size=2)
    install_isolation(app, "cachefront_app")
    for hours in (24, 24 * 7, 24 * days):
        await load_stats(app, hours)  # warm the cache of the pages it reads
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            stats = await load_stats(app, hours)
            samples.append((time.perf_counter() - t0) * 1000)
        print(f"load_stats({hours} h): {_summary(samples)}; {stats.requests:,} requests")

    await _dashboard(url, app, cache_entries, repeats)

    recorder = MetricsRecorder(app)
    rng = random.Random(1)
    flush_ms = []
    for _ in range(5):
        t = time.time()
        for n in range(20_000):
            row: RequestRow = (t, "GET", ROUTES[n % 12], 200, rng.random() * 5, "memory", 0)
            recorder.request(row)
        t0 = time.perf_counter()
        await recorder.flush()
        flush_ms.append((time.perf_counter() - t0) * 1000)
    print(f"flush of 20,000 requests (raw rows and rollups): {_summary(flush_ms)}")
    await app.dispose()
    await owner.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cache-entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with bench_database() as url:
        asyncio.run(run(url, args.days, args.per_day, args.repeats, args.cache_entries))


if __name__ == "__main__":
    main()
