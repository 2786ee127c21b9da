"""Each room's own figures from known rows in a database of this module's own, against
hand-computed values: ephemeris coverage ahead, the prices catalogue and history, the AI
ledger's tokens and the room's answers by X-Cache."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.rooms import FiguresContext, RoomFigures
from cachefront.services.ai.room import ROOM as AI_ROOM
from cachefront.services.ephemeris.figures import ephemeris_figures
from cachefront.services.ephemeris.keys import NAMESPACE as EPHEMERIS_NS
from cachefront.services.prices.figures import prices_figures
from cachefront.services.prices.history import HistoryStore
from cachefront.services.prices.keys import LATEST_NAMESPACE
from cachefront.services.prices.models import Candle

_INSERT_ENTRY = text(
    "INSERT INTO cache_entries (namespace, key, value, etag, negative, stored_at, fresh_until,"
    " expires_at) VALUES (:ns, :key, 'v', 'e', :negative, :stored, :fresh, :expires)"
)


@pytest.fixture(scope="module")
async def own_engine(own_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database_url, pool_size=2)
    yield engine
    await engine.dispose()


def _settings(database_url: str, **room: Any) -> Settings:
    return Settings(database_url=database_url, **room)


def _figures(room: RoomFigures) -> dict[str, Any]:
    return {f.label: f.value for f in room.figures}


def _statuses(room: RoomFigures) -> dict[str, str | None]:
    return {f.label: f.status for f in room.figures}


async def _entries(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for row in rows:
            await conn.execute(_INSERT_ENTRY, {"negative": False, **row})


# --- ephemeris: how far ahead the cached positions reach ------------------------------

# 10:20 on an hourly grid: the instant at or before now is 10:00.
EPHEMERIS_NOW = datetime(2031, 3, 4, 10, 20, tzinfo=UTC)
GRID_START = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def _key(body: str, hours: float) -> str:
    return f"{body}:{int((GRID_START + timedelta(hours=hours)).timestamp())}"


def _iso(hours: float) -> str:
    return (GRID_START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


async def test_ephemeris_figures_give_each_bodys_reach_and_first_gap(
    own_engine: AsyncEngine, own_database_url: str
) -> None:
    live = {
        "stored": EPHEMERIS_NOW,
        "fresh": EPHEMERIS_NOW,
        "expires": EPHEMERIS_NOW + timedelta(days=400),
    }
    rows = [
        # sun: 10:00 to 16:00 without a hole, then 19:00 and 20:00.
        *({"key": _key("sun", h), **live} for h in (0, 1, 2, 3, 4, 5, 6, 9, 10)),
        {"key": _key("sun", -1), **live},  # before the grid instant of now: not ahead
        {"key": _key("sun", 7), **live, "negative": True},  # a negative entry covers nothing
        {**live, "key": _key("sun", 8), "expires": EPHEMERIS_NOW - timedelta(seconds=1)},
        {"key": _key("sun", 24 * 40), **live},  # past the 31 days looked at
        # moon: from 11:00 only, so 10:00 is the hole and nothing is covered now.
        *({"key": _key("moon", h), **live} for h in (1, 2, 3, 4)),
        # mars, not precomputed: 10:00 and 11:00.
        *({"key": _key("mars", h), **live} for h in (0, 1)),
    ]
    await _entries(own_engine, [{"ns": EPHEMERIS_NS, **row} for row in rows])
    settings = _settings(
        own_database_url,
        precompute_hours=6,
        precompute_bodies=["sun", "moon"],
        ephemeris_grid_minutes=60,
    )
    room = await ephemeris_figures(
        FiguresContext(own_engine, settings, EPHEMERIS_NOW - timedelta(hours=24), EPHEMERIS_NOW)
    )
    [table] = room.tables
    assert table.columns[:2] == ["body", "precomputed"]
    by_body = {row[0]: row for row in table.rows}
    # body, precomputed, instants ahead, covered until, reach ahead (s), last, gap from, until
    assert by_body["sun"] == [
        "sun",
        "yes",
        9,
        _iso(6),
        5 * 3600 + 40 * 60,
        _iso(10),
        _iso(7),
        _iso(9),
    ]
    assert by_body["moon"] == ["moon", "yes", 4, None, None, _iso(4), _iso(0), _iso(1)]
    assert by_body["mars"] == ["mars", "no", 2, _iso(1), 40 * 60, _iso(1), None, None]
    assert by_body["pluto"] == ["pluto", "no", 0, None, None, None, _iso(0), None]
    assert len(table.rows) == 10
    figures = _figures(room)
    assert figures["precompute horizon"] == 6 * 3600
    # The sun reaches the 6 hours from 10:00; the moon reaches nothing.
    assert figures["precomputed bodies short of it"] == 1
    assert _statuses(room)["precomputed bodies short of it"] == "warn"
    assert figures["shortest reach ahead"] == 0


# --- prices: the catalogue, the latest prices, the history, the backfill ---------------

PRICES_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _bars(first: date, count: int) -> list[Candle]:
    return [
        Candle(
            datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=i),
            1.0,
            2.0,
            0.5,
            1.5,
            10.0,
        )
        for i in range(count)
    ]


async def test_prices_figures_count_the_catalogue_the_latest_prices_and_the_history(
    own_engine: AsyncEngine, own_database_url: str
) -> None:
    # (symbol, type, provider, active, unavailable)
    assets = [
        ("BTC", "crypto", "binance", True, False),
        ("ETH", "crypto", "binance", True, True),
        ("SOL", "crypto", "binance", True, False),
        ("AAPL", "stock", "yahoo", True, False),
        ("OLD", "stock", "yahoo", False, False),
    ]
    async with own_engine.begin() as conn:
        for symbol, kind, provider, active, unavailable in assets:
            await conn.execute(
                text(
                    "INSERT INTO price_assets (symbol, name, type, provider, provider_id,"
                    " currency, active, unavailable_since) VALUES (:s, :s, :t, :p, :s, 'USD',"
                    " :active, :gone)"
                ),
                {
                    "s": symbol,
                    "t": kind,
                    "p": provider,
                    "active": active,
                    "gone": PRICES_NOW - timedelta(days=1) if unavailable else None,
                },
            )
        ids = dict((await conn.execute(text("SELECT symbol, id FROM price_assets"))).all())
    await _entries(
        own_engine,
        [
            {  # fresh
                "ns": LATEST_NAMESPACE,
                "key": "BTC",
                "stored": PRICES_NOW - timedelta(seconds=30),
                "fresh": PRICES_NOW + timedelta(seconds=45),
                "expires": PRICES_NOW + timedelta(days=7),
            },
            {  # past its fresh window: answered marked stale
                "ns": LATEST_NAMESPACE,
                "key": "AAPL",
                "stored": PRICES_NOW - timedelta(minutes=10),
                "fresh": PRICES_NOW - timedelta(minutes=5),
                "expires": PRICES_NOW + timedelta(days=7),
            },
            {  # gone
                "ns": LATEST_NAMESPACE,
                "key": "OLD",
                "stored": PRICES_NOW - timedelta(days=9),
                "fresh": PRICES_NOW - timedelta(days=9),
                "expires": PRICES_NOW - timedelta(days=2),
            },
            {  # a symbol no provider knows: not a price
                "ns": LATEST_NAMESPACE,
                "key": "NOPE",
                "negative": True,
                "stored": PRICES_NOW,
                "fresh": PRICES_NOW,
                "expires": PRICES_NOW + timedelta(minutes=1),
            },
        ],
    )
    history = HistoryStore(own_engine, keep_daily_days=0, keep_weekly_days=0, keep_all_daily=True)
    await history.write_daily(ids["BTC"], _bars(date(2026, 11, 20), 11))  # to 11-30
    await history.write_daily(ids["ETH"], _bars(date(2026, 11, 29), 2))
    await history.write_daily(ids["AAPL"], _bars(date(2020, 1, 2), 2))  # behind
    await history.write_daily(ids["OLD"], _bars(date(2019, 5, 1), 1))  # inactive: not counted
    async with own_engine.begin() as conn:
        await conn.execute(text("ANALYZE price_daily"))
    with acting_as_service():
        async with own_engine.begin() as conn:
            for status, created in (("succeeded", 2), ("queued", 1)):
                await conn.execute(
                    text(
                        "INSERT INTO jobs (id, type, params, status, created_at, updated_at)"
                        " VALUES (:id, 'prices-backfill', '{}', :status, :at, :at)"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "status": status,
                        "at": PRICES_NOW - timedelta(hours=created),
                    },
                )
    settings = _settings(own_database_url)
    with acting_as_service():
        room = await prices_figures(
            FiguresContext(own_engine, settings, PRICES_NOW - timedelta(hours=24), PRICES_NOW)
        )
    figures = _figures(room)
    assert figures == {
        "active assets": 3,  # BTC, SOL, AAPL: ETH is unavailable, OLD switched off
        "unavailable assets": 1,
        "latest refresh": (PRICES_NOW - timedelta(seconds=30)).isoformat(),
        "latest refresh age": 30.0,
        "latest prices stored": 3,
        "stale prices": 1,
        "active assets without a price": 1,  # SOL
        "daily history rows (estimate)": 11 + 2 + 2 + 1,
        "oldest history day": "2020-01-02",
        "newest history day": "2026-11-30",
        "active assets without history": 1,  # SOL
        "history behind by over 7 days": 1,  # AAPL
        "backfills queued or running": 1,
        "last backfill": "queued",
    }
    statuses = _statuses(room)
    assert statuses["stale prices"] == "warn"
    assert statuses["history behind by over 7 days"] == "warn"
    [table] = room.tables
    assert table.columns == ["type", "provider", "assets", "active", "inactive", "unavailable"]
    assert table.rows == [["crypto", "binance", 3, 2, 0, 1], ["stock", "yahoo", 2, 1, 1, 0]]


# --- ai: the room's answers by X-Cache, and the ledger's tokens ------------------------

# (minutes before now, owner, model, prompt, completion, cost, saved, cached, ok)
LEDGER = [
    (10, "key:1", "m1", 100, 50, 0.3, 0.0, False, True),
    (9, "key:1", "m1", 100, 50, 0.0, 0.3, True, True),
    (70, "key:2", "m2", 1000, 200, 1.2, 0.0, False, True),
    (69, "key:2", "m2", 10, 0, 0.0, 0.0, False, False),
    (8, "key:3", "m1", 100, 50, 0.0, 0.3, True, True),
    (180, "key:1", "m1", 5000, 0, 5.0, 0.0, False, True),  # before the window
]


async def test_ai_figures_give_cache_efficiency_and_the_tokens_used_and_saved(
    own_engine: AsyncEngine, own_database_url: str
) -> None:
    now = datetime.now(UTC)
    with acting_as_service():
        async with own_engine.begin() as conn:
            for minutes, owner, model, prompt, completion, cost, saved, cached, ok in LEDGER:
                await conn.execute(
                    text(
                        "INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens,"
                        " completion_tokens, latency_ms, cost_usd, saved_usd, cached, ok)"
                        " VALUES (:owner, :at, 'p1', :model, :prompt, :completion, 1, :cost,"
                        " :saved, :cached, :ok)"
                    ),
                    {
                        "owner": owner,
                        "at": now - timedelta(minutes=minutes),
                        "model": model,
                        "prompt": prompt,
                        "completion": completion,
                        "cost": cost,
                        "saved": saved,
                        "cached": cached,
                        "ok": ok,
                    },
                )
    recorder = MetricsRecorder(own_engine)
    at = now.timestamp() - 60
    for route, tier, count in (
        ("/v1/chat/completions", "HIT", 3),
        ("/v1/chat/completions", "MISS", 2),
        ("/v1/chat/completions", "COALESCED", 1),
        ("/v1/embeddings", "BYPASS", 1),
        ("/v1/ai/usage", None, 1),
        ("/v1/prices/{symbol}", "HIT", 5),  # another room's
    ):
        for _ in range(count):
            recorder.request((at, "POST", route, 200, 5.0, tier, 0))
    await recorder.flush()
    room = await AI_ROOM.figures(
        FiguresContext(own_engine, _settings(own_database_url), now - timedelta(hours=2), now)
    )
    figures = _figures(room)
    assert figures == {
        "requests": 8,
        "cache hits": 3,
        "misses": 2,
        "coalesced": 1,
        "bypassed (not cacheable)": 1,
        "hit rate": pytest.approx(3 / 6),
        "answered without a call of their own": pytest.approx(4 / 6),
        "provider calls": 3,
        "failed provider calls": 1,
        "tokens used": 150 + 1200 + 10,
        "tokens saved by cache hits": 150 + 150,
        "cost": pytest.approx(1.5),
        "cost saved": pytest.approx(0.6),
    }
    models, callers = room.tables
    assert [row[:7] for row in models.rows] == [
        ["p1", "m2", 2, 0, 1010, 200, 0],
        ["p1", "m1", 1, 2, 100, 50, 300],
    ]
    assert [row[:5] for row in callers.rows] == [
        ["key:2", 2, 0, 1210, 0],
        ["key:1", 1, 1, 150, 150],
        ["key:3", 0, 1, 0, 150],
    ]
    [series] = room.series
    hours: dict[int, list[float]] = {}
    for minutes, _, _, prompt, completion, _, _, cached, _ in LEDGER[:5]:
        hour = int((now - timedelta(minutes=minutes)).timestamp()) // 3600 * 3600
        used_saved = hours.setdefault(hour, [0.0, 0.0])
        used_saved[1 if cached else 0] += prompt + completion
    assert series.t == sorted(hours)
    assert series.lines == {
        "used": [hours[t][0] for t in sorted(hours)],
        "saved": [hours[t][1] for t in sorted(hours)],
    }
