"""UpstreamClient: the one way cachefront calls an upstream provider.

A request goes down a chain of httpx transports, each wrapping the next::

    UpstreamClient.request          deadline, error translation, one record per call
      └─ BreakerTransport           refuse while open; one verdict per logical call
          └─ RetryTransport         attempts, backoff, Retry-After, per-attempt timeout
              └─ BudgetTransport    the call's cost per attempt; holds; usage the upstream reports
                  └─ transport      the network (aiohttp; or a test server / MockTransport)

The breaker sits above the retries so that one logical call counts once towards
opening it; the budget sits below them because every attempt is a request the
upstream counts, and because it must see every answer (a usage header, a hold).
httpx errors become ``cachefront.errors`` here and nowhere else. Each logical call is
a client span of the request's trace when it has one (``cachefront.tracing``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from cachefront import tracing
from cachefront.errors import (
    BudgetExhaustedError,
    CircuitOpenError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from cachefront.lifecycle import AsyncResource
from cachefront.redis_link import RedisLink
from cachefront.upstream._context import CONTEXT_KEY, CallContext, Priority
from cachefront.upstream.breaker import (
    DEFAULT_BREAKER,
    BreakerPolicy,
    BreakerTransport,
    CircuitBreaker,
)
from cachefront.upstream.budget import DEFAULT_BACKGROUND_SHARE, BudgetTransport, OutboundBudget
from cachefront.upstream.network import NetworkTransport
from cachefront.upstream.records import Outcome, Recorder, UpstreamCallRecord
from cachefront.upstream.retry import DEFAULT_RETRY, RetryPolicy, RetryTransport
from cachefront.upstream.signals import NO_SIGNALS, ServerSignals

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "Recorder", "UpstreamClient", "build_upstream_client"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0


@functools.lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL:
    # A client calls a handful of URLs (queries go in ``params``): parse each once.
    return httpx.URL(url)


@functools.lru_cache(maxsize=4096)
def _public(url: httpx.URL) -> str:
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


def _public_url(url: httpx.URL) -> str:
    """The URL as it may be stored: no query string, fragment or credentials."""
    if not url.query and not url.fragment and not url.userinfo:
        return str(url)
    return _public(url)


def _outcome_of(error: UpstreamError) -> Outcome:
    if isinstance(error, UpstreamStatusError):
        return "http_error"
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, BudgetExhaustedError):
        return "budget_exhausted"
    return "connect_error"


class UpstreamClient(AsyncResource):
    """Calls one provider with a deadline, retries, a circuit breaker and an outbound budget.

    The client owns its budget: ``open()`` (or ``async with``) opens it and
    ``aclose()`` closes it together with the connection pool.
    """

    def __init__(
        self,
        provider: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy = DEFAULT_RETRY,
        breaker: BreakerPolicy = DEFAULT_BREAKER,
        budget: OutboundBudget | None = None,
        recorder: Recorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.provider = provider
        self.timeout = timeout
        self.retry = retry
        self.budget = budget
        self.breaker = CircuitBreaker(provider, breaker)
        self._recorder = recorder
        # What latencies are measured with: monotonic seconds; tests hand in a manual clock.
        self._clock = clock
        chain: httpx.AsyncBaseTransport = transport or NetworkTransport()
        if budget is not None:
            chain = BudgetTransport(chain, budget)
        chain = BreakerTransport(RetryTransport(chain, retry), self.breaker)
        self._chain = chain
        # The client builds requests (base headers, timeout, cookies) and owns the
        # chain; calls go down the chain directly (see _send). trust_env=False: proxy
        # settings from the environment would make httpx route requests to transports
        # of its own, around the chain above.
        self._http = httpx.AsyncClient(
            transport=chain,
            headers=headers,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )

    @property
    def breaker_open(self) -> bool:
        """True when a call now would be refused without calling (open, or trial in flight)."""
        return self.breaker.is_open

    async def open(self) -> None:
        if self.budget is not None:
            await self.budget.open()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self.budget is not None:
            await self.budget.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = "user",
        deadline: float | None = None,
        cost: int = 1,
    ) -> httpx.Response:
        """Make one logical call; return the 2xx response with its body read.

        ``deadline`` is in seconds from now (default: the client's ``timeout``) and
        bounds everything: budget waits, holds, attempts and the sleeps between them.
        ``cost`` is what each attempt spends of the outbound budget (the upstream's
        weight of this request). Raises ``UpstreamStatusError``,
        ``UpstreamTimeoutError``, ``CircuitOpenError``, ``BudgetExhaustedError`` (no
        room, or the upstream is on hold) or ``UpstreamError`` (connection failures);
        ``ValueError`` at once for a cost the budget could never admit.
        """
        if self.budget is not None:
            self.budget.check_cost(cost)
        elif cost < 1:
            raise ValueError(f"cost must be at least 1, got {cost}")
        seconds = self.timeout if deadline is None else deadline
        ctx = CallContext.start(seconds, priority, cost)
        request = self._http.build_request(
            method,
            _parsed(url),
            params=params,
            json=json,
            headers=headers,
            extensions={CONTEXT_KEY: ctx},
        )
        with tracing.span(
            f"upstream {self.provider}",
            {
                "cachefront.provider": self.provider,
                "http.request.method": method,
                "server.address": request.url.host,
                "cachefront.cost": cost,
                "cachefront.priority": priority,
            },
            kind="client",
        ) as traced:
            return await self._send(request, ctx, traced)

    async def _send(
        self, request: httpx.Request, ctx: CallContext, traced: tracing.Span
    ) -> httpx.Response:
        started_at = time.time()
        started = self._clock()
        try:
            response = await self._chain.handle_async_request(request)
        except (httpx.HTTPError, UpstreamError) as exc:
            error = self._translate(exc)
            self._record(request, ctx, started_at, started, None, _outcome_of(error), error, traced)
            if error is exc:
                raise
            raise error from exc
        # What httpx's own send would add, and no more: its wrapping of the body in a
        # stream that points back at the response is a reference cycle per call, left
        # to the cyclic collector (40 ms pauses at 200 calls a second); the cookie jar
        # (a session cookie an upstream sets, as Yahoo's) is read only when one came.
        response.request = request
        if "set-cookie" in response.headers:
            self._http.cookies.extract_cookies(response)
        status = response.status_code
        if not response.is_success:
            status_error = UpstreamStatusError(self.provider, status, response.reason_phrase)
            self._record(
                request, ctx, started_at, started, status, "http_error", status_error, traced
            )
            raise status_error
        self._record(request, ctx, started_at, started, status, "ok", None, traced)
        return response

    def _translate(self, exc: httpx.HTTPError | UpstreamError) -> UpstreamError:
        """The one place where httpx errors become cachefront errors."""
        if isinstance(exc, UpstreamError):
            return exc  # raised by our own transports (breaker, budget)
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeoutError(self.provider, f"no answer within the deadline ({exc})")
        if isinstance(exc, httpx.TransportError):
            return UpstreamError(self.provider, f"connection failed: {type(exc).__name__}: {exc}")
        return UpstreamError(self.provider, f"{type(exc).__name__}: {exc}")

    def _record(
        self,
        request: httpx.Request,
        ctx: CallContext,
        started_at: float,
        started: float,
        status: int | None,
        outcome: Outcome,
        error: UpstreamError | None,
        traced: tracing.Span,
    ) -> None:
        if traced is not tracing.NO_SPAN:
            if status is not None:
                traced.set_attribute("http.response.status_code", status)
            traced.set_attribute("cachefront.outcome", outcome)
            traced.set_attribute("cachefront.attempts", ctx.attempts)
        if self._recorder is None:
            return
        record = UpstreamCallRecord(
            ts=started_at,
            provider=self.provider,
            method=request.method,
            url=_public_url(request.url),
            status=status,
            latency_ms=(self._clock() - started) * 1000.0,
            attempts=ctx.attempts,
            outcome=outcome,
            priority=ctx.priority,
            error=None if error is None else str(error),
        )
        self.record(record)

    def record(self, record: UpstreamCallRecord) -> None:
        """Count one call made around this client (a stream read by its caller) as
        ``request`` counts its own, against the request being answered."""
        if self._recorder is None:
            return
        try:
            self._recorder(record)
        except Exception:
            # Losing one metrics record must not fail a call that already succeeded
            # or hide the error the caller is about to get.
            logger.exception(
                "upstream %s: recorder failed",
                self.provider,
                extra={"action": "upstream_record_failed", "provider": self.provider},
            )


def build_upstream_client(
    provider: str,
    *,
    budget_limit: str,
    recorder: Recorder | None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    retry: RetryPolicy = DEFAULT_RETRY,
    breaker: BreakerPolicy = DEFAULT_BREAKER,
    transport: httpx.AsyncBaseTransport | None = None,
    background_share: float = DEFAULT_BACKGROUND_SHARE,
    redis_link: RedisLink | None = None,
    signals: ServerSignals = NO_SIGNALS,
) -> UpstreamClient:
    """An UpstreamClient with an outbound budget of its own, shared via ``redis_link``.

    The budget, its background share and the ``signals`` its answers carry (usage
    header, hold statuses) are the upstream's own (a room's ``UpstreamSpec``);
    ``timeout``, ``retry`` and ``breaker`` are the policies every client of the
    deployment shares, which the composition root reads from the settings.
    """
    budget = OutboundBudget(
        budget_limit,
        name=provider,
        background_share=background_share,
        redis_link=redis_link,
        signals=signals,
    )
    return UpstreamClient(
        provider,
        timeout=timeout,
        retry=retry,
        breaker=breaker,
        budget=budget,
        recorder=recorder,
        transport=transport,
    )
