"""One PostgreSQL LISTEN connection, kept open, handing each notification's payload on.

LISTEN needs a session of its own: a transaction-mode pooler cannot carry it, so the
listener connects to the direct URL (``db.topology.DatabaseUrls.direct``), not through
the pool. A quiet second makes it ping, so a broken connection shows; it then connects
again and calls ``on_reconnect``, since whatever was announced meanwhile is lost and
those who rely on it must catch up another way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg

from cachefront.db.queries import load_queries

__all__ = ["Listener"]

log = logging.getLogger(__name__)

PING_SQL = load_queries("cachefront.db")["listener_ping"]
# A connection attempt has a deadline: a database that stops answering must not hold
# the listener (nor a first subscriber waiting for it) for long.
_DEADLINE_SECONDS = 2.0
_POLL_SECONDS = 1.0
_RETRY_SECONDS = 0.5


class Listener:
    """LISTENs on ``channel`` over ``conninfo`` and calls ``on_notify(payload)`` for each
    notification, from the event loop's task that ``start`` creates."""

    def __init__(
        self,
        conninfo: str,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        on_reconnect: Callable[[], None] | None = None,
        application_name: str = "cachefront-listener",
        action: str = "db.listener",
    ) -> None:
        """``channel`` is an identifier (no quoting is done); ``action`` prefixes the log
        actions (``<action>_down``, ``<action>_resync``)."""
        self._conninfo = conninfo
        self.channel = channel
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._application_name = application_name
        self._action = action
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.reconnects = 0

    @property
    def listening(self) -> bool:
        """Whether LISTEN is in force now (notifications sent from here on arrive)."""
        return self._listening.is_set()

    async def start(self) -> None:
        """Start listening (once; later calls return at once) and wait, up to a short
        deadline, until LISTEN is in force; past it the task keeps trying."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name=f"listen-{self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), _DEADLINE_SECONDS)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self._listening.clear()

    async def _run(self) -> None:
        listened = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=int(_DEADLINE_SECONDS),
                    application_name=self._application_name,
                )
            except (psycopg.Error, OSError) as exc:
                self._down("cannot listen", exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self._listening.set()
                    if listened:
                        self.reconnects += 1
                        log.info(
                            "%s: listening again",
                            self.channel,
                            extra={"action": f"{self._action}_resync"},
                        )
                        if self._on_reconnect is not None:
                            self._on_reconnect()
                    listened = True
                    while True:
                        async for notify in conn.notifies(timeout=_POLL_SECONDS):
                            self._on_notify(notify.payload)
                        # A quiet second: make sure the connection still answers.
                        await conn.execute(PING_SQL)
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                self._down("listening connection lost", exc)
            await asyncio.sleep(_RETRY_SECONDS)

    def _down(self, what: str, exc: BaseException) -> None:
        log.warning(
            "%s: %s (%s)",
            self.channel,
            what,
            type(exc).__name__,
            extra={"action": f"{self._action}_down"},
        )
