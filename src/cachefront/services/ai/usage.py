"""The seam where quotas go: reserve before each provider call, settle after it.

This version admits every call; the quota and ledger of a later version implement the
same two methods, so the service does not change when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["CallUsage", "Reservation", "UnlimitedUsage", "UsageGate"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """What was held for one provider call before it was made."""

    namespace: str
    provider: str
    model: str
    tokens: int


@dataclass(frozen=True, slots=True)
class CallUsage:
    """What the call really used, from the provider's ``usage`` (None when it sent none)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    ok: bool


class UsageGate(Protocol):
    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        """Hold ``tokens`` for the call; raises a 429 error past the caller's quota."""

    async def settle(self, reservation: Reservation, usage: CallUsage) -> None:
        """Replace the hold with what the call used (also for failed calls)."""


class UnlimitedUsage:
    """Admits everything and keeps nothing: the gate until quotas exist."""

    async def reserve(self, namespace: str, provider: str, model: str, tokens: int) -> Reservation:
        return Reservation(namespace, provider, model, tokens)

    async def settle(self, reservation: Reservation, usage: CallUsage) -> None:
        return None
