"""The cluster tests' fixtures: those of HTTP and job tests, and a PgBouncer of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cluster_processes import PgBouncer, pgbouncer_binary

from http_fixtures import empty_cache, serve_app, settings_for, simulator, simulator_session
from jobs_fixtures import clean_jobs, job_settings, jobs_simulator, jobs_simulator_session

__all__ = [
    "clean_jobs",
    "empty_cache",
    "job_settings",
    "jobs_simulator",
    "jobs_simulator_session",
    "pgbouncer",
    "serve_app",
    "settings_for",
    "simulator",
    "simulator_session",
]


@pytest.fixture(scope="session")
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction pooling mode in front of the session's server."""
    if pgbouncer_binary() is None:
        pytest.skip("needs pgbouncer (Debian package pgbouncer; .ci/run installs it)")
    # Fewer server connections than the servers' pools: transactions change sessions.
    with PgBouncer(database_url, pool_size=8) as bouncer:
        yield bouncer
