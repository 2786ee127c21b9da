"""GET /v1/admin/storage through a real server: the figures, for the service role only."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt

from cachefront.config import Settings
from harness_servers import ServerThread

KEY = "storage-service-key-0123456789abcdef"
SECRET = "jwt-secret-for-storage-tests-0123456789"


def user_token() -> dict[str, str]:
    claims = {
        "sub": "u1",
        "aud": "authenticated",
        "role": "authenticated",
        "exp": int(time.time()) + 300,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def test_storage_figures_are_for_the_service_role_only(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    settings = settings_for(
        service_key=KEY,
        jwt_secret=SECRET,
        jwt_audience="authenticated",
        cache_quotas={"quota.test": "2MB", "other.test": 1024},
    )
    with serve_app(settings) as server:
        url = f"{server.url}/v1/admin/storage"
        anonymous = httpx.get(url, timeout=10)
        user = httpx.get(url, headers=user_token(), timeout=10)
        service = httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert user.status_code == 403
    assert service.status_code == 200, service.text
    doc = service.json()
    assert doc["database_bytes"] > 0
    assert any(t["table"] == "cache_entries" for t in doc["tables"])
    quotas = {n["namespace"]: n["quota_bytes"] for n in doc["namespaces"]}
    # "2MB" is read as 2,000,000 bytes (MB: powers of 1000, MiB: of 1024).
    assert quotas["quota.test"] == 2_000_000
    assert quotas["other.test"] == 1024
