"""What json logs and tracing cost a memory hit: text vs json vs traced, in one run.

Two measures:

1. CPU per access line, timed in this process: ``AccessLog.line`` through the json
   formatter of ``log_config`` into /dev/null, and the tracing hooks with no tracer
   (what every request pays in text mode).
2. wrk against ``GET /v1/ephemeris/{body}`` memory hits of ``cachefront serve`` in each
   mode, one after the other: text and json with direct hits on (the server answers
   them before ASGI), then text, json and traced with direct hits off (the ASGI path,
   where spans are made). Traced runs post their spans to a local OTLP sink that
   answers 200 and keeps nothing. The server's stderr is /dev/null.

    python benchmarks/logs_hot_path.py [--seconds 8] [--workers 2] [--lines 100000]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import WrkResult, bench_database, cachefront, free_port, simulator, wrk
from hit_throughput import warm

from cachefront import tracing
from cachefront.http.access import AccessLog
from cachefront.logs import log_config


def line_cost(lines: int) -> tuple[float, float]:
    """Microseconds of CPU per json access line, and per tracing hook with no tracer."""
    config = log_config("info", "json")
    with open("/dev/null", "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(
            logging.config.DictConfigurator(config).configure_formatter(
                config["formatters"]["default"]
            )
        )
        logger = logging.getLogger("bench.access")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        access = AccessLog(logger)
        started = time.process_time()
        for i in range(lines):
            access.line(
                request_id=f"a1b2c3d4-{i:x}",
                method="GET",
                route="/v1/ephemeris/{body}",
                path="/v1/ephemeris/mars",
                query=b"at=2026-11-24T12:00:00Z",
                status=200,
                latency_ms=0.0421,
                tier="memory",
                caller="anon",
                client="127.0.0.1",
            )
        per_line = (time.process_time() - started) / lines * 1e6
    started = time.process_time()
    for _ in range(lines):
        with tracing.lookup("redis", "ns", 1) as traced:
            tracing.note_hits(traced, 1, 1)
    per_hook = (time.process_time() - started) / lines * 1e6
    return per_line, per_hook


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()

    per_line, per_hook = line_cost(args.lines)
    print(f"json access line: {per_line:.2f} us CPU; tracing hook, no tracer: {per_hook:.3f} us")

    sink = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{sink.server_address[1]}"
    variants = [
        ("text, direct on", {"CACHEFRONT_DIRECT_HITS": "true"}),
        ("json, direct on", {"CACHEFRONT_DIRECT_HITS": "true", "CACHEFRONT_LOG_FORMAT": "json"}),
        ("text, direct off", {"CACHEFRONT_DIRECT_HITS": "false"}),
        (
            "json, direct off",
            {"CACHEFRONT_DIRECT_HITS": "false", "CACHEFRONT_LOG_FORMAT": "json"},
        ),
        (
            "text + traces, direct off",
            {"CACHEFRONT_DIRECT_HITS": "false", "CACHEFRONT_OTEL_ENDPOINT": otlp},
        ),
    ]
    results: list[tuple[str, WrkResult]] = []
    with simulator() as sim, bench_database() as db:
        for name, extra in variants:
            print(name, flush=True)
            env = {
                "CACHEFRONT_DATABASE_URL": db,
                "CACHEFRONT_HORIZONS_URL": sim + "/api/horizons.api",
                "CACHEFRONT_RATE_LIMITS": json.dumps({"upstream": "1000000000/minute"}),
                # Access lines are INFO: every variant runs at info, so text mode is
                # measured as it is deployed.
                "CACHEFRONT_LOG_LEVEL": "info",
                **extra,
            }
            with cachefront(env, workers=args.workers) as base:
                url = f"{base}/v1/ephemeris/mars?at=2026-11-24T12:00:00Z"
                warm(url)
                results.append((name, wrk(url, seconds=args.seconds)))
    sink.shutdown()

    print("| mode | req/s | vs text | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    baseline = {"on": results[0][1], "off": results[2][1]}
    for name, r in results:
        base = baseline["on" if "direct on" in name else "off"]
        ratio = r.requests_per_second / base.requests_per_second
        print(
            f"| {name} | {r.requests_per_second:,.0f} | {ratio:.2f}x | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.non_2xx} |"
        )


if __name__ == "__main__":
    main()
