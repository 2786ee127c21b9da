"""What `cachefront worker` logs: the server's one format, quiet httpx, no upstream secrets."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator
from jobs_harness import spawn_worker, stop_worker, user_headers, wait_for

pytestmark = pytest.mark.slow

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: "
)
UPSTREAM_KEY = "WORKERKEY-do-not-log-7"
EXPORT = {
    "type": "ephemeris-export",
    "params": {"bodies": ["venus"], "start": "2027-03-01T00:00:00Z", "stop": "2027-03-01T05:00Z"},
}


def test_the_worker_logs_in_one_format_without_upstream_keys(
    job_settings: Callable[..., Settings], jobs_simulator: Simulator
) -> None:
    keyed = f"{jobs_simulator.url}?api_key={UPSTREAM_KEY}"
    api = job_settings(worker_in_process=False)
    proc = spawn_worker(job_settings(horizons_url=keyed), log_level="info")
    try:
        with (
            ServerThread(api) as server,
            httpx.Client(base_url=server.url, headers=user_headers("logs"), timeout=30) as client,
        ):
            submitted = client.post("/v1/jobs", json=EXPORT)
            assert submitted.status_code == 202, submitted.text

            def finished() -> dict[str, object] | None:
                job: dict[str, object] = client.get(submitted.headers["Location"]).json()
                return job if job["status"] in ("succeeded", "failed") else None

            job = wait_for(finished, timeout=60)
            assert job["status"] == "succeeded", job
        # The export went through the worker's upstream client, with the key in its URL.
        assert jobs_simulator.requests() >= 1
    finally:
        stderr = stop_worker(proc)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any("job worker running" in line for line in lines), lines
    # Every line is in the one format, but for the console's start and stop banners.
    others = [
        line for line in lines if not LINE.match(line) and not line.startswith("cachefront worker")
    ]
    assert others == [], others
    assert not any("setup plugin" in line for line in lines), lines
    assert UPSTREAM_KEY not in stderr
    assert "HTTP Request:" not in stderr  # httpx's per-request lines stay at DEBUG
