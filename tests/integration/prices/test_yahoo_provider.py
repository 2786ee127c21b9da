"""YahooProvider against the Yahoo simulator over real HTTP: crumb, batches, charts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prices_provider_requesters import ManualClock, PlatformRequester, RecordingRequester

from cachefront.errors import UpstreamStatusError
from cachefront.services.prices.models import Resolution
from cachefront.services.prices.providers import (
    BROWSER_USER_AGENT,
    UnknownAssetError,
    YahooProvider,
)
from cachefront.services.prices.simulators import RunningYahoo
from cachefront.upstream import RetryPolicy, UpstreamClient

UNIVERSE = [f"S{chr(65 + index // 26)}{chr(65 + index % 26)}" for index in range(60)]


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture(scope="module")
def running(clock: ManualClock) -> Iterator[RunningYahoo]:
    with RunningYahoo(seed=13, clock=clock, crumb_ttl_seconds=300) as simulator:
        yield simulator


@pytest.fixture
def simulator(running: RunningYahoo, clock: ManualClock) -> RunningYahoo:
    running.configure(
        latency_ms=0, error_rate=0.0, rate_limit=None, crumb_ttl_seconds=300, cookie_status=200
    )
    running.reset()
    clock.now = time.time()
    return running


@pytest.fixture
async def requester() -> AsyncIterator[RecordingRequester]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield RecordingRequester(client)


def provider(
    simulator: RunningYahoo, requester: RecordingRequester | PlatformRequester, batch: int = 50
) -> YahooProvider:
    return YahooProvider(requester, simulator.base_url, simulator.base_url + "/", batch)


async def test_latest_in_batches_after_one_cookie_and_crumb(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    ids = [*UNIVERSE[:9], "BTC-USD", "NOTASYMBOL1"]
    result = await provider(simulator, requester, batch=4).latest(ids)
    assert set(result.quotes) == {*UNIVERSE[:9], "BTC-USD"}
    assert result.unavailable == frozenset({"NOTASYMBOL1"})
    assert requester.paths() == ["/", "/v1/test/getcrumb"] + ["/v7/finance/quote"] * 3
    batches = [call.params["symbols"].split(",") for call in requester.calls[2:]]
    assert sorted(len(batch) for batch in batches) == [3, 4, 4]
    assert sorted(name for batch in batches for name in batch) == sorted(ids)
    crumbs = {call.params["crumb"] for call in requester.calls[2:]}
    assert len(crumbs) == 1
    quote = result.quotes[UNIVERSE[0]]
    assert quote.currency == "USD"
    assert quote.price > 0
    assert quote.change_24h_pct is not None


async def test_twenty_concurrent_callers_share_one_crumb(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    yahoo = provider(simulator, requester, batch=5)
    results = await asyncio.gather(*(yahoo.latest(UNIVERSE[i : i + 3]) for i in range(0, 60, 3)))
    assert all(len(result.quotes) == 3 for result in results)
    stats = simulator.stats()
    assert stats["cookies_issued"] == 1
    assert stats["crumbs_issued"] == 1
    assert stats["by_path"]["/v7/finance/quote"] == 20
    assert yahoo.session.fetches == 1


async def test_an_expired_crumb_is_renewed_once_and_the_call_repeated(
    simulator: RunningYahoo, requester: RecordingRequester, clock: ManualClock
) -> None:
    yahoo = provider(simulator, requester, batch=2)
    await yahoo.latest(UNIVERSE[:2])
    clock.advance(301)
    # Ten batches at once all meet the expired crumb; one renewal serves them all.
    result = await yahoo.latest(UNIVERSE[:20])
    assert len(result.quotes) == 20
    stats = simulator.stats()
    assert stats["crumbs_issued"] == 2
    assert stats["by_status"]["401"] == 10
    assert stats["by_path"]["/v7/finance/quote"] == 1 + 10 + 10
    assert yahoo.session.fetches == 2


async def test_a_crumb_refused_twice_is_an_error(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    yahoo = provider(simulator, requester)
    await yahoo.latest(UNIVERSE[:1])
    # Every crumb is already expired when it is issued.
    simulator.configure(crumb_ttl_seconds=0)
    with pytest.raises(UpstreamStatusError) as refused:
        await yahoo.latest(UNIVERSE[:1])
    assert refused.value.status_code == 401
    assert "Invalid Crumb" in str(refused.value)
    assert yahoo.session.fetches == 2


async def test_every_call_looks_like_a_browser(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    sent: list[str] = []

    async def remember(request: httpx.Request) -> None:
        sent.append(request.headers.get("user-agent", ""))

    requester.client.event_hooks["request"] = [remember]
    yahoo = provider(simulator, requester)
    await yahoo.latest(UNIVERSE[:1])
    await yahoo.history(
        "AAPL", Resolution.DAY, datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC)
    )
    assert sent == [BROWSER_USER_AGENT] * 4


async def test_daily_history_skips_weekends_and_holiday_gaps_and_keeps_adjclose(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    start, end = datetime(2024, 6, 28, tzinfo=UTC), datetime(2024, 7, 9, tzinfo=UTC)
    candles = await provider(simulator, requester).history("AAPL", Resolution.DAY, start, end)
    assert [c.start.date() for c in candles] == [
        date(2024, 6, 28),
        date(2024, 7, 1),
        date(2024, 7, 2),
        date(2024, 7, 3),
        date(2024, 7, 5),
        date(2024, 7, 8),
    ]
    assert all(c.adj_close is not None and 0 < c.adj_close <= c.close for c in candles)
    assert all(c.close > 0 for c in candles)
    (call,) = requester.calls
    assert call.path == "/v8/finance/chart/AAPL"
    assert call.params["interval"] == "1d"
    assert call.params["period1"] == str(int(start.timestamp()))
    assert call.priority == "background"


async def test_crypto_trades_every_day(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    start = datetime(2024, 6, 28, tzinfo=UTC)
    candles = await provider(simulator, requester).history(
        "BTC-USD", Resolution.DAY, start, start + timedelta(days=10)
    )
    assert [c.start for c in candles] == [start + timedelta(days=i) for i in range(10)]


@pytest.mark.parametrize(
    ("resolution", "start", "end", "count"),
    [
        (Resolution.WEEK, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 12, 30, tzinfo=UTC), 52),
        (Resolution.MONTH, datetime(2015, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), 120),
    ],
)
async def test_weeks_and_months_start_on_mondays_and_firsts(
    simulator: RunningYahoo,
    requester: RecordingRequester,
    resolution: Resolution,
    start: datetime,
    end: datetime,
    count: int,
) -> None:
    candles = await provider(simulator, requester).history("MSFT", resolution, start, end)
    assert len(candles) == count
    if resolution is Resolution.WEEK:
        assert all(c.start.weekday() == 0 for c in candles)
    else:
        assert all(c.start.day == 1 for c in candles)
    assert len(requester.calls) == 1


async def test_hourly_history_keeps_the_session_hours(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    # A recent Wednesday (hourly bars go back 730 days only); no fixed-date holiday is one.
    day = (datetime.now(UTC) - timedelta(days=30)).date()
    while day.weekday() != 2 or day.strftime("%m-%d") in {"01-01", "07-04", "12-25"}:
        day -= timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    candles = await provider(simulator, requester).history(
        "AAPL", Resolution.HOUR, start, start + timedelta(days=1)
    )
    new_york = ZoneInfo("America/New_York")
    local = [c.start.astimezone(new_york) for c in candles]
    # The hours starting inside the 09:30-16:00 session: 10:00 to 15:00.
    assert [moment.hour for moment in local] == list(range(10, 16))
    assert all(moment.date() == day for moment in local)
    assert requester.calls[0].params["interval"] == "60m"


async def test_hourly_history_older_than_730_days_is_refused(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    start = datetime.now(UTC) - timedelta(days=800)
    with pytest.raises(UpstreamStatusError) as refused:
        await provider(simulator, requester).history(
            "AAPL", Resolution.HOUR, start, start + timedelta(days=1)
        )
    assert refused.value.status_code == 422
    assert "730 days" in str(refused.value)


async def test_unknown_symbol_history_raises(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    with pytest.raises(UnknownAssetError) as raised:
        await provider(simulator, requester).history(
            "NOTASYMBOL1", Resolution.DAY, datetime(2024, 1, 1, tzinfo=UTC), datetime.now(UTC)
        )
    assert raised.value.provider == "yahoo"


async def test_too_many_requests_surface_as_429(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    simulator.configure(rate_limit=3)
    yahoo = provider(simulator, requester)
    await yahoo.latest(UNIVERSE[:1])  # cookie, crumb, quote
    with pytest.raises(UpstreamStatusError) as limited:
        await yahoo.latest(UNIVERSE[:1])
    assert limited.value.status_code == 429


async def test_through_the_platform_client(simulator: RunningYahoo, clock: ManualClock) -> None:
    async with UpstreamClient("yahoo", retry=RetryPolicy(attempts=1)) as client:
        requester = PlatformRequester(client)
        yahoo = provider(simulator, requester, batch=10)
        first = await yahoo.latest(UNIVERSE[:15])
        assert len(first.quotes) == 15
        clock.advance(301)
        again = await yahoo.latest(UNIVERSE[:5])
        assert len(again.quotes) == 5
        with pytest.raises(UnknownAssetError):
            await yahoo.history(
                "NOTASYMBOL1", Resolution.DAY, datetime(2024, 1, 1, tzinfo=UTC), datetime.now(UTC)
            )
    stats = simulator.stats()
    assert stats["crumbs_issued"] == 2
    assert stats["by_status"] == {"200": 4 + 1 + 2, "401": 1, "404": 1}


async def test_ids_that_would_break_a_batch_are_unavailable_and_never_sent(
    simulator: RunningYahoo, requester: RecordingRequester
) -> None:
    yahoo = provider(simulator, requester)
    result = await yahoo.latest(["AAPL,MSFT", "", "MSFT"])
    assert set(result.quotes) == {"MSFT"}
    assert result.unavailable == frozenset({"AAPL,MSFT", ""})
    assert [call.params.get("symbols") for call in requester.calls][2:] == ["MSFT"]
    with pytest.raises(UnknownAssetError):
        await yahoo.history(
            "A B", Resolution.DAY, datetime(2024, 1, 1, tzinfo=UTC), datetime.now(UTC)
        )
    assert len(requester.calls) == 3


@pytest.mark.parametrize("platform", [False, True])
async def test_a_cookie_set_on_a_404_page_is_used(
    simulator: RunningYahoo, requester: RecordingRequester, platform: bool
) -> None:
    simulator.configure(cookie_status=404)
    if platform:
        async with UpstreamClient("yahoo", retry=RetryPolicy(attempts=1)) as client:
            # The platform client raises on the 404; its cookie jar keeps the cookie.
            result = await provider(simulator, PlatformRequester(client)).latest(UNIVERSE[:3])
    else:
        result = await provider(simulator, requester).latest(UNIVERSE[:3])
    assert len(result.quotes) == 3
    stats = simulator.stats()
    assert stats["by_status"] == {"404": 1, "200": 2}
    assert stats["crumbs_issued"] == 1
