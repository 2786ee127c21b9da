"""Job commands of the CLI: worker, and `jobs list|show|retry|cancel`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cachefront.config import Settings
from cachefront.errors import CachefrontError
from cachefront.jobs.records import JobRecord, JobRecords
from cachefront.jobs.status import JobStatus
from cachefront.logs import setup_logging

__all__ = ["cli"]

log = logging.getLogger(__name__)

cli = typer.Typer()
jobs_app = typer.Typer(help="Inspect and manage user jobs.", no_args_is_help=True)
cli.add_typer(jobs_app, name="jobs")

console = Console(stderr=True)


@cli.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default CACHEFRONT_WORKER_CONCURRENCY)")
    ] = None,
) -> None:
    """Run a job worker: user jobs and periodic tasks, until SIGTERM or Ctrl-C."""
    overrides: dict[str, Any] = {"worker_in_process": True}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    settings = Settings(**overrides)
    setup_logging(settings.log_level, settings.log_format)
    # Imported when the command runs: the app brings every room and the server's libraries.
    from cachefront.app import running_services

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with running_services(settings):
            console.print(f"cachefront worker running (concurrency {settings.worker_concurrency})")
            await stop.wait()
        console.print("cachefront worker stopped")

    asyncio.run(run())


@contextlib.asynccontextmanager
async def _control(settings: Settings) -> AsyncIterator[Any]:
    """A jobs runtime for commands: the queue and the records, no worker."""
    from cachefront.app import resolve_database_url
    from cachefront.auth.isolation import acting_as_service, install_isolation
    from cachefront.db.engine import create_engine
    from cachefront.jobs.queue import build_queue_app
    from cachefront.jobs.runtime import JobsRuntime
    from cachefront.jobs.schedule import default_registry

    url = resolve_database_url(settings)
    engine = create_engine(url, pool_size=2)
    # The operator acts for the service: as the app role, which row-level security
    # applies to, and saying so, since a connection without an identity sees no job.
    install_isolation(engine, settings.db_app_role, jwt_issuer=settings.jwt_issuer)
    registry = default_registry(settings)
    queue = build_queue_app(settings, url, registry)
    try:
        with acting_as_service():
            async with queue.open_async():
                yield JobsRuntime(settings, queue, JobRecords(engine), registry)
    finally:
        await engine.dispose()


def _row(record: JobRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "type": record.type,
        "status": record.status.value,
        "progress": round(record.progress, 3),
        "attempts": record.attempts,
        "created_at": record.created_at.isoformat(),
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "owner": record.owner,
        "params": record.params,
        "result": record.result_filename,
        "summary": record.summary,
        "error": record.error,
    }


def _run_on_job(action: str, job_id: uuid.UUID) -> JobRecord:
    async def run() -> JobRecord:
        async with _control(Settings()) as runtime:
            method = {"show": runtime.get, "retry": runtime.retry, "cancel": runtime.cancel}
            record: JobRecord = await method[action](job_id)
            return record

    try:
        return asyncio.run(run())
    except CachefrontError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The most recent jobs."""

    async def run() -> list[JobRecord]:
        async with _control(Settings()) as runtime:
            return list(await runtime.records.recent(None, status=status, limit=limit))

    records = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([_row(r) for r in records], indent=2))
        return
    table = Table("id", "type", "status", "progress", "created", "error")
    for r in records:
        table.add_row(
            str(r.id),
            r.type,
            r.status.value,
            f"{r.progress:.0%}",
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            (r.error or "")[:60],
        )
    Console().print(table)


@jobs_app.command("show")
def show_job(job_id: uuid.UUID) -> None:
    """Everything about one job."""
    typer.echo(json.dumps(_row(_run_on_job("show", job_id)), indent=2))


@jobs_app.command("retry")
def retry_job(job_id: uuid.UUID) -> None:
    """Queue a failed or cancelled job again."""
    record = _run_on_job("retry", job_id)
    console.print(f"job {record.id} is {record.status.value} again")


@jobs_app.command("cancel")
def cancel_job(job_id: uuid.UUID) -> None:
    """Cancel a queued job."""
    record = _run_on_job("cancel", job_id)
    console.print(f"job {record.id} is {record.status.value}")
