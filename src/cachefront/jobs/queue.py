"""The procrastinate app: one PostgreSQL queue for user jobs, periodic tasks and upkeep.

Every task is registered here from the job registry, so the API process (which only
defers) and worker processes (which run) build the same app from the same settings.

Periodic tasks are deferred by every worker's periodic deferrer, but procrastinate
inserts each (task, period) through a unique row in ``procrastinate_periodic_defers``:
whichever worker comes first defers it, the others' inserts do nothing. Each periodic
task also has a ``lock`` (never two runs at once) and a ``queueing_lock`` (never two
waiting), so a slow run cannot pile up behind itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from procrastinate import (
    App,
    JobContext,
    PsycopgConnector,
    RetryDecision,
    RetryStrategy,
    builtin_tasks,
)
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Job, Status
from sqlalchemy.engine import make_url

from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.errors import CachefrontError, UpstreamError
from cachefront.jobs.records import JobRecords
from cachefront.jobs.registry import (
    CurrentJob,
    JobRegistry,
    JobResources,
    JobStopped,
    PeriodicTask,
    current_job,
)
from cachefront.jobs.storage import ResultLimits, ResultRejectedError

__all__ = [
    "PERIODIC_QUEUE",
    "REMOVE_OLD_JOBS",
    "RUN_USER_JOB",
    "UPKEEP_QUEUE",
    "USER_QUEUE",
    "build_queue_app",
    "job_error",
    "libpq_url",
    "resources_of",
    "stall_sweep_cron",
]

log = logging.getLogger(__name__)

USER_QUEUE = "user"
PERIODIC_QUEUE = "periodic"
UPKEEP_QUEUE = "upkeep"
RUN_USER_JOB = "run-user-job"
RETRY_STALLED = "retry-stalled-jobs"
REMOVE_OLD_JOBS = "remove-old-jobs"

# Cleared before procrastinate removes old jobs: see jobs/sql/queries.sql.
_DETACH_OLD_PERIODIC_JOBS = load_queries("cachefront.jobs")["detach_old_periodic_jobs"]

QUEUE_CONNECTION_TIMEOUT_SECONDS = 5.0

# procrastinate runs the highest priority first: upkeep is tiny and unblocks the rest,
# user jobs come before background precomputation.
PRIORITY_UPKEEP = 100
PRIORITY_USER = 10
PRIORITY_PERIODIC = 0


def libpq_url(url: str) -> str:
    """``url`` as psycopg takes it: no SQLAlchemy driver suffix, query params kept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def stall_sweep_cron(stall_seconds: float) -> str:
    """A cron (with seconds) sweeping for stalled jobs twice per stall timeout, at most
    once a minute apart and at least once a second apart."""
    every = min(60, max(1, math.floor(stall_seconds / 2)))
    return "* * * * *" if every == 60 else f"* * * * * */{every}"


def job_error(exc: Exception) -> str:
    """What a job's ``error`` says: our own errors' messages, never internal class names."""
    if isinstance(exc, CachefrontError):
        return str(exc)
    log.error("job failed unexpectedly", exc_info=exc, extra={"action": "jobs.unexpected"})
    return "the job failed unexpectedly; it can be retried (the server log has the cause)"


def resources_of(context: JobContext) -> JobResources:
    """The resources the worker was started with (``additional_context``)."""
    resources = context.additional_context.get("resources")
    if not isinstance(resources, JobResources):
        raise RuntimeError("the job worker was started without JobResources")
    return resources


class TransientRetry(RetryStrategy):
    """procrastinate's strategy, plus: a job cancelled by its worker's shutdown goes back to
    the queue at once.

    A stopping worker lets running jobs finish for the shutdown timeout, then cancels
    them; procrastinate would mark such a job aborted for good (a cancellation is no
    exception the strategy retries), and nothing would ever run it again. It is not the
    job's fault, so it is queued again whatever its attempts, for another worker.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0})
        return super().get_retry_decision(exception=exception, job=job)


def transient_retry(settings: Settings) -> RetryStrategy:
    """Retry upstream failures with waits of base**1, base**2, ... seconds, and hand back
    jobs a worker's shutdown cancelled."""
    return TransientRetry(
        max_attempts=settings.jobs_max_attempts,
        exponential_wait=settings.jobs_retry_base_seconds,
        retry_exceptions={UpstreamError},
    )


def build_queue_app(
    settings: Settings, url: str, registry: JobRegistry, *, transaction_pooler: bool = False
) -> App:
    """A procrastinate app over ``url`` with every task of ``registry`` registered.

    ``transaction_pooler``: ``url`` is a transaction pooler, where a statement prepared
    in one transaction is gone in the next; psycopg then never prepares.
    """
    kwargs: dict[str, Any] = {"application_name": "cachefront-jobs"}
    if transaction_pooler:
        kwargs["prepare_threshold"] = None
    connector = PsycopgConnector(
        conninfo=libpq_url(url),
        kwargs=kwargs,
        min_size=1,
        max_size=max(2, settings.worker_concurrency + 2),
        # How long a query waits for a connection: while the database is away, the
        # worker's shutdown and a submission's deferral give up after this, not after
        # the pool's default 30 s, so the worker is restarted (and 503 answered) sooner.
        timeout=QUEUE_CONNECTION_TIMEOUT_SECONDS,
    )
    app = App(connector=connector)
    retry = transient_retry(settings)

    async def run_user_job(context: JobContext, job_id: str) -> None:
        resources = resources_of(context)
        records = JobRecords(resources.engine)
        record = await records.start(uuid.UUID(job_id))
        if record is None:
            log.info("job %s was cancelled or has finished; skipping", job_id)
            return
        job_type = registry.job_type(record.type)
        params = job_type.params.model_validate(record.params)

        async def progress(share: float) -> None:
            await records.set_progress(record.id, share)

        token = current_job.set(CurrentJob(record.id, record.owner))
        try:
            result = await job_type.run(resources, params, progress)
        except JobStopped as exc:
            # Asked to stop and stopped: done with, as the queue sees it; cancelled.
            await records.stop(record.id, str(exc))
            return
        except Exception as exc:
            # Keep the error on the record either way; the queue decides about retrying.
            error = job_error(exc)
            if retry.get_retry_decision(exception=exc, job=context.job) is None:
                await records.fail(record.id, error)
            else:
                await records.wait_for_retry(record.id, error)
            raise
        finally:
            current_job.reset(token)
        try:
            await records.succeed(record.id, result, ResultLimits.from_settings(settings))
        except ResultRejectedError as exc:
            # Final: the same job would make the same result again.
            log.info("job %s failed: %s", job_id, exc, extra={"action": "jobs.result_rejected"})
            await records.fail(record.id, str(exc))

    app.task(
        name=RUN_USER_JOB,
        queue=USER_QUEUE,
        priority=PRIORITY_USER,
        pass_context=True,
        retry=retry,
    )(run_user_job)

    for periodic in registry.periodic.values():
        _register_periodic(app, periodic, retry)

    stall_seconds = settings.jobs_stall_seconds

    async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
        # Jobs in "doing" whose worker stopped sending heartbeats (killed, frozen, lost
        # its connection) go back to "todo"; procrastinate's retry only touches jobs
        # still in "doing", so a job another sweep already requeued is left alone.
        manager = context.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stall_seconds)
        for job in stalled:
            log.warning(
                "requeueing stalled job %s (%s)",
                job.id,
                job.task_name,
                extra={"action": "jobs.stalled_requeued"},
            )
            try:
                await manager.retry_job(job)
            except UniqueViolation:
                # A newer run of the same periodic task is already waiting under the
                # queueing lock, so this one cannot go back to "todo". Left in "doing"
                # it would hold the task's lock and keep every later run from starting:
                # it is superseded, so it fails.
                assert job.id is not None
                log.warning(
                    "stalled job %s (%s) superseded by a waiting run; marked failed",
                    job.id,
                    job.task_name,
                    extra={"action": "jobs.stalled_superseded"},
                )
                await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)

    _schedule(
        app,
        retry_stalled_jobs,
        name=RETRY_STALLED,
        cron=stall_sweep_cron(stall_seconds),
        queue=UPKEEP_QUEUE,
        priority=PRIORITY_UPKEEP,
    )

    retention_hours = settings.jobs_retention_hours

    async def remove_old_jobs(context: JobContext, timestamp: int) -> None:
        # Every finished queue job goes, failed and cancelled too: user jobs keep their
        # outcome in the ``jobs`` table, and the stall sweep alone adds thousands of
        # queue rows a day, so the table would otherwise grow without bound.
        # Results past their lifetime go too; their records stay and answer 410.
        expired = await JobRecords(resources_of(context).engine).expire_results(
            batch_rows=settings.cleanup_batch_rows
        )
        if expired:
            log.info(
                "removed %d expired job results",
                expired,
                extra={"action": "jobs.results_expired", "results": expired},
            )
        await context.app.connector.execute_query_async(
            _DETACH_OLD_PERIODIC_JOBS, hours=retention_hours
        )
        await builtin_tasks.remove_old_jobs(
            context,
            max_hours=retention_hours,
            remove_failed=True,
            remove_cancelled=True,
            remove_aborted=True,
        )

    _schedule(
        app,
        remove_old_jobs,
        name=REMOVE_OLD_JOBS,
        cron=settings.jobs_cleanup_schedule,
        queue=UPKEEP_QUEUE,
        priority=PRIORITY_UPKEEP,
    )
    return app


def _register_periodic(app: App, periodic: PeriodicTask, retry: RetryStrategy) -> None:
    async def run(context: JobContext, timestamp: int) -> dict[str, Any]:
        at = datetime.fromtimestamp(timestamp, UTC)
        outcome = dict(await periodic.run(resources_of(context), at))
        log.info(
            "periodic task %s done: %s",
            periodic.name,
            outcome,
            extra={"action": f"jobs.{periodic.name}", "outcome": outcome},
        )
        return outcome

    run.__name__ = periodic.name.replace("-", "_")
    _schedule(
        app,
        run,
        name=periodic.name,
        cron=periodic.schedule,
        queue=PERIODIC_QUEUE,
        priority=PRIORITY_PERIODIC,
        retry=retry,
    )


def _schedule(
    app: App,
    function: Callable[..., Awaitable[Any]],
    *,
    name: str,
    cron: str,
    queue: str,
    priority: int,
    retry: RetryStrategy | None = None,
) -> None:
    """Register ``function`` as periodic task ``name``, deferred once per period.

    ``lock`` keeps two runs from overlapping and ``queueing_lock`` keeps a second one
    from waiting behind a slow run, so a periodic task never piles up.
    """
    options: dict[str, Any] = {"retry": retry} if retry is not None else {}
    app.periodic(cron=cron, periodic_id="")(
        app.task(
            name=name,
            queue=queue,
            priority=priority,
            pass_context=True,
            lock=name,
            queueing_lock=name,
            **options,
        )(function)
    )
