"""The rooms' figures are collected through the room contract, whatever the room: a test
room's reader is asked with the window, a room without one is left out, a failing one
gets an error of its own; and ``GET /v1/admin/rooms`` serves the rooms' figures to the
service role only, refusing a bad window with a problem naming it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures
from cachefront.rooms import (
    AnyRoom,
    Figure,
    FiguresContext,
    FigureSeries,
    FigureTable,
    RoomFigures,
)
from cachefront.services import ROOMS
from harness_servers import ServerThread

KEY = "rooms-figures-service-key-0123456789ab"
SINCE = datetime(2030, 1, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=3)


@dataclass
class CountingRoom:
    """A room of the test's own: its figures are what PostgreSQL computes for the window."""

    name: str = "counting"
    seen: list[FiguresContext] = field(default_factory=list)

    async def figures(self, context: FiguresContext) -> RoomFigures:
        self.seen.append(context)
        async with context.engine.connect() as conn:
            hours = (
                await conn.execute(
                    text("SELECT extract(epoch FROM CAST(:until AS timestamptz) - :since) / 3600"),
                    {"since": context.since, "until": context.until},
                )
            ).scalar_one()
        return RoomFigures(
            figures=[Figure(label="hours", value=float(hours))],
            tables=[FigureTable(title="t", columns=["a"], units=["count"], rows=[[1]])],
            series=[FigureSeries(title="s", unit="count", t=[1, 2], lines={"x": [1.0, None]})],
        )


@dataclass
class SilentRoom:
    """A room without figures of its own."""

    name: str = "silent"


@dataclass
class BrokenRoom:
    name: str = "broken"

    async def figures(self, context: FiguresContext) -> RoomFigures:
        async with context.engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table_of_this_room"))
        return RoomFigures()


def _rooms(*rooms: object) -> list[AnyRoom]:
    # Only ``name`` and ``figures`` are read of a room here.
    return list(rooms)  # type: ignore[arg-type]


async def test_every_room_with_a_reader_is_asked_and_a_failing_one_is_isolated(
    engine: AsyncEngine, database_url: str
) -> None:
    counting = CountingRoom()
    readers = FigureReaders.of(_rooms(SilentRoom(), BrokenRoom(), counting))
    assert [name for name, _ in readers.readers] == ["broken", "counting"]
    settings = Settings(database_url=database_url)
    got = await read_room_figures(engine, settings, readers, SINCE, UNTIL)
    assert list(got) == ["broken", "counting"]
    assert got["broken"].error == "reading its figures failed: ProgrammingError"
    assert got["broken"].figures == []
    assert got["counting"].error is None
    assert got["counting"].figures == [Figure(label="hours", value=3.0)]
    [context] = counting.seen
    assert (context.since, context.until, context.settings) == (SINCE, UNTIL, settings)


def test_the_app_collects_every_room_that_declares_figures() -> None:
    declared = [room.name for room in ROOMS if getattr(room, "figures", None) is not None]
    assert declared == ["ephemeris", "prices", "ai"]
    assert [name for name, _ in FigureReaders.of(ROOMS).readers] == declared


def test_admin_rooms_serves_each_rooms_figures_to_the_service_role_only(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(service_key=KEY)) as server:
        url = f"{server.url}/v1/admin/rooms"
        bearer = {"Authorization": f"Bearer {KEY}"}
        anonymous = httpx.get(url, timeout=10)
        bad = httpx.get(url, params={"hours": "0"}, headers=bearer, timeout=10)
        service = httpx.get(url, params={"hours": "6"}, headers=bearer, timeout=30)
    assert anonymous.status_code == 401
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "hours" in bad.text
    assert service.status_code == 200, service.text
    doc = service.json()
    since = datetime.fromisoformat(doc["since"])
    until = datetime.fromisoformat(doc["until"])
    assert until - since == timedelta(hours=6)
    assert list(doc["rooms"]) == ["ephemeris", "prices", "ai"]
    for name, room in doc["rooms"].items():
        assert room["error"] is None, (name, room)
        assert room["figures"], name
        for table in room["tables"]:
            assert len(table["columns"]) == len(table["units"])
