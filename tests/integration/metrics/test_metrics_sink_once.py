"""The recorder feeds its sink each record once, whether the database took it or not."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder, RequestRow
from cachefront.upstream.records import UpstreamCallRecord


class ListSink:
    def __init__(self) -> None:
        self.rows: list[RequestRow] = []
        self.calls: list[UpstreamCallRecord] = []

    def add_requests(self, rows: list[RequestRow]) -> None:
        self.rows.extend(rows)

    def add_upstream(self, records: list[UpstreamCallRecord]) -> None:
        self.calls.extend(records)


@pytest.fixture
async def dead_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("postgresql://postgres@127.0.0.1:1/test", pool_size=1)
    yield engine
    await engine.dispose()


async def test_records_kept_through_an_outage_are_fed_once(
    dead_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    tag = f"/sink/{uuid.uuid4().hex[:8]}"
    sink = ListSink()
    recorder = MetricsRecorder(dead_engine, sink=sink)
    recorder.request((time.time(), "GET", f"{tag}/1", 200, 1.0, "memory", 0))
    assert await recorder.flush() == 0
    recorder.request((time.time(), "GET", f"{tag}/2", 200, 1.0, "memory", 0))
    assert await recorder.flush() == 0
    assert [r[2] for r in sink.rows] == [f"{tag}/1", f"{tag}/2"]
    recorder.attach(engine)
    recorder.request((time.time(), "GET", f"{tag}/3", 200, 1.0, "memory", 0))
    assert await recorder.flush() == 3
    assert [r[2] for r in sink.rows] == [f"{tag}/1", f"{tag}/2", f"{tag}/3"]


async def test_records_dropped_from_a_full_buffer_shift_what_was_fed(
    dead_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    tag = f"/sink/{uuid.uuid4().hex[:8]}"
    sink = ListSink()
    recorder = MetricsRecorder(dead_engine, sink=sink, buffer_max=100)
    for n in range(100):
        recorder.request((time.time(), "GET", f"{tag}/{n}", 200, 1.0, "memory", 0))
    await recorder.flush()
    assert len(sink.rows) == 100
    # Ten more push the ten oldest (fed already) out; only the ten new are fed next.
    for n in range(100, 110):
        recorder.request((time.time(), "GET", f"{tag}/{n}", 200, 1.0, "memory", 0))
    recorder.attach(engine)
    assert await recorder.flush() == 100
    assert len(sink.rows) == 110
    assert len({r[2] for r in sink.rows}) == 110
