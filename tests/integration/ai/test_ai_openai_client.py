"""The official ``openai`` package, pointed at the gateway, works unchanged: sync and async,
plain and streamed, raw headers, and its own exception types for the gateway's errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from ai_harness import SERVICE_KEY
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from cachefront.services.ai.simulator_answers import answer_words
from harness_servers import ServerThread

MESSAGES = [{"role": "user", "content": "Say something about caches."}]


def _client(server: ServerThread, key: str = SERVICE_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_plain_completion_with_raw_headers(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
) -> None:
    with serve_app(ai_settings()) as server, _client(server) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="chat",
            messages=MESSAGES,
            temperature=0,  # type: ignore[arg-type]
        )
        first = raw.parse()
        assert raw.headers["x-cache"] == "MISS"
        assert raw.headers["server-timing"].startswith("gateway;dur=")
        expected = " ".join(
            answer_words({"model": "sim-small", "messages": MESSAGES, "temperature": 0})
        )
        assert first.choices[0].message.content == expected
        assert first.usage is not None
        assert first.usage.completion_tokens == len(expected.split())

        again = client.chat.completions.with_raw_response.create(
            model="chat",
            messages=MESSAGES,
            temperature=0,  # type: ignore[arg-type]
        )
        assert again.headers["x-cache"] == "HIT"
        assert int(again.headers["age"]) >= 0
        assert again.parse().model_dump() == first.model_dump()
        assert primary.requests() == 1


def test_stream_sync_then_replayed_chunk_for_chunk(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
) -> None:
    with serve_app(ai_settings()) as server, _client(server) as client:
        tools = [
            {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        ]

        def collect() -> tuple[str, list[dict[str, object]]]:
            raw = client.chat.completions.with_raw_response.create(
                model="chat",
                messages=MESSAGES,  # type: ignore[arg-type]
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                tools=tools,  # type: ignore[list-item]
            )
            chunks = [chunk.model_dump() for chunk in raw.parse()]
            return raw.headers["x-cache"], chunks

        state, chunks = collect()
        assert state == "MISS"
        calls = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]  # type: ignore[index]
        assert calls, "the tool-call deltas are streamed"
        assert chunks[-1]["usage"] is not None
        assert chunks[-1]["choices"] == []
        state, replayed = collect()
        assert state == "HIT"
        assert replayed == chunks
        assert primary.requests() == 1


async def test_async_plain_and_stream_without_usage(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
) -> None:
    with serve_app(ai_settings()) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=SERVICE_KEY, max_retries=0)
        plain = await client.chat.completions.create(model="chat", messages=MESSAGES, temperature=0)  # type: ignore[arg-type]
        stream = await client.chat.completions.create(
            model="chat",
            messages=MESSAGES,
            temperature=0,
            stream=True,  # type: ignore[arg-type]
        )
        parts = []
        async for chunk in stream:
            # Usage was asked for upstream (to account for it), not by this caller.
            assert chunk.choices, "no usage-only chunk for a caller who did not ask"
            parts.append(chunk.choices[0].delta.content or "")
        assert "".join(parts) == plain.choices[0].message.content
        embedded = await client.embeddings.create(model="embed", input=["a", "b"])
        assert len(embedded.data) == 2
        models = await client.models.list()
        assert {"chat", "embed", "sim-small", "sim-embed"} <= {m.id for m in models.data}
        await client.close()


async def test_errors_raise_the_clients_own_exceptions(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    engine: AsyncEngine,
) -> None:
    user_key, _ = await KeyManager(engine).create("ai-limits", Role.USER)
    settings = ai_settings(rate_limits={"general": "1000/minute", "ai": "3/minute"})

    opened: list[openai.AsyncOpenAI] = []

    def client(key: str) -> openai.AsyncOpenAI:
        made = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        opened.append(made)
        return made

    with serve_app(settings) as server:
        with pytest.raises(openai.AuthenticationError) as refused:
            await client("wrong").chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        assert refused.value.body["type"] == "authentication_error"  # type: ignore[index]
        service = client(SERVICE_KEY)
        with pytest.raises(openai.NotFoundError) as missing:
            await service.chat.completions.create(model="nope", messages=MESSAGES)  # type: ignore[arg-type]
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            await service.chat.completions.create(model="chat", messages=[])
        assert bad.value.param == "messages"
        user = client(user_key)
        for _ in range(3):
            await user.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as limited:
            await user.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        assert limited.value.response.headers["retry-after"]
        assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]
        # Elsewhere the platform's problem+json stays.
        async with httpx.AsyncClient() as plain:
            other = await plain.get(server.url + "/v1/admin/stats")
        assert other.headers["content-type"].startswith("application/problem+json")
        for made in opened:
            await made.close()
