"""The gate's success-only charging: refunds for failed, replayed and crashed submissions."""

from __future__ import annotations

from typing import Any

from asgi_exchange import exchange

from cachefront.auth import Authenticator
from cachefront.auth.authenticator import SERVICE_IDENTITY
from cachefront.http.gate import GateApp
from cachefront.ratelimit import InboundLimiter, parse_rate_limits

SERVICE_KEY = "service-key-for-charging-tests"


class Outcomes:
    """An app answering each request with the next planned status and headers."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, list[tuple[bytes, bytes]]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status, headers = self.plan.pop(0)
        if status == 500:
            raise RuntimeError("the app failed before answering")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _gate(app: Any, limiter: InboundLimiter) -> GateApp:
    return GateApp(
        app,
        authenticator=Authenticator(service_key=SERVICE_KEY),
        limiter=limiter,
        anon_groups=(),
        max_body_bytes=1000,
    )


async def _request(gate: GateApp, method: str = "POST", path: str = "/v1/jobs") -> int:
    """The status the gate (or the app behind it) answered a service-key request with."""
    headers = [(b"authorization", f"Bearer {SERVICE_KEY}".encode())]
    try:
        answer = await exchange(gate, headers, method=method, path=path, body=b"{}")
    except RuntimeError:
        return 500
    return answer.status


async def test_only_first_successful_answers_spend_the_generation_quota() -> None:
    app = Outcomes()
    limiter = InboundLimiter(parse_rate_limits({"generation": "2/hour", "jobs": "1/hour"}))
    gate = _gate(app, limiter)
    replayed = [(b"idempotent-replayed", b"true")]
    first = [(b"idempotent-replayed", b"false")]
    app.plan = [(422, []), (409, []), (500, []), (200, replayed), (202, first), (202, [])]
    statuses = [await _request(gate) for _ in range(6)]
    assert statuses == [422, 409, 500, 200, 202, 202]
    # The two first successes spent the quota of two.
    app.plan = [(202, [])]
    assert await _request(gate) == 429
    assert app.plan == [(202, [])]  # refused at the gate: the app never ran
    # The four that were refunded (422, 409, the crash, the replay) count there.
    general = await limiter.hit("general", SERVICE_IDENTITY.limit_key)
    assert dict(general.headers)[b"ratelimit"].startswith(b'"general";r=195;')
    # Groups that are no quota of costly work are charged whatever the answer.
    app.plan = [(404, [])]
    assert [await _request(gate, "GET", "/v1/jobs/1") for _ in range(2)] == [404, 429]
