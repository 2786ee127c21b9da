"""API keys in PostgreSQL: create, verify, list and revoke, each one named SQL statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.identity import Identity, Kind, Role
from cachefront.auth.keys import generate_key, hash_key, key_prefix
from cachefront.db.queries import load_queries
from cachefront.errors import InvalidInputError, NotFoundError, NotReadyError

__all__ = ["ApiKey", "KeyManager", "query"]


QUERIES = load_queries("cachefront.auth")


def query(name: str) -> str:
    """A named statement from ``auth/sql/queries.sql``."""
    return QUERIES[name]


@dataclass(frozen=True)
class ApiKey:
    """What is known about a key; never the key itself."""

    id: int
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyManager:
    """Domain operations on API keys over an engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, name: str, role: Role) -> tuple[str, ApiKey]:
        """A new key and its record; the key is returned this once and never stored."""
        if not name.strip():
            raise InvalidInputError("a key needs a name", field="name")
        key, prefix, key_hash = generate_key()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    QUERIES.text("create_key"),
                    {"name": name, "prefix": prefix, "key_hash": key_hash, "role": role.value},
                )
            ).one()
        return key, _record(row)

    async def verify(self, key: str) -> Identity | None:
        """The identity of a valid, unrevoked key (noting its use), else None."""
        prefix = key_prefix(key)
        if prefix is None:
            return None
        try:
            async with self.engine.begin() as conn:
                row = (
                    await conn.execute(
                        QUERIES.text("verify_key"), {"prefix": prefix, "key_hash": hash_key(key)}
                    )
                ).one_or_none()
        except SQLAlchemyError as exc:
            raise NotReadyError(f"API key store unreachable: {type(exc).__name__}") from exc
        if row is None:
            return None
        return Identity(id=str(row.id), role=Role(row.role), kind=Kind.KEY)

    async def list(self) -> list[ApiKey]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(QUERIES.text("list_keys"))).all()
        return [_record(row) for row in rows]

    async def revoke(self, prefix: str) -> ApiKey:
        """Revoke the key with this prefix; ``NotFoundError`` when no live key has it."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(QUERIES.text("revoke_key"), {"prefix": prefix})).one_or_none()
        if row is None:
            raise NotFoundError(f"no active key with prefix {prefix!r}")
        return _record(row)


def _record(row: Row[Any]) -> ApiKey:
    # The driver returns the role column as text; the record speaks in ``Role``.
    values = row._asdict()
    return ApiKey(**{**values, "role": Role(values["role"])})
