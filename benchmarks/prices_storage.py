"""Storage and read speed of the prices history: 1,000 assets x 10 years, after retention.

Synthesises deterministic random walks (half crypto trading every day, half stocks
trading on weekdays), writes each asset's ten years through ``HistoryStore.write_daily``
(one call of ~3,650 bars per asset), then measures ``pg_total_relation_size`` of every
prices table twice: keeping every daily row (``keep_all_daily``; weekly retention
applied) and after the default retention (daily 1 year, weekly 3 years, monthly
forever). Then times reads as the server makes them, over the app role: a ten-year
monthly history, three years weekly, a year daily, and ``by_symbols`` for 1,000 symbols.

    cd benchmarks && ../.venv/bin/python prices_storage.py
    ../.venv/bin/python prices_storage.py --assets 100 --years 10   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from harness import bench_database

from cachefront.auth import install_isolation
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.history import HistoryStore
from cachefront.services.prices.models import Asset, AssetType, Candle, Resolution

APP_ROLE = "cachefront_app"
T = TypeVar("T")


def _assets(count: int) -> list[Asset]:
    half = count // 2
    crypto = [
        Asset(f"C{i:04d}", f"Coin {i}", AssetType.CRYPTO, "binance", f"C{i:04d}USDT", "USD")
        for i in range(half)
    ]
    stocks = [
        Asset(f"S{i:04d}", f"Stock {i}", AssetType.STOCK, "yahoo", f"S{i:04d}", "USD", "XNYS")
        for i in range(count - half)
    ]
    return crypto + stocks


def _walk(asset: Asset, first: date, last: date, seed: int) -> list[Candle]:
    """A geometric random walk; stocks skip weekends and carry an adjusted close."""
    rng = random.Random(seed)
    # Prices from fractions of a cent (small coins) to tens of thousands.
    price = 10 ** rng.uniform(-5, 4.5)
    stock = asset.type is AssetType.STOCK
    bars: list[Candle] = []
    day = first
    while day <= last:
        if not (stock and day.weekday() >= 5):
            price *= 1 + rng.gauss(0, 0.03)
            open_ = price * (1 + rng.uniform(-0.01, 0.01))
            high = max(open_, price) * (1 + rng.uniform(0, 0.03))
            low = min(open_, price) * (1 - rng.uniform(0, 0.03))
            volume = float(int(rng.lognormvariate(13, 1.5)))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            adj = price * 0.97 if stock else None
            bars.append(Candle(start, open_, high, low, price, volume, adj))
        day += timedelta(days=1)
    return bars


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms (n={len(ordered)})"


def _mb(sizes: dict[str, int]) -> str:
    parts = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in sizes.items())
    return f"total {sum(sizes.values()) / 1e6:.1f} MB ({parts})"


async def _timed(samples: list[float], coro: Awaitable[T]) -> T:
    started = time.perf_counter()
    result = await coro
    samples.append((time.perf_counter() - started) * 1000)
    return result


async def run(url: str, count: int, years: int, writers: int, reads: int) -> None:
    engine = create_engine(url, pool_size=writers + 1)
    install_isolation(engine, APP_ROLE)
    try:
        assets = AssetStore(engine)
        universe = _assets(count)
        await assets.upsert(universe)
        ids = await assets.ids([a.symbol for a in universe])
        today = datetime.now(UTC).date()
        last = today - timedelta(days=1)
        first = date(last.year - years, last.month, 1)
        keep = {"keep_daily_days": 365, "keep_weekly_days": 3 * 365}
        store = HistoryStore(engine, keep_all_daily=False, **keep)

        # Each asset's bars are made just before its write, so memory stays flat.
        write_ms: list[float] = []
        bars_written = 0
        queue = list(enumerate(universe))
        started = time.perf_counter()

        async def writer() -> None:
            nonlocal bars_written
            while queue:
                index, asset = queue.pop()
                bars = _walk(asset, first, last, seed=index)
                written = await _timed(write_ms, store.write_daily(ids[asset.symbol], bars))
                bars_written += written

        await asyncio.gather(*(writer() for _ in range(writers)))
        wall = time.perf_counter() - started
        print(
            f"wrote {bars_written:,} daily bars of {count} assets ({first} to {last}) in "
            f"{wall:.1f} s with {writers} writers; one asset's write: {_percentiles(write_ms)}"
        )

        keep_all = HistoryStore(engine, keep_all_daily=True, **keep)
        await keep_all.apply_retention(today)
        print(f"keeping every daily row (weekly 3 y): {_mb(await keep_all.sizes())}")
        started = time.perf_counter()
        counts = await store.apply_retention(today)
        print(
            f"retention (daily from {counts.daily_cutoff}, weekly from {counts.weekly_cutoff}) "
            f"in {time.perf_counter() - started:.1f} s: dropped {len(counts.partitions_dropped)} "
            f"partitions, {counts.daily_rows_deleted:,} daily rows, rewrote {counts.compacted}"
        )
        print(f"after retention (daily 1 y, weekly 3 y, monthly all): {_mb(await store.sizes())}")

        rng = random.Random(0)
        picks = [ids[rng.choice(universe).symbol] for _ in range(reads)]
        for resolution, span, label in (
            (Resolution.MONTH, None, "10-year monthly"),
            (Resolution.WEEK, timedelta(days=3 * 365), "3-year weekly"),
            (Resolution.DAY, timedelta(days=365), "1-year daily"),
        ):
            samples: list[float] = []
            rows = 0
            for asset_id in picks:
                start = None if span is None else today - span
                got = await _timed(samples, store.read(asset_id, resolution, start, today))
                rows += len(got)
            print(f"read {label} ({rows / len(picks):.0f} rows): {_percentiles(samples)}")
        symbols = [a.symbol for a in universe]
        samples = []
        for _ in range(max(20, reads // 5)):
            found = await _timed(samples, assets.by_symbols(symbols))
            assert len(found) == count
        print(f"by_symbols of {count} symbols: {_percentiles(samples)}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--writers", type=int, default=4, help="concurrent write_daily calls")
    parser.add_argument("--reads", type=int, default=500, help="reads timed per resolution")
    args = parser.parse_args()
    print("$ " + shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    with bench_database() as url:
        upgrade(url)
        asyncio.run(run(url, args.assets, args.years, args.writers, args.reads))


if __name__ == "__main__":
    main()
