"""Opening a connection to a database that never answers gives up at the connect timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.db.engine import create_engine


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A local port that accepts connections and never says a word, as a dead proxy would."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # kept open, never written to

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    yield port
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_database_that_never_answers_fails_at_the_connect_timeout(
    silent_port: int,
) -> None:
    engine = create_engine(f"postgresql://u@127.0.0.1:{silent_port}/db", connect_timeout=1)
    try:
        with pytest.raises(OperationalError):
            await _select_one(engine)
    finally:
        await engine.dispose()


async def test_a_connect_timeout_in_the_url_is_kept(silent_port: int) -> None:
    url = f"postgresql://u@127.0.0.1:{silent_port}/db?connect_timeout=1"
    engine = create_engine(url, connect_timeout=600)
    try:
        with pytest.raises(OperationalError):
            await _select_one(engine)
    finally:
        await engine.dispose()


async def _select_one(engine: AsyncEngine) -> None:
    # The outer bound only turns a hang into a failure of the test (TimeoutError); the
    # engine's own connect timeout must end the attempt first, as a database error.
    async with asyncio.timeout(20), engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
