"""Health checks over every live process: its circuit breakers and job workers.

Two monitors on two engines stand for two server processes, each with its own real
circuit breakers (``CircuitBreaker``, opened and closed by the calls it is told of,
on a clock the test moves). Workers are real rows of procrastinate's tables, and the
webhook's receiver is a local HTTP server. The database is this module's own, as the
checks read all of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.observability.checks import Check, Level
from cachefront.observability.health import measure_health
from cachefront.observability.monitor import HealthMonitor
from cachefront.upstream.breaker import Admission, BreakerPolicy, CircuitBreaker
from webhook_receiver import Receiver

pytestmark = pytest.mark.usefixtures("own_database_url")

RESET_SECONDS = 30.0


class Upstream:
    """An upstream as the health checks see one: its name's real breaker."""

    def __init__(self, name: str, clock: list[float]) -> None:
        self.breaker = CircuitBreaker(
            name,
            BreakerPolicy(failure_threshold=2, reset_seconds=RESET_SECONDS),
            clock=lambda: clock[0],
        )

    @property
    def breaker_open(self) -> bool:
        return self.breaker.is_open

    def fail(self) -> None:
        for _ in range(self.breaker.policy.failure_threshold):
            self.breaker.release(self.breaker.acquire(), "failure")

    def recover(self, clock: list[float]) -> None:
        clock[0] += RESET_SECONDS
        admission = self.breaker.acquire()
        assert admission is Admission.TRIAL
        self.breaker.release(admission, "success")


@pytest.fixture(scope="module")
async def engines(own_database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first = create_engine(own_database_url, pool_size=2)
    second = create_engine(own_database_url, pool_size=2)
    yield first, second
    await first.dispose()
    await second.dispose()


@pytest.fixture
async def engine(engines: tuple[AsyncEngine, AsyncEngine]) -> AsyncEngine:
    """The first engine, on an empty database with one job worker beating."""
    first, _ = engines
    async with first.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE request_metrics, request_rollups, request_hours, upstream_calls, "
                "upstream_rollups, latency_buckets, health_states, health_alerts, "
                "process_states, procrastinate_jobs, procrastinate_workers CASCADE"
            )
        )
        await conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
    return first


def _settings(url: str, **values: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        health_min_requests=10,
        health_webhook_attempts=2,
        **values,
    )


async def _check(engine: AsyncEngine, settings: Settings, name: str) -> Check:
    report = await measure_health(engine, settings)
    (check,) = (c for c in report.checks if c.name == name)
    return check


async def test_two_processes_that_disagree_alert_once_per_change(
    engines: tuple[AsyncEngine, AsyncEngine],
    engine: AsyncEngine,
    own_database_url: str,
    receiver: Receiver,
) -> None:
    _, second_engine = engines
    settings = _settings(own_database_url, health_webhook_url=receiver.url)
    clock = [1000.0]
    here = {"alpha": Upstream("alpha", clock), "beta": Upstream("beta", clock)}
    there = {"alpha": Upstream("alpha", clock), "beta": Upstream("beta", clock)}
    first = HealthMonitor(engine, settings, here, lambda: True)
    second = HealthMonitor(second_engine, settings, there, lambda: True)
    try:
        await asyncio.gather(first.check_once(), second.check_once())
        assert receiver.bodies == []  # all ok, first seen: not news

        # Only the first process's alpha breaker opens; the second's stay closed.
        here["alpha"].fail()
        for _ in range(4):
            reports = await asyncio.gather(first.check_once(), second.check_once())
            for report in reports:
                (breakers,) = (c for c in report.checks if c.name == "breakers_open")
                assert (breakers.status, breakers.value) == (Level.WARN, 1.0)
                assert "alpha (in 1 of 2 process(es))" in breakers.detail
        assert [(c["name"], c["from"], c["to"]) for c in receiver.bodies[0]["changes"]] == [
            ("breakers_open", "ok", "warn")
        ]
        assert len(receiver.bodies) == 1

        # A process of its own with no upstream (the CLI) sees the same.
        cli_view = await _check(engine, settings, "breakers_open")
        assert (cli_view.status, cli_view.value) == (Level.WARN, 1.0)

        here["alpha"].recover(clock)
        for _ in range(3):
            await asyncio.gather(second.check_once(), first.check_once())
        assert len(receiver.bodies) == 2
        assert receiver.bodies[1]["changes"][0]["to"] == "ok"
    finally:
        await first.aclose()
        await second.aclose()
    # Both stopped: their rows are gone, and nothing is judged from them.
    stopped = await _check(engine, settings, "breakers_open")
    assert (stopped.status, stopped.detail) == (Level.OK, "no live process publishes an upstream")


async def test_breakers_warn_on_one_open_and_are_critical_when_all_are(
    engines: tuple[AsyncEngine, AsyncEngine], engine: AsyncEngine, own_database_url: str
) -> None:
    _, second_engine = engines
    settings = _settings(own_database_url)
    clock = [1000.0]
    here = {"alpha": Upstream("alpha", clock), "beta": Upstream("beta", clock)}
    there = {"alpha": Upstream("alpha", clock), "beta": Upstream("beta", clock)}
    first = HealthMonitor(engine, settings, here)
    second = HealthMonitor(second_engine, settings, there)
    try:
        await asyncio.gather(first.local.publish(engine), second.local.publish(second_engine))
        check = await _check(engine, settings, "breakers_open")
        assert (check.status, check.value, check.critical_at) == (Level.OK, 0.0, 2.0)

        here["alpha"].fail()
        await first.local.publish(engine)
        assert (await _check(engine, settings, "breakers_open")).status is Level.WARN

        # Every provider open somewhere, though in different processes: critical.
        there["beta"].fail()
        await second.local.publish(second_engine)
        check = await _check(engine, settings, "breakers_open")
        assert (check.status, check.value) == (Level.CRITICAL, 2.0)

        # A process that stopped beating is forgotten once its row lapses.
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE process_states SET expires_at = now() - interval '1 second' "
                    "WHERE process_id = :id"
                ),
                {"id": second.local.process_id},
            )
        check = await _check(engine, settings, "breakers_open")
        assert (check.status, check.value) == (Level.WARN, 1.0)
    finally:
        await first.aclose()
        await second.aclose()


async def test_workers_warn_on_one_down_and_are_critical_with_no_heartbeat(
    engines: tuple[AsyncEngine, AsyncEngine], engine: AsyncEngine, own_database_url: str
) -> None:
    _, second_engine = engines
    settings = _settings(own_database_url)
    running = {"first": True, "second": True}
    first = HealthMonitor(engine, settings, {}, lambda: running["first"])
    second = HealthMonitor(second_engine, settings, {}, lambda: running["second"])
    try:
        await asyncio.gather(first.local.publish(engine), second.local.publish(second_engine))
        check = await _check(engine, settings, "workers")
        assert (check.status, check.value) == (Level.OK, 1.0)

        # One process's supervisor is restarting its worker; another still beats.
        running["second"] = False
        await second.local.publish(second_engine)
        check = await _check(engine, settings, "workers")
        assert check.status is Level.WARN
        assert second.local.process_id in check.detail

        # No worker beat within the stall limit: nothing runs jobs.
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE procrastinate_workers "
                    "SET last_heartbeat = now() - make_interval(secs => :old)"
                ),
                {"old": settings.jobs_stall_seconds + 1},
            )
        check = await _check(engine, settings, "workers")
        assert (check.status, check.value) == (Level.CRITICAL, 0.0)
    finally:
        await first.aclose()
        await second.aclose()
