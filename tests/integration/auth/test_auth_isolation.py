"""API keys and row-level security against the real PostgreSQL, as the app role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Identity, KeyManager, Kind, Role, as_identity, install_isolation
from cachefront.auth.identity import current_identity, owner_of
from cachefront.auth.isolation import acting_as, acting_as_service
from cachefront.db.engine import create_engine
from cachefront.errors import NotFoundError
from cachefront.jobs.records import JobRecords


@pytest.fixture
async def app_engine(database_url: str) -> AsyncEngine:
    engine = create_engine(database_url, pool_size=2)
    install_isolation(engine, "cachefront_app")
    yield engine  # type: ignore[misc]
    await engine.dispose()


async def test_key_lifecycle_create_verify_list_revoke(app_engine: AsyncEngine) -> None:
    manager = KeyManager(app_engine)
    key, record = await manager.create(f"test-{uuid.uuid4().hex[:6]}", Role.USER)
    assert key.startswith(f"cf_{record.prefix}_")
    identity = await manager.verify(key)
    assert identity == Identity(str(record.id), Role.USER, Kind.KEY)
    assert owner_of(identity) == f"key:{record.id}"
    listed = {k.prefix: k for k in await manager.list()}
    assert listed[record.prefix].last_used_at is not None
    # The database holds only the hash.
    async with app_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalars().all()
    assert key not in stored
    assert all(len(h) == 64 for h in stored)
    await manager.revoke(record.prefix)
    assert await manager.verify(key) is None
    assert await manager.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    with pytest.raises(NotFoundError):
        await manager.revoke(record.prefix)


async def _insert_job(engine: AsyncEngine, owner: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO jobs (id, type, owner, params, status, created_at, updated_at) "
                "VALUES (:id, 'test', :owner, '{}'::jsonb, 'queued', :now, :now)"
            ),
            {"id": job_id, "owner": owner, "now": now},
        )
    return job_id


async def test_rls_refuses_other_users_rows_even_without_the_owner_filter(
    app_engine: AsyncEngine,
) -> None:
    alice = Identity(f"alice-{uuid.uuid4().hex[:6]}", Role.USER, Kind.JWT)
    bob = Identity(f"bob-{uuid.uuid4().hex[:6]}", Role.USER, Kind.JWT)
    with acting_as_service():
        await _insert_job(app_engine, owner_of(alice))
        bob_job = await _insert_job(app_engine, owner_of(bob))
    async with app_engine.begin() as conn:
        who = (await conn.execute(text("SELECT current_user"))).scalar_one()
        assert who == "cachefront_app"
        await as_identity(conn, alice)
        owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
        assert owners == {owner_of(alice)}
        updated = await conn.execute(
            text("UPDATE jobs SET status = 'cancelled' WHERE id = :id"), {"id": bob_job}
        )
        assert updated.rowcount == 0
        deleted = await conn.execute(text("DELETE FROM jobs WHERE id = :id"), {"id": bob_job})
        assert deleted.rowcount == 0
    # A request's identity in the context is applied to each transaction by itself,
    # and the records' own unscoped query (owner filter skipped) sees only its rows.
    with acting_as(bob):
        async with app_engine.connect() as conn:
            owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
        assert owners == {owner_of(bob)}
        unfiltered = await JobRecords(app_engine).recent(None, limit=500)
        assert {record.owner for record in unfiltered} == {owner_of(bob)}
    with acting_as_service():
        async with app_engine.connect() as conn:
            owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
    assert {owner_of(alice), owner_of(bob)} <= owners


async def test_outside_a_request_the_app_role_sees_and_writes_no_job(
    app_engine: AsyncEngine,
) -> None:
    # Isolation fails closed: a transaction that names no identity (work outside a
    # request that forgot to act as the service) is nobody, not the service.
    with acting_as_service():
        job = await _insert_job(app_engine, f"key:{uuid.uuid4().int % 10**6}")
    assert current_identity.get() is None
    async with app_engine.begin() as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == "cachefront_app"
        assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one() == 0
        updated = await conn.execute(
            text("UPDATE jobs SET status = 'cancelled' WHERE id = :id"), {"id": job}
        )
        assert updated.rowcount == 0
    assert await JobRecords(app_engine).recent(None) == []
    assert await JobRecords(app_engine).get(job) is None
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="row-level security"):
        await _insert_job(app_engine, "service")
    # An empty user id (what a setting reads as once an earlier transaction set and
    # reset it) matches no row, not even one whose owner is empty.
    with acting_as_service():
        await _insert_job(app_engine, "")
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('cachefront.user_id', '', true)"))
        assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one() == 0


async def test_rls_refuses_inserting_rows_for_someone_else(app_engine: AsyncEngine) -> None:
    from sqlalchemy.exc import DBAPIError

    with (
        acting_as(Identity("mallory", Role.USER, Kind.JWT)),
        pytest.raises(DBAPIError, match="row-level security"),
    ):
        await _insert_job(app_engine, "victim")
