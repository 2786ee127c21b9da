"""The daily queue cleanup removes finished jobs older than the retention, and only those,
and the results past their lifetime (their records stay)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from procrastinate import JobContext

from cachefront.auth.isolation import acting_as_service, install_isolation
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.jobs.queue import REMOVE_OLD_JOBS, UPKEEP_QUEUE, build_queue_app
from cachefront.jobs.registry import JobRegistry, JobResources
from cachefront.rooms import RoomServices
from jobs_harness import libpq

FINISHED = ("succeeded", "failed", "cancelled", "aborted")


def _job(conn: psycopg.Connection, status: str, hours_ago: float) -> int:
    """A queue job in ``status`` whose every event happened ``hours_ago``."""
    row = conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
        "VALUES ('user', 'some-task', '{}') RETURNING id"
    ).fetchone()
    assert row is not None
    job_id = int(row[0])
    if status == "doing":
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
    elif status != "todo":
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
        conn.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id))
    conn.execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(secs => %s) WHERE job_id = %s",
        (hours_ago * 3600, job_id),
    )
    return job_id


def _record(conn: psycopg.Connection[Any], expires_in_hours: float) -> uuid.UUID:
    """A succeeded user job whose result expires ``expires_in_hours`` from now."""
    job_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at, "
        "finished_at, result, result_bytes, result_expires_at, result_content_type, "
        "result_filename) VALUES (%s, 'test', 'key:1', '{}', 'succeeded', now(), now(), "
        "now(), 'abc', 3, now() + make_interval(secs => %s), 'text/csv', 'r.csv')",
        (job_id, expires_in_hours * 3600),
    )
    return job_id


async def test_only_finished_jobs_older_than_the_retention_go(
    database_url: str, job_settings: Callable[..., Settings]
) -> None:
    settings = job_settings(jobs_retention_hours=24)
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        old_finished = {status: _job(conn, status, 25) for status in FINISHED}
        recent_finished = {status: _job(conn, status, 23) for status in FINISHED}
        old_waiting = _job(conn, "todo", 100)
        old_running = _job(conn, "doing", 100)
        # The last run of a periodic task (run less often than the retention) is
        # still referenced by procrastinate's periodic bookkeeping.
        old_periodic = _job(conn, "succeeded", 200)
        conn.execute(
            "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id) "
            "VALUES ('some-monthly-task', 1, %s)",
            (old_periodic,),
        )
        expired_result = _record(conn, -1)
        live_result = _record(conn, 1)

    app = build_queue_app(settings, database_url, JobRegistry())
    assert app.tasks[REMOVE_OLD_JOBS].queue == UPKEEP_QUEUE
    # As the worker runs it: the app role, acting as the service.
    engine = create_engine(database_url, pool_size=1)
    install_isolation(engine, settings.db_app_role)
    resources = JobResources(settings, engine, RoomServices())
    try:
        with acting_as_service():
            async with app.open_async():
                context = JobContext(
                    app=app,
                    job=app.tasks[REMOVE_OLD_JOBS].configure().job,
                    start_timestamp=time.time(),
                    abort_reason=lambda: None,
                    additional_context={"resources": resources},
                )
                await app.tasks[REMOVE_OLD_JOBS].func(context, timestamp=int(time.time()))
    finally:
        await engine.dispose()

    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        left = {int(r[0]) for r in conn.execute("SELECT id FROM procrastinate_jobs").fetchall()}
        orphan_events = conn.execute(
            "SELECT count(*) FROM procrastinate_events WHERE job_id <> ALL(%s)", (list(left),)
        ).fetchone()
        defers = conn.execute(
            "SELECT job_id FROM procrastinate_periodic_defers WHERE task_name = 'some-monthly-task'"
        ).fetchall()
        results = dict(
            conn.execute(
                "SELECT id, result IS NOT NULL FROM jobs WHERE id = ANY(%s)",
                ([expired_result, live_result],),
            ).fetchall()
        )
    assert left == {*recent_finished.values(), old_waiting, old_running}
    assert not left & {*old_finished.values(), old_periodic}
    assert orphan_events == (0,)
    # The bookkeeping row stays (it keeps the task from being deferred twice); only
    # its reference to the deleted job is cleared.
    assert defers == [(None,)]
    # The expired result is gone, its record kept (it answers 410); the other stays.
    assert results == {expired_result: False, live_result: True}
