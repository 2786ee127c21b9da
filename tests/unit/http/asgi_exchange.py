"""One HTTP exchange with an ASGI app, without a server: the request sent, the answer."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp

Headers = list[tuple[bytes, bytes]]


class Answer:
    """What the gate (or the app behind it) sent."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.status: int = messages[0]["status"]
        self.header_list: Headers = list(messages[0]["headers"])
        self.headers = dict(self.header_list)
        self.body: bytes = b"".join(m.get("body", b"") for m in messages[1:])

    @property
    def detail(self) -> str:
        assert self.headers[b"content-type"] == b"application/problem+json"
        detail: str = orjson.loads(self.body)["detail"]
        return detail


async def exchange(
    app: ASGIApp,
    headers: Headers | None = None,
    *,
    method: str = "GET",
    path: str = "/v1/ephemeris/mars",
    body: bytes = b"",
    peer: str = "192.0.2.1",
) -> Answer:
    """Send one request (a body in one message) to ``app``; what it answered."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "client": (peer, 5000),
        "headers": headers or [],
    }
    await app(scope, receive, send)
    return Answer(sent)
