"""``GET /v1/ai/generations/{job_id}``: a generation job's book, as JSON or Markdown;
``POST .../cancel`` stops it between two steps.

Built from the steps stored so far, so a running job's partial book downloads too;
the caller sees only its own jobs (the job's record and row security on the steps).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from cachefront.errors import ConflictError, NotFoundError, NotReadyError
from cachefront.jobs.ownership import JobCaller, current_caller
from cachefront.services.ai.generation import GENERATION_JOB, request_stop, stored_outputs
from cachefront.services.ai.generation_result import as_json, as_markdown
from cachefront.services.ai.generation_templates import GENERATION_VERSION

if TYPE_CHECKING:
    # The jobs runtime imports the rooms (their job types): known here by type only.
    from cachefront.jobs.runtime import JobsRuntime

__all__ = ["generation_router"]

generation_router = APIRouter(tags=["ai"])


_BOOK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The book so far",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
    }
}
_NOTHING_TO_STOP: dict[int | str, dict[str, Any]] = {
    409: {"description": "The generation has already ended: nothing to stop"}
}


@generation_router.get(
    "/v1/ai/generations/{job_id}", summary="A generation job's book", responses=_BOOK
)
async def generation(
    job_id: uuid.UUID,
    request: Request,
    caller: Annotated[JobCaller, Depends(current_caller)],
    format: Annotated[Literal["json", "markdown"], Query(description="File format")] = "json",
) -> Response:
    """The outline and chapters written so far, as JSON or as one Markdown document."""
    jobs: JobsRuntime | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise NotReadyError("the job queue is not open yet")
    record = await jobs.get(job_id, caller.scope)
    if record.type != GENERATION_JOB:
        raise NotFoundError(f"job {job_id} is not a generation job")
    outputs = await stored_outputs(jobs.records.engine, job_id)
    topic = str(record.params.get("topic", ""))
    if format == "markdown":
        return Response(
            as_markdown(topic, outputs),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="generation-{job_id}.md"'},
        )
    template = str(record.params.get("template", "textbook"))
    return Response(
        as_json(job_id, topic, template, GENERATION_VERSION, outputs),
        media_type="application/json",
    )


@generation_router.post(
    "/v1/ai/generations/{job_id}/cancel",
    status_code=202,
    summary="Stop a generation",
    responses=_NOTHING_TO_STOP,
)
async def cancel_generation(
    job_id: uuid.UUID,
    request: Request,
    caller: Annotated[JobCaller, Depends(current_caller)],
) -> Response:
    """A queued job is cancelled at once; a running one stops before its next step (it
    ends cancelled, its error saying when, with the steps done kept and downloadable)."""
    jobs: JobsRuntime | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise NotReadyError("the job queue is not open yet")
    record = await jobs.get(job_id, caller.scope)
    if record.type != GENERATION_JOB:
        raise NotFoundError(f"job {job_id} is not a generation job")
    if record.status == "queued":
        cancelled = await jobs.cancel(job_id, caller.scope)
        return JSONResponse({"id": str(job_id), "status": str(cancelled.status)}, 202)
    if record.status != "running":
        raise ConflictError(f"job {job_id} is {record.status}: there is nothing to stop")
    await request_stop(jobs.records.engine, job_id, record.owner or caller.owner)
    return JSONResponse({"id": str(job_id), "status": "stopping"}, 202)
