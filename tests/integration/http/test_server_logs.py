"""What `cachefront serve` logs: one format whatever --workers says, and no upstream secrets."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import Simulator, settings_env, spawn_server

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: "
)
UPSTREAM_KEY = "UPSTREAMKEY-do-not-log-42"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_every_worker_logs_the_same_lines_in_one_format_without_upstream_keys(
    settings_for: Callable[..., Settings], simulator: Simulator, workers: int
) -> None:
    settings = settings_for(
        horizons_url=f"{simulator.url}?api_key={UPSTREAM_KEY}", ephemeris_providers=["horizons"]
    )
    env = {**settings_env(settings), "CACHEFRONT_WORKERS": str(workers)}
    stderr: list[str] = []
    with spawn_server(env, log_level="info", stderr_out=stderr) as url:
        # A cold request: an upstream call with the key in its URL.
        response = httpx.get(f"{url}/v1/ephemeris/mars", params={"at": "2031-01-02T03:00:00Z"})
        assert response.status_code == 200, response.text
        assert simulator.requests() >= 1
    lines = [line for line in stderr[0].splitlines() if line.strip()]
    ready = [line for line in lines if "cachefront ready (pid" in line]
    assert len({re.search(r"pid (\d+)", line).group(1) for line in ready}) == workers, lines  # type: ignore[union-attr]
    logged = [line for line in lines if LINE.match(line)]
    assert any("uvicorn" in line for line in logged), lines
    # Every line is in the one format, but for the startup banner printed to the console.
    others = [
        line for line in lines if not LINE.match(line) and not line.startswith("cachefront on ")
    ]
    assert others == [], others
    assert UPSTREAM_KEY not in stderr[0]
    assert "HTTP Request:" not in stderr[0]  # httpx's per-request lines stay at DEBUG
