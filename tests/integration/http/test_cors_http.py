"""CORS through real HTTP: hot-path hits, routes, refusals and preflights carry the same policy."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt

from cachefront.config import Settings
from harness_servers import ServerThread

AT = "2031-03-04T05:06:00Z"
SECRET = "jwt-secret-for-cors-tests-0123456789abcdef"
ORIGIN = "https://app.example"
EXPORT = {
    "type": "ephemeris-export",
    "params": {"bodies": ["mars"], "start": "2031-01-01T00:00:00Z", "stop": "2031-01-01T02:00:00Z"},
}


def _user() -> dict[str, str]:
    claims = {"sub": "cors-user", "aud": "authenticated", "exp": int(time.time()) + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def _listed(response: httpx.Response, name: str) -> set[str]:
    values = response.headers.get_list(name, split_commas=True)
    return {v.strip().lower() for v in values}


def _granted(response: httpx.Response, *readable: str) -> None:
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "origin" in _listed(response, "vary")
    assert {r.lower() for r in readable} <= _listed(response, "access-control-expose-headers")


def test_every_kind_of_response_carries_the_cors_policy(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(
        jwt_secret=SECRET,
        jwt_audience="authenticated",
        cors_origins=[ORIGIN],
        rate_limits={"general": "100000/minute", "upstream": "100000/minute", "jobs": "2/minute"},
    )
    with (
        serve_app(settings) as server,
        httpx.Client(base_url=server.url, headers={"Origin": ORIGIN}) as client,
    ):
        mars = f"/v1/ephemeris/mars?at={AT}"
        routed, hit = client.get(mars), client.get(mars)
        assert (routed.headers["x-cache"], hit.headers["x-cache"]) == ("upstream", "memory")
        for response in (routed, hit):
            _granted(response, "ETag", "Age", "X-Cache", "X-Request-ID", "RateLimit")
        # The answer depends on Origin whether or not one was sent: a shared cache
        # must not give one origin's public answer to another.
        for origin in (None, "https://evil.example"):
            headers = {"Origin": origin} if origin else {}
            other = httpx.get(f"{server.url}{mars}", headers=headers)
            assert other.headers["x-cache"] == "memory"
            assert other.headers["cache-control"].startswith("public")
            assert "origin" in _listed(other, "vary")
            assert "access-control-allow-origin" not in other.headers

        created = client.post(
            "/v1/jobs", json=EXPORT, headers={**_user(), "Idempotency-Key": "cors-1"}
        )
        assert created.status_code == 202, created.text
        _granted(created, "Location", "Idempotent-Replayed")

        unauthorized = client.get("/v1/jobs")
        assert unauthorized.status_code == 401
        _granted(unauthorized, "X-Request-ID")
        limited = [client.get("/v1/jobs", headers=_user()) for _ in range(3)]
        assert [r.status_code for r in limited] == [200, 200, 429]
        _granted(limited[-1], "Retry-After", "RateLimit")

        preflight = client.options(
            "/v1/jobs",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            },
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert {"authorization", "content-type", "idempotency-key"} <= _listed(
            preflight, "access-control-allow-headers"
        )
        assert "post" in _listed(preflight, "access-control-allow-methods")
        assert int(preflight.headers["access-control-max-age"]) > 0
        assert "origin" in _listed(preflight, "vary")


# What the official OpenAI JS client (openai 4.x/5.x, dangerouslyAllowBrowser) asks a
# preflight for on a chat completion; the AI room declares them.
OPENAI_JS_HEADERS = (
    "authorization,content-type,openai-organization,openai-project,x-stainless-arch,"
    "x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,"
    "x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
)


def test_preflights_allow_the_request_headers_a_room_declares(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(cors_origins=[ORIGIN])
    with (
        serve_app(settings) as server,
        httpx.Client(base_url=server.url, headers={"Origin": ORIGIN}) as client,
    ):
        preflight = client.options(
            "/v1/chat/completions",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": OPENAI_JS_HEADERS,
            },
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert set(OPENAI_JS_HEADERS.split(",")) <= _listed(
            preflight, "access-control-allow-headers"
        )
        # Declared headers widen the list; they do not open it.
        refused = client.options(
            "/v1/chat/completions",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-stainless-os,x-not-declared",
            },
        )
        assert refused.status_code == 400
        # In OpenAI's error shape on this path (the room's error format), naming it.
        assert "x-not-declared" in refused.json()["error"]["message"]
