"""Per-namespace quotas of the PostgreSQL tier: past its quota, a namespace loses its LRU entries.

A quota bounds the bytes of a namespace's values (``sum(octet_length(value))``, the
figure the storage report and ``/metrics`` show; row overhead and indexes are not
counted). A periodic task measures each namespace that has one and, for those over
it, deletes the least recently used entries until the namespace fits: last read
first by ``last_read_at`` (``cache/reads.py``), an entry never read since it was
stored by its ``stored_at`` (storing it answered a read, or a precompute expecting
one). Each step is one short transaction that locks at most ``batch_rows`` rows,
skips rows a writer holds (SKIP LOCKED) and deletes only as many as the excess
needs, so a request never waits on eviction and the namespace ends just under quota.

Copies of evicted entries in memory and Redis tiers are left alone: they hold the
same value PostgreSQL held, so serving them is as right as before the eviction, and
each goes at its own ``expires_at`` (memory and Redis also have bounds of their
own). Announcing each eviction on the invalidation channel would cost a message per
batch to every process to drop what, being least recently read, memory rarely holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.cache.keys import EVICT_BATCH_ROWS
from cachefront.db.queries import load_queries

__all__ = ["Eviction", "QuotaState", "evict_over_quota", "quota_states"]

log = logging.getLogger(__name__)

QUERIES = load_queries("cachefront.cache")


@dataclass(frozen=True, slots=True)
class Eviction:
    """What one run did to one namespace: its size before, and what it removed."""

    namespace: str
    quota_bytes: int
    bytes_before: int
    entries: int = 0
    bytes: int = 0

    @property
    def bytes_after(self) -> int:
        return self.bytes_before - self.bytes


@dataclass(frozen=True, slots=True)
class QuotaState:
    """A namespace as the last eviction run left it, and what eviction removed in all."""

    namespace: str
    bytes: int
    checked_at: datetime
    evicted_entries: int
    evicted_bytes: int


async def quota_states(conn: AsyncConnection) -> dict[str, QuotaState]:
    """Every namespace eviction has measured (the health check, storage figures, /metrics)."""
    rows = await conn.execute(QUERIES.text("quota_state"))
    return {
        str(r.namespace): QuotaState(
            str(r.namespace),
            int(r.bytes),
            r.checked_at,
            int(r.evicted_entries),
            int(r.evicted_bytes),
        )
        for r in rows
    }


async def evict_over_quota(
    engine: AsyncEngine, quotas: Mapping[str, int], *, batch_rows: int = EVICT_BATCH_ROWS
) -> list[Eviction]:
    """Bring every namespace of ``quotas`` under its quota; one ``Eviction`` per namespace.

    The namespaces are measured in one pass over their rows; what each is left at is
    stored (``cache_quota_state``) for the health check.
    """
    if not quotas:
        return []
    async with engine.connect() as conn:
        rows = await conn.execute(QUERIES.text("namespaces_bytes"), {"names": list(quotas)})
        sizes = {str(r.namespace): int(r.bytes) for r in rows}
    done = []
    for ns, quota in sorted(quotas.items()):
        eviction = await _evict(engine, ns, quota, sizes.get(ns, 0), batch_rows)
        async with engine.begin() as conn:
            await conn.execute(
                QUERIES.text("note_quota_checked"), {"ns": ns, "bytes": eviction.bytes_after}
            )
        done.append(eviction)
    return done


async def _evict(engine: AsyncEngine, ns: str, quota: int, size: int, batch_rows: int) -> Eviction:
    entries = freed = 0
    while size - freed > quota:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    QUERIES.text("evict_lru_batch"),
                    {"ns": ns, "excess": size - freed - quota, "batch": batch_rows},
                )
            ).all()
            if not rows:
                # Every candidate is held by a writer right now: the next run goes on.
                break
            batch_bytes = sum(int(row.bytes) for row in rows)
            await conn.execute(
                QUERIES.text("add_evictions"),
                {"ns": ns, "entries": len(rows), "bytes": batch_bytes},
            )
        entries += len(rows)
        freed += batch_bytes
    if entries:
        log.info(
            "evicted %d entries (%d bytes) of %s over its quota of %d bytes",
            entries,
            freed,
            ns,
            quota,
            extra={
                "action": "cache.evict",
                "namespace": ns,
                "entries": entries,
                "bytes": freed,
                "quota_bytes": quota,
            },
        )
    return Eviction(ns, quota, size, entries, freed)
