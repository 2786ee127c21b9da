"""The jobs API: submit, poll, cancel and download user jobs (``/v1/jobs``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from cachefront.errors import NotFoundError, NotReadyError
from cachefront.http.problems import problem_response
from cachefront.http.responses import PROBLEM_RESPONSES
from cachefront.jobs.ownership import current_owner
from cachefront.jobs.records import JobRecord
from cachefront.jobs.runtime import JobConflictError, JobsRuntime
from cachefront.jobs.status import JobStatus

__all__ = ["JobOut", "JobSubmission", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def get_jobs(request: Request) -> JobsRuntime:
    runtime = getattr(request.app.state, "jobs", None)
    if runtime is None:
        raise NotReadyError("the job queue is not open yet")
    assert isinstance(runtime, JobsRuntime)
    return runtime


JobsDep = Annotated[JobsRuntime, Depends(get_jobs)]
OwnerDep = Annotated[str | None, Depends(current_owner)]


class JobSubmission(BaseModel):
    """The body of ``POST /v1/jobs``."""

    type: str = Field(examples=["ephemeris-export"])
    params: dict[str, Any] = Field(default_factory=dict)


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: uuid.UUID
    type: str
    status: JobStatus
    progress: float
    params: dict[str, Any]
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, record: JobRecord, request: Request) -> JobOut:
        result = None
        if record.status is JobStatus.SUCCEEDED and record.result_filename is not None:
            result = {
                "url": str(request.url_for("get_job_result", job_id=record.id).path),
                "content_type": record.result_content_type,
                "filename": record.result_filename,
                **(record.summary or {}),
            }
        return cls(
            id=record.id,
            type=record.type,
            status=record.status,
            progress=record.progress,
            params=record.params,
            attempts=record.attempts,
            created_at=record.created_at,
            updated_at=record.updated_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            result=result,
            error=record.error,
        )


def _conflict(exc: JobConflictError) -> Response:
    return problem_response(409, exc.detail)


@router.post("", status_code=202, response_model=JobOut, responses=PROBLEM_RESPONSES)
async def submit_job(
    submission: JobSubmission,
    request: Request,
    jobs: JobsDep,
    owner: OwnerDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Retries with the same key get one job")
    ] = None,
) -> Response:
    """Queue a job; 202 with its id and a ``Location`` to poll (200 when a key replays)."""
    record, created = await jobs.submit(
        submission.type, submission.params, owner=owner, idempotency_key=idempotency_key
    )
    location = str(request.url_for("get_job", job_id=record.id).path)
    return JSONResponse(
        JobOut.of(record, request).model_dump(mode="json"),
        status_code=202,
        headers={"Location": location, "Idempotent-Replayed": "false" if created else "true"},
    )


@router.get("", response_model=list[JobOut])
async def list_jobs(
    request: Request,
    jobs: JobsDep,
    owner: OwnerDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    """The most recent jobs (the caller's own once authentication is on)."""
    records = await jobs.records.recent(owner, status=status, limit=limit)
    return [JobOut.of(record, request) for record in records]


@router.get("/{job_id}", response_model=JobOut, name="get_job", responses=PROBLEM_RESPONSES)
async def get_job(job_id: uuid.UUID, request: Request, jobs: JobsDep, owner: OwnerDep) -> JobOut:
    """Status, progress, timestamps, and the result link or the error."""
    return JobOut.of(await jobs.get(job_id, owner), request)


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    responses={**PROBLEM_RESPONSES, 409: {"description": "The job is running or finished"}},
)
async def cancel_job(
    job_id: uuid.UUID, request: Request, jobs: JobsDep, owner: OwnerDep
) -> Response | JobOut:
    """Cancel a queued job; 409 when it is running or finished."""
    try:
        return JobOut.of(await jobs.cancel(job_id, owner), request)
    except JobConflictError as exc:
        return _conflict(exc)


@router.get(
    "/{job_id}/result",
    name="get_job_result",
    response_class=Response,
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The file"},
    },
)
async def get_job_result(job_id: uuid.UUID, jobs: JobsDep, owner: OwnerDep) -> Response:
    """The job's output file, once it has succeeded (404 before)."""
    stored = await jobs.records.result(job_id, owner)
    if stored is None:
        record = await jobs.get(job_id, owner)
        raise NotFoundError(f"job {job_id} has no result: it is {record.status}")
    return Response(
        stored.content,
        media_type=stored.content_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'},
    )
