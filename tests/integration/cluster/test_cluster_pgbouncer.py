"""Everything through a real PgBouncer in transaction pooling mode (the mode of hosted poolers).

The server's engine, the job queue's submissions and the keys go through PgBouncer;
what a transaction pooler cannot carry (the job worker's LISTEN, the memory-tier sync's
LISTEN, migrations) goes over ``CACHEFRONT_DATABASE_DIRECT_URL``. Each server makes
far more than psycopg's five executions of the same statement after which it would
prepare it, so a prepared statement landing on another server connection would fail
the requests here ("prepared statement ... does not exist").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from cluster_processes import PgBouncer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cachefront.auth import KeyManager
from cachefront.auth.identity import Role
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.jobs.records import JobRecords
from cachefront.services.ephemeris.keys import NAMESPACE
from harness_servers import ServerThread
from jobs_harness import libpq, user_headers, wait_for

pytestmark = pytest.mark.slow

EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-01T06:00:00Z",
        "step": "1h",
        "format": "json",
    },
}


def _pooled(
    job_settings: Callable[..., Settings], pgbouncer: PgBouncer, database_url: str, **more: Any
) -> Settings:
    return job_settings(
        database_url=pgbouncer.url_for(database_url), database_direct_url=database_url, **more
    )


def _transactions(pgbouncer: PgBouncer, database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    rows = [row for row in pgbouncer.show("STATS") if row["database"] == name]
    return int(rows[0]["total_xact_count"]) if rows else 0


def _stored(database_url: str, prefix: str) -> int:
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cache_entries WHERE namespace = %s AND key LIKE %s",
            (NAMESPACE, prefix + "%"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _create_key(pooled_url: str, role: Role) -> str:
    async def create() -> str:
        engine = create_engine(pooled_url, pool_size=1, transaction_pooler=True)
        try:
            key, _ = await KeyManager(engine).create(f"{role.value} key", role)
            return key
        finally:
            await engine.dispose()

    return asyncio.run(create())


@pytest.mark.parametrize("pooled", [True, False])
async def test_engines_for_a_transaction_pooler_never_prepare(
    database_url: str, pgbouncer: PgBouncer, pooled: bool
) -> None:
    # (``pgbouncer`` is asked for only to skip, saying why, when there is none.)
    # One server connection under two client connections, each running one statement
    # past psycopg's threshold: a prepared statement meets the other's session.
    with PgBouncer(database_url, pool_size=1) as single:
        engine = create_engine(single.url_for(database_url), transaction_pooler=pooled)

        async def alternate() -> None:
            async with engine.connect() as first, engine.connect() as second:
                for n in range(8):
                    for conn in (first, second):
                        result = await conn.execute(text("SELECT :n + 1"), {"n": n})
                        assert result.scalar() == n + 1
                        await conn.commit()

        try:
            if pooled:
                await alternate()
            else:
                with pytest.raises(DBAPIError, match="prepared statement"):
                    await alternate()
        finally:
            await engine.dispose()


def test_serve_keys_and_jobs_through_pgbouncer(
    job_settings: Callable[..., Settings], pgbouncer: PgBouncer, database_url: str
) -> None:
    settings = _pooled(job_settings, pgbouncer, database_url)
    before = _transactions(pgbouncer, database_url)
    key = _create_key(pgbouncer.url_for(database_url), Role.USER)
    with ServerThread(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        # Reads on many days, each past the memory tier, eight at a time: the same
        # cache statements run again and again on client connections that PgBouncer
        # deals out over fewer server connections.
        with ThreadPoolExecutor(8) as pool:
            days = [
                f"2031-{month:02d}-{day:02d}T00:00:00Z" for month in (5, 6) for day in range(1, 29)
            ]
            answers = list(
                pool.map(lambda at: client.get("/v1/ephemeris/mars", params={"at": at}), days)
            )
        assert [a.status_code for a in answers] == [200] * len(days), answers[0].text
        # And each was stored in the PostgreSQL tier: the cache degrades to the upstream
        # when its database fails, so the answers alone would not show a failed write.
        assert _stored(database_url, "mars:") >= len(days)
        again = client.get("/v1/ephemeris/mars", params={"at": "2031-05-06T03:00:00Z"})
        assert again.headers["x-cache"] == "memory"
        # An API key made through PgBouncer authenticates its holder (lookups pooled too).
        with_key = {"Authorization": f"Bearer {key}"}
        for _ in range(8):
            assert client.get("/v1/jobs", headers=with_key).status_code == 200
        # Jobs: submitted through PgBouncer, run by the in-process worker (LISTEN direct).
        for user in ("alice", "bob"):
            submitted = client.post("/v1/jobs", json=EXPORT, headers=user_headers(user))
            assert submitted.status_code == 202, submitted.text
            location = submitted.headers["Location"]

            def done(location: str = location, user: str = user) -> dict[str, Any] | None:
                job: dict[str, Any] = client.get(location, headers=user_headers(user)).json()
                return job if job["status"] in {"succeeded", "failed"} else None

            assert wait_for(done, timeout=60)["status"] == "succeeded"
        # Row-level security holds per transaction: each user sees only their own job.
        for user in ("alice", "bob"):
            listed = client.get("/v1/jobs", headers=user_headers(user)).json()
            assert len(listed) == 1, listed
        assert client.get("/ready").status_code == 200
    assert _transactions(pgbouncer, database_url) - before > 50
    assert "prepared statement" not in pgbouncer.log()


def test_memory_tiers_stay_in_step_through_pgbouncer(
    job_settings: Callable[..., Settings], pgbouncer: PgBouncer, database_url: str
) -> None:
    # No Redis: the tiers are kept in step by NOTIFY (pooled) and LISTEN (direct).
    settings = _pooled(job_settings, pgbouncer, database_url, worker_in_process=False)
    admin = {
        "Authorization": f"Bearer {_create_key(pgbouncer.url_for(database_url), Role.SERVICE)}"
    }
    at = {"at": "2031-05-07T01:00:00Z"}
    with ServerThread(settings) as first, ServerThread(settings) as second:
        for server in (first, second):
            httpx.get(f"{server.url}/v1/ephemeris/venus", params=at, timeout=30)
            hit = httpx.get(f"{server.url}/v1/ephemeris/venus", params=at, timeout=30)
            assert hit.headers["x-cache"] == "memory"
        purged = httpx.delete(
            f"{first.url}/v1/admin/cache/{NAMESPACE}",
            params={"prefix": "venus:"},
            headers=admin,
            timeout=30,
        )
        assert purged.status_code == 200, purged.text
        assert purged.json()["purged"] >= 1

        def refetched() -> bool:
            answer = httpx.get(f"{second.url}/v1/ephemeris/venus", params=at, timeout=30)
            return answer.headers["x-cache"] != "memory"

        # The other server's memory tier heard of it: its next read is not from memory.
        assert wait_for(refetched, timeout=2, every=0.05)


def test_job_events_listen_on_the_direct_connection(
    job_settings: Callable[..., Settings], pgbouncer: PgBouncer, database_url: str
) -> None:
    # A LISTEN through a transaction pooler would hear nothing: the stream must be woken
    # over the direct URL, while the progress NOTIFY goes through PgBouncer.
    settings = _pooled(job_settings, pgbouncer, database_url, worker_in_process=False)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("carol"), timeout=30) as client,
    ):
        job = client.post("/v1/jobs", json=EXPORT).json()
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as events:
            lines = events.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
            started = time.monotonic()
            asyncio.run(_set_progress(pgbouncer.url_for(database_url), job["id"]))
            data = next(line for line in lines if line.startswith("data: "))
            waited = time.monotonic() - started
        assert '"progress":0.5' in data
        # Well under the streams' 5 s re-check: it was the notification that woke it.
        assert waited < 2.0


async def _set_progress(pooled_url: str, job_id: str) -> None:
    engine = create_engine(pooled_url, pool_size=1, transaction_pooler=True)
    try:
        await JobRecords(engine).set_progress(uuid.UUID(job_id), 0.5)
    finally:
        await engine.dispose()
