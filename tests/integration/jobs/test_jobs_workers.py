"""Worker processes against the real queue: periodic deferral once, and stall recovery."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator
from jobs_harness import (
    libpq,
    spawn_worker,
    stop_worker,
    user_headers,
    wait_for,
)

pytestmark = pytest.mark.slow


def _rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        return conn.execute(query).fetchall()


def test_two_workers_defer_each_period_once(
    job_settings: Callable[..., Settings], database_url: str
) -> None:
    # The cleanup task every second, with two workers each running a periodic deferrer.
    settings = job_settings(cleanup_schedule="* * * * * *")
    workers = [spawn_worker(settings), spawn_worker(settings)]
    try:
        query = (
            "SELECT (args->>'timestamp')::bigint, count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'cleanup-expired-cache' GROUP BY 1"
        )
        wait_for(lambda: len(_rows(database_url, query)) >= 4, timeout=60)
        counts = _rows(database_url, query)
        assert all(count == 1 for _, count in counts), counts
        done = _rows(
            database_url,
            "SELECT count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'cleanup-expired-cache' AND status = 'succeeded'",
        )
        assert done[0][0] >= 1
        workers_seen = _rows(database_url, "SELECT count(*) FROM procrastinate_workers")
        assert workers_seen[0][0] == 2
    finally:
        errors = [stop_worker(proc) for proc in workers]
        print("\n".join(errors)[-3000:])


def test_job_of_a_killed_worker_completes_on_another(
    job_settings: Callable[..., Settings], jobs_simulator: Simulator
) -> None:
    # The API process defers only; worker processes run.
    settings = job_settings(worker_in_process=False)
    jobs_simulator.configure(latency_ms=4000)
    export = {
        "type": "ephemeris-export",
        "params": {
            "bodies": ["jupiter"],
            "start": "2026-03-01T00:00:00Z",
            "stop": "2026-03-02T00:00:00Z",
        },
    }
    first = spawn_worker(settings)
    second = None
    try:
        with (
            ServerThread(settings) as server,
            httpx.Client(base_url=server.url, headers=user_headers("worker-test")) as client,
        ):
            location = client.post("/v1/jobs", json=export).headers["Location"]
            # Running, with the upstream call in flight: kill the worker without warning.
            wait_for(lambda: jobs_simulator.requests() >= 1, timeout=60)
            assert client.get(location).json()["status"] == "running"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            jobs_simulator.configure(latency_ms=0)

            second = spawn_worker(settings)

            def finished() -> dict[str, Any] | None:
                job: dict[str, Any] = client.get(location).json()
                return job if job["status"] in {"succeeded", "failed"} else None

            done = wait_for(finished, timeout=90)
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 2
            assert done["result"]["rows"] == 25
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
