"""The platform's stats take the AI room's costs from its ledger, billed per token, not a
per-call estimate: the reader's sums for a window, and the admin stats route using them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ai_harness import SERVICE_KEY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.services.ai.room import ROOM, ledger_costs, upstream_name
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

# A window of its own, days back, so the rows other tests write now stay outside it.
SINCE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=9)
UNTIL = SINCE + timedelta(hours=1)
# (minutes after SINCE, provider, prompt, completion, cost, saved, cached)
ROWS = [
    (1, "statsprov", 100, 20, 0.25, 0.0, False),
    (2, "statsprov", 300, 80, 0.75, 0.0, False),
    (3, "statsprov", 0, 0, 0.0, 0.5, True),
    (4, "otherprov", 10, 5, 0.01, 0.0, False),
    (61, "statsprov", 1000, 1000, 9.0, 0.0, False),  # past the window's end
    (-1, "statsprov", 1000, 1000, 9.0, 0.0, False),  # before its start
]


@pytest.fixture
async def ledger_rows(engine: AsyncEngine) -> None:
    with acting_as_service():
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ai_usage WHERE owner = 'stats-costs'"))
            for minutes, provider, prompt, completion, cost, saved, cached in ROWS:
                await conn.execute(
                    text(
                        "INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens, "
                        "completion_tokens, latency_ms, cost_usd, saved_usd, cached, ok) "
                        "VALUES ('stats-costs', :at, :provider, 'm', :prompt, :completion, "
                        "1, :cost, :saved, :cached, true)"
                    ),
                    {
                        "at": SINCE + timedelta(minutes=minutes),
                        "provider": provider,
                        "prompt": prompt,
                        "completion": completion,
                        "cost": cost,
                        "saved": saved,
                        "cached": cached,
                    },
                )


async def test_the_reader_sums_the_ledger_of_the_window(
    ledger_rows: None, engine: AsyncEngine
) -> None:
    costs = {c.provider: c for c in await ledger_costs(engine, SINCE, UNTIL)}
    assert set(costs) == {"ai-statsprov", "ai-otherprov"}
    mine = costs["ai-statsprov"]
    assert (mine.cost, mine.saved) == pytest.approx((1.0, 0.5))
    # Billed tokens: the calls', not the hits' (a hit is billed nothing).
    assert mine.tokens == 100 + 20 + 300 + 80
    assert costs["ai-otherprov"].tokens == 15


def test_the_room_declares_its_reader() -> None:
    assert ROOM.cost_reader is ledger_costs


async def test_admin_stats_report_the_ledger_cost_of_a_call(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    body = {
        "model": "chat",
        "temperature": 0,
        "messages": [{"role": "user", "content": "What do the stats say this cost?"}],
    }
    auth = {"Authorization": f"Bearer {SERVICE_KEY}"}
    settings = ai_settings(ai_prices={"sim-small": [2.0, 8.0]})
    began = datetime.now(UTC)
    provider = upstream_name("primary")
    with serve_app(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=10) as client:
            for _ in range(2):  # a miss that pays, then a hit that saves
                answer = await client.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200, answer.text
            # The ledger is written behind the answers: read until the stats and the
            # ledger of the same window agree, with this test's two rows in it.
            for _ in range(100):
                stats = (await client.get("/v1/admin/stats", params={"hours": 1})).json()
                rows = [p for p in stats["upstream_by_provider"] if p["provider"] == provider]
                room = next(r for r in stats["rooms"] if r["room"] == "ai")
                paid, saved, mine = await _ledger_window(engine, stats, began)
                if rows and mine >= 2 and rows[0]["cost"] == pytest.approx(paid, rel=1e-6):
                    break
                await asyncio.sleep(0.05)
    (row,) = rows
    assert mine == 2
    assert row["cost_basis"] == "measured"
    assert row["tokens"] > 0
    assert paid > 0
    assert row["cost"] == pytest.approx(paid, rel=1e-6)
    assert room["cost_saved"] == pytest.approx(saved, rel=1e-6)


async def _ledger_window(
    engine: AsyncEngine, stats: dict[str, object], began: datetime
) -> tuple[float, float, int]:
    """The ledger's cost and saving of the stats' window, and its rows since ``began``."""
    with acting_as_service():
        async with engine.connect() as conn:
            paid, saved, mine = (
                await conn.execute(
                    text(
                        "SELECT coalesce(sum(cost_usd), 0), coalesce(sum(saved_usd), 0), "
                        "count(*) FILTER (WHERE at >= :began) FROM ai_usage "
                        "WHERE provider = 'primary' AND at >= :since AND at < :until"
                    ),
                    {
                        "began": began,
                        "since": datetime.fromisoformat(str(stats["since"])),
                        "until": datetime.fromisoformat(str(stats["until"])),
                    },
                )
            ).one()
    return float(paid), float(saved), int(mine)
