"""Job results through real HTTP: they expire (410), are capped in size, count against a
per-user storage quota, and download in slices with their full length announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from cachefront.config import Settings
from harness_servers import ServerThread
from jobs_harness import user_headers, wait_for

EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars", "venus"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-03T00:00:00Z",
        "step": "1h",
    },
}
FINAL = {"succeeded", "failed", "cancelled"}


def _finished(client: httpx.Client, location: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(location).json()
        return job if job["status"] in FINAL else None

    return probe


def _run(client: httpx.Client) -> dict[str, Any]:
    submitted = client.post("/v1/jobs", json=EXPORT)
    assert submitted.status_code == 202, submitted.text
    return wait_for(_finished(client, submitted.headers["Location"]))


def _assert_clean_error(error: str) -> None:
    # Users read this: our words, not the names of the classes that raised it.
    assert "Error" not in error, error
    assert "Exception" not in error, error


def test_a_result_expires_into_410_gone(job_settings: Callable[..., Settings]) -> None:
    # A lifetime of under two seconds: the result is served, then gone.
    settings = job_settings(jobs_result_ttl_hours=1.5 / 3600)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("expiring")) as client,
    ):
        done = _run(client)
        assert done["status"] == "succeeded", done
        url = done["result"]["url"]
        gone = wait_for(lambda: (r := client.get(url)).status_code == 410 and r, timeout=30)
        assert gone.headers["content-type"] == "application/problem+json"
        problem = gone.json()
        assert problem["status"] == 410
        assert "expired" in problem["detail"]
        # The record stays, saying when its result went.
        record = client.get(f"/v1/jobs/{done['id']}").json()
        assert record["status"] == "succeeded"
        assert record["result_expires_at"] is not None


def test_a_result_over_the_size_cap_fails_its_job_clearly(
    job_settings: Callable[..., Settings],
) -> None:
    settings = job_settings(jobs_result_max_bytes=1000)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("too-large")) as client,
    ):
        done = _run(client)
        assert done["status"] == "failed", done
        assert "more than the 1000 bytes a job may store" in done["error"]
        _assert_clean_error(done["error"])
        assert done["attempts"] == 1
        assert client.get(f"/v1/jobs/{done['id']}/result").status_code == 404


def test_results_count_against_a_per_user_storage_quota(
    job_settings: Callable[..., Settings],
) -> None:
    # The size of this export's result, measured with no quota in the way.
    with (
        ServerThread(job_settings()) as server,
        httpx.Client(base_url=server.url, headers=user_headers("measure")) as client,
    ):
        measured = _run(client)
        download = client.get(measured["result"]["url"])
        assert download.status_code == 200
        size = len(download.content)
        assert download.headers["content-length"] == str(size)

    # Room for exactly one such result per user.
    settings = job_settings(jobs_storage_quota_bytes=size)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("quota")) as client,
    ):
        # Two accepted at once (nothing is stored yet): the second to finish has no room.
        locations = [client.post("/v1/jobs", json=EXPORT).headers["Location"] for _ in range(2)]
        outcomes = [wait_for(_finished(client, location)) for location in locations]
        assert sorted(job["status"] for job in outcomes) == ["failed", "succeeded"], outcomes
        failed = next(job for job in outcomes if job["status"] == "failed")
        assert "does not fit in the storage quota" in failed["error"]
        _assert_clean_error(failed["error"])

        refused = client.post("/v1/jobs", json=EXPORT)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "storage quota used up" in refused.json()["detail"]
        # The quota is per user: another user still submits.
        other = client.post("/v1/jobs", json=EXPORT, headers=user_headers("quota-other"))
        assert other.status_code == 202
