"""Job changes as they happen: one LISTEN per process, fanned out to each open event stream.

The job records send ``NOTIFY cachefront_job_events_v1, '<job id>'`` in the transaction
that changes a job's status or progress (``jobs/records.py``). Each process has one
``JobEvents``, whose listener connection (the direct one under a transaction pooler:
``db/listener.py``) is opened by the first stream and shared by all that follow; a
notification wakes the streams of that job only, through a queue of one slot each (a
wake-up already waiting says all a burst would say: read the job again), and the
streams of one job woken together share one read of it (``JobEvents.read``).

Notifications are not durable: one sent while the listener was reconnecting is lost.
So a reconnect wakes every stream, and each stream also reads its job every
``RECHECK_SECONDS`` whatever it heard (``EventTiming``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachefront.db.listener import Listener

__all__ = [
    "CHANNEL",
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_RECHECK_SECONDS",
    "DEFAULT_RETRY_MS",
    "EventTiming",
    "JobEvents",
    "wake",
]

T = TypeVar("T")

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


def wake(queue: asyncio.Queue[None]) -> None:
    """Put a wake-up in a stream's queue of one slot, unless one already waits there."""
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
        # A clock ticking at each notification heard and each stream opened; per job,
        # its tick at the latest. A read started at or after that tick has seen it all.
        self._tick = 0
        self._generation: dict[uuid.UUID, int] = {}
        self._reads: dict[Hashable, tuple[int, asyncio.Future[Any]]] = {}
        self.delivered = 0
        self.reads = 0

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
        # Its first read must not join one that started before it subscribed.
        self._advance(job_id)
        try:
            yield queue
        finally:
            queues = self._watching.get(job_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._watching[job_id]
                    self._generation.pop(job_id, None)

    async def read(self, job_id: uuid.UUID, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, shared by the streams of ``job_id`` that ask with the same ``key``
        while it runs, as long as it started after the job's latest notification.

        A wake-up of many streams of one job then costs one read, not one per stream;
        one that started earlier may predate the change, so a new read starts instead.
        """
        running = self._reads.get(key)
        if running is None or running[0] < self._generation.get(job_id, 0):
            future: asyncio.Future[T] = asyncio.ensure_future(read())
            self._reads[key] = (self._tick, future)
            self.reads += 1

            def forget(done: asyncio.Future[T]) -> None:
                if self._reads.get(key, (0, None))[1] is done:
                    del self._reads[key]
                if not done.cancelled():
                    done.exception()  # each reader gets it; none is left unretrieved

            future.add_done_callback(forget)
            running = (self._tick, future)
        # Shielded: a stream whose client left must not cancel the others' read.
        result: T = await asyncio.shield(running[1])
        return result

    async def aclose(self) -> None:
        await self.listener.aclose()

    def _deliver(self, payload: str) -> None:
        try:
            job_id = uuid.UUID(payload)
        except ValueError:
            return  # not ours: the channel is the deployment's, but be strict
        queues = self._watching.get(job_id)
        if not queues:
            return
        self._advance(job_id)
        for queue in queues:
            wake(queue)
            self.delivered += 1

    def _wake_all(self) -> None:
        for job_id, queues in self._watching.items():
            self._advance(job_id)
            for queue in queues:
                wake(queue)

    def _advance(self, job_id: uuid.UUID) -> None:
        self._tick += 1
        self._generation[job_id] = self._tick
