"""The dashboard in headless Chromium: a one-time link logs in, the charts and the rooms' panels
draw real data offline.

The link comes from the real ``cachefront dashboard-url`` command; Chromium opens it,
follows the redirect with the session cookie it was given, runs the page's scripts
(the vendored uPlot, no network beyond the server) and the DOM it leaves is read
back. Any console message (an error, a failed load) fails the test. The screenshot is
kept as an artifact (``$CACHEFRONT_TEST_ARTIFACTS``, else pytest's cache folder).
Skipped, saying why, when Chromium is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.upstream.records import UpstreamCallRecord
from harness_servers import ServerThread

CHROMIUM = shutil.which("chromium")
KEY = "dashboard-service-key-0123456789abcdef"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install -y chromium)"
)


def _link(database_url: str, base: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "cachefront", "dashboard-url", "--base", base],
        env={**os.environ, "CACHEFRONT_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{base}/dashboard/login?token=")
    return link


def _cache_entries(database_url: str) -> None:
    """Two namespaces of the PostgreSQL tier: one past its 1 kB quota, one without any."""
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        for ns, n in (("dash.quota", 30), ("dash.free", 10)):
            conn.execute(
                "INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at,"
                " fresh_until, expires_at) SELECT %s, 'k' || i, convert_to(repeat('v', 100),"
                " 'UTF8'), 'e', false, now(), now(), now() + interval '2 hours'"
                " FROM generate_series(1, %s) i",
                (ns, n),
            )


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _artifacts(request: pytest.FixtureRequest) -> Path:
    named = os.environ.get("CACHEFRONT_TEST_ARTIFACTS")
    folder = Path(named) if named else Path(request.config.cache.mkdir("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def six_hours_of_traffic(engine: AsyncEngine) -> None:
    recorder = MetricsRecorder(engine)
    now = time.time()
    for hour in range(6):
        for n in range(40):
            tier = "memory" if n % 5 else "upstream"
            ms = 0.4 + n / 20 if tier == "memory" else 80.0 + n
            at = now - hour * 3600 - n
            recorder.request(
                (at, "GET", "/v1/ephemeris/{body}", 200, ms, tier, int(tier != "memory"))
            )
    # Errors for the recent-errors panel: two failed requests, one failed upstream call.
    recorder.request((now - 90, "GET", "/v1/dash/failing", 502, 1500.0, "upstream", 1))
    recorder.request((now - 80, "POST", "/v1/dash/failing", 422, 1.0, None, 0))
    recorder.record_upstream(
        UpstreamCallRecord(
            ts=now - 95,
            provider="dashprov",
            method="GET",
            url="https://up.test/dash",
            status=None,
            latency_ms=1400.0,
            attempts=3,
            outcome="timeout",
            priority="user",
            error="no answer within the deadline",
        )
    )
    await recorder.flush()


def _chromium(
    profile: Path, url: str, shot: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Chromium run headless on ``url``, its DOM on stdout and its console on stderr."""
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
            "--window-size=1280,4000",
            *([f"--screenshot={shot}"] if shot else []),
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _body(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:2000]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


def _console(browser: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in browser.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture
def ledger_rows(database_url: str) -> None:
    """Two hours of the AI room's ledger: a call and a cache hit each, for its panel's chart."""
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        for hours, cached in ((1, False), (1, True), (2, False), (2, True)):
            conn.execute(
                "INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens,"
                " completion_tokens, latency_ms, cost_usd, saved_usd, cached, ok) VALUES"
                " ('key:dash', now() - make_interval(hours => %s), 'p', 'm', 120, 30, 1,"
                " 0.01, 0.01, %s, true)",
                (hours, cached),
            )


@pytest.mark.usefixtures("six_hours_of_traffic", "ledger_rows")
def test_the_dashboard_logs_in_and_draws_its_charts(
    database_url: str,
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    assert CHROMIUM is not None
    shot = _artifacts(request) / "dashboard.png"
    shot.unlink(missing_ok=True)
    settings = settings_for(service_key=KEY, cache_quotas={"dash.quota": "1kB"})
    _cache_entries(database_url)
    with serve_app(settings) as server:
        link = _link(database_url, server.url)
        browser = _chromium(tmp_path / "profile", link, shot)
        # The link was used up by the browser.
        again = httpx.get(link, follow_redirects=False)
        # The same profile keeps the session cookie: the 7-day window, picked by address.
        week = _chromium(tmp_path / "profile", f"{server.url}/dashboard#7d")
    assert browser.returncode == 0, browser.stderr[-3000:]
    dom = browser.stdout
    attributes = _body(dom)
    assert attributes.get("state") == "ready", dom[:3000]
    assert attributes.get("hours") == "24"
    assert attributes.get("charts") == "3"
    assert int(attributes.get("points", "0")) >= 6
    # The three charts of the page, and the one series of the rooms' panels (the AI room's).
    assert dom.count("<canvas") == 3 + 1
    assert "/v1/ephemeris/{body}" in dom
    # The storage panel: namespaces, one bar each (the one over its quota marked), tables.
    assert attributes.get("storage") == "ready", dom[:3000]
    assert dom.count('class="bar-row"') == 2
    assert 'class="bar over"' in dom
    assert "dash.quota" in dom
    assert "dash.free" in dom
    assert "cache_entries" in dom
    # The seed figures' panels: recent errors, periodic tasks, slowest calls, unread.
    # At least this test's three (the database may hold earlier tests' errors too).
    assert int(attributes.get("errors", "0")) >= 3, dom[:3000]
    assert "/v1/dash/failing" in dom
    assert "no answer within the deadline" in dom
    assert "prune-metrics" in dom
    assert attributes.get("details") == "ready", dom[:3000]
    slowest = dom[dom.index('id="slowest"') :]
    assert "1,500.0" in slowest or "1500.0" in slowest
    assert "not tracked" in dom  # dash.free has no quota: its reads are not recorded
    # Each room's own panel, drawn from its figures alone, with the data of its rows.
    assert attributes.get("rooms") == "ready", dom[-3000:]
    assert attributes.get("room-panels") == "3"
    assert attributes.get("room-charts") == "1"
    for room in ("ephemeris", "prices", "ai"):
        assert f'data-room="{room}"' in dom
    assert "Coverage ahead of now" in dom
    assert "Assets by type and provider" in dom
    assert "tokens saved by cache hits" in dom
    assert "key:dash" in dom  # the top callers' table
    assert _console(browser) == [], _console(browser)
    assert shot.stat().st_size > 20_000
    assert again.status_code == 401

    assert week.returncode == 0, week.stderr[-3000:]
    weekly = _body(week.stdout)
    assert weekly.get("state") == "ready", week.stdout[:3000]
    assert weekly.get("hours") == "168"
    assert int(weekly.get("points", "0")) >= 168
    assert (
        'class="on" data-hours="168"' in week.stdout or 'data-hours="168" class="on"' in week.stdout
    )
    assert _console(week) == [], _console(week)


def test_the_login_sets_a_strict_http_only_cookie_and_the_page_needs_one(
    database_url: str, settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(service_key=KEY)) as server:
        assert httpx.get(f"{server.url}/dashboard").status_code == 401
        assert httpx.get(f"{server.url}/dashboard/data").status_code == 401
        assert httpx.get(f"{server.url}/dashboard/details").status_code == 401
        forged = httpx.get(f"{server.url}/dashboard", cookies={"cachefront_dashboard": "x" * 43})
        assert forged.status_code == 401
        bearer = {"Authorization": f"Bearer {KEY}"}
        page = httpx.get(f"{server.url}/dashboard", headers=bearer)
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "script-src 'self'" in page.headers["content-security-policy"]

        answer = httpx.get(_link(database_url, server.url), follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "path=/dashboard" in cookie
        session = answer.cookies["cachefront_dashboard"]
        data = httpx.get(
            f"{server.url}/dashboard/data", cookies={"cachefront_dashboard": session}, timeout=10
        )
        assert data.status_code == 200, data.text
        assert {"stats", "hours", "health", "storage", "jobs", "errors", "tasks", "rooms"} <= set(
            data.json()
        )
        details = httpx.get(
            f"{server.url}/dashboard/details",
            params={"hours": "168"},
            cookies={"cachefront_dashboard": session},
            timeout=30,
        )
        assert details.status_code == 200, details.text
        assert {"slowest", "unread"} <= set(details.json())
        refused = httpx.get(
            f"{server.url}/dashboard/details",
            params={"hours": "0"},
            cookies={"cachefront_dashboard": session},
        )
        assert refused.status_code == 422
        assert "hours" in refused.text
        assert list(data.json()["rooms"]) == ["ephemeris", "prices", "ai"]
        assert httpx.get(f"{server.url}/dashboard/rooms").status_code == 401
        rooms = httpx.get(f"{server.url}/dashboard/rooms", headers=bearer, timeout=10)
        assert rooms.status_code == 200
        assert list(rooms.json()) == ["ephemeris", "prices", "ai"]
        assert httpx.get(f"{server.url}/dashboard/static/rooms.js").status_code == 200
        assert httpx.get(f"{server.url}/dashboard/login?token=nope").status_code == 401
        assert httpx.get(f"{server.url}/dashboard/static/../app.py").status_code == 404
        vendored = httpx.get(f"{server.url}/dashboard/static/uPlot.iife.min.js")
        assert vendored.status_code == 200
        assert vendored.headers["content-type"].startswith("text/javascript")
        # No room ships a panel script here: an empty one is served, not a failed load.
        rooms = httpx.get(f"{server.url}/dashboard/static/rooms.js")
        assert rooms.status_code == 200
        assert rooms.headers["content-type"].startswith("text/javascript")
