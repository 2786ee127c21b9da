"""Breaker and memory gauges across two processes that never answer a scrape.

In multiprocess mode a scrape reads every process's values from its files, so each
process must keep its own live gauges written: when a breaker opens or closes, when
its open period ends, and on each metrics flush. Two child processes each run a
``PrometheusSink`` watching a real ``CircuitBreaker`` over one folder, driven by
lines on their stdin; this process reads the folder as ``/metrics`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

CHILD = """
import asyncio, sys, time
from cachefront.observability.prometheus import PrometheusSink
from cachefront.upstream.breaker import BreakerPolicy, CircuitBreaker

async def main() -> None:
    sink = PrometheusSink()
    policy = BreakerPolicy(failure_threshold=1, reset_seconds=float(sys.argv[1]))
    breaker = CircuitBreaker("alpha", policy)
    held = [0]
    sink.watch({"alpha": breaker}, lambda: held[0])
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while words := (await loop.run_in_executor(None, sys.stdin.readline)).split():
        if words[0] == "fail":  # one failed call: the breaker opens
            breaker.release(breaker.acquire(), "failure")
        elif words[0] == "hold":  # the memory tier holds this much; then a flush
            held[0] = int(words[1])
            sink.add_requests([(time.time(), "GET", "/x", 200, 1.0, "memory", 0)])
        print("done", flush=True)

asyncio.run(main())
"""


class Child:
    def __init__(self, folder: Path, reset_seconds: float) -> None:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(reset_seconds)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("ready")

    def _expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == word, f"child said {line!r}"

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self._expect("done")

    def stop(self, folder: Path) -> None:
        if self.process.returncode is not None:
            return
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()  # an empty line: the child ends
        self.process.wait(timeout=30)
        self.process.stdout.close()
        mark_process_dead(self.process.pid, str(folder))  # what the server does on exit


@pytest.fixture
def children(tmp_path: Path) -> Iterator[tuple[Child, Child]]:
    # The first's breaker opens for 0.3 s, the second's for ten minutes.
    first, second = Child(tmp_path, 0.3), Child(tmp_path, 600)
    yield first, second
    first.stop(tmp_path)
    second.stop(tmp_path)


def _gauge(folder: Path, name: str) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    text = generate_latest(registry).decode()
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
    assert len(found) == 1, found
    return found[0]


def test_each_process_keeps_its_gauges_current_without_a_scrape(
    children: tuple[Child, Child], tmp_path: Path
) -> None:
    first, second = children
    assert _gauge(tmp_path, "cachefront_breaker_open") == 0
    assert _gauge(tmp_path, "cachefront_memory_cache_bytes") == 0

    # Each flush writes the memory tier's bytes: summed over the live processes.
    first.tell("hold 1000")
    second.tell("hold 234")
    assert _gauge(tmp_path, "cachefront_memory_cache_bytes") == 1234

    # An opening is written as it happens, and its end when the open period is over,
    # though that process does nothing more.
    first.tell("fail")
    assert _gauge(tmp_path, "cachefront_breaker_open") == 1
    deadline = time.monotonic() + 20
    while _gauge(tmp_path, "cachefront_breaker_open") == 1:
        assert time.monotonic() < deadline, "the end of the open period was never written"
        time.sleep(0.05)

    # Open in one live process is open (livemax), whatever the other says.
    second.tell("fail")
    first.tell("hold 10")
    assert _gauge(tmp_path, "cachefront_breaker_open") == 1
    assert _gauge(tmp_path, "cachefront_memory_cache_bytes") == 244

    # A process that exits takes its live gauges with it.
    second.stop(tmp_path)
    assert _gauge(tmp_path, "cachefront_breaker_open") == 0
    assert _gauge(tmp_path, "cachefront_memory_cache_bytes") == 10
