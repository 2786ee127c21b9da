"""Job changes as they happen: one LISTEN per process, fanned out to each open event stream.

The job records send ``NOTIFY cachefront_job_events_v1, '<job id>'`` in the transaction
that changes a job's status or progress (``jobs/records.py``). Each process has one
``JobEvents``, whose listener connection (the direct one under a transaction pooler:
``db/listener.py``) is opened by the first stream and shared by all that follow; a
notification wakes the streams of that job only, through a queue of one slot each (a
wake-up already waiting says all a burst would say: read the job again).

Notifications are not durable: one sent while the listener was reconnecting is lost.
So a reconnect wakes every stream, and each stream also reads its job every
``RECHECK_SECONDS`` whatever it heard (``EventTiming``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cachefront.db.listener import Listener

__all__ = [
    "CHANNEL",
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_RECHECK_SECONDS",
    "DEFAULT_RETRY_MS",
    "EventTiming",
    "JobEvents",
]

# The NOTIFY channel (an identifier, versioned like the database's other names).
CHANNEL = "cachefront_job_events_v1"

# Comments this often keep proxies (nginx, load balancers: often 60 s) from closing a
# stream that has nothing to say.
DEFAULT_HEARTBEAT_SECONDS = 15.0
# A stream reads its job this often even without a notification, in case one was lost.
DEFAULT_RECHECK_SECONDS = 5.0
# After this long a stream ends; the client reconnects (``retry``) with Last-Event-ID,
# so no stream holds a task and a socket for the whole life of a long job.
DEFAULT_MAX_SECONDS = 600.0
# How long EventSource waits before reconnecting, sent as the stream's ``retry:`` field.
DEFAULT_RETRY_MS = 2000


@dataclass(frozen=True, slots=True)
class EventTiming:
    """When a stream speaks without news, reads again without a notice, and ends."""

    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    recheck_seconds: float = DEFAULT_RECHECK_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS
    retry_ms: int = DEFAULT_RETRY_MS


def _wake(queue: asyncio.Queue[None]) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)


class JobEvents:
    """Who is watching which job in this process, and the one listener that tells them."""

    def __init__(self, conninfo: str, timing: EventTiming | None = None) -> None:
        """``conninfo``: a libpq URL that takes LISTEN (not a transaction pooler)."""
        self.timing = timing or EventTiming()
        self.listener = Listener(
            conninfo,
            CHANNEL,
            self._deliver,
            on_reconnect=self._wake_all,
            application_name="cachefront-job-events",
            action="jobs.events",
        )
        self._watching: dict[uuid.UUID, set[asyncio.Queue[None]]] = {}
        self.delivered = 0

    @property
    def streams(self) -> int:
        """How many streams are open in this process."""
        return sum(len(queues) for queues in self._watching.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[None]]:
        """A queue that gets an item each time ``job_id`` may have changed.

        Read the job after entering: a change committed from then on wakes the queue.
        """
        await self.listener.start()
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._watching.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._watching.get(job_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._watching[job_id]

    async def aclose(self) -> None:
        await self.listener.aclose()

    def _deliver(self, payload: str) -> None:
        try:
            job_id = uuid.UUID(payload)
        except ValueError:
            return  # not ours: the channel is the deployment's, but be strict
        for queue in self._watching.get(job_id, ()):
            _wake(queue)
            self.delivered += 1

    def _wake_all(self) -> None:
        for queues in self._watching.values():
            for queue in queues:
                _wake(queue)
