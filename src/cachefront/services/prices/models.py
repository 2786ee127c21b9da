"""The records the prices room passes around: assets, provider quotes, candles, resolutions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Asset", "AssetType", "Candle", "LatestQuotes", "Quote", "Resolution"]


class AssetType(StrEnum):
    """What an asset is; stocks and ETFs trade only while their exchange is open."""

    CRYPTO = "crypto"
    STOCK = "stock"
    ETF = "etf"
    FX = "fx"

    @property
    def follows_exchange_hours(self) -> bool:
        return self in (AssetType.STOCK, AssetType.ETF)


class Resolution(StrEnum):
    """Candle widths: hourly (fetched on demand), daily (stored), weekly and monthly rollups."""

    HOUR = "1h"
    DAY = "1d"
    WEEK = "1wk"
    MONTH = "1mo"


@dataclass(frozen=True, slots=True)
class Asset:
    """One row of the assets table: the app's symbol and where its prices come from.

    ``symbol`` is the app's own name (``BTC``, ``AAPL``); ``provider_id`` is what the
    provider calls it (``BTCUSDT``, ``AAPL``); ``exchange`` names the market whose hours
    apply (an exchange-calendar code such as ``XNYS``), None for 24/7 assets.
    """

    symbol: str
    name: str
    type: AssetType
    provider: str
    provider_id: str
    currency: str
    exchange: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Quote:
    """A provider's latest price for one of its ids, as of ``at`` (UTC)."""

    provider_id: str
    price: float
    change_24h_pct: float | None
    at: datetime
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class LatestQuotes:
    """What one latest-prices call returned: quotes by provider id, and ids it does not know."""

    quotes: dict[str, Quote]
    unavailable: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar starting at ``start`` (UTC; midnight for daily and longer bars).

    ``adj_close`` is the close adjusted for splits and dividends where the provider
    gives one (Yahoo daily and longer), else None.
    """

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    adj_close: float | None = None
