"""When each PostgreSQL cache entry was last read, and what per-namespace quotas did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

``cache_entries.last_read_at`` is written in batches by each process's read log
(``cachefront.cache.reads``), at most once per entry per resolution window; NULL means
not read since it was stored. ``ix_cache_entries_recency`` orders a namespace's entries
by ``coalesce(last_read_at, stored_at)``, the order quota eviction deletes them in, so
an eviction batch is an index range scan instead of a sort of the whole namespace.
The index is built in the migration's transaction, so on a large ``cache_entries``
writes to it wait for the build (reads do not); a deployment with millions of rows
may prefer to build it beforehand with CREATE INDEX CONCURRENTLY under the same name.
``cache_quota_state`` keeps, per namespace with a quota, its bytes as the last
eviction run left them and the running totals of what eviction removed, read by the
health check, ``/metrics`` and the storage figures whatever process did the evicting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A nullable column without a default: no table rewrite, whatever the table's size.
    op.add_column("cache_entries", sa.Column("last_read_at", TS, nullable=True))
    op.create_index(
        "ix_cache_entries_recency",
        "cache_entries",
        ["namespace", sa.text("coalesce(last_read_at, stored_at)")],
    )
    op.create_table(
        "cache_quota_state",
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", TS, nullable=False),
        sa.Column("evicted_entries", sa.BigInteger(), nullable=False),
        sa.Column("evicted_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", name="pk_cache_quota_state"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON cache_quota_state TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("cache_quota_state")
    op.drop_index("ix_cache_entries_recency", table_name="cache_entries")
    op.drop_column("cache_entries", "last_read_at")
