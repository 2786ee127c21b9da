"""What the AI routes accept: a checked request, and what the service hands back to send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cachefront.services.ai.cache_control import CacheDirectives
from cachefront.services.ai.openai_errors import AiRequestError

__all__ = ["CHAT", "EMBEDDINGS", "AiRequest", "Delivery", "parse_body"]

CHAT = "/chat/completions"
EMBEDDINGS = "/embeddings"


def _refuse(message: str, param: str | None) -> AiRequestError:
    return AiRequestError(400, message, param=param)


def parse_body(route: str, raw: bytes) -> dict[str, Any]:
    """The request as sent (unknown fields kept, in order), after the checks the gateway
    needs; anything else is the provider's to judge."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _refuse(f"the body is not valid JSON: {exc.msg}", None) from None
    if not isinstance(body, dict):
        raise _refuse("the body must be a JSON object", None)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _refuse("'model' is required: a model or alias from GET /v1/models", "model")
    if route == CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _refuse("'messages' must be a non-empty list of messages", "messages")
        if not all(isinstance(message, dict) for message in messages):
            raise _refuse("each of 'messages' must be an object", "messages")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _refuse("'stream' must be true or false", "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise _refuse("'stream_options' must be an object", "stream_options")
    else:
        given = body.get("input")
        if not (isinstance(given, str) and given) and not (isinstance(given, list) and given):
            raise _refuse("'input' must be a non-empty string or list", "input")
    return body


@dataclass(frozen=True, slots=True)
class AiRequest:
    """One call of a caller: the route, its body as sent, whose it is, how to cache it."""

    route: str
    body: Mapping[str, Any]
    namespace: str
    directives: CacheDirectives
    opted_in: bool = False
    # Whose quota and ledger the call counts against, when the answer's namespace is
    # shared by a route (reflections); None: the namespace's own caller.
    caller: str | None = None

    @property
    def billed(self) -> str:
        return self.caller if self.caller is not None else self.namespace

    @property
    def stream(self) -> bool:
        return self.route == CHAT and self.body.get("stream") is True

    @property
    def wants_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True


@dataclass(frozen=True, slots=True)
class Delivery:
    """What to send: ``X-Cache``, ``Age``, and the body or the stream's payloads.

    ``waited_ms`` is the time spent waiting on a provider (or on the request this one
    joined), so ``Server-Timing`` can report the gateway's own time apart from it.
    """

    x_cache: str
    age: int | None
    waited_ms: float
    body: bytes | None = None
    payloads: AsyncIterator[bytes] | None = None
    # Time spent holding the caller's quota (part of the gateway's own time).
    gate_ms: float = 0.0
    # The caller's x-ratelimit-* headers (empty without limits).
    ratelimit: Mapping[str, str] = field(default_factory=dict)
