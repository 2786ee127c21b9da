"""The direct path through real HTTP: the same answers, metrics and limits as the ASGI path.

Each test runs one script of raw HTTP/1.x exchanges against a server with the direct
path on, then (the cache emptied) against one with it off, and compares every answer:
status, body and every header, only the Date value and generated X-Request-ID values
left out, and the seconds of Age, max-age and RateLimit's ``t`` (which depend on when
a second ticks) compared as numbers within one second. It also checks that the direct
path was taken where it should be, and that the metrics rows are the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cachefront.app import create_app
from cachefront.auth import KeyManager, Role
from cachefront.config import Settings
from cachefront.db.engine import create_engine
from cachefront.http.direct import DirectResponder, responder_of
from cachefront.http.fastpath import FastPathApp
from harness_servers import ServerThread

MARS = "/v1/ephemeris/mars?at=2031-03-04T05:06:00Z"
SERVICE_KEY = "service-key-for-direct-hits-0123456789"
ORIGIN = "https://app.example"
CLIENT_ID = b"client-chosen-id.1"


@dataclasses.dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for n, v in self.headers if n == name), None)


@dataclasses.dataclass
class Run:
    """What one server answered to a script, and what it recorded."""

    answers: dict[str, list[Answer]]
    closed: dict[str, bool]
    direct: dict[str, int]
    metrics: Counter[tuple[Any, ...]]


@dataclasses.dataclass(frozen=True)
class Split:
    """A request sent in two writes, ``at`` bytes then the rest, apart in time."""

    data: bytes
    at: int


Step = bytes | Split | Callable[["Served"], None]


@dataclasses.dataclass
class Served:
    server: ServerThread
    app: Any
    responder: DirectResponder | None
    fast: FastPathApp


def get(target: str, *headers: tuple[str, str], version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket, buf: bytearray) -> Answer:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    status = int(head[0].split(b" ")[1])
    headers = [(n.lower(), v) for n, _, v in (line.partition(b": ") for line in head[1:])]
    answer = Answer(status, headers, b"")
    if answer.header(b"transfer-encoding") == b"chunked":
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            size_end = buf.index(b"\r\n")
            size = int(bytes(buf[:size_end]), 16)
            while len(buf) < size_end + 2 + size + 2:
                buf += sock.recv(65536)
            body += buf[size_end + 2 : size_end + 2 + size]
            del buf[: size_end + 2 + size + 2]
            if size == 0:
                break
        answer.body = bytes(body)
        return answer
    length = int(answer.header(b"content-length") or b"0")
    while len(buf) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        buf += chunk
    answer.body = bytes(buf[:length])
    del buf[:length]
    return answer


def _closed_after(sock: socket.socket) -> bool:
    sock.settimeout(3)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def exchange(
    port: int, steps: list[Step], served: Served, *, pipelined: bool
) -> tuple[list[Answer], bool]:
    """The answers to ``steps`` sent on one connection, one at a time or all at once, and
    whether the server closed the connection after the last (asked for by the script)."""
    answers: list[Answer] = []
    buf = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if pipelined:
            requests = [s for s in steps if isinstance(s, bytes)]
            sock.sendall(b"".join(requests))
            answers = [_read_answer(sock, buf) for _ in requests]
        else:
            for step in steps:
                if isinstance(step, bytes):
                    sock.sendall(step)
                    answers.append(_read_answer(sock, buf))
                elif isinstance(step, Split):
                    sock.sendall(step.data[: step.at])
                    time.sleep(0.01)  # the server reads the first part on its own
                    sock.sendall(step.data[step.at :])
                    answers.append(_read_answer(sock, buf))
                else:
                    step(served)
        closed = _closed_after(sock) if _wants_close(steps) else False
    return answers, closed


def _wants_close(steps: list[Step]) -> bool:
    last = [s if isinstance(s, bytes) else s.data for s in steps if isinstance(s, bytes | Split)][
        -1
    ]
    return b"Connection: close" in last or b"HTTP/1.0" in last.split(b"\r\n")[0]


def make_stale(served: Served) -> None:
    """Turn the memory entry of MARS stale: its shared-tier copies stay fresh."""
    now = time.time()
    path, _, query = MARS.partition("?")
    for route in served.fast.routes:
        if path.startswith(route.prefix):
            resolved = route.resolve(path, query.encode(), now)
            assert resolved is not None
            entry = served.fast.memory.peek(*resolved)
            assert entry is not None
            # Older than the shared tier's copy too, so that copy answers (``db``) and
            # refreshes memory, the same in every run.
            stale = dataclasses.replace(entry, stored_at=entry.stored_at - 1, fresh_until=now - 1)
            served.fast.memory.put(*resolved, stale)
            return
    raise AssertionError("no fast route for MARS")


_SECONDS = re.compile(rb"(max-age=|;t=)(\d+)")
# How far apart the two runs of a script may see the same second-valued header: they
# run one after the other, within one limit window (``_clear_of_window_edge``).
_SECONDS_APART = 6


def normalized(answer: Answer) -> tuple[int, bytes, list[tuple[bytes, bytes]], list[int]]:
    """The answer with Date and generated request ids blanked, and its seconds aside."""
    headers: list[tuple[bytes, bytes]] = []
    seconds: list[int] = []
    for name, value in answer.headers:
        if name == b"date" or (name == b"x-request-id" and value != CLIENT_ID):
            value = b"*"
        elif name in (b"age", b"retry-after"):
            seconds.append(int(value))
            value = b"*"
        else:
            seconds += [int(m.group(2)) for m in _SECONDS.finditer(value)]
            value = _SECONDS.sub(rb"\1*", value)
        headers.append((name, value))
    return answer.status, answer.body, headers, seconds


def _layer(app: Any, kind: type[Any]) -> Any:
    current = app
    while not isinstance(current, kind):
        current = current.app
    return current


@contextmanager
def serving(settings: Settings) -> Iterator[Served]:
    app = create_app(settings)
    with ServerThread(settings, app) as server:
        yield Served(server, app, responder_of(app), _layer(app, FastPathApp))


def run_script(settings: Settings, script: dict[str, tuple[list[Step], bool]]) -> Run:
    run = Run({}, {}, {}, Counter())
    with serving(settings) as served:
        recorder = served.fast.recorder
        original = recorder.request

        def spy(row: tuple[Any, ...]) -> None:
            # What the row says, not when or how fast: (method, route, status, tier, calls).
            run.metrics[(row[1], row[2], row[3], row[5], row[6])] += 1
            original(row)

        original_hit = recorder.hit

        def spy_hit(route: str, status: int, latency_ms: float, ts: float) -> None:
            # A hot-path hit is a GET answered from memory without an upstream call.
            run.metrics[("GET", route, status, "memory", 0)] += 1
            original_hit(route, status, latency_ms, ts)

        recorder.request = spy  # type: ignore[method-assign]
        recorder.hit = spy_hit  # type: ignore[method-assign]
        for name, (steps, pipelined) in script.items():
            before_count = served.responder.served if served.responder else 0
            run.answers[name], run.closed[name] = exchange(
                served.server.port, steps, served, pipelined=pipelined
            )
            after = served.responder.served if served.responder else 0
            run.direct[name] = after - before_count
    return run


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _empty_cache(database_url: str) -> None:
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE cache_entries")


def _clear_of_window_edge(window: float = 60.0, margin: float = 15.0) -> None:
    # A run crossing a window's edge counts against two windows; start clear of one.
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.1)


def compare(on: Run, off: Run) -> None:
    assert on.answers.keys() == off.answers.keys()
    for name in on.answers:
        ours, theirs = on.answers[name], off.answers[name]
        assert len(ours) == len(theirs), name
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            na, nb = normalized(a), normalized(b)
            assert na[:3] == nb[:3], f"{name}, answer {i}"
            assert all(abs(x - y) <= _SECONDS_APART for x, y in zip(na[3], nb[3], strict=True)), (
                name,
                i,
            )
        assert on.closed[name] == off.closed[name], name
    assert on.metrics == off.metrics
    assert set(off.direct.values()) == {0}


async def _new_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        key, _ = await KeyManager(engine).create("direct-hits", Role.USER)
    finally:
        await engine.dispose()
    return key


@pytest.fixture
def api_key(database_url: str) -> str:
    return asyncio.run(_new_key(database_url))


def test_direct_path_answers_as_the_asgi_path(
    settings_for: Callable[..., Settings], database_url: str, api_key: str
) -> None:
    mars = get(MARS)
    script: dict[str, tuple[list[Step], bool]] = {
        "miss then hits": ([mars, mars, mars], False),
        "client request id": ([get(MARS, ("X-Request-ID", CLIENT_ID.decode()))], False),
        "bad request id": ([get(MARS, ("X-Request-ID", "has spaces and / slashes"))], False),
        "api key, verified then cached": (
            [get(MARS, ("Authorization", f"Bearer {api_key}"))] * 3,
            False,
        ),
        "api key in apikey header": ([get(MARS, ("apikey", api_key))], False),
        "service key": ([get(MARS, ("Authorization", f"Bearer {SERVICE_KEY}"))] * 2, False),
        "bad credentials": (
            [get(MARS, ("Authorization", "Bearer cf_AAAAAAAA_" + "B" * 32))] * 2
            + [get(MARS, ("Authorization", "Basic dXNlcjpwYXNz"))],
            False,
        ),
        "conflicting credentials": (
            [get(MARS, ("apikey", api_key), ("apikey", "other"))],
            False,
        ),
        "if-none-match": (
            [
                get(MARS, ("If-None-Match", '"nope"')),
                get(MARS, ("If-None-Match", "*")),
            ],
            False,
        ),
        "cors origin allowed": ([get(MARS, ("Origin", ORIGIN))], False),
        "cors origin refused": ([get(MARS, ("Origin", "https://evil.example"))], False),
        "connection close": ([mars, get(MARS, ("Connection", "close"))], False),
        "http/1.0": ([get(MARS, version="1.0")], False),
        "http/1.0 keep-alive asked": (
            [get(MARS, ("Connection", "keep-alive"), version="1.0")],
            False,
        ),
        "pipelined, hit miss hit": (
            [mars, get("/v1/ephemeris/venus?at=2031-03-04T05:06:00Z"), mars, mars],
            True,
        ),
        "pipelined hits": ([mars] * 4, True),
        "query variations": (
            [
                get("/v1/ephemeris/mars?at=2031-03-04T05:30:00Z"),
                get("/v1/ephemeris/mars?at=2031-03-04T06:00:00Z"),
                get("/v1/ephemeris/mars?at=not-a-time"),
                get("/v1/ephemeris/mars"),
                get("/v1/ephemeris/m%61rs?at=2031-03-04T05:06:00Z"),
            ],
            False,
        ),
        "stale entry": ([mars, make_stale, mars, mars], False),
        "other route": ([get("/v1/health")], False),
    }
    # How many answers of each the direct path gives (the others fall back).
    expected_direct = {
        "miss then hits": 2,
        "client request id": 1,
        "bad request id": 1,
        "api key, verified then cached": 2,
        "api key in apikey header": 1,
        "service key": 2,
        "bad credentials": 0,
        "conflicting credentials": 0,
        "if-none-match": 2,
        "cors origin allowed": 1,
        "cors origin refused": 1,
        "connection close": 2,
        "http/1.0": 1,
        "http/1.0 keep-alive asked": 1,
        "pipelined, hit miss hit": 1,  # the hits queued behind the miss wait their turn
        "pipelined hits": 4,
        "other route": 0,
    }

    def settings(**more: Any) -> Settings:
        return settings_for(service_key=SERVICE_KEY, cors_origins=[ORIGIN], **more)

    on_settings = settings()
    off_settings = settings(direct_hits=False, redis_prefix=on_settings.redis_prefix + "off")
    _clear_of_window_edge()
    on = run_script(on_settings, script)
    _empty_cache(database_url)
    off = run_script(off_settings, script)

    compare(on, off)
    for name, count in expected_direct.items():
        assert on.direct[name] == count, name
    # The stale entry: its first request falls back; the refreshed entry is a hit again.
    assert on.direct["stale entry"] >= 1
    assert on.answers["stale entry"][1].header(b"x-cache") != b"memory"
    assert on.closed["connection close"]
    assert on.closed["http/1.0"]
    assert not on.closed["miss then hits"]
    assert on.answers["if-none-match"][1].status == 304
    assert on.answers["cors origin allowed"][0].header(b"access-control-allow-origin") == (
        ORIGIN.encode()
    )
    assert on.answers["bad credentials"][0].status == 401
    assert on.answers["conflicting credentials"][0].status == 400


def test_heads_the_protocols_reader_leaves_are_answered_as_before(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    # A script of its own: kept short, so that the two runs stay seconds apart.
    mars = get(MARS)
    script: dict[str, tuple[list[Step], bool]] = {
        "warm": ([mars], False),
        # From httptools' callbacks (``serve_directly``), directly or not, as before.
        "split at every byte": ([Split(mars, at) for at in range(1, len(mars))], False),
        "trailing whitespace": ([get(MARS, ("X-Pad", "a "))], False),
        "a body length": ([get(MARS, ("Content-Length", "0"))], False),
        "oversized headers": ([get(MARS, ("X-Big", "a" * 40_000))], False),
    }
    on_settings = settings_for()
    off_settings = settings_for(direct_hits=False, redis_prefix=on_settings.redis_prefix + "off")
    _clear_of_window_edge()
    on = run_script(on_settings, script)
    _empty_cache(database_url)
    off = run_script(off_settings, script)
    compare(on, off)
    assert on.direct == {
        "warm": 0,
        "split at every byte": len(mars) - 1,
        "trailing whitespace": 1,
        "a body length": 0,
        "oversized headers": 0,
    }
    assert on.answers["oversized headers"][0].status == 431


def test_limits_spend_one_unit_per_request_and_refuse_on_the_asgi_path(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    mars = get(MARS)
    script: dict[str, tuple[list[Step], bool]] = {
        "until refused": ([mars] * 7, False),
        "pipelined past the limit": ([mars] * 2, True),
    }
    limits = {"general": "1000/minute", "upstream": "6/minute"}
    on_settings = settings_for(rate_limits=limits)
    off_settings = settings_for(
        rate_limits=limits, direct_hits=False, redis_prefix=on_settings.redis_prefix + "off"
    )
    _clear_of_window_edge()
    on = run_script(on_settings, script)
    _empty_cache(database_url)
    off = run_script(off_settings, script)

    compare(on, off)
    statuses = [a.status for a in on.answers["until refused"]]
    assert statuses == [200] * 6 + [429]
    remaining = [a.header(b"ratelimit") for a in on.answers["until refused"][:6]]
    assert [int(re.search(rb";r=(\d+)", r or b"").group(1)) for r in remaining] == [  # type: ignore[union-attr]
        5,
        4,
        3,
        2,
        1,
        0,
    ]
    assert on.direct["until refused"] == 5  # the first is the miss; the refusal falls back
    assert [a.status for a in on.answers["pipelined past the limit"]] == [429, 429]
    assert on.direct["pipelined past the limit"] == 0


def _ratelimit_blank(answer: Answer) -> Answer:
    # Leased counts say what remains as the lease saw it last, which a refill in the
    # background may have changed: the statuses carry the count, these do not.
    headers = [(n, b"*" if n == b"ratelimit" else v) for n, v in answer.headers]
    return Answer(answer.status, headers, answer.body)


def test_leased_limits_spend_the_whole_limit_and_no_more(
    settings_for: Callable[..., Settings], database_url: str, redis_url: str
) -> None:
    limit = 200
    script: dict[str, tuple[list[Step], bool]] = {
        "past the limit": ([get(MARS)] * (limit + 2), False)
    }
    limits = {"general": "10000/minute", "upstream": f"{limit}/minute"}
    common: dict[str, Any] = {
        "redis_url": redis_url,
        "rate_limit_exact": False,
        "rate_limits": limits,
    }
    on_settings = settings_for(**common)
    off_settings = settings_for(
        **common, direct_hits=False, redis_prefix=on_settings.redis_prefix + "off"
    )
    _clear_of_window_edge()
    on = run_script(on_settings, script)
    _empty_cache(database_url)
    off = run_script(off_settings, script)

    for run in (on, off):
        run.answers = {k: [_ratelimit_blank(a) for a in v] for k, v in run.answers.items()}
    compare(on, off)
    statuses = [a.status for a in on.answers["past the limit"]]
    assert statuses == [200] * limit + [429, 429]
    # Most hits were spent from the local lease; takes from Redis fell back.
    assert on.direct["past the limit"] > limit // 2


def test_exact_redis_limits_leave_every_hit_to_the_asgi_path(
    settings_for: Callable[..., Settings], database_url: str, redis_url: str
) -> None:
    script: dict[str, tuple[list[Step], bool]] = {"hits": ([get(MARS)] * 4, False)}
    on_settings = settings_for(redis_url=redis_url, rate_limit_exact=True)
    off_settings = settings_for(
        redis_url=redis_url,
        rate_limit_exact=True,
        direct_hits=False,
        redis_prefix=on_settings.redis_prefix + "off",
    )
    _clear_of_window_edge()
    on = run_script(on_settings, script)
    _empty_cache(database_url)
    off = run_script(off_settings, script)
    compare(on, off)
    assert on.direct["hits"] == 0
    assert [a.header(b"x-cache") for a in on.answers["hits"]][1:] == [b"memory"] * 3


def test_a_fault_of_the_direct_path_is_answered_by_the_application(
    settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    with serving(settings_for()) as served:
        assert served.responder is not None
        warm, _ = exchange(served.server.port, [get(MARS)], served, pipelined=False)
        assert warm[0].status == 200

        def broken(*args: object) -> bytes | None:
            raise RuntimeError("a fault of the direct path")

        served.responder.respond = broken  # type: ignore[method-assign]
        answers, _ = exchange(served.server.port, [get(MARS)] * 2, served, pipelined=False)
    assert [a.status for a in answers] == [200, 200]
    assert [a.header(b"x-cache") for a in answers] == [b"memory", b"memory"]
    assert "direct path failed" in caplog.text
