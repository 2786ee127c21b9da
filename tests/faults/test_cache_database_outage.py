"""The cache with its PostgreSQL tier away: cold reads still answered upstream, then back to normal.

The database goes away for real: a database of the test's own stops accepting
connections (``ALLOW_CONNECTIONS false``) and its backends are terminated, like a
server restart or failover seen from the application.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import (
    CachePolicy,
    MemoryStore,
    PostgresStore,
    SingleFlight,
    Tier,
    TieredCache,
)
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade

pytestmark = pytest.mark.faults

POLICY = CachePolicy(fresh_for=timedelta(minutes=10), stale_for=timedelta(hours=1))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class OwnDatabase:
    """A migrated database of one test, which the test can cut off and restore."""

    url: str
    name: str
    admin: str

    def cut(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            )

    def restore(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def stored(self, ns: str) -> set[str]:
        with psycopg.connect(_libpq(self.url)) as conn:
            rows = conn.execute("SELECT key FROM cache_entries WHERE namespace = %s", (ns,))
            return {row[0] for row in rows}


@pytest.fixture
def own_database(database_url: str) -> Iterator[OwnDatabase]:
    admin = _libpq(make_url(database_url).set(database="postgres").render_as_string(False))
    name = f"cachefront_outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    database = OwnDatabase(url=url, name=name, admin=admin)
    yield database
    database.restore()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def own_engine(own_database: OwnDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database.url, pool_size=2)
    yield engine
    await engine.dispose()


class Upstream:
    """A working upstream that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def fetch_many(self, keys: list[str]) -> dict[str, bytes]:
        self.calls += 1
        await asyncio.sleep(0.05)  # long enough for concurrent callers to pile up
        return {key: f'"{key}"'.encode() for key in keys}


def _actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(record, "action", "") for record in caplog.records]


async def test_cold_reads_go_upstream_while_the_database_is_away(
    own_database: OwnDatabase, own_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    db = PostgresStore(own_engine)
    cache = TieredCache(memory=MemoryStore(), db=db, locks=SingleFlight(db=db))
    upstream = Upstream()
    async with cache:
        ns = "outage"
        before = await cache.get_many_or_fetch(ns, ["before"], upstream.fetch_many, POLICY)
        assert before["before"].tier is Tier.UPSTREAM
        assert own_database.stored(ns) == {"before"}

        own_database.cut()
        with caplog.at_level(logging.INFO, logger="cachefront.cache"):
            cold = await cache.get_many_or_fetch(ns, ["a", "b"], upstream.fetch_many, POLICY)
            assert {key: got.tier for key, got in cold.items()} == {
                "a": Tier.UPSTREAM,
                "b": Tier.UPSTREAM,
            }
            assert cold["a"].entry.value == b'"a"'
            # Without advisory locks, concurrent misses of this process still fetch once.
            together = await asyncio.gather(
                *(
                    cache.get_many_or_fetch(ns, ["c"], upstream.fetch_many, POLICY)
                    for _ in range(10)
                )
            )
            assert {result["c"].entry.value for result in together} == {b'"c"'}
            assert upstream.calls == 3
            assert await cache.get(ns, "absent", POLICY) is None
            hit = await cache.get_many_or_fetch(ns, ["before"], upstream.fetch_many, POLICY)
            assert hit["before"].tier is Tier.MEMORY
            assert _actions(caplog).count("cache.db_down") == 1  # one outage, one line
            assert db.down

            own_database.restore()
            deadline = time.monotonic() + 20  # bounds a hang; the backoff is at most 5 s
            attempt = 0
            while "cache.db_up" not in _actions(caplog):
                assert time.monotonic() < deadline, "the database was never used again"
                attempt += 1
                await cache.get_many_or_fetch(ns, [f"after{attempt}"], upstream.fetch_many, POLICY)
                await asyncio.sleep(0.1)
        assert not db.down
        # Keys fetched during the outage were never written there; the first after it is.
        stored = own_database.stored(ns)
        assert {"a", "b", "c"}.isdisjoint(stored)
        assert f"after{attempt}" in stored
