"""Exports call Horizons at background priority, so they never spend the share kept for users.

The export job runs as the worker runs it (the registered job type, validated params)
over the real upstream client and the Horizons simulator over HTTP; the client's
records say with which priority each call went out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.cache import CachePolicy, MemoryStore, TieredCache
from cachefront.config import Settings
from cachefront.jobs.registry import JobRegistry, JobResources
from cachefront.metrics.records import UpstreamCallRecord
from cachefront.rooms import RoomServices
from cachefront.services.ephemeris.bodies import Body
from cachefront.services.ephemeris.providers import HorizonsProvider
from cachefront.services.ephemeris.service import EphemerisService
from cachefront.services.ephemeris.tasks import EXPORT_JOB, register_ephemeris_jobs
from cachefront.simulators.horizons import RunningSimulator
from cachefront.upstream import OutboundBudget, RetryPolicy, UpstreamClient

POLICY = CachePolicy(fresh_for=timedelta(days=30), stale_for=timedelta(days=1), tiers=("memory",))


@pytest.fixture(scope="module")
def horizons_url() -> Iterator[str]:
    with RunningSimulator() as running:
        yield running.url


@pytest.fixture
async def calls(
    horizons_url: str,
) -> AsyncIterator[tuple[EphemerisService, list[UpstreamCallRecord]]]:
    records: list[UpstreamCallRecord] = []
    client = UpstreamClient(
        "horizons",
        timeout=10,
        retry=RetryPolicy(attempts=1),
        budget=OutboundBudget("10000/minute", name="horizons"),
        recorder=records.append,
    )
    cache = TieredCache(memory=MemoryStore())
    service = EphemerisService(
        cache,
        [HorizonsProvider(client, horizons_url)],
        grid_step=timedelta(hours=1),
        batch_steps=24,
        max_rows=48,  # small pieces: the export makes several calls per body
        policy=POLICY,
    )
    async with client, cache:
        yield service, records


async def test_an_export_calls_horizons_at_background_priority(
    calls: tuple[EphemerisService, list[UpstreamCallRecord]], engine: AsyncEngine
) -> None:
    service, records = calls
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    registry = JobRegistry()
    register_ephemeris_jobs(registry, settings)
    params = registry.validate(
        EXPORT_JOB,
        {
            "bodies": ["mars", "venus"],
            "start": "2030-02-01T00:00:00Z",
            "stop": "2030-02-04T00:00:00Z",
            "step": "1h",
        },
        settings,
    )
    done: list[float] = []

    async def progress(share: float) -> None:
        done.append(share)

    result = await registry.job_type(EXPORT_JOB).run(
        JobResources(settings, engine, RoomServices([service])), params, progress
    )
    assert result.summary["rows"] == 73 * 2
    assert len(records) >= 4  # at least two pieces per body
    assert {record.priority for record in records} == {"background"}

    # A user's request through the same service still goes at user priority.
    start = datetime(2030, 6, 1, tzinfo=UTC)
    await service.positions([Body.MARS], start, start + timedelta(hours=2), timedelta(hours=1))
    assert records[-1].priority == "user"
