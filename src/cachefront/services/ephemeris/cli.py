"""The ephemeris room's commands: `cachefront precompute` and `cachefront simulate horizons`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cachefront.config import Settings
from cachefront.logs import setup_logging
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.service import EphemerisService
from cachefront.services.ephemeris.settings import EphemerisSettings
from cachefront.services.ephemeris.tasks import precompute_window

__all__ = ["commands", "simulators"]

commands = typer.Typer()
simulators = typer.Typer()

console = Console(stderr=True)


@commands.command()
def precompute(
    hours: Annotated[int | None, typer.Option(help="Hours ahead (default 48)")] = None,
    bodies: Annotated[
        str | None, typer.Option(help="Comma-separated bodies (default the seven classical)")
    ] = None,
    start: Annotated[datetime | None, typer.Option(help="Start instant, UTC (default now)")] = None,
) -> None:
    """Fill the cache for the hours ahead now, one upstream call per body at most."""
    # The app is imported when the command runs: it imports the list of rooms, this one too.
    from cachefront.app import running_services

    settings = Settings(worker_in_process=False)
    own = settings.room(EphemerisSettings)
    setup_logging("warning")
    names = bodies.split(",") if bodies else own.precompute_bodies
    try:
        chosen = [Body(name.strip().lower()) for name in names if name.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; known: {', '.join(b.value for b in Body)}") from exc
    span = hours or own.precompute_hours
    first = start or datetime.now(UTC)
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)

    async def run() -> dict[str, int]:
        missing: dict[str, int] = {}
        async with running_services(settings) as services:
            service = services.get(EphemerisService)
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("precompute", total=len(chosen))
                for body in chosen:
                    bar.update(task, description=f"precompute {body.value}")
                    missing.update(await precompute_window(service, [body], first, span))
                    bar.advance(task)
        return missing

    missing = asyncio.run(run())
    table = Table("body", "rows fetched")
    for name, count in missing.items():
        table.add_row(name, str(count))
    Console().print(table)
    end = first + timedelta(hours=span)
    console.print(f"cached {first:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC")


@simulators.command("horizons")
def simulate_horizons(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8901,
    latency_ms: Annotated[float, typer.Option(help="Delay before every answer")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 503")] = 0.0,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute before 429 (default unlimited)")
    ] = None,
) -> None:
    """Serve a NASA JPL Horizons API simulator (real JSON format, local ephemeris values)."""
    from cachefront.simulators.horizons import serve as serve_simulator

    console.print(f"Horizons simulator on http://{host}:{port}/api/horizons.api")
    serve_simulator(
        host,
        port,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit_per_minute=rate_limit,
    )
