"""The Alembic migrations build exactly the schema the table definitions describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

import cachefront.db.tables  # noqa: F401
from cachefront.db.base import metadata
from cachefront.db.engine import sync_url
from cachefront.db.migrate import current_revision, head_revision, include_name, upgrade


def test_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_migrations_match_the_table_definitions(database_url: str) -> None:
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == [], f"schema drift between migrations and tables: {diff}"
