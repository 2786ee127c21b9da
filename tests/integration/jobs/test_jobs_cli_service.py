"""`cachefront jobs` acts as the service through the app role: it sees every user's jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from cachefront.config import Settings
from harness_servers import settings_env
from jobs_harness import libpq


def test_jobs_list_sees_every_owner_as_the_app_role(
    database_url: str, job_settings: Callable[..., Settings]
) -> None:
    settings = job_settings(worker_in_process=False, db_app_role="cachefront_app")
    owners = {f"key:{uuid.uuid4().int % 10**6}", f"jwt::{uuid.uuid4().hex[:8]}"}
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        for owner in owners:
            conn.execute(
                "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at) "
                "VALUES (%s, 'test', %s, '{}', 'queued', now(), now())",
                (uuid.uuid4(), owner),
            )
    listed = subprocess.run(
        [sys.executable, "-m", "cachefront", "jobs", "list", "--json"],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    # Row-level security applied (the app role) and let the service see all owners.
    assert {job["owner"] for job in json.loads(listed.stdout)} == owners
