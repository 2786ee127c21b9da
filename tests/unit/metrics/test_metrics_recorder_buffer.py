"""The recorder's in-memory buffers: what recording keeps, and the bound that drops the oldest.

No database here: a recorder without an engine only buffers, and its flush writes
nothing and keeps everything. What a flush writes, and what it keeps when the
database fails, is in tests/integration/metrics/.
"""

from __future__ import annotations

import time

from cachefront.metrics.recorder import MetricsRecorder, RequestRow
from cachefront.upstream.records import UpstreamCallRecord


def _row(n: int) -> RequestRow:
    return (time.time(), "GET", f"/route/{n}", 200, 1.0, "memory", 0)


def _call(n: int) -> UpstreamCallRecord:
    return UpstreamCallRecord(
        ts=time.time(),
        provider="horizons",
        method="GET",
        url=f"https://upstream.test/{n}",
        status=200,
        latency_ms=5.0,
        attempts=1,
        outcome="ok",
        priority="user",
    )


def test_recording_buffers_requests_and_upstream_calls() -> None:
    recorder = MetricsRecorder(None)
    for n in range(3):
        recorder.request(_row(n))
    recorder.record_upstream(_call(0))
    assert recorder.pending == 4
    assert recorder.dropped == 0


async def test_without_a_database_a_flush_writes_nothing_and_keeps_everything() -> None:
    recorder = MetricsRecorder(None)
    recorder.request(_row(0))
    recorder.record_upstream(_call(0))
    assert await recorder.flush() == 0
    assert recorder.pending == 2


def test_past_the_bound_the_oldest_requests_are_dropped_and_counted() -> None:
    recorder = MetricsRecorder(None, buffer_max=3)
    for n in range(5):
        recorder.request(_row(n))
    assert recorder.pending == 3
    assert recorder.dropped == 2
    assert [row[2] for row in recorder._requests] == ["/route/2", "/route/3", "/route/4"]


def test_past_the_bound_the_oldest_upstream_calls_are_dropped_and_counted() -> None:
    recorder = MetricsRecorder(None, buffer_max=2)
    for n in range(5):
        recorder.record_upstream(_call(n))
    assert recorder.pending == 2
    assert recorder.dropped == 3
    assert [c.url for c in recorder._upstream] == [
        "https://upstream.test/3",
        "https://upstream.test/4",
    ]


def test_each_buffer_has_its_own_bound() -> None:
    recorder = MetricsRecorder(None, buffer_max=2)
    for n in range(2):
        recorder.request(_row(n))
        recorder.record_upstream(_call(n))
    assert recorder.pending == 4
    assert recorder.dropped == 0
