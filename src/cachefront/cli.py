"""The `cachefront` command line: serve, migrate, config, keys, simulate."""

from __future__ import annotations

import json
import logging
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cachefront.auth.cli import keys_app
from cachefront.config import Settings, masked_settings
from cachefront.jobs.cli import cli as jobs_cli

__all__ = ["app", "main"]

app = typer.Typer(
    help="cachefront: a cache-first backend in front of slow, rate-limited upstream APIs.",
    no_args_is_help=True,
    add_completion=False,
)
simulate_app = typer.Typer(help="Run a simulator of an upstream API, for tests and benchmarks.")
app.add_typer(simulate_app, name="simulate")
app.add_typer(jobs_cli)  # worker, precompute, jobs list|show|retry|cancel
app.add_typer(keys_app, name="keys")

console = Console(stderr=True)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if level != "debug":
        # The queue narrates every periodic deferral and job start at INFO: several
        # lines a minute that say nothing went wrong. Its warnings still show.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1)")] = None,
) -> None:
    """Start the HTTP API (with an embedded PostgreSQL when no database URL is set)."""
    import uvicorn

    from cachefront.app import resolve_database_url
    from cachefront.db.migrate import upgrade

    settings = Settings()
    _setup_logging(settings.log_level)
    # Resolve the database once, here: worker processes inherit the URL and never race
    # to start an embedded server or to migrate.
    url = resolve_database_url(settings)
    if settings.migrate_on_start:
        upgrade(url)
    os.environ["CACHEFRONT_DATABASE_URL"] = url
    os.environ["CACHEFRONT_MIGRATE_ON_START"] = "false"
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    database = (
        f"embedded PostgreSQL in {settings.data_dir}"
        if settings.embedded_database
        else "PostgreSQL"
    )
    redis_state = "on" if settings.redis_url else "off"
    console.print(f"cachefront on http://{bind_host}:{bind_port} ({database}, Redis {redis_state})")
    uvicorn.run(
        "cachefront.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers or settings.workers,
        http="httptools",
        loop="uvloop",
        # Every request is already recorded as a metric; an access log line per request
        # would cost more than answering a cache hit.
        access_log=False,
        log_level=settings.log_level,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (they also run at start)."""
    from cachefront.app import resolve_database_url
    from cachefront.db.migrate import current_revision, upgrade

    settings = Settings()
    _setup_logging(settings.log_level)
    url = resolve_database_url(settings)
    upgrade(url)
    console.print(f"database at revision {current_revision(url)}")


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Print the effective settings, secrets masked."""
    values = masked_settings(Settings())
    if as_json:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"CACHEFRONT_{name.upper()}", str(value))
    Console().print(table)


@simulate_app.command("horizons")
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


def main() -> None:
    app()
