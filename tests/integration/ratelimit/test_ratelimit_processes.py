"""Limits across three `cachefront serve` processes sharing one Redis: leased, and exact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import settings_env, spawn_server
from minute_windows import away_from_a_minute_edge

pytestmark = [pytest.mark.redis, pytest.mark.slow]

AT = "2031-03-04T05:06:00Z"


async def test_three_processes_admit_at_least_90_percent_and_never_more(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    settings = settings_for(redis_url=redis_url, rate_limits={"upstream": "300/minute"})
    env = settings_env(settings)
    assert env["CACHEFRONT_RATE_LIMIT_EXACT"] == "False"  # leases: the default
    with spawn_server(env) as first, spawn_server(env) as second, spawn_server(env) as third:
        async with httpx.AsyncClient(timeout=30) as client:
            # Each heartbeat has counted all three processes (one every 2 s).
            await asyncio.sleep(2.5)
            await away_from_a_minute_edge(20)
            # Warmed on every process, so the counted requests are quick memory hits.
            urls = [first, second, third]
            for url in urls:
                assert (await client.get(f"{url}/v1/ephemeris/mars", params={"at": AT})).is_success
            responses = await asyncio.gather(
                *(
                    client.get(f"{urls[i % 3]}/v1/ephemeris/mars", params={"at": AT})
                    for i in range(1197)
                )
            )
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 429}
    admitted = statuses.count(200) + 3
    assert 270 <= admitted <= 300, admitted


async def test_three_processes_counting_exactly_admit_the_limit_and_never_more(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    # CACHEFRONT_RATE_LIMIT_EXACT: every request counted in Redis, none from a lease.
    settings = settings_for(
        redis_url=redis_url, rate_limits={"upstream": "300/minute"}, rate_limit_exact=True
    )
    env = settings_env(settings)
    with spawn_server(env) as first, spawn_server(env) as second, spawn_server(env) as third:
        async with httpx.AsyncClient(timeout=30) as client:
            await away_from_a_minute_edge(20)
            urls = [first, second, third]
            for url in urls:
                assert (await client.get(f"{url}/v1/ephemeris/mars", params={"at": AT})).is_success
            responses = await asyncio.gather(
                *(
                    client.get(f"{urls[i % 3]}/v1/ephemeris/mars", params={"at": AT})
                    for i in range(1197)
                )
            )
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 429}
    # Exact: no unit sits in a process unspent, and none is spent twice.
    assert statuses.count(200) + 3 == 300
