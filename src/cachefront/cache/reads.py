"""When PostgreSQL cache entries were last read, recorded in batches off the hot path.

Quota eviction (``cache/quotas.py``) removes a namespace's least recently read entries
first, so the PostgreSQL tier must know when each entry was read; writing a row per
read would put a write on every hit. Instead each process keeps a ``ReadLog``: a hit
in the memory tier or a shared tier adds ``(namespace, key)`` to a set (one set
insertion, nothing else on the hot path), and a background task writes the set every
``flush_seconds`` with one ``UPDATE ... FROM unnest`` per batch of keys.

Two things keep those writes few. A key sent in the last ``resolution_seconds`` is not
sent again until that window passes, and the statement skips rows whose
``last_read_at`` is already that recent (another process wrote them), so an entry
is written at most about once per window however hot it is; the order eviction uses
is that coarse, which is plenty to tell the entries nobody reads apart. Only the
namespaces with a quota are tracked: the others are never evicted by recency.

Recording is best-effort: a set full at ``max_pending`` keys takes no more until the
next flush (those reads are counted in ``dropped``), and a batch the database could
not take is dropped and logged. The price is an entry evicted a little early, never
a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.keys import (
    DEFAULT_READ_FLUSH_SECONDS,
    DEFAULT_READ_RESOLUTION_SECONDS,
    READS_BATCH_KEYS,
    READS_MAX_PENDING,
)
from cachefront.cache.postgres_store import DATABASE_UNREACHABLE
from cachefront.db.queries import load_queries
from cachefront.flush_loop import FlushLoop

__all__ = ["RECORD_READS", "ReadLog"]

log = logging.getLogger(__name__)

# See cache/sql/queries.sql: SKIP LOCKED, and rows read recently are left alone.
RECORD_READS = load_queries("cachefront.cache").text("record_reads")

_Slot = tuple[str, str]


class ReadLog:
    """The keys of ``namespaces`` read in this process since the last flush.

    ``note`` is what the tiers call on a hit; ``start`` runs the flush loop once an
    engine is attached, ``aclose`` stops it and writes what is left.
    """

    def __init__(
        self,
        namespaces: Iterable[str],
        *,
        engine: AsyncEngine | None = None,
        flush_seconds: float = DEFAULT_READ_FLUSH_SECONDS,
        resolution_seconds: float = DEFAULT_READ_RESOLUTION_SECONDS,
        max_pending: int = READS_MAX_PENDING,
        batch_keys: int = READS_BATCH_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespaces = frozenset(namespaces)
        self.flush_seconds = flush_seconds
        self.resolution_seconds = resolution_seconds
        self.max_pending = max_pending
        self.batch_keys = batch_keys
        self.dropped = 0
        self._dropped_logged = 0
        self._engine = engine
        self._clock = clock
        self._pending: set[_Slot] = set()
        # When each key was last sent: it is not sent again within the resolution.
        self._sent: dict[_Slot, float] = {}
        self._flush_lock = asyncio.Lock()
        self._loop = FlushLoop(
            self.flush, flush_seconds, self._flush_lock, name="cache-reads-flush"
        )
        self._failing = False

    # --- the hot path ----------------------------------------------------------------

    def note(self, ns: str, key: str) -> None:
        """Remember that ``key`` of ``ns`` was read; cheap, never blocks, never raises."""
        if ns not in self.namespaces:
            return
        pending = self._pending
        if len(pending) < self.max_pending:
            pending.add((ns, key))
        elif (ns, key) not in pending:
            self.dropped += 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- lifecycle -------------------------------------------------------------------

    def attach(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start(self) -> None:
        if self._engine is not None:
            self._loop.start()

    async def aclose(self) -> None:
        await self._loop.stop()

    # --- the flush -------------------------------------------------------------------

    def _due(self) -> list[_Slot]:
        """The pending keys not sent within the resolution, marked sent; the set emptied."""
        now = self._clock()
        horizon = now - self.resolution_seconds
        # Forget keys sent before the window: they may be sent again, and the map
        # stays bounded by what was read in one window.
        self._sent = {slot: at for slot, at in self._sent.items() if at > horizon}
        if len(self._sent) > self.max_pending:
            # Bounded like the pending set: the statement's own check still keeps
            # rows read within the window from being written again.
            self._sent.clear()
        pending, self._pending = self._pending, set()
        due = sorted(slot for slot in pending if slot not in self._sent)
        for slot in due:
            self._sent[slot] = now
        return due

    async def flush(self) -> int:
        """Write the due keys' ``last_read_at``; how many rows were updated."""
        if self._engine is None:
            return 0
        async with self._flush_lock:
            due = self._due()
            if self.dropped > self._dropped_logged:
                log.warning(
                    "cache read log full: %d read(s) not recorded since the last flush",
                    self.dropped - self._dropped_logged,
                    extra={"action": "cache.reads_dropped", "keys": self.dropped},
                )
                self._dropped_logged = self.dropped
            updated = 0
            for start in range(0, len(due), self.batch_keys):
                batch = due[start : start + self.batch_keys]
                try:
                    async with self._engine.begin() as conn:
                        result = await conn.execute(
                            RECORD_READS,
                            {
                                "namespaces": [ns for ns, _ in batch],
                                "keys": [key for _, key in batch],
                                "resolution": self.resolution_seconds,
                            },
                        )
                except DATABASE_UNREACHABLE as exc:
                    self._failed(len(due) - start, exc)
                    return updated
                updated += result.rowcount or 0
            if self._failing:
                self._failing = False
                log.warning(
                    "cache read recording works again",
                    extra={"action": "cache.reads_recovered"},
                )
            return updated

    def _failed(self, lost: int, exc: Exception) -> None:
        # Losing read times only makes eviction less exact: logged once per outage.
        if not self._failing:
            self._failing = True
            log.warning(
                "cache read recording failed, %d read(s) not recorded: %s",
                lost,
                exc,
                extra={"action": "cache.reads_failed", "keys": lost},
            )
