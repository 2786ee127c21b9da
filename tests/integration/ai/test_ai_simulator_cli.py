"""``cachefront simulate openai`` serves the simulator from the command line, with its faults."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from harness_servers import free_port


@contextmanager
def simulate(*options: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "cachefront", "simulate", "openai", "--port", str(port)]
    proc = subprocess.Popen([*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(root + "/_stats", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        assert proc.stderr is not None
        proc.stderr.close()


def test_simulate_openai_with_a_rate_limit() -> None:
    with simulate("--rate-limit", "2", "--tokens-per-second", "1000") as root:
        body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
        answers = [httpx.post(root + "/v1/chat/completions", json=body) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].json() == answers[1].json()  # deterministic
        limited = answers[2]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        stats = httpx.get(root + "/_stats").json()
        assert stats["requests"] == 3
        assert stats["by_status"] == {"200": 2, "429": 1}
