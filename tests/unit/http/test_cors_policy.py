"""The CORS policy: headers per Origin, built once, and the answers to preflights."""

from __future__ import annotations

import pytest

from cachefront.http.cors import (
    ALLOWED_HEADERS,
    CorsPolicy,
    cors_request_headers_of,
    preflight_request,
)

APP = b"https://app.example"


def _exposed(headers: tuple[tuple[bytes, bytes], ...]) -> set[str]:
    value = dict(headers)[b"access-control-expose-headers"].decode()
    return {name.strip().lower() for name in value.split(",")}


def test_listed_origins_vary_on_origin_whatever_the_request_sent() -> None:
    policy = CorsPolicy(["https://app.example"])
    allowed = dict(policy.headers(APP))
    assert allowed[b"access-control-allow-origin"] == APP
    assert allowed[b"vary"] == b"Origin"
    assert {
        "etag",
        "age",
        "x-cache",
        "location",
        "idempotent-replayed",
        "content-disposition",
        "ratelimit",
        "retry-after",
        "x-request-id",
        "server-timing",
    } <= _exposed(policy.headers(APP))
    # Absent or other origins get no grant, but the same Vary: the answer depends on it.
    assert policy.headers(None) == ((b"vary", b"Origin"),)
    assert policy.headers(b"https://evil.example") == ((b"vary", b"Origin"),)


def test_any_origin_is_the_same_answer_for_everyone() -> None:
    policy = CorsPolicy(["*"])
    assert policy.headers(None) == policy.headers(b"https://other.example")
    assert dict(policy.headers(None))[b"access-control-allow-origin"] == b"*"
    assert b"vary" not in dict(policy.headers(None))


def test_preflight_with_idempotency_key_is_allowed() -> None:
    answer = CorsPolicy(["https://app.example"]).preflight(
        APP, b"POST", b"authorization, content-type, idempotency-key, x-request-id"
    )
    assert answer.status == 204
    assert answer.detail is None
    headers = dict(answer.headers)
    assert headers[b"access-control-allow-origin"] == APP
    assert b"DELETE" in headers[b"access-control-allow-methods"]
    allowed = {h.strip().lower() for h in headers[b"access-control-allow-headers"].split(b",")}
    assert allowed == {h.lower().encode() for h in ALLOWED_HEADERS}
    assert int(headers[b"access-control-max-age"]) > 0
    assert (b"vary", b"Origin") in answer.headers


def test_preflight_refusals_say_what_was_not_allowed() -> None:
    policy = CorsPolicy(["https://app.example"])
    other = policy.preflight(b"https://evil.example", b"GET", None)
    assert other.status == 400
    assert "evil.example" in (other.detail or "")
    assert b"access-control-allow-origin" not in dict(other.headers)
    method = policy.preflight(APP, b"PUT", None)
    assert method.status == 400
    assert "'PUT'" in (method.detail or "")
    header = policy.preflight(APP, b"GET", b"x-secret")
    assert header.status == 400
    assert "x-secret" in (header.detail or "")


def test_preflight_request_reads_what_an_options_asks_for() -> None:
    asked = [
        (b"access-control-request-method", b"POST"),
        (b"access-control-request-headers", b"authorization"),
        (b"access-control-request-headers", b"idempotency-key"),
    ]
    assert preflight_request(asked) == (b"POST", b"authorization,idempotency-key")
    assert preflight_request([(b"access-control-request-method", b"GET")]) == (b"GET", None)
    # Without a requested method an OPTIONS is an ordinary request, not a preflight.
    assert preflight_request([(b"access-control-request-headers", b"apikey")]) is None


def _allowed(answer_headers: tuple[tuple[bytes, bytes], ...]) -> set[bytes]:
    value = dict(answer_headers)[b"access-control-allow-headers"]
    return {h.strip().lower() for h in value.split(b",")}


def test_rooms_headers_are_allowed_by_name_and_by_prefix() -> None:
    policy = CorsPolicy(
        ["https://app.example"], request_headers=["X-Sdk-Account", "x-sdk-telemetry-*"]
    )
    asked = b"authorization, x-sdk-account, x-sdk-telemetry-os, X-SDK-Telemetry-Arch"
    answer = policy.preflight(APP, b"POST", asked)
    assert answer.status == 204, answer.detail
    # A prefix cannot be said in the answer: the names asked for are named back.
    assert {b"authorization", b"x-sdk-account", b"x-sdk-telemetry-os"} <= _allowed(answer.headers)
    assert b"x-sdk-telemetry-arch" in _allowed(answer.headers)
    assert b"x-sdk-telemetry-*" not in _allowed(answer.headers)
    # Without prefixed headers asked, the answer is the one built at start.
    plain = policy.preflight(APP, b"POST", b"x-sdk-account")
    assert _allowed(plain.headers) == {
        *(h.lower().encode() for h in ALLOWED_HEADERS),
        b"x-sdk-account",
    }


def test_headers_outside_the_rooms_declarations_are_still_refused() -> None:
    policy = CorsPolicy(["*"], request_headers=["x-sdk-telemetry-*"])
    refused = policy.preflight(APP, b"POST", b"x-sdk-telemetry-os, x-sdk-other")
    assert refused.status == 400
    assert "'x-sdk-other'" in (refused.detail or "")
    assert "x-sdk-telemetry-*" in (refused.detail or "")
    # Without declarations, the platform's list alone, as before.
    assert CorsPolicy(["*"]).preflight(APP, b"POST", b"x-sdk-telemetry-os").status == 400


@pytest.mark.parametrize("declared", ["*", " * ", "x-*-y", ""])
def test_a_bare_wildcard_is_not_a_declaration(declared: str) -> None:
    with pytest.raises(ValueError, match="CORS request header"):
        CorsPolicy(["*"], request_headers=[declared])


def test_rooms_declarations_are_read_optionally_and_each_once() -> None:
    class Declares:
        cors_request_headers = ("X-Sdk-Account", "x-sdk-telemetry-*")

    class AlsoDeclares:
        cors_request_headers = ("x-sdk-account",)

    class Silent:
        pass

    assert cors_request_headers_of([Declares(), Silent(), AlsoDeclares()]) == [
        "X-Sdk-Account",
        "x-sdk-telemetry-*",
    ]
