"""In-memory stand-ins for the prices service's stores and providers, recording every call.

The providers answer deterministic prices for any id they were told about and list
the others as unavailable; a provider can be made to fail or to hang, so tests say
exactly which calls the service made and what it does when a provider is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cachefront.errors import UpstreamError
from cachefront.services.prices.models import (
    Asset,
    AssetType,
    Candle,
    LatestQuotes,
    Quote,
    Resolution,
)
from cachefront.services.prices.providers import UnknownAssetError
from cachefront.upstream import Priority

QUOTED_AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def crypto(symbol: str, *, provider: str = "binance") -> Asset:
    return Asset(symbol, symbol.title(), AssetType.CRYPTO, provider, f"{symbol}USDT", "USD")


def stock(symbol: str, *, exchange: str | None = None) -> Asset:
    return Asset(symbol, symbol.title(), AssetType.STOCK, "yahoo", symbol, "USD", exchange)


def price_of(provider_id: str) -> float:
    """A price only the id decides: tests can check which id priced which symbol."""
    return float(sum(ord(c) for c in provider_id))


@dataclass
class FakeProvider:
    name: str
    known: set[str] = field(default_factory=set)
    calls: list[tuple[str, tuple[str, ...], Priority]] = field(default_factory=list)
    fail: bool = False
    hang: float = 0.0
    candles: dict[str, list[Candle]] = field(default_factory=dict)

    async def latest(
        self, provider_ids: Sequence[str], *, priority: Priority = "user"
    ) -> LatestQuotes:
        self.calls.append(("latest", tuple(provider_ids), priority))
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.fail:
            raise UpstreamError(self.name, "simulated outage")
        quotes = {i: Quote(i, price_of(i), 1.5, QUOTED_AT) for i in provider_ids if i in self.known}
        return LatestQuotes(quotes, frozenset(i for i in provider_ids if i not in self.known))

    async def history(
        self,
        provider_id: str,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        *,
        priority: Priority = "background",
    ) -> list[Candle]:
        self.calls.append(("history", (provider_id, resolution.value), priority))
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.fail:
            raise UpstreamError(self.name, "simulated outage")
        if provider_id not in self.known:
            raise UnknownAssetError(self.name, provider_id)
        step = timedelta(hours=1) if resolution is Resolution.HOUR else timedelta(days=1)
        out: list[Candle] = []
        at = start
        while at < end:
            base = price_of(provider_id) + at.toordinal() % 7
            out.append(Candle(at, base, base + 2, base - 1, base + 1, 10.0))
            at += step
        return out


@dataclass
class FakeDirectory:
    assets: dict[str, Asset] = field(default_factory=dict)
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    loads: int = 0

    def add(self, *assets: Asset) -> None:
        for asset in assets:
            self.assets[asset.symbol] = asset

    async def all(self) -> list[Asset]:
        self.loads += 1
        return list(self.assets.values())

    async def close_matches(self, symbol: str) -> list[str]:
        return sorted(s for s in self.assets if s[:2] == symbol[:2])[:3]

    async def mark_unavailable(self, provider: str, provider_id: str) -> None:
        self.unavailable.append((provider, provider_id))
        for symbol, asset in list(self.assets.items()):
            if asset.provider == provider and asset.provider_id == provider_id:
                self.assets[symbol] = Asset(
                    asset.symbol,
                    asset.name,
                    asset.type,
                    asset.provider,
                    asset.provider_id,
                    asset.currency,
                    asset.exchange,
                    active=False,
                )


@dataclass
class FakeCandles:
    daily: dict[str, dict[date, Candle]] = field(default_factory=dict)
    reads: list[tuple[str, Resolution]] = field(default_factory=list)
    # How far back each resolution is kept (absent: forever), as the tables' retention.
    kept: dict[Resolution, timedelta] = field(default_factory=dict)
    # How often the service waited for range reads to see its writes.
    caught_up: int = 0

    def kept_for(self, resolution: Resolution) -> timedelta | None:
        return self.kept.get(resolution)

    async def read(
        self, asset: Asset, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Candle]:
        self.reads.append((asset.symbol, resolution))
        days = self.daily.get(asset.symbol, {})
        return [c for d, c in sorted(days.items()) if start <= c.start < end]

    async def stored_span(self, asset: Asset) -> tuple[date, date] | None:
        days = self.daily.get(asset.symbol)
        return (min(days), max(days)) if days else None

    async def write_daily(self, asset: Asset, candles: Sequence[Candle]) -> int:
        days = self.daily.setdefault(asset.symbol, {})
        for candle in candles:
            days[candle.start.date()] = candle
        return len(candles)

    async def reads_caught_up(self) -> object:
        self.caught_up += 1
        return True

    async def ensure_partitions(self, through_year: int) -> object:
        return through_year

    async def apply_retention(self, today: date) -> object:
        return {}
