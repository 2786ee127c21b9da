"""Durable generation jobs against the real queue, worker processes and an OpenAI simulator:
a worker SIGKILLed during chapter 4 of 10 costs no provider call twice, progress shows
steps and partial outputs (also as server-sent events), the book downloads as JSON and
Markdown, and submissions count against the `generation` group."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ai_harness import PRIMARY_KEY, SERVICE_KEY, providers_json

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import ServerThread
from jobs_fixtures import clean_jobs
from jobs_harness import JWT_AUDIENCE, JWT_SECRET, spawn_worker, stop_worker, user_headers, wait_for

__all__ = ["clean_jobs"]

pytestmark = pytest.mark.slow


@pytest.fixture
def generation_settings(
    ai_settings: Callable[..., Settings], primary: RunningOpenAISimulator, clean_jobs: None
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ai_providers": providers_json(("primary", primary, PRIMARY_KEY)),
            "ai_generation_model": "chat",
            "worker_in_process": False,
            "jobs_stall_seconds": 2.0,
            "jobs_retry_base_seconds": 1,
            "worker_concurrency": 1,
            "jwt_secret": JWT_SECRET,
            "jwt_audience": JWT_AUDIENCE,
            "service_key": SERVICE_KEY,
            "rate_limits": {
                "general": "100000/minute",
                "ai": "100000/minute",
                "generation": "100000/minute",
                "jobs": "100000/minute",
            },
            "precompute_schedule": "0 0 1 1 *",
            "cleanup_schedule": "0 0 1 1 *",
            "prune_metrics_schedule": "0 0 1 1 *",
        }
        values.update(overrides)
        return ai_settings(**values)

    return make


def _finished(client: httpx.Client, location: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(location).json()
        return job if job["status"] in {"succeeded", "failed", "cancelled"} else None

    return probe


def test_a_worker_killed_during_chapter_4_of_10_pays_no_call_twice(
    generation_settings: Callable[..., Settings], primary: RunningOpenAISimulator
) -> None:
    settings = generation_settings()
    topic = f"Caches and their keepers {uuid.uuid4().hex[:6]}"
    job = {"type": "ai-generation", "params": {"topic": topic, "chapters": 10}}
    with ServerThread(settings) as server:
        # The workers ask the server's gateway: a call in flight outlives its worker.
        worker_settings = generation_settings(ai_generation_url=server.url)
        first = spawn_worker(worker_settings)
        second = None
        try:
            with httpx.Client(
                base_url=server.url, headers=user_headers("author"), timeout=30
            ) as client:
                primary.configure(latency_ms=600)
                submitted = client.post("/v1/jobs", json=job)
                assert submitted.status_code == 202, submitted.text
                location = submitted.headers["Location"]
                # The outline and chapters 1 to 3 are done, chapter 4 is being asked.
                wait_for(lambda: primary.requests() >= 5, timeout=60, every=0.02)
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
                partial = client.get(location).json()
                assert partial["status"] == "running"
                assert partial["detail"]["steps_total"] == 11
                assert 4 <= partial["detail"]["steps_done"] <= 5
                assert partial["detail"]["outputs"][0]["step"] == 0
                primary.configure(latency_ms=0)
                second = spawn_worker(worker_settings)
                done = wait_for(_finished(client, location), timeout=90)
                assert done["status"] == "succeeded", done
                assert done["attempts"] == 2
                assert done["detail"]["steps_done"] == 11
                # Outline + 10 chapters: chapter 4's answer was cached when its worker died.
                assert primary.requests() == 11
                book = client.get(done["result"]["url"]).json()
                assert book["topic"] == topic
                assert [c["number"] for c in book["chapters"]] == list(range(1, 11))
                markdown = client.get(done["result"]["markdown_url"])
                assert markdown.headers["content-type"].startswith("text/markdown")
                assert "## Chapter 10" in markdown.text
                assert book["chapters"][9]["text"] in markdown.text
                with client.stream("GET", location + "/events") as events:
                    lines = [line for line in events.iter_lines() if line.startswith("event: ")]
                assert lines[-1] == "event: end"
                # Another user sees neither the job nor its book.
                other = httpx.get(
                    server.url + f"/v1/ai/generations/{done['id']}",
                    headers=user_headers("someone-else"),
                )
                assert other.status_code == 404
        finally:
            stop_worker(first)
            if second is not None:
                stop_worker(second)


def test_progress_streams_as_server_sent_events_and_submissions_are_limited(
    generation_settings: Callable[..., Settings], primary: RunningOpenAISimulator
) -> None:
    settings = generation_settings(
        rate_limits={"general": "100000/minute", "ai": "100000/minute", "generation": "5/hour"}
    )
    worker = None
    with ServerThread(settings) as server:
        worker = spawn_worker(generation_settings(ai_generation_url=server.url))
        try:
            with httpx.Client(
                base_url=server.url, headers=user_headers("reader"), timeout=30
            ) as client:
                primary.configure(latency_ms=100)
                job = {"type": "ai-generation", "params": {"topic": "Tides", "chapters": 3}}
                location = client.post("/v1/jobs", json=job).headers["Location"]
                seen: list[int] = []
                with client.stream("GET", location + "/events") as events:
                    assert events.headers["content-type"].startswith("text/event-stream")
                    for line in events.iter_lines():
                        if line.startswith("data: "):
                            detail = httpx.Response(200, content=line[6:]).json()["detail"]
                            seen.append(detail["steps_done"])
                assert seen == sorted(seen)
                assert seen[-1] == 4
                assert len(set(seen)) >= 3
                bad = client.post(
                    "/v1/jobs", json={"type": "ai-generation", "params": {"chapters": 3}}
                )
                assert bad.status_code == 422
                assert "topic" in bad.text
                # Refused submissions are not charged: four more fit in the 5 per hour.
                for _ in range(4):
                    assert client.post("/v1/jobs", json=job).status_code == 202
                limited = client.post("/v1/jobs", json=job)
                assert limited.status_code == 429
                assert limited.headers["retry-after"]
        finally:
            stop_worker(worker)


def test_cancel_stops_a_running_generation_between_steps(
    generation_settings: Callable[..., Settings], primary: RunningOpenAISimulator
) -> None:
    settings = generation_settings()
    with ServerThread(settings) as server:
        worker = spawn_worker(generation_settings(ai_generation_url=server.url))
        try:
            with httpx.Client(
                base_url=server.url, headers=user_headers("quitter"), timeout=30
            ) as client:
                primary.configure(latency_ms=400)
                job = {"type": "ai-generation", "params": {"topic": "Knots", "chapters": 10}}
                submitted = client.post("/v1/jobs", json=job).json()
                cancel = f"/v1/ai/generations/{submitted['id']}/cancel"
                # The outline is being asked: the job is running.
                wait_for(lambda: primary.requests() >= 1, timeout=60, every=0.02)
                other = httpx.post(server.url + cancel, headers=user_headers("stranger"))
                assert other.status_code == 404
                stopping = client.post(cancel)
                assert stopping.status_code == 202
                assert stopping.json()["status"] == "stopping"
                done = wait_for(_finished(client, f"/v1/jobs/{submitted['id']}"), timeout=60)
                # Stopped between steps as asked: cancelled, not failed.
                assert done["status"] == "cancelled"
                assert "cancelled by its owner" in done["error"]
                assert done["finished_at"] is not None
                # The step in flight finished and was kept; no further one was asked.
                assert done["detail"]["steps_done"] == primary.requests() <= 2
                assert client.post(cancel).status_code == 409
                partial = client.get(f"/v1/ai/generations/{submitted['id']}?format=markdown")
                assert partial.text.startswith("# Knots")
        finally:
            stop_worker(worker)
