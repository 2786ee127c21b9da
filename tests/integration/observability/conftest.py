"""Fixtures of the observability tests: servers, a database of their own, a webhook receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cachefront.db.migrate import upgrade
from http_fixtures import empty_cache, serve_app, settings_for, simulator, simulator_session
from webhook_receiver import Receiver

__all__ = [
    "Receiver",
    "empty_cache",
    "own_database_url",
    "receiver",
    "serve_app",
    "settings_for",
    "simulator",
    "simulator_session",
]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def own_database_url(database_url: str) -> Iterator[str]:
    """A migrated database for this module alone: health reads every metric of its window."""
    admin = _libpq(make_url(database_url).set(database="postgres").render_as_string(False))
    name = f"cachefront_obs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()
