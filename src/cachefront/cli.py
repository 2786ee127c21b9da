"""The `cachefront` command line: serve, migrate, config, keys, jobs, cache, and rooms' commands."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
from importlib.metadata import version as package_version
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cachefront.auth.cli import keys_app
from cachefront.config import Settings, env_name, masked_settings
from cachefront.jobs.cli import cli as jobs_cli
from cachefront.logs import log_config, setup_logging
from cachefront.observability.cli import cli as observability_cli
from cachefront.services import ROOMS

if TYPE_CHECKING:
    from cachefront.cache.purge import PurgeTarget

__all__ = ["app", "main"]

app = typer.Typer(
    help="cachefront: a cache-first backend in front of slow, rate-limited upstream APIs.",
    no_args_is_help=True,
    add_completion=False,
)
simulate_app = typer.Typer(help="Run a simulator of an upstream API, for tests and benchmarks.")
app.add_typer(simulate_app, name="simulate")
app.add_typer(jobs_cli)  # worker, jobs list|show|retry|cancel
app.add_typer(keys_app, name="keys")
cache_app = typer.Typer(help="Operate on the cache of a running deployment.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.add_typer(observability_cli)  # stats, health, storage, dashboard-url
for _room in ROOMS:
    # A room's commands join the root (e.g. `precompute`) and `simulate` (its upstreams).
    if _room.cli.commands is not None:
        app.add_typer(_room.cli.commands)
    if _room.cli.simulators is not None:
        simulate_app.add_typer(_room.cli.simulators)

console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cachefront {package_version('cachefront')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """cachefront: a cache-first backend in front of slow, rate-limited upstream APIs."""


def _port_refusal(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None when it can.

    Bound the way uvicorn binds (SO_REUSEADDR), then released at once: checked before
    the database starts and migrations run, so a busy port is reported in a second
    rather than after them (uvicorn would report it too, but only then).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1)")] = None,
) -> None:
    """Start the HTTP API (with an embedded PostgreSQL when no database URL is set)."""
    from cachefront.app import resolve_database_url
    from cachefront.db.migrate import upgrade
    from cachefront.db.topology import database_urls

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    refusal = _port_refusal(bind_host, bind_port)
    if refusal is not None:
        # Plain text: rich would wrap the line at 80 columns when stderr is not a terminal.
        typer.echo(f"error: {refusal} (is another server running there?)", err=True)
        raise typer.Exit(code=1)
    # Resolve the database once, here: worker processes inherit the URL and never race
    # to start an embedded server or to migrate.
    url = resolve_database_url(settings)
    if settings.migrate_on_start:
        upgrade(database_urls(settings, url).direct)
    os.environ["CACHEFRONT_DATABASE_URL"] = url
    os.environ["CACHEFRONT_MIGRATE_ON_START"] = "false"
    database = (
        f"embedded PostgreSQL in {settings.data_dir}"
        if settings.embedded_database
        else "PostgreSQL"
    )
    redis_state = "on" if settings.redis_url else "off"
    console.print(
        f"cachefront on http://{bind_host}:{bind_port} ({database}, Redis {redis_state})",
        soft_wrap=True,  # one line in logs too, where there is no terminal width
    )
    # uvicorn raises the SIGTERM it shut down on again once it is done. With the default
    # action that ends the process before its exit handlers run, and the embedded
    # PostgreSQL this process started would run on; exiting through Python runs them.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Prometheus's multiprocess mode: every worker process keeps its values in files of
    # one folder, which /metrics sums. A folder of this run's own unless one is given
    # (which must then be emptied between runs).
    own_folder = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_folder = tempfile.mkdtemp(prefix="cachefront-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_folder
    try:
        _run_uvicorn(settings, bind_host, bind_port, workers)
    finally:
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)


def _run_uvicorn(settings: Settings, bind_host: str, bind_port: int, workers: int | None) -> None:
    import uvicorn

    from cachefront.http.server import uvicorn_options

    uvicorn.run(
        "cachefront.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers or settings.workers,
        loop="uvloop",
        log_level=settings.log_level,
        # Applied again by uvicorn in each worker process it spawns, so every process
        # logs in one format whatever --workers says.
        log_config=log_config(settings.log_level, settings.log_format),
        **uvicorn_options(settings),
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@app.command()
def migrate() -> None:
    """Apply database migrations (they also run at start)."""
    from cachefront.app import resolve_database_url
    from cachefront.db.migrate import current_revision, upgrade
    from cachefront.db.topology import database_urls

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    # Past a transaction pooler, on the direct connection: DDL wants a session.
    url = database_urls(settings, resolve_database_url(settings)).direct
    upgrade(url)
    console.print(f"database at revision {current_revision(url)}")


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Print the effective settings, secrets masked."""
    values = _effective_values(Settings())
    if as_json:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, env_name(name), str(value))
    Console().print(table)


def _effective_values(settings: Settings) -> dict[str, Any]:
    """The masked settings, with the rate limits as they apply (defaults merged in)."""
    from cachefront.ratelimit import parse_rate_limits

    values = masked_settings(settings)
    values["rate_limits"] = {
        group: str(limit) for group, limit in parse_rate_limits(settings.rate_limits).items()
    }
    return values


@cache_app.command("purge")
def cache_purge(
    namespace: Annotated[str, typer.Argument(help="The namespace, as its room names it")],
    key: Annotated[str | None, typer.Option(help="Purge this one key")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Purge every key starting with it ('' for all)")
    ] = None,
) -> None:
    """Purge entries from every tier; running processes drop them from memory too."""
    import asyncio

    from cachefront.cache.purge import purge_target
    from cachefront.errors import InvalidInputError

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    try:
        target = purge_target(namespace, key, prefix)
    except InvalidInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    purged = asyncio.run(_purge(settings, target))
    what = f"key {key!r}" if key is not None else f"keys starting with {prefix!r}"
    typer.echo(f"purged {purged} entries of {namespace} ({what})")


async def _purge(settings: Settings, target: PurgeTarget) -> int:
    from cachefront import composition
    from cachefront.app import resolve_database_url
    from cachefront.cache.purge import purge
    from cachefront.db.engine import create_engine
    from cachefront.db.topology import database_urls

    # Connected as the server connects: behind a transaction pooler (a direct URL is
    # set) no prepared statements on the pooled engine, and the memory-tier sync
    # without Redis LISTENs on the direct URL, where a LISTEN holds.
    urls = database_urls(settings, resolve_database_url(settings))
    engine = create_engine(urls.primary, pool_size=1, transaction_pooler=urls.transaction_pooler)
    link = composition.redis_link_from(settings)
    cache = composition.cache_from(
        settings,
        engine,
        memory=composition.memory_from(settings),
        redis_link=link,
        listen_url=urls.direct if urls.transaction_pooler else None,
    )
    try:
        await cache.open()
        return await purge(cache, target)
    finally:
        await cache.aclose()
        if link is not None:
            await link.aclose()
        await engine.dispose()


def main() -> None:
    app()
