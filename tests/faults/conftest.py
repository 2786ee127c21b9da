"""Fault tests: a database, Redis or worker made to fail for real, then brought back.

They need the fixtures of the areas they break (the cache's, HTTP servers', jobs'),
kept in modules under tests/ that the areas' conftests import too. Every module here
sets ``pytestmark = pytest.mark.faults`` (``pytest -m faults`` runs them alone); plain
``pytest`` runs them with the rest.
"""

from __future__ import annotations

from cache_fixtures import make_cache, ns, own_redis
from http_fixtures import empty_cache, serve_app, settings_for, simulator, simulator_session
from jobs_fixtures import clean_jobs, job_settings, jobs_simulator, jobs_simulator_session

__all__ = [
    "clean_jobs",
    "empty_cache",
    "job_settings",
    "jobs_simulator",
    "jobs_simulator_session",
    "make_cache",
    "ns",
    "own_redis",
    "serve_app",
    "settings_for",
    "simulator",
    "simulator_session",
]
