"""``GET /v1/ai/generations/{job_id}``: a generation job's book, as JSON or Markdown.

Built from the steps stored so far, so a running job's partial book downloads too;
the caller sees only its own jobs (the job's record and row security on the steps).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cachefront.errors import NotFoundError, NotReadyError
from cachefront.jobs.ownership import JobCaller, current_caller
from cachefront.services.ai.generation import GENERATION_JOB, stored_outputs
from cachefront.services.ai.generation_result import as_json, as_markdown
from cachefront.services.ai.generation_templates import GENERATION_VERSION

if TYPE_CHECKING:
    # The jobs runtime imports the rooms (their job types): known here by type only.
    from cachefront.jobs.runtime import JobsRuntime

__all__ = ["generation_router"]

generation_router = APIRouter(tags=["ai"])


@generation_router.get("/v1/ai/generations/{job_id}", summary="A generation job's book")
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
