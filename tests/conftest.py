"""Shared fixtures: a real PostgreSQL database and a real Redis for the whole test session.

PostgreSQL comes from CACHEFRONT_TEST_DATABASE_URL (default: the local server with the
`test` database); when no server answers there, an embedded PostgreSQL is started in a
temporary directory, so a fresh clone on a bare machine still runs every database test.
Each session gets a database of its own, migrated with the real Alembic migrations and
dropped at the end. Redis comes from CACHEFRONT_TEST_REDIS_URL; tests that truly need it
are skipped, saying why, when none answers.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.embedded import start_embedded_postgres
from cachefront.db.engine import create_engine
from cachefront.db.migrate import upgrade

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


def _libpq(url: str) -> str:
    """A URL psycopg accepts directly (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _server_url() -> str:
    url = os.environ.get("CACHEFRONT_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return url
    except psycopg.OperationalError:
        data_dir = Path(tempfile.mkdtemp(prefix="cachefront-test-pg-"))
        return start_embedded_postgres(data_dir)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, fully migrated database for this test session."""
    server = _server_url()
    name = f"cachefront_test_{uuid.uuid4().hex[:12]}"
    admin = _libpq(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def redis_server_url() -> str | None:
    url = os.environ.get("CACHEFRONT_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return None
    finally:
        client.close()
    return url


@pytest.fixture
def redis_url(redis_server_url: str | None) -> str:
    """The test Redis; skips the test (saying why) when no Redis server answers."""
    if redis_server_url is None:
        pytest.skip(
            "needs Redis: none answered at CACHEFRONT_TEST_REDIS_URL "
            f"(default {DEFAULT_TEST_REDIS_URL})"
        )
    return redis_server_url


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to this test session, so runs never see each other's keys."""
    prefix = f"cft{uuid.uuid4().hex[:10]}"
    yield prefix
    url = os.environ.get("CACHEFRONT_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # no Redis, nothing to clean
    finally:
        client.close()
