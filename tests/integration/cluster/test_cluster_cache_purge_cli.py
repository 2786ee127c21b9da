"""`cachefront cache purge` without Redis behind PgBouncer: it purges through the pooler
and the running servers' memory tiers hear of it (their LISTEN is on the direct URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from cluster_processes import PgBouncer

from cachefront.config import Settings
from cachefront.services.ephemeris.keys import NAMESPACE
from harness_servers import ServerThread, settings_env
from jobs_harness import wait_for

pytestmark = pytest.mark.slow

AT = {"at": "2031-08-09T10:00:00Z"}


def test_cli_purge_through_pgbouncer_without_redis_reaches_a_running_server(
    job_settings: Callable[..., Settings], pgbouncer: PgBouncer, database_url: str
) -> None:
    settings = job_settings(
        database_url=pgbouncer.url_for(database_url),
        database_direct_url=database_url,
        worker_in_process=False,
    )
    assert settings.redis_url is None
    with ServerThread(settings) as server:

        def get() -> httpx.Response:
            return httpx.get(f"{server.url}/v1/ephemeris/venus", params=AT, timeout=30)

        get()
        assert get().headers["x-cache"] == "memory"
        done = subprocess.run(
            [sys.executable, "-m", "cachefront", "cache", "purge", NAMESPACE, "--prefix", "venus:"],
            env={**os.environ, **settings_env(settings)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert int(done.stdout.split()[1]) >= 1, done.stdout
        # The server's memory tier heard the NOTIFY: its next read is not from memory.
        assert wait_for(lambda: get().headers["x-cache"] != "memory", timeout=2, every=0.05)
