"""Gate refusals through real HTTP: CORS on them, JWKS outages, failed-auth throttling, 500s."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from cachefront.app import create_app
from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from harness_servers import JwksServer, ServerThread

AT = "2031-03-04T05:06:00Z"
SECRET = "jwt-secret-for-tests-0123456789abcdef"
ORIGIN = "https://app.example"
SERVICE_KEY = "service-key-for-refusal-tests-0123"


def user_token(sub: str = "u1", secret: str = SECRET) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "aud": "authenticated", "role": "authenticated", "exp": now + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def test_gate_refusals_carry_cors_headers_for_allowed_origins_only(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(
        jwt_secret=SECRET,
        jwt_audience="authenticated",
        cors_origins=[ORIGIN],
        rate_limits={"upstream": "1/minute"},
        max_body_bytes=100,
        auth_failure_limit="1000/minute",
    )
    with serve_app(settings) as server:
        url = server.url

        def refusals(origin: str) -> list[tuple[int, httpx.Response]]:
            sent = {"Origin": origin}
            httpx.get(f"{url}/v1/ephemeris/mars", params={"at": AT}, headers=sent)
            return [
                (401, httpx.get(f"{url}/v1/jobs", headers=sent)),
                (401, httpx.get(f"{url}/v1/jobs", headers={**sent, "apikey": "wrong"})),
                (403, httpx.get(f"{url}/v1/admin/stats", headers={**sent, **user_token()})),
                (
                    413,
                    httpx.post(
                        f"{url}/v1/jobs", content=b"x" * 500, headers={**sent, **user_token()}
                    ),
                ),
                (429, httpx.get(f"{url}/v1/ephemeris/mars", params={"at": AT}, headers=sent)),
            ]

        for status, response in refusals(ORIGIN):
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["access-control-allow-origin"] == ORIGIN
            assert response.headers["vary"] == "Origin"
            exposed = {
                h.strip().lower()
                for h in response.headers["access-control-expose-headers"].split(",")
            }
            assert {"x-request-id", "retry-after", "ratelimit"} <= exposed
        for status, response in refusals("https://evil.example"):
            assert response.status_code == status
            assert "access-control-allow-origin" not in response.headers

        # A preflight carries no credentials by design; it must not be refused for that.
        preflight = httpx.options(
            f"{url}/v1/jobs",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_unreachable_jwks_endpoint_is_503_with_retry_after(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with JwksServer() as idp:
        jwks_url = idp.url
        assert httpx.get(jwks_url).status_code == 200
        # The identity provider goes down before the server has fetched its keys.
        idp.stop()
    token = idp.sign({"sub": "oidc-user", "aud": "api", "exp": int(time.time()) + 60})
    with serve_app(settings_for(jwt_jwks_url=jwks_url, jwt_audience="api")) as server:
        response = httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["x-request-id"]
    assert response.json()["status"] == 503


async def test_failed_authentications_are_throttled_but_valid_credentials_pass(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], engine: AsyncEngine
) -> None:
    key, _ = await KeyManager(engine).create("throttle-test", Role.USER)
    settings = settings_for(
        service_key=SERVICE_KEY, jwt_secret=SECRET, jwt_audience="authenticated"
    )
    assert settings.auth_failure_limit == "20/minute"
    with serve_app(settings) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            jobs = "/v1/jobs"
            guesses = [
                await client.get(jobs, headers={"Authorization": f"Bearer guess-{n}"})
                for n in range(30)
            ]
            assert [r.status_code for r in guesses] == [401] * 20 + [429] * 10
            refused = guesses[-1]
            assert refused.headers["content-type"] == "application/problem+json"
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            # Users sharing the guesser's address (a NAT, a proxy) are not locked out:
            # a credential that verifies is admitted under its own limits.
            assert (
                await client.get(jobs, headers={"Authorization": f"Bearer {key}"})
            ).status_code == 200
            assert (await client.get(jobs, headers={"apikey": key})).status_code == 200
            assert (await client.get(jobs, headers=user_token())).status_code == 200
            stats = await client.get(
                "/v1/admin/stats", headers={"Authorization": f"Bearer {SERVICE_KEY}"}
            )
            assert stats.status_code == 200
            # ... while the guessing goes on being refused, whatever kind of guess it is.
            for guess in (
                "guess-31",
                "cf_abcdefgh_" + "x" * 32,
                user_token("u2", "wrong-secret-0123456789abcdef-0123")["Authorization"][7:],
            ):
                again = await client.get(jobs, headers={"Authorization": f"Bearer {guess}"})
                assert again.status_code == 429, guess
            # Callers without credentials from that address keep their own limits.
            assert (await client.get("/health")).status_code == 200


def _fastapi_of(app: ASGIApp) -> FastAPI:
    """The FastAPI application under the gate, fast path and middleware layers."""
    layer: object = app
    while not isinstance(layer, FastAPI):
        layer = layer.app  # type: ignore[attr-defined]
    return layer


def test_unexpected_error_is_problem_with_request_id_and_no_internals(
    settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for()
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("internal-detail-Qw3Er5 at /srv/secret/path.py")

    # Registered on this test's app instance only.
    _fastapi_of(app).add_api_route("/test-only/boom", boom, methods=["GET"])
    caplog.set_level(logging.ERROR, logger="cachefront")
    with ServerThread(settings, app=app) as server:
        response = httpx.get(f"{server.url}/test-only/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://cachefront.dev/problems/internal-server-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal error",
    }
    for leak in ("internal-detail", "RuntimeError", "Traceback", "/srv/secret"):
        assert leak not in response.text
    request_id = response.headers["x-request-id"]
    logged = [r for r in caplog.records if getattr(r, "action", None) == "http.unexpected"]
    assert len(logged) == 1
    assert getattr(logged[0], "request_id", None) == request_id
    assert request_id in logged[0].getMessage()
