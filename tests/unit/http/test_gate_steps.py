"""The gate's steps one by one: name, address, preflight, credential, access, count, body, call."""

from __future__ import annotations

from typing import Any

import pytest
from asgi_exchange import exchange
from limits import parse
from starlette.exceptions import HTTPException

from cachefront.auth import Authenticator, Identity, Role, current_identity
from cachefront.auth.authenticator import SERVICE_IDENTITY
from cachefront.http.client_address import ClientAddress
from cachefront.http.cors import CorsPolicy
from cachefront.http.gate import GateApp, access_refusal
from cachefront.http.wire import IDENTITY_SCOPE_KEY, REQUEST_ID_SCOPE_KEY
from cachefront.ratelimit import InboundLimiter, parse_rate_limits

SERVICE_KEY = "service-key-for-gate-step-tests"
SERVICE = (b"authorization", b"Bearer " + SERVICE_KEY.encode())
ORIGIN = b"https://app.example"
Headers = list[tuple[bytes, bytes]]


class App:
    """The app behind the gate: notes what it was handed, answers 200 with a header."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.identities: list[Identity | None] = []
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(dict(scope))
        self.identities.append(current_identity.get())
        if scope["method"] == "POST":
            message = await receive()
            self.bodies.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
        await send({"type": "http.response.body", "body": b"ok"})


def gate(
    app: App | None = None,
    *,
    limits: dict[str, str] | None = None,
    anon_groups: tuple[str, ...] = ("upstream", "general"),
    cors: CorsPolicy | None = None,
    client_address: ClientAddress | None = None,
    failure_limit: str = "20/minute",
) -> GateApp:
    failures = parse(failure_limit)
    return GateApp(
        app or App(),
        authenticator=Authenticator(service_key=SERVICE_KEY),
        limiter=InboundLimiter(parse_rate_limits(limits or {}), failure_limit=failures),
        anon_groups=anon_groups,
        max_body_bytes=10,
        cors=cors,
        client_address=client_address,
    )


# --- name the request ----------------------------------------------------------------
async def test_a_well_formed_request_id_is_kept_and_handed_to_the_app() -> None:
    app = App()
    answer = await exchange(gate(app), [(b"x-request-id", b"client-id.1:a")])
    assert answer.headers[b"x-request-id"] == b"client-id.1:a"
    assert app.scopes[0][REQUEST_ID_SCOPE_KEY] == b"client-id.1:a"


@pytest.mark.parametrize("asked", [b"", b"has space", b"x" * 65, b"semi;colon"])
async def test_a_malformed_request_id_is_replaced_by_a_fresh_one(asked: bytes) -> None:
    gate_app = gate()
    first = (await exchange(gate_app, [(b"x-request-id", asked)])).headers[b"x-request-id"]
    second = (await exchange(gate_app)).headers[b"x-request-id"]
    assert first != asked
    assert first != second
    assert first.split(b"-")[0] == second.split(b"-")[0]  # one prefix per process


# --- find the client address ---------------------------------------------------------
async def test_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    app = App()
    trusting = gate(app, client_address=ClientAddress(["10.0.0.0/8"]))
    forwarded = [(b"x-forwarded-for", b"198.51.100.7")]
    await exchange(trusting, forwarded, peer="10.0.0.2")
    await exchange(trusting, forwarded, peer="192.0.2.9")
    assert [s["client"][0] for s in app.scopes] == ["198.51.100.7", "192.0.2.9"]
    assert [i.id if i else None for i in app.identities] == ["198.51.100.7", "192.0.2.9"]


# --- answer preflights ---------------------------------------------------------------
PREFLIGHT = [(b"origin", ORIGIN), (b"access-control-request-method", b"POST")]


async def test_a_preflight_is_answered_without_credentials_or_the_app() -> None:
    app = App()
    answer = await exchange(
        gate(app, cors=CorsPolicy([ORIGIN.decode()])), PREFLIGHT, method="OPTIONS"
    )
    assert answer.status == 204
    assert answer.headers[b"access-control-allow-origin"] == ORIGIN
    assert b"x-request-id" in answer.headers
    assert app.scopes == []


async def test_a_preflight_not_allowed_is_400_and_counts_as_anonymous() -> None:
    gate_app = gate(cors=CorsPolicy([ORIGIN.decode()]), limits={"general": "2/minute"})
    refused = await exchange(
        gate_app,
        [(b"origin", ORIGIN), (b"access-control-request-method", b"PUT")],
        method="OPTIONS",
    )
    assert refused.status == 400
    assert "method 'PUT' is not allowed" in refused.detail
    assert (await exchange(gate_app, PREFLIGHT, method="OPTIONS")).status == 204
    third = await exchange(gate_app, PREFLIGHT, method="OPTIONS")
    assert third.status == 429
    assert third.headers[b"access-control-allow-origin"] == ORIGIN
    assert b"retry-after" in third.headers


async def test_options_without_cors_or_a_requested_method_goes_to_the_app() -> None:
    app = App()
    await exchange(gate(app), PREFLIGHT, method="OPTIONS", path="/v1/ephemeris")
    await exchange(gate(app, cors=CorsPolicy(["*"])), [(b"origin", ORIGIN)], method="OPTIONS")
    assert [s["method"] for s in app.scopes] == ["OPTIONS", "OPTIONS"]


# --- authenticate --------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        [SERVICE, (b"authorization", b"Bearer not-the-service-key")],
        [(b"authorization", b"Bearer not-the-service-key"), SERVICE],
        [(b"apikey", SERVICE_KEY.encode()), (b"apikey", b"other")],
    ],
)
async def test_two_different_credentials_are_refused_400_before_any_check(
    headers: Headers,
) -> None:
    app = App()
    answer = await exchange(gate(app, cors=CorsPolicy(["*"])), [(b"origin", ORIGIN), *headers])
    assert answer.status == 400
    assert "sent twice" in answer.detail
    assert b"x-request-id" in answer.headers
    assert answer.headers[b"access-control-allow-origin"] == b"*"
    assert app.scopes == []


async def test_the_same_credential_twice_is_admitted_as_that_caller() -> None:
    app = App()
    answer = await exchange(gate(app), [SERVICE, SERVICE], path="/v1/admin/stats")
    assert answer.status == 200
    assert app.identities == [SERVICE_IDENTITY]


async def test_a_credential_that_does_not_verify_is_401_with_a_challenge() -> None:
    answer = await exchange(gate(), [(b"authorization", b"Bearer wrong")])
    assert answer.status == 401
    assert answer.headers[b"www-authenticate"] == b'Bearer realm="cachefront"'


async def test_failures_past_the_limit_are_429_from_memory() -> None:
    gate_app = gate(failure_limit="2/minute")
    wrong = [(b"authorization", b"Bearer wrong")]
    answers = [await exchange(gate_app, wrong) for _ in range(4)]
    assert [a.status for a in answers] == [401, 401, 429, 429]
    assert int(answers[3].headers[b"retry-after"]) > 0
    # A valid credential from the same address is still admitted.
    assert (await exchange(gate_app, [SERVICE])).status == 200
    # Another address behind no proxy is not throttled for it.
    assert (await exchange(gate_app, wrong, peer="192.0.2.200")).status == 401


async def test_an_api_key_before_the_database_is_open_is_503_with_retry_after() -> None:
    key = b"Bearer cf_abcdefgh_" + b"a" * 32
    answer = await exchange(gate(), [(b"authorization", key)])
    assert answer.status == 503
    assert answer.headers[b"retry-after"] == b"5"
    assert b"x-request-id" in answer.headers


# --- access rule ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "group", "expected"),
    [
        (Role.SERVICE, "admin", None),
        (Role.SERVICE, "jobs", None),
        (Role.USER, "jobs", None),
        (Role.USER, "admin", 403),
        (Role.ANON, "admin", 401),
        (Role.ANON, "jobs", 401),
        (Role.ANON, "upstream", None),
    ],
)
def test_access_rule(role: Role, group: str, expected: int | None) -> None:
    refused = access_refusal(role, group, frozenset({"upstream", "general"}))
    assert (refused[0] if refused else None) == expected


async def test_anonymous_callers_outside_their_groups_get_a_challenge() -> None:
    answer = await exchange(gate(), path="/v1/jobs")
    assert answer.status == 401
    assert answer.detail == "credentials required"
    assert b"www-authenticate" in answer.headers


# --- count ---------------------------------------------------------------------------
async def test_past_the_group_limit_the_answer_is_429_with_retry_after() -> None:
    gate_app = gate(limits={"upstream": "2/minute"})
    answers = [await exchange(gate_app) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert int(refused.headers[b"retry-after"]) > 0
    assert refused.headers[b"ratelimit"].startswith(b'"upstream";r=0;')
    assert "'upstream'" in refused.detail


# --- body limit ----------------------------------------------------------------------
@pytest.mark.parametrize("length", [b"11", b"many"])
async def test_a_declared_body_over_the_limit_is_413_before_the_app(length: bytes) -> None:
    app = App()
    headers = [SERVICE, (b"content-length", length)]
    answer = await exchange(gate(app), headers, method="POST", path="/v1/admin/x")
    assert answer.status == 413
    assert answer.detail == "request body larger than 10 bytes"
    assert app.scopes == []


async def test_an_undeclared_body_over_the_limit_stops_at_the_limit() -> None:
    app = App()
    with pytest.raises(HTTPException) as raised:
        await exchange(gate(app), [SERVICE], method="POST", path="/v1/admin/x", body=b"x" * 11)
    assert raised.value.status_code == 413
    answer = await exchange(gate(app), [SERVICE], method="POST", path="/v1/admin/x", body=b"x" * 10)
    assert answer.status == 200
    assert app.bodies == [b"x" * 10]


# --- call with headers ---------------------------------------------------------------
async def test_admitted_requests_run_as_their_identity_and_get_the_gate_headers() -> None:
    app = App()
    answer = await exchange(
        gate(app, cors=CorsPolicy([ORIGIN.decode()])), [SERVICE, (b"origin", ORIGIN)]
    )
    assert answer.status == 200
    assert app.scopes[0][IDENTITY_SCOPE_KEY] is SERVICE_IDENTITY
    assert app.identities == [SERVICE_IDENTITY]
    assert current_identity.get() is None  # reset once the app is done
    names = [name for name, _ in answer.header_list]
    assert names[0] == b"x-app"  # the app's own headers first, the gate's after
    assert {b"x-request-id", b"ratelimit", b"ratelimit-policy", b"vary"} <= set(names)
    assert answer.headers[b"access-control-allow-origin"] == ORIGIN


async def test_websockets_and_lifespan_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    gate_app = GateApp(
        app,
        authenticator=Authenticator(),
        limiter=InboundLimiter(parse_rate_limits({})),
        anon_groups=(),
        max_body_bytes=10,
    )

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: dict[str, Any]) -> None:
        raise AssertionError("the gate answered a non-HTTP scope")

    await gate_app({"type": "lifespan"}, nothing, ignore)
    assert seen == ["lifespan"]
