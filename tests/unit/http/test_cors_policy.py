"""The CORS policy: headers per Origin, built once, and the answers to preflights."""

from __future__ import annotations

from cachefront.http.cors import ALLOWED_HEADERS, CorsPolicy, preflight_request

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
