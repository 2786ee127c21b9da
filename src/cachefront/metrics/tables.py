"""Tables of recorded requests and upstream calls, written in batches by the recorder."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
)

from cachefront.db.base import metadata

__all__ = ["request_metrics", "upstream_calls"]

request_metrics = Table(
    "request_metrics",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("method", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    # memory | redis | db | upstream | stale, or NULL when the route is not cached.
    Column("cache_tier", Text, nullable=True),
    Column("upstream_calls", Integer, nullable=False, default=0),
    Index("ix_request_metrics_ts", "ts", postgresql_using="brin"),
)

upstream_calls = Table(
    "upstream_calls",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("provider", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("url", Text, nullable=False),
    # NULL when no response arrived (timeout, connection error, breaker open).
    Column("status", SmallInteger, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("attempts", SmallInteger, nullable=False),
    # ok | http_error | timeout | connect_error | circuit_open | budget_exhausted
    Column("outcome", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_upstream_calls_ts", "ts", postgresql_using="brin"),
)
