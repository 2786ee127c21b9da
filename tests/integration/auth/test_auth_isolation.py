"""API keys and row-level security against the real PostgreSQL, as the app role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Identity, KeyManager, Kind, Role, as_identity, install_isolation
from cachefront.auth.identity import current_identity
from cachefront.db.engine import create_engine
from cachefront.errors import NotFoundError


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
    assert identity == Identity(f"key-{record.id}", Role.USER, Kind.KEY)
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
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    await _insert_job(app_engine, alice)  # no identity in context: the service role
    bob_job = await _insert_job(app_engine, bob)
    async with app_engine.begin() as conn:
        who = (await conn.execute(text("SELECT current_user"))).scalar_one()
        assert who == "cachefront_app"
        await as_identity(conn, Identity(alice, Role.USER, Kind.JWT))
        owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
        assert owners == {alice}
        updated = await conn.execute(
            text("UPDATE jobs SET status = 'cancelled' WHERE id = :id"), {"id": bob_job}
        )
        assert updated.rowcount == 0
        deleted = await conn.execute(text("DELETE FROM jobs WHERE id = :id"), {"id": bob_job})
        assert deleted.rowcount == 0
    # A request's identity in the context is applied to each transaction by itself.
    token = current_identity.set(Identity(bob, Role.USER, Kind.JWT))
    try:
        async with app_engine.connect() as conn:
            owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
        assert owners == {bob}
    finally:
        current_identity.reset(token)
    async with app_engine.begin() as conn:
        await as_identity(conn, Identity("service", Role.SERVICE, Kind.KEY))
        owners = set((await conn.execute(text("SELECT owner FROM jobs"))).scalars())
        assert {alice, bob} <= owners


async def test_rls_refuses_inserting_rows_for_someone_else(app_engine: AsyncEngine) -> None:
    from sqlalchemy.exc import DBAPIError

    token = current_identity.set(Identity("mallory", Role.USER, Kind.JWT))
    try:
        with pytest.raises(DBAPIError, match="row-level security"):
            await _insert_job(app_engine, "victim")
    finally:
        current_identity.reset(token)
