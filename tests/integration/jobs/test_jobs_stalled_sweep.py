"""The stall sweep against a real queue: stalled jobs go back to "todo", or fail when superseded."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from procrastinate import JobContext

from cachefront.auth.isolation import acting_as_service, install_isolation
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.jobs.queue import RETRY_STALLED, build_queue_app
from cachefront.jobs.registry import JobRegistry, JobResources
from cachefront.rooms import RoomServices
from jobs_harness import libpq


def _queued(conn: psycopg.Connection, task: str, status: str) -> int:
    """A queue job of periodic ``task`` (its lock and queueing lock), left in ``status``.

    No worker owns it, which is how a job whose worker died mid-run looks to the sweep.
    """
    row = conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args) "
        "VALUES ('periodic', %s, %s, %s, '{}') RETURNING id",
        (task, task, task),
    ).fetchone()
    assert row is not None
    job_id = int(row[0])
    if status == "doing":
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
    return job_id


def _status(conn: psycopg.Connection, job_id: int) -> str:
    row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


async def _sweep(database_url: str, settings: Settings) -> None:
    app = build_queue_app(settings, database_url, JobRegistry())
    engine = create_engine(database_url, pool_size=1)
    install_isolation(engine, settings.db_app_role)
    resources = JobResources(settings, engine, RoomServices())
    try:
        with acting_as_service():
            async with app.open_async():
                context = JobContext(
                    app=app,
                    job=app.tasks[RETRY_STALLED].configure().job,
                    start_timestamp=time.time(),
                    abort_reason=lambda: None,
                    additional_context={"resources": resources},
                )
                await app.tasks[RETRY_STALLED].func(context, timestamp=int(time.time()))
    finally:
        await engine.dispose()


async def test_a_stalled_run_goes_back_to_todo_when_nothing_waits(
    database_url: str, job_settings: Callable[..., Settings]
) -> None:
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        stalled = _queued(conn, "sweep-test-alone", "doing")
    await _sweep(database_url, job_settings())
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        assert _status(conn, stalled) == "todo"


async def test_a_stalled_run_superseded_by_a_waiting_one_fails_and_frees_the_lock(
    database_url: str, job_settings: Callable[..., Settings]
) -> None:
    # A periodic run whose finish was lost in a database outage stays in "doing"; the
    # next run of the task is waiting under the queueing lock it held. Requeueing the
    # stalled one would break that lock's uniqueness, and leaving it would hold the
    # task's lock forever: no run of the task would start again.
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        stalled = _queued(conn, "sweep-test-superseded", "doing")
        waiting = _queued(conn, "sweep-test-superseded", "todo")
        other = _queued(conn, "sweep-test-other", "doing")
    await _sweep(database_url, job_settings())
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        assert _status(conn, stalled) == "failed"
        assert _status(conn, waiting) == "todo"
        assert _status(conn, other) == "todo"  # the sweep went on past the conflict
