"""The job records manager: every query on the ``jobs`` table, owner-scoped when asked."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from cachefront.db.queries import load_queries
from cachefront.jobs.events import CHANNEL as EVENTS_CHANNEL
from cachefront.jobs.registry import JobResult
from cachefront.jobs.status import MOVES, JobStatus, Move
from cachefront.jobs.storage import ResultLimits
from cachefront.jobs.tables import jobs

__all__ = ["JobRecord", "JobRecords", "StoredResult"]

_QUERIES = load_queries("cachefront.jobs")
# One owner's result writes, one at a time (see jobs/sql/queries.sql).
_LOCK_OWNER_SQL = _QUERIES["lock_owner"]
# Wakes the job's event streams once the transaction that changed it commits.
_NOTIFY_SQL = _QUERIES.text("notify_job_change")

# Everything but the result bytes, which only the download reads.
_COLUMNS = [column for column in jobs.c if column.name != "result"]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of ``jobs``, without the result bytes."""

    id: uuid.UUID
    type: str
    owner: str | None
    params: dict[str, Any]
    status: JobStatus
    progress: float
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_content_type: str | None
    result_filename: str | None
    result_bytes: int | None
    result_expires_at: datetime | None
    summary: dict[str, Any] | None
    error: str | None
    idempotency_key: str | None
    queue_job_id: int | None

    @classmethod
    def from_row(cls, row: RowMapping) -> JobRecord:
        values = dict(row)
        values["status"] = JobStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StoredResult:
    """What a download needs to know before reading the result's bytes in slices."""

    job_id: uuid.UUID
    size: int
    content_type: str
    filename: str
    # Identifies this result: a job run again writes another, and a download that
    # finds another under way stops rather than mixing the two.
    finished_at: datetime
    expires_at: datetime | None
    present: bool

    def expired(self, now: datetime) -> bool:
        return not self.present or (self.expires_at is not None and self.expires_at <= now)


def _status_in(statuses: frozenset[JobStatus]) -> ColumnElement[bool]:
    # Sorted: the same move always renders the same SQL (one cached statement).
    return jobs.c.status.in_(sorted(s.value for s in statuses))


def _now() -> datetime:
    return datetime.now(UTC)


async def _announce(conn: AsyncConnection, job_id: uuid.UUID) -> None:
    """Tell the event streams that ``job_id`` changed, at the commit of ``conn``'s
    transaction (jobs/events.py)."""
    await conn.execute(_NOTIFY_SQL, {"channel": EVENTS_CHANNEL, "job_id": str(job_id)})


class JobRecords:
    """Domain operations on job records; ``owner=None`` means unscoped (no auth yet)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @staticmethod
    def _scoped(query: Select[Any], job_id: uuid.UUID, owner: str | None) -> Select[Any]:
        query = query.where(jobs.c.id == job_id)
        return query if owner is None else query.where(jobs.c.owner == owner)

    async def create(
        self,
        job_type: str,
        params: Mapping[str, Any],
        *,
        owner: str | None,
        idempotency_key: str | None,
    ) -> tuple[JobRecord, bool]:
        """Insert a queued job; with an idempotency key seen before, return that job."""
        now = _now()
        statement = (
            insert(jobs)
            .values(
                id=uuid.uuid4(),
                type=job_type,
                owner=owner,
                params=dict(params),
                status=JobStatus.QUEUED.value,
                created_at=now,
                updated_at=now,
                idempotency_key=idempotency_key,
            )
            .on_conflict_do_nothing(
                index_elements=[jobs.c.owner, jobs.c.idempotency_key],
                index_where=jobs.c.idempotency_key.is_not(None),
            )
            .returning(*_COLUMNS)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
            if row is not None:
                return JobRecord.from_row(row), True
            existing = select(*_COLUMNS).where(
                jobs.c.idempotency_key == idempotency_key,
                jobs.c.owner.is_(None) if owner is None else jobs.c.owner == owner,
            )
            found = (await conn.execute(existing)).mappings().one()
            return JobRecord.from_row(found), False

    async def get(self, job_id: uuid.UUID, owner: str | None = None) -> JobRecord | None:
        async with self.engine.connect() as conn:
            query = self._scoped(select(*_COLUMNS), job_id, owner)
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else JobRecord.from_row(row)

    async def recent(
        self,
        owner: str | None = None,
        *,
        status: JobStatus | None = None,
        limit: int = 50,
    ) -> Sequence[JobRecord]:
        query = select(*_COLUMNS).order_by(jobs.c.created_at.desc()).limit(limit)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [JobRecord.from_row(row) for row in rows]

    async def by_idempotency_key(self, owner: str, key: str) -> JobRecord | None:
        query = select(*_COLUMNS).where(jobs.c.owner == owner, jobs.c.idempotency_key == key)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else JobRecord.from_row(row)

    async def stored_bytes(self, owner: str, connection: AsyncConnection | None = None) -> int:
        """Bytes of ``owner``'s results that have not expired (what its quota counts);
        on ``connection`` when given, to count inside the transaction that writes."""
        query = select(func.coalesce(func.sum(jobs.c.result_bytes), 0)).where(
            jobs.c.owner == owner,
            jobs.c.result.is_not(None),
            jobs.c.result_expires_at > func.now(),
        )
        if connection is not None:
            return int((await connection.execute(query)).scalar_one())
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def result(self, job_id: uuid.UUID, owner: str | None = None) -> StoredResult | None:
        """The stored result's description, without its bytes; None when there is none."""
        query = self._scoped(
            select(
                jobs.c.id,
                func.coalesce(jobs.c.result_bytes, func.octet_length(jobs.c.result)).label("size"),
                jobs.c.result_content_type,
                jobs.c.result_filename,
                jobs.c.finished_at,
                jobs.c.result_expires_at,
                jobs.c.result.is_not(None).label("present"),
            ),
            job_id,
            owner,
        ).where(jobs.c.status == JobStatus.SUCCEEDED.value, jobs.c.result_filename.is_not(None))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredResult(
            job_id=row.id,
            size=int(row.size or 0),
            content_type=row.result_content_type,
            filename=row.result_filename,
            finished_at=row.finished_at,
            expires_at=row.result_expires_at,
            present=bool(row.present),
        )

    async def result_slice(self, stored: StoredResult, offset: int, length: int) -> bytes | None:
        """``length`` bytes of the result from ``offset``; None once it changed or went.

        ``substring`` of a value stored out of line and uncompressed reads only the
        TOAST chunks it needs, so the server never holds the whole result either.
        """
        query = select(func.substring(jobs.c.result, literal(offset + 1), literal(length))).where(
            jobs.c.id == stored.job_id,
            jobs.c.finished_at == stored.finished_at,
            jobs.c.result.is_not(None),
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else bytes(row[0])

    async def expire_results(self, *, batch_rows: int) -> int:
        """Remove results past their expiry, ``batch_rows`` per transaction; how many."""
        total = 0
        while True:
            due = (
                select(jobs.c.id)
                .where(jobs.c.result.is_not(None), jobs.c.result_expires_at <= func.now())
                .limit(batch_rows)
                .scalar_subquery()
            )
            async with self.engine.begin() as conn:
                done = (
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_(due))
                        .values(result=None, updated_at=_now())
                    )
                ).rowcount
            total += done
            if done < batch_rows:
                return total

    async def _move(self, job_id: uuid.UUID, move: Move, **values: Any) -> JobRecord | None:
        """Make ``move`` if the job's status is one of its sources; None when it was not."""
        transition = MOVES[move]
        statement = (
            update(jobs)
            .where(and_(jobs.c.id == job_id, _status_in(transition.sources)))
            .values(updated_at=_now(), status=transition.target.value, **values)
            .returning(*_COLUMNS)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
            if row is not None:
                await _announce(conn, job_id)
        return None if row is None else JobRecord.from_row(row)

    async def set_queue_job_id(self, job_id: uuid.UUID, queue_job_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(jobs).where(jobs.c.id == job_id).values(queue_job_id=queue_job_id)
            )

    async def start(self, job_id: uuid.UUID) -> JobRecord | None:
        """Mark the job running; None when it was cancelled or has already finished."""
        now = _now()
        return await self._move(
            job_id,
            Move.START,
            started_at=func.coalesce(jobs.c.started_at, now),
            attempts=jobs.c.attempts + 1,
        )

    async def set_progress(self, job_id: uuid.UUID, progress: float) -> None:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(progress=min(max(progress, 0.0), 1.0), updated_at=_now())
            )
            if done.rowcount:
                await _announce(conn, job_id)

    async def succeed(
        self, job_id: uuid.UUID, result: JobResult, limits: ResultLimits
    ) -> JobRecord | None:
        """Store the result and mark the job succeeded; ``ResultRejectedError`` when the
        result is too large or its owner's quota has no room for it."""
        size = len(result.content)
        now = _now()
        async with self.engine.begin() as conn:
            owner = (
                await conn.execute(select(jobs.c.owner).where(jobs.c.id == job_id))
            ).scalar_one_or_none()
            if owner is None:
                return None
            await conn.exec_driver_sql(_LOCK_OWNER_SQL, {"owner": owner})
            limits.check_result(size, await self.stored_bytes(owner, conn))
            succeed = MOVES[Move.SUCCEED]
            statement = (
                update(jobs)
                .where(jobs.c.id == job_id, _status_in(succeed.sources))
                .values(
                    updated_at=now,
                    status=succeed.target.value,
                    progress=1.0,
                    finished_at=now,
                    result=result.content,
                    result_bytes=size,
                    result_expires_at=limits.expires_at(now),
                    result_content_type=result.content_type,
                    result_filename=result.filename,
                    summary=dict(result.summary),
                    error=None,
                )
                .returning(*_COLUMNS)
            )
            row = (await conn.execute(statement)).mappings().first()
            if row is not None:
                await _announce(conn, job_id)
        return None if row is None else JobRecord.from_row(row)

    async def fail(self, job_id: uuid.UUID, error: str) -> JobRecord | None:
        return await self._move(
            job_id,
            Move.FAIL,
            finished_at=_now(),
            error=error,
        )

    async def wait_for_retry(self, job_id: uuid.UUID, error: str) -> JobRecord | None:
        """A transient failure: back to queued until the queue's retry runs it again."""
        return await self._move(job_id, Move.WAIT_FOR_RETRY, error=error)

    async def cancel(self, job_id: uuid.UUID) -> JobRecord | None:
        return await self._move(job_id, Move.CANCEL, finished_at=_now())

    async def stop(self, job_id: uuid.UUID, reason: str) -> JobRecord | None:
        """A running job that ended itself as asked: cancelled, ``reason`` as its error."""
        return await self._move(job_id, Move.STOP, finished_at=_now(), error=reason)

    async def requeue(self, job_id: uuid.UUID) -> JobRecord | None:
        """A failed or cancelled job, queued again from the start (its last error kept)."""
        return await self._move(
            job_id,
            Move.REQUEUE,
            progress=0.0,
            finished_at=None,
        )
