"""Error formats of rooms by path prefix: the platform's problem+json, reshaped for a client.

Some clients expect errors in a shape of their own (an SDK that raises by reading
it). A room declares ``ErrorFormat(prefix, render)`` in its ``error_formats``; for
requests under that prefix, ``ErrorFormatApp`` (the outermost layer, so the gate's
refusals are covered too) turns every problem+json response into ``render(status,
problem)``, keeping its status and other headers. Responses in any other format, and
every other path, pass through untouched and unbuffered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.http.problems import PROBLEM_JSON

__all__ = ["ErrorFormat", "ErrorFormatApp", "error_format_for", "error_formats_of"]

Render = Callable[[int, dict[str, Any]], bytes]
_PROBLEM = PROBLEM_JSON.encode()


@dataclass(frozen=True, slots=True)
class ErrorFormat:
    """Under ``prefix``, problem documents become ``render(status, problem)`` bytes."""

    prefix: str
    render: Render
    media_type: str = "application/json"
    # The JSON Schema of the rendered errors, for the OpenAPI document.
    schema: dict[str, Any] | None = None


def error_formats_of(rooms: Sequence[object]) -> list[ErrorFormat]:
    """The formats the rooms declare (``error_formats``, optional: most rooms have none)."""
    return [fmt for room in rooms for fmt in getattr(room, "error_formats", ())]


def _under(path: str, prefix: str) -> bool:
    # As route groups match: "/v1/chatter" is not under "/v1/chat".
    return path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/")


def error_format_for(formats: Sequence[ErrorFormat], path: str) -> ErrorFormat | None:
    """The format of the longest prefix ``path`` is under (whole segments), or None."""
    best: ErrorFormat | None = None
    for fmt in formats:
        if _under(path, fmt.prefix) and (best is None or len(fmt.prefix) > len(best.prefix)):
            best = fmt
    return best


class ErrorFormatApp:
    """ASGI layer that reshapes problem+json responses under the formats' prefixes."""

    def __init__(self, app: ASGIApp, formats: Sequence[ErrorFormat]) -> None:
        self.app = app
        self.formats = list(formats)

    def _format_for(self, path: str) -> ErrorFormat | None:
        return error_format_for(self.formats, path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fmt = self._format_for(scope["path"]) if scope["type"] == "http" else None
        if fmt is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def reshaping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.startswith(_PROBLEM):
                    start = message  # held until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _send_reshaped(send, start, b"".join(parts), fmt)
                return
            await send(message)

        await self.app(scope, receive, reshaping_send)


async def _send_reshaped(send: Send, start: Message, body: bytes, fmt: ErrorFormat) -> None:
    status = int(start["status"])
    try:
        problem = orjson.loads(body)
    except orjson.JSONDecodeError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    new_body = fmt.render(status, problem)
    headers = [
        (name, value)
        for name, value in start.get("headers", ())
        if name.lower() not in (b"content-type", b"content-length")
    ]
    headers += [
        (b"content-type", fmt.media_type.encode()),
        (b"content-length", str(len(new_body)).encode()),
    ]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": new_body})
