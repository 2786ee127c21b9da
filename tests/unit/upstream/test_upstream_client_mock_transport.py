"""UpstreamClient with httpx.MockTransport at the bottom of its chain: translation and records."""

from __future__ import annotations

import httpx
import pytest

from cachefront.errors import UpstreamError, UpstreamTimeoutError
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.upstream import RetryPolicy, UpstreamClient

NO_WAIT = RetryPolicy(attempts=2, backoff=0, backoff_max=0)


async def test_connect_errors_become_upstream_errors_with_their_cause() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    records: list[UpstreamCallRecord] = []
    async with UpstreamClient(
        "mock", retry=NO_WAIT, transport=httpx.MockTransport(refuse), recorder=records.append
    ) as client:
        with pytest.raises(UpstreamError, match="connection failed") as caught:
            await client.request("GET", "https://upstream.test/x")

    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.provider == "mock"
    assert records[0].outcome == "connect_error"
    assert records[0].attempts == 2


async def test_transport_timeouts_become_upstream_timeouts() -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with UpstreamClient(
        "mock", retry=NO_WAIT, transport=httpx.MockTransport(too_slow)
    ) as client:
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.request("GET", "https://upstream.test/x")
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


class ManualClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_record_strips_query_and_credentials_and_measures_latency() -> None:
    records: list[UpstreamCallRecord] = []
    clock = ManualClock()

    def answer_after_a_while(request: httpx.Request) -> httpx.Response:
        clock.now += 0.25  # the upstream takes 250 ms to answer
        return httpx.Response(204)

    async with UpstreamClient(
        "mock",
        transport=httpx.MockTransport(answer_after_a_while),
        recorder=records.append,
        clock=clock,
    ) as client:
        await client.request("GET", "https://user:pw@upstream.test/api?token=abc#frag")

    [record] = records
    assert record.url == "https://upstream.test/api"
    assert (record.status, record.outcome, record.attempts) == (204, "ok", 1)
    assert record.latency_ms == pytest.approx(250.0)


async def test_a_failing_recorder_does_not_fail_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    offered: list[UpstreamCallRecord] = []

    def broken(record: UpstreamCallRecord) -> None:
        offered.append(record)
        raise RuntimeError("buffer full")

    async with UpstreamClient(
        "mock",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, text="fine")),
        recorder=broken,
    ) as client:
        response = await client.request("GET", "https://upstream.test/")
    assert response.text == "fine"
    assert [record.outcome for record in offered] == ["ok"]
    [logged] = [r for r in caplog.records if getattr(r, "action", None) == "upstream_record_failed"]
    assert logged.exc_info is not None
    assert "buffer full" in str(logged.exc_info[1])


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        UpstreamClient("mock", timeout=0)
