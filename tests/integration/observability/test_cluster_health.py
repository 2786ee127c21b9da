"""Health checks over every live process: breakers, workers, jobs, upstream failures.

Two monitors on two engines stand for two server processes, each with its own real
circuit breakers (``CircuitBreaker``, opened and closed by the calls it is told of,
on a clock the test moves). Jobs are real rows of procrastinate's tables, upstream
calls go through the metrics recorder, and the webhook's receiver is a local HTTP
server. The database is this module's own, as the checks read all of it.
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
from cachefront.metrics.records import Outcome, UpstreamCallRecord
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


async def _jobs(engine: AsyncEngine, n: int, *, status: str = "todo") -> None:
    async with engine.begin() as conn:
        for _ in range(n):
            job = await conn.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                    "VALUES ('default', 'health-test', '{}') RETURNING id"
                )
            )
            if status != "todo":
                # Taken by a worker that has not beaten since: how a stalled job looks.
                await conn.execute(
                    text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"),
                    {"id": job.scalar_one()},
                )


async def test_job_backlog_turns_warn_then_critical_past_its_thresholds(
    engine: AsyncEngine, own_database_url: str
) -> None:
    settings = _settings(own_database_url, health_job_backlog_warn=2, health_job_backlog_critical=4)
    await _jobs(engine, 2)
    check = await _check(engine, settings, "job_backlog")
    assert (check.status, check.value) == (Level.OK, 2.0)  # at the limit: not past it
    await _jobs(engine, 1)
    assert (await _check(engine, settings, "job_backlog")).status is Level.WARN
    await _jobs(engine, 2)
    check = await _check(engine, settings, "job_backlog")
    assert (check.status, check.value) == (Level.CRITICAL, 5.0)
    # Jobs scheduled for later are not a backlog.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE procrastinate_jobs SET scheduled_at = now() + interval '1 hour'")
        )
    assert (await _check(engine, settings, "job_backlog")).value == 0.0


async def test_stalled_jobs_turn_warn_then_critical_past_their_thresholds(
    engine: AsyncEngine, own_database_url: str
) -> None:
    settings = _settings(
        own_database_url, health_stalled_jobs_warn=0, health_stalled_jobs_critical=2
    )
    assert (await _check(engine, settings, "stalled_jobs")).status is Level.OK
    await _jobs(engine, 1, status="doing")
    check = await _check(engine, settings, "stalled_jobs")
    assert (check.status, check.value) == (Level.WARN, 1.0)
    await _jobs(engine, 2, status="doing")
    check = await _check(engine, settings, "stalled_jobs")
    assert (check.status, check.value) == (Level.CRITICAL, 3.0)
    # The same jobs held by a worker that beats are running, not stalled.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE procrastinate_jobs SET worker_id = (SELECT id FROM procrastinate_workers)")
        )
    assert (await _check(engine, settings, "stalled_jobs")).value == 0.0


async def _calls(engine: AsyncEngine, n: int, outcome: Outcome) -> None:
    recorder = MetricsRecorder(engine)
    for _ in range(n):
        recorder.record_upstream(
            UpstreamCallRecord(
                ts=time.time(),
                provider="health-test",
                method="GET",
                url="http://upstream.test/x",
                status=200 if outcome == "ok" else None,
                latency_ms=5.0,
                attempts=1,
                outcome=outcome,
                priority="user",
            )
        )
    await recorder.flush()


async def test_upstream_failure_rate_turns_warn_then_critical_past_its_thresholds(
    engine: AsyncEngine, own_database_url: str
) -> None:
    settings = _settings(own_database_url)  # 0.10 / 0.50, the defaults
    check = await _check(engine, settings, "upstream_failure_rate")
    assert (check.status, check.value) == (Level.OK, None)  # no call: not judged
    await _calls(engine, 9, "ok")
    await _calls(engine, 1, "timeout")  # 1 of 10: at the limit, not past it
    check = await _check(engine, settings, "upstream_failure_rate")
    assert (check.status, check.value) == (Level.OK, 0.1)
    await _calls(engine, 1, "connect_error")  # 2 of 11
    assert (await _check(engine, settings, "upstream_failure_rate")).status is Level.WARN
    await _calls(engine, 12, "http_error")  # 14 of 23
    check = await _check(engine, settings, "upstream_failure_rate")
    assert check.status is Level.CRITICAL
    assert check.value == pytest.approx(14 / 23, abs=1e-6)


async def test_a_view_not_published_yet_counts_as_one_more_process(
    engine: AsyncEngine, own_database_url: str
) -> None:
    settings = _settings(own_database_url)
    clock = [1000.0]
    upstreams = {"alpha": Upstream("alpha", clock), "beta": Upstream("beta", clock)}
    upstreams["beta"].fail()
    report = await measure_health(engine, settings, upstreams, worker_running=False)
    checks = {c.name: c for c in report.checks}
    assert checks["breakers_open"].status is Level.WARN
    assert checks["breakers_open"].detail == "open: beta (in 1 of 1 process(es))"
    assert checks["workers"].status is Level.WARN
    assert "this process" in checks["workers"].detail
    # Nothing was published: measured without the view, there is no breaker at all.
    assert (await _check(engine, settings, "breakers_open")).value == 0.0
