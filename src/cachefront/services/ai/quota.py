"""Per-caller quotas and the usage ledger: the ``UsageGate`` with limits.

A reservation holds a request's maximum (``estimate.maximum_tokens``) against the
caller's tokens of the UTC day and counts one request of the minute, atomically across
every server of the deployment: in Redis when there is one (``quota_redis.py``, one Lua
script), else in the caller's PostgreSQL row (``quota_postgres.py``, one conditional
upsert); a call made while Redis does not answer is held in PostgreSQL. Past a limit
the caller gets a 429 in OpenAI's format with ``Retry-After`` and the ``x-ratelimit-*``
headers. Settling replaces the hold with what the call used, in the store that held
it. Every call's ledger row, and every cache hit's (its cost as saved), goes to the
``LedgerWriter``, which writes them to PostgreSQL in batches off the request path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from cachefront.services.ai.ledger_writer import LedgerRow, LedgerWriter
from cachefront.services.ai.openai_errors import AiRequestError
from cachefront.services.ai.prices import PriceTable
from cachefront.services.ai.quota_headers import QuotaState, ratelimit_headers
from cachefront.services.ai.quota_postgres import (
    QUERIES,
    Held,
    PostgresCounters,
    as_someone,
)
from cachefront.services.ai.usage import CallUsage, Reservation

__all__ = ["QUERIES", "Counters", "QuotaGate", "QuotaLimits", "used_on_day"]

log = logging.getLogger(__name__)

# What "no limit" is written as in the reservation's comparison.
_UNLIMITED = 2**62
# Callers whose last counters this process remembers, for the headers of cache hits.
_KNOWN_CALLERS = 10_000


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    daily_tokens: int | None = None
    requests_per_minute: int | None = None

    @property
    def any(self) -> bool:
        return self.daily_tokens is not None or self.requests_per_minute is not None


class Counters(Protocol):
    """Where holds are counted: ``quota_redis.RedisCounters`` or ``PostgresCounters``."""

    name: str

    async def hold(
        self, owner: str, now: datetime, tokens: int, day_limit: int, minute_limit: int
    ) -> Held: ...

    async def settle(self, owner: str, day: date, reserved: int, used: int) -> None: ...

    async def read(self, owner: str, now: datetime) -> tuple[int, int]: ...

    async def aclose(self) -> None: ...


async def used_on_day(engine: AsyncEngine, owner: str, day: date) -> int:
    """The tokens ``owner``'s provider calls used on ``day``, by the ledger."""
    start = datetime.combine(day, time.min, UTC)
    params = {"owner": owner, "start": start, "end": start + timedelta(days=1)}
    with as_someone():
        async with engine.connect() as conn:
            return int((await conn.execute(QUERIES.text("used_on_day"), params)).scalar_one())


class QuotaGate:
    """Holds and settles each caller's tokens and requests; keeps every call's ledger row."""

    def __init__(
        self,
        engine: AsyncEngine,
        limits: QuotaLimits,
        prices: PriceTable,
        *,
        shared: Counters | None = None,
        ledger: LedgerWriter | None = None,
    ) -> None:
        """``shared``: the Redis counters, when the deployment has a Redis."""
        self.engine = engine
        self.limits = limits
        self.prices = prices
        self.fallback = PostgresCounters(engine)
        self.shared = shared
        self.ledger = ledger or LedgerWriter(engine)
        # Each caller's counters as this process last saw them: a cache hit's
        # x-ratelimit-* headers come from here rather than from a round trip.
        self._known: dict[str, QuotaState] = {}

    def _stores(self) -> dict[str, Counters]:
        stores: dict[str, Counters] = {self.fallback.name: self.fallback}
        if self.shared is not None:
            stores[self.shared.name] = self.shared
        return stores

    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        if not self.limits.any:
            return Reservation(namespace, provider, model, 0)
        now = datetime.now(UTC)
        day_limit = self.limits.daily_tokens or _UNLIMITED
        minute_limit = self.limits.requests_per_minute or _UNLIMITED
        store: Counters = self.fallback
        held: Held | None = None
        if self.shared is not None:
            try:
                held = await self.shared.hold(namespace, now, tokens, day_limit, minute_limit)
                store = self.shared
            except RedisError as exc:
                log.warning(
                    "ai quotas: Redis unavailable, holding in PostgreSQL: %s",
                    type(exc).__name__,
                    extra={"action": "ai.quota_redis_down"},
                )
        if held is None:
            held = await self.fallback.hold(namespace, now, tokens, day_limit, minute_limit)
        state = QuotaState(now, held.day_tokens, held.minute_requests, *self._limit_pair())
        self._remember(namespace, state)
        if not held.admitted:
            raise self._refusal(state, tokens)
        return Reservation(namespace, provider, model, tokens, now.date(), store.name, state)

    async def check(self, namespace: str, tokens: int) -> QuotaState | None:
        """The caller's counters, or the 429 a hold of ``tokens`` would get; nothing held."""
        if not self.limits.any:
            return None
        now = datetime.now(UTC)
        used, requests = await self.counters_of(namespace, now)
        state = QuotaState(now, used, requests, *self._limit_pair())
        daily = self.limits.daily_tokens
        if state.requests_exhausted() or (daily is not None and used + tokens > daily):
            raise self._refusal(state, tokens)
        return state

    def _remember(self, namespace: str, state: QuotaState) -> None:
        self._known.pop(namespace, None)
        if len(self._known) >= _KNOWN_CALLERS:
            del self._known[next(iter(self._known))]
        self._known[namespace] = state

    async def current(self, namespace: str) -> QuotaState | None:
        """The caller's counters now: as this process last saw them, else read once."""
        if not self.limits.any:
            return None
        now = datetime.now(UTC)
        known = self._known.get(namespace)
        if known is not None:
            return known.at(now)
        used, requests = await self.counters_of(namespace, now)
        state = QuotaState(now, used, requests, *self._limit_pair())
        self._remember(namespace, state)
        return state

    async def counters_of(self, namespace: str, now: datetime) -> tuple[int, int]:
        """The caller's tokens of the day and requests of the minute, where they are held."""
        try:
            return await (self.shared or self.fallback).read(namespace, now)
        except RedisError:
            return await self.fallback.read(namespace, now)

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
        if not usage.called:
            used = 0
        elif usage.ok and usage.prompt_tokens is None and usage.completion_tokens is None:
            # The provider said nothing of its usage: the hold stands as what was used.
            used = reservation.tokens
        else:
            used = prompt + completion
        if usage.called:
            self.record(reservation, usage)
        if reservation.day is None or reservation.counter is None:
            return
        known = self._known.get(reservation.namespace)
        if known is not None and known.day == reservation.day:
            known.day_tokens = max(0, known.day_tokens - reservation.tokens + used)
        store = self._stores().get(reservation.counter, self.fallback)
        try:
            await store.settle(reservation.namespace, reservation.day, reservation.tokens, used)
        except RedisError:
            log.warning(
                "ai quotas: could not settle a hold in Redis; it stands until the day ends",
                extra={"action": "ai.quota_settle_failed"},
            )

    def record(self, reservation: Reservation, usage: CallUsage) -> None:
        """The ledger row of one provider call (also of one attempt the chain moved past)."""
        prompt = usage.prompt_tokens or 0
        completion = usage.completion_tokens or 0
        self.ledger.add(
            LedgerRow(
                reservation.namespace,
                datetime.now(UTC),
                usage.provider or reservation.provider,
                usage.model or reservation.model,
                prompt,
                completion,
                usage.latency_ms,
                self.prices.cost(usage.model or reservation.model, prompt, completion),
                0.0,
                False,
                usage.ok,
            )
        )

    def cache_hit(
        self, namespace: str, provider: str, model: str, usage: tuple[int | None, int | None]
    ) -> None:
        prompt, completion = usage[0] or 0, usage[1] or 0
        saved = self.prices.cost(model, prompt, completion)
        self.ledger.add(
            LedgerRow(
                namespace,
                datetime.now(UTC),
                provider,
                model,
                prompt,
                completion,
                0.0,
                0.0,
                saved,
                True,
                True,
            )
        )

    async def aclose(self) -> None:
        await self.ledger.aclose()
        await self.fallback.aclose()
        if self.shared is not None:
            await self.shared.aclose()
