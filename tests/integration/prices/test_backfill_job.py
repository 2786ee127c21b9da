"""The ``prices-backfill`` job through ``POST /v1/jobs`` and a worker, over real HTTP.

A server with its in-process worker, the session's PostgreSQL and Redis, the Binance
simulator: the job's ``progress`` in ``GET /v1/jobs/{id}`` rises to 1.0 as assets are
done, its result counts the candles, and the history API answers them at once.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.prices.assets import AssetStore
from cachefront.services.prices.models import Asset, AssetType
from cachefront.services.prices.simulators import RunningBinance
from harness_servers import ServerThread, server_settings
from jobs_harness import JWT_AUDIENCE, JWT_SECRET, user_headers

pytestmark = pytest.mark.redis

TAG = "".join(random.choices(string.ascii_uppercase, k=4))
COINS = [Asset(f"{TAG}{c}", c, AssetType.CRYPTO, "binance", f"{TAG}{c}USDT", "USD") for c in "ABC"]


@pytest.fixture
def binance() -> Iterator[RunningBinance]:
    with RunningBinance(seed=9, symbols=[a.provider_id for a in COINS]) as running:
        yield running


@pytest.fixture
def server(database_url: str, redis_url: str, binance: RunningBinance) -> Iterator[ServerThread]:
    settings = server_settings(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "binance_url": binance.base_url,
            "prices_providers": ["binance"],
            "worker_in_process": True,
            "jwt_secret": JWT_SECRET,
            "jwt_audience": JWT_AUDIENCE,
            "rate_limits": {
                "general": "100000/minute",
                "upstream": "100000/minute",
                "jobs": "100000/minute",
            },
            # Only the job under test runs: other periodic work is a year away.
            "prices_refresh_seconds": 86_400,
            "precompute_schedule": "0 0 1 1 *",
            "cleanup_schedule": "0 0 1 1 *",
            "prune_metrics_schedule": "0 0 1 1 *",
        }
    )
    with ServerThread(settings) as running:
        yield running


async def test_a_backfill_job_reports_progress_to_the_end_and_stores_candles(
    server: ServerThread, engine: AsyncEngine, binance: RunningBinance
) -> None:
    await AssetStore(engine).upsert(COINS)
    headers = user_headers("ops")
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=headers) as client:
        before = await client.get(f"/v1/prices/{COINS[0].symbol}/history", params={"range": "1y"})
        assert before.json()["count"] == 0
        submitted = await client.post(
            "/v1/jobs",
            json={
                "type": "prices-backfill",
                "params": {"years": 2, "symbols": [a.symbol for a in COINS]},
            },
        )
        assert submitted.status_code == 202, submitted.text
        seen: list[float] = []
        deadline = time.monotonic() + 60
        while True:
            job: dict[str, Any] = (await client.get(submitted.headers["Location"])).json()
            seen.append(job["progress"])
            if job["status"] in {"succeeded", "failed", "cancelled"}:
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.05)
        after = await client.get(f"/v1/prices/{COINS[0].symbol}/history", params={"range": "1y"})
    assert job["status"] == "succeeded", job
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    summary = job["result"]
    assert summary["assets"] == 3, job
    assert summary["candles"] > 3 * 700, job  # two years of days for each
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM price_daily d JOIN price_assets a ON a.id = d.asset_id "
                    "WHERE a.symbol LIKE :tag"
                ),
                {"tag": f"{TAG}%"},
            )
        ).scalar_one()
    assert stored == summary["candles"]
    # The ranges cached before the backfill went with it: the history answers at once.
    assert after.json()["count"] >= 360
    assert binance.stats()["by_status"].keys() == {"200"}
