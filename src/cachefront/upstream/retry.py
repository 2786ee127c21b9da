"""Retry policy for upstream calls: backoff with full jitter, Retry-After, one total deadline.

The sleep before retry ``n`` (``n = 1`` for the first retry) is::

    sleep(n) = uniform(0, min(backoff_max, backoff * 2 ** (n - 1)))

("full jitter"), unless the failed response carried ``Retry-After`` (seconds or an
HTTP-date), in which case the sleep is exactly what the upstream asked for. A call
stops retrying when ``attempts`` were made, or when the next sleep would reach the
call's deadline: a Retry-After longer than the time left means giving up at once
rather than sleeping into a timeout. Each attempt gets the time left as its timeout.

Retried: timeouts, connection and protocol errors, HTTP 429 and 5xx. Any other
status is returned as is on the first attempt (a 4xx means our request was wrong).
A response that put the upstream on hold (``CallContext.held``, set by the budget) is
not retried for a user call, which is to fail fast and be served stale; a background
call sleeps its ``Retry-After``, which is the hold's end, and only then tries again.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from cachefront.upstream._context import CallContext

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BACKOFF_MAX_SECONDS",
    "DEFAULT_BACKOFF_SECONDS",
    "DEFAULT_RETRY",
    "RETRYABLE_ERRORS",
    "RetryPolicy",
    "RetryTransport",
    "is_retryable_status",
    "parse_retry_after",
]

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 10.0

# Errors after which the same request may well succeed. Other transport errors
# (unsupported scheme, bad proxy setup) would fail the same way again.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts one call may make and how long to back off between them."""

    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF_SECONDS
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.backoff < 0 or self.backoff_max < 0:
            raise ValueError("backoff and backoff_max must not be negative")

    def max_sleep(self, retry: int) -> float:
        """The upper bound of the jittered sleep before retry number ``retry`` (from 1)."""
        return min(self.backoff_max, self.backoff * 2.0 ** (retry - 1))


DEFAULT_RETRY = RetryPolicy()


def is_retryable_status(status_code: int) -> bool:
    """429 (slow down) and 5xx (upstream trouble) are worth another try; nothing else is."""
    return status_code == 429 or status_code >= 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    Returns ``None`` when the header is absent or unreadable, so the caller falls back
    to its own backoff; a date in the past means "now" (0 seconds).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means no zone given
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _WaitRetryAfterOrBackoff(wait_base):
    """Sleep what the upstream's Retry-After asks, else the policy's jittered backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.backoff, max=policy.backoff_max)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response):
                asked = parse_retry_after(response.headers.get("retry-after"))
                if asked is not None:
                    return asked
        return float(self._backoff(retry_state))


class _StopAtDeadline(stop_base):
    """Stop when the coming sleep would leave no time for another attempt."""

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self._ctx.remaining()


def _is_retryable_response(result: object) -> bool:
    return isinstance(result, httpx.Response) and is_retryable_status(result.status_code)


class _RetryableResponse:
    """A response worth another attempt of this call: retryable, and no hold in the way."""

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx

    def __call__(self, result: object) -> bool:
        if self._ctx.held and self._ctx.priority == "user":
            return False
        return _is_retryable_response(result)


def _last_outcome(retry_state: RetryCallState) -> httpx.Response:
    # Out of attempts or time: hand back the last response (the client turns it into
    # an UpstreamStatusError) or re-raise the last error, never tenacity's RetryError.
    assert retry_state.outcome is not None  # tenacity sets it before giving up
    response: httpx.Response = retry_state.outcome.result()
    return response


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries the wrapped transport per a ``RetryPolicy`` within the call's deadline.

    Each attempt reads the whole body, so a connection that drops mid-body is retried
    like any other network error and the deadline covers the body too.
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy = DEFAULT_RETRY
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._wait = _WaitRetryAfterOrBackoff(policy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ctx = CallContext.of(request)
        # Most calls succeed at once: the first attempt is made without tenacity, whose
        # objects per call cost CPU and, holding the call's outcome in reference
        # cycles, leave every response to the cyclic collector instead of freeing it.
        first: httpx.Response | BaseException
        try:
            first = await self._attempt(request, ctx)
        except RETRYABLE_ERRORS as exc:
            first = exc
        else:
            if not _RetryableResponse(ctx)(first):
                return first
        return await self._retried(request, ctx, first)

    async def _retried(
        self, request: httpx.Request, ctx: CallContext, first: httpx.Response | BaseException
    ) -> httpx.Response:
        # tenacity runs the whole policy as if from the start; its first "attempt" hands
        # back the outcome already had, so waits and stops see exactly what they would.
        replay = [first]

        async def attempt(request: httpx.Request, ctx: CallContext) -> httpx.Response:
            if replay:
                outcome = replay.pop()
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            return await self._attempt(request, ctx)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._policy.attempts) | _StopAtDeadline(ctx),
            wait=self._wait,
            retry=retry_if_exception_type(RETRYABLE_ERRORS)
            | retry_if_result(_RetryableResponse(ctx)),
            retry_error_callback=_last_outcome,
            reraise=True,
        )
        response: httpx.Response = await retrying(attempt, request, ctx)
        return response

    async def _attempt(self, request: httpx.Request, ctx: CallContext) -> httpx.Response:
        ctx.attempts += 1
        remaining = ctx.remaining()
        if remaining <= 0:
            raise httpx.TimeoutException("deadline passed before the attempt", request=request)
        # httpcore's own timeouts fire first in the common case; the asyncio timeout is
        # the hard stop for a server that trickles bytes slower than any single timeout.
        request.extensions["timeout"] = httpx.Timeout(remaining).as_dict()
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining):
                response = await self._inner.handle_async_request(request)
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
        except TimeoutError as exc:
            waited = time.monotonic() - started
            raise httpx.TimeoutException(
                f"deadline passed after {waited:.3f}s", request=request
            ) from exc
        # httpx sets elapsed when its own stream closes, which never happens for a body
        # read here; the duration of the attempt that answered is what callers expect.
        response.elapsed = timedelta(seconds=time.monotonic() - started)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
