"""Observability routes, for the service role only: health, storage and the seed figures
(recent errors, hourly trend, slowest calls, periodic tasks, entries never read) as
JSON, and /metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from cachefront.auth.dependencies import require_service
from cachefront.cache.quotas import quota_states
from cachefront.db.queries import load_queries
from cachefront.db.replica import ReadEngine
from cachefront.http.problems import problem_response
from cachefront.observability.cache_sizes import cache_sizes
from cachefront.observability.checks import HealthReport
from cachefront.observability.health import measure_health
from cachefront.observability.processes import LocalState
from cachefront.observability.prometheus import PrometheusSink, StoredFigures
from cachefront.observability.recent_errors import RecentErrors, load_recent_errors
from cachefront.observability.slowest import SlowestCalls, load_slowest
from cachefront.observability.storage import StorageReport, load_storage
from cachefront.observability.tasks import Schedule, TaskReport, load_tasks, schedules_of
from cachefront.observability.trend import Trend, load_trend
from cachefront.observability.unread import NamespaceReads, load_unread

__all__ = ["metrics_router", "render_metrics", "router", "schedules"]

QUERIES = load_queries("cachefront.observability")
router = APIRouter(prefix="/v1/admin", tags=["admin"])
metrics_router = APIRouter(tags=["admin"])
# The content type of Prometheus's text exposition format.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# A window of up to 31 days: the metrics' default retention, and a bound on the reads.
Hours = Annotated[float, Query(gt=0, le=24 * 31, description="Window, in hours")]


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
        # Estimated from the planner's statistics: a scrape never passes over the table.
        cache, _ = await cache_sizes(conn)
        evictions = [
            (ns, state.evicted_entries, state.evicted_bytes)
            for ns, state in (await quota_states(conn)).items()
        ]
    return StoredFigures(queue, cache, evictions)


def schedules(request: Request) -> list[Schedule]:
    """The periodic tasks of the running queue, or of the registry these settings build
    when this process runs none."""
    from cachefront.jobs.schedule import default_registry

    settings = request.app.state.settings
    jobs = getattr(request.app.state, "jobs", None)
    registry = getattr(jobs, "registry", None) or default_registry(settings)
    return schedules_of(registry, settings)


@router.get(
    "/errors",
    summary="The newest failed requests (5xx, and 4xx other than 401, 403, 404, 429) and "
    "failed upstream calls of the window, newest first",
    dependencies=[Depends(require_service)],
    response_model=RecentErrors,
)
async def recent_errors(
    request: Request,
    hours: Hours = 24,
    limit: Annotated[int, Query(ge=1, le=500, description="Rows of each kind")] = 50,
) -> RecentErrors:
    await request.app.state.resources.recorder.flush()
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(
        lambda e: load_recent_errors(e, hours=hours, limit=limit), after_commit=True
    )


@router.get(
    "/trend",
    summary="Requests, hit rate, 5xx and latency percentiles per hour of the window "
    "(default 7 days); hours without traffic listed with zero counts",
    dependencies=[Depends(require_service)],
    response_model=Trend,
)
async def trend(request: Request, hours: Hours = 168) -> Trend:
    await request.app.state.resources.recorder.flush()
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(lambda e: load_trend(e, hours=hours), after_commit=True)


@router.get(
    "/slowest",
    summary="The slowest individual requests and upstream calls of the window",
    dependencies=[Depends(require_service)],
    response_model=SlowestCalls,
)
async def slowest(
    request: Request,
    hours: Hours = 24,
    limit: Annotated[int, Query(ge=1, le=200, description="Rows of each kind")] = 20,
) -> SlowestCalls:
    await request.app.state.resources.recorder.flush()
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(lambda e: load_slowest(e, hours=hours, limit=limit), after_commit=True)


@router.get(
    "/tasks",
    summary="Every periodic task: its cron, last and next run, and its newest runs with "
    "their durations and outcomes",
    dependencies=[Depends(require_service)],
    response_model=TaskReport,
)
async def tasks(
    request: Request,
    runs: Annotated[int, Query(ge=1, le=100, description="Runs listed per task")] = 10,
) -> TaskReport:
    listed = schedules(request)
    hours = request.app.state.settings.jobs_retention_hours
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(lambda e: load_tasks(e, listed, history_hours=hours, runs=runs))


@router.get(
    "/unread",
    summary="Invalidation candidates: per cache namespace, entries never read since "
    "stored, where reads are tracked (namespaces with a quota)",
    dependencies=[Depends(require_service)],
    response_model=list[NamespaceReads],
)
async def unread(request: Request) -> list[NamespaceReads]:
    tracked = list(request.app.state.settings.cache_quotas)
    reads: ReadEngine = request.app.state.resources.read_engine
    return await reads.read(lambda e: load_unread(e, tracked))
