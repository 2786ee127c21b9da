"""Quotas and the usage ledger over real HTTP and PostgreSQL: daily tokens, requests per
minute, 429s in OpenAI's format with the x-ratelimit-* headers, the ledger's rows and
``GET /v1/ai/usage`` for a caller and for the service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import openai
import pytest
from ai_harness import SERVICE_KEY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.auth.isolation import acting_as_service
from cachefront.config import Settings
from cachefront.services.ai.estimate import maximum_tokens
from cachefront.services.ai.models import CHAT
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread
from minute_windows import away_from_a_minute_edge

MESSAGES = [{"role": "user", "content": "Count the tokens of this one."}]
PRICES = {"sim-small": [2.0, 8.0]}


async def _user(engine: AsyncEngine, name: str) -> tuple[str, str]:
    key, record = await KeyManager(engine).create(name, Role.USER)
    return key, f"key:{record.id}"


async def _ledger(engine: AsyncEngine, owner: str) -> list[dict[str, object]]:
    with acting_as_service():
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT provider, model, prompt_tokens, completion_tokens, cost_usd, "
                    "saved_usd, cached, ok FROM ai_usage WHERE owner = :owner ORDER BY id"
                ),
                {"owner": owner},
            )
            return [dict(row) for row in rows.mappings()]


async def test_requests_per_minute_refused_in_openais_format(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, owner = await _user(engine, "ai-rpm")
    with serve_app(ai_settings(ai_requests_per_minute=3)) as server:
        await away_from_a_minute_edge(15)
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        for _ in range(3):
            await client.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        await client.close()
    headers = limited.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert limited.value.code == "rate_limit_exceeded"
    assert "3 requests per minute" in limited.value.message
    assert primary.requests() == 3
    assert len(await _ledger(engine, owner)) == 3


async def test_daily_tokens_hold_the_maximum_and_settle_the_real_usage(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, owner = await _user(engine, "ai-daily")
    body = {"model": "chat", "messages": MESSAGES, "max_tokens": 40}
    most = maximum_tokens(CHAT, body, 1024)
    # Room for two holds at once, not three; each call settles at far less than its hold.
    settings = ai_settings(ai_daily_tokens=2 * most + 1, ai_prices=PRICES)
    with serve_app(settings) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            answered = 0

            async def settled_call() -> httpx.Response:
                # A call settles just after its answer is sent: wait for its ledger row.
                nonlocal answered
                response = await client.post("/v1/chat/completions", json=body)
                answered += response.status_code == 200
                for _ in range(100):
                    if len(await _ledger(engine, owner)) >= answered:
                        break
                    await asyncio.sleep(0.02)
                return response

            answers = []
            for _ in range(3):
                answers.append((await settled_call()).json())
            used = sum(
                a["usage"]["prompt_tokens"] + a["usage"]["completion_tokens"] for a in answers
            )
            # Three calls fit because each hold was replaced by what it used.
            assert used < 2 * most + 1
            calls = 3
            while True:
                response = await settled_call()
                if response.status_code == 429:
                    break
                assert response.status_code == 200
                calls += 1
                assert calls < 100
            error = response.json()["error"]
            assert error["type"] == "rate_limit_error"
            assert "Daily token limit" in error["message"]
            assert response.headers["x-ratelimit-limit-tokens"] == str(2 * most + 1)
            assert int(response.headers["x-ratelimit-remaining-tokens"]) < most
            assert 1 <= int(response.headers["retry-after"]) <= 86400
            mine = (await client.get("/v1/ai/usage")).json()
    rows = await _ledger(engine, owner)
    assert len(rows) == calls == primary.requests()
    assert all(row["ok"] and not row["cached"] for row in rows)
    first = rows[0]
    expected = (2.0 * first["prompt_tokens"] + 8.0 * first["completion_tokens"]) / 1_000_000  # type: ignore[operator]
    assert first["cost_usd"] == pytest.approx(expected)
    assert mine["user"] == owner
    assert mine["totals"]["calls"] == calls
    assert mine["quota"]["daily_tokens"] == 2 * most + 1
    assert mine["quota"]["tokens_today"] == sum(
        int(r["prompt_tokens"]) + int(r["completion_tokens"])  # type: ignore[call-overload]
        for r in rows
    )


async def test_a_request_larger_than_the_quota_is_told_so(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, _ = await _user(engine, "ai-huge")
    with serve_app(ai_settings(ai_daily_tokens=100)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "chat", "messages": MESSAGES},
                headers={"Authorization": f"Bearer {key}"},
            )
    assert response.status_code == 429
    assert "lower max_tokens" in response.json()["error"]["message"]
    assert primary.requests() == 0


async def test_cache_hits_are_ledgered_as_saved_cost_and_admins_see_every_caller(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, owner = await _user(engine, "ai-saved")
    other_key, other = await _user(engine, "ai-other")
    body = {"model": "chat", "messages": MESSAGES, "temperature": 0}
    with serve_app(ai_settings(ai_prices=PRICES)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for _ in range(3):
                answer = await client.post(
                    "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200
            await client.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {other_key}"}
            )
            for _ in range(50):
                if len(await _ledger(engine, owner)) == 3:
                    break
                await asyncio.sleep(0.05)
            mine = (
                await client.get("/v1/ai/usage", headers={"Authorization": f"Bearer {key}"})
            ).json()
            everyone = (
                await client.get(
                    "/v1/ai/usage?days=2", headers={"Authorization": f"Bearer {SERVICE_KEY}"}
                )
            ).json()
            bad = await client.get(
                "/v1/ai/usage?days=0", headers={"Authorization": f"Bearer {key}"}
            )
    rows = await _ledger(engine, owner)
    assert [row["cached"] for row in rows] == [False, True, True]
    usage = answer.json()["usage"]
    cost = (2.0 * usage["prompt_tokens"] + 8.0 * usage["completion_tokens"]) / 1_000_000
    assert rows[1]["saved_usd"] == pytest.approx(cost)
    assert mine["totals"]["calls"] == 1
    assert mine["totals"]["cache_hits"] == 2
    assert mine["totals"]["saved_usd"] == pytest.approx(2 * cost)
    assert "users" not in mine
    listed = {user["owner"] for user in everyone["users"]}
    assert {owner, other} <= listed
    assert bad.status_code in (400, 422)
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "days" in json.dumps(bad.json())


async def test_a_stream_the_client_abandons_is_still_billed(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    key, owner = await _user(engine, "ai-abandon")
    primary.configure(tokens_per_second=40)
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    with serve_app(ai_settings(ai_daily_tokens=10_000)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            async with client.stream(
                "POST",
                "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            ) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        break  # one chunk, then the caller goes away
            for _ in range(100):
                rows = await _ledger(engine, owner)
                if rows:
                    break
                await asyncio.sleep(0.05)
    assert len(rows) == 1
    assert rows[0]["ok"]
    assert int(rows[0]["completion_tokens"]) > 0  # type: ignore[call-overload]
    assert primary.requests() == 1
