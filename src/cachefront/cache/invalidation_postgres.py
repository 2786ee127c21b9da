"""Memory tiers kept in step over PostgreSQL LISTEN/NOTIFY, for deployments without Redis.

Announcements go out with ``pg_notify`` through the engine's pool; each process
listens on a connection of its own (``db/listener.py``; LISTEN needs a session: a
transaction-mode pooler cannot carry it: behind one, it connects to
CACHEFRONT_DATABASE_DIRECT_URL). A payload holds at most ``_PAYLOAD_MAX`` bytes (the
server's limit is 8000), so a large batch of keys goes out as several notifications.
After the listening connection breaks, the listener connects again and drops the whole
memory tier first, as over Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache.invalidation import Invalidation, apply_invalidation, new_origin
from cachefront.cache.memory import MemoryStore
from cachefront.db.listener import Listener
from cachefront.db.queries import load_queries

__all__ = ["CHANNEL", "PostgresAnnouncer"]

log = logging.getLogger(__name__)

QUERIES = load_queries("cachefront.cache")
NOTIFY_SQL = QUERIES.text("notify_invalidation")

# The NOTIFY channel (an identifier; one database serves one deployment).
CHANNEL = "cachefront_invalidate"
_PAYLOAD_MAX = 7000
# Every announcement has a deadline: a database that stops
# answering must not hold up the write that announces.
_DEADLINE_SECONDS = 2.0


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
        self._memory = memory
        self.origin = new_origin()
        self._listener = Listener(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            CHANNEL,
            self._apply,
            # After the connection broke, what was announced meanwhile is lost.
            on_reconnect=self._resync,
            application_name="cachefront-invalidation",
            action="cache.invalidation",
        )
        self.applied = 0
        self.resyncs = 0

    async def open(self) -> None:
        await self._listener.start()

    async def aclose(self) -> None:
        await self._listener.aclose()

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

    def _resync(self) -> None:
        self._memory.clear()
        self.resyncs += 1
        log.info(
            "cache invalidation: listening again; memory tier dropped",
            extra={"action": "cache.invalidation_resync"},
        )

    def _apply(self, data: str) -> None:
        message = Invalidation.decode(data)
        if message is not None and apply_invalidation(self._memory, message, self.origin):
            self.applied += 1
