"""GET /metrics: Prometheus text that parses, for the service role, summed over worker processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cachefront.config import Settings
from harness_servers import ServerThread, settings_env, spawn_server

KEY = "prometheus-service-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _samples(text: str, name: str, **labels: str) -> list[float]:
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found.append(sample.value)
    return found


def test_metrics_parse_and_need_the_service_key(
    settings_for: Callable[..., Settings], serve_app: type[ServerThread]
) -> None:
    with serve_app(settings_for(service_key=KEY)) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        for _ in range(3):
            assert httpx.get(f"{server.url}/health").status_code == 200
        answer = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert sum(_samples(text, "cachefront_requests_total", route="/health")) == 3
    # Every observation lands in the histogram's +Inf bucket and its count.
    assert _samples(
        text, "cachefront_request_duration_seconds_bucket", route="/health", le="+Inf"
    ) == [3.0]
    assert _samples(text, "cachefront_request_duration_seconds_count", route="/health") == [3.0]
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {"cachefront_job_queue_jobs", "cachefront_cache_entries"} <= families


def test_requests_are_summed_across_two_worker_processes(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    env = settings_env(settings_for(service_key=KEY))
    env.update({"CACHEFRONT_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    requests = 40
    with spawn_server(env) as url:
        # The server's start was probed on /health: count from what is there now.
        time.sleep(1.0)
        first = httpx.get(f"{url}/metrics", headers=AUTH, timeout=10)
        before = sum(_samples(first.text, "cachefront_requests_total", route="/health"))
        for _ in range(requests):
            # A connection each, so the kernel spreads them over both processes.
            with httpx.Client() as client:
                assert client.get(f"{url}/health").status_code == 200
        # Each worker flushes its batch to the counters every 0.2 s.
        time.sleep(1.0)
        scrapes = []
        for _ in range(4):
            with httpx.Client() as client:
                scrapes.append(client.get(f"{url}/metrics", headers=AUTH, timeout=10))
        writers = {p.name.split("_")[-1] for p in tmp_path.glob("counter_*.db")}
    for scrape in scrapes:
        assert scrape.status_code == 200, scrape.text
        counted = sum(_samples(scrape.text, "cachefront_requests_total", route="/health"))
        assert counted == before + requests
    # Both processes counted some of them: two files of counters, one per process.
    assert len(writers) == 2, writers
