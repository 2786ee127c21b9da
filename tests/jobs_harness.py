"""Helpers for job tests: an app server in a thread, worker processes, and polling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jwt
import psycopg
from sqlalchemy.engine import make_url

from cachefront.config import Settings
from harness_servers import settings_env

T = TypeVar("T")

# Job routes need a caller: tests sign access tokens with this HS256 secret.
JWT_SECRET = "jwt-secret-for-job-tests-0123456789abcdef"
JWT_AUDIENCE = "authenticated"


def user_headers(sub: str) -> dict[str, str]:
    """The Authorization header of user ``sub``, valid for a few minutes."""
    now = int(time.time())
    claims = {"sub": sub, "aud": JWT_AUDIENCE, "role": "authenticated", "iat": now}
    token = jwt.encode({**claims, "exp": now + 600}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def wait_for(probe: Callable[[], T | None], *, timeout: float = 60.0, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def spawn_worker(
    settings: Settings, *, concurrency: int = 2, log_level: str = "warning"
) -> subprocess.Popen[bytes]:
    """``cachefront worker`` in its own process, configured like ``settings``."""
    env = {**os.environ, **settings_env(settings), "CACHEFRONT_LOG_LEVEL": log_level}
    return subprocess.Popen(
        [sys.executable, "-m", "cachefront", "worker", "--concurrency", str(concurrency)],
        env=env,
        cwd=Path(__file__).parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> str:
    """Stop the worker; its stderr, for failure messages."""
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace") if err else ""


def json_of(response: Any) -> Any:
    return response.json()


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(server_url: str, *, revision: str = "head") -> str:
    """A new database on the server of ``server_url``, migrated to ``revision``; its URL."""
    from cachefront.db.migrate import upgrade

    name = f"cachefront_outage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(libpq(server_url)).set(database=name).render_as_string(hide_password=False)
    upgrade(url, revision)
    return url


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(libpq(server_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refuse_connections(server_url: str, url: str, *, refuse: bool) -> None:
    """Make the database of ``url`` refuse new connections (and end every open one), or
    accept them again: an outage as the application sees it, the server staying up."""
    name = make_url(url).database
    with psycopg.connect(libpq(server_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
        if refuse:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
