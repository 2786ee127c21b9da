"""The ``jobs`` table: one row per user-facing job, the record users poll."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from cachefront.db.base import metadata

__all__ = ["jobs"]

jobs = Table(
    "jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("type", Text, nullable=False),
    # NULL until authentication exists; then the identity that submitted the job.
    Column("owner", Text, nullable=True),
    Column("params", JSONB, nullable=False),
    # queued | running | succeeded | failed | cancelled (cachefront.jobs.status.JobStatus)
    Column("status", Text, nullable=False),
    Column("progress", Float, nullable=False, server_default=text("0")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # The result lives in the database so any API process on any machine can serve it.
    Column("result", LargeBinary, nullable=True),
    Column("result_content_type", Text, nullable=True),
    Column("result_filename", Text, nullable=True),
    Column("summary", JSONB, nullable=True),
    Column("error", Text, nullable=True),
    Column("idempotency_key", Text, nullable=True),
    Column("queue_job_id", BigInteger, nullable=True),
    # One job per (owner, key); NULL owners count as equal so anonymous retries match too.
    Index(
        "uq_jobs_owner_idempotency_key",
        "owner",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_jobs_owner_created_at", "owner", "created_at"),
)
