"""The process's job events hub on a real PostgreSQL: who is woken, and which reads are shared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.jobs.events import CHANNEL, JobEvents
from jobs_harness import libpq


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[JobEvents]:
    events = JobEvents(libpq(database_url))
    yield events
    await events.aclose()


async def _notify(engine: AsyncEngine, job_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_notify(:channel, :job_id)"),
            {"channel": CHANNEL, "job_id": str(job_id)},
        )


class Reads:
    """A slow read that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        number = self.calls
        await asyncio.sleep(0.2)
        return number


async def test_a_notification_wakes_the_streams_of_its_job_only(
    hub: JobEvents, engine: AsyncEngine
) -> None:
    watched, other = uuid.uuid4(), uuid.uuid4()
    async with hub.subscribe(watched) as mine, hub.subscribe(other) as theirs:
        assert hub.listener.listening
        assert hub.streams == 2
        await _notify(engine, watched)
        await _notify(engine, watched)  # a burst is one wake-up
        await asyncio.wait_for(mine.get(), 2)
        await asyncio.sleep(0.2)
        assert mine.empty()
        assert theirs.empty()
    assert hub.streams == 0


async def test_streams_woken_together_share_one_read(hub: JobEvents, engine: AsyncEngine) -> None:
    job_id, reads = uuid.uuid4(), Reads()
    async with hub.subscribe(job_id) as a, hub.subscribe(job_id) as b, hub.subscribe(job_id):
        await _notify(engine, job_id)
        await asyncio.wait_for(asyncio.gather(a.get(), b.get()), 2)
        got = await asyncio.gather(*(hub.read(job_id, "caller", reads) for _ in range(3)))
        assert got == [1, 1, 1]
        assert reads.calls == 1
        # Another caller's view of the same job is read on its own.
        assert await hub.read(job_id, "someone else", reads) == 2


async def test_a_read_that_began_before_a_notification_is_not_shared_after_it(
    hub: JobEvents, engine: AsyncEngine
) -> None:
    job_id, reads = uuid.uuid4(), Reads()
    async with hub.subscribe(job_id) as changes:
        early = asyncio.create_task(hub.read(job_id, "caller", reads))
        await asyncio.sleep(0.05)  # under way, and it may not see what comes next
        await _notify(engine, job_id)
        await asyncio.wait_for(changes.get(), 2)
        assert await hub.read(job_id, "caller", reads) == 2
        assert await early == 1
        # Nor does a stream that subscribes while one is under way join it.
        early = asyncio.create_task(hub.read(job_id, "caller", reads))
        await asyncio.sleep(0.05)
        async with hub.subscribe(job_id):
            assert await hub.read(job_id, "caller", reads) == 4
        assert await early == 3


async def test_a_read_outlives_the_stream_that_started_it(hub: JobEvents) -> None:
    job_id, reads = uuid.uuid4(), Reads()
    first = asyncio.create_task(hub.read(job_id, "caller", reads))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(hub.read(job_id, "caller", reads))
    await asyncio.sleep(0.05)
    first.cancel()  # its client went away
    assert await second == 1
    assert reads.calls == 1
