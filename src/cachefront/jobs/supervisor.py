"""Keeps a job worker running: restarts it, with capped and jittered backoff, after it stops.

procrastinate stops its worker when one of the worker's side tasks fails (the LISTEN
listener, the heartbeat, the periodic deferrer: "Side task ... failed ..., stopping
worker"), which is what losing the database does; ``run_worker_async`` then returns,
or raises when even the shutdown could not reach the database. Nothing restarts it,
so without this jobs would stay queued and periodic tasks would never run again.

``WorkerSupervisor.run`` runs the worker until cancelled. When a side task fails (seen
at once in procrastinate's structured log, ``action=side_task_failed``, since the
worker's own shutdown may then wait seconds on the missing database) or the worker
ends, it is marked down (``health``, which ``/ready`` reports), and the supervisor waits
``RestartBackoff.delay(n)``, checks with a connection of its own that the database
answers, and starts a new worker. One warning is logged when an outage starts and
one line when the worker runs again, not one per attempt.

Every job and periodic task runs as the service for row-level security: the worker
runs inside ``acting_as_service``, and the tasks it starts inherit that context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import psycopg

from cachefront.auth.isolation import acting_as_service
from cachefront.db.queries import load_queries

__all__ = [
    "DEFAULT_RESTART_BASE_SECONDS",
    "RestartBackoff",
    "WorkerHealth",
    "WorkerSupervisor",
]

log = logging.getLogger(__name__)
# procrastinate logs each worker's events on a child of this logger named after it.
_PROCRASTINATE_WORKER_LOG = logging.getLogger("procrastinate.worker")

DEFAULT_RESTART_BASE_SECONDS = 0.5
DEFAULT_RESTART_MAX_SECONDS = 30.0
# A restarted worker that has run this long ends the outage (logged, backoff reset).
DEFAULT_STABLE_SECONDS = 5.0
# How long the supervisor's own check of the database may take before it counts as down.
_PROBE_TIMEOUT_SECONDS = 5
_PROBE_SQL = load_queries("cachefront.jobs")["probe"]


@dataclass(frozen=True, slots=True)
class RestartBackoff:
    """Wait before restart attempt ``n`` (1, 2, ...): ``min(cap, base * 2**(n-1))`` times a
    random factor in [0.5, 1), so many workers that lost the same database do not all
    come back in the same instant, and never less than half the step."""

    base: float = DEFAULT_RESTART_BASE_SECONDS
    cap: float = DEFAULT_RESTART_MAX_SECONDS

    def delay(self, attempt: int, jitter: Callable[[], float] = random.random) -> float:
        step: float = min(self.cap, self.base * 2.0 ** min(max(attempt - 1, 0), 32))
        return step * (0.5 + jitter() / 2)


class _SideTaskWatch(logging.Handler):
    """Hears procrastinate's worker ``worker_name`` say a side task failed."""

    def __init__(self, worker_name: str, on_failure: Callable[[str], None]) -> None:
        super().__init__(logging.ERROR)
        self.worker_name = worker_name
        self.on_failure = on_failure

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "side_task_failed" and record.name.endswith(
            f".{self.worker_name}"
        ):
            self.on_failure(str(getattr(record, "task_name", "side")))


@dataclass
class WorkerHealth:
    """Whether the worker runs; ``reason`` says why not."""

    running: bool = False
    reason: str = "the job worker has not started yet"
    down_since: float | None = None


class WorkerSupervisor:
    """Runs ``run_worker`` again and again until cancelled, recording its health."""

    def __init__(
        self,
        run_worker: Callable[[str], Coroutine[Any, Any, None]],
        conninfo: str,
        *,
        name: str,
        backoff: RestartBackoff,
        stable_seconds: float = DEFAULT_STABLE_SECONDS,
    ) -> None:
        """``run_worker(name)`` runs one procrastinate worker called ``name`` to its end."""
        self._run_worker = run_worker
        self.name = name
        self._conninfo = conninfo
        self.backoff = backoff
        self.stable_seconds = stable_seconds
        self.health = WorkerHealth()

    async def _database_answers(self) -> str | None:
        """None when the database takes a new connection and a query; else why not."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo,
                connect_timeout=_PROBE_TIMEOUT_SECONDS,
                application_name="cachefront-jobs-probe",
            ) as conn:
                await conn.execute(_PROBE_SQL)
        except (psycopg.Error, OSError) as exc:
            return f"database unreachable ({type(exc).__name__})"
        return None

    def _down(self, reason: str) -> None:
        self.health.running = False
        self.health.reason = reason
        if self.health.down_since is None:
            self.health.down_since = time.monotonic()
            log.warning(
                "job worker stopped (%s); restarting it with backoff",
                reason,
                extra={"action": "jobs.worker_down", "reason": reason},
            )

    def _stable(self, attempts: int) -> None:
        if self.health.down_since is not None:
            log.info(
                "job worker running again after %.1f s (%d restart attempts)",
                time.monotonic() - self.health.down_since - self.stable_seconds,
                attempts,
                extra={"action": "jobs.worker_recovered", "attempts": attempts},
            )
        self.health.down_since = None

    async def run(self) -> None:
        """Run the worker, and restart it each time it stops, until cancelled."""
        with acting_as_service():
            attempts = 0
            while True:
                if attempts > 0:
                    await asyncio.sleep(self.backoff.delay(attempts))
                    problem = await self._database_answers()
                    if problem is not None:
                        self._down(problem)
                        attempts += 1
                        continue
                self.health.running = True
                self.health.reason = ""
                reason, ran_a_while = await self._run_once(attempts)
                self._down(reason)
                # A worker that ran for a while starts the count again; one that stopped
                # at once (the database half back) keeps backing off.
                attempts = 1 if ran_a_while else attempts + 1

    async def _run_once(self, attempts: int) -> tuple[str, bool]:
        """Run one worker to its end: why it ended, and whether it ran ``stable_seconds``
        first (which ends an outage)."""
        worker: asyncio.Task[None] = asyncio.create_task(
            self._run_worker(self.name), name="cachefront-job-worker"
        )
        watch = _SideTaskWatch(
            self.name, lambda task: self._down(f"the worker stopped: its {task} task failed")
        )
        _PROCRASTINATE_WORKER_LOG.addHandler(watch)
        ran_a_while = False
        try:
            done, _ = await asyncio.wait({worker}, timeout=self.stable_seconds)
            # Still running, and no side task failed meanwhile: the outage is over.
            if not done and self.health.running:
                ran_a_while = True
                self._stable(attempts)
            await worker
            return "the worker stopped: it lost its database connection", ran_a_while
        except asyncio.CancelledError:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
            raise
        except Exception as exc:
            # Whatever the worker died of, the remedy is the same: start anew.
            log.debug("job worker failed", exc_info=exc)
            return f"the worker failed: {type(exc).__name__}", ran_a_while
        finally:
            _PROCRASTINATE_WORKER_LOG.removeHandler(watch)
