"""Callers sharing one flight (reflections: the same words from anyone are one provider
call) keep their quotas apart: each is checked before it joins, a caller's own 429 never
reaches the others, and a follower only ever gets the provider's answer or failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread
from minute_windows import away_from_a_minute_edge

BODY = {"language": "en", "tone": "neutral"}


async def _keys(engine: AsyncEngine, count: int) -> list[str]:
    return [(await KeyManager(engine).create(f"flight-q-{i}", Role.USER))[0] for i in range(count)]


async def test_a_callers_own_429_never_reaches_the_callers_joined_to_its_flight(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    spent, other, third = await _keys(engine, 3)
    settings = ai_settings(ai_reflection_model="chat", ai_requests_per_minute=2)
    with serve_app(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:

            async def ask(key: str, words: str) -> httpx.Response:
                return await client.post(
                    "/v1/ai/reflections",
                    json={**BODY, "text": words},
                    headers={"Authorization": f"Bearer {key}"},
                )

            await away_from_a_minute_edge(15)
            for words in ("Spending my first request.", "Spending my second request."):
                assert (await ask(spent, words)).status_code == 200
            primary.configure(latency_ms=600)
            before = primary.requests()

            # Past its quota, a caller asks first and another the same words just after:
            # the first is refused alone, and no flight carries its refusal to the other.
            refused = asyncio.create_task(ask(spent, "The same words for both."))
            await asyncio.sleep(0.05)
            answered = await ask(other, "The same words for both.")
            assert (await refused).status_code == 429
            assert answered.status_code == 200, answered.text
            assert answered.headers["x-cache"] == "MISS"

            # Another leads; the caller past its quota tries to join while it is in
            # flight: checked before joining, it is refused; the leader and a caller
            # with quota joined to the same flight get the provider's answer.
            leading = asyncio.create_task(ask(other, "Words in flight."))
            # In flight once the provider has it (a fixed pause loses on a busy machine).
            while primary.requests() - before < 2:  # noqa: ASYNC110 (another process's count)
                await asyncio.sleep(0.01)
            joining = asyncio.create_task(ask(third, "Words in flight."))
            late = await ask(spent, "Words in flight.")
            assert late.status_code == 429
            assert late.json()["detail"].startswith("Rate limit reached")
            first, joined = await leading, await joining
            assert first.status_code == joined.status_code == 200
            assert first.headers["x-cache"] == "MISS"
            assert joined.headers["x-cache"] == "COALESCED"
            assert joined.json() == first.json()
            assert primary.requests() - before == 2


async def test_a_follower_gets_the_providers_failure_not_anyones_quota(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    leader, follower = await _keys(engine, 2)
    settings = ai_settings(ai_reflection_model="chat", ai_requests_per_minute=5)
    with serve_app(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:

            async def ask(key: str) -> httpx.Response:
                return await client.post(
                    "/v1/ai/reflections",
                    json={**BODY, "text": "A request the provider refuses."},
                    headers={"Authorization": f"Bearer {key}"},
                )

            await away_from_a_minute_edge(15)
            # The provider refuses the request as malformed (not retried elsewhere).
            primary.configure(latency_ms=400, fail_next=1, fail_status=400)
            leading = asyncio.create_task(ask(leader))
            await asyncio.sleep(0.15)
            joined = await ask(follower)
            first = await leading
    assert first.status_code == joined.status_code
    assert first.status_code != 429
    assert joined.json()["detail"] == first.json()["detail"]
    assert "refused the request" in joined.json()["detail"]
    assert primary.requests() == 1
