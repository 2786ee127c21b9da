"""Yahoo's chart and quote answers parsed: the real 5-minute sample, daily bars, gaps, errors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cachefront.errors import UpstreamFormatError
from cachefront.services.prices.models import Resolution
from cachefront.services.prices.providers.yahoo_format import is_symbol as yahoo_is_symbol
from cachefront.services.prices.providers.yahoo_format import (
    parse_chart,
    parse_error,
    parse_quotes,
    yahoo_interval,
)

DATA = Path(__file__).parents[2] / "data" / "prices"
TNX = json.loads((DATA / "yahoo_chart_TNX_5m_1d.json").read_text())
NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


def daily_chart() -> dict[str, Any]:
    """The real answer's envelope holding three New York daily bars, the middle a holiday."""
    chart: dict[str, Any] = copy.deepcopy(TNX)
    result = chart["chart"]["result"][0]
    result["meta"].update(
        symbol="AAPL", exchangeTimezoneName="America/New_York", dataGranularity="1d", range=""
    )
    # 2024-07-03, 07-04 (Independence Day) and 07-05, each stamped 09:30 New York.
    result["timestamp"] = [1720013400, 1720099800, 1720186200]
    result["indicators"] = {
        "quote": [
            {
                "open": [220.0, None, 221.5],
                "high": [222.0, None, 226.5],
                "low": [219.5, None, 221.0],
                "close": [221.55, None, 226.34],
                "volume": [37369800, None, 60412400],
            }
        ],
        "adjclose": [{"adjclose": [220.7, None, 225.5]}],
    }
    return chart


def test_real_intraday_sample_keeps_every_bar_and_its_instant() -> None:
    series = parse_chart(json.dumps(TNX))
    assert series.symbol == "^TNX"
    assert series.currency == "USD"
    assert series.timezone == "America/Chicago"
    assert series.granularity == "5m"
    assert len(series.candles) == 15
    first = series.candles[0]
    assert first.start == datetime.fromtimestamp(1770057900, UTC)
    assert first.open == pytest.approx(4.271)
    assert first.close == pytest.approx(4.271)
    assert series.candles[-1].low == pytest.approx(4.269)
    # Intraday answers have no adjusted close.
    assert all(candle.adj_close is None for candle in series.candles)
    assert [c.start for c in series.candles] == sorted(c.start for c in series.candles)


def test_null_bars_are_gaps_never_zeros() -> None:
    chart = copy.deepcopy(TNX)
    quote = chart["chart"]["result"][0]["indicators"]["quote"][0]
    quote["close"][3] = None
    quote["volume"][4] = None
    series = parse_chart(json.dumps(chart))
    assert len(series.candles) == 14
    assert datetime.fromtimestamp(1770058800, UTC) not in [c.start for c in series.candles]
    assert all(c.close > 0 and c.open > 0 for c in series.candles)
    # A null volume alone does not make a gap.
    assert series.candles[3].volume == 0.0


def test_daily_bars_are_dated_by_the_exchange_day_and_keep_adjclose() -> None:
    series = parse_chart(json.dumps(daily_chart()))
    assert [c.start for c in series.candles] == [
        datetime(2024, 7, 3, tzinfo=UTC),
        datetime(2024, 7, 5, tzinfo=UTC),
    ]
    assert [c.adj_close for c in series.candles] == [220.7, 225.5]
    assert series.candles[1].close == 226.34
    assert series.candles[1].volume == 60412400


def test_daily_bars_of_a_zone_ahead_of_utc_keep_their_local_date() -> None:
    chart = daily_chart()
    result = chart["chart"]["result"][0]
    result["meta"]["exchangeTimezoneName"] = "Asia/Tokyo"
    # 2024-07-03 09:00 Tokyo is 2024-07-03 00:00 UTC; 2024-07-05 09:00 is 07-05 00:00.
    result["timestamp"] = [1719964800, 1720051200, 1720137600]
    series = parse_chart(json.dumps(chart))
    assert [c.start.date().isoformat() for c in series.candles] == ["2024-07-03", "2024-07-05"]


def test_empty_range_has_no_bars() -> None:
    chart = copy.deepcopy(TNX)
    result = chart["chart"]["result"][0]
    del result["timestamp"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    assert parse_chart(json.dumps(chart)).candles == []


def test_unknown_symbol_error_body() -> None:
    body = json.dumps(NOT_FOUND)
    error = parse_error(body)
    assert error is not None
    assert error.code == "Not Found"
    assert "delisted" in error.description
    with pytest.raises(UpstreamFormatError, match="Not Found: No data found"):
        parse_chart(body)


@pytest.mark.parametrize(
    "body",
    [
        "Too Many Requests\r\n",
        '{"chart": {"result": []}}',
        '{"nothing": 1}',
        '{"chart": {"result": [{"timestamp": [1], "indicators": {"quote": '
        '[{"open": ["x"], "high": [1], "low": [1], "close": [1]}]}}]}}',
    ],
)
def test_unreadable_charts_are_format_errors(body: str) -> None:
    with pytest.raises(UpstreamFormatError):
        parse_chart(body)


def quote_item(symbol: str, price: float | None, **more: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "quoteType": "EQUITY",
        "currency": "USD",
        "regularMarketPrice": price,
        "regularMarketChangePercent": 0.514591,
        "regularMarketTime": 1756324801,
        "regularMarketPreviousClose": 229.31,
        "exchangeTimezoneName": "America/New_York",
        **more,
    }


def test_quotes_by_symbol_with_time_change_and_currency() -> None:
    body = {
        "quoteResponse": {
            "result": [
                quote_item("AAPL", 230.49),
                quote_item("VOD.L", 71.5, currency="GBp", regularMarketChangePercent=-1.25),
                quote_item("GONE", None),
            ],
            "error": None,
        }
    }
    quotes = parse_quotes(json.dumps(body))
    assert set(quotes) == {"AAPL", "VOD.L"}
    apple = quotes["AAPL"]
    assert apple.price == 230.49
    assert apple.change_24h_pct == 0.514591
    assert apple.at == datetime(2025, 8, 27, 20, 0, 1, tzinfo=UTC)
    assert apple.currency == "USD"
    assert quotes["VOD.L"].currency == "GBp"
    assert quotes["VOD.L"].change_24h_pct == -1.25


def test_quote_errors() -> None:
    invalid_crumb = {
        "finance": {
            "result": None,
            "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
        }
    }
    error = parse_error(json.dumps(invalid_crumb))
    assert error is not None
    assert error.description == "Invalid Crumb"
    with pytest.raises(UpstreamFormatError, match="quoteResponse"):
        parse_quotes(json.dumps(invalid_crumb))
    bad_time = {"quoteResponse": {"result": [quote_item("A", 1.0, regularMarketTime="x")]}}
    with pytest.raises(UpstreamFormatError, match="regularMarketTime"):
        parse_quotes(json.dumps(bad_time))


def test_intervals_are_yahoo_names() -> None:
    assert [yahoo_interval(r) for r in Resolution] == ["60m", "1d", "1wk", "1mo"]


@pytest.mark.parametrize(
    ("symbol", "ok"),
    [
        ("AAPL", True),
        ("^TNX", True),
        ("BRK-B", True),
        ("EURUSD=X", True),
        ("A,B", False),
        ("", False),
        ("A B", False),
        ("X" * 33, False),
    ],
)
def test_which_ids_can_be_sent(symbol: str, ok: bool) -> None:
    assert yahoo_is_symbol(symbol) is ok
