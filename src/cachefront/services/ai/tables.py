"""The AI room's tables: the per-caller quota counters, the usage ledger, generation steps.

``ai_quotas`` holds one row per caller: the tokens held or used today (UTC) and the
requests of the current minute; a reservation is one conditional ``UPDATE`` of that
row, so concurrent servers serialize on its row lock and never admit past the limit.
``ai_usage`` is the ledger: one row per answered call, provider calls and cache hits
(``cached``, their cost counted as saved). ``ai_generation_steps`` keeps each finished
step of a generation job under (job, step, input hash), so a retried job resumes.
All three are per caller, with row-level security that fails closed (migration 0007).
"""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from cachefront.db.base import metadata

__all__ = ["ai_generation_steps", "ai_quotas", "ai_usage"]

ai_quotas = Table(
    "ai_quotas",
    metadata,
    Column("owner", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("day_tokens", BigInteger, nullable=False),
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("minute_requests", Integer, nullable=False),
    PrimaryKeyConstraint("owner", name="pk_ai_quotas"),
)

ai_usage = Table(
    "ai_usage",
    metadata,
    Column("id", BigInteger, Identity(), nullable=False),
    Column("owner", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("latency_ms", REAL, nullable=False),
    Column("cost_usd", Double, nullable=False),
    Column("saved_usd", Double, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("ok", Boolean, nullable=False),
    PrimaryKeyConstraint("id", name="pk_ai_usage"),
    Index("ix_ai_usage_owner_at", "owner", "at"),
    Index("ix_ai_usage_at", "at"),
)

ai_generation_steps = Table(
    "ai_generation_steps",
    metadata,
    Column("job_id", Uuid, nullable=False),
    Column("step", Integer, nullable=False),
    Column("input_hash", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("job_id", "step", "input_hash", name="pk_ai_generation_steps"),
)
