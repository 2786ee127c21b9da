"""The `binance` and `yahoo` simulator commands serve real HTTP with the options given."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

LAUNCH = (
    "import sys; from cachefront.services.prices.simulators.commands import simulators; "
    "simulators(sys.argv[1:])"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def command(*args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/_stats", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} simulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.timeout(60)
def test_binance_command() -> None:
    with command("binance", "--rate-limit", "10", "--symbols", "AAAUSDT,BBBBTC") as url:
        config = httpx.get(url + "/_stats").json()["config"]
        assert config["rate_limit"] == 10
        assert config["symbols"] == ["AAAUSDT", "BBBBTC"]
        tickers = httpx.get(url + "/api/v3/ticker/price").json()
        assert [ticker["symbol"] for ticker in tickers] == ["AAAUSDT", "BBBBTC"]
        assert httpx.get(url + "/api/v3/ticker/24hr").status_code == 429


@pytest.mark.timeout(60)
def test_yahoo_command() -> None:
    with command("yahoo", "--crumb-ttl", "5", "--latency-ms", "1") as url:
        config = httpx.get(url + "/_stats").json()["config"]
        assert config["crumb_ttl_seconds"] == 5
        assert config["latency_ms"] == 1
        chart = httpx.get(url + "/v8/finance/chart/AAPL", params={"range": "5d"})
        assert chart.status_code == 200
