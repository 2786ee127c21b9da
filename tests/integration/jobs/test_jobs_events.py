"""Job event streams through real HTTP and PostgreSQL: woken by NOTIFY, resumable, kept alive.

No worker runs: the test moves the job itself through ``JobRecords``, the same calls
a worker makes, so each change sends its notification as in production. The safety
re-check reads every 5 s; events arriving well within that came by notification.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.jobs.events import DEFAULT_RECHECK_SECONDS
from cachefront.jobs.records import JobRecords
from harness_servers import ServerThread
from jobs_harness import user_headers

EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-01T02:00:00Z",
        "step": "1h",
        "format": "csv",
    },
}
# Well under the re-check: a change seen this soon was announced, not polled for.
PROMPT_SECONDS = 1.0


@dataclass
class Event:
    """One server-sent event, or a comment (``name`` ``":"``)."""

    name: str
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def job(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.data)
        return body


@dataclass
class Stream:
    lines: AsyncIterator[str]
    events: list[Event] = field(default_factory=list)

    async def next(self, within: float = 10.0) -> Event | None:
        """The next event or comment; None once the stream has ended."""
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            async for line in self.lines:
                if line.startswith(":"):
                    return self._seen(Event(":", line[1:].strip()))
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields:
                    retry = fields.get("retry")
                    return self._seen(
                        Event(
                            fields.get("event", "message" if "data" in fields else "retry"),
                            fields.get("data", ""),
                            fields.get("id"),
                            int(retry) if retry is not None else None,
                        )
                    )
            return None

    async def next_event(self, within: float = 10.0) -> Event:
        """The next event, past comments; the stream must not end first."""
        while True:
            event = await self.next(within)
            assert event is not None, "the stream ended"
            if event.name != ":":
                return event

    def _seen(self, event: Event) -> Event:
        self.events.append(event)
        return event


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, job_id: str, last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    async with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response.aiter_lines())


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with ServerThread(settings) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers=user_headers("watcher"), timeout=30
        ) as client:
            yield client


async def submit(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/jobs", json=EXPORT)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def timed(stream: Stream) -> tuple[Event, float]:
    started = time.monotonic()
    event = await stream.next_event()
    return event, time.monotonic() - started


async def test_changes_arrive_at_once_and_the_stream_ends_with_the_job(
    job_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    records = JobRecords(engine)
    async with served(job_settings(worker_in_process=False)) as client:
        job_id = await submit(client)
        async with stream(client, job_id) as events:
            opening = await events.next_event()
            assert opening.retry is not None
            assert opening.retry > 0
            first = await events.next_event()
            assert (first.name, first.job()["status"]) == ("progress", "queued")
            assert first.id

            await records.start(uuid.UUID(job_id))
            running, waited = await timed(events)
            assert running.job()["status"] == "running"
            assert waited < PROMPT_SECONDS < DEFAULT_RECHECK_SECONDS

            await records.set_progress(uuid.UUID(job_id), 0.5)
            halfway, waited = await timed(events)
            assert halfway.job()["progress"] == 0.5
            assert waited < PROMPT_SECONDS
            assert len({first.id, running.id, halfway.id}) == 3

            await records.fail(uuid.UUID(job_id), "stopped by the test")
            failed, waited = await timed(events)
            assert (failed.name, failed.job()["status"]) == ("progress", "failed")
            assert waited < PROMPT_SECONDS
            end = await events.next_event()
            assert (end.name, end.id) == ("end", failed.id)
            assert await events.next(within=5) is None


async def test_a_stream_resumes_from_last_event_id(
    job_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    records = JobRecords(engine)
    settings = job_settings(worker_in_process=False, job_events_heartbeat_seconds=0.3)
    async with served(settings) as client:
        job_id = await submit(client)
        async with stream(client, job_id) as events:
            await events.next_event()
            first = await events.next_event()
            assert first.id
        # Nothing changed: the resumed stream says nothing new, only keeps alive.
        async with stream(client, job_id, last_event_id=first.id) as events:
            await events.next_event()  # retry
            quiet = await events.next()
            assert quiet is not None
            assert quiet.name == ":"
            await records.set_progress(uuid.UUID(job_id), 0.25)
            changed = await events.next_event()
            assert (changed.name, changed.job()["progress"]) == ("progress", 0.25)
        # A change while away: the resumed stream sends the job as it is now.
        await records.set_progress(uuid.UUID(job_id), 0.75)
        async with stream(client, job_id, last_event_id=changed.id) as events:
            await events.next_event()
            now = await events.next_event()
            assert now.job()["progress"] == 0.75


async def test_a_quiet_stream_sends_heartbeats_and_ends_at_its_cap(
    job_settings: Callable[..., Settings],
) -> None:
    settings = job_settings(
        worker_in_process=False, job_events_heartbeat_seconds=0.2, job_events_max_seconds=1.5
    )
    async with served(settings) as client:
        job_id = await submit(client)
        started = time.monotonic()
        async with stream(client, job_id) as events:
            while await events.next(within=10) is not None:
                pass
        lasted = time.monotonic() - started
    names = [event.name for event in events.events]
    assert names[:2] == ["retry", "progress"]
    assert names.count(":") >= 3
    # Ended by its cap, without "end": the job is still queued, the client reconnects.
    assert "end" not in names
    assert 1.4 < lasted < 5.0


async def test_many_streams_share_one_listening_connection(
    job_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    records = JobRecords(engine)
    async with served(job_settings(worker_in_process=False)) as client:
        job_ids = [await submit(client) for _ in range(4)]
        async with AsyncExitStack() as stack:
            streams = [
                await stack.enter_async_context(stream(client, job_ids[n % 4])) for n in range(24)
            ]
            for events in streams:
                await events.next_event()
                assert (await events.next_event()).name == "progress"
            async with engine.connect() as conn:
                listeners = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND application_name = 'cachefront-job-events'"
                        )
                    )
                ).scalar_one()
            assert listeners == 1
            # One job's change reaches each of its six streams at once.
            await records.set_progress(uuid.UUID(job_ids[0]), 0.5)
            for events in streams[::4]:
                event, waited = await timed(events)
                assert event.job()["progress"] == 0.5
                assert waited < PROMPT_SECONDS


async def test_a_change_made_while_the_listener_reconnects_still_arrives(
    job_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    records = JobRecords(engine)
    async with served(job_settings(worker_in_process=False)) as client:
        job_id = await submit(client)
        async with stream(client, job_id) as events:
            await events.next_event()
            await events.next_event()
            async with engine.connect() as conn:
                ended = await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND application_name = 'cachefront-job-events'"
                    )
                )
                assert ended.scalar_one()
            # Sent while no one listens: lost, but the reconnect wakes every stream.
            await records.set_progress(uuid.UUID(job_id), 0.5)
            event, waited = await timed(events)
            assert event.job()["progress"] == 0.5
            assert waited < DEFAULT_RECHECK_SECONDS
