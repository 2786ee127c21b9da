"""The prices room's own figures: its catalogue, how fresh its latest prices are, its history.

Read from its own tables and its namespace of the PostgreSQL tier (which every refresh
writes through): assets per type and provider (active, switched off, unknown to their
provider), the newest refresh and its age, the prices past their fresh window, the
active assets without a live price, the span of daily history and the assets a
backfill has not reached, and the newest backfill job. Each is an index read or a
small aggregate; the daily row count is the planner's, not a pass over years of rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cachefront.rooms import Cell, Figure, FiguresContext, FigureTable, RoomFigures, Unit
from cachefront.services.prices.assets import QUERIES
from cachefront.services.prices.keys import LATEST_NAMESPACE
from cachefront.services.prices.tasks import BACKFILL_JOB

__all__ = ["HISTORY_BEHIND", "prices_figures"]

# History ending more than this before today is behind: the daily refresh keeps it to
# yesterday, and a week covers every market's weekends and holidays.
HISTORY_BEHIND = timedelta(days=7)
_ASSET_COLUMNS: tuple[tuple[str, Unit], ...] = (
    ("type", "text"),
    ("provider", "text"),
    ("assets", "count"),
    ("active", "count"),
    ("inactive", "count"),
    ("unavailable", "count"),
)


def _day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def prices_figures(context: FiguresContext) -> RoomFigures:
    """The catalogue, the latest prices and the history as of ``context.until``."""
    now = context.until
    async with context.engine.connect() as conn:
        assets = (await conn.execute(QUERIES.text("figures_assets"))).mappings().all()
        latest = (
            (
                await conn.execute(
                    QUERIES.text("figures_latest"), {"now": now, "namespace": LATEST_NAMESPACE}
                )
            )
            .mappings()
            .one()
        )
        history = (
            (
                await conn.execute(
                    QUERIES.text("figures_history"),
                    {"behind": (now - HISTORY_BEHIND).date()},
                )
            )
            .mappings()
            .one()
        )
        rows = (await conn.execute(QUERIES.text("figures_history_rows"))).scalar_one()
        backfill = (
            (await conn.execute(QUERIES.text("figures_backfill"), {"type": BACKFILL_JOB}))
            .mappings()
            .one()
        )
    newest: datetime | None = latest["newest"]
    stale, missing = int(latest["stale"]), int(latest["missing"])
    without, behind = int(history["without_history"]), int(history["behind"])
    table: list[list[Cell]] = [
        [
            str(r["type"]),
            str(r["provider"]),
            int(r["assets"]),
            int(r["active"]),
            int(r["inactive"]),
            int(r["unavailable"]),
        ]
        for r in assets
    ]
    return RoomFigures(
        figures=[
            Figure(label="active assets", value=sum(int(r["active"]) for r in assets)),
            Figure(label="unavailable assets", value=sum(int(r["unavailable"]) for r in assets)),
            Figure(label="latest refresh", value=_instant(newest), unit="instant"),
            Figure(
                label="latest refresh age",
                value=None if newest is None else round((now - newest).total_seconds(), 1),
                unit="seconds",
            ),
            Figure(label="latest prices stored", value=int(latest["entries"])),
            Figure(label="stale prices", value=stale, status="warn" if stale else "ok"),
            Figure(
                label="active assets without a price",
                value=missing,
                status="warn" if missing else "ok",
            ),
            Figure(label="daily history rows (estimate)", value=int(rows)),
            Figure(label="oldest history day", value=_day(history["oldest"]), unit="text"),
            Figure(label="newest history day", value=_day(history["newest"]), unit="text"),
            Figure(label="active assets without history", value=without),
            Figure(
                label="history behind by over 7 days",
                value=behind,
                status="warn" if behind else "ok",
            ),
            Figure(label="backfills queued or running", value=int(backfill["pending"])),
            Figure(
                label="last backfill",
                value=None if backfill["status"] is None else str(backfill["status"]),
                unit="text",
            ),
        ],
        tables=[
            FigureTable(
                title="Assets by type and provider",
                columns=[name for name, _ in _ASSET_COLUMNS],
                units=[unit for _, unit in _ASSET_COLUMNS],
                rows=table,
            )
        ],
    )
