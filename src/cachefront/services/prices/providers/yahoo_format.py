"""Pure parsers for Yahoo Finance's chart and multi-symbol quote answers (no I/O)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cachefront.errors import UpstreamFormatError
from cachefront.services.prices.models import Candle, Quote, Resolution

__all__ = [
    "CHART_PATH",
    "CRUMB_PATH",
    "QUOTE_PATH",
    "YAHOO",
    "ChartSeries",
    "YahooError",
    "is_symbol",
    "parse_chart",
    "parse_error",
    "parse_quotes",
    "yahoo_interval",
]

YAHOO = "yahoo"
CHART_PATH = "/v8/finance/chart/"
QUOTE_PATH = "/v7/finance/quote"
CRUMB_PATH = "/v1/test/getcrumb"

_INTERVALS = {
    Resolution.HOUR: "60m",
    Resolution.DAY: "1d",
    Resolution.WEEK: "1wk",
    Resolution.MONTH: "1mo",
}
_INTRADAY = {"1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h"}


@dataclass(frozen=True, slots=True)
class YahooError:
    """An error member: ``{"code": "Not Found", "description": "No data found, ..."}``."""

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """One chart answer: the bars that have values, and what the meta says about them."""

    symbol: str
    currency: str | None
    timezone: str | None
    granularity: str | None
    candles: list[Candle]


def is_symbol(provider_id: str) -> bool:
    """True when ``provider_id`` can be sent: a comma would split a quote batch, and
    Yahoo symbols have no spaces or slashes."""
    return 0 < len(provider_id) <= 32 and not any(c in provider_id for c in ", /\t\n")


def yahoo_interval(resolution: Resolution) -> str:
    """The chart ``interval`` of a resolution (``60m``, ``1d``, ``1wk``, ``1mo``)."""
    return _INTERVALS[resolution]


def _load(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        raise UpstreamFormatError(YAHOO, f"answer is not JSON: {exc}") from None


def parse_error(content: bytes | str) -> YahooError | None:
    """The error member of a chart, quote or finance answer; None when there is none."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for envelope in ("chart", "quoteResponse", "finance"):
        inner = data.get(envelope)
        if isinstance(inner, dict) and isinstance(inner.get("error"), dict):
            error = inner["error"]
            return YahooError(str(error.get("code", "")), str(error.get("description", "")))
    return None


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _value(values: list[Any] | None, index: int) -> float | None:
    """The value at ``index``; None for a null, a missing entry or a NaN."""
    if values is None or index >= len(values) or values[index] is None:
        return None
    value = values[index]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UpstreamFormatError(YAHOO, f"bar value is not a number: {value!r}")
    number = float(value)
    return None if math.isnan(number) else number


def _start(timestamp: Any, zone: ZoneInfo | None, daily: bool) -> datetime:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise UpstreamFormatError(YAHOO, f"timestamp is not epoch seconds: {timestamp!r}")
    moment = datetime.fromtimestamp(timestamp, UTC)
    if not daily:
        return moment
    # Daily and longer bars are stamped with the session's opening instant (14:30 UTC
    # for New York); the bar belongs to that local date, kept as midnight UTC.
    local = moment.astimezone(zone) if zone is not None else moment
    return datetime(local.year, local.month, local.day, tzinfo=UTC)


def parse_chart(content: bytes | str) -> ChartSeries:
    """``/v8/finance/chart/{symbol}``: bars with all of open/high/low/close, oldest first.

    A bar with a null among them (a holiday, a halt) is a gap and is left out, never
    read as zero; a null volume alone is 0. ``adjclose`` is kept where the answer has it
    (daily and longer intervals). Raises UpstreamFormatError on an error member.
    """
    data = _load(content)
    chart = data.get("chart") if isinstance(data, dict) else None
    if not isinstance(chart, dict):
        raise UpstreamFormatError(YAHOO, "answer has no chart member")
    if chart.get("error"):
        error = parse_error(content)
        detail = f"{error.code}: {error.description}" if error else str(chart["error"])
        raise UpstreamFormatError(YAHOO, detail)
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise UpstreamFormatError(YAHOO, "chart has no result")
    result = results[0]
    meta: dict[str, Any] = result["meta"] if isinstance(result.get("meta"), dict) else {}
    granularity = meta.get("dataGranularity")
    timezone = meta.get("exchangeTimezoneName")
    zone = _zone(timezone)
    daily = granularity not in _INTRADAY
    timestamps = result.get("timestamp") or []
    indicators = result.get("indicators") or {}
    quotes = indicators.get("quote") or [{}]
    if not isinstance(timestamps, list) or not isinstance(quotes, list) or not quotes:
        raise UpstreamFormatError(YAHOO, "chart indicators are not arrays")
    quote: dict[str, Any] = quotes[0] if isinstance(quotes[0], dict) else {}
    adjusted = indicators.get("adjclose") or [{}]
    adjclose = adjusted[0].get("adjclose") if isinstance(adjusted[0], dict) else None
    candles: list[Candle] = []
    for index, timestamp in enumerate(timestamps):
        prices = [_value(quote.get(name), index) for name in ("open", "high", "low", "close")]
        start = _start(timestamp, zone, daily)
        opened, high, low, close = prices
        if opened is None or high is None or low is None or close is None:
            continue
        volume = _value(quote.get("volume"), index)
        candles.append(
            Candle(
                start=start,
                open=opened,
                high=high,
                low=low,
                close=close,
                volume=volume or 0.0,
                adj_close=_value(adjclose, index),
            )
        )
    return ChartSeries(
        symbol=str(meta.get("symbol", "")),
        currency=meta.get("currency"),
        timezone=timezone,
        granularity=granularity,
        candles=candles,
    )


def parse_quotes(content: bytes | str) -> dict[str, Quote]:
    """``/v7/finance/quote``: quotes by symbol; symbols Yahoo does not know are absent.

    ``regularMarketTime`` is epoch seconds; ``regularMarketChangePercent`` is already
    in percent. A result without ``regularMarketPrice`` (some delisted symbols) is left out.
    """
    data = _load(content)
    response = data.get("quoteResponse") if isinstance(data, dict) else None
    if not isinstance(response, dict):
        raise UpstreamFormatError(YAHOO, "answer has no quoteResponse member")
    if response.get("error"):
        error = parse_error(content)
        raise UpstreamFormatError(YAHOO, error.description if error else str(response["error"]))
    results = response.get("result")
    if not isinstance(results, list):
        raise UpstreamFormatError(YAHOO, "quoteResponse has no result array")
    quotes: dict[str, Quote] = {}
    for item in results:
        if not isinstance(item, dict) or not item.get("symbol"):
            raise UpstreamFormatError(YAHOO, "quote result without a symbol")
        symbol = str(item["symbol"])
        price = item.get("regularMarketPrice")
        if price is None:
            continue
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise UpstreamFormatError(YAHOO, f"{symbol} regularMarketPrice is {price!r}")
        change = item.get("regularMarketChangePercent")
        when = item.get("regularMarketTime")
        if not isinstance(when, int) or isinstance(when, bool):
            raise UpstreamFormatError(YAHOO, f"{symbol} regularMarketTime is {when!r}")
        quotes[symbol] = Quote(
            provider_id=symbol,
            price=float(price),
            change_24h_pct=float(change) if isinstance(change, int | float) else None,
            at=datetime.fromtimestamp(when, UTC),
            currency=item.get("currency"),
        )
    return quotes
