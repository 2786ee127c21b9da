"""The Yahoo simulator over real HTTP: cookie and crumb flow, chart and quote shapes, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prices_provider_requesters import ManualClock

from cachefront.services.prices.providers.yahoo_format import parse_chart, parse_quotes
from cachefront.services.prices.simulators import RunningYahoo

# Wednesday 2025-07-09 18:00 UTC: New York is open (14:00 EDT).
OPEN_NOW = datetime(2025, 7, 9, 18, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(OPEN_NOW)


@pytest.fixture(scope="module")
def running(clock: ManualClock) -> Iterator[RunningYahoo]:
    with RunningYahoo(seed=3, clock=clock, symbols=["ODD_ONE"]) as simulator:
        yield simulator


@pytest.fixture
def simulator(running: RunningYahoo, clock: ManualClock) -> RunningYahoo:
    running.configure(latency_ms=0, error_rate=0.0, rate_limit=None, crumb_ttl_seconds=3600)
    running.reset()
    clock.now = OPEN_NOW
    return running


@pytest.fixture
def client(simulator: RunningYahoo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=10.0) as client:
        yield client


def session(client: httpx.Client) -> str:
    """Take the cookie (kept by the client) and return a crumb for it."""
    answer = client.get("/")
    assert answer.status_code == 200
    assert "A3" in answer.cookies
    crumb = client.get("/v1/test/getcrumb")
    assert crumb.status_code == 200
    assert crumb.headers["content-type"].startswith("text/plain")
    return crumb.text


def test_quotes_need_the_cookie_and_its_crumb(client: httpx.Client) -> None:
    params = {"symbols": "AAPL,MSFT"}
    refused = client.get("/v7/finance/quote", params=params)
    assert refused.status_code == 401
    assert refused.json()["finance"]["error"] == {
        "code": "Unauthorized",
        "description": "Invalid Cookie",
    }
    assert client.get("/v1/test/getcrumb").status_code == 401
    crumb = session(client)
    no_crumb = client.get("/v7/finance/quote", params=params)
    assert no_crumb.json()["finance"]["error"]["description"] == "Invalid Crumb"
    answer = client.get("/v7/finance/quote", params={**params, "crumb": crumb})
    assert answer.status_code == 200
    assert set(parse_quotes(answer.content)) == {"AAPL", "MSFT"}


def test_a_crumb_belongs_to_its_cookie_and_expires(
    simulator: RunningYahoo, client: httpx.Client, clock: ManualClock
) -> None:
    crumb = session(client)
    with httpx.Client(base_url=simulator.base_url, timeout=10.0) as other:
        session(other)
        stolen = other.get("/v7/finance/quote", params={"symbols": "AAPL", "crumb": crumb})
        assert stolen.status_code == 401
    simulator.configure(crumb_ttl_seconds=60)
    params = {"symbols": "AAPL", "crumb": crumb}
    clock.advance(59)
    assert client.get("/v7/finance/quote", params=params).status_code == 200
    clock.advance(1)
    expired = client.get("/v7/finance/quote", params=params)
    assert expired.status_code == 401
    assert expired.json()["finance"]["error"]["description"] == "Invalid Crumb"
    stats = simulator.stats()
    assert stats["cookies_issued"] == 2
    assert stats["crumbs_issued"] == 2


def test_quote_fields_while_open_and_closed(
    simulator: RunningYahoo, client: httpx.Client, clock: ManualClock
) -> None:
    simulator.configure(crumb_ttl_seconds=7 * 86400)
    crumb = session(client)
    params = {"symbols": "AAPL,BTC-USD,VOD.L,NOTASYMBOL1", "crumb": crumb}
    body = client.get("/v7/finance/quote", params=params).json()
    items = {item["symbol"]: item for item in body["quoteResponse"]["result"]}
    assert set(items) == {"AAPL", "BTC-USD", "VOD.L"}
    apple = items["AAPL"]
    assert apple["marketState"] == "REGULAR"
    assert apple["regularMarketTime"] == int(OPEN_NOW)
    assert apple["exchangeTimezoneName"] == "America/New_York"
    change = (apple["regularMarketPrice"] / apple["regularMarketPreviousClose"] - 1) * 100
    assert apple["regularMarketChangePercent"] == pytest.approx(change, abs=1e-4)
    assert items["VOD.L"]["currency"] == "GBp"
    assert items["BTC-USD"]["quoteType"] == "CRYPTOCURRENCY"
    # Saturday: the stock's price is Friday's close, crypto's is now.
    clock.now = datetime(2025, 7, 12, 15, tzinfo=UTC).timestamp()
    body = client.get("/v7/finance/quote", params=params).json()
    items = {item["symbol"]: item for item in body["quoteResponse"]["result"]}
    assert items["AAPL"]["marketState"] == "CLOSED"
    friday_close = datetime(2025, 7, 11, 20, tzinfo=UTC)  # 16:00 EDT
    assert items["AAPL"]["regularMarketTime"] == int(friday_close.timestamp())
    assert items["BTC-USD"]["regularMarketTime"] == int(clock.now)


def test_daily_chart_has_holiday_nulls_not_zeros(client: httpx.Client) -> None:
    period1 = int(datetime(2025, 6, 30, tzinfo=UTC).timestamp())
    period2 = int(datetime(2025, 7, 8, tzinfo=UTC).timestamp())
    answer = client.get(
        "/v8/finance/chart/AAPL",
        params={"period1": str(period1), "period2": str(period2), "interval": "1d"},
    )
    assert answer.status_code == 200
    result = answer.json()["chart"]["result"][0]
    days = [datetime.fromtimestamp(t, UTC) for t in result["timestamp"]]
    # Mon-Thu, Fri (the 4th, a holiday: nulls), Mon; each stamped 09:30 New York.
    assert [d.day for d in days] == [30, 1, 2, 3, 4, 7]
    assert all((d.hour, d.minute) == (13, 30) for d in days)
    quote = result["indicators"]["quote"][0]
    assert [quote["close"][4], quote["open"][4], quote["volume"][4]] == [None, None, None]
    assert all(value is not None and value > 0 for value in quote["close"][:4])
    assert result["indicators"]["adjclose"][0]["adjclose"][4] is None
    meta = result["meta"]
    assert (meta["currency"], meta["exchangeTimezoneName"], meta["dataGranularity"]) == (
        "USD",
        "America/New_York",
        "1d",
    )
    series = parse_chart(answer.content)
    assert len(series.candles) == 5


def test_chart_range_and_empty_range(client: httpx.Client) -> None:
    answer = client.get("/v8/finance/chart/MSFT", params={"range": "1y", "interval": "1wk"})
    result = answer.json()["chart"]["result"][0]
    assert result["meta"]["range"] == "1y"
    assert 51 <= len(result["timestamp"]) <= 53
    weekend = {
        "period1": str(int(datetime(2025, 7, 5, tzinfo=UTC).timestamp())),
        "period2": str(int(datetime(2025, 7, 6, tzinfo=UTC).timestamp())),
    }
    empty = client.get("/v8/finance/chart/MSFT", params=weekend).json()["chart"]["result"][0]
    assert "timestamp" not in empty
    assert parse_chart(client.get("/v8/finance/chart/MSFT", params=weekend).content).candles == []


@pytest.mark.parametrize(
    ("symbol", "params", "status", "code"),
    [
        ("NOTASYMBOL1", {"range": "1mo"}, 404, "Not Found"),
        ("AAPL", {"interval": "7m"}, 400, "Bad Request"),
        ("AAPL", {"range": "7y"}, 422, "Unprocessable Entity"),
        ("AAPL", {"interval": "60m", "range": "5y"}, 422, "Unprocessable Entity"),
        ("AAPL", {"period1": "soon"}, 400, "Bad Request"),
    ],
)
def test_chart_errors_have_the_real_envelope(
    client: httpx.Client, symbol: str, params: dict[str, str], status: int, code: str
) -> None:
    answer = client.get(f"/v8/finance/chart/{symbol}", params=params)
    assert answer.status_code == status
    chart = answer.json()["chart"]
    assert chart["result"] is None
    assert chart["error"]["code"] == code


def test_extra_symbols_exist_beside_the_pattern(client: httpx.Client) -> None:
    assert client.get("/v8/finance/chart/ODD_ONE").status_code == 200


def test_rate_limit_error_rate_latency_and_counters(
    simulator: RunningYahoo, client: httpx.Client
) -> None:
    simulator.configure(rate_limit=2)
    statuses = [client.get("/v8/finance/chart/AAPL").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.get("/v8/finance/chart/AAPL")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.text.startswith("Too Many Requests")
    simulator.reset()
    simulator.configure(rate_limit=None, error_rate=1.0)
    assert client.get("/").status_code == 503
    simulator.configure(error_rate=0.0, latency_ms=120)
    began = time.perf_counter()
    assert client.get("/v8/finance/chart/AAPL").status_code == 200
    assert time.perf_counter() - began >= 0.12
    stats = simulator.stats()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"503": 1, "200": 1}
    assert stats["by_path"] == {"/": 1, "/v8/finance/chart": 1}


def test_intraday_bars_stay_in_the_session(client: httpx.Client) -> None:
    start = datetime(2025, 7, 9, tzinfo=UTC)
    params = {
        "period1": str(int(start.timestamp())),
        "period2": str(int((start + timedelta(days=1)).timestamp())),
        "interval": "60m",
    }
    series = parse_chart(client.get("/v8/finance/chart/AAPL", params=params).content)
    assert [c.start.hour for c in series.candles] == list(range(14, 18))
