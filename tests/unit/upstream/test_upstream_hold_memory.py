"""Holds without Redis: a 418 or 429 with Retry-After stops every call until it ends."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import httpx
import pytest

from cachefront.errors import BudgetExhaustedError, UpstreamStatusError
from cachefront.upstream import OutboundBudget, RetryPolicy, ServerSignals, UpstreamClient

HOLDS = ServerSignals(hold_statuses=frozenset({418, 429}))
RETRIES = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.02)
URL = "https://upstream.test/x"


class Script:
    """Answers in order, the last one repeating; counts what arrived."""

    def __init__(self, *replies: httpx.Response) -> None:
        self.replies = list(replies)
        self.hits = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hits += 1
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return httpx.Response(reply.status_code, headers=reply.headers)


def _client(script: Script, signals: ServerSignals = HOLDS) -> UpstreamClient:
    budget = OutboundBudget("100/minute", name=f"hold-{uuid.uuid4().hex[:8]}", signals=signals)
    return UpstreamClient(
        "held", retry=RETRIES, budget=budget, transport=httpx.MockTransport(script)
    )


def _held(status: int, seconds: int = 1) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": str(seconds)})


async def test_a_418_stops_every_call_until_the_hold_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script(_held(418), httpx.Response(200))
    caplog.set_level(logging.WARNING, logger="cachefront.upstream.hold")
    async with _client(script) as client:
        with pytest.raises(UpstreamStatusError) as caught:
            await client.request("GET", URL, deadline=5)
        assert caught.value.status_code == 418
        assert script.hits == 1  # a 418 is never retried

        started = time.monotonic()
        with pytest.raises(BudgetExhaustedError, match="on hold"):
            await client.request("GET", URL, deadline=5)
        assert time.monotonic() - started < 0.2  # fails fast, within max_user_wait
        with pytest.raises(BudgetExhaustedError, match="on hold"):
            await client.request("GET", URL, priority="background", deadline=0.3)
        assert script.hits == 1

        # A background call whose deadline reaches past the hold waits it out.
        started = time.monotonic()
        response = await client.request("GET", URL, priority="background", deadline=5)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.5
        assert script.hits == 2

        assert client.budget is not None
        name = client.budget.name

    holds = [r for r in caplog.records if getattr(r, "action", None) == "upstream_hold"]
    assert len(holds) == 1
    assert holds[0].levelno == logging.WARNING
    assert getattr(holds[0], "provider", None) == name
    assert getattr(holds[0], "seconds", None) == 1.0


async def test_a_429_with_retry_after_is_not_hammered() -> None:
    script = Script(_held(429), httpx.Response(200))
    async with _client(script) as client:
        # Without a hold this call would sleep the Retry-After and try again; on hold a
        # user call gives up at once so the service can serve what it has.
        started = time.monotonic()
        with pytest.raises(UpstreamStatusError) as caught:
            await client.request("GET", URL, deadline=5)
        assert caught.value.status_code == 429
        assert time.monotonic() - started < 0.5
        for _ in range(5):
            with pytest.raises(BudgetExhaustedError):
                await client.request("GET", URL, deadline=5)
        assert script.hits == 1


async def test_a_background_call_retries_a_429_only_after_the_hold() -> None:
    script = Script(_held(429), httpx.Response(200))
    async with _client(script) as client:
        started = time.monotonic()
        response = await client.request("GET", URL, priority="background", deadline=5)
        assert response.status_code == 200
        assert time.monotonic() - started >= 1.0
        assert script.hits == 2


async def test_the_hold_ends() -> None:
    script = Script(_held(418), httpx.Response(200))
    async with _client(script) as client:
        with pytest.raises(UpstreamStatusError):
            await client.request("GET", URL)
        assert client.budget is not None
        left = await client.budget.hold.remaining()
        assert 0.5 < left <= 1.0
        await asyncio.sleep(left)
        response = await client.request("GET", URL)
        assert response.status_code == 200
        assert script.hits == 2


@pytest.mark.parametrize(
    "reply",
    [httpx.Response(418), _held(503), _held(400)],
    ids=["418-without-retry-after", "503-not-a-hold-status", "400-not-a-hold-status"],
)
async def test_no_hold_without_a_hold_status_and_retry_after(reply: httpx.Response) -> None:
    script = Script(reply, httpx.Response(200))
    async with _client(script, ServerSignals(hold_statuses=frozenset({418}))) as client:
        with pytest.raises(UpstreamStatusError):
            await client.request("GET", URL, deadline=0.5)
        assert client.budget is not None
        assert await client.budget.hold.remaining() == 0.0
        response = await client.request("GET", URL)
        assert response.status_code == 200


async def test_without_hold_statuses_a_429_is_retried_as_before() -> None:
    script = Script(_held(429), httpx.Response(200))
    async with _client(script, ServerSignals()) as client:
        response = await client.request("GET", URL, deadline=5)
    assert response.status_code == 200
    assert script.hits == 2
