"""`cachefront keys`: create, list and revoke API keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cachefront.auth.identity import Role
from cachefront.auth.manager import ApiKey, KeyManager
from cachefront.config import Settings
from cachefront.errors import NotFoundError

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Manage API keys (stored hashed; a key is shown once, at creation).")
_T = TypeVar("_T")


def _run(action: Callable[[KeyManager], Awaitable[_T]]) -> _T:
    from cachefront.app import resolve_database_url
    from cachefront.db.engine import create_engine
    from cachefront.db.migrate import upgrade

    settings = Settings()
    url = resolve_database_url(settings)
    if settings.migrate_on_start:
        upgrade(url)

    async def main() -> _T:
        engine = create_engine(url, pool_size=1)
        try:
            return await action(KeyManager(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _table(keys: list[ApiKey]) -> Table:
    table = Table("prefix", "name", "role", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.prefix,
            key.name,
            key.role.value,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    return table


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for")],
    role: Annotated[Role, typer.Option("--role", help="anon, user or service")] = Role.USER,
) -> None:
    """Create a key and print it once, alone on the last line."""
    key, record = _run(lambda manager: manager.create(name, role))
    typer.echo(
        f"created key {record.prefix} ({record.name}, role {record.role.value}); "
        "store it now, it cannot be shown again:"
    )
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """List keys (prefix, name, role, last use, revocation); never the keys themselves."""
    Console().print(_table(_run(lambda manager: manager.list())))


@keys_app.command("revoke")
def revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (see `keys list`)")],
) -> None:
    """Revoke a key; every server refuses it within CACHEFRONT_AUTH_CACHE_SECONDS."""
    try:
        record = _run(lambda manager: manager.revoke(prefix))
    except NotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked key {record.prefix} ({record.name})")
