"""The ephemeris service prices a request before any work and refuses what no provider covers."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from cachefront.cache import CachePolicy, MemoryStore, TieredCache
from cachefront.errors import InvalidInputError, RangeTooLargeError
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.providers.local import LocalProvider
from cachefront.services.ephemeris.service import EphemerisService

HOUR = timedelta(hours=1)


def _service(local_provider: LocalProvider) -> EphemerisService:
    """A service over the local provider alone and a memory-only cache."""
    return EphemerisService(
        TieredCache(memory=MemoryStore(max_bytes=1 << 20)),
        [local_provider],
        grid_step=HOUR,
        batch_steps=24,
        max_rows=2000,
        policy=CachePolicy(fresh_for=timedelta(days=1), stale_for=timedelta(days=1)),
    )


async def test_a_range_over_the_row_limit_is_refused_before_building_instants(
    local_provider: LocalProvider,
) -> None:
    service = _service(local_provider)
    start, stop = datetime(2000, 1, 1, tzinfo=UTC), datetime(2010, 1, 1, tzinfo=UTC)
    tracemalloc.start()
    try:
        with pytest.raises(RangeTooLargeError) as caught:
            await service.positions([Body.MARS], start, stop, HOUR)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.field == "stop"
    assert "87673 instants" in caught.value.detail
    # The 87,673 instants of ten years, hourly, would take megabytes to build.
    assert peak < 256 * 1024


@pytest.mark.parametrize(
    ("start", "stop", "field"),
    [
        (datetime(1890, 1, 1, tzinfo=UTC), datetime(1890, 1, 2, tzinfo=UTC), "start"),
        (datetime(2053, 9, 30, tzinfo=UTC), datetime(2053, 10, 2, tzinfo=UTC), "stop"),
    ],
)
async def test_a_range_outside_the_providers_is_refused_naming_the_end(
    local_provider: LocalProvider, start: datetime, stop: datetime, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await _service(local_provider).positions([Body.MARS], start, stop, HOUR)
    assert caught.value.field == field
    assert "1899-08-01 to 2053-10-01" in caught.value.detail


async def test_a_position_outside_the_providers_is_refused(local_provider: LocalProvider) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await _service(local_provider).position(Body.MARS, datetime(2060, 1, 1, tzinfo=UTC))
    assert caught.value.field == "at"
    assert "1899-08-01 to 2053-10-01" in caught.value.detail


async def test_a_coarse_step_counts_the_neighbour_providers_compute_past_the_end(
    local_provider: LocalProvider,
) -> None:
    # 2053-09-15 lies inside the local coverage, but its rate needs 2053-10-15 as well.
    at = datetime(2053, 9, 15, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as caught:
        await _service(local_provider).positions([Body.MARS], at, at, timedelta(days=30))
    assert caught.value.field == "start"
    assert "one step" in caught.value.detail
