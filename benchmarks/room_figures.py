"""The rooms' own figures (``GET /v1/admin/rooms``, the dashboard's room panels) at scale.

Generates, in a fresh database: the prices room's catalogue of ``--assets`` assets with
``--years`` years of daily bars each (``price_daily``, yearly partitions) and a latest
price each; the ephemeris namespace with every body hourly for ``--ephemeris-years``
years back and the 49 hours ahead precompute keeps; and ``--ledger`` AI ledger rows in
the last 24 hours (a third of them cache hits) with the AI routes' per-minute request
rollups. Then times each room's reader over the app role, as the route runs it (inside
``acting_as_service``), for the 24-hour window: median and max of ``--repeats`` rounds.

    cd benchmarks && ../.venv/bin/python room_figures.py
    ../.venv/bin/python room_figures.py --assets 100 --years 2 --ledger 10000   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

from harness import bench_database
from sqlalchemy import text

from cachefront.auth import install_isolation
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.metrics.partitions import create_partitions as metrics_partitions
from cachefront.metrics.partitions import days_between
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures
from cachefront.services import ROOMS
from cachefront.services.prices.history_partitions import create_partitions

_ASSETS = """
INSERT INTO price_assets (symbol, name, type, provider, provider_id, currency)
SELECT 'B' || i, 'B' || i, CASE WHEN i % 4 = 0 THEN 'stock' ELSE 'crypto' END,
       CASE WHEN i % 4 = 0 THEN 'yahoo' ELSE 'binance' END, 'B' || i, 'USD'
FROM generate_series(1, :n) AS i
"""
_DAILY = """
INSERT INTO price_daily (asset_id, day, volume, open, high, low, close)
SELECT a.id, d::date, 1000, 1, 2, 0.5, 1.5
FROM price_assets a, generate_series(CAST(:first AS date), CAST(:last AS date), '1 day') AS d
WHERE a.id % 10 = :part
"""
_LATEST = """
INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at, fresh_until,
                           expires_at)
SELECT 'prices.latest.v1', symbol, 'v', 'e', false, now() - interval '30 seconds',
       now() + interval '45 seconds', now() + interval '7 days'
FROM price_assets
"""
_EPHEMERIS = """
INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at, fresh_until,
                           expires_at)
SELECT 'ephemeris.v1', b || ':' || s, repeat('v', 200)::bytea, 'e', false, now(), now(),
       now() + interval '400 days'
FROM unnest(ARRAY['sun','moon','mercury','venus','mars','jupiter','saturn','uranus',
                  'neptune','pluto']) AS b,
     generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint), 3600) AS s
"""
_LEDGER = """
INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens, completion_tokens,
                      latency_ms, cost_usd, saved_usd, cached, ok)
SELECT 'key:' || (i % 500), now() - (i * interval '86400 seconds' / :n), 'p' || (i % 2),
       'm' || (i % 6), 100 + i % 900, 20 + i % 300, 50, 0.001, 0.0, i % 3 = 0, true
FROM generate_series(0, :n - 1) AS i
"""
_ROLLUPS = """
INSERT INTO request_rollups
SELECT date_trunc('minute', now(), 'UTC') - m * interval '1 minute', '/v1/chat/completions',
       'POST', t, 2, 20, 0, 100
FROM generate_series(0, 1439) AS m, unnest(ARRAY['HIT', 'MISS', 'COALESCED', 'BYPASS']) AS t
"""


async def run(url: str, assets: int, years: int, eph_years: int, ledger: int, repeats: int) -> None:
    upgrade(url)
    owner = create_engine(url, pool_size=2)
    today = datetime.now(UTC).date()
    first = today.replace(year=today.year - years)
    began = time.perf_counter()
    await create_partitions(owner, range(first.year, today.year + 1))
    await metrics_partitions(
        owner, days_between(today - timedelta(days=2), today + timedelta(days=1))
    )
    now_s = int(time.time()) // 3600 * 3600
    async with owner.begin() as conn:
        await conn.execute(text(_ASSETS), {"n": assets})
        await conn.execute(text(_LATEST))
        await conn.execute(
            text(_EPHEMERIS), {"lo": now_s - eph_years * 365 * 86400, "hi": now_s + 48 * 3600}
        )
        await conn.execute(text(_LEDGER), {"n": ledger})
        await conn.execute(text(_ROLLUPS))
    for part in range(10):  # ten statements: one huge one would hold its WAL at once
        async with owner.begin() as conn:
            await conn.execute(text(_DAILY), {"first": first, "last": today, "part": part})
    async with owner.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
        daily = (await conn.execute(text("SELECT count(*) FROM price_daily"))).scalar_one()
        entries = (await conn.execute(text("SELECT count(*) FROM cache_entries"))).scalar_one()
    await owner.dispose()
    print(
        f"generated in {time.perf_counter() - began:.0f} s: {assets:,} assets, {daily:,} daily"
        f" bars, {entries:,} cache entries, {ledger:,} ledger rows"
    )

    settings = Settings(database_url=url)
    app = create_engine(url, pool_size=2)
    install_isolation(app, "cachefront_app")
    until = datetime.now(UTC)
    since = until - timedelta(hours=24)
    everything = FigureReaders.of(ROOMS)
    for name, reader in (*everything.readers, ("all rooms", None)):
        readers = everything if reader is None else FigureReaders(((name, reader),))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            got = await read_room_figures(app, settings, readers, since, until)
            times.append((time.perf_counter() - t0) * 1000)
            assert all(room.error is None for room in got.values()), got
        print(f"{name:>10}: median {statistics.median(times):7.1f} ms, max {max(times):7.1f} ms")
    await app.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--ephemeris-years", type=int, default=2)
    parser.add_argument("--ledger", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with bench_database() as url:
        asyncio.run(
            run(url, args.assets, args.years, args.ephemeris_years, args.ledger, args.repeats)
        )


if __name__ == "__main__":
    main()
