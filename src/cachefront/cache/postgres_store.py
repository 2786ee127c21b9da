"""The PostgreSQL tier over ``cache_entries``, and the advisory locks used when Redis is absent.

Every statement is built once at import and named. Database errors propagate: unlike
Redis, PostgreSQL is the system of record, and a cache that silently lost it would
send every request upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, Text, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.cache.entry import CacheEntry
from cachefront.cache.store import BatchStore
from cachefront.cache.tables import cache_entries

__all__ = [
    "DELETE_KEY",
    "DELETE_PREFIX",
    "GET_MANY",
    "LOCK_KEYS_SQL",
    "UPSERT_SQL",
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

# ``pattern`` is a LIKE pattern with ``\`` as escape: see _like_prefix.
DELETE_PREFIX = cache_entries.delete().where(
    _t.namespace == bindparam("ns"), _t.key.like(bindparam("pattern"), escape="\\")
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

# Every entry of a batch in one statement and one round trip, whatever the batch size:
# the rows travel as parallel arrays. A slow writer must not replace what a faster one
# fetched later, hence the WHERE on stored_at.
UPSERT_SQL = text(
    """
    INSERT INTO cache_entries AS c
        (namespace, key, value, etag, negative, stored_at, fresh_until, expires_at)
    SELECT CAST(:ns AS text), r.key, r.value, r.etag, r.negative,
           to_timestamp(r.stored_at), to_timestamp(r.fresh_until), to_timestamp(r.expires_at)
    FROM unnest(
        CAST(:keys AS text[]), CAST(:values AS bytea[]), CAST(:etags AS text[]),
        CAST(:negatives AS boolean[]), CAST(:stored_at AS float8[]),
        CAST(:fresh_until AS float8[]), CAST(:expires_at AS float8[])
    ) AS r (key, value, etag, negative, stored_at, fresh_until, expires_at)
    ON CONFLICT (namespace, key) DO UPDATE SET
        value = excluded.value,
        etag = excluded.etag,
        negative = excluded.negative,
        stored_at = excluded.stored_at,
        fresh_until = excluded.fresh_until,
        expires_at = excluded.expires_at
    WHERE c.stored_at <= excluded.stored_at
    """
)


def _like_prefix(prefix: str) -> str:
    # The caller's prefix matches only itself: its LIKE wildcards are escaped.
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


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
    if not entries:
        return
    batch = list(entries.values())
    await conn.execute(
        UPSERT_SQL,
        {
            "ns": ns,
            "keys": list(entries),
            "values": [entry.value for entry in batch],
            "etags": [entry.etag for entry in batch],
            "negatives": [entry.negative for entry in batch],
            "stored_at": [entry.stored_at for entry in batch],
            "fresh_until": [entry.fresh_until for entry in batch],
            "expires_at": [entry.expires_at for entry in batch],
        },
    )


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
        async with self._engine.begin() as conn:
            result = await conn.execute(DELETE_PREFIX, {"ns": ns, "pattern": _like_prefix(prefix)})
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
