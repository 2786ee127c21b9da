"""Each room's own figures, collected through the room contract's optional ``figures``.

The platform knows nothing of what they mean: it asks every room that has a reader,
in the list's order, and hands back what each said. A room whose reader fails gets an
``error`` instead of its figures, logged, so one room cannot blank the dashboard or
the admin route for the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.rooms import AnyRoom, FiguresContext, FiguresReader, RoomFigures

__all__ = ["FigureReaders", "figures_of_last", "read_room_figures"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureReaders:
    """(room name, reader) of every room that declares ``figures``, in the list's order."""

    readers: tuple[tuple[str, FiguresReader], ...] = ()

    @classmethod
    def of(cls, rooms: Iterable[AnyRoom]) -> FigureReaders:
        found: list[tuple[str, FiguresReader]] = []
        for room in rooms:
            reader: FiguresReader | None = getattr(room, "figures", None)
            if reader is not None:
                found.append((room.name, reader))
        return cls(tuple(found))


async def read_room_figures(
    engine: AsyncEngine,
    settings: Settings,
    readers: FigureReaders,
    since: datetime,
    until: datetime,
) -> dict[str, RoomFigures]:
    """Every room's figures for [since, until), by room name."""
    context = FiguresContext(engine, settings, since, until)
    out: dict[str, RoomFigures] = {}
    for name, reader in readers.readers:
        try:
            # The operator's figures: every caller's rows, whoever asks (route or CLI).
            with acting_as_service():
                out[name] = await reader(context)
        except Exception as exc:  # a room's bug or missing table must not hide the others
            log.exception(
                "figures of room %s failed", name, extra={"action": "rooms.figures_failed"}
            )
            out[name] = RoomFigures(error=f"reading its figures failed: {type(exc).__name__}")
    return out


async def figures_of_last(
    engine: AsyncEngine, settings: Settings, readers: FigureReaders, hours: float
) -> dict[str, RoomFigures]:
    """Every room's figures for the ``hours`` hours up to now."""
    until = datetime.now(UTC)
    return await read_room_figures(engine, settings, readers, until - timedelta(hours=hours), until)
