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
    # Who submitted the job, namespaced by credential kind (cachefront.auth.identity.owner_of).
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
    # The result lives in the database so any API process on any machine can serve it;
    # stored uncompressed out of line (migration 0004) so downloads read it in slices.
    Column("result", LargeBinary, nullable=True),
    # Its size, which the per-user storage quota sums, and when it is removed.
    Column("result_bytes", BigInteger, nullable=True),
    Column("result_expires_at", DateTime(timezone=True), nullable=True),
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
    Index(
        "ix_jobs_result_expires_at",
        "result_expires_at",
        postgresql_where=text("result IS NOT NULL"),
    ),
)
