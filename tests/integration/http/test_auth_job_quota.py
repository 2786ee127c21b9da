"""The generation quota through real HTTP: only successful first submissions spend from it."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread

SECRET = "jwt-secret-for-quota-tests-0123456789abcdef"


def _export(hour: int) -> dict[str, object]:
    return {
        "type": "ephemeris-export",
        "params": {
            "bodies": ["mars"],
            "start": f"2031-01-01T{hour:02d}:00:00Z",
            "stop": f"2031-01-01T{hour + 1:02d}:00:00Z",
        },
    }


def _user(sub: str) -> dict[str, str]:
    claims = {"sub": sub, "aud": "authenticated", "exp": int(time.time()) + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_refused_submissions_and_replays_cost_no_quota(
    storage: str,
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    request: pytest.FixtureRequest,
) -> None:
    extra: dict[str, object] = {"rate_limit_storage": storage}
    if storage == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    settings = settings_for(
        jwt_secret=SECRET,
        jwt_audience="authenticated",
        rate_limits={"generation": "3/hour", "general": "100000/minute"},
        max_body_bytes=2000,
        **extra,
    )
    user = _user(f"quota-{storage}")
    with serve_app(settings) as server:
        jobs = f"{server.url}/v1/jobs"
        # Typos: an unknown type, a body that is not JSON, one over the size limit.
        typos = [
            httpx.post(jobs, json={"type": "no-such-job", "params": {}}, headers=user),
            httpx.post(
                jobs, content=b"{not json", headers={**user, "content-type": "application/json"}
            ),
            httpx.post(jobs, content=b"x" * 3000, headers=user),
        ]
        assert [r.status_code for r in typos] == [422, 422, 413]
        # Their RateLimit headers say so: nothing was spent.
        assert all('"generation";r=3;' in r.headers["ratelimit"] for r in typos)
        first = httpx.post(jobs, json=_export(0), headers={**user, "Idempotency-Key": "k-1"})
        assert first.status_code == 202, first.text
        assert '"generation";r=2;' in first.headers["ratelimit"]
        replay = httpx.post(jobs, json=_export(0), headers={**user, "Idempotency-Key": "k-1"})
        assert replay.headers["idempotent-replayed"] == "true"
        assert '"generation";r=2;' in replay.headers["ratelimit"]
        accepted = [httpx.post(jobs, json=_export(h), headers=user) for h in (1, 2)]
        assert [r.status_code for r in accepted] == [202, 202]
        assert '"generation";r=0;' in accepted[-1].headers["ratelimit"]
        # Three submissions made, three spent: the quota is used up now, and says for
        # how long within its stated window.
        over = httpx.post(jobs, json=_export(3), headers=user)
        assert over.status_code == 429
        assert over.headers["ratelimit-policy"] == '"generation";q=3;w=3600'
        assert 1 <= int(over.headers["retry-after"]) <= 3600
