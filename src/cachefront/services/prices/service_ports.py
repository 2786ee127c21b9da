"""What the prices service needs from the assets table and the history tables.

Small Protocols, so the service is written and tested against the behaviour it uses;
the stores of ``assets.py`` and ``history.py`` are adapted to them in ``room.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from cachefront.services.prices.models import Asset, Candle, Resolution

__all__ = ["AssetDirectory", "CandleStore"]


class AssetDirectory(Protocol):
    """The assets table, as the service reads it."""

    async def all(self) -> list[Asset]:
        """Every asset, active or not (the service keeps a snapshot of them)."""
        ...

    async def close_matches(self, symbol: str) -> list[str]:
        """Symbols that look like ``symbol``, best first, for a 404's hint."""
        ...

    async def mark_unavailable(self, provider: str, provider_id: str) -> None:
        """The provider no longer knows this id: refresh skips the asset from now on."""
        ...


class CandleStore(Protocol):
    """The stored daily candles and their weekly and monthly rollups."""

    async def read(
        self, asset: Asset, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Candle]:
        """Candles of ``resolution`` starting in ``[start, end)``, oldest first."""
        ...

    async def stored_span(self, asset: Asset) -> tuple[date, date] | None:
        """The first and last day with a stored daily candle, None when there is none."""
        ...

    def kept_for(self, resolution: Resolution) -> timedelta | None:
        """How far back candles of ``resolution`` are kept; None when kept forever."""
        ...

    async def write_daily(self, asset: Asset, candles: Sequence[Candle]) -> int:
        """Store daily candles (upsert) and keep the rollups current; how many were written."""
        ...

    async def reads_caught_up(self) -> object:
        """Wait, a bounded time, until ``read`` sees every write made so far (a replica
        may serve range reads a little behind)."""
        ...

    async def ensure_partitions(self, through_year: int) -> object:
        """Create the yearly partitions of daily candles through ``through_year``."""
        ...

    async def apply_retention(self, today: date) -> object:
        """Drop candles past their resolution's retention (rolled up first); what was dropped."""
        ...
