"""A database outage of a few seconds: the job worker restarts itself and the queue moves again.

The outage is made on a database of the test's own: it refuses connections for about
four seconds and every open connection to it is ended, as a failover or a restart
would. Before the supervisor, procrastinate stopped its worker ("Side task ... failed,
stopping worker") and nothing started it again: jobs stayed queued, periodic tasks
never ran, and ``/ready`` said 200.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread
from jobs_harness import (
    create_database,
    drop_database,
    libpq,
    refuse_connections,
    spawn_worker,
    stop_worker,
    user_headers,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

OUTAGE_SECONDS = 4.0
# How long an outage may last at most while waiting for what it should cause: on a
# loaded machine the worker can take longer than OUTAGE_SECONDS to notice it.
OUTAGE_MAX_SECONDS = 30.0
EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-02-01T00:00:00Z",
        "stop": "2026-02-01T06:00:00Z",
    },
}


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A migrated database for this test alone (the outage must not reach the others)."""
    url = create_database(database_url)
    yield url
    drop_database(database_url, url)


def _outage(
    admin_url: str,
    url: str,
    during: Callable[[], None],
    until: Callable[[], bool] = lambda: True,
) -> None:
    """Refuse connections to ``url`` for OUTAGE_SECONDS, calling ``during`` meanwhile.

    The outage goes on past OUTAGE_SECONDS until ``until()`` holds (at most
    OUTAGE_MAX_SECONDS), so what the test waits for has had its chance to happen.
    """
    refuse_connections(admin_url, url, refuse=True)
    try:
        start = time.monotonic()
        while True:
            during()
            elapsed = time.monotonic() - start
            if elapsed >= OUTAGE_MAX_SECONDS or (elapsed >= OUTAGE_SECONDS and until()):
                break
            time.sleep(0.2)
    finally:
        refuse_connections(admin_url, url, refuse=False)


def _succeeded(client: httpx.Client, location: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(location).json()
        return job if job["status"] in {"succeeded", "failed"} else None

    return probe


def _periodic_runs_after(url: str, since: float) -> int:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cleanup-expired-cache' "
            "AND status = 'succeeded' AND (args->>'timestamp')::bigint > %s",
            (int(since),),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_in_process_worker_restarts_after_an_outage_and_ready_says_so(
    database_url: str,
    own_database: str,
    job_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cachefront.jobs.supervisor")
    settings = job_settings(
        database_url=own_database,
        worker_restart_max_seconds=1.0,
        # A periodic task every second: it must run again after the outage too.
        cleanup_schedule="* * * * * *",
    )
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("outage"), timeout=30) as client,
    ):
        wait_for(lambda: client.get("/ready").status_code == 200, timeout=30)
        during: list[httpx.Response] = []

        def worker_down_seen() -> bool:
            return any("job worker down" in r.text for r in during)

        _outage(
            database_url,
            own_database,
            lambda: during.append(client.get("/ready")),
            until=worker_down_seen,
        )
        back = time.time()

        worker_down = [r for r in during if "job worker down" in r.text]
        assert worker_down, [r.text for r in during]
        assert all(r.status_code == 503 for r in worker_down)
        assert worker_down[0].headers["content-type"] == "application/problem+json"

        ready = wait_for(lambda: (r := client.get("/ready")).status_code == 200 and r, timeout=30)
        assert ready.json()["status"] == "ready"
        submitted = client.post("/v1/jobs", json=EXPORT)
        assert submitted.status_code == 202, submitted.text
        done = wait_for(_succeeded(client, submitted.headers["Location"]), timeout=60)
        assert done["status"] == "succeeded", done
        assert done["result"]["rows"] == 7
        wait_for(lambda: _periodic_runs_after(own_database, back) > 0, timeout=30)

        # One line when the outage started, one when the worker had run a while again.
        def actions() -> list[str]:
            return [getattr(r, "action", "") for r in caplog.records]

        wait_for(lambda: "jobs.worker_recovered" in actions(), timeout=30)
        assert actions().count("jobs.worker_down") == 1, caplog.text
        assert actions().count("jobs.worker_recovered") == 1, caplog.text


def test_cachefront_worker_process_restarts_after_an_outage(
    database_url: str, own_database: str, job_settings: Callable[..., Settings]
) -> None:
    # The API process only defers; the `cachefront worker` process must come back alone.
    api = job_settings(database_url=own_database, worker_in_process=False)
    proc = spawn_worker(job_settings(database_url=own_database, worker_restart_max_seconds=1.0))
    try:
        with (
            ServerThread(api) as server,
            httpx.Client(
                base_url=server.url, headers=user_headers("outage-cli"), timeout=30
            ) as client,
        ):
            first = client.post("/v1/jobs", json=EXPORT)
            wait_for(_succeeded(client, first.headers["Location"]), timeout=60)
            _outage(database_url, own_database, lambda: None)
            assert proc.poll() is None, "the worker process exited"
            submitted = client.post("/v1/jobs", json=EXPORT)
            assert submitted.status_code == 202, submitted.text
            done = wait_for(_succeeded(client, submitted.headers["Location"]), timeout=60)
            assert done["status"] == "succeeded", done
    finally:
        print(stop_worker(proc)[-3000:])
