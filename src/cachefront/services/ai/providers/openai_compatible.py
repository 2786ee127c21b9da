"""One OpenAI-compatible provider: plain calls through the platform's client, streams beside it.

Plain calls (chat completions, embeddings) go through the platform's
``UpstreamClient``: its deadline, retries honouring Retry-After, breaker and budget.
That client reads every body whole, so a stream cannot pass through it; streams are
made here with a client of the provider's own that keeps the same rules: the breaker
is asked before and told the verdict after, every attempt spends one unit of the
same outbound budget, and 429/5xx answers are retried, before the first byte only,
after the wait the provider asks (``retry-after`` or ``x-ratelimit-reset-*``) or a
jittered backoff, all within the request's deadline. Each stream is counted in the
platform's upstream metrics as one call once it ends, as the client counts plain calls.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cachefront.errors import (
    BudgetExhaustedError,
    CircuitOpenError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from cachefront.services.ai.providers.sse import sse_payloads
from cachefront.services.ai.providers.wait_hints import wait_hint
from cachefront.upstream import NetworkTransport, RetryPolicy, UpstreamClient
from cachefront.upstream.breaker import Admission, Verdict
from cachefront.upstream.records import Outcome, UpstreamCallRecord

__all__ = ["OpenAICompatibleProvider", "ProviderAnswer", "ProviderFailure", "ProviderStream"]

DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """A provider's 2xx answer to a plain call: its JSON body as received."""

    body: bytes


class ProviderFailure(UpstreamError):
    """The provider refused the request itself (a 4xx other than 429): no other provider
    would do better, so the caller gets this status, not a fallback."""

    def __init__(self, provider: str, status_code: int, message: str) -> None:
        super().__init__(provider, f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


# Statuses that say the request is at fault, whichever provider gets it.
_REQUEST_FAULTS = frozenset({400, 404, 413, 422})


def _provider_message(body: bytes) -> str:
    """The provider's error message, cut short; never its headers (they may echo a key)."""
    import orjson

    try:
        doc = orjson.loads(body)
        message = doc["error"]["message"]
        if isinstance(message, str):
            return message[:500]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    return "the provider refused the request"


class ProviderStream:
    """An open stream of server-sent events: ``events()`` yields each ``data`` payload."""

    def __init__(
        self,
        provider: OpenAICompatibleProvider,
        response: httpx.Response,
        admission: Admission,
        deadline_at: float,
        call: _StreamCall,
    ) -> None:
        self._provider = provider
        self._response = response
        self._admission = admission
        self._deadline_at = deadline_at
        self._call = call
        self._released = False

    async def events(self) -> AsyncIterator[bytes]:
        """The payloads in order, ``[DONE]`` last when the provider sent it."""
        verdict: Verdict = "failure"
        try:
            async with asyncio.timeout_at(_loop_time(self._deadline_at)):
                async for payload in sse_payloads(self._response.aiter_bytes()):
                    yield payload
                    if payload == DONE:
                        verdict = "success"
        except TimeoutError:
            self._call.ended("timeout", "the stream did not finish within the deadline")
            raise UpstreamTimeoutError(
                self._provider.name, "the stream did not finish within the deadline"
            ) from None
        except httpx.HTTPError as exc:
            self._call.ended("connect_error", f"the stream broke: {type(exc).__name__}")
            raise UpstreamError(
                self._provider.name, f"the stream broke: {type(exc).__name__}"
            ) from None
        finally:
            if verdict == "success":
                self._call.ended("ok", None)
            else:
                self._call.ended("http_error", "the stream ended before [DONE]")
            await self._close(verdict)

    async def _close(self, verdict: Verdict) -> None:
        if self._released:
            return
        self._released = True
        await self._response.aclose()
        self._provider.client.breaker.release(self._admission, verdict)


class _StreamCall:
    """One streamed call as the upstream metrics count it: recorded once, when it ends."""

    def __init__(self, client: UpstreamClient, url: str) -> None:
        self._client = client
        self._url = url
        self._started_at = time.time()
        self._started = time.perf_counter()
        self.attempts = 0
        self.status: int | None = None
        self._recorded = False

    def ended(self, outcome: Outcome, error: str | None) -> None:
        if self._recorded:
            return
        self._recorded = True
        self._client.record(
            UpstreamCallRecord(
                ts=self._started_at,
                provider=self._client.provider,
                method="POST",
                url=self._url,
                status=self.status,
                latency_ms=(time.perf_counter() - self._started) * 1000.0,
                attempts=max(self.attempts, 1),
                outcome=outcome,
                priority="user",
                error=error,
            )
        )


def _outcome_of(exc: BaseException) -> Outcome:
    if isinstance(exc, UpstreamTimeoutError):
        return "timeout"
    if isinstance(exc, (UpstreamStatusError, ProviderFailure)):
        return "http_error"
    if isinstance(exc, CircuitOpenError):
        return "circuit_open"
    if isinstance(exc, BudgetExhaustedError):
        return "budget_exhausted"
    return "connect_error"


# Every phase of an attempt gets what is left of the deadline, as httpx.Timeout(s) did.
_TIMEOUTS = ("connect", "read", "write", "pool")


def _loop_time(monotonic_at: float) -> float:
    # asyncio's clock is time.monotonic on every platform loop cachefront runs on.
    return asyncio.get_running_loop().time() + (monotonic_at - time.monotonic())


class OpenAICompatibleProvider:
    """Calls ``base_url`` (``.../v1``) with the provider's key; the key stays in here."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        client: UpstreamClient,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.client = client
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._stream_headers = {
            **self._headers,
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
        }
        self._retry = retry or client.retry
        self._stream_url = httpx.URL(base_url + "/chat/completions")
        # Streams only; plain calls use the platform's client. Straight to the network
        # transport, not through an httpx client: its send (auth, redirects, cookies,
        # hooks) cost a third of a millisecond before each stream's first byte, and
        # none of it applies here (no proxy from the environment either, as for the
        # platform's client).
        self._network = NetworkTransport()

    def __repr__(self) -> str:
        # Never the headers: they hold the key.
        return f"OpenAICompatibleProvider({self.name!r}, {self.base_url!r})"

    async def aclose(self) -> None:
        await self._network.aclose()

    async def post(self, path: str, body: Mapping[str, Any], deadline: float) -> ProviderAnswer:
        """One plain call (``/chat/completions``, ``/embeddings``): the 2xx body."""
        try:
            response = await self.client.request(
                "POST", self.base_url + path, json=body, headers=self._headers, deadline=deadline
            )
        except UpstreamStatusError as exc:
            if exc.status_code in _REQUEST_FAULTS:
                raise ProviderFailure(self.name, exc.status_code, exc.detail) from None
            raise
        return ProviderAnswer(response.content)

    async def get(self, path: str, deadline: float) -> bytes:
        response = await self.client.request(
            "GET", self.base_url + path, headers=self._headers, deadline=deadline
        )
        return response.content

    async def open_stream(self, body: Mapping[str, Any], deadline: float) -> ProviderStream:
        """Start a streamed chat completion; returns once the provider answered 2xx."""
        deadline_at = time.monotonic() + deadline
        call = _StreamCall(self.client, self.base_url + "/chat/completions")
        admission = self.client.breaker.acquire()
        if admission is Admission.REFUSED:
            call.ended("circuit_open", "circuit breaker open, not called")
            raise CircuitOpenError(self.name, "circuit breaker open, not called")
        try:
            response = await self._open_with_retries(body, deadline_at, call)
        except BaseException as exc:
            verdict: Verdict = "neutral" if isinstance(exc, ProviderFailure) else "failure"
            if isinstance(exc, asyncio.CancelledError):
                verdict = "neutral"
            self.client.breaker.release(admission, verdict)
            call.ended(_outcome_of(exc), str(exc) or type(exc).__name__)
            raise
        call.status = response.status_code
        return ProviderStream(self, response, admission, deadline_at, call)

    async def _open_with_retries(
        self, body: Mapping[str, Any], deadline_at: float, call: _StreamCall
    ) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            call.attempts = attempt
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeoutError(self.name, "no answer within the deadline")
            if self.client.budget is not None:
                await self.client.budget.acquire("user", max_wait=remaining)
            seconds = max(deadline_at - time.monotonic(), 0.001)
            request = httpx.Request(
                "POST",
                self._stream_url,
                # orjson, once per attempt: faster than httpx's own json.dumps.
                content=orjson.dumps(body),
                headers=self._stream_headers,
                extensions={
                    "timeout": {
                        "connect": seconds,
                        "read": seconds,
                        "write": seconds,
                        "pool": seconds,
                    }
                },
            )
            try:
                response = await self._network.handle_async_request(request)
            except httpx.TimeoutException:
                raise UpstreamTimeoutError(self.name, "no answer within the deadline") from None
            except httpx.HTTPError as exc:
                if attempt < self._retry.attempts:
                    await self._sleep(attempt, None, deadline_at)
                    continue
                raise UpstreamError(self.name, f"connection failed: {type(exc).__name__}") from None
            if response.is_success:
                return response
            content = await response.aread()
            await response.aclose()
            status = response.status_code
            call.status = status
            if status in _REQUEST_FAULTS:
                raise ProviderFailure(self.name, status, _provider_message(content))
            if (status == 429 or status >= 500) and attempt < self._retry.attempts:
                await self._sleep(attempt, wait_hint(response.headers), deadline_at)
                continue
            raise UpstreamStatusError(self.name, status, response.reason_phrase)

    async def _sleep(self, attempt: int, hint: float | None, deadline_at: float) -> None:
        # Full jitter, unless the provider said how long; never past the deadline.
        pause = hint if hint is not None else random.uniform(0, self._retry.max_sleep(attempt))
        if time.monotonic() + pause >= deadline_at:
            raise UpstreamTimeoutError(
                self.name, f"asked to wait {pause:.2f}s, past the request's deadline"
            )
        await asyncio.sleep(pause)
