"""An in-process snapshot of the assets table, so a batch of a thousand symbols costs no query.

The table changes rarely (imports, syncs, an asset marked unavailable); reads are
constant. The snapshot is reloaded when older than ``max_age``, and early (at most
once per ``retry_unknown`` seconds) when a symbol is not in it, so an asset imported a
moment ago is found without waiting for the next reload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from cachefront.services.prices.models import Asset
from cachefront.services.prices.service_ports import AssetDirectory

__all__ = ["AssetCatalog"]


class AssetCatalog:
    def __init__(
        self,
        directory: AssetDirectory,
        *,
        max_age: float = 30.0,
        retry_unknown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.max_age = max_age
        self.retry_unknown = retry_unknown
        self._clock = clock
        self._by_symbol: dict[str, Asset] = {}
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def _reload(self) -> None:
        async with self._lock:
            started = self._clock()
            if started - self._loaded_at < min(self.retry_unknown, self.max_age):
                return  # another caller reloaded it while this one waited
            assets = await self.directory.all()
            self._by_symbol = {asset.symbol: asset for asset in assets}
            self._loaded_at = started

    def invalidate(self) -> None:
        """Reload on the next read (after an import, a sync or an unavailable mark)."""
        self._loaded_at = -float("inf")

    async def all(self) -> dict[str, Asset]:
        if self._clock() - self._loaded_at >= self.max_age:
            await self._reload()
        return self._by_symbol

    async def active(self) -> list[Asset]:
        return [asset for asset in (await self.all()).values() if asset.active]

    async def find(self, symbols: Iterable[str]) -> tuple[dict[str, Asset], list[str]]:
        """The assets of ``symbols`` (normalized), and the symbols the table lacks."""
        wanted = list(symbols)
        by_symbol = await self.all()
        if any(s not in by_symbol for s in wanted) and (
            self._clock() - self._loaded_at >= self.retry_unknown
        ):
            await self._reload()
            by_symbol = self._by_symbol
        found = {s: by_symbol[s] for s in wanted if s in by_symbol}
        return found, [s for s in wanted if s not in by_symbol]
