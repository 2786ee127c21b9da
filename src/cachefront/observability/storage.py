"""Storage figures: the size of every table, and the PostgreSQL cache tier per namespace.

Tables come from the catalog (``pg_total_relation_size``, partitions rolled up into
their parent), so they cost nothing however big the tables are. The namespaces come
from one pass over ``cache_entries``: entries, bytes of values, the oldest and newest
entry, and the expiry forecast (how many entries go within 1 h, 24 h and 7 days),
with each namespace's quota (``CACHEFRONT_CACHE_QUOTAS``) and what eviction removed
from it so far. The same document answers ``GET /v1/admin/storage``, the CLI's
``cachefront storage`` and the dashboard's storage panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.quotas import quota_states
from cachefront.db.queries import load_queries

__all__ = ["NamespaceStorage", "StorageReport", "TableStorage", "load_storage"]

QUERIES = load_queries("cachefront.observability")


class TableStorage(BaseModel):
    schema_name: str
    table: str
    bytes: int
    partitions: int


class NamespaceStorage(BaseModel):
    namespace: str
    entries: int
    bytes: int
    oldest_stored_at: datetime | None
    newest_stored_at: datetime | None
    expired: int
    expiring_1h: int
    expiring_24h: int
    expiring_7d: int
    quota_bytes: int | None = None
    evicted_entries: int = 0
    evicted_bytes: int = 0

    @property
    def over_quota(self) -> bool:
        return self.quota_bytes is not None and self.bytes > self.quota_bytes


class StorageReport(BaseModel):
    generated_at: datetime
    database_bytes: int
    tables: list[TableStorage]
    namespaces: list[NamespaceStorage]


async def load_storage(
    engine: AsyncEngine, quotas: Mapping[str, int] | None = None, *, now: datetime | None = None
) -> StorageReport:
    """The storage figures now; ``quotas`` are listed even for namespaces with no entry."""
    at = now or datetime.now(UTC)
    quotas = quotas or {}
    async with engine.connect() as conn:
        size = int((await conn.execute(QUERIES.text("database_size"))).scalar_one())
        tables = [
            TableStorage(
                schema_name=r.schema, table=r.table_name, bytes=r.bytes, partitions=r.partitions
            )
            for r in await conn.execute(QUERIES.text("storage_tables"))
        ]
        rows = (await conn.execute(QUERIES.text("storage_namespaces"), {"now": at})).mappings()
        namespaces = {r["namespace"]: dict(r) for r in rows}
        evicted = {
            ns: (state.evicted_entries, state.evicted_bytes)
            for ns, state in (await quota_states(conn)).items()
        }
    figures = []
    for name in sorted({*namespaces, *quotas}):
        row = namespaces.get(name) or _empty(name)
        entries, nbytes = evicted.get(name, (0, 0))
        quota = quotas.get(name)
        figures.append(
            NamespaceStorage(
                **row,
                quota_bytes=None if quota is None else int(quota),
                evicted_entries=entries,
                evicted_bytes=nbytes,
            )
        )
    return StorageReport(generated_at=at, database_bytes=size, tables=tables, namespaces=figures)


def _empty(name: str) -> dict[str, object]:
    return {
        "namespace": name,
        "entries": 0,
        "bytes": 0,
        "oldest_stored_at": None,
        "newest_stored_at": None,
        "expired": 0,
        "expiring_1h": 0,
        "expiring_24h": 0,
        "expiring_7d": 0,
    }
