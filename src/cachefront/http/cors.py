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
- Beyond the platform's request headers, a room may declare the ones its clients send
  (``cors_request_headers``: exact names, or a prefix ending in ``*`` for a family of
  headers an SDK adds, e.g. ``x-sdk-*``). Access-Control-Allow-Headers cannot express a
  prefix, so a preflight asking for such headers gets them named back one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cachefront.http.wire import Header

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_METHODS",
    "DEFAULT_PREFLIGHT_MAX_AGE_SECONDS",
    "EXPOSED_HEADERS",
    "CorsPolicy",
    "Preflight",
    "cors_request_headers_of",
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
_PREFIX_MARK = "*"


def cors_request_headers_of(rooms: Sequence[object]) -> list[str]:
    """The request headers the rooms declare (``cors_request_headers``, optional: most
    rooms have none), each once."""
    found: dict[str, str] = {}
    for room in rooms:
        for name in getattr(room, "cors_request_headers", ()):
            found.setdefault(name.lower(), name)
    return list(found.values())


def _split_request_headers(declared: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(names, prefixes)`` of the declared headers; ValueError for a bare ``*``."""
    names: list[str] = []
    prefixes: list[str] = []
    for entry in declared:
        entry = entry.strip()
        if entry.endswith(_PREFIX_MARK):
            prefix = entry.removesuffix(_PREFIX_MARK)
            if not prefix or _PREFIX_MARK in prefix:
                # A bare "*" would let a browser send any header at all.
                raise ValueError(f"CORS request header {entry!r}: a prefix needs a name part")
            prefixes.append(prefix)
        elif entry and _PREFIX_MARK not in entry:
            names.append(entry)
        else:
            raise ValueError(f"CORS request header {entry!r} is not a header name or prefix")
    return names, prefixes


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
        request_headers: Iterable[str] = (),
        max_age_seconds: int = DEFAULT_PREFLIGHT_MAX_AGE_SECONDS,
    ) -> None:
        """``request_headers``: the rooms' own, beyond ``ALLOWED_HEADERS`` (names, or
        prefixes ending in ``*``)."""
        listed = tuple(origins)
        names, prefixes = _split_request_headers(request_headers)
        known = {h.lower() for h in ALLOWED_HEADERS}
        allowed = [*ALLOWED_HEADERS, *(n for n in names if n.lower() not in known)]
        self._headers = frozenset(h.lower().encode() for h in allowed)
        self._prefixes = tuple(p.lower().encode() for p in prefixes)
        self._allowed_text = ", ".join([*allowed, *(p + _PREFIX_MARK for p in prefixes)])
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
        self._allow_headers = ", ".join(allowed).encode()
        self._preflight_fixed = (
            (b"access-control-allow-methods", ", ".join(ALLOWED_METHODS).encode()),
            (b"access-control-max-age", b"%d" % max_age_seconds),
        )
        self._allow_headers_fixed = (b"access-control-allow-headers", self._allow_headers)

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
        # Headers allowed by a prefix only: named back, as the answer has no wildcards.
        by_prefix: list[bytes] = []
        if request_headers:
            for name in request_headers.split(b","):
                name = name.strip().lower()
                if not name or name in self._headers:
                    continue
                if self._prefixes and name.startswith(self._prefixes):
                    by_prefix.append(name)
                    continue
                return self._refused(
                    f"request header {name.decode('latin-1')!r} is not allowed "
                    f"(allowed: {self._allowed_text})"
                )
        allow = (b"access-control-allow-origin", b"*" if self.any_origin else origin)
        allow_headers = self._allow_headers_fixed
        if by_prefix:
            listed = b", ".join([self._allow_headers, *by_prefix])
            allow_headers = (b"access-control-allow-headers", listed)
        return Preflight(
            204, (allow, allow_headers, *self._preflight_fixed, *self._preflight_vary), None
        )

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
