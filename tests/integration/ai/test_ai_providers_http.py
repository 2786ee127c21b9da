"""Provider failures over HTTP: retries, the fallback chain, 503 when none is left, and no
provider key in any response or log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from ai_harness import PRIMARY_KEY, SECONDARY_KEY, SERVICE_KEY, providers_json

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread

BODY: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "user", "content": "Which provider answers?"}],
    "temperature": 0,
}
AUTH = {"Authorization": f"Bearer {SERVICE_KEY}"}


def chained(
    ai_settings: Callable[..., Settings],
    primary: RunningOpenAISimulator,
    secondary: RunningOpenAISimulator,
    **overrides: Any,
) -> Settings:
    return ai_settings(
        ai_providers=providers_json(
            ("primary", primary, PRIMARY_KEY), ("secondary", secondary, SECONDARY_KEY)
        ),
        **overrides,
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_429_is_retried_after_the_wait_the_provider_asks(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    stream: bool,
) -> None:
    primary.configure(fail_next=1, fail_status=429)  # "retry-after: 1"
    with serve_app(ai_settings()) as server:
        started = time.monotonic()
        answer = httpx.post(
            server.url + "/v1/chat/completions",
            json={**BODY, "stream": stream},
            headers=AUTH,
            timeout=30,
        )
        waited = time.monotonic() - started
    assert answer.status_code == 200
    assert waited >= 1.0
    assert primary.stats()["by_status"] == {"200": 1, "429": 1}


def test_a_wait_past_the_deadline_is_not_slept_through(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
) -> None:
    with serve_app(ai_settings(ai_deadline_seconds=3.0)) as server:
        primary.configure(rate_limit=1)
        first = httpx.post(server.url + "/v1/chat/completions", json=BODY, headers=AUTH)
        assert first.status_code == 200
        # The next call meets a 429 asking for most of a minute, past the deadline:
        # with no other provider, a 503 at once rather than a minute's wait.
        started = time.monotonic()
        again = httpx.post(
            server.url + "/v1/chat/completions",
            json={**BODY, "seed": 1},
            headers=AUTH,
            timeout=30,
        )
        assert time.monotonic() - started < 5
        assert again.status_code == 503
        assert again.json()["error"]["type"] == "api_error"
    assert primary.stats()["by_status"]["429"] >= 1


@pytest.mark.parametrize("stream", [False, True])
def test_the_second_provider_answers_when_the_first_fails(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    secondary: RunningOpenAISimulator,
    stream: bool,
) -> None:
    primary.configure(error_rate=1.0)
    with (
        serve_app(chained(ai_settings, primary, secondary)) as server,
        openai.OpenAI(base_url=server.url + "/v1", api_key=SERVICE_KEY, max_retries=0) as client,
    ):
        if stream:
            chunks = list(
                client.chat.completions.create(stream=True, **BODY)  # type: ignore[call-overload]
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            text = client.chat.completions.create(**BODY).choices[0].message.content or ""  # type: ignore[call-overload]
    assert text
    assert primary.stats()["by_status"] == {"503": primary.requests()}
    assert secondary.stats()["by_status"] == {"200": 1}


def test_503_when_every_provider_fails_and_never_an_invented_answer(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    secondary: RunningOpenAISimulator,
) -> None:
    primary.configure(error_rate=1.0)
    secondary.configure(error_rate=1.0)
    with (
        serve_app(chained(ai_settings, primary, secondary)) as server,
        openai.OpenAI(base_url=server.url + "/v1", api_key=SERVICE_KEY, max_retries=0) as client,
    ):
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(**BODY)  # type: ignore[call-overload]
        assert failed.value.status_code == 503
        assert "primary" in failed.value.message
        assert "secondary" in failed.value.message
        # Nothing was stored: once the providers are back, they are asked.
        primary.configure(error_rate=0.0)
        raw = client.chat.completions.with_raw_response.create(**BODY)  # type: ignore[call-overload]
        assert raw.headers["x-cache"] == "MISS"


def test_no_provider_configured_is_a_503(
    ai_settings: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(ai_settings(ai_providers=None)) as server:
        answer = httpx.post(server.url + "/v1/chat/completions", json=BODY, headers=AUTH)
        assert answer.status_code == 503
        assert answer.json()["error"]["message"] == "no AI provider is configured on this server"
        models = httpx.get(server.url + "/v1/models", headers=AUTH)
        assert models.json() == {"object": "list", "data": []}


def test_no_provider_key_in_any_response_or_log(
    ai_settings: Callable[..., Settings],
    serve_app: type[ServerThread],
    primary: RunningOpenAISimulator,
    secondary: RunningOpenAISimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    settings = chained(ai_settings, primary, secondary)
    with (
        serve_app(settings) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client,
    ):

        def keep(response: httpx.Response) -> None:
            response.read()
            seen.append(str(response.headers) + response.text)

        keep(client.post("/v1/chat/completions", json=BODY))
        keep(client.post("/v1/chat/completions", json={**BODY, "stream": True}))
        keep(client.get("/v1/models"))
        keep(client.post("/v1/embeddings", json={"model": "embed", "input": "x"}))
        # The provider refuses the key it was given: its 401 is a provider failure.
        primary.configure(api_key="another-key")
        secondary.configure(error_rate=1.0)
        keep(client.post("/v1/chat/completions", json={**BODY, "seed": 2}))
        keep(client.post("/v1/chat/completions", json={**BODY, "seed": 3, "stream": True}))
        keep(client.post("/v1/chat/completions", json={"model": "chat"}))
    assert any('"error"' in text for text in seen)
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for secret in (PRIMARY_KEY, SECONDARY_KEY):
        assert all(secret not in text for text in seen)
        assert secret not in logged
