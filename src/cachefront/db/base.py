"""The one SQLAlchemy MetaData every room's tables belong to, with stable constraint names."""

from __future__ import annotations

from sqlalchemy import MetaData

__all__ = ["metadata"]

# Explicit naming so Alembic migrations and the models agree on every constraint name.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
