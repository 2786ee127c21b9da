"""`cachefront keys` run as its own process, and the keys it makes against a running server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable

import httpx

from cachefront.config import Settings
from harness_servers import ServerThread

KEY = re.compile(r"^cf_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$")


def keys_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CACHEFRONT_DATABASE_URL": database_url,
        "CACHEFRONT_MIGRATE_ON_START": "false",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "cachefront", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_key_created_printed_once_works_unlisted_then_revoked(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], database_url: str
) -> None:
    created = keys_cli(database_url, "create", "--name", "cli-test", "--role", "user")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.strip().splitlines()
    match = KEY.match(lines[-1])
    assert match is not None, created.stdout
    key, prefix = lines[-1], match.group(1)
    # Shown once, alone on its line, and nowhere else.
    assert (created.stdout + created.stderr).count(key) == 1

    with serve_app(settings_for(auth_cache_seconds=0)) as server:
        jobs = f"{server.url}/v1/jobs"
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(jobs, headers=auth).status_code == 200

        listed = keys_cli(database_url, "list")
        assert listed.returncode == 0, listed.stderr
        assert prefix in listed.stdout
        assert key not in listed.stdout + listed.stderr

        revoked = keys_cli(database_url, "revoke", prefix)
        assert revoked.returncode == 0, revoked.stderr
        refused = httpx.get(jobs, headers=auth)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
