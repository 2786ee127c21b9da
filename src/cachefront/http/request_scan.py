"""The direct path's request reader: one whole bodiless GET in one chunk, or nothing.

uvicorn's httptools protocol calls back into Python for the URL, for every header and
for each step of a message, and builds the ASGI scope before the headers are even in;
for a cache hit that is a third of the work of a request. ``scan_get`` reads the usual
request of a client in front of the cache instead: everything it needs in one chunk,
``GET <origin-form target> HTTP/1.x``, plain header lines, the blank line, and nothing
after it. One regular expression checks the whole head against a grammar narrower than
the one httptools accepts, and bytes methods cut it up.

Anything else is None and goes to httptools unchanged, since the parser has not seen
a byte of it: a partial head, a second (pipelined) request, any body or framing header
(Content-Length, Transfer-Encoding), Expect, Upgrade, a Connection other than
``close`` or ``keep-alive``, Proxy-Connection, an absolute or ``*`` target, a fragment,
obs-fold, obs-text, control characters, bare CR or LF, empty header values, trailing
whitespace in a value, leading blank lines, another method or version. When this
reader answers, it answers what httptools and uvicorn would have made of the same
bytes (``tests/unit/http/test_request_scan.py`` compares them on generated heads).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from cachefront.http.wire import Header

__all__ = ["ScannedGet", "scan_get"]

# RFC 9110 tokens for names; values are visible ASCII with inner spaces and tabs, no
# whitespace at the ends (httptools keeps trailing whitespace, which a client in front
# of a cache has no reason to send: such heads are left to it). The target is an
# origin-form path and query of RFC 3986 characters, without a fragment.
_HEAD = re.compile(
    rb"GET (/[-A-Za-z0-9._~!$&'()*+,;=:@/?%]*) HTTP/1\.([01])\r\n"
    rb"((?:[-!#$%&'*+.^_`|~0-9A-Za-z]+:[ \t]*[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?\r\n)*)"
    rb"\r\n\Z"
)
_STRIP = b" \t"
# Headers that take a request off this reader: a body may follow, the client waits for
# a 100, the connection may change protocol, or httptools reads it as Connection.
_HANDED_OVER = frozenset(
    {b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"proxy-connection"}
)

# path (percent-decoded as uvicorn decodes the scope's), query, headers (lowercase
# names, values as httptools gives them), whether the connection stays open after.
ScannedGet = tuple[str, bytes, list[Header], bool]


def scan_get(data: bytes) -> ScannedGet | None:
    """The GET request that ``data`` holds exactly, or None to leave it to httptools."""
    match = _HEAD.match(data)
    if match is None:
        return None
    target, minor, block = match.groups()
    keep_alive = minor == b"1"  # HTTP/1.0 is never kept alive, as in uvicorn's cycle
    headers: list[Header] = []
    if block:
        for line in block[:-2].split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.lower()
            if name in _HANDED_OVER:
                return None
            value = value.lstrip(_STRIP)
            if name == b"connection":
                token = value.lower()
                if token == b"close":
                    keep_alive = False
                elif token != b"keep-alive":
                    return None
            headers.append((name, value))
    raw_path, _, query = target.partition(b"?")
    path = raw_path.decode("ascii")
    if "%" in path:
        path = unquote(path)  # as uvicorn builds the scope's path
    return path, query, headers, keep_alive
