"""Coalescing over HTTP: identical concurrent requests, plain and streamed, make one provider
call; followers get every chunk; disconnects cancel nothing; failures reach everyone."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from ai_harness import SERVICE_KEY, stream_events

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

BODY: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "user", "content": "Tell me about coalescing."}],
    "temperature": 0,
}
AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}
STREAM = {**BODY, "stream": True}


@pytest.fixture
async def gateway(
    ai_settings: Callable[..., Settings], serve_app: type[ServerThread]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway in front of the primary simulator, with room for 200 at once."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with serve_app(ai_settings()) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers=AUTH, timeout=30, limits=limits
        ) as client:
            yield client


async def test_fifty_identical_plain_requests_make_one_call(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(latency_ms=400)
    answers = await asyncio.gather(
        *(gateway.post("/v1/chat/completions", json=BODY) for _ in range(50))
    )
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    states = Counter(answer.headers["x-cache"] for answer in answers)
    assert states["MISS"] == 1
    assert states["COALESCED"] + states["HIT"] == 49
    assert primary.requests() == 1


async def test_fifty_identical_streams_make_one_call_with_identical_chunks(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(latency_ms=100, tokens_per_second=40)
    results = await asyncio.gather(*(stream_events(gateway, STREAM) for _ in range(50)))
    streams = [events for _, events in results]
    assert all(events == streams[0] for events in streams)
    assert streams[0][-1] == "data: [DONE]"
    assert Counter(state for state, _ in results)["MISS"] == 1
    assert primary.requests() == 1


async def test_a_follower_disconnecting_does_not_cancel_the_call(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(tokens_per_second=20)
    leader = asyncio.create_task(stream_events(gateway, STREAM))
    await asyncio.sleep(0.2)
    async with gateway.stream("POST", "/v1/chat/completions", json=STREAM) as follower:
        assert follower.headers["x-cache"] == "COALESCED"
        lines = follower.aiter_lines()
        seen = [line async for line in _take(lines, 3)]
        assert seen[0].startswith("data: ")
    state, events = await leader
    assert state == "MISS"
    assert events[-1] == "data: [DONE]"
    replay = await stream_events(gateway, STREAM)
    assert replay == ("HIT", events)
    assert primary.requests() == 1


async def test_the_leader_disconnecting_does_not_cancel_the_call(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(tokens_per_second=20)
    async with gateway.stream("POST", "/v1/chat/completions", json=STREAM) as leader:
        assert leader.headers["x-cache"] == "MISS"
        follower = asyncio.create_task(stream_events(gateway, STREAM))
        await asyncio.sleep(0.2)
    # The leader went away after its first chunks; the follower gets them all.
    state, events = await follower
    assert state == "COALESCED"
    assert events[-1] == "data: [DONE]"
    assert (await stream_events(gateway, STREAM))[0] == "HIT"
    assert primary.requests() == 1


async def test_an_aborted_stream_is_never_stored(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(abort_after_chunks=3)
    state, events = await stream_events(gateway, STREAM)
    assert state == "MISS"
    assert len(events) == 4  # three chunks, then the error
    error = orjson.loads(events[-1].removeprefix("data: "))["error"]
    assert error["type"] == "api_error"
    primary.configure(abort_after_chunks=None)
    state, events = await stream_events(gateway, STREAM)
    assert state == "MISS"
    assert events[-1] == "data: [DONE]"
    assert primary.requests() == 2


async def test_a_leaders_failure_reaches_every_follower(
    gateway: httpx.AsyncClient, primary: RunningOpenAISimulator
) -> None:
    primary.configure(latency_ms=200, error_rate=1.0)
    answers = await asyncio.gather(
        *(gateway.post("/v1/chat/completions", json=BODY) for _ in range(10))
    )
    assert {answer.status_code for answer in answers} == {503}
    assert all(answer.json()["error"]["type"] == "api_error" for answer in answers)
    assert all(answer.headers["retry-after"] for answer in answers)
    # One logical call with its retries, not one per request.
    stats = primary.stats()
    assert stats["by_status"] == {"503": stats["requests"]}
    assert stats["requests"] <= 3


async def _take(lines: AsyncIterator[str], count: int) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith("data: "):
            yield line
            count -= 1
            if count == 0:
                return
