"""Two Authorization headers through real HTTP: refused alike on the hot path and routes.

The gate reads the credential for every path (``http/wire.py``), and routes see only
the identity it admitted, so the hot path, a routed miss and a framework route must
answer the same: 400 for two different credentials, in either order (neither the
first nor the last is picked), and the one caller for the same credential twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt

from cachefront.config import Settings
from harness_servers import ServerThread

AT = "2031-03-04T05:06:00Z"
MISS_AT = "2031-03-04T07:06:00Z"
SECRET = "jwt-secret-for-duplicate-tests-0123456789"
SERVICE_KEY = "service-key-for-duplicate-tests-0123"


def _user_token() -> str:
    now = int(time.time())
    claims = {"sub": "u1", "aud": "authenticated", "role": "authenticated", "exp": now + 300}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_two_different_authorization_headers_are_refused_on_every_path(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(
        service_key=SERVICE_KEY, jwt_secret=SECRET, jwt_audience="authenticated"
    )
    service = ("Authorization", f"Bearer {SERVICE_KEY}")
    user = ("Authorization", f"Bearer {_user_token()}")
    with serve_app(settings) as server:
        hot = f"{server.url}/v1/ephemeris/mars?at={AT}"
        warm = httpx.get(hot)
        assert httpx.get(hot).headers["x-cache"] == "memory", warm.text
        targets = {
            "hot path hit": hot,
            "routed miss": f"{server.url}/v1/ephemeris/mars?at={MISS_AT}",
            "framework route": f"{server.url}/v1/admin/stats",
        }
        for name, url in targets.items():
            for pair in ([service, user], [user, service]):
                answer = httpx.get(url, headers=pair)
                assert answer.status_code == 400, (name, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert "Authorization header was sent twice" in answer.json()["detail"]
                assert answer.headers["x-request-id"]

        # The same credential twice is that one caller, to the gate and the route alike:
        # the admin route admits only the service role, and a user gets 403 there.
        assert httpx.get(targets["framework route"], headers=[service, service]).status_code == 200
        assert httpx.get(targets["framework route"], headers=[user, user]).status_code == 403
        again = httpx.get(hot, headers=[user, user])
        assert (again.status_code, again.headers["x-cache"]) == (200, "memory")
