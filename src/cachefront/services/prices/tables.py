"""The prices room's tables: assets, daily candles partitioned by year, weekly and monthly rollups.

Sized for 1,000 assets and ten years (docs/architecture.md, "Prices storage"): an ``int4``
asset id and a ``date`` make an 8-byte key; prices are ``real`` (float4: seven
significant digits whatever the magnitude, so 0.00000123 and 97123.45 both keep every
digit a provider quotes), volumes ``double precision`` because sums of them must not
drift; columns are ordered so no alignment padding falls between them. The daily table
is partitioned by year so retention drops a whole year instead of deleting its rows;
its partitions live in the ``price_partitions`` schema, created at run time
(``HistoryStore.ensure_partitions``), out of the models' sight. A rollup row keeps the
offsets of the first and last day it covers, so a period whose daily rows retention has
dropped can still take days it has not seen without counting any twice.
"""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    func,
)

from cachefront.db.base import metadata

__all__ = [
    "ASSET_TYPES",
    "PARTITION_SCHEMA",
    "price_assets",
    "price_daily",
    "price_monthly",
    "price_weekly",
]

ASSET_TYPES = ("crypto", "stock", "etf", "fx")
PARTITION_SCHEMA = "price_partitions"

price_assets = Table(
    "price_assets",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("symbol", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("exchange", Text, nullable=True),
    Column("active", Boolean, nullable=False, server_default="true"),
    # Set when the provider says it does not know the id (Binance -1121); the refresh
    # skips the asset until a re-import changes where its prices come from.
    Column("unavailable_since", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("type IN ('crypto', 'stock', 'etf', 'fx')", name="type"),
    # Error replies name the provider's id; the refresh groups by provider.
    Index("ix_price_assets_provider_provider_id", "provider", "provider_id"),
)


def _candle_columns() -> list[Column[object]]:
    # Volume first after the key so the 8-byte column needs no padding; the four
    # float4 prices follow, then the optional adjusted close (NULL costs one bit).
    return [
        Column("volume", Double, nullable=False),
        Column("open", REAL, nullable=False),
        Column("high", REAL, nullable=False),
        Column("low", REAL, nullable=False),
        Column("close", REAL, nullable=False),
    ]


price_daily = Table(
    "price_daily",
    metadata,
    Column(
        "asset_id",
        Integer,
        ForeignKey("price_assets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Date, primary_key=True),
    *_candle_columns(),
    Column("adj_close", REAL, nullable=True),
    postgresql_partition_by="RANGE (day)",
)


def _rollup(name: str, period: str) -> Table:
    return Table(
        name,
        metadata,
        Column(
            "asset_id",
            Integer,
            ForeignKey("price_assets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(period, Date, primary_key=True),
        *_candle_columns(),
        # Days from the period's start to the first and the last daily bar it holds.
        Column("first_day", SmallInteger, nullable=False),
        Column("last_day", SmallInteger, nullable=False),
        Column("adj_close", REAL, nullable=True),
    )


price_weekly = _rollup("price_weekly", "week")
"""ISO weeks: ``week`` is the Monday."""
price_monthly = _rollup("price_monthly", "month")
"""Calendar months: ``month`` is the first day."""
