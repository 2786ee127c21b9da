"""Slow and oversized clients against a real `cachefront serve` process, over raw sockets.

Each test speaks HTTP by hand, as an attacker would: connections that send nothing,
headers or a body dripped a byte at a time, megabytes of headers, more connections
than the cap. The servers run with short timeouts (the feature under test), so the
bounds asserted are those timeouts plus slack for a loaded machine.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from harness_servers import Simulator, server_settings, settings_env, spawn_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
SLACK = 4.0  # a loaded 2-core machine may be this late to close


def _spawn(database_url: str, simulator: Simulator, **values: Any) -> Iterator[str]:
    settings = server_settings(
        {
            "database_url": database_url,
            "horizons_url": simulator.url,
            "worker_in_process": False,
            "ephemeris_providers": ["local"],
            **values,
        }
    )
    with spawn_server(settings_env(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def server(database_url: str, simulator_session: Simulator) -> Iterator[str]:
    yield from _spawn(
        database_url,
        simulator_session,
        header_timeout_seconds=HEADER_TIMEOUT,
        body_timeout_seconds=BODY_TIMEOUT,
    )


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """Seconds until the server closed ``sock`` (sending ``drip`` every 0.2 s meanwhile),
    or None if it was still open after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - start
            except ConnectionResetError:
                return time.monotonic() - start
            continue
        if drip:
            try:
                sock.sendall(drip)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
    return None


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a status line: {data!r}"
        data += chunk
    return int(data.split(b" ", 2)[1])


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _server_process(url: str) -> psutil.Process:
    port = urlsplit(url).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    raise AssertionError(f"no process listens on port {port}")


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server: str) -> None:
    with _connect(server) as sock:
        closed_after = _closed_within(sock, HEADER_TIMEOUT + SLACK)
    assert closed_after is not None, "an idle connection was never closed"
    assert closed_after >= HEADER_TIMEOUT * 0.8


@pytest.mark.slow
def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_header_timeout(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        closed_after = _closed_within(sock, HEADER_TIMEOUT + SLACK, drip=b"a")
    assert closed_after is not None, "a dripping header kept its connection open"


@pytest.mark.slow
def test_a_later_request_on_a_keep_alive_connection_has_the_same_header_deadline(
    server: str,
) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert _status(sock) == 200
        time.sleep(0.1)  # the answer's body is read (and ignored) by _closed_within
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        closed_after = _closed_within(sock, HEADER_TIMEOUT + SLACK, drip=b"a")
    assert closed_after is not None, "a dripping second request kept its connection open"


@pytest.mark.slow
def test_a_body_dripped_slower_than_the_body_timeout_is_cut(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        closed_after = _closed_within(sock, BODY_TIMEOUT + SLACK, drip=b" ")
    assert closed_after is not None, "a dripping body kept its connection open"


@pytest.mark.slow
def test_oversized_headers_get_431_and_their_bytes_are_not_kept(server: str) -> None:
    process = _server_process(server)
    before = process.memory_info().rss
    value = b"a" * (4 * 1024 * 1024)
    held = []
    try:
        # Ten unfinished 4 MiB headers, held open: a server that buffers them grows by
        # 40 MiB or more; one that refuses at 32 KiB holds nothing.
        for _ in range(10):
            sock = _connect(server)
            held.append(sock)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + value)
        grown = process.memory_info().rss - before
        assert grown < 16 * 1024 * 1024, f"the server grew by {grown / 2**20:.1f} MiB"
        for sock in held:
            assert _status(sock) == 431
    finally:
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_a_complete_header_block_over_the_limit_gets_431(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        )
        assert _status(sock) == 431


@pytest.mark.slow
def test_a_header_block_just_under_the_limit_is_served(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Fill: " + b"a" * 30000 + b"\r\n\r\n")
        assert _status(sock) == 200


@pytest.fixture(scope="module")
def capped_server(database_url: str, simulator_session: Simulator) -> Iterator[str]:
    yield from _spawn(database_url, simulator_session, max_connections=3, header_timeout_seconds=30)


@pytest.mark.slow
def test_requests_past_the_connection_cap_get_503(capped_server: str) -> None:
    idle = [_connect(capped_server) for _ in range(3)]
    try:
        time.sleep(0.3)  # let the server accept all three
        with _connect(capped_server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"content-type: application/problem+json" in answer.lower()
        idle.pop().close()
        time.sleep(0.3)  # let the server see it go
        with _connect(capped_server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert _status(sock) == 200
    finally:
        for sock in idle:
            sock.close()
