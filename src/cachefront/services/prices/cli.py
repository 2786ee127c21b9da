"""The prices room's commands: `cachefront assets import|list|sync` and `prices backfill`.

``prices backfill`` submits a ``prices-backfill`` job, so it is in the job API with its
``progress`` like one submitted through ``POST /v1/jobs``, and runs it in this process
with a worker of its own: what a user typing it expects is the work done when the bar
reaches the end, worker or none. It spends the same budgets as every process (shared
through Redis) at background priority, so the API's users keep their reserve.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.authenticator import SERVICE_IDENTITY
from cachefront.auth.identity import owner_of
from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.errors import CachefrontError
from cachefront.jobs.records import JobRecord
from cachefront.jobs.status import FINAL, JobStatus
from cachefront.logs import setup_logging
from cachefront.services.prices.assets import AssetStore, UpsertCounts
from cachefront.services.prices.assets_csv import AssetCsvError, parse_assets_csv
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.providers import BinanceProvider

__all__ = ["commands", "run_backfill_job", "sync_assets"]

commands = typer.Typer()
assets_app = typer.Typer(help="The assets whose prices are kept: import, list, sync.")
prices_app = typer.Typer(help="Price history: backfill.")
commands.add_typer(assets_app, name="assets")
commands.add_typer(prices_app, name="prices")

console = Console(stderr=True)


@contextlib.asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    # The app is imported when a command runs: it imports the list of rooms, this one too.
    from cachefront.app import resolve_database_url
    from cachefront.db.engine import create_engine

    engine = create_engine(resolve_database_url(settings), pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


def _print_counts(counts: UpsertCounts) -> None:
    Console().print(
        f"inserted {counts.inserted}, updated {counts.updated}, unchanged {counts.unchanged}"
    )


@assets_app.command("import")
def import_assets(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file")
    ],
) -> None:
    """Import assets from CSV (symbol,name,type,provider,provider_id,currency[,exchange,active]).

    Importing again updates what changed; the counts say what happened.
    """
    try:
        assets = parse_assets_csv(file.read_text(encoding="utf-8"))
    except AssetCsvError as exc:
        console.print(f"[red]{file}: not imported[/red]\n{exc}")
        raise typer.Exit(1) from None
    settings = Settings(worker_in_process=False)

    async def run() -> UpsertCounts:
        async with _engine(settings) as engine:
            return await AssetStore(engine).upsert(assets)

    _print_counts(asyncio.run(run()))


@assets_app.command("list")
def list_assets(
    active: Annotated[bool, typer.Option(help="Only assets that are priced")] = False,
) -> None:
    """List the assets in a table."""
    settings = Settings(worker_in_process=False)

    async def run() -> list[tuple[Asset, bool]]:
        async with _engine(settings) as engine:
            rows = await AssetStore(engine).stored(active_only=active)
        return [(row.asset, row.available) for row in rows]

    table = Table(
        "symbol", "name", "type", "provider", "provider id", "currency", "exchange", "state"
    )
    for asset, available in asyncio.run(run()):
        state = "active" if asset.active and available else "unavailable" if asset.active else "off"
        table.add_row(
            asset.symbol,
            asset.name,
            asset.type.value,
            asset.provider,
            asset.provider_id,
            asset.currency,
            asset.exchange or "",
            state,
        )
    Console().print(table)


async def sync_assets(
    store: AssetStore, provider: BinanceProvider, quote: str
) -> tuple[UpsertCounts, int]:
    """Register Binance's trading pairs quoted in ``quote`` as crypto assets.

    The base asset is the symbol (``BTC`` for ``BTCUSDT``). A symbol already taken by
    another provider's asset is left alone: the app's symbols are the app's, and a
    sync must not re-point ``AAPL`` at a token. Returns the counts and how many pairs
    were skipped so.
    """
    pairs = [
        pair
        for pair in await provider.exchange_info(priority="background")
        if pair.trading and pair.quote_asset == quote
    ]
    existing = {asset.symbol: asset for asset in await store.list()}
    assets: list[Asset] = []
    skipped = 0
    for pair in pairs:
        symbol = pair.base_asset.upper()
        held = existing.get(symbol)
        if held is not None and held.provider != provider.name:
            skipped += 1
            continue
        name = held.name if held is not None else symbol
        assets.append(Asset(symbol, name, AssetType.CRYPTO, provider.name, pair.symbol, quote))
    return await store.upsert(assets), skipped


@assets_app.command("sync")
def sync(
    provider: Annotated[str, typer.Argument(help="The provider to list pairs from: binance")],
    quote: Annotated[str, typer.Option(help="Register pairs quoted in this asset")] = "USDT",
) -> None:
    """Register the provider's trading pairs (Binance exchangeInfo) as crypto assets."""
    from cachefront.app import running_services
    from cachefront.services.prices.service import PricesService

    if provider.lower() != "binance":
        raise typer.BadParameter("only binance lists its pairs", param_hint="provider")
    settings = Settings(worker_in_process=False)
    setup_logging("warning")

    async def run() -> tuple[UpsertCounts, int]:
        async with running_services(settings) as services, _engine(settings) as engine:
            binance = services.get(PricesService).providers.get("binance")
            if not isinstance(binance, BinanceProvider):
                raise typer.BadParameter(
                    "binance is not among CACHEFRONT_PRICES_PROVIDERS", param_hint="provider"
                )
            return await sync_assets(AssetStore(engine), binance, quote.upper())

    counts, skipped = asyncio.run(run())
    _print_counts(counts)
    if skipped:
        console.print(f"{skipped} pairs skipped: their symbol belongs to another provider")


@prices_app.command("backfill")
def backfill(
    years: Annotated[int, typer.Option(min=1, max=50, help="Years of daily candles")] = 10,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default every active asset)")
    ] = None,
) -> None:
    """Store years of daily history, skipping what is stored, as a prices-backfill job.

    The job is in the job API (GET /v1/jobs/{id}, its progress drawn here as the bar)
    and runs in this process, or in a `cachefront worker` should one take it first.
    """
    chosen = [s for s in symbols.split(",") if s.strip()] if symbols else None
    setup_logging("warning")
    try:
        record = asyncio.run(run_backfill_job(Settings(worker_in_process=False), years, chosen))
    except CachefrontError as exc:
        console.print(f"[red]backfill not started: {exc}[/red]")
        raise typer.Exit(1) from None
    if record.status is not JobStatus.SUCCEEDED:
        console.print(f"[red]job {record.id} {record.status.value}: {record.error}[/red]")
        raise typer.Exit(1)
    summary = dict(record.summary or {})
    table = Table("assets done", "candles written", "already stored", "failed", "unavailable")
    failed = summary.get("failed")
    unavailable = summary.get("unavailable")
    table.add_row(
        str(summary.get("assets")),
        str(summary.get("candles")),
        str(summary.get("skipped")),
        str(len(failed) if isinstance(failed, dict) else failed),
        ", ".join(unavailable) if isinstance(unavailable, list) else "",
    )
    Console().print(table)
    if isinstance(failed, dict):
        for symbol, detail in failed.items():
            console.print(f"[yellow]{symbol}[/yellow]: {detail}")


# How often the bar reads the job's progress.
_POLL_SECONDS = 0.25


async def run_backfill_job(settings: Settings, years: int, symbols: list[str] | None) -> JobRecord:
    """Submit a ``prices-backfill`` job, run it in this process, draw its progress; its record.

    The job goes to a queue of this process's own, which its worker here works off,
    so the command never waits on a worker that does not exist; a ``cachefront
    worker`` (which takes any queue) may take it first, and the bar follows it there.
    Interrupted (Ctrl-C), it stops at once and the job goes back to that queue, for a
    worker to resume; running the command again resumes from what is stored.
    """
    # The app is imported when a command runs: it imports the list of rooms, this one too.
    from cachefront.app import running_jobs
    from cachefront.services.prices.tasks import BACKFILL_JOB

    params: dict[str, object] = {"years": years}
    if symbols:
        params["symbols"] = symbols
    own_queue = f"cli-{uuid.uuid4().hex[:12]}"
    async with running_jobs(settings) as (jobs, resources):
        # The operator acts for the service: the job is the service's, as a worker's are.
        with acting_as_service():
            record, _ = await jobs.submit(
                BACKFILL_JOB, params, owner=owner_of(SERVICE_IDENTITY), queue=own_queue
            )
            console.print(f"job {record.id} (GET /v1/jobs/{record.id})")
            # Ctrl-C stops at once: what was stored stays, the rest waits in the queue.
            worker = asyncio.create_task(jobs.work_off(own_queue, resources, grace=0))
            try:
                with Progress(
                    TextColumn("[bold]backfill"),
                    BarColumn(),
                    TaskProgressColumn(),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    task = bar.add_task("backfill", total=1.0)
                    while record.status not in FINAL:
                        if worker.done():
                            worker.result()  # its failure, if it failed
                            raise RuntimeError("the backfill's worker stopped early")
                        await asyncio.sleep(_POLL_SECONDS)
                        record = await jobs.get(record.id)
                        bar.update(task, completed=record.progress)
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
    return record
