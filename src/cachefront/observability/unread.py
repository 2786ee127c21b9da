"""Invalidation candidates: cache entries never read since they were stored.

Only namespaces with a quota record reads (``last_read_at``, written by the read log
of ``cache/reads.py`` for quota eviction); elsewhere an entry's reads are not known,
and such a namespace is listed as not tracked rather than given a number. The
namespaces are found by skipping along the primary key, and only the tracked ones'
entries are counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.queries import load_queries

__all__ = ["NamespaceReads", "load_unread"]

QUERIES = load_queries("cachefront.observability")


class NamespaceReads(BaseModel):
    namespace: str
    # False: this namespace records no reads, and the counts below are None.
    tracked: bool
    entries: int | None
    never_read: int | None
    never_read_bytes: int | None
    oldest_never_read: datetime | None


async def load_unread(engine: AsyncEngine, tracked: Iterable[str]) -> list[NamespaceReads]:
    """Every namespace holding entries, and each tracked one (even empty), by name."""
    names = sorted(set(tracked))
    async with engine.connect() as conn:
        present = [str(r[0]) for r in await conn.execute(QUERIES.text("cache_namespace_names"))]
        counted = {
            str(r["namespace"]): r
            for r in (
                await conn.execute(QUERIES.text("never_read"), {"namespaces": names})
            ).mappings()
        }
    out = []
    for ns in sorted(set(present) | set(names)):
        if ns not in names:
            out.append(
                NamespaceReads(
                    namespace=ns,
                    tracked=False,
                    entries=None,
                    never_read=None,
                    never_read_bytes=None,
                    oldest_never_read=None,
                )
            )
            continue
        row = counted.get(ns)
        out.append(
            NamespaceReads(
                namespace=ns,
                tracked=True,
                entries=0 if row is None else int(row["entries"]),
                never_read=0 if row is None else int(row["never_read"]),
                never_read_bytes=0 if row is None else int(row["never_read_bytes"]),
                oldest_never_read=None if row is None else row["oldest_never_read"],
            )
        )
    return out
