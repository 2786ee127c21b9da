"""The PostgreSQL tier's tables: one row per cached (namespace, key), and the quotas' state."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, LargeBinary, Table, Text, text

from cachefront.db.base import metadata

__all__ = ["cache_entries", "cache_quota_state"]

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
    # Written in batches by the read log (cache/reads.py), coarsely; NULL: not read
    # since stored. Quota eviction goes by coalesce(last_read_at, stored_at).
    Column("last_read_at", DateTime(timezone=True), nullable=True),
    Index("ix_cache_entries_expires_at", "expires_at"),
    Index(
        "ix_cache_entries_recency",
        "namespace",
        text("coalesce(last_read_at, stored_at)"),
    ),
)

# Per namespace with a quota (cache/quotas.py): its bytes as the last eviction run
# left them, and the running totals of what eviction removed.
cache_quota_state = Table(
    "cache_quota_state",
    metadata,
    Column("namespace", Text, primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("evicted_entries", BigInteger, nullable=False),
    Column("evicted_bytes", BigInteger, nullable=False),
)
