"""Overtime: calls waited for up to a deadline, then left to finish in the background, bounded.

Calls here block on events the test sets, so every outcome is decided by the test, not
by how fast the machine is; the deadline is short only so that the tests are quick.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from cachefront.cache import Overtime

DEADLINE = 0.02


class Call:
    """A call that ends when the test says so, with a result or an error."""

    def __init__(self, result: str = "primary") -> None:
        self.result = result
        self.release = asyncio.Event()
        self.error: Exception | None = None
        self.cancelled = False
        self.started = asyncio.Event()

    async def run(self) -> str:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.result


class Sink:
    """The ``then`` callback: remembers what it got, and wakes whoever waits for it."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, value: str) -> None:
        self.got.append(value)
        self.arrived.set()


async def test_a_call_in_time_is_simply_its_result() -> None:
    overtime = Overtime(deadline=5.0)
    call, sink = Call(), Sink()
    call.release.set()
    future = await overtime.within(call.run(), sink)
    assert future is not None
    assert future.done()
    assert future.result() == "primary"
    assert overtime.running == 0
    assert sink.got == []  # an answer in time is the caller's to store


async def test_an_error_in_time_is_the_caller_s() -> None:
    overtime = Overtime(deadline=5.0)
    call = Call()
    call.error = RuntimeError("upstream said no")
    call.release.set()
    future = await overtime.within(call.run(), Sink())
    assert future is not None
    with pytest.raises(RuntimeError, match="said no"):
        future.result()


async def test_an_overrunning_call_goes_on_and_hands_its_result_over() -> None:
    overtime = Overtime(deadline=DEADLINE)
    call, sink = Call(), Sink()
    future = await overtime.within(call.run(), sink)
    assert future is not None
    assert not future.done()
    assert overtime.running == 1
    call.release.set()
    await asyncio.wait_for(sink.arrived.wait(), 10)
    assert sink.got == ["primary"]
    assert future.result() == "primary"
    await asyncio.sleep(0)  # the follower's done callback runs on the next turn
    assert overtime.running == 0


async def test_past_the_limit_an_overrunning_call_is_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    overtime = Overtime(deadline=DEADLINE, limit=2)
    calls = [Call(f"c{i}") for i in range(3)]
    sink = Sink()
    futures = [await overtime.within(call.run(), sink) for call in calls]
    assert futures[0] is not None
    assert futures[1] is not None
    assert futures[2] is None
    await asyncio.sleep(0)  # let the cancellation reach the call
    assert calls[2].cancelled
    assert overtime.running == 2
    assert [r for r in caplog.records if getattr(r, "action", "") == "cache.overtime_full"]
    for call in calls[:2]:
        call.release.set()
    await overtime.aclose()


async def test_a_cancelled_caller_cancels_the_call() -> None:
    overtime = Overtime(deadline=5.0)
    call = Call()
    waiting = asyncio.ensure_future(overtime.within(call.run(), Sink()))
    await call.started.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    assert call.cancelled
    assert overtime.running == 0


async def test_closing_cancels_the_calls_in_overtime() -> None:
    overtime = Overtime(deadline=DEADLINE)
    call, sink = Call(), Sink()
    await overtime.within(call.run(), sink)
    await overtime.aclose()
    assert call.cancelled
    assert overtime.running == 0
    assert sink.got == []


async def test_a_late_failure_and_a_failed_store_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    overtime = Overtime(deadline=DEADLINE)
    failing = Call()
    failing.error = RuntimeError("timed out in the end")

    async def broken_store(value: str) -> None:
        raise RuntimeError("cache closed")

    with caplog.at_level(logging.INFO, logger="cachefront.cache"):
        first = await overtime.within(failing.run(), Sink())
        storing = Call()
        second = await overtime.within(storing.run(), broken_store)
        assert first is not None
        assert second is not None
        failing.release.set()
        storing.release.set()
        await asyncio.gather(first, second, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)
    actions = [getattr(r, "action", "") for r in caplog.records]
    assert actions.count("cache.overtime_failed") == 1
    assert actions.count("cache.overtime_store_failed") == 1
    assert overtime.running == 0


@pytest.mark.parametrize(("deadline", "limit"), [(0.0, 1), (-1.0, 1), (1.0, -1)])
def test_nonsense_settings_are_refused(deadline: float, limit: int) -> None:
    with pytest.raises(ValueError, match=r"deadline|limit"):
        Overtime(deadline=deadline, limit=limit)
