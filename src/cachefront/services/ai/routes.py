"""The OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Bodies are read raw and passed on as sent (unknown fields, tools and
``response_format`` included), after the few checks the gateway needs. Errors are in
OpenAI's format; an error after a stream started is sent as a last ``data`` event
carrying ``error``, which the official clients raise. Every answer says ``X-Cache``,
``Age`` when it came from the cache, and ``Server-Timing`` with the gateway's own time
apart from the time spent waiting on a provider.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from cachefront.auth.identity import Identity, owner_of
from cachefront.http.streaming import LeanStreamingResponse
from cachefront.http.wire import IDENTITY_SCOPE_KEY
from cachefront.rooms import RoomServices, service_dependency
from cachefront.services.ai.cache_control import OPT_IN_HEADER, opted_in, parse_cache_control
from cachefront.services.ai.flight import FlightError
from cachefront.services.ai.models import CHAT, EMBEDDINGS, AiRequest, Delivery, parse_body
from cachefront.services.ai.openai_errors import (
    ERROR_SCHEMA,
    AiRequestError,
    error_body,
    error_response,
)
from cachefront.services.ai.service import AiService

__all__ = ["caller_namespace", "router"]

router = APIRouter(tags=["ai"])
AiServiceDep = Annotated[AiService, Depends(service_dependency(AiService))]

# One namespace for callers the gate did not identify (only when run without the gate).
_UNIDENTIFIED = "unidentified"


def caller_namespace(request: Request) -> str:
    """The caller's own namespace: answers are never shared between callers."""
    identity: Identity | None = request.scope.get(IDENTITY_SCOPE_KEY)
    if identity is None:
        return _UNIDENTIFIED
    return owner_of(identity, request.app.state.settings.jwt_issuer)


def _timing(started: float, waited_ms: float, gate_ms: float = 0.0) -> str:
    # The quota's hold is taken inside the wait on the flight, but it is the gateway's
    # own work: counted in `gateway`, and shown apart as `quota`.
    total = (time.perf_counter() - started) * 1000
    own = max(total - waited_ms + gate_ms, 0.0)
    provider = max(waited_ms - gate_ms, 0.0)
    return (
        f'gateway;dur={own:.3f};desc="cachefront", provider;dur={provider:.3f}, '
        f"quota;dur={gate_ms:.3f}"
    )


def _flight_error(exc: FlightError, started: float) -> Response:
    headers = {**exc.headers, "Server-Timing": _timing(started, 0.0)}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.status, exc.message, code=exc.code, headers=headers)


async def _sse(payloads: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for payload in payloads:
            yield b"data: " + payload + b"\n\n"
    except FlightError as exc:
        # The status line went out with the first chunk: the error rides in the stream.
        yield b"data: " + error_body(exc.status, exc.message, code=exc.code) + b"\n\n"


def _sent(delivery: Delivery, started: float) -> Response:
    timing = _timing(started, delivery.waited_ms, delivery.gate_ms)
    headers = {"X-Cache": delivery.x_cache, "Server-Timing": timing, **delivery.ratelimit}
    if delivery.age is not None:
        headers["Age"] = str(delivery.age)
    if delivery.body is not None:
        return Response(delivery.body, media_type="application/json", headers=headers)
    assert delivery.payloads is not None
    headers["Cache-Control"] = "no-cache"
    return LeanStreamingResponse(
        _sse(delivery.payloads), media_type="text/event-stream", headers=headers
    )


async def _answer(route: str, request: Request, service: AiService) -> Response:
    started = time.perf_counter()
    try:
        body = parse_body(route, await request.body())
        ai_request = AiRequest(
            route,
            body,
            caller_namespace(request),
            parse_cache_control(request.headers.get("cache-control")),
            opted_in(request.headers.get(OPT_IN_HEADER)),
        )
        delivery = await service.answer(ai_request)
    except AiRequestError as exc:
        response = exc.response()
        response.headers["Server-Timing"] = _timing(started, 0.0)
        return response
    except FlightError as exc:
        return _flight_error(exc, started)
    return _sent(delivery, started)


def _openai_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


# The body is the provider's to judge beyond these few fields; every other field passes.
_CHAT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "A model or alias from GET /v1/models"},
        "messages": {"type": "array", "items": {"type": "object"}, "minItems": 1},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number"},
    },
    "additionalProperties": True,
}
_EMBEDDINGS_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {"model": {"type": "string"}, "input": {}},
    "additionalProperties": True,
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _openai_error("The request is malformed (the field at fault is `param`)"),
    404: _openai_error("No provider serves this model (`model_not_found`)"),
    502: _openai_error("The provider broke off its answer"),
    503: _openai_error("No provider could answer, or none is configured"),
    504: _openai_error("Not in the cache under only-if-cached, or past the deadline"),
}


def _documented(body: dict[str, Any], *, streams: bool) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if streams:
        ok["text/event-stream"] = {"schema": {"type": "string"}}
    return {
        "openapi_extra": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}
        },
        "responses": {200: {"description": "The answer", "content": ok}, **_ERRORS},
    }


@router.post(
    "/v1/chat/completions",
    summary="Chat completion (OpenAI-compatible)",
    **_documented(_CHAT_BODY, streams=True),
)
async def chat_completions(request: Request, service: AiServiceDep) -> Response:
    """A chat completion, plain or streamed (``"stream": true``), from cache or a provider."""
    return await _answer(CHAT, request, service)


async def chat_completions_endpoint(request: Request) -> Response:
    """``POST /v1/chat/completions`` as the room's raw route (``http/raw_routes.py``).

    The gateway's busiest route: answered without FastAPI's routing and dependency
    solving, which cost a tenth of a call's CPU. The route above stays for the OpenAPI
    document and answers the same.
    """
    services: RoomServices = request.app.state.services
    return await _answer(CHAT, request, services.get(AiService))


@router.post(
    "/v1/embeddings",
    summary="Embeddings (OpenAI-compatible)",
    **_documented(_EMBEDDINGS_BODY, streams=False),
)
async def embeddings(request: Request, service: AiServiceDep) -> Response:
    """Embeddings of ``input``, cached per caller."""
    return await _answer(EMBEDDINGS, request, service)


@router.get("/v1/models", summary="Models and aliases the caller may use")
async def models(service: AiServiceDep) -> Response:
    """The aliases and models of the configured providers."""
    body = orjson.dumps({"object": "list", "data": service.models()})
    return Response(body, media_type="application/json")
