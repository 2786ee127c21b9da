"""The PostgreSQL quota counters against the real server: each hold and settle one statement
in autocommit, admitting up to the limit across engines, with row-level security refusing
a hold of another caller's row, whether the role is the session's or taken per statement."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import Identity, Kind, Role, install_isolation
from cachefront.auth.identity import owner_of
from cachefront.auth.isolation import SETS_OWN_IDENTITY, acting_as, acting_as_service
from cachefront.db.engine import create_engine
from cachefront.services.ai.quota_postgres import PostgresCounters

APP_ROLE = "cachefront_app"
# Whether the app role is set once per connection or taken by each statement (a pooler).
ROLE_MODES = pytest.mark.parametrize(
    "per_transaction_role", [False, True], ids=["session", "pooled"]
)
UNLIMITED = 2**62

AppEngines = Callable[..., AsyncEngine]


@pytest.fixture
async def app_engines(database_url: str) -> AsyncIterator[AppEngines]:
    """Engines as the server makes them (app role, identity per transaction), disposed after."""
    made: list[AsyncEngine] = []

    def make(*, per_transaction_role: bool = False, pool_size: int = 5) -> AsyncEngine:
        engine = create_engine(database_url, pool_size=pool_size)
        install_isolation(engine, APP_ROLE, per_transaction_role=per_transaction_role)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.dispose()


def _caller(name: str) -> Identity:
    return Identity(f"{name}-{uuid.uuid4().hex[:8]}", Role.USER, Kind.KEY)


@ROLE_MODES
async def test_holds_admit_up_to_the_limit_and_a_refusal_returns_the_counters(
    app_engines: AppEngines, per_transaction_role: bool
) -> None:
    counters = PostgresCounters(app_engines(per_transaction_role=per_transaction_role))
    alice = _caller("alice")
    owner = owner_of(alice)
    now = datetime.now(UTC)
    with acting_as(alice):
        held = [await counters.hold(owner, now, 30, 100, UNLIMITED) for _ in range(4)]
        assert [(h.admitted, h.day_tokens, h.minute_requests) for h in held] == [
            (True, 30, 1),
            (True, 60, 2),
            (True, 90, 3),
            (False, 90, 3),
        ]
        # Larger than the day's limit: refused with the counters, nothing counted.
        too_big = await counters.hold(owner, now, 101, 100, UNLIMITED)
        assert (too_big.admitted, too_big.day_tokens, too_big.minute_requests) == (False, 90, 3)
        # The minute's requests are a limit of their own.
        minute = await counters.hold(owner, now, 1, UNLIMITED, 3)
        assert (minute.admitted, minute.day_tokens, minute.minute_requests) == (False, 90, 3)
        # A new minute and a new day start from zero.
        tomorrow = now + timedelta(days=1)
        fresh = await counters.hold(owner, tomorrow, 10, 100, 3)
        assert (fresh.admitted, fresh.day_tokens, fresh.minute_requests) == (True, 10, 1)
        # Settling gives back what was not used, never below zero, only on its own day.
        await counters.settle(owner, tomorrow.date(), 10, 4)
        assert await counters.read(owner, tomorrow) == (4, 1)
        await counters.settle(owner, tomorrow.date(), 1000, 0)
        assert await counters.read(owner, tomorrow) == (0, 1)
        await counters.settle(owner, now.date(), 90, 0)
        assert await counters.read(owner, tomorrow) == (0, 1)
    # No identity at all: the gateway without auth holds as the service.
    nobody = await counters.hold(f"ip:{uuid.uuid4().hex[:8]}", now, 5, 100, UNLIMITED)
    assert (nobody.admitted, nobody.day_tokens) == (True, 5)


async def test_concurrent_holds_from_two_engines_never_pass_the_limit(
    app_engines: AppEngines,
) -> None:
    # Two engines with pools of their own stand in for two server processes.
    first = PostgresCounters(app_engines(pool_size=5))
    second = PostgresCounters(app_engines(pool_size=5, per_transaction_role=True))
    bob = _caller("bob")
    owner = owner_of(bob)
    now = datetime.now(UTC)
    limit = 7 * 150 + 3
    with acting_as(bob):
        held = await asyncio.gather(
            *((first, second)[i % 2].hold(owner, now, 7, limit, UNLIMITED) for i in range(200))
        )
        counted = await first.read(owner, now)
    admitted = sorted(h.day_tokens for h in held if h.admitted)
    # Each admitted hold saw the row as the one before it left it: 7, 14, ... 1050.
    assert admitted == [7 * n for n in range(1, 151)]
    assert all(h.day_tokens == 7 * 150 for h in held if not h.admitted)
    assert counted == (7 * 150, 150)


Sent = list[tuple[str, bool, TransactionStatus]]


def _recording(engine: AsyncEngine) -> Sent:
    """Every statement ``engine`` sends, whether in autocommit, and the transaction state."""
    sent: Sent = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _sent(conn: Connection, cursor: Any, statement: str, *_: object) -> None:
        driver = conn.connection.driver_connection
        assert driver is not None
        sent.append((statement, bool(driver.autocommit), driver.info.transaction_status))

    return sent


def _called(statement: str) -> str:
    for name in ("reserve", "settle"):
        if f"ai_quota_{name}_v1(" in statement:
            return name
    return statement


@ROLE_MODES
async def test_each_hold_and_settle_is_one_statement_in_autocommit(
    app_engines: AppEngines, per_transaction_role: bool
) -> None:
    engine = app_engines(per_transaction_role=per_transaction_role)
    counters = PostgresCounters(engine)
    carol = _caller("carol")
    owner = owner_of(carol)
    now = datetime.now(UTC)
    with acting_as(carol):
        # A connection opened first, so no statement of the pool's first connect counts.
        await counters.read(owner, now)
        sent = _recording(engine)
        admitted = await counters.hold(owner, now, 40, 50, UNLIMITED)
        refused = await counters.hold(owner, now, 40, 50, UNLIMITED)
        await counters.settle(owner, now.date(), 40, 15)
        assert admitted.admitted
        assert not refused.admitted
        assert [_called(s[0]) for s in sent] == ["reserve", "reserve", "settle"]
        # Sent in autocommit with no transaction open: no BEGIN, no COMMIT around them.
        assert {(s[1], s[2]) for s in sent} == {(True, TransactionStatus.IDLE)}
        # The same engine's transactions still get the identity from the "begin" event.
        sent.clear()
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))
        assert len(sent) == (3 if per_transaction_role else 2)
        assert not sent[0][1]
        assert await counters.read(owner, now) == (15, 1)


@ROLE_MODES
async def test_a_hold_for_another_owner_is_refused_by_the_policy(
    app_engines: AppEngines, engine: AsyncEngine, per_transaction_role: bool
) -> None:
    app = app_engines(per_transaction_role=per_transaction_role)
    async with app.connect() as conn:
        # Outside any transaction's own role: what the session has.
        bare = await conn.execution_options(
            isolation_level="AUTOCOMMIT", **{SETS_OWN_IDENTITY: True}
        )
        session_role = (await bare.execute(text("SELECT current_user"))).scalar_one()
        bypasses = (
            await bare.execute(
                text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user")
            )
        ).scalar_one()
    # Pooled, the session keeps the login role: only the function's own takes the app's.
    assert (session_role == APP_ROLE) is not per_transaction_role
    if per_transaction_role and not bypasses:
        pytest.skip("the login role is held to RLS anyway: a refusal would not prove the role")
    counters = PostgresCounters(app)
    alice, mallory = _caller("alice"), _caller("mallory")
    now = datetime.now(UTC)
    with acting_as(alice):
        assert (await counters.hold(owner_of(alice), now, 10, 100, UNLIMITED)).admitted
    with acting_as(mallory):
        # The function checks no owner itself: the policy refuses the new row...
        with pytest.raises(DBAPIError, match="row-level security"):
            await counters.hold(f"key:nobody-{uuid.uuid4().hex[:8]}", now, 1, 100, UNLIMITED)
        # ...and the update of another caller's row, whose counters it never shows.
        with pytest.raises(DBAPIError, match="row-level security"):
            await counters.hold(owner_of(alice), now, 1, 100, UNLIMITED)
        assert await counters.hold(owner_of(alice), now, 500, 100, UNLIMITED) == (
            await counters.hold(f"key:nobody-{uuid.uuid4().hex[:8]}", now, 500, 100, UNLIMITED)
        )
        await counters.settle(owner_of(alice), now.date(), 10, 0)
    with acting_as_service():
        assert await PostgresCounters(engine).read(owner_of(alice), now) == (10, 1)
    # Called with no identity at all, the function sees no row and may write none.
    async with app.connect() as conn:
        auto = await conn.execution_options(
            isolation_level="AUTOCOMMIT", **{SETS_OWN_IDENTITY: True}
        )
        with pytest.raises(DBAPIError, match="row-level security"):
            await auto.execute(
                text(
                    "SELECT * FROM ai_quota_reserve_v1(NULL, NULL, :role, :owner, :day, :minute, "
                    "1, 100, 100)"
                ),
                {
                    "role": APP_ROLE if per_transaction_role else None,
                    "owner": owner_of(alice),
                    "day": now.date(),
                    "minute": now.replace(second=0, microsecond=0),
                },
            )
