"""Across processes: two gateway servers sharing PostgreSQL (and Redis, when there is one)
hold one caller's daily tokens atomically, so 200 concurrent requests never use more than
the limit plus one request's maximum, whichever server each reaches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.redis_keys import quota_key
from cachefront.services.ai.estimate import maximum_tokens
from cachefront.services.ai.models import CHAT
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import settings_env, spawn_server

pytestmark = [pytest.mark.slow]


def _body(index: int) -> dict[str, object]:
    # Each a different request, none repeatable: every admitted one is a provider call.
    return {
        "model": "chat",
        "messages": [{"role": "user", "content": f"Request number {index:03d} of many."}],
        "max_tokens": 30,
    }


@pytest.mark.parametrize("counted_in", ["postgres", "redis"])
async def test_two_processes_admit_no_more_than_the_limit_plus_one_maximum(
    counted_in: str,
    ai_settings: Callable[..., Settings],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
    request: pytest.FixtureRequest,
) -> None:
    key, record = await KeyManager(engine).create("ai-quota-processes", Role.USER)
    owner = f"key:{record.id}"
    most = maximum_tokens(CHAT, _body(0), 1024)
    limit = 40 * most
    redis_url = request.getfixturevalue("redis_url") if counted_in == "redis" else None
    settings = ai_settings(ai_daily_tokens=limit, redis_url=redis_url)
    env = settings_env(settings)
    with spawn_server(env) as first, spawn_server(env) as second:
        urls = [first, second]
        primary.configure(latency_ms=150)
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.post(urls[i % 2] + "/v1/chat/completions", json=_body(i))
                    for i in range(200)
                )
            )
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {200, 429}
    used = sum(
        a.json()["usage"]["prompt_tokens"] + a.json()["usage"]["completion_tokens"]
        for a in answers
        if a.status_code == 200
    )
    assert used <= limit + most
    # Holds are replaced by the smaller real usage as calls settle, so at least as many
    # as fit at their maximum were admitted.
    assert statuses.count(200) >= limit // most
    assert primary.requests() == statuses.count(200)
    with acting_as_service():
        async with engine.connect() as conn:
            ledgered = (
                await conn.execute(
                    text(
                        "SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0) "
                        "FROM ai_usage WHERE owner = :owner"
                    ),
                    {"owner": owner},
                )
            ).one()
            held = (
                await conn.execute(
                    text("SELECT day_tokens FROM ai_quotas WHERE owner = :owner"),
                    {"owner": owner},
                )
            ).scalar_one_or_none()
    if redis_url is not None:
        assert held is None  # PostgreSQL held nothing: Redis answered every hold
        client = redis.Redis.from_url(redis_url)
        try:
            day = "d" + datetime.now(UTC).strftime("%Y%m%d")
            held = int(client.get(quota_key(settings.redis_prefix, "ai", owner, day)) or 0)
        finally:
            client.close()
    # Every call's ledger row was written (in batches, the last ones at shutdown).
    assert ledgered[0] == statuses.count(200)
    assert ledgered[1] == used
    # Every hold was settled: what is counted is what was used.
    assert held == used
