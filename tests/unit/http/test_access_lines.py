"""The access line: the same fields from the direct path and the ASGI layer, as JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from test_direct_responder import PATH, QUERY, SERVICE_KEY, Parts

from cachefront.http.access import AccessLog, AccessLogApp, RouteNames
from cachefront.http.direct import DirectResponder
from cachefront.logs import log_config
from cachefront.services.ephemeris.fastpath import EphemerisFastRoute

BEARER = (b"authorization", f"Bearer {SERVICE_KEY}".encode())


@pytest.fixture
def access() -> Iterator[tuple[AccessLog, io.StringIO]]:
    """An AccessLog writing through the json formatter of ``log_config`` to a buffer."""
    out = io.StringIO()
    config = log_config("info", "json")
    handler = logging.StreamHandler(out)
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["default"]
    )
    handler.setFormatter(formatter)
    logger = logging.getLogger("cachefront.access.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield AccessLog(logger), out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_direct_hit_writes_one_line(access: tuple[AccessLog, io.StringIO]) -> None:
    log, out = access
    parts = Parts()
    parts.responder = DirectResponder(
        gate=parts.gate,
        memory=parts.memory,
        recorder=parts.recorder,
        routes=parts.responder.routes,
        access_log=log,
    )
    parts.store()
    raw = parts.responder.respond(
        PATH, QUERY + b"&token=SECRET", [BEARER, (b"x-request-id", b"direct-1")], None, [], True
    )
    assert raw is None  # the unknown parameter: not a fast-route key, the app answers
    assert _lines(out) == []
    assert parts.respond([BEARER, (b"x-request-id", b"direct-2")]) is not None
    (line,) = _lines(out)
    assert line["logger"] == "cachefront.access.test"
    assert line["message"] == "GET /v1/ephemeris/{body} 200"
    assert {k: v for k, v in line.items() if k not in ("time", "latency_ms", "message")} == {
        "level": "INFO",
        "logger": "cachefront.access.test",
        "action": "http.request",
        "request_id": "direct-2",
        "method": "GET",
        "route": "/v1/ephemeris/{body}",
        "path": f"{PATH}?{QUERY.decode()}",
        "status": 200,
        "tier": "memory",
        "caller": "service",
        "client": "192.0.2.1",
    }
    assert SERVICE_KEY not in out.getvalue()


async def test_the_asgi_layer_masks_query_secrets_and_names_refusals(
    access: tuple[AccessLog, io.StringIO],
) -> None:
    log, out = access
    parts = Parts()
    app = AccessLogApp(parts.gate, log, RouteNames([], [EphemerisFastRoute(grid_seconds=3600)]))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "query_string": b"at=1&api_key=QSECRET",
        "client": ("192.0.2.9", 1),
        "headers": [(b"authorization", b"Bearer wrong-key")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 401
    (line,) = _lines(out)
    assert (line["status"], line["caller"], line["tier"]) == (401, None, None)
    assert line["route"] == "/v1/ephemeris/{body}"
    assert line["path"] == f"{PATH}?at=1&api_key=***"
    assert line["request_id"]
    assert "QSECRET" not in out.getvalue()
    assert "wrong-key" not in out.getvalue()
