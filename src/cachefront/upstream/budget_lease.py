"""A block of shared outbound-budget units taken ahead from Redis and spent in process memory.

Counting every call in Redis costs a round trip before each call leaves (about a third
of a millisecond and a quarter of a millisecond of CPU here, the largest part of the
budget's cost). A lease takes a block of units in that one round trip and spends them
locally, so a steady stream of calls reaches Redis about once a second.

Why the cluster still never sends more than the limit in any window: a block taken at
time ``t`` is spent by ``t + LEASE_SECONDS`` or dropped. The shared count therefore runs
over a window ``LEASE_SECONDS`` longer than the limit's (``shared_window``): every unit
sent in a window ``[a, a + W)`` was counted at some time in ``[a - LEASE_SECONDS,
a + W)``, which that longer window holds whole, and Redis never counts more than the
limit there.

What it costs (under-admission, bounded): the longer window (``LEASE_SECONDS / W``, 1.7%
of a per-minute budget) and the units left in a block when it is dropped. A block is as
large as the units this process spent in the previous ``LEASE_SECONDS`` (at least the
call's cost, at most ``LEASE_SHARE`` of the limit), so a process that slows down drops
at most one block, 2% of the limit, and an idle one holds nothing. A process's first
calls, a slow stream and a budget too small for a block (``limit * LEASE_SHARE < 2``)
spend exactly, one round trip a call, as before. Budgets over windows shorter than
``MIN_LEASED_WINDOW_SECONDS`` are always exact: the longer window would cost them too much.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = [
    "LEASE_SECONDS",
    "LEASE_SHARE",
    "MIN_LEASED_WINDOW_SECONDS",
    "BudgetLease",
    "lease_cap",
    "shared_window",
]

# How long a block may be spent after Redis counted it; also the rate's measuring span.
LEASE_SECONDS = 1
# The largest block, as a share of the limit: what one process may drop when it slows.
LEASE_SHARE = 0.02
# Shorter windows stay exact: one more second would cut a per-second budget in half.
MIN_LEASED_WINDOW_SECONDS = 60


def lease_cap(amount: int, window_seconds: int) -> int:
    """The largest block of a budget of ``amount`` per ``window_seconds``; 0: never leased."""
    if window_seconds < MIN_LEASED_WINDOW_SECONDS:
        return 0
    cap = math.floor(amount * LEASE_SHARE)
    return cap if cap >= 2 else 0


def shared_window(window_seconds: int, cap: int) -> int:
    """The window the shared count runs over: the limit's, one lease longer when leased."""
    return window_seconds + LEASE_SECONDS if cap else window_seconds


class BudgetLease:
    """One process's block of a budget's units, and the spend rate that sizes the next."""

    def __init__(self, cap: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self._clock = clock
        self._units = 0
        self._spend_by = 0.0
        # Units spent in the current and the previous LEASE_SECONDS-long span.
        self._span_start = 0.0
        self._spent_this_span = 0
        self._spent_last_span = 0
        # True while one call is taking a block, so concurrent ones do not each take one.
        self.taking = False

    @property
    def units(self) -> int:
        """Units in hand that may still be spent now."""
        return self._units if self._clock() < self._spend_by else 0

    def spend(self, cost: int) -> bool:
        """Spend ``cost`` units from the block in hand; False when it cannot (none sent)."""
        if self._units < cost or self._clock() >= self._spend_by:
            return False
        self._units -= cost
        self.note_spent(cost)
        return True

    def note_spent(self, cost: int) -> None:
        """Count ``cost`` units spent by this process (leased or counted exactly)."""
        now = self._clock()
        elapsed = now - self._span_start
        if elapsed >= LEASE_SECONDS:
            # A span with no calls in between means nothing was spent in the last one.
            self._spent_last_span = self._spent_this_span if elapsed < 2 * LEASE_SECONDS else 0
            self._spent_this_span = 0
            self._span_start = now
        self._spent_this_span += cost

    def next_block(self, cost: int) -> int:
        """Units to take for a call costing ``cost``: ``cost`` alone means spend exactly."""
        if not self.cap or cost >= self.cap:
            return cost
        return max(cost, min(self.cap, self._spent_last_span))

    def grant(self, block: int, cost: int) -> None:
        """Redis counted ``block`` units; the call spends ``cost`` of them now."""
        self._units = block - cost
        self._spend_by = self._clock() + LEASE_SECONDS
        self.note_spent(cost)

    def drop(self) -> None:
        """Forget the units in hand (they stay counted in Redis until their window ends)."""
        self._units = 0
