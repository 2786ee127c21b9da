"""Schema migrations: run Alembic programmatically and tell whether a database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.pool import NullPool

from cachefront.db.engine import sync_url

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "include_name",
    "revisions",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is ConfigParser-backed: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate filter: procrastinate's tables belong to its schema file, not our models."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; safe to call from many processes at once."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: an empty database, as before 0001)."""
    command.downgrade(alembic_config(url), revision)


def revisions() -> list[str]:
    """Every revision shipped, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head_revision() -> str | None:
    """The newest revision shipped with this version of cachefront."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = create_sync_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
