"""The front door every request passes: request id, authentication, access, limits, body size.

``GateApp`` is the outermost ASGI layer, so the hot path and every framework route,
present and future, get the same treatment: it names the request (``X-Request-ID``,
taken from the client when well-formed, else made from a per-process random prefix
and a counter), authenticates the caller, checks the route group's access rule,
counts the request against the group's limit, and refuses bodies over the size limit.
Refusals are answered here as problem+json; admitted requests carry their identity in
the scope (and in ``current_identity`` for the database layer) and get the request id
and RateLimit headers added to whatever response they produce.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.auth.authenticator import Authenticator
from cachefront.auth.identity import Identity, Role, current_identity
from cachefront.errors import AuthenticationError, NotReadyError
from cachefront.http.problems import PROBLEM_JSON, problem_body
from cachefront.ratelimit import SERVICE_ONLY_GROUPS, InboundLimiter, route_group

__all__ = ["IDENTITY_SCOPE_KEY", "REQUEST_ID_SCOPE_KEY", "GateApp"]

log = logging.getLogger(__name__)

IDENTITY_SCOPE_KEY = "cachefront.identity"
REQUEST_ID_SCOPE_KEY = "cachefront.request_id"
_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.anon_groups = frozenset(anon_groups) - SERVICE_ONLY_GROUPS
        self.max_body_bytes = max_body_bytes
        self._id_prefix = secrets.token_hex(4).encode() + b"-"
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id = content_length = None
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
        if request_id is None or _REQUEST_ID_OK.match(request_id) is None:
            request_id = b"%s%x" % (self._id_prefix, next(self._counter))
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        rid_header = (b"x-request-id", request_id)
        method: str = scope["method"]
        group = route_group(method, scope["path"])
        client = scope.get("client")

        try:
            identity = await self.authenticator.authenticate(
                token if token is not None else apikey, client[0] if client else "unknown"
            )
        except AuthenticationError as exc:
            await _refuse(send, 401, str(exc), [rid_header, _WWW_AUTHENTICATE])
            return
        except NotReadyError as exc:
            log.warning(
                "authentication unavailable: %s",
                exc,
                extra={"action": "auth.unavailable", "request_id": request_id.decode()},
            )
            await _refuse(send, 503, "authentication unavailable", [rid_header, _RETRY_SOON])
            return
        if identity.role is not Role.SERVICE and (
            group in SERVICE_ONLY_GROUPS
            or (identity.role is Role.ANON and group not in self.anon_groups)
        ):
            if identity.role is Role.ANON:
                await _refuse(send, 401, "credentials required", [rid_header, _WWW_AUTHENTICATE])
            else:
                await _refuse(
                    send, 403, f"the {identity.role} role may not use this route", [rid_header]
                )
            return

        verdict = await self.limiter.hit(group, identity.limit_key)
        extra = [rid_header, *verdict.headers]
        if not verdict.allowed:
            extra.append((b"retry-after", b"%d" % verdict.retry_after))
            await _refuse(send, 429, f"rate limit of route group {group!r} reached", extra)
            return
        if method in _BODY_METHODS or content_length is not None:
            if content_length is not None and _too_large(content_length, self.max_body_bytes):
                await _refuse(send, 413, _too_large_detail(self.max_body_bytes), extra)
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


_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="cachefront"')
_RETRY_SOON = (b"retry-after", b"5")


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
