"""Periodic-task history and active schedules, read from the job queue's own tables.

A schedule is each periodic task this deployment registers (the rooms', the platform's
upkeep and the queue's own sweeps) with its cron, when it was last deferred and when it
is next due. A task's history is its newest runs still in procrastinate's tables, with
when each started, how long it ran and how it ended: finished queue jobs are removed
after ``CACHEFRONT_JOBS_RETENTION_HOURS``, so the history reaches that far back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

# procrastinate's own dependency, which it computes the same schedules with.
from croniter import croniter  # type: ignore[import-untyped]
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.db.queries import load_queries
from cachefront.jobs.registry import JobRegistry

__all__ = [
    "Schedule",
    "TaskReport",
    "TaskRun",
    "TaskSummary",
    "load_tasks",
    "schedules_of",
]

QUERIES = load_queries("cachefront.observability")
# Runs kept per task in the report: enough for a trend, small enough to read.
RUNS_PER_TASK = 10


@dataclass(frozen=True, slots=True)
class Schedule:
    """A periodic task: its name, its cron (five fields, or six with seconds last) and
    its queue."""

    name: str
    cron: str
    queue: str


def schedules_of(registry: JobRegistry, settings: Settings) -> list[Schedule]:
    """Every periodic task of ``registry`` and the queue's own sweeps, as the queue
    registers them (``jobs/queue.py``)."""
    from cachefront.jobs.queue import (
        PERIODIC_QUEUE,
        REMOVE_OLD_JOBS,
        RETRY_STALLED,
        UPKEEP_QUEUE,
        stall_sweep_cron,
    )

    out = [Schedule(t.name, t.schedule, PERIODIC_QUEUE) for t in registry.periodic.values()]
    out.append(Schedule(RETRY_STALLED, stall_sweep_cron(settings.jobs_stall_seconds), UPKEEP_QUEUE))
    out.append(Schedule(REMOVE_OLD_JOBS, settings.jobs_cleanup_schedule, UPKEEP_QUEUE))
    return out


class TaskRun(BaseModel):
    job_id: int
    # procrastinate's status: todo, doing, succeeded, failed, cancelled, aborted.
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None


class TaskSummary(BaseModel):
    task: str
    queue: str
    cron: str
    last_deferred_at: datetime | None
    next_run_at: datetime
    runs: int
    failed: int
    last_status: str | None
    last_duration_s: float | None
    mean_duration_s: float | None
    history: list[TaskRun]


class TaskReport(BaseModel):
    generated_at: datetime
    # How far back a task's history reaches: finished jobs are removed after this.
    history_hours: int
    tasks: list[TaskSummary]


def _next(cron: str, now: datetime) -> datetime:
    due: datetime = croniter(cron, now).get_next(datetime)
    return due.astimezone(UTC)


def _summary(
    schedule: Schedule, runs: list[TaskRun], deferred: int | None, now: datetime
) -> TaskSummary:
    durations = [r.duration_s for r in runs if r.duration_s is not None]
    last = runs[0] if runs else None
    return TaskSummary(
        task=schedule.name,
        queue=schedule.queue,
        cron=schedule.cron,
        last_deferred_at=None if deferred is None else datetime.fromtimestamp(deferred, UTC),
        next_run_at=_next(schedule.cron, now),
        runs=len(runs),
        failed=sum(1 for r in runs if r.status == "failed"),
        last_status=None if last is None else last.status,
        last_duration_s=None if last is None else last.duration_s,
        mean_duration_s=round(sum(durations) / len(durations), 6) if durations else None,
        history=runs,
    )


async def load_tasks(
    engine: AsyncEngine,
    schedules: Iterable[Schedule],
    *,
    history_hours: int,
    runs: int = RUNS_PER_TASK,
    now: datetime | None = None,
) -> TaskReport:
    """Each schedule with its newest ``runs`` runs, in the order given."""
    at = now or datetime.now(UTC)
    listed = list(schedules)
    names = [s.name for s in listed]
    history: dict[str, list[TaskRun]] = defaultdict(list)
    async with engine.connect() as conn:
        rows = await conn.execute(QUERIES.text("task_runs"), {"names": names, "runs": runs})
        for r in rows.mappings():
            started, finished = r["started_at"], r["finished_at"]
            took = (finished - started).total_seconds() if started and finished else None
            history[str(r["task_name"])].append(
                TaskRun(
                    job_id=r["id"],
                    status=r["status"],
                    attempts=r["attempts"],
                    started_at=started,
                    finished_at=finished,
                    duration_s=None if took is None else round(max(took, 0.0), 6),
                )
            )
        deferred = {
            str(r[0]): None if r[1] is None else int(r[1])
            for r in await conn.execute(QUERIES.text("last_deferred"))
        }
    return TaskReport(
        generated_at=at,
        history_hours=history_hours,
        tasks=[_summary(s, history[s.name], deferred.get(s.name), at) for s in listed],
    )
