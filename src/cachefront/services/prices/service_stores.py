"""The assets and history tables as the service's ports see them (``service_ports.py``).

The tables key history on an asset's row id; the service speaks of assets. These
adapters keep the ids the last snapshot of the assets table gave (looking up the few
they lack), and fold the table's "unavailable since" into ``Asset.active``, so the
service has one flag to ask: is this asset priced?
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from cachefront.services.prices.models import Asset, Candle, Resolution

__all__ = ["AssetTable", "HistoryTables", "TableCandles", "TableDirectory"]


class _Stored(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def asset(self) -> Asset: ...
    @property
    def available(self) -> bool: ...


class AssetTable(Protocol):
    """What the adapters use of ``AssetStore``."""

    async def stored(self, *, active_only: bool = False) -> Sequence[_Stored]: ...

    async def ids(self, symbols: Sequence[str]) -> dict[str, int]: ...

    async def close_matches(self, symbol: str, limit: int = 5) -> list[str]: ...

    async def mark_unavailable(self, provider: str, provider_id: str) -> list[str]: ...


class HistoryTables(Protocol):
    """What the adapters use of ``HistoryStore``."""

    keep_daily_days: int
    keep_weekly_days: int
    keep_all_daily: bool

    async def read(
        self, asset_id: int, resolution: Resolution, start: date | None, end: date
    ) -> list[Candle]: ...

    async def stored_span(self, asset_id: int) -> tuple[date, date] | None: ...

    async def write_daily(self, asset_id: int, candles: Sequence[Candle]) -> int: ...

    async def reads_caught_up(self) -> object: ...

    async def ensure_partitions(self, through_year: int) -> object: ...

    async def apply_retention(self, today: date) -> object: ...


class TableDirectory:
    """``AssetDirectory`` over the assets table; remembers each symbol's row id."""

    def __init__(self, table: AssetTable) -> None:
        self.table = table
        self.ids: dict[str, int] = {}

    async def all(self) -> list[Asset]:
        rows = await self.table.stored()
        self.ids = {row.asset.symbol: row.id for row in rows}
        return [
            row.asset
            if row.available or not row.asset.active
            else dataclasses.replace(row.asset, active=False)
            for row in rows
        ]

    async def close_matches(self, symbol: str) -> list[str]:
        return await self.table.close_matches(symbol)

    async def mark_unavailable(self, provider: str, provider_id: str) -> None:
        await self.table.mark_unavailable(provider, provider_id)

    async def id_of(self, asset: Asset) -> int:
        found = self.ids.get(asset.symbol)
        if found is None:
            found = (await self.table.ids([asset.symbol]))[asset.symbol]
            self.ids[asset.symbol] = found
        return found


class TableCandles:
    """``CandleStore`` over the history tables, by the row ids ``directory`` knows."""

    def __init__(self, tables: HistoryTables, directory: TableDirectory) -> None:
        self.tables = tables
        self.directory = directory

    async def read(
        self, asset: Asset, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Candle]:
        asset_id = await self.directory.id_of(asset)
        return await self.tables.read(asset_id, resolution, start.date(), end.date())

    async def stored_span(self, asset: Asset) -> tuple[date, date] | None:
        return await self.tables.stored_span(await self.directory.id_of(asset))

    def kept_for(self, resolution: Resolution) -> timedelta | None:
        tables = self.tables
        if resolution is Resolution.DAY and not tables.keep_all_daily:
            return timedelta(days=tables.keep_daily_days)
        if resolution is Resolution.WEEK:
            return timedelta(days=tables.keep_weekly_days)
        return None

    async def write_daily(self, asset: Asset, candles: Sequence[Candle]) -> int:
        return await self.tables.write_daily(await self.directory.id_of(asset), candles)

    async def reads_caught_up(self) -> object:
        return await self.tables.reads_caught_up()

    async def ensure_partitions(self, through_year: int) -> object:
        return await self.tables.ensure_partitions(through_year)

    async def apply_retention(self, today: date) -> object:
        return await self.tables.apply_retention(today)
