"""The `cachefront` command line, run as a user runs it: in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from cachefront.db.migrate import current_revision, head_revision


def cachefront(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_config_prints_settings_with_secrets_masked() -> None:
    env = {
        "CACHEFRONT_SERVICE_KEY": "svc-key-do-not-print-1234-abcdefghij",
        "CACHEFRONT_DATABASE_URL": "postgresql://app:db-pass-do-not-print@db.internal/app",
        "CACHEFRONT_REDIS_URL": "redis://:redis-pass-do-not-print@cache:6379/0",
        "CACHEFRONT_EPHEMERIS_PROVIDERS": "local",
        "CACHEFRONT_CORS_ORIGINS": "https://a.example,https://b.example",
    }
    result = cachefront("config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["service_key"] == "**********"
    assert values["database_url"] == "**********"
    assert values["ephemeris_providers"] == ["local"]
    assert values["cors_origins"] == ["https://a.example", "https://b.example"]
    table = cachefront("config", env=env)
    for output in (result.stdout + result.stderr, table.stdout + table.stderr):
        assert "do-not-print" not in output
    assert "CACHEFRONT_HORIZONS_URL" in table.stdout


def test_invalid_setting_fails_fast_naming_it() -> None:
    result = cachefront("config", env={"CACHEFRONT_PORT": "not-a-port"})
    assert result.returncode != 0
    assert "port" in (result.stderr + result.stdout).lower()


def test_migrate_brings_a_new_database_to_head(database_url: str) -> None:
    admin = make_url(database_url).set(drivername="postgresql")
    name = admin.database + "_cli"
    server = admin.render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        assert current_revision(url) is None
        result = cachefront("migrate", env={"CACHEFRONT_DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert current_revision(url) == head_revision()
        assert f"revision {head_revision()}" in result.stderr
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_simulate_horizons_serves_the_api_and_counts_requests() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachefront", "simulate", "horizons", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/_stats", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        params = {
            "format": "json",
            "COMMAND": "'499'",
            "MAKE_EPHEM": "'YES'",
            "EPHEM_TYPE": "'OBSERVER'",
            "CENTER": "'500@399'",
            "START_TIME": "'2026-11-23 00:00'",
            "STOP_TIME": "'2026-11-23 03:00'",
            "STEP_SIZE": "'60 m'",
            "QUANTITIES": "'1,20,31'",
            "ANG_FORMAT": "'DEG'",
            "CSV_FORMAT": "'YES'",
        }
        answer = httpx.get(base + "/api/horizons.api", params=params, timeout=30).json()
        assert answer["signature"]["source"] == "NASA/JPL Horizons API"
        assert "$$SOE" in answer["result"]
        assert httpx.get(base + "/_stats").json()["requests"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = cachefront("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cachefront {version('cachefront')}"


def test_config_shows_the_effective_rate_limits_and_masks_upstream_urls() -> None:
    env = {
        "CACHEFRONT_RATE_LIMITS": '{"upstream": "7/minute"}',
        "CACHEFRONT_HORIZONS_URL": "https://horizons.example/api?api_key=upstream-key-do-not-print",
    }
    result = cachefront("config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    limits = values["rate_limits"]
    assert limits["upstream"] == "7 per 1 minute"  # the setting
    assert limits["general"] == "200 per 1 minute"  # a default it does not name
    assert set(limits) >= {"admin", "generation", "jobs", "uploads", "upstream", "general"}
    assert values["horizons_url"] == "https://horizons.example/api?api_key=***"
    assert "do-not-print" not in result.stdout + result.stderr


def test_serve_on_a_busy_port_says_so_before_touching_the_database() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # A database that cannot be reached: reaching it (or migrating) would fail with
        # another message, so the port must be checked first.
        env = {"CACHEFRONT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        started = time.monotonic()
        result = cachefront("serve", "--port", str(port), env=env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in output
    assert "address already in use" in output.lower()
    assert "Traceback" not in output
    assert time.monotonic() - started < 30
