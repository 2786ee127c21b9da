"""PricesService over fake stores and providers and the real cache's memory tier.

Batches (one provider call per provider for the misses, unknown symbols listed, the
limit), single prices and their 404, stale answers when a provider is down or hangs,
and history ranges. Refresh and backfill are in test_service_refresh.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from service_fakes import FakeCandles, FakeDirectory, FakeProvider, crypto, price_of, stock

from cachefront.cache import MemoryStore, Overtime, Tier, TieredCache
from cachefront.errors import InvalidInputError, NotFoundError, UpstreamError
from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.models import Candle
from cachefront.services.prices.service import PricesService

# A Tuesday afternoon in New York: the stock market is open.
TUESDAY = datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _service(
    directory: FakeDirectory,
    *providers: FakeProvider,
    clock: Clock | None = None,
    candles: FakeCandles | None = None,
    deadline: float = 1.0,
    batch_max: int = 1000,
) -> PricesService:
    clock = clock or Clock(TUESDAY)
    # Every part on the one clock: the memory tier expires entries by it too, so a fixed
    # Tuesday must not read as long past to it.
    memory = MemoryStore(clock=clock)
    cache = TieredCache(memory=memory, overtime=Overtime(deadline=deadline), clock=clock)
    return PricesService(
        cache,
        directory,
        candles or FakeCandles(),
        {p.name: p for p in providers},
        markets=MarketHours(),
        refresh_seconds=60,
        batch_max_symbols=batch_max,
        clock=clock,
    )


def _universe() -> tuple[FakeDirectory, FakeProvider, FakeProvider]:
    directory = FakeDirectory()
    directory.add(crypto("BTC"), crypto("ETH"), crypto("SOL"), stock("AAPL"), stock("MSFT"))
    binance = FakeProvider("binance", known={"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    yahoo = FakeProvider("yahoo", known={"AAPL", "MSFT"})
    return directory, binance, yahoo


async def test_a_batch_of_cached_uncached_and_unknown_symbols_calls_each_provider_once() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo)
    async with service.cache:
        await service.batch(["BTC", "AAPL"])  # now cached
        binance.calls.clear()
        yahoo.calls.clear()
        answer = await service.batch(["btc", "ETH", "SOL", "AAPL", "MSFT", "NOPE", "ETH"])
    body = orjson.loads(answer.body)
    assert [p["symbol"] for p in body["prices"]] == ["BTC", "ETH", "SOL", "AAPL", "MSFT"]
    assert (body["cached"], body["fetched"], body["total"]) == (2, 3, 5)
    assert body["unknown"] == ["NOPE"]
    assert body["failed"] == []
    # One call per provider, for exactly the misses.
    assert [c[:2] for c in binance.calls] == [("latest", ("ETHUSDT", "SOLUSDT"))]
    assert [c[:2] for c in yahoo.calls] == [("latest", ("MSFT",))]
    by_symbol = {p["symbol"]: p for p in body["prices"]}
    assert by_symbol["ETH"]["price"] == price_of("ETHUSDT")
    assert by_symbol["BTC"]["source"] == "memory"
    assert by_symbol["ETH"]["source"] == "binance"
    assert not any(p["stale"] for p in body["prices"])


async def test_a_fully_cached_batch_calls_no_provider() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo)
    async with service.cache:
        first = await service.batch(["BTC", "AAPL"])
        calls = len(binance.calls) + len(yahoo.calls)
        again = await service.batch(["AAPL", "BTC"])
    assert calls == 2
    assert len(binance.calls) + len(yahoo.calls) == 2
    assert orjson.loads(again.body)["cached"] == 2
    assert again.tier is Tier.MEMORY
    assert first.tier is Tier.UPSTREAM


async def test_a_batch_over_the_limit_is_refused_naming_the_field() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo, batch_max=3)
    async with service.cache:
        with pytest.raises(InvalidInputError) as caught:
            await service.batch(["A", "B", "C", "D"])
        # Repeats count once: three distinct symbols are within the limit.
        await service.batch(["BTC", "btc", "ETH", "SOL"])
    assert caught.value.field == "symbols"
    assert "limit of 3" in caught.value.detail


async def test_an_empty_batch_is_refused() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo)
    async with service.cache:
        with pytest.raises(InvalidInputError) as caught:
            await service.batch([" ", ""])
    assert caught.value.field == "symbols"


async def test_an_unknown_symbol_is_a_404_naming_close_matches() -> None:
    directory, binance, yahoo = _universe()
    directory.add(crypto("BTCB"))
    service = _service(directory, binance, yahoo)
    async with service.cache:
        with pytest.raises(NotFoundError) as caught:
            await service.latest("BTX")
    detail = str(caught.value)
    assert "BTX" in detail
    assert "BTC" in detail
    assert "BTCB" in detail
    assert binance.calls == []


async def test_a_single_price_is_served_as_stored_then_from_memory() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo)
    async with service.cache:
        first = await service.latest("eth")
        second = await service.latest("ETH")
    record = orjson.loads(first.body)
    assert record == {
        "symbol": "ETH",
        "price": price_of("ETHUSDT"),
        "change_24h_pct": 1.5,
        "currency": "USD",
        "updated_at": "2026-12-01T15:00:00Z",
        "source": "binance",
        "stale": False,
    }
    assert (first.tier, second.tier) == (Tier.UPSTREAM, Tier.MEMORY)
    assert first.etag == second.etag
    assert first.body == second.body
    assert len(binance.calls) == 1


async def test_an_id_the_provider_does_not_know_is_marked_unavailable_and_a_404() -> None:
    directory, binance, yahoo = _universe()
    directory.add(crypto("GONE"))
    service = _service(directory, binance, yahoo)
    async with service.cache:
        with pytest.raises(NotFoundError):
            await service.latest("GONE")
        answer = await service.batch(["GONE", "BTC"])
    assert directory.unavailable == [("binance", "GONEUSDT")]
    assert orjson.loads(answer.body)["unknown"] == ["GONE"]


async def test_a_provider_outage_serves_the_last_price_marked_stale() -> None:
    directory, binance, yahoo = _universe()
    clock = Clock(TUESDAY)
    service = _service(directory, binance, yahoo, clock=clock)
    async with service.cache:
        await service.batch(["BTC", "AAPL"])
        clock.now += 3600  # long past fresh, well within the stale window
        binance.fail = True
        single = await service.latest("BTC")
        batch = await service.batch(["BTC", "AAPL", "ETH"])
    record = orjson.loads(single.body)
    assert record["stale"] is True
    assert record["price"] == price_of("BTCUSDT")
    assert single.tier is Tier.STALE
    body = orjson.loads(batch.body)
    by_symbol = {p["symbol"]: p for p in body["prices"]}
    assert by_symbol["BTC"]["stale"] is True
    assert by_symbol["BTC"]["source"] == "stale"
    # AAPL's last price is served while Yahoo revalidates it; ETH had no last price and
    # Binance is down: failed, not unknown.
    assert "AAPL" in by_symbol
    assert body["failed"] == ["ETH"]
    assert body["unknown"] == []


async def test_a_hung_provider_is_waited_for_only_the_user_deadline() -> None:
    directory, binance, yahoo = _universe()
    clock = Clock(TUESDAY)
    service = _service(directory, binance, yahoo, clock=clock, deadline=0.05)
    async with service.cache:
        await service.latest("BTC")
        clock.now += 3600
        binance.hang = 5.0
        started = datetime.now(UTC)
        answer = await service.latest("BTC")
        waited = datetime.now(UTC) - started
        with pytest.raises(UpstreamError):
            await service.latest("ETH")  # no last price to fall back on: 503
    assert orjson.loads(answer.body)["stale"] is True
    assert waited < timedelta(seconds=1)


async def test_stored_ranges_read_their_resolution_and_bad_ranges_are_refused() -> None:
    directory, binance, yahoo = _universe()
    candles = FakeCandles()
    day = datetime(2026, 11, 30, tzinfo=UTC)
    await candles.write_daily(crypto("BTC"), [Candle(day, 1.0, 3.0, 0.5, 2.0, 7.0)])
    service = _service(directory, binance, yahoo, candles=candles)
    async with service.cache:
        year = await service.history("btc", "1y")
        again = await service.history("BTC", "1y")
        await service.history("BTC", "5y")
        await service.history("BTC", "all")
        with pytest.raises(InvalidInputError) as caught:
            await service.history("BTC", "2w")
    body = orjson.loads(year.body)
    assert body == {
        "symbol": "BTC",
        "range": "1y",
        "resolution": "1d",
        "data": [
            {
                "date": "2026-11-30",
                "open": 1.0,
                "high": 3.0,
                "low": 0.5,
                "close": 2.0,
                "volume": 7.0,
            }
        ],
        "count": 1,
    }
    assert again.tier is Tier.MEMORY
    assert [r for _, r in candles.reads] == ["1d", "1wk", "1mo"]
    assert caught.value.field == "range"
    assert "10y" in caught.value.detail
    assert binance.calls == []


async def test_hourly_ranges_are_fetched_from_the_provider_and_cached() -> None:
    directory, binance, yahoo = _universe()
    service = _service(directory, binance, yahoo)
    async with service.cache:
        day = await service.history("ETH", "1d")
        await service.history("ETH", "1d")
    body = orjson.loads(day.body)
    assert body["resolution"] == "1h"
    assert body["count"] == 24
    assert body["data"][0]["date"].endswith("Z")
    assert binance.calls == [("history", ("ETHUSDT", "1h"), "user")]
