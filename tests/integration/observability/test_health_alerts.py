"""Health checks measured on real metrics, and the webhook sent once per change across processes.

Two monitors on two engines stand for two server processes; a local HTTP server is
the webhook's receiver. The database is this module's own, as the checks read every
metric of their window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.observability.checks import Level
from cachefront.observability.health import measure_health
from cachefront.observability.monitor import HealthMonitor
from webhook_receiver import Receiver

pytestmark = pytest.mark.usefixtures("own_database_url")


@pytest.fixture(scope="module")
async def engines(own_database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first = create_engine(own_database_url, pool_size=2)
    second = create_engine(own_database_url, pool_size=2)
    async with first.begin() as conn:
        # A job worker beating, as a running deployment has.
        await conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
    yield first, second
    await first.dispose()
    await second.dispose()


def _settings(url: str, **values: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        health_min_requests=10,
        health_webhook_attempts=3,
        **values,
    )


async def _record(
    engine: AsyncEngine, tier: str, n: int, *, status: int = 200, ms: float = 1.0
) -> None:
    recorder = MetricsRecorder(engine)
    for _ in range(n):
        recorder.request((time.time(), "GET", "/v1/health-test/{x}", status, ms, tier, 0))
    await recorder.flush()


async def _truncate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE request_metrics, request_rollups, latency_buckets, latency_minutes, "
                "health_states, health_alerts"
            )
        )


async def test_each_rate_check_turns_warn_then_critical(
    engines: tuple[AsyncEngine, AsyncEngine], own_database_url: str
) -> None:
    engine, _ = engines
    await _truncate(engine)
    settings = _settings(own_database_url)
    await _record(engine, "memory", 8)
    # Fewer than 10 requests: not judged.
    report = await measure_health(engine, settings)
    checks = {c.name: c for c in report.checks}
    assert checks["hit_rate"].status is Level.OK
    assert checks["hit_rate"].value is None

    await _record(engine, "memory", 2)  # 10 hits of 10
    checks = {c.name: c for c in (await measure_health(engine, settings)).checks}
    assert (checks["hit_rate"].status, checks["hit_rate"].value) == (Level.OK, 1.0)
    assert checks["workers"].status is Level.OK
    assert report.status is Level.OK

    await _record(engine, "upstream", 3)  # 10 of 13: 0.769 < 0.8
    checks = {c.name: c for c in (await measure_health(engine, settings)).checks}
    assert checks["hit_rate"].status is Level.WARN

    await _record(engine, "upstream", 8)  # 10 of 21: 0.476 < 0.5
    checks = {c.name: c for c in (await measure_health(engine, settings)).checks}
    assert checks["hit_rate"].status is Level.CRITICAL

    # 2 of 23 answered 5xx: 0.087 > 0.05; then 8 of 29: 0.276 > 0.2.
    await _record(engine, "upstream", 2, status=502)
    checks = {c.name: c for c in (await measure_health(engine, settings)).checks}
    assert checks["error_rate"].status is Level.WARN
    await _record(engine, "upstream", 6, status=502)
    report = await measure_health(engine, settings)
    checks = {c.name: c for c in report.checks}
    assert checks["error_rate"].status is Level.CRITICAL
    assert report.status is Level.CRITICAL


async def test_slow_hits_and_a_full_database_are_seen(
    engines: tuple[AsyncEngine, AsyncEngine], own_database_url: str
) -> None:
    engine, _ = engines
    await _truncate(engine)
    await _record(engine, "redis", 20, ms=800.0)
    report = await measure_health(
        engine, _settings(own_database_url, health_storage_quota_bytes=1000)
    )
    checks = {c.name: c for c in report.checks}
    assert checks["cached_p95_ms"].status is Level.WARN
    assert checks["storage"].status is Level.CRITICAL
    await _record(engine, "redis", 200, ms=3000.0)
    checks = {c.name: c for c in (await measure_health(engine, _settings(own_database_url))).checks}
    assert checks["cached_p95_ms"].status is Level.CRITICAL
    assert checks["storage"].status is Level.OK  # no quota set


async def test_a_change_is_posted_once_by_two_processes(
    engines: tuple[AsyncEngine, AsyncEngine], own_database_url: str, receiver: Receiver
) -> None:
    first_engine, second_engine = engines
    await _truncate(first_engine)
    settings = _settings(own_database_url, health_webhook_url=receiver.url)
    first = HealthMonitor(first_engine, settings, {})
    second = HealthMonitor(second_engine, settings, {})
    try:
        await _record(first_engine, "memory", 20)
        await asyncio.gather(first.check_once(), second.check_once())
        # Everything ok, and seen for the first time: not news.
        assert receiver.bodies == []

        await _record(first_engine, "upstream", 6)  # 20 of 26: warn
        await asyncio.gather(first.check_once(), second.check_once())
        await asyncio.gather(first.check_once(), second.check_once())
        assert len(receiver.bodies) == 1
        (body,) = receiver.bodies
        assert body["status"] == "warn"
        assert [(c["name"], c["from"], c["to"]) for c in body["changes"]] == [
            ("hit_rate", "ok", "warn")
        ]
        # Slack reads text, Discord content.
        assert "hit_rate: ok -> warn" in body["text"]
        assert body["content"] == body["text"]

        # The receiver fails twice: the third attempt delivers, still once.
        receiver.fail = 2
        await _record(first_engine, "upstream", 30)  # 20 of 56: critical
        await asyncio.gather(first.check_once(), second.check_once())
        assert len(receiver.bodies) == 2
        assert receiver.attempts == 4
        assert receiver.bodies[1]["changes"][0]["to"] == "critical"
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_alert_the_receiver_refuses_is_kept_and_sent_later(
    engines: tuple[AsyncEngine, AsyncEngine], own_database_url: str, receiver: Receiver
) -> None:
    engine, _ = engines
    await _truncate(engine)
    monitor = HealthMonitor(
        engine, _settings(own_database_url, health_webhook_url=receiver.url), {}
    )
    try:
        await _record(engine, "memory", 20)
        await monitor.check_once()
        receiver.fail = 3  # every attempt of the round
        await _record(engine, "upstream", 20)
        await monitor.check_once()
        assert receiver.bodies == []
        await monitor.check_once()  # no new change; the kept alert goes out
        assert len(receiver.bodies) == 1
        assert receiver.bodies[0]["changes"][0]["to"] == "warn"  # 20 of 40
    finally:
        await monitor.aclose()
