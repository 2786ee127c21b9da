"""OpenTelemetry traces sent to a real local OTLP/HTTP receiver; none, and no SDK, when off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread, Simulator, settings_env
from otlp_receiver import OtlpReceiver, ReceivedSpan

MARS = "/v1/ephemeris/mars"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # OTLP's SpanKind numbers


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[str]:
    names = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.name)
    return names


def test_a_miss_is_one_trace_of_request_tiers_and_upstream_call(
    settings_for: Callable[..., Settings], simulator: Simulator, redis_url: str
) -> None:
    with OtlpReceiver() as receiver:
        settings = settings_for(
            otel_endpoint=receiver.url,
            otel_service_name="cachefront-test",
            ephemeris_providers=["horizons"],
            redis_url=redis_url,
        )
        with ServerThread(settings) as server:
            miss = httpx.get(
                server.url + MARS,
                params={"at": "2031-07-08T09:00:00Z", "api_key": "QUERYSECRET"},
                headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
            assert miss.status_code == 200, miss.text
            assert miss.headers["x-cache"] == "upstream"
        # The lifespan's end flushed the batch.
    spans = [span for span in receiver.spans if span.trace_id == TRACE_ID]
    assert spans, receiver.spans
    assert {span.service for span in spans} == {"cachefront-test"}
    by_id = {span.span_id: span for span in spans}
    (root,) = [span for span in spans if span.kind == SERVER]
    assert root.parent_id == CALLER_SPAN  # continues the caller's trace
    assert root.name == "GET /v1/ephemeris/{body}"
    assert root.attributes["http.route"] == "/v1/ephemeris/{body}"
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["cachefront.cache.tier"] == "upstream"
    assert root.attributes["url.path"] == f"{MARS}?at=2031-07-08T09%3A00%3A00Z&api_key=***"

    tiers = {span.name: span for span in spans if span.name.startswith("cache.")}
    assert {"cache.memory", "cache.redis", "cache.db"} <= tiers.keys(), sorted(tiers)
    for name in ("cache.memory", "cache.redis", "cache.db"):
        assert tiers[name].attributes["cachefront.cache.result"] == "miss"
        assert tiers[name].attributes["cachefront.namespace"]
        assert root.name in _ancestors(tiers[name], by_id)
    (upstream,) = [span for span in spans if span.kind == CLIENT]
    assert upstream.name == "upstream horizons"
    assert upstream.attributes["cachefront.provider"] == "horizons"
    assert upstream.attributes["http.response.status_code"] == 200
    assert upstream.attributes["cachefront.outcome"] == "ok"
    assert upstream.attributes["cachefront.cost"] == 1
    assert root.name in _ancestors(upstream, by_id)
    assert all("QUERYSECRET" not in str(span.attributes) for span in spans)


def test_a_routed_memory_hit_has_a_memory_span(
    settings_for: Callable[..., Settings], simulator: Simulator
) -> None:
    with OtlpReceiver() as receiver:
        # The direct path answers memory hits before ASGI, untraced: off here.
        settings = settings_for(
            otel_endpoint=receiver.url, ephemeris_providers=["horizons"], direct_hits=False
        )
        with ServerThread(settings) as server:
            for _ in range(2):
                answer = httpx.get(server.url + MARS, params={"at": "2031-07-09T09:00:00Z"})
                assert answer.status_code == 200
            assert answer.headers["x-cache"] == "memory"
    roots = [span for span in receiver.spans if span.kind == SERVER]
    assert len(roots) == 2
    hit_root = next(s for s in roots if s.attributes.get("cachefront.cache.tier") == "memory")
    assert hit_root.attributes["http.route"] == "/v1/ephemeris/{body}"


@pytest.mark.slow
def test_without_an_endpoint_no_span_is_made_and_no_sdk_is_imported(
    settings_for: Callable[..., Settings], simulator: Simulator
) -> None:
    settings = settings_for(ephemeris_providers=["horizons"])
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "CACHEFRONT_OTEL_"))
    }
    env.update(settings_env(settings))
    script = f"""
import json, sys
import httpx
from cachefront.config import Settings
from harness_servers import ServerThread
NAMES = ("opentelemetry", "cachefront.observability.otel")
def otel():
    return {{m for m in sys.modules if m.startswith(NAMES)}}
before = otel()
with ServerThread(Settings()) as server:
    for _ in range(2):
        answer = httpx.get(server.url + "{MARS}", params={{"at": "2031-07-10T09:00:00Z"}})
        assert answer.status_code == 200
print(json.dumps({{"new": sorted(otel() - before), "all": sorted(otel())}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # Serving imported nothing of OpenTelemetry; what was there before came with FastAPI
    # and redis-py (which load the API, and the SDK when installed, for hooks of their
    # own), never cachefront's tracer or an exporter.
    assert loaded["new"] == []
    assert not [m for m in loaded["all"] if m.startswith(("cachefront", "opentelemetry.exporter"))]
    assert simulator.requests() == 1


def test_fastapis_own_tracing_stays_off_under_a_global_provider(
    settings_for: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process-wide provider (an auto-instrumenting agent's) must not get a second,
    # framework-made span for each request: cachefront makes its own.
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with ServerThread(settings_for()) as server:
        assert httpx.get(server.url + "/v1/models", timeout=10).status_code in (200, 401)
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    assert exporter.get_finished_spans() == ()
