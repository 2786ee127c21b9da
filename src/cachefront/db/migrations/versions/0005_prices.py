"""The prices room's tables: assets, daily candles partitioned by year, weekly and monthly rollups.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Written out in full rather than read from the room's models, so it means the same
whether or not the room is in the list. The daily table's partitions live in the
``price_partitions`` schema: the models' schema comparison looks at ``public`` only,
and partitions are created at run time for any year written. This revision creates
the current year's. The schema belongs to the login role running the migrations, and
so do the partitions it creates later; ``cachefront_app`` gets no privilege on it, as
it reads and writes the partitions through their parent (privileges are checked on
the table named in the query only), and so can never create or drop one.

No row-level security: these tables hold shared reference data (what an asset is,
what it traded at), the same for every caller; the app role may read and write rows
(the refresh and the backfill write as the service) but holds no DDL right.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "cachefront_app"
SCHEMA = "price_partitions"
TS = sa.DateTime(timezone=True)


def _candle_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("volume", sa.Double(), nullable=False),
        sa.Column("open", sa.REAL(), nullable=False),
        sa.Column("high", sa.REAL(), nullable=False),
        sa.Column("low", sa.REAL(), nullable=False),
        sa.Column("close", sa.REAL(), nullable=False),
    ]


def _asset_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["asset_id"],
        ["price_assets.id"],
        name=f"fk_{table}_asset_id_price_assets",
        ondelete="CASCADE",
    )


def _rollup(table: str, period: str) -> None:
    op.create_table(
        table,
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column(period, sa.Date(), nullable=False),
        *_candle_columns(),
        sa.Column("first_day", sa.SmallInteger(), nullable=False),
        sa.Column("last_day", sa.SmallInteger(), nullable=False),
        sa.Column("adj_close", sa.REAL(), nullable=True),
        sa.PrimaryKeyConstraint("asset_id", period, name=f"pk_{table}"),
        _asset_fk(table),
    )


def upgrade() -> None:
    op.create_table(
        "price_assets",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("exchange", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("unavailable_since", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_price_assets"),
        sa.UniqueConstraint("symbol", name="uq_price_assets_symbol"),
        sa.CheckConstraint("type IN ('crypto', 'stock', 'etf', 'fx')", name="ck_price_assets_type"),
    )
    op.create_index(
        "ix_price_assets_provider_provider_id", "price_assets", ["provider", "provider_id"]
    )
    op.create_table(
        "price_daily",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_candle_columns(),
        sa.Column("adj_close", sa.REAL(), nullable=True),
        sa.PrimaryKeyConstraint("asset_id", "day", name="pk_price_daily"),
        _asset_fk("price_daily"),
        postgresql_partition_by="RANGE (day)",
    )
    _rollup("price_weekly", "week")
    _rollup("price_monthly", "month")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    year = datetime.now(UTC).year
    op.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.price_daily_{year} PARTITION OF price_daily "
        f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
    )
    # The default privileges of 0003 granted these already; said again so the
    # revision reads whole, and no more than row access.
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON price_assets, price_daily, price_weekly, "
        f"price_monthly TO {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC")


def downgrade() -> None:
    op.drop_table("price_monthly")
    op.drop_table("price_weekly")
    # Dropping the parent drops every partition, wherever it lives.
    op.drop_table("price_daily")
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    op.drop_index("ix_price_assets_provider_provider_id", table_name="price_assets")
    op.drop_table("price_assets")
