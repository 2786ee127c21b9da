"""Cache correctness over HTTP: which requests hit, which miss, which are never cached,
and what request Cache-Control does; counted at the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from ai_harness import SERVICE_KEY
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

BASE: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "user", "content": "What is a cache?"}],
    "temperature": 0,
}
AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}


@pytest.fixture
def gateway(
    ai_settings: Callable[..., Settings], serve_app: type[ServerThread]
) -> Iterator[httpx.Client]:
    with (
        serve_app(ai_settings()) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=20) as client,
    ):
        yield client


def chat(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v1/chat/completions", json=body, headers=headers)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0, "top_p": 0.5},
        {"max_tokens": 5},
        {"seed": 3},
        {"stop": ["."]},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"model": "sim-small"},  # the same model asked by name, not by alias
    ],
)
def test_a_changed_parameter_misses(
    gateway: httpx.Client, primary: RunningOpenAISimulator, change: dict[str, Any]
) -> None:
    assert chat(gateway, BASE).headers["x-cache"] == "MISS"
    changed = chat(gateway, {**BASE, **change})
    assert changed.status_code == 200
    assert changed.headers["x-cache"] == "MISS"
    assert chat(gateway, {**BASE, **change}).headers["x-cache"] == "HIT"
    assert primary.requests() == 2


def test_reordered_keys_hit_and_delivery_fields_do_not_matter(
    gateway: httpx.Client, primary: RunningOpenAISimulator
) -> None:
    first = chat(gateway, BASE)
    assert first.headers["x-cache"] == "MISS"
    raw = (
        b'{"temperature": 0, "user": "someone", '
        b'"messages": [{"content": "What is a cache?", "role": "user"}], "model": "chat"}'
    )
    again = gateway.post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert again.headers["x-cache"] == "HIT"
    assert again.content == first.content
    assert primary.requests() == 1


def test_temperature_omitted_is_never_cached_unless_opted_in(
    gateway: httpx.Client, primary: RunningOpenAISimulator
) -> None:
    sampled = {key: value for key, value in BASE.items() if key != "temperature"}
    assert chat(gateway, sampled).headers["x-cache"] == "BYPASS"
    assert chat(gateway, sampled).headers["x-cache"] == "BYPASS"
    assert "age" not in chat(gateway, sampled).headers
    assert primary.requests() == 3
    warm = {**sampled, "temperature": 0.8}
    assert chat(gateway, warm, **{"X-Cache-Opt-In": "1"}).headers["x-cache"] == "MISS"
    assert chat(gateway, warm, **{"X-Cache-Opt-In": "1"}).headers["x-cache"] == "HIT"
    assert chat(gateway, warm).headers["x-cache"] == "BYPASS"
    assert primary.requests() == 5


def test_request_cache_control(gateway: httpx.Client, primary: RunningOpenAISimulator) -> None:
    missing = chat(gateway, BASE, **{"Cache-Control": "only-if-cached"})
    assert missing.status_code == 504
    assert missing.json()["error"]["code"] == "cache_miss"
    assert primary.requests() == 0

    assert chat(gateway, BASE, **{"Cache-Control": "no-store"}).headers["x-cache"] == "MISS"
    assert chat(gateway, BASE, **{"Cache-Control": "only-if-cached"}).status_code == 504

    assert chat(gateway, BASE).headers["x-cache"] == "MISS"
    # no-cache: the provider is asked again, and its answer is stored.
    assert chat(gateway, BASE, **{"Cache-Control": "no-cache"}).headers["x-cache"] == "MISS"
    assert primary.requests() == 3
    cached = chat(gateway, BASE, **{"Cache-Control": "only-if-cached"})
    assert cached.headers["x-cache"] == "HIT"

    time.sleep(1.1)
    assert int(chat(gateway, BASE).headers["age"]) >= 1
    assert chat(gateway, BASE, **{"Cache-Control": "max-age=0"}).headers["x-cache"] == "MISS"
    assert chat(gateway, BASE, **{"Cache-Control": "max-age=60"}).headers["x-cache"] == "HIT"
    assert primary.requests() == 4
    bad = chat(gateway, BASE, **{"Cache-Control": "max-age=later"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "Cache-Control"


def test_plain_and_streamed_answers_are_kept_apart_and_embeddings_cached(
    gateway: httpx.Client, primary: RunningOpenAISimulator
) -> None:
    assert chat(gateway, BASE).headers["x-cache"] == "MISS"
    streamed = chat(gateway, {**BASE, "stream": True})
    assert streamed.headers["x-cache"] == "MISS"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.rstrip().endswith("data: [DONE]")
    embed = {"model": "embed", "input": ["one", "two"]}
    first = gateway.post("/v1/embeddings", json=embed)
    assert first.headers["x-cache"] == "MISS"
    second = gateway.post("/v1/embeddings", json=embed)
    assert second.headers["x-cache"] == "HIT"
    assert orjson.loads(second.content) == orjson.loads(first.content)
    assert primary.requests() == 3


async def test_answers_are_never_shared_between_callers(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    one, _ = await KeyManager(engine).create("ai-one", Role.USER)
    two, _ = await KeyManager(engine).create("ai-two", Role.USER)
    with serve_app(ai_settings()) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:

            async def ask(key: str) -> str:
                response = await client.post(
                    "/v1/chat/completions",
                    json=BASE,
                    headers={"Authorization": f"Bearer {key}"},
                )
                return response.headers["x-cache"]

            assert await ask(one) == "MISS"
            assert await ask(one) == "HIT"
            assert await ask(two) == "MISS"
    assert primary.requests() == 2


@pytest.mark.parametrize("stream", [False, True])
def test_tools_response_format_and_unknown_fields_reach_the_provider_unchanged(
    gateway: httpx.Client, primary: RunningOpenAISimulator, stream: bool
) -> None:
    body = {
        **BASE,
        "stream": stream,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "x_vendor_option": {"nested": [1, 2.5, None]},
    }
    assert chat(gateway, body).status_code == 200
    received = primary.stats()["last_body"]
    expected = {**body, "model": "sim-small"}  # the alias resolved to the provider's model
    if stream:
        # Usage is always asked for upstream; this caller did not ask and gets none.
        expected["stream_options"] = {"include_usage": True}
    assert received == expected
