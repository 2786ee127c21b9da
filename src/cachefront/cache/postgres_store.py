"""The PostgreSQL tier over ``cache_entries``, and the advisory locks used when Redis is absent.

Every statement is built once at import and named. Database errors propagate: unlike
Redis, PostgreSQL is the system of record, and a cache that silently lost it would
send every request upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Text, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.cache.entry import CacheEntry
from cachefront.cache.store import BatchStore
from cachefront.cache.tables import cache_entries

__all__ = [
    "DELETE_KEY",
    "GET_MANY",
    "LOCK_KEYS_SQL",
    "PostgresStore",
]

_t = cache_entries.c

GET_MANY = select(cache_entries).where(
    _t.namespace == bindparam("ns"),
    _t.key == any_(bindparam("keys", type_=ARRAY(Text))),
)

DELETE_KEY = cache_entries.delete().where(
    _t.namespace == bindparam("ns"), _t.key == bindparam("key")
)

# Waits for the transaction-scoped advisory lock of every key, taken in the order of
# their lock ids so that two batches sharing keys can never deadlock. The locks go
# away with the transaction, whose COMMIT is also what publishes the filled rows.
LOCK_KEYS_SQL = text(
    """
    SELECT count(pg_advisory_xact_lock(lock_id))
    FROM (
        SELECT DISTINCT hashtextextended(CAST(:ns AS text) || ':' || key, 0) AS lock_id
        FROM unnest(CAST(:keys AS text[])) AS key
        ORDER BY lock_id
    ) AS ordered
    """
)

# One statement carries at most this many rows: PostgreSQL allows 65535 parameters,
# and a row takes eight.
_ROWS_PER_INSERT = 1000


def _upsert(rows: list[dict[str, Any]]) -> Any:
    stmt = insert(cache_entries).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=[_t.namespace, _t.key],
        set_={
            column.name: stmt.excluded[column.name]
            for column in cache_entries.c
            if not column.primary_key
        },
        # A slow writer must not replace what a faster one fetched later.
        where=_t.stored_at <= stmt.excluded.stored_at,
    )


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _row(ns: str, key: str, entry: CacheEntry) -> dict[str, Any]:
    return {
        "namespace": ns,
        "key": key,
        "value": entry.value,
        "etag": entry.etag,
        "negative": entry.negative,
        "stored_at": _moment(entry.stored_at),
        "fresh_until": _moment(entry.fresh_until),
        "expires_at": _moment(entry.expires_at),
    }


def _entry(row: Row[Any]) -> CacheEntry:
    return CacheEntry(
        value=bytes(row.value),
        etag=row.etag,
        stored_at=row.stored_at.timestamp(),
        fresh_until=row.fresh_until.timestamp(),
        expires_at=row.expires_at.timestamp(),
        negative=row.negative,
    )


async def _get_many(conn: AsyncConnection, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
    if not keys:
        return {}
    result = await conn.execute(GET_MANY, {"ns": ns, "keys": list(keys)})
    return {row.key: _entry(row) for row in result}


async def _set_many(conn: AsyncConnection, ns: str, entries: Mapping[str, CacheEntry]) -> None:
    rows = [_row(ns, key, entry) for key, entry in entries.items()]
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        await conn.execute(_upsert(rows[start : start + _ROWS_PER_INSERT]))


class _LockedStore:
    """The tier seen from inside a transaction that holds advisory locks."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        return await _get_many(self._conn, ns, keys)

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        await _set_many(self._conn, ns, entries)


class PostgresStore:
    """Entries in the ``cache_entries`` table, one row per (namespace, key)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, ns: str, key: str) -> CacheEntry | None:
        return (await self.get_many(ns, [key])).get(key)

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        if not keys:
            return {}
        async with self._engine.connect() as conn:
            return await _get_many(conn, ns, keys)

    async def set(self, ns: str, key: str, entry: CacheEntry) -> None:
        await self.set_many(ns, {key: entry})

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        if not entries:
            return
        async with self._engine.begin() as conn:
            await _set_many(conn, ns, entries)

    async def delete(self, ns: str, key: str) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(DELETE_KEY, {"ns": ns, "key": key})
        return result.rowcount

    async def delete_prefix(self, ns: str, prefix: str = "") -> int:
        stmt = cache_entries.delete().where(_t.namespace == ns)
        if prefix:
            stmt = stmt.where(_t.key.startswith(prefix, autoescape=True))
        async with self._engine.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount

    @asynccontextmanager
    async def locked(self, ns: str, keys: Sequence[str]) -> AsyncIterator[BatchStore]:
        """Hold the advisory locks of ``keys`` (waiting for them) until the block ends.

        Reads and writes through the yielded store happen in the locking transaction,
        so what it writes becomes visible exactly when the locks are released.
        """
        async with self._engine.begin() as conn:
            await conn.execute(LOCK_KEYS_SQL, {"ns": ns, "keys": list(keys)})
            yield _LockedStore(conn)
