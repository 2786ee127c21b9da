"""The network under every upstream call: aiohttp's HTTP/1.1 client behind httpx's transport.

httpx stays the interface of the upstream chain (its requests, responses, test
transports and errors), and aiohttp carries the bytes: measured on the same calls to
a local provider, httpx's own transport spends ~1.1 ms of CPU a call and aiohttp's
client ~0.3 ms. This module is the one place aiohttp appears. It maps aiohttp's
errors onto the httpx errors the chain retries and translates (a timeout stays a
timeout, a dropped connection a network error), and nothing of aiohttp escapes:
an error it does not know becomes ``httpx.TransportError``.

Bodies are handed to httpx undecoded (``auto_decompress=False``), so httpx decodes
``Content-Encoding`` exactly as it does over its own transport.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx

__all__ = ["NetworkTransport"]

# What one process keeps open to one upstream host, as httpx's own pool does.
_CONNECTIONS_PER_HOST = 100
_KEEPALIVE_SECONDS = 5.0
_DNS_CACHE_SECONDS = 60


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for what aiohttp raised (most specific first)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, (aiohttp.InvalidUrlClientError, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(
        exc,
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
    ):
        # The server closed the connection before the answer was whole, or what it
        # sent was not valid HTTP.
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError, OSError)):
        return httpx.ReadError(message, request=request)
    return httpx.TransportError(message, request=request)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # httpx's defaults (certifi's roots), loaded once per process and shared by every
    # client: loading them took ~20 ms for each of the clients built at start-up.
    return httpx.create_ssl_context()


@contextlib.contextmanager
def _translated(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise _mapped(exc, request) from exc


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as httpx reads it: chunks as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _translated(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # A body read to its end gives the connection back to the pool; one left
        # unread closes it, so no half-read answer meets the next request.
        self._response.release()


class NetworkTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one ``aiohttp.ClientSession``, opened on first use.

    The session belongs to the event loop it was opened on, which is why it is opened
    lazily from inside a request, not when the transport is built.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=_CONNECTIONS_PER_HOST,
                keepalive_timeout=_KEEPALIVE_SECONDS,
                ttl_dns_cache=_DNS_CACHE_SECONDS,
                ssl=_ssl_context(),
            )
            # trust_env=False: no proxy from the environment around the chain's rules.
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=False
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _translated(request):
            response = await self._opened().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=None,
                # Only what httpx sent: aiohttp would add an Accept-Encoding and a
                # User-Agent of its own.
                skip_auto_headers=("Accept-Encoding", "User-Agent"),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
