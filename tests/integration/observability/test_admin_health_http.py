"""GET /v1/admin/health through a real server: every check listed, for the service role only."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cachefront.config import Settings
from harness_servers import ServerThread

KEY = "health-service-key-0123456789abcdef"
CHECKS = {
    "hit_rate",
    "error_rate",
    "cached_p95_ms",
    "upstream_failure_rate",
    "breakers_open",
    "job_backlog",
    "stalled_jobs",
    "workers",
    "storage",
}


def test_the_health_checks_need_the_service_key(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(service_key=KEY)) as server:
        assert httpx.get(f"{server.url}/v1/admin/health").status_code == 401
        answer = httpx.get(
            f"{server.url}/v1/admin/health", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert {c["name"] for c in doc["checks"]} == CHECKS
    assert doc["status"] in {"ok", "warn", "critical"}
    for check in doc["checks"]:
        assert check["status"] in {"ok", "warn", "critical"}
        assert check["detail"]
    breakers = next(c for c in doc["checks"] if c["name"] == "breakers_open")
    assert breakers["value"] == 0
