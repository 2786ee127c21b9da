"""Streamed provider calls are counted in the platform's upstream metrics as plain ones are:
one row per call, with its status and outcome; a stream cut off counts as broken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from ai_harness import SERVICE_KEY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}


async def _calls(engine: AsyncEngine, since: datetime) -> list[tuple[str, int | None, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT url, status, outcome FROM upstream_calls "
                "WHERE provider = 'ai-primary' AND ts >= :since ORDER BY ts"
            ),
            {"since": since},
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_streams_are_recorded_as_upstream_calls(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    since = datetime.now(UTC)
    body = {"model": "chat", "messages": [{"role": "user", "content": "metrics"}], "stream": True}
    with serve_app(ai_settings()) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=10) as client:
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                _ = [line async for line in response.aiter_lines()]
            primary.configure(abort_after_chunks=2)
            async with client.stream(
                "POST", "/v1/chat/completions", json={**body, "seed": 2}
            ) as response:
                _ = [line async for line in response.aiter_lines()]
            for _ in range(100):
                calls = await _calls(engine, since)
                if len(calls) >= 2:
                    break
                await asyncio.sleep(0.05)
    assert [(status, outcome) for _, status, outcome in calls] == [
        (200, "ok"),
        (200, "connect_error"),
    ]
    assert all(url.endswith("/chat/completions") for url, _, _ in calls)
