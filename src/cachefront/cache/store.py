"""The one small async interface every cache tier implements, namespaced by ``ns``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cachefront.cache.entry import CacheEntry

__all__ = ["BatchStore", "EntryStore"]


class BatchStore(Protocol):
    """Reads and writes of many entries in one round trip: what the fill path needs."""

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries present among ``keys``; absent keys are left out."""
        ...

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        """Store every entry, each living until its ``expires_at``."""
        ...


class EntryStore(BatchStore, Protocol):
    """A whole tier: batch access plus single-key access and invalidation."""

    async def get(self, ns: str, key: str) -> CacheEntry | None:
        """The entry of ``key``, or None."""
        ...

    async def set(self, ns: str, key: str, entry: CacheEntry) -> None:
        """Store ``entry`` under ``key`` until its ``expires_at``."""
        ...

    async def delete(self, ns: str, key: str) -> int:
        """Forget ``key``; the number of entries removed (0 or 1)."""
        ...

    async def delete_prefix(self, ns: str, prefix: str = "") -> int:
        """Forget every key of ``ns`` starting with ``prefix``; how many were removed."""
        ...
