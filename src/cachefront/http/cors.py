"""CORS for browser apps: the headers of every response and the preflight answers, built once.

One ``CorsPolicy`` serves every response, because the gate applies it: its refusals,
hot-path hits and framework routes alike get the same headers, looked up per request
by Origin among tuples built at start (a dictionary lookup on the hot path).

- With a list of origins, every response says ``Vary: Origin``, also when the request
  had no Origin or one not allowed: the headers depend on it, and a shared cache must
  not hand one origin's answer (``Cache-Control: public``) to another. Allowed origins
  get ``Access-Control-Allow-Origin`` echoed and ``Access-Control-Expose-Headers``.
- With ``*``, every response says ``Access-Control-Allow-Origin: *``: the same for
  every caller, so no Vary is needed. Credentials here are headers (Authorization,
  apikey), never cookies, so ``*`` is enough for authenticated calls too.
- Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered 204
  with the allowed methods and headers and a max-age, or 400 problem+json saying which
  origin, method or header is not allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from cachefront.http.wire import Header

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_METHODS",
    "DEFAULT_PREFLIGHT_MAX_AGE_SECONDS",
    "EXPOSED_HEADERS",
    "CorsPolicy",
    "Preflight",
    "preflight_request",
]

ALLOWED_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
# Request headers of the documented API a browser script may send.
ALLOWED_HEADERS = (
    "Authorization",
    "Cache-Control",
    "Content-Type",
    "If-None-Match",
    "apikey",
    "Idempotency-Key",
    "X-Request-ID",
)
# Response headers a browser script may read, beyond the CORS-safelisted ones.
EXPOSED_HEADERS = (
    "ETag",
    "Age",
    "X-Cache",
    "X-Request-ID",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Location",
    "Idempotent-Replayed",
    "Content-Disposition",
    "Server-Timing",
)
# Browsers cap it (Chromium at 2 h); 10 min keeps a changed policy from lingering.
DEFAULT_PREFLIGHT_MAX_AGE_SECONDS = 600

_VARY_ORIGIN: Header = (b"vary", b"Origin")
_EXPOSE: Header = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())
_METHODS = frozenset(m.encode() for m in ALLOWED_METHODS)
_HEADERS = frozenset(h.lower().encode() for h in ALLOWED_HEADERS)


class Preflight:
    """The answer to one preflight: 204 and headers, or 400 and what was not allowed."""

    __slots__ = ("detail", "headers", "status")

    def __init__(self, status: int, headers: tuple[Header, ...], detail: str | None) -> None:
        self.status = status
        self.headers = headers
        self.detail = detail


class CorsPolicy:
    """Which origins may call from a browser, and the headers that tell browsers so."""

    def __init__(
        self,
        origins: Iterable[str],
        *,
        max_age_seconds: int = DEFAULT_PREFLIGHT_MAX_AGE_SECONDS,
    ) -> None:
        listed = tuple(origins)
        self.any_origin = "*" in listed
        if self.any_origin:
            self._any: tuple[Header, ...] = ((b"access-control-allow-origin", b"*"), _EXPOSE)
            self._other: tuple[Header, ...] = self._any
            self._allowed: dict[bytes, tuple[Header, ...]] = {}
            vary: tuple[Header, ...] = ()
        else:
            self._other = (_VARY_ORIGIN,)
            self._allowed = {
                o.encode(): ((b"access-control-allow-origin", o.encode()), _EXPOSE, _VARY_ORIGIN)
                for o in listed
            }
            vary = (_VARY_ORIGIN,)
        # The preflight answer depends on the requested method and headers too.
        self._preflight_vary = (
            *vary,
            (b"vary", b"Access-Control-Request-Method, Access-Control-Request-Headers"),
        )
        self._preflight_fixed = (
            (b"access-control-allow-methods", ", ".join(ALLOWED_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
            (b"access-control-max-age", b"%d" % max_age_seconds),
        )

    def headers(self, origin: bytes | None) -> tuple[Header, ...]:
        """The CORS headers of a response to a request with this Origin (or none)."""
        if origin is None:
            return self._other
        return self._allowed.get(origin, self._other)

    def allows(self, origin: bytes) -> bool:
        return self.any_origin or origin in self._allowed

    def preflight(
        self, origin: bytes, method: bytes | None, request_headers: bytes | None
    ) -> Preflight:
        """The answer to a preflight from ``origin`` asking for ``method`` and headers."""
        if not self.allows(origin):
            return self._refused(f"origin {origin.decode('latin-1')!r} is not allowed")
        if method is None or method.strip() not in _METHODS:
            asked = (method or b"").decode("latin-1")
            return self._refused(
                f"method {asked!r} is not allowed (allowed: {', '.join(ALLOWED_METHODS)})"
            )
        if request_headers:
            for name in request_headers.split(b","):
                name = name.strip().lower()
                if name and name not in _HEADERS:
                    return self._refused(
                        f"request header {name.decode('latin-1')!r} is not allowed "
                        f"(allowed: {', '.join(ALLOWED_HEADERS)})"
                    )
        allow = (b"access-control-allow-origin", b"*" if self.any_origin else origin)
        return Preflight(204, (allow, *self._preflight_fixed, *self._preflight_vary), None)

    def _refused(self, detail: str) -> Preflight:
        return Preflight(400, self._preflight_vary, f"CORS preflight refused: {detail}")


def preflight_request(headers: Iterable[Header]) -> tuple[bytes | None, bytes | None] | None:
    """``(method, headers)`` a CORS preflight asks for, or None when an OPTIONS is not one.

    Raw ASGI headers; Access-Control-Request-Headers is a list, so its lines are joined.
    """
    method = requested = None
    preflight = False
    for name, value in headers:
        if name == b"access-control-request-method":
            method, preflight = value, True
        elif name == b"access-control-request-headers":
            requested = value if requested is None else requested + b"," + value
    return (method, requested) if preflight else None
