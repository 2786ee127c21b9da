"""Refresh, outages and backfill of PricesService over the real tables and simulators.

The service runs as the room builds it: the assets and history tables in PostgreSQL,
the Binance and Yahoo providers over platform upstream clients, the simulators over
HTTP. Only the assets it sees are narrowed to the test's own (the session shares one
assets table), and its clock is driven, so "a Saturday" is a Saturday.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import MemoryStore, Overtime, TieredCache
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.history import HistoryStore
from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.providers import BinanceProvider, YahooProvider
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.service_stores import TableCandles, TableDirectory
from cachefront.services.prices.simulators import RunningBinance, RunningYahoo
from cachefront.upstream import OutboundBudget, RetryPolicy, UpstreamClient

TICKER = "/api/v3/ticker/24hr"
KLINES = "/api/v3/klines"
QUOTE = "/v7/finance/quote"
CHART = "/v8/finance/chart/"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class OwnAssets(TableDirectory):
    """The assets table, narrowed to the symbols of one test."""

    def __init__(self, table: AssetStore, prefix: str) -> None:
        super().__init__(table)
        self.prefix = prefix

    async def all(self) -> list[Asset]:
        return [a for a in await super().all() if a.symbol.startswith(self.prefix)]


@dataclass
class Rig:
    service: PricesService
    clock: Clock
    binance: RunningBinance
    yahoo: RunningYahoo
    tag: str

    def calls(self, simulator: RunningBinance | RunningYahoo, path: str) -> int:
        by_path: dict[str, int] = simulator.stats()["by_path"]
        return sum(count for name, count in by_path.items() if name.startswith(path))


@pytest.fixture(scope="module")
def binance() -> Iterator[RunningBinance]:
    with RunningBinance(seed=11) as running:
        yield running


@pytest.fixture(scope="module")
def yahoo() -> Iterator[RunningYahoo]:
    with RunningYahoo(seed=11) as running:
        yield running


def _client(name: str) -> UpstreamClient:
    return UpstreamClient(
        name,
        timeout=5,
        retry=RetryPolicy(attempts=1),
        budget=OutboundBudget("100000/minute", name=name),
    )


@pytest.fixture
async def rig(
    engine: AsyncEngine, binance: RunningBinance, yahoo: RunningYahoo
) -> AsyncIterator[Rig]:
    binance.reset()
    yahoo.reset()
    binance.configure(error_rate=0.0, latency_ms=0)
    tag = "".join(random.choices(string.ascii_uppercase, k=3))
    table = AssetStore(engine)
    await table.upsert(
        [Asset(f"{tag}{c}", c, AssetType.CRYPTO, "binance", f"{tag}{c}USDT", "USD") for c in "AB"]
        + [Asset(f"{tag}{c}", c, AssetType.STOCK, "yahoo", f"{tag}{c}", "USD") for c in "CD"]
    )
    directory = OwnAssets(table, tag)
    history = HistoryStore(engine, keep_daily_days=365, keep_weekly_days=1095, keep_all_daily=True)
    clock = Clock(_at("2026-12-01T16:00:00"))
    cache = TieredCache(memory=MemoryStore(), overtime=Overtime(deadline=0.5), clock=clock)
    async with _client("binance") as b_client, _client("yahoo") as y_client, cache:
        service = PricesService(
            cache,
            directory,
            TableCandles(history, directory),
            {
                "binance": BinanceProvider(b_client, binance.base_url),
                "yahoo": YahooProvider(y_client, yahoo.base_url, yahoo.base_url, 50),
            },
            markets=MarketHours(),
            refresh_seconds=60,
            clock=clock,
        )
        yield Rig(service, clock, binance, yahoo, tag)


async def test_a_refresh_with_the_market_open_calls_each_provider_once(rig: Rig) -> None:
    report = await rig.service.refresh()
    assert report.priced == {"binance": 2, "yahoo": 2}
    assert rig.calls(rig.binance, TICKER) == 1
    assert rig.calls(rig.yahoo, QUOTE) == 1
    answer = await rig.service.batch([f"{rig.tag}A", f"{rig.tag}C"])
    assert answer.tier.value == "memory"


async def test_a_closed_market_makes_no_stock_calls(rig: Rig) -> None:
    rig.clock.now = _at("2026-12-05T15:00:00")  # a Saturday
    report = await rig.service.refresh()
    rig.clock.now += 60
    await rig.service.refresh()
    assert report.closed == 2
    assert rig.yahoo.stats()["requests"] == 0
    assert rig.calls(rig.binance, TICKER) == 2


async def test_a_provider_outage_serves_the_last_price_stale(rig: Rig) -> None:
    await rig.service.refresh()
    rig.clock.now += 3600
    rig.binance.configure(error_rate=1.0)
    started = datetime.now(UTC)
    answer = await rig.service.latest(f"{rig.tag}A")
    waited = (datetime.now(UTC) - started).total_seconds()
    report = await rig.service.refresh()
    assert b'"stale":true' in answer.body
    assert waited < 2.0
    assert "binance" in report.failed


async def test_a_backfill_is_resumable_and_feeds_the_history_routes(rig: Rig) -> None:
    symbols = [f"{rig.tag}A", f"{rig.tag}C"]
    first = await rig.service.backfill(symbols, years=2)
    calls = rig.calls(rig.binance, KLINES) + rig.calls(rig.yahoo, CHART)
    again = await rig.service.backfill(symbols, years=2)
    year = await rig.service.history(f"{rig.tag}A", "1y")
    assert first.assets == 2
    assert first.failed == {}
    assert first.candles > 2 * 365  # every day of the coin, the trading days of the stock
    assert again.skipped == 2
    assert rig.calls(rig.binance, KLINES) + rig.calls(rig.yahoo, CHART) == calls
    assert b'"resolution":"1d"' in year.body
    assert year.body.count(b'"date"') >= 360
