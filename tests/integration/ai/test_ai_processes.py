"""Across processes: two gateway servers sharing Redis make one provider call for identical
concurrent requests, plain and streamed, whichever server each request reaches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ai_harness import SERVICE_KEY, stream_events

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import settings_env, spawn_server

pytestmark = [pytest.mark.redis, pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}
BODY: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "user", "content": "One call for all of us."}],
    "temperature": 0,
}


async def test_two_processes_make_one_provider_call(
    ai_settings: Callable[..., Settings],
    primary: RunningOpenAISimulator,
    redis_url: str,
) -> None:
    env = settings_env(ai_settings(redis_url=redis_url))
    with spawn_server(env) as first, spawn_server(env) as second:
        urls = [first, second]
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(headers=AUTH, timeout=30, limits=limits) as client:
            primary.reset()
            primary.configure(latency_ms=600)
            answers = await asyncio.gather(
                *(client.post(urls[i % 2] + "/v1/chat/completions", json=BODY) for i in range(20))
            )
            assert {a.status_code for a in answers} == {200}
            assert len({a.content for a in answers}) == 1
            assert primary.requests() == 1

            primary.reset()
            primary.configure(latency_ms=300, tokens_per_second=30)
            stream = {**BODY, "stream": True}
            streams = await asyncio.gather(
                *(stream_events(client, stream, base=urls[i % 2]) for i in range(20))
            )
            events = [lines for _, lines in streams]
            assert all(lines == events[0] for lines in events)
            assert events[0][-1] == "data: [DONE]"
            assert primary.requests() == 1
            states = {state for state, _ in streams}
            assert "MISS" in states
            assert states <= {"MISS", "COALESCED", "HIT"}
