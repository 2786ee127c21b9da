"""Health states, the alerts their changes send, what each process publishes, login tokens."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Integer,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from cachefront.db.base import metadata

__all__ = ["dashboard_tokens", "health_alerts", "health_states", "process_states"]

TS = DateTime(timezone=True)

health_states = Table(
    "health_states",
    metadata,
    Column("name", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("changed_at", TS, nullable=False),
)

health_alerts = Table(
    "health_alerts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("status", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", TS, nullable=True),
    Column("sent_at", TS, nullable=True),
    Column("gave_up_at", TS, nullable=True),
    Column("last_error", Text, nullable=True),
)

# One row per live process: its breakers (provider -> open) and job worker (NULL: none),
# rewritten every health round; the checks ignore a row past ``expires_at``.
process_states = Table(
    "process_states",
    metadata,
    Column("process_id", Text, primary_key=True),
    Column("breakers", JSONB, nullable=False),
    Column("worker_running", Boolean, nullable=True),
    Column("published_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)

dashboard_tokens = Table(
    "dashboard_tokens",
    metadata,
    # SHA-256 of the token: the table never holds one that could be used.
    Column("token_hash", Text, primary_key=True),
    # 'login' (the one-time link) or 'session' (the cookie it is exchanged for).
    Column("kind", Text, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
)
