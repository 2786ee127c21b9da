"""The heavy reads on a real streaming replica, and the same answers from the primary without it.

The replica logs every statement it runs, so a test sees which server answered a
route: stats, the dashboard, health, job listings and stored price history are read
on the replica while it keeps up; with its replay paused past the lag limit, or the
replica stopped, the same routes answer 200 from the primary, with the figures the
paused replica lacks. A single job's GET reads the primary even while a listing still
shows the replica's view.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg
import pytest
from cluster_processes import PG_BIN, StreamingPair

from cachefront.app import _fastapi_of, create_app
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.db.replica import ReadEngine
from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.history import HistoryStore
from cachefront.services.prices.models import Asset, AssetType, Candle, Resolution
from harness_servers import ServerThread

pytestmark = pytest.mark.slow

SERVICE_KEY = "service-key-for-replica-reads-0123456789"
ADMIN = {"Authorization": f"Bearer {SERVICE_KEY}"}
# What each read's statement names, as the replica's log shows it.
STATS_SQL = "FROM request_hours"
JOBS_SQL = "FROM jobs ORDER BY jobs.created_at DESC"
HISTORY_SQL = "FROM price_daily"
LAG_LIMIT = 2.0


@pytest.fixture
def pair() -> Iterator[StreamingPair]:
    """A migrated pair whose replica logs its statements, fresh per test (one stops it)."""
    if not (PG_BIN / "pg_basebackup").exists():
        pytest.skip(f"needs PostgreSQL's server binaries in {PG_BIN}")
    with StreamingPair(replica_options="-c log_statement=all") as started:
        upgrade(started.primary_url)
        _replayed(started)
        yield started


def _replayed(pair: StreamingPair, timeout: float = 20) -> None:
    """Wait until the replica has replayed everything the primary has committed."""
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
    assert row is not None
    deadline = time.monotonic() + timeout
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        while conn.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
        ).fetchone() != (True,):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.02)


def _pause_replay(pair: StreamingPair) -> None:
    # A commit replayed just before the pause: the lag counts from now, not from the
    # last write, however long ago that was.
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS replay_marks (at timestamptz)")
        conn.execute("INSERT INTO replay_marks VALUES (now())")
    _replayed(pair)
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")


def _resume_replay(pair: StreamingPair) -> None:
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    _replayed(pair)


def _wait_usable(reads: ReadEngine, usable: bool, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while reads.state.usable != usable:
        assert time.monotonic() < deadline, f"replica still usable={not usable}: {reads.state}"
        time.sleep(0.05)


def _insert_job(pair: StreamingPair) -> str:
    job_id = str(uuid.uuid4())
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, type, params, status, created_at, updated_at) "
            "VALUES (%s, 'replica-test', '{}', 'queued', now(), now())",
            (job_id,),
        )
    return job_id


class _Served:
    """The app on ``pair`` (replica configured), its read engine, and a client."""

    def __init__(self, pair: StreamingPair, settings: Settings) -> None:
        self.pair = pair
        self.app = create_app(settings)
        self.server = ServerThread(settings, self.app)
        self.client = httpx.Client(base_url=self.server.url, headers=ADMIN, timeout=30)

    def __enter__(self) -> _Served:
        self.server.__enter__()
        self.reads: ReadEngine = _fastapi_of(self.app).state.resources.read_engine
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.__exit__(*exc)

    def on_replica(self, method: str, path: str, marker: str) -> httpx.Response:
        """``method path``, asserting the replica ran the statement ``marker`` names."""
        before = self.pair.replica_log().count(marker)
        answer = self.client.request(method, path)
        assert answer.status_code == 200, answer.text
        assert self.pair.replica_log().count(marker) > before, f"{path} did not read the replica"
        return answer

    def off_replica(self, method: str, path: str, marker: str) -> httpx.Response:
        """``method path`` answered 200 without the replica running ``marker``'s statement."""
        before = self.pair.replica_log().count(marker)
        answer = self.client.request(method, path)
        assert answer.status_code == 200, answer.text
        assert self.pair.replica_log().count(marker) == before, f"{path} read the replica"
        return answer

    def requests_counted(self) -> int:
        count = self.client.get("/v1/admin/stats", params={"hours": 1}).json()["requests"]
        return int(count)


@pytest.fixture
def served(pair: StreamingPair, settings_for: Callable[..., Settings]) -> Iterator[_Served]:
    settings = settings_for(
        database_url=pair.primary_url,
        database_replica_url=pair.replica_url,
        database_replica_check_seconds=0.2,
        database_replica_max_lag_seconds=LAG_LIMIT,
        service_key=SERVICE_KEY,
        metrics_flush_seconds=60,
    )
    with _Served(pair, settings) as running:
        _wait_usable(running.reads, True)
        yield running


def test_admin_reads_run_on_the_replica_and_on_the_primary_past_the_lag_limit(
    served: _Served,
) -> None:
    for _ in range(5):
        assert served.client.get("/health").status_code == 200
    stats = served.on_replica("GET", "/v1/admin/stats?hours=1", STATS_SQL).json()
    # The route flushed its process's metrics and read them on the replica once replayed.
    assert stats["requests"] >= 5
    served.on_replica("GET", "/dashboard/data?hours=1", STATS_SQL)
    served.on_replica("GET", "/v1/admin/health", STATS_SQL)

    _pause_replay(served.pair)
    try:
        for _ in range(7):
            assert served.client.get("/health").status_code == 200
        _wait_usable(served.reads, False)
        assert "behind" in served.reads.state.reason
        paused = served.off_replica("GET", "/v1/admin/stats?hours=1", STATS_SQL).json()
        # The replica stopped before these requests were flushed: the primary answered.
        assert paused["requests"] >= stats["requests"] + 7
        served.off_replica("GET", "/dashboard/data?hours=1", STATS_SQL)
        assert served.off_replica("GET", "/v1/admin/health", STATS_SQL).json()["checks"]
    finally:
        _resume_replay(served.pair)
    _wait_usable(served.reads, True)
    served.on_replica("GET", "/v1/admin/stats?hours=1", STATS_SQL)


def test_a_flushed_stats_read_waits_for_the_replay_or_reads_the_primary(
    served: _Served,
) -> None:
    """Replay paused but within the lag limit: the replica is still in use, yet stats, which
    must see the flush they made, are read on the primary rather than miss it."""
    before = served.requests_counted()
    _pause_replay(served.pair)
    try:
        for _ in range(4):
            assert served.client.get("/health").status_code == 200
        assert served.reads.state.usable
        answer = served.off_replica("GET", "/v1/admin/stats?hours=1", STATS_SQL).json()
        assert answer["requests"] >= before + 4
    finally:
        _resume_replay(served.pair)


def test_job_listings_read_the_replica_and_a_single_job_the_primary(served: _Served) -> None:
    seen = _insert_job(served.pair)
    _replayed(served.pair)
    listed = served.on_replica("GET", "/v1/jobs", JOBS_SQL).json()
    assert seen in [job["id"] for job in listed]

    _pause_replay(served.pair)
    try:
        fresh = _insert_job(served.pair)
        # Within the lag limit the listing shows the replica's view, without the new job...
        listed = served.on_replica("GET", "/v1/jobs", JOBS_SQL).json()
        assert [seen] == [job["id"] for job in listed]
        # ...while the job itself, read your writes, is the primary's.
        one = served.off_replica("GET", f"/v1/jobs/{fresh}", "FROM jobs")
        assert one.json()["id"] == fresh
        _wait_usable(served.reads, False)
        listed = served.off_replica("GET", "/v1/jobs", JOBS_SQL).json()
        assert {seen, fresh} == {job["id"] for job in listed}
    finally:
        _resume_replay(served.pair)


def test_a_stopped_replica_leaves_every_heavy_read_to_the_primary(served: _Served) -> None:
    job = _insert_job(served.pair)
    for _ in range(3):
        assert served.client.get("/health").status_code == 200
    before = served.on_replica("GET", "/v1/admin/stats?hours=1", STATS_SQL).json()
    served.pair.stop_replica()
    # No wait for the check: a read that fails on the replica runs again on the primary.
    after = served.client.get("/v1/admin/stats", params={"hours": 1})
    assert after.status_code == 200, after.text
    assert after.json()["requests"] >= before["requests"] + 1
    listed = served.client.get("/v1/jobs")
    assert listed.status_code == 200, listed.text
    assert job in [j["id"] for j in listed.json()]
    for path in ("/dashboard/data?hours=1", "/v1/admin/health", "/metrics"):
        answer = served.client.get(path)
        assert answer.status_code in (200, 404), (path, answer.text)  # 404: Prometheus off
    _wait_usable(served.reads, False)
    assert "unreachable" in served.reads.state.reason or "failed" in served.reads.state.reason


# --- stored price history -----------------------------------------------------------------
def _bars(first: date, count: int, price: float) -> list[Candle]:
    return [
        Candle(
            datetime.combine(first + timedelta(days=i), datetime.min.time(), UTC),
            price,
            price + 1,
            price - 1,
            price,
            1000.0,
        )
        for i in range(count)
    ]


async def _history_store(pair: StreamingPair, reads: ReadEngine) -> tuple[HistoryStore, int]:
    assets = AssetStore(reads.primary)
    symbol = "R" + uuid.uuid4().hex[:8].upper()
    await assets.upsert([Asset(symbol, symbol, AssetType.CRYPTO, "binance", symbol, "USD")])
    asset_id = (await assets.ids([symbol]))[symbol]
    store = HistoryStore(
        reads.primary, keep_daily_days=365, keep_weekly_days=1095, keep_all_daily=True, reads=reads
    )
    return store, asset_id


async def test_history_ranges_read_the_replica_until_it_falls_behind(pair: StreamingPair) -> None:
    primary = create_engine(pair.primary_url, pool_size=2)
    replica = create_engine(pair.replica_url, pool_size=2, connect_timeout=2)
    reads = ReadEngine(primary, replica, max_lag_seconds=30)
    span = (date(2024, 3, 4), date(2024, 4, 4))
    try:
        store, asset_id = await _history_store(pair, reads)
        assert (await reads.check()).usable
        assert await store.write_daily(asset_id, _bars(span[0], 5, 100.0)) == 5
        # What a backfill waits for before its invalidations: the next range read sees it.
        assert await store.reads_caught_up()
        logged = pair.replica_log().count(HISTORY_SQL)
        got = await store.read(asset_id, Resolution.DAY, *span)
        assert [c.close for c in got] == [100.0] * 5
        assert pair.replica_log().count(HISTORY_SQL) > logged

        _pause_replay(pair)
        try:
            await store.write_daily(asset_id, _bars(span[0] + timedelta(days=5), 3, 200.0))
            started = time.monotonic()
            # The wait is bounded: a replica that does not replay is given up on.
            assert not await store.reads_caught_up()
            assert 0.9 < time.monotonic() - started < 5
            # Within the lag limit: the replica's view, without the new bars.
            assert (await reads.check()).usable
            got = await store.read(asset_id, Resolution.DAY, *span)
            assert [c.close for c in got] == [100.0] * 5
            # What a write depends on never reads the replica.
            assert await store.stored_span(asset_id) == (span[0], span[0] + timedelta(days=7))
            # Past the limit: the primary's view, every bar.
            reads.max_lag_seconds = 0.5
            assert not (await reads.check()).usable
            got = await store.read(asset_id, Resolution.DAY, *span)
            assert [c.close for c in got] == [100.0] * 5 + [200.0] * 3
        finally:
            _resume_replay(pair)
        reads.max_lag_seconds = 30
        assert (await reads.check()).usable
        pair.stop_replica()
        assert len(await store.read(asset_id, Resolution.DAY, *span)) == 8
        assert not reads.state.usable
    finally:
        await reads.aclose()
        await primary.dispose()
