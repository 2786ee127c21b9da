"""Circuit breaker per provider: stop calling an upstream that keeps failing, then probe it.

States::

    closed ──(failure_threshold consecutive failed calls)──> open
    open ──(reset_seconds passed)──> half-open
    half-open ──(the one trial call succeeds)──> closed
    half-open ──(the trial call fails)──> open, for another reset_seconds

A "call" is one logical call with all its retries, so one bad minute of an upstream
counts once per caller, not once per attempt. While open, calls are refused without
touching the network (``CircuitOpenError``); in half-open exactly one trial goes
through and the others are refused until it ends.

State is per process and in memory: a breaker reacts to what this process sees, and
reading it (``is_open``) must be cheap and synchronous for callers that pick a
fallback before trying. Whoever must know of a change as it happens (the process's
Prometheus gauge) adds itself to ``listeners``, called on each opening and closing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import httpx

from cachefront.errors import BudgetExhaustedError, CircuitOpenError
from cachefront.upstream.retry import is_retryable_status

__all__ = [
    "DEFAULT_BREAKER",
    "DEFAULT_FAILURE_THRESHOLD",
    "DEFAULT_RESET_SECONDS",
    "Admission",
    "BreakerPolicy",
    "BreakerState",
    "BreakerTransport",
    "CircuitBreaker",
    "Verdict",
]

logger = logging.getLogger(__name__)

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_RESET_SECONDS = 30.0

Verdict = Literal["success", "failure", "neutral"]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` consecutive failed calls, for ``reset_seconds``."""

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    reset_seconds: float = DEFAULT_RESET_SECONDS

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {self.failure_threshold}")
        if self.reset_seconds <= 0:
            raise ValueError(f"reset_seconds must be positive, got {self.reset_seconds}")


DEFAULT_BREAKER = BreakerPolicy()


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admission(StrEnum):
    """What ``CircuitBreaker.acquire`` decided for one call."""

    REFUSED = "refused"
    NORMAL = "normal"
    TRIAL = "trial"


class CircuitBreaker:
    """The breaker state machine; pure apart from the clock, which tests may replace."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy = DEFAULT_BREAKER,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        # Called with the breaker after it opens or closes: synchronous, and must not raise.
        self.listeners: list[Callable[[CircuitBreaker], None]] = []

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.policy.reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def is_open(self) -> bool:
        """True when a call made now would be refused without calling."""
        state = self.state
        return state is BreakerState.OPEN or (
            state is BreakerState.HALF_OPEN and self._trial_in_flight
        )

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def acquire(self) -> Admission:
        """Admit or refuse one call; an admitted call must be ``release``d exactly once."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission.NORMAL
        if state is BreakerState.OPEN or self._trial_in_flight:
            return Admission.REFUSED
        self._trial_in_flight = True
        return Admission.TRIAL

    def release(self, admission: Admission, verdict: Verdict) -> None:
        """Report how an admitted call ended."""
        if admission is Admission.TRIAL:
            self._trial_in_flight = False
            if verdict == "success":
                self._close()
            elif verdict == "failure":
                self._open()
            # neutral: the trial told us nothing; the next call becomes the trial.
            return
        if admission is not Admission.NORMAL or self.state is not BreakerState.CLOSED:
            # A call admitted before the breaker opened: the trial decides from here.
            return
        if verdict == "success":
            self._failures = 0
        elif verdict == "failure":
            self._failures += 1
            if self._failures >= self.policy.failure_threshold:
                self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        logger.warning(
            "upstream %s: circuit breaker open for %.1fs",
            self.name,
            self.policy.reset_seconds,
            extra={"action": "upstream_breaker_open", "provider": self.name},
        )
        self._tell()

    def _close(self) -> None:
        self._opened_at = None
        self._failures = 0
        logger.info(
            "upstream %s: circuit breaker closed",
            self.name,
            extra={"action": "upstream_breaker_closed", "provider": self.name},
        )
        self._tell()

    def _tell(self) -> None:
        for listener in self.listeners:
            listener(self)


def _verdict_for_response(response: httpx.Response) -> Verdict:
    # 429 and 5xx (after retries) mean the upstream cannot serve us now. Any other 4xx
    # means our request was wrong while the upstream answered fine: it is up, so it
    # counts as a success and never towards opening the breaker.
    return "failure" if is_retryable_status(response.status_code) else "success"


def _verdict_for_error(exc: BaseException) -> Verdict:
    # Timeouts and connection errors are the upstream being down. Running out of our
    # own budget, or the caller giving up, says nothing about the upstream.
    if isinstance(exc, BudgetExhaustedError):
        return "neutral"
    if isinstance(exc, httpx.HTTPError):
        return "failure"
    return "neutral"


class BreakerTransport(httpx.AsyncBaseTransport):
    """Refuses calls while the breaker is open; feeds each call's result back to it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, breaker: CircuitBreaker) -> None:
        self._inner = inner
        self._breaker = breaker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        admission = self._breaker.acquire()
        if admission is Admission.REFUSED:
            raise CircuitOpenError(self._breaker.name, "circuit breaker open, not called")
        verdict: Verdict = "neutral"
        try:
            response = await self._inner.handle_async_request(request)
            verdict = _verdict_for_response(response)
            return response
        except BaseException as exc:
            verdict = _verdict_for_error(exc)
            raise
        finally:
            self._breaker.release(admission, verdict)

    async def aclose(self) -> None:
        await self._inner.aclose()
