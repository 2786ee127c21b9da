"""The direct path's request reader against httptools: it reads only what httptools reads alike.

For generated request heads — valid ones and heads with every kind of oddity the reader
must leave alone — ``scan_get`` either declines (None) or gives exactly what uvicorn's
httptools protocol makes of the same bytes: one complete bodiless GET, its decoded
path, query, lowercase header names with their values, and whether the connection
stays open. A head cut anywhere before its end is always declined.
"""

from __future__ import annotations

import urllib.parse

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachefront.http.request_scan import ScannedGet, scan_get

EXAMPLES = settings(max_examples=600, deadline=None)


class _Collector:
    def __init__(self) -> None:
        self.parser: httptools.HttpRequestParser | None = None
        self.keep_alive = False
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.heads = 0
        self.messages = 0
        self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))  # as uvicorn's on_header

    def on_headers_complete(self) -> None:
        # Where uvicorn decides it: the parser forgets once the message is complete.
        assert self.parser is not None
        self.heads += 1
        version = self.parser.get_http_version()
        self.keep_alive = version != "1.0" and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.messages += 1


def httptools_view(data: bytes) -> ScannedGet | None:
    """What uvicorn's protocol reads from ``data`` if it is one whole bodiless GET."""
    seen = _Collector()
    parser = seen.parser = httptools.HttpRequestParser(seen)
    try:
        parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return None
    if seen.heads != 1 or seen.messages != 1 or seen.body or parser.get_method() != b"GET":
        return None
    url = httptools.parse_url(seen.url)
    path = url.path.decode("ascii")
    if "%" in path:
        path = urllib.parse.unquote(path)
    return path, url.query or b"", seen.headers, seen.keep_alive


def assert_agrees(data: bytes) -> ScannedGet | None:
    scanned = scan_get(data)
    if scanned is not None:
        assert scanned == httptools_view(data), data
    return scanned


# Characters that make a head unusual somewhere: separators, whitespace, controls,
# obs-text, the characters of framing and of targets.
_ODD = st.sampled_from(
    [b" ", b"\t", b":", b"\r", b"\n", b"\x00", b"\x7f", b"\x80", b"\xff", b"#", b"?", b"%", b'"']
)
_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABC-_.0123456789", min_size=1, max_size=12)
_NAMES = st.one_of(
    st.sampled_from(
        [
            "Host",
            "Authorization",
            "apikey",
            "Origin",
            "If-None-Match",
            "X-Forwarded-For",
            "Connection",
            "connection",
            "Proxy-Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Expect",
            "Upgrade",
            "X-Request-ID",
        ]
    ),
    _TOKEN,
).map(str.encode)
_VALUES = st.one_of(
    st.sampled_from(
        ["close", "keep-alive", "Close", "upgrade", "keep-alive, close", "0", "chunked", "*"]
    ).map(str.encode),
    st.binary(max_size=20),
    st.lists(st.one_of(_TOKEN.map(str.encode), _ODD), max_size=6).map(b"".join),
)
_SEPARATORS = st.sampled_from([b": ", b":", b":  ", b":\t", b" : ", b": \t"])
_ENDINGS = st.sampled_from([b"\r\n"] * 8 + [b"\n", b"\r", b" \r\n", b"\t\r\n"])
_TARGETS = st.one_of(
    st.sampled_from(
        [
            "/v1/ephemeris/mars?at=2026-11-24T12:00:00Z",
            "/v1/ephemeris/m%61rs",
            "/v1/prices/BTC",
            "//v1/x?y",
            "/a?b?c",
            "/a#frag",
            "*",
            "http://host/v1/prices/BTC",
            "/%zz",
            "/%C3%A9",
            "/",
        ]
    ).map(str.encode),
    st.lists(st.one_of(_TOKEN.map(str.encode), _ODD, st.just(b"/")), max_size=8).map(
        lambda parts: b"/" + b"".join(parts)
    ),
)
_METHODS = st.sampled_from([b"GET"] * 6 + [b"get", b"POST", b"HEAD", b"GET ", b" GET"])
_VERSIONS = st.sampled_from(
    [b"HTTP/1.1"] * 4 + [b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b"HTTP/1.2"]
)
_TAILS = st.sampled_from(
    [b""] * 6 + [b"GET / HTTP/1.1\r\n\r\n", b"x", b"\r\n", b"0\r\n\r\n", b"hello"]
)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    line = draw(_METHODS) + b" " + draw(_TARGETS) + b" " + draw(_VERSIONS) + draw(_ENDINGS)
    fields = draw(
        st.lists(st.tuples(_NAMES, _SEPARATORS, _VALUES, _ENDINGS), min_size=0, max_size=6)
    )
    if draw(st.booleans()):
        fields = [(n, b": ", v, b"\r\n") for n, _, v, _ in fields]  # well-formed lines
    prefix = draw(st.sampled_from([b""] * 8 + [b"\r\n", b" "]))
    block = b"".join(n + s + v + e for n, s, v, e in fields)
    return prefix + line + block + draw(_ENDINGS) + draw(_TAILS)


@EXAMPLES
@given(heads())
def test_generated_heads_are_read_as_httptools_reads_them_or_left_to_it(data: bytes) -> None:
    assert_agrees(data)


@EXAMPLES
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_never_read_differently(data: bytes) -> None:
    assert_agrees(b"GET /" + data)
    assert_agrees(data)


REQUEST = (
    b"GET /v1/ephemeris/mars?at=2026-11-24T12:00:00Z HTTP/1.1\r\n"
    b'Host: 127.0.0.1:8000\r\nAuthorization: Bearer abc\r\nIf-None-Match: "x"\r\n\r\n'
)


def test_a_plain_get_is_read() -> None:
    assert assert_agrees(REQUEST) == (
        "/v1/ephemeris/mars",
        b"at=2026-11-24T12:00:00Z",
        [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", b"Bearer abc"),
            (b"if-none-match", b'"x"'),
        ],
        True,
    )


def test_a_head_cut_anywhere_is_left_to_httptools() -> None:
    for cut in range(len(REQUEST)):
        assert scan_get(REQUEST[:cut]) is None, cut


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET /a HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n", True),
        (b"GET /a HTTP/1.0\r\n\r\n", False),
        (b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
        (b"GET /a HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", False),
    ],
)
def test_keep_alive_is_what_uvicorn_decides(head: bytes, keep_alive: bool) -> None:
    scanned = assert_agrees(head)
    assert scanned is not None
    assert scanned[3] is keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"GET /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        b"GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET /a HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
        b"GET /a HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",  # pipelined
        b"GET /a HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  # obs-fold
        b"GET /a HTTP/1.1\r\nX: a \r\n\r\n",  # trailing whitespace
        b"GET /a HTTP/1.1\r\nX:\r\n\r\n",  # empty value
        b"GET /a HTTP/1.1\r\nX: \xe9\r\n\r\n",  # obs-text
        b"GET /a HTTP/1.1\nHost: x\n\n",  # bare LF
        b"\r\nGET /a HTTP/1.1\r\n\r\n",  # leading blank line
        b"GET /a#f HTTP/1.1\r\n\r\n",
        b"GET http://h/a HTTP/1.1\r\n\r\n",
        b"HEAD /a HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/2.0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nX : y\r\n\r\n",
    ],
)
def test_anything_unusual_is_left_to_httptools(head: bytes) -> None:
    assert scan_get(head) is None
