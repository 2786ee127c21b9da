"""Fixtures for tests through real HTTP: a Horizons simulator and cachefront servers.

Used by integration/http and faults, whose conftests import them.

Servers run under uvicorn, either in a thread of the test process (``serve_app``) or as
separate ``cachefront serve`` processes (``spawn_server``), always on 127.0.0.1 with a
free port, against the session's PostgreSQL database and (when asked) Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cachefront.config import Settings
from cachefront.simulators.horizons import RunningSimulator
from harness_servers import ServerThread, Simulator, server_settings


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[Simulator]:
    with RunningSimulator() as running:
        yield Simulator(running)


@pytest.fixture
def simulator(simulator_session: Simulator) -> Simulator:
    """The simulator, healthy, fast and with zeroed counters."""
    simulator_session.configure(latency_ms=0, error_rate=0.0, rate_limit_per_minute=None)
    simulator_session.reset()
    return simulator_session


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def empty_cache(database_url: str) -> None:
    """Start the test with an empty PostgreSQL tier (Redis keys are per-test by prefix)."""
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE cache_entries")


@pytest.fixture
def settings_for(
    database_url: str, simulator: Simulator, empty_cache: None
) -> Callable[..., Settings]:
    """Settings for a test server: the session database, the simulator, fresh Redis keys."""
    prefix = f"cft{uuid.uuid4().hex[:10]}"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "horizons_url": simulator.url,
            "redis_prefix": prefix,
            "upstream_timeout_seconds": 5.0,
            # These tests are about caching; inbound limits have tests of their own.
            "rate_limits": {"general": "100000/minute", "upstream": "100000/minute"},
            # These tests count upstream calls: no background precompute may add any.
            "worker_in_process": False,
        }
        values.update(overrides)
        return server_settings(values)

    return make


@pytest.fixture
def serve_app() -> Callable[[Settings], ServerThread]:
    """Start ``create_app(settings)`` on a free port; use as a context manager."""
    return ServerThread
