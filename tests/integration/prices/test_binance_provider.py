"""BinanceProvider against the Binance simulator over real HTTP: calls, weights, paging."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from prices_provider_requesters import ManualClock, PlatformRequester, RecordingRequester

from cachefront.errors import UpstreamStatusError
from cachefront.services.prices.models import Resolution
from cachefront.services.prices.providers import BinanceProvider, UnknownAssetError
from cachefront.services.prices.simulators import RunningBinance
from cachefront.services.prices.simulators.binance import LISTED
from cachefront.upstream import RetryPolicy, UpstreamClient

# Listed symbols: exchangeInfo and the all-symbols tickers name exactly these.
LISTED_SYMBOLS = [f"C{index:03d}USDT" for index in range(150)]


@pytest.fixture(scope="module")
def running() -> Iterator[RunningBinance]:
    with RunningBinance(seed=13, symbols=LISTED_SYMBOLS, halted=["C149USDT"]) as simulator:
        yield simulator


@pytest.fixture
def simulator(running: RunningBinance) -> RunningBinance:
    running.configure(latency_ms=0, error_rate=0.0, rate_limit=6000)
    running.reset()
    return running


@pytest.fixture
async def requester() -> AsyncIterator[RecordingRequester]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield RecordingRequester(client)


def provider(simulator: RunningBinance, requester: RecordingRequester) -> BinanceProvider:
    return BinanceProvider(requester, simulator.base_url)


@pytest.mark.parametrize(("count", "weight"), [(3, 2), (20, 2), (21, 40), (100, 40)])
async def test_latest_is_one_symbols_call_charged_its_weight(
    simulator: RunningBinance, requester: RecordingRequester, count: int, weight: int
) -> None:
    ids = LISTED_SYMBOLS[:count]
    result = await provider(simulator, requester).latest(ids)
    assert set(result.quotes) == set(ids)
    assert result.unavailable == frozenset()
    (call,) = requester.calls
    assert call.path == "/api/v3/ticker/24hr"
    assert json.loads(call.params["symbols"]) == ids
    assert call.cost == weight
    assert call.priority == "user"
    stats = simulator.stats()
    assert stats["weight"] == weight
    assert stats["by_path"] == {"/api/v3/ticker/24hr": 1}


async def test_more_than_a_hundred_ids_ask_for_every_symbol_at_weight_80(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    ids = [*LISTED_SYMBOLS[:120], "INVENTEDUSDT"]
    result = await provider(simulator, requester).latest(ids, priority="background")
    (call,) = requester.calls
    assert call.params == {}
    assert call.cost == 80
    assert call.priority == "background"
    assert set(result.quotes) == set(LISTED_SYMBOLS[:120])
    # Matching the pattern is not enough to be in the all-symbols answer.
    assert result.unavailable == frozenset({"INVENTEDUSDT"})
    assert simulator.stats()["weight"] == 80


async def test_an_invalid_symbol_in_the_list_falls_back_to_all_and_is_unavailable(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    result = await provider(simulator, requester).latest(["C001USDT", "NOPE", "C002USDT"])
    assert set(result.quotes) == {"C001USDT", "C002USDT"}
    assert result.unavailable == frozenset({"NOPE"})
    assert [call.cost for call in requester.calls] == [2, 80]
    assert simulator.stats()["by_status"] == {"400": 1, "200": 1}


async def test_quotes_are_the_simulators_current_prices(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    before = datetime.now(UTC)
    result = await provider(simulator, requester).latest(["C007USDT"])
    quote = result.quotes["C007USDT"]
    raw = await requester.client.get(
        simulator.base_url + "/api/v3/ticker/24hr", params={"symbol": "C007USDT"}
    )
    assert quote.price == pytest.approx(float(raw.json()["lastPrice"]), rel=1e-3)
    assert quote.change_24h_pct is not None
    assert abs(quote.change_24h_pct) < 50
    assert before - timedelta(seconds=1) <= quote.at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_no_ids_make_no_call(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    result = await provider(simulator, requester).latest([])
    assert result.quotes == {}
    assert requester.calls == []


async def test_daily_history_pages_oldest_first_without_gaps_or_repeats(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    start, end = datetime(2019, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    candles = await provider(simulator, requester).history("C010USDT", Resolution.DAY, start, end)
    days = (end - start).days
    assert [c.start for c in candles] == [start + timedelta(days=i) for i in range(days)]
    assert [call.path for call in requester.calls] == ["/api/v3/klines"] * 2
    assert [call.cost for call in requester.calls] == [2, 2]
    assert requester.calls[0].params["limit"] == "1000"
    assert requester.calls[0].params["interval"] == "1d"
    assert all(call.priority == "background" for call in requester.calls)
    assert simulator.stats()["weight"] == 4
    for before, after in itertools.pairwise(candles):
        assert after.open == pytest.approx(before.close)


@pytest.mark.parametrize(
    ("resolution", "first", "count"),
    [
        (Resolution.HOUR, datetime(2025, 3, 1, tzinfo=UTC), 72),
        (Resolution.WEEK, datetime(2024, 1, 1, tzinfo=UTC), 52),
        (Resolution.MONTH, datetime(2020, 1, 1, tzinfo=UTC), 36),
    ],
)
async def test_other_resolutions(
    simulator: RunningBinance,
    requester: RecordingRequester,
    resolution: Resolution,
    first: datetime,
    count: int,
) -> None:
    end = {
        Resolution.HOUR: first + timedelta(hours=72),
        Resolution.WEEK: first + timedelta(weeks=52),
        Resolution.MONTH: datetime(2023, 1, 1, tzinfo=UTC),
    }[resolution]
    candles = await provider(simulator, requester).history("C011USDT", resolution, first, end)
    assert len(candles) == count
    assert candles[0].start == first
    if resolution is Resolution.WEEK:
        assert all(c.start.weekday() == 0 for c in candles)
    if resolution is Resolution.MONTH:
        assert [c.start.date() for c in candles[:3]] == [date(2020, m, 1) for m in (1, 2, 3)]


async def test_history_begins_at_the_listing(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    candles = await provider(simulator, requester).history(
        "C012USDT",
        Resolution.DAY,
        datetime(2017, 1, 1, tzinfo=UTC),
        datetime(2017, 9, 1, tzinfo=UTC),
    )
    assert candles[0].start == LISTED
    assert len(candles) == 15


async def test_history_of_an_unknown_symbol_raises(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    with pytest.raises(UnknownAssetError) as raised:
        await provider(simulator, requester).history(
            "nope",
            Resolution.DAY,
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 2, 1, tzinfo=UTC),
        )
    assert raised.value.provider_id == "nope"


async def test_exchange_info_lists_trading_pairs_at_weight_20(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    pairs = await provider(simulator, requester).exchange_info()
    assert [pair.symbol for pair in pairs] == LISTED_SYMBOLS
    first = pairs[0]
    assert (first.base_asset, first.quote_asset, first.trading) == ("C000", "USDT", True)
    assert [pair.symbol for pair in pairs if not pair.trading] == ["C149USDT"]
    assert requester.calls[0].cost == 20
    assert simulator.stats()["weight"] == 20


async def test_rate_limit_and_ban_surface_as_status_errors(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    binance = provider(simulator, requester)
    simulator.configure(rate_limit=39)
    with pytest.raises(UpstreamStatusError) as limited:
        await binance.latest(LISTED_SYMBOLS[:30])
    assert limited.value.status_code == 429
    with pytest.raises(UpstreamStatusError) as banned:
        await binance.latest(LISTED_SYMBOLS[:2])
    assert banned.value.status_code == 418
    assert simulator.stats()["by_status"] == {"429": 1, "418": 1}


async def test_through_the_platform_client(simulator: RunningBinance) -> None:
    async with UpstreamClient("binance", retry=RetryPolicy(attempts=1)) as client:
        requester = PlatformRequester(client)
        binance = BinanceProvider(requester, simulator.base_url)
        result = await binance.latest(["C003USDT", "NOPE"])
        assert set(result.quotes) == {"C003USDT"}
        assert result.unavailable == frozenset({"NOPE"})
        with pytest.raises(UnknownAssetError):
            await binance.history(
                "NOPE", Resolution.DAY, datetime(2024, 1, 1, tzinfo=UTC), datetime.now(UTC)
            )
        assert requester.costs == [2, 80, 2]
    assert simulator.stats()["by_status"] == {"400": 2, "200": 1}


async def test_the_simulators_clock_drives_its_weight_window() -> None:
    clock = ManualClock(1_800_000_000.0)
    with RunningBinance(clock=clock, rate_limit=100) as simulator:
        async with httpx.AsyncClient(timeout=10.0) as client:
            binance = BinanceProvider(RecordingRequester(client), simulator.base_url)
            await binance.latest([*LISTED_SYMBOLS[:1], "BTCUSDT"])
            clock.advance(61)
            assert simulator.stats()["used_weight"] == 0
            await binance.latest(["BTCUSDT"])
            assert simulator.stats()["used_weight"] == 2


async def test_malformed_ids_are_unavailable_and_never_sent(
    simulator: RunningBinance, requester: RecordingRequester
) -> None:
    binance = provider(simulator, requester)
    result = await binance.latest(["btcusdt", "BTC USDT", "C004USDT"])
    assert set(result.quotes) == {"C004USDT"}
    assert result.unavailable == frozenset({"btcusdt", "BTC USDT"})
    assert [json.loads(call.params["symbols"]) for call in requester.calls] == [["C004USDT"]]
    only_bad = await binance.latest(["bad one"])
    assert only_bad.unavailable == frozenset({"bad one"})
    with pytest.raises(UnknownAssetError):
        await binance.history(
            "btc/usdt", Resolution.DAY, datetime(2024, 1, 1, tzinfo=UTC), datetime.now(UTC)
        )
    assert len(requester.calls) == 1
