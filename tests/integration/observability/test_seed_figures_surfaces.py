"""The seed figures through a real server (service role only, bad input a 422 naming it)
and through the CLI as a user runs it (tables and --json)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from test_admin_storage_http import user_token
from test_observability_cli import cachefront

from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder
from harness_servers import ServerThread

KEY = "seed-figures-service-key-0123456789abcdef"
SECRET = "jwt-secret-for-storage-tests-0123456789"
FIGURES = ("errors", "trend", "slowest", "tasks", "unread")


async def _record(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    recorder = MetricsRecorder(engine)
    now = time.time()
    recorder.request((now - 60, "GET", "/v1/surface/{x}", 503, 812.5, "upstream", 1))
    recorder.request((now - 30, "GET", "/v1/surface/{x}", 200, 1.5, "memory", 0))
    await recorder.flush()
    await engine.dispose()


@pytest.fixture
def url(own_database_url: str) -> str:
    libpq = make_url(own_database_url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE request_metrics, request_rollups, request_hours, latency_buckets,"
            " upstream_calls, upstream_rollups"
        )
    asyncio.run(_record(own_database_url))
    return own_database_url


def test_figures_are_json_for_the_service_role_only(
    url: str, settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(
        database_url=url,
        service_key=KEY,
        jwt_secret=SECRET,
        jwt_audience="authenticated",
        cache_quotas={"surface.quota": "1MB"},
    )
    service = {"Authorization": f"Bearer {KEY}"}
    with serve_app(settings) as server:
        base = f"{server.url}/v1/admin"
        refused = {
            name: (
                httpx.get(f"{base}/{name}", timeout=10).status_code,
                httpx.get(f"{base}/{name}", headers=user_token(), timeout=10).status_code,
            )
            for name in FIGURES
        }
        docs = {name: httpx.get(f"{base}/{name}", headers=service, timeout=30) for name in FIGURES}
        bad = httpx.get(f"{base}/trend", params={"hours": "0"}, headers=service, timeout=10)
        huge = httpx.get(f"{base}/errors", params={"limit": "9999"}, headers=service, timeout=10)
    assert refused == dict.fromkeys(FIGURES, (401, 403))
    for name, answer in docs.items():
        assert answer.status_code == 200, (name, answer.text)
    errors = docs["errors"].json()
    assert [(r["route"], r["status"]) for r in errors["requests"]] == [("/v1/surface/{x}", 503)]
    trend = docs["trend"].json()
    assert len(trend["hours"]) in (168, 169)
    # The two recorded, and the server's own answers to this test since.
    assert sum(h["requests"] for h in trend["hours"]) >= 2
    assert docs["slowest"].json()["requests"][0]["latency_ms"] == 812.5
    names = {t["task"] for t in docs["tasks"].json()["tasks"]}
    assert {"cleanup-expired-cache", "prune-metrics", "remove-old-jobs"} <= names
    unread = {n["namespace"]: n for n in docs["unread"].json()}
    assert unread["surface.quota"]["tracked"] is True
    for answer, field in ((bad, "hours"), (huge, "limit")):
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in answer.text


@pytest.mark.parametrize("figure", FIGURES)
def test_each_figure_prints_as_a_table_and_as_json(url: str, figure: str) -> None:
    as_json = cachefront(url, figure, "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    table = cachefront(url, figure)
    assert table.returncode == 0, table.stderr
    if figure == "errors":
        assert doc["requests"][0]["status"] == 503
        assert "503" in table.stdout
        assert "/v1/surface/{x}" in table.stdout
    elif figure == "slowest":
        assert doc["requests"][0]["latency_ms"] == 812.5
        assert "812.5" in table.stdout
    elif figure == "trend":
        assert sum(h["requests"] for h in doc["hours"]) >= 2
        assert "hit rate" in table.stdout
    elif figure == "tasks":
        assert any(t["task"] == "prune-metrics" for t in doc["tasks"])
        assert "prune-metrics" in table.stdout
    else:
        assert isinstance(doc, list)
        assert "never read" in table.stdout


def test_a_bad_limit_is_refused_naming_it(own_database_url: str) -> None:
    refused = cachefront(own_database_url, "errors", "--limit", "0")
    assert refused.returncode == 2
    assert "--limit" in refused.stderr
