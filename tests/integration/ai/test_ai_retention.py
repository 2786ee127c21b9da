"""Retention of the AI tables against real PostgreSQL: old ledger rows and the steps of
long-finished generations go, in batches; recent rows and running jobs' steps stay; the
room registers the daily task."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.jobs.registry import JobRegistry
from cachefront.services.ai.ledger_writer import LedgerRow, LedgerWriter
from cachefront.services.ai.retention import RETENTION_TASK, delete_in_batches
from cachefront.services.ai.room import ROOM


def _row(owner: str, at: datetime) -> LedgerRow:
    return LedgerRow(owner, at, "p", "m", 1, 1, 1.0, 0.0, 0.0, False, True)


async def _job(engine: AsyncEngine, status: str, finished: datetime | None) -> uuid.UUID:
    job_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at, "
                "finished_at) VALUES (:id, 'ai-generation', 'u', CAST(:params AS jsonb), "
                ":status, :now, :now, :finished)"
            ),
            {
                "id": job_id,
                "params": orjson.dumps({}).decode(),
                "status": status,
                "now": now,
                "finished": finished,
            },
        )
        for step in range(3):
            await conn.execute(
                text(
                    "INSERT INTO ai_generation_steps (job_id, step, input_hash, owner, output) "
                    "VALUES (:id, :step, 'h', 'u', 'out')"
                ),
                {"id": job_id, "step": step},
            )
    return job_id


async def _steps(engine: AsyncEngine, job_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM ai_generation_steps WHERE job_id = :id"), {"id": job_id}
        )
        return int(found.scalar_one())


async def test_old_ledger_rows_go_in_batches_and_recent_ones_stay(engine: AsyncEngine) -> None:
    owner = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    writer = LedgerWriter(engine)
    for days in (200, 120, 95, 91):
        writer.add(_row(owner, now - timedelta(days=days)))
    for days in (89, 1, 0):
        writer.add(_row(owner, now - timedelta(days=days)))
    await writer.flush()
    deleted = await delete_in_batches(engine, "delete_old_usage", now - timedelta(days=90), batch=3)
    assert deleted == 4
    with acting_as_service():
        async with engine.connect() as conn:
            left = await conn.execute(
                text("SELECT count(*) FROM ai_usage WHERE owner = :o"), {"o": owner}
            )
            assert left.scalar_one() == 3


async def test_steps_of_long_finished_generations_go(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    with acting_as_service():
        old = await _job(engine, "succeeded", now - timedelta(days=40))
        cancelled = await _job(engine, "cancelled", now - timedelta(days=31))
        recent = await _job(engine, "failed", now - timedelta(days=2))
        running = await _job(engine, "running", None)
        deleted = await delete_in_batches(
            engine, "delete_old_generation_steps", now - timedelta(days=30), batch=2
        )
        assert deleted == 6
        assert await _steps(engine, old) == 0
        assert await _steps(engine, cancelled) == 0
        assert await _steps(engine, recent) == 3
        assert await _steps(engine, running) == 3


def test_the_room_registers_its_daily_retention(ai_settings: Callable[..., Settings]) -> None:
    registry = JobRegistry()
    ROOM.register_jobs(registry, ai_settings())
    task = registry.periodic[RETENTION_TASK]
    assert task.schedule.split()[2:] == ["*", "*", "*"]
