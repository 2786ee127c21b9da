"""The percentiles of a window that is not whole hours read only its own minutes.

Known requests on a route of this module's own, four days back: slow ones half an
hour before the window's end and fast ones in its last 15 minutes, all in one hour.
The 15-minute window (the health check's) must see only the fast ones, the hour
only the slow ones' share, whichever way the hot-path recording folded them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.metrics.buckets import bucket_of, bucket_value
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.metrics.stats import load_stats

# Minute 50 of an hour four days and seven hours back: the window [:35, :50) and the
# slow requests at :20 share the hour, so an hourly histogram would mix them.
UNTIL = (datetime.now(UTC) - timedelta(days=4, hours=7)).replace(minute=50, second=0, microsecond=0)


def _estimate(ms: float) -> float:
    return round(bucket_value(bucket_of(ms)), 3)


async def test_the_15_minute_percentiles_cover_only_those_minutes(engine: AsyncEngine) -> None:
    route = f"/minute-test/{uuid.uuid4().hex[:10]}"
    recorder = MetricsRecorder(engine)
    slow_at = (UNTIL - timedelta(minutes=30)).timestamp()
    for n in range(20):
        recorder.request((slow_at + n, "GET", route, 200, 800.0, "upstream", 1))
    for n in range(40):
        at = (UNTIL - timedelta(minutes=14)).timestamp() + n * 15
        # Half through the hot path's fold, half as raw rows.
        if n % 2:
            recorder.hit(route, 200, 2.0, at)
        else:
            recorder.request((at, "GET", route, 200, 2.0, "memory", 0))
    await recorder.flush()

    quarter = await load_stats(engine, 0.25, now=UNTIL)
    mine = next(r for r in quarter.routes if r.route == route)
    assert mine.requests == 40
    assert (mine.p50_ms, mine.p95_ms, mine.p99_ms) == (_estimate(2.0),) * 3

    # The 45 minutes [:05, :50) hold both: 20 slow of 60, so p95 and p99 are slow.
    longer = await load_stats(engine, 0.75, now=UNTIL)
    both = next(r for r in longer.routes if r.route == route)
    assert both.requests == 60
    assert (both.p50_ms, both.p95_ms, both.p99_ms) == (
        _estimate(2.0),
        _estimate(800.0),
        _estimate(800.0),
    )
