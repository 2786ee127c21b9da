"""The front door every request passes: request id, authentication, access, limits, body size.

``GateApp`` is the outermost ASGI layer, so the hot path and every framework route,
present and future, get the same treatment: it names the request (``X-Request-ID``,
taken from the client when well-formed, else made from a per-process random prefix
and a counter), finds the client address (``client_address.py``: the peer, or
X-Forwarded-For from trusted proxies), authenticates the caller (its credential read
by the one rule of ``wire.py``, which refuses a credential header sent twice with
different values: 400, before anything is verified), checks the route
group's access rule, counts the request against the group's limit, and refuses
bodies over the size limit. Refusals are answered here as problem+json; admitted
requests carry their identity in the scope (and in ``current_identity`` for the
database layer) and get the request id and RateLimit headers added to whatever
response they produce. With CORS configured, the gate answers preflights and adds
the CORS headers (``cors.py``) to every response, its own refusals included.

Every credential is verified, and one that verifies is admitted under its own limits
whatever else came from its address. Failed verifications count per client address
(``FAILED_AUTH_GROUP``); past that limit the address's further failures are answered
429 instead of 401 (from per-process memory, without another count) and its uncached
API keys are looked up a few at a time (``Authenticator``), so a client that keeps
failing is told to stop and costs little, while users sharing its address (a NAT, a
proxy) are not locked out with it.

Groups charged on success only (``SUCCESS_CHARGED_GROUPS``) are counted on admission,
so concurrent requests cannot overshoot, and the unit is refunded (and charged to the
general group instead) when the response is not 2xx or is an idempotent replay.
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
from cachefront.errors import AuthenticationError, BadRequestError, NotReadyError
from cachefront.http.client_address import ClientAddress
from cachefront.http.cors import CorsPolicy
from cachefront.http.problems import PROBLEM_JSON, problem_body
from cachefront.http.wire import IDENTITY_SCOPE_KEY, REQUEST_ID_SCOPE_KEY, Header, read_head
from cachefront.ratelimit import (
    FAILED_AUTH_GROUP,
    SERVICE_ONLY_GROUPS,
    SUCCESS_CHARGED_GROUPS,
    InboundLimiter,
    Verdict,
    route_group,
)

__all__ = ["GateApp"]

log = logging.getLogger(__name__)

_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Addresses remembered as refused for failed authentications, before expired ones go.
_BLOCKED_MAX = 10_000
# Where refunded requests of success-charged groups, and preflights, are counted.
_GENERAL_GROUP = "general"


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
        cors: CorsPolicy | None = None,
        client_address: ClientAddress | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.anon_groups = frozenset(anon_groups) - SERVICE_ONLY_GROUPS
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        self.client_address = client_address or ClientAddress()
        self._id_prefix = secrets.token_hex(4).encode() + b"-"
        self._counter = itertools.count(1)
        # Client address -> monotonic time until which its failed authentications get
        # 429. A per-process memory of the shared count's refusals, so a throttled
        # failure costs no round trip; each process learns of a block from the first
        # failure it counts.
        self._blocked: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = read_head(scope["headers"])
        request_id, content_length, origin = head.request_id, head.content_length, head.origin
        forwarded = head.forwarded_for
        if request_id is None or _REQUEST_ID_OK.match(request_id) is None:
            request_id = b"%s%x" % (self._id_prefix, next(self._counter))
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        rid_header = (b"x-request-id", request_id)
        method: str = scope["method"]
        group = route_group(method, scope["path"])
        client = scope.get("client")
        client_ip = client[0] if client else "unknown"
        if forwarded:
            resolved = self.client_address.resolve(client_ip, forwarded)
            if resolved != client_ip:
                # Layers inside (``request.client``) see the client the gate counted.
                scope["client"] = (resolved, 0)
                client_ip = resolved
        cors: tuple[Header, ...] = ()
        if self.cors is not None:
            cors = self.cors.headers(origin)
            if method == "OPTIONS" and origin is not None:
                asked = _preflight_request(scope)
                if asked is not None:
                    await self._preflight(send, self.cors, origin, asked, client_ip, rid_header)
                    return

        try:
            credential = head.credential()
        except BadRequestError as exc:
            # Nothing was verified, so there is nothing to count as a failure.
            await _refuse(send, 400, str(exc), [rid_header, *cors])
            return
        # Throttled addresses get every credential checked too, their lookups queued.
        throttled = (
            credential is not None
            and bool(self._blocked)
            and self._blocked.get(client_ip, 0.0) > time.monotonic()
        )
        try:
            identity = await self.authenticator.authenticate(
                credential, client_ip, throttled=throttled
            )
        except AuthenticationError as exc:
            await self._failed(send, client_ip, str(exc), [rid_header, *cors])
            return
        except NotReadyError as exc:
            log.warning(
                "authentication unavailable: %s",
                exc,
                extra={"action": "auth.unavailable", "request_id": request_id.decode()},
            )
            await _refuse(send, 503, "authentication unavailable", [rid_header, _RETRY_SOON, *cors])
            return
        if identity.role is not Role.SERVICE and (
            group in SERVICE_ONLY_GROUPS
            or (identity.role is Role.ANON and group not in self.anon_groups)
        ):
            if identity.role is Role.ANON:
                await _refuse(
                    send, 401, "credentials required", [rid_header, _WWW_AUTHENTICATE, *cors]
                )
            else:
                detail = f"the {identity.role} role may not use this route"
                await _refuse(send, 403, detail, [rid_header, *cors])
            return

        verdict = await self.limiter.hit(group, identity.limit_key)
        extra = [rid_header, *verdict.headers, *cors]
        if not verdict.allowed:
            extra.append((b"retry-after", b"%d" % verdict.retry_after))
            await _refuse(send, 429, f"rate limit of route group {group!r} reached", extra)
            return
        charged_on_success = group in SUCCESS_CHARGED_GROUPS
        if method in _BODY_METHODS or content_length is not None:
            if content_length is not None and _too_large(content_length, self.max_body_bytes):
                detail = _too_large_detail(self.max_body_bytes)
                if charged_on_success:
                    await _refuse(send, 413, detail, self._refunded(extra, group, verdict))
                    await self._uncharge(group, identity, verdict)
                else:
                    await _refuse(send, 413, detail, extra)
                return
            receive = _limited(receive, self.max_body_bytes)

        scope[IDENTITY_SCOPE_KEY] = identity
        reset = current_identity.set(identity)
        try:
            if charged_on_success:
                await self._call_charged_on_success(
                    scope, receive, send, extra, group, identity, verdict
                )
            else:

                async def send_with_headers(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message.get("headers", ()), *extra]
                    await send(message)

                await self.app(scope, receive, send_with_headers)
        finally:
            current_identity.reset(reset)

    async def _call_charged_on_success(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[Header],
        group: str,
        identity: Identity,
        verdict: Verdict,
    ) -> None:
        """Run the app; refund the group's unit unless the answer was a 2xx first answer."""
        succeeded = False

        async def send_noting_outcome(message: Message) -> None:
            nonlocal succeeded
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                succeeded = 200 <= message["status"] < 300 and (
                    (b"idempotent-replayed", b"true") not in headers
                )
                if succeeded:
                    message["headers"] = [*headers, *extra]
                else:
                    message["headers"] = [*headers, *self._refunded(extra, group, verdict)]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_outcome)
        finally:
            # After the response went out: the caller does not wait for this.
            if not succeeded:
                await self._uncharge(group, identity, verdict)

    def _refunded(self, extra: list[Header], group: str, verdict: Verdict) -> list[Header]:
        """``extra`` with the RateLimit headers saying what remains once refunded."""
        kept = [h for h in extra if h not in verdict.headers]
        return [*kept, *self.limiter.refunded_headers(group, verdict)]

    async def _uncharge(self, group: str, identity: Identity, verdict: Verdict) -> None:
        """Refund ``group``'s unit and charge the request to the general group instead."""
        await self.limiter.refund(group, identity.limit_key, verdict)
        await self.limiter.hit(_GENERAL_GROUP, identity.limit_key)

    async def _preflight(
        self,
        send: Send,
        cors: CorsPolicy,
        origin: bytes,
        asked: tuple[bytes | None, bytes | None],
        client_ip: str,
        rid_header: Header,
    ) -> None:
        """Answer a CORS preflight: no credentials by design, counted as anonymous."""
        anonymous = self.authenticator.anonymous(client_ip)
        verdict = await self.limiter.hit(_GENERAL_GROUP, anonymous.limit_key)
        if not verdict.allowed:
            headers = [rid_header, *verdict.headers, *cors.headers(origin)]
            headers.append((b"retry-after", b"%d" % verdict.retry_after))
            detail = f"rate limit of route group {_GENERAL_GROUP!r} reached"
            await _refuse(send, 429, detail, headers)
            return
        answer = cors.preflight(origin, *asked)
        if answer.detail is not None:
            await _refuse(send, answer.status, answer.detail, [rid_header, *answer.headers])
            return
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [rid_header, *answer.headers],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _failed(self, send: Send, client_ip: str, detail: str, headers: list[Header]) -> None:
        """Refuse credentials that did not verify: 401, or 429 once the address failed too often."""
        now = time.monotonic()
        until = self._blocked.get(client_ip)
        if until is not None:
            if until > now:
                retry = (b"retry-after", b"%d" % math.ceil(until - now))
                await _refuse(send, 429, _TOO_MANY_FAILURES, [*headers, retry])
                return
            del self._blocked[client_ip]
        verdict = await self.limiter.hit(FAILED_AUTH_GROUP, f"ip:{client_ip}")
        if verdict.allowed:
            await _refuse(send, 401, detail, [*headers, _WWW_AUTHENTICATE])
            return
        if len(self._blocked) >= _BLOCKED_MAX:
            self._blocked = {ip: t for ip, t in self._blocked.items() if t > now}
            if len(self._blocked) >= _BLOCKED_MAX:
                self._blocked.clear()
        self._blocked[client_ip] = now + verdict.retry_after
        retry = (b"retry-after", b"%d" % verdict.retry_after)
        await _refuse(send, 429, _TOO_MANY_FAILURES, [*headers, *verdict.headers, retry])


_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="cachefront"')
_RETRY_SOON = (b"retry-after", b"5")
_TOO_MANY_FAILURES = "too many failed authentication attempts from this address"


def _preflight_request(scope: Scope) -> tuple[bytes | None, bytes | None] | None:
    """``(method, headers)`` a CORS preflight asks for, or None when this OPTIONS is not one."""
    method = headers = None
    preflight = False
    for name, value in scope["headers"]:
        if name == b"access-control-request-method":
            method, preflight = value, True
        elif name == b"access-control-request-headers":
            headers = value if headers is None else headers + b"," + value
    return (method, headers) if preflight else None


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


async def _refuse(send: Send, status: int, detail: str, headers: list[Header]) -> None:
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
