"""The front door every request passes: request id, authentication, access, limits, body size.

``GateApp`` is the outermost ASGI layer, so the hot path and every framework route,
present and future, get the same treatment: it names the request (``X-Request-ID``,
taken from the client when well-formed, else made from a per-process random prefix
and a counter), finds the client address (``client_address.py``: the peer, or
X-Forwarded-For from trusted proxies), authenticates the caller (its credential read
by the one rule of ``wire.py``, which refuses a credential header sent twice with
different values: 400, before anything is verified), checks the route group's access
rule, counts the request against the group's limit, and refuses bodies over the size
limit. ``__call__`` runs these steps, one method each, in that order; a step that
refuses raises ``_Refusal``, which ``__call__`` answers as problem+json. Admitted
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
from collections.abc import Awaitable, Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cachefront.auth.authenticator import Authenticator
from cachefront.auth.identity import Identity, Role, current_identity
from cachefront.errors import AuthenticationError, BadRequestError, NotReadyError
from cachefront.http.client_address import ClientAddress
from cachefront.http.cors import CorsPolicy, preflight_request
from cachefront.http.problems import PROBLEM_JSON, problem_body
from cachefront.http.wire import (
    IDENTITY_SCOPE_KEY,
    REQUEST_ID_SCOPE_KEY,
    Header,
    RequestHead,
    read_head,
)
from cachefront.ratelimit import (
    FAILED_AUTH_GROUP,
    SERVICE_ONLY_GROUPS,
    SUCCESS_CHARGED_GROUPS,
    InboundLimiter,
    Verdict,
    route_group,
)

__all__ = ["GateApp", "access_refusal"]

log = logging.getLogger(__name__)

_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Addresses remembered as refused for failed authentications, before expired ones go.
_BLOCKED_MAX = 10_000
# Where refunded requests of success-charged groups, and preflights, are counted.
_GENERAL_GROUP = "general"


class _Refusal(Exception):
    """A step's answer in place of the app's: raised by the step, sent by ``__call__``.

    Never leaves the gate. ``then`` runs once the refusal has gone out, for work the
    caller need not wait for (a refund).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        headers: list[Header],
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.then = then


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
        rid_header = (b"x-request-id", self._name(scope, head.request_id))
        client_ip = self._client_ip(scope, head.forwarded_for)
        cors = self.cors_headers(head.origin)
        try:
            # Only an OPTIONS can be a preflight: the others are spared the step's call.
            if scope["method"] == "OPTIONS" and await self._answered_preflight(
                scope, send, head.origin, client_ip, rid_header
            ):
                return
            identity = await self._authenticate(head, client_ip, rid_header, cors)
            group = route_group(scope["method"], scope["path"])
            refused = access_refusal(identity.role, group, self.anon_groups)
            if refused is not None:
                raise _access_refusal(*refused, rid_header, cors)
            verdict = await self.limiter.hit(group, identity.limit_key)
            extra = _counted(group, verdict, rid_header, cors)
            # A GET without Content-Length (every hot-path hit) has no body to bound.
            if scope["method"] in _BODY_METHODS or head.content_length is not None:
                receive = self._limit_body(head, receive, group, identity, verdict, extra)
        except _Refusal as refusal:
            await _refuse(send, refusal.status, refusal.detail, refusal.headers)
            if refusal.then is not None:
                await refusal.then()
            return
        await self._call_with_headers(scope, receive, send, extra, group, identity, verdict)

    # --- the rules the server's direct path shares (``direct.py``): plain and sync ----
    def request_id(self, asked: bytes | None) -> bytes:
        """The request's id: the client's when well-formed, else prefix and counter."""
        if asked is None or _REQUEST_ID_OK.match(asked) is None:
            return b"%s%x" % (self._id_prefix, next(self._counter))
        return asked

    def client_ip_of(self, peer: tuple[str, int] | None, forwarded_for: list[bytes] | None) -> str:
        """The address a request from ``peer`` is counted under (``client_address.py``)."""
        client_ip = peer[0] if peer else "unknown"
        if forwarded_for:
            return self.client_address.resolve(client_ip, forwarded_for)
        return client_ip

    def cors_headers(self, origin: bytes | None) -> tuple[Header, ...]:
        """The CORS headers of every answer to a request with this Origin (none without CORS)."""
        return self.cors.headers(origin) if self.cors is not None else ()

    def throttled(self, credential: str | None, client_ip: str) -> bool:
        """Whether this credential comes from an address refused for failed authentications."""
        return (
            credential is not None
            and bool(self._blocked)
            and self._blocked.get(client_ip, 0.0) > time.monotonic()
        )

    # --- the steps, in the order they run -------------------------------------------
    def _name(self, scope: Scope, asked: bytes | None) -> bytes:
        """The request's id (``request_id``), left in the scope for the layers inside."""
        name = scope[REQUEST_ID_SCOPE_KEY] = self.request_id(asked)
        return name

    def _client_ip(self, scope: Scope, forwarded_for: list[bytes] | None) -> str:
        """The address the request is counted under (``client_ip_of``)."""
        client = scope.get("client")
        client_ip = self.client_ip_of(client, forwarded_for)
        if forwarded_for and client_ip != (client[0] if client else "unknown"):
            # Layers inside (``request.client``) see the client the gate counted.
            scope["client"] = (client_ip, 0)
        return client_ip

    async def _answered_preflight(
        self, scope: Scope, send: Send, origin: bytes | None, client_ip: str, rid_header: Header
    ) -> bool:
        """Whether this was a CORS preflight, now answered; refuses those not allowed.

        Browsers send no credentials on preflights, so they are answered before
        authentication and counted as anonymous in the general group.
        """
        if self.cors is None or origin is None:
            return False
        asked = preflight_request(scope["headers"])
        if asked is None:
            return False
        anonymous = self.authenticator.anonymous(client_ip)
        verdict = await self.limiter.hit(_GENERAL_GROUP, anonymous.limit_key)
        _counted(_GENERAL_GROUP, verdict, rid_header, self.cors.headers(origin))
        answer = self.cors.preflight(origin, *asked)
        headers = [rid_header, *answer.headers]
        if answer.detail is not None:
            raise _Refusal(answer.status, answer.detail, headers)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _authenticate(
        self, head: RequestHead, client_ip: str, rid_header: Header, cors: tuple[Header, ...]
    ) -> Identity:
        """The caller's identity; refuses unreadable, invalid or uncheckable credentials."""
        try:
            credential = head.credential()
        except BadRequestError as exc:
            # Nothing was verified, so there is nothing to count as a failure.
            raise _Refusal(400, str(exc), [rid_header, *cors]) from exc
        # Throttled addresses get every credential checked too, their lookups queued.
        throttled = self.throttled(credential, client_ip)
        try:
            return await self.authenticator.authenticate(credential, client_ip, throttled=throttled)
        except AuthenticationError as exc:
            raise await self._failed(client_ip, str(exc), [rid_header, *cors]) from exc
        except NotReadyError as exc:
            log.warning(
                "authentication unavailable: %s",
                exc,
                extra={"action": "auth.unavailable", "request_id": rid_header[1].decode()},
            )
            raise _Refusal(
                503, "authentication unavailable", [rid_header, _RETRY_SOON, *cors]
            ) from exc

    def _limit_body(
        self,
        head: RequestHead,
        receive: Receive,
        group: str,
        identity: Identity,
        verdict: Verdict,
        extra: list[Header],
    ) -> Receive:
        """``receive``, bounded to the body size limit; refuses a declared larger body."""
        content_length = head.content_length
        if content_length is not None and _too_large(content_length, self.max_body_bytes):
            detail = _too_large_detail(self.max_body_bytes)
            if group in SUCCESS_CHARGED_GROUPS:

                async def uncharge() -> None:
                    await self._uncharge(group, identity, verdict)

                raise _Refusal(413, detail, self._refunded(extra, group, verdict), uncharge)
            raise _Refusal(413, detail, extra)
        return _limited(receive, self.max_body_bytes)

    async def _call_with_headers(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[Header],
        group: str,
        identity: Identity,
        verdict: Verdict,
    ) -> None:
        """Runs the app as ``identity``, adding ``extra`` to the response it starts.

        In a success-charged group the unit is refunded unless the answer is a 2xx
        first answer (not an idempotent replay), and the headers say so.
        """
        charged = group in SUCCESS_CHARGED_GROUPS
        succeeded = not charged

        async def send_with_headers(message: Message) -> None:
            nonlocal succeeded
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if charged:
                    succeeded = 200 <= message["status"] < 300 and (
                        (b"idempotent-replayed", b"true") not in headers
                    )
                added = extra if succeeded else self._refunded(extra, group, verdict)
                message["headers"] = [*headers, *added]
            await send(message)

        scope[IDENTITY_SCOPE_KEY] = identity
        reset = current_identity.set(identity)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            try:
                # After the response went out: the caller does not wait for this.
                if not succeeded:
                    await self._uncharge(group, identity, verdict)
            finally:
                current_identity.reset(reset)

    # --- what the steps share ----------------------------------------------------------
    def _refunded(self, extra: list[Header], group: str, verdict: Verdict) -> list[Header]:
        """``extra`` with the RateLimit headers saying what remains once refunded."""
        kept = [h for h in extra if h not in verdict.headers]
        return [*kept, *self.limiter.refunded_headers(group, verdict)]

    async def _uncharge(self, group: str, identity: Identity, verdict: Verdict) -> None:
        """Refund ``group``'s unit and charge the request to the general group instead."""
        await self.limiter.refund(group, identity.limit_key, verdict)
        await self.limiter.hit(_GENERAL_GROUP, identity.limit_key)

    async def _failed(self, client_ip: str, detail: str, headers: list[Header]) -> _Refusal:
        """The refusal of credentials that did not verify: 401, or 429 once the address
        failed too often."""
        now = time.monotonic()
        until = self._blocked.get(client_ip)
        if until is not None:
            if until > now:
                retry = (b"retry-after", b"%d" % math.ceil(until - now))
                return _Refusal(429, _TOO_MANY_FAILURES, [*headers, retry])
            del self._blocked[client_ip]
        verdict = await self.limiter.hit(FAILED_AUTH_GROUP, f"ip:{client_ip}")
        if verdict.allowed:
            return _Refusal(401, detail, [*headers, _WWW_AUTHENTICATE])
        if len(self._blocked) >= _BLOCKED_MAX:
            self._blocked = {ip: t for ip, t in self._blocked.items() if t > now}
            if len(self._blocked) >= _BLOCKED_MAX:
                self._blocked.clear()
        self._blocked[client_ip] = now + verdict.retry_after
        retry = (b"retry-after", b"%d" % verdict.retry_after)
        return _Refusal(429, _TOO_MANY_FAILURES, [*headers, *verdict.headers, retry])


_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="cachefront"')
_RETRY_SOON = (b"retry-after", b"5")
_TOO_MANY_FAILURES = "too many failed authentication attempts from this address"


def access_refusal(role: Role, group: str, anon_groups: frozenset[str]) -> tuple[int, str] | None:
    """``(status, detail)`` when ``role`` may not use route ``group``, else None.

    The service role may use everything; admin groups are for it alone (403 to others,
    401 to anonymous callers, who may yet bring a credential); anonymous callers may
    use only ``anon_groups``.
    """
    if role is Role.SERVICE:
        return None
    if group in SERVICE_ONLY_GROUPS or (role is Role.ANON and group not in anon_groups):
        if role is Role.ANON:
            return 401, "credentials required"
        return 403, f"the {role} role may not use this route"
    return None


def _access_refusal(
    status: int, detail: str, rid_header: Header, cors: tuple[Header, ...]
) -> _Refusal:
    """The answer to a caller the access rule does not admit; 401 says how to authenticate."""
    if status == 401:
        return _Refusal(status, detail, [rid_header, _WWW_AUTHENTICATE, *cors])
    return _Refusal(status, detail, [rid_header, *cors])


def _counted(
    group: str, verdict: Verdict, rid_header: Header, cors: tuple[Header, ...]
) -> list[Header]:
    """The headers of a request counted in ``group``; refuses it past the group's limit."""
    extra = [rid_header, *verdict.headers, *cors]
    if not verdict.allowed:
        extra.append((b"retry-after", b"%d" % verdict.retry_after))
        raise _Refusal(429, f"rate limit of route group {group!r} reached", extra)
    return extra


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
