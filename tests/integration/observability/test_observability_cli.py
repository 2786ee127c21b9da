"""`cachefront stats` and `cachefront health`, run as a user runs them: in their own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder


def cachefront(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CACHEFRONT_DATABASE_URL": url,
        "CACHEFRONT_HEALTH_MIN_REQUESTS": "10",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _record(url: str, tier: str, n: int) -> None:
    engine = create_engine(url, pool_size=1)
    recorder = MetricsRecorder(engine)
    for _ in range(n):
        recorder.request((time.time(), "GET", "/v1/cli-test/{x}", 200, 2.0, tier, 0))
    await recorder.flush()
    await engine.dispose()


@pytest.fixture
def url(own_database_url: str) -> str:
    libpq = make_url(own_database_url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE request_metrics, request_rollups, request_hours, latency_buckets, "
            "latency_minutes"
        )
        # A job worker beating, as a running deployment has.
        conn.execute("DELETE FROM procrastinate_workers")
        conn.execute("INSERT INTO procrastinate_workers DEFAULT VALUES")
    return own_database_url


async def test_health_exits_with_its_worst_status(url: str) -> None:
    await _record(url, "memory", 20)
    ok = cachefront(url, "health", "--json")
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert json.loads(ok.stdout)["status"] == "ok"

    await _record(url, "upstream", 6)  # 20 of 26 hits: under 80%
    warn = cachefront(url, "health")
    assert warn.returncode == 1, warn.stderr + warn.stdout
    assert "hit_rate" in warn.stdout
    assert "warn" in warn.stdout

    await _record(url, "upstream", 30)  # 20 of 56: under 50%
    critical = cachefront(url, "health", "--json")
    assert critical.returncode == 2
    checks = {c["name"]: c for c in json.loads(critical.stdout)["checks"]}
    assert checks["hit_rate"]["status"] == "critical"


def _refusing_url(own_database_url: str) -> str:
    """The database URL with a port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return make_url(own_database_url).set(host="127.0.0.1", port=port).render_as_string(False)


def test_health_with_the_database_unreachable_is_critical_in_one_line(
    own_database_url: str,
) -> None:
    down = _refusing_url(own_database_url)
    table = cachefront(down, "health")
    assert table.returncode == 2, table.stderr + table.stdout
    assert "Traceback" not in table.stderr
    assert table.stdout == ""
    (line,) = table.stderr.splitlines()
    assert line.startswith("cachefront health: critical: database unreachable (OperationalError)")
    assert "refused" in line

    as_json = cachefront(down, "health", "--json")
    assert as_json.returncode == 2, as_json.stderr + as_json.stdout
    assert as_json.stderr == ""
    doc = json.loads(as_json.stdout)
    assert doc["status"] == "critical"
    assert [(c["name"], c["status"]) for c in doc["checks"]] == [("database", "critical")]
    assert doc["checks"][0]["detail"] == line.removeprefix("cachefront health: critical: ")


async def test_stats_prints_the_figures_as_tables_and_json(url: str) -> None:
    await _record(url, "memory", 3)
    await _record(url, "upstream", 1)
    as_json = cachefront(url, "stats", "--hours", "1", "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["requests"] == 4
    assert doc["hit_rate"] == 0.75
    assert [r["route"] for r in doc["routes"]] == ["/v1/cli-test/{x}"]
    table = cachefront(url, "stats", "--hours", "1")
    assert table.returncode == 0, table.stderr
    assert "hit rate" in table.stdout
    assert "75.0%" in table.stdout
    assert "/v1/cli-test/{x}" in table.stdout


def test_a_bad_window_is_refused_naming_it(own_database_url: str) -> None:
    refused = cachefront(own_database_url, "stats", "--hours", "0")
    assert refused.returncode == 2
    assert "--hours" in refused.stderr


def test_storage_prints_tables_and_namespaces(url: str) -> None:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("DELETE FROM cache_entries WHERE namespace = 'cli.storage'")
        conn.execute(
            "INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at,"
            " fresh_until, expires_at) SELECT 'cli.storage', 'k' || i, '\\x0102'::bytea, 'e',"
            " false, now(), now(), now() + interval '30 minutes' FROM generate_series(1, 3) i"
        )
    env_quota = {"CACHEFRONT_CACHE_QUOTAS": '{"cli.storage": "4B"}'}
    table = cachefront_env(url, env_quota, "storage")
    assert table.returncode == 0, table.stderr
    assert "cache_entries" in table.stdout
    assert "cli.storage" in table.stdout
    assert "cache namespaces" in table.stdout

    as_json = cachefront_env(url, env_quota, "storage", "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    row = next(n for n in doc["namespaces"] if n["namespace"] == "cli.storage")
    assert (row["entries"], row["bytes"], row["expiring_1h"], row["quota_bytes"]) == (3, 6, 3, 4)


def cachefront_env(url: str, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CACHEFRONT_DATABASE_URL": url, "COLUMNS": "200", **extra}
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
