"""The periodic refresh and the backfill of PricesService, over fakes and real calendars.

Refresh: one call per provider for every due asset, stocks only while New York trades
(plus one run after the close), closing prices kept fresh until the open, unknown ids
marked and skipped. Backfill: resumable, background priority, unknown ids marked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson
from service_fakes import FakeCandles, FakeDirectory, FakeProvider, crypto, stock

from cachefront.cache import MemoryStore, Overtime, TieredCache
from cachefront.services.prices.keys import LATEST_NAMESPACE
from cachefront.services.prices.markets import MarketHours
from cachefront.services.prices.service import PricesService
from cachefront.services.prices.service_backfill import missing_spans


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _setup(now: str) -> tuple[PricesService, FakeDirectory, FakeProvider, FakeProvider, Clock]:
    directory = FakeDirectory()
    directory.add(crypto("BTC"), crypto("ETH"), stock("AAPL"), stock("MSFT"))
    binance = FakeProvider("binance", known={"BTCUSDT", "ETHUSDT"})
    yahoo = FakeProvider("yahoo", known={"AAPL", "MSFT"})
    clock = Clock(_at(now))
    # The memory tier on the same clock, so fixed dates never read as long past to it.
    cache = TieredCache(
        memory=MemoryStore(clock=clock), overtime=Overtime(deadline=1.0), clock=clock
    )
    service = PricesService(
        cache,
        directory,
        FakeCandles(),
        {"binance": binance, "yahoo": yahoo},
        markets=MarketHours(),
        refresh_seconds=60,
        clock=clock,
    )
    return service, directory, binance, yahoo, clock


async def test_a_refresh_with_the_market_open_makes_one_call_per_provider() -> None:
    service, _, binance, yahoo, _ = _setup("2026-12-01T16:00:00")  # a Tuesday
    async with service.cache:
        report = await service.refresh()
        held = service.cache.memory.peek(LATEST_NAMESPACE, "AAPL")
    assert [set(c[1]) for c in binance.calls] == [{"BTCUSDT", "ETHUSDT"}]
    assert [set(c[1]) for c in yahoo.calls] == [{"AAPL", "MSFT"}]
    assert {c[2] for c in binance.calls + yahoo.calls} == {"background"}
    assert report.priced == {"binance": 2, "yahoo": 2}
    assert report.closed == 0
    assert held is not None
    assert held.fresh_until - held.stored_at == 75


async def test_a_closed_market_costs_no_stock_calls() -> None:
    service, _, binance, yahoo, clock = _setup("2026-12-05T15:00:00")  # a Saturday
    async with service.cache:
        report = await service.refresh()
        clock.now += 3600
        await service.refresh()
    assert yahoo.calls == []
    assert len(binance.calls) == 2
    assert report.closed == 2


async def test_the_run_after_the_close_keeps_closing_prices_fresh_until_the_open() -> None:
    # New York closes at 21:00 UTC in December; this run is 30 s after.
    service, _, _, yahoo, clock = _setup("2026-12-01T21:00:30")
    async with service.cache:
        await service.refresh()
        held = service.cache.memory.peek(LATEST_NAMESPACE, "AAPL")
        clock.now += 60
        await service.refresh()
        crypto_held = service.cache.memory.peek(LATEST_NAMESPACE, "BTC")
    assert len(yahoo.calls) == 1  # the second run, past the close's grace, skips stocks
    assert held is not None
    assert held.fresh_until == _at("2026-12-02T14:30:00")
    assert crypto_held is not None
    assert crypto_held.fresh_until - crypto_held.stored_at == 75


async def test_ids_a_provider_does_not_know_are_marked_and_skipped_next_time() -> None:
    service, directory, binance, _, clock = _setup("2026-12-05T15:00:00")
    directory.add(crypto("GONE"))
    async with service.cache:
        first = await service.refresh()
        clock.now += 60
        await service.refresh()
    assert first.unavailable == ["GONEUSDT"]
    assert directory.unavailable == [("binance", "GONEUSDT")]
    assert "GONEUSDT" in binance.calls[0][1]
    assert "GONEUSDT" not in binance.calls[1][1]


async def test_a_failing_provider_is_reported_and_the_others_still_refresh() -> None:
    service, _, binance, _yahoo, _ = _setup("2026-12-01T16:00:00")
    binance.fail = True
    async with service.cache:
        report = await service.refresh()
    assert "binance" in report.failed
    assert report.priced == {"yahoo": 2}


def test_missing_spans_skip_what_is_stored() -> None:
    today = date(2026, 12, 1)
    start = date(2016, 12, 1)
    assert missing_spans(None, start, today) == [
        (datetime(2016, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    ]
    assert missing_spans((date(2016, 12, 2), today), start, today) == []
    assert missing_spans((date(2020, 1, 1), date(2026, 11, 28)), start, today) == [
        (datetime(2016, 12, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)),
        (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
    ]


async def test_a_backfill_resumes_from_what_is_stored() -> None:
    service, directory, binance, yahoo, clock = _setup("2026-12-01T16:00:00")
    directory.add(crypto("GONE"))
    done: list[tuple[int, int]] = []

    async def advance(count: int, total: int) -> None:
        done.append((count, total))

    async with service.cache:
        first = await service.backfill(["BTC", "AAPL", "GONE"], years=2, advance=advance)
        calls_after_first = len(binance.calls) + len(yahoo.calls)
        again = await service.backfill(["BTC", "AAPL"], years=2)
        clock.now += 3 * 86400
        later = await service.backfill(["BTC"], years=2)
    assert first.assets == 2
    assert first.unavailable == ["GONE"]
    assert first.candles >= 2 * 730
    assert done == [(1, 3), (2, 3), (3, 3)]
    assert {c[2] for c in binance.calls + yahoo.calls} == {"background"}
    assert again.skipped == 2
    assert again.candles == 0
    assert len(binance.calls) + len(yahoo.calls) == calls_after_first + 1
    assert later.candles == 4  # the last stored day again, and the three since
    stored = service.history_store
    assert isinstance(stored, FakeCandles)
    assert max(stored.daily["BTC"]) == date(2026, 12, 4)
    assert min(stored.daily["BTC"]) == date(2026, 12, 1) - timedelta(days=730)


async def test_a_backfill_drops_the_history_answers_cached_before_it() -> None:
    service, _directory, _binance, _yahoo, _clock = _setup("2026-12-01T16:00:00")
    async with service.cache:
        before = orjson.loads((await service.history("BTC", "1y")).body)
        report = await service.backfill(["BTC"], years=2)
        after = orjson.loads((await service.history("BTC", "1y")).body)
    assert before["count"] == 0
    assert report.written == ["BTC"]
    assert after["count"] > 300
    # Range reads may run on a replica: the backfill waited for them once, before the drop.
    stored = service.history_store
    assert isinstance(stored, FakeCandles)
    assert stored.caught_up == 1
