"""The Binance simulator over real HTTP: formats, weight header, 429 then 418, counters."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prices_provider_requesters import ManualClock

from cachefront.services.prices.providers.binance_format import (
    parse_exchange_info,
    parse_klines,
    parse_ticker_24hr,
    parse_ticker_price,
    symbols_param,
)
from cachefront.services.prices.simulators import RunningBinance

# The start of a clock minute, plus a second: the weight window is the clock minute.
MINUTE = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 1


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(MINUTE)


@pytest.fixture(scope="module")
def running(clock: ManualClock) -> Iterator[RunningBinance]:
    with RunningBinance(seed=7, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def simulator(running: RunningBinance, clock: ManualClock) -> RunningBinance:
    running.configure(latency_ms=0, error_rate=0.0, rate_limit=6000, ban_seconds=120)
    running.reset()
    clock.now = MINUTE
    return running


@pytest.fixture
def client(simulator: RunningBinance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=10.0) as client:
        yield client


def test_every_answer_carries_the_weight_used_this_minute(client: httpx.Client) -> None:
    steps = [
        ("/api/v3/ticker/price", {"symbol": "BTCUSDT"}, 2),
        ("/api/v3/ticker/price", {}, 4),
        ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
        ("/api/v3/ticker/24hr", {"symbols": symbols_param([f"A{i}USDT" for i in range(21)])}, 40),
        ("/api/v3/ticker/24hr", {}, 80),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1d"}, 2),
        ("/api/v3/exchangeInfo", {}, 20),
    ]
    used = 0
    for path, params, weight in steps:
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        used += weight
        assert answer.headers["x-mbx-used-weight-1m"] == str(used), path


def test_answers_parse_with_the_providers_parsers(client: httpx.Client) -> None:
    prices = parse_ticker_price(client.get("/api/v3/ticker/price").content, datetime.now(UTC))
    assert set(prices) == {
        "BTCUSDT",
        "ETHUSDT",
        "BNBUSDT",
        "SOLUSDT",
        "XRPUSDT",
        "ADAUSDT",
        "ETHBTC",
    }
    tickers = parse_ticker_24hr(client.get("/api/v3/ticker/24hr").content)
    assert tickers["BTCUSDT"].price == pytest.approx(prices["BTCUSDT"].price)
    mini = client.get("/api/v3/ticker/24hr", params={"symbol": "ETHBTC", "type": "MINI"}).json()
    assert "priceChangePercent" not in mini
    assert mini["symbol"] == "ETHBTC"
    pairs = {
        pair.symbol: pair
        for pair in parse_exchange_info(client.get("/api/v3/exchangeInfo").content)
    }
    assert (pairs["ETHBTC"].base_asset, pairs["ETHBTC"].quote_asset) == ("ETH", "BTC")
    info = client.get("/api/v3/exchangeInfo").json()
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }


def test_klines_rows_have_the_real_layout(client: httpx.Client) -> None:
    params = {"symbol": "BTCUSDT", "interval": "1d", "startTime": "1609459200000", "limit": "3"}
    rows = client.get("/api/v3/klines", params=params).json()
    assert len(rows) == 3
    row = rows[0]
    assert row[0] == 1609459200000
    assert row[6] == rows[1][0] - 1
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10))
    assert isinstance(row[8], int)
    assert row[11] == "0"
    candles = parse_klines(json.dumps(rows))
    assert candles[1].open == candles[0].close
    # Without a start: the latest bars, up to now.
    latest = client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1h"}).json()
    assert len(latest) == 500
    assert latest[-1][0] <= MINUTE * 1000 < latest[-1][6]


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v3/ticker/24hr", {"symbol": "NOPE"}, -1121),
        ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","NOPE"]'}, -1121),
        ("/api/v3/ticker/price", {"symbols": "BTCUSDT"}, -1100),
        ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, -1128),
        ("/api/v3/klines", {"symbol": "BTCUSDT"}, -1102),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1d", "limit": "1001"}, -1130),
        ("/api/v3/klines", {"symbol": "NOPE", "interval": "1d"}, -1121),
    ],
)
def test_errors_are_binance_error_bodies(
    client: httpx.Client, path: str, params: dict[str, str], code: int
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str)
    if code == -1121:
        assert body == {"code": -1121, "msg": "Invalid symbol."}


def test_pattern_symbols_exist_and_others_do_not(
    simulator: RunningBinance, client: httpx.Client
) -> None:
    assert client.get("/api/v3/ticker/price", params={"symbol": "ZZZ1USDT"}).status_code == 200
    simulator.configure(symbol_pattern=None)
    assert client.get("/api/v3/ticker/price", params={"symbol": "ZZZ1USDT"}).status_code == 400
    simulator.configure(symbol_pattern=r"[A-Z0-9]{2,10}USDT")


def test_over_the_limit_429_then_continuing_is_banned_with_418(
    simulator: RunningBinance, client: httpx.Client, clock: ManualClock
) -> None:
    simulator.configure(rate_limit=100, ban_seconds=300)
    assert client.get("/api/v3/ticker/24hr").status_code == 200  # 80
    limited = client.get("/api/v3/ticker/24hr")  # 160 > 100
    assert limited.status_code == 429
    assert limited.json()["code"] == -1003
    assert int(limited.headers["retry-after"]) == 59
    assert limited.headers["x-mbx-used-weight-1m"] == "80"
    clock.advance(5)
    banned = client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
    assert banned.status_code == 418
    assert int(banned.headers["retry-after"]) == 300
    # The ban outlives the minute, and its Retry-After counts down.
    clock.advance(100)
    still = client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
    assert still.status_code == 418
    assert int(still.headers["retry-after"]) == 200
    clock.advance(200)
    assert client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).status_code == 200
    stats = simulator.stats()
    assert stats["by_status"] == {"200": 2, "429": 1, "418": 2}
    assert stats["bans"] == 1
    assert stats["weight"] == 82


def test_waiting_out_the_429_avoids_the_ban(
    simulator: RunningBinance, client: httpx.Client, clock: ManualClock
) -> None:
    simulator.configure(rate_limit=80)
    assert client.get("/api/v3/ticker/24hr").status_code == 200
    limited = client.get("/api/v3/ticker/24hr")
    assert limited.status_code == 429
    clock.advance(int(limited.headers["retry-after"]))
    answer = client.get("/api/v3/ticker/24hr")
    assert answer.status_code == 200
    assert answer.headers["x-mbx-used-weight-1m"] == "80"


def test_error_rate_latency_and_counters(simulator: RunningBinance, client: httpx.Client) -> None:
    simulator.configure(error_rate=1.0)
    answer = client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
    assert answer.status_code == 503
    simulator.configure(error_rate=0.0, latency_ms=150)
    began = time.perf_counter()
    assert client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).status_code == 200
    assert time.perf_counter() - began >= 0.15
    stats = simulator.stats()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"503": 1, "200": 1}
    assert stats["by_path"] == {"/api/v3/ticker/price": 2}
    assert stats["used_weight"] == 4
    assert stats["config"]["latency_ms"] == 150


def test_bad_configuration_is_refused(simulator: RunningBinance) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        simulator.configure(error_rate=2)
    with pytest.raises(httpx.HTTPStatusError):
        simulator.configure(colour="blue")
