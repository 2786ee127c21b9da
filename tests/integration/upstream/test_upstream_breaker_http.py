"""The circuit breaker of UpstreamClient against a real HTTP server that counts requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from upstream_testserver import Reply, ScriptedRoute

from cachefront.errors import CircuitOpenError, UpstreamStatusError, UpstreamTimeoutError
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream import BreakerPolicy, BreakerState, RetryPolicy, UpstreamClient

RESET = 0.3


@pytest.fixture
def records() -> list[UpstreamCallRecord]:
    return []


@pytest.fixture
async def client(records: list[UpstreamCallRecord]) -> AsyncIterator[UpstreamClient]:
    async with UpstreamClient(
        "flaky",
        retry=RetryPolicy(attempts=1),
        breaker=BreakerPolicy(failure_threshold=2, reset_seconds=RESET),
        recorder=records.append,
    ) as client:
        yield client


async def _open_breaker(client: UpstreamClient, route: ScriptedRoute) -> None:
    route.script(503)
    for _ in range(2):
        with pytest.raises(UpstreamStatusError):
            await client.request("GET", route.url)
    assert client.breaker_open


async def test_opens_after_threshold_and_refuses_without_calling(
    client: UpstreamClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    await _open_breaker(client, route)

    with pytest.raises(CircuitOpenError):
        await client.request("GET", route.url)

    assert route.hits == 2
    assert records[-1].outcome == "circuit_open"
    assert records[-1].attempts == 0
    assert len(records) == 3


async def test_half_open_trial_success_closes(client: UpstreamClient, route: ScriptedRoute) -> None:
    await _open_breaker(client, route)
    await asyncio.sleep(RESET + 0.05)
    assert not client.breaker_open

    route.script(200)
    response = await client.request("GET", route.url)

    assert response.status_code == 200
    assert client.breaker.state is BreakerState.CLOSED
    assert route.hits == 3


async def test_half_open_trial_failure_reopens(
    client: UpstreamClient, route: ScriptedRoute
) -> None:
    await _open_breaker(client, route)
    await asyncio.sleep(RESET + 0.05)

    with pytest.raises(UpstreamStatusError):
        await client.request("GET", route.url)
    with pytest.raises(CircuitOpenError):
        await client.request("GET", route.url)

    assert client.breaker_open
    assert route.hits == 3


async def test_half_open_lets_one_trial_through(
    client: UpstreamClient, route: ScriptedRoute
) -> None:
    await _open_breaker(client, route)
    await asyncio.sleep(RESET + 0.05)
    route.script(Reply(200, delay=0.2))

    results = await asyncio.gather(
        client.request("GET", route.url),
        client.request("GET", route.url),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["CircuitOpenError", "Response"]
    assert route.hits == 3
    assert client.breaker.state is BreakerState.CLOSED


async def test_client_errors_do_not_open_it(client: UpstreamClient, route: ScriptedRoute) -> None:
    route.script(404)
    for _ in range(4):
        with pytest.raises(UpstreamStatusError):
            await client.request("GET", route.url)

    assert not client.breaker_open
    assert route.hits == 4


async def test_timeouts_open_it(client: UpstreamClient, route: ScriptedRoute) -> None:
    route.script(Reply(200, delay=2))
    for _ in range(2):
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", route.url, deadline=0.2)

    assert client.breaker_open
    with pytest.raises(CircuitOpenError):
        await client.request("GET", route.url)
    assert route.hits == 2


async def test_a_success_resets_the_count(client: UpstreamClient, route: ScriptedRoute) -> None:
    route.script(503, 200, 503, 200)
    for _ in range(4):
        with contextlib.suppress(UpstreamStatusError):
            await client.request("GET", route.url)

    assert not client.breaker_open
    assert route.hits == 4
