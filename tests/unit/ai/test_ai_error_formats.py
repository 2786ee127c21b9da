"""The error-format hook the AI room uses: problem+json reshaped under its prefixes only."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from cachefront.http.error_formats import ErrorFormat, ErrorFormatApp, error_format_for
from cachefront.http.problems import problem_body
from cachefront.services.ai.openai_errors import problem_as_openai

FORMATS = [ErrorFormat("/v1/chat", problem_as_openai), ErrorFormat("/v1/chat/x", problem_as_openai)]


def test_prefixes_match_whole_segments_longest_first() -> None:
    assert error_format_for(FORMATS, "/v1/chat/completions") is FORMATS[0]
    assert error_format_for(FORMATS, "/v1/chat/x/y") is FORMATS[1]
    assert error_format_for(FORMATS, "/v1/chatter") is None
    assert error_format_for(FORMATS, "/v1/jobs") is None


def _app(content_type: bytes, body: bytes, status: int = 429) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type), (b"retry-after", b"7")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:]})

    return app


async def _call(app: Any, path: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await ErrorFormatApp(app, FORMATS)({"type": "http", "path": path}, receive, send)
    return sent


async def test_a_problem_under_the_prefix_is_reshaped_keeping_status_and_headers() -> None:
    problem = problem_body(429, "rate limit of route group 'ai' reached")
    sent = await _call(_app(b"application/problem+json", problem), "/v1/chat/completions")
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 429
    assert headers[b"retry-after"] == b"7"
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    error = orjson.loads(body["body"])["error"]
    assert error["type"] == "rate_limit_error"
    assert error["message"] == "rate limit of route group 'ai' reached"


async def test_other_paths_and_other_formats_pass_untouched() -> None:
    problem = problem_body(401, "credentials required")
    elsewhere = await _call(_app(b"application/problem+json", problem), "/v1/jobs")
    assert b"".join(m.get("body", b"") for m in elsewhere[1:]) == problem
    plain = b'{"error": {"message": "x"}}'
    own = await _call(_app(b"application/json", plain, 400), "/v1/chat/completions")
    assert b"".join(m.get("body", b"") for m in own[1:]) == plain
