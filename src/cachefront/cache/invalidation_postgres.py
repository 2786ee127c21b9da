"""Memory tiers kept in step over PostgreSQL LISTEN/NOTIFY, for deployments without Redis.

Announcements go out with ``pg_notify`` through the engine's pool; each process
listens on a connection of its own (LISTEN needs a session: a transaction-mode pooler
cannot carry it: behind one, it connects to CACHEFRONT_DATABASE_DIRECT_URL). A payload
holds at most ``_PAYLOAD_MAX`` bytes (the server's limit is 8000), so a large batch of
keys goes out as several notifications. After the listening connection breaks, the
listener connects again and drops the whole memory tier first, as over Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.invalidation import Invalidation, apply_invalidation, new_origin
from cachefront.cache.memory import MemoryStore
from cachefront.db.queries import load_queries

__all__ = ["CHANNEL", "PostgresAnnouncer"]

log = logging.getLogger(__name__)

QUERIES = load_queries("cachefront.cache")
NOTIFY_SQL = QUERIES.text("notify_invalidation")
PING_SQL = QUERIES["listener_ping"]

# The NOTIFY channel (an identifier; one database serves one deployment).
CHANNEL = "cachefront_invalidate"
_PAYLOAD_MAX = 7000
# Every announcement and connection attempt has a deadline: a database that stops
# answering must not hold up the write that announces.
_DEADLINE_SECONDS = 2.0
_POLL_SECONDS = 1.0
_RETRY_SECONDS = 0.5


def _chunks(origin: str, ns: str, keys: Sequence[str]) -> list[bytes]:
    """Payloads naming ``keys``, each within ``_PAYLOAD_MAX`` bytes."""
    out: list[bytes] = []
    batch: list[str] = []
    for key in keys:
        candidate = Invalidation(origin, ns, (*batch, key)).encode()
        if batch and len(candidate) > _PAYLOAD_MAX:
            out.append(Invalidation(origin, ns, tuple(batch)).encode())
            batch = [key]
        else:
            batch.append(key)
    if batch:
        payload = Invalidation(origin, ns, tuple(batch)).encode()
        if len(payload) > _PAYLOAD_MAX:
            # One key too long for a notification: the whole namespace goes instead.
            payload = Invalidation(origin, ns, prefix="").encode()
        out.append(payload)
    return out


class PostgresAnnouncer:
    """Publishes this process's changes with NOTIFY; applies the others' to ``memory``."""

    def __init__(
        self, engine: AsyncEngine, memory: MemoryStore, *, listen_url: str | None = None
    ) -> None:
        """``listen_url``: where to LISTEN when the engine goes through a transaction
        pooler (CACHEFRONT_DATABASE_DIRECT_URL); default the engine's own server."""
        self._engine = engine
        url = engine.url if listen_url is None else make_url(listen_url)
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._memory = memory
        self.origin = new_origin()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.applied = 0
        self.resyncs = 0

    async def open(self) -> None:
        if self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), _DEADLINE_SECONDS)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def announce(
        self, ns: str, keys: Sequence[str] = (), *, prefix: str | None = None
    ) -> None:
        if prefix is not None:
            payloads = [Invalidation(self.origin, ns, prefix=prefix).encode()]
        elif keys:
            payloads = _chunks(self.origin, ns, keys)
        else:
            return
        try:
            async with asyncio.timeout(_DEADLINE_SECONDS), self._engine.connect() as conn:
                for payload in payloads:
                    await conn.execute(
                        NOTIFY_SQL,
                        {"channel": CHANNEL, "payload": payload.decode()},
                    )
                await conn.commit()  # notifications are delivered at commit
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning(
                "cache invalidation: NOTIFY failed (%s); other processes keep their copies "
                "until these go stale",
                type(exc).__name__,
                extra={"action": "cache.invalidation_lost"},
            )

    async def _listen(self) -> None:
        listened = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=int(_DEADLINE_SECONDS)
                )
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "cache invalidation: cannot listen (%s)",
                    type(exc).__name__,
                    extra={"action": "cache.invalidation_down"},
                )
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if listened:
                        self._memory.clear()
                        self.resyncs += 1
                        log.info(
                            "cache invalidation: listening again; memory tier dropped",
                            extra={"action": "cache.invalidation_resync"},
                        )
                    listened = True
                    self._listening.set()
                    while True:
                        async for notify in conn.notifies(timeout=_POLL_SECONDS):
                            self._apply(notify.payload)
                        # A quiet second: make sure the connection still answers.
                        await conn.execute(PING_SQL)
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                log.warning(
                    "cache invalidation: listening connection lost (%s)",
                    type(exc).__name__,
                    extra={"action": "cache.invalidation_down"},
                )
            await asyncio.sleep(_RETRY_SECONDS)

    def _apply(self, data: str) -> None:
        message = Invalidation.decode(data)
        if message is not None and apply_invalidation(self._memory, message, self.origin):
            self.applied += 1
