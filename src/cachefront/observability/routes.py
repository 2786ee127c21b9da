"""Observability routes, for the service role only: health checks and storage as JSON, /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from cachefront.auth.dependencies import require_service
from cachefront.cache.quotas import quota_states
from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.http.problems import problem_response
from cachefront.observability.checks import HealthReport
from cachefront.observability.health import measure_health
from cachefront.observability.processes import LocalState
from cachefront.observability.prometheus import PrometheusSink, StoredFigures
from cachefront.observability.storage import StorageReport, load_storage

__all__ = ["metrics_router", "render_metrics", "router"]

QUERIES = load_queries("cachefront.observability")
router = APIRouter(prefix="/v1/admin", tags=["admin"])
metrics_router = APIRouter(tags=["admin"])
# The content type of Prometheus's text exposition format.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/health",
    summary="Every health check with its status (ok, warn, critical) and measured value",
    dependencies=[Depends(require_service)],
    response_model=HealthReport,
)
async def health(request: Request) -> HealthReport:
    resources = request.app.state.resources
    await resources.recorder.flush()
    # This process's breakers and worker as they are now, then what every live process
    # published: whichever process answers, and the CLI, judge the same rows.
    local: LocalState | None = getattr(request.app.state, "local_state", None)
    if local is not None:
        await local.publish(resources.engine)

    async def query(engine: AsyncEngine) -> HealthReport:
        return await measure_health(engine, request.app.state.settings)

    # Only measured here: the monitor records changes and alerts, on the primary.
    reads: ReadEngine = resources.read_engine
    return await reads.read(query, after_commit=True)


@router.get(
    "/storage",
    summary="Size of every table, and the PostgreSQL cache tier per namespace: entries, "
    "bytes, oldest and newest entry, expiry forecast, quota and evictions",
    dependencies=[Depends(require_service)],
    response_model=StorageReport,
)
async def storage(request: Request) -> StorageReport:
    settings = request.app.state.settings
    quotas = {ns: int(size) for ns, size in settings.cache_quotas.items()}

    async def query(engine: AsyncEngine) -> StorageReport:
        return await load_storage(engine, quotas)

    # Sizes and counts: a physical replica has the same files, a few seconds behind.
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(query)


@metrics_router.get(
    "/metrics",
    summary="Prometheus exposition of every worker process's counters, histograms and gauges",
    dependencies=[Depends(require_service)],
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_TEXT: {}}}},
)
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.prometheus_enabled:
        return problem_response(404, "Prometheus metrics are off (CACHEFRONT_PROMETHEUS_ENABLED)")
    return Response(await render_metrics(request.app.state), media_type=PROMETHEUS_TEXT)


async def render_metrics(state: Any) -> bytes:
    """The exposition, for this route and the scrapers' listener (``scrape_bind.py``)."""
    resources = state.resources
    sink: PrometheusSink = state.prometheus
    # This process's last batch; the others' flushes are at most one interval old.
    await resources.recorder.flush()
    sink.refresh_live()
    reads: ReadEngine = resources.read_engine
    stored = await reads.read(_stored_figures)
    return sink.exposition(stored)


async def _stored_figures(engine: AsyncEngine) -> StoredFigures:
    """Queue depth and cache sizes: counts a replica a few seconds behind answers as well."""
    async with engine.connect() as conn:
        queue = {str(r[0]): int(r[1]) for r in await conn.execute(QUERIES.text("queue_depth"))}
        cache = [
            (str(r[0]), int(r[1]), int(r[2]))
            for r in await conn.execute(QUERIES.text("cache_sizes"))
        ]
        evictions = [
            (ns, state.evicted_entries, state.evicted_bytes)
            for ns, state in (await quota_states(conn)).items()
        ]
    return StoredFigures(queue, cache, evictions)
