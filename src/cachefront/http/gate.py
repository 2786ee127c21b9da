"""The front door every request passes: request id, authentication, access, limits, body size.

``GateApp`` is the outermost ASGI layer, so the hot path and every framework route,
present and future, get the same treatment: it names the request (``X-Request-ID``,
taken from the client when well-formed, else made from a per-process random prefix
and a counter), authenticates the caller, checks the route group's access rule,
counts the request against the group's limit, and refuses bodies over the size limit.
Refusals are answered here as problem+json, with CORS headers for allowed origins so
browsers can read them; admitted requests carry their identity in the scope (and in
``current_identity`` for the database layer) and get the request id and RateLimit
headers added to whatever response they produce.

Failed authentications count per client address (``FAILED_AUTH_GROUP``); past that
limit the address's credentials are refused with 429, unverified, until the window
allows again, so keys and tokens cannot be guessed at request speed. CORS preflights
(no credentials by design) pass unauthenticated, counted as anonymous.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import secrets
import time
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.auth.authenticator import Authenticator
from cachefront.auth.identity import Identity, Role, current_identity
from cachefront.errors import AuthenticationError, NotReadyError
from cachefront.http.problems import PROBLEM_JSON, problem_body
from cachefront.ratelimit import (
    FAILED_AUTH_GROUP,
    SERVICE_ONLY_GROUPS,
    InboundLimiter,
    route_group,
)

__all__ = ["CORS_EXPOSE_HEADERS", "IDENTITY_SCOPE_KEY", "REQUEST_ID_SCOPE_KEY", "GateApp"]

log = logging.getLogger(__name__)

IDENTITY_SCOPE_KEY = "cachefront.identity"
REQUEST_ID_SCOPE_KEY = "cachefront.request_id"
_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Response headers a browser script may read, on admitted responses and refusals alike.
CORS_EXPOSE_HEADERS = (
    "ETag",
    "Age",
    "X-Cache",
    "Cache-Control",
    "X-Request-ID",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
)
# Addresses remembered as refused for failed authentications, before expired ones go.
_BLOCKED_MAX = 10_000


class GateApp:
    """ASGI layer that admits or refuses each HTTP request before anything else runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        limiter: InboundLimiter,
        anon_groups: Iterable[str],
        max_body_bytes: int,
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.anon_groups = frozenset(anon_groups) - SERVICE_ONLY_GROUPS
        self.max_body_bytes = max_body_bytes
        origins = tuple(cors_origins)
        self._cors_any = "*" in origins
        self._cors_origins = frozenset(o.encode() for o in origins)
        self._id_prefix = secrets.token_hex(4).encode() + b"-"
        self._counter = itertools.count(1)
        # Client address -> monotonic time until which its credentials are refused. A
        # per-process memory of the shared count's refusals, so the check costs no
        # round trip; each process learns of a block from the first failure it sees.
        self._blocked: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id = content_length = origin = None
        apikey = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, rest = value.partition(b" ")
                rest = rest.strip()
                token = rest.decode("latin-1") if scheme.lower() == b"bearer" and rest else ""
            elif name == b"apikey":
                apikey = value.strip().decode("latin-1")
            elif name == b"x-request-id":
                request_id = value
            elif name == b"content-length":
                content_length = value
            elif name == b"origin":
                origin = value
        if request_id is None or _REQUEST_ID_OK.match(request_id) is None:
            request_id = b"%s%x" % (self._id_prefix, next(self._counter))
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        rid_header = (b"x-request-id", request_id)
        method: str = scope["method"]
        group = route_group(method, scope["path"])
        client = scope.get("client")
        client_ip = client[0] if client else "unknown"
        credential = token if token is not None else apikey

        if method == "OPTIONS" and origin is not None and _is_preflight(scope):
            identity = self.authenticator.anonymous(client_ip)
        else:
            if credential is not None and self._blocked:
                until = self._blocked.get(client_ip)
                if until is not None:
                    left = until - time.monotonic()
                    if left > 0:
                        retry = (b"retry-after", b"%d" % math.ceil(left))
                        await self._refuse(
                            send, 429, _TOO_MANY_FAILURES, [rid_header, retry], origin
                        )
                        return
                    del self._blocked[client_ip]
            try:
                identity = await self.authenticator.authenticate(credential, client_ip)
            except AuthenticationError as exc:
                await self._failed(send, client_ip, str(exc), rid_header, origin)
                return
            except NotReadyError as exc:
                log.warning(
                    "authentication unavailable: %s",
                    exc,
                    extra={"action": "auth.unavailable", "request_id": request_id.decode()},
                )
                await self._refuse(
                    send, 503, "authentication unavailable", [rid_header, _RETRY_SOON], origin
                )
                return
            if identity.role is not Role.SERVICE and (
                group in SERVICE_ONLY_GROUPS
                or (identity.role is Role.ANON and group not in self.anon_groups)
            ):
                if identity.role is Role.ANON:
                    await self._refuse(
                        send, 401, "credentials required", [rid_header, _WWW_AUTHENTICATE], origin
                    )
                else:
                    await self._refuse(
                        send,
                        403,
                        f"the {identity.role} role may not use this route",
                        [rid_header],
                        origin,
                    )
                return

        verdict = await self.limiter.hit(group, identity.limit_key)
        extra = [rid_header, *verdict.headers]
        if not verdict.allowed:
            extra.append((b"retry-after", b"%d" % verdict.retry_after))
            await self._refuse(
                send, 429, f"rate limit of route group {group!r} reached", extra, origin
            )
            return
        if method in _BODY_METHODS or content_length is not None:
            if content_length is not None and _too_large(content_length, self.max_body_bytes):
                await self._refuse(send, 413, _too_large_detail(self.max_body_bytes), extra, origin)
                return
            receive = _limited(receive, self.max_body_bytes)

        scope[IDENTITY_SCOPE_KEY] = identity
        reset = current_identity.set(identity)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            current_identity.reset(reset)

    async def _failed(
        self,
        send: Send,
        client_ip: str,
        detail: str,
        rid_header: tuple[bytes, bytes],
        origin: bytes | None,
    ) -> None:
        """Refuse credentials that did not verify: 401, or 429 once the address failed too often."""
        verdict = await self.limiter.hit(FAILED_AUTH_GROUP, f"ip:{client_ip}")
        if verdict.allowed:
            await self._refuse(send, 401, detail, [rid_header, _WWW_AUTHENTICATE], origin)
            return
        if len(self._blocked) >= _BLOCKED_MAX:
            now = time.monotonic()
            self._blocked = {ip: t for ip, t in self._blocked.items() if t > now}
            if len(self._blocked) >= _BLOCKED_MAX:
                self._blocked.clear()
        self._blocked[client_ip] = time.monotonic() + verdict.retry_after
        headers = [rid_header, *verdict.headers, (b"retry-after", b"%d" % verdict.retry_after)]
        await self._refuse(send, 429, _TOO_MANY_FAILURES, headers, origin)

    async def _refuse(
        self,
        send: Send,
        status: int,
        detail: str,
        headers: list[tuple[bytes, bytes]],
        origin: bytes | None,
    ) -> None:
        # The CORS layer inside never sees a refusal, so the gate speaks for it; without
        # these headers a browser hides the status and problem from the calling script.
        if origin is not None and (self._cors_any or origin in self._cors_origins):
            headers = [
                *headers,
                (b"access-control-allow-origin", b"*" if self._cors_any else origin),
            ]
            headers.append(_EXPOSE)
            if not self._cors_any:
                headers.append(_VARY_ORIGIN)
        await _refuse(send, status, detail, headers)


_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="cachefront"')
_RETRY_SOON = (b"retry-after", b"5")
_EXPOSE = (b"access-control-expose-headers", ", ".join(CORS_EXPOSE_HEADERS).encode())
_VARY_ORIGIN = (b"vary", b"Origin")
_TOO_MANY_FAILURES = "too many failed authentication attempts from this address"


def _is_preflight(scope: Scope) -> bool:
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def _too_large(content_length: bytes, limit: int) -> bool:
    try:
        return int(content_length) > limit
    except ValueError:
        return True


def _too_large_detail(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (413) once more than ``limit`` body bytes have arrived."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large_detail(limit))
        return message

    return limited_receive


async def _refuse(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = problem_body(status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def identity_of(scope: Scope) -> Identity | None:
    """The identity the gate admitted this request as, or None outside the gate."""
    identity: Identity | None = scope.get(IDENTITY_SCOPE_KEY)
    return identity
