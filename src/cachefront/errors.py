"""The cachefront error tree: every domain error the server raises, and when.

    CachefrontError
    ├── ConfigurationError        settings that cannot work (bad URL, unknown provider)
    ├── NotReadyError             a resource used before the app's lifespan opened it
    ├── InvalidInputError         a caller asked for something malformed (HTTP 422)
    │   ├── RangeTooLargeError    a range query past the configured row bound
    │   └── BadRequestError       a request unreadable before its content (HTTP 400)
    ├── NotFoundError             the thing asked for does not exist (HTTP 404)
    ├── ConflictError             the request conflicts with the current state (HTTP 409)
    │   └── QuotaExceededError    the caller's storage quota has no room left
    ├── GoneError                 the thing asked for existed and was removed (HTTP 410)
    ├── AuthenticationError       credentials missing where needed, or not valid (HTTP 401)
    ├── PermissionDeniedError     the caller is known but its role may not do this (HTTP 403)
    ├── RateLimitedError          the caller spent its inbound limit (HTTP 429)
    └── UpstreamError             an upstream could not answer (HTTP 503 when nothing else can)
        ├── UpstreamTimeoutError  the per-request deadline passed
        ├── UpstreamStatusError   the upstream answered with an error status
        ├── UpstreamFormatError   the upstream answered something we cannot parse
        ├── CircuitOpenError      the provider's breaker is open: not even tried
        ├── BudgetExhaustedError  the outbound budget has no room for this call
        └── ProviderBusyError     a local provider's work queue is full: not even queued

Domain code raises these; one handler in ``cachefront.http.problems`` maps them to
RFC 9457 problem+json. Driver errors (httpx, redis, the database) are translated into
these at the module that talks to the driver, with ``raise ... from``. Every error
carries the HTTP status it is answered with as ``status`` (inherited unless a subclass
says otherwise; 500 for those that are the server's fault), and that handler reads it,
so a new error needs no handler of its own.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExhaustedError",
    "CachefrontError",
    "CircuitOpenError",
    "ConfigurationError",
    "ConflictError",
    "GoneError",
    "InvalidInputError",
    "NotFoundError",
    "NotReadyError",
    "PermissionDeniedError",
    "ProviderBusyError",
    "QuotaExceededError",
    "RangeTooLargeError",
    "RateLimitedError",
    "UpstreamError",
    "UpstreamFormatError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
]


class CachefrontError(Exception):
    """Base of every error cachefront raises on purpose."""

    status = 500


class ConfigurationError(CachefrontError):
    """Raised at start when the settings cannot work; the message names the setting."""


class NotReadyError(CachefrontError):
    """Raised when a pool, client or store is used before it was opened."""

    status = 503


class InvalidInputError(CachefrontError):
    """Raised when a caller's input is malformed; ``field`` names what was wrong."""

    status = 422

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class RangeTooLargeError(InvalidInputError):
    """Raised when a range query would return more rows than allowed."""


class BadRequestError(InvalidInputError):
    """Raised when a request is unreadable as such (an empty header), before its content."""

    status = 400


class NotFoundError(CachefrontError):
    """Raised when the thing asked for does not exist."""

    status = 404


class ConflictError(CachefrontError):
    """Raised when a request cannot be done in the current state of what it is about."""

    status = 409


class QuotaExceededError(ConflictError):
    """Raised when the caller's storage quota has no room left for what it asks."""


class GoneError(CachefrontError):
    """Raised when the thing asked for existed and has been removed (an expired result)."""

    status = 410


class AuthenticationError(CachefrontError):
    """Raised when a route needs credentials and none, or no valid ones, were given."""

    status = 401


class PermissionDeniedError(CachefrontError):
    """Raised when an authenticated caller's role may not use the route."""

    status = 403


class RateLimitedError(CachefrontError):
    """Raised when the caller has no room left in its inbound limit; ``retry_after`` in s."""

    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UpstreamError(CachefrontError):
    """Raised when an upstream provider could not give an answer."""

    status = 503

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider
        self.detail = detail


class UpstreamTimeoutError(UpstreamError):
    """Raised when an upstream call ran past its deadline (after retries)."""


class UpstreamStatusError(UpstreamError):
    """Raised when an upstream answered with an error status (after retries)."""

    def __init__(self, provider: str, status_code: int, detail: str = "") -> None:
        super().__init__(provider, f"HTTP {status_code} {detail}".strip())
        self.status_code = status_code


class UpstreamFormatError(UpstreamError):
    """Raised when an upstream's answer cannot be parsed, or reports an error of its own."""


class CircuitOpenError(UpstreamError):
    """Raised without calling when the provider's circuit breaker is open."""


class BudgetExhaustedError(UpstreamError):
    """Raised when the provider's outbound budget has no room left for this call."""


class ProviderBusyError(UpstreamError):
    """Raised at once when a provider computing in-process has no room left in its queue.

    An upstream error like the others, so the next provider is tried and a stale entry
    may answer; with nothing else, 503 with ``Retry-After``.
    """
