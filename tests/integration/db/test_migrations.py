"""The Alembic migrations build exactly the schema the table definitions describe, and undo it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import cachefront.db.tables

# The prices room's tables are migrated by 0005 before the room joins the list.
import cachefront.services.prices.tables  # noqa: F401
from cachefront.db.base import metadata
from cachefront.db.engine import sync_url
from cachefront.db.migrate import (
    current_revision,
    downgrade,
    head_revision,
    include_name,
    revisions,
    upgrade,
)


def test_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()


def test_migrations_match_the_table_definitions(database_url: str) -> None:
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == [], f"schema drift between migrations and tables: {diff}"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _objects(url: str) -> set[str]:
    """Everything a migration may leave behind in the public schema: relations, functions,
    types (the row types tables bring are left out: they go with their tables)."""
    with psycopg.connect(_libpq(url)) as conn:
        rows = conn.execute(
            """
            SELECT 'relation ' || c.relname FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'function ' || p.proname FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'type ' || t.typname FROM pg_type t
            WHERE t.typnamespace = 'public'::regnamespace
              AND t.typrelid = 0 AND t.typelem = 0
            """
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """An empty database of this test's own on the session's server."""
    admin = _libpq(make_url(database_url).set(database="postgres").render_as_string(False))
    name = f"cachefront_roundtrip_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_revision_downgrades_and_upgrades_again(fresh_database: str) -> None:
    url = fresh_database
    empty = _objects(url)
    shipped = revisions()
    assert shipped, "no migrations found"
    assert shipped[-1] == head_revision()

    # One step at a time, so that a broken downgrade is named by its revision.
    for index, revision in enumerate(shipped):
        upgrade(url, revision)
        assert current_revision(url) == revision
        before = shipped[index - 1] if index else "base"
        downgrade(url, before)
        assert current_revision(url) == (shipped[index - 1] if index else None)
        upgrade(url, revision)

    upgrade(url)
    at_head = _objects(url)
    downgrade(url, "base")
    assert current_revision(url) is None
    # Only Alembic's own bookkeeping table may stay behind.
    assert _objects(url) - empty <= {"relation alembic_version", "relation alembic_version_pkc"}
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _objects(url) == at_head
