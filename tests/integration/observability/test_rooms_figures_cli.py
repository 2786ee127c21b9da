"""`cachefront stats --rooms`, run in its own process: each room's figures as JSON and tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url


def cachefront(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CACHEFRONT_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cachefront", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_stats_rooms_prints_each_rooms_figures(own_database_url: str) -> None:
    libpq = make_url(own_database_url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        # One hit two hours ago, one twenty hours ago: only the first is in a 3-hour window.
        for hours in (2, 20):
            conn.execute(
                "INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens,"
                " completion_tokens, latency_ms, cost_usd, saved_usd, cached, ok)"
                " VALUES ('key:9', %s, 'p', 'm', 40, 2, 0, 0, 0.01, true, true)",
                (datetime.now(UTC) - timedelta(hours=hours),),
            )
    as_json = cachefront(own_database_url, "stats", "--rooms", "--hours", "3", "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert list(doc) == ["ephemeris", "prices", "ai"]
    ai = {f["label"]: f["value"] for f in doc["ai"]["figures"]}
    assert ai["tokens saved by cache hits"] == 42
    tables = cachefront(own_database_url, "stats", "--rooms", "--hours", "24")
    assert tables.returncode == 0, tables.stderr
    assert "room ephemeris" in tables.stdout
    assert "Coverage ahead of now" in tables.stdout
    assert "tokens saved by cache hits" in tables.stdout
    assert "84" in tables.stdout  # both hits in 24 hours
