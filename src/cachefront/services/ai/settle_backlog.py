"""Settled quota differences not sent yet: carried by the caller's next hold, or sent together.

Settling a hold (what a call used, minus what it held) needs no round trip of its own.
The difference waits here under its counter's key: the caller's next hold takes it
(``take``) and applies it in the same script or statement, before it checks; what no
hold took within ``SETTLE_SECONDS`` goes to the store with every other difference
waiting, in one ``send``. Until then a counter stands higher than it is, which can
only refuse, never admit, too much, and reads add what is waiting (``unsent``). A
difference the store did not take stays for the next try; one left when the process
dies is lost, and its hold stands until the day ends, as a failed settle's did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SETTLE_SECONDS", "SettleBacklog"]

log = logging.getLogger(__name__)

# How long a settled difference may wait for company before it is sent on its own.
SETTLE_SECONDS = 0.05
# How long a batch the store refused waits before it is tried again.
_RETRY_SECONDS = 1.0

K = TypeVar("K", bound=Hashable)


class SettleBacklog(Generic[K]):
    """Differences by counter key; ``send`` writes a batch of them to the store."""

    def __init__(
        self,
        send: Callable[[dict[K, int]], Awaitable[None]],
        *,
        store: str,
        seconds: float = SETTLE_SECONDS,
    ) -> None:
        self._send = send
        self._store = store
        self._seconds = seconds
        self._waiting: dict[K, int] = {}
        self._sending: asyncio.Task[None] | None = None
        self._sending_now = False
        self._failing = False  # one warning per outage, not one per try

    def __len__(self) -> int:
        return len(self._waiting)

    def owe(self, key: K, difference: int) -> None:
        """Count ``difference`` against ``key``, to be sent within ``seconds``."""
        if difference == 0:
            return
        self._waiting[key] = self._waiting.get(key, 0) + difference
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(
                self._send_later(), name=f"ai-quota-settle-{self._store}"
            )

    def take(self, key: K) -> int:
        """What waits for ``key``, for a hold to apply; ``owe`` it back if it fails."""
        return self._waiting.pop(key, 0)

    def unsent(self, key: K) -> int:
        return self._waiting.get(key, 0)

    async def _send_later(self) -> None:
        pause = self._seconds
        while True:
            await asyncio.sleep(pause)
            # From here on the task is not cancelled (see aclose): a send cut off
            # midway could leave a connection neither used nor given back to its pool.
            self._sending_now = True
            try:
                sent = await self.send_all()
            finally:
                self._sending_now = False
            if not self._waiting:
                return
            # Owed while the send was in flight, or kept from a failed one.
            pause = self._seconds if sent else _RETRY_SECONDS

    async def send_all(self) -> bool:
        """Send everything waiting in one batch; kept for the next try if it fails."""
        waiting, self._waiting = self._waiting, {}
        if not waiting:
            return True
        try:
            await self._send(waiting)
        except BaseException as exc:
            for key, difference in waiting.items():
                self._waiting[key] = self._waiting.get(key, 0) + difference
            if not isinstance(exc, Exception):
                raise
            if not self._failing:
                log.warning(
                    "ai quotas: could not send settled usage to %s; kept for the next try: %s",
                    self._store,
                    type(exc).__name__,
                    extra={"action": "ai.quota_settle_failed", "store": self._store},
                )
            self._failing = True
            return False
        self._failing = False
        return True

    async def aclose(self) -> None:
        """Send what waits, once more, before the store goes."""
        if self._sending is not None:
            if not self._sending_now:
                self._sending.cancel()  # still waiting for company: nothing in flight
            with contextlib.suppress(asyncio.CancelledError):
                await self._sending
            self._sending = None
        await self.send_all()
