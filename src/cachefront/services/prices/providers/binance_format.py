"""Pure parsers and request builders for Binance's spot REST answers (no I/O)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cachefront.errors import UpstreamFormatError
from cachefront.services.prices.models import Candle, Quote, Resolution

__all__ = [
    "BINANCE",
    "EXCHANGE_INFO_PATH",
    "EXCHANGE_INFO_WEIGHT",
    "INVALID_SYMBOL",
    "KLINES_LIMIT",
    "KLINES_PATH",
    "KLINES_WEIGHT",
    "TICKER_24HR_ALL_WEIGHT",
    "TICKER_24HR_PATH",
    "BinanceError",
    "TradingPair",
    "binance_interval",
    "is_symbol",
    "parse_error",
    "parse_exchange_info",
    "parse_klines",
    "parse_ticker_24hr",
    "parse_ticker_price",
    "symbols_param",
    "ticker_24hr_weight",
]

BINANCE = "binance"
TICKER_24HR_PATH = "/api/v3/ticker/24hr"
KLINES_PATH = "/api/v3/klines"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
# Request weights as published in the spot API's rest-api.md.
TICKER_24HR_ALL_WEIGHT = 80
KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
KLINES_LIMIT = 1000
# Error code of a symbol Binance does not list ("Invalid symbol.").
INVALID_SYMBOL = -1121

# What Binance accepts as a symbol (its ``symbols`` parameter's documented range);
# anything else is refused as illegal characters (-1100) rather than -1121.
_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")

_INTERVALS = {
    Resolution.HOUR: "1h",
    Resolution.DAY: "1d",
    Resolution.WEEK: "1w",
    Resolution.MONTH: "1M",
}


@dataclass(frozen=True, slots=True)
class BinanceError:
    """An error body: ``{"code": -1121, "msg": "Invalid symbol."}``."""

    code: int
    msg: str

    @property
    def unknown_symbol(self) -> bool:
        return self.code == INVALID_SYMBOL


@dataclass(frozen=True, slots=True)
class TradingPair:
    """One exchangeInfo symbol: ``BTCUSDT`` is ``BTC`` quoted in ``USDT``."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


def is_symbol(provider_id: str) -> bool:
    """True when ``provider_id`` is spelled as a Binance symbol can be."""
    return _SYMBOL.fullmatch(provider_id) is not None


def binance_interval(resolution: Resolution) -> str:
    """The klines ``interval`` of a resolution (``1h``, ``1d``, ``1w``, ``1M``)."""
    return _INTERVALS[resolution]


def ticker_24hr_weight(count: int | None) -> int:
    """Weight of ``/ticker/24hr`` for ``count`` symbols (None: all symbols, no parameter)."""
    if count is None or count > 100:
        return TICKER_24HR_ALL_WEIGHT
    if count > 20:
        return 40
    return 2


def symbols_param(ids: list[str]) -> str:
    """The ``symbols`` parameter: a compact JSON list, as the docs write it."""
    return json.dumps(ids, separators=(",", ":"))


def _load(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        raise UpstreamFormatError(BINANCE, f"answer is not JSON: {exc}") from None


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UpstreamFormatError(BINANCE, f"{what} is not a number: {value!r}") from None


def _ms(value: Any, what: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UpstreamFormatError(BINANCE, f"{what} is not epoch milliseconds: {value!r}")
    return datetime.fromtimestamp(value / 1000, UTC)


def _objects(data: Any) -> list[dict[str, Any]]:
    """One ticker object or an array of them, as a list."""
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UpstreamFormatError(BINANCE, "expected a ticker object or an array of them")
    return items


def parse_error(content: bytes | str) -> BinanceError | None:
    """The error of an error body, or None when the body is not one."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), int):
        return None
    return BinanceError(code=data["code"], msg=str(data.get("msg", "")))


def parse_ticker_price(content: bytes | str, at: datetime) -> dict[str, Quote]:
    """``/ticker/price`` (one object or an array): quotes by symbol, with no 24h change."""
    quotes: dict[str, Quote] = {}
    for item in _objects(_load(content)):
        symbol = str(item.get("symbol", ""))
        if not symbol:
            raise UpstreamFormatError(BINANCE, "ticker without a symbol")
        quotes[symbol] = Quote(symbol, _number(item.get("price"), f"{symbol} price"), None, at)
    return quotes


def parse_ticker_24hr(content: bytes | str) -> dict[str, Quote]:
    """``/ticker/24hr`` (FULL or MINI, one object or an array): quotes by symbol.

    The price is ``lastPrice`` as of ``closeTime``; MINI answers have no
    ``priceChangePercent``, so it is computed from ``openPrice`` there.
    """
    quotes: dict[str, Quote] = {}
    for item in _objects(_load(content)):
        symbol = str(item.get("symbol", ""))
        if not symbol:
            raise UpstreamFormatError(BINANCE, "ticker without a symbol")
        price = _number(item.get("lastPrice"), f"{symbol} lastPrice")
        change: float | None
        if "priceChangePercent" in item:
            change = _number(item["priceChangePercent"], f"{symbol} priceChangePercent")
        else:
            opened = _number(item.get("openPrice"), f"{symbol} openPrice")
            change = (price / opened - 1.0) * 100.0 if opened else None
        at = _ms(item.get("closeTime"), f"{symbol} closeTime")
        quotes[symbol] = Quote(symbol, price, change, at)
    return quotes


def parse_klines(content: bytes | str) -> list[Candle]:
    """Kline rows ``[openTime ms, "open", "high", "low", "close", "volume", ...]``."""
    data = _load(content)
    if not isinstance(data, list):
        raise UpstreamFormatError(BINANCE, "klines answer is not an array")
    candles: list[Candle] = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) < 6:
            raise UpstreamFormatError(BINANCE, f"kline row {index} is not an array of 6+ fields")
        candles.append(
            Candle(
                start=_ms(row[0], f"kline {index} open time"),
                open=_number(row[1], f"kline {index} open"),
                high=_number(row[2], f"kline {index} high"),
                low=_number(row[3], f"kline {index} low"),
                close=_number(row[4], f"kline {index} close"),
                volume=_number(row[5], f"kline {index} volume"),
            )
        )
    return candles


def parse_exchange_info(content: bytes | str) -> list[TradingPair]:
    """The ``symbols`` of ``/exchangeInfo``, every status (``TradingPair.trading`` filters)."""
    data = _load(content)
    symbols = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(symbols, list):
        raise UpstreamFormatError(BINANCE, "exchangeInfo has no symbols array")
    pairs: list[TradingPair] = []
    for item in symbols:
        if not isinstance(item, dict):
            raise UpstreamFormatError(BINANCE, "exchangeInfo symbol is not an object")
        try:
            pairs.append(
                TradingPair(
                    symbol=str(item["symbol"]),
                    base_asset=str(item["baseAsset"]),
                    quote_asset=str(item["quoteAsset"]),
                    status=str(item["status"]),
                )
            )
        except KeyError as exc:
            raise UpstreamFormatError(BINANCE, f"exchangeInfo symbol lacks {exc}") from None
    return pairs
