"""The seed figures from known rows: recent errors, slowest calls, the hourly trend,
periodic tasks and entries never read, each equal to the values worked out by hand.

The metrics go in through the recorder's real flush, dated five days back on an hour of
this module's own, so rows other tests record now fall outside every window here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.metrics.buckets import bucket_of, bucket_value
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.observability.cache_sizes import OTHER, cache_sizes
from cachefront.observability.recent_errors import load_recent_errors, redact
from cachefront.observability.slowest import load_slowest
from cachefront.observability.tasks import Schedule, load_tasks
from cachefront.observability.trend import load_trend
from cachefront.observability.unread import load_unread
from cachefront.upstream.records import UpstreamCallRecord

UNTIL = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=5, hours=7)
ROUTE = "/v1/seed/{id}"

# (minutes before UNTIL, status, latency ms, tier)
REQUESTS = [
    (170, 200, 4000.0, "upstream"),  # before the 2.5 h window, in its first hour
    (140, 200, 900.0, "upstream"),
    (130, 500, 30.0, "upstream"),
    (125, 200, 3.0, "memory"),
    (50, 422, 2.0, None),
    (45, 401, 2.0, None),
    (44, 403, 2.0, None),
    (43, 404, 2.0, None),
    (42, 429, 2.0, None),
    (40, 200, 1200.0, "upstream"),
    (35, 200, 5.0, "memory"),
    (30, 200, 6.0, "redis"),
    (20, 502, 700.0, "upstream"),
    (10, 400, 1.0, None),
    (5, 503, 2500.0, "upstream"),
]
SECRET_URL = "https://up.test/v1/x?api_key=s3cr3t&q=1"


def _at(minutes_before: float) -> float:
    return (UNTIL - timedelta(minutes=minutes_before)).timestamp()


def _call(minutes: float, outcome: str, ms: float, error: str | None = None) -> UpstreamCallRecord:
    return UpstreamCallRecord(
        ts=_at(minutes),
        provider="seedprov",
        method="GET",
        url="https://up.test/v1/x",
        status=200 if outcome == "ok" else None,
        latency_ms=ms,
        attempts=1 if outcome == "ok" else 3,
        outcome=outcome,  # type: ignore[arg-type]
        priority="user",
        error=error,
    )


@pytest.fixture(scope="module")
async def recorded(engine: AsyncEngine) -> None:
    recorder = MetricsRecorder(engine)
    for minutes, status, ms, tier in REQUESTS:
        recorder.request(
            (_at(minutes), "GET", ROUTE, status, ms, tier, 1 if tier == "upstream" else 0)
        )
    recorder.record_upstream(_call(100, "ok", 80.0))
    recorder.record_upstream(_call(60, "timeout", 3000.0, "no answer within the deadline"))
    recorder.record_upstream(_call(30, "http_error", 40.0, f"HTTP 500 for url '{SECRET_URL}'"))
    recorder.record_upstream(_call(15, "ok", 120.0))
    await recorder.flush()


async def test_recent_errors_are_the_failed_ones_newest_first(
    engine: AsyncEngine, recorded: None
) -> None:
    errors = await load_recent_errors(engine, hours=2.5, now=UNTIL)
    # 401, 403, 404 and 429 are a caller's ordinary answers; 170 min is outside.
    assert [r.status for r in errors.requests] == [503, 400, 502, 422, 500]
    assert errors.requests[0].at == datetime.fromtimestamp(_at(5), UTC)
    assert errors.requests[0].tier == "upstream"
    assert [(c.outcome, c.attempts) for c in errors.upstream] == [
        ("http_error", 3),
        ("timeout", 3),
    ]
    # The provider's key in the URL's query is never shown.
    assert errors.upstream[0].error == "HTTP 500 for url 'https://up.test/v1/x?…'"
    assert "s3cr3t" not in errors.model_dump_json()


async def test_recent_errors_read_from_the_rollups_cutoff_still_find_the_newest(
    engine: AsyncEngine, recorded: None
) -> None:
    # Three 5xx from minute 130 on: raw rows are read from there, and the 4xx between
    # them count too.
    errors = await load_recent_errors(engine, hours=2.5, limit=3, now=UNTIL)
    assert [r.status for r in errors.requests] == [503, 400, 502]
    one = await load_recent_errors(engine, hours=2.5, limit=1, now=UNTIL)
    assert [c.outcome for c in one.upstream] == ["http_error"]


def test_redact_cuts_queries_fragments_and_length() -> None:
    assert redact("GET https://a.test/p?key=1#frag failed") == "GET https://a.test/p?… failed"
    assert redact(None) is None
    long = redact("x" * 1000)
    assert long is not None
    assert len(long) == 300


async def test_slowest_calls_are_the_slowest_rows_of_the_window(
    engine: AsyncEngine, recorded: None
) -> None:
    slow = await load_slowest(engine, hours=2.5, limit=3, now=UNTIL)
    # The 4000 ms request is in the window's first hour but before the window.
    assert [r.latency_ms for r in slow.requests] == [2500.0, 1200.0, 900.0]
    assert [c.latency_ms for c in slow.upstream] == [3000.0, 120.0, 80.0]
    everything = await load_slowest(engine, hours=2.5, limit=50, now=UNTIL)
    assert len(everything.requests) == len(REQUESTS) - 1
    assert len(everything.upstream) == 4


async def test_trend_lists_every_hour_with_zeros_where_nothing_ran(
    engine: AsyncEngine, recorded: None
) -> None:
    trend = await load_trend(engine, hours=4, now=UNTIL)
    start = int((UNTIL - timedelta(hours=4)).timestamp())
    assert [h.t for h in trend.hours] == [start + 3600 * n for n in range(4)]
    quiet, first, second, last = trend.hours
    assert (quiet.requests, quiet.hit_rate, quiet.server_errors, quiet.p50_ms) == (0, None, 0, None)
    # Hour -3..-2 (minutes 170 to 121): 4000, 900, 500/30 ms, 3 ms memory.
    assert (first.requests, first.hit_rate, first.server_errors) == (4, 0.25, 1)
    assert second.requests == 0
    # Minutes 50 to 5: 11 requests, 2 hits of 5 cached, 2 of them 5xx.
    assert (last.requests, last.hit_rate, last.server_errors) == (11, 0.4, 2)
    # Median of the 11: the sorted latencies' 6th, 2 ms.
    assert last.p50_ms == round(bucket_value(bucket_of(2.0)), 3)


async def test_tasks_list_each_schedule_with_its_runs(engine: AsyncEngine) -> None:
    now = datetime(2026, 12, 1, 10, 7, 30, tzinfo=UTC)
    started = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    async with engine.begin() as conn:
        for n, (status, took) in enumerate(
            (("succeeded", 2.5), ("failed", 0.5), ("succeeded", 1.0))
        ):
            job = (
                await conn.execute(
                    text(
                        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, attempts)"
                        " VALUES ('periodic', 'seed-task', CAST(:s AS procrastinate_job_status), 1)"
                        " RETURNING id"
                    ),
                    {"s": status},
                )
            ).scalar_one()
            at = started - timedelta(minutes=10 * (2 - n))
            await conn.execute(
                text(
                    "INSERT INTO procrastinate_events (job_id, type, at) VALUES"
                    " (:j, 'started', :a), (:j, CAST(:s AS procrastinate_job_event_type), :b)"
                ),
                {"j": job, "a": at, "s": status, "b": at + timedelta(seconds=took)},
            )
        await conn.execute(
            text(
                "INSERT INTO procrastinate_periodic_defers"
                " (task_name, defer_timestamp, periodic_id) VALUES ('seed-task', :t, '')"
            ),
            {"t": int(started.timestamp())},
        )
    schedules = [
        Schedule("seed-task", "*/5 * * * *", "periodic"),
        Schedule("idle", "0 4 * * *", "x"),
    ]
    report = await load_tasks(engine, schedules, history_hours=168, runs=2, now=now)
    seed, idle = report.tasks
    assert [r.status for r in seed.history] == ["succeeded", "failed"]
    assert [r.duration_s for r in seed.history] == [1.0, 0.5]
    assert (seed.runs, seed.failed, seed.last_status, seed.last_duration_s) == (
        2,
        1,
        "succeeded",
        1.0,
    )
    assert seed.mean_duration_s == 0.75
    assert seed.last_deferred_at == started
    assert seed.next_run_at == datetime(2026, 12, 1, 10, 10, tzinfo=UTC)
    assert (idle.runs, idle.last_status, idle.last_deferred_at) == (0, None, None)
    assert idle.next_run_at == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


async def _entries(
    engine: AsyncEngine, ns: str, rows: list[tuple[str, int, datetime | None]]
) -> None:
    async with engine.begin() as conn:
        for key, size, read_at in rows:
            await conn.execute(
                text(
                    "INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at,"
                    " fresh_until, expires_at, last_read_at) VALUES (:ns, :key, :v, 'e', false,"
                    " :stored, :stored, :stored + interval '1 day', :read)"
                ),
                {
                    "ns": ns,
                    "key": key,
                    "v": b"v" * size,
                    "stored": UNTIL - timedelta(hours=len(key)),
                    "read": read_at,
                },
            )


async def test_never_read_entries_where_reads_are_tracked(engine: AsyncEngine) -> None:
    await _entries(
        engine,
        "seed.tracked",
        [("a", 10, UNTIL), ("bb", 20, None), ("ccc", 30, None), ("dddd", 40, UNTIL)],
    )
    await _entries(engine, "seed.untracked", [("a", 5, None)])
    listed = {n.namespace: n for n in await load_unread(engine, ["seed.tracked", "seed.empty"])}
    tracked = listed["seed.tracked"]
    assert (tracked.tracked, tracked.entries, tracked.never_read, tracked.never_read_bytes) == (
        True,
        4,
        2,
        50,
    )
    assert tracked.oldest_never_read == UNTIL - timedelta(hours=3)
    # Reads are not recorded there: no number is made up.
    untracked = listed["seed.untracked"]
    assert (untracked.tracked, untracked.never_read) == (False, None)
    assert (listed["seed.empty"].tracked, listed["seed.empty"].entries) == (True, 0)


async def test_cache_sizes_are_estimated_from_the_statistics(engine: AsyncEngine) -> None:
    await _entries(engine, "seed.sizes", [(f"k{n}", 100, None) for n in range(30)])
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE cache_entries"))
        exact = {
            str(r[0]): int(r[1])
            for r in await conn.execute(
                text("SELECT namespace, count(*) FROM cache_entries GROUP BY namespace")
            )
        }
        sizes, estimated = await cache_sizes(conn)
    assert estimated
    # A table this small is sampled whole: the shares are exact, for every namespace
    # seen more than once (ANALYZE's most common values); the rest are summed.
    expected = {n: e for n, e in exact.items() if e > 1}
    rest = sum(e for e in exact.values() if e == 1)
    if rest:
        expected[OTHER] = rest
    assert {n: e for n, e, _ in sizes} == expected
    assert all(b > 0 for _, _, b in sizes)
