"""Fixtures for job tests: the Horizons simulator and settings against the session database.

Used by integration/jobs and faults, whose conftests import them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cachefront.config import Settings
from cachefront.simulators.horizons import RunningSimulator
from harness_servers import Simulator, server_settings
from jobs_harness import JWT_AUDIENCE, JWT_SECRET, libpq


@pytest.fixture(scope="session")
def jobs_simulator_session() -> Iterator[Simulator]:
    with RunningSimulator() as running:
        yield Simulator(running)


@pytest.fixture
def jobs_simulator(jobs_simulator_session: Simulator) -> Simulator:
    jobs_simulator_session.configure(latency_ms=0, error_rate=0.0, rate_limit_per_minute=None)
    jobs_simulator_session.reset()
    return jobs_simulator_session


@pytest.fixture
def clean_jobs(database_url: str) -> None:
    """An empty queue, job table and PostgreSQL cache tier for this test."""
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE jobs, cache_entries, procrastinate_jobs, procrastinate_periodic_defers, "
            "procrastinate_events, procrastinate_workers CASCADE"
        )


@pytest.fixture
def job_settings(
    database_url: str, jobs_simulator: Simulator, clean_jobs: None
) -> Callable[..., Settings]:
    """Settings for job tests: session database, simulator, short stall timeout, no Redis."""
    prefix = f"cft{uuid.uuid4().hex[:10]}"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "horizons_url": jobs_simulator.url,
            "redis_prefix": prefix,
            "ephemeris_providers": ["horizons"],
            "upstream_timeout_seconds": 10.0,
            "upstream_attempts": 1,
            "jobs_stall_seconds": 2.0,
            "jobs_retry_base_seconds": 1,
            "worker_concurrency": 2,
            # Job routes need a user (jobs_harness.user_headers); limits stay out of the way.
            "jwt_secret": JWT_SECRET,
            "jwt_audience": JWT_AUDIENCE,
            "rate_limits": {"generation": "100000/minute", "jobs": "100000/minute"},
            # Far-away schedules: only the tests that want a periodic task enable one.
            "precompute_schedule": "0 0 1 1 *",
            "cleanup_schedule": "0 0 1 1 *",
            "prune_metrics_schedule": "0 0 1 1 *",
        }
        values.update(overrides)
        return server_settings(values)

    return make
