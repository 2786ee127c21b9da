"""Operational routes: liveness, readiness, and request statistics for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from cachefront.auth.dependencies import require_service
from cachefront.db.migrate import head_revision
from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.errors import NotReadyError
from cachefront.http.problems import problem_response
from cachefront.metrics.stats import Stats, load_stats

__all__ = ["admin_router", "health_router"]

QUERIES = load_queries("cachefront.metrics")

health_router = APIRouter(tags=["health"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"])


@health_router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get(
    "/ready",
    summary="Readiness: the database answers, its schema is current, the job worker runs",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
async def ready(request: Request) -> Response:
    resources = getattr(request.app.state, "resources", None)
    if resources is None:
        raise NotReadyError("starting up")
    # Only a process meant to run a worker has one to report; API-only processes do not.
    jobs = getattr(request.app.state, "jobs", None)
    supervisor = getattr(jobs, "supervisor", None)
    if supervisor is not None and not supervisor.health.running:
        return problem_response(
            503, f"job worker down: {supervisor.health.reason}", headers={"Retry-After": "5"}
        )
    head = head_revision()
    try:
        async with resources.engine.connect() as conn:
            current = (await conn.execute(QUERIES.text("schema_version"))).scalar_one_or_none()
    except SQLAlchemyError as exc:
        return problem_response(503, f"database unreachable: {type(exc).__name__}")
    if current != head:
        return problem_response(503, f"database schema at {current}, expected {head}")
    return Response(
        b'{"status":"ready","schema":"%s"}' % (current or "").encode(),
        media_type="application/json",
    )


@admin_router.get(
    "/stats",
    summary="Requests, hit rate, latency percentiles, errors, upstream calls and their cost, "
    "per route, room and provider",
    dependencies=[Depends(require_service)],
    response_model=Stats,
)
async def stats(
    request: Request,
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="Window, in hours")] = 24,
) -> Stats:
    resources = request.app.state.resources
    # Include what is still buffered, so the numbers cover the requests just made.
    await resources.recorder.flush()
    settings = request.app.state.settings
    attribution = getattr(request.app.state, "attribution", None)

    async def query(engine: AsyncEngine) -> Stats:
        return await load_stats(
            engine, hours, attribution=attribution, call_costs=settings.upstream_call_costs
        )

    # An aggregate over the rollups: the replica's, once it has replayed that flush.
    reads: ReadEngine = resources.read_engine
    return await reads.read(query, after_commit=True)
