"""Job types and periodic tasks, registered by the rooms that own them.

A job type is a name, a pydantic model of its params and an async function that runs
it; a periodic task is a name, a cron schedule and an async function. The queue turns
both into procrastinate tasks; the API validates params against the job type's model.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from cachefront.errors import CachefrontError, InvalidInputError
from cachefront.validation import error_message

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cachefront.config import Settings
    from cachefront.rooms import RoomServices

__all__ = [
    "CurrentJob",
    "JobRegistry",
    "JobResources",
    "JobResult",
    "JobStopped",
    "JobType",
    "PeriodicTask",
    "Progress",
    "current_job",
]

T = TypeVar("T")

Progress = Callable[[float], Awaitable[None]]
"""Report the share of a job done so far, from 0.0 to 1.0."""


class JobStopped(CachefrontError):
    """Raised by a job's ``run`` to end it, between its steps, because it was asked to
    stop: the job ends ``cancelled`` (not failed, never retried), the message as its
    error, whatever it stored so far left as it is."""

    status = 409


@dataclass(frozen=True, slots=True)
class CurrentJob:
    """The job a task is running, for job types that keep their own state per job."""

    id: uuid.UUID
    owner: str | None


current_job: contextvars.ContextVar[CurrentJob | None] = contextvars.ContextVar(
    "current_job", default=None
)
"""Set by the queue around each user job's ``run``."""


@dataclass(frozen=True, slots=True)
class JobResources:
    """What tasks run with: the same settings, engine and services as the API process."""

    settings: Settings
    engine: AsyncEngine
    services: RoomServices

    def service(self, kind: type[T]) -> T:
        """The opened service of type ``kind``, e.g. ``resources.service(PricesService)``."""
        return self.services.get(kind)


@dataclass(frozen=True, slots=True)
class JobResult:
    """The downloadable outcome of a user job, and a small JSON summary of it."""

    content: bytes
    content_type: str
    filename: str
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobType:
    """A kind of job users may submit through ``POST /v1/jobs``."""

    name: str
    params: type[BaseModel]
    run: Callable[[JobResources, Any, Progress], Awaitable[JobResult]]
    # Checks that need the settings (size limits), raising InvalidInputError.
    check: Callable[[Any, Settings], None] | None = None
    # What the job type shows of a job beyond its share done (steps, partial outputs),
    # in GET /v1/jobs/{id} and its events; read as the caller, so row security holds.
    detail: Callable[[AsyncEngine, uuid.UUID, Mapping[str, Any]], Awaitable[Mapping[str, Any]]] | (
        None
    ) = None


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """A task deferred once per period of its cron ``schedule``, however many workers run."""

    name: str
    schedule: str
    run: Callable[[JobResources, datetime], Awaitable[Mapping[str, Any]]]


class JobRegistry:
    """The job types and periodic tasks of this deployment, in registration order."""

    def __init__(self) -> None:
        self.job_types: dict[str, JobType] = {}
        self.periodic: dict[str, PeriodicTask] = {}

    def add_job_type(self, job_type: JobType) -> None:
        if job_type.name in self.job_types:
            raise ValueError(f"job type {job_type.name!r} registered twice")
        self.job_types[job_type.name] = job_type

    def add_periodic(self, task: PeriodicTask) -> None:
        if task.name in self.periodic:
            raise ValueError(f"periodic task {task.name!r} registered twice")
        self.periodic[task.name] = task

    def job_type(self, name: str) -> JobType:
        try:
            return self.job_types[name]
        except KeyError:
            known = ", ".join(sorted(self.job_types)) or "none"
            raise InvalidInputError(
                f"unknown job type {name!r} (known: {known})", field="type"
            ) from None

    def validate(self, name: str, params: Any, settings: Settings) -> BaseModel:
        """The params of a job of type ``name``, validated; InvalidInputError if not."""
        job_type = self.job_type(name)
        try:
            model = job_type.params.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'params'}: {error_message(e)}"
                for e in exc.errors()
            )
            raise InvalidInputError(
                f"invalid params for {name}: {detail}",
                field=f"params.{where}" if where else "params",
            ) from exc
        if job_type.check is not None:
            job_type.check(model, settings)
        return model
