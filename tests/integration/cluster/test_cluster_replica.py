"""Heavy reads on a real streaming replica, and back on the primary when it is down or behind.

The test starts a primary of its own and a replica of it (``pg_basebackup -R``), so the
replica really replays the primary's WAL: pausing the replay makes it fall behind
for real, and stopping it makes it unreachable for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import psycopg
import pytest
from cluster_processes import PG_BIN, StreamingPair
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.app import _fastapi_of, create_app
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade
from cachefront.db.replica import ReadEngine
from harness_servers import ServerThread

pytestmark = pytest.mark.slow

IN_RECOVERY = text("SELECT pg_is_in_recovery()")


@pytest.fixture
def pair() -> Iterator[StreamingPair]:
    """A fresh pair per test (under two seconds): one test stops its replica."""
    if not (PG_BIN / "pg_basebackup").exists():
        pytest.skip(f"needs PostgreSQL's server binaries in {PG_BIN}")
    with StreamingPair() as started:
        with psycopg.connect(started.primary_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS marks (n int)")
        yield started


@pytest.fixture
async def engines(pair: StreamingPair) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    primary = create_engine(pair.primary_url, pool_size=2)
    replica = create_engine(pair.replica_url, pool_size=2, connect_timeout=2)
    yield primary, replica
    await primary.dispose()
    await replica.dispose()


def _write(pair: StreamingPair, n: int) -> None:
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute("INSERT INTO marks VALUES (%s)", (n,))


def _replayed(pair: StreamingPair, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        while not _has_mark(conn, n):
            assert time.monotonic() < deadline, f"the replica never replayed mark {n}"
            time.sleep(0.02)


def _has_mark(conn: psycopg.Connection[tuple[object, ...]], n: int) -> bool:
    try:
        found = conn.execute("SELECT count(*) FROM marks WHERE n = %s", (n,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return False  # a fresh replica may not have replayed the table's creation yet
    return found == (1,)


async def _in_recovery(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(IN_RECOVERY)).scalar())


async def test_heavy_reads_go_to_a_caught_up_replica(
    pair: StreamingPair, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    primary, replica = engines
    _write(pair, 1)
    _replayed(pair, 1)
    reads = ReadEngine(primary, replica, max_lag_seconds=5)
    state = await reads.check()
    assert state.usable, state.reason
    assert state.lag_seconds is not None
    assert state.lag_seconds < 5
    assert reads.engine is replica
    assert await reads.read(_in_recovery) is True


async def test_a_replica_past_the_lag_limit_is_left_until_it_catches_up(
    pair: StreamingPair, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    primary, replica = engines
    reads = ReadEngine(primary, replica, max_lag_seconds=0.5)
    _write(pair, 2)
    _replayed(pair, 2)
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            _write(pair, 3)  # received, not replayed: the replica falls behind
            await asyncio.sleep(1.0)
            state = await reads.check()
            assert not state.usable
            assert "behind" in state.reason
            assert reads.engine is primary
            assert await reads.read(_in_recovery) is False
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
    _replayed(pair, 3)
    assert (await reads.check()).usable
    assert reads.engine is replica


async def test_a_read_after_a_commit_waits_for_its_replay_or_reads_the_primary(
    pair: StreamingPair, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    primary, replica = engines
    reads = ReadEngine(primary, replica, max_lag_seconds=60)
    assert (await reads.check()).usable
    _write(pair, 4)
    # Replayed within the wait: the replica answers.
    assert await reads.read(_in_recovery, after_commit=True) is True
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            _write(pair, 5)
            assert await reads.read(_in_recovery) is True
            started = time.monotonic()
            # Not replayed: this read goes to the primary after a bounded wait...
            assert await reads.read(_in_recovery, after_commit=True) is False
            assert time.monotonic() - started < 3
            # ...and the replica stays in use for the reads that accept its lag.
            assert reads.state.usable
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


async def test_a_replica_cut_off_from_its_primary_is_seen_falling_behind(
    pair: StreamingPair, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    # Cut off, a replica has received nothing and so has nothing waiting for replay: by
    # its own account it is caught up. Against the primary's positions it is not.
    primary, replica = engines
    reads = ReadEngine(primary, replica, max_lag_seconds=0.5)
    _write(pair, 10)
    _replayed(pair, 10)
    assert (await reads.check()).usable
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        conninfo = conn.execute("SHOW primary_conninfo").fetchone()
        assert conninfo is not None
        assert conninfo[0]
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone() != (0,):
            assert time.monotonic() < deadline, "the WAL receiver never stopped"
            await asyncio.sleep(0.05)
        try:
            _write(pair, 11)  # never reaches the replica
            assert (await reads.check()).usable  # the first sight of the new position
            await asyncio.sleep(1.0)
            own = conn.execute(
                "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
            ).fetchone()
            assert own == (True,)  # nothing received waits: the replica's view says 0
            state = await reads.check()
            assert not state.usable
            assert "behind" in state.reason
            assert state.lag_seconds is not None
            assert state.lag_seconds >= 1.0
            assert reads.engine is primary
        finally:
            restore = sql.SQL("ALTER SYSTEM SET primary_conninfo = {}")
            conn.execute(restore.format(sql.Literal(conninfo[0])))
            conn.execute("SELECT pg_reload_conf()")
    _replayed(pair, 11, timeout=30)
    assert (await reads.check()).usable


async def test_reads_fall_back_to_the_primary_when_the_replica_goes_down(
    pair: StreamingPair, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    primary, replica = engines
    reads = ReadEngine(primary, replica)
    assert (await reads.check()).usable
    assert await reads.read(_in_recovery) is True
    pair.stop_replica()
    # Still marked usable (no check since): the failed read itself moves to the primary.
    assert await reads.read(_in_recovery) is False
    assert not reads.state.usable
    assert reads.engine is primary
    state = await reads.check()
    assert not state.usable
    assert "unreachable" in state.reason


def test_the_platform_hands_rooms_the_replica_through_the_app(
    settings_for: Callable[..., Settings],
) -> None:
    with StreamingPair() as own:
        upgrade(own.primary_url)
        _replica_settles(own)
        settings = settings_for(
            database_url=own.primary_url,
            database_replica_url=own.replica_url,
            database_replica_check_seconds=0.2,
        )
        app = create_app(settings)
        with ServerThread(settings, app):
            # What the lifespan handed the rooms (Platform.read_engine) is in its resources.
            reads: ReadEngine = _fastapi_of(app).state.resources.read_engine
            assert reads.state.usable, reads.state.reason
            assert reads.engine is reads.replica
            own.stop_replica()
            deadline = time.monotonic() + 10
            while reads.state.usable:
                assert time.monotonic() < deadline, "the replica's loss went unnoticed"
                time.sleep(0.05)
            assert reads.engine is reads.primary


def _replica_settles(pair: StreamingPair) -> None:
    # The migrations' last commit replayed: the replica has the schema too.
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    deadline = time.monotonic() + 20
    with psycopg.connect(pair.replica_url, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
            ).fetchone()
            if done == (True,):
                return
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


async def test_a_read_cancelled_by_replay_reads_the_primary_and_keeps_the_replica() -> None:
    # A hot standby cancels a query whose snapshot still sees rows replay must remove
    # (at once with max_standby_streaming_delay=0): the query's bad luck, not a sign the
    # replica is gone.
    if not (PG_BIN / "pg_basebackup").exists():
        pytest.skip(f"needs PostgreSQL's server binaries in {PG_BIN}")
    with StreamingPair(replica_options="-c max_standby_streaming_delay=0") as pair:
        with psycopg.connect(pair.primary_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marks (n int)")
            conn.execute("ALTER TABLE marks SET (autovacuum_enabled = off)")
        _write(pair, 20)
        _replayed(pair, 20)
        primary = create_engine(pair.primary_url, pool_size=2)
        replica = create_engine(pair.replica_url, pool_size=2, connect_timeout=2)
        try:
            reads = ReadEngine(primary, replica)
            assert (await reads.check()).usable

            async def slow_count(engine: AsyncEngine) -> int:
                async with engine.connect() as conn:
                    # One statement, one snapshot held while it sleeps on the row.
                    query = text("SELECT count(*) FROM (SELECT pg_sleep(3) FROM marks) AS s")
                    return int((await conn.execute(query)).scalar_one())

            def remove_the_rows() -> None:
                with psycopg.connect(pair.primary_url, autocommit=True) as conn:
                    conn.execute("DELETE FROM marks")
                    conn.execute("VACUUM marks")

            read = asyncio.create_task(reads.read(slow_count))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(remove_the_rows)
            # The replica's answer would be 1 after 3 s; the primary's, run again, is 0.
            assert await asyncio.wait_for(read, timeout=10) == 0
            assert reads.state.usable, reads.state.reason
            assert reads.engine is replica
        finally:
            await primary.dispose()
            await replica.dispose()
