"""Graceful shutdown, and a rolling restart of every API process under load behind nginx.

nginx runs the block shown in docs/deploy.md (ports changed only) in front of three
``cachefront serve`` processes sharing the session's PostgreSQL. Each process in turn
gets SIGTERM while requests, some of them waiting on a slow upstream, are in flight,
and is started again once it has exited; no request may fail meanwhile, job
submissions (POST, which nginx never retries once sent) included.
"""

from __future__ import annotations

import random
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cluster_processes import ApiProcess, Nginx, deploy_nginx_block

from cachefront.config import Settings
from harness_servers import Simulator, free_port, settings_env
from jobs_harness import JWT_AUDIENCE, JWT_SECRET, user_headers

# Its own limit: three processes started, then each restarted, on a shared machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BODIES = ["mars", "venus", "jupiter", "saturn"]
EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-02T00:00:00Z",
        "step": "1h",
        "format": "csv",
    },
}


@pytest.fixture
def api_env(settings_for: Callable[..., Settings]) -> dict[str, str]:
    settings = settings_for(
        shutdown_timeout_seconds=10.0,
        worker_in_process=False,
        # Job submissions need a user; no worker runs them, they only have to be taken.
        jwt_secret=JWT_SECRET,
        jwt_audience=JWT_AUDIENCE,
        rate_limits={
            "general": "100000/minute",
            "upstream": "100000/minute",
            "generation": "100000/minute",
            "jobs": "100000/minute",
        },
    )
    return settings_env(settings)


@pytest.fixture
def processes(api_env: dict[str, str]) -> Iterator[list[ApiProcess]]:
    started = [ApiProcess(api_env, free_port()) for _ in range(3)]
    try:
        # Two minutes each (one by one: each migrates at start): on a loaded machine a
        # start took past the one minute of the default.
        for process in started:
            process.start(timeout=120)
        yield started
    finally:
        for process in started:
            process.close()


def test_sigterm_finishes_in_flight_requests_and_refuses_new_connections(
    api_env: dict[str, str], simulator: Simulator
) -> None:
    process = ApiProcess(api_env, free_port())
    process.start()
    try:
        simulator.configure(latency_ms=1500)
        with ThreadPoolExecutor(len(BODIES) + 1) as pool:
            in_flight = [
                pool.submit(
                    httpx.get,
                    f"{process.url}/v1/ephemeris/{body}",
                    params={"at": "2032-01-02T03:00:00Z"},
                    timeout=30,
                )
                for body in BODIES
            ]
            time.sleep(0.5)  # the requests wait on the upstream
            stopped = pool.submit(process.stop, signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{process.url}/health", timeout=2)
            answers = [future.result() for future in in_flight]
            status = stopped.result()
        assert [a.status_code for a in answers] == [200] * len(BODIES), answers[0].text
        assert all(a.headers["x-cache"] == "upstream" for a in answers)
        # uvicorn re-raises the SIGTERM; `cachefront serve` exits through Python (128+15)
        # so its exit handlers run.
        assert status == 128 + signal.SIGTERM, process.stderr()[-2000:]
    finally:
        process.close()


def test_a_rolling_restart_behind_nginx_fails_no_request(
    processes: list[ApiProcess], simulator: Simulator
) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("needs nginx (.ci/run installs it with apt)")
    # Slow enough that every stop catches requests waiting on the upstream.
    simulator.configure(latency_ms=150)
    nginx_port = free_port()
    site = deploy_nginx_block([p.port for p in processes], nginx_port)
    outcomes: list[str] = []
    posts: list[str] = []
    stop = threading.Event()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                # Mostly warm keys, one in four a new instant (an upstream call).
                hour = rng.randrange(24) if rng.random() < 0.75 else rng.randrange(24, 10000)
                at = "2033-01-01T00:00:00Z" if hour == 0 else _instant(hour)
                try:
                    answer = client.get(
                        f"{nginx.url}/v1/ephemeris/{rng.choice(BODIES)}", params={"at": at}
                    )
                    outcomes.append("ok" if answer.status_code == 200 else str(answer.status_code))
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)

    def submit(seed: int) -> None:
        headers = user_headers(f"user-{seed}")
        with httpx.Client(timeout=30, headers=headers) as client:
            while not stop.is_set():
                key = {"Idempotency-Key": uuid.uuid4().hex}
                try:
                    answer = client.post(f"{nginx.url}/v1/jobs", json=EXPORT, headers=key)
                    posts.append("ok" if answer.status_code == 202 else str(answer.status_code))
                except httpx.HTTPError as exc:
                    posts.append(type(exc).__name__)

    with Nginx(site, nginx_port) as nginx:
        with ThreadPoolExecutor(8) as pool:
            workers = [pool.submit(load, seed) for seed in range(6)]
            workers += [pool.submit(submit, seed) for seed in range(2)]
            try:
                time.sleep(1.0)
                for process in processes:
                    assert process.stop(signal.SIGTERM) == 128 + signal.SIGTERM
                    time.sleep(0.3)  # served by the other two meanwhile
                    process.start(timeout=120)
                    time.sleep(0.7)
            finally:
                stop.set()
                for worker in workers:
                    worker.result()
        errors = nginx.error_log()
    failed = [outcome for outcome in outcomes if outcome != "ok"]
    failed_posts = [outcome for outcome in posts if outcome != "ok"]
    assert len(outcomes) > 200, len(outcomes)
    assert len(posts) > 50, len(posts)
    assert failed == [], (failed[:20], errors[-2000:])
    assert failed_posts == [], (failed_posts[:20], errors[-2000:])


def _instant(hour: int) -> str:
    day, hour_of_day = divmod(hour, 24)
    return time.strftime(
        "%Y-%m-%dT%H:00:00Z", time.gmtime(1988150400 + day * 86400 + hour_of_day * 3600)
    )
