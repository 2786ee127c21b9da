"""Per-caller quotas in PostgreSQL, and the usage ledger: the ``UsageGate`` with limits.

A reservation holds a request's maximum (``estimate.maximum_tokens``) against the
caller's tokens of the UTC day and counts one request of the minute, in one
conditional upsert of the caller's row (``sql/queries.sql``, ``reserve``): every server
of a deployment serializes on that row's lock, so together they never admit past the
limit. Past it the caller gets a 429 in OpenAI's format with ``Retry-After`` and the
``x-ratelimit-*`` headers. Settling replaces the hold with what the call used and
writes its ledger row in the same transaction. Cache hits are written to the ledger
in the background (their cost as saved), so a hit never waits on the database.

Each statement runs as the request's identity, so row-level security holds the gate
to the caller's own rows; work with no identity (the gateway run without auth) acts
as the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.auth.identity import current_identity
from cachefront.auth.isolation import acting_as_service
from cachefront.db.queries import load_queries
from cachefront.services.ai.openai_errors import AiRequestError
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.quota_headers import QuotaState, minute_of, ratelimit_headers
from cachefront.services.ai.usage import CallUsage, Reservation

__all__ = ["QUERIES", "QuotaGate", "QuotaLimits"]

log = logging.getLogger(__name__)

QUERIES = load_queries("cachefront.services.ai")
# What "no limit" is written as in the reservation's comparison.
_UNLIMITED = 2**62


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    daily_tokens: int | None = None
    requests_per_minute: int | None = None

    @property
    def any(self) -> bool:
        return self.daily_tokens is not None or self.requests_per_minute is not None


@contextlib.contextmanager
def _as_someone() -> Iterator[None]:
    if current_identity.get() is not None:
        yield
        return
    with acting_as_service():
        yield


class QuotaGate:
    """Holds and settles each caller's tokens and requests; writes every call's ledger row."""

    def __init__(self, engine: AsyncEngine, limits: QuotaLimits, prices: PriceTable) -> None:
        self.engine = engine
        self.limits = limits
        self.prices = prices
        self._pending: set[asyncio.Task[None]] = set()

    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        if not self.limits.any:
            return Reservation(namespace, provider, model, 0)
        now = datetime.now(UTC)
        day_limit = self.limits.daily_tokens or _UNLIMITED
        params: dict[str, object] = {
            "owner": namespace,
            "day": now.date(),
            "minute": minute_of(now),
            "tokens": tokens,
            "day_limit": day_limit,
            "minute_limit": self.limits.requests_per_minute or _UNLIMITED,
        }
        with _as_someone():
            async with self.engine.begin() as conn:
                held = None
                if tokens <= day_limit:
                    held = (await conn.execute(QUERIES.text("reserve"), params)).first()
                if held is None:
                    row = (await conn.execute(QUERIES.text("quota_now"), params)).first()
        if held is not None:
            return Reservation(namespace, provider, model, tokens, now.date())
        used, requests = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        raise self._refusal(QuotaState(now, used, requests, *self._limit_pair()), tokens)

    def _limit_pair(self) -> tuple[int | None, int | None]:
        return self.limits.daily_tokens, self.limits.requests_per_minute

    def _refusal(self, state: QuotaState, tokens: int) -> AiRequestError:
        if state.requests_exhausted():
            message = (
                f"Rate limit reached: {state.requests_per_minute} requests per minute. "
                "Try again in the next minute."
            )
        elif state.daily_tokens is not None and tokens > state.daily_tokens:
            message = (
                f"This request may use up to {tokens} tokens, more than the daily limit of "
                f"{state.daily_tokens}; lower max_tokens or shorten the prompt."
            )
        else:
            message = (
                f"Daily token limit reached: {state.day_tokens} of {state.daily_tokens} used "
                f"or held; this request may use up to {tokens}. Lower max_tokens or try "
                "again after midnight UTC."
            )
        headers = {"Retry-After": str(state.retry_after(tokens)), **ratelimit_headers(state)}
        return AiRequestError(429, message, code="rate_limit_exceeded", headers=headers)

    async def settle(self, reservation: Reservation, usage: CallUsage) -> None:
        prompt = usage.prompt_tokens or 0
        completion = usage.completion_tokens or 0
        if usage.ok and usage.prompt_tokens is None and usage.completion_tokens is None:
            # The provider said nothing of its usage: the hold stands as what was used.
            used = reservation.tokens
        else:
            used = prompt + completion
        row = {
            "owner": reservation.namespace,
            "provider": reservation.provider,
            "model": reservation.model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": usage.latency_ms,
            "cost_usd": self.prices.cost(reservation.model, prompt, completion),
            "saved_usd": 0.0,
            "cached": False,
            "ok": usage.ok,
        }
        with _as_someone():
            async with self.engine.begin() as conn:
                if reservation.day is not None:
                    await conn.execute(
                        QUERIES.text("settle"),
                        {
                            "owner": reservation.namespace,
                            "day": reservation.day,
                            "reserved": reservation.tokens,
                            "used": used,
                        },
                    )
                if usage.called:
                    await conn.execute(QUERIES.text("record"), row)

    def cache_hit(
        self, namespace: str, provider: str, model: str, usage: tuple[int | None, int | None]
    ) -> None:
        prompt, completion = usage[0] or 0, usage[1] or 0
        row = {
            "owner": namespace,
            "provider": provider,
            "model": model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": 0.0,
            "cost_usd": 0.0,
            "saved_usd": self.prices.cost(model, prompt, completion),
            "cached": True,
            "ok": True,
        }
        task = asyncio.get_running_loop().create_task(self._write_hit(row))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write_hit(self, row: dict[str, object]) -> None:
        try:
            with _as_someone():
                async with self.engine.begin() as conn:
                    await conn.execute(QUERIES.text("record"), row)
        except Exception:  # a lost ledger row must not fail anything else
            log.warning("could not record a cache hit in the AI ledger", exc_info=True)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
