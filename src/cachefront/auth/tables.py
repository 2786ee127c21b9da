"""The API keys table: one row per key, holding its hash and never the key."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from cachefront.db.base import metadata

__all__ = ["api_keys"]

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    CheckConstraint("role IN ('anon', 'user', 'service')", name="ck_api_keys_role"),
)
