"""Ephemeris jobs: the hourly precomputation and the ``ephemeris-export`` job type."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

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
from cachefront.services.ephemeris.bodies import Body, parse_body
from cachefront.services.ephemeris.coverage import coverage_of
from cachefront.services.ephemeris.grid import (
    grid_count,
    grid_range,
    parse_instant,
    parse_step,
    read_step,
    snap,
)
from cachefront.services.ephemeris.models import format_instant
from cachefront.services.ephemeris.service import EphemerisService
from cachefront.services.ephemeris.settings import EphemerisSettings

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_JOB",
    "PRECOMPUTE_TASK",
    "ExportParams",
    "check_export",
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


def _invalid(exc: InvalidInputError) -> PydanticCustomError:
    # The message travels as context, not as the template: user text may hold braces.
    return PydanticCustomError("invalid_input", "{detail}", {"detail": exc.detail})


def _read_body(value: Any) -> Any:
    """A body name as the range API reads it (any case, spaces ignored)."""
    if not isinstance(value, str):
        return value  # pydantic's own message says a name is expected
    try:
        return parse_body(value)
    except InvalidInputError as exc:
        raise _invalid(exc) from None


class ExportParams(BaseModel):
    """Params of ``ephemeris-export``: a table of ``bodies`` from ``start`` to ``stop``.

    Instants and steps are read by the same parsers as the range API
    (``grid.parse_instant``, ``grid.parse_step``): naive instants are UTC. Checks that
    need the settings or several fields at once are in ``check_export``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bodies: list[Annotated[Body, BeforeValidator(_read_body)]] = Field(
        min_length=1, max_length=len(Body)
    )
    start: datetime
    stop: datetime
    step: str = "1h"
    format: Literal["csv", "json"] = "csv"

    @field_validator("start", "stop", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> datetime:
        if isinstance(value, datetime):
            value = value.isoformat()
        if not isinstance(value, str):
            raise PydanticCustomError(
                "instant_type", "an ISO 8601 instant is expected, e.g. 2026-11-23T00:00:00Z"
            )
        try:
            return parse_instant(value)
        except InvalidInputError as exc:
            raise _invalid(exc) from None

    @field_validator("step")
    @classmethod
    def _step(cls, value: str) -> str:
        try:
            read_step(value)
        except InvalidInputError as exc:
            raise _invalid(exc) from None
        return value

    def rows(self) -> int:
        """Rows of the table, counted without building its instants."""
        return grid_count(self.start, self.stop, read_step(self.step)) * len(self.bodies)


def check_export(params: ExportParams, settings: Settings) -> None:
    """Refuse at submission what would fail when run: every check names its field."""
    if params.stop <= params.start:
        raise InvalidInputError("stop must be after start", field="params.stop")
    if params.stop - params.start > EXPORT_MAX_SPAN:
        raise InvalidInputError("the range may span at most a year (366 days)", field="params.stop")
    if len(set(params.bodies)) != len(params.bodies):
        raise InvalidInputError("bodies must not repeat", field="params.bodies")
    own = settings.room(EphemerisSettings)
    grid_step = timedelta(minutes=own.ephemeris_grid_minutes)
    step = parse_step(params.step, grid_step, field="params.step")
    # The same rule as the range API's, so a job accepted here can be run.
    coverage = coverage_of(own.ephemeris_providers)
    reach = step if step != grid_step else timedelta(0)
    coverage.require(snap(params.start, step), field="params.start", reach=reach)
    coverage.require(snap(params.stop, step), field="params.stop", reach=reach)
    rows = params.rows()
    if rows > own.export_max_rows:
        raise InvalidInputError(
            f"the export would have {rows} rows, more than the limit of "
            f"{own.export_max_rows}; shorten the range or widen the step",
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
    settings = resources.settings.room(EphemerisSettings)
    bodies = [Body(name) for name in settings.precompute_bodies]
    # From now, not from the scheduled instant: a run delayed by a queue backlog or a
    # retry still covers the hours ahead of the clock.
    start = max(at, datetime.now(UTC))
    # One hour more than the horizon: until the next hourly run, "the next N hours"
    # asked late in this hour reaches up to N+1 hours past this run's start.
    hours = settings.precompute_hours + 1
    missing = await precompute_window(resources.service(EphemerisService), bodies, start, hours)
    return {"missing_rows": sum(missing.values()), "per_body": missing}


async def _export(resources: JobResources, params: ExportParams, progress: Progress) -> JobResult:
    service = resources.service(EphemerisService)
    step = parse_step(params.step, service.grid_step, field="params.step")
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
    schedule = settings.room(EphemerisSettings).precompute_schedule
    registry.add_periodic(PeriodicTask(PRECOMPUTE_TASK, schedule, _precompute))
    registry.add_job_type(JobType(EXPORT_JOB, ExportParams, _export, check=check_export))
