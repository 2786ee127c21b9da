"""The local provider computes off the event loop, in a bounded pool that refuses when full."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cachefront.errors import ProviderBusyError, UpstreamError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.models import EphemerisRecord
from cachefront.services.ephemeris.providers.local import LocalProvider

HOUR = timedelta(hours=1)
START = datetime(2031, 1, 1, tzinfo=UTC)


async def test_a_computation_leaves_the_event_loop_free_while_it_runs() -> None:
    provider = LocalProvider()
    try:
        task = asyncio.ensure_future(
            provider.positions(Body.MARS, START, START + 30 * 24 * HOUR, HOUR)
        )
        await asyncio.sleep(0)  # the task's first step: computed inline, it would be done now
        assert not task.done()
        turns = 0
        while not task.done():
            await asyncio.sleep(0)
            turns += 1
        assert len(await task) == 30 * 24 + 1
        assert turns > 0  # this coroutine ran while the positions were being computed
    finally:
        provider.close()


class GatedProvider(LocalProvider):
    """The local provider, whose computations wait for the test to let them finish.

    Without the gate, a loaded machine may finish the first computation (and free its
    place) before the later calls are admitted, and the test would see no refusal.
    """

    def __init__(self, *, threads: int, queue: int) -> None:
        super().__init__(threads=threads, queue=queue)
        self.gate = threading.Event()

    def compute(
        self, body: Body, start: datetime, stop: datetime, step: timedelta
    ) -> list[EphemerisRecord]:
        self.gate.wait(timeout=60)
        return super().compute(body, start, stop, step)


async def test_a_full_queue_refuses_at_once_and_frees_up_after() -> None:
    provider = GatedProvider(threads=1, queue=1)
    try:
        calls = [
            asyncio.ensure_future(provider.positions(Body.MARS, START, START + 24 * HOUR, HOUR))
            for _ in range(4)
        ]
        # Every call has been admitted or refused once each has run to its first wait.
        await asyncio.sleep(0)
        refused = [call for call in calls if call.done()]
        assert len(refused) == 2
        provider.gate.set()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert [type(o).__name__ for o in outcomes] == [
            "list",
            "list",
            "ProviderBusyError",
            "ProviderBusyError",
        ]
        busy = outcomes[2]
        assert isinstance(busy, ProviderBusyError)
        assert busy.provider == "local"
        assert "busy" in busy.detail
        # Once the admitted computations ended, there is room again.
        assert len(await provider.positions(Body.MARS, START, START, HOUR)) == 1
    finally:
        provider.gate.set()
        provider.close()


async def test_instants_outside_de421_are_an_upstream_error_of_the_provider() -> None:
    provider = LocalProvider()
    try:
        later = datetime(2060, 1, 1, tzinfo=UTC)
        with pytest.raises(UpstreamError) as caught:
            await provider.positions(Body.MARS, later, later + HOUR, HOUR)
        assert caught.value.provider == "local"
        assert "1899-07-29 to 2053-10-09" in caught.value.detail
    finally:
        provider.close()


async def test_a_closed_provider_computes_again_on_the_next_call() -> None:
    provider = LocalProvider()
    first = await provider.positions(Body.SUN, START, START, HOUR)
    provider.close()
    again = await provider.positions(Body.SUN, START, START, HOUR)
    provider.close()
    assert first == again
