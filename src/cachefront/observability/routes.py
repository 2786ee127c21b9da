"""Admin routes of observability: the health checks as JSON (service role only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from cachefront.auth.dependencies import require_service
from cachefront.observability.checks import HealthReport
from cachefront.observability.health import measure_health

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get(
    "/health",
    summary="Every health check with its status (ok, warn, critical) and measured value",
    dependencies=[Depends(require_service)],
    response_model=HealthReport,
)
async def health(request: Request) -> HealthReport:
    resources = request.app.state.resources
    await resources.recorder.flush()
    jobs = getattr(request.app.state, "jobs", None)
    supervisor = getattr(jobs, "supervisor", None)
    return await measure_health(
        resources.engine,
        request.app.state.settings,
        resources.upstreams,
        worker_running=None if supervisor is None else supervisor.health.running,
    )
