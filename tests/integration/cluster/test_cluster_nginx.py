"""Three API processes behind nginx: one upstream call for a burst of cold requests, and
no failed request when one process is SIGKILLed mid-traffic.

nginx runs the block of docs/deploy.md (ports changed only) in front of three
``cachefront serve`` processes sharing the session's PostgreSQL and Redis; the upstream
calls are counted by the Horizons simulator itself (its ``/_stats``).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cluster_processes import ApiProcess, Nginx, deploy_nginx_block

from cachefront.config import Settings
from harness_servers import Simulator, free_port, settings_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

AT = "2034-05-06T07:00:00Z"


@pytest.fixture
def cluster(
    settings_for: Callable[..., Settings], redis_url: str
) -> Iterator[tuple[Nginx, list[ApiProcess]]]:
    if shutil.which("nginx") is None:
        pytest.skip("needs nginx (.ci/run installs it with apt)")
    # A SIGKILLed process leaves its single-flight locks in Redis until they expire, and
    # the other processes' callers of those keys wait that long (35 s by default, longer
    # than a fill may take): shortened so that the wait stays within the client's timeout.
    settings = settings_for(
        redis_url=redis_url, shutdown_timeout_seconds=10.0, singleflight_lock_seconds=8.0
    )
    env = settings_env(settings)
    processes = [ApiProcess(env, free_port()) for _ in range(3)]
    try:
        for process in processes:
            process.start()
        nginx_port = free_port()
        site = deploy_nginx_block([p.port for p in processes], nginx_port)
        with Nginx(site, nginx_port) as nginx:
            yield nginx, processes
    finally:
        for process in processes:
            process.close()


async def test_300_concurrent_cold_requests_through_nginx_make_one_upstream_call(
    cluster: tuple[Nginx, list[ApiProcess]], simulator: Simulator
) -> None:
    nginx, _ = cluster
    # Slow enough that all 300 arrive while the one upstream call is still out.
    simulator.configure(latency_ms=1000)
    simulator.reset()
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        answers = await asyncio.gather(
            *(client.get(f"{nginx.url}/v1/ephemeris/uranus", params={"at": AT}) for _ in range(300))
        )
    assert [a.status_code for a in answers] == [200] * 300, answers[0].text
    assert len({a.content for a in answers}) == 1
    assert simulator.requests() == 1


def test_a_process_sigkilled_mid_traffic_behind_nginx_fails_no_request(
    cluster: tuple[Nginx, list[ApiProcess]], simulator: Simulator
) -> None:
    nginx, processes = cluster
    # Requests waiting on the upstream are in flight on the process when it dies.
    simulator.configure(latency_ms=100)
    outcomes: list[str] = []
    stop = threading.Event()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                # GETs only: nginx sends one that met a dead process to the next one; a
                # POST that reached a killed process is lost with it, by design.
                hour = rng.randrange(5000)
                day, hour_of_day = divmod(hour, 24)
                at = f"2035-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{hour_of_day:02d}:00:00Z"
                try:
                    answer = client.get(f"{nginx.url}/v1/ephemeris/mars", params={"at": at})
                    outcomes.append("ok" if answer.status_code == 200 else str(answer.status_code))
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)

    with ThreadPoolExecutor(6) as pool:
        workers = [pool.submit(load, seed) for seed in range(6)]
        try:
            _wait_for_answers(outcomes, 30)
            before = len(outcomes)
            processes[1].stop(signal.SIGKILL)
            # The other two carry the load, nginx skipping the dead one.
            _wait_for_answers(outcomes, before + 60)
        finally:
            stop.set()
            for worker in workers:
                worker.result()
    failed = [outcome for outcome in outcomes if outcome != "ok"]
    assert failed == [], (failed[:20], nginx.error_log()[-2000:])
    # Some requests met the dead process and were sent on: the kill was mid-traffic.
    assert "connect() failed" in nginx.error_log() or "upstream" in nginx.error_log()


def _wait_for_answers(outcomes: list[str], count: int, timeout: float = 60) -> None:
    """Until ``count`` requests have been answered (a slow, shared machine starts slowly)."""
    deadline = time.monotonic() + timeout
    while len(outcomes) < count:
        assert time.monotonic() < deadline, f"only {len(outcomes)} answers, waited for {count}"
        time.sleep(0.05)
