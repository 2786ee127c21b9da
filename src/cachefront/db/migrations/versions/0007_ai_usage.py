"""The AI room's quota counters, usage ledger and generation steps, per caller behind RLS.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written out in full rather than read from the room's models, so it means the same
whether or not the room is in the list. Every table holds rows of one caller
(``owner``, the ``owner_of`` name): the policy admits a row only for a non-empty
``cachefront.user_id`` equal to its owner, or ``cachefront.role = 'service'``, as 0004
does for jobs; a transaction that set neither sees and writes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
POLICY = "owner_only"
TABLES = ("ai_quotas", "ai_usage", "ai_generation_steps")
TS = sa.DateTime(timezone=True)


def _fail_closed(table: str) -> str:
    admit = (
        "owner = NULLIF(current_setting('cachefront.user_id', true), '') "
        "OR current_setting('cachefront.role', true) = 'service'"
    )
    return f"CREATE POLICY {POLICY} ON {table} USING ({admit}) WITH CHECK ({admit})"


def upgrade() -> None:
    op.create_table(
        "ai_quotas",
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("day_tokens", sa.BigInteger(), nullable=False),
        sa.Column("minute", TS, nullable=False),
        sa.Column("minute_requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_ai_quotas"),
    )
    op.create_table(
        "ai_usage",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.REAL(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("saved_usd", sa.Double(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ai_usage"),
    )
    # A caller's usage over a period; the admins' totals over a period.
    op.create_index("ix_ai_usage_owner_at", "ai_usage", ["owner", "at"])
    op.create_index("ix_ai_usage_at", "ai_usage", ["at"])
    op.create_table(
        "ai_generation_steps",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("job_id", "step", "input_hash", name="pk_ai_generation_steps"),
    )
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # The table's owner (the login role) is held to the policy too.
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(_fail_closed(table))
    # The ledger's identity sequence (0003's default privileges granted it already).
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE ai_usage_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.drop_table("ai_generation_steps")
    op.drop_index("ix_ai_usage_at", table_name="ai_usage")
    op.drop_index("ix_ai_usage_owner_at", table_name="ai_usage")
    op.drop_table("ai_usage")
    op.drop_table("ai_quotas")
