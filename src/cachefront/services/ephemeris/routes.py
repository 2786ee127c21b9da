"""HTTP routes of the ephemeris service: one position, or a table of positions over a range."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cachefront.errors import InvalidInputError
from cachefront.http.responses import PROBLEM_RESPONSES, cached_response
from cachefront.rooms import service_dependency
from cachefront.services.ephemeris.bodies import parse_body
from cachefront.services.ephemeris.grid import parse_instant, parse_step
from cachefront.services.ephemeris.models import EphemerisRecord
from cachefront.services.ephemeris.service import EphemerisService

__all__ = ["router"]

router = APIRouter(prefix="/v1/ephemeris", tags=["ephemeris"])


ServiceDep = Annotated[EphemerisService, Depends(service_dependency(EphemerisService))]


@router.get(
    "/{body}",
    summary="Geocentric position of one body at one instant",
    response_model=EphemerisRecord,
    responses={**PROBLEM_RESPONSES, 304: {"description": "Not modified (If-None-Match)"}},
)
async def get_position(
    body: str,
    request: Request,
    service: ServiceDep,
    at: Annotated[
        str | None,
        Query(description="ISO 8601 instant (default now); rounded to the nearest grid instant"),
    ] = None,
) -> Response:
    instant = parse_instant(at, field="at") if at is not None else datetime.now(UTC)
    cached = await service.position(parse_body(body), instant)
    entry = cached.entry
    return cached_response(
        request,
        body=entry.value,
        etag=entry.etag,
        tier=cached.tier,
        stored_at=entry.stored_at,
        fresh_until=entry.fresh_until,
    )


@router.get(
    "",
    summary="Positions of several bodies over a time range",
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "description": '`{"count": N, "step": "1h", "rows": [EphemerisRecord, ...]}`, '
            "rows in time order, then in the order the bodies were asked",
        },
    },
)
async def get_positions(
    request: Request,
    service: ServiceDep,
    bodies: Annotated[str, Query(description="Comma-separated bodies, e.g. sun,moon,mars")],
    start: Annotated[str, Query(description="ISO 8601 start instant (included)")],
    stop: Annotated[str, Query(description="ISO 8601 stop instant (included)")],
    step: Annotated[str, Query(description="Step such as 1h, 30m or 1d (a grid multiple)")] = "1h",
) -> Response:
    body_list = [parse_body(name, field="bodies") for name in bodies.split(",") if name.strip()]
    if not body_list:
        raise InvalidInputError("name at least one body", field="bodies")
    if len(set(body_list)) != len(body_list):
        raise InvalidInputError("each body may be named once", field="bodies")
    start_at = parse_instant(start, field="start")
    stop_at = parse_instant(stop, field="stop")
    if stop_at < start_at:
        raise InvalidInputError("stop must not be before start", field="stop")
    step_delta = parse_step(step, service.grid_step)
    result = await service.positions(body_list, start_at, stop_at, step_delta)
    body = b"".join(
        [
            b'{"count":%d,"step":%s,"rows":[' % (len(result.rows), orjson.dumps(step)),
            b",".join(row.entry.value for row in result.rows),
            b"]}",
        ]
    )
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    return cached_response(
        request,
        body=body,
        etag=etag,
        tier=result.tier,
        stored_at=min((r.entry.stored_at for r in result.rows), default=0.0),
        fresh_until=min((r.entry.fresh_until for r in result.rows), default=0.0),
    )
