"""The per-call state the upstream transports share through ``request.extensions``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import httpx

__all__ = ["CONTEXT_KEY", "CallContext", "Priority"]

Priority = Literal["user", "background"]

# httpx carries ``request.extensions`` through every transport untouched, so the
# deadline and priority of a call travel with it instead of through globals.
CONTEXT_KEY = "cachefront.upstream"

# Used only when a transport is driven without the client (tests, ad-hoc chains).
_FALLBACK_DEADLINE_SECONDS = 30.0


@dataclass(slots=True)
class CallContext:
    """One logical call: its absolute deadline (``time.monotonic``), priority, cost, attempts.

    ``cost`` is what each attempt spends of the outbound budget (a request weight).
    ``attempts`` counts attempts started, including one the outbound budget refused.
    ``held`` is True while the latest attempt's response put the upstream on hold, so
    the retries above know not to try again through it.
    """

    deadline: float
    priority: Priority = "user"
    cost: int = 1
    attempts: int = field(default=0)
    held: bool = field(default=False)

    @classmethod
    def start(cls, seconds: float, priority: Priority = "user", cost: int = 1) -> CallContext:
        return cls(deadline=time.monotonic() + seconds, priority=priority, cost=cost)

    @classmethod
    def of(cls, request: httpx.Request) -> CallContext:
        """The context the client attached to ``request``, or a default one."""
        ctx = request.extensions.get(CONTEXT_KEY)
        if isinstance(ctx, CallContext):
            return ctx
        ctx = cls.start(_FALLBACK_DEADLINE_SECONDS)
        request.extensions[CONTEXT_KEY] = ctx
        return ctx

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once it has passed)."""
        return self.deadline - time.monotonic()
