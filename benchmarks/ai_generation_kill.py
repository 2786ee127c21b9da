"""A 10-chapter generation job with one worker killed during chapter 4: wall time, provider calls.

One run starts the OpenAI simulator (``--latency-ms`` per call), a ``cachefront serve``
process (the API and the gateway, no worker in it) and a ``cachefront worker`` process
that asks the server's gateway for each step (``CACHEFRONT_AI_GENERATION_URL``). A job
of an outline and ten chapters is submitted; once the simulator has received the
chapter-4 call the worker is SIGKILLed and a new one started, which takes the job over
after the stall timeout (``--stall-seconds``). The same job on a worker left alone is
the baseline. Provider calls are the simulator's own count: 11 means nothing was paid
twice.

    python benchmarks/ai_generation_kill.py [--latency-ms 300] [--stall-seconds 2]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import uuid
from contextlib import AbstractContextManager

import httpx
from harness import (
    ai_gateway_env,
    bench_database,
    cachefront,
    process,
    simulator,
    simulator_requests,
    user_token,
)


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token('author')}"}


def worker(env: dict[str, str]) -> AbstractContextManager[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "cachefront", "worker", "--concurrency", "1"]
    return process(args, {"CACHEFRONT_LOG_LEVEL": "warning", **env})


def wait(probe: object, timeout: float = 300.0, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(every)


def run_job(base: str, sim: str, env: dict[str, str], *, kill: bool) -> tuple[float, int, int]:
    """Wall seconds, provider calls and attempts of one 10-chapter job."""
    topic = f"Caches and their keepers {uuid.uuid4().hex[:6]}"
    job = {"type": "ai-generation", "params": {"topic": topic, "chapters": 10}}
    before = simulator_requests(sim)
    with httpx.Client(base_url=base, headers=headers(), timeout=30) as client:
        with worker(env) as first:
            started = time.perf_counter()
            response = client.post("/v1/jobs", json=job)
            assert response.status_code == 202, response.text
            location = response.headers["Location"]

            def status() -> str:
                return str(client.get(location).json()["status"])

            if kill:
                wait(lambda: simulator_requests(sim) - before >= 5)
                first.send_signal(signal.SIGKILL)
                first.wait()
                with worker(env):
                    wait(lambda: status() in {"succeeded", "failed"}, every=0.1)
            else:
                wait(lambda: status() in {"succeeded", "failed"}, every=0.1)
            elapsed = time.perf_counter() - started
        done = client.get(location).json()
    assert done["status"] == "succeeded", done
    return elapsed, simulator_requests(sim) - before, int(done["attempts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--stall-seconds", type=float, default=2.0)
    args = parser.parse_args()
    with simulator(args.latency_ms, name="openai") as sim, bench_database() as db:
        limits = '{"general": "1000000/minute", "generation": "1000/hour"}'
        env = {
            **ai_gateway_env(sim, db, rate_limits=limits, users=True),
            "CACHEFRONT_JOBS_STALL_SECONDS": str(args.stall_seconds),
            "CACHEFRONT_JOBS_RETRY_BASE_SECONDS": "1",
        }
        with cachefront(env) as base:
            worker_env = {**env, "CACHEFRONT_AI_GENERATION_URL": base}
            baseline = run_job(base, sim, worker_env, kill=False)
            killed = run_job(base, sim, worker_env, kill=True)
    print(
        f"python benchmarks/ai_generation_kill.py --latency-ms {args.latency_ms:g} "
        f"--stall-seconds {args.stall_seconds:g}"
    )
    print("| run | wall s | provider calls | attempts |")
    print("|---|---:|---:|---:|")
    print(f"| no kill | {baseline[0]:.2f} | {baseline[1]} | {baseline[2]} |")
    print(f"| worker SIGKILLed during chapter 4 | {killed[0]:.2f} | {killed[1]} | {killed[2]} |")


if __name__ == "__main__":
    main()
