"""The server side of the direct path: when a request may skip ASGI, and how it is finished.

``serve_directly`` runs in the protocol's headers-complete callback. It hands a request
to the ``DirectResponder`` (``direct.py``) only when skipping the ASGI cycle cannot
change what the client sees:

- a GET with no body (no Content-Length, no Transfer-Encoding), no Expect, no
  Upgrade: its message is complete once its headers are, so nothing more is read
  for it;
- no other request of the connection in flight or queued: answers go out in the
  order requests came (pipelining), and a direct answer is written at once;
- the transport open and not paused for writing (the ASGI path would wait for it to
  drain), no root path, no access log (which the ASGI cycle writes).

Once the responder's bytes are written the request is finished as uvicorn finishes
one (``on_response_complete``: the request count, the keep-alive timer, reading
resumed); a connection not kept alive (``Connection: close``, HTTP/1.0) is closed
after the answer, as uvicorn closes it.
"""

from __future__ import annotations

import logging
import urllib.parse

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cachefront.http.direct import DirectResponder

__all__ = ["serve_directly"]

log = logging.getLogger(__name__)

# Request headers that take a request off the direct path: a body may follow, or the
# connection may change protocol, or the client waits for a 100 first.
_NOT_DIRECT = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})


def serve_directly(protocol: HttpToolsProtocol, responder: DirectResponder) -> bool:
    """Whether the request whose headers just completed was answered directly."""
    cycle = protocol.cycle
    if (cycle is not None and not cycle.response_complete) or protocol.pipeline:
        return False
    parser = protocol.parser
    if parser.get_method() != b"GET" or protocol.root_path or protocol.access_log:
        return False
    transport = protocol.transport
    if protocol.flow.write_paused or transport.is_closing():
        return False
    headers = protocol.headers
    for name, _ in headers:
        if name in _NOT_DIRECT:
            return False
    try:
        parsed = httptools.parse_url(protocol.url)
        path = parsed.path.decode("ascii")
    except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
        return False  # the ASGI path's own handling of it stands
    if "%" in path:
        path = urllib.parse.unquote(path)  # as uvicorn builds the scope's path
    keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
    try:
        answer = responder.respond(
            path,
            parsed.query or b"",
            headers,
            protocol.client,
            protocol.server_state.default_headers,
            keep_alive,
        )
    except Exception:
        # A fault of the direct path must not cost the client its answer (the parser
        # would turn an exception here into a 400): the ASGI path answers instead.
        log.exception("direct path failed; answering through the application")
        return False
    if answer is None:
        return False
    transport.write(answer)
    if not keep_alive:
        transport.close()
    protocol.on_response_complete()
    return True
