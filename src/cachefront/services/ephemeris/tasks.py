"""Ephemeris jobs: the hourly precomputation and the ``ephemeris-export`` job type."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cachefront.config import Settings
from cachefront.errors import InvalidInputError
from cachefront.jobs.registry import (
    JobRegistry,
    JobResources,
    JobResult,
    JobType,
    PeriodicTask,
    Progress,
)
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.grid import grid_range, snap
from cachefront.services.ephemeris.models import format_instant
from cachefront.services.ephemeris.service import EphemerisService

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_JOB",
    "PRECOMPUTE_TASK",
    "ExportParams",
    "parse_step",
    "precompute_window",
    "register_ephemeris_jobs",
]

PRECOMPUTE_TASK = "precompute-ephemeris"
EXPORT_JOB = "ephemeris-export"
EXPORT_MAX_SPAN = timedelta(days=366)
EXPORT_COLUMNS = (
    "body",
    "at",
    "ra_deg",
    "dec_deg",
    "distance_au",
    "ecliptic_lon_deg",
    "ecliptic_lat_deg",
    "speed_deg_per_day",
    "retrograde",
    "provider",
)
_STEP = re.compile(r"^([1-9][0-9]*)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_step(step: str) -> timedelta:
    """``"15m"``, ``"1h"``, ``"1d"`` as a timedelta; InvalidInputError otherwise."""
    match = _STEP.match(step)
    if match is None:
        raise InvalidInputError(f"step {step!r} is not like 30m, 1h or 1d", field="params.step")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class ExportParams(BaseModel):
    """Params of ``ephemeris-export``: a table of ``bodies`` from ``start`` to ``stop``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bodies: list[Body] = Field(min_length=1, max_length=len(Body))
    start: AwareDatetime
    stop: AwareDatetime
    step: str = Field(default="1h", pattern=_STEP.pattern)
    format: Literal["csv", "json"] = "csv"

    @model_validator(mode="after")
    def _sane_range(self) -> ExportParams:
        if self.stop <= self.start:
            raise ValueError("stop must be after start")
        if self.stop - self.start > EXPORT_MAX_SPAN:
            raise ValueError("the range may span at most a year (366 days)")
        if len(set(self.bodies)) != len(self.bodies):
            raise ValueError("bodies must not repeat")
        return self

    def rows(self) -> int:
        return len(grid_range(self.start, self.stop, parse_step(self.step))) * len(self.bodies)


def _check_export(params: ExportParams, settings: Settings) -> None:
    rows = params.rows()
    if rows > settings.export_max_rows:
        raise InvalidInputError(
            f"the export would have {rows} rows, more than the limit of "
            f"{settings.export_max_rows}; shorten the range or widen the step",
            field="params.stop",
        )


async def precompute_window(
    service: EphemerisService, bodies: Sequence[Body], start: datetime, hours: int
) -> dict[str, int]:
    """Cache ``hours`` from ``start`` for ``bodies``; rows that were missing, per body."""
    first = snap(start, service.grid_step)
    missing = await service.precompute(bodies, first, first + timedelta(hours=hours))
    return {body.value: count for body, count in missing.items()}


async def _precompute(resources: JobResources, at: datetime) -> Mapping[str, Any]:
    settings = resources.settings
    bodies = [Body(name) for name in settings.precompute_bodies]
    # From now, not from the scheduled instant: a run delayed by a queue backlog or a
    # retry still covers the hours ahead of the clock.
    start = max(at, datetime.now(UTC))
    # One hour more than the horizon: until the next hourly run, "the next N hours"
    # asked late in this hour reaches up to N+1 hours past this run's start.
    hours = settings.precompute_hours + 1
    missing = await precompute_window(resources.ephemeris, bodies, start, hours)
    return {"missing_rows": sum(missing.values()), "per_body": missing}


async def _export(resources: JobResources, params: ExportParams, progress: Progress) -> JobResult:
    service = resources.ephemeris
    step = parse_step(params.step)
    instants = grid_range(params.start, params.stop, step)
    # The service bounds one range query; ask in pieces of that size.
    piece = max(1, service.max_rows)
    per_body: dict[Body, list[dict[str, Any]]] = {}
    done = 0
    total = len(instants) * len(params.bodies)
    for body in params.bodies:
        rows: list[dict[str, Any]] = []
        for offset in range(0, len(instants), piece):
            part = instants[offset : offset + piece]
            # Background priority: an export must not spend the budget kept for users.
            answer = await service.positions([body], part[0], part[-1], step, priority="background")
            rows.extend(orjson.loads(row.entry.value) for row in answer.rows)
            done += len(part)
            await progress(done / total * 0.95)
        per_body[body] = rows
    # Time order, then the order the bodies were asked in.
    table = [per_body[body][i] for i in range(len(instants)) for body in params.bodies]
    stem = f"ephemeris_{format_instant(params.start)[:10]}_{format_instant(params.stop)[:10]}"
    summary = {"rows": len(table), "bodies": [b.value for b in params.bodies]}
    if params.format == "json":
        content = orjson.dumps(
            {
                "bodies": summary["bodies"],
                "start": format_instant(params.start),
                "stop": format_instant(params.stop),
                "step": params.step,
                "rows": table,
            }
        )
        return JobResult(content, "application/json", f"{stem}.json", summary)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(table)
    return JobResult(out.getvalue().encode(), "text/csv; charset=utf-8", f"{stem}.csv", summary)


def register_ephemeris_jobs(registry: JobRegistry, settings: Settings) -> None:
    """The ephemeris room's periodic precomputation and export job type."""
    registry.add_periodic(PeriodicTask(PRECOMPUTE_TASK, settings.precompute_schedule, _precompute))
    registry.add_job_type(JobType(EXPORT_JOB, ExportParams, _export, check=_check_export))
