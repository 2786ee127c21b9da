"""The provider chain of EphemerisService: the user deadline, late answers, coverage refusals.

Providers here are scripted: each answers, fails or hangs when the test says so (an
event), so every outcome is decided by the test and none by the machine's speed. The
cache is the real one over its memory tier.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fake_providers import FALLBACK, POLICY, FakeProvider

from cachefront.cache import MemoryStore, Overtime, TieredCache
from cachefront.errors import InvalidInputError, UpstreamError, UpstreamStatusError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.keys import NAMESPACE, record_key
from cachefront.services.ephemeris.models import record_from_json_bytes
from cachefront.services.ephemeris.service import EphemerisService

AT = datetime(2031, 3, 4, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _service(*providers: FakeProvider, deadline: float = 0.02) -> EphemerisService:
    cache = TieredCache(memory=MemoryStore(), overtime=Overtime(deadline=deadline))
    return EphemerisService(
        cache,
        providers,
        grid_step=HOUR,
        batch_steps=24,
        max_rows=2000,
        policy=POLICY,
        fallback_policy=FALLBACK,
    )


async def _cached_provider(service: EphemerisService) -> str:
    cached = await service.cache.get(NAMESPACE, record_key(Body.MARS, AT), POLICY)
    assert cached is not None
    return record_from_json_bytes(cached.entry.value).provider


async def test_a_hung_primary_is_answered_by_the_fallback_then_replaced_by_its_late_answer() -> (
    None
):
    primary, fallback = FakeProvider("horizons"), FakeProvider("local")
    primary.gate = asyncio.Event()
    service = _service(primary, fallback)
    async with service.cache:
        answer = await service.position(Body.MARS, AT)
        assert record_from_json_bytes(answer.entry.value).provider == "local"
        assert service.cache.overtime.running == 1
        assert await _cached_provider(service) == "local"

        primary.gate.set()
        for _ in range(500):  # bounds a hang; the late store takes a few loop turns
            if await _cached_provider(service) == "horizons":
                break
            await asyncio.sleep(0.01)
        cached = await service.cache.get(NAMESPACE, record_key(Body.MARS, AT), POLICY)
        assert cached is not None
        assert record_from_json_bytes(cached.entry.value).provider == "horizons"
        # Stored under the primary's policy, not the fallback's hour.
        assert cached.entry.fresh_until - cached.entry.stored_at == pytest.approx(30 * 86400)
    assert [c.priority for c in primary.calls] == ["user"]
    assert [c.priority for c in fallback.calls] == ["user"]


async def test_background_work_waits_for_the_primary() -> None:
    primary, fallback = FakeProvider("horizons"), FakeProvider("local")
    primary.gate = asyncio.Event()
    service = _service(primary, fallback)
    async with service.cache:
        work = asyncio.ensure_future(service.precompute([Body.MARS], AT, AT + HOUR))
        await primary.asked.wait()
        for _ in range(5):  # many times the deadline's worth of loop turns
            await asyncio.sleep(0.02)
        assert not work.done()
        primary.gate.set()
        assert await work == {Body.MARS: 2}
        assert await _cached_provider(service) == "horizons"
    assert [c.priority for c in primary.calls] == ["background"]
    assert [c.priority for c in fallback.calls] == []


async def test_positions_passes_its_priority_to_the_providers() -> None:
    primary = FakeProvider("horizons")
    service = _service(primary)
    async with service.cache:
        await service.positions([Body.MARS], AT, AT + HOUR, HOUR, priority="background")
        await service.positions([Body.VENUS], AT, AT + HOUR, HOUR)
    assert [c.priority for c in primary.calls] == ["background", "user"]


async def test_a_fallback_outside_its_coverage_after_a_primary_outage_is_an_upstream_error() -> (
    None
):
    primary, fallback = FakeProvider("horizons"), FakeProvider("local")
    primary.error = UpstreamStatusError("horizons", 503, "Service Unavailable")
    fallback.error = InvalidInputError("the local ephemeris covers 1899 to 2053", field="at")
    service = _service(primary, fallback)
    async with service.cache:
        with pytest.raises(UpstreamError) as caught:
            await service.position(Body.MARS, AT)
    assert not isinstance(caught.value, InvalidInputError)
    assert "horizons: HTTP 503" in caught.value.detail
    assert "local: the local ephemeris covers" in caught.value.detail


async def test_a_fallback_outside_its_coverage_waits_for_the_overrunning_primary() -> None:
    primary, fallback = FakeProvider("horizons"), FakeProvider("local")
    primary.gate = asyncio.Event()
    fallback.error = InvalidInputError("the local ephemeris covers 1899 to 2053", field="at")
    service = _service(primary, fallback)
    async with service.cache:
        answer = asyncio.ensure_future(service.position(Body.MARS, AT))
        await fallback.asked.wait()
        await asyncio.sleep(0)
        assert not answer.done()  # refused by the fallback, still waiting on the primary
        primary.gate.set()
        got = await answer
    assert record_from_json_bytes(got.entry.value).provider == "horizons"


async def test_the_only_provider_refusing_the_input_stays_invalid_input() -> None:
    local = FakeProvider("local")
    local.error = InvalidInputError("the local ephemeris covers 1899 to 2053", field="at")
    service = _service(local)
    async with service.cache:
        with pytest.raises(InvalidInputError):
            await service.position(Body.MARS, AT)
