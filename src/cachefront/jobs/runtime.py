"""The jobs runtime of one process: the open queue, the records, and maybe a worker.

``open_jobs`` is entered in the app's lifespan. It opens the queue's connection pool,
and when ``settings.worker_in_process`` is on it runs a procrastinate worker as a task
of the same event loop, with the process's engine, cache and services as resources,
under a ``WorkerSupervisor`` that restarts it after a database outage. Leaving it stops
the worker gracefully (running jobs get a grace period to finish).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from procrastinate import App

from cachefront.config import Settings
from cachefront.errors import BadRequestError, ConflictError, InvalidInputError, NotFoundError
from cachefront.jobs.events import EventTiming, JobEvents
from cachefront.jobs.queue import RUN_USER_JOB, build_queue_app, libpq_url
from cachefront.jobs.records import JobRecord, JobRecords
from cachefront.jobs.registry import JobRegistry, JobResources
from cachefront.jobs.schedule import default_registry
from cachefront.jobs.status import JobStatus
from cachefront.jobs.storage import ResultLimits
from cachefront.jobs.supervisor import RestartBackoff, WorkerSupervisor

__all__ = ["IdempotencyKeyReusedError", "JobConflictError", "JobsRuntime", "open_jobs"]

log = logging.getLogger(__name__)

# Past the grace period, how long a stopping worker may still take (its shutdown waits
# on the database, which may be gone) before the process stops waiting for it.
_SHUTDOWN_SLACK_SECONDS = 5.0
IDEMPOTENCY_KEY_FIELD = "Idempotency-Key"


class JobConflictError(ConflictError):
    """Raised when a job cannot do what was asked in its current status (cancel, retry)."""


class IdempotencyKeyReusedError(InvalidInputError):
    """Raised when an ``Idempotency-Key`` comes back with another job type or params."""


@dataclass
class JobsRuntime:
    """Submit, read, cancel and retry jobs; the API routes and the CLI use this."""

    settings: Settings
    queue: App
    records: JobRecords
    registry: JobRegistry

    supervisor: WorkerSupervisor | None = None
    # The process's job event streams (the API's; the CLI has none).
    events: JobEvents | None = None

    @property
    def limits(self) -> ResultLimits:
        return ResultLimits.from_settings(self.settings)

    async def submit(
        self,
        job_type: str,
        params: Mapping[str, Any],
        *,
        owner: str,
        idempotency_key: str | None = None,
        queue: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Validate, record and enqueue a job; ``(job, created)``, created False on a replay.

        ``queue``: a queue of the caller's own instead of the user queue, for a command
        that runs its job in its own process (``work_off``); every ``cachefront
        worker`` takes jobs from any queue, so one running may take it first.

        A key seen before from the same owner replays that job when the type and the
        validated params are the same, and is refused (422) when they differ, as the
        IETF Idempotency-Key draft asks; an empty key is 400.
        """
        if idempotency_key is not None and not idempotency_key.strip():
            raise BadRequestError(
                "the Idempotency-Key header is empty", field=IDEMPOTENCY_KEY_FIELD
            )
        model = self.registry.validate(job_type, params, self.settings)
        values = model.model_dump(mode="json")
        if idempotency_key is not None:
            earlier = await self.records.by_idempotency_key(owner, idempotency_key)
            if earlier is not None:
                return self._replay(earlier, job_type, values), False
        self.limits.check_submission(await self.records.stored_bytes(owner))
        record, created = await self.records.create(
            job_type, values, owner=owner, idempotency_key=idempotency_key
        )
        if not created:
            # Another submission with this key won the race between lookup and insert.
            return self._replay(record, job_type, values), False
        return await self._enqueue(record, queue), True

    @staticmethod
    def _replay(earlier: JobRecord, job_type: str, params: Mapping[str, Any]) -> JobRecord:
        if earlier.type != job_type or earlier.params != dict(params):
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {earlier.idempotency_key!r} was used for another request "
                f"(job {earlier.id}); send a new key for a different job",
                field=IDEMPOTENCY_KEY_FIELD,
            )
        return earlier

    async def _enqueue(self, record: JobRecord, queue: str | None = None) -> JobRecord:
        options: dict[str, Any] = {} if queue is None else {"queue": queue}
        queue_job_id = await self.queue.configure_task(RUN_USER_JOB, **options).defer_async(
            job_id=str(record.id)
        )
        await self.records.set_queue_job_id(record.id, queue_job_id)
        return await self.get(record.id)

    async def work_off(
        self, queue: str, resources: JobResources, *, grace: float | None = None
    ) -> None:
        """Run the jobs of ``queue`` in this process, one at a time, until cancelled.

        A command's own worker for the job it submitted to ``queue``: it runs nothing
        else (periodic runs it defers, as every worker does, wait in their own queues
        for the workers), heartbeats like any worker so a stall
        sweep elsewhere requeues its job should the process die, and, cancelled, lets a
        running job finish for ``grace`` seconds (default the shutdown timeout) and
        hands it back to the queue.
        """
        settings = self.settings
        await self.queue.run_worker_async(
            name=f"{socket.gethostname()}-{os.getpid()}-{queue}",
            queues=[queue],
            concurrency=1,
            additional_context={"resources": resources},
            install_signal_handlers=False,
            update_heartbeat_interval=max(0.25, settings.jobs_stall_seconds / 4),
            stalled_worker_timeout=settings.jobs_stall_seconds,
            shutdown_graceful_timeout=settings.shutdown_timeout_seconds if grace is None else grace,
            fetch_job_polling_interval=min(5.0, settings.jobs_stall_seconds),
        )

    async def get(self, job_id: uuid.UUID, owner: str | None = None) -> JobRecord:
        record = await self.records.get(job_id, owner)
        if record is None:
            raise NotFoundError(f"no job {job_id}")
        return record

    async def cancel(self, job_id: uuid.UUID, owner: str | None = None) -> JobRecord:
        """Cancel a queued job; a running or finished one raises JobConflictError."""
        record = await self.get(job_id, owner)
        if record.status is not JobStatus.QUEUED:
            raise JobConflictError(f"job {job_id} is {record.status}; only queued jobs cancel")
        # The queue's cancel is atomic: it succeeds only while no worker has taken the job.
        if (
            record.queue_job_id is not None
            and not await self.queue.job_manager.cancel_job_by_id_async(record.queue_job_id)
        ):
            raise JobConflictError(f"job {job_id} has just started; it can no longer be cancelled")
        cancelled = await self.records.cancel(job_id)
        if cancelled is None:
            raise JobConflictError(f"job {job_id} changed status while cancelling")
        return cancelled

    async def retry(self, job_id: uuid.UUID, owner: str | None = None) -> JobRecord:
        """Queue a failed or cancelled job again, from the start."""
        record = await self.records.requeue(job_id)
        if record is None or (owner is not None and record.owner != owner):
            current = await self.get(job_id, owner)
            raise JobConflictError(
                f"job {job_id} is {current.status}; only failed or cancelled jobs retry"
            )
        return await self._enqueue(record)


@contextlib.asynccontextmanager
async def open_jobs(
    settings: Settings,
    url: str,
    resources: JobResources,
    *,
    registry: JobRegistry | None = None,
    direct_url: str | None = None,
) -> AsyncIterator[JobsRuntime]:
    """Open the queue (and run a supervised worker when ``settings.worker_in_process``).

    ``direct_url``, when ``url`` is a transaction pooler: the worker LISTENs for new
    jobs, and the event streams for job changes, which needs a session of its own, so
    they run over this direct connection; submissions still go through the pooler.
    """
    registry = registry or default_registry(settings)
    pooled = direct_url is not None and direct_url != url
    queue = build_queue_app(settings, url, registry, transaction_pooler=pooled)
    worker_url = direct_url if direct_url is not None else url
    # How long a stopping worker lets running jobs finish before aborting them; an
    # aborted job is picked up again by another worker's stall sweep, so none is lost.
    grace = settings.shutdown_timeout_seconds
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(queue.open_async())
        worker_queue = queue
        if pooled and settings.worker_in_process:
            worker_queue = build_queue_app(settings, worker_url, registry)
            await stack.enter_async_context(worker_queue.open_async())
        runtime = JobsRuntime(settings, queue, JobRecords(resources.engine), registry)
        # Its listener connects when the first stream opens, not before.
        runtime.events = JobEvents(
            libpq_url(worker_url),
            EventTiming(
                heartbeat_seconds=settings.job_events_heartbeat_seconds,
                max_seconds=settings.job_events_max_seconds,
            ),
        )
        stack.push_async_callback(runtime.events.aclose)
        task: asyncio.Task[None] | None = None
        if settings.worker_in_process:

            async def run_worker(name: str) -> None:
                await worker_queue.run_worker_async(
                    name=name,
                    concurrency=settings.worker_concurrency,
                    additional_context={"resources": resources},
                    # The host process (uvicorn, or `cachefront worker`) owns the signals.
                    install_signal_handlers=False,
                    update_heartbeat_interval=max(0.25, settings.jobs_stall_seconds / 4),
                    stalled_worker_timeout=settings.jobs_stall_seconds,
                    shutdown_graceful_timeout=grace,
                    fetch_job_polling_interval=min(5.0, settings.jobs_stall_seconds),
                )

            runtime.supervisor = WorkerSupervisor(
                run_worker,
                libpq_url(worker_url),
                name=f"{socket.gethostname()}-{os.getpid()}",
                backoff=RestartBackoff(cap=settings.worker_restart_max_seconds),
            )
            task = asyncio.create_task(runtime.supervisor.run(), name="cachefront-job-supervisor")
            log.info(
                "job worker running (concurrency %d)",
                settings.worker_concurrency,
                extra={"action": "jobs.worker_started"},
            )
        try:
            yield runtime
        finally:
            if task is not None:
                task.cancel()
                # A worker whose shutdown waits on a database that is gone must not
                # hold the process's exit forever.
                await asyncio.wait({task}, timeout=grace + _SHUTDOWN_SLACK_SECONDS)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("job supervisor failed", exc_info=task.exception())
