"""One job's server-sent event stream: what it writes, and when (``GET /v1/jobs/{id}/events``).

The stream opens with ``retry:`` (how long EventSource waits before reconnecting),
then writes a ``progress`` event, the job as ``GET /v1/jobs/{id}`` shows it, each time
that changes, and ``end`` with the same body once the job has finished. Each event's
``id`` is a digest of its body: a client reconnecting with ``Last-Event-ID`` gets the
job again only when it changed meanwhile (every event is the whole job, so the latest
is all there is to resume from). A stream with nothing to say writes a comment every
``heartbeat_seconds``, and ends after ``max_seconds`` without ``end``: the client then
reconnects and carries on where it was.

It wakes on the job's notifications (``jobs/events.py``), and reads the job every
``recheck_seconds`` as well, in case one was lost.

When the server starts shutting down (SIGTERM: ``draining.py``) the stream ends at
once, after a last ``retry:``: the client reconnects, through the load balancer, to a
process that is staying, and resumes with ``Last-Event-ID``. Held open instead, it
would keep the stopping process up for the whole shutdown timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

from cachefront.draining import is_draining, when_draining
from cachefront.jobs.events import JobEvents, wake

__all__ = ["HEARTBEAT", "JobSnapshot", "event_id", "job_stream"]

HEARTBEAT = b": heartbeat\n\n"

# A read of the job: its body as the API shows it, and whether it has finished.
JobSnapshot = tuple[bytes, bool]


def event_id(body: bytes) -> str:
    """The id of the event carrying ``body``: the same body, the same id."""
    return hashlib.blake2b(body, digest_size=8).hexdigest()


def _event(name: bytes, body: bytes) -> bytes:
    return b"id: " + event_id(body).encode() + b"\nevent: " + name + b"\ndata: " + body + b"\n\n"


async def job_stream(
    events: JobEvents,
    job_id: uuid.UUID,
    read: Callable[[], Awaitable[JobSnapshot]],
    *,
    reader: Hashable,
    last_event_id: str | None = None,
) -> AsyncIterator[bytes]:
    """The stream of ``job_id``, ``read`` giving its current snapshot; streams with the
    same ``reader`` (the job and what the caller may see of it) share their reads."""
    timing = events.timing
    loop = asyncio.get_running_loop()
    retry = b"retry: %d\n\n" % timing.retry_ms
    async with events.subscribe(job_id) as changes:
        with when_draining(lambda: wake(changes)):
            now = loop.time()
            ends = now + timing.max_seconds
            beat_at = now + timing.heartbeat_seconds
            yield retry
            # Read after subscribing: a change committed from here on wakes ``changes``.
            body, finished = await events.read(job_id, reader, read)
            last = last_event_id
            while True:
                if event_id(body) != last:
                    yield _event(b"progress", body)
                    last = event_id(body)
                    beat_at = loop.time() + timing.heartbeat_seconds
                if finished:
                    yield _event(b"end", body)
                    return
                recheck_at = loop.time() + timing.recheck_seconds
                while True:
                    if is_draining():
                        # No ``end``: the client reconnects to another process.
                        yield retry
                        return
                    now = loop.time()
                    if now >= ends:
                        return  # no ``end``: the client reconnects with Last-Event-ID
                    wait = min(recheck_at, beat_at, ends) - now
                    try:
                        await asyncio.wait_for(changes.get(), max(wait, 0.0))
                        break
                    except TimeoutError:
                        now = loop.time()
                        if now >= beat_at:
                            yield HEARTBEAT
                            beat_at = now + timing.heartbeat_seconds
                        if now >= recheck_at:
                            break
                if is_draining():
                    yield retry
                    return
                body, finished = await events.read(job_id, reader, read)
