"""A worker stopped with SIGTERM mid-job: the job finishes within the shutdown timeout, or,
past it, is handed back and completed by another worker."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator
from jobs_harness import spawn_worker, stop_worker, user_headers, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["saturn"],
        "start": "2026-04-01T00:00:00Z",
        "stop": "2026-04-02T00:00:00Z",
    },
}


def _finished(client: httpx.Client, location: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(location).json()
        return job if job["status"] in {"succeeded", "failed"} else None

    return probe


def _running_job(
    client: httpx.Client, simulator: Simulator, worker: subprocess.Popen[bytes]
) -> str:
    location: str = client.post("/v1/jobs", json=EXPORT).headers["Location"]
    wait_for(lambda: simulator.requests() >= 1, timeout=60)
    assert client.get(location).json()["status"] == "running"
    assert worker.poll() is None
    return location


def test_sigterm_lets_a_running_job_finish_within_the_timeout(
    job_settings: Callable[..., Settings], jobs_simulator: Simulator
) -> None:
    settings = job_settings(worker_in_process=False, shutdown_timeout_seconds=20.0)
    jobs_simulator.configure(latency_ms=2000)
    worker = spawn_worker(settings)
    try:
        with (
            ServerThread(settings) as server,
            httpx.Client(base_url=server.url, headers=user_headers("sigterm")) as client,
        ):
            location = _running_job(client, jobs_simulator, worker)
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            # It waited for the upstream call in flight, and no longer than the timeout.
            assert time.monotonic() - started < 20
            done = client.get(location).json()
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 1
    finally:
        print(stop_worker(worker)[-3000:])


def test_a_job_past_the_timeout_is_handed_back_and_finished_elsewhere(
    job_settings: Callable[..., Settings], jobs_simulator: Simulator
) -> None:
    settings = job_settings(worker_in_process=False, shutdown_timeout_seconds=1.0)
    jobs_simulator.configure(latency_ms=6000)
    first = spawn_worker(settings)
    second = None
    try:
        with (
            ServerThread(settings) as server,
            httpx.Client(base_url=server.url, headers=user_headers("sigterm")) as client,
        ):
            location = _running_job(client, jobs_simulator, first)
            started = time.monotonic()
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=30)
            # Stopped soon after the timeout, not after the job's 6 s upstream call.
            assert time.monotonic() - started < 6
            jobs_simulator.configure(latency_ms=0)
            second = spawn_worker(settings)
            done = wait_for(_finished(client, location), timeout=90)
            assert done["status"] == "succeeded", done
    finally:
        print(stop_worker(first)[-3000:])
        if second is not None:
            stop_worker(second)
