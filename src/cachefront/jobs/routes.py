"""The jobs API: submit, poll, cancel and download user jobs (``/v1/jobs``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import JSONResponse, Response, StreamingResponse

from cachefront.db.replica import ReadEngine
from cachefront.errors import (
    GoneError,
    NotFoundError,
    NotReadyError,
)
from cachefront.http.responses import PROBLEM_RESPONSES
from cachefront.jobs.ownership import JobCaller, current_caller
from cachefront.jobs.records import JobRecord, JobRecords, StoredResult
from cachefront.jobs.runtime import JobsRuntime
from cachefront.jobs.status import JobStatus
from cachefront.jobs.storage import DOWNLOAD_CHUNK_BYTES
from cachefront.jobs.stream import JobSnapshot, job_stream

__all__ = ["JobOut", "JobSubmission", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


async def get_jobs(request: Request) -> JobsRuntime:
    runtime = getattr(request.app.state, "jobs", None)
    if runtime is None:
        raise NotReadyError("the job queue is not open yet")
    assert isinstance(runtime, JobsRuntime)
    return runtime


JobsDep = Annotated[JobsRuntime, Depends(get_jobs)]
CallerDep = Annotated[JobCaller, Depends(current_caller)]


class JobSubmission(BaseModel):
    """The body of ``POST /v1/jobs``."""

    # No example here: the job types are the rooms', and the platform names none of them.
    type: str = Field(description="A job type one of this deployment's services registers.")
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
    result_expires_at: datetime | None = Field(
        description="When the result stops being downloadable (410 from then on)"
    )
    error: str | None
    detail: dict[str, Any] | None = Field(
        default=None,
        description="What the job type shows beyond the share done: steps done and total, "
        "partial outputs",
    )

    @classmethod
    def of(
        cls, record: JobRecord, request: Request, detail: dict[str, Any] | None = None
    ) -> JobOut:
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
            result_expires_at=record.result_expires_at,
            error=record.error,
            detail=detail,
        )


async def _detail(jobs: JobsRuntime, record: JobRecord) -> dict[str, Any] | None:
    job_type = jobs.registry.job_types.get(record.type)
    if job_type is None or job_type.detail is None:
        return None
    return dict(await job_type.detail(jobs.records.engine, record.id, record.params))


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses={
        **PROBLEM_RESPONSES,
        400: {"description": "Empty Idempotency-Key"},
        409: {"description": "The caller's storage quota is used up"},
        422: {"description": "Bad params, or an Idempotency-Key reused for another request"},
    },
)
async def submit_job(
    submission: JobSubmission,
    request: Request,
    jobs: JobsDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Retries with the same key and body get the same job "
            "(`Idempotent-Replayed: true`); the same key with another body is 422",
        ),
    ] = None,
) -> Response:
    """Queue a job; 202 with the job and a ``Location`` to poll, replays included."""
    record, created = await jobs.submit(
        submission.type, submission.params, owner=caller.owner, idempotency_key=idempotency_key
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
    caller: CallerDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    """The caller's most recent jobs (every user's for the service role)."""

    # A listing may lag a replica's few seconds behind; one job's GET reads the primary.
    async def query(engine: AsyncEngine) -> Sequence[JobRecord]:
        return await JobRecords(engine).recent(caller.scope, status=status, limit=limit)

    reads: ReadEngine = request.app.state.resources.read_engine
    records = await reads.read(query)
    return [JobOut.of(record, request) for record in records]


@router.get("/{job_id}", response_model=JobOut, name="get_job", responses=PROBLEM_RESPONSES)
async def get_job(job_id: uuid.UUID, request: Request, jobs: JobsDep, caller: CallerDep) -> JobOut:
    """Status, progress, timestamps, and the result link or the error."""
    record = await jobs.get(job_id, caller.scope)
    return JobOut.of(record, request, await _detail(jobs, record))


_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
    },
)
async def job_events(
    job_id: uuid.UUID,
    request: Request,
    jobs: JobsDep,
    caller: CallerDep,
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=64,
            description="The id of the last event received: the job is sent again only "
            "if it changed since",
        ),
    ] = None,
) -> StreamingResponse:
    """The job as server-sent events: one ``progress`` event (the body of GET
    /v1/jobs/{id}) each time it changes, then ``end`` once it has finished; a stream
    that ends without ``end`` is to be reopened (EventSource does so by itself)."""
    await jobs.get(job_id, caller.scope)  # 404 before the stream starts
    if jobs.events is None:
        raise NotReadyError("job events are not open yet")

    async def read() -> JobSnapshot:
        record = await jobs.get(job_id, caller.scope)
        out = JobOut.of(record, request, await _detail(jobs, record))
        return out.model_dump_json().encode(), record.status in _FINAL

    return StreamingResponse(
        job_stream(
            jobs.events,
            job_id,
            read,
            reader=(job_id, caller.scope),
            last_event_id=last_event_id,
        ),
        media_type="text/event-stream",
        # no-transform and X-Accel-Buffering: proxies must pass each event on at once.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    responses={**PROBLEM_RESPONSES, 409: {"description": "The job is running or finished"}},
)
async def cancel_job(
    job_id: uuid.UUID, request: Request, jobs: JobsDep, caller: CallerDep
) -> JobOut:
    """Cancel a queued job; 409 when it is running or finished."""
    return JobOut.of(await jobs.cancel(job_id, caller.scope), request)


@router.get(
    "/{job_id}/result",
    name="get_job_result",
    response_class=Response,
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The file"},
        410: {"description": "The result expired and was removed"},
    },
)
async def get_job_result(job_id: uuid.UUID, jobs: JobsDep, caller: CallerDep) -> Response:
    """The job's output file, once it has succeeded (404 before, 410 once expired)."""
    stored = await jobs.records.result(job_id, caller.scope)
    if stored is None:
        record = await jobs.get(job_id, caller.scope)
        raise NotFoundError(f"job {job_id} has no result: it is {record.status}")
    if stored.expired(datetime.now(UTC)):
        when = f" at {stored.expires_at:%Y-%m-%dT%H:%M:%SZ}" if stored.expires_at else ""
        raise GoneError(
            f"the result of job {job_id} expired{when} and was removed; results are kept "
            f"{jobs.settings.jobs_result_ttl_hours:g} hours after their job finished"
        )
    return StreamingResponse(
        _slices(jobs.records, stored),
        media_type=stored.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{stored.filename}"',
            "Content-Length": str(stored.size),
        },
    )


async def _slices(records: JobRecords, stored: StoredResult) -> AsyncIterator[bytes]:
    """The result in slices of ``DOWNLOAD_CHUNK_BYTES``, one short query each.

    A download never holds the whole result nor a connection between slices, so many
    at once cost memory per slice, not per file. Should the result change or go
    meanwhile, the download stops short of its ``Content-Length`` and the client sees
    an incomplete transfer rather than a mix of two files.
    """
    for offset in range(0, stored.size, DOWNLOAD_CHUNK_BYTES):
        chunk = await records.result_slice(stored, offset, DOWNLOAD_CHUNK_BYTES)
        if not chunk:
            raise RuntimeError(f"result of job {stored.job_id} changed during its download")
        yield chunk
