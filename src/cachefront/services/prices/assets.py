"""The assets table: import and update in one statement, look-ups by symbol, close matches.

``AssetStore`` is what the refresh, the batch endpoint and the CLI use: one query for a
thousand symbols (``by_symbols``), the provider's id for each, and the names closest to
a symbol nobody knows (``close_matches``, for the 404's hint).
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries
from cachefront.services.prices.models import Asset, AssetType

__all__ = ["AssetStore", "StoredAsset", "UpsertCounts"]

QUERIES = load_queries("cachefront.services.prices")


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an import did: rows new, rows changed, rows that were already so."""

    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class StoredAsset:
    """An asset with its row id (what the history tables key on) and availability."""

    id: int
    asset: Asset
    available: bool


# Enum look-up by value, without the enum's own lookup machinery: a batch of 1,000
# symbols builds 1,000 assets, and that loop is most of what by_symbols costs.
_TYPES = {t.value: t for t in AssetType}


def _stored(row: Row[Any]) -> StoredAsset:
    # Positional: the statements select these columns in this order.
    (id_, symbol, name, kind, provider, provider_id, currency, exchange, active, gone) = tuple(row)
    asset = Asset(symbol, name, _TYPES[kind], provider, provider_id, currency, exchange, active)
    return StoredAsset(id_, asset, gone is None)


class AssetStore:
    """The ``price_assets`` table over an async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def upsert(self, assets: Sequence[Asset]) -> UpsertCounts:
        """Insert new symbols, update changed ones, leave identical ones untouched.

        Symbols and provider ids are stored upper-case, whatever case they come in.
        """
        if not assets:
            return UpsertCounts(0, 0, 0)
        symbols = [a.symbol.upper() for a in assets]
        if len(set(symbols)) != len(symbols):
            repeated = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ValueError(f"symbols given twice: {', '.join(repeated)}")
        params = {
            "symbols": symbols,
            "names": [a.name for a in assets],
            "types": [a.type.value for a in assets],
            "providers": [a.provider for a in assets],
            # Compared upper-case, as the CSV reader and mark_unavailable do.
            "provider_ids": [a.provider_id.upper() for a in assets],
            "currencies": [a.currency for a in assets],
            "exchanges": [a.exchange for a in assets],
            "actives": [a.active for a in assets],
        }
        async with self._engine.begin() as conn:
            rows = (await conn.execute(QUERIES.text("upsert_assets"), params)).all()
        inserted = sum(1 for row in rows if row.inserted)
        updated = len(rows) - inserted
        return UpsertCounts(inserted, updated, len(assets) - len(rows))

    async def list(self, *, active_only: bool = False) -> builtins.list[Asset]:
        """Every asset, by symbol; only the active ones when asked."""
        return [s.asset for s in await self.stored(active_only=active_only)]

    async def stored(self, *, active_only: bool = False) -> builtins.list[StoredAsset]:
        """Every asset with its id and availability, by symbol."""
        async with self._engine.connect() as conn:
            result = await conn.execute(QUERIES.text("list_assets"), {"active_only": active_only})
            return [_stored(row) for row in result]

    async def by_symbols(self, symbols: Sequence[str]) -> dict[str, Asset]:
        """The known ones among ``symbols`` (any case), by upper-case symbol; one query."""
        return {s: stored.asset for s, stored in (await self.stored_by_symbols(symbols)).items()}

    async def stored_by_symbols(self, symbols: Sequence[str]) -> dict[str, StoredAsset]:
        """As ``by_symbols``, with ids and availability."""
        wanted = sorted({s.upper() for s in symbols})
        if not wanted:
            return {}
        async with self._engine.connect() as conn:
            result = await conn.execute(QUERIES.text("assets_by_symbols"), {"symbols": wanted})
            return {row[1]: _stored(row) for row in result}

    async def get(self, symbol: str) -> Asset | None:
        """One asset by symbol (any case), or None."""
        return (await self.by_symbols([symbol])).get(symbol.upper())

    async def ids(self, symbols: Sequence[str]) -> dict[str, int]:
        """Row ids (the history tables' key) of the known ones among ``symbols``."""
        return {s: stored.id for s, stored in (await self.stored_by_symbols(symbols)).items()}

    async def close_matches(self, symbol: str, limit: int = 5) -> builtins.list[str]:
        """Known symbols closest to ``symbol``, best first (for "did you mean").

        difflib over the symbol list rather than pg_trgm: the extension may not be
        installable where cachefront runs, a few thousand short symbols compare in about
        a millisecond, and trigrams of a 3-letter symbol say little anyway.
        """
        async with self._engine.connect() as conn:
            known = builtins.list((await conn.execute(QUERIES.text("asset_symbols"))).scalars())
        wanted = symbol.strip().upper()
        matches = difflib.get_close_matches(wanted, known, n=limit, cutoff=0.5)
        # A symbol that is a prefix of a known one (BTC for BTCB) is a likely intent too.
        prefixed = sorted(k for k in known if k.startswith(wanted) and k not in matches)
        return (matches + prefixed)[:limit]

    async def mark_unavailable(self, provider: str, provider_id: str) -> builtins.list[str]:
        """Record that ``provider`` does not know ``provider_id``; the symbols affected."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                QUERIES.text("mark_unavailable"),
                {"provider": provider, "provider_id": provider_id.upper()},
            )
            return sorted(result.scalars())

    async def by_provider(self) -> dict[str, builtins.list[StoredAsset]]:
        """Active, available assets grouped by provider: what a refresh prices."""
        grouped: dict[str, builtins.list[StoredAsset]] = {}
        async with self._engine.connect() as conn:
            for row in await conn.execute(QUERIES.text("available_assets")):
                grouped.setdefault(row.provider, []).append(_stored(row))
        return grouped
