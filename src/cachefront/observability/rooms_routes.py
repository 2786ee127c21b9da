"""``GET /v1/admin/rooms``: every room's own figures for a window, for the service role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.dependencies import require_service
from cachefront.db.replica import ReadEngine
from cachefront.observability.rooms_figures import FigureReaders, read_room_figures
from cachefront.rooms import RoomFigures

__all__ = ["RoomsReport", "rooms_router"]

rooms_router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RoomsReport(BaseModel):
    """The window, and what each room that has figures says of itself, by room name."""

    since: datetime
    until: datetime
    rooms: dict[str, RoomFigures]


@rooms_router.get(
    "/rooms",
    summary="Each room's own figures (numbers, tables, time series) for a window",
    dependencies=[Depends(require_service)],
    response_model=RoomsReport,
)
async def rooms(
    request: Request,
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="Window, in hours")] = 24,
) -> RoomsReport:
    state = request.app.state
    readers: FigureReaders = getattr(state, "room_figures", FigureReaders())
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)

    async def query(engine: AsyncEngine) -> dict[str, RoomFigures]:
        return await read_room_figures(engine, state.settings, readers, since, until)

    # Aggregates over the rooms' own tables: a replica a few seconds behind answers too.
    reads: ReadEngine = state.resources.read_engine
    return RoomsReport(since=since, until=until, rooms=await reads.read(query))
