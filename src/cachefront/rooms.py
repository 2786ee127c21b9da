"""The room contract: what a service brings to the platform, and what the platform hands it.

A service is a room under ``services/<name>/``. One object of its own (``ROOM`` in its
``room.py``) describes it to the platform, which takes rooms from the one explicit
list in ``services/__init__.py``; the platform names none of them. The room declares
its router, fast-path routes, route groups, tables, upstreams, jobs, settings model and
CLI commands, and ``open(platform)`` builds its domain service from what the platform
owns (engine, cache, upstream clients, settings). The service is then found by type:
routes through ``service_dependency(kind)``, jobs through ``JobResources.service(kind)``.

A room may also declare ``error_formats`` (``http.error_formats.ErrorFormat``): under
their path prefixes, the platform's problem+json answers (the gate's refusals
included) are reshaped for clients that read errors in a format of their own. It is
optional, read with a default of none, so rooms without one need not spell it.

Likewise optional, ``cost_reader`` (a ``CostReader``): a room that knows what its
upstream calls really cost (billed per token, say) reads it from its own records for a
window, and the stats report that instead of the per-call estimate of its providers.

So is ``cors_request_headers`` (a sequence of strings): the request headers its
clients send from browsers beyond the platform's own (``http.cors.ALLOWED_HEADERS``),
exact names or a prefix ending in ``*`` (``"x-sdk-*"``) for a family an SDK adds.
With ``CACHEFRONT_CORS_ORIGINS`` set, preflights asking for them are allowed; the
platform's policy is one for every path, so they are allowed on every path.

And ``raw_routes`` (``http.raw_routes.RawRoute``): an exact method and path the
platform answers by calling the room's endpoint without the framework's routing, for a
route busy enough that FastAPI's per-request work shows; the room keeps the same route
in its router for the OpenAPI document.

Likewise optional, ``figures`` (a ``FiguresReader``): what the room alone can say about
itself (how far ahead its data is computed, how fresh its catalogue is, what its cache
saved in tokens), read from its own records for a window as ``RoomFigures``: named
numbers, tables and time series the platform shows generically (``GET
/v1/admin/rooms``, the dashboard's room panels, ``cachefront stats --rooms``) without
knowing what they mean.

A room object keeps no state: several apps may run in one process (tests, an
embedding app), so what ``open`` built is handed back to ``aclose``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

# At run time: FastAPI reads the annotation of the dependency service_dependency makes.
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cachefront.cache import TieredCache
    from cachefront.config import RoomSettings, Settings
    from cachefront.db.replica import ReadEngine
    from cachefront.http.fastpath import FastRoute
    from cachefront.jobs.registry import JobRegistry
    from cachefront.upstream import UpstreamClient

__all__ = [
    "AnyRoom",
    "Cell",
    "CostReader",
    "Figure",
    "FigureSeries",
    "FigureTable",
    "FiguresContext",
    "FiguresReader",
    "MeasuredCost",
    "Platform",
    "Room",
    "RoomCli",
    "RoomFigures",
    "RoomServices",
    "RouteGroupRule",
    "Unit",
    "UpstreamSpec",
    "service_dependency",
]

T = TypeVar("T")
ServiceT = TypeVar("ServiceT")


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """An upstream a room calls; the platform builds, opens and closes its client.

    The last three fields are what the upstream's answers tell the budget
    (``cachefront.upstream.ServerSignals``); by default it listens to none of them.
    """

    name: str  # the client's name in budgets, breakers and metrics, e.g. "binance"
    budget: str  # the outbound budget in the limits notation, e.g. "3000/minute"
    background_share: float  # the share of the budget background work may spend
    # A response header naming the units the upstream counts as used in the budget's
    # window (matched case-insensitively); it raises the budget's count, never lowers it.
    used_header: str | None = None
    # The upstream's own limit the header counts against; when set the header is
    # scaled onto our budget (used * ours / published), else counted as-is.
    published_limit: int | None = None
    # Statuses that, with Retry-After, put the whole upstream on hold (e.g. 418, 429).
    hold_statuses: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class MeasuredCost:
    """What a room's own records say one provider cost in a window, and what hits saved."""

    provider: str  # the upstream client's name, as ``UpstreamSpec.name``
    cost: float
    saved: float
    tokens: int = 0  # the billed units, where the provider bills per token


# A room's reader of its measured costs: (engine, since, until) -> one per provider.
CostReader = Callable[["AsyncEngine", datetime, datetime], Awaitable[Sequence[MeasuredCost]]]


# How the platform shows a number: a count, tokens, bytes, seconds (a duration), a
# ratio (as a percentage), money (USD), an instant (ISO 8601 text, UTC), or plain text.
Unit = Literal["count", "tokens", "bytes", "seconds", "ratio", "usd", "instant", "text"]
# One value of a figure or a table cell.
Cell = str | int | float | bool | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figure(_Frozen):
    """One named number of a room, e.g. ("tokens saved", 1234, "tokens")."""

    label: str
    value: Cell
    unit: Unit = "count"
    # "warn" marks a figure the operator should look at (a gap, a stale catalogue).
    status: Literal["ok", "warn"] | None = None


class FigureTable(_Frozen):
    """A table of a room: its columns (with units, one per column) and rows of cells."""

    title: str
    columns: list[str]
    units: list[Unit]
    rows: list[list[Cell]] = Field(default_factory=list)


class FigureSeries(_Frozen):
    """Time series of a room sharing one time axis: ``t`` in Unix seconds, one line each."""

    title: str
    unit: Unit
    t: list[int] = Field(default_factory=list)
    lines: dict[str, list[float | None]] = Field(default_factory=dict)


class RoomFigures(_Frozen):
    """What a room says about itself for a window; ``error`` when reading it failed."""

    figures: list[Figure] = Field(default_factory=list)
    tables: list[FigureTable] = Field(default_factory=list)
    series: list[FigureSeries] = Field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FiguresContext:
    """What a room's ``figures`` reads with: the engine (a replica's for heavy reads),
    the settings (its own among them) and the window; figures of the present (how far
    ahead data reaches) are as of ``until``."""

    engine: AsyncEngine
    settings: Settings
    since: datetime
    until: datetime


# A room's reader of its own figures for a window.
FiguresReader = Callable[[FiguresContext], Awaitable[RoomFigures]]


@dataclass(frozen=True, slots=True)
class RouteGroupRule:
    """Requests under ``prefix`` (and ``methods``, None for all) count in ``group``."""

    prefix: str
    group: str
    methods: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RoomCli:
    """A room's commands: merged into ``cachefront`` and into ``cachefront simulate``."""

    commands: typer.Typer | None = None
    simulators: typer.Typer | None = None


@dataclass(frozen=True, slots=True)
class Platform:
    """What the lifespan hands a room's ``open``; the platform owns it and closes it.

    ``read_engine`` is for the reads a room deems heavy (ranges, listings, aggregates):
    its ``engine`` is a streaming replica's while one is configured, reachable and
    caught up, else the primary's (``cachefront.db.replica``). Writes, and reads that
    must see the room's own writes at once, stay on ``engine``.
    """

    settings: Settings
    engine: AsyncEngine
    cache: TieredCache
    upstreams: Mapping[str, UpstreamClient]
    read_engine: ReadEngine


class Room(Protocol[ServiceT]):
    """Everything the platform needs to know about one service."""

    @property
    def name(self) -> str:
        """The room's name, as its folder under ``services/`` is named."""

    @property
    def settings_model(self) -> type[RoomSettings]:
        """Its settings, read from the same ``CACHEFRONT_*`` environment."""

    @property
    def router(self) -> APIRouter:
        """Its FastAPI routes."""

    @property
    def route_groups(self) -> Sequence[RouteGroupRule]:
        """Which inbound limit its paths count against."""

    @property
    def group_limits(self) -> Mapping[str, str]:
        """Default limits of route groups the room adds (the platform has its own)."""

    @property
    def tables(self) -> Sequence[Table]:
        """Its tables, on the shared metadata: the Alembic env reads every room's."""

    @property
    def cli(self) -> RoomCli:
        """Its commands, e.g. ``precompute`` and ``simulate <upstream>``."""

    def upstreams(self, settings: Settings) -> Sequence[UpstreamSpec]:
        """The upstreams it calls with these settings (only those it will use)."""

    def fast_routes(self, settings: Settings) -> Sequence[FastRoute]:
        """Its routes answered from the memory tier without the framework."""

    def register_jobs(self, registry: JobRegistry, settings: Settings) -> None:
        """Add its job types and periodic tasks."""

    async def open(self, platform: Platform) -> ServiceT:
        """Build its domain service; the platform finds it by type afterwards."""

    async def aclose(self, service: ServiceT) -> None:
        """Release what ``open`` acquired for ``service`` (threads, files)."""


class RoomServices:
    """The domain services the rooms opened, each found by its type."""

    def __init__(self, services: Sequence[object] = ()) -> None:
        self._by_type: dict[type, object] = {}
        for service in services:
            self.add(service)

    def add(self, service: object) -> None:
        kind = type(service)
        if kind in self._by_type:
            raise ValueError(f"two rooms opened a {kind.__name__}")
        self._by_type[kind] = service

    def get(self, kind: type[T]) -> T:
        """The opened service of type ``kind``; LookupError when no room opened one."""
        service = self._by_type.get(kind)
        if service is None:
            opened = ", ".join(k.__name__ for k in self._by_type) or "none"
            raise LookupError(f"no room opened a {kind.__name__} (opened: {opened})")
        assert isinstance(service, kind)
        return service


def service_dependency(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency giving routes the opened service of type ``kind``."""

    # async, though it awaits nothing: FastAPI runs a plain function in its thread
    # pool, a thread hop on every request for a dictionary lookup.
    async def dependency(request: Request) -> T:
        services: RoomServices = request.app.state.services
        return services.get(kind)

    return dependency


# What the platform's list holds: rooms of any service type.
AnyRoom = Room[Any]
