"""The PostgreSQL tier over ``cache_entries``, and the advisory locks used when Redis is absent.

Every statement is built once at import and named. A database that cannot be reached
(down, refusing connections, pool exhausted) degrades reads and writes like Redis
does: a read is a miss, a write is skipped, the outage is logged once and the
database skipped for a backoff (``cachefront.outage.Outage``), so an upstream that works
still answers cold requests. The outage is logged, never silent: meanwhile every miss
goes upstream. Invalidations and the advisory locks still raise: a delete that did
not happen must not be reported as done, and the single-flight decides for itself
what to do without locks (``DATABASE_UNREACHABLE`` names the errors that mean "away").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, Text, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cachefront.cache.entry import CacheEntry
from cachefront.cache.keys import DB_BACKOFF_FIRST_SECONDS, DB_BACKOFF_MAX_SECONDS
from cachefront.cache.store import BatchStore
from cachefront.cache.tables import cache_entries
from cachefront.db.queries import load_queries
from cachefront.outage import Outage

__all__ = [
    "DATABASE_UNREACHABLE",
    "DELETE_KEY",
    "DELETE_PREFIX",
    "GET_MANY",
    "LOCK_KEYS_SQL",
    "UPSERT_SQL",
    "PostgresStore",
]

logger = logging.getLogger(__name__)

# What the driver raises when the database is away rather than when a statement is
# wrong: connection refused or lost, server shutting down (psycopg's OperationalError,
# wrapped by SQLAlchemy), a dead socket, no pooled connection free in time.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
)

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

QUERIES = load_queries("cachefront.cache")

# The statements worth reading as SQL; see cache/sql/queries.sql for why each is so.
LOCK_KEYS_SQL = QUERIES.text("lock_keys")
UPSERT_SQL = QUERIES.text("upsert_entries")


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

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        backoff_first: float = DB_BACKOFF_FIRST_SECONDS,
        backoff_max: float = DB_BACKOFF_MAX_SECONDS,
    ) -> None:
        self._engine = engine
        self._outage = Outage(
            "db",
            label="PostgreSQL",
            without="cold requests go upstream without storing there or locking across processes",
            backoff_first=backoff_first,
            backoff_max=backoff_max,
            logger=logger,
        )

    @property
    def available(self) -> bool:
        """False while the store skips the database after it could not be reached."""
        return self._outage.available

    @property
    def down(self) -> bool:
        """True from a failed command until a command succeeds again."""
        return self._outage.down

    async def get(self, ns: str, key: str) -> CacheEntry | None:
        return (await self.get_many(ns, [key])).get(key)

    async def get_many(self, ns: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries present among ``keys``; none while the database is away."""
        if not keys or not self._outage.available:
            return {}
        try:
            async with self._engine.connect() as conn:
                found = await _get_many(conn, ns, keys)
        except DATABASE_UNREACHABLE as exc:
            self._outage.failed("get_many", exc)
            return {}
        self._outage.succeeded()
        return found

    async def set(self, ns: str, key: str, entry: CacheEntry) -> None:
        await self.set_many(ns, {key: entry})

    async def set_many(self, ns: str, entries: Mapping[str, CacheEntry]) -> None:
        """Store ``entries``; skipped while the database is away (the other tiers get them)."""
        if not entries or not self._outage.available:
            return
        try:
            async with self._engine.begin() as conn:
                await _set_many(conn, ns, entries)
        except DATABASE_UNREACHABLE as exc:
            self._outage.failed("set_many", exc)
            return
        self._outage.succeeded()

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
        so what it writes becomes visible exactly when the locks are released. Raises
        one of ``DATABASE_UNREACHABLE`` (and notes the outage) when the database is away.
        """
        try:
            async with self._engine.begin() as conn:
                await conn.execute(LOCK_KEYS_SQL, {"ns": ns, "keys": list(keys)})
                yield _LockedStore(conn)
        except DATABASE_UNREACHABLE as exc:
            self._outage.failed("locked", exc)
            raise
        self._outage.succeeded()
