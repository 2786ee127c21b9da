"""UpstreamClient against a real HTTP server: retries, Retry-After, deadlines, records."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from upstream_testserver import Reply, ScriptedRoute, free_port

from cachefront.errors import UpstreamError, UpstreamStatusError, UpstreamTimeoutError
from cachefront.metrics.context import RequestTally, current_tally
from cachefront.metrics.recorder import MetricsRecorder
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream import RetryPolicy, UpstreamClient

# Short backoffs keep the suite fast; the formula itself is unit-tested.
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05)

MakeClient = Callable[..., UpstreamClient]


@pytest.fixture
def records() -> list[UpstreamCallRecord]:
    return []


@pytest.fixture
async def make_client(records: list[UpstreamCallRecord]) -> AsyncIterator[MakeClient]:
    clients: list[UpstreamClient] = []

    def make(**kwargs: Any) -> UpstreamClient:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("recorder", records.append)
        client = UpstreamClient("testprovider", **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_retries_5xx_then_succeeds(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(503, 502, Reply(200, body='{"answer": 42}'))
    async with make_client() as client:
        response = await client.request("GET", route.url)

    assert response.status_code == 200
    assert response.json() == {"answer": 42}
    assert route.hits == 3
    [record] = records
    assert (record.outcome, record.status, record.attempts) == ("ok", 200, 3)
    assert record.provider == "testprovider"
    assert record.method == "GET"
    assert record.priority == "user"
    assert record.error is None


async def test_gives_up_after_the_last_attempt(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(503)
    async with make_client() as client:
        with pytest.raises(UpstreamStatusError) as caught:
            await client.request("GET", route.url)

    assert caught.value.status_code == 503
    assert route.hits == 3
    [record] = records
    assert (record.outcome, record.status, record.attempts) == ("http_error", 503, 3)
    assert record.error is not None
    assert "503" in record.error


async def test_no_retry_on_400(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(400, 200)
    async with make_client() as client:
        with pytest.raises(UpstreamStatusError) as caught:
            await client.request("POST", route.url, json={"q": 1})

    assert caught.value.status_code == 400
    assert route.hits == 1
    assert route.seen[0].body == b'{"q":1}'
    [record] = records
    assert (record.outcome, record.status, record.attempts) == ("http_error", 400, 1)


async def test_retry_after_is_honoured(make_client: MakeClient, route: ScriptedRoute) -> None:
    route.script(Reply(429, headers={"Retry-After": "1"}), 200)
    async with make_client() as client:
        started = time.monotonic()
        response = await client.request("GET", route.url, deadline=5)
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert route.hits == 2
    assert elapsed >= 1.0


async def test_retry_after_past_the_deadline_gives_up_at_once(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(Reply(429, headers={"Retry-After": "10"}), 200)
    async with make_client() as client:
        started = time.monotonic()
        with pytest.raises(UpstreamStatusError) as caught:
            await client.request("GET", route.url, deadline=2)
        elapsed = time.monotonic() - started

    assert caught.value.status_code == 429
    assert elapsed < 1.0
    assert route.hits == 1
    assert records[0].attempts == 1


async def test_deadline_bounds_a_hanging_server(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(Reply(200, delay=3))
    async with make_client() as client:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", route.url, deadline=0.5)
        elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 2.0
    [record] = records
    assert record.outcome == "timeout"
    assert record.status is None
    # The record's latency is the time the call took, cut at the deadline.
    assert 450 <= record.latency_ms < 2000


async def test_deadline_spans_all_attempts(make_client: MakeClient, route: ScriptedRoute) -> None:
    # Each reply alone fits the deadline; three of them do not.
    route.script(Reply(503, delay=0.3))
    async with make_client() as client:
        started = time.monotonic()
        with pytest.raises((UpstreamTimeoutError, UpstreamStatusError)):
            await client.request("GET", route.url, deadline=0.7)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert route.hits <= 3


async def test_client_timeout_is_the_default_deadline(
    make_client: MakeClient, route: ScriptedRoute
) -> None:
    route.script(Reply(200, delay=3))
    async with make_client(timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", route.url)
        assert time.monotonic() - started < 2.0


async def test_connection_refused_is_an_upstream_error(
    make_client: MakeClient, records: list[UpstreamCallRecord]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing-here"
    async with make_client() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", url)

    assert type(caught.value) is UpstreamError
    assert isinstance(caught.value.__cause__, Exception)  # the httpx error, kept
    [record] = records
    assert (record.outcome, record.attempts) == ("connect_error", 3)


async def test_record_latency_covers_the_upstream_delay(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(Reply(200, delay=0.3))
    async with make_client() as client:
        response = await client.request("GET", route.url, deadline=5)

    assert response.status_code == 200
    [record] = records
    assert record.latency_ms >= 300  # at least the server's own delay
    assert response.elapsed.total_seconds() >= 0.3


async def test_record_url_has_no_query_string(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    async with make_client() as client:
        await client.request("GET", route.url, params={"api_key": "s3cret", "q": "mars"})

    assert route.seen[0].query == "api_key=s3cret&q=mars"
    assert records[0].url == route.url
    assert "s3cret" not in records[0].url


async def test_headers_and_priority_reach_the_record(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    async with make_client(headers={"User-Agent": "cachefront-test"}) as client:
        await client.request("GET", route.url, headers={"X-Trace": "t1"}, priority="background")

    assert route.seen[0].headers["user-agent"] == "cachefront-test"
    assert route.seen[0].headers["x-trace"] == "t1"
    assert records[0].priority == "background"


async def test_every_logical_call_is_counted_once(
    make_client: MakeClient, route: ScriptedRoute, records: list[UpstreamCallRecord]
) -> None:
    route.script(503, 200, 200)
    metrics = MetricsRecorder(None)

    def record(call: UpstreamCallRecord) -> None:
        records.append(call)
        metrics.record_upstream(call)

    tally = RequestTally()
    token = current_tally.set(tally)
    try:
        async with make_client(recorder=record) as client:
            await client.request("GET", route.url)
            await client.request("GET", route.url)
    finally:
        current_tally.reset(token)

    # Counted by the metrics recorder the client was given, once per logical call.
    assert tally.upstream_calls == 2
    assert metrics.pending == 2
    assert [r.attempts for r in records] == [2, 1]
