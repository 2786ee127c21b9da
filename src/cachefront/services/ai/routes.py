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
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from cachefront.auth.identity import Identity, owner_of
from cachefront.http.wire import IDENTITY_SCOPE_KEY
from cachefront.rooms import service_dependency
from cachefront.services.ai.cache_control import OPT_IN_HEADER, opted_in, parse_cache_control
from cachefront.services.ai.flight import FlightError
from cachefront.services.ai.models import CHAT, EMBEDDINGS, AiRequest, Delivery, parse_body
from cachefront.services.ai.openai_errors import AiRequestError, error_body, error_response
from cachefront.services.ai.service import AiService

__all__ = ["router"]

router = APIRouter(tags=["ai"])
AiServiceDep = Annotated[AiService, Depends(service_dependency(AiService))]

# One namespace for callers the gate did not identify (only when run without the gate).
_UNIDENTIFIED = "unidentified"


def _namespace(request: Request) -> str:
    """The caller's own namespace: answers are never shared between callers."""
    identity: Identity | None = request.scope.get(IDENTITY_SCOPE_KEY)
    if identity is None:
        return _UNIDENTIFIED
    return owner_of(identity, request.app.state.settings.jwt_issuer)


def _timing(started: float, waited_ms: float) -> str:
    total = (time.perf_counter() - started) * 1000
    own = max(total - waited_ms, 0.0)
    return f'gateway;dur={own:.3f};desc="cachefront", provider;dur={waited_ms:.3f}'


def _flight_error(exc: FlightError, started: float) -> Response:
    headers = {"Server-Timing": _timing(started, 0.0)}
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
    headers = {"X-Cache": delivery.x_cache, "Server-Timing": _timing(started, delivery.waited_ms)}
    if delivery.age is not None:
        headers["Age"] = str(delivery.age)
    if delivery.body is not None:
        return Response(delivery.body, media_type="application/json", headers=headers)
    assert delivery.payloads is not None
    headers["Cache-Control"] = "no-cache"
    return StreamingResponse(
        _sse(delivery.payloads), media_type="text/event-stream", headers=headers
    )


async def _answer(route: str, request: Request, service: AiService) -> Response:
    started = time.perf_counter()
    try:
        body = parse_body(route, await request.body())
        ai_request = AiRequest(
            route,
            body,
            _namespace(request),
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


@router.post("/v1/chat/completions", summary="Chat completion (OpenAI-compatible)")
async def chat_completions(request: Request, service: AiServiceDep) -> Response:
    """A chat completion, plain or streamed (``"stream": true``), from cache or a provider."""
    return await _answer(CHAT, request, service)


@router.post("/v1/embeddings", summary="Embeddings (OpenAI-compatible)")
async def embeddings(request: Request, service: AiServiceDep) -> Response:
    """Embeddings of ``input``, cached per caller."""
    return await _answer(EMBEDDINGS, request, service)


@router.get("/v1/models", summary="Models and aliases the caller may use")
async def models(service: AiServiceDep) -> Response:
    """The aliases and models of the configured providers."""
    body = orjson.dumps({"object": "list", "data": service.models()})
    return Response(body, media_type="application/json")
