"""With no trusted proxies configured, X-Forwarded-For names no client, even from loopback."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cachefront.config import Settings
from harness_servers import ServerThread

AT = "2031-05-06T08:00:00Z"


def test_a_local_client_cannot_pick_its_limit_key_with_x_forwarded_for(
    settings_for: Callable[..., Settings], serve_app: Callable[[Settings], ServerThread]
) -> None:
    settings = settings_for(rate_limits={"general": "100000/minute", "upstream": "3/minute"})
    with serve_app(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [
            client.get(
                "/v1/ephemeris/mars",
                params={"at": AT},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(5)
        ]
    # Counted as the one peer it is: its fourth request is over the limit of 3.
    assert statuses == [200, 200, 200, 429, 429], statuses
