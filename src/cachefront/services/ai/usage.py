"""The seam where quotas go: reserve before a provider call, settle after it, note cache hits.

``UnlimitedUsage`` admits every call and keeps nothing (a service built without a
database, unit tests); ``quota.QuotaGate`` holds tokens against each caller's daily
quota and counts requests per minute (in Redis, or PostgreSQL), and keeps the usage
ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from cachefront.services.ai.quota_headers import QuotaState

__all__ = ["CallUsage", "Reservation", "UnlimitedUsage", "UsageGate"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """What was held for one provider call before it was made."""

    namespace: str
    provider: str
    model: str
    tokens: int
    # The UTC day the tokens were held on (None when nothing was held).
    day: date | None = None
    # Which store holds them ("redis", "postgres"), to settle them in the same one.
    counter: str | None = None
    # The caller's counters just after the hold (None without limits).
    state: QuotaState | None = None


@dataclass(frozen=True, slots=True)
class CallUsage:
    """What the call really used, from the provider's ``usage`` (None when it sent none)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    ok: bool
    # False when no provider was called after all (the answer came from another
    # process or the cache): the hold is released and no ledger row is written.
    called: bool = True
    # The provider and model that answered, when not the reservation's.
    provider: str | None = None
    model: str | None = None


class UsageGate(Protocol):
    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        """Hold ``tokens`` for the call; raises a 429 error past the caller's quota."""

    async def check(self, namespace: str, tokens: int) -> QuotaState | None:
        """The caller's counters; raises the 429 a hold of ``tokens`` would get. Holds
        nothing (a caller joining a call in flight)."""

    async def settle(self, reservation: Reservation, usage: CallUsage) -> None:
        """Replace the hold with what the call used (also for failed calls), and write
        the call's ledger row."""

    def record(self, reservation: Reservation, usage: CallUsage) -> None:
        """The ledger row of an attempt the chain moved past; the hold stands."""

    def cache_hit(
        self, namespace: str, provider: str, model: str, usage: tuple[int | None, int | None]
    ) -> None:
        """Note an answer served from cache (its usage counted as saved); never waits."""

    async def current(self, namespace: str) -> QuotaState | None:
        """The caller's counters for the ``x-ratelimit-*`` headers (None: no limits)."""

    async def aclose(self) -> None:
        """Finish what was noted and not yet written."""


class UnlimitedUsage:
    """Admits everything and keeps nothing: the gate until quotas exist."""

    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        return Reservation(namespace, provider, model, tokens)

    async def check(self, namespace: str, tokens: int) -> QuotaState | None:
        return None

    async def settle(self, reservation: Reservation, usage: CallUsage) -> None:
        return None

    def record(self, reservation: Reservation, usage: CallUsage) -> None:
        return None

    def cache_hit(
        self, namespace: str, provider: str, model: str, usage: tuple[int | None, int | None]
    ) -> None:
        return None

    async def current(self, namespace: str) -> QuotaState | None:
        return None

    async def aclose(self) -> None:
        return None
