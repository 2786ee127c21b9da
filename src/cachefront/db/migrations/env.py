"""Alembic environment: migrate one database, serialised by an advisory lock."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cachefront.db.base import metadata
from cachefront.db.migrate import include_name
from cachefront.db.tables import ROOM_TABLES

# A room's table on a metadata of its own would be invisible to migrations and to the
# schema-drift test: refuse to run rather than miss it.
_STRAY = [table.name for table in ROOM_TABLES if table.metadata is not metadata]
if _STRAY:
    raise SystemExit(f"tables not on cachefront.db.base.metadata: {', '.join(_STRAY)}")

# Any constant will do; it only has to be the same in every cachefront process, so that
# several servers starting at once migrate one after the other instead of racing.
MIGRATION_LOCK_ID = 7_203_114_001


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "sqlalchemy.url is set by cachefront.db.migrate"
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                compare_type=True,
                include_name=include_name,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("cachefront migrations run online only: use `cachefront migrate`")
run_migrations_online()
