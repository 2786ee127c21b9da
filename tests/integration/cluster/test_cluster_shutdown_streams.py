"""Streams open at SIGTERM: a job's event stream ends at once (the client resumes it
elsewhere), an AI chat stream is let finish, and the process exits as soon as it has.

A real ``cachefront serve`` process, real HTTP, the OpenAI simulator pacing its chunks;
the shutdown timeout is long, so a process held by the job stream would visibly wait it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cluster_processes import ApiProcess

from cachefront.config import Settings
from cachefront.services.ai.simulator import RunningOpenAISimulator
from harness_servers import free_port, settings_env
from jobs_harness import user_headers

pytestmark = pytest.mark.slow

SERVICE_KEY = "svc-" + "q" * 40
PROVIDER_KEY = "sk-shutdown-" + "z" * 30
# Far longer than the AI stream takes: the process must not wait for it.
SHUTDOWN_TIMEOUT = 60.0
EXPORT = {
    "type": "ephemeris-export",
    "params": {
        "bodies": ["mars"],
        "start": "2026-01-01T00:00:00Z",
        "stop": "2026-01-02T00:00:00Z",
        "step": "1h",
        "format": "csv",
    },
}
CHAT = {
    "model": "chat",
    "messages": [{"role": "user", "content": "Tell me a long story about shutdown."}],
    "stream": True,
}


@pytest.fixture
def provider() -> Iterator[RunningOpenAISimulator]:
    # 24 chunks at 8 a second: a stream of about three seconds.
    with RunningOpenAISimulator(api_key=PROVIDER_KEY, tokens_per_second=8) as running:
        yield running


@pytest.fixture
def process(
    job_settings: Callable[..., Settings], provider: RunningOpenAISimulator
) -> Iterator[ApiProcess]:
    providers = [
        {
            "name": "primary",
            "base_url": provider.base_url,
            "api_key": PROVIDER_KEY,
            "models": ["sim-small"],
            "aliases": {"chat": "sim-small"},
            "budget": "100000/minute",
        }
    ]
    settings = job_settings(
        # No worker here: the job stays queued, so its stream has no end of its own.
        worker_in_process=False,
        service_key=SERVICE_KEY,
        ai_providers=json.dumps(providers),
        ai_deadline_seconds=30.0,
        shutdown_timeout_seconds=SHUTDOWN_TIMEOUT,
        rate_limits={"general": "100000/minute", "jobs": "100000/minute", "ai": "100000/minute"},
    )
    api = ApiProcess(settings_env(settings), free_port())
    api.start()
    try:
        yield api
    finally:
        api.close()


def test_sigterm_ends_job_event_streams_at_once_and_lets_ai_streams_finish(
    process: ApiProcess,
) -> None:
    alice = user_headers("alice")
    submitted = httpx.post(f"{process.url}/v1/jobs", json=EXPORT, headers=alice, timeout=10)
    assert submitted.status_code == 202, submitted.text
    events_url = f"{process.url}{submitted.headers['Location']}/events"
    job_lines: list[str] = []
    ai_lines: list[str] = []
    job_open = threading.Event()
    ai_open = threading.Event()

    def watch_job() -> None:
        with httpx.stream("GET", events_url, headers=alice, timeout=120) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                job_lines.append(line)
                if line.startswith("event: progress"):
                    job_open.set()

    def chat() -> int:
        auth = {"Authorization": f"Bearer {SERVICE_KEY}"}
        with httpx.stream(
            "POST", f"{process.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=120
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    ai_lines.append(line)
                    ai_open.set()
            return response.status_code

    with ThreadPoolExecutor(2) as pool:
        job_stream = pool.submit(watch_job)
        ai_stream = pool.submit(chat)
        assert job_open.wait(30), job_lines
        assert ai_open.wait(30), ai_lines
        try:
            status = process.stop(signal.SIGTERM, timeout=SHUTDOWN_TIMEOUT / 2)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {SHUTDOWN_TIMEOUT / 2} s after SIGTERM: held by a stream")
        job_stream.result(timeout=10)
        ai_status = ai_stream.result(timeout=10)

    assert status == 128 + signal.SIGTERM, process.stderr()[-2000:]
    # The AI stream was answered to its end, through the shutdown.
    assert ai_status == 200
    assert ai_lines[-1] == "data: [DONE]", ai_lines[-3:]
    # The job stream ended without ``end``, on a reconnect hint: the client resumes it.
    assert not any(line.startswith("event: end") for line in job_lines)
    assert [line for line in job_lines if line][-1].startswith("retry: "), job_lines
