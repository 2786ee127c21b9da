"""Async SQLAlchemy engine for the configured PostgreSQL, with URL normalisation."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["DEFAULT_CONNECT_TIMEOUT_SECONDS", "async_url", "create_engine", "sync_url"]

# How long opening a connection may take. Without it a database host that drops
# packets, or a proxy that accepts and never answers, holds each new connection (and
# the request waiting for it) until the operating system gives up, minutes later,
# before anything notices the outage. A ``connect_timeout`` in the URL wins.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5


def _with_driver(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"only PostgreSQL URLs are supported, got {parsed.get_backend_name()!r}")
    # psycopg 3 serves both the async engine and Alembic's sync one, and procrastinate.
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The URL for SQLAlchemy's async engine (psycopg 3 driver)."""
    return _with_driver(url)


def sync_url(url: str) -> str:
    """The URL for synchronous use (Alembic); psycopg 3 does both."""
    return _with_driver(url)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    transaction_pooler: bool = False,
) -> AsyncEngine:
    """An async engine; ``pool_pre_ping`` so a restarted server does not fail the next query.

    ``transaction_pooler`` says ``url`` is a pooler in transaction mode (PgBouncer
    ``pool_mode=transaction``): each transaction may run on another server connection.
    """
    connect_args: dict[str, object] = (
        {} if "connect_timeout" in make_url(url).query else {"connect_timeout": connect_timeout}
    )
    if transaction_pooler:
        # psycopg prepares a statement on the server after it ran five times; the next
        # transaction may land on a server connection that never saw it ("prepared
        # statement does not exist"). None never prepares.
        connect_args["prepare_threshold"] = None
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )
