"""EphemerisService over fake providers and the real cache's memory tier.

Range batching, the provider chain's order and fallback policy, the user deadline
against background priority, the row limit and precompute's count. The providers are
fakes of the upstream: small classes that answer with records of their own name and
record every call, so each test says exactly which calls the service made. The user
deadline and late answers beyond these are in test_provider_chain.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fake_providers import FALLBACK, POLICY, Call, FakeProvider

from cachefront.cache import MemoryStore, Overtime, TieredCache
from cachefront.errors import RangeTooLargeError, UpstreamError, UpstreamStatusError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.keys import NAMESPACE, record_key
from cachefront.services.ephemeris.models import EphemerisRecord, record_from_json_bytes
from cachefront.services.ephemeris.service import EphemerisService

HOUR = timedelta(hours=1)
BATCH = 24
# Hourly chunks of 24 are aligned on the grid's origin: whole UTC days.
DAY = datetime(2031, 3, 4, tzinfo=UTC)
AT = DAY + 5 * HOUR


def _service(*providers: FakeProvider, max_rows: int = 2000) -> EphemerisService:
    cache = TieredCache(memory=MemoryStore(), overtime=Overtime(deadline=0.02))
    return EphemerisService(
        cache,
        providers,
        grid_step=HOUR,
        batch_steps=BATCH,
        max_rows=max_rows,
        policy=POLICY,
        fallback_policy=FALLBACK,
    )


def _held(service: EphemerisService, body: Body, at: datetime) -> EphemerisRecord | None:
    entry = service.cache.memory.peek(NAMESPACE, record_key(body, at))
    return None if entry is None else record_from_json_bytes(entry.value)


def _freshness(service: EphemerisService, body: Body, at: datetime) -> float:
    entry = service.cache.memory.peek(NAMESPACE, record_key(body, at))
    assert entry is not None
    return entry.fresh_until - entry.stored_at


# --- range batching ---------------------------------------------------------------------
async def test_a_miss_fetches_the_whole_aligned_chunk_in_one_call() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons)
    async with service.cache:
        answer = await service.position(Body.MARS, AT)
        assert record_from_json_bytes(answer.entry.value).at == AT
        assert horizons.calls == [Call(Body.MARS, DAY, DAY + 23 * HOUR, HOUR, "user")]
        # Every neighbour of the chunk is kept, and nothing past it.
        assert all(_held(service, Body.MARS, DAY + i * HOUR) for i in range(BATCH))
        assert _held(service, Body.MARS, DAY - HOUR) is None
        assert _held(service, Body.MARS, DAY + BATCH * HOUR) is None


async def test_a_second_position_in_the_same_chunk_makes_no_provider_call() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons)
    async with service.cache:
        await service.position(Body.MARS, AT)
        later = await service.position(Body.MARS, DAY + 23 * HOUR)
        assert record_from_json_bytes(later.entry.value).at == DAY + 23 * HOUR
        assert len(horizons.calls) == 1
        await service.position(Body.MARS, DAY + BATCH * HOUR)  # the next chunk
        await service.position(Body.VENUS, AT)  # another body, another key
    assert [(c.body, c.start) for c in horizons.calls] == [
        (Body.MARS, DAY),
        (Body.MARS, DAY + BATCH * HOUR),
        (Body.VENUS, DAY),
    ]


async def test_a_range_on_the_grid_is_widened_to_whole_chunks() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons)
    async with service.cache:
        result = await service.positions([Body.MARS], AT, AT + 30 * HOUR, HOUR)
        assert len(result.rows) == 31
    assert horizons.calls == [Call(Body.MARS, DAY, DAY + 47 * HOUR, HOUR, "user")]


# --- the provider chain -----------------------------------------------------------------
async def test_a_failing_first_provider_is_answered_by_the_second() -> None:
    horizons, local = FakeProvider("horizons"), FakeProvider("local")
    horizons.error = UpstreamStatusError("horizons", 503, "Service Unavailable")
    service = _service(horizons, local)
    async with service.cache:
        answer = await service.position(Body.MARS, AT)
        assert record_from_json_bytes(answer.entry.value).provider == "local"
        # The fallback's rows are fresh only for the fallback policy's hour.
        assert _freshness(service, Body.MARS, AT) == pytest.approx(3600)
    assert [c.start for c in horizons.calls] == [DAY]
    assert [c.start for c in local.calls] == [DAY]


async def test_the_first_provider_s_answer_is_stored_under_the_main_policy() -> None:
    horizons, local = FakeProvider("horizons"), FakeProvider("local")
    service = _service(horizons, local)
    async with service.cache:
        answer = await service.position(Body.MARS, AT)
        assert record_from_json_bytes(answer.entry.value).provider == "horizons"
        assert _freshness(service, Body.MARS, AT) == pytest.approx(30 * 86400)
    assert local.calls == []


async def test_providers_are_asked_in_their_configured_order() -> None:
    order: list[str] = []
    first, second = FakeProvider("horizons", order), FakeProvider("local", order)
    third = FakeProvider("third", order)
    first.error = UpstreamStatusError("horizons", 503, "Service Unavailable")
    second.error = UpstreamStatusError("local", 500, "Internal Server Error")
    service = _service(first, second, third)
    async with service.cache:
        answer = await service.position(Body.MARS, AT)
    assert record_from_json_bytes(answer.entry.value).provider == "third"
    assert order == ["horizons", "local", "third"]


async def test_every_provider_failing_is_an_upstream_error_naming_each() -> None:
    horizons, local = FakeProvider("horizons"), FakeProvider("local")
    horizons.error = UpstreamStatusError("horizons", 503, "Service Unavailable")
    local.error = UpstreamStatusError("local", 500, "Internal Server Error")
    service = _service(horizons, local)
    async with service.cache:
        with pytest.raises(UpstreamError) as caught:
            await service.position(Body.MARS, AT)
        assert _held(service, Body.MARS, AT) is None
    assert "horizons: HTTP 503" in caught.value.detail
    assert "local: HTTP 500" in caught.value.detail


# --- user deadline and background priority ----------------------------------------------
async def test_a_user_waits_past_the_deadline_when_no_provider_follows() -> None:
    horizons = FakeProvider("horizons")
    horizons.gate = asyncio.Event()
    service = _service(horizons)
    async with service.cache:
        answer = asyncio.ensure_future(service.position(Body.MARS, AT))
        await horizons.asked.wait()
        for _ in range(5):  # many times the deadline's worth of loop turns
            await asyncio.sleep(0.02)
        assert not answer.done()
        horizons.gate.set()
        got = await answer
    assert record_from_json_bytes(got.entry.value).provider == "horizons"
    assert service.cache.overtime.running == 0


async def test_background_positions_wait_for_the_primary_past_the_deadline() -> None:
    horizons, local = FakeProvider("horizons"), FakeProvider("local")
    horizons.gate = asyncio.Event()
    service = _service(horizons, local)
    async with service.cache:
        work = asyncio.ensure_future(
            service.positions([Body.MARS], AT, AT + HOUR, HOUR, priority="background")
        )
        await horizons.asked.wait()
        for _ in range(5):
            await asyncio.sleep(0.02)
        assert not work.done()
        horizons.gate.set()
        result = await work
        assert service.cache.overtime.running == 0
    assert {record_from_json_bytes(r.entry.value).provider for r in result.rows} == {"horizons"}
    assert [c.priority for c in horizons.calls] == ["background"]
    assert local.calls == []


# --- the row limit ----------------------------------------------------------------------
async def test_the_row_limit_is_counted_before_any_provider_call() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons, max_rows=48)
    async with service.cache:
        # 2 bodies x 25 instants = 50 rows, over 48.
        with pytest.raises(RangeTooLargeError) as caught:
            await service.positions([Body.MARS, Body.VENUS], DAY, DAY + BATCH * HOUR, HOUR)
    assert "2 bodies x 25 instants = 50 rows" in caught.value.detail
    assert horizons.calls == []


async def test_a_range_of_exactly_the_row_limit_is_served() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons, max_rows=48)
    async with service.cache:
        result = await service.positions([Body.MARS, Body.VENUS], DAY, DAY + 23 * HOUR, HOUR)
    assert len(result.rows) == 48
    assert len(horizons.calls) == 2


# --- precompute -------------------------------------------------------------------------
async def test_precompute_counts_the_missing_rows_per_body() -> None:
    horizons = FakeProvider("horizons")
    service = _service(horizons)
    async with service.cache:
        await service.position(Body.MARS, AT)  # the whole first day of Mars is cached
        window_end = DAY + (BATCH + 2) * HOUR  # 27 instants: a day and three hours
        missing = await service.precompute([Body.MARS, Body.VENUS], DAY, window_end)
        assert missing == {Body.MARS: 3, Body.VENUS: 27}
        assert [(c.body, c.priority) for c in horizons.calls[1:]] == [
            (Body.MARS, "background"),
            (Body.VENUS, "background"),
        ]
        calls = len(horizons.calls)
        again = await service.precompute([Body.MARS, Body.VENUS], DAY, window_end)
    assert again == {Body.MARS: 0, Body.VENUS: 0}
    assert len(horizons.calls) == calls
