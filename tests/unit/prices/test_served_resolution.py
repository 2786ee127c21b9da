"""Which stored resolution answers a history range, given how long each one is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from service_fakes import FakeCandles, FakeDirectory, FakeProvider, crypto

from cachefront.cache import MemoryStore, Overtime, TieredCache
from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.models import Candle, Resolution
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.service_records import RANGES, served_resolution

# The defaults: daily rows a year, weekly three years, monthly forever.
DEFAULT_KEPT = {Resolution.DAY: timedelta(days=365), Resolution.WEEK: timedelta(days=3 * 365)}


def test_with_the_default_retention_five_years_come_monthly_and_the_rest_as_named() -> None:
    chosen = {
        name: served_resolution(spec, DEFAULT_KEPT.get)
        for name, spec in RANGES.items()
        if not spec.on_demand
    }
    assert chosen == {
        "1m": Resolution.DAY,
        "3m": Resolution.DAY,
        "6m": Resolution.DAY,
        "1y": Resolution.DAY,
        "3y": Resolution.WEEK,
        "5y": Resolution.MONTH,  # weekly rows stop after three years
        "10y": Resolution.MONTH,
        "all": Resolution.MONTH,
    }


def test_keeping_weeks_five_years_serves_five_years_weekly() -> None:
    kept = {**DEFAULT_KEPT, Resolution.WEEK: timedelta(days=5 * 366)}
    assert served_resolution(RANGES["5y"], kept.get) is Resolution.WEEK


def test_keeping_every_day_serves_a_year_daily_and_short_retention_falls_back_twice() -> None:
    forever: dict[Resolution, timedelta] = {}
    assert served_resolution(RANGES["1y"], forever.get) is Resolution.DAY
    thin = {Resolution.DAY: timedelta(days=30), Resolution.WEEK: timedelta(days=60)}
    assert served_resolution(RANGES["6m"], thin.get) is Resolution.MONTH


async def test_the_answer_names_the_resolution_it_was_served_at() -> None:
    directory = FakeDirectory()
    directory.add(crypto("BTC"))
    candles = FakeCandles(kept=dict(DEFAULT_KEPT))
    day = datetime(2026, 11, 1, tzinfo=UTC)
    await candles.write_daily(crypto("BTC"), [Candle(day, 1.0, 3.0, 0.5, 2.0, 7.0)])
    service = PricesService(
        TieredCache(memory=MemoryStore(), overtime=Overtime(deadline=1.0)),
        directory,
        candles,
        {"binance": FakeProvider("binance", known={"BTCUSDT"})},
        markets=MarketHours(),
    )
    async with service.cache:
        five = orjson.loads((await service.history("BTC", "5y")).body)
        three = orjson.loads((await service.history("BTC", "3y")).body)
    assert (five["resolution"], three["resolution"]) == ("1mo", "1wk")
    assert candles.reads == [("BTC", Resolution.MONTH), ("BTC", Resolution.WEEK)]
