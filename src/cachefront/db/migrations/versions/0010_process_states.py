"""What each live server process publishes for the health checks: breakers, job worker.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Circuit breakers and the job worker's supervisor live in each process's memory, but
the health checks keep one shared state (``health_states``): a check that read only
the answering process's breakers would flip between processes that disagree, and
alert every round. ``process_states`` holds one row per live process, rewritten by
its health monitor every round (``cachefront.observability.processes``): each
breaker's state as a JSON object (provider -> open), whether its job worker runs
(NULL: it runs none), and when the row lapses. A process that stops deletes its row;
one that dies leaves a row the checks ignore once ``expires_at`` passes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "process_states",
        sa.Column("process_id", sa.Text(), nullable=False),
        sa.Column("breakers", postgresql.JSONB(), nullable=False),
        sa.Column("worker_running", sa.Boolean(), nullable=True),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("process_id", name="pk_process_states"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON process_states TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("process_states")
