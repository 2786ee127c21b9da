"""The PostgreSQL tier's table: one row per cached (namespace, key)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, LargeBinary, Table, Text

from cachefront.db.base import metadata

__all__ = ["cache_entries"]

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("namespace", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("etag", Text, nullable=False),
    Column("negative", Boolean, nullable=False, default=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("fresh_until", DateTime(timezone=True), nullable=False),
    # After expires_at the row may be served for nothing; cleanup deletes by it.
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_cache_entries_expires_at", "expires_at"),
)
