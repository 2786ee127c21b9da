"""A local OpenAI-compatible provider for tests, benchmarks, drills: ``cachefront simulate openai``.

``POST /v1/chat/completions`` (plain and streamed), ``POST /v1/embeddings`` and
``GET /v1/models`` answer in the real formats with answers derived from the request
(``simulator_answers``). Faults can change while running (``POST /_config``):
``latency_ms`` delays every answer, ``error_rate`` answers that share with 503,
``rate_limit`` (requests per minute) answers 429 past it with the real header names
(``retry-after``, ``x-ratelimit-*``), ``tokens_per_second`` paces stream chunks, and
``abort_after_chunks`` drops a stream's connection after that many chunks, and
``fail_next`` answers the next requests with ``fail_status`` (a 429 asks for one
second). With
``api_key`` set, other keys get 401. ``GET /_stats`` counts API requests as they
arrive (``requests``) and answers by status (``by_status``), with the last chat body
received (``last_body``); ``POST /_reset`` zeroes them.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cachefront.services.ai.simulator_answers import chat_chunks, chat_completion, embedding_vectors
from cachefront.simulators.running import RunningServer
from cachefront.simulators.stats import RequestStats

__all__ = ["RunningOpenAISimulator", "SimulatorConfig", "create_simulator", "serve"]

DEFAULT_MODELS = ("sim-small", "sim-large", "sim-embed")


@dataclass
class SimulatorConfig:
    """The simulator's faults and pace; every field can change while it runs."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit: int | None = None
    tokens_per_second: float | None = None
    abort_after_chunks: int | None = None
    fail_next: int = 0
    fail_status: int = 429
    api_key: str | None = None
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))


class _State:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = RequestStats()
        self.window: deque[float] = deque()
        self.last_body: dict[str, Any] | None = None
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.stats.reset()
            self.window.clear()
            self.last_body = None


def _error(
    status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Response(orjson.dumps(body), status, media_type="application/json", headers=headers)


def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(max(remaining, 0)),
        "x-ratelimit-reset-requests": f"{reset:.2f}s",
        "x-ratelimit-limit-tokens": "60000",
        "x-ratelimit-remaining-tokens": "60000",
        "x-ratelimit-reset-tokens": "0s",
    }


async def _admit(state: _State, request: Request) -> Response | None:
    """The fault the request meets (auth, rate limit, error) as a response, or None."""
    config = state.config
    if config.latency_ms > 0:
        await asyncio.sleep(config.latency_ms / 1000)
    expected = f"Bearer {config.api_key}"
    if config.api_key is not None and request.headers.get("authorization") != expected:
        return _error(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")
    with state.lock:
        failing = config.fail_next > 0
        if failing:
            config.fail_next -= 1
    if failing and config.fail_status == 429:
        return _error(
            429,
            "Rate limit reached on requests per minute (RPM). Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
            {**_rate_headers(config.rate_limit or 30, 0, 1.0), "retry-after": "1"},
        )
    if failing:
        return _error(config.fail_status, "Simulated failure", "internal_server_error", None)
    if config.rate_limit is not None:
        now = time.monotonic()
        with state.lock:
            while state.window and state.window[0] <= now - 60:
                state.window.popleft()
            limited = len(state.window) >= config.rate_limit
            if not limited:
                state.window.append(now)
            reset = 60 - (now - state.window[0]) if state.window else 0.0
            remaining = config.rate_limit - len(state.window)
        if limited:
            wait = max(1, int(reset + 0.999))
            return _error(
                429,
                f"Rate limit reached on requests per minute (RPM): Limit {config.rate_limit}. "
                f"Please try again in {reset:.3f}s.",
                "requests",
                "rate_limit_exceeded",
                {**_rate_headers(config.rate_limit, 0, reset), "retry-after": str(wait)},
            )
        del remaining
    if config.error_rate > 0 and random.random() < config.error_rate:
        return _error(503, "Service Unavailable", "internal_server_error", "service_unavailable")
    return None


def _json_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def create_simulator(**config: Any) -> Starlette:
    """The simulator app; ``config`` sets ``SimulatorConfig`` fields."""
    state = _State(SimulatorConfig(**config))

    def counted(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """Count the request as it arrives, then its answer, and meet the faults first."""

        async def serve(request: Request) -> Response:
            with state.lock:
                period = state.stats.arrived(request.url.path)
            response = await _admit(state, request) or await endpoint(request)
            with state.lock:
                state.stats.answered(period, response.status_code)
            return response

        return serve

    async def chat(request: Request) -> Response:
        body = _json_body(await request.body())
        state.last_body = body
        if body is None or not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "'model' and 'messages' are required", "invalid_request_error", None)
        if body["model"] not in state.config.models:
            return _error(
                404,
                f"The model `{body['model']}` does not exist",
                "invalid_request_error",
                "model_not_found",
            )
        if not body.get("stream"):
            return Response(orjson.dumps(chat_completion(body)), media_type="application/json")
        return StreamingResponse(_stream(body, state.config), media_type="text/event-stream")

    async def embeddings(request: Request) -> Response:
        body = _json_body(await request.body())
        if body is None or "input" not in body or not body.get("model"):
            return _error(400, "'model' and 'input' are required", "invalid_request_error", None)
        return Response(orjson.dumps(embedding_vectors(body)), media_type="application/json")

    async def models(request: Request) -> Response:
        data = [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "simulator"}
            for name in state.config.models
        ]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    async def stats(_: Request) -> Response:
        with state.lock:
            doc = {**state.stats.as_dict(), "last_body": state.last_body}
        return Response(orjson.dumps(doc), media_type="application/json")

    async def reset(_: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def configure(request: Request) -> Response:
        changes = _json_body(await request.body()) or {}
        known = set(asdict(state.config))
        unknown = sorted(set(changes) - known)
        if unknown:
            return _error(
                400,
                f"unknown settings {unknown}; known: {sorted(known)}",
                "invalid_request_error",
                None,
            )
        for name, value in changes.items():
            setattr(state.config, name, value)
        return Response(orjson.dumps(asdict(state.config)), media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", counted(chat), methods=["POST"]),
            Route("/v1/embeddings", counted(embeddings), methods=["POST"]),
            Route("/v1/models", counted(models), methods=["GET"]),
            Route("/_stats", stats, methods=["GET"]),
            Route("/_reset", reset, methods=["POST"]),
            Route("/_config", configure, methods=["POST"]),
        ]
    )
    app.state.simulator = state
    return app


class _Aborted(Exception):
    """Raised inside a stream to drop the connection before ``[DONE]``."""


async def _stream(body: dict[str, Any], config: SimulatorConfig) -> AsyncIterator[bytes]:
    pause = 1 / config.tokens_per_second if config.tokens_per_second else 0.0
    abort_after = config.abort_after_chunks
    for index, chunk in enumerate(chat_chunks(body)):
        if abort_after is not None and index >= abort_after:
            raise _Aborted("stream aborted as configured")
        if pause and index > 0:
            await asyncio.sleep(pause)
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


class RunningOpenAISimulator(RunningServer):
    """The simulator on a free port of 127.0.0.1, served from a background thread.

    Use as a context manager; ``base_url`` ends in ``/v1``, as a provider's does, and
    ``root`` is the server's, where ``/_stats`` and the other control endpoints are.
    """

    def __init__(self, **config: Any) -> None:
        # Critical only: an aborted stream is on purpose, not worth a traceback.
        super().__init__(
            create_simulator(**config), "openai-simulator", lifespan="off", log_level="critical"
        )

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def requests(self) -> int:
        return int(self.stats()["requests"])


def serve(host: str, port: int, **config: Any) -> None:
    """Serve the simulator in the foreground until interrupted."""
    uvicorn.run(
        create_simulator(**config), host=host, port=port, log_level="warning", access_log=False
    )
