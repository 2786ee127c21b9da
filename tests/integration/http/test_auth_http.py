"""Auth, limits and errors through real HTTP: keys, JWTs, 401/403/413/429/405/500, isolation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from harness_servers import JwksServer, ServerThread

AT = "2031-03-04T05:06:00Z"
SECRET = "jwt-secret-for-tests-0123456789abcdef"
EXPORT = {
    "type": "ephemeris-export",
    "params": {"bodies": ["mars"], "start": "2031-01-01T00:00:00Z", "stop": "2031-01-01T02:00:00Z"},
}


def token(
    sub: str,
    *,
    secret: str = SECRET,
    aud: str = "authenticated",
    exp: float = 300,
    role: str = "authenticated",
) -> str:
    now = time.time()
    claims = {"sub": sub, "aud": aud, "role": role, "iat": int(now), "exp": int(now + exp)}
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def jwt_settings(settings_for: Callable[..., Settings], **more: object) -> Settings:
    return settings_for(
        jwt_secret=SECRET, jwt_audience="authenticated", auth_cache_seconds=0, **more
    )


def test_anonymous_data_route_has_request_id_and_ratelimit_headers_on_both_paths(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(rate_limits={"upstream": "50/minute"})) as server:
        url = f"{server.url}/v1/ephemeris/mars"
        full = httpx.get(url, params={"at": AT})
        hot = httpx.get(url, params={"at": AT}, headers={"X-Request-ID": "client-chosen-1"})
        assert (full.headers["x-cache"], hot.headers["x-cache"]) == ("upstream", "memory")
        for response in (full, hot):
            assert response.headers["ratelimit-policy"] == '"upstream";q=50;w=60'
            assert response.headers["ratelimit"].startswith('"upstream";r=')
            assert response.headers["x-request-id"]
        assert hot.headers["x-request-id"] == "client-chosen-1"
        assert '"upstream";r=48;' in hot.headers["ratelimit"]


def test_limit_gives_429_problem_with_retry_after_on_hot_path(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(rate_limits={"upstream": "5/minute"})) as server:
        url = f"{server.url}/v1/ephemeris/mars"
        codes = [httpx.get(url, params={"at": AT}).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        refused = httpx.get(url, params={"at": AT})
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429
        # A sliding window may need part of the next window too: at most two windows.
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert '"upstream";r=0;' in refused.headers["ratelimit"]
        # Other groups count separately.
        assert httpx.get(f"{server.url}/health").status_code == 200


async def test_api_keys_bearer_and_apikey_header_then_revoked(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread], engine: AsyncEngine
) -> None:
    manager = KeyManager(engine)
    key, record = await manager.create("http-test", Role.SERVICE)
    with serve_app(settings_for(auth_cache_seconds=0)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            stats = "/v1/admin/stats"
            assert (await client.get(stats, headers=bearer(key))).status_code == 200
            assert (await client.get(stats, headers={"apikey": key})).status_code == 200
            await manager.revoke(record.prefix)
            refused = await client.get(stats, headers=bearer(key))
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.json()["title"] == "Unauthorized"
            malformed = await client.get("/v1/ephemeris/mars", headers=bearer("cf_nope"))
            assert malformed.status_code == 401


def test_jwt_valid_expired_wrong_audience_wrong_signature(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(jwt_settings(settings_for, jwt_leeway_seconds=5)) as server:
        url = f"{server.url}/v1/jobs"
        assert httpx.get(url, headers=bearer(token("u1"))).status_code == 200
        assert httpx.get(url).status_code == 401  # jobs need a user
        for bad in (
            token("u1", exp=-60),
            token("u1", aud="someone-else"),
            token("u1", secret="not-the-secret-0123456789abcdefgh"),
            "a.b.c",
        ):
            response = httpx.get(url, headers=bearer(bad))
            assert response.status_code == 401, bad
            assert response.headers["content-type"] == "application/problem+json"
        # A user may not use admin routes.
        assert (
            httpx.get(f"{server.url}/v1/admin/stats", headers=bearer(token("u1"))).status_code
            == 403
        )


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A real local HTTP server publishing one RSA signing key as a JWKS."""
    with JwksServer() as server:
        yield server.url, server.private_key


def test_jwt_from_jwks_url(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    jwks_server: tuple[str, rsa.RSAPrivateKey],
) -> None:
    url, private = jwks_server
    settings = settings_for(jwt_jwks_url=url, jwt_issuer="https://issuer.test", jwt_audience="api")
    now = int(time.time())
    claims = {"sub": "oidc-user", "iss": "https://issuer.test", "aud": "api", "exp": now + 60}
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    wrong_iss = jwt.encode(
        {**claims, "iss": "https://evil.test"}, private, algorithm="RS256", headers={"kid": "k1"}
    )
    with serve_app(settings) as server:
        assert httpx.get(f"{server.url}/v1/jobs", headers=bearer(good)).status_code == 200
        assert httpx.get(f"{server.url}/v1/jobs", headers=bearer(wrong_iss)).status_code == 401


def test_cross_user_job_access_is_404(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    alice, bob = bearer(token("alice")), bearer(token("bob"))
    with serve_app(jwt_settings(settings_for)) as server:
        created = httpx.post(f"{server.url}/v1/jobs", json=EXPORT, headers=alice)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=alice).status_code == 200
        for method in ("GET", "DELETE"):
            response = httpx.request(method, f"{server.url}/v1/jobs/{job_id}", headers=bob)
            assert response.status_code == 404, (method, response.text)
        assert httpx.get(f"{server.url}/v1/jobs/{job_id}/result", headers=bob).status_code == 404
        listed = httpx.get(f"{server.url}/v1/jobs", headers=bob).json()
        assert job_id not in {job["id"] for job in listed}
        guess = "00000000-0000-4000-8000-000000000000"
        assert httpx.get(f"{server.url}/v1/jobs/{guess}", headers=bob).status_code == 404


def test_413_405_404_are_problems_with_request_id(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(jwt_settings(settings_for, max_body_bytes=100)) as server:
        big = httpx.post(f"{server.url}/v1/jobs", content=b"x" * 500, headers=bearer(token("u")))
        method = httpx.delete(f"{server.url}/v1/ephemeris/mars")
        missing = httpx.get(f"{server.url}/nope")
        for response, status in ((big, 413), (method, 405), (missing, 404)):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == status
            assert response.headers["x-request-id"]


async def test_chunked_body_over_limit_is_413(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"y" * 50

    with serve_app(jwt_settings(settings_for, max_body_bytes=100)) as server:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.url}/v1/jobs", content=chunks(), headers=bearer(token("u"))
            )
        assert response.status_code == 413
        await asyncio.sleep(0)
