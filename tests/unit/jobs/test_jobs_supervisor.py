"""The worker supervisor's state machine, with a scripted worker and database check."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cachefront.auth.identity import Role, current_identity
from cachefront.jobs.supervisor import RestartBackoff, WorkerSupervisor


class _Heard(logging.Handler):
    """Sets ``event`` when a record with ``action`` is logged."""

    def __init__(self, action: str) -> None:
        super().__init__(logging.DEBUG)
        self.action = action
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == self.action:
            self.event.set()


async def test_an_outage_is_logged_once_and_the_worker_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cachefront.jobs.supervisor")
    outage = asyncio.Event()
    started = asyncio.Event()
    recovered = _Heard("jobs.worker_recovered")
    logging.getLogger("cachefront.jobs.supervisor").addHandler(recovered)
    starts: list[str] = []
    roles: list[Role | None] = []

    async def run_worker(name: str) -> None:
        starts.append(name)
        identity = current_identity.get()
        roles.append(identity.role if identity else None)
        started.set()
        if len(starts) == 1:
            await outage.wait()  # runs well, until the database goes
            return
        if len(starts) == 2:
            raise ConnectionError("database half back")  # stops at once
        await asyncio.Event().wait()  # runs until cancelled

    supervisor = WorkerSupervisor(
        run_worker,
        "postgresql://unused",
        name="w1",
        backoff=RestartBackoff(base=0.001, cap=0.001),
        stable_seconds=0.01,
    )
    answers = iter(["database unreachable (OperationalError)", None, None])

    async def database_answers() -> str | None:
        return next(answers)

    supervisor._database_answers = database_answers  # type: ignore[method-assign]
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(started.wait(), timeout=30)
        outage.set()
        await asyncio.wait_for(recovered.event.wait(), timeout=30)
    finally:
        logging.getLogger("cachefront.jobs.supervisor").removeHandler(recovered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert starts == ["w1", "w1", "w1"]
    assert supervisor.health.running
    # Every worker runs as the service, for row-level security.
    assert roles == [Role.SERVICE] * 3
    actions = [getattr(record, "action", None) for record in caplog.records]
    assert actions.count("jobs.worker_down") == 1
    assert actions.count("jobs.worker_recovered") == 1
    recovered = next(
        r for r in caplog.records if getattr(r, "action", None) == "jobs.worker_recovered"
    )
    assert getattr(recovered, "attempts", None) == 3
