"""The server side of the direct path: when a request may skip ASGI, and how it is finished.

Two ways in, one responder (``DirectResponder``, ``direct.py``):

- ``serve_chunk`` runs first, on the bytes the protocol receives at the start of a
  request. When they are exactly one bodiless GET of a fast route (``request_scan.py``),
  it answers before httptools sees them: no parser callback, no scope, no cycle. When
  it does not answer, the bytes go to httptools as if it had not looked.
- ``serve_directly`` runs in the protocol's headers-complete callback, for the requests
  the first way left (a head split over several chunks, pipelined requests).

Either hands a request to the responder only when skipping the ASGI cycle cannot
change what the client sees:

- a GET with no body (no Content-Length, no Transfer-Encoding), no Expect, no
  Upgrade: its message is complete once its headers are, so nothing more is read
  for it;
- no other request of the connection in flight or queued: answers go out in the
  order requests came (pipelining), and a direct answer is written at once;
- the transport open and not paused for writing (the ASGI path would wait for it to
  drain), no root path, no access log (which the ASGI cycle writes).

Once the responder's bytes are written the request is finished as uvicorn finishes
one: the request count (``--limit-max-requests``), uvicorn's keep-alive timer cancelled;
by ``serve_directly`` through ``on_response_complete`` (reading resumed, the keep-alive
timer armed again), by ``serve_chunk`` with the protocol keeping the idle deadline on
its own timer (``GuardedHttpProtocol``). A connection not kept alive (``Connection:
close``, HTTP/1.0) is closed after the answer, as uvicorn closes it.
"""

from __future__ import annotations

import logging
import urllib.parse

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cachefront.http.direct import DirectResponder
from cachefront.http.request_scan import scan_get

__all__ = ["serve_chunk", "serve_directly"]

log = logging.getLogger(__name__)

# Request headers that take a request off the direct path: a body may follow, or the
# connection may change protocol, or the client waits for a 100 first.
_NOT_DIRECT = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})


def serve_chunk(protocol: HttpToolsProtocol, responder: DirectResponder, data: bytes) -> bool:
    """Whether ``data``, all the protocol has of a new request, was answered directly.

    The caller (the protocol) has checked what is its own to check: no bytes of this
    request received before, the header size limit, the connection cap.
    """
    if not data.startswith(responder.request_prefixes):
        return False  # another route (or method): the cheapest test first
    cycle = protocol.cycle
    if (cycle is not None and not cycle.response_complete) or protocol.pipeline:
        return False
    transport = protocol.transport
    if protocol.flow.write_paused or transport.is_closing():
        return False
    scanned = scan_get(data)
    if scanned is None:
        return False
    path, query, headers, keep_alive = scanned
    try:
        answer = responder.respond(
            path, query, headers, protocol.client, protocol.server_state.default_headers, keep_alive
        )
    except Exception:
        log.exception("direct path failed; answering through the application")
        return False
    if answer is None:
        return False
    if protocol.timeout_keep_alive_task is not None:
        # Armed after an answer of the ASGI path; uvicorn cancels it on any new data.
        protocol.timeout_keep_alive_task.cancel()
        protocol.timeout_keep_alive_task = None
    transport.write(answer)
    protocol.server_state.total_requests += 1
    if not keep_alive:
        transport.close()
    return True


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
