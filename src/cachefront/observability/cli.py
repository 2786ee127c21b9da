"""Observability commands of the CLI: `stats`, `health`, `storage`, `dashboard-url`, and
the seed figures `errors`, `trend`, `slowest`, `tasks` and `unread`.

They read the database the server writes (the same figures as ``/v1/admin/stats``,
``/v1/admin/health``, ``/v1/admin/storage`` and the other ``/v1/admin`` figures)
without starting a server. ``health``
exits 0 when every check is ok, 1 on a warning and 2 on a critical check, for cron and
monitoring scripts; a database it cannot reach is critical, said in one line (or one
JSON report), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.logs import setup_logging
from cachefront.metrics.stats import Stats
from cachefront.observability.checks import Check, HealthReport, Level
from cachefront.observability.rooms_figures import FigureReaders, figures_of_last
from cachefront.observability.storage import StorageReport
from cachefront.rooms import RoomFigures

__all__ = ["EXIT_CODES", "cli"]

cli = typer.Typer()
EXIT_CODES = {Level.OK: 0, Level.WARN: 1, Level.CRITICAL: 2}
_STYLES = {Level.OK: "green", Level.WARN: "yellow", Level.CRITICAL: "bold red"}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
HoursOption = Annotated[float, typer.Option(min=0.01, max=24 * 31, help="Window, in hours")]


@contextlib.asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    # Imported when the command runs: the app's modules bring the server's libraries.
    from cachefront.app import resolve_database_url
    from cachefront.auth import install_isolation
    from cachefront.db.engine import create_engine

    engine = create_engine(resolve_database_url(settings), pool_size=2)
    install_isolation(engine, settings.db_app_role, jwt_issuer=settings.jwt_issuer)
    try:
        yield engine
    finally:
        await engine.dispose()


@cli.command()
def stats(
    hours: Annotated[float, typer.Option(min=0.01, max=24 * 366, help="Window, in hours")] = 24,
    as_json: JsonOption = False,
    rooms: Annotated[
        bool, typer.Option("--rooms", help="Print each room's own figures instead")
    ] = False,
) -> None:
    """Requests, hit rate, latency, errors, upstream calls and cost, per route, room, provider."""
    from cachefront.metrics.attribution import Attribution
    from cachefront.metrics.stats import load_stats
    from cachefront.services import ROOMS

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    if rooms:
        from cachefront.observability.rooms_print import print_room_figures, room_figures_json

        async def read_rooms() -> dict[str, RoomFigures]:
            async with _engine(settings) as engine:
                return await figures_of_last(engine, settings, FigureReaders.of(ROOMS), hours)

        found = asyncio.run(read_rooms())
        if as_json:
            typer.echo(room_figures_json(found))
        else:
            print_room_figures(found, Console())
        return

    async def run() -> Stats:
        async with _engine(settings) as engine:
            return await load_stats(
                engine,
                hours,
                attribution=Attribution.of(ROOMS, settings),
                call_costs=settings.upstream_call_costs,
            )

    figures = asyncio.run(run())
    if as_json:
        typer.echo(figures.model_dump_json(indent=2))
        return
    print_stats(figures, Console())


@cli.command()
def health(as_json: JsonOption = False) -> None:
    """Every health check; exits 0 when all are ok, 1 on a warning, 2 on a critical one."""
    from cachefront.observability.health import measure_health

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)

    async def run() -> HealthReport:
        async with _engine(settings) as engine:
            return await measure_health(engine, settings)

    try:
        report = asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        # The checks cannot run: for cron that is the worst news, not a crash.
        report = unreachable_report(exc)
        if not as_json:
            typer.echo(f"cachefront health: critical: {report.checks[0].detail}", err=True)
            raise typer.Exit(EXIT_CODES[Level.CRITICAL]) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_health(report, Console())
    raise typer.Exit(EXIT_CODES[report.status])


def unreachable_report(exc: BaseException) -> HealthReport:
    """The report of a database the checks could not reach: one critical check, one line."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    # The driver's first line says what failed (refused, timed out, name unknown); the
    # rest is hints, and SQLAlchemy's wrapper adds the statement and a link.
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
    detail = f"database unreachable ({type(cause).__name__}): {first or 'no reason given'}"
    check = Check(name="database", status=Level.CRITICAL, value=None, detail=detail)
    return HealthReport(status=Level.CRITICAL, checks=[check])


@cli.command()
def storage(as_json: JsonOption = False) -> None:
    """Size of every table; per cache namespace: entries, bytes, age, expiry forecast, quota."""
    from cachefront.observability.storage import load_storage

    settings = Settings()
    setup_logging(settings.log_level)
    quotas = {ns: int(size) for ns, size in settings.cache_quotas.items()}

    async def run() -> StorageReport:
        async with _engine(settings) as engine:
            return await load_storage(engine, quotas)

    report = asyncio.run(run())
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    print_storage(report, Console())


@cli.command("dashboard-url")
def dashboard_url(
    base: Annotated[
        str | None,
        typer.Option(help="The server's address as the browser reaches it (default: host:port)"),
    ] = None,
) -> None:
    """Print a one-time link to the dashboard (valid 5 minutes, single use)."""
    from urllib.parse import urlsplit

    from cachefront.observability.tokens import LOGIN_SECONDS, new_login_token

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    root = (base or f"http://{settings.host}:{settings.port}").rstrip("/")
    parts = urlsplit(root)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        typer.echo(f"error: --base must be an http(s) URL, got {root!r}", err=True)
        raise typer.Exit(2)

    async def run() -> str:
        async with _engine(settings) as engine:
            return await new_login_token(engine)

    token = asyncio.run(run())
    typer.echo(f"{root}/dashboard/login?token={token}")
    Console(stderr=True).print(f"single use, valid {LOGIN_SECONDS // 60} minutes")


def _figures_command(
    settings: Settings,
    load: Callable[[AsyncEngine], Awaitable[BaseModel | list[Any]]],
    as_json: bool,
    table: Callable[[Any, Console], None],
) -> None:
    """Load one figure over a short-lived engine and print it (a table, or JSON)."""

    async def run() -> BaseModel | list[Any]:
        async with _engine(settings) as engine:
            return await load(engine)

    _show(asyncio.run(run()), as_json, table)


def _show(
    figures: BaseModel | list[Any], as_json: bool, table: Callable[[Any, Console], None]
) -> None:
    if not as_json:
        table(figures, Console())
    elif isinstance(figures, BaseModel):
        typer.echo(figures.model_dump_json(indent=2))
    else:
        typer.echo(json.dumps([f.model_dump(mode="json") for f in figures], indent=2))


@cli.command()
def errors(
    hours: HoursOption = 24,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Rows of each kind")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest failed requests and failed upstream calls, newest first."""
    from cachefront.observability.figure_tables import print_errors
    from cachefront.observability.recent_errors import load_recent_errors

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    _figures_command(
        settings,
        lambda engine: load_recent_errors(engine, hours=hours, limit=limit),
        as_json,
        print_errors,
    )


@cli.command()
def trend(hours: HoursOption = 168, as_json: JsonOption = False) -> None:
    """Requests, hit rate, 5xx and latency percentiles per hour (default: 7 days)."""
    from cachefront.observability.figure_tables import print_trend
    from cachefront.observability.trend import load_trend

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    _figures_command(settings, lambda engine: load_trend(engine, hours=hours), as_json, print_trend)


@cli.command()
def slowest(
    hours: HoursOption = 24,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Rows of each kind")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The slowest individual requests and upstream calls of the window."""
    from cachefront.observability.figure_tables import print_slowest
    from cachefront.observability.slowest import load_slowest

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    _figures_command(
        settings,
        lambda engine: load_slowest(engine, hours=hours, limit=limit),
        as_json,
        print_slowest,
    )


@cli.command()
def tasks(
    runs: Annotated[int, typer.Option(min=1, max=100, help="Runs kept per task")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Every periodic task: cron, last and next run, newest runs' durations and outcomes."""
    from cachefront.jobs.schedule import default_registry
    from cachefront.observability.figure_tables import print_tasks
    from cachefront.observability.tasks import load_tasks, schedules_of

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    schedules = schedules_of(default_registry(settings), settings)

    _figures_command(
        settings,
        lambda engine: load_tasks(
            engine, schedules, history_hours=settings.jobs_retention_hours, runs=runs
        ),
        as_json,
        print_tasks,
    )


@cli.command()
def unread(as_json: JsonOption = False) -> None:
    """Invalidation candidates: entries never read, where reads are tracked (quotas)."""
    from cachefront.observability.figure_tables import print_unread
    from cachefront.observability.unread import load_unread

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    _figures_command(
        settings, lambda engine: load_unread(engine, settings.cache_quotas), as_json, print_unread
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_stats(s: Stats, console: Console) -> None:
    summary = Table("figure", "value", title=f"cachefront, last {s.hours:g} h")
    rows = [
        ("requests", f"{s.requests:,}"),
        ("hit rate", _pct(s.hit_rate)),
        ("by tier", ", ".join(f"{t} {n:,}" for t, n in s.requests_by_tier.items()) or "-"),
        ("p50 / p95 / p99 ms", f"{_ms(s.p50_ms)} / {_ms(s.p95_ms)} / {_ms(s.p99_ms)}"),
        ("cached p95 ms", _ms(s.cached.p95_ms)),
        ("uncached p95 ms", _ms(s.uncached.p95_ms)),
        ("error rate (5xx)", _pct(s.error_rate)),
        ("upstream calls", f"{s.upstream_calls:,} ({s.upstream_failures:,} failed)"),
        ("upstream cost", f"{s.upstream_cost:,.4f}"),
        ("calls saved", f"{s.calls_saved:,.0f}"),
        ("cost saved", f"{s.cost_saved:,.4f}"),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    routes = Table(
        "route", "room", "requests", "hit rate", "5xx", "p50 ms", "p99 ms", title="routes"
    )
    for r in s.routes:
        routes.add_row(
            r.route,
            r.room or "-",
            f"{r.requests:,}",
            _pct(r.hit_rate),
            f"{r.server_errors:,}",
            _ms(r.p50_ms),
            _ms(r.p99_ms),
        )
    console.print(routes)
    rooms = Table("room", "requests", "hit rate", "upstream calls", "cost", "saved", title="rooms")
    for room in s.rooms:
        rooms.add_row(
            room.room,
            f"{room.requests:,}",
            _pct(room.hit_rate),
            f"{room.upstream_calls:,}",
            f"{room.upstream_cost:,.4f}",
            f"{room.cost_saved:,.4f}",
        )
    console.print(rooms)
    providers = Table(
        "provider", "calls", "failed", "attempts", "p95 ms", "cost", "basis", title="upstreams"
    )
    for p in s.upstream_by_provider:
        providers.add_row(
            p.provider,
            f"{p.calls:,}",
            f"{p.failures:,}",
            f"{p.attempts:,}",
            _ms(p.p95_ms),
            f"{p.cost:,.4f}",
            # "measured": the room's own records (tokens billed); else the per-call price.
            "measured" if p.cost_basis == "measured" else "per call",
        )
    console.print(providers)


def print_health(report: HealthReport, console: Console) -> None:
    style = _STYLES[report.status]
    table = Table("check", "status", "value", "warn at", "critical at", "detail")
    for c in report.checks:
        table.add_row(
            c.name,
            f"[{_STYLES[c.status]}]{c.status.value}[/]",
            "-" if c.value is None else f"{c.value:g}",
            "-" if c.warn_at is None else f"{c.warn_at:g}",
            "-" if c.critical_at is None else f"{c.critical_at:g}",
            c.detail,
        )
    table.title = f"cachefront health: [{style}]{report.status.value}[/]"
    console.print(table)


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} B"


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_storage(r: StorageReport, console: Console) -> None:
    tables = Table(
        "table",
        "size",
        "partitions",
        title=f"cachefront storage: database {_bytes(r.database_bytes)}",
    )
    for t in r.tables:
        name = t.table if t.schema_name == "public" else f"{t.schema_name}.{t.table}"
        tables.add_row(name, _bytes(t.bytes), str(t.partitions) if t.partitions else "-")
    console.print(tables)
    spaces = Table(
        "namespace",
        "entries",
        "bytes",
        "quota",
        "oldest",
        "newest",
        "expired",
        "in 1 h",
        "in 24 h",
        "in 7 d",
        "evicted",
        title="cache namespaces (PostgreSQL tier); expiring: cumulative",
    )
    for n in r.namespaces:
        spaces.add_row(
            n.namespace,
            f"{n.entries:,}",
            _bytes(n.bytes),
            f"[bold red]{_bytes(n.quota_bytes)}[/]" if n.over_quota else _bytes(n.quota_bytes),
            _when(n.oldest_stored_at),
            _when(n.newest_stored_at),
            f"{n.expired:,}",
            f"{n.expiring_1h:,}",
            f"{n.expiring_24h:,}",
            f"{n.expiring_7d:,}",
            f"{n.evicted_entries:,}",
        )
    console.print(spaces)
