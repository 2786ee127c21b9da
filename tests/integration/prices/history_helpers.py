"""Helpers of the history tests: assets to write for, random walks, the rollups done in Python."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.history_periods import month_start, week_start
from cachefront.services.prices.models import Asset, AssetType, Candle


async def new_asset(engine: AsyncEngine) -> int:
    """The id of a fresh asset no other test writes for."""
    symbol = "H" + uuid.uuid4().hex[:10].upper()
    store = AssetStore(engine)
    await store.upsert([Asset(symbol, symbol, AssetType.CRYPTO, "binance", symbol, "USD")])
    return (await store.ids([symbol]))[symbol]


def at(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def walk(dates: Sequence[date], seed: int, *, adjusted: bool = False) -> list[Candle]:
    """Deterministic bars with prices of at most six significant digits (exact in float4)
    and whole volumes (exact sums)."""
    rng = random.Random(seed)
    price = rng.uniform(10, 500)
    bars = []
    for day in dates:
        price = max(1.0, price * (1 + rng.gauss(0, 0.02)))
        open_ = round(price * (1 + rng.uniform(-0.01, 0.01)), 2)
        close = round(price, 2)
        high = round(max(open_, close) * (1 + rng.uniform(0, 0.02)), 2)
        low = round(min(open_, close) * (1 - rng.uniform(0, 0.02)), 2)
        adj = round(close * 0.9, 2) if adjusted else None
        bars.append(Candle(at(day), open_, high, low, close, float(rng.randint(0, 10**6)), adj))
    return bars


def rollup(bars: Sequence[Candle], period: Callable[[date], date]) -> list[Candle]:
    """The weekly or monthly bars of ``bars``, computed directly."""
    groups: dict[date, list[Candle]] = defaultdict(list)
    for bar in sorted(bars, key=lambda b: b.start):
        groups[period(bar.start.date())].append(bar)
    return [
        Candle(
            at(start),
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum(b.volume for b in group),
            group[-1].adj_close,
        )
        for start, group in sorted(groups.items())
    ]


def weekly(bars: Sequence[Candle]) -> list[Candle]:
    return rollup(bars, week_start)


def monthly(bars: Sequence[Candle]) -> list[Candle]:
    return rollup(bars, month_start)
