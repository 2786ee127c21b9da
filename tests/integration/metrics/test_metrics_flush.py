"""The recorder's flush against a real PostgreSQL: rows written, and kept when the database fails.

A failing database is a real one: an engine pointed at a port where nothing listens
(connection refused), then given the session's database with ``attach``, as the
lifespan does once the database is open.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder, RequestRow
from cachefront.upstream.records import UpstreamCallRecord

# Port 1 on the loopback: nothing listens there, so every connection is refused.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


@pytest.fixture
def tag() -> str:
    """A route prefix of this test's own, so rows of other tests are not counted."""
    return f"/flush-test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def dead_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(UNREACHABLE, pool_size=1)
    yield engine
    await engine.dispose()


def _row(tag: str, n: int) -> RequestRow:
    return (time.time(), "GET", f"{tag}/{n}", 200, 1.0, "memory", 0)


def _call(tag: str, n: int) -> UpstreamCallRecord:
    return UpstreamCallRecord(
        ts=time.time(),
        provider="horizons",
        method="GET",
        url=f"https://upstream.test{tag}/{n}",
        status=200,
        latency_ms=5.0,
        attempts=1,
        outcome="ok",
        priority="background",
    )


async def _routes(engine: AsyncEngine, tag: str) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT route FROM request_metrics WHERE route LIKE :p ORDER BY route"),
            {"p": f"{tag}/%"},
        )
        return [row[0] for row in result]


async def _urls(engine: AsyncEngine, tag: str) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT url FROM upstream_calls WHERE url LIKE :p ORDER BY url"),
            {"p": f"%{tag}/%"},
        )
        return [row[0] for row in result]


async def test_a_flush_writes_every_buffered_record(engine: AsyncEngine, tag: str) -> None:
    recorder = MetricsRecorder(engine)
    for n in range(3):
        recorder.request(_row(tag, n))
    recorder.record_upstream(_call(tag, 0))
    assert await recorder.flush() == 4
    assert recorder.pending == 0
    assert await _routes(engine, tag) == [f"{tag}/0", f"{tag}/1", f"{tag}/2"]
    assert await _urls(engine, tag) == [f"https://upstream.test{tag}/0"]
    assert await recorder.flush() == 0  # nothing left: nothing written twice
    assert len(await _routes(engine, tag)) == 3


async def test_a_database_error_keeps_the_records_for_the_next_flush(
    engine: AsyncEngine, dead_engine: AsyncEngine, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = MetricsRecorder(dead_engine)
    recorder.request(_row(tag, 0))
    recorder.record_upstream(_call(tag, 0))
    with caplog.at_level(logging.WARNING, logger="cachefront.metrics.recorder"):
        assert await recorder.flush() == 0
    assert recorder.pending == 2
    assert [getattr(r, "action", None) for r in caplog.records] == ["metrics.flush_failed"]

    recorder.request(_row(tag, 1))  # recorded while the database is away
    recorder.attach(engine)
    assert await recorder.flush() == 3
    assert recorder.pending == 0
    assert await _routes(engine, tag) == [f"{tag}/0", f"{tag}/1"]
    assert await _urls(engine, tag) == [f"https://upstream.test{tag}/0"]


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    engine: AsyncEngine, dead_engine: AsyncEngine, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = MetricsRecorder(dead_engine)
    with caplog.at_level(logging.WARNING, logger="cachefront.metrics.recorder"):
        for n in range(4):
            recorder.request(_row(tag, n))
            assert await recorder.flush() == 0
        assert recorder.failed_flushes == 4
        recorder.attach(engine)
        assert await recorder.flush() == 4
        recorder.request(_row(tag, 4))
        assert await recorder.flush() == 1
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert actions == ["metrics.flush_failed", "metrics.flush_recovered"]
    assert "after 4 failed flushes" in caplog.records[1].getMessage()
    assert recorder.failed_flushes == 0


async def test_kept_records_still_respect_the_bound_oldest_dropped(
    engine: AsyncEngine, dead_engine: AsyncEngine, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = MetricsRecorder(dead_engine, buffer_max=3)
    for n in range(2):
        recorder.request(_row(tag, n))
    with caplog.at_level(logging.WARNING, logger="cachefront.metrics.recorder"):
        assert await recorder.flush() == 0
    for n in range(2, 5):
        recorder.request(_row(tag, n))
    assert recorder.dropped == 2
    recorder.attach(engine)
    assert await recorder.flush() == 3
    assert await _routes(engine, tag) == [f"{tag}/2", f"{tag}/3", f"{tag}/4"]
