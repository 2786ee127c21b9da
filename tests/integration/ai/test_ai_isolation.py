"""Row-level security on the AI room's tables fails closed: a query that skips the app's own
owner filter still sees only the caller's rows, and one naming no caller sees none."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Identity, Kind, Role, install_isolation
from cachefront.auth.identity import owner_of
from cachefront.auth.isolation import acting_as, acting_as_service
from cachefront.db.engine import create_engine
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.quota import QuotaGate, QuotaLimits
from cachefront.services.ai.usage import CallUsage

TABLES = ("ai_usage", "ai_quotas", "ai_generation_steps")
# Each table's whole-table queries, written out (no owner filter, on purpose).
OWNERS = {table: text(f"SELECT owner FROM {table}") for table in TABLES}  # noqa: S608
COUNTS = {table: text(f"SELECT count(*) FROM {table}") for table in TABLES}  # noqa: S608


@pytest.fixture
async def app_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    install_isolation(engine, "cachefront_app")
    yield engine
    await engine.dispose()


async def _use(gate: QuotaGate, who: Identity) -> None:
    with acting_as(who):
        held = await gate.reserve(owner_of(who), "primary", "sim-small", 10)
        await gate.settle(held, CallUsage(3, 4, 1.0, True))
        async with gate.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO ai_generation_steps (job_id, step, input_hash, owner, output) "
                    "VALUES (:job, 0, 'h', :owner, 'out')"
                ),
                {"job": uuid.uuid4(), "owner": owner_of(who)},
            )


async def test_the_policy_refuses_rows_of_others_without_the_owner_filter(
    app_engine: AsyncEngine,
) -> None:
    gate = QuotaGate(app_engine, QuotaLimits(daily_tokens=1000), PriceTable({}))
    alice = Identity(f"alice-{uuid.uuid4().hex[:6]}", Role.USER, Kind.JWT)
    bob = Identity(f"bob-{uuid.uuid4().hex[:6]}", Role.USER, Kind.JWT)
    await _use(gate, alice)
    await _use(gate, bob)
    await gate.ledger.flush()
    with acting_as(alice):
        async with app_engine.connect() as conn:
            assert (
                await conn.execute(text("SELECT current_user"))
            ).scalar_one() == "cachefront_app"
            for table in TABLES:
                owners = set((await conn.execute(OWNERS[table])).scalars())
                assert owners == {owner_of(alice)}, table
        async with app_engine.begin() as conn:
            changed = await conn.execute(
                text("UPDATE ai_quotas SET day_tokens = 0 WHERE owner = :o"), {"o": owner_of(bob)}
            )
            assert changed.rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            async with app_engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO ai_usage (owner, provider, model, prompt_tokens, "
                        "completion_tokens, latency_ms, cost_usd, saved_usd, cached, ok) "
                        "VALUES (:o, 'p', 'm', 0, 0, 0, 0, 0, false, true)"
                    ),
                    {"o": owner_of(bob)},
                )
    # No identity at all: nobody, not the service.
    async with app_engine.connect() as conn:
        for table in TABLES:
            assert (await conn.execute(COUNTS[table])).scalar_one() == 0
    with acting_as_service():
        async with app_engine.connect() as conn:
            owners = set((await conn.execute(text("SELECT owner FROM ai_usage"))).scalars())
    assert {owner_of(alice), owner_of(bob)} <= owners
