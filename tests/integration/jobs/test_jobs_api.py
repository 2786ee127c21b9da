"""The jobs API through real HTTP: submit, poll, download, idempotency, cancel, bad params."""

from __future__ import annotations

import csv
import io
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
        "format": "csv",
    },
}


def _finished(client: httpx.Client, location: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(location).json()
        return job if job["status"] in {"succeeded", "failed", "cancelled"} else None

    return probe


def test_export_job_runs_and_its_result_downloads(
    job_settings: Callable[..., Settings],
) -> None:
    with (
        ServerThread(job_settings()) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        response = client.post("/v1/jobs", json=EXPORT)
        assert response.status_code == 202
        job = response.json()
        assert job["status"] in {"queued", "running", "succeeded"}
        assert response.headers["Location"] == f"/v1/jobs/{job['id']}"

        done = wait_for(_finished(client, response.headers["Location"]))
        assert done["status"] == "succeeded", done
        assert done["progress"] == 1.0
        assert done["started_at"]
        assert done["finished_at"]
        assert done["result"]["rows"] == 49 * 2

        result = client.get(done["result"]["url"])
        assert result.status_code == 200
        assert result.headers["content-type"].startswith("text/csv")
        assert (
            'filename="ephemeris_2026-01-01_2026-01-03.csv"'
            in result.headers["content-disposition"]
        )
        rows = list(csv.DictReader(io.StringIO(result.text)))
        assert len(rows) == 98
        assert [r["body"] for r in rows[:2]] == ["mars", "venus"]
        assert rows[0]["at"] == "2026-01-01T00:00:00Z"
        assert rows[-1]["at"] == "2026-01-03T00:00:00Z"

        listed = client.get("/v1/jobs").json()
        assert [j["id"] for j in listed] == [job["id"]]


def test_json_export(job_settings: Callable[..., Settings]) -> None:
    body = {"type": "ephemeris-export", "params": {**EXPORT["params"], "format": "json"}}  # type: ignore[dict-item]
    with (
        ServerThread(job_settings()) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        response = client.post("/v1/jobs", json=body)
        done = wait_for(_finished(client, response.headers["Location"]))
        result = client.get(done["result"]["url"])
        assert result.headers["content-type"] == "application/json"
        document = result.json()
        assert document["bodies"] == ["mars", "venus"]
        assert len(document["rows"]) == 98


def test_idempotency_key_returns_the_same_job(job_settings: Callable[..., Settings]) -> None:
    settings = job_settings(worker_in_process=False)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        headers = {"Idempotency-Key": "export-2026-01"}
        first = client.post("/v1/jobs", json=EXPORT, headers=headers)
        second = client.post("/v1/jobs", json=EXPORT, headers=headers)
        other = client.post("/v1/jobs", json=EXPORT, headers={"Idempotency-Key": "another"})
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        assert second.headers["Idempotent-Replayed"] == "true"
        assert other.json()["id"] != first.json()["id"]
        assert len(client.get("/v1/jobs").json()) == 2
        # Keys are per user: another user's same key is another job, not a replay.
        bob = client.post("/v1/jobs", json=EXPORT, headers={**headers, **user_headers("bob")})
        assert bob.status_code == 202
        assert bob.headers["Idempotent-Replayed"] == "false"
        assert bob.json()["id"] != first.json()["id"]
        assert len(client.get("/v1/jobs").json()) == 2


def test_idempotency_key_reused_for_another_request_is_422_and_empty_is_400(
    job_settings: Callable[..., Settings],
) -> None:
    settings = job_settings(worker_in_process=False)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        key = {"Idempotency-Key": "monthly-export"}
        first = client.post("/v1/jobs", json=EXPORT, headers=key)
        assert first.status_code == 202
        replay = client.post("/v1/jobs", json=EXPORT, headers=key)
        # A replay answers as the submission did: 202, same Location, same job.
        assert replay.status_code == 202
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.headers["Location"] == first.headers["Location"]
        assert replay.json()["id"] == first.json()["id"]
        assert replay.json()["params"] == first.json()["params"]

        other_params = {**EXPORT, "params": {**EXPORT["params"], "bodies": ["mars"]}}  # type: ignore[dict-item]
        reused = client.post("/v1/jobs", json=other_params, headers=key)
        assert reused.status_code == 422, reused.text
        assert reused.headers["content-type"] == "application/problem+json"
        problem = reused.json()
        assert problem["errors"][0]["field"] == "Idempotency-Key"
        assert "another request" in problem["detail"]
        assert "Idempotent-Replayed" not in reused.headers

        refused = client.post("/v1/jobs", json=EXPORT, headers={"Idempotency-Key": ""})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
        # Nothing but the first submission made a job.
        assert [job["id"] for job in client.get("/v1/jobs").json()] == [first.json()["id"]]


def test_cancel_a_queued_job(job_settings: Callable[..., Settings]) -> None:
    # No worker: the job stays queued until cancelled.
    settings = job_settings(worker_in_process=False)
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        location = client.post("/v1/jobs", json=EXPORT).headers["Location"]
        cancelled = client.delete(location)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert client.get(location).json()["status"] == "cancelled"
        again = client.delete(location)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert client.get(location + "/result").status_code == 404


def test_bad_params_and_unknown_types_are_422(job_settings: Callable[..., Settings]) -> None:
    settings = job_settings(worker_in_process=False)
    bad = [
        {"type": "no-such-job", "params": {}},
        {"type": "ephemeris-export", "params": {**EXPORT["params"], "bodies": ["vulcan"]}},  # type: ignore[dict-item]
        {
            "type": "ephemeris-export",
            "params": {**EXPORT["params"], "stop": "2025-01-01T00:00:00Z"},
        },  # type: ignore[dict-item]
        {
            "type": "ephemeris-export",
            "params": {**EXPORT["params"], "stop": "2028-01-01T00:00:00Z"},
        },  # type: ignore[dict-item]
        {"type": "ephemeris-export", "params": {**EXPORT["params"], "step": "1 hour"}},  # type: ignore[dict-item]
        {"type": "ephemeris-export", "params": {**EXPORT["params"], "format": "xlsx"}},  # type: ignore[dict-item]
        {"params": {}},
    ]
    with (
        ServerThread(settings) as server,
        httpx.Client(base_url=server.url, headers=user_headers("alice")) as client,
    ):
        for body in bad:
            response = client.post("/v1/jobs", json=body)
            assert response.status_code == 422, body
            assert response.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/jobs").json() == []
        missing = client.get("/v1/jobs/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
