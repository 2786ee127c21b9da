"""How long a cold range on the local provider holds the server's event loop.

The app runs under uvicorn on this process's event loop, with the local provider only
(no upstream) and a fresh benchmark database. For each run, a client thread asks for a
cold range of 7 bodies x 11 days, hourly (1855 rows), while a ticker coroutine on the
loop measures how late a 1 ms sleep wakes up: the loop's worst stall, which is what
any other request (`/health`, a memory hit) would wait at worst. The client only reads
the bytes while the ticker measures; it checks them afterwards, so its own work holds
the GIL outside the window. Each run uses dates no earlier run touched, so every range
is computed.

    cd benchmarks && ../.venv/bin/python loop_block.py [--runs 7]

The server runs whatever `cachefront` the interpreter imports, so prefixing the command
with ``PYTHONPATH=<other checkout>/src`` measures another version of the code.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from harness import bench_database, free_port

from cachefront.app import create_app
from cachefront.config import Settings

BODIES = "sun,moon,mercury,venus,mars,jupiter,saturn"
FIRST_DAY = datetime(2031, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=11)
ROWS = 7 * (SPAN // timedelta(hours=1) + 1)
HUGE = {"general": "100000000/minute", "upstream": "100000000/minute"}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Ticker:
    """The worst lateness of a 1 ms sleep on the loop while ``measuring`` is set."""

    def __init__(self) -> None:
        self.measuring = False
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - before - 0.001
            if self.measuring:
                self.worst = max(self.worst, late)


def _range(base: str, start: datetime) -> tuple[float, httpx.Response]:
    params = {"bodies": BODIES, "start": iso(start), "stop": iso(start + SPAN), "step": "1h"}
    began = time.perf_counter()
    answer = httpx.get(base + "/v1/ephemeris", params=params, timeout=120)
    return time.perf_counter() - began, answer


def _check(answer: httpx.Response) -> None:
    answer.raise_for_status()
    if answer.json()["count"] != ROWS:
        raise RuntimeError(f"unexpected answer {answer.text[:200]}")


async def measure(settings: Settings, runs: int) -> list[tuple[float, float]]:
    """(range s, worst loop stall ms) of each run."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        create_app(settings), port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    loop = asyncio.get_running_loop()
    # The client's own thread, apart from any pool the server uses.
    clients = ThreadPoolExecutor(1, thread_name_prefix="bench-client")
    try:
        while not server.started:  # noqa: ASYNC110  uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        warm = (base, FIRST_DAY - timedelta(days=60))  # loads the kernel outside the runs
        _check((await loop.run_in_executor(clients, _range, *warm))[1])
        results = []
        for run in range(runs):
            await asyncio.sleep(0.2)  # the previous run's writes settle first
            ticker.worst, ticker.measuring = 0.0, True
            start = FIRST_DAY + run * (SPAN + timedelta(days=30))
            took, answer = await loop.run_in_executor(clients, _range, base, start)
            ticker.measuring = False
            _check(answer)
            results.append((took, ticker.worst * 1000.0))
        return results
    finally:
        clients.shutdown()
        ticking.cancel()
        server.should_exit = True
        await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with bench_database() as database_url:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            ephemeris_providers=["local"],
            worker_in_process=False,
            rate_limits=HUGE,
            log_level="warning",
        )
        results = asyncio.run(measure(settings, args.runs))
    for run, (took, stall) in enumerate(results, 1):
        print(f"run {run}: range {took:.2f} s, worst loop stall {stall:.0f} ms")
    stalls = [stall for _, stall in results]
    print(
        f"worst loop stall, median of {len(results)} runs: {statistics.median(stalls):.0f} ms "
        f"(max {max(stalls):.0f} ms)"
    )


if __name__ == "__main__":
    main()
