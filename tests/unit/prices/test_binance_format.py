"""Binance's answers parsed from the real and documented samples, and the weights table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cachefront.errors import UpstreamFormatError
from cachefront.services.prices.models import Resolution
from cachefront.services.prices.providers.binance_format import (
    INVALID_SYMBOL,
    binance_interval,
    is_symbol,
    parse_error,
    parse_exchange_info,
    parse_klines,
    parse_ticker_24hr,
    parse_ticker_price,
    symbols_param,
    ticker_24hr_weight,
)

DATA = Path(__file__).parents[2] / "data" / "prices"
SEPARATOR = "// ---- next documented example ----"


def documented(name: str) -> list[str]:
    """The examples of a .jsonc file as JSON texts, comments stripped."""
    text = (DATA / name).read_text()
    return [re.sub(r"//[^\n]*", "", part) for part in text.split(SEPARATOR)]


def test_real_daily_klines_parse_with_their_open_times_and_prices() -> None:
    candles = parse_klines((DATA / "binance_klines_BTCUSDT_1d_2021-01-01.json").read_bytes())
    assert [c.start for c in candles] == [
        datetime(2021, 1, 1, tzinfo=UTC),
        datetime(2021, 1, 2, tzinfo=UTC),
    ]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close) == (
        28923.63,
        29600.0,
        28624.57,
        29331.69,
    )
    assert first.volume == pytest.approx(54182.925011)
    assert first.adj_close is None
    assert candles[1].close == 32178.33


def test_documented_kline_example_parses() -> None:
    (text,) = documented("binance_doc_klines_example.jsonc")
    (candle,) = parse_klines(text)
    assert candle.start == datetime.fromtimestamp(1499040000, UTC)
    assert (candle.open, candle.high, candle.low, candle.close) == (
        0.0163479,
        0.8,
        0.015758,
        0.015771,
    )


def test_ticker_24hr_full_single_and_array_examples() -> None:
    single, array, _mini, _mini_array = documented("binance_doc_ticker_24hr_examples.jsonc")
    for text in (single, array):
        quote = parse_ticker_24hr(text)["BNBBTC"]
        assert quote.price == 4.000002
        assert quote.change_24h_pct == -95.96
        assert quote.at == datetime.fromtimestamp(1499869899.040, UTC)


def test_ticker_24hr_mini_computes_the_change_from_the_open() -> None:
    _single, _array, mini, mini_array = documented("binance_doc_ticker_24hr_examples.jsonc")
    quote = parse_ticker_24hr(mini)["BNBBTC"]
    assert quote.price == 4.000002
    assert quote.change_24h_pct == pytest.approx((4.000002 / 99.0 - 1) * 100)
    quotes = parse_ticker_24hr(mini_array)
    assert set(quotes) == {"BNBBTC", "LTCBTC"}


def test_ticker_price_single_and_array_examples() -> None:
    single, array = documented("binance_doc_ticker_price_examples.jsonc")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_ticker_price(single, at)["LTCBTC"].price == 4.000002
    quotes = parse_ticker_price(array, at)
    assert {k: q.price for k, q in quotes.items()} == {"LTCBTC": 4.000002, "ETHBTC": 0.079466}
    assert all(q.change_24h_pct is None and q.at == at for q in quotes.values())


def test_error_bodies() -> None:
    error = parse_error(b'{"code": -1121, "msg": "Invalid symbol."}')
    assert error is not None
    assert error.unknown_symbol
    assert error.code == INVALID_SYMBOL
    other = parse_error(b'{"code": -1003, "msg": "Too much request weight used"}')
    assert other is not None
    assert not other.unknown_symbol
    assert "weight" in other.msg
    assert parse_error(b"<html>502 Bad Gateway</html>") is None
    assert parse_error(b"[]") is None
    assert parse_error(b"") is None


def test_exchange_info_trading_pairs() -> None:
    body = {
        "timezone": "UTC",
        "serverTime": 1565246363776,
        "rateLimits": [],
        "symbols": [
            {"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC"},
            {"symbol": "LUNAUSDT", "status": "BREAK", "baseAsset": "LUNA", "quoteAsset": "USDT"},
        ],
    }
    pairs = parse_exchange_info(json.dumps(body))
    assert [(p.symbol, p.base_asset, p.quote_asset, p.trading) for p in pairs] == [
        ("ETHBTC", "ETH", "BTC", True),
        ("LUNAUSDT", "LUNA", "USDT", False),
    ]
    with pytest.raises(UpstreamFormatError, match="baseAsset"):
        parse_exchange_info('{"symbols": [{"symbol": "X", "status": "TRADING"}]}')


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"symbol": "X"}',
        b"[[1, 2]]",
        b'[["soon", "1", "1", "1", "1", "1"]]',
        b'[[1499040000000, "1", "x", "1", "1", "1"]]',
    ],
)
def test_malformed_klines_are_format_errors(body: bytes) -> None:
    with pytest.raises(UpstreamFormatError):
        parse_klines(body)


def test_malformed_tickers_are_format_errors() -> None:
    with pytest.raises(UpstreamFormatError, match="lastPrice"):
        parse_ticker_24hr('{"symbol": "A", "lastPrice": null, "closeTime": 1}')
    with pytest.raises(UpstreamFormatError, match="closeTime"):
        parse_ticker_24hr('{"symbol": "A", "lastPrice": "1", "priceChangePercent": "0"}')
    with pytest.raises(UpstreamFormatError):
        parse_ticker_24hr("[1, 2]")


@pytest.mark.parametrize(
    ("count", "weight"), [(1, 2), (20, 2), (21, 40), (100, 40), (101, 80), (None, 80)]
)
def test_ticker_24hr_weights_follow_the_published_table(count: int | None, weight: int) -> None:
    assert ticker_24hr_weight(count) == weight


def test_symbols_param_is_a_compact_json_list_and_intervals_are_binance_names() -> None:
    assert symbols_param(["BTCUSDT", "BNBUSDT"]) == '["BTCUSDT","BNBUSDT"]'
    assert [binance_interval(r) for r in Resolution] == ["1h", "1d", "1w", "1M"]


@pytest.mark.parametrize(
    ("symbol", "ok"),
    [
        ("BTCUSDT", True),
        ("1000SHIBUSDT", True),
        ("btcusdt", False),
        ("BTC USDT", False),
        ("", False),
        ("X" * 21, False),
        ('BTC"USDT', False),
    ],
)
def test_which_ids_can_be_sent(symbol: str, ok: bool) -> None:
    assert is_symbol(symbol) is ok
