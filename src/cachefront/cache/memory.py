"""The in-process tier: an LRU of entries bounded by total bytes, with a synchronous peek."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from cachefront.cache.entry import CacheEntry
from cachefront.cache.keys import (
    DEFAULT_MEMORY_BYTES,
    DEFAULT_MEMORY_MAX_ENTRY_BYTES,
    MEMORY_ENTRY_OVERHEAD_BYTES,
)

__all__ = ["MemoryStore", "ReadNotes"]


class ReadNotes(Protocol):
    """What a hit is reported to (``cache.reads.ReadLog``): one cheap call per hit."""

    def note(self, ns: str, key: str) -> None: ...


class MemoryStore:
    """Entries of this process, least recently used evicted first.

    Each entry costs ``len(value) + MEMORY_ENTRY_OVERHEAD_BYTES``; the total stays at
    or under ``max_bytes``. Entries bigger than ``max_entry_bytes`` are not kept, so one
    huge answer cannot flush everything else. An entry lives until its ``expires_at``.
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MEMORY_BYTES,
        max_entry_bytes: int = DEFAULT_MEMORY_MAX_ENTRY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 0 or max_entry_bytes < 1:
            raise ValueError("max_bytes must be >= 0 and max_entry_bytes >= 1")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], CacheEntry] = OrderedDict()
        self._bytes = 0
        # Told of every hit, so the PostgreSQL tier knows what is still read even
        # while memory answers it (cache/reads.py); None: no one asks.
        self.reads: ReadNotes | None = None

    @property
    def size_bytes(self) -> int:
        """What the entries held now cost, overhead included."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # --- synchronous access: the HTTP fast path ------------------------------------

    def peek(self, ns: str, key: str) -> CacheEntry | None:
        """The entry of ``key`` if held and not past ``expires_at``, marked recently used.

        It may be stale or negative: the caller checks ``fresh_until`` and ``negative``.
        Plain and cheap on purpose, since the server answers memory hits from it.
        """
        slot = (ns, key)
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._drop(slot)
            return None
        self._entries.move_to_end(slot)
        if self.reads is not None:
            self.reads.note(ns, key)
        return entry

    def put(self, ns: str, key: str, entry: CacheEntry) -> None:
        """Hold ``entry``, evicting the least recently used entries past the byte bound."""
        slot = (ns, key)
        size = len(entry.value) + MEMORY_ENTRY_OVERHEAD_BYTES
        if (
            len(entry.value) > self.max_entry_bytes
            or size > self.max_bytes
            or entry.expires_at <= self._clock()
        ):
            # Not kept; an older version must not linger in its place either.
            self._drop(slot)
            return
        previous = self._entries.get(slot)
        if previous is not None:
            self._bytes -= len(previous.value) + MEMORY_ENTRY_OVERHEAD_BYTES
        self._entries[slot] = entry
        self._entries.move_to_end(slot)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.value) + MEMORY_ENTRY_OVERHEAD_BYTES

    def discard(self, ns: str, key: str) -> int:
        """Forget ``key``; 1 if it was held."""
        return self._drop((ns, key))

    def discard_prefix(self, ns: str, prefix: str = "") -> int:
        """Forget every key of ``ns`` starting with ``prefix``; how many were held."""
        doomed = [slot for slot in self._entries if slot[0] == ns and slot[1].startswith(prefix)]
        for slot in doomed:
            self._drop(slot)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._bytes = 0

    def _drop(self, slot: tuple[str, str]) -> int:
        entry = self._entries.pop(slot, None)
        if entry is None:
            return 0
        self._bytes -= len(entry.value) + MEMORY_ENTRY_OVERHEAD_BYTES
        return 1

    # --- the async store interface, shared with the other tiers -----------------------

    async def get(self, ns: str, key: str) -> CacheEntry | None:
        return self.peek(ns, key)

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        for key in keys:
            entry = self.peek(ns, key)
            if entry is not None:
                found[key] = entry
        return found

    async def set(self, ns: str, key: str, entry: CacheEntry) -> None:
        self.put(ns, key, entry)

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        for key, entry in entries.items():
            self.put(ns, key, entry)

    async def delete(self, ns: str, key: str) -> int:
        return self.discard(ns, key)

    async def delete_prefix(self, ns: str, prefix: str = "") -> int:
        return self.discard_prefix(ns, prefix)
