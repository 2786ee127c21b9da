"""Tables of recorded requests and upstream calls and their rollups, all partitioned by day.

The recorder's flush writes the raw rows and adds them to the rollups in one
statement (``metrics/sql/queries.sql``); the stats read only the rollups. Every table
is partitioned by day on its time column, so retention drops whole days
(``metrics/partitions.py``); the partitions live in the ``metrics_partitions`` schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
)

from cachefront.db.base import metadata

__all__ = [
    "PARTITIONED",
    "latency_buckets",
    "latency_minutes",
    "request_hours",
    "request_metrics",
    "request_rollups",
    "upstream_calls",
    "upstream_rollups",
]

TS = DateTime(timezone=True)

request_metrics = Table(
    "request_metrics",
    metadata,
    Column("ts", TS, nullable=False),
    Column("method", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    # memory | redis | db | upstream | stale, or NULL when the route is not cached.
    Column("cache_tier", Text, nullable=True),
    Column("upstream_calls", Integer, nullable=False, default=0),
    Index("ix_request_metrics_ts", "ts", postgresql_using="brin"),
    postgresql_partition_by="RANGE (ts)",
)

upstream_calls = Table(
    "upstream_calls",
    metadata,
    Column("ts", TS, nullable=False),
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
    postgresql_partition_by="RANGE (ts)",
)


def _request_rollup(name: str, period: str) -> Table:
    """Requests counted per ``period`` (the time column: a minute or an hour) and key."""
    return Table(
        name,
        metadata,
        Column(period, TS, nullable=False),
        Column("route", Text, nullable=False),
        Column("method", Text, nullable=False),
        # The answering tier, '' when the route is not cached (a key column cannot be NULL).
        Column("tier", Text, nullable=False),
        # status // 100: 2, 3, 4 or 5.
        Column("status_class", SmallInteger, nullable=False),
        Column("requests", BigInteger, nullable=False),
        Column("upstream_calls", BigInteger, nullable=False),
        Column("latency_ms_sum", Float, nullable=False),
        PrimaryKeyConstraint(period, "route", "method", "tier", "status_class", name=f"pk_{name}"),
        postgresql_partition_by=f"RANGE ({period})",
    )


request_rollups = _request_rollup("request_rollups", "minute")
"""Requests per minute, route, method, tier and status class, added to by every flush."""
request_hours = _request_rollup("request_hours", "hour")
"""``request_rollups`` per hour: the whole hours of a window are read from here."""

upstream_rollups = Table(
    "upstream_rollups",
    metadata,
    Column("minute", TS, nullable=False),
    Column("provider", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("calls", BigInteger, nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("latency_ms_sum", Float, nullable=False),
    PrimaryKeyConstraint("minute", "provider", "outcome", name="pk_upstream_rollups"),
    postgresql_partition_by="RANGE (minute)",
)


def _histogram(name: str, period: str) -> Table:
    """Latencies counted per ``period`` (a minute or an hour), kind, name, tier and bucket."""
    return Table(
        name,
        metadata,
        Column(period, TS, nullable=False),
        # 'request' (name: the route) or 'upstream' (name: the provider).
        Column("kind", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("tier", Text, nullable=False),
        # The log-scale bucket of ``metrics/buckets.py``.
        Column("bucket", SmallInteger, nullable=False),
        Column("n", BigInteger, nullable=False),
        PrimaryKeyConstraint(period, "kind", "name", "tier", "bucket", name=f"pk_{name}"),
        postgresql_partition_by=f"RANGE ({period})",
    )


latency_buckets = _histogram("latency_buckets", "hour")
"""The hourly latency histograms: the whole hours of a window are read from here."""
latency_minutes = _histogram("latency_minutes", "minute")
"""``latency_buckets`` per minute: the minutes at a window's edges, and short windows."""

PARTITIONED: dict[str, str] = {
    table.name: column
    for table, column in (
        (request_metrics, "ts"),
        (upstream_calls, "ts"),
        (request_rollups, "minute"),
        (request_hours, "hour"),
        (upstream_rollups, "minute"),
        (latency_buckets, "hour"),
        (latency_minutes, "minute"),
    )
}
"""Each metrics table and the time column it is partitioned on by day."""
