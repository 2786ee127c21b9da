"""OpenAI's ``x-ratelimit-*`` headers on every successful answer, not only on 429s: plain
calls, streams, embeddings and cache hits, from the caller's own counters."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from ai_harness import SERVICE_KEY
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

NAMES = [
    f"x-ratelimit-{part}-{what}"
    for what in ("requests", "tokens")
    for part in ("limit", "remaining", "reset")
]
DURATION = re.compile(r"^(\d+h)?(\d+m)?\d+(ms|s)$")
DAILY = 1_000_000
RPM = 1000


def _limits(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    found = {name: response.headers[name] for name in NAMES if name in response.headers}
    assert sorted(found) == sorted(NAMES)
    assert found["x-ratelimit-limit-tokens"] == str(DAILY)
    assert found["x-ratelimit-limit-requests"] == str(RPM)
    assert DURATION.match(found["x-ratelimit-reset-tokens"])
    assert DURATION.match(found["x-ratelimit-reset-requests"])
    return found


async def test_every_successful_answer_carries_the_callers_counters(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, _ = await KeyManager(engine).create("ai-ratelimit-headers", Role.USER)
    settings = ai_settings(ai_daily_tokens=DAILY, ai_requests_per_minute=RPM)
    chat = {"model": "chat", "messages": [{"role": "user", "content": "Hello there."}]}
    repeatable = {**chat, "temperature": 0}
    with serve_app(settings) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            first = _limits(await client.post("/v1/chat/completions", json=chat))
            second = _limits(await client.post("/v1/chat/completions", json=chat))
            async with client.stream(
                "POST", "/v1/chat/completions", json={**chat, "stream": True}
            ) as stream:
                streamed = _limits(stream)
                await stream.aread()
            embedded = _limits(
                await client.post("/v1/embeddings", json={"model": "embed", "input": "words"})
            )
            missed = await client.post("/v1/chat/completions", json=repeatable)
            hit = await client.post("/v1/chat/completions", json=repeatable)
            assert hit.headers["x-cache"] == "HIT"
            from_hit = _limits(hit)
            _limits(missed)
    # Each provider call held tokens and counted a request; the caller sees them go.
    assert int(second["x-ratelimit-remaining-tokens"]) < int(first["x-ratelimit-remaining-tokens"])
    assert int(streamed["x-ratelimit-remaining-tokens"]) < int(
        second["x-ratelimit-remaining-tokens"]
    )
    assert int(embedded["x-ratelimit-remaining-tokens"]) < DAILY
    remaining = int(first["x-ratelimit-remaining-requests"])
    assert RPM - 1 >= remaining >= RPM - 5
    # A hit costs nothing: its counters are the ones the last call left.
    assert int(from_hit["x-ratelimit-remaining-tokens"]) <= int(
        embedded["x-ratelimit-remaining-tokens"]
    )
    assert primary.requests() == 5


async def test_no_limits_no_headers(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
) -> None:
    chat = {"model": "chat", "messages": [{"role": "user", "content": "Hello there."}]}
    with serve_app(ai_settings()) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            answer = await client.post(
                "/v1/chat/completions",
                json=chat,
                headers={"Authorization": f"Bearer {SERVICE_KEY}"},
            )
    assert answer.status_code == 200
    assert not any(name in answer.headers for name in NAMES)
