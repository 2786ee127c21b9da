"""The ephemeris room's own figures: how far ahead of now its cached positions reach.

Precompute keeps the next ``CACHEFRONT_PRECOMPUTE_HOURS`` of every precomputed body in
the cache; what it reached is read back from the PostgreSQL tier's live entries (the
tier every write goes through), per body: from the grid instant at or before now, how
far the stored instants run without a hole, the first hole if any, and the last
instant stored. Only the next ``LOOKAHEAD`` is read, so a long export cached far ahead
costs nothing here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cachefront.db.queries import load_queries
from cachefront.rooms import Cell, Figure, FiguresContext, FigureTable, RoomFigures, Unit
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.keys import NAMESPACE
from cachefront.services.ephemeris.settings import EphemerisSettings

__all__ = ["LOOKAHEAD", "ephemeris_figures"]

QUERIES = load_queries("cachefront.services.ephemeris")
# As far ahead as precompute may be asked to reach (CACHEFRONT_PRECOMPUTE_HOURS <= 31 d).
LOOKAHEAD = timedelta(days=31)
_COLUMNS: tuple[tuple[str, Unit], ...] = (
    ("body", "text"),
    ("precomputed", "text"),
    ("instants ahead", "count"),
    ("covered until", "instant"),
    ("reach ahead", "seconds"),
    ("last stored", "instant"),
    ("gap from", "instant"),
    ("gap until", "instant"),
)


def _at(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


async def ephemeris_figures(context: FiguresContext) -> RoomFigures:
    """Coverage ahead of ``context.until`` per body; a precomputed body short of the
    horizon is marked ``warn``."""
    own = context.settings.room(EphemerisSettings)
    step = own.ephemeris_grid_minutes * 60
    now = int(context.until.timestamp())
    start = now // step * step  # the grid instant at or before now (grid from 1970)
    horizon = own.precompute_hours * 3600
    precomputed = set(own.precompute_bodies)
    bodies = [body.value for body in Body]
    params = {
        "bodies": bodies,
        "namespace": NAMESPACE,
        "lo": start,
        "hi": start + int(LOOKAHEAD.total_seconds()),
        "step": step,
        "now": context.until,
    }
    async with context.engine.connect() as conn:
        found = {
            str(row["body"]): row
            for row in (await conn.execute(QUERIES.text("coverage_ahead"), params)).mappings()
        }
    rows: list[list[Cell]] = []
    short = 0
    shortest: int | None = None
    for body in bodies:
        row: Any = found.get(body)
        covered, gap_from, gap_until = _reach(row, start, step)
        ahead = None if covered is None else max(0, covered - now)
        if body in precomputed:
            reach = 0 if covered is None else covered - start
            short += reach < horizon
            # A body with nothing covered reaches no time ahead at all.
            shortest = min(ahead or 0, shortest if shortest is not None else ahead or 0)
        rows.append(
            [
                body,
                "yes" if body in precomputed else "no",
                0 if row is None else int(row["points"]),
                _at(covered),
                ahead,
                None if row is None else _at(int(row["last_at"])),
                _at(gap_from),
                _at(gap_until),
            ]
        )
    return RoomFigures(
        figures=[
            Figure(label="precompute horizon", value=horizon, unit="seconds"),
            Figure(
                label="precomputed bodies short of it",
                value=short,
                status="warn" if short else "ok",
            ),
            Figure(label="shortest reach ahead", value=shortest, unit="seconds"),
        ],
        tables=[
            FigureTable(
                title=f"Coverage ahead of now ({NAMESPACE}, PostgreSQL tier)",
                columns=[name for name, _ in _COLUMNS],
                units=[unit for _, unit in _COLUMNS],
                rows=rows,
            )
        ],
    )


def _reach(row: Any, start: int, step: int) -> tuple[int | None, int | None, int | None]:
    """(covered until, gap from, gap until) in Unix seconds from one body's summary.

    Nothing is covered when the instant at or before now is missing; the gap then runs
    from it to the first instant stored (None: nothing stored ahead at all).
    """
    if row is None:
        return None, start, None
    first, last, run_end = int(row["first_at"]), int(row["last_at"]), int(row["run_end"])
    if first > start:
        return None, start, first
    if run_end < last:
        return run_end, run_end + step, int(row["after_gap"])
    return run_end, None, None
