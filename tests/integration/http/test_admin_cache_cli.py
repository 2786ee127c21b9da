"""`cachefront cache purge`: purges the shared tiers and every running process's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from cachefront.services.ephemeris.keys import NAMESPACE
from harness_servers import settings_env, spawn_server

AT = "2031-06-07T08:00:00Z"


def _purge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cachefront", "cache", "purge", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("carrier", ["redis", "postgres"])
def test_cli_purge_reaches_a_running_process_memory(
    settings_for: Callable[..., Settings], redis_url: str, carrier: str
) -> None:
    settings = settings_for(redis_url=redis_url if carrier == "redis" else None)
    env = settings_env(settings)
    with spawn_server(env) as url:

        def get() -> httpx.Response:
            return httpx.get(f"{url}/v1/ephemeris/venus", params={"at": AT}, timeout=30)

        get()
        assert get().headers["x-cache"] == "memory"
        done = _purge(env, NAMESPACE, "--prefix", "venus:")
        assert done.returncode == 0, done.stderr
        assert "purged" in done.stdout
        assert int(done.stdout.split()[1]) >= 1
        time.sleep(0.1)
        assert get().headers["x-cache"] == "upstream"


def test_cli_purge_refuses_a_target_it_cannot_read(
    settings_for: Callable[..., Settings],
) -> None:
    env = settings_env(settings_for())
    both = _purge(env, NAMESPACE, "--key", "a", "--prefix", "b")
    assert both.returncode == 2
    assert "not both" in both.stderr
    bad = _purge(env, "no:colons", "--prefix", "")
    assert bad.returncode == 2
    assert "namespace" in bad.stderr
